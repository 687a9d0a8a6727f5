//! The go/no-go evaluation (R1, R8) and the allocation of a window's uncovered cost (R4, R5),
//! as pure functions of the verified figures.

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::allocation::{Allocation, IntakeOutcome, allocate};
use super::pool::{Candidate, Composition, SocialResults, composition, social_results};
use super::savings::Party;
use super::{Cents, Contract, ContractId, Period};

/// The verified figures of one settlement period, as its statements say (and, for inputs no
/// statement took in yet, as the next statement would price them): one truth per figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodFigures {
    /// The period.
    pub period: Period,
    /// Verified intercedent cost (sum of its cost lines).
    pub cost: Cents,
    /// Verified savings.
    pub savings: Cents,
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
/// A window whose closing statement is issued keeps the intake outcome that statement recorded
/// (`recorded`, by the window's first day, R6); any other window's intake is counted from the
/// pool as of its last day.
///
/// # Errors
/// A description, when `checkpoint` is not one of the contract's or a sum overflows.
pub fn evaluate(
    contract: &Contract,
    checkpoint: NaiveDate,
    periods: &[PeriodFigures],
    pool: &[Candidate],
    recorded: &[(NaiveDate, IntakeOutcome)],
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
        let intake = recorded
            .iter()
            .find(|(window_start, _)| *window_start == start)
            .map_or_else(|| IntakeOutcome::of(terms, pool, (start, full_end, end)), |(_, outcome)| *outcome);
        let IntakeOutcome { motivated, minimum } = intake;
        let allocation = allocate(
            Cents::checked_sum(inside.iter().map(|figures| figures.cost)).ok_or_else(overflow)?,
            Cents::checked_sum(inside.iter().map(|figures| figures.savings)).ok_or_else(overflow)?,
            fees_between(contract, start, end.min(span_end)).ok_or_else(overflow)?,
            intake,
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

/// A party's recorded decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyDecision {
    /// Whose decision.
    pub party: Party,
    /// Go or no-go.
    pub verdict: Verdict,
    /// Why.
    pub reasons: String,
    /// Subject of the deciding principal.
    pub decided_by: String,
    /// When.
    pub decide_time: chrono::DateTime<chrono::Utc>,
}

/// A stored evaluation with its hash and the decisions on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvaluation {
    /// The contract.
    pub contract_id: ContractId,
    /// The evaluation.
    pub evaluation: Evaluation,
    /// SHA-256 of its canonical encoding, hex.
    pub content_sha256: String,
    /// Subject of the evaluating principal.
    pub evaluated_by: String,
    /// When evaluated.
    pub create_time: chrono::DateTime<chrono::Utc>,
    /// The parties' decisions so far.
    pub decisions: Vec<PartyDecision>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contract::tests_support::worked_example_contract;

    #[test]
    fn only_checkpoints_of_the_contract_are_evaluated() {
        let contract = worked_example_contract();
        let day = |text: &str| text.parse::<NaiveDate>().unwrap();
        assert!(evaluate(&contract, day("2027-06-01"), &[], &[], &[]).is_err());
        let empty = evaluate(&contract, day("2027-07-01"), &[], &[], &[]).unwrap();
        assert_eq!((empty.span_start, empty.span_end), (day("2027-01-01"), day("2027-06-30")));
        assert_eq!(empty.windows.len(), 2);
        assert!(!empty.cost_neutral, "six fees and no savings");
    }
}
