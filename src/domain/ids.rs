//! Identifiers: municipality codes, resource ids, pseudonymous references and request ids.

use serde::{Deserialize, Serialize};

/// Longest request id a client may choose.
pub const REQUEST_ID_LEN_MAX: usize = 128;
/// Longest contract id.
pub const CONTRACT_ID_LEN_MAX: usize = 63;
/// Longest pseudonymous reference (intercedent, candidate, line reference).
pub const REFERENCE_LEN_MAX: usize = 64;

/// A municipality's CBS code: `GM` followed by four digits, e.g. `GM0344` (Utrecht).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CbsCode(String);

impl CbsCode {
    /// Parses a CBS code.
    ///
    /// # Errors
    /// A description of the expected format.
    pub fn parse(raw: &str) -> Result<CbsCode, String> {
        let valid = raw.len() == 6 && raw.starts_with("GM") && raw.bytes().skip(2).all(|byte| byte.is_ascii_digit());
        if valid {
            Ok(CbsCode(raw.to_owned()))
        } else {
            Err(format!("must be a CBS municipality code: GM and four digits, e.g. GM0344; got {raw:?}"))
        }
    }

    /// The code as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client-chosen idempotency key of a mutating call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// Parses a request id: 1 to [`REQUEST_ID_LEN_MAX`] characters of `A-Z a-z 0-9 . _ : -`.
    ///
    /// # Errors
    /// A description of the expected format.
    pub fn parse(raw: &str) -> Result<RequestId, String> {
        let valid = (1..=REQUEST_ID_LEN_MAX).contains(&raw.len())
            && raw.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._:-".contains(&byte));
        if valid {
            Ok(RequestId(raw.to_owned()))
        } else if raw.is_empty() {
            Err("is required: every mutating call carries a client-chosen request id (a UUID is a good choice)"
                .to_owned())
        } else {
            Err(format!("must be 1 to {REQUEST_ID_LEN_MAX} characters of A-Z a-z 0-9 . _ : -"))
        }
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An id the service gives a change it makes on its own behalf (issuing an invoice on its
    /// first request): `~` and `name`. No client can send it, since [`RequestId::parse`]
    /// refuses `~`, so it never meets a client's id.
    #[must_use]
    pub fn reserved(name: &str) -> RequestId {
        RequestId(format!("~{name}"))
    }
}

/// The id of a contract: 1 to [`CONTRACT_ID_LEN_MAX`] characters of `a-z 0-9 -`, starting with
/// a letter (AIP-122).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContractId(String);

impl ContractId {
    /// Parses a contract id.
    ///
    /// # Errors
    /// A description of the expected format.
    pub fn parse(raw: &str) -> Result<ContractId, String> {
        let valid = (1..=CONTRACT_ID_LEN_MAX).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
        if valid {
            Ok(ContractId(raw.to_owned()))
        } else {
            Err(format!(
                "must be 1 to {CONTRACT_ID_LEN_MAX} characters of a-z 0-9 -, starting with a letter; got {raw:?}"
            ))
        }
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A pseudonymous reference to a person (intercedent, candidate): 1 to [`REFERENCE_LEN_MAX`]
/// characters of `A-Z a-z 0-9 . _ -`, and never something that looks like a citizen service
/// number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IntercedentId(String);

impl IntercedentId {
    /// Parses an intercedent's pseudonymous reference.
    ///
    /// # Errors
    /// A description of the expected format, or of the citizen-number guard.
    pub fn parse(raw: &str) -> Result<IntercedentId, String> {
        parse_reference(raw).map(IntercedentId)
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The billing system's own reference of an hour line, unique per contract: 1 to
/// [`REFERENCE_LEN_MAX`] characters of `A-Z a-z 0-9 . _ -`, never like a citizen service number.
/// It is also the id of the hour entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LineReference(String);

impl LineReference {
    /// Parses a line reference.
    ///
    /// # Errors
    /// A description of the expected format, or of the citizen-number guard.
    pub fn parse(raw: &str) -> Result<LineReference, String> {
        parse_reference(raw).map(LineReference)
    }

    /// The reference as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a pseudonymous reference (see [`IntercedentId`]).
///
/// # Errors
/// A description of the expected format, or of the citizen-number guard.
pub fn parse_reference(raw: &str) -> Result<String, String> {
    let valid = (1..=REFERENCE_LEN_MAX).contains(&raw.len())
        && raw.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte));
    if !valid {
        return Err(format!(
            "must be a pseudonymous reference of 1 to {REFERENCE_LEN_MAX} characters of A-Z a-z 0-9 . _ -"
        ));
    }
    if contains_citizen_number(raw) {
        return Err(
            "looks like a citizen service number (BSN: 9 digits passing the 11-check); use a pseudonymous reference instead"
                .to_owned(),
        );
    }
    Ok(raw.to_owned())
}

/// True when `raw` holds a run of exactly nine digits that passes the BSN 11-check:
/// `9·d1 + 8·d2 + … + 2·d8 − 1·d9` is a multiple of 11 (and not all zero).
#[must_use]
pub fn contains_citizen_number(raw: &str) -> bool {
    raw.split(|c: char| !c.is_ascii_digit()).filter(|run| run.len() == 9).any(passes_eleven_check)
}

fn passes_eleven_check(digits: &str) -> bool {
    let values: Vec<i64> = digits.bytes().map(|byte| i64::from(byte - b'0')).collect();
    if values.iter().all(|&digit| digit == 0) {
        return false;
    }
    let weighted: i64 = values.iter().zip([9, 8, 7, 6, 5, 4, 3, 2, -1]).map(|(digit, weight)| digit * weight).sum();
    weighted % 11 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbs_codes_are_gm_and_four_digits() {
        assert!(CbsCode::parse("GM0344").is_ok());
        for bad in ["", "GM344", "gm0344", "GM03444", "XX0344", "GM03a4"] {
            assert!(CbsCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_ids_are_bounded_and_plain() {
        assert!(RequestId::parse("7f1c0a52-1d2e-4b7a-9a53-0c1f0e2f9b11").is_ok());
        assert!(RequestId::parse("").is_err());
        assert!(RequestId::parse("has space").is_err());
        assert!(RequestId::parse(&"a".repeat(REQUEST_ID_LEN_MAX)).is_ok());
        assert!(RequestId::parse(&"a".repeat(REQUEST_ID_LEN_MAX + 1)).is_err());
    }

    #[test]
    fn contract_ids_follow_aip_122() {
        assert!(ContractId::parse("utrecht-2027").is_ok());
        for bad in ["", "2027", "Utrecht", "a_b", &"a".repeat(CONTRACT_ID_LEN_MAX + 1)] {
            assert!(ContractId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_valid_citizen_number_is_refused_as_a_reference() {
        // 111222333: 9+8+7+12+10+8+9+6-3 = 66 = 6 × 11.
        assert!(contains_citizen_number("111222333"));
        assert!(IntercedentId::parse("111222333").is_err());
        assert!(IntercedentId::parse("w-111222333").is_err());
        // 123456782 passes too: 9+16+21+24+25+24+21+16-2 = 154 = 14 × 11.
        assert!(IntercedentId::parse("123456782").is_err());
    }

    #[test]
    fn nine_digits_failing_the_eleven_check_are_a_fine_reference() {
        // 123456789: 154 - 2 + ... = 9+16+21+24+25+24+21+16-9 = 147, not a multiple of 11.
        assert!(!contains_citizen_number("123456789"));
        assert!(IntercedentId::parse("123456789").is_ok());
        assert!(IntercedentId::parse("000000000").is_ok());
        // Ten digits are not a citizen number.
        assert!(IntercedentId::parse("1112223330").is_ok());
        assert!(IntercedentId::parse("int-007").is_ok());
    }

    #[test]
    fn references_are_bounded_and_plain() {
        assert!(IntercedentId::parse("").is_err());
        assert!(IntercedentId::parse("a/b").is_err());
        assert!(IntercedentId::parse(&"a".repeat(REFERENCE_LEN_MAX + 1)).is_err());
    }
}
