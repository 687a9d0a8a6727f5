//! The flexpool: register candidates, record what happens to them, and the pool queries.

use chrono::NaiveDate;
use serde::Serialize;
use tracing::instrument;

use super::{Clock, RequestContext, mutate_scoped, read_scoped};
use crate::domain::allocation::IntakeOutcome;
use crate::domain::names::candidate_name;
use crate::domain::pool::{
    Candidate, CandidateEvent, Composition, NewCandidate, NewEvent, SocialResults, composition, motivated_intake,
    social_results,
};
use crate::domain::{Action, ContractId, Page, PageRequest, RequestId, Violations};
use crate::error::Error;
use crate::storage::pool as rows;
use crate::storage::{Applied, Mutation, Store};

/// A checked registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisterCandidate {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// The candidate.
    pub candidate: NewCandidate,
}

/// A checked event of a candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordCandidateEvent {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// The candidate.
    pub candidate: String,
    /// The event.
    pub event: NewEvent,
}

/// Intake in a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intake {
    /// Registrations in the span.
    pub registrations: u32,
    /// Motivated registrations in the span.
    pub motivated: u32,
}

/// One intake window of a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IntakeWindow {
    /// First day.
    pub start: NaiveDate,
    /// Last day within the term.
    pub end: NaiveDate,
    /// Cut short by the contract's end.
    pub cut_short: bool,
    /// The window's minimum (pro-rated when cut short).
    pub minimum: u32,
    /// Motivated intake so far.
    pub motivated: u32,
}

/// Registers candidates, records their events, and answers the pool queries.
#[derive(Debug, Clone)]
pub struct PoolService {
    store: Store,
    clock: Clock,
}

impl PoolService {
    /// A service over `store` that reads the time from `clock`.
    #[must_use]
    pub fn new(store: Store, clock: Clock) -> PoolService {
        PoolService { store, clock }
    }

    /// Registers a candidate.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidArgument`] for a registration in the future,
    /// [`Error::NotFound`]/[`Error::PermissionDenied`] for the contract, or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str()))]
    pub async fn register(&self, context: &RequestContext, command: RegisterCandidate) -> Result<Candidate, Error> {
        let now = self.clock.now();
        let mutation = Mutation::new(
            context.principal.clone(),
            command.request_id.clone(),
            Action::RegisterCandidate,
            &command,
            now,
        )?;
        mutate_scoped(&self.store, context, mutation, command.contract.clone(), move |connection, context, contract| {
            let new = command.candidate;
            if new.registration_date > super::dutch_today(now) {
                return Err(Error::InvalidArgument(Violations::single(
                    "candidate.registration_date",
                    format!("{} is in the future", new.registration_date),
                )));
            }
            let candidate = Candidate {
                contract_id: contract.id.clone(),
                id: new.id,
                arrangement: new.arrangement,
                registration_date: new.registration_date,
                registered_by: context.principal.subject.clone(),
                create_time: now,
                events: Vec::new(),
            };
            rows::insert_candidate(connection, &candidate)?;
            Ok(Applied::changed(candidate_name(&contract.id, &candidate.id), candidate))
        })
        .await
    }

    /// Records an event of a candidate.
    ///
    /// # Errors
    /// [`Error::FailedPrecondition`] when the event does not fit the candidate's story,
    /// [`Error::NotFound`], or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str()))]
    pub async fn record_event(
        &self,
        context: &RequestContext,
        command: RecordCandidateEvent,
    ) -> Result<Candidate, Error> {
        let now = self.clock.now();
        let mutation = Mutation::new(
            context.principal.clone(),
            command.request_id.clone(),
            Action::RecordCandidateEvent,
            &command,
            now,
        )?;
        mutate_scoped(&self.store, context, mutation, command.contract.clone(), move |connection, context, contract| {
            let name = candidate_name(&contract.id, &command.candidate);
            let mut candidate = rows::get_candidate(connection, &contract.id, &command.candidate)?;
            candidate
                .check_event(&command.event, super::dutch_today(now))
                .map_err(|description| Error::precondition("CANDIDATE_STORY", name.clone(), description))?;
            let event = CandidateEvent {
                kind: command.event.kind,
                date: command.event.date,
                detail: command.event.detail,
                recorded_by: context.principal.subject.clone(),
                record_time: now,
            };
            rows::insert_event(connection, &candidate, &event)?;
            candidate.events.push(event);
            candidate.events.sort_by_key(|event| event.date);
            Ok(Applied::changed(name, candidate))
        })
        .await
    }

    /// Reads a candidate.
    ///
    /// # Errors
    /// [`Error::NotFound`] (to a municipality: [`Error::PermissionDenied`]), or a fault.
    pub async fn get(&self, context: &RequestContext, contract: ContractId, id: String) -> Result<Candidate, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            rows::get_candidate(connection, &contract.id, &id)
        })
        .await
    }

    /// Lists a contract's candidates.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the contract, or a fault.
    pub async fn list(
        &self,
        context: &RequestContext,
        contract: ContractId,
        page: PageRequest,
    ) -> Result<Page<Candidate>, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            rows::list_candidates(connection, &contract.id, &page)
        })
        .await
    }

    /// Intake from `from` to `to`.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the contract, or a fault.
    pub async fn intake(
        &self,
        context: &RequestContext,
        contract: ContractId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Intake, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            let pool = rows::pool(connection, &contract.id, to)?;
            let registrations =
                pool.iter().filter(|candidate| (from..=to).contains(&candidate.registration_date)).count();
            Ok(Intake {
                registrations: u32::try_from(registrations).unwrap_or(u32::MAX),
                motivated: motivated_intake(&pool, from, to),
            })
        })
        .await
    }

    /// The contract's intake windows with minimum and motivated intake.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the contract, or a fault.
    pub async fn windows(&self, context: &RequestContext, contract: ContractId) -> Result<Vec<IntakeWindow>, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            let terms = &contract.terms;
            let end = contract.end_date().unwrap_or(terms.start_date());
            let pool = rows::pool(connection, &contract.id, end)?;
            // A window its closing statement closed keeps the intake that statement recorded.
            let recorded = super::figures::recorded_intakes(connection, contract)?;
            Ok(contract
                .windows()
                .into_iter()
                .map(|window @ (start, full_end, end)| {
                    let IntakeOutcome { motivated, minimum } = recorded
                        .iter()
                        .find(|(closed, _)| *closed == start)
                        .map_or_else(|| IntakeOutcome::of(terms, &pool, window), |(_, intake)| *intake);
                    IntakeWindow { start, end, cut_short: end < full_end, minimum, motivated }
                })
                .collect())
        })
        .await
    }

    /// The composition of the pool on `date`, and the contract's arrangement-3 target.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the contract, or a fault.
    pub async fn composition(
        &self,
        context: &RequestContext,
        contract: ContractId,
        date: NaiveDate,
    ) -> Result<(Composition, u32), Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            let target = contract.terms.composition_target().arrangement_3_percent();
            let pool = rows::pool(connection, &contract.id, date)?;
            Ok((composition(&pool, date, target), target))
        })
        .await
    }

    /// Social results from `from` to `to`.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the contract, or a fault.
    pub async fn social(
        &self,
        context: &RequestContext,
        contract: ContractId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<SocialResults, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            let pool = rows::pool(connection, &contract.id, to)?;
            Ok(social_results(&pool, from, to))
        })
        .await
    }
}
