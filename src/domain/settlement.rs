//! The settlement arithmetic of one period (DESIGN.md §4), as a pure function: period and
//! window-to-date figures, what the result covers this period, what stays uncovered (pending
//! allocation until the window's last period), the allocation at the window's close (R5), and
//! the net balance between the parties.

use serde::{Deserialize, Serialize};

use chrono::NaiveDate;

use super::allocation::{Allocation, IntakeOutcome, NOT_CLOSED, allocate};
use super::hours::CostLine;
use super::pool::Composition;
use super::{Cents, ContractId, ContractTerms, LineReference, Period};

/// The verified figures of one settled or to-be-settled period of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodTotals {
    /// The period.
    pub period: Period,
    /// Intercedent cost (sum of its cost lines).
    pub cost: Cents,
    /// Savings.
    pub savings: Cents,
}

/// The figures of a period's statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementFigures {
    /// This period's intercedent cost.
    pub period_cost: Cents,
    /// This period's savings.
    pub period_savings: Cents,
    /// This period's service fee.
    pub period_fee: Cents,
    /// Window to date: cost.
    pub cost_to_date: Cents,
    /// Window to date: savings.
    pub savings_to_date: Cents,
    /// Window to date: fees.
    pub fees_to_date: Cents,
    /// Window to date: the available result, `max(0, savings − fees)`.
    pub result_to_date: Cents,
    /// Window to date: cost covered by the result, `min(cost, result)`.
    pub covered_to_date: Cents,
    /// Covered before this period (to date at the previous period).
    pub covered_before: Cents,
    /// Covered this period: `covered to date − covered before`.
    pub covered_this_period: Cents,
    /// Window to date: cost not covered (pending allocation until the window closes).
    pub uncovered_to_date: Cents,
    /// At the window's last period: the allocation of the uncovered cost.
    pub allocation: Option<Allocation>,
    /// `fee + covered this period + shifted − cost`: positive means the municipality pays
    /// Flextensie.
    pub net_balance: Cents,
}

impl SettlementFigures {
    /// The figures of a period with no window of its own (a run-off statement): all zero.
    pub const NONE: SettlementFigures = SettlementFigures {
        period_cost: Cents::ZERO,
        period_savings: Cents::ZERO,
        period_fee: Cents::ZERO,
        cost_to_date: Cents::ZERO,
        savings_to_date: Cents::ZERO,
        fees_to_date: Cents::ZERO,
        result_to_date: Cents::ZERO,
        covered_to_date: Cents::ZERO,
        covered_before: Cents::ZERO,
        covered_this_period: Cents::ZERO,
        uncovered_to_date: Cents::ZERO,
        allocation: None,
        net_balance: Cents::ZERO,
    };
}

/// Inputs dated in an earlier, settled period that this statement carries as a correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectionTotals {
    /// First day of the period corrected.
    pub period_start: NaiveDate,
    /// Cost of the late hours (per line, rounded once per line).
    pub cost: Cents,
    /// Late savings.
    pub savings: Cents,
    /// The corrected period is in this statement's window (so the correction joins its figures).
    pub same_window: bool,
    /// For a period of a closed window: how the correction changes that window's allocation,
    /// with that window's intake outcome.
    pub adjustment: Option<WindowAdjustment>,
}

/// A closed window as the statements so far leave it: the totals its allocation follows from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedWindow {
    /// First day of the window.
    pub start: NaiveDate,
    /// Its settled periods (each charged a fee).
    pub periods: u32,
    /// Its cost, corrections included.
    pub cost: Cents,
    /// Its savings, corrections included.
    pub savings: Cents,
    /// Its intake outcome, fixed by its closing statement.
    pub intake: IntakeOutcome,
}

/// How a correction changes a closed window's allocation (R4, R5 with the window's own intake
/// outcome). Every amount is the change: after the correction minus before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowAdjustment {
    /// First day of the corrected window.
    pub window_start: NaiveDate,
    /// The window's intake outcome.
    pub intake: IntakeOutcome,
    /// Change in the cost covered by the window's result.
    pub covered: Cents,
    /// Change in the cost shifted to the municipality.
    pub shifted: Cents,
    /// Change in the cost Flextensie bears.
    pub borne: Cents,
    /// `covered + shifted − cost` of the correction: positive means the municipality pays
    /// Flextensie.
    pub net_balance: Cents,
}

/// What the statements issued so far hold of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowTotals {
    /// Its settled periods.
    pub periods: u32,
    /// Its cost, corrections included.
    pub cost: Cents,
    /// Its savings, corrections included.
    pub savings: Cents,
    /// Its intake outcome, once a statement closed it.
    pub intake: Option<IntakeOutcome>,
}

impl WindowTotals {
    /// Sums the window `start..=end` over `statements`: the contributions of its own periods,
    /// and the corrections later statements carried to it. `None` on overflow.
    #[must_use]
    pub fn of(start: NaiveDate, end: NaiveDate, statements: &[Statement]) -> Option<WindowTotals> {
        let mut totals = WindowTotals { periods: 0, cost: Cents::ZERO, savings: Cents::ZERO, intake: None };
        for statement in statements {
            if (start..=end).contains(&statement.period.start) {
                totals.periods = totals.periods.checked_add(1)?;
                totals.cost = totals.cost.checked_add(statement.contribution.cost)?;
                totals.savings = totals.savings.checked_add(statement.contribution.savings)?;
                if statement.closes_window {
                    totals.intake = statement.intake;
                }
                continue;
            }
            for correction in &statement.corrections {
                if correction.adjustment.is_some_and(|adjustment| adjustment.window_start == start) {
                    totals.cost = totals.cost.checked_add(correction.cost)?;
                    totals.savings = totals.savings.checked_add(correction.savings)?;
                }
            }
            if let Some(closing) = statement.closings.iter().find(|closing| closing.window_start == start) {
                totals.intake = Some(closing.intake);
            }
        }
        Some(totals)
    }

    /// The window starting `start` with these totals, closed with `intake`.
    #[must_use]
    pub fn closed(self, start: NaiveDate, intake: IntakeOutcome) -> ClosedWindow {
        ClosedWindow { start, periods: self.periods, cost: self.cost, savings: self.savings, intake }
    }
}

/// The allocation of a window that ended without a closing statement: a no-go cut it short
/// after its last period was settled. A run-off statement closes it with the intake outcome
/// of its shortened span (R5, R6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowClosing {
    /// First day of the window.
    pub window_start: NaiveDate,
    /// Its last day, as the contract's end cut it.
    pub window_end: NaiveDate,
    /// Its intake outcome (the minimum pro-rated to the shortened span).
    pub intake: IntakeOutcome,
    /// The allocation of its cost; the covered part was charged period by period.
    pub allocation: Allocation,
    /// What the closing adds to the balance: the shifted part.
    pub net_balance: Cents,
}

impl WindowClosing {
    /// Closes the window `start..=end` that the statements left open with `totals`, with
    /// `intake`. `None` on overflow.
    #[must_use]
    pub fn of(
        terms: &ContractTerms,
        (start, end): (NaiveDate, NaiveDate),
        totals: WindowTotals,
        intake: IntakeOutcome,
    ) -> Option<WindowClosing> {
        let allocation = totals.closed(start, intake).allocation(terms)?;
        Some(WindowClosing {
            window_start: start,
            window_end: end,
            intake,
            allocation,
            net_balance: allocation.shifted,
        })
    }
}

impl ClosedWindow {
    /// Rebuilds a closed window from the statements issued so far: those of its periods, the
    /// corrections later statements carried to it, and the intake outcome of the statement that
    /// closed it (its last period's, or a run-off's closing in `before` or in `closing_now`).
    /// `None` if nothing closed it, or on overflow.
    #[must_use]
    pub fn from_statements(
        start: NaiveDate,
        end: NaiveDate,
        statements: &[Statement],
        closing_now: &[WindowClosing],
    ) -> Option<ClosedWindow> {
        let totals = WindowTotals::of(start, end, statements)?;
        let intake = totals.intake.or_else(|| {
            closing_now.iter().find(|closing| closing.window_start == start).map(|closing| closing.intake)
        })?;
        Some(totals.closed(start, intake))
    }

    /// The window's allocation under `terms`. `None` on overflow.
    #[must_use]
    pub fn allocation(&self, terms: &ContractTerms) -> Option<Allocation> {
        let fees = terms.service_fee_per_period().checked_times(usize::try_from(self.periods).ok()?)?;
        allocate(self.cost, self.savings, fees, self.intake, terms.risk_shift_mode())
    }

    /// Applies a correction of `cost` and `savings`: the window after it, and what it changes.
    /// `None` on overflow.
    #[must_use]
    pub fn correct(
        &self,
        terms: &ContractTerms,
        cost: Cents,
        savings: Cents,
    ) -> Option<(ClosedWindow, WindowAdjustment)> {
        let after =
            ClosedWindow { cost: self.cost.checked_add(cost)?, savings: self.savings.checked_add(savings)?, ..*self };
        let (old, new) = (self.allocation(terms)?, after.allocation(terms)?);
        let covered = new.covered.checked_sub(old.covered)?;
        let shifted = new.shifted.checked_sub(old.shifted)?;
        let adjustment = WindowAdjustment {
            window_start: self.start,
            intake: self.intake,
            covered,
            shifted,
            borne: new.borne.checked_sub(old.borne)?,
            net_balance: covered.checked_add(shifted)?.checked_sub(cost)?,
        };
        Some((after, adjustment))
    }
}

/// Inputs still waiting for a decision when a statement was drawn up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingInputs {
    /// How many.
    pub count: i64,
    /// The first of them by id (a bounded list: the count says whether it is whole).
    pub first: Vec<LineReference>,
}

/// An issued settlement statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// Gapless per contract and year, e.g. `GM0344-2027-0003`.
    pub number: String,
    /// The contract.
    pub contract_id: ContractId,
    /// The settled period.
    pub period: Period,
    /// A run-off statement: a period after the contract's end that carries only corrections of
    /// its closed windows (no hours, savings or fee of its own).
    pub run_off: bool,
    /// First day of the period's intake window.
    pub window_start: NaiveDate,
    /// Last day of the window within the contract.
    pub window_end: NaiveDate,
    /// This statement closes the window: its uncovered cost is allocated.
    pub closes_window: bool,
    /// Verified hours of the period: per intercedent and rate, rounded once per line.
    pub cost_lines: Vec<CostLine>,
    /// Verified savings of the period.
    pub savings: Cents,
    /// Late inputs of earlier periods, each period on its own line.
    pub corrections: Vec<CorrectionTotals>,
    /// Windows a run-off statement closes (a no-go cut them short after their last period was
    /// settled).
    pub closings: Vec<WindowClosing>,
    /// What this statement adds to its window: the period and same-window corrections.
    pub contribution: PeriodTotals,
    /// The settlement arithmetic of the statement's window.
    pub figures: SettlementFigures,
    /// The statement's whole net balance: the window's, plus the net of corrections to closed
    /// windows and of window closings. Positive means the municipality pays Flextensie.
    pub net_balance: Cents,
    /// The window's intake outcome, when this statement closes it.
    pub intake: Option<IntakeOutcome>,
    /// The pool's composition on the period's last day.
    pub composition: Composition,
    /// The contract's target share of arrangement 3, in percent.
    pub target_arrangement_3_percent: u32,
    /// Hour entries dated up to the period's end still waiting for a decision: once verified,
    /// a later statement carries them as corrections.
    pub pending_hours: PendingInputs,
    /// Savings records dated up to the period's end still waiting for a decision.
    pub pending_savings: PendingInputs,
}

/// An issued statement as it is stored: the statement, the SHA-256 of its canonical encoding,
/// who settled it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredStatement {
    /// The statement.
    pub statement: Statement,
    /// SHA-256 of its canonical encoding, hex.
    pub content_sha256: String,
    /// Subject of the settling principal.
    pub settled_by: String,
    /// When settled.
    pub create_time: chrono::DateTime<chrono::Utc>,
}

impl Statement {
    /// The statement as CSV: a header, one row per cost line, savings, fee and correction, then
    /// the window figures; amounts in euros with two decimals.
    #[must_use]
    pub fn to_csv(&self) -> String {
        let mut csv = String::from("statement,kind,subject,minutes,rate_per_hour,amount\n");
        let mut row = |kind: &str, subject: &str, minutes: String, rate: String, amount: Cents| {
            csv.push_str(&format!("{},{kind},{subject},{minutes},{rate},{amount}\n", self.number));
        };
        for line in &self.cost_lines {
            row(
                "cost",
                line.intercedent.as_str(),
                line.minutes.get().to_string(),
                Cents::from_stored(line.rate.cents_per_hour()).to_string(),
                line.cost,
            );
        }
        row("savings", "", String::new(), String::new(), self.savings);
        row("fee", "", String::new(), String::new(), self.figures.period_fee);
        for correction in &self.corrections {
            let subject = correction.period_start.to_string();
            row("correction_cost", &subject, String::new(), String::new(), correction.cost);
            row("correction_savings", &subject, String::new(), String::new(), correction.savings);
            if let Some(adjustment) = &correction.adjustment {
                for (kind, amount) in [
                    ("correction_covered", adjustment.covered),
                    ("correction_shifted", adjustment.shifted),
                    ("correction_borne", adjustment.borne),
                    ("correction_net_balance", adjustment.net_balance),
                ] {
                    row(kind, &subject, String::new(), String::new(), amount);
                }
            }
        }
        for closing in &self.closings {
            let subject = closing.window_start.to_string();
            for (kind, amount) in [
                ("closing_covered", closing.allocation.covered),
                ("closing_shifted", closing.allocation.shifted),
                ("closing_borne", closing.allocation.borne),
                ("closing_net_balance", closing.net_balance),
            ] {
                row(kind, &subject, String::new(), String::new(), amount);
            }
        }
        let figures = &self.figures;
        for (kind, amount) in [
            ("cost_to_date", figures.cost_to_date),
            ("result_to_date", figures.result_to_date),
            ("covered_to_date", figures.covered_to_date),
            ("covered_this_period", figures.covered_this_period),
            ("uncovered_to_date", figures.uncovered_to_date),
            ("shifted", figures.allocation.map_or(Cents::ZERO, |allocation| allocation.shifted)),
            ("borne", figures.allocation.map_or(Cents::ZERO, |allocation| allocation.borne)),
            ("window_net_balance", figures.net_balance),
            ("net_balance", self.net_balance),
        ] {
            row(kind, "", String::new(), String::new(), amount);
        }
        csv
    }
}

/// Allocates the corrections of closed windows (those not `same_window`) one after the other,
/// each with its own window's intake outcome, on top of the statements issued `before` and the
/// windows this statement closes (`closing_now`).
/// `windows` are the contract's windows as (first day, last day). Returns the net balance of
/// all adjustments; `None` when a corrected window is not closed, or on overflow.
#[must_use]
pub fn adjust_closed_windows(
    terms: &ContractTerms,
    windows: &[(NaiveDate, NaiveDate)],
    before: &[Statement],
    closing_now: &[WindowClosing],
    corrections: &mut [CorrectionTotals],
) -> Option<Cents> {
    let mut closed: Vec<ClosedWindow> = Vec::new();
    let mut net = Cents::ZERO;
    for correction in corrections.iter_mut().filter(|correction| !correction.same_window) {
        let &(start, end) = windows.iter().find(|(start, end)| (*start..=*end).contains(&correction.period_start))?;
        let index = match closed.iter().position(|window| window.start == start) {
            Some(index) => index,
            None => {
                closed.push(ClosedWindow::from_statements(start, end, before, closing_now)?);
                closed.len() - 1
            }
        };
        let window = closed.get_mut(index)?;
        let (after, adjustment) = window.correct(terms, correction.cost, correction.savings)?;
        *window = after;
        net = net.checked_add(adjustment.net_balance)?;
        correction.adjustment = Some(adjustment);
    }
    Some(net)
}

/// The correction lines of late inputs: one per earlier period, with the cost of its late
/// cost lines and its late `savings` (as period start and amount). A correction of the
/// window starting `window_start` joins its figures (`same_window`); the adjustment of a
/// closed window is left to [`adjust_closed_windows`]. `None` on overflow.
#[must_use]
pub fn late_corrections(
    late_lines: &[CostLine],
    savings: &[(NaiveDate, Cents)],
    period_start: NaiveDate,
    window_start: NaiveDate,
) -> Option<Vec<CorrectionTotals>> {
    let mut periods: Vec<NaiveDate> = late_lines.iter().map(|line| line.period_start).collect();
    periods.extend(savings.iter().map(|(start, _)| *start).filter(|start| *start < period_start));
    periods.sort_unstable();
    periods.dedup();
    periods
        .into_iter()
        .map(|corrected| {
            Some(CorrectionTotals {
                period_start: corrected,
                cost: Cents::checked_sum(
                    late_lines.iter().filter(|line| line.period_start == corrected).map(|line| line.cost),
                )?,
                savings: Cents::checked_sum(
                    savings.iter().filter(|(start, _)| *start == corrected).map(|(_, amount)| *amount),
                )?,
                same_window: corrected >= window_start,
                adjustment: None,
            })
        })
        .collect()
}

/// What a statement adds to its window: the period's cost and savings, and the corrections of
/// earlier periods of the same window. `None` on overflow.
#[must_use]
pub fn contribution(
    period: Period,
    lines: &[CostLine],
    savings: Cents,
    corrections: &[CorrectionTotals],
) -> Option<PeriodTotals> {
    let same_window = || corrections.iter().filter(|correction| correction.same_window);
    Some(PeriodTotals {
        period,
        cost: Cents::checked_sum(
            lines.iter().map(|line| line.cost).chain(same_window().map(|correction| correction.cost)),
        )?,
        savings: savings.checked_add(Cents::checked_sum(same_window().map(|correction| correction.savings))?)?,
    })
}

/// The window to date after `periods`: its cost, savings and fees, and how they are charged
/// (R4) and, under `outcome`, allocated (R5). Without an outcome nothing shifts yet.
fn to_date(
    terms: &ContractTerms,
    periods: &[PeriodTotals],
    outcome: Option<IntakeOutcome>,
) -> Option<(Cents, Cents, Cents, Allocation)> {
    let cost = Cents::checked_sum(periods.iter().map(|period| period.cost))?;
    let savings = Cents::checked_sum(periods.iter().map(|period| period.savings))?;
    let fees = terms.service_fee_per_period().checked_times(periods.len())?;
    let intake = outcome.unwrap_or(NOT_CLOSED);
    Some((cost, savings, fees, allocate(cost, savings, fees, intake, terms.risk_shift_mode())?))
}

/// Settles the last period of `window_periods` (the window's periods from its first up to and
/// including the one settled, in order). `closing` carries the intake outcome when this period
/// is the window's last; the uncovered cost is then allocated (R5). `None` on overflow or an
/// empty window.
#[must_use]
pub fn settle(
    terms: &ContractTerms,
    window_periods: &[PeriodTotals],
    closing: Option<IntakeOutcome>,
) -> Option<SettlementFigures> {
    let (this, earlier) = window_periods.split_last()?;
    let fee = terms.service_fee_per_period();
    let (cost_to_date, savings_to_date, fees_to_date, now) = to_date(terms, window_periods, closing)?;
    let (_, _, _, before) = to_date(terms, earlier, None)?;
    let covered_this_period = now.covered.checked_sub(before.covered)?;
    let allocation = closing.map(|_| now);
    let shifted = allocation.map_or(Cents::ZERO, |allocation| allocation.shifted);
    let net_balance = fee.checked_add(covered_this_period)?.checked_add(shifted)?.checked_sub(this.cost)?;
    Some(SettlementFigures {
        period_cost: this.cost,
        period_savings: this.savings,
        period_fee: fee,
        cost_to_date,
        savings_to_date,
        fees_to_date,
        result_to_date: now.result,
        covered_to_date: now.covered,
        covered_before: before.covered,
        covered_this_period,
        uncovered_to_date: now.uncovered,
        allocation,
        net_balance,
    })
}

/// The independent reference model (written from DESIGN.md alone, no code shared with this
/// crate): the oracle of the engine's property tests.
#[cfg(test)]
#[path = "../../tests/model/settlement_model.rs"]
mod model;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::RiskShiftMode;
    use crate::domain::contract::tests_support::{worked_example_input, worked_example_terms};
    use crate::domain::hours::CostLine;

    fn cents(value: i64) -> Cents {
        Cents::from_stored(value)
    }

    fn months(terms: &ContractTerms, figures: &[(i64, i64)]) -> Vec<PeriodTotals> {
        figures
            .iter()
            .enumerate()
            .map(|(index, &(cost, savings))| PeriodTotals {
                period: terms.period(u32::try_from(index).unwrap()).unwrap(),
                cost: cents(cost),
                savings: cents(savings),
            })
            .collect()
    }

    fn worked_example(terms: &ContractTerms, intake: u32) -> Vec<SettlementFigures> {
        let periods = months(terms, &[(587_438, 410_000), (487_500, 980_000), (552_200, 200_000)]);
        (1..=3)
            .map(|count| {
                let closing = (count == 3).then_some(IntakeOutcome { motivated: intake, minimum: 30 });
                settle(terms, &periods[..count], closing).unwrap()
            })
            .collect()
    }

    #[test]
    fn the_worked_example_settles_to_the_cent_under_full() {
        let statements = worked_example(&worked_example_terms(), 24);
        let row = |s: &SettlementFigures| {
            (
                s.cost_to_date.cents(),
                s.result_to_date.cents(),
                s.covered_to_date.cents(),
                s.covered_this_period.cents(),
                s.uncovered_to_date.cents(),
            )
        };
        assert_eq!(row(&statements[0]), (587_438, 285_000, 285_000, 285_000, 302_438));
        assert_eq!(row(&statements[1]), (1_074_938, 1_140_000, 1_074_938, 789_938, 0));
        assert_eq!(row(&statements[2]), (1_627_138, 1_215_000, 1_215_000, 140_062, 412_138));
        let closing = statements[2].allocation.unwrap();
        assert_eq!((closing.shifted.cents(), closing.borne.cents()), (412_138, 0));
        let balances: Vec<i64> = statements.iter().map(|s| s.net_balance.cents()).collect();
        assert_eq!(balances, [-177_438, 427_438, 125_000]);
        assert_eq!(balances.iter().sum::<i64>(), 375_000);
    }

    #[test]
    fn the_worked_example_settles_to_the_cent_under_pro_rata_and_with_enough_intake() {
        let mut input = worked_example_input();
        input.risk_shift_mode = Some(RiskShiftMode::ProRata);
        let pro_rata = ContractTerms::parse(input).unwrap();
        let statements = worked_example(&pro_rata, 24);
        let closing = statements[2].allocation.unwrap();
        assert_eq!((closing.shifted.cents(), closing.borne.cents()), (82_428, 329_710));
        assert_eq!(statements[2].net_balance.cents(), -204_710);
        let total: i64 = statements.iter().map(|s| s.net_balance.cents()).sum();
        assert_eq!(total, 45_290, "3,750.00 fees − 3,297.10 borne");
        let enough = worked_example(&worked_example_terms(), 30);
        assert_eq!(enough[2].allocation.unwrap().borne.cents(), 412_138);
    }

    #[test]
    fn late_inputs_become_one_correction_per_period_and_only_same_window_ones_join_the_window() {
        let day = |month, day| NaiveDate::from_ymd_opt(2027, month, day).unwrap();
        let line = |month, cost| CostLine {
            intercedent: crate::domain::IntercedentId::parse("int-1").unwrap(),
            period_start: day(month, 1),
            rate: crate::domain::HourlyRate::parse(4_875).unwrap(),
            minutes: crate::domain::Minutes::new(60),
            cost: cents(cost),
        };
        // Settling May (window April–June): late hours of January and April, late savings of
        // January, and May's own savings, which are no correction.
        let late = [line(1, 4_875), line(4, 9_750), line(1, 100)];
        let savings = [(day(1, 1), cents(50_000)), (day(5, 1), cents(7_000))];
        let corrections = late_corrections(&late, &savings, day(5, 1), day(4, 1)).unwrap();
        let rows: Vec<_> =
            corrections.iter().map(|c| (c.period_start, c.cost.cents(), c.savings.cents(), c.same_window)).collect();
        assert_eq!(rows, [(day(1, 1), 4_975, 50_000, false), (day(4, 1), 9_750, 0, true)]);
        let terms = worked_example_terms();
        let may = terms.period(4).unwrap();
        let added = contribution(may, &[line(5, 20_000)], cents(7_000), &corrections).unwrap();
        assert_eq!((added.cost.cents(), added.savings.cents()), (29_750, 7_000));
    }

    /// Window 1 of the worked example as its March statement closes it.
    fn closed_worked_example(intake: u32) -> ClosedWindow {
        ClosedWindow {
            start: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
            periods: 3,
            cost: cents(1_627_138),
            savings: cents(1_590_000),
            intake: IntakeOutcome { motivated: intake, minimum: 30 },
        }
    }

    #[test]
    fn a_correction_to_a_closed_window_is_allocated_with_that_windows_intake() {
        let full = worked_example_terms();
        let window = closed_worked_example(24);
        assert_eq!(window.allocation(&full).unwrap().shifted.cents(), 412_138);
        // One more hour in January at 48.75: the result is spent, so under FULL it all shifts.
        let (after, hour) = window.correct(&full, cents(4_875), Cents::ZERO).unwrap();
        assert_eq!((hour.covered.cents(), hour.shifted.cents(), hour.borne.cents()), (0, 4_875, 0));
        assert_eq!(hour.net_balance, Cents::ZERO);
        assert_eq!(after.cost.cents(), 1_632_013);
        // 1,000.00 more savings: covers 1,000.00 more and shifts 1,000.00 less.
        let (_, saved) = window.correct(&full, Cents::ZERO, cents(100_000)).unwrap();
        assert_eq!((saved.covered.cents(), saved.shifted.cents(), saved.net_balance.cents()), (100_000, -100_000, 0));
        // PRO_RATA: 4,170.13 uncovered, a fifth (834.03) shifts: 9.75 more than 824.28.
        let mut input = worked_example_input();
        input.risk_shift_mode = Some(RiskShiftMode::ProRata);
        let pro_rata = ContractTerms::parse(input).unwrap();
        let (_, hour) = window.correct(&pro_rata, cents(4_875), Cents::ZERO).unwrap();
        assert_eq!((hour.shifted.cents(), hour.borne.cents(), hour.net_balance.cents()), (975, 3_900, -3_900));
        // With intake at the minimum Flextensie bears the hour, and gains from the savings.
        let enough = closed_worked_example(30);
        let (_, hour) = enough.correct(&full, cents(4_875), Cents::ZERO).unwrap();
        assert_eq!((hour.shifted.cents(), hour.borne.cents(), hour.net_balance.cents()), (0, 4_875, -4_875));
        let (_, saved) = enough.correct(&full, Cents::ZERO, cents(100_000)).unwrap();
        assert_eq!((saved.borne.cents(), saved.net_balance.cents()), (-100_000, 100_000));
    }

    /// Terms of monthly periods and windows of `window` months, as the engine reads them.
    fn engine_terms(window: usize, fee: i64, minimum: u32, pro_rata: bool) -> ContractTerms {
        let mut input = worked_example_input();
        input.intake_window_months = i64::try_from(window).unwrap();
        input.service_fee_per_period_cents = fee;
        input.minimum_intake_per_window = i64::from(minimum);
        input.risk_shift_mode = Some(if pro_rata { RiskShiftMode::ProRata } else { RiskShiftMode::Full });
        ContractTerms::parse(input).unwrap()
    }

    /// The same window in the model's terms: period `i` costs `figures[i].0` cents (minutes at
    /// 60 cents an hour cost one cent each) and saves `figures[i].1`; `motivated` candidates
    /// are checked in time; `late` are corrections of period 0 (cost, savings), each taken in
    /// by a run-off statement of its own after the window closed.
    fn model_window(
        terms: &ContractTerms,
        figures: &[(i64, i64)],
        motivated: u32,
        late: &[(i64, i64)],
    ) -> model::Contract {
        let day = |date: NaiveDate| date.num_days_from_ce();
        let periods: Vec<model::PeriodSpan> = (0..figures.len())
            .map(|index| {
                let period = terms.period(u32::try_from(index).unwrap()).unwrap();
                model::PeriodSpan { start: day(period.start), end: day(period.end) }
            })
            .collect();
        let first_day = periods[0].start;
        let mut hours: Vec<model::Hours> = figures
            .iter()
            .enumerate()
            .filter(|(_, (cost, _))| *cost != 0)
            .map(|(index, (cost, _))| model::Hours {
                intercedent: "i".to_owned(),
                day: periods[index].start,
                minutes: i128::from(*cost),
                taken_by: index,
            })
            .collect();
        let mut savings: Vec<model::Saving> = figures
            .iter()
            .enumerate()
            .map(|(index, (_, saved))| model::Saving { period: index, cents: i128::from(*saved), taken_by: index })
            .collect();
        for (offset, (cost, saved)) in late.iter().enumerate() {
            let taken_by = figures.len() + offset;
            hours.push(model::Hours { intercedent: "i".to_owned(), day: first_day, minutes: (*cost).into(), taken_by });
            savings.push(model::Saving { period: 0, cents: (*saved).into(), taken_by });
        }
        model::Contract {
            terms: model::Terms {
                fee_cents: terms.service_fee_per_period().cents().into(),
                minimum: terms.minimum_intake_per_window(),
                mode: match terms.risk_shift_mode() {
                    RiskShiftMode::Full => model::Mode::Full,
                    RiskShiftMode::ProRata => model::Mode::ProRata,
                },
                window_periods: figures.len(),
            },
            contract_end: periods[figures.len() - 1].end,
            periods,
            contract_periods: figures.len(),
            rates: vec![model::Rate { intercedent: "i".to_owned(), from_day: first_day, cents_per_hour: 60 }],
            hours,
            savings,
            candidates: (0..motivated)
                .map(|_| model::Candidate { registered: first_day, motivation: Some((first_day, 0)) })
                .collect(),
            statements: figures.len() + late.len(),
        }
    }

    use super::model;
    use chrono::Datelike;

    proptest! {
        // 2,000 random windows per property: each run covers a wide spread of shortfalls,
        // surpluses, intake outcomes and exact half cents in well under a second.
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn every_statement_of_a_window_equals_the_independent_model(
            figures in prop::collection::vec((0_i64..2_000_000, 0_i64..2_000_000), 1..=6),
            fee in 0_i64..400_000,
            motivated in 0_u32..14,
            minimum in 0_u32..14,
            pro_rata in any::<bool>(),
        ) {
            let terms = engine_terms(figures.len(), fee, minimum, pro_rata);
            let expected = model::settle_all(&model_window(&terms, &figures, motivated, &[]));
            let periods = months(&terms, &figures);
            for count in 1..=periods.len() {
                let closing = (count == periods.len()).then_some(IntakeOutcome { motivated, minimum });
                let engine = settle(&terms, &periods[..count], closing).unwrap();
                let model = &expected[count - 1];
                let allocation = engine.allocation;
                prop_assert_eq!(
                    (
                        engine.cost_to_date.cents(), engine.savings_to_date.cents(), engine.fees_to_date.cents(),
                        engine.result_to_date.cents(), engine.covered_to_date.cents(),
                        engine.covered_this_period.cents(), engine.uncovered_to_date.cents(),
                    ),
                    (
                        i64::try_from(model.cost_to_date).unwrap(), i64::try_from(model.savings_to_date).unwrap(),
                        i64::try_from(model.fees_to_date).unwrap(), i64::try_from(model.result_to_date).unwrap(),
                        i64::try_from(model.covered_to_date).unwrap(),
                        i64::try_from(model.covered_this_period).unwrap(),
                        i64::try_from(model.uncovered_to_date).unwrap(),
                    ),
                    "period {}", count
                );
                prop_assert_eq!(allocation.is_some(), model.closes_window);
                prop_assert_eq!(
                    allocation.map_or((0, 0), |a| (a.shifted.cents(), a.borne.cents())),
                    (i64::try_from(model.shifted).unwrap(), i64::try_from(model.borne).unwrap())
                );
                prop_assert_eq!(engine.net_balance.cents(), i64::try_from(model.window_net_balance).unwrap());
            }
        }

        #[test]
        fn corrections_to_a_closed_window_equal_the_independent_model(
            figures in prop::collection::vec((0_i64..2_000_000, 0_i64..2_000_000), 1..=6),
            fee in 0_i64..400_000,
            motivated in 0_u32..14,
            minimum in 0_u32..14,
            pro_rata in any::<bool>(),
            corrections in prop::collection::vec((-200_000_i64..500_000, -200_000_i64..500_000), 1..8),
        ) {
            let terms = engine_terms(figures.len(), fee, minimum, pro_rata);
            // Hours never take a window's cost below zero.
            let mut cost = figures.iter().map(|(cost, _)| cost).sum::<i64>();
            let late: Vec<(i64, i64)> = corrections
                .iter()
                .map(|&(change, saved)| {
                    let change = change.max(-cost);
                    cost += change;
                    (change, saved)
                })
                .collect();
            let expected = model::settle_all(&model_window(&terms, &figures, motivated, &late));
            let mut window = ClosedWindow {
                start: terms.start_date(),
                periods: u32::try_from(figures.len()).unwrap(),
                cost: cents(figures.iter().map(|(cost, _)| cost).sum()),
                savings: cents(figures.iter().map(|(_, saved)| saved).sum()),
                intake: IntakeOutcome { motivated, minimum },
            };
            let mut net = 0_i64;
            for (offset, &(change, saved)) in late.iter().enumerate() {
                let (after, adjustment) = window.correct(&terms, cents(change), cents(saved)).unwrap();
                let model = &expected[figures.len() + offset].corrections[0];
                let (covered, shifted, borne, balance) = model.closed.unwrap();
                prop_assert_eq!(
                    (adjustment.covered.cents(), adjustment.shifted.cents(), adjustment.borne.cents()),
                    (i64::try_from(covered).unwrap(), i64::try_from(shifted).unwrap(), i64::try_from(borne).unwrap()),
                    "correction {}", offset
                );
                prop_assert_eq!(adjustment.net_balance.cents(), i64::try_from(balance).unwrap());
                net += adjustment.net_balance.cents();
                window = after;
            }
            // Reversing every correction restores the window and nets to zero.
            for &(change, saved) in late.iter().rev() {
                let (after, adjustment) = window.correct(&terms, cents(-change), cents(-saved)).unwrap();
                net += adjustment.net_balance.cents();
                window = after;
            }
            prop_assert_eq!(net, 0);
            prop_assert_eq!(window.cost.cents(), figures.iter().map(|(cost, _)| cost).sum::<i64>());
        }
    }
}
