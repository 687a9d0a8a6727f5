//! `flextensie.settlement.v1.GoNoGoService`.

use tonic::{Request, Response, Status};

use super::api;
use super::api::go_no_go_service_server::GoNoGoService as GoNoGoServiceApi;
use super::contracts::contract_message;
use super::convert::{composition_message, context, count, date, invalid, raw_date, social_results_message, timestamp};
use crate::domain::gonogo::{StoredEvaluation, Verdict};
use crate::domain::hours::parse_required_note;
use crate::domain::names::{evaluation_name, parse_contract_name, parse_evaluation_name};
use crate::domain::{RequestId, Violations, parse_date};
use crate::service::{DecideGoNoGo, EvaluateCheckpoint, ExerciseExtension, GoNoGoService};

/// The gRPC face of [`GoNoGoService`].
#[derive(Debug, Clone)]
pub struct GoNoGoApi {
    service: GoNoGoService,
}

impl GoNoGoApi {
    /// Serves `service` over gRPC.
    #[must_use]
    pub fn new(service: GoNoGoService) -> GoNoGoApi {
        GoNoGoApi { service }
    }
}

fn verdict_message(verdict: Verdict) -> api::GoNoGoVerdict {
    match verdict {
        Verdict::Go => api::GoNoGoVerdict::Go,
        Verdict::NoGo => api::GoNoGoVerdict::NoGo,
    }
}

fn evaluation_message(stored: &StoredEvaluation) -> api::Evaluation {
    let evaluation = &stored.evaluation;
    api::Evaluation {
        name: evaluation_name(&stored.contract_id, evaluation.checkpoint),
        checkpoint: Some(date(evaluation.checkpoint)),
        span_start: Some(date(evaluation.span_start)),
        span_end: Some(date(evaluation.span_end)),
        savings_cents: evaluation.savings.cents(),
        fees_cents: evaluation.fees.cents(),
        intercedent_cost_cents: evaluation.intercedent_cost.cents(),
        result_cents: evaluation.result.cents(),
        cost_neutral: evaluation.cost_neutral,
        social_results: Some(social_results_message(&evaluation.social)),
        windows: evaluation
            .windows
            .iter()
            .map(|window| api::EvaluatedWindow {
                start_date: Some(date(window.start)),
                end_date: Some(date(window.end)),
                minimum_intake: count(window.minimum),
                motivated_intake: count(window.motivated),
                closed: window.closed,
                result_cents: window.allocation.result.cents(),
                covered_cents: window.allocation.covered.cents(),
                uncovered_cents: window.allocation.uncovered.cents(),
                shifted_cents: window.allocation.shifted.cents(),
                borne_cents: window.allocation.borne.cents(),
            })
            .collect(),
        composition: Some(composition_message(
            evaluation.span_end,
            &evaluation.composition,
            evaluation.target_arrangement_3_percent,
        )),
        risk_borne_cents: evaluation.risk_borne.cents(),
        pending_uncovered_cents: evaluation.pending_uncovered.cents(),
        content_sha256: stored.content_sha256.clone(),
        evaluated_by: stored.evaluated_by.clone(),
        create_time: Some(timestamp(stored.create_time)),
        decisions: stored
            .decisions
            .iter()
            .map(|decision| api::GoNoGoDecision {
                party: decision.party.as_str().to_owned(),
                verdict: verdict_message(decision.verdict).into(),
                reasons: decision.reasons.clone(),
                decided_by: decision.decided_by.clone(),
                decide_time: Some(timestamp(decision.decide_time)),
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl GoNoGoServiceApi for GoNoGoApi {
    async fn evaluate_checkpoint(
        &self,
        request: Request<api::EvaluateCheckpointRequest>,
    ) -> Result<Response<api::Evaluation>, Status> {
        let context = context(&request)?;
        let message = request.into_inner();
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&message.request_id));
        let contract = v.check("parent", parse_contract_name(&message.parent));
        let checkpoint = v.check("checkpoint", parse_date(raw_date(message.checkpoint)));
        let (Some(request_id), Some(contract), Some(checkpoint)) = (request_id, contract, checkpoint) else {
            return Err(invalid(v));
        };
        let stored = self.service.evaluate(&context, EvaluateCheckpoint { request_id, contract, checkpoint }).await?;
        Ok(Response::new(evaluation_message(&stored)))
    }

    async fn get_evaluation(
        &self,
        request: Request<api::GetEvaluationRequest>,
    ) -> Result<Response<api::Evaluation>, Status> {
        let context = context(&request)?;
        let (contract, checkpoint) = parse_evaluation_name(&request.get_ref().name)
            .map_err(|error| invalid(Violations::single("name", error)))?;
        let stored = self.service.get(&context, contract, checkpoint).await?;
        Ok(Response::new(evaluation_message(&stored)))
    }

    async fn record_go_no_go_decision(
        &self,
        request: Request<api::RecordGoNoGoDecisionRequest>,
    ) -> Result<Response<api::Evaluation>, Status> {
        let context = context(&request)?;
        let message = request.into_inner();
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&message.request_id));
        let evaluation = v.check("evaluation", parse_evaluation_name(&message.evaluation));
        let verdict = v.check(
            "verdict",
            match api::GoNoGoVerdict::try_from(message.verdict) {
                Ok(api::GoNoGoVerdict::Go) => Ok(Verdict::Go),
                Ok(api::GoNoGoVerdict::NoGo) => Ok(Verdict::NoGo),
                _ => Err("is required: GO_NO_GO_VERDICT_GO or GO_NO_GO_VERDICT_NO_GO".to_owned()),
            },
        );
        let reasons = v.check("reasons", parse_required_note(&message.reasons, "the reasons for the decision"));
        let (Some(request_id), Some((contract, checkpoint)), Some(verdict), Some(reasons)) =
            (request_id, evaluation, verdict, reasons)
        else {
            return Err(invalid(v));
        };
        let command = DecideGoNoGo { request_id, contract, checkpoint, verdict, reasons };
        let stored = self.service.decide(&context, command).await?;
        Ok(Response::new(evaluation_message(&stored)))
    }

    async fn exercise_extension(
        &self,
        request: Request<api::ExerciseExtensionRequest>,
    ) -> Result<Response<api::Contract>, Status> {
        let context = context(&request)?;
        let message = request.into_inner();
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&message.request_id));
        let contract = v.check("contract", parse_contract_name(&message.contract));
        let (Some(request_id), Some(contract)) = (request_id, contract) else {
            return Err(invalid(v));
        };
        let contract = self.service.extend(&context, ExerciseExtension { request_id, contract }).await?;
        Ok(Response::new(contract_message(&contract)))
    }
}
