//! `flextensie.settlement.v1.ContractService`.

use tonic::{Request, Response, Status};

use super::api;
use super::api::contract_service_server::ContractService as ContractServiceApi;
use super::convert::{context, count, date, invalid, page_of, parent_and_page, raw_date, timestamp};
use crate::domain::names::{
    contract_name, hourly_rate_name, intercedent_name, parse_contract_name, parse_intercedent_name,
};
use crate::domain::{
    Contract, ContractId, ContractTerms, ContractTermsInput, HourlyRateInput, Intercedent, IntercedentId,
    NewHourlyRate, NewIntercedent, PageTokens, RecordedRate, RequestId, RiskShiftMode, Violations,
};
use crate::service::{ContractService, CreateContract, CreateHourlyRate, CreateIntercedent};

/// The gRPC face of [`ContractService`].
#[derive(Debug, Clone)]
pub struct ContractApi {
    service: ContractService,
    pages: PageTokens,
}

impl ContractApi {
    /// Serves `service` over gRPC; `pages` seals its listings' page tokens.
    #[must_use]
    pub fn new(service: ContractService, pages: PageTokens) -> ContractApi {
        ContractApi { service, pages }
    }
}

fn risk_shift_mode(raw: i32) -> Option<RiskShiftMode> {
    match api::RiskShiftMode::try_from(raw).ok()? {
        api::RiskShiftMode::Unspecified => None,
        api::RiskShiftMode::Full => Some(RiskShiftMode::Full),
        api::RiskShiftMode::ProRata => Some(RiskShiftMode::ProRata),
    }
}

fn terms_input(contract: api::Contract) -> ContractTermsInput {
    ContractTermsInput {
        gemeente: contract.gemeente,
        display_name: contract.display_name,
        start_date: raw_date(contract.start_date),
        term_months: contract.term_months.into(),
        extension_option_months: contract.extension_option_months.into(),
        settlement_period_months: contract.settlement_period_months.into(),
        intake_window_months: contract.intake_window_months.into(),
        service_fee_per_period_cents: contract.service_fee_per_period_cents,
        minimum_intake_per_window: contract.minimum_intake_per_window.into(),
        risk_shift_mode: risk_shift_mode(contract.risk_shift_mode),
        composition_target: contract
            .composition_target
            .map(|target| (target.arrangement_1_percent.into(), target.arrangement_3_percent.into())),
    }
}

impl TryFrom<api::CreateContractRequest> for CreateContract {
    type Error = Violations;

    fn try_from(request: api::CreateContractRequest) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&request.request_id));
        let contract_id = if request.contract_id.is_empty() {
            Some(None)
        } else {
            v.check("contract_id", ContractId::parse(&request.contract_id)).map(Some)
        };
        let terms = match request.contract {
            None => {
                v.add("contract", "is required: the contract to create");
                None
            }
            Some(contract) => {
                ContractTerms::parse(terms_input(contract)).map_err(|errors| v.absorb("contract", errors)).ok()
            }
        };
        match (request_id, contract_id, terms) {
            (Some(request_id), Some(contract_id), Some(terms)) if v.is_empty() => {
                Ok(CreateContract { request_id, contract_id, terms })
            }
            _ => Err(v),
        }
    }
}

impl TryFrom<api::CreateIntercedentRequest> for CreateIntercedent {
    type Error = Violations;

    fn try_from(request: api::CreateIntercedentRequest) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&request.request_id));
        let contract = v.check("parent", parse_contract_name(&request.parent));
        let rates = request
            .intercedent
            .map(|intercedent| intercedent.hourly_rates.into_iter().map(rate_input).collect())
            .unwrap_or_default();
        let intercedent = NewIntercedent::parse(&request.intercedent_id, rates).map_err(|errors| v.merge(errors));
        match (request_id, contract, intercedent) {
            (Some(request_id), Some(contract), Ok(intercedent)) if v.is_empty() => {
                Ok(CreateIntercedent { request_id, contract, intercedent })
            }
            _ => Err(v),
        }
    }
}

impl TryFrom<api::CreateHourlyRateRequest> for CreateHourlyRate {
    type Error = Violations;

    fn try_from(request: api::CreateHourlyRateRequest) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&request.request_id));
        let parent = v.check("parent", parse_intercedent_name(&request.parent));
        let rate = match request.hourly_rate {
            None => {
                v.add("hourly_rate", "is required: the rate to add");
                None
            }
            Some(rate) => NewHourlyRate::parse(rate_input(rate)).map_err(|errors| v.absorb("hourly_rate", errors)).ok(),
        };
        match (request_id, parent, rate) {
            (Some(request_id), Some((contract, intercedent)), Some(rate)) if v.is_empty() => {
                Ok(CreateHourlyRate { request_id, contract, intercedent, rate })
            }
            _ => Err(v),
        }
    }
}

fn rate_input(rate: api::HourlyRate) -> HourlyRateInput {
    HourlyRateInput { effective_date: raw_date(rate.effective_date), rate_per_hour_cents: rate.rate_per_hour_cents }
}

pub(super) fn contract_message(contract: &Contract) -> api::Contract {
    let terms = &contract.terms;
    let target = terms.composition_target();
    let mode = match terms.risk_shift_mode() {
        RiskShiftMode::Full => api::RiskShiftMode::Full,
        RiskShiftMode::ProRata => api::RiskShiftMode::ProRata,
    };
    api::Contract {
        name: contract_name(&contract.id),
        gemeente: terms.gemeente().as_str().to_owned(),
        display_name: terms.display_name().to_owned(),
        start_date: Some(date(terms.start_date())),
        term_months: count(terms.term_months()),
        extension_option_months: count(terms.extension_option_months()),
        settlement_period_months: count(terms.settlement_period_months()),
        intake_window_months: count(terms.intake_window_months()),
        service_fee_per_period_cents: terms.service_fee_per_period().cents(),
        minimum_intake_per_window: count(terms.minimum_intake_per_window()),
        risk_shift_mode: mode.into(),
        composition_target: Some(api::CompositionTarget {
            arrangement_1_percent: count(target.arrangement_1_percent()),
            arrangement_3_percent: count(target.arrangement_3_percent()),
        }),
        end_date: contract.end_date().map(date),
        create_time: Some(timestamp(contract.create_time)),
        extended: contract.lifecycle.extended,
        ended_on: contract.lifecycle.ended_on.map(date),
    }
}

fn rate_message(contract: &ContractId, intercedent: &IntercedentId, rate: &RecordedRate) -> api::HourlyRate {
    api::HourlyRate {
        name: hourly_rate_name(contract, intercedent, rate.effective_date),
        effective_date: Some(date(rate.effective_date)),
        rate_per_hour_cents: rate.rate.cents_per_hour(),
        create_time: Some(timestamp(rate.create_time)),
    }
}

fn intercedent_message(intercedent: &Intercedent) -> api::Intercedent {
    api::Intercedent {
        name: intercedent_name(&intercedent.contract_id, &intercedent.id),
        contract: contract_name(&intercedent.contract_id),
        hourly_rates: intercedent
            .rates
            .rates()
            .iter()
            .map(|rate| rate_message(&intercedent.contract_id, &intercedent.id, rate))
            .collect(),
        create_time: Some(timestamp(intercedent.create_time)),
    }
}

#[tonic::async_trait]
impl ContractServiceApi for ContractApi {
    async fn create_contract(
        &self,
        request: Request<api::CreateContractRequest>,
    ) -> Result<Response<api::Contract>, Status> {
        let context = context(&request)?;
        let command = CreateContract::try_from(request.into_inner()).map_err(invalid)?;
        let contract = self.service.create_contract(&context, command).await?;
        Ok(Response::new(contract_message(&contract)))
    }

    async fn get_contract(&self, request: Request<api::GetContractRequest>) -> Result<Response<api::Contract>, Status> {
        let context = context(&request)?;
        let id = parse_contract_name(&request.get_ref().name).map_err(|e| invalid(Violations::single("name", e)))?;
        let contract = self.service.get_contract(&context, id).await?;
        Ok(Response::new(contract_message(&contract)))
    }

    async fn list_contracts(
        &self,
        request: Request<api::ListContractsRequest>,
    ) -> Result<Response<api::ListContractsResponse>, Status> {
        let context = context(&request)?;
        let page = page_of(&self.pages, request.get_ref()).map_err(invalid)?;
        let page = self.service.list_contracts(&context, page).await?;
        Ok(Response::new(api::ListContractsResponse {
            contracts: page.items.iter().map(contract_message).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn create_intercedent(
        &self,
        request: Request<api::CreateIntercedentRequest>,
    ) -> Result<Response<api::Intercedent>, Status> {
        let context = context(&request)?;
        let command = CreateIntercedent::try_from(request.into_inner()).map_err(invalid)?;
        let intercedent = self.service.create_intercedent(&context, command).await?;
        Ok(Response::new(intercedent_message(&intercedent)))
    }

    async fn get_intercedent(
        &self,
        request: Request<api::GetIntercedentRequest>,
    ) -> Result<Response<api::Intercedent>, Status> {
        let context = context(&request)?;
        let (contract, id) =
            parse_intercedent_name(&request.get_ref().name).map_err(|e| invalid(Violations::single("name", e)))?;
        let intercedent = self.service.get_intercedent(&context, contract, id).await?;
        Ok(Response::new(intercedent_message(&intercedent)))
    }

    async fn list_intercedents(
        &self,
        request: Request<api::ListIntercedentsRequest>,
    ) -> Result<Response<api::ListIntercedentsResponse>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let (contract, page) = parent_and_page(&self.pages, &message.parent, message)?;
        let page = self.service.list_intercedents(&context, contract, page).await?;
        Ok(Response::new(api::ListIntercedentsResponse {
            intercedents: page.items.iter().map(intercedent_message).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn create_hourly_rate(
        &self,
        request: Request<api::CreateHourlyRateRequest>,
    ) -> Result<Response<api::HourlyRate>, Status> {
        let context = context(&request)?;
        let command = CreateHourlyRate::try_from(request.into_inner()).map_err(invalid)?;
        let (contract, intercedent) = (command.contract.clone(), command.intercedent.clone());
        let rate = self.service.create_hourly_rate(&context, command).await?;
        Ok(Response::new(rate_message(&contract, &intercedent, &rate)))
    }
}
