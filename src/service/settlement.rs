//! Settling periods: the statement of a period from the verified inputs no statement took in
//! yet, with the window-to-date arithmetic of `domain::settlement`.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::instrument;

use super::{Clock, RequestContext, mutate_contract, read_scoped};
use crate::domain::allocation::IntakeOutcome;
use crate::domain::audit::canonical_json;
use crate::domain::hours::{CostLine, RatedMinutes, cost_lines};
use crate::domain::inputs::InputBounds;
use crate::domain::names::statement_name;
use crate::domain::pool::composition;
use crate::domain::settlement::{
    CorrectionTotals, PeriodTotals, SettlementFigures, Statement, StoredStatement, WindowClosing, WindowTotals,
    adjust_closed_windows, contribution, late_corrections, settle,
};
use crate::domain::{Action, Cents, Contract, ContractId, Page, PageRequest, Period, RequestId};
use crate::error::{Context, Error};
use crate::storage::statements::{self as rows, HoursTaken};
use crate::storage::{AnyConnection, Applied, Mutation, Store, audit, contracts, hex, pool};

/// A checked request to settle a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettlePeriod {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// First day of the period.
    pub period_start: NaiveDate,
}

/// Settles periods and reads statements.
#[derive(Debug, Clone)]
pub struct SettlementService {
    store: Store,
    clock: Clock,
    invoices: Option<super::InvoiceService>,
}

impl SettlementService {
    /// A service over `store` that reads the time from `clock`.
    #[must_use]
    pub fn new(store: Store, clock: Clock) -> SettlementService {
        SettlementService { store, clock, invoices: None }
    }

    /// The same service that also issues a statement's invoice right after settling it, when
    /// the contract's invoicing data is complete (DESIGN.md §9).
    #[must_use]
    pub fn with_invoices(self, invoices: super::InvoiceService) -> SettlementService {
        SettlementService { invoices: Some(invoices), ..self }
    }

    /// Settles a period that has ended, after the one before it, within the contract. A period
    /// settled before gives its statement back unchanged. Gives the statement and the sequence
    /// number of its audit entry.
    ///
    /// # Errors
    /// [`Error::FailedPrecondition`] (`PERIOD_NOT_ENDED`, `PREVIOUS_PERIOD_NOT_SETTLED`,
    /// `AFTER_CONTRACT_END`), [`Error::InvalidArgument`] for a date that starts no period, or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str(), period.start = %command.period_start))]
    pub async fn settle(
        &self,
        context: &RequestContext,
        command: SettlePeriod,
    ) -> Result<(StoredStatement, Option<i64>), Error> {
        let now = self.clock.now();
        let mutation =
            Mutation::new(context.principal.clone(), command.request_id.clone(), Action::SettlePeriod, &command, now)?;
        // One change at a time under the writer lock, across replicas: no other settlement, no
        // go/no-go decision and no rate between reading the contract and issuing its statement.
        let mode = std::sync::Arc::new(std::sync::OnceLock::new());
        let noted_mode = mode.clone();
        let (stored, assigned) = mutate_contract(
            &self.store,
            context,
            mutation,
            command.contract.clone(),
            move |connection, context, contract| {
                let terms = &contract.terms;
                let _ = noted_mode.set(terms.risk_shift_mode().as_str());
                let name = statement_name(&contract.id, command.period_start);
                let period = super::period_starting(&contract, command.period_start)?;
                if let Some(existing) = rows::find_statement(connection, &contract.id, period.start)? {
                    return Ok(Applied::unchanged(name, existing));
                }
                let (mut statement, taken) = draft(connection, &contract, period, &name, now)?;
                let year = period.start.year();
                statement.number = format!(
                    "{}-{year}-{:04}",
                    rows::number_prefix(connection, &contract.id, terms.gemeente().as_str())?,
                    rows::next_number(connection, &contract.id, year)?
                );
                let content = canonical_json(&statement).context("encoding a statement")?;
                let stored = StoredStatement {
                    content_sha256: hex(&Sha256::digest(content.as_bytes())),
                    statement,
                    settled_by: context.principal.subject.clone(),
                    create_time: now,
                };
                rows::insert_statement(connection, &stored, &content, taken)?;
                Ok(Applied::changed(name, stored))
            },
        )
        .await?;
        let statement = &stored.statement;
        tracing::info!(
            statement.number = statement.number.as_str(),
            corrections = statement.corrections.len(),
            net_balance_cents = statement.net_balance.cents(),
            "period settled"
        );
        if assigned.is_some() {
            let figures = &statement.figures;
            let (shifted, borne) = figures
                .allocation
                .as_ref()
                .map_or((0, 0), |allocation| (allocation.shifted.cents(), allocation.borne.cents()));
            let mode = mode.get().copied().unwrap_or("UNKNOWN");
            crate::metrics::statement_issued(mode, figures.covered_this_period.cents(), borne, shifted);
            if let Some(invoices) = &self.invoices {
                invoices.issue_when_ready(context, statement.contract_id.clone(), statement.period.start).await;
            }
            return Ok((stored, assigned));
        }
        // Settled by an earlier call: its statement's entry.
        let (contract, period_start) = (statement.contract_id.clone(), statement.period.start);
        let seq = self.store.read(move |connection| rows::audit_sequence(connection, &contract, period_start)).await?;
        Ok((stored, seq))
    }

    /// Computes the statement a period would get if it were settled now, and stores nothing.
    /// A settled period gives its issued statement.
    ///
    /// # Errors
    /// As [`SettlementService::settle`], or a fault.
    pub async fn preview(
        &self,
        context: &RequestContext,
        contract: ContractId,
        period_start: NaiveDate,
    ) -> Result<Statement, Error> {
        let now = self.clock.now();
        read_scoped(&self.store, context, contract, move |connection, contract| {
            let period = super::period_starting(contract, period_start)?;
            if let Some(existing) = rows::find_statement(connection, &contract.id, period.start)? {
                return Ok(existing.statement);
            }
            let name = statement_name(&contract.id, period.start);
            draft(connection, contract, period, &name, now).map(|(statement, _)| statement)
        })
        .await
    }

    /// Reads a statement and the sequence number of its audit entry.
    ///
    /// # Errors
    /// [`Error::NotFound`] (to a municipality: [`Error::PermissionDenied`]), or a fault.
    pub async fn get(
        &self,
        context: &RequestContext,
        contract: ContractId,
        period_start: NaiveDate,
    ) -> Result<(StoredStatement, Option<i64>), Error> {
        let scope = context.clone();
        read_scoped(&self.store, context, contract, move |connection, contract| {
            let stored = rows::find_statement(connection, &contract.id, period_start)?.ok_or_else(|| {
                scope.conceal(Error::NotFound { resource: statement_name(&contract.id, period_start) })
            })?;
            let seq = rows::audit_sequence(connection, &contract.id, period_start)?;
            Ok((stored, seq))
        })
        .await
    }

    /// Reads a statement's canonical content exactly as it was stored when it was issued, and
    /// its SHA-256 (hex): the bytes the hash was taken of, whatever the statement type became
    /// since.
    ///
    /// # Errors
    /// [`Error::NotFound`] (to a municipality: [`Error::PermissionDenied`]), or a fault.
    pub async fn canonical_content(
        &self,
        context: &RequestContext,
        contract: ContractId,
        period_start: NaiveDate,
    ) -> Result<(String, String), Error> {
        let scope = context.clone();
        read_scoped(&self.store, context, contract, move |connection, contract| {
            rows::statement_content(connection, &contract.id, period_start)?
                .ok_or_else(|| scope.conceal(Error::NotFound { resource: statement_name(&contract.id, period_start) }))
        })
        .await
    }

    /// Lists a contract's statements, oldest first, each with the sequence number of its audit
    /// entry.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the contract, or a fault.
    pub async fn list(
        &self,
        context: &RequestContext,
        contract: ContractId,
        page: PageRequest,
    ) -> Result<Page<(StoredStatement, Option<i64>)>, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            rows::list_statements(connection, &contract.id, &page)
        })
        .await
    }
}

fn after_the_end(contract: &Contract, name: String, detail: &str) -> Error {
    let end = contract.end_date().map_or_else(|| "(no end)".to_owned(), |end| end.to_string());
    Error::precondition("AFTER_CONTRACT_END", name, format!("the contract ended on {end}: {detail}"))
}

/// A period after the contract's end settles as a run-off statement only after the contract's
/// last period and after every earlier run-off statement. Gives the contract's last period.
fn check_run_off(
    connection: &mut AnyConnection,
    contract: &Contract,
    period: Period,
    name: &str,
) -> Result<Period, Error> {
    let last = contract
        .end_date()
        .and_then(|end| contract.terms.period_of(end))
        .filter(|last| last.start < period.start)
        .ok_or_else(|| after_the_end(contract, name.to_owned(), "the period is not after it"))?;
    match rows::last_settled_period(connection, &contract.id)? {
        Some(settled) if settled >= period.start => Err(after_the_end(
            contract,
            name.to_owned(),
            &format!("a later run-off statement (of the period starting {settled}) is issued"),
        )),
        Some(settled) if settled >= last.start => Ok(last),
        _ => Err(Error::precondition(
            "PREVIOUS_PERIOD_NOT_SETTLED",
            name.to_owned(),
            format!("settle the contract's last period (starting {}) first", last.start),
        )),
    }
}

/// The windows that ended without a closing statement — a no-go cut them short after their
/// last period was settled — closed now with the intake outcome of their shortened span.
fn late_closings(
    connection: &mut AnyConnection,
    contract: &Contract,
    before: &[Statement],
) -> Result<Vec<WindowClosing>, Error> {
    let overflow = || Error::internal("closing a window", "an amount overflows");
    let mut closings = Vec::new();
    for window @ (start, _, end) in contract.windows() {
        let totals = WindowTotals::of(start, end, before).ok_or_else(overflow)?;
        if totals.periods == 0 || totals.intake.is_some() {
            continue;
        }
        let intake = IntakeOutcome::of(&contract.terms, &pool::pool(connection, &contract.id, end)?, window);
        closings.push(WindowClosing::of(&contract.terms, (start, end), totals, intake).ok_or_else(overflow)?);
    }
    Ok(closings)
}

/// What a period may be settled as: an ordinary period of its window, or a run-off after the
/// contract's end.
struct Admission {
    run_off: bool,
    /// First day of the last period whose inputs it takes in.
    inputs_until: NaiveDate,
    /// The period's window: first day, last day in full, last day within the contract (a
    /// run-off's own period).
    window: (NaiveDate, NaiveDate, NaiveDate),
}

/// Checks that `period` may be settled now: within the contract (or as a run-off after it),
/// ended, and after the period before it.
fn admit(
    connection: &mut AnyConnection,
    contract: &Contract,
    period: Period,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Admission, Error> {
    let run_off = !contract.covers(period.start);
    // A run-off takes in inputs dated in the contract only: never those of days a no-go cut off.
    let inputs_until = if run_off { check_run_off(connection, contract, period, name)?.start } else { period.start };
    if period.end >= super::dutch_today(now) {
        return Err(Error::precondition(
            "PERIOD_NOT_ENDED",
            name.to_owned(),
            format!("the period ends on {}; it is settled after that", period.end),
        ));
    }
    if run_off {
        return Ok(Admission { run_off, inputs_until, window: (period.start, period.end, period.end) });
    }
    if let Some(previous) = period.index.checked_sub(1).and_then(|index| contract.terms.period(index))
        && !rows::period_is_settled(connection, &contract.id, previous.start)?
    {
        return Err(Error::precondition(
            "PREVIOUS_PERIOD_NOT_SETTLED",
            name.to_owned(),
            format!("settle the period starting {} first", previous.start),
        ));
    }
    let window = contract
        .windows()
        .into_iter()
        .find(|(start, _, end)| (*start..=*end).contains(&period.start))
        .ok_or_else(|| Error::internal("settling a period", "no intake window holds the period"))?;
    Ok(Admission { run_off, inputs_until, window })
}

/// Cost lines of the hours, each day's at the intercedent's rate on that day (R3).
fn priced(connection: &mut AnyConnection, contract: &Contract, days: &[HoursTaken]) -> Result<Vec<CostLine>, Error> {
    let rates = contracts::rate_schedules_of(connection, &contract.id, days.iter().map(|day| &day.intercedent))?;
    let rated = days
        .iter()
        .map(|day| {
            let rate =
                rates.get(&day.intercedent).and_then(|schedule| schedule.rate_on(day.work_date)).ok_or_else(|| {
                    Error::internal(
                        "settling a period",
                        format!("no rate for {} on {}", day.intercedent.as_str(), day.work_date),
                    )
                })?;
            Ok(RatedMinutes {
                intercedent: day.intercedent.clone(),
                period_start: day.period_start,
                rate,
                minutes: day.minutes,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    cost_lines(rated).ok_or_else(|| Error::internal("settling a period", "cost overflows"))
}

/// A run-off closes the windows a no-go left open; corrections of closed windows are
/// allocated with each window's own intake outcome. Gives the closings and the net balance
/// of closings and adjustments.
fn settle_closed_windows(
    connection: &mut AnyConnection,
    contract: &Contract,
    earlier: &[Statement],
    run_off: bool,
    corrections: &mut [CorrectionTotals],
) -> Result<(Vec<WindowClosing>, Cents), Error> {
    let closings = if run_off { late_closings(connection, contract, earlier)? } else { Vec::new() };
    let windows: Vec<_> = contract.windows().into_iter().map(|(start, _, end)| (start, end)).collect();
    let overflow = || Error::internal("settling a period", "a corrected window is not closed, or overflows");
    let adjusted =
        adjust_closed_windows(&contract.terms, &windows, earlier, &closings, corrections).ok_or_else(overflow)?;
    let net = closings.iter().map(|closing| closing.net_balance).try_fold(adjusted, Cents::checked_add);
    Ok((closings, net.ok_or_else(overflow)?))
}

/// The statement of `period` as it would be issued now (without its number), and the bounds of
/// the inputs it takes in.
fn draft(
    connection: &mut AnyConnection,
    contract: &Contract,
    period: Period,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(Statement, InputBounds), Error> {
    let terms = &contract.terms;
    let Admission { run_off, inputs_until, window: (window_start, full_end, window_end) } =
        admit(connection, contract, period, name, now)?;
    let overflow = || Error::internal("settling a period", "an amount overflows");

    // The verified inputs no statement took in yet: this period's, and late ones. The writer
    // lock keeps every other change out until this statement commits, so every decision so far
    // is in audit entries up to the last one.
    let taken = InputBounds { until: inputs_until, through: audit::last_entry_seq(connection)? };
    let latest = rows::latest_bounds(connection, &contract.id)?;
    let (days, records, pending_hours, pending_savings) = rows::reading_every_input(connection, |connection| {
        Ok((
            rows::hours_to_take(connection, &contract.id, taken, latest)?,
            rows::savings_to_take(connection, &contract.id, taken, latest)?,
            rows::pending_hours(connection, &contract.id, inputs_until)?,
            rows::pending_savings(connection, &contract.id, inputs_until)?,
        ))
    })?;
    let (lines, late_lines): (Vec<_>, Vec<_>) =
        priced(connection, contract, &days)?.into_iter().partition(|line| line.period_start == period.start);
    let savings: Vec<(NaiveDate, Cents)> = records.iter().map(|record| (record.period_start, record.amount)).collect();
    let period_savings = savings
        .iter()
        .filter(|(start, _)| *start == period.start)
        .try_fold(Cents::ZERO, |total, (_, amount)| total.checked_add(*amount))
        .ok_or_else(overflow)?;
    let mut corrections = late_corrections(&late_lines, &savings, period.start, window_start).ok_or_else(overflow)?;
    // The earlier statements this one builds on: its window's, and all of them when closed
    // windows are corrected or closed.
    let history = run_off || corrections.iter().any(|correction| !correction.same_window);
    let from = if history { terms.start_date() } else { window_start };
    let earlier: Vec<Statement> = rows::statements_between(connection, &contract.id, from, period.start)?
        .into_iter()
        .map(|stored| stored.statement)
        .collect();
    let (closings, closed_net) = if history {
        settle_closed_windows(connection, contract, &earlier, run_off, &mut corrections)?
    } else {
        (Vec::new(), Cents::ZERO)
    };
    if run_off && days.is_empty() && records.is_empty() && closings.is_empty() {
        return Err(after_the_end(
            contract,
            name.to_owned(),
            "no late input waits to be settled, and no window to close",
        ));
    }

    let contribution = contribution(period, &lines, period_savings, &corrections).ok_or_else(overflow)?;
    let window_periods: Vec<PeriodTotals> = earlier
        .iter()
        .filter(|statement| statement.period.start >= window_start)
        .map(|statement| statement.contribution)
        .chain([contribution])
        .collect();
    let candidates = pool::pool(connection, &contract.id, period.end)?;
    let closes_window = !run_off && period.end >= window_end;
    let intake = closes_window.then(|| IntakeOutcome::of(terms, &candidates, (window_start, full_end, window_end)));
    let figures =
        if run_off { SettlementFigures::NONE } else { settle(terms, &window_periods, intake).ok_or_else(overflow)? };
    let target = terms.composition_target().arrangement_3_percent();
    let statement = Statement {
        number: String::new(),
        contract_id: contract.id.clone(),
        period,
        run_off,
        window_start,
        window_end,
        closes_window,
        cost_lines: lines,
        savings: period_savings,
        corrections,
        closings,
        contribution,
        figures,
        net_balance: figures.net_balance.checked_add(closed_net).ok_or_else(overflow)?,
        intake,
        composition: composition(&candidates, period.end, target),
        target_arrangement_3_percent: target,
        pending_hours,
        pending_savings,
    };
    tracing::debug!(
        hour_entries = days.iter().map(|day| day.entries).sum::<i64>(),
        savings_records = records.iter().map(|record| record.records).sum::<i64>(),
        "inputs taken in"
    );
    Ok((statement, taken))
}
