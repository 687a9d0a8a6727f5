//! The pure core: types whose only constructors are fallible parsers, and the rules of
//! DESIGN.md as plain functions. No I/O, no clock, no async, no transport or storage types.

pub mod allocation;
pub mod audit;
mod canonical;
pub mod contract;
pub mod gonogo;
pub mod hours;
pub mod ids;
pub mod inputs;
pub mod intercedent;
pub mod invoice;
pub mod money;
pub mod names;
pub mod paging;
pub mod pool;
pub mod principal;
pub mod savings;
pub mod settlement;
pub mod text;
pub mod tlog;
pub mod violations;

pub use audit::Action;
pub use contract::{CompositionTarget, Contract, ContractTerms, ContractTermsInput, Lifecycle, Period, RiskShiftMode};
pub use ids::{CbsCode, ContractId, IntercedentId, LineReference, RequestId};
pub use intercedent::{HourlyRateInput, Intercedent, NewHourlyRate, NewIntercedent, RateSchedule, RecordedRate};
pub use money::{Cents, HourlyRate, Minutes};
pub use paging::{Page, PageRequest, PageSize, PageTokens};
pub use principal::{Principal, Role};
pub use violations::{FieldViolation, Violations};

/// A civil date exactly as a client sent it, before it is checked: year, month and day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawDate {
    /// Year, 1 to 9999.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: i32,
    /// Day of the month.
    pub day: i32,
}

/// Parses a full civil date (year, month and day all set and valid together).
///
/// # Errors
/// A description of what is wrong, for a field violation.
pub fn parse_date(raw: Option<RawDate>) -> Result<chrono::NaiveDate, String> {
    let Some(raw) = raw else {
        return Err("is required (a full date: year, month and day)".to_owned());
    };
    let valid = (1..=9999).contains(&raw.year) && u32::try_from(raw.month).is_ok() && u32::try_from(raw.day).is_ok();
    let date = valid
        .then(|| chrono::NaiveDate::from_ymd_opt(raw.year, raw.month.unsigned_abs(), raw.day.unsigned_abs()))
        .flatten();
    date.ok_or_else(|| {
        format!(
            "{:04}-{:02}-{:02} is not a valid calendar date (year 1-9999, month 1-12, a day that exists)",
            raw.year, raw.month, raw.day
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_valid_date_parses() {
        let date = parse_date(Some(RawDate { year: 2027, month: 2, day: 28 })).unwrap();
        assert_eq!(date.to_string(), "2027-02-28");
    }

    #[test]
    fn missing_partial_and_impossible_dates_are_refused() {
        assert!(parse_date(None).is_err());
        for (year, month, day) in [(2027, 2, 29), (2027, 0, 1), (2027, 1, 0), (0, 1, 1), (2027, 13, 1), (2027, -1, 5)] {
            assert!(parse_date(Some(RawDate { year, month, day })).is_err(), "{year}-{month}-{day}");
        }
    }
}
