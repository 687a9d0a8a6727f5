//! `flextensie.settlement.v1.SavingsService`.

use tonic::{Request, Response, Status};

use super::api;
use super::api::savings_service_server::SavingsService as SavingsServiceApi;
use super::convert::{
    context, date, decision_fields, distinct_names, invalid, page_of, parent_and_period, raw_date, state_filter,
    timestamp,
};
use crate::domain::hours::{DECISIONS_PER_CALL_MAX, EntryState, parse_required_note};
use crate::domain::names::{contract_name, parse_contract_name, parse_savings_name, savings_name};
use crate::domain::savings::{Certainty, SavingsCorrection, SavingsInput, SavingsKind, SavingsLine, SavingsRecord};
use crate::domain::{PageTokens, RequestId, Violations, parse_date};
use crate::error::Error;
use crate::service::{CorrectSavings, DecideSavings, SavingsService, SubmitSavings};

/// The gRPC face of [`SavingsService`].
#[derive(Debug, Clone)]
pub struct SavingsApi {
    service: SavingsService,
    pages: PageTokens,
}

impl SavingsApi {
    /// Serves `service` over gRPC; `pages` seals its listings' page tokens.
    #[must_use]
    pub fn new(service: SavingsService, pages: PageTokens) -> SavingsApi {
        SavingsApi { service, pages }
    }
}

fn kind(raw: i32) -> Option<SavingsKind> {
    match api::SavingsKind::try_from(raw).ok()? {
        api::SavingsKind::Unspecified => None,
        api::SavingsKind::FullOutflow => Some(SavingsKind::FullOutflow),
        api::SavingsKind::PartialOutflow => Some(SavingsKind::PartialOutflow),
    }
}

fn certainty(raw: i32) -> Option<Certainty> {
    match api::SavingsCertainty::try_from(raw).ok()? {
        api::SavingsCertainty::Unspecified => None,
        api::SavingsCertainty::Provisional => Some(Certainty::Provisional),
        api::SavingsCertainty::Definitive => Some(Certainty::Definitive),
    }
}

fn state_message(state: EntryState) -> api::SavingsState {
    match state {
        EntryState::Submitted => api::SavingsState::Submitted,
        EntryState::Verified => api::SavingsState::Verified,
        EntryState::Rejected => api::SavingsState::Rejected,
    }
}

fn record_message(record: &SavingsRecord) -> api::SavingsRecord {
    let (decided_by, decide_time, rejection_reason) = decision_fields(record.decision.as_ref());
    api::SavingsRecord {
        name: savings_name(&record.contract_id, &record.id),
        period_start: Some(date(record.period_start)),
        amount_cents: record.amount.cents(),
        kind: match record.kind {
            SavingsKind::FullOutflow => api::SavingsKind::FullOutflow,
            SavingsKind::PartialOutflow => api::SavingsKind::PartialOutflow,
        }
        .into(),
        source_reference: record.id.as_str().to_owned(),
        candidate: record.candidate.clone().unwrap_or_default(),
        certainty: match record.certainty {
            Certainty::Provisional => api::SavingsCertainty::Provisional,
            Certainty::Definitive => api::SavingsCertainty::Definitive,
        }
        .into(),
        note: record.note.clone(),
        corrects: record.corrects.as_ref().map(|id| savings_name(&record.contract_id, id)).unwrap_or_default(),
        state: state_message(record.state()).into(),
        late: record.late,
        submitted_by: record.submitted_by.clone(),
        submitted_party: record.submitted_party.as_str().to_owned(),
        submit_time: Some(timestamp(record.submit_time)),
        decided_by,
        decide_time,
        rejection_reason,
    }
}

impl TryFrom<api::SubmitSavingsRequest> for SubmitSavings {
    type Error = Violations;

    fn try_from(request: api::SubmitSavingsRequest) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&request.request_id));
        let contract = v.check("parent", parse_contract_name(&request.parent));
        let line = match request.savings {
            None => {
                v.add("savings", "is required: the record to submit");
                None
            }
            Some(savings) => {
                let input = SavingsInput {
                    period_start: raw_date(savings.period_start),
                    amount_cents: savings.amount_cents,
                    kind: kind(savings.kind),
                    source_reference: savings.source_reference,
                    candidate: savings.candidate,
                    certainty: certainty(savings.certainty),
                    note: savings.note,
                };
                SavingsLine::parse(&input).map_err(|errors| v.absorb("savings", errors)).ok()
            }
        };
        match (request_id, contract, line) {
            (Some(request_id), Some(contract), Some(line)) if v.is_empty() => {
                Ok(SubmitSavings { request_id, contract, line })
            }
            _ => Err(v),
        }
    }
}

impl TryFrom<api::CorrectSavingsRequest> for CorrectSavings {
    type Error = Violations;

    fn try_from(request: api::CorrectSavingsRequest) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&request.request_id));
        let record = v.check("savings", parse_savings_name(&request.savings));
        let correction = record.as_ref().and_then(|(_, corrects)| {
            SavingsCorrection::parse(corrects.clone(), request.amount_cents, &request.source_reference, &request.note)
                .map_err(|errors| v.merge(errors))
                .ok()
        });
        match (request_id, record, correction) {
            (Some(request_id), Some((contract, _)), Some(correction)) if v.is_empty() => {
                Ok(CorrectSavings { request_id, contract, correction })
            }
            _ => Err(v),
        }
    }
}

#[tonic::async_trait]
impl SavingsServiceApi for SavingsApi {
    async fn submit_savings(
        &self,
        request: Request<api::SubmitSavingsRequest>,
    ) -> Result<Response<api::SavingsRecord>, Status> {
        let context = context(&request)?;
        let command = SubmitSavings::try_from(request.into_inner()).map_err(invalid)?;
        let record = self.service.submit(&context, command).await?;
        Ok(Response::new(record_message(&record)))
    }

    async fn correct_savings(
        &self,
        request: Request<api::CorrectSavingsRequest>,
    ) -> Result<Response<api::SavingsRecord>, Status> {
        let context = context(&request)?;
        let command = CorrectSavings::try_from(request.into_inner()).map_err(invalid)?;
        let record = self.service.correct(&context, command).await?;
        Ok(Response::new(record_message(&record)))
    }

    async fn verify_savings(
        &self,
        request: Request<api::VerifySavingsRequest>,
    ) -> Result<Response<api::VerifySavingsResponse>, Status> {
        let context = context(&request)?;
        let message = request.into_inner();
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&message.request_id));
        let contract = v.check("parent", parse_contract_name(&message.parent));
        let records = distinct_names(
            &message.savings,
            "savings",
            DECISIONS_PER_CALL_MAX,
            contract.as_ref(),
            parse_savings_name,
            &mut v,
        );
        let (Some(request_id), Some(contract)) = (request_id, contract) else {
            return Err(invalid(v));
        };
        if !v.is_empty() {
            return Err(invalid(v));
        }
        let command = DecideSavings { request_id, contract, records, reason: None };
        let records = self.service.decide(&context, command).await?;
        Ok(Response::new(api::VerifySavingsResponse { savings: records.iter().map(record_message).collect() }))
    }

    async fn reject_savings(
        &self,
        request: Request<api::RejectSavingsRequest>,
    ) -> Result<Response<api::SavingsRecord>, Status> {
        let context = context(&request)?;
        let message = request.into_inner();
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&message.request_id));
        let record = v.check("savings", parse_savings_name(&message.savings));
        let reason = v.check("reason", parse_required_note(&message.reason, "say why the record is rejected"));
        let (Some(request_id), Some((contract, id)), Some(reason)) = (request_id, record, reason) else {
            return Err(invalid(v));
        };
        let command = DecideSavings { request_id, contract, records: vec![id], reason: Some(reason) };
        let mut records = self.service.decide(&context, command).await?;
        let record =
            records.pop().ok_or_else(|| Error::internal("rejecting savings", "the decision gave no record"))?;
        Ok(Response::new(record_message(&record)))
    }

    async fn get_savings(
        &self,
        request: Request<api::GetSavingsRequest>,
    ) -> Result<Response<api::SavingsRecord>, Status> {
        let context = context(&request)?;
        let (contract, id) =
            parse_savings_name(&request.get_ref().name).map_err(|error| invalid(Violations::single("name", error)))?;
        let record = self.service.get(&context, contract, id).await?;
        Ok(Response::new(record_message(&record)))
    }

    async fn list_savings(
        &self,
        request: Request<api::ListSavingsRequest>,
    ) -> Result<Response<api::ListSavingsResponse>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let contract = v.check("parent", parse_contract_name(&message.parent));
        let period_start = match message.period_start {
            None => Some(None),
            Some(period_start) => v.check("period_start", parse_date(raw_date(Some(period_start)))).map(Some),
        };
        let state = v.check("state", state_filter(message.state, state_message));
        let page = page_of(&self.pages, message).map_err(|errors| v.merge(errors)).ok();
        let (Some(contract), Some(period_start), Some(state), Some(page)) = (contract, period_start, state, page)
        else {
            return Err(invalid(v));
        };
        let page = self.service.list(&context, contract, period_start, state, page).await?;
        Ok(Response::new(api::ListSavingsResponse {
            savings: page.items.iter().map(record_message).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn get_savings_totals(
        &self,
        request: Request<api::GetSavingsTotalsRequest>,
    ) -> Result<Response<api::SavingsTotals>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let (contract, period_start) = parent_and_period(&message.parent, message.period_start)?;
        let totals = self.service.totals(&context, contract.clone(), period_start).await?;
        Ok(Response::new(api::SavingsTotals {
            contract: contract_name(&contract),
            period_start: Some(date(totals.period.start)),
            states: totals
                .states
                .iter()
                .map(|(state, records, amount)| api::SavingsStateTotals {
                    state: state_message(*state).into(),
                    record_count: *records,
                    amount_cents: amount.cents(),
                })
                .collect(),
        }))
    }
}
