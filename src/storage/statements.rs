//! Settlement statements and the inputs they take in. Statements are only ever inserted; the
//! inputs each one took in are named by its bounds (`domain::inputs`), not by a row per input.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::audit::next_in_sequence;
use super::schema::{
    audit_log, hour_decisions, hour_entries, savings_decisions, savings_records, sequences, statements,
};
use super::{AnyConnection, from_stored_time, to_stored_time};
use crate::domain::hours::Verdict;
use crate::domain::inputs::InputBounds;
use crate::domain::names::statement_name;
use crate::domain::settlement::{PendingInputs, StoredStatement};
use crate::domain::{Cents, ContractId, IntercedentId, LineReference, Minutes};
use crate::error::{Context, Error};

/// Hour entries joined with their verifications.
macro_rules! verified_hours {
    () => {
        hour_entries::table
            .inner_join(
                hour_decisions::table.on(hour_decisions::contract_id
                    .eq(hour_entries::contract_id)
                    .and(hour_decisions::entry_id.eq(hour_entries::id))),
            )
            .filter(hour_decisions::verdict.eq(Verdict::Verified.as_str()))
    };
}

type StatementRow = (String, String, chrono::NaiveDateTime);

fn into_stored(
    (content, content_sha256, create_time): StatementRow,
    settled_by: String,
) -> Result<StoredStatement, Error> {
    Ok(StoredStatement {
        statement: serde_json::from_str(&content).context("decoding a stored statement")?,
        content_sha256,
        settled_by,
        create_time: from_stored_time(create_time),
    })
}

/// The contract's statements of periods from `from` up to (not including) `until`, in order.
///
/// # Errors
/// A storage fault.
pub fn statements_between(
    connection: &mut AnyConnection,
    contract: &ContractId,
    from: NaiveDate,
    until: NaiveDate,
) -> Result<Vec<StoredStatement>, Error> {
    statements_from(connection, contract, Some(from), Some(until))
}

/// Every statement of the contract, in period order.
///
/// # Errors
/// A storage fault.
pub fn all_statements(connection: &mut AnyConnection, contract: &ContractId) -> Result<Vec<StoredStatement>, Error> {
    statements_from(connection, contract, None, None)
}

fn statements_from(
    connection: &mut AnyConnection,
    contract: &ContractId,
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
) -> Result<Vec<StoredStatement>, Error> {
    let mut query = statements::table.filter(statements::contract_id.eq(contract.as_str().to_owned())).into_boxed();
    if let Some(from) = from {
        query = query.filter(statements::period_start.ge(from));
    }
    if let Some(until) = until {
        query = query.filter(statements::period_start.lt(until));
    }
    let rows: Vec<(String, String, chrono::NaiveDateTime, String)> = query
        .order(statements::period_start.asc())
        .select((statements::content, statements::content_sha256, statements::create_time, statements::settled_by))
        .load(connection)
        .context("reading statements")?;
    rows.into_iter().map(|(content, sha, time, by)| into_stored((content, sha, time), by)).collect()
}

/// Whether a period is settled: its statement is issued.
///
/// # Errors
/// A storage fault.
pub fn period_is_settled(
    connection: &mut AnyConnection,
    contract: &ContractId,
    period_start: NaiveDate,
) -> Result<bool, Error> {
    let issued: i64 = statements::table
        .filter(statements::contract_id.eq(contract.as_str().to_owned()))
        .filter(statements::period_start.eq(period_start))
        .count()
        .get_result(connection)
        .context("checking whether a period is settled")?;
    Ok(issued > 0)
}

/// The statement of a period, if it was settled.
///
/// # Errors
/// A storage fault.
pub fn find_statement(
    connection: &mut AnyConnection,
    contract: &ContractId,
    period_start: NaiveDate,
) -> Result<Option<StoredStatement>, Error> {
    let row: Option<(String, String, chrono::NaiveDateTime, String)> = statements::table
        .find((contract.as_str(), period_start))
        .select((statements::content, statements::content_sha256, statements::create_time, statements::settled_by))
        .first(connection)
        .optional()
        .context("reading a statement")?;
    row.map(|(content, sha, time, by)| into_stored((content, sha, time), by)).transpose()
}

/// First day of the contract's last settled period, if any.
///
/// # Errors
/// A storage fault.
pub fn last_settled_period(connection: &mut AnyConnection, contract: &ContractId) -> Result<Option<NaiveDate>, Error> {
    statements::table
        .filter(statements::contract_id.eq(contract.as_str().to_owned()))
        .select(diesel::dsl::max(statements::period_start))
        .first(connection)
        .context("finding the last settled period")
}

/// The bounds of the inputs each statement of the contract took in, by the first day of its
/// period, in period order.
///
/// # Errors
/// A storage fault.
pub fn issued_bounds(
    connection: &mut AnyConnection,
    contract: &ContractId,
) -> Result<Vec<(NaiveDate, InputBounds)>, Error> {
    let rows: Vec<(NaiveDate, NaiveDate, i64)> = statements::table
        .filter(statements::contract_id.eq(contract.as_str().to_owned()))
        .order(statements::period_start.asc())
        .select((statements::period_start, statements::inputs_until, statements::inputs_through))
        .load(connection)
        .context("reading the bounds of statements")?;
    Ok(rows.into_iter().map(|(start, until, through)| (start, InputBounds { until, through })).collect())
}

/// The bounds of the inputs the contract's latest statement took in: every statement so far
/// took in exactly the inputs within them (`domain::inputs`).
///
/// # Errors
/// A storage fault.
pub fn latest_bounds(connection: &mut AnyConnection, contract: &ContractId) -> Result<Option<InputBounds>, Error> {
    let row: Option<(NaiveDate, i64)> = statements::table
        .filter(statements::contract_id.eq(contract.as_str().to_owned()))
        .order(statements::period_start.desc())
        .select((statements::inputs_until, statements::inputs_through))
        .first(connection)
        .optional()
        .context("reading the bounds of the latest statement")?;
    Ok(row.map(|(until, through)| InputBounds { until, through }))
}

/// The last day in `from..until` (open-ended without `until`) on which `intercedent` worked
/// hours that a statement took in, if any.
///
/// # Errors
/// A storage fault.
pub fn last_settled_work_date(
    connection: &mut AnyConnection,
    contract: &ContractId,
    intercedent: &IntercedentId,
    from: NaiveDate,
    until: Option<NaiveDate>,
) -> Result<Option<NaiveDate>, Error> {
    let Some(taken) = latest_bounds(connection, contract)? else {
        return Ok(None);
    };
    let mut query = verified_hours!()
        .filter(hour_entries::contract_id.eq(contract.as_str().to_owned()))
        .filter(hour_entries::intercedent_id.eq(intercedent.as_str().to_owned()))
        .filter(hour_entries::work_date.ge(from))
        .filter(hour_entries::period_start.le(taken.until))
        .filter(hour_decisions::decision_seq.le(taken.through))
        .select(diesel::dsl::max(hour_entries::work_date))
        .into_boxed();
    if let Some(until) = until {
        query = query.filter(hour_entries::work_date.lt(until));
    }
    query.first(connection).context("finding settled hours")
}

/// The sequence number of a statement's audit entry.
///
/// # Errors
/// A storage fault.
pub fn audit_sequence(
    connection: &mut AnyConnection,
    contract: &ContractId,
    period_start: NaiveDate,
) -> Result<Option<i64>, Error> {
    audit_log::table
        .filter(audit_log::resource.eq(statement_name(contract, period_start)))
        .select(audit_log::seq)
        .first(connection)
        .optional()
        .context("finding a statement's audit entry")
}

/// Advances the sequence `name`, starting it at 0 when it does not exist yet (two
/// transactions starting it at once both succeed: the second start does nothing).
pub(crate) fn advance(connection: &mut AnyConnection, name: &str) -> Result<i64, Error> {
    let start = diesel::insert_into(sequences::table)
        .values((sequences::name.eq(name), sequences::last_value.eq(0_i64)))
        .on_conflict_do_nothing();
    match connection {
        AnyConnection::Postgresql(pg) => start.execute(pg),
        AnyConnection::Sqlite(sqlite) => start.execute(sqlite),
    }
    .context("starting a sequence")?;
    next_in_sequence(connection, name)
}

/// The prefix of a contract's statement numbers: its municipality's CBS code, and for the
/// municipality's second and later contracts (in the order of their first statement) a
/// series number, as in `GM0344.2`. Numbers then never repeat between contracts.
///
/// # Errors
/// A storage fault.
pub fn number_prefix(connection: &mut AnyConnection, contract: &ContractId, gemeente: &str) -> Result<String, Error> {
    let own = format!("statement-series/{}", contract.as_str());
    let series: Option<i64> = sequences::table
        .find(&own)
        .select(sequences::last_value)
        .first(connection)
        .optional()
        .context("reading a statement series")?;
    let series = match series {
        Some(series) => series,
        None => {
            let series = advance(connection, &format!("statement-series/{gemeente}"))?;
            diesel::insert_into(sequences::table)
                .values((sequences::name.eq(&own), sequences::last_value.eq(series)))
                .execute(connection)
                .context("recording a contract's statement series")?;
            series
        }
    };
    Ok(if series <= 1 { gemeente.to_owned() } else { format!("{gemeente}.{series}") })
}

/// The next statement number of a contract in `year`: 1, 2, 3, … without gaps (the caller
/// holds the contract's settlement lock).
///
/// # Errors
/// A storage fault.
pub fn next_number(connection: &mut AnyConnection, contract: &ContractId, year: i32) -> Result<i64, Error> {
    advance(connection, &format!("statements/{}/{year}", contract.as_str()))
}

/// Stores a statement.
///
/// # Errors
/// A storage fault (a second statement for a period is refused by the primary key).
pub fn insert_statement(
    connection: &mut AnyConnection,
    stored: &StoredStatement,
    content: &str,
    taken: InputBounds,
) -> Result<(), Error> {
    diesel::insert_into(statements::table)
        .values((
            statements::contract_id.eq(stored.statement.contract_id.as_str()),
            statements::period_start.eq(stored.statement.period.start),
            statements::number.eq(&stored.statement.number),
            statements::content.eq(content),
            statements::content_sha256.eq(&stored.content_sha256),
            statements::settled_by.eq(&stored.settled_by),
            statements::create_time.eq(to_stored_time(stored.create_time)),
            statements::inputs_until.eq(taken.until),
            statements::inputs_through.eq(taken.through),
        ))
        .execute(connection)
        .context("storing a statement")?;
    Ok(())
}

/// The planner settings [`reading_every_input`] changes, as they were.
#[derive(QueryableByName)]
struct PlannerSettings {
    #[diesel(sql_type = diesel::sql_types::Text)]
    enable_nestloop: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    work_mem: String,
}

/// Runs `read`, which reads every input of a contract up to a period, with a plan fit for
/// that on PostgreSQL: no nested loop, and memory to hash or sort the inputs without spilling
/// to disk. The planner picks a nested loop of index lookups (one per input: 2 s for a
/// million) when a table's statistics are missing or stale, after a bulk load before the next
/// ANALYZE; a hash join reads the same inputs in a fraction of that whatever the statistics
/// say. The settings hold for these reads only: they are put back afterwards, so the rest of
/// the transaction (and the other changes of a group commit) plan as usual.
///
/// # Errors
/// What `read` returns, or a storage fault.
pub fn reading_every_input<T>(
    connection: &mut AnyConnection,
    read: impl FnOnce(&mut AnyConnection) -> Result<T, Error>,
) -> Result<T, Error> {
    if matches!(connection, AnyConnection::Sqlite(_)) {
        return read(connection);
    }
    // Settings made local to a transaction: a read outside one gets its own.
    connection.transaction(|connection| {
        let AnyConnection::Postgresql(pg) = &mut *connection else {
            return read(connection);
        };
        let saved: PlannerSettings = diesel::sql_query(
            "SELECT current_setting('enable_nestloop') AS enable_nestloop, current_setting('work_mem') AS work_mem",
        )
        .get_result(pg)
        .context("reading planner settings")?;
        diesel::sql_query("SELECT set_config('enable_nestloop', 'off', true), set_config('work_mem', '64MB', true)")
            .execute(pg)
            .context("setting the planner for reading every input")?;
        let result = read(connection)?;
        let AnyConnection::Postgresql(pg) = &mut *connection else {
            return Ok(result);
        };
        diesel::sql_query("SELECT set_config('enable_nestloop', $1, true), set_config('work_mem', $2, true)")
            .bind::<diesel::sql_types::Text, _>(&saved.enable_nestloop)
            .bind::<diesel::sql_types::Text, _>(&saved.work_mem)
            .execute(pg)
            .context("putting the planner settings back")?;
        Ok(result)
    })
}

/// Verified hours of one intercedent on one day that a statement takes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursTaken {
    /// Whose hours.
    pub intercedent: IntercedentId,
    /// The day worked.
    pub work_date: NaiveDate,
    /// First day of the work date's period.
    pub period_start: NaiveDate,
    /// Net minutes (take-backs are negative).
    pub minutes: Minutes,
    /// How many entries.
    pub entries: i64,
}

/// Verified savings of one period that a statement takes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavingsTaken {
    /// First day of the period.
    pub period_start: NaiveDate,
    /// Net amount.
    pub amount: Cents,
    /// How many records.
    pub records: i64,
}

fn corrupt(detail: String) -> Error {
    Error::internal("reading inputs to settle", detail)
}

/// The verified hours a statement with bounds `taken` issued after one with `latest` takes in,
/// summed per intercedent and day in the database: the process holds one row per day worked,
/// however many entries there are.
///
/// # Errors
/// A storage fault.
pub fn hours_to_take(
    connection: &mut AnyConnection,
    contract: &ContractId,
    taken: InputBounds,
    latest: Option<InputBounds>,
) -> Result<Vec<HoursTaken>, Error> {
    let mut query = verified_hours!()
        .filter(hour_entries::contract_id.eq(contract.as_str().to_owned()))
        .filter(hour_entries::period_start.le(taken.until))
        .filter(hour_decisions::decision_seq.le(taken.through))
        .group_by((hour_entries::intercedent_id, hour_entries::work_date, hour_entries::period_start))
        .select((
            hour_entries::intercedent_id,
            hour_entries::work_date,
            hour_entries::period_start,
            diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(SUM(hour_entries.minutes) AS BIGINT)"),
            diesel::dsl::count_star(),
        ))
        .into_boxed();
    if let Some(latest) = latest {
        query = query
            .filter(hour_entries::period_start.gt(latest.until).or(hour_decisions::decision_seq.gt(latest.through)));
    }
    let rows: Vec<(String, NaiveDate, NaiveDate, i64, i64)> =
        query.load(connection).context("summing hours to settle")?;
    rows.into_iter()
        .map(|(intercedent, work_date, period_start, minutes, entries)| {
            Ok(HoursTaken {
                intercedent: IntercedentId::parse(&intercedent).map_err(corrupt)?,
                work_date,
                period_start,
                minutes: Minutes::new(minutes),
                entries,
            })
        })
        .collect()
}

/// The verified savings a statement with bounds `taken` issued after one with `latest` takes
/// in, summed per period in the database.
///
/// # Errors
/// A storage fault.
pub fn savings_to_take(
    connection: &mut AnyConnection,
    contract: &ContractId,
    taken: InputBounds,
    latest: Option<InputBounds>,
) -> Result<Vec<SavingsTaken>, Error> {
    let mut query = savings_records::table
        .inner_join(
            savings_decisions::table.on(savings_decisions::contract_id
                .eq(savings_records::contract_id)
                .and(savings_decisions::record_id.eq(savings_records::id))),
        )
        .filter(savings_decisions::verdict.eq(Verdict::Verified.as_str()))
        .filter(savings_records::contract_id.eq(contract.as_str().to_owned()))
        .filter(savings_records::period_start.le(taken.until))
        .filter(savings_decisions::decision_seq.le(taken.through))
        .group_by(savings_records::period_start)
        .select((
            savings_records::period_start,
            diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(SUM(savings_records.amount_cents) AS BIGINT)"),
            diesel::dsl::count_star(),
        ))
        .into_boxed();
    if let Some(latest) = latest {
        query = query.filter(
            savings_records::period_start.gt(latest.until).or(savings_decisions::decision_seq.gt(latest.through)),
        );
    }
    let rows: Vec<(NaiveDate, i64, i64)> = query.load(connection).context("summing savings to settle")?;
    Ok(rows
        .into_iter()
        .map(|(period_start, amount, records)| SavingsTaken {
            period_start,
            amount: Cents::from_stored(amount),
            records,
        })
        .collect())
}

/// How many pending inputs a statement names; it counts them all.
pub const PENDING_NAMED_MAX: usize = 1_000;

/// Inputs of one kind dated up to a period that wait for a decision: how many, and the first
/// [`PENDING_NAMED_MAX`] by id.
macro_rules! pending_inputs {
    ($connection:expr, $contract:expr, $period_start:expr, $inputs:ident, $decisions:ident, $input_id:ident) => {{
        // One pass: every id is read (to count them), the first ones kept.
        let ids: Vec<String> = $inputs::table
            .left_join(
                $decisions::table
                    .on($decisions::contract_id.eq($inputs::contract_id).and($decisions::$input_id.eq($inputs::id))),
            )
            .filter($inputs::contract_id.eq($contract.as_str().to_owned()))
            .filter($inputs::period_start.le($period_start))
            .filter($decisions::$input_id.is_null())
            .order($inputs::id.asc())
            .select($inputs::id)
            .load($connection)
            .context("reading pending inputs")?;
        let count = i64::try_from(ids.len()).map_err(|_| corrupt("too many pending inputs".to_owned()))?;
        let first = ids
            .iter()
            .take(PENDING_NAMED_MAX)
            .map(|id| LineReference::parse(id).map_err(corrupt))
            .collect::<Result<_, _>>()?;
        Ok(PendingInputs { count, first })
    }};
}

/// Hour entries dated up to `period_start`'s period that wait for a decision.
///
/// # Errors
/// A storage fault.
pub fn pending_hours(
    connection: &mut AnyConnection,
    contract: &ContractId,
    period_start: NaiveDate,
) -> Result<PendingInputs, Error> {
    pending_inputs!(connection, contract, period_start, hour_entries, hour_decisions, entry_id)
}

/// Savings records dated up to `period_start`'s period that wait for a decision.
///
/// # Errors
/// A storage fault.
pub fn pending_savings(
    connection: &mut AnyConnection,
    contract: &ContractId,
    period_start: NaiveDate,
) -> Result<PendingInputs, Error> {
    pending_inputs!(connection, contract, period_start, savings_records, savings_decisions, record_id)
}

/// A statement's canonical content as stored when it was issued, and its SHA-256 (hex).
///
/// # Errors
/// A storage fault.
pub fn statement_content(
    connection: &mut AnyConnection,
    contract: &ContractId,
    period_start: NaiveDate,
) -> Result<Option<(String, String)>, Error> {
    statements::table
        .find((contract.as_str(), period_start))
        .select((statements::content, statements::content_sha256))
        .first(connection)
        .optional()
        .context("reading a statement's content")
}

/// Lists a contract's statements, oldest first, each with the sequence number of its audit
/// entry (one query for the page's entries).
///
/// # Errors
/// A storage fault.
pub fn list_statements(
    connection: &mut AnyConnection,
    contract: &ContractId,
    page: &crate::domain::PageRequest,
) -> Result<crate::domain::Page<(StoredStatement, Option<i64>)>, Error> {
    let mut query = statements::table
        .filter(statements::contract_id.eq(contract.as_str().to_owned()))
        .order(statements::period_start.asc())
        .select((statements::content, statements::content_sha256, statements::create_time, statements::settled_by))
        .limit(i64::from(page.size.get()) + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        let after: NaiveDate = after.parse().map_err(|_| {
            Error::InvalidArgument(crate::domain::Violations::single(
                "page_token",
                "is not a token this service issued",
            ))
        })?;
        query = query.filter(statements::period_start.gt(after));
    }
    let rows: Vec<(String, String, chrono::NaiveDateTime, String)> =
        query.load(connection).context("listing statements")?;
    let items = rows
        .into_iter()
        .map(|(content, sha, time, by)| into_stored((content, sha, time), by))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<String> =
        items.iter().map(|stored| statement_name(contract, stored.statement.period.start)).collect();
    let entries: Vec<(String, i64)> = audit_log::table
        .filter(audit_log::resource.eq_any(names))
        .select((audit_log::resource, audit_log::seq))
        .load(connection)
        .context("finding statements' audit entries")?;
    let with_seq = items
        .into_iter()
        .map(|stored| {
            let name = statement_name(contract, stored.statement.period.start);
            let seq = entries.iter().find(|(resource, _)| *resource == name).map(|(_, seq)| *seq);
            (stored, seq)
        })
        .collect();
    Ok(super::contracts::paginate(with_seq, page, |(stored, _)| stored.statement.period.start.to_string()))
}
