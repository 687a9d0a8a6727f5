//! Idempotency records: the first answer of every mutating call, keyed by the caller and its
//! request id, written in the same transaction as the change.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::de::DeserializeOwned;

use super::schema::idempotency_records as records;
use super::{AnyConnection, Mutation, to_stored_time};
use crate::error::{Context, Error};

/// The stored response of a call that changed something: its answer is its audit entry's
/// payload (the same canonical JSON, written once), read from there on a replay. Records
/// written before that kept the answer itself; an answer is never empty.
pub(super) const IN_AUDIT_ENTRY: &str = "";

/// The stored first answer of a request.
#[derive(Queryable)]
pub(super) struct FirstAnswer {
    action: String,
    fingerprint: String,
    response: String,
    audit_seq: Option<i64>,
}

impl FirstAnswer {
    /// The first answer again, with the sequence number of its audit entry, when `mutation` is
    /// the same request; or the refusal of a reused id.
    pub(super) fn replay<R: DeserializeOwned>(self, mutation: &Mutation) -> Result<(R, Option<i64>), Error> {
        if self.action != mutation.action.as_str() || self.fingerprint != mutation.fingerprint {
            return Err(Error::RequestIdReused {
                request_id: mutation.request_id.as_str().to_owned(),
                first_action: self.action,
            });
        }
        let response = serde_json::from_str(&self.response).context("decoding a stored answer")?;
        Ok((response, self.audit_seq))
    }
}

/// The first answer to the caller's request id, if there was one.
pub(super) fn find(connection: &mut AnyConnection, mutation: &Mutation) -> Result<Option<FirstAnswer>, Error> {
    let mut found: Option<FirstAnswer> = records::table
        .find((mutation.principal.key(), mutation.request_id.as_str()))
        .select((records::action, records::fingerprint, records::response, records::audit_seq))
        .first(connection)
        .optional()
        .context("looking up a request id")?;
    fill_from_audit_log(connection, found.iter_mut())?;
    Ok(found)
}

/// Reads the answers kept as their audit entries' payloads ([`IN_AUDIT_ENTRY`]) from there.
fn fill_from_audit_log<'a>(
    connection: &mut AnyConnection,
    answers: impl Iterator<Item = &'a mut FirstAnswer>,
) -> Result<(), Error> {
    use super::schema::audit_log;
    let mut waiting: HashMap<i64, &'a mut FirstAnswer> = answers
        .filter(|answer| answer.response == IN_AUDIT_ENTRY)
        .filter_map(|answer| answer.audit_seq.map(|seq| (seq, answer)))
        .collect();
    let seqs: Vec<i64> = waiting.keys().copied().collect();
    for chunk in seqs.chunks(super::INSERT_CHUNK_ROWS) {
        let payloads: Vec<(i64, String)> = audit_log::table
            .filter(audit_log::seq.eq_any(chunk.to_vec()))
            .select((audit_log::seq, audit_log::payload))
            .load(connection)
            .context("reading first answers from the audit log")?;
        for (seq, payload) in payloads {
            if let Some(answer) = waiting.remove(&seq) {
                answer.response = payload;
            }
        }
    }
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(Error::internal("replaying a first answer", "its audit entry is missing"))
    }
}

/// The first answers to the callers' request ids that were answered before, by principal key
/// and request id.
pub(super) fn find_all(
    connection: &mut AnyConnection,
    mutations: &[&Mutation],
) -> Result<HashMap<(String, String), FirstAnswer>, Error> {
    let mut found = HashMap::new();
    for chunk in super::reused::padded_chunks(mutations) {
        let principals: Vec<String> = chunk.iter().map(|mutation| mutation.principal.key()).collect();
        let request_ids: Vec<&str> = chunk.iter().map(|mutation| mutation.request_id.as_str()).collect();
        // Pairs of a principal of one call and a request id of another may come back too; the
        // lookup by pair below leaves them out.
        let rows: Vec<(String, String, String, String, String, Option<i64>)> = super::reused::reused(
            records::table
                .filter(records::principal.eq_any(principals))
                .filter(records::request_id.eq_any(request_ids))
                .select((
                    records::principal,
                    records::request_id,
                    records::action,
                    records::fingerprint,
                    records::response,
                    records::audit_seq,
                )),
        )
        .load(connection)
        .context("looking up request ids")?;
        for (principal, request_id, action, fingerprint, response, audit_seq) in rows {
            found.insert((principal, request_id), FirstAnswer { action, fingerprint, response, audit_seq });
        }
    }
    fill_from_audit_log(connection, found.values_mut())?;
    Ok(found)
}

/// Records the first answers to requests that changed nothing (rare: a resubmission of what
/// is recorded under a new request id), one INSERT each.
pub(super) fn insert_all(connection: &mut AnyConnection, answers: &[(&Mutation, &str)]) -> Result<(), Error> {
    answers.iter().try_for_each(|(mutation, response)| insert(connection, mutation, response, None))
}

/// Records the first answer to a request.
pub(super) fn insert(
    connection: &mut AnyConnection,
    mutation: &Mutation,
    response: &str,
    audit_seq: Option<i64>,
) -> Result<(), Error> {
    diesel::insert_into(records::table)
        .values((
            records::principal.eq(mutation.principal.key()),
            records::request_id.eq(mutation.request_id.as_str()),
            records::action.eq(mutation.action.as_str()),
            records::fingerprint.eq(&mutation.fingerprint),
            records::response.eq(response),
            records::audit_seq.eq(audit_seq),
            records::recorded_at.eq(to_stored_time(mutation.now)),
        ))
        .execute(connection)
        .context("recording a request's answer")?;
    Ok(())
}
