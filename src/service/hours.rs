//! Hours actually worked: submit, correct, verify, reject, read and total.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tracing::instrument;

use super::{Clock, RequestContext, dutch_today, mutate_scoped, read_scoped, scoped_contract};
use crate::domain::hours::{
    CorrectionLine, Decision, EntryFilter, HourEntry, HourLine, LineOutcome, RecordedHours, StateTotals, Verdict,
    check_correction, check_decision, check_lines, totals_by_state,
};
use crate::domain::names::{contract_name, hour_entry_name};
use crate::domain::{
    Action, Contract, ContractId, IntercedentId, LineReference, Page, PageRequest, Period, RequestId, Violations,
};
use crate::error::{Error, PreconditionViolation};
use crate::storage::hours as rows;
use crate::storage::writer_cache::WriterCache;
use crate::storage::{AnyConnection, Applied, Mutation, Outcomes, Store, Together};

/// A checked submission of hour lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubmitHours {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// The lines, in order.
    pub lines: Vec<HourLine>,
}

/// A checked correction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorrectHours {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// The correction.
    pub line: CorrectionLine,
}

/// A checked verification of entries of one contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyHours {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// The entries, distinct, in the order asked.
    pub entries: Vec<LineReference>,
}

/// A checked rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectHours {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// The entry.
    pub entry: LineReference,
    /// Why.
    pub reason: String,
}

/// Totals of a contract's hours in one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursTotals {
    /// The period.
    pub period: Period,
    /// Per state.
    pub states: Vec<StateTotals>,
}

/// Records, decides and reads hours.
#[derive(Debug, Clone)]
pub struct HoursService {
    store: Store,
    clock: Clock,
}

/// A period's hours per state, each priced at the rates of its days.
pub(super) fn period_state_totals(
    connection: &mut AnyConnection,
    contract: &ContractId,
    period_start: NaiveDate,
) -> Result<Vec<StateTotals>, Error> {
    let sums = rows::period_day_sums(connection, contract, period_start)?;
    let rates =
        crate::storage::contracts::rate_schedules_of(connection, contract, sums.iter().map(|sum| &sum.intercedent))?;
    totals_by_state(period_start, &sums, &rates).map_err(|detail| Error::internal("totalling hours", detail))
}

fn refusal(
    contract: &ContractId,
    id: &LineReference,
    (kind, description): (crate::domain::hours::Refusal, String),
) -> PreconditionViolation {
    PreconditionViolation { kind: kind.as_str(), subject: hour_entry_name(contract, id), description }
}

/// The period of a date inside the contract's term.
fn period_of(contract: &Contract, date: NaiveDate) -> Result<Period, Error> {
    contract
        .terms
        .period_of(date)
        .ok_or_else(|| Error::internal("finding a settlement period", format!("{date} is before the contract's start")))
}

/// A submission waiting for the writer, which records the submissions waiting at the same time
/// together (see [`Together`]).
struct Submission {
    context: RequestContext,
    command: SubmitHours,
    now: DateTime<Utc>,
    tally: crate::metrics::Tally,
}

/// The days (intercedent and date) and line references that submissions to one contract name.
type Named = (Vec<(IntercedentId, NaiveDate)>, Vec<LineReference>);

/// What submissions to one contract are checked against, read once for all of them.
struct Against {
    contract: Contract,
    recorded: Option<RecordedHours>,
}

impl Together for Submission {
    type Answer = Vec<HourEntry>;

    /// A submission adds hour entries (and their audit entries) only.
    const LEAVES_WRITER_CACHE: bool = true;

    /// Checks and records the submissions in order, each against what the ones before it
    /// recorded, with one read per contract of what they are checked against and one INSERT of
    /// every new entry.
    fn apply_all(
        connection: &mut AnyConnection,
        cache: &mut WriterCache,
        calls: &[&Submission],
    ) -> Result<Outcomes<Vec<HourEntry>>, Error> {
        // A fault reading the cache's counter fails the step; a contract that cannot be read is
        // the call's refusal (below).
        cache.check(connection)?;
        // The days and references of every call, per contract: read once, for all of them.
        let mut named: HashMap<&ContractId, Named> = HashMap::new();
        for call in calls {
            let (days, references) = named.entry(&call.command.contract).or_default();
            for line in &call.command.lines {
                days.push((line.intercedent.clone(), line.work_date));
                references.push(line.line_reference.clone());
            }
        }
        let mut against: HashMap<&ContractId, Against> = HashMap::new();
        let mut settled: HashMap<(&ContractId, NaiveDate), bool> = HashMap::new();
        let mut new = Vec::new();
        let mut outcomes = Vec::with_capacity(calls.len());
        for call in calls {
            let id = &call.command.contract;
            let checked = match against.entry(id) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(unknown) => match cache.contract(connection, id) {
                    Ok(contract) => unknown.insert(Against { contract, recorded: None }),
                    Err(error) => {
                        outcomes.push(Err(call.context.conceal(error)));
                        continue;
                    }
                },
            };
            let contract = &checked.contract;
            if let Err(error) = call.context.ensure_in_scope(contract.terms.gemeente(), &contract_name(id)) {
                outcomes.push(Err(error));
                continue;
            }
            let recorded = match &mut checked.recorded {
                Some(recorded) => recorded,
                unread => {
                    let (days, references) =
                        named.get(id).map(|(days, references)| (&days[..], &references[..])).unwrap_or_default();
                    let rates = cache.intercedents_with_rates(connection, id, rows::named_intercedents(days))?;
                    unread.insert(rows::recorded_with_rates(connection, id, days, references, rates)?)
                }
            };
            let lines = call.command.lines.iter().cloned().enumerate().collect();
            let outcomes_of_lines = match check_lines(contract, dutch_today(call.now), lines, recorded) {
                Ok(checked) => checked,
                Err(violations) => {
                    outcomes.push(Err(violations.into()));
                    continue;
                }
            };
            let mut answer = Vec::with_capacity(outcomes_of_lines.len());
            let mut added = 0;
            for outcome in outcomes_of_lines {
                let entry = match outcome {
                    LineOutcome::Recorded(entry) => *entry,
                    LineOutcome::New(line) => {
                        let period = period_of(contract, line.work_date)?;
                        let late = match settled.entry((id, period.start)) {
                            Entry::Occupied(known) => *known.get(),
                            Entry::Vacant(unknown) => {
                                *unknown.insert(cache.period_is_settled(connection, id, period.start)?)
                            }
                        };
                        let entry = HourEntry {
                            contract_id: id.clone(),
                            id: line.line_reference,
                            intercedent: line.intercedent,
                            work_date: line.work_date,
                            period_start: period.start,
                            minutes: line.minutes,
                            note: line.note,
                            corrects: None,
                            late,
                            submitted_by: call.context.principal.subject.clone(),
                            submit_time: call.now,
                            decision: None,
                        };
                        // The calls after this one see it as recorded.
                        *recorded.day_minutes.entry((entry.intercedent.clone(), entry.work_date)).or_insert(0) +=
                            entry.minutes.get();
                        recorded.existing.insert(entry.id.clone(), entry.clone());
                        new.push(entry.clone());
                        added += 1;
                        entry
                    }
                };
                answer.push(entry);
            }
            call.tally.set(added);
            let resource = format!("{}/hourEntries", contract_name(id));
            outcomes.push(Ok(if added == 0 {
                Applied::unchanged(resource, answer)
            } else {
                Applied::changed(resource, answer)
            }));
        }
        rows::insert_entries(connection, &new)?;
        Ok(outcomes)
    }
}

impl HoursService {
    /// A service over `store` that reads the time from `clock`.
    #[must_use]
    pub fn new(store: Store, clock: Clock) -> HoursService {
        HoursService { store, clock }
    }

    /// Records lines of hours worked, all or nothing. Lines recorded before with the same
    /// content come back as they are.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming every bad line, [`Error::NotFound`] or
    /// [`Error::PermissionDenied`] for the contract, [`Error::RequestIdReused`], or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str(), lines = command.lines.len()))]
    pub async fn submit_hours(&self, context: &RequestContext, command: SubmitHours) -> Result<Vec<HourEntry>, Error> {
        let now = self.clock.now();
        let mutation =
            Mutation::new(context.principal.clone(), command.request_id.clone(), Action::SubmitHours, &command, now)?;
        let submitted = crate::metrics::Tally::default();
        let call = Submission { context: context.clone(), command, now, tally: submitted.clone() };
        let (answer, _) = self.store.mutate_together(mutation, call).await?;
        crate::metrics::hour_entries(submitted.get(), "submitted");
        Ok(answer)
    }

    /// Explains a submission refused for malformed lines: adds what the contract and the
    /// recorded hours say of its well-formed lines, so the refusal names every bad line.
    /// Changes nothing.
    #[instrument(skip_all, fields(contract.id = contract.as_str()))]
    pub async fn explain_refusal(
        &self,
        context: &RequestContext,
        contract: ContractId,
        lines: Vec<(usize, HourLine)>,
        mut violations: Violations,
    ) -> Error {
        let context = context.clone();
        let today = dutch_today(self.clock.now());
        let checked = self
            .store
            .read(move |connection| {
                let contract = scoped_contract(connection, &context, &contract)?;
                let days: Vec<(IntercedentId, NaiveDate)> =
                    lines.iter().map(|(_, line)| (line.intercedent.clone(), line.work_date)).collect();
                let references: Vec<LineReference> =
                    lines.iter().map(|(_, line)| line.line_reference.clone()).collect();
                let recorded = rows::recorded_for(connection, &contract.id, &days, &references)?;
                Ok(check_lines(&contract, today, lines, &recorded).err())
            })
            .await;
        match checked {
            Ok(more) => {
                if let Some(more) = more {
                    violations.merge(more);
                }
                violations.sort_by_element();
                Error::InvalidArgument(violations)
            }
            Err(error) => error,
        }
    }

    /// Corrects a verified entry with signed minutes.
    ///
    /// # Errors
    /// [`Error::FailedPrecondition`] when the entry cannot be corrected so, [`Error::NotFound`],
    /// [`Error::InvalidArgument`] for a reused line reference, or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str()))]
    pub async fn correct_hours(&self, context: &RequestContext, command: CorrectHours) -> Result<HourEntry, Error> {
        let now = self.clock.now();
        let mutation =
            Mutation::new(context.principal.clone(), command.request_id.clone(), Action::CorrectHours, &command, now)?;
        mutate_scoped(&self.store, context, mutation, command.contract.clone(), move |connection, context, contract| {
            let line = command.line;
            let original = rows::get_entry(connection, &contract.id, &line.corrects)?;
            let name = hour_entry_name(&contract.id, &line.line_reference);
            if let Some(existing) =
                rows::get_entries(connection, &contract.id, std::slice::from_ref(&line.line_reference))?.pop()
            {
                let same = existing.corrects.as_ref() == Some(&line.corrects)
                    && existing.minutes == line.minutes
                    && existing.note == line.note;
                if same {
                    return Ok(Applied::unchanged(name, existing));
                }
                return Err(Error::InvalidArgument(Violations::single(
                    "line_reference",
                    format!(
                        "{} was used before for other content; a line reference names one line",
                        line.line_reference.as_str()
                    ),
                )));
            }
            let net = rows::net_minutes_lower_bound(connection, &contract.id, &original.id)?;
            let day_of = (original.intercedent.clone(), original.work_date);
            let day = rows::day_minutes(connection, &contract.id, std::slice::from_ref(&day_of))?
                .get(&day_of)
                .copied()
                .unwrap_or(0);
            check_correction(&original, net, day, &line)
                .map_err(|refused| Error::FailedPrecondition(vec![refusal(&contract.id, &original.id, refused)]))?;
            let entry = HourEntry {
                contract_id: contract.id.clone(),
                id: line.line_reference,
                intercedent: original.intercedent,
                work_date: original.work_date,
                period_start: original.period_start,
                minutes: line.minutes,
                note: line.note,
                corrects: Some(original.id),
                late: crate::storage::statements::period_is_settled(connection, &contract.id, original.period_start)?,
                submitted_by: context.principal.subject.clone(),
                submit_time: now,
                decision: None,
            };
            rows::insert_entries(connection, std::slice::from_ref(&entry))?;
            Ok(Applied::changed(name, entry))
        })
        .await
    }

    /// Verifies submitted entries of one contract, all or nothing.
    ///
    /// # Errors
    /// [`Error::FailedPrecondition`] naming every entry that cannot be verified (decided before,
    /// or submitted by the same principal), [`Error::NotFound`], or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str(), entries = command.entries.len()))]
    pub async fn verify_hours(&self, context: &RequestContext, command: VerifyHours) -> Result<Vec<HourEntry>, Error> {
        let now = self.clock.now();
        let mutation =
            Mutation::new(context.principal.clone(), command.request_id.clone(), Action::VerifyHours, &command, now)?;
        let verified = crate::metrics::Tally::default();
        let tally = verified.clone();
        let entries = mutate_scoped(
            &self.store,
            context,
            mutation,
            command.contract.clone(),
            move |connection, context, contract| {
                let entries =
                    self::decide(connection, context, &contract, &command.entries, Verdict::Verified, None, now)?;
                tally.set(entries.len());
                Ok(Applied::changed(format!("{}/hourEntries", contract_name(&contract.id)), entries))
            },
        )
        .await?;
        crate::metrics::hour_entries(verified.get(), "verified");
        Ok(entries)
    }

    /// Rejects a submitted entry.
    ///
    /// # Errors
    /// As [`HoursService::verify_hours`].
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str()))]
    pub async fn reject_hours(&self, context: &RequestContext, command: RejectHours) -> Result<HourEntry, Error> {
        let now = self.clock.now();
        let mutation =
            Mutation::new(context.principal.clone(), command.request_id.clone(), Action::RejectHours, &command, now)?;
        let rejected = crate::metrics::Tally::default();
        let tally = rejected.clone();
        let entry = mutate_scoped(
            &self.store,
            context,
            mutation,
            command.contract.clone(),
            move |connection, context, contract| {
                let ids = std::slice::from_ref(&command.entry);
                let mut entries =
                    decide(connection, context, &contract, ids, Verdict::Rejected, Some(command.reason), now)?;
                let entry = entries.pop().ok_or_else(|| Error::internal("rejecting an entry", "no entry decided"))?;
                tally.set(1);
                Ok(Applied::changed(hour_entry_name(&contract.id, &entry.id), entry))
            },
        )
        .await?;
        crate::metrics::hour_entries(rejected.get(), "rejected");
        Ok(entry)
    }

    /// Reads an entry.
    ///
    /// # Errors
    /// [`Error::NotFound`] (to a municipality: [`Error::PermissionDenied`]), or a fault.
    #[instrument(skip_all, fields(contract.id = contract.as_str()))]
    pub async fn get_entry(
        &self,
        context: &RequestContext,
        contract: ContractId,
        id: LineReference,
    ) -> Result<HourEntry, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            rows::get_entry(connection, &contract.id, &id)
        })
        .await
    }

    /// Lists a contract's entries.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the contract, or a fault.
    #[instrument(skip_all, fields(contract.id = contract.as_str(), page.size = page.size.get()))]
    pub async fn list_entries(
        &self,
        context: &RequestContext,
        contract: ContractId,
        filter: EntryFilter,
        page: PageRequest,
    ) -> Result<Page<HourEntry>, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            rows::list_entries(connection, &contract.id, &filter, &page)
        })
        .await
    }

    /// Minutes and cost per state for one settlement period.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `period_start` does not start a period, [`Error::NotFound`],
    /// or a fault.
    #[instrument(skip_all, fields(contract.id = contract.as_str(), period.start = %period_start))]
    pub async fn totals(
        &self,
        context: &RequestContext,
        contract: ContractId,
        period_start: NaiveDate,
    ) -> Result<HoursTotals, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            let period = super::period_starting(contract, period_start)?;
            Ok(HoursTotals { period, states: period_state_totals(connection, &contract.id, period.start)? })
        })
        .await
    }
}

/// Records one verdict on each entry, all or nothing; every entry that cannot take it is named.
fn decide(
    connection: &mut AnyConnection,
    context: &RequestContext,
    contract: &Contract,
    ids: &[LineReference],
    verdict: Verdict,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Vec<HourEntry>, Error> {
    let mut found: HashMap<LineReference, HourEntry> =
        rows::get_entries(connection, &contract.id, ids)?.into_iter().map(|entry| (entry.id.clone(), entry)).collect();
    let mut entries = Vec::with_capacity(ids.len());
    for id in ids {
        let entry = found.remove(id).ok_or_else(|| Error::NotFound { resource: hour_entry_name(&contract.id, id) })?;
        entries.push(entry);
    }
    let refused: Vec<PreconditionViolation> = entries
        .iter()
        .filter_map(|entry| {
            check_decision(entry, &context.principal.subject).err().map(|why| refusal(&contract.id, &entry.id, why))
        })
        .collect();
    if !refused.is_empty() {
        return Err(Error::FailedPrecondition(refused));
    }
    let decision = Decision { verdict, decided_by: context.principal.subject.clone(), decide_time: now, reason };
    let ids: Vec<LineReference> = entries.iter().map(|entry| entry.id.clone()).collect();
    rows::insert_decisions(connection, &contract.id, &ids, &decision)?;
    for entry in &mut entries {
        entry.decision = Some(decision.clone());
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_is_the_dutch_date_in_winter_and_in_summer() {
        let instant = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        // 23:30 UTC in January is 00:30 the next day in Amsterdam (UTC+1).
        assert_eq!(dutch_today(instant("2027-01-14T23:30:00Z")).to_string(), "2027-01-15");
        // 22:30 UTC in January is still 23:30 the same day.
        assert_eq!(dutch_today(instant("2027-01-14T22:30:00Z")).to_string(), "2027-01-14");
        // 22:30 UTC in July is 00:30 the next day (UTC+2).
        assert_eq!(dutch_today(instant("2027-07-14T22:30:00Z")).to_string(), "2027-07-15");
    }
}
