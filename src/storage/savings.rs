//! Savings records and their decisions. Both are only ever inserted.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::contracts::paginate;
use super::schema::{savings_decisions, savings_records};
use super::{AnyConnection, from_stored_time, is_unique_violation, to_stored_time};
use crate::domain::Page;
use crate::domain::hours::{Decision, EntryState, Verdict};
use crate::domain::names::savings_name;
use crate::domain::savings::{Certainty, Party, SavingsKind, SavingsRecord};
use crate::domain::{Cents, ContractId, LineReference, PageRequest};
use crate::error::{Context, Error};

#[derive(Insertable, Queryable)]
#[diesel(table_name = savings_records, treat_none_as_default_value = false)]
struct RecordRow {
    contract_id: String,
    id: String,
    period_start: NaiveDate,
    amount_cents: i64,
    kind: String,
    candidate: Option<String>,
    certainty: String,
    note: String,
    corrects_id: Option<String>,
    late: bool,
    submitted_by: String,
    submitted_party: String,
    submit_time: chrono::NaiveDateTime,
}

#[derive(Queryable)]
struct DecisionRow {
    verdict: String,
    decided_by: String,
    decide_time: chrono::NaiveDateTime,
    reason: Option<String>,
}

fn corrupt(detail: String) -> Error {
    Error::internal("reading a stored savings record", detail)
}

fn kind_name(kind: SavingsKind) -> &'static str {
    match kind {
        SavingsKind::FullOutflow => "FULL_OUTFLOW",
        SavingsKind::PartialOutflow => "PARTIAL_OUTFLOW",
    }
}

fn certainty_name(certainty: Certainty) -> &'static str {
    match certainty {
        Certainty::Provisional => "PROVISIONAL",
        Certainty::Definitive => "DEFINITIVE",
    }
}

fn into_record((row, decision): (RecordRow, Option<DecisionRow>)) -> Result<SavingsRecord, Error> {
    let kind = match row.kind.as_str() {
        "FULL_OUTFLOW" => SavingsKind::FullOutflow,
        "PARTIAL_OUTFLOW" => SavingsKind::PartialOutflow,
        other => return Err(corrupt(format!("unknown kind {other:?}"))),
    };
    let certainty = match row.certainty.as_str() {
        "PROVISIONAL" => Certainty::Provisional,
        "DEFINITIVE" => Certainty::Definitive,
        other => return Err(corrupt(format!("unknown certainty {other:?}"))),
    };
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
    Ok(SavingsRecord {
        contract_id: ContractId::parse(&row.contract_id).map_err(corrupt)?,
        id: LineReference::parse(&row.id).map_err(corrupt)?,
        period_start: row.period_start,
        amount: Cents::from_stored(row.amount_cents),
        kind,
        candidate: row.candidate,
        certainty,
        note: row.note,
        corrects: row.corrects_id.as_deref().map(LineReference::parse).transpose().map_err(corrupt)?,
        late: row.late,
        submitted_by: row.submitted_by,
        submitted_party: Party::parse(&row.submitted_party).map_err(corrupt)?,
        submit_time: from_stored_time(row.submit_time),
        decision,
    })
}

/// Records with their decisions (if any).
macro_rules! records_with_decisions {
    () => {
        savings_records::table.left_join(
            savings_decisions::table.on(savings_decisions::contract_id
                .eq(savings_records::contract_id)
                .and(savings_decisions::record_id.eq(savings_records::id))),
        )
    };
}

/// Columns of a record with its decision.
macro_rules! record_columns {
    () => {
        (
            (
                savings_records::contract_id,
                savings_records::id,
                savings_records::period_start,
                savings_records::amount_cents,
                savings_records::kind,
                savings_records::candidate,
                savings_records::certainty,
                savings_records::note,
                savings_records::corrects_id,
                savings_records::late,
                savings_records::submitted_by,
                savings_records::submitted_party,
                savings_records::submit_time,
            ),
            (
                savings_decisions::verdict,
                savings_decisions::decided_by,
                savings_decisions::decide_time,
                savings_decisions::reason,
            )
                .nullable(),
        )
    };
}

/// Stores a new record.
///
/// # Errors
/// [`Error::AlreadyExists`] when its reference is taken meanwhile; a storage fault.
pub fn insert_record(connection: &mut AnyConnection, record: &SavingsRecord) -> Result<(), Error> {
    let row = RecordRow {
        contract_id: record.contract_id.as_str().to_owned(),
        id: record.id.as_str().to_owned(),
        period_start: record.period_start,
        amount_cents: record.amount.cents(),
        kind: kind_name(record.kind).to_owned(),
        candidate: record.candidate.clone(),
        certainty: certainty_name(record.certainty).to_owned(),
        note: record.note.clone(),
        corrects_id: record.corrects.as_ref().map(|id| id.as_str().to_owned()),
        late: record.late,
        submitted_by: record.submitted_by.clone(),
        submitted_party: record.submitted_party.as_str().to_owned(),
        submit_time: to_stored_time(record.submit_time),
    };
    match diesel::insert_into(savings_records::table).values(&row).execute(connection) {
        Ok(_) => Ok(()),
        Err(error) if is_unique_violation(&error) => {
            Err(Error::AlreadyExists { resource: savings_name(&record.contract_id, &record.id) })
        }
        Err(error) => Err(Error::internal("storing a savings record", error)),
    }
}

/// Reads the records with these ids that exist, in no particular order.
///
/// # Errors
/// A storage fault.
pub fn get_records(
    connection: &mut AnyConnection,
    contract: &ContractId,
    ids: &[LineReference],
) -> Result<Vec<SavingsRecord>, Error> {
    let ids: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
    let rows: Vec<(RecordRow, Option<DecisionRow>)> = records_with_decisions!()
        .filter(savings_records::contract_id.eq(contract.as_str().to_owned()))
        .filter(savings_records::id.eq_any(ids))
        .select(record_columns!())
        .load(connection)
        .context("reading savings records")?;
    rows.into_iter().map(into_record).collect()
}

/// Reads one record.
///
/// # Errors
/// [`Error::NotFound`]; a storage fault.
pub fn get_record(
    connection: &mut AnyConnection,
    contract: &ContractId,
    id: &LineReference,
) -> Result<SavingsRecord, Error> {
    get_records(connection, contract, std::slice::from_ref(id))?
        .pop()
        .ok_or_else(|| Error::NotFound { resource: savings_name(contract, id) })
}

/// Records one decision on each of `ids` (see `insert_decisions!`).
///
/// # Errors
/// A storage fault (a second decision on one record is refused by the primary key).
pub fn insert_decisions(
    connection: &mut AnyConnection,
    contract: &ContractId,
    ids: &[LineReference],
    decision: &Decision,
) -> Result<(), Error> {
    let inserted = insert_decisions!(connection, savings_decisions, record_id, contract, ids, decision);
    inserted.context("recording decisions on savings")
}

/// The amount a record holds with its corrections in the worst case: verified amounts and
/// pending negative corrections (any pending correction may still be rejected).
///
/// # Errors
/// A storage fault.
pub fn net_amount_lower_bound(
    connection: &mut AnyConnection,
    contract: &ContractId,
    id: &LineReference,
) -> Result<Cents, Error> {
    let rows: Vec<(i64, Option<String>)> = records_with_decisions!()
        // Each arm names the contract, so each is one index lookup (see `hours`).
        .filter(
            savings_records::contract_id
                .eq(contract.as_str().to_owned())
                .and(savings_records::id.eq(id.as_str().to_owned()))
                .or(savings_records::contract_id
                    .eq(contract.as_str().to_owned())
                    .and(savings_records::corrects_id.eq(id.as_str().to_owned()))),
        )
        .select((savings_records::amount_cents, savings_decisions::verdict.nullable()))
        .load(connection)
        .context("reading a record's amount")?;
    let mut net = 0_i64;
    for (cents, verdict) in rows {
        let verdict = verdict.as_deref().map(Verdict::parse).transpose().map_err(corrupt)?;
        if crate::domain::hours::counts_toward_net_lower_bound(cents, verdict) {
            net = net.saturating_add(cents);
        }
    }
    Ok(Cents::from_stored(net))
}

/// Lists a contract's records ordered by id, optionally of one period and state.
///
/// # Errors
/// A storage fault.
pub fn list_records(
    connection: &mut AnyConnection,
    contract: &ContractId,
    period_start: Option<NaiveDate>,
    state: Option<EntryState>,
    page: &PageRequest,
) -> Result<Page<SavingsRecord>, Error> {
    let mut query = records_with_decisions!()
        .filter(savings_records::contract_id.eq(contract.as_str().to_owned()))
        .select(record_columns!())
        .order(savings_records::id.asc())
        .limit(i64::from(page.size.get()) + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(savings_records::id.gt(after.clone()));
    }
    if let Some(period_start) = period_start {
        query = query.filter(savings_records::period_start.eq(period_start));
    }
    query = match state {
        None => query,
        Some(EntryState::Submitted) => query.filter(savings_decisions::verdict.is_null()),
        Some(EntryState::Verified) => query.filter(savings_decisions::verdict.eq(Verdict::Verified.as_str())),
        Some(EntryState::Rejected) => query.filter(savings_decisions::verdict.eq(Verdict::Rejected.as_str())),
    };
    let rows: Vec<(RecordRow, Option<DecisionRow>)> = query.load(connection).context("listing savings records")?;
    let items = rows.into_iter().map(into_record).collect::<Result<Vec<_>, _>>()?;
    Ok(paginate(items, page, |record| record.id.as_str().to_owned()))
}

/// Sums of a period's records per state: (state, records, cents).
///
/// # Errors
/// A storage fault.
pub fn period_sums(
    connection: &mut AnyConnection,
    contract: &ContractId,
    period_start: NaiveDate,
) -> Result<Vec<(EntryState, i64, Cents)>, Error> {
    let rows: Vec<(Option<String>, i64, Option<i64>)> = records_with_decisions!()
        .filter(savings_records::contract_id.eq(contract.as_str().to_owned()))
        .filter(savings_records::period_start.eq(period_start))
        .group_by(savings_decisions::verdict)
        .select((
            savings_decisions::verdict.nullable(),
            diesel::dsl::count_star(),
            diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>(
                "CAST(SUM(savings_records.amount_cents) AS BIGINT)",
            ),
        ))
        .load(connection)
        .context("summing savings")?;
    let mut by_state: Vec<(EntryState, i64, Cents)> =
        EntryState::ALL.iter().map(|&state| (state, 0, Cents::ZERO)).collect();
    for (verdict, count, sum) in rows {
        let state = EntryState::of(verdict.as_deref().map(Verdict::parse).transpose().map_err(corrupt)?);
        if let Some((_, records, amount)) = by_state.iter_mut().find(|(each, _, _)| *each == state) {
            *records += count;
            *amount = amount
                .checked_add(Cents::from_stored(sum.unwrap_or(0)))
                .ok_or_else(|| Error::internal("summing savings", "an amount overflows"))?;
        }
    }
    Ok(by_state)
}
