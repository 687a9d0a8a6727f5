//! Hour entries and their decisions. Entries and decisions are only ever inserted.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use diesel::prelude::*;

use super::contracts::{intercedents_with_rates, paginate};
use super::schema::{hour_decisions, hour_entries};
use super::{AnyConnection, from_stored_time, is_unique_violation, to_stored_time};
use crate::domain::Page;
use crate::domain::hours::{DaySum, Decision, EntryFilter, EntryState, HourEntry, RecordedHours, Verdict};
use crate::domain::inputs::InputBounds;
use crate::domain::names::hour_entry_name;
use crate::domain::{ContractId, IntercedentId, LineReference, Minutes, PageRequest, RateSchedule};
use crate::error::{Context, Error};

#[derive(Insertable, Queryable, QueryableByName)]
#[diesel(table_name = hour_entries, treat_none_as_default_value = false)]
struct EntryRow {
    contract_id: String,
    id: String,
    intercedent_id: String,
    work_date: NaiveDate,
    period_start: NaiveDate,
    minutes: i64,
    note: String,
    corrects_id: Option<String>,
    late: bool,
    submitted_by: String,
    submit_time: chrono::NaiveDateTime,
}

#[derive(Queryable)]
struct DecisionRow {
    verdict: String,
    decided_by: String,
    decide_time: chrono::NaiveDateTime,
    reason: Option<String>,
}

type EntryWithDecision = (EntryRow, Option<DecisionRow>);

fn corrupt(detail: String) -> Error {
    Error::internal("reading a stored hour entry", detail)
}

fn into_entry((row, decision): EntryWithDecision) -> Result<HourEntry, Error> {
    let decision = decision
        .map(|decision| {
            Ok::<_, Error>(Decision {
                verdict: Verdict::parse(&decision.verdict).map_err(corrupt)?,
                decided_by: decision.decided_by,
                decide_time: from_stored_time(decision.decide_time),
                reason: decision.reason,
            })
        })
        .transpose()?;
    Ok(HourEntry {
        contract_id: ContractId::parse(&row.contract_id).map_err(corrupt)?,
        id: LineReference::parse(&row.id).map_err(corrupt)?,
        intercedent: IntercedentId::parse(&row.intercedent_id).map_err(corrupt)?,
        work_date: row.work_date,
        period_start: row.period_start,
        minutes: Minutes::new(row.minutes),
        note: row.note,
        corrects: row.corrects_id.as_deref().map(LineReference::parse).transpose().map_err(corrupt)?,
        late: row.late,
        submitted_by: row.submitted_by,
        submit_time: from_stored_time(row.submit_time),
        decision,
    })
}

fn row_of(entry: &HourEntry) -> EntryRow {
    EntryRow {
        contract_id: entry.contract_id.as_str().to_owned(),
        id: entry.id.as_str().to_owned(),
        intercedent_id: entry.intercedent.as_str().to_owned(),
        work_date: entry.work_date,
        period_start: entry.period_start,
        minutes: entry.minutes.get(),
        note: entry.note.clone(),
        corrects_id: entry.corrects.as_ref().map(|id| id.as_str().to_owned()),
        late: entry.late,
        submitted_by: entry.submitted_by.clone(),
        submit_time: to_stored_time(entry.submit_time),
    }
}

/// Entries joined with their decisions (if any).
macro_rules! entries_with_decisions {
    () => {
        hour_entries::table.left_join(
            hour_decisions::table.on(hour_decisions::contract_id
                .eq(hour_entries::contract_id)
                .and(hour_decisions::entry_id.eq(hour_entries::id))),
        )
    };
}

/// Columns of [`EntryWithDecision`].
macro_rules! entry_columns {
    () => {
        (
            (
                hour_entries::contract_id,
                hour_entries::id,
                hour_entries::intercedent_id,
                hour_entries::work_date,
                hour_entries::period_start,
                hour_entries::minutes,
                hour_entries::note,
                hour_entries::corrects_id,
                hour_entries::late,
                hour_entries::submitted_by,
                hour_entries::submit_time,
            ),
            (hour_decisions::verdict, hour_decisions::decided_by, hour_decisions::decide_time, hour_decisions::reason)
                .nullable(),
        )
    };
}

/// `SUM(minutes)` as a BIGINT: PostgreSQL sums BIGINT as NUMERIC, which the shared code path
/// does not read.
fn minutes_sum() -> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::BigInt>> {
    diesel::dsl::sql("CAST(SUM(hour_entries.minutes) AS BIGINT)")
}

/// What a submission of `lines` is checked against: the rates of the named intercedents that
/// belong to the contract, the minutes already recorded on the named days, and entries that
/// already use the lines' references.
///
/// # Errors
/// A storage fault.
pub fn recorded_for(
    connection: &mut AnyConnection,
    contract: &ContractId,
    days: &[(IntercedentId, NaiveDate)],
    references: &[LineReference],
) -> Result<RecordedHours, Error> {
    let rates = intercedents_with_rates(connection, contract, named_intercedents(days))?;
    recorded_with_rates(connection, contract, days, references, rates)
}

/// The intercedents that `days` name, each once.
#[must_use]
pub fn named_intercedents(days: &[(IntercedentId, NaiveDate)]) -> Vec<String> {
    days.iter().map(|(id, _)| id.as_str().to_owned()).collect::<HashSet<_>>().into_iter().collect()
}

/// [`recorded_for`] with the named intercedents' `rates` already read.
///
/// # Errors
/// A storage fault.
pub fn recorded_with_rates(
    connection: &mut AnyConnection,
    contract: &ContractId,
    days: &[(IntercedentId, NaiveDate)],
    references: &[LineReference],
    rates: HashMap<IntercedentId, RateSchedule>,
) -> Result<RecordedHours, Error> {
    let day_minutes = day_minutes(connection, contract, days)?;
    let existing =
        get_entries(connection, contract, references)?.into_iter().map(|entry| (entry.id.clone(), entry)).collect();
    Ok(RecordedHours { rates, day_minutes, existing })
}

/// The minutes recorded on each of `days` for its intercedent, in the worst case (see
/// `domain::hours::counts_toward_day`): pending positive minutes count, pending negative
/// corrections do not, since either may still be rejected. Days with nothing recorded are left
/// out.
///
/// # Errors
/// A storage fault.
pub fn day_minutes(
    connection: &mut AnyConnection,
    contract: &ContractId,
    days: &[(IntercedentId, NaiveDate)],
) -> Result<HashMap<(IntercedentId, NaiveDate), i64>, Error> {
    use diesel::sql_types::{BigInt, Date, Nullable, Text};
    #[derive(QueryableByName)]
    struct DayRow {
        #[diesel(sql_type = Text)]
        intercedent_id: String,
        #[diesel(sql_type = Date)]
        work_date: NaiveDate,
        #[diesel(sql_type = Nullable<BigInt>)]
        minutes: Option<i64>,
    }
    let days: Vec<(&str, NaiveDate)> =
        days.iter().map(|(id, date)| (id.as_str(), *date)).collect::<HashSet<_>>().into_iter().collect();
    // Summed in the database over exactly the named days, each through the index by contract,
    // intercedent and date: a correlated subquery per day, so that no planner (without
    // statistics, say) turns it into a scan of the contract's entries; every intercedent on
    // every named date (an IN list of each) would read far more once a batch names many.
    // The day's minutes in the worst case: every non-rejected positive entry, and only
    // verified negative corrections; BIGINT, since PostgreSQL sums BIGINT as NUMERIC.
    let sum = "SELECT day.intercedent_id, day.work_date, ( \
                   SELECT CAST(SUM(CASE WHEN hour_entries.minutes > 0 OR hour_decisions.verdict = 'VERIFIED' \
                                        THEN hour_entries.minutes ELSE 0 END) AS BIGINT) \
                   FROM hour_entries LEFT JOIN hour_decisions \
                       ON hour_decisions.contract_id = hour_entries.contract_id \
                      AND hour_decisions.entry_id = hour_entries.id \
                   WHERE hour_entries.contract_id = {contract} AND hour_entries.intercedent_id = day.intercedent_id \
                     AND hour_entries.work_date = day.work_date \
                     AND (hour_decisions.verdict IS NULL OR hour_decisions.verdict = 'VERIFIED') \
               ) AS minutes";
    let mut day_rows: Vec<DayRow> = Vec::with_capacity(days.len());
    for chunk in days.chunks(super::INSERT_CHUNK_ROWS) {
        let rows: diesel::QueryResult<Vec<DayRow>> = match &mut *connection {
            AnyConnection::Postgresql(pg) => {
                let (intercedents, dates): (Vec<&str>, Vec<NaiveDate>) = chunk.iter().copied().unzip();
                super::reused::reused(
                    diesel::sql_query(format!(
                        "{} FROM unnest($2::text[], $3::date[]) AS day(intercedent_id, work_date)",
                        sum.replace("{contract}", "$1")
                    ))
                    .bind::<Text, _>(contract.as_str())
                    .bind::<diesel::sql_types::Array<Text>, _>(intercedents)
                    .bind::<diesel::sql_types::Array<Date>, _>(dates),
                )
                .load(pg)
            }
            AnyConnection::Sqlite(sqlite) => {
                // Repeated days come back twice and meet in the map below.
                let chunk = super::reused::padded(chunk);
                let values = vec!["(?, ?)"; chunk.len()].join(", ");
                let mut query = diesel::sql_query(format!(
                    "WITH day(intercedent_id, work_date) AS (VALUES {values}) {} FROM day",
                    sum.replace("{contract}", "?")
                ))
                .into_boxed::<diesel::sqlite::Sqlite>();
                for (intercedent, date) in chunk {
                    query = query.bind::<Text, _>(intercedent).bind::<Date, _>(date);
                }
                super::reused::reused(query.bind::<Text, _>(contract.as_str())).load(sqlite)
            }
        };
        // Days with nothing recorded are left out.
        day_rows.extend(rows.context("reading recorded minutes")?.into_iter().filter(|row| row.minutes.is_some()));
    }
    day_rows
        .into_iter()
        .map(|row| {
            Ok(((IntercedentId::parse(&row.intercedent_id).map_err(corrupt)?, row.work_date), row.minutes.unwrap_or(0)))
        })
        .collect()
}

/// Stores new entries.
///
/// # Errors
/// [`Error::AlreadyExists`] when a line reference is taken meanwhile; a storage fault.
pub fn insert_entries(connection: &mut AnyConnection, entries: &[HourEntry]) -> Result<(), Error> {
    let rows: Vec<EntryRow> = entries.iter().map(row_of).collect();
    let inserted = match connection {
        AnyConnection::Postgresql(pg) => insert_rows_over_the_wire(pg, &rows),
        AnyConnection::Sqlite(sqlite) => insert_rows_in_process(sqlite, &rows),
    };
    match inserted {
        Ok(()) => Ok(()),
        Err(error) if is_unique_violation(&error) => {
            Err(Error::AlreadyExists { resource: "an hour entry of this submission".to_owned() })
        }
        Err(error) => Err(Error::internal("storing hour entries", error)),
    }
}

/// Stores rows on PostgreSQL: one INSERT per chunk of [`super::INSERT_CHUNK_ROWS`] rows whose
/// eleven columns travel as eleven arrays, so the statement's text is fixed (kept prepared,
/// parsed once) and a chunk is one round trip with eleven parameters instead of eleven per row.
fn insert_rows_over_the_wire(pg: &mut diesel::PgConnection, rows: &[EntryRow]) -> diesel::QueryResult<()> {
    use diesel::sql_types::{Array, BigInt, Bool, Date, Nullable, Text, Timestamp};
    for chunk in rows.chunks(super::INSERT_CHUNK_ROWS) {
        let column = |pick: fn(&EntryRow) -> &String| chunk.iter().map(pick).collect::<Vec<&String>>();
        let inserted: super::reused::Counted = super::reused::reused(
            diesel::sql_query(
                "WITH inserted AS ( \
                     INSERT INTO hour_entries (contract_id, id, intercedent_id, work_date, period_start, minutes, \
                                               note, corrects_id, late, submitted_by, submit_time) \
                     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::date[], $6::bigint[], \
                                          $7::text[], $8::text[], $9::boolean[], $10::text[], $11::timestamp[]) \
                     RETURNING 1 \
                 ) SELECT count(*) AS rows FROM inserted",
            )
            .bind::<Array<Text>, _>(column(|row| &row.contract_id))
            .bind::<Array<Text>, _>(column(|row| &row.id))
            .bind::<Array<Text>, _>(column(|row| &row.intercedent_id))
            .bind::<Array<Date>, _>(chunk.iter().map(|row| row.work_date).collect::<Vec<_>>())
            .bind::<Array<Date>, _>(chunk.iter().map(|row| row.period_start).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(chunk.iter().map(|row| row.minutes).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(column(|row| &row.note))
            .bind::<Array<Nullable<Text>>, _>(chunk.iter().map(|row| row.corrects_id.as_ref()).collect::<Vec<_>>())
            .bind::<Array<Bool>, _>(chunk.iter().map(|row| row.late).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(column(|row| &row.submitted_by))
            .bind::<Array<Timestamp>, _>(chunk.iter().map(|row| row.submit_time).collect::<Vec<_>>()),
        )
        .get_result(pg)?;
        inserted.expect(chunk.len())?;
    }
    Ok(())
}

/// Rows per INSERT on SQLite, largest first: each size is one statement, kept prepared, so a
/// batch costs a few statement runs instead of one per row, and nothing is parsed again.
const IN_PROCESS_INSERT_ROWS: [usize; 3] = [64, 8, 1];

/// `chrono`'s items for the text diesel stores a date and a timestamp as on SQLite (`%F`,
/// `%F %T%.f`), parsed once instead of on every value: the same text, written faster.
static STORED_TEXT_ITEMS: std::sync::LazyLock<
    Result<[Vec<chrono::format::Item<'static>>; 2], chrono::format::ParseError>,
> = std::sync::LazyLock::new(|| {
    Ok([
        chrono::format::StrftimeItems::new("%F").parse_to_owned()?,
        chrono::format::StrftimeItems::new("%F %T%.f").parse_to_owned()?,
    ])
});

/// Stores rows on SQLite: multi-row INSERTs of the sizes in [`IN_PROCESS_INSERT_ROWS`].
fn insert_rows_in_process(sqlite: &mut diesel::SqliteConnection, rows: &[EntryRow]) -> diesel::QueryResult<()> {
    use diesel::sql_types::{BigInt, Bool, Nullable, Text};
    let [date_items, time_items] =
        STORED_TEXT_ITEMS.as_ref().map_err(|error| diesel::result::Error::SerializationError(Box::new(*error)))?;
    let mut rest = rows;
    while !rest.is_empty() {
        let size = IN_PROCESS_INSERT_ROWS.into_iter().find(|size| rest.len() >= *size).unwrap_or(rest.len());
        let (chunk, tail) = rest.split_at(size);
        let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let mut query = diesel::sql_query(format!(
            "INSERT INTO hour_entries (contract_id, id, intercedent_id, work_date, period_start, minutes, note, \
             corrects_id, late, submitted_by, submit_time) VALUES {values} RETURNING 1 AS rows"
        ))
        .into_boxed::<diesel::sqlite::Sqlite>();
        for row in chunk {
            query = query
                .bind::<Text, _>(&row.contract_id)
                .bind::<Text, _>(&row.id)
                .bind::<Text, _>(&row.intercedent_id)
                .bind::<Text, _>(row.work_date.format_with_items(date_items.iter()).to_string())
                .bind::<Text, _>(row.period_start.format_with_items(date_items.iter()).to_string())
                .bind::<BigInt, _>(row.minutes)
                .bind::<Text, _>(&row.note)
                .bind::<Nullable<Text>, _>(&row.corrects_id)
                .bind::<Bool, _>(row.late)
                .bind::<Text, _>(&row.submitted_by)
                .bind::<Text, _>(row.submit_time.format_with_items(time_items.iter()).to_string());
        }
        let inserted: Vec<super::reused::Counted> = super::reused::reused(query).load(sqlite)?;
        super::reused::expect_changed(Some(inserted.len()), chunk.len())?;
        rest = tail;
    }
    Ok(())
}

/// Reads the entries with these ids that exist, in no particular order.
///
/// # Errors
/// A storage fault.
pub fn get_entries(
    connection: &mut AnyConnection,
    contract: &ContractId,
    ids: &[LineReference],
) -> Result<Vec<HourEntry>, Error> {
    let ids: Vec<&str> = ids.iter().map(LineReference::as_str).collect::<HashSet<_>>().into_iter().collect();
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::INSERT_CHUNK_ROWS) {
        let rows: Vec<EntryWithDecision> = match &mut *connection {
            AnyConnection::Postgresql(pg) => {
                let rows: Vec<FoundEntry> =
                    super::reused::by_name_on_postgresql(pg, ENTRIES_BY_ID_ON_POSTGRESQL, contract.as_str(), chunk)
                        .context("reading hour entries")?;
                rows.into_iter().map(FoundEntry::split).collect::<Result<_, _>>()?
            }
            AnyConnection::Sqlite(sqlite) => super::reused::reused(
                entries_with_decisions!()
                    .filter(hour_entries::contract_id.eq(contract.as_str()))
                    .filter(hour_entries::id.eq_any(super::reused::padded(chunk)))
                    .select(entry_columns!()),
            )
            .load(sqlite)
            .context("reading hour entries")?,
        };
        for row in rows {
            found.push(into_entry(row)?);
        }
    }
    Ok(found)
}

/// [`get_entries`] on PostgreSQL: each id one lookup by the primary keys of the entries and of
/// the decisions, whatever the server's statistics say. Written as `contract_id = $1 AND id =
/// ANY($2)`, a planner whose statistics were taken while the table was small (autovacuum had
/// not analysed it yet) read every entry of the contract through the index by period and
/// filtered them: a scan growing with the contract, on every submission. A lateral subquery
/// that is not flattened (`OFFSET 0`) can only be run once per id, with the id as a parameter,
/// and then the primary key is the one index that matches it.
const ENTRIES_BY_ID_ON_POSTGRESQL: &str = "\
    SELECT e.contract_id, e.id, e.intercedent_id, e.work_date, e.period_start, e.minutes, e.note, \
           e.corrects_id, e.late, e.submitted_by, e.submit_time, \
           d.verdict, d.decided_by, d.decide_time, d.reason \
    FROM unnest($2::text[]) AS wanted(id) \
    CROSS JOIN LATERAL ( \
        SELECT * FROM hour_entries \
        WHERE hour_entries.contract_id = $1 AND hour_entries.id = wanted.id OFFSET 0 \
    ) AS e \
    LEFT JOIN LATERAL ( \
        SELECT * FROM hour_decisions \
        WHERE hour_decisions.contract_id = $1 AND hour_decisions.entry_id = wanted.id OFFSET 0 \
    ) AS d ON TRUE";

/// A row of [`ENTRIES_BY_ID_ON_POSTGRESQL`].
#[derive(QueryableByName)]
struct FoundEntry {
    #[diesel(embed)]
    entry: EntryRow,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    verdict: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    decided_by: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
    decide_time: Option<chrono::NaiveDateTime>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    reason: Option<String>,
}

impl FoundEntry {
    /// The entry and its decision, if it has one.
    fn split(self) -> Result<EntryWithDecision, Error> {
        let decision = match (self.verdict, self.decided_by, self.decide_time) {
            (Some(verdict), Some(decided_by), Some(decide_time)) => {
                Some(DecisionRow { verdict, decided_by, decide_time, reason: self.reason })
            }
            (None, None, None) => None,
            _ => return Err(corrupt(format!("the decision on entry {} is incomplete", self.entry.id))),
        };
        Ok((self.entry, decision))
    }
}

/// Reads one entry.
///
/// # Errors
/// [`Error::NotFound`]; a storage fault.
pub fn get_entry(
    connection: &mut AnyConnection,
    contract: &ContractId,
    id: &LineReference,
) -> Result<HourEntry, Error> {
    get_entries(connection, contract, std::slice::from_ref(id))?
        .pop()
        .ok_or_else(|| Error::NotFound { resource: hour_entry_name(contract, id) })
}

/// Records one decision on each of `ids` (see `insert_decisions!`).
///
/// # Errors
/// A storage fault (a second decision on one entry is refused by the primary key).
pub fn insert_decisions(
    connection: &mut AnyConnection,
    contract: &ContractId,
    ids: &[LineReference],
    decision: &Decision,
) -> Result<(), Error> {
    let inserted = insert_decisions!(connection, hour_decisions, entry_id, contract, ids, decision);
    inserted.context("recording decisions")
}

/// The minutes an entry holds with its corrections in the worst case: verified minutes and
/// pending negative corrections, rejected ones and pending positive ones left out (any pending
/// correction may still be rejected).
///
/// # Errors
/// A storage fault.
pub fn net_minutes_lower_bound(
    connection: &mut AnyConnection,
    contract: &ContractId,
    id: &LineReference,
) -> Result<i64, Error> {
    let rows: Vec<(i64, Option<String>)> = entries_with_decisions!()
        // Each arm names the contract, so each is one index lookup (SQLite's planner, without
        // statistics, would otherwise read all the contract's entries).
        .filter(
            hour_entries::contract_id
                .eq(contract.as_str().to_owned())
                .and(hour_entries::id.eq(id.as_str().to_owned()))
                .or(hour_entries::contract_id
                    .eq(contract.as_str().to_owned())
                    .and(hour_entries::corrects_id.eq(id.as_str().to_owned()))),
        )
        .select((hour_entries::minutes, hour_decisions::verdict.nullable()))
        .load(connection)
        .context("reading an entry's minutes")?;
    let mut net = 0_i64;
    for (minutes, verdict) in rows {
        let verdict = verdict.as_deref().map(Verdict::parse).transpose().map_err(corrupt)?;
        if crate::domain::hours::counts_toward_net_lower_bound(minutes, verdict) {
            net = net.saturating_add(minutes);
        }
    }
    Ok(net)
}

/// Lists a contract's entries ordered by id.
///
/// # Errors
/// A storage fault.
pub fn list_entries(
    connection: &mut AnyConnection,
    contract: &ContractId,
    filter: &EntryFilter,
    page: &PageRequest,
) -> Result<Page<HourEntry>, Error> {
    let mut query = entries_with_decisions!()
        .filter(hour_entries::contract_id.eq(contract.as_str().to_owned()))
        .select(entry_columns!())
        .order(hour_entries::id.asc())
        .limit(i64::from(page.size.get()) + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(hour_entries::id.gt(after.clone()));
    }
    if let Some(intercedent) = &filter.intercedent {
        query = query.filter(hour_entries::intercedent_id.eq(intercedent.as_str().to_owned()));
    }
    if let Some(period_start) = filter.period_start {
        query = query.filter(hour_entries::period_start.eq(period_start));
    }
    query = match filter.state {
        None => query,
        Some(EntryState::Submitted) => query.filter(hour_decisions::verdict.is_null()),
        Some(EntryState::Verified) => query.filter(hour_decisions::verdict.eq(Verdict::Verified.as_str())),
        Some(EntryState::Rejected) => query.filter(hour_decisions::verdict.eq(Verdict::Rejected.as_str())),
    };
    let rows: Vec<EntryWithDecision> = query.load(connection).context("listing hour entries")?;
    let items = rows.into_iter().map(into_entry).collect::<Result<Vec<_>, _>>()?;
    Ok(paginate(items, page, |entry| entry.id.as_str().to_owned()))
}

/// A row of [`period_day_sums`]: verdict, audit entry of the decision, intercedent, day,
/// minutes, entries.
type DaySumRow = (Option<String>, Option<i64>, String, NaiveDate, Option<i64>, i64);

/// Sums a period's entries per state, decision, intercedent and day in the database, and names
/// the statement that took each verified sum in (`domain::inputs`).
///
/// # Errors
/// A storage fault.
pub fn period_day_sums(
    connection: &mut AnyConnection,
    contract: &ContractId,
    period_start: NaiveDate,
) -> Result<Vec<DaySum>, Error> {
    let issued = super::statements::issued_bounds(connection, contract)?;
    let bounds: Vec<_> = issued.iter().map(|(_, bounds)| *bounds).collect();
    let rows: Vec<DaySumRow> = entries_with_decisions!()
        .filter(hour_entries::contract_id.eq(contract.as_str().to_owned()))
        .filter(hour_entries::period_start.eq(period_start))
        .group_by((
            hour_decisions::verdict,
            hour_decisions::decision_seq,
            hour_entries::intercedent_id,
            hour_entries::work_date,
        ))
        .select((
            hour_decisions::verdict.nullable(),
            hour_decisions::decision_seq.nullable(),
            hour_entries::intercedent_id,
            hour_entries::work_date,
            minutes_sum(),
            diesel::dsl::count_star(),
        ))
        .load(connection)
        .context("summing hour entries")?;
    rows.into_iter()
        .map(|(verdict, decided_in, intercedent, work_date, minutes, entries)| {
            let verdict = verdict.as_deref().map(Verdict::parse).transpose().map_err(corrupt)?;
            let taken_by = match (verdict, decided_in) {
                (Some(Verdict::Verified), Some(decided_in)) => {
                    InputBounds::taken_by(&bounds, period_start, decided_in).map(|index| issued[index].0)
                }
                _ => None,
            };
            let state = EntryState::of(verdict);
            Ok(DaySum {
                state,
                taken_by,
                intercedent: IntercedentId::parse(&intercedent).map_err(corrupt)?,
                work_date,
                minutes: minutes.unwrap_or(0),
                entries,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    use diesel::connection::{InstrumentationEvent, SimpleConnection};
    use diesel_migrations::MigrationHarness;

    use super::*;
    use crate::domain::{Action, Principal, RequestId};
    use crate::storage::Mutation;

    /// What a connection prepared for its cache, and the statements it started since the last
    /// look.
    #[derive(Default)]
    struct Seen {
        cached: HashSet<String>,
        started: Vec<String>,
    }

    fn watch(seen: &Arc<Mutex<Seen>>) -> impl FnMut(InstrumentationEvent<'_>) + Send + 'static {
        let seen = Arc::clone(seen);
        move |event: InstrumentationEvent<'_>| {
            let mut seen = seen.lock().unwrap();
            match event {
                InstrumentationEvent::CacheQuery { sql, .. } => {
                    seen.cached.insert(sql.to_owned());
                }
                InstrumentationEvent::StartQuery { query, .. } => {
                    let text = query.to_string();
                    let sql = text.split(" -- binds: ").next().unwrap_or_default().to_owned();
                    seen.started.push(sql);
                }
                _ => {}
            }
        }
    }

    /// An hour of work, line `line-{n}` of `contract`, `days_in` days after 1 January 2025, in
    /// the period that starts on 1 January 2025.
    fn hour_line(contract: &ContractId, n: usize, intercedent: &str, days_in: u64) -> HourEntry {
        HourEntry {
            contract_id: contract.clone(),
            id: LineReference::parse(&format!("line-{n}")).unwrap(),
            intercedent: IntercedentId::parse(intercedent).unwrap(),
            work_date: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new(days_in),
            period_start: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            minutes: Minutes::new(60),
            note: String::new(),
            corrects: None,
            late: false,
            submitted_by: "billing".to_owned(),
            submit_time: chrono::Utc::now(),
            decision: None,
        }
    }

    /// The writer's statements for new entries and for the audit log are prepared once per
    /// connection and then only run: a second round starts nothing that is not in the cache,
    /// and adds nothing to it (diesel prepares afresh what it is not told to keep, and an
    /// executed statement is not kept: see `storage::reused`).
    fn check_write_statements_are_kept(mut connection: AnyConnection, seen: &Arc<Mutex<Seen>>) {
        let contract = ContractId::parse("kept").unwrap();
        let entry = |n: usize| hour_line(&contract, n, "anna", 1);
        // Rounds of 1 line and of 73 (64 + 8 + 1 on SQLite), each with its audit entry.
        let mut next = 0;
        let mut round = |connection: &mut AnyConnection| {
            let mut seqs = Vec::new();
            for lines in [1, 73] {
                let entries: Vec<HourEntry> = (next..next + lines).map(entry).collect();
                next += lines;
                insert_entries(connection, &entries).unwrap();
                let id = RequestId::parse(&format!("kept-{next}")).unwrap();
                let mutation =
                    Mutation::new(Principal::local_admin(), id, Action::SubmitHours, &next, chrono::Utc::now())
                        .unwrap();
                seqs.push(super::super::audit::append_and_remember(connection, &mutation, "kept", "{}").unwrap());
            }
            seqs.push(super::super::audit::next_in_sequence(connection, "audit_log").unwrap());
            seqs
        };
        let first = round(&mut connection);
        let cached_first = {
            let mut seen = seen.lock().unwrap();
            seen.started.clear();
            seen.cached.len()
        };
        let second = round(&mut connection);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.cached.len(), cached_first, "a statement was prepared again");
        let uncached: Vec<&String> = seen.started.iter().filter(|sql| !seen.cached.contains(*sql)).collect();
        assert!(uncached.is_empty(), "run without being kept: {uncached:?}");
        let kept = seen.started.iter().filter(|sql| seen.cached.contains(*sql)).count();
        assert!(kept >= 5, "the second round ran {kept} kept statements");
        assert_eq!(second, first.iter().map(|seq| seq + 3).collect::<Vec<_>>());
        drop(seen);
        let stored = get_entries(&mut connection, &contract, &[LineReference::parse("line-147").unwrap()]).unwrap();
        assert_eq!(stored.len(), 1, "the last line of the second round is stored");
    }

    #[test]
    fn write_statements_are_kept_on_sqlite() {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut sqlite = diesel::SqliteConnection::establish(":memory:").unwrap();
        sqlite.run_pending_migrations(super::super::SQLITE_MIGRATIONS).unwrap();
        sqlite.batch_execute("PRAGMA foreign_keys = OFF").unwrap();
        sqlite.set_instrumentation(watch(&seen));
        check_write_statements_are_kept(AnyConnection::Sqlite(sqlite), &seen);
    }

    /// On PostgreSQL the writer's lookups by name — entries with their decisions, intercedents
    /// with their rates — go through the primary keys, planned for their parameters or kept
    /// generic: entries before their table was ever analysed and while the server's statistics
    /// lag far behind it (analysed with 20 entries and no decisions, read with 4,000 entries more
    /// and 2,000 decisions), intercedents once a contract has 1,024 of them; and they find
    /// exactly what was asked for. (A table of a page or none is rightly read whole: the
    /// decisions and the intercedents are checked once they have grown.)
    #[test]
    fn writer_lookups_go_by_primary_key_whatever_the_statistics_or_plan_cache_on_postgresql() {
        super::super::test_support::on_scratch_postgres("by_key", |mut pg| {
            pg.run_pending_migrations(super::super::POSTGRES_MIGRATIONS).unwrap();
            // No contract rows: foreign keys are not what this checks.
            pg.batch_execute(
                "SET session_replication_role = replica; \
                 CREATE FUNCTION plan_of(statement text) RETURNS SETOF text LANGUAGE plpgsql AS $$ \
                 DECLARE line text; BEGIN FOR line IN EXECUTE statement LOOP RETURN NEXT line; END LOOP; END $$",
            )
            .unwrap();
            pg.batch_execute(&format!("PREPARE found(text, text[]) AS {ENTRIES_BY_ID_ON_POSTGRESQL}")).unwrap();
            pg.batch_execute(&format!(
                "PREPARE rated(text, text[]) AS {}",
                super::super::contracts::INTERCEDENTS_WITH_RATES_ON_POSTGRESQL
            ))
            .unwrap();
            let intercedents = |pg: &mut diesel::PgConnection, numbers: std::ops::Range<usize>| {
                pg.batch_execute(&format!(
                    "INSERT INTO intercedents SELECT 'big', 'int-' || n, now() FROM generate_series({}, {}) AS n; \
                     INSERT INTO hourly_rates SELECT 'big', 'int-' || n, DATE '2025-01-01' + k * 31, 2500 + k, now() \
                         FROM generate_series({}, {}) AS n, generate_series(0, 1) AS k",
                    numbers.start,
                    numbers.end - 1,
                    numbers.start,
                    numbers.end - 1
                ))
                .unwrap();
            };
            intercedents(&mut pg, 0..2);
            #[derive(QueryableByName)]
            struct PlanLine {
                #[diesel(sql_type = diesel::sql_types::Text)]
                line: String,
            }
            let plan = |pg: &mut diesel::PgConnection, mode: &str, statement: &str| {
                pg.batch_execute(&format!("SET plan_cache_mode = {mode}")).unwrap();
                let lines: Vec<PlanLine> = diesel::sql_query(format!(
                    "SELECT plan_of('EXPLAIN EXECUTE {statement}(''big'', ARRAY[''line-3'', ''line-7'', ''int-1'', \
                     ''int-5'', ''missing''])') AS line"
                ))
                .load(pg)
                .unwrap();
                lines.into_iter().map(|row| row.line).collect::<Vec<_>>().join("\n")
            };
            let contract = ContractId::parse("big").unwrap();
            let mut connection = AnyConnection::Postgresql(pg);
            let store = |connection: &mut AnyConnection, lines: std::ops::Range<usize>| {
                let entries: Vec<HourEntry> =
                    lines.map(|n| hour_line(&contract, n, &format!("int-{}", n % 50), (n % 300) as u64)).collect();
                insert_entries(connection, &entries).unwrap();
            };
            let check = |connection: &mut AnyConnection, stage: &str, grown: bool| {
                let AnyConnection::Postgresql(pg) = connection else { unreachable!() };
                for mode in ["force_custom_plan", "force_generic_plan"] {
                    let found = plan(pg, mode, "found");
                    assert!(found.contains("hour_entries_pkey"), "{stage}, {mode}: {found}");
                    assert!(
                        !found.contains("hour_entries_by_") && !found.contains("Seq Scan on hour_entries"),
                        "{stage}, {mode}: {found}"
                    );
                    let rated = plan(pg, mode, "rated");
                    if grown {
                        assert!(found.contains("hour_decisions_pkey"), "{stage}, {mode}: {found}");
                        assert!(!found.contains("Seq Scan on hour_decisions"), "{stage}, {mode}: {found}");
                        assert!(rated.contains("intercedents_pkey"), "{stage}, {mode}: {rated}");
                        assert!(rated.contains("hourly_rates_pkey"), "{stage}, {mode}: {rated}");
                        assert!(!rated.contains("Seq Scan"), "{stage}, {mode}: {rated}");
                    }
                }
                let ids = ["line-3", "line-7", "line-3", "missing"].map(|id| LineReference::parse(id).unwrap());
                let mut found: Vec<String> = get_entries(connection, &contract, &ids)
                    .unwrap()
                    .into_iter()
                    .map(|entry| entry.id.as_str().to_owned())
                    .collect();
                found.sort();
                assert_eq!(found, ["line-3", "line-7"], "{stage}");
                let named = ["int-1", "int-5", "nobody"].map(str::to_owned).to_vec();
                let rates = intercedents_with_rates(connection, &contract, named).unwrap();
                let mut known: Vec<&str> = rates.keys().map(IntercedentId::as_str).collect();
                known.sort_unstable();
                let expected: &[&str] = if grown { &["int-1", "int-5"] } else { &["int-1"] };
                assert_eq!(known, expected, "{stage}");
            };
            store(&mut connection, 0..20);
            check(&mut connection, "never analysed", false);
            let AnyConnection::Postgresql(pg) = &mut connection else { unreachable!() };
            pg.batch_execute(
                "ANALYZE hour_entries; ANALYZE hour_decisions; ANALYZE intercedents; ANALYZE hourly_rates",
            )
            .unwrap();
            // Intercedents are registered, not streamed: their statistics are taken as current.
            intercedents(pg, 2..1_024);
            pg.batch_execute("ANALYZE intercedents; ANALYZE hourly_rates").unwrap();
            store(&mut connection, 20..4_020);
            let verified = Decision {
                verdict: Verdict::Verified,
                decided_by: "gemeente".to_owned(),
                decide_time: chrono::Utc::now(),
                reason: None,
            };
            let decided: Vec<LineReference> =
                (5..2_005).map(|n| LineReference::parse(&format!("line-{n}")).unwrap()).collect();
            insert_decisions(&mut connection, &contract, &decided, &verified).unwrap();
            check(&mut connection, "analysed while small", true);
            let seven = get_entry(&mut connection, &contract, &LineReference::parse("line-7").unwrap()).unwrap();
            assert_eq!(seven.decision.map(|decision| decision.verdict), Some(Verdict::Verified));
            let three = get_entry(&mut connection, &contract, &LineReference::parse("line-3").unwrap()).unwrap();
            assert_eq!(three.decision, None);
        });
    }

    #[test]
    fn write_statements_are_kept_on_postgresql() {
        super::super::test_support::on_scratch_postgres("kept", |mut pg| {
            let seen = Arc::new(Mutex::new(Seen::default()));
            pg.run_pending_migrations(super::super::POSTGRES_MIGRATIONS).unwrap();
            // No contract or intercedent rows: foreign keys are not what this checks.
            pg.batch_execute("SET session_replication_role = replica").unwrap();
            pg.set_instrumentation(watch(&seen));
            check_write_statements_are_kept(AnyConnection::Postgresql(pg), &seen);
        });
    }
}
