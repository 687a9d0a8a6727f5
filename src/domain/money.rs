//! Exact money and time: euro cents, hourly rates in cents, whole minutes. Only checked
//! arithmetic; rounding only to cents, half away from zero (DESIGN.md §4).

use serde::{Deserialize, Serialize};

/// The largest amount the service accepts in one money field: EUR 10,000,000,000.00.
pub const AMOUNT_CENTS_MAX: i64 = 1_000_000_000_000;
/// The largest hourly cost rate the service accepts: EUR 10,000.00 an hour.
pub const RATE_PER_HOUR_CENTS_MAX: i64 = 1_000_000;

/// An exact amount of euro cents; may be negative (a correction, a net balance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cents(i64);

impl Cents {
    /// Zero euro.
    pub const ZERO: Cents = Cents(0);

    /// Parses a non-negative amount of at most [`AMOUNT_CENTS_MAX`].
    ///
    /// # Errors
    /// A description of the violated bound.
    pub fn parse_non_negative(cents: i64) -> Result<Cents, String> {
        if (0..=AMOUNT_CENTS_MAX).contains(&cents) {
            Ok(Cents(cents))
        } else {
            Err(format!("must be between 0 and {AMOUNT_CENTS_MAX} cents, got {cents}"))
        }
    }

    /// Wraps an amount read back from storage, where it was checked when written.
    #[must_use]
    pub fn from_stored(cents: i64) -> Cents {
        Cents(cents)
    }

    /// The amount in cents.
    #[must_use]
    pub fn cents(self) -> i64 {
        self.0
    }

    /// Adds, or `None` on overflow.
    #[must_use]
    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    /// Subtracts, or `None` on overflow.
    #[must_use]
    pub fn checked_sub(self, other: Cents) -> Option<Cents> {
        self.0.checked_sub(other.0).map(Cents)
    }

    /// The sum of `amounts`, or `None` on overflow.
    #[must_use]
    pub fn checked_sum(amounts: impl IntoIterator<Item = Cents>) -> Option<Cents> {
        amounts.into_iter().try_fold(Cents::ZERO, Cents::checked_add)
    }

    /// `count` times this amount (a fee over `count` periods), or `None` on overflow.
    #[must_use]
    pub fn checked_times(self, count: usize) -> Option<Cents> {
        self.0.checked_mul(i64::try_from(count).ok()?).map(Cents)
    }
}

impl std::fmt::Display for Cents {
    /// Formats as euros with two decimals, e.g. `5874.38` or `-1774.38`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// A whole number of minutes; may be negative in a correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Minutes(i64);

impl Minutes {
    /// Wraps a number of minutes.
    #[must_use]
    pub fn new(minutes: i64) -> Minutes {
        Minutes(minutes)
    }

    /// The number of minutes.
    #[must_use]
    pub fn get(self) -> i64 {
        self.0
    }
}

/// An intercedent's hourly cost rate, in cents per hour: positive and at most
/// [`RATE_PER_HOUR_CENTS_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HourlyRate(i64);

impl HourlyRate {
    /// Parses a rate in cents per hour.
    ///
    /// # Errors
    /// A description of the violated bound.
    pub fn parse(cents_per_hour: i64) -> Result<HourlyRate, String> {
        if (1..=RATE_PER_HOUR_CENTS_MAX).contains(&cents_per_hour) {
            Ok(HourlyRate(cents_per_hour))
        } else {
            Err(format!("must be between 1 and {RATE_PER_HOUR_CENTS_MAX} cents per hour, got {cents_per_hour}"))
        }
    }

    /// The rate in cents per hour.
    #[must_use]
    pub fn cents_per_hour(self) -> i64 {
        self.0
    }

    /// The cost of `minutes` at this rate: `round(minutes × rate / 60)` to whole cents, half
    /// away from zero — the cost of one line (DESIGN.md §4). `None` when the result would not
    /// fit in an `i64` number of cents.
    #[must_use]
    pub fn cost_of(self, minutes: Minutes) -> Option<Cents> {
        let product = i128::from(minutes.get()).checked_mul(i128::from(self.0))?;
        Cents::from_exact_ratio(product, 60)
    }
}

/// `numerator / denominator` rounded once to a whole number, half away from zero — the one
/// rounding rule of the service (DESIGN.md §4, R5). Exact: integer arithmetic, no quotient is
/// cut before rounding (2.5 → 3, −2.5 → −3, 137.375 cents → 137). `None` for a denominator
/// that is not positive.
#[must_use]
pub fn round_half_away_from_zero(numerator: i128, denominator: i128) -> Option<i128> {
    if denominator <= 0 {
        return None;
    }
    let (quotient, remainder) = (numerator / denominator, numerator % denominator);
    // |remainder| ≥ denominator / 2, compared without dividing: 2·|r| ≥ d.
    let away = remainder.unsigned_abs().checked_mul(2)? >= denominator.unsigned_abs();
    Some(match (away, numerator < 0) {
        (false, _) => quotient,
        (true, false) => quotient.checked_add(1)?,
        (true, true) => quotient.checked_sub(1)?,
    })
}

impl Cents {
    /// The exact amount `numerator / denominator` cents, rounded once to a whole cent, half away
    /// from zero. `None` for a denominator that is not positive, or when the result does not fit.
    #[must_use]
    pub fn from_exact_ratio(numerator: i128, denominator: i128) -> Option<Cents> {
        round_half_away_from_zero(numerator, denominator).and_then(|cents| i64::try_from(cents).ok()).map(Cents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worked_example_costs_its_months_to_the_cent() {
        let before_raise = HourlyRate::parse(4875).unwrap();
        let after_raise = HourlyRate::parse(5020).unwrap();
        assert_eq!(before_raise.cost_of(Minutes::new(7_230)), Some(Cents(587_438)));
        assert_eq!(before_raise.cost_of(Minutes::new(6_000)), Some(Cents(487_500)));
        assert_eq!(after_raise.cost_of(Minutes::new(6_600)), Some(Cents(552_200)));
    }

    #[test]
    fn a_half_cent_rounds_away_from_zero_both_ways() {
        let rate = HourlyRate::parse(4875).unwrap();
        // 7,230 minutes × 48.75 / 60 = 5,874.375
        assert_eq!(rate.cost_of(Minutes::new(7_230)).unwrap().to_string(), "5874.38");
        assert_eq!(rate.cost_of(Minutes::new(-7_230)).unwrap().to_string(), "-5874.38");
    }

    #[test]
    fn exact_ratios_round_half_away_from_zero_and_nothing_else() {
        let round = |n, d| round_half_away_from_zero(n, d).unwrap();
        assert_eq!(round(5, 2), 3, "2.5 rounds up");
        assert_eq!(round(-5, 2), -3, "-2.5 rounds down");
        assert_eq!(round(1_373_749, 10_000), 137, "just under a half");
        assert_eq!(round(2_499_999, 1_000_000), 2);
        assert_eq!(round(-2_500_001, 1_000_000), -3);
        assert_eq!(round(412_125, 30), 13_738, "€4,121.25 / 30 = €137.375 → €137.38");
        assert_eq!(round(15, 6), 3, "3 cents × 5/6 = 2.5 cents → 3");
        assert_eq!(round(0, 7), 0);
        assert_eq!(round_half_away_from_zero(1, 0), None);
        assert_eq!(round_half_away_from_zero(1, -2), None);
    }

    #[test]
    fn cost_overflow_is_reported_not_wrapped() {
        let rate = HourlyRate::parse(RATE_PER_HOUR_CENTS_MAX).unwrap();
        assert_eq!(rate.cost_of(Minutes::new(i64::MAX)), None);
    }

    #[test]
    fn rates_and_amounts_outside_their_bounds_are_refused() {
        assert!(HourlyRate::parse(0).is_err());
        assert!(HourlyRate::parse(-1).is_err());
        assert!(HourlyRate::parse(RATE_PER_HOUR_CENTS_MAX + 1).is_err());
        assert!(Cents::parse_non_negative(-1).is_err());
        assert!(Cents::parse_non_negative(AMOUNT_CENTS_MAX + 1).is_err());
        assert_eq!(Cents::parse_non_negative(125_000).unwrap().to_string(), "1250.00");
    }

    #[test]
    fn negative_amounts_display_with_their_sign() {
        assert_eq!(Cents(-177_438).to_string(), "-1774.38");
        assert_eq!(Cents(-5).to_string(), "-0.05");
    }
}
