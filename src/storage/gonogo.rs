//! Go/no-go evaluations and decisions. Both are only ever inserted.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::schema::{evaluations, go_no_go_decisions};
use super::{AnyConnection, from_stored_time, is_unique_violation, to_stored_time};
use crate::domain::ContractId;
use crate::domain::gonogo::{Evaluation, PartyDecision, StoredEvaluation, Verdict};
use crate::domain::names::evaluation_name;
use crate::domain::savings::Party;
use crate::error::{Context, Error};

/// Stores an evaluation.
///
/// # Errors
/// [`Error::AlreadyExists`] when the checkpoint was evaluated before; a storage fault.
pub fn insert_evaluation(
    connection: &mut AnyConnection,
    stored: &StoredEvaluation,
    content: &str,
) -> Result<(), Error> {
    let inserted = diesel::insert_into(evaluations::table)
        .values((
            evaluations::contract_id.eq(stored.contract_id.as_str()),
            evaluations::checkpoint.eq(stored.evaluation.checkpoint),
            evaluations::content.eq(content),
            evaluations::content_sha256.eq(&stored.content_sha256),
            evaluations::evaluated_by.eq(&stored.evaluated_by),
            evaluations::create_time.eq(to_stored_time(stored.create_time)),
        ))
        .execute(connection);
    match inserted {
        Ok(_) => Ok(()),
        Err(error) if is_unique_violation(&error) => {
            Err(Error::AlreadyExists { resource: evaluation_name(&stored.contract_id, stored.evaluation.checkpoint) })
        }
        Err(error) => Err(Error::internal("storing an evaluation", error)),
    }
}

/// Reads an evaluation with its decisions.
///
/// # Errors
/// [`Error::NotFound`]; a storage fault.
pub fn get_evaluation(
    connection: &mut AnyConnection,
    contract: &ContractId,
    checkpoint: NaiveDate,
) -> Result<StoredEvaluation, Error> {
    let corrupt = |detail: String| Error::internal("reading a stored evaluation", detail);
    let row: Option<(String, String, String, chrono::NaiveDateTime)> = evaluations::table
        .find((contract.as_str(), checkpoint))
        .select((
            evaluations::content,
            evaluations::content_sha256,
            evaluations::evaluated_by,
            evaluations::create_time,
        ))
        .first(connection)
        .optional()
        .context("reading an evaluation")?;
    let (content, content_sha256, evaluated_by, create_time) =
        row.ok_or_else(|| Error::NotFound { resource: evaluation_name(contract, checkpoint) })?;
    let evaluation: Evaluation = serde_json::from_str(&content).context("decoding a stored evaluation")?;
    let decision_rows: Vec<(String, String, String, String, chrono::NaiveDateTime)> = go_no_go_decisions::table
        .filter(go_no_go_decisions::contract_id.eq(contract.as_str().to_owned()))
        .filter(go_no_go_decisions::checkpoint.eq(checkpoint))
        .order(go_no_go_decisions::party.asc())
        .select((
            go_no_go_decisions::party,
            go_no_go_decisions::decision,
            go_no_go_decisions::reasons,
            go_no_go_decisions::decided_by,
            go_no_go_decisions::decide_time,
        ))
        .load(connection)
        .context("reading go/no-go decisions")?;
    let decisions = decision_rows
        .into_iter()
        .map(|(party, decision, reasons, decided_by, decide_time)| {
            Ok(PartyDecision {
                party: Party::parse(&party).map_err(corrupt)?,
                verdict: Verdict::parse(&decision).map_err(corrupt)?,
                reasons,
                decided_by,
                decide_time: from_stored_time(decide_time),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(StoredEvaluation {
        contract_id: contract.clone(),
        evaluation,
        content_sha256,
        evaluated_by,
        create_time: from_stored_time(create_time),
        decisions,
    })
}

/// Records a party's decision at a checkpoint.
///
/// # Errors
/// [`Error::AlreadyExists`] when the party decided before; a storage fault.
pub fn insert_decision(
    connection: &mut AnyConnection,
    contract: &ContractId,
    checkpoint: NaiveDate,
    decision: &PartyDecision,
) -> Result<(), Error> {
    let inserted = diesel::insert_into(go_no_go_decisions::table)
        .values((
            go_no_go_decisions::contract_id.eq(contract.as_str()),
            go_no_go_decisions::checkpoint.eq(checkpoint),
            go_no_go_decisions::party.eq(decision.party.as_str()),
            go_no_go_decisions::decision.eq(decision.verdict.as_str()),
            go_no_go_decisions::reasons.eq(&decision.reasons),
            go_no_go_decisions::decided_by.eq(&decision.decided_by),
            go_no_go_decisions::decide_time.eq(to_stored_time(decision.decide_time)),
        ))
        .execute(connection);
    match inserted {
        Ok(_) => Ok(()),
        Err(error) if is_unique_violation(&error) => Err(Error::AlreadyExists {
            resource: format!("{} (decision of {})", evaluation_name(contract, checkpoint), decision.party.as_str()),
        }),
        Err(error) => Err(Error::internal("recording a go/no-go decision", error)),
    }
}
