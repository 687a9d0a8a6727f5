//! Intercedents and their effective-dated hourly cost rates (DESIGN.md R3).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{ContractId, HourlyRate, IntercedentId, RawDate, Violations, parse_date};

/// Most hourly rates one intercedent may have (twenty years of monthly raises).
pub const HOURLY_RATES_MAX: usize = 240;

/// An hourly rate exactly as a client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourlyRateInput {
    /// First day on which the rate applies.
    pub effective_date: Option<RawDate>,
    /// Cents per hour.
    pub rate_per_hour_cents: i64,
}

/// A checked rate to record: in force from `effective_date` until the next rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewHourlyRate {
    /// First day on which the rate applies.
    pub effective_date: NaiveDate,
    /// The rate.
    pub rate: HourlyRate,
}

impl NewHourlyRate {
    /// Parses a rate, with fields named relative to the rate.
    ///
    /// # Errors
    /// Every violation found.
    pub fn parse(input: HourlyRateInput) -> Result<NewHourlyRate, Violations> {
        let mut v = Violations::new();
        let effective_date = v.check("effective_date", parse_date(input.effective_date));
        let rate = v.check("rate_per_hour_cents", HourlyRate::parse(input.rate_per_hour_cents));
        match (effective_date, rate) {
            (Some(effective_date), Some(rate)) => Ok(NewHourlyRate { effective_date, rate }),
            _ => Err(v),
        }
    }
}

/// A checked intercedent to attach to a contract, with its first rates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIntercedent {
    /// The pseudonymous reference.
    pub id: IntercedentId,
    /// Rates with distinct effective dates, ordered by date.
    pub rates: Vec<NewHourlyRate>,
}

impl NewIntercedent {
    /// Parses an intercedent: its reference and 1 to [`HOURLY_RATES_MAX`] rates with distinct
    /// effective dates.
    ///
    /// # Errors
    /// Every violation found; rate fields are named `intercedent.hourly_rates[i].…`.
    pub fn parse(id: &str, rates: Vec<HourlyRateInput>) -> Result<NewIntercedent, Violations> {
        let mut v = Violations::new();
        let id = v.check("intercedent_id", IntercedentId::parse(id));
        if rates.is_empty() || rates.len() > HOURLY_RATES_MAX {
            v.add("intercedent.hourly_rates", format!("must hold 1 to {HOURLY_RATES_MAX} rates, got {}", rates.len()));
        }
        let mut parsed = Vec::with_capacity(rates.len().min(HOURLY_RATES_MAX));
        for (index, input) in rates.into_iter().take(HOURLY_RATES_MAX).enumerate() {
            match NewHourlyRate::parse(input) {
                Ok(rate) => parsed.push(rate),
                Err(errors) => v.absorb(&format!("intercedent.hourly_rates[{index}]"), errors),
            }
        }
        parsed.sort_by_key(|rate| rate.effective_date);
        for pair in parsed.windows(2) {
            if let [earlier, later] = pair
                && earlier.effective_date == later.effective_date
            {
                v.add(
                    "intercedent.hourly_rates",
                    format!("holds two rates effective on {}; each date may have one rate", later.effective_date),
                );
            }
        }
        match id {
            Some(id) if v.is_empty() => Ok(NewIntercedent { id, rates: parsed }),
            _ => Err(v),
        }
    }
}

/// A recorded rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRate {
    /// First day on which the rate applies.
    pub effective_date: NaiveDate,
    /// The rate.
    pub rate: HourlyRate,
    /// When it was recorded.
    pub create_time: DateTime<Utc>,
}

/// An intercedent as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intercedent {
    /// The contract it belongs to.
    pub contract_id: ContractId,
    /// Its pseudonymous reference.
    pub id: IntercedentId,
    /// Its rates, ordered by effective date.
    pub rates: RateSchedule,
    /// When it was attached to the contract.
    pub create_time: DateTime<Utc>,
}

/// An intercedent's rates ordered by effective date; the rate in force on a day is the last
/// one whose effective date is on or before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateSchedule {
    rates: Vec<RecordedRate>,
}

impl RateSchedule {
    /// Orders recorded rates by effective date.
    #[must_use]
    pub fn new(mut rates: Vec<RecordedRate>) -> RateSchedule {
        rates.sort_by_key(|rate| rate.effective_date);
        RateSchedule { rates }
    }

    /// The rates, ordered by effective date.
    #[must_use]
    pub fn rates(&self) -> &[RecordedRate] {
        &self.rates
    }

    /// The rate in force on `date`, or `None` before the first rate.
    #[must_use]
    pub fn rate_on(&self, date: NaiveDate) -> Option<HourlyRate> {
        let in_force = self.rates.partition_point(|rate| rate.effective_date <= date);
        in_force.checked_sub(1).map(|index| self.rates[index].rate)
    }

    /// The first day after `date` on which another rate takes effect, if any: a rate dated
    /// `date` would be in force up to the day before it.
    #[must_use]
    pub fn next_change_after(&self, date: NaiveDate) -> Option<NaiveDate> {
        self.rates.iter().map(|rate| rate.effective_date).find(|effective| *effective > date)
    }

    /// True when a rate is already effective on exactly `date`.
    #[must_use]
    pub fn has_rate_effective_on(&self, date: NaiveDate) -> bool {
        self.rates.binary_search_by_key(&date, |rate| rate.effective_date).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn recorded(effective: &str, cents: i64) -> RecordedRate {
        RecordedRate {
            effective_date: date(effective),
            rate: HourlyRate::parse(cents).unwrap(),
            create_time: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_rate_in_force_follows_the_raise_of_the_worked_example() {
        let schedule = RateSchedule::new(vec![recorded("2027-03-01", 5020), recorded("2027-01-01", 4875)]);
        assert_eq!(schedule.rate_on(date("2026-12-31")), None);
        assert_eq!(schedule.rate_on(date("2027-01-01")).unwrap().cents_per_hour(), 4875);
        assert_eq!(schedule.rate_on(date("2027-02-28")).unwrap().cents_per_hour(), 4875);
        assert_eq!(schedule.rate_on(date("2027-03-01")).unwrap().cents_per_hour(), 5020);
        assert_eq!(schedule.rate_on(date("2031-01-01")).unwrap().cents_per_hour(), 5020);
        assert!(schedule.has_rate_effective_on(date("2027-03-01")));
        assert!(!schedule.has_rate_effective_on(date("2027-03-02")));
    }

    #[test]
    fn an_intercedent_needs_rates_with_distinct_dates() {
        let rate = |day| HourlyRateInput {
            effective_date: Some(RawDate { year: 2027, month: 1, day }),
            rate_per_hour_cents: 4875,
        };
        assert!(NewIntercedent::parse("int-1", vec![rate(1), rate(2)]).is_ok());
        let none = NewIntercedent::parse("int-1", vec![]).unwrap_err();
        assert_eq!(none.items()[0].field, "intercedent.hourly_rates");
        let twice = NewIntercedent::parse("int-1", vec![rate(1), rate(1)]).unwrap_err();
        assert_eq!(twice.items().len(), 1);
    }

    #[test]
    fn bad_rates_are_named_by_index() {
        let bad = HourlyRateInput { effective_date: None, rate_per_hour_cents: 0 };
        let good = HourlyRateInput {
            effective_date: Some(RawDate { year: 2027, month: 1, day: 1 }),
            rate_per_hour_cents: 4875,
        };
        let violations = NewIntercedent::parse("111222333", vec![good, bad]).unwrap_err();
        let fields: Vec<&str> = violations.items().iter().map(|item| item.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "intercedent_id",
                "intercedent.hourly_rates[1].effective_date",
                "intercedent.hourly_rates[1].rate_per_hour_cents"
            ]
        );
    }
}
