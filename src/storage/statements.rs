//! Settlement statements and the inputs they took in. Both are only ever inserted.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::audit::next_in_sequence;
use super::schema::{
    audit_log, hour_decisions, hour_entries, savings_decisions, savings_records, sequences, statement_inputs,
    statements,
};
use super::{AnyConnection, from_stored_time, to_stored_time};
use crate::domain::hours::Verdict;
use crate::domain::names::statement_name;
use crate::domain::settlement::{PendingInputs, StoredStatement};
use crate::domain::{Cents, ContractId, IntercedentId, LineReference, Minutes};
use crate::error::{Context, Error};

/// The kind of an input a statement takes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// An hour entry.
    Hours,
    /// A savings record.
    Savings,
}

impl InputKind {
    /// The stored name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            InputKind::Hours => "HOURS",
            InputKind::Savings => "SAVINGS",
        }
    }
}

/// `statement_inputs` rows of one kind of input, matched to the input on the left.
macro_rules! taken_by_a_statement {
    ($inputs:ident, $kind:expr) => {
        statement_inputs::table.on(statement_inputs::contract_id
            .eq($inputs::contract_id)
            .and(statement_inputs::kind.eq($kind.as_str()))
            .and(statement_inputs::input_id.eq($inputs::id)))
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
    let mut query = hour_entries::table
        .inner_join(taken_by_a_statement!(hour_entries, InputKind::Hours))
        .filter(hour_entries::contract_id.eq(contract.as_str().to_owned()))
        .filter(hour_entries::intercedent_id.eq(intercedent.as_str().to_owned()))
        .filter(hour_entries::work_date.ge(from))
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
fn advance(connection: &mut AnyConnection, name: &str) -> Result<i64, Error> {
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
pub fn insert_statement(connection: &mut AnyConnection, stored: &StoredStatement, content: &str) -> Result<(), Error> {
    diesel::insert_into(statements::table)
        .values((
            statements::contract_id.eq(stored.statement.contract_id.as_str()),
            statements::period_start.eq(stored.statement.period.start),
            statements::number.eq(&stored.statement.number),
            statements::content.eq(content),
            statements::content_sha256.eq(&stored.content_sha256),
            statements::settled_by.eq(&stored.settled_by),
            statements::create_time.eq(to_stored_time(stored.create_time)),
        ))
        .execute(connection)
        .context("storing a statement")?;
    Ok(())
}

/// A row of `statement_inputs`.
#[derive(Insertable)]
#[diesel(table_name = statement_inputs, treat_none_as_default_value = false)]
struct InputRow<'a> {
    contract_id: &'a str,
    kind: &'a str,
    input_id: &'a str,
    statement_period_start: NaiveDate,
}

/// Records that the statement of `period_start` took in these inputs.
///
/// # Errors
/// A storage fault (an input already in a statement is refused by the primary key).
pub fn insert_inputs(
    connection: &mut AnyConnection,
    contract: &ContractId,
    kind: InputKind,
    ids: &[LineReference],
    period_start: NaiveDate,
) -> Result<(), Error> {
    let rows: Vec<InputRow<'_>> = ids
        .iter()
        .map(|id| InputRow {
            contract_id: contract.as_str(),
            kind: kind.as_str(),
            input_id: id.as_str(),
            statement_period_start: period_start,
        })
        .collect();
    let inserted = match connection {
        // COPY in the binary format: one round trip and no SQL to parse, whatever the count.
        AnyConnection::Postgresql(pg) => {
            diesel::copy_from(statement_inputs::table).from_insertable(&rows).execute(pg).map(drop)
        }
        // In-process: a prepared single-row INSERT per input is as fast.
        AnyConnection::Sqlite(sqlite) => rows
            .iter()
            .try_for_each(|row| diesel::insert_into(statement_inputs::table).values(row).execute(sqlite).map(drop)),
    };
    inserted.context("recording a statement's inputs")
}

/// A verified hour entry as settlement reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourInput {
    /// The entry.
    pub id: LineReference,
    /// Whose hours.
    pub intercedent: IntercedentId,
    /// The day worked.
    pub work_date: NaiveDate,
    /// First day of the work date's period.
    pub period_start: NaiveDate,
    /// Signed minutes (negative for a take-back).
    pub minutes: Minutes,
}

/// A verified savings record as settlement reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavingsInput {
    /// The record.
    pub id: LineReference,
    /// First day of the period it belongs to.
    pub period_start: NaiveDate,
    /// Signed amount.
    pub amount: Cents,
}

fn corrupt(detail: String) -> Error {
    Error::internal("reading inputs to settle", detail)
}

/// Verified hour entries dated up to `period_start`'s period that no statement took in (an
/// anti-join: it stays linear in the number of entries).
///
/// # Errors
/// A storage fault.
pub fn untaken_verified_hours(
    connection: &mut AnyConnection,
    contract: &ContractId,
    period_start: NaiveDate,
) -> Result<Vec<HourInput>, Error> {
    let rows: Vec<(String, String, NaiveDate, NaiveDate, i64)> = hour_entries::table
        .inner_join(
            hour_decisions::table.on(hour_decisions::contract_id
                .eq(hour_entries::contract_id)
                .and(hour_decisions::entry_id.eq(hour_entries::id))),
        )
        .left_join(taken_by_a_statement!(hour_entries, InputKind::Hours))
        .filter(hour_entries::contract_id.eq(contract.as_str().to_owned()))
        .filter(hour_entries::period_start.le(period_start))
        .filter(hour_decisions::verdict.eq(Verdict::Verified.as_str()))
        .filter(statement_inputs::input_id.is_null())
        .select((
            hour_entries::id,
            hour_entries::intercedent_id,
            hour_entries::work_date,
            hour_entries::period_start,
            hour_entries::minutes,
        ))
        .load(connection)
        .context("reading hours to settle")?;
    rows.into_iter()
        .map(|(id, intercedent, work_date, period_start, minutes)| {
            Ok(HourInput {
                id: LineReference::parse(&id).map_err(corrupt)?,
                intercedent: IntercedentId::parse(&intercedent).map_err(corrupt)?,
                work_date,
                period_start,
                minutes: Minutes::new(minutes),
            })
        })
        .collect()
}

/// Verified savings records dated up to `period_start`'s period that no statement took in.
///
/// # Errors
/// A storage fault.
pub fn untaken_verified_savings(
    connection: &mut AnyConnection,
    contract: &ContractId,
    period_start: NaiveDate,
) -> Result<Vec<SavingsInput>, Error> {
    let rows: Vec<(String, NaiveDate, i64)> = savings_records::table
        .inner_join(
            savings_decisions::table.on(savings_decisions::contract_id
                .eq(savings_records::contract_id)
                .and(savings_decisions::record_id.eq(savings_records::id))),
        )
        .left_join(taken_by_a_statement!(savings_records, InputKind::Savings))
        .filter(savings_records::contract_id.eq(contract.as_str().to_owned()))
        .filter(savings_records::period_start.le(period_start))
        .filter(savings_decisions::verdict.eq(Verdict::Verified.as_str()))
        .filter(statement_inputs::input_id.is_null())
        .select((savings_records::id, savings_records::period_start, savings_records::amount_cents))
        .load(connection)
        .context("reading savings to settle")?;
    rows.into_iter()
        .map(|(id, period_start, amount)| {
            Ok(SavingsInput {
                id: LineReference::parse(&id).map_err(corrupt)?,
                period_start,
                amount: Cents::from_stored(amount),
            })
        })
        .collect()
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
