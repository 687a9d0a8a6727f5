//! The append-only audit log. There is deliberately no function here that updates or deletes
//! an entry, and the database refuses both (triggers on both backends).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::{audit_log, sequences};
use super::{AnyConnection, Mutation, from_stored_time, to_stored_time};
use crate::domain::audit::AuditEntry;
use crate::error::{Context, Error};

/// The counter of audit sequence numbers in `sequences`.
const AUDIT_SEQUENCE: &str = "audit_log";

#[derive(Queryable, Insertable)]
#[diesel(table_name = audit_log)]
struct AuditRow {
    seq: i64,
    recorded_at: chrono::NaiveDateTime,
    principal_subject: String,
    principal_role: String,
    action: String,
    resource: String,
    request_id: String,
    payload: String,
}

/// The sequence number of the audit entry that will record the change being made: one past the
/// last entry. The writer lock taken at the start of every changing transaction orders every
/// writer of every replica, so no other change can take that number first.
///
/// # Errors
/// A storage fault.
pub fn next_entry_seq(connection: &mut AnyConnection) -> Result<i64, Error> {
    last_entry_seq(connection)?.checked_add(1).ok_or_else(|| Error::internal("numbering an audit entry", "overflow"))
}

/// The sequence number of the last audit entry (0 before the first).
///
/// # Errors
/// A storage fault.
pub fn last_entry_seq(connection: &mut AnyConnection) -> Result<i64, Error> {
    let last: Option<i64> = sequences::table
        .find(AUDIT_SEQUENCE)
        .select(sequences::last_value)
        .first(connection)
        .optional()
        .context("reading the audit counter")?;
    Ok(last.unwrap_or(0))
}

/// Hands out the next value of a gapless counter. The UPDATE locks the counter's row until the
/// transaction ends, so values are handed out in commit order, and a rolled-back transaction
/// returns its value.
///
/// # Errors
/// A storage fault.
pub fn next_in_sequence(connection: &mut AnyConnection, name: &str) -> Result<i64, Error> {
    #[derive(QueryableByName)]
    struct Next {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        last_value: i64,
    }
    // One kept statement. On SQLite `$1` is a named parameter; being the first named, it is
    // parameter 1, which diesel binds.
    let next: Option<Next> = super::reused::reused(
        diesel::sql_query("UPDATE sequences SET last_value = last_value + 1 WHERE name = $1 RETURNING last_value")
            .bind::<diesel::sql_types::Text, _>(name),
    )
    .get_result(connection)
    .optional()
    .context("advancing a sequence")?;
    next.map(|next| next.last_value)
        .ok_or_else(|| Error::internal("advancing a sequence", format!("sequence {name:?} does not exist")))
}

/// Appends the audit entry of a mutation and records the answer for replays, and returns the
/// entry's sequence number. The audit counter's row stays locked from here to the commit, so
/// this is the last work of a transaction, and on PostgreSQL it is one statement: one round
/// trip while holding the lock that orders every writer.
///
/// The entry's time is taken under that lock: the mutation's time, or the previous entry's when
/// that is later (a writer that read its clock first may commit second), so time never runs
/// backwards along the log.
///
/// # Errors
/// A storage fault.
pub(super) fn append_and_remember(
    connection: &mut AnyConnection,
    mutation: &Mutation,
    resource: &str,
    payload: &str,
) -> Result<i64, Error> {
    let row = AuditRow {
        seq: 0,
        recorded_at: to_stored_time(mutation.now),
        principal_subject: mutation.principal.subject.clone(),
        principal_role: mutation.principal.role.label(),
        action: mutation.action.as_str().to_owned(),
        resource: resource.to_owned(),
        request_id: mutation.request_id.as_str().to_owned(),
        payload: payload.to_owned(),
    };
    match connection {
        AnyConnection::Postgresql(pg) => {
            use diesel::sql_types::{Text, Timestamp};
            #[derive(QueryableByName)]
            struct Appended {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                seq: i64,
            }
            let appended: Appended = super::reused::reused(
                diesel::sql_query(
                    "WITH next AS ( \
                     UPDATE sequences SET last_value = last_value + 1, last_time = GREATEST(last_time, $1) \
                     WHERE name = 'audit_log' RETURNING last_value, last_time \
                 ), entry AS ( \
                     INSERT INTO audit_log \
                         (seq, recorded_at, principal_subject, principal_role, action, resource, request_id, payload) \
                     SELECT last_value, last_time, $2, $3, $4, $5, $6, $7 FROM next RETURNING seq \
                 ) \
                 INSERT INTO idempotency_records \
                     (principal, request_id, action, fingerprint, response, audit_seq, recorded_at) \
                 SELECT $9, $6, $4, $8, '', seq, $1 FROM entry RETURNING audit_seq AS seq",
                )
                .bind::<Timestamp, _>(row.recorded_at)
                .bind::<Text, _>(&row.principal_subject)
                .bind::<Text, _>(&row.principal_role)
                .bind::<Text, _>(&row.action)
                .bind::<Text, _>(&row.resource)
                .bind::<Text, _>(&row.request_id)
                .bind::<Text, _>(&row.payload)
                .bind::<Text, _>(&mutation.fingerprint)
                .bind::<Text, _>(mutation.principal.key()),
            )
            .get_result(pg)
            .context("appending an audit entry")?;
            Ok(appended.seq)
        }
        AnyConnection::Sqlite(sqlite) => {
            #[derive(QueryableByName)]
            struct Advanced {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                seq: i64,
                #[diesel(sql_type = diesel::sql_types::Timestamp)]
                recorded_at: chrono::NaiveDateTime,
            }
            // The counter and the log's time advance in one kept statement. SQLite keeps a
            // timestamp as the text diesel writes ("%F %T%.f": fixed-width date and time, then
            // the fraction's digits, if any): text order is time order.
            let advanced: Advanced = super::reused::reused(
                diesel::sql_query(
                    "UPDATE sequences SET last_value = last_value + 1, \
                         last_time = CASE WHEN last_time IS NULL OR last_time < ?1 THEN ?1 ELSE last_time END \
                     WHERE name = 'audit_log' RETURNING last_value AS seq, last_time AS recorded_at",
                )
                .bind::<diesel::sql_types::Timestamp, _>(row.recorded_at),
            )
            .get_result(sqlite)
            .context("advancing the audit counter")?;
            let row = AuditRow { seq: advanced.seq, recorded_at: advanced.recorded_at, ..row };
            let seq = row.seq;
            diesel::insert_into(audit_log::table)
                .values(&row)
                .execute(connection)
                .context("appending an audit entry")?;
            super::idempotency::insert(connection, mutation, super::idempotency::IN_AUDIT_ENTRY, Some(seq))?;
            Ok(seq)
        }
    }
}

/// [`append_and_remember`] for several mutations, in order: gives their sequence numbers. On
/// PostgreSQL it is one statement for all of them — one round trip under the writer lock; each
/// entry's time is its mutation's time or the latest time before it along the log, whichever
/// is later, exactly as appending them one by one would give.
///
/// # Errors
/// A storage fault.
pub(super) fn append_all(
    connection: &mut AnyConnection,
    changes: &[(&Mutation, &str, &str)],
) -> Result<Vec<i64>, Error> {
    match connection {
        AnyConnection::Postgresql(pg) if changes.len() > 1 => {
            use diesel::sql_types::{Array, BigInt, Text, Timestamp};
            #[derive(QueryableByName)]
            struct Appended {
                #[diesel(sql_type = BigInt)]
                seq: i64,
            }
            let column = |pick: fn(&(&Mutation, &str, &str)) -> String| changes.iter().map(pick).collect::<Vec<_>>();
            let times: Vec<chrono::NaiveDateTime> =
                changes.iter().map(|(mutation, _, _)| to_stored_time(mutation.now)).collect();
            let appended: Vec<Appended> = super::reused::reused(
                diesel::sql_query(
                    "WITH previous AS ( \
                     SELECT last_value, last_time FROM sequences WHERE name = 'audit_log' \
                 ), items AS ( \
                     SELECT * FROM unnest($1::timestamp[], $2::text[], $3::text[], $4::text[], $5::text[], \
                                          $6::text[], $7::text[], $8::text[], $9::text[]) \
                         WITH ORDINALITY AS item(made_at, subject, role, action, resource, request_id, payload, \
                                                 fingerprint, principal, ord) \
                 ), numbered AS ( \
                     SELECT item.*, previous.last_value + item.ord AS seq, \
                            GREATEST(previous.last_time, max(item.made_at) OVER (ORDER BY item.ord)) AS recorded_at \
                     FROM items AS item CROSS JOIN previous \
                 ), counted AS ( \
                     UPDATE sequences SET last_value = (SELECT max(seq) FROM numbered), \
                                          last_time = (SELECT max(recorded_at) FROM numbered) \
                     WHERE name = 'audit_log' \
                 ), entries AS ( \
                     INSERT INTO audit_log \
                         (seq, recorded_at, principal_subject, principal_role, action, resource, request_id, payload) \
                     SELECT seq, recorded_at, subject, role, action, resource, request_id, payload FROM numbered \
                 ), remembered AS ( \
                     INSERT INTO idempotency_records \
                         (principal, request_id, action, fingerprint, response, audit_seq, recorded_at) \
                     SELECT principal, request_id, action, fingerprint, '', seq, made_at FROM numbered \
                 ) \
                 SELECT seq FROM numbered ORDER BY ord",
                )
                .bind::<Array<Timestamp>, _>(&times)
                .bind::<Array<Text>, _>(column(|(mutation, _, _)| mutation.principal.subject.clone()))
                .bind::<Array<Text>, _>(column(|(mutation, _, _)| mutation.principal.role.label()))
                .bind::<Array<Text>, _>(column(|(mutation, _, _)| mutation.action.as_str().to_owned()))
                .bind::<Array<Text>, _>(column(|(_, resource, _)| (*resource).to_owned()))
                .bind::<Array<Text>, _>(column(|(mutation, _, _)| mutation.request_id.as_str().to_owned()))
                .bind::<Array<Text>, _>(column(|(_, _, payload)| (*payload).to_owned()))
                .bind::<Array<Text>, _>(column(|(mutation, _, _)| mutation.fingerprint.clone()))
                .bind::<Array<Text>, _>(column(|(mutation, _, _)| mutation.principal.key())),
            )
            .load(pg)
            .context("appending audit entries")?;
            if appended.len() != changes.len() {
                return Err(Error::internal("appending audit entries", "the audit counter is missing"));
            }
            Ok(appended.into_iter().map(|appended| appended.seq).collect())
        }
        _ => changes
            .iter()
            .map(|(mutation, resource, payload)| append_and_remember(connection, mutation, resource, payload))
            .collect(),
    }
}

/// Reads up to `limit` entries with sequence numbers above `after`, in order.
///
/// # Errors
/// A storage fault.
pub fn entries_after(connection: &mut AnyConnection, after: i64, limit: i64) -> Result<Vec<AuditEntry>, Error> {
    let rows: Vec<AuditRow> = audit_log::table
        .filter(audit_log::seq.gt(after))
        .order(audit_log::seq.asc())
        .limit(limit)
        .load(connection)
        .context("reading the audit log")?;
    Ok(rows.into_iter().map(into_entry).collect())
}

/// The number of entries in the log (the highest sequence number, since it has no gaps).
///
/// # Errors
/// A storage fault.
pub fn size(connection: &mut AnyConnection) -> Result<i64, Error> {
    // The highest number, read off the primary key's index: a count would scan the whole log.
    let last: Option<i64> =
        audit_log::table.select(diesel::dsl::max(audit_log::seq)).first(connection).context("sizing the audit log")?;
    Ok(last.unwrap_or(0))
}

/// Which entries a listing shows: every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFilter {
    /// Exactly this resource.
    pub resource: Option<String>,
    /// Resources starting with this.
    pub resource_prefix: Option<String>,
    /// This principal subject.
    pub principal_subject: Option<String>,
    /// This action's stable name.
    pub action: Option<String>,
    /// Recorded at or after.
    pub start_time: Option<DateTime<Utc>>,
    /// Recorded before.
    pub end_time: Option<DateTime<Utc>>,
    /// Sequence numbers from.
    pub min_seq: Option<i64>,
    /// Sequence numbers up to.
    pub max_seq: Option<i64>,
    /// A municipality's scope: only entries of these contracts (`contracts/{id}` and what is
    /// under it). `None`: every entry.
    pub contracts: Option<Vec<String>>,
}

/// `text` as a LIKE pattern that matches it literally, followed by `suffix`.
fn like_literal(text: &str, suffix: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + suffix.len());
    for character in text.chars() {
        if matches!(character, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push_str(suffix);
    pattern
}

/// Up to `limit` entries after sequence number `after` that pass `filter`, in order.
///
/// # Errors
/// A storage fault.
pub fn list_entries(
    connection: &mut AnyConnection,
    filter: &EntryFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditEntry>, Error> {
    let mut query =
        audit_log::table.filter(audit_log::seq.gt(after)).order(audit_log::seq.asc()).limit(limit).into_boxed();
    if let Some(resource) = &filter.resource {
        query = query.filter(audit_log::resource.eq(resource.clone()));
    }
    if let Some(prefix) = &filter.resource_prefix {
        query = query.filter(audit_log::resource.like(like_literal(prefix, "%")).escape('\\'));
    }
    if let Some(subject) = &filter.principal_subject {
        query = query.filter(audit_log::principal_subject.eq(subject.clone()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::action.eq(action.clone()));
    }
    if let Some(start) = filter.start_time {
        query = query.filter(audit_log::recorded_at.ge(to_stored_time(start)));
    }
    if let Some(end) = filter.end_time {
        query = query.filter(audit_log::recorded_at.lt(to_stored_time(end)));
    }
    if let Some(min) = filter.min_seq {
        query = query.filter(audit_log::seq.ge(min));
    }
    if let Some(max) = filter.max_seq {
        query = query.filter(audit_log::seq.le(max));
    }
    if let Some(contracts) = &filter.contracts {
        let names: Vec<String> = contracts.iter().map(|id| format!("contracts/{id}")).collect();
        let mut scope: Box<dyn BoxableExpression<audit_log::table, _, SqlType = diesel::sql_types::Bool>> =
            Box::new(audit_log::resource.eq_any(names.clone()));
        for name in &names {
            scope = Box::new(scope.or(audit_log::resource.like(like_literal(name, "/%")).escape('\\')));
        }
        query = query.filter(scope);
    }
    let rows: Vec<AuditRow> = query.load(connection).context("listing audit entries")?;
    Ok(rows.into_iter().map(into_entry).collect())
}

fn into_entry(row: AuditRow) -> AuditEntry {
    AuditEntry {
        seq: row.seq,
        recorded_at: from_stored_time(row.recorded_at),
        principal_subject: row.principal_subject,
        principal_role: row.principal_role,
        action: row.action,
        resource: row.resource,
        request_id: row.request_id,
        payload: row.payload,
    }
}

/// The audit entry of `resource` with `action` (the first, should there be several).
///
/// # Errors
/// A storage fault.
pub fn entry_of(connection: &mut AnyConnection, resource: &str, action: &str) -> Result<Option<AuditEntry>, Error> {
    let row: Option<AuditRow> = audit_log::table
        .filter(audit_log::resource.eq(resource.to_owned()))
        .filter(audit_log::action.eq(action.to_owned()))
        .order(audit_log::seq.asc())
        .first(connection)
        .optional()
        .context("finding an audit entry")?;
    Ok(row.map(into_entry))
}

#[cfg(test)]
mod tests {
    use diesel_migrations::MigrationHarness;

    use super::*;
    use crate::domain::{Action, Principal, RequestId};

    /// On SQLite the log's time advances by comparing stored text: with fractions of every
    /// length (none, milli-, micro-, nanoseconds) an entry still takes the later of its own time
    /// and the time before it.
    #[test]
    fn the_logs_time_on_sqlite_takes_the_later_time_whatever_the_fractions() {
        let mut sqlite = diesel::SqliteConnection::establish(":memory:").unwrap();
        sqlite.run_pending_migrations(super::super::SQLITE_MIGRATIONS).unwrap();
        let mut connection = AnyConnection::Sqlite(sqlite);
        let at = |text: &str| -> DateTime<Utc> { text.parse().unwrap() };
        let times = [
            at("2027-03-01T10:00:00.5Z"),
            at("2027-03-01T10:00:00Z"),
            at("2027-03-01T10:00:00.123456Z"),
            at("2027-03-01T10:00:00.500000001Z"),
            at("2027-03-01T10:00:00.5Z"),
            at("2027-03-01T10:00:01Z"),
            at("2027-03-01T09:59:59.999999999Z"),
        ];
        let mut recorded = Vec::new();
        for (n, now) in times.iter().enumerate() {
            let id = RequestId::parse(&format!("time-{n}")).unwrap();
            let mutation = Mutation::new(Principal::local_admin(), id, Action::CreateContract, &n, *now).unwrap();
            let seq = append_and_remember(&mut connection, &mutation, "test/time", "{}").unwrap();
            recorded.push((seq, entries_after(&mut connection, seq - 1, 1).unwrap()[0].recorded_at));
        }
        let expected: Vec<(i64, DateTime<Utc>)> = times
            .iter()
            .scan(None::<DateTime<Utc>>, |latest, now| {
                let time = latest.map_or(*now, |latest| latest.max(*now));
                *latest = Some(time);
                Some(time)
            })
            .enumerate()
            .map(|(n, time)| (i64::try_from(n).unwrap() + 1, time))
            .collect();
        assert_eq!(recorded, expected);
    }
}
