//! Orchestration: one call of the API is one method here, and one transaction in storage.
//! Time and ids are chosen here (never in the domain), then handed down as values.

mod audit;
mod contracts;
mod figures;
mod gonogo;
mod hours;
mod invoices;
mod pool;
mod savings;
mod settlement;

pub use audit::{AuditLogService, InclusionProof, LogIdentity, StatementEvidence};
pub use contracts::{ContractService, CreateContract, CreateHourlyRate, CreateIntercedent};
pub use gonogo::{DecideGoNoGo, EvaluateCheckpoint, ExerciseExtension, GoNoGoService};
pub use hours::{CorrectHours, HoursService, RejectHours, SubmitHours, VerifyHours};
pub use invoices::{InvoiceService, PutMunicipality, SetContractInvoicing};
pub use pool::{Intake, IntakeWindow, PoolService, RecordCandidateEvent, RegisterCandidate};
pub use savings::{CorrectSavings, DecideSavings, SavingsService, SavingsTotals, SubmitSavings};
pub use settlement::{SettlePeriod, SettlementService};

use chrono::{DateTime, SubsecRound, Utc};

use crate::domain::names::contract_name;
use crate::domain::{CbsCode, Contract, ContractId, Principal, Role};
use crate::error::Error;
use crate::storage::AnyConnection;
use crate::storage::contracts as rows;

/// Who is calling, for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// The authenticated caller.
    pub principal: Principal,
}

impl RequestContext {
    /// The municipality a caller is confined to: its own, for the `gemeente` role.
    #[must_use]
    pub fn gemeente_scope(&self) -> Option<&CbsCode> {
        match &self.principal.role {
            Role::Gemeente(code) => Some(code),
            Role::Billing | Role::Auditor | Role::Admin => None,
        }
    }

    /// Refuses a resource of another municipality to a municipality.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`].
    pub fn ensure_in_scope(&self, owner: &CbsCode, resource: &str) -> Result<(), Error> {
        match self.gemeente_scope() {
            Some(own) if own != owner => Err(out_of_scope(resource)),
            Some(_) | None => Ok(()),
        }
    }

    /// To a municipality, "does not exist" and "belongs to another" must look the same.
    #[must_use]
    pub fn conceal(&self, error: Error) -> Error {
        match (self.gemeente_scope(), error) {
            (Some(_), Error::NotFound { resource }) => out_of_scope(&resource),
            (_, error) => error,
        }
    }
}

fn out_of_scope(resource: &str) -> Error {
    Error::PermissionDenied {
        resource: resource.to_owned(),
        reason: "a municipality sees only its own contracts".to_owned(),
    }
}

/// Reads a contract the caller may see: for a municipality, another's contract and a missing
/// one are both refused alike.
pub(crate) fn scoped_contract(
    connection: &mut AnyConnection,
    context: &RequestContext,
    id: &ContractId,
) -> Result<Contract, Error> {
    let contract = rows::get_contract(connection, id).map_err(|error| context.conceal(error))?;
    in_scope(context, contract)
}

/// `contract`, when the caller may see it.
pub(crate) fn in_scope(context: &RequestContext, contract: Contract) -> Result<Contract, Error> {
    context.ensure_in_scope(contract.terms.gemeente(), &contract_name(&contract.id))?;
    Ok(contract)
}

/// Runs `read` off the async workers on a contract the caller may see (see
/// [`scoped_contract`]).
///
/// # Errors
/// What `read` returns, or the contract's refusal.
pub(crate) async fn read_scoped<T, F>(
    store: &crate::storage::Store,
    context: &RequestContext,
    contract: ContractId,
    read: F,
) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&mut AnyConnection, &Contract) -> Result<T, Error> + Send + 'static,
{
    let context = context.clone();
    store
        .read(move |connection| {
            let contract = scoped_contract(connection, &context, &contract)?;
            read(connection, &contract)
        })
        .await
}

/// A change to one contract in the caller's scope: the store's transactional core
/// ([`Store::mutate`](crate::storage::Store::mutate)) around `apply`, which gets the contract
/// read under that scope.
///
/// # Errors
/// What `apply` returns, the contract's refusal, or what the transactional core refuses.
pub(crate) async fn mutate_scoped<R, F>(
    store: &crate::storage::Store,
    context: &RequestContext,
    mutation: crate::storage::Mutation,
    contract: ContractId,
    apply: F,
) -> Result<R, Error>
where
    R: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    F: FnOnce(&mut AnyConnection, &RequestContext, Contract) -> Result<crate::storage::Applied<R>, Error>
        + Send
        + 'static,
{
    let (response, _) = mutate_contract(store, context, mutation, contract, apply).await?;
    Ok(response)
}

/// [`mutate_scoped`] that also gives the sequence number of the change's audit entry (none
/// when nothing changed). Changes run one at a time under the writer lock (see
/// `storage::Store::mutate`), so a change reads the contract as no other change can alter it
/// before the commit: settling a period, a go/no-go decision and a new rate never interleave.
///
/// # Errors
/// What `apply` returns, the contract's refusal, or what the transactional core refuses.
pub(crate) async fn mutate_contract<R, F>(
    store: &crate::storage::Store,
    context: &RequestContext,
    mutation: crate::storage::Mutation,
    contract: ContractId,
    apply: F,
) -> Result<(R, Option<i64>), Error>
where
    R: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    F: FnOnce(&mut AnyConnection, &RequestContext, Contract) -> Result<crate::storage::Applied<R>, Error>
        + Send
        + 'static,
{
    let context = context.clone();
    store
        .mutate(mutation, move |connection| {
            let contract = scoped_contract(connection, &context, &contract)?;
            apply(connection, &context, contract)
        })
        .await
}

/// The settlement period of `contract` that starts on `start`.
///
/// # Errors
/// [`Error::InvalidArgument`] on `period_start` when no period starts that day.
pub(crate) fn period_starting(contract: &Contract, start: chrono::NaiveDate) -> Result<crate::domain::Period, Error> {
    contract.terms.period_of(start).filter(|period| period.start == start).ok_or_else(|| {
        Error::InvalidArgument(crate::domain::Violations::single(
            "period_start",
            format!("{start} does not start a settlement period of {}", contract_name(&contract.id)),
        ))
    })
}

/// Today's date in the Netherlands (Europe/Amsterdam, with its summer time): a date after it
/// has not begun there.
pub(crate) fn dutch_today(now: DateTime<Utc>) -> chrono::NaiveDate {
    now.with_timezone(&chrono_tz::Europe::Amsterdam).date_naive()
}

/// Where the service reads the time. Always the system clock in production; a fixed instant
/// lets tests and demonstrations replay a contract's months (DESIGN.md's worked example runs in
/// 2027) without waiting for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// Always this instant.
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// The current instant, at the microsecond precision both databases store, so an answer
    /// built from it equals the same resource read back later.
    #[must_use]
    pub fn now(self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now().trunc_subsecs(6),
            Clock::Fixed(instant) => instant.trunc_subsecs(6),
        }
    }
}
