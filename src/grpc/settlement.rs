//! `flextensie.settlement.v1.SettlementService`.

use tonic::{Request, Response, Status};

use super::api;
use super::api::settlement_service_server::SettlementService as SettlementServiceApi;
use super::convert::{
    composition_message, context, cost_line_message, count, date, invalid, parent_and_page, parent_and_period,
    raw_date, timestamp,
};
use crate::domain::names::{hour_entry_name, parse_contract_name, parse_statement_name, savings_name, statement_name};
use crate::domain::settlement::{Statement, StoredStatement};
use crate::domain::{Cents, PageTokens, RequestId, Violations, parse_date};
use crate::service::{SettlePeriod, SettlementService};

/// The gRPC face of [`SettlementService`].
#[derive(Debug, Clone)]
pub struct SettlementApi {
    service: SettlementService,
    pages: PageTokens,
}

impl SettlementApi {
    /// Serves `service` over gRPC; `pages` seals its listings' page tokens.
    #[must_use]
    pub fn new(service: SettlementService, pages: PageTokens) -> SettlementApi {
        SettlementApi { service, pages }
    }
}

/// An issued statement, with its hash, settler, time and audit sequence number.
fn issued_message(stored: &StoredStatement, audit_sequence: Option<i64>) -> api::Statement {
    api::Statement {
        content_sha256: stored.content_sha256.clone(),
        audit_sequence: audit_sequence.unwrap_or_default(),
        settled_by: stored.settled_by.clone(),
        create_time: Some(timestamp(stored.create_time)),
        ..statement_message(&stored.statement)
    }
}

/// A statement's content (of a preview, the whole message).
fn statement_message(statement: &Statement) -> api::Statement {
    let figures = &statement.figures;
    let allocation = figures.allocation;
    api::Statement {
        name: statement_name(&statement.contract_id, statement.period.start),
        number: statement.number.clone(),
        period_start: Some(date(statement.period.start)),
        period_end: Some(date(statement.period.end)),
        window_start: Some(date(statement.window_start)),
        window_end: Some(date(statement.window_end)),
        closes_window: statement.closes_window,
        run_off: statement.run_off,
        cost_lines: statement.cost_lines.iter().map(|line| cost_line_message(&statement.contract_id, line)).collect(),
        savings_cents: statement.savings.cents(),
        fee_cents: figures.period_fee.cents(),
        corrections: statement
            .corrections
            .iter()
            .map(|correction| api::StatementCorrection {
                period_start: Some(date(correction.period_start)),
                cost_cents: correction.cost.cents(),
                savings_cents: correction.savings.cents(),
                same_window: correction.same_window,
                adjustment: correction.adjustment.map(|adjustment| api::WindowAdjustment {
                    window_start: Some(date(adjustment.window_start)),
                    motivated_intake: count(adjustment.intake.motivated),
                    minimum_intake: count(adjustment.intake.minimum),
                    covered_cents: adjustment.covered.cents(),
                    shifted_cents: adjustment.shifted.cents(),
                    borne_cents: adjustment.borne.cents(),
                    net_balance_cents: adjustment.net_balance.cents(),
                }),
            })
            .collect(),
        closings: statement
            .closings
            .iter()
            .map(|closing| api::WindowClosing {
                window_start: Some(date(closing.window_start)),
                window_end: Some(date(closing.window_end)),
                motivated_intake: count(closing.intake.motivated),
                minimum_intake: count(closing.intake.minimum),
                covered_cents: closing.allocation.covered.cents(),
                shifted_cents: closing.allocation.shifted.cents(),
                borne_cents: closing.allocation.borne.cents(),
                net_balance_cents: closing.net_balance.cents(),
            })
            .collect(),
        cost_to_date_cents: figures.cost_to_date.cents(),
        savings_to_date_cents: figures.savings_to_date.cents(),
        fees_to_date_cents: figures.fees_to_date.cents(),
        result_to_date_cents: figures.result_to_date.cents(),
        covered_to_date_cents: figures.covered_to_date.cents(),
        covered_this_period_cents: figures.covered_this_period.cents(),
        uncovered_to_date_cents: figures.uncovered_to_date.cents(),
        shifted_cents: allocation.map_or(Cents::ZERO, |allocation| allocation.shifted).cents(),
        borne_cents: allocation.map_or(Cents::ZERO, |allocation| allocation.borne).cents(),
        net_balance_cents: statement.net_balance.cents(),
        window_net_balance_cents: figures.net_balance.cents(),
        motivated_intake: statement.intake.map_or(0, |intake| count(intake.motivated)),
        minimum_intake: statement.intake.map_or(0, |intake| count(intake.minimum)),
        composition: Some(composition_message(
            statement.period.end,
            &statement.composition,
            statement.target_arrangement_3_percent,
        )),
        pending_hour_entries: statement.pending_hours.count,
        pending_savings_records: statement.pending_savings.count,
        pending_hour_entry_names: statement
            .pending_hours
            .first
            .iter()
            .map(|id| hour_entry_name(&statement.contract_id, id))
            .collect(),
        pending_savings_record_names: statement
            .pending_savings
            .first
            .iter()
            .map(|id| savings_name(&statement.contract_id, id))
            .collect(),
        ..Default::default()
    }
}

#[tonic::async_trait]
impl SettlementServiceApi for SettlementApi {
    async fn settle_period(
        &self,
        request: Request<api::SettlePeriodRequest>,
    ) -> Result<Response<api::Statement>, Status> {
        let context = context(&request)?;
        let message = request.into_inner();
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&message.request_id));
        let contract = v.check("parent", parse_contract_name(&message.parent));
        let period_start = v.check("period_start", parse_date(raw_date(message.period_start)));
        let (Some(request_id), Some(contract), Some(period_start)) = (request_id, contract, period_start) else {
            return Err(invalid(v));
        };
        let (stored, seq) = self.service.settle(&context, SettlePeriod { request_id, contract, period_start }).await?;
        Ok(Response::new(issued_message(&stored, seq)))
    }

    async fn preview_settlement(
        &self,
        request: Request<api::PreviewSettlementRequest>,
    ) -> Result<Response<api::Statement>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let (contract, period_start) = parent_and_period(&message.parent, message.period_start)?;
        let statement = self.service.preview(&context, contract, period_start).await?;
        Ok(Response::new(statement_message(&statement)))
    }

    async fn get_statement(
        &self,
        request: Request<api::GetStatementRequest>,
    ) -> Result<Response<api::Statement>, Status> {
        let context = context(&request)?;
        let (contract, period_start) = parse_statement_name(&request.get_ref().name)
            .map_err(|error| invalid(Violations::single("name", error)))?;
        let (stored, seq) = self.service.get(&context, contract, period_start).await?;
        Ok(Response::new(issued_message(&stored, seq)))
    }

    async fn export_statement(
        &self,
        request: Request<api::ExportStatementRequest>,
    ) -> Result<Response<api::ExportStatementResponse>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let name = v.check("name", parse_statement_name(&message.name));
        let format = v.check(
            "format",
            match api::ExportFormat::try_from(message.format) {
                Ok(api::ExportFormat::Csv) => Ok(api::ExportFormat::Csv),
                Ok(api::ExportFormat::Json) => Ok(api::ExportFormat::Json),
                _ => Err("is required: EXPORT_FORMAT_CSV or EXPORT_FORMAT_JSON".to_owned()),
            },
        );
        let (Some((contract, period_start)), Some(format)) = (name, format) else {
            return Err(invalid(v));
        };
        let (content_type, content) = match format {
            api::ExportFormat::Csv => {
                let (stored, _) = self.service.get(&context, contract, period_start).await?;
                ("text/csv; charset=utf-8", stored.statement.to_csv().into_bytes())
            }
            // The bytes stored at issue, which `content_sha256` was taken of: never re-encoded.
            _ => {
                let (content, _) = self.service.canonical_content(&context, contract, period_start).await?;
                ("application/json", content.into_bytes())
            }
        };
        Ok(Response::new(api::ExportStatementResponse { content_type: content_type.to_owned(), content }))
    }

    async fn list_statements(
        &self,
        request: Request<api::ListStatementsRequest>,
    ) -> Result<Response<api::ListStatementsResponse>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let (contract, page) = parent_and_page(&self.pages, &message.parent, message)?;
        let page = self.service.list(&context, contract, page).await?;
        Ok(Response::new(api::ListStatementsResponse {
            statements: page.items.iter().map(|(stored, seq)| issued_message(stored, *seq)).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }
}
