//! Conversions between wire shapes and domain values that several methods share.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::proto::google::r#type::Date;
use crate::domain::RawDate;

/// A wire date as the domain's unchecked date.
pub(super) fn raw_date(date: Option<Date>) -> Option<RawDate> {
    date.map(|date| RawDate { year: date.year, month: date.month, day: date.day })
}

/// A domain date on the wire.
pub(super) fn date(date: NaiveDate) -> Date {
    Date {
        year: date.year(),
        month: i32::try_from(date.month()).unwrap_or_default(),
        day: i32::try_from(date.day()).unwrap_or_default(),
    }
}

/// An instant on the wire.
pub(super) fn timestamp(instant: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: instant.timestamp(),
        nanos: i32::try_from(instant.timestamp_subsec_nanos()).unwrap_or_default(),
    }
}

/// Reads 1 to `max` distinct names of resources of one contract (e.g. entries to verify), each
/// checked by `parse`; violations name `field[index]`.
pub(super) fn distinct_names<T: Clone + Eq + std::hash::Hash>(
    names: &[String],
    field: &str,
    max: usize,
    contract: Option<&crate::domain::ContractId>,
    parse: impl Fn(&str) -> Result<(crate::domain::ContractId, T), String>,
    v: &mut crate::domain::Violations,
) -> Vec<T> {
    if names.is_empty() || names.len() > max {
        v.add(field, format!("must name 1 to {max} resources, got {}", names.len()));
    }
    let mut seen = std::collections::HashSet::new();
    let mut ids = Vec::with_capacity(names.len().min(max));
    for (index, name) in names.iter().take(max).enumerate() {
        let at = format!("{field}[{index}]");
        match parse(name) {
            Err(error) => v.add(at, error),
            Ok((owner, _)) if contract.is_some_and(|contract| *contract != owner) => {
                v.add(at, format!("{name} does not belong to the parent contract"));
            }
            Ok((_, id)) if !seen.insert(id.clone()) => v.add(at, format!("{name} is named twice")),
            Ok((_, id)) => ids.push(id),
        }
    }
    ids
}

/// A count on the wire's `int32` (saturating: a count never wraps negative).
pub(crate) fn count(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
