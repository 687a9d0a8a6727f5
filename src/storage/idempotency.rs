//! Idempotency records: the first answer of every mutating call, keyed by the caller and its
//! request id, written in the same transaction as the change.

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
