//! The allocation rule of a window (R4, R5): the intercedent cost is charged against the
//! available result, and the uncovered rest is borne by Flextensie unless the window's motivated
//! intake stayed below its minimum — then it shifts to the municipality, in full or pro rata.
//! Settlement statements, corrections of closed windows and go/no-go evaluations all allocate
//! through [`allocate`], so the rule has one home.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::pool::{Candidate, motivated_intake, prorated_minimum};
use super::{Cents, ContractTerms, RiskShiftMode};

/// How a window's intercedent cost is charged (R4) and its uncovered rest allocated (R5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The available result: `max(0, savings − fees)`.
    pub result: Cents,
    /// The cost charged against the result: `min(cost, result)`.
    pub covered: Cents,
    /// The cost the result does not cover.
    pub uncovered: Cents,
    /// The part of it that shifts to the municipality (intake below the minimum).
    pub shifted: Cents,
    /// The part Flextensie bears (schadelast).
    pub borne: Cents,
}

/// The intake outcome of a window: fixed by the statement that closes it (R6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeOutcome {
    /// Motivated intake in the window.
    pub motivated: u32,
    /// The window's minimum (pro-rated when cut short).
    pub minimum: u32,
}

impl IntakeOutcome {
    /// The outcome of the window (first day, last day in full, last day within the contract)
    /// given the pool's `candidates`: candidates registered in it whose motivation check is
    /// dated no later than its last day (R6), against the contract's minimum, pro-rated when the
    /// window is cut short.
    #[must_use]
    pub fn of(
        terms: &ContractTerms,
        candidates: &[Candidate],
        (start, full_end, end): (NaiveDate, NaiveDate, NaiveDate),
    ) -> IntakeOutcome {
        IntakeOutcome {
            motivated: motivated_intake(candidates, start, end),
            minimum: prorated_minimum(terms.minimum_intake_per_window(), start, full_end, end),
        }
    }

    /// True when the intake stayed below the minimum: the uncovered cost shifts (R5).
    #[must_use]
    pub fn short(self) -> bool {
        self.motivated < self.minimum
    }
}

/// Charges `cost` against `max(0, savings − fees)` and allocates the rest: all of it borne by
/// Flextensie, unless `intake` is below its minimum — then `FULL` shifts all of it to the
/// municipality and `PRO_RATA` shifts `uncovered × (minimum − intake) / minimum`, computed
/// exactly and rounded once to cents, half away from zero (R5: €4,121.25 at 29 of 30 shifts
/// €137.375 → €137.38). `None` on overflow.
#[must_use]
pub fn allocate(
    cost: Cents,
    savings: Cents,
    fees: Cents,
    intake: IntakeOutcome,
    mode: RiskShiftMode,
) -> Option<Allocation> {
    let result = savings.checked_sub(fees)?.max(Cents::ZERO);
    let cost = cost.max(Cents::ZERO);
    let covered = cost.min(result);
    let uncovered = cost.checked_sub(covered)?;
    let shifted = if intake.short() {
        match mode {
            RiskShiftMode::Full => uncovered,
            RiskShiftMode::ProRata => {
                let shortfall = i128::from(intake.minimum - intake.motivated);
                let exact = i128::from(uncovered.cents()).checked_mul(shortfall)?;
                Cents::from_exact_ratio(exact, i128::from(intake.minimum))?
            }
        }
    } else {
        Cents::ZERO
    };
    Some(Allocation { result, covered, uncovered, shifted, borne: uncovered.checked_sub(shifted)? })
}

/// No intake outcome yet (a window still open): nothing shifts.
pub const NOT_CLOSED: IntakeOutcome = IntakeOutcome { motivated: 0, minimum: 0 };

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(value: i64) -> Cents {
        Cents::from_stored(value)
    }

    fn intake(motivated: u32, minimum: u32) -> IntakeOutcome {
        IntakeOutcome { motivated, minimum }
    }

    #[test]
    fn the_worked_example_window_allocates_to_the_cent() {
        let (cost, savings, fees) = (cents(1_627_138), cents(1_590_000), cents(375_000));
        let full = allocate(cost, savings, fees, intake(24, 30), RiskShiftMode::Full).unwrap();
        assert_eq!((full.result, full.covered, full.uncovered), (cents(1_215_000), cents(1_215_000), cents(412_138)));
        assert_eq!((full.shifted, full.borne), (cents(412_138), Cents::ZERO));
        let pro_rata = allocate(cost, savings, fees, intake(24, 30), RiskShiftMode::ProRata).unwrap();
        assert_eq!((pro_rata.shifted, pro_rata.borne), (cents(82_428), cents(329_710)));
        let enough = allocate(cost, savings, fees, intake(30, 30), RiskShiftMode::Full).unwrap();
        assert_eq!((enough.shifted, enough.borne), (Cents::ZERO, cents(412_138)));
    }

    #[test]
    fn a_pro_rata_share_on_a_half_cent_rounds_away_from_zero() {
        // R5: €4,121.25 uncovered, 29 of 30: exactly €137.375 shifts → €137.38.
        let shifted = |uncovered, motivated, minimum| {
            allocate(cents(uncovered), Cents::ZERO, Cents::ZERO, intake(motivated, minimum), RiskShiftMode::ProRata)
                .unwrap()
                .shifted
                .cents()
        };
        assert_eq!(shifted(412_125, 29, 30), 13_738);
        // 3 cents, 1 of 6: 2.5 cents → 3.
        assert_eq!(shifted(3, 1, 6), 3);
        // €60.18, 11 of 12: €5.015 → €5.02.
        assert_eq!(shifted(6_018, 11, 12), 502);
    }

    #[test]
    fn a_result_below_zero_covers_nothing() {
        let allocation = allocate(cents(100), cents(50), cents(80), NOT_CLOSED, RiskShiftMode::Full).unwrap();
        assert_eq!((allocation.result, allocation.covered, allocation.borne), (Cents::ZERO, Cents::ZERO, cents(100)));
    }
}
