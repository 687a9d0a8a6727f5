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
