//! Paged listings: a bounded page size and an opaque continuation token.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// Page size used when a client asks for 0.
pub const PAGE_SIZE_DEFAULT: u32 = 50;
/// Largest page; larger requests are lowered to it (AIP-158).
pub const PAGE_SIZE_MAX: u32 = 500;
const TOKEN_PREFIX: &str = "v1:";
const TOKEN_LEN_MAX: usize = 512;

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

/// A checked page request: how many, and after which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items at most.
    pub size: PageSize,
    /// The key of the last item of the previous page, if any.
    pub after: Option<String>,
}

impl PageRequest {
    /// Parses a page size and token, collecting both violations.
    ///
    /// # Errors
    /// Violations of `page_size` and `page_token`.
    pub fn parse(page_size: i64, page_token: &str) -> Result<PageRequest, super::Violations> {
        let mut v = super::Violations::new();
        let size = v.check("page_size", PageSize::parse(page_size));
        let after = v.check("page_token", decode_token(page_token));
        match (size, after) {
            (Some(size), Some(after)) => Ok(PageRequest { size, after }),
            _ => Err(v),
        }
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

/// Encodes the key of the last item of a page as an opaque token.
#[must_use]
pub fn encode_token(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{last_key}"))
}

fn decode_token(token: &str) -> Result<Option<String>, String> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || "is not a token this service issued; pass next_page_token from the previous response".to_owned();
    if token.len() > TOKEN_LEN_MAX {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let key = text.strip_prefix(TOKEN_PREFIX).ok_or_else(invalid)?;
    // Keys are ids, dates and numbers: never empty, never a control character (a NUL would
    // reach the database, which refuses it as bad encoding).
    if key.is_empty() || key.chars().any(char::is_control) {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
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

    #[test]
    fn tokens_round_trip_and_foreign_tokens_are_refused() {
        let token = encode_token("contract-42");
        let page = PageRequest::parse(0, &token).unwrap();
        assert_eq!(page.after.as_deref(), Some("contract-42"));
        assert!(PageRequest::parse(0, "not a token").is_err());
        assert!(PageRequest::parse(0, &URL_SAFE_NO_PAD.encode("v0:x")).is_err());
        // A forged token with a NUL (or any control character) never reaches a query.
        assert!(PageRequest::parse(0, &URL_SAFE_NO_PAD.encode("v1:\0")).is_err());
        assert!(PageRequest::parse(0, &URL_SAFE_NO_PAD.encode("v1:a\u{1b}b")).is_err());
        assert!(PageRequest::parse(0, &URL_SAFE_NO_PAD.encode("v1:")).is_err());
        let both = PageRequest::parse(-5, "%%").unwrap_err();
        assert_eq!(both.items().len(), 2);
    }
}
