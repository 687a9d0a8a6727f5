//! `flextensie.settlement.v1.PoolService`.

use tonic::{Request, Response, Status};

use super::api;
use super::api::pool_service_server::PoolService as PoolServiceApi;
use super::convert::{
    composition_message, context, count, date, invalid, parent_and_page, raw_date, social_results_message, timestamp,
};
use crate::domain::names::{candidate_name, parse_candidate_name, parse_contract_name};
use crate::domain::pool::{Candidate, EventKind, NewCandidate, NewEvent};
use crate::domain::{ContractId, PageTokens, RequestId, Violations, parse_date};
use crate::service::{PoolService, RecordCandidateEvent, RegisterCandidate};

/// The gRPC face of [`PoolService`].
#[derive(Debug, Clone)]
pub struct PoolApi {
    service: PoolService,
    pages: PageTokens,
}

impl PoolApi {
    /// Serves `service` over gRPC; `pages` seals its listings' page tokens.
    #[must_use]
    pub fn new(service: PoolService, pages: PageTokens) -> PoolApi {
        PoolApi { service, pages }
    }
}

fn event_kind(raw: i32) -> Option<EventKind> {
    match api::CandidateEventKind::try_from(raw).ok()? {
        api::CandidateEventKind::Unspecified => None,
        api::CandidateEventKind::MotivationCheck => Some(EventKind::MotivationCheck),
        api::CandidateEventKind::TransitionTo1 => Some(EventKind::TransitionTo1),
        api::CandidateEventKind::FullOutflow => Some(EventKind::FullOutflow),
        api::CandidateEventKind::PartialOutflow => Some(EventKind::PartialOutflow),
        api::CandidateEventKind::Left => Some(EventKind::Left),
    }
}

fn event_kind_message(kind: EventKind) -> api::CandidateEventKind {
    match kind {
        EventKind::MotivationCheck => api::CandidateEventKind::MotivationCheck,
        EventKind::TransitionTo1 => api::CandidateEventKind::TransitionTo1,
        EventKind::FullOutflow => api::CandidateEventKind::FullOutflow,
        EventKind::PartialOutflow => api::CandidateEventKind::PartialOutflow,
        EventKind::Left => api::CandidateEventKind::Left,
    }
}

fn candidate_message(candidate: &Candidate) -> api::Candidate {
    api::Candidate {
        name: candidate_name(&candidate.contract_id, &candidate.id),
        arrangement: candidate.arrangement.number(),
        registration_date: Some(date(candidate.registration_date)),
        events: candidate
            .events
            .iter()
            .map(|event| api::CandidateEvent {
                kind: event_kind_message(event.kind).into(),
                date: Some(date(event.date)),
                detail: event.detail.clone(),
                recorded_by: event.recorded_by.clone(),
                record_time: Some(timestamp(event.record_time)),
            })
            .collect(),
        registered_by: candidate.registered_by.clone(),
        create_time: Some(timestamp(candidate.create_time)),
    }
}

/// A contract and a span, read from a query's fields.
fn contract_and_span(
    parent: &str,
    from: Option<super::proto::google::r#type::Date>,
    to: Option<super::proto::google::r#type::Date>,
) -> Result<(ContractId, chrono::NaiveDate, chrono::NaiveDate), Status> {
    let mut v = Violations::new();
    let contract = v.check("parent", parse_contract_name(parent));
    let from = v.check("from_date", parse_date(raw_date(from)));
    let to = v.check("to_date", parse_date(raw_date(to)));
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        v.add("to_date", format!("{to} is before from_date {from}"));
    }
    match (contract, from, to) {
        (Some(contract), Some(from), Some(to)) if v.is_empty() => Ok((contract, from, to)),
        _ => Err(invalid(v)),
    }
}

#[tonic::async_trait]
impl PoolServiceApi for PoolApi {
    async fn register_candidate(
        &self,
        request: Request<api::RegisterCandidateRequest>,
    ) -> Result<Response<api::Candidate>, Status> {
        let context = context(&request)?;
        let message = request.into_inner();
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&message.request_id));
        let contract = v.check("parent", parse_contract_name(&message.parent));
        let candidate = message.candidate.unwrap_or_default();
        let candidate = NewCandidate::parse(
            &message.candidate_id,
            candidate.arrangement.into(),
            raw_date(candidate.registration_date),
        )
        .map_err(|errors| v.merge(errors))
        .ok();
        let (Some(request_id), Some(contract), Some(candidate)) = (request_id, contract, candidate) else {
            return Err(invalid(v));
        };
        let candidate = self.service.register(&context, RegisterCandidate { request_id, contract, candidate }).await?;
        Ok(Response::new(candidate_message(&candidate)))
    }

    async fn record_candidate_event(
        &self,
        request: Request<api::RecordCandidateEventRequest>,
    ) -> Result<Response<api::Candidate>, Status> {
        let context = context(&request)?;
        let message = request.into_inner();
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&message.request_id));
        let candidate = v.check("candidate", parse_candidate_name(&message.candidate));
        let event = message.event.unwrap_or_default();
        let kind =
            v.check("event.kind", event_kind(event.kind).ok_or_else(|| "is required: which event happened".to_owned()));
        let new_event = kind.and_then(|kind| {
            NewEvent::parse(kind, raw_date(event.date), &event.detail).map_err(|errors| v.absorb("event", errors)).ok()
        });
        let (Some(request_id), Some((contract, candidate)), Some(event)) = (request_id, candidate, new_event) else {
            return Err(invalid(v));
        };
        let command = RecordCandidateEvent { request_id, contract, candidate, event };
        let candidate = self.service.record_event(&context, command).await?;
        Ok(Response::new(candidate_message(&candidate)))
    }

    async fn get_candidate(
        &self,
        request: Request<api::GetCandidateRequest>,
    ) -> Result<Response<api::Candidate>, Status> {
        let context = context(&request)?;
        let (contract, id) = parse_candidate_name(&request.get_ref().name)
            .map_err(|error| invalid(Violations::single("name", error)))?;
        let candidate = self.service.get(&context, contract, id).await?;
        Ok(Response::new(candidate_message(&candidate)))
    }

    async fn list_candidates(
        &self,
        request: Request<api::ListCandidatesRequest>,
    ) -> Result<Response<api::ListCandidatesResponse>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let (contract, page) = parent_and_page(&self.pages, &message.parent, message)?;
        let page = self.service.list(&context, contract, page).await?;
        Ok(Response::new(api::ListCandidatesResponse {
            candidates: page.items.iter().map(candidate_message).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn get_intake(&self, request: Request<api::GetIntakeRequest>) -> Result<Response<api::Intake>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let (contract, from, to) = contract_and_span(&message.parent, message.from_date, message.to_date)?;
        let intake = self.service.intake(&context, contract, from, to).await?;
        Ok(Response::new(api::Intake {
            from_date: Some(date(from)),
            to_date: Some(date(to)),
            registrations: count(intake.registrations),
            motivated_intake: count(intake.motivated),
        }))
    }

    async fn list_intake_windows(
        &self,
        request: Request<api::ListIntakeWindowsRequest>,
    ) -> Result<Response<api::ListIntakeWindowsResponse>, Status> {
        let context = context(&request)?;
        let contract = parse_contract_name(&request.get_ref().parent)
            .map_err(|error| invalid(Violations::single("parent", error)))?;
        let windows = self.service.windows(&context, contract).await?;
        Ok(Response::new(api::ListIntakeWindowsResponse {
            windows: windows
                .iter()
                .map(|window| api::IntakeWindow {
                    start_date: Some(date(window.start)),
                    end_date: Some(date(window.end)),
                    cut_short: window.cut_short,
                    minimum_intake: count(window.minimum),
                    motivated_intake: count(window.motivated),
                    below_minimum: window.motivated < window.minimum,
                })
                .collect(),
        }))
    }

    async fn get_composition(
        &self,
        request: Request<api::GetCompositionRequest>,
    ) -> Result<Response<api::Composition>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let contract = v.check("parent", parse_contract_name(&message.parent));
        let day = v.check("date", parse_date(raw_date(message.date)));
        let (Some(contract), Some(day)) = (contract, day) else {
            return Err(invalid(v));
        };
        let (composition, target) = self.service.composition(&context, contract, day).await?;
        Ok(Response::new(composition_message(day, &composition, target)))
    }

    async fn get_social_results(
        &self,
        request: Request<api::GetSocialResultsRequest>,
    ) -> Result<Response<api::SocialResults>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let (contract, from, to) = contract_and_span(&message.parent, message.from_date, message.to_date)?;
        let results = self.service.social(&context, contract, from, to).await?;
        Ok(Response::new(social_results_message(&results)))
    }
}
