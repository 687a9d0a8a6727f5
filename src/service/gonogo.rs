//! The go/no-go: evaluate a checkpoint, record each party's decision (a no-go ends the
//! contract at the checkpoint), and exercise the extension option.

use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::instrument;

use super::{Clock, RequestContext, mutate_contract, mutate_scoped, read_scoped};
use crate::domain::audit::canonical_json;
use crate::domain::gonogo::{PartyDecision, StoredEvaluation, Verdict, evaluate};
use crate::domain::names::{contract_name, evaluation_name};
use crate::domain::savings::Party;
use crate::domain::{Action, Contract, ContractId, RequestId, Violations};
use crate::error::{Context, Error};
use crate::storage::contracts::ContractChange;
use crate::storage::gonogo as rows;
use crate::storage::{Applied, Mutation, Store, contracts, hex, pool, statements};

/// A checked request to evaluate a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvaluateCheckpoint {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// The checkpoint.
    pub checkpoint: NaiveDate,
}

/// A checked go/no-go decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecideGoNoGo {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// The checkpoint.
    pub checkpoint: NaiveDate,
    /// Go or no-go.
    pub verdict: Verdict,
    /// Why.
    pub reasons: String,
}

/// A checked request to exercise the extension option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExerciseExtension {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
}

/// Evaluates checkpoints and records the parties' decisions.
#[derive(Debug, Clone)]
pub struct GoNoGoService {
    store: Store,
    clock: Clock,
}

impl GoNoGoService {
    /// A service over `store` that reads the time from `clock`.
    #[must_use]
    pub fn new(store: Store, clock: Clock) -> GoNoGoService {
        GoNoGoService { store, clock }
    }

    /// Evaluates a checkpoint that has been reached, and stores the evaluation with its hash.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a date that is no checkpoint, [`Error::FailedPrecondition`]
    /// for one not reached yet, [`Error::AlreadyExists`] for one evaluated before, or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str()))]
    pub async fn evaluate(
        &self,
        context: &RequestContext,
        command: EvaluateCheckpoint,
    ) -> Result<StoredEvaluation, Error> {
        let now = self.clock.now();
        let mutation = Mutation::new(
            context.principal.clone(),
            command.request_id.clone(),
            Action::EvaluateCheckpoint,
            &command,
            now,
        )?;
        mutate_scoped(&self.store, context, mutation, command.contract.clone(), move |connection, context, contract| {
            let checkpoint = command.checkpoint;
            let name = evaluation_name(&contract.id, checkpoint);
            if !contract.checkpoints().contains(&checkpoint) {
                return Err(Error::InvalidArgument(Violations::single(
                    "checkpoint",
                    format!(
                        "{checkpoint} is not a go/no-go checkpoint of {} (every 6 months from its start)",
                        contract_name(&contract.id)
                    ),
                )));
            }
            if checkpoint > super::dutch_today(now) {
                return Err(Error::precondition(
                    "CHECKPOINT_NOT_REACHED",
                    name,
                    format!("{checkpoint} has not been reached"),
                ));
            }
            let figures = super::figures::period_figures(connection, &contract, checkpoint)?;
            let recorded = super::figures::recorded_intakes(connection, &contract)?;
            let candidates = pool::pool(connection, &contract.id, checkpoint)?;
            let evaluation = evaluate(&contract, checkpoint, &figures, &candidates, &recorded)
                .map_err(|detail| Error::internal("evaluating a checkpoint", detail))?;
            let content = canonical_json(&evaluation).context("encoding an evaluation")?;
            let stored = StoredEvaluation {
                contract_id: contract.id.clone(),
                evaluation,
                content_sha256: hex(&Sha256::digest(content.as_bytes())),
                evaluated_by: context.principal.subject.clone(),
                create_time: now,
                decisions: Vec::new(),
            };
            rows::insert_evaluation(connection, &stored, &content)?;
            Ok(Applied::changed(name, stored))
        })
        .await
    }

    /// Records a party's decision on an evaluated checkpoint; a no-go ends the contract on the
    /// day before the checkpoint. Taken under the contract's settlement lock, and only while no
    /// period from the checkpoint on is settled (DESIGN.md §4): a no-go must never leave a
    /// settled statement outside the contract.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an evaluation not made, [`Error::AlreadyExists`] when the party
    /// decided before, [`Error::FailedPrecondition`] (`PERIOD_AFTER_CHECKPOINT_SETTLED`), or a
    /// fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str()))]
    pub async fn decide(&self, context: &RequestContext, command: DecideGoNoGo) -> Result<StoredEvaluation, Error> {
        let now = self.clock.now();
        let party = Party::of(&context.principal.role).ok_or_else(|| Error::PermissionDenied {
            resource: evaluation_name(&command.contract, command.checkpoint),
            reason: "only the parties decide go or no-go".to_owned(),
        })?;
        let mutation = Mutation::new(
            context.principal.clone(),
            command.request_id.clone(),
            Action::RecordGoNoGoDecision,
            &command,
            now,
        )?;
        let contract_id = command.contract.clone();
        let decided = mutate_contract(
            &self.store,
            context,
            mutation,
            command.contract.clone(),
            move |connection, context, contract| {
                rows::get_evaluation(connection, &contract.id, command.checkpoint)?;
                if let Some(settled) = statements::last_settled_period(connection, &contract.id)?
                    && settled >= command.checkpoint
                {
                    return Err(Error::precondition(
                        "PERIOD_AFTER_CHECKPOINT_SETTLED",
                        evaluation_name(&contract.id, command.checkpoint),
                        format!(
                            "the period starting {settled} is settled; a decision on the {} checkpoint is taken \
                         before any period from the checkpoint on is settled",
                            command.checkpoint
                        ),
                    ));
                }
                let decision = PartyDecision {
                    party,
                    verdict: command.verdict,
                    reasons: command.reasons,
                    decided_by: context.principal.subject.clone(),
                    decide_time: now,
                };
                rows::insert_decision(connection, &contract.id, command.checkpoint, &decision)?;
                if decision.verdict == Verdict::NoGo && contract.lifecycle.ended_on.is_none() {
                    let last_day = command
                        .checkpoint
                        .pred_opt()
                        .ok_or_else(|| Error::internal("ending a contract", "no day before the checkpoint"))?;
                    let detail = format!("no-go of {} at {}", party.as_str(), command.checkpoint);
                    contracts::insert_contract_event(
                        connection,
                        &contract.id,
                        ContractChange::Ended,
                        last_day,
                        &detail,
                        &context.principal.subject,
                        now,
                    )?;
                }
                let stored = rows::get_evaluation(connection, &contract.id, command.checkpoint)?;
                Ok(Applied::changed(evaluation_name(&contract.id, command.checkpoint), stored))
            },
        )
        .await;
        // A no-go may have ended the contract: this process reads it afresh from now on.
        self.store.contract_cache().forget(&contract_id);
        Ok(decided?.0)
    }

    /// Reads an evaluation with its decisions.
    ///
    /// # Errors
    /// [`Error::NotFound`], or a fault.
    pub async fn get(
        &self,
        context: &RequestContext,
        contract: ContractId,
        checkpoint: NaiveDate,
    ) -> Result<StoredEvaluation, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            rows::get_evaluation(connection, &contract.id, checkpoint)
        })
        .await
    }

    /// Exercises the extension option: once, before the term ends, not after a no-go.
    ///
    /// # Errors
    /// [`Error::FailedPrecondition`] when the option cannot be exercised, or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str()))]
    pub async fn extend(&self, context: &RequestContext, command: ExerciseExtension) -> Result<Contract, Error> {
        let now = self.clock.now();
        let mutation = Mutation::new(
            context.principal.clone(),
            command.request_id.clone(),
            Action::ExerciseExtension,
            &command,
            now,
        )?;
        let contract_id = command.contract.clone();
        let extended = mutate_scoped(
            &self.store,
            context,
            mutation,
            command.contract.clone(),
            move |connection, context, contract| {
                let name = contract_name(&contract.id);
                let refuse =
                    |description: String| Error::precondition("EXTENSION_NOT_AVAILABLE", name.clone(), description);
                let term_end =
                    contract.terms.end_date().ok_or_else(|| Error::internal("extending a contract", "no term end"))?;
                if contract.terms.extension_option_months() == 0 {
                    return Err(refuse("the contract has no extension option".to_owned()));
                }
                if contract.lifecycle.extended {
                    return Err(refuse(
                        "the extension option was exercised before; it can be exercised once".to_owned(),
                    ));
                }
                if let Some(ended) = contract.lifecycle.ended_on {
                    return Err(refuse(format!("the contract ended on {ended} after a no-go")));
                }
                if super::dutch_today(now) > term_end {
                    return Err(refuse(format!("the term ended on {term_end}; the option is exercised before that")));
                }
                let from = term_end
                    .succ_opt()
                    .ok_or_else(|| Error::internal("extending a contract", "no day after the term"))?;
                contracts::insert_contract_event(
                    connection,
                    &contract.id,
                    ContractChange::Extended,
                    from,
                    "extension option exercised",
                    &context.principal.subject,
                    now,
                )?;
                let extended = contracts::get_contract(connection, &contract.id)?;
                Ok(Applied::changed(name, extended))
            },
        )
        .await;
        // Extended: this process reads the contract afresh from now on.
        self.store.contract_cache().forget(&contract_id);
        extended
    }
}
