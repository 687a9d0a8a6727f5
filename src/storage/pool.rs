//! Candidates and their events. Both are only ever inserted.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;

use super::contracts::paginate;
use super::schema::{candidate_events, candidates};
use super::{AnyConnection, from_stored_time, is_unique_violation, to_stored_time};
use crate::domain::names::candidate_name;
use crate::domain::pool::{Arrangement, Candidate, CandidateEvent, EventKind};
use crate::domain::{ContractId, Page, PageRequest};
use crate::error::{Context, Error};

/// Candidates read per query when a whole pool is read: a pool of any size is read in pages of
/// this many, never cut off.
pub const POOL_PAGE_ROWS: i64 = 10_000;

type CandidateRow = (String, String, i32, NaiveDate, String, chrono::NaiveDateTime);
type EventRow = (String, String, NaiveDate, String, String, chrono::NaiveDateTime);

fn corrupt(detail: String) -> Error {
    Error::internal("reading a stored candidate", detail)
}

fn candidates_with_events(
    connection: &mut AnyConnection,
    contract: &ContractId,
    rows: Vec<CandidateRow>,
) -> Result<Vec<Candidate>, Error> {
    let ids: Vec<String> = rows.iter().map(|row| row.1.clone()).collect();
    let mut events: HashMap<String, Vec<CandidateEvent>> = HashMap::new();
    for chunk in ids.chunks(super::INSERT_CHUNK_ROWS) {
        let event_rows: Vec<EventRow> = candidate_events::table
            .filter(candidate_events::contract_id.eq(contract.as_str().to_owned()))
            .filter(candidate_events::candidate_id.eq_any(chunk.to_vec()))
            .order((candidate_events::candidate_id.asc(), candidate_events::seq.asc()))
            .select((
                candidate_events::candidate_id,
                candidate_events::kind,
                candidate_events::event_date,
                candidate_events::detail,
                candidate_events::recorded_by,
                candidate_events::record_time,
            ))
            .load(connection)
            .context("reading candidate events")?;
        for (candidate, kind, date, detail, recorded_by, record_time) in event_rows {
            events.entry(candidate).or_default().push(CandidateEvent {
                kind: EventKind::parse(&kind).map_err(corrupt)?,
                date,
                detail,
                recorded_by,
                record_time: from_stored_time(record_time),
            });
        }
    }
    rows.into_iter()
        .map(|(contract_id, id, arrangement, registration_date, registered_by, create_time)| {
            let mut story = events.remove(&id).unwrap_or_default();
            story.sort_by_key(|event| event.date);
            Ok(Candidate {
                contract_id: ContractId::parse(&contract_id).map_err(corrupt)?,
                arrangement: Arrangement::parse(arrangement.into()).map_err(corrupt)?,
                id,
                registration_date,
                registered_by,
                create_time: from_stored_time(create_time),
                events: story,
            })
        })
        .collect()
}

macro_rules! candidate_columns {
    () => {
        (
            candidates::contract_id,
            candidates::id,
            candidates::arrangement,
            candidates::registration_date,
            candidates::registered_by,
            candidates::create_time,
        )
    };
}

/// Stores a new candidate.
///
/// # Errors
/// [`Error::AlreadyExists`] when the reference is registered already; a storage fault.
pub fn insert_candidate(connection: &mut AnyConnection, candidate: &Candidate) -> Result<(), Error> {
    let inserted = diesel::insert_into(candidates::table)
        .values((
            candidates::contract_id.eq(candidate.contract_id.as_str()),
            candidates::id.eq(&candidate.id),
            candidates::arrangement.eq(candidate.arrangement.number()),
            candidates::registration_date.eq(candidate.registration_date),
            candidates::registered_by.eq(&candidate.registered_by),
            candidates::create_time.eq(to_stored_time(candidate.create_time)),
        ))
        .execute(connection);
    match inserted {
        Ok(_) => Ok(()),
        Err(error) if is_unique_violation(&error) => {
            Err(Error::AlreadyExists { resource: candidate_name(&candidate.contract_id, &candidate.id) })
        }
        Err(error) => Err(Error::internal("registering a candidate", error)),
    }
}

/// Appends an event to a candidate's story as its next number.
///
/// # Errors
/// A storage fault.
pub fn insert_event(
    connection: &mut AnyConnection,
    candidate: &Candidate,
    event: &CandidateEvent,
) -> Result<(), Error> {
    let seq = i32::try_from(candidate.events.len() + 1).context("numbering a candidate event")?;
    diesel::insert_into(candidate_events::table)
        .values((
            candidate_events::contract_id.eq(candidate.contract_id.as_str()),
            candidate_events::candidate_id.eq(&candidate.id),
            candidate_events::seq.eq(seq),
            candidate_events::kind.eq(event.kind.as_str()),
            candidate_events::event_date.eq(event.date),
            candidate_events::detail.eq(&event.detail),
            candidate_events::recorded_by.eq(&event.recorded_by),
            candidate_events::record_time.eq(to_stored_time(event.record_time)),
        ))
        .execute(connection)
        .context("recording a candidate event")?;
    Ok(())
}

/// Reads one candidate with its story.
///
/// # Errors
/// [`Error::NotFound`]; a storage fault.
pub fn get_candidate(connection: &mut AnyConnection, contract: &ContractId, id: &str) -> Result<Candidate, Error> {
    let rows: Vec<CandidateRow> = candidates::table
        .filter(candidates::contract_id.eq(contract.as_str().to_owned()))
        .filter(candidates::id.eq(id.to_owned()))
        .select(candidate_columns!())
        .load(connection)
        .context("reading a candidate")?;
    candidates_with_events(connection, contract, rows)?
        .pop()
        .ok_or_else(|| Error::NotFound { resource: candidate_name(contract, id) })
}

/// Lists a contract's candidates ordered by reference.
///
/// # Errors
/// A storage fault.
pub fn list_candidates(
    connection: &mut AnyConnection,
    contract: &ContractId,
    page: &PageRequest,
) -> Result<Page<Candidate>, Error> {
    let mut query = candidates::table
        .filter(candidates::contract_id.eq(contract.as_str().to_owned()))
        .select(candidate_columns!())
        .order(candidates::id.asc())
        .limit(i64::from(page.size.get()) + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(candidates::id.gt(after.clone()));
    }
    let rows: Vec<CandidateRow> = query.load(connection).context("listing candidates")?;
    let items = candidates_with_events(connection, contract, rows)?;
    Ok(paginate(items, page, |candidate| candidate.id.clone()))
}

/// Every candidate of a contract registered on or before `until`, with their stories (for
/// the pool queries): all of them, read page by page in the order of their reference.
///
/// # Errors
/// A storage fault.
pub fn pool(connection: &mut AnyConnection, contract: &ContractId, until: NaiveDate) -> Result<Vec<Candidate>, Error> {
    let mut rows: Vec<CandidateRow> = Vec::new();
    loop {
        let mut query = candidates::table
            .filter(candidates::contract_id.eq(contract.as_str().to_owned()))
            .filter(candidates::registration_date.le(until))
            .select(candidate_columns!())
            .order(candidates::id.asc())
            .limit(POOL_PAGE_ROWS)
            .into_boxed();
        if let Some(last) = rows.last() {
            query = query.filter(candidates::id.gt(last.1.clone()));
        }
        let page: Vec<CandidateRow> = query.load(connection).context("reading the pool")?;
        let complete = i64::try_from(page.len()).map_or(true, |read| read < POOL_PAGE_ROWS);
        rows.extend(page);
        if complete {
            break;
        }
    }
    candidates_with_events(connection, contract, rows)
}
