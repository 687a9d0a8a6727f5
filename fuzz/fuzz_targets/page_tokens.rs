//! Page tokens: any token given to any listing is refused or opens to a key that re-seals to
//! the very same token (one token per key and listing); any key sealed for a listing opens
//! again to that key in that listing and in no other. Nothing panics.
#![no_main]

use std::sync::LazyLock;

use flexsettle::domain::PageTokens;
use libfuzzer_sys::fuzz_target;

static TOKENS: LazyLock<PageTokens> = LazyLock::new(|| PageTokens::derive(b"fuzzing secret"));

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let split = usize::from(split).min(rest.len());
    let (listing, text) = rest.split_at(split);
    let text = String::from_utf8_lossy(text);

    // The text as a token a client sent.
    if let Ok(page) = TOKENS.request(listing, 0, &text) {
        if let Some(after) = &page.after {
            assert_eq!(page.token_after(after), text, "an accepted token is the one this key and listing seal to");
        }
    }

    // The text as the last key of a page.
    let first = TOKENS.request(listing, 0, "").expect("a first page needs no token");
    let sealed = first.token_after(&text);
    let reopened = TOKENS.request(listing, 0, &sealed);
    let usable = !text.is_empty() && !text.chars().any(char::is_control) && sealed.len() <= 512;
    match reopened {
        Ok(page) => {
            assert!(usable, "a key with control characters opened");
            assert_eq!(page.after.as_deref(), Some(&*text));
        }
        Err(_) => assert!(!usable, "a sealed key did not open in its own listing"),
    }
    let mut other = listing.to_vec();
    other.push(0);
    assert!(TOKENS.request(&other, 0, &sealed).is_err(), "a token opened in another listing");
});
