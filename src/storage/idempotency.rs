//! Idempotency records: the first answer of every mutating call, keyed by the caller and its
//! request id, written in the same transaction as the change.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::de::DeserializeOwned;

use super::schema::idempotency_records as records;
use super::{AnyConnection, Mutation, to_stored_time};
use crate::error::{Context, Error};

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
    records::table
        .find((mutation.principal.key(), mutation.request_id.as_str()))
        .select((records::action, records::fingerprint, records::response, records::audit_seq))
        .first(connection)
        .optional()
        .context("looking up a request id")
}

/// The first answers to the callers' request ids that were answered before, by principal key
/// and request id.
pub(super) fn find_all(
    connection: &mut AnyConnection,
    mutations: &[&Mutation],
) -> Result<HashMap<(String, String), FirstAnswer>, Error> {
    let mut found = HashMap::new();
    for chunk in mutations.chunks(super::INSERT_CHUNK_ROWS) {
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
