//! Paged listings: a bounded page size and an opaque continuation token, sealed to its listing.
//!
//! A token carries the key of the last item of the previous page and a MAC over that key and the
//! listing it came from (the method and every request field but the page's own). A token that
//! this service did not issue, or that was issued for another listing (another contract, another
//! filter), is refused before anything reaches a query. The MAC key is derived from a secret
//! every replica shares (the audit log's signing key), so any replica accepts any replica's token.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::hmac;

/// Page size used when a client asks for 0.
pub const PAGE_SIZE_DEFAULT: u32 = 50;
/// Largest page; larger requests are lowered to it (AIP-158).
pub const PAGE_SIZE_MAX: u32 = 500;
/// The token format's version, its first byte.
const TOKEN_VERSION: u8 = 2;
/// Bytes of the MAC a token carries (HMAC-SHA256).
const TAG_LEN: usize = 32;
const TOKEN_LEN_MAX: usize = 512;
/// What the MAC key is derived for (so the shared secret's other uses never meet this one).
const KEY_PURPOSE: &[u8] = b"flexsettle page tokens v2";

/// A checked page size, 1 to [`PAGE_SIZE_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    /// Parses a requested page size: 0 means the default, more than the maximum is lowered.
    ///
    /// # Errors
    /// A description, for a negative size.
    pub fn parse(requested: i64) -> Result<PageSize, String> {
        match u32::try_from(requested) {
            Ok(0) => Ok(PageSize(PAGE_SIZE_DEFAULT)),
            Ok(size) => Ok(PageSize(size.min(PAGE_SIZE_MAX))),
            Err(_) if requested < 0 => Err(format!("must not be negative, got {requested}")),
            Err(_) => Ok(PageSize(PAGE_SIZE_MAX)),
        }
    }

    /// The size.
    #[must_use]
    pub fn get(self) -> u32 {
        self.0
    }
}

/// The server key that seals page tokens to their listing; cheap to clone.
#[derive(Clone)]
pub struct PageTokens {
    key: Arc<hmac::Key>,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(..)")
    }
}

impl PageTokens {
    /// The sealer whose key is derived from `secret` (HMAC-SHA256 of a fixed purpose label under
    /// the secret, so the secret itself never keys a page token).
    #[must_use]
    pub fn derive(secret: &[u8]) -> PageTokens {
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), KEY_PURPOSE);
        PageTokens { key: Arc::new(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())) }
    }

    /// Parses a page size and a token issued for `listing`, collecting both violations.
    /// `listing` names the listing exactly: its method and every request field except the page
    /// size and token, so a token cannot continue a different listing.
    ///
    /// # Errors
    /// Violations of `page_size` and `page_token`.
    pub fn request(&self, listing: &[u8], page_size: i64, page_token: &str) -> Result<PageRequest, super::Violations> {
        let mut v = super::Violations::new();
        let listing = Listing { tokens: self.clone(), scope: listing.to_vec() };
        let size = v.check("page_size", PageSize::parse(page_size));
        let after = v.check("page_token", listing.open(page_token));
        match (size, after) {
            (Some(size), Some(after)) => Ok(PageRequest { size, after, listing }),
            _ => Err(v),
        }
    }

    /// What a token's MAC covers: the listing and the key, length-prefixed so that no
    /// (listing, key) pair reads as another.
    fn sealed_bytes(scope: &[u8], last_key: &str) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(8 + scope.len() + last_key.len());
        bytes.extend_from_slice(&u64::try_from(scope.len()).unwrap_or(u64::MAX).to_be_bytes());
        bytes.extend_from_slice(scope);
        bytes.extend_from_slice(last_key.as_bytes());
        bytes
    }
}

/// The listing a page request belongs to, and the key that seals its tokens.
#[derive(Debug, Clone)]
struct Listing {
    tokens: PageTokens,
    scope: Vec<u8>,
}

impl Listing {
    fn seal(&self, last_key: &str) -> String {
        let tag = hmac::sign(&self.tokens.key, &PageTokens::sealed_bytes(&self.scope, last_key));
        let mut bytes = Vec::with_capacity(1 + last_key.len() + TAG_LEN);
        bytes.push(TOKEN_VERSION);
        bytes.extend_from_slice(last_key.as_bytes());
        bytes.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn open(&self, token: &str) -> Result<Option<String>, String> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || {
            "is not a token this service issued for this listing; pass next_page_token from the previous response of the same request".to_owned()
        };
        if token.len() > TOKEN_LEN_MAX {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let (version, rest) = bytes.split_first().ok_or_else(invalid)?;
        if *version != TOKEN_VERSION || rest.len() <= TAG_LEN {
            return Err(invalid());
        }
        let (key, tag) = rest.split_at(rest.len() - TAG_LEN);
        let key = std::str::from_utf8(key).map_err(|_| invalid())?;
        // ring compares the tag in constant time.
        hmac::verify(&self.tokens.key, &PageTokens::sealed_bytes(&self.scope, key), tag).map_err(|_| invalid())?;
        // Keys are ids, dates and numbers, never a control character; a sealed token only ever
        // carries one this service made, and this check keeps it so even if a key leaked.
        if key.chars().any(char::is_control) {
            return Err(invalid());
        }
        Ok(Some(key.to_owned()))
    }
}

/// A checked page request: how many, after which key, and in which listing.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// How many items at most.
    pub size: PageSize,
    /// The key of the last item of the previous page, if any.
    pub after: Option<String>,
    listing: Listing,
}

impl PageRequest {
    /// The token that continues this listing after the item whose key is `last_key`.
    #[must_use]
    pub fn token_after(&self, last_key: &str) -> String {
        self.listing.seal(last_key)
    }
}

/// One page of a listing and the token of the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Token of the next page, `None` on the last.
    pub next_page_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_default_and_cap() {
        assert_eq!(PageSize::parse(0).unwrap().get(), PAGE_SIZE_DEFAULT);
        assert_eq!(PageSize::parse(7).unwrap().get(), 7);
        assert_eq!(PageSize::parse(10_000).unwrap().get(), PAGE_SIZE_MAX);
        assert!(PageSize::parse(-1).is_err());
    }

    fn first_page(tokens: &PageTokens, listing: &[u8]) -> PageRequest {
        tokens.request(listing, 0, "").unwrap()
    }

    #[test]
    fn tokens_round_trip_within_their_listing() {
        let tokens = PageTokens::derive(b"a shared secret");
        let listing = b"ListContracts";
        let token = first_page(&tokens, listing).token_after("contract-42");
        let page = tokens.request(listing, 0, &token).unwrap();
        assert_eq!(page.after.as_deref(), Some("contract-42"));
        // Another replica with the same secret accepts it.
        let replica = PageTokens::derive(b"a shared secret");
        assert_eq!(replica.request(listing, 7, &token).unwrap().after.as_deref(), Some("contract-42"));
    }

    #[test]
    fn tokens_of_another_listing_or_key_are_refused() {
        let tokens = PageTokens::derive(b"a shared secret");
        let token = first_page(&tokens, b"ListHourEntries contracts/a").token_after("entry-1");
        assert!(tokens.request(b"ListHourEntries contracts/b", 0, &token).is_err());
        assert!(tokens.request(b"ListStatements contracts/a", 0, &token).is_err());
        assert!(PageTokens::derive(b"another secret").request(b"ListHourEntries contracts/a", 0, &token).is_err());
        // (scope, key) pairs that concatenate alike still differ.
        let shifted = first_page(&tokens, b"ab").token_after("c");
        assert!(tokens.request(b"a", 0, &shifted).is_err());
    }

    #[test]
    fn forged_and_tampered_tokens_are_refused() {
        let tokens = PageTokens::derive(b"a shared secret");
        let listing = b"ListContracts";
        let refused = |token: &str| tokens.request(listing, 0, token).is_err();
        assert!(refused("not a token"));
        assert!(refused(&URL_SAFE_NO_PAD.encode("v1:x")));
        // The earlier unsealed format, even with a NUL, never reaches a query.
        assert!(refused(&URL_SAFE_NO_PAD.encode("v1:\0")));
        assert!(refused(&URL_SAFE_NO_PAD.encode([TOKEN_VERSION])));
        assert!(refused(&"A".repeat(TOKEN_LEN_MAX + 1)));
        let token = first_page(&tokens, listing).token_after("contract-42");
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for index in 0..bytes.len() {
            bytes[index] ^= 1;
            assert!(refused(&URL_SAFE_NO_PAD.encode(&bytes)), "a token with byte {index} flipped was accepted");
            bytes[index] ^= 1;
        }
        let both = tokens.request(listing, -5, "%%").unwrap_err();
        assert_eq!(both.items().len(), 2);
    }
}
