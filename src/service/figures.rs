//! The figures every reader of a contract sees alike (DESIGN.md §4, one truth per figure): a
//! period's verified cost as its statements priced it, and a closed window's intake as its
//! closing statement recorded it.

use chrono::NaiveDate;

use crate::domain::allocation::IntakeOutcome;
use crate::domain::gonogo::PeriodFigures;
use crate::domain::hours::EntryState;
use crate::domain::settlement::{Statement, WindowTotals};
use crate::domain::{Cents, Contract};
use crate::error::Error;
use crate::storage::{AnyConnection, savings, statements};

/// The verified cost and savings of every period that starts before `until`: hours priced in
/// the groups their statements priced them in (and those no statement took in yet as the next
/// statement will), so each figure equals the sum of what the statements say of the period.
///
/// # Errors
/// A storage fault.
pub(super) fn period_figures(
    connection: &mut AnyConnection,
    contract: &Contract,
    until: NaiveDate,
) -> Result<Vec<PeriodFigures>, Error> {
    let mut figures = Vec::new();
    for period in (0_u32..).map_while(|index| contract.terms.period(index)).take_while(|period| period.start < until) {
        let states = super::hours::period_state_totals(connection, &contract.id, period.start)?;
        let cost =
            states.iter().find(|state| state.state == EntryState::Verified).map_or(Cents::ZERO, |state| state.cost);
        let saved = savings::period_sums(connection, &contract.id, period.start)?
            .into_iter()
            .find(|(state, _, _)| *state == EntryState::Verified)
            .map_or(Cents::ZERO, |(_, _, amount)| amount);
        figures.push(PeriodFigures { period, cost, savings: saved });
    }
    Ok(figures)
}

/// The intake outcome of every window whose closing statement is issued, by the window's first
/// day: fixed by that statement (R6), whatever was recorded in the pool since.
///
/// # Errors
/// A storage fault.
pub(super) fn recorded_intakes(
    connection: &mut AnyConnection,
    contract: &Contract,
) -> Result<Vec<(NaiveDate, IntakeOutcome)>, Error> {
    let issued: Vec<Statement> =
        statements::all_statements(connection, &contract.id)?.into_iter().map(|stored| stored.statement).collect();
    let mut recorded = Vec::new();
    for (start, _, end) in contract.windows() {
        let totals = WindowTotals::of(start, end, &issued)
            .ok_or_else(|| Error::internal("reading a window's intake", "an amount overflows"))?;
        if let Some(intake) = totals.intake {
            recorded.push((start, intake));
        }
    }
    Ok(recorded)
}
