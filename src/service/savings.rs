//! Realised savings: submit, correct, verify, reject, read and total.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tracing::instrument;

use super::{Clock, RequestContext, mutate_scoped, read_scoped};
use crate::domain::hours::{Decision, EntryState, Refusal, Verdict};
use crate::domain::names::{contract_name, savings_name};
use crate::domain::savings::{
    Party, SavingsCorrection, SavingsLine, SavingsRecord, check_savings_correction, check_savings_decision,
    check_savings_period,
};
use crate::domain::{
    Action, Cents, Contract, ContractId, LineReference, Page, PageRequest, Period, RequestId, Violations,
};
use crate::error::{Error, PreconditionViolation};
use crate::storage::savings as rows;
use crate::storage::statements::period_is_settled;
use crate::storage::{AnyConnection, Applied, Mutation, Store};

/// A checked savings record to submit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubmitSavings {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// The record.
    pub line: SavingsLine,
}

/// A checked correction of a savings record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorrectSavings {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// The correction.
    pub correction: SavingsCorrection,
}

/// A checked decision on savings records of one contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecideSavings {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// The records, distinct, in the order asked.
    pub records: Vec<LineReference>,
    /// Why, for a rejection.
    pub reason: Option<String>,
}

/// Record counts and amounts per state of one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavingsTotals {
    /// The period.
    pub period: Period,
    /// Per state: records and amount.
    pub states: Vec<(EntryState, i64, Cents)>,
}

/// Records, decides and reads savings.
#[derive(Debug, Clone)]
pub struct SavingsService {
    store: Store,
    clock: Clock,
}

fn party_of(context: &RequestContext) -> Result<Party, Error> {
    Party::of(&context.principal.role).ok_or_else(|| Error::PermissionDenied {
        resource: "savings".to_owned(),
        reason: "only Flextensie's billing system and a municipality record or decide savings".to_owned(),
    })
}

fn refusal(contract: &ContractId, id: &LineReference, (kind, description): (Refusal, String)) -> PreconditionViolation {
    PreconditionViolation { kind: kind.as_str(), subject: savings_name(contract, id), description }
}

impl SavingsService {
    /// A service over `store` that reads the time from `clock`.
    #[must_use]
    pub fn new(store: Store, clock: Clock) -> SavingsService {
        SavingsService { store, clock }
    }

    /// Records savings of a begun period of the contract.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a period outside the term or not begun, or a reused
    /// reference; [`Error::NotFound`]/[`Error::PermissionDenied`] for the contract; a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str()))]
    pub async fn submit(&self, context: &RequestContext, command: SubmitSavings) -> Result<SavingsRecord, Error> {
        let now = self.clock.now();
        let party = party_of(context)?;
        let mutation =
            Mutation::new(context.principal.clone(), command.request_id.clone(), Action::SubmitSavings, &command, now)?;
        let submitted = crate::metrics::Tally::default();
        let tally = submitted.clone();
        let record = mutate_scoped(
            &self.store,
            context,
            mutation,
            command.contract.clone(),
            move |connection, context, contract| {
                let line = command.line;
                let today = super::dutch_today(now);
                check_savings_period(&contract, today, line.period_start)
                    .map_err(|problem| Error::InvalidArgument(Violations::single("savings.period_start", problem)))?;
                let name = savings_name(&contract.id, &line.source_reference);
                if let Some(existing) =
                    rows::get_records(connection, &contract.id, std::slice::from_ref(&line.source_reference))?.pop()
                {
                    if existing.same_line_as(&line) {
                        return Ok(Applied::unchanged(name, existing));
                    }
                    return Err(reused(&line.source_reference));
                }
                let record = SavingsRecord {
                    contract_id: contract.id.clone(),
                    id: line.source_reference,
                    period_start: line.period_start,
                    amount: line.amount,
                    kind: line.kind,
                    candidate: line.candidate,
                    certainty: line.certainty,
                    note: line.note,
                    corrects: None,
                    late: period_is_settled(connection, &contract.id, line.period_start)?,
                    submitted_by: context.principal.subject.clone(),
                    submitted_party: party,
                    submit_time: now,
                    decision: None,
                };
                rows::insert_record(connection, &record)?;
                tally.set(1);
                Ok(Applied::changed(name, record))
            },
        )
        .await?;
        crate::metrics::savings_records(submitted.get(), "submitted");
        Ok(record)
    }

    /// Corrects a verified record with a signed amount.
    ///
    /// # Errors
    /// [`Error::FailedPrecondition`] when the record cannot be corrected so, [`Error::NotFound`],
    /// [`Error::InvalidArgument`] for a reused reference, or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str()))]
    pub async fn correct(&self, context: &RequestContext, command: CorrectSavings) -> Result<SavingsRecord, Error> {
        let now = self.clock.now();
        let party = party_of(context)?;
        let mutation = Mutation::new(
            context.principal.clone(),
            command.request_id.clone(),
            Action::CorrectSavings,
            &command,
            now,
        )?;
        mutate_scoped(&self.store, context, mutation, command.contract.clone(), move |connection, context, contract| {
            let correction = command.correction;
            let original = rows::get_record(connection, &contract.id, &correction.corrects)?;
            let name = savings_name(&contract.id, &correction.source_reference);
            if let Some(existing) =
                rows::get_records(connection, &contract.id, std::slice::from_ref(&correction.source_reference))?.pop()
            {
                let same = existing.corrects.as_ref() == Some(&correction.corrects)
                    && existing.amount == correction.amount
                    && existing.note == correction.note;
                return if same {
                    Ok(Applied::unchanged(name, existing))
                } else {
                    Err(reused(&correction.source_reference))
                };
            }
            let net = rows::net_amount_lower_bound(connection, &contract.id, &original.id)?;
            check_savings_correction(&original, net, &correction)
                .map_err(|why| Error::FailedPrecondition(vec![refusal(&contract.id, &original.id, why)]))?;
            let record = SavingsRecord {
                contract_id: contract.id.clone(),
                id: correction.source_reference,
                period_start: original.period_start,
                amount: correction.amount,
                kind: original.kind,
                candidate: original.candidate.clone(),
                certainty: original.certainty,
                note: correction.note,
                corrects: Some(original.id),
                late: period_is_settled(connection, &contract.id, original.period_start)?,
                submitted_by: context.principal.subject.clone(),
                submitted_party: party,
                submit_time: now,
                decision: None,
            };
            rows::insert_record(connection, &record)?;
            Ok(Applied::changed(name, record))
        })
        .await
    }

    /// Verifies (no reason) or rejects (with a reason) records, all or nothing.
    ///
    /// # Errors
    /// [`Error::FailedPrecondition`] naming every record that cannot take the decision,
    /// [`Error::NotFound`], or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str(), records = command.records.len()))]
    pub async fn decide(&self, context: &RequestContext, command: DecideSavings) -> Result<Vec<SavingsRecord>, Error> {
        let now = self.clock.now();
        let party = party_of(context)?;
        let (action, verdict) = match command.reason {
            None => (Action::VerifySavings, Verdict::Verified),
            Some(_) => (Action::RejectSavings, Verdict::Rejected),
        };
        let mutation = Mutation::new(context.principal.clone(), command.request_id.clone(), action, &command, now)?;
        let decided = crate::metrics::Tally::default();
        let tally = decided.clone();
        let records = mutate_scoped(
            &self.store,
            context,
            mutation,
            command.contract.clone(),
            move |connection, context, contract| {
                let records =
                    decide(connection, context, party, &contract, &command.records, verdict, command.reason, now)?;
                tally.set(records.len());
                Ok(Applied::changed(format!("{}/savings", contract_name(&contract.id)), records))
            },
        )
        .await?;
        let state = if matches!(verdict, Verdict::Verified) { "verified" } else { "rejected" };
        crate::metrics::savings_records(decided.get(), state);
        Ok(records)
    }

    /// Reads a record.
    ///
    /// # Errors
    /// [`Error::NotFound`] (to a municipality: [`Error::PermissionDenied`]), or a fault.
    pub async fn get(
        &self,
        context: &RequestContext,
        contract: ContractId,
        id: LineReference,
    ) -> Result<SavingsRecord, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            rows::get_record(connection, &contract.id, &id)
        })
        .await
    }

    /// Lists a contract's records.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the contract, or a fault.
    pub async fn list(
        &self,
        context: &RequestContext,
        contract: ContractId,
        period_start: Option<NaiveDate>,
        state: Option<EntryState>,
        page: PageRequest,
    ) -> Result<Page<SavingsRecord>, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            rows::list_records(connection, &contract.id, period_start, state, &page)
        })
        .await
    }

    /// Record counts and amounts by state for one settlement period.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `period_start` does not start a period, [`Error::NotFound`],
    /// or a fault.
    pub async fn totals(
        &self,
        context: &RequestContext,
        contract: ContractId,
        period_start: NaiveDate,
    ) -> Result<SavingsTotals, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            let period = super::period_starting(contract, period_start)?;
            let states = rows::period_sums(connection, &contract.id, period.start)?;
            Ok(SavingsTotals { period, states })
        })
        .await
    }
}

fn reused(reference: &LineReference) -> Error {
    Error::InvalidArgument(Violations::single(
        "source_reference",
        format!("{} was used before for other content; a source reference names one record", reference.as_str()),
    ))
}

/// Records one verdict on each record, all or nothing; every record that cannot take it is named.
#[expect(clippy::too_many_arguments, reason = "one decision's inputs, threaded from one call")]
fn decide(
    connection: &mut AnyConnection,
    context: &RequestContext,
    party: Party,
    contract: &Contract,
    ids: &[LineReference],
    verdict: Verdict,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Vec<SavingsRecord>, Error> {
    let mut found: HashMap<LineReference, SavingsRecord> = rows::get_records(connection, &contract.id, ids)?
        .into_iter()
        .map(|record| (record.id.clone(), record))
        .collect();
    let mut records = Vec::with_capacity(ids.len());
    for id in ids {
        records.push(found.remove(id).ok_or_else(|| Error::NotFound { resource: savings_name(&contract.id, id) })?);
    }
    let refused: Vec<PreconditionViolation> = records
        .iter()
        .filter_map(|record| {
            check_savings_decision(record, &context.principal.subject, party)
                .err()
                .map(|why| refusal(&contract.id, &record.id, why))
        })
        .collect();
    if !refused.is_empty() {
        return Err(Error::FailedPrecondition(refused));
    }
    let decision = Decision { verdict, decided_by: context.principal.subject.clone(), decide_time: now, reason };
    let ids: Vec<LineReference> = records.iter().map(|record| record.id.clone()).collect();
    rows::insert_decisions(connection, &contract.id, &ids, &decision)?;
    for record in &mut records {
        record.decision = Some(decision.clone());
    }
    Ok(records)
}
