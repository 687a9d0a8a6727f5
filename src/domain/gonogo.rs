//! The go/no-go evaluation (R1, R8) and the allocation of a window's uncovered cost (R4, R5),
//! as pure functions of the verified figures.

use chrono::{Months, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::pool::{Candidate, Composition, SocialResults, composition, social_results};
use super::settlement::IntakeOutcome;
use super::{Cents, Contract, Period, RiskShiftMode};

/// The verified figures of one settlement period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodFigures {
    /// The period.
    pub period: Period,
    /// Verified intercedent cost (sum of its cost lines).
    pub cost: Cents,
    /// Verified savings.
    pub savings: Cents,
}

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

/// Charges `cost` against `max(0, savings − fees)` and allocates the rest: all of it borne by
/// Flextensie, unless the motivated intake is below the minimum — then `FULL` shifts all of it
/// to the municipality and `PRO_RATA` shifts `(minimum − intake) / minimum` of it, rounded to
/// cents half away from zero. `None` on overflow.
#[must_use]
pub fn allocate(
    cost: Cents,
    savings: Cents,
    fees: Cents,
    intake: u32,
    minimum: u32,
    mode: RiskShiftMode,
) -> Option<Allocation> {
    let result = savings.checked_sub(fees)?.max(Cents::ZERO);
    let cost = cost.max(Cents::ZERO);
    let covered = cost.min(result);
    let uncovered = cost.checked_sub(covered)?;
    let shifted = if intake >= minimum {
        Cents::ZERO
    } else {
        match mode {
            RiskShiftMode::Full => uncovered,
            RiskShiftMode::ProRata => {
                let share = Decimal::from(minimum - intake).checked_div(Decimal::from(minimum))?;
                let exact = Decimal::from(uncovered.cents()).checked_mul(share)?;
                let rounded = exact.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
                Cents::from_stored(i64::try_from(rounded).ok()?)
            }
        }
    };
    Some(Allocation { result, covered, uncovered, shifted, borne: uncovered.checked_sub(shifted)? })
}

/// One intake window as the evaluation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowOutcome {
    /// First day.
    pub start: NaiveDate,
    /// Last day within the contract.
    pub end: NaiveDate,
    /// The window's minimum intake (pro-rated when cut short).
    pub minimum: u32,
    /// Motivated intake in the window.
    pub motivated: u32,
    /// Ended before the checkpoint: its allocation is final.
    pub closed: bool,
    /// Cost, savings and fees of the window so far, charged and allocated.
    pub allocation: Allocation,
}

/// A go/no-go evaluation of one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The checkpoint.
    pub checkpoint: NaiveDate,
    /// First day of the half year evaluated.
    pub span_start: NaiveDate,
    /// Last day of the half year evaluated.
    pub span_end: NaiveDate,
    /// Verified savings in the half year.
    pub savings: Cents,
    /// Service fees of the half year's periods.
    pub fees: Cents,
    /// Verified intercedent cost in the half year.
    pub intercedent_cost: Cents,
    /// Savings minus fees (may be negative).
    pub result: Cents,
    /// Cost-neutral: savings at least fees plus the whole intercedent cost.
    pub cost_neutral: bool,
    /// Social results in the half year.
    pub social: SocialResults,
    /// Every window that started before the checkpoint.
    pub windows: Vec<WindowOutcome>,
    /// Composition on the half year's last day.
    pub composition: Composition,
    /// The contract's target share of arrangement 3, in percent.
    pub target_arrangement_3_percent: u32,
    /// Cost borne by Flextensie in the windows closed so far (schadelast).
    pub risk_borne: Cents,
    /// Uncovered cost of windows still open, not allocated yet.
    pub pending_uncovered: Cents,
}

/// The service fees of the contract's periods that start from `from` to `to`: one fee per
/// period the contract runs, whether or not anything was recorded in it.
fn fees_between(contract: &Contract, from: NaiveDate, to: NaiveDate) -> Option<Cents> {
    let periods = (0_u32..)
        .map_while(|index| contract.terms.period(index))
        .take_while(|period| period.start <= to)
        .filter(|period| period.start >= from && contract.covers(period.start))
        .count();
    contract.terms.service_fee_per_period().checked_times(periods)
}

/// Evaluates `checkpoint` (R8) from the verified figures of the periods before it and the pool.
///
/// # Errors
/// A description, when `checkpoint` is not one of the contract's or a sum overflows.
pub fn evaluate(
    contract: &Contract,
    checkpoint: NaiveDate,
    periods: &[PeriodFigures],
    pool: &[Candidate],
) -> Result<Evaluation, String> {
    if !contract.checkpoints().contains(&checkpoint) {
        return Err(format!(
            "{checkpoint} is not a go/no-go checkpoint of the contract (every 6 months from its start)"
        ));
    }
    let overflow = || "the figures overflow".to_owned();
    let span_start =
        checkpoint.checked_sub_months(Months::new(super::contract::CHECKPOINT_MONTHS)).ok_or_else(overflow)?;
    let span_end = checkpoint.pred_opt().ok_or_else(overflow)?;
    let in_span: Vec<&PeriodFigures> =
        periods.iter().filter(|figures| (span_start..=span_end).contains(&figures.period.start)).collect();
    let savings = Cents::checked_sum(in_span.iter().map(|figures| figures.savings)).ok_or_else(overflow)?;
    let cost = Cents::checked_sum(in_span.iter().map(|figures| figures.cost)).ok_or_else(overflow)?;
    let fees = fees_between(contract, span_start, span_end).ok_or_else(overflow)?;
    let result = savings.checked_sub(fees).ok_or_else(overflow)?;
    let terms = &contract.terms;
    let mut windows = Vec::new();
    for (start, full_end, end) in contract.windows().into_iter().filter(|(start, _, _)| *start < checkpoint) {
        let inside: Vec<&PeriodFigures> =
            periods.iter().filter(|figures| (start..=end).contains(&figures.period.start)).collect();
        let IntakeOutcome { motivated, minimum } = IntakeOutcome::of(terms, pool, (start, full_end, end));
        let allocation = allocate(
            Cents::checked_sum(inside.iter().map(|figures| figures.cost)).ok_or_else(overflow)?,
            Cents::checked_sum(inside.iter().map(|figures| figures.savings)).ok_or_else(overflow)?,
            fees_between(contract, start, end.min(span_end)).ok_or_else(overflow)?,
            motivated,
            minimum,
            terms.risk_shift_mode(),
        )
        .ok_or_else(overflow)?;
        windows.push(WindowOutcome { start, end, minimum, motivated, closed: end < checkpoint, allocation });
    }
    let risk_borne =
        Cents::checked_sum(windows.iter().filter(|window| window.closed).map(|window| window.allocation.borne))
            .ok_or_else(overflow)?;
    let pending_uncovered =
        Cents::checked_sum(windows.iter().filter(|window| !window.closed).map(|window| window.allocation.uncovered))
            .ok_or_else(overflow)?;
    let target = terms.composition_target().arrangement_3_percent();
    Ok(Evaluation {
        checkpoint,
        span_start,
        span_end,
        savings,
        fees,
        intercedent_cost: cost,
        result,
        cost_neutral: cost.checked_add(fees).is_some_and(|needed| savings >= needed),
        social: social_results(pool, span_start, span_end),
        windows,
        composition: composition(pool, span_end, target),
        target_arrangement_3_percent: target,
        risk_borne,
        pending_uncovered,
    })
}

/// A party's decision at a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Go on.
    Go,
    /// Stop: the contract ends at the checkpoint.
    NoGo,
}

impl Verdict {
    /// The stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Go => "GO",
            Verdict::NoGo => "NO_GO",
        }
    }

    /// Parses a stable name.
    ///
    /// # Errors
    /// A description of the allowed names.
    pub fn parse(raw: &str) -> Result<Verdict, String> {
        match raw {
            "GO" => Ok(Verdict::Go),
            "NO_GO" => Ok(Verdict::NoGo),
            other => Err(format!("unknown go/no-go decision {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contract::tests_support::worked_example_contract;

    fn cents(value: i64) -> Cents {
        Cents::from_stored(value)
    }

    #[test]
    fn the_worked_example_window_allocates_to_the_cent() {
        let (cost, savings, fees) = (cents(1_627_138), cents(1_590_000), cents(375_000));
        let full = allocate(cost, savings, fees, 24, 30, RiskShiftMode::Full).unwrap();
        assert_eq!((full.result, full.covered, full.uncovered), (cents(1_215_000), cents(1_215_000), cents(412_138)));
        assert_eq!((full.shifted, full.borne), (cents(412_138), Cents::ZERO));
        let pro_rata = allocate(cost, savings, fees, 24, 30, RiskShiftMode::ProRata).unwrap();
        assert_eq!((pro_rata.shifted, pro_rata.borne), (cents(82_428), cents(329_710)));
        let enough = allocate(cost, savings, fees, 30, 30, RiskShiftMode::Full).unwrap();
        assert_eq!((enough.shifted, enough.borne), (Cents::ZERO, cents(412_138)));
    }

    #[test]
    fn a_result_below_zero_covers_nothing() {
        let allocation = allocate(cents(100), cents(50), cents(80), 0, 0, RiskShiftMode::Full).unwrap();
        assert_eq!((allocation.result, allocation.covered, allocation.borne), (Cents::ZERO, Cents::ZERO, cents(100)));
    }

    #[test]
    fn only_checkpoints_of_the_contract_are_evaluated() {
        let contract = worked_example_contract();
        let day = |text: &str| text.parse::<NaiveDate>().unwrap();
        assert!(evaluate(&contract, day("2027-06-01"), &[], &[]).is_err());
        let empty = evaluate(&contract, day("2027-07-01"), &[], &[]).unwrap();
        assert_eq!((empty.span_start, empty.span_end), (day("2027-01-01"), day("2027-06-30")));
        assert_eq!(empty.windows.len(), 2);
        assert!(!empty.cost_neutral, "six fees and no savings");
    }
}
