//! Conversions between wire shapes and domain values that several methods share.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use tonic::{Request, Status};

use super::api;
use super::proto::google::r#type::Date;
use crate::domain::hours::{CostLine, Decision, EntryState};
use crate::domain::names::{intercedent_name, parse_contract_name};
use crate::domain::pool::{Composition, SocialResults};
use crate::domain::{ContractId, PageRequest, PageTokens, Principal, RawDate, Violations, parse_date};
use crate::error::Error;
use crate::service::RequestContext;

/// The caller of a request, as the access layer admitted it.
pub(super) fn context<T>(request: &Request<T>) -> Result<RequestContext, Status> {
    request.extensions().get::<Principal>().cloned().map(|principal| RequestContext { principal }).ok_or_else(|| {
        Status::from(Error::internal("reading the caller", "no principal: the access layer did not run"))
    })
}

/// A refusal of bad input, naming every violated field.
pub(super) fn invalid(violations: Violations) -> Status {
    Status::from(Error::InvalidArgument(violations))
}

/// A listing request: its page fields, and the request without them, which is what its page
/// tokens are sealed to (so a token cannot continue another contract's or another filter's
/// listing).
pub(super) trait Listing: prost::Message + Clone {
    /// The method, part of the seal.
    const METHOD: &'static str;
    /// The requested page size and token.
    fn page_fields(&self) -> (i32, &str);
    /// The request with its page size and token cleared.
    fn without_page(&self) -> Self;
}

macro_rules! listings {
    ($($message:ident => $method:literal),* $(,)?) => {$(
        impl Listing for api::$message {
            const METHOD: &'static str = $method;
            fn page_fields(&self) -> (i32, &str) {
                (self.page_size, &self.page_token)
            }
            fn without_page(&self) -> Self {
                let mut unpaged = self.clone();
                unpaged.page_size = 0;
                unpaged.page_token.clear();
                unpaged
            }
        }
    )*};
}

listings! {
    ListContractsRequest => "ListContracts",
    ListIntercedentsRequest => "ListIntercedents",
    ListHourEntriesRequest => "ListHourEntries",
    ListSavingsRequest => "ListSavings",
    ListCandidatesRequest => "ListCandidates",
    ListStatementsRequest => "ListStatements",
    ListInvoicesRequest => "ListInvoices",
    ListAuditEntriesRequest => "ListAuditEntries",
}

/// The page a listing request asks for, its token checked against the listing.
///
/// # Errors
/// Violations of `page_size` and `page_token`.
pub(super) fn page_of<M: Listing>(tokens: &PageTokens, message: &M) -> Result<PageRequest, Violations> {
    let mut scope = M::METHOD.as_bytes().to_vec();
    scope.push(0);
    scope.extend_from_slice(&message.without_page().encode_to_vec());
    let (size, token) = message.page_fields();
    tokens.request(&scope, size.into(), token)
}

/// The contract and page of a listing request, or every violation at once.
pub(super) fn parent_and_page<M: Listing>(
    tokens: &PageTokens,
    parent: &str,
    message: &M,
) -> Result<(ContractId, PageRequest), Status> {
    let mut v = Violations::new();
    let contract = v.check("parent", parse_contract_name(parent));
    let page = page_of(tokens, message).map_err(|errors| v.merge(errors)).ok();
    match (contract, page) {
        (Some(contract), Some(page)) => Ok((contract, page)),
        _ => Err(invalid(v)),
    }
}

/// The contract and first day of a period of a per-period request, or every violation at once.
pub(super) fn parent_and_period(parent: &str, period_start: Option<Date>) -> Result<(ContractId, NaiveDate), Status> {
    let mut v = Violations::new();
    let contract = v.check("parent", parse_contract_name(parent));
    let period_start = v.check("period_start", parse_date(raw_date(period_start)));
    match (contract, period_start) {
        (Some(contract), Some(period_start)) => Ok((contract, period_start)),
        _ => Err(invalid(v)),
    }
}

/// A wire date as the domain's unchecked date.
pub(super) fn raw_date(date: Option<Date>) -> Option<RawDate> {
    date.map(|date| RawDate { year: date.year, month: date.month, day: date.day })
}

/// A domain date on the wire.
pub(super) fn date(date: NaiveDate) -> Date {
    Date {
        year: date.year(),
        month: i32::try_from(date.month()).unwrap_or_default(),
        day: i32::try_from(date.day()).unwrap_or_default(),
    }
}

/// An instant on the wire.
pub(super) fn timestamp(instant: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: instant.timestamp(),
        nanos: i32::try_from(instant.timestamp_subsec_nanos()).unwrap_or_default(),
    }
}

/// Reads 1 to `max` distinct names of resources of one contract (e.g. entries to verify), each
/// checked by `parse`; violations name `field[index]`.
pub(super) fn distinct_names<T: Clone + Eq + std::hash::Hash>(
    names: &[String],
    field: &str,
    max: usize,
    contract: Option<&crate::domain::ContractId>,
    parse: impl Fn(&str) -> Result<(crate::domain::ContractId, T), String>,
    v: &mut crate::domain::Violations,
) -> Vec<T> {
    if names.is_empty() || names.len() > max {
        v.add(field, format!("must name 1 to {max} resources, got {}", names.len()));
    }
    let mut seen = std::collections::HashSet::new();
    let mut ids = Vec::with_capacity(names.len().min(max));
    for (index, name) in names.iter().take(max).enumerate() {
        let at = format!("{field}[{index}]");
        match parse(name) {
            Err(error) => v.add(at, error),
            Ok((owner, _)) if contract.is_some_and(|contract| *contract != owner) => {
                v.add(at, format!("{name} does not belong to the parent contract"));
            }
            Ok((_, id)) if !seen.insert(id.clone()) => v.add(at, format!("{name} is named twice")),
            Ok((_, id)) => ids.push(id),
        }
    }
    ids
}

/// A count on the wire's `int32` (saturating: a count never wraps negative).
pub(crate) fn count(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// The pool's composition on `day` against the target share of arrangement 3.
pub(crate) fn composition_message(day: NaiveDate, composition: &Composition, target_percent: u32) -> api::Composition {
    api::Composition {
        date: Some(date(day)),
        arrangement_1_count: count(composition.arrangement_1),
        arrangement_3_count: count(composition.arrangement_3),
        arrangement_1_share_bps: count(composition.arrangement_1_bps),
        arrangement_3_share_bps: count(composition.arrangement_3_bps),
        target_arrangement_3_percent: count(target_percent),
        target_met: composition.target_met,
    }
}

/// Social results on the wire.
pub(crate) fn social_results_message(results: &SocialResults) -> api::SocialResults {
    api::SocialResults {
        transitions_3_to_1: count(results.transitions_3_to_1),
        full_outflow: count(results.full_outflow),
        partial_outflow: count(results.partial_outflow),
    }
}

/// A cost line of `contract` on the wire.
pub(crate) fn cost_line_message(contract: &ContractId, line: &CostLine) -> api::CostLine {
    api::CostLine {
        intercedent: intercedent_name(contract, &line.intercedent),
        rate_per_hour_cents: line.rate.cents_per_hour(),
        minutes: line.minutes.get(),
        cost_cents: line.cost.cents(),
    }
}

/// A state filter of a listing: unspecified (0) filters nothing; otherwise the state that
/// `message` puts on the wire as `raw`.
pub(crate) fn state_filter<M: Into<i32>>(
    raw: i32,
    message: impl Fn(EntryState) -> M,
) -> Result<Option<EntryState>, String> {
    if raw == 0 {
        return Ok(None);
    }
    EntryState::ALL
        .into_iter()
        .find(|&state| message(state).into() == raw)
        .map(Some)
        .ok_or_else(|| format!("is not a known state: {raw}"))
}

/// The decision fields of an hour entry or a savings record: who decided, when, and why it
/// was rejected (all empty while undecided).
pub(crate) fn decision_fields(decision: Option<&Decision>) -> (String, Option<prost_types::Timestamp>, String) {
    (
        decision.map(|decision| decision.decided_by.clone()).unwrap_or_default(),
        decision.map(|decision| timestamp(decision.decide_time)),
        decision.and_then(|decision| decision.reason.clone()).unwrap_or_default(),
    )
}
