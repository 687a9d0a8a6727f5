//! Contracts, intercedents and hourly rates.

use serde::Serialize;
use tracing::instrument;

use super::{Clock, RequestContext, in_scope, mutate_contract, mutate_scoped, read_scoped};
use crate::domain::names::{contract_name, hourly_rate_name, intercedent_name};
use crate::domain::{
    Action, Contract, ContractId, ContractTerms, Intercedent, IntercedentId, Lifecycle, NewHourlyRate, NewIntercedent,
    Page, PageRequest, RateSchedule, RecordedRate, RequestId,
};
use crate::error::Error;
use crate::storage::contracts as rows;
use crate::storage::{Applied, Mutation, Store, statements};

/// A checked request to create a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateContract {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The id the client chose, if any.
    pub contract_id: Option<ContractId>,
    /// The terms.
    pub terms: ContractTerms,
}

/// A checked request to attach an intercedent to a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateIntercedent {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// The intercedent and its first rates.
    pub intercedent: NewIntercedent,
}

/// A checked request to add an hourly rate to an intercedent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateHourlyRate {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// The intercedent.
    pub intercedent: IntercedentId,
    /// The rate.
    pub rate: NewHourlyRate,
}

/// Creates and reads contracts, intercedents and rates.
#[derive(Debug, Clone)]
pub struct ContractService {
    store: Store,
    clock: Clock,
}

impl ContractService {
    /// A service over `store` that reads the time from `clock`.
    #[must_use]
    pub fn new(store: Store, clock: Clock) -> ContractService {
        ContractService { store, clock }
    }

    /// Creates a contract; the service chooses an id when the client did not.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] when the id is taken, [`Error::RequestIdReused`], or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id))]
    pub async fn create_contract(&self, context: &RequestContext, command: CreateContract) -> Result<Contract, Error> {
        let now = self.clock.now();
        let mutation = Mutation::new(
            context.principal.clone(),
            command.request_id.clone(),
            Action::CreateContract,
            &command,
            now,
        )?;
        let id = match command.contract_id {
            Some(id) => id,
            None => generated_contract_id()?,
        };
        tracing::Span::current().record("contract.id", id.as_str());
        let contract = Contract { id, terms: command.terms, create_time: now, lifecycle: Lifecycle::default() };
        context.ensure_in_scope(contract.terms.gemeente(), &contract_name(&contract.id))?;
        let (created, _) = self
            .store
            .mutate(mutation, move |connection| {
                rows::insert_contract(connection, &contract)?;
                Ok(Applied::changed(contract_name(&contract.id), contract))
            })
            .await?;
        Ok(created)
    }

    /// Reads a contract.
    ///
    /// # Errors
    /// [`Error::NotFound`], or a fault.
    #[instrument(skip_all, fields(contract.id = id.as_str()))]
    pub async fn get_contract(&self, context: &RequestContext, id: ContractId) -> Result<Contract, Error> {
        // Served from the contracts read in the last moment when it is among them (see
        // `storage::contract_cache`), with the same access rule as from the database.
        let cache = self.store.contract_cache();
        let read_at = std::time::Instant::now();
        if let Some(contract) = cache.get(&id, read_at) {
            return in_scope(context, contract);
        }
        let generation = cache.generation();
        let contract = self
            .store
            .read(move |connection| rows::get_contract(connection, &id))
            .await
            .map_err(|error| context.conceal(error))?;
        cache.remember(generation, contract.clone(), read_at);
        in_scope(context, contract)
    }

    /// Lists contracts ordered by id; a municipality sees only its own.
    ///
    /// # Errors
    /// A fault.
    #[instrument(skip_all, fields(page.size = page.size.get()))]
    pub async fn list_contracts(&self, context: &RequestContext, page: PageRequest) -> Result<Page<Contract>, Error> {
        let scope = context.gemeente_scope().cloned();
        self.store.read(move |connection| rows::list_contracts(connection, scope.as_ref(), &page)).await
    }

    /// Attaches an intercedent with its first rates to an existing contract.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the contract, [`Error::AlreadyExists`], [`Error::RequestIdReused`],
    /// or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str()))]
    pub async fn create_intercedent(
        &self,
        context: &RequestContext,
        command: CreateIntercedent,
    ) -> Result<Intercedent, Error> {
        let now = self.clock.now();
        let mutation = Mutation::new(
            context.principal.clone(),
            command.request_id.clone(),
            Action::CreateIntercedent,
            &command,
            now,
        )?;
        let rates = command
            .intercedent
            .rates
            .iter()
            .map(|rate| RecordedRate { effective_date: rate.effective_date, rate: rate.rate, create_time: now })
            .collect();
        let intercedent = Intercedent {
            contract_id: command.contract,
            id: command.intercedent.id,
            rates: RateSchedule::new(rates),
            create_time: now,
        };
        mutate_scoped(&self.store, context, mutation, intercedent.contract_id.clone(), move |connection, _, _| {
            rows::insert_intercedent(connection, &intercedent)?;
            Ok(Applied::changed(intercedent_name(&intercedent.contract_id, &intercedent.id), intercedent))
        })
        .await
    }

    /// Reads an intercedent with its rates.
    ///
    /// # Errors
    /// [`Error::NotFound`], or a fault.
    #[instrument(skip_all, fields(contract.id = contract.as_str()))]
    pub async fn get_intercedent(
        &self,
        context: &RequestContext,
        contract: ContractId,
        intercedent: IntercedentId,
    ) -> Result<Intercedent, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            rows::get_intercedent(connection, &contract.id, &intercedent)
        })
        .await
    }

    /// Lists the intercedents of an existing contract ordered by id.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the contract, or a fault.
    #[instrument(skip_all, fields(contract.id = contract.as_str(), page.size = page.size.get()))]
    pub async fn list_intercedents(
        &self,
        context: &RequestContext,
        contract: ContractId,
        page: PageRequest,
    ) -> Result<Page<Intercedent>, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            rows::list_intercedents(connection, &contract.id, &page)
        })
        .await
    }

    /// Adds an effective-dated rate to an intercedent.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the intercedent, [`Error::AlreadyExists`] for a rate on that date,
    /// [`Error::RequestIdReused`], or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str()))]
    pub async fn create_hourly_rate(
        &self,
        context: &RequestContext,
        command: CreateHourlyRate,
    ) -> Result<RecordedRate, Error> {
        let now = self.clock.now();
        let mutation = Mutation::new(
            context.principal.clone(),
            command.request_id.clone(),
            Action::CreateHourlyRate,
            &command,
            now,
        )?;
        let rate =
            RecordedRate { effective_date: command.rate.effective_date, rate: command.rate.rate, create_time: now };
        let CreateHourlyRate { contract, intercedent, .. } = command;
        // A rate prices every hour from its date up to the next rate (R3): never hours a
        // statement settled; the writer lock orders this against a settlement.
        let (recorded, _) =
            mutate_contract(&self.store, context, mutation, contract.clone(), move |connection, _, _| {
                let current = rows::get_intercedent(connection, &contract, &intercedent)?;
                if current.rates.has_rate_effective_on(rate.effective_date) {
                    return Err(Error::AlreadyExists {
                        resource: hourly_rate_name(&contract, &intercedent, rate.effective_date),
                    });
                }
                let until = current.rates.next_change_after(rate.effective_date);
                if let Some(settled) =
                    statements::last_settled_work_date(connection, &contract, &intercedent, rate.effective_date, until)?
                {
                    return Err(Error::precondition(
                        "RATE_IN_SETTLED_PERIOD",
                        hourly_rate_name(&contract, &intercedent, rate.effective_date),
                        format!(
                            "hours of {} worked up to {settled} are settled at the rate then in force; date the \
                             new rate after {settled}",
                            intercedent.as_str()
                        ),
                    ));
                }
                rows::insert_rate(connection, &contract, &intercedent, &rate)?;
                Ok(Applied::changed(hourly_rate_name(&contract, &intercedent, rate.effective_date), rate))
            })
            .await?;
        Ok(recorded)
    }
}

/// A fresh contract id: `c-` and a time-ordered UUID (v7), so generated ids list in creation
/// order.
fn generated_contract_id() -> Result<ContractId, Error> {
    ContractId::parse(&format!("c-{}", uuid::Uuid::now_v7()))
        .map_err(|detail| Error::internal("generating a contract id", detail))
}
