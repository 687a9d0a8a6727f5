//! `flextensie.settlement.v1.HoursService`.

use tonic::{Request, Response, Status};

use super::api;
use super::api::hours_service_server::HoursService as HoursServiceApi;
use super::convert::{
    context, cost_line_message, date, decision_fields, distinct_names, invalid, page_of, parent_and_period, raw_date,
    state_filter, timestamp,
};
use crate::domain::hours::{
    CorrectionLine, DECISIONS_PER_CALL_MAX, EntryFilter, EntryState, HOUR_LINES_PER_BATCH_MAX, HourEntry, HourLine,
    HourLineInput, StateTotals, TimeKind, parse_required_note,
};
use crate::domain::names::{
    contract_name, hour_entry_name, intercedent_name, parse_contract_name, parse_hour_entry_name,
};
use crate::domain::{ContractId, IntercedentId, PageTokens, RequestId, Violations, parse_date};
use crate::service::{CorrectHours, HoursService, RejectHours, SubmitHours, VerifyHours};

/// The gRPC face of [`HoursService`].
#[derive(Debug, Clone)]
pub struct HoursApi {
    service: HoursService,
    pages: PageTokens,
}

impl HoursApi {
    /// Serves `service` over gRPC; `pages` seals its listings' page tokens.
    #[must_use]
    pub fn new(service: HoursService, pages: PageTokens) -> HoursApi {
        HoursApi { service, pages }
    }
}

fn time_kind(raw: i32) -> Option<TimeKind> {
    match api::TimeKind::try_from(raw).ok()? {
        api::TimeKind::Unspecified => None,
        api::TimeKind::Work => Some(TimeKind::Work),
        api::TimeKind::Sickness => Some(TimeKind::Sickness),
        api::TimeKind::Leave => Some(TimeKind::Leave),
        api::TimeKind::Holiday => Some(TimeKind::Holiday),
        api::TimeKind::OtherAbsence => Some(TimeKind::OtherAbsence),
    }
}

fn state_message(state: EntryState) -> api::HourEntryState {
    match state {
        EntryState::Submitted => api::HourEntryState::Submitted,
        EntryState::Verified => api::HourEntryState::Verified,
        EntryState::Rejected => api::HourEntryState::Rejected,
    }
}

fn entry_message(entry: &HourEntry) -> api::HourEntry {
    let (decided_by, decide_time, rejection_reason) = decision_fields(entry.decision.as_ref());
    api::HourEntry {
        name: hour_entry_name(&entry.contract_id, &entry.id),
        intercedent: intercedent_name(&entry.contract_id, &entry.intercedent),
        work_date: Some(date(entry.work_date)),
        period_start: Some(date(entry.period_start)),
        minutes: entry.minutes.get(),
        line_reference: entry.id.as_str().to_owned(),
        note: entry.note.clone(),
        corrects: entry.corrects.as_ref().map(|id| hour_entry_name(&entry.contract_id, id)).unwrap_or_default(),
        state: state_message(entry.state()).into(),
        late: entry.late,
        submitted_by: entry.submitted_by.clone(),
        submit_time: Some(timestamp(entry.submit_time)),
        decided_by,
        decide_time,
        rejection_reason,
    }
}

fn state_totals_message(contract: &ContractId, totals: &StateTotals) -> api::StateTotals {
    api::StateTotals {
        state: state_message(totals.state).into(),
        entry_count: totals.entries,
        minutes: totals.minutes,
        cost_cents: totals.cost.cents(),
        lines: totals.lines.iter().map(|line| cost_line_message(contract, line)).collect(),
    }
}

/// A submission with malformed lines: what could be read of it, for the full refusal.
#[derive(Debug)]
pub struct MalformedSubmission {
    contract: Option<ContractId>,
    lines: Vec<(usize, HourLine)>,
    violations: Violations,
}

impl MalformedSubmission {
    /// Every violation found.
    #[must_use]
    pub fn violations(&self) -> &Violations {
        &self.violations
    }
}

impl TryFrom<api::SubmitHoursRequest> for SubmitHours {
    type Error = MalformedSubmission;

    fn try_from(request: api::SubmitHoursRequest) -> Result<Self, MalformedSubmission> {
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&request.request_id));
        let contract = v.check("parent", parse_contract_name(&request.parent));
        if request.entries.is_empty() || request.entries.len() > HOUR_LINES_PER_BATCH_MAX {
            v.add("entries", format!("must hold 1 to {HOUR_LINES_PER_BATCH_MAX} lines, got {}", request.entries.len()));
        }
        let mut lines = Vec::with_capacity(request.entries.len().min(HOUR_LINES_PER_BATCH_MAX));
        for (index, line) in request.entries.into_iter().take(HOUR_LINES_PER_BATCH_MAX).enumerate() {
            let input = HourLineInput {
                intercedent: line.intercedent_id,
                work_date: raw_date(line.work_date),
                kind: time_kind(line.kind),
                minutes: line.minutes,
                line_reference: line.line_reference,
                note: line.note,
            };
            match HourLine::parse(&input) {
                Ok(line) => lines.push((index, line)),
                Err(errors) => v.absorb(&format!("entries[{index}]"), errors),
            }
        }
        match (request_id, contract) {
            (Some(request_id), Some(contract)) if v.is_empty() => {
                Ok(SubmitHours { request_id, contract, lines: lines.into_iter().map(|(_, line)| line).collect() })
            }
            (_, contract) => Err(MalformedSubmission { contract, lines, violations: v }),
        }
    }
}

impl TryFrom<api::CorrectHoursRequest> for CorrectHours {
    type Error = Violations;

    fn try_from(request: api::CorrectHoursRequest) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&request.request_id));
        let entry = v.check("entry", parse_hour_entry_name(&request.entry));
        let line = entry.as_ref().and_then(|(_, corrects)| {
            CorrectionLine::parse(corrects.clone(), request.minutes, &request.line_reference, &request.note)
                .map_err(|errors| v.merge(errors))
                .ok()
        });
        match (request_id, entry, line) {
            (Some(request_id), Some((contract, _)), Some(line)) if v.is_empty() => {
                Ok(CorrectHours { request_id, contract, line })
            }
            _ => Err(v),
        }
    }
}

impl TryFrom<api::VerifyHoursRequest> for VerifyHours {
    type Error = Violations;

    fn try_from(request: api::VerifyHoursRequest) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&request.request_id));
        let contract = v.check("parent", parse_contract_name(&request.parent));
        let entries = distinct_names(
            &request.entries,
            "entries",
            DECISIONS_PER_CALL_MAX,
            contract.as_ref(),
            parse_hour_entry_name,
            &mut v,
        );
        match (request_id, contract) {
            (Some(request_id), Some(contract)) if v.is_empty() => Ok(VerifyHours { request_id, contract, entries }),
            _ => Err(v),
        }
    }
}

impl TryFrom<api::RejectHoursRequest> for RejectHours {
    type Error = Violations;

    fn try_from(request: api::RejectHoursRequest) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&request.request_id));
        let entry = v.check("entry", parse_hour_entry_name(&request.entry));
        let reason = v.check("reason", parse_required_note(&request.reason, "say why the entry is rejected"));
        match (request_id, entry, reason) {
            (Some(request_id), Some((contract, entry)), Some(reason)) if v.is_empty() => {
                Ok(RejectHours { request_id, contract, entry, reason })
            }
            _ => Err(v),
        }
    }
}

#[tonic::async_trait]
impl HoursServiceApi for HoursApi {
    async fn submit_hours(
        &self,
        request: Request<api::SubmitHoursRequest>,
    ) -> Result<Response<api::SubmitHoursResponse>, Status> {
        let context = context(&request)?;
        let command = match SubmitHours::try_from(request.into_inner()) {
            Ok(command) => command,
            Err(MalformedSubmission { contract: Some(contract), lines, violations }) => {
                return Err(self.service.explain_refusal(&context, contract, lines, violations).await.into());
            }
            Err(MalformedSubmission { contract: None, violations, .. }) => return Err(invalid(violations)),
        };
        let entries = self.service.submit_hours(&context, command).await?;
        Ok(Response::new(api::SubmitHoursResponse { entries: entries.iter().map(entry_message).collect() }))
    }

    async fn correct_hours(
        &self,
        request: Request<api::CorrectHoursRequest>,
    ) -> Result<Response<api::HourEntry>, Status> {
        let context = context(&request)?;
        let command = CorrectHours::try_from(request.into_inner()).map_err(invalid)?;
        let entry = self.service.correct_hours(&context, command).await?;
        Ok(Response::new(entry_message(&entry)))
    }

    async fn verify_hours(
        &self,
        request: Request<api::VerifyHoursRequest>,
    ) -> Result<Response<api::VerifyHoursResponse>, Status> {
        let context = context(&request)?;
        let command = VerifyHours::try_from(request.into_inner()).map_err(invalid)?;
        let entries = self.service.verify_hours(&context, command).await?;
        Ok(Response::new(api::VerifyHoursResponse { entries: entries.iter().map(entry_message).collect() }))
    }

    async fn reject_hours(
        &self,
        request: Request<api::RejectHoursRequest>,
    ) -> Result<Response<api::HourEntry>, Status> {
        let context = context(&request)?;
        let command = RejectHours::try_from(request.into_inner()).map_err(invalid)?;
        let entry = self.service.reject_hours(&context, command).await?;
        Ok(Response::new(entry_message(&entry)))
    }

    async fn get_hour_entry(
        &self,
        request: Request<api::GetHourEntryRequest>,
    ) -> Result<Response<api::HourEntry>, Status> {
        let context = context(&request)?;
        let (contract, id) = parse_hour_entry_name(&request.get_ref().name)
            .map_err(|error| invalid(Violations::single("name", error)))?;
        let entry = self.service.get_entry(&context, contract, id).await?;
        Ok(Response::new(entry_message(&entry)))
    }

    async fn list_hour_entries(
        &self,
        request: Request<api::ListHourEntriesRequest>,
    ) -> Result<Response<api::ListHourEntriesResponse>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let contract = v.check("parent", parse_contract_name(&message.parent));
        let intercedent = if message.intercedent_id.is_empty() {
            Some(None)
        } else {
            v.check("intercedent_id", IntercedentId::parse(&message.intercedent_id)).map(Some)
        };
        let period_start = match message.period_start {
            None => Some(None),
            Some(period_start) => v.check("period_start", parse_date(raw_date(Some(period_start)))).map(Some),
        };
        let state = v.check("state", state_filter(message.state, state_message));
        let page = page_of(&self.pages, message).map_err(|errors| v.merge(errors)).ok();
        let (Some(contract), Some(intercedent), Some(period_start), Some(state), Some(page)) =
            (contract, intercedent, period_start, state, page)
        else {
            return Err(invalid(v));
        };
        let filter = EntryFilter { intercedent, period_start, state };
        let page = self.service.list_entries(&context, contract, filter, page).await?;
        Ok(Response::new(api::ListHourEntriesResponse {
            entries: page.items.iter().map(entry_message).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn get_hours_totals(
        &self,
        request: Request<api::GetHoursTotalsRequest>,
    ) -> Result<Response<api::HoursTotals>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let (contract, period_start) = parent_and_period(&message.parent, message.period_start)?;
        let totals = self.service.totals(&context, contract.clone(), period_start).await?;
        Ok(Response::new(api::HoursTotals {
            contract: contract_name(&contract),
            period_start: Some(date(totals.period.start)),
            period_end: Some(date(totals.period.end)),
            states: totals.states.iter().map(|state| state_totals_message(&contract, state)).collect(),
        }))
    }
}
