//! `flextensie.settlement.v1.InvoiceService`.

use tonic::{Request, Response, Status};

use super::api;
use super::api::invoice_service_server::InvoiceService as InvoiceServiceApi;
use super::convert::{context, date, invalid, parent_and_page, raw_date, timestamp};
use crate::domain::invoice::{
    Address, Buyer, CostMode, Flavour, InvoicingTerms, RawAddress, Series, VatCategory, VatRule, VatTable,
    optional_text, parse_endpoint_id, parse_endpoint_scheme, parse_kvk, parse_oin, parse_vat_number, required_text,
};
use crate::domain::names::{
    invoice_name, invoicing_name, municipality_name, parse_contract_name, parse_invoice_name, parse_municipality_name,
    statement_name,
};
use crate::domain::{PageTokens, RequestId, Violations, parse_date};
use crate::service::{InvoiceService, PutMunicipality, SetContractInvoicing};
use crate::storage::invoices::{InvoicingVersion, IssuedInvoice, MunicipalityVersion};

/// The gRPC face of [`InvoiceService`].
#[derive(Debug, Clone)]
pub struct InvoiceApi {
    service: InvoiceService,
    pages: PageTokens,
}

impl InvoiceApi {
    /// Serves `service` over gRPC; `pages` seals its listings' page tokens.
    #[must_use]
    pub fn new(service: InvoiceService, pages: PageTokens) -> InvoiceApi {
        InvoiceApi { service, pages }
    }
}

fn address(raw: Option<&api::PostalAddress>, prefix: &str, v: &mut Violations) -> Option<Address> {
    let Some(raw) = raw else {
        v.add(prefix, "is required");
        return None;
    };
    Address::parse(
        RawAddress { street: &raw.street, city: &raw.city, postal_zone: &raw.postal_zone, country: &raw.country },
        prefix,
        v,
    )
}

fn address_message(address: &Address) -> api::PostalAddress {
    api::PostalAddress {
        street: address.street.clone(),
        city: address.city.clone(),
        postal_zone: address.postal_zone.clone(),
        country: address.country.clone(),
    }
}

fn municipality_message(recorded: &MunicipalityVersion) -> api::Municipality {
    let buyer = &recorded.buyer;
    api::Municipality {
        name: municipality_name(&recorded.gemeente),
        display_name: buyer.name.clone(),
        oin: buyer.oin.clone(),
        kvk: buyer.kvk.clone().unwrap_or_default(),
        vat_number: buyer.vat_number.clone().unwrap_or_default(),
        address: Some(address_message(&buyer.address)),
        endpoint_scheme: buyer.endpoint.0.clone(),
        endpoint_id: buyer.endpoint.1.clone(),
        version: recorded.version,
        create_time: Some(timestamp(recorded.create_time)),
    }
}

fn category(raw: i32) -> Result<VatCategory, String> {
    match api::VatCategory::try_from(raw) {
        Ok(api::VatCategory::Standard) => Ok(VatCategory::Standard),
        Ok(api::VatCategory::ZeroRated) => Ok(VatCategory::Zero),
        Ok(api::VatCategory::Exempt) => Ok(VatCategory::Exempt),
        Ok(api::VatCategory::ReverseCharge) => Ok(VatCategory::ReverseCharge),
        Ok(api::VatCategory::NotSubject) => Ok(VatCategory::NotSubject),
        _ => Err("is required: one of the VAT_CATEGORY_* values".to_owned()),
    }
}

fn vat_rule(raw: Option<&api::VatRule>, field: &str, v: &mut Violations) -> Option<VatRule> {
    let Some(raw) = raw else { return Some(VatRule::standard_21()) };
    let category = v.check(&format!("{field}.category"), category(raw.category))?;
    let rate = v.check(
        &format!("{field}.rate_basis_points"),
        u32::try_from(raw.rate_basis_points).map_err(|_| "must not be negative".to_owned()),
    )?;
    v.check(field, VatRule::parse(category, rate, &raw.exemption_reason))
}

fn category_message(category: VatCategory) -> api::VatCategory {
    match category {
        VatCategory::Standard => api::VatCategory::Standard,
        VatCategory::Zero => api::VatCategory::ZeroRated,
        VatCategory::Exempt => api::VatCategory::Exempt,
        VatCategory::ReverseCharge => api::VatCategory::ReverseCharge,
        VatCategory::NotSubject => api::VatCategory::NotSubject,
    }
}

fn rule_message(rule: &VatRule) -> api::VatRule {
    api::VatRule {
        category: category_message(rule.category).into(),
        rate_basis_points: i32::try_from(rule.rate_bps).unwrap_or(i32::MAX),
        exemption_reason: rule.exemption_reason.clone().unwrap_or_default(),
    }
}

fn invoicing_message(recorded: &InvoicingVersion) -> api::ContractInvoicing {
    let terms = &recorded.terms;
    api::ContractInvoicing {
        name: invoicing_name(&recorded.contract),
        effective_from: Some(date(recorded.effective_from)),
        buyer_reference: terms.buyer_reference.clone().unwrap_or_default(),
        order_reference: terms.order_reference.clone().unwrap_or_default(),
        accounting_cost: terms.accounting_cost.clone().unwrap_or_default(),
        flavour: match terms.flavour {
            Flavour::SiUbl20 => api::InvoiceFlavour::SiUbl20,
            Flavour::PeppolBis3 => api::InvoiceFlavour::PeppolBis3,
        }
        .into(),
        fee: Some(rule_message(&terms.vat.fee)),
        covered: Some(rule_message(&terms.vat.covered)),
        shifted: Some(rule_message(&terms.vat.shifted)),
        intercedent_cost: Some(rule_message(&terms.vat.intercedent_cost)),
        intercedent_cost_mode: match terms.vat.cost_mode {
            CostMode::Split => api::IntercedentCostMode::Split,
            CostMode::Net => api::IntercedentCostMode::Net,
        }
        .into(),
        version: recorded.version,
        create_time: Some(timestamp(recorded.create_time)),
    }
}

fn invoice_message(invoice: &IssuedInvoice) -> api::StatementInvoice {
    let first = invoice.documents.first();
    api::StatementInvoice {
        name: invoice_name(&invoice.contract, invoice.period_start),
        statement: statement_name(&invoice.contract, invoice.period_start),
        documents: invoice
            .documents
            .iter()
            .map(|document| api::InvoiceDocument {
                number: document.number.clone(),
                series: match document.series {
                    Series::Statement => api::InvoiceSeries::Statement,
                    Series::NotSubject => api::InvoiceSeries::NotSubject,
                }
                .into(),
                customization_id: document.customization_id.clone(),
                content_type: "application/xml".to_owned(),
                content: document.content.clone().into_bytes(),
                content_sha256: document.content_sha256.clone(),
                line_total_cents: document.line_total.cents(),
                vat_cents: document.vat.cents(),
                payable_cents: document.payable.cents(),
                issue_date: Some(date(document.issue_date)),
            })
            .collect(),
        issued_by: first.map(|document| document.issued_by.clone()).unwrap_or_default(),
        create_time: first.map(|document| timestamp(document.create_time)),
    }
}

#[tonic::async_trait]
impl InvoiceServiceApi for InvoiceApi {
    async fn put_municipality(
        &self,
        request: Request<api::PutMunicipalityRequest>,
    ) -> Result<Response<api::Municipality>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&message.request_id));
        let Some(raw) = message.municipality.as_ref() else {
            v.add("municipality", "is required");
            return Err(invalid(v));
        };
        let gemeente = v.check("municipality.name", parse_municipality_name(&raw.name));
        let name = v.check("municipality.display_name", required_text(&raw.display_name));
        let oin = v.check("municipality.oin", parse_oin(&raw.oin));
        let kvk = if raw.kvk.trim().is_empty() {
            Some(None)
        } else {
            v.check("municipality.kvk", parse_kvk(&raw.kvk)).map(Some)
        };
        let vat_number = if raw.vat_number.trim().is_empty() {
            Some(None)
        } else {
            v.check("municipality.vat_number", parse_vat_number(&raw.vat_number)).map(Some)
        };
        let address = address(raw.address.as_ref(), "municipality.address", &mut v);
        let scheme = if raw.endpoint_scheme.trim().is_empty() {
            Some("0190".to_owned())
        } else {
            v.check("municipality.endpoint_scheme", parse_endpoint_scheme(&raw.endpoint_scheme))
        };
        let id = if raw.endpoint_id.trim().is_empty() {
            oin.clone()
        } else {
            v.check("municipality.endpoint_id", parse_endpoint_id(&raw.endpoint_id))
        };
        let (
            Some(request_id),
            Some(gemeente),
            Some(name),
            Some(oin),
            Some(kvk),
            Some(vat_number),
            Some(address),
            Some(scheme),
            Some(id),
        ) = (request_id, gemeente, name, oin, kvk, vat_number, address, scheme, id)
        else {
            return Err(invalid(v));
        };
        let buyer = Buyer { name, oin, kvk, vat_number, address, endpoint: (scheme, id) };
        let recorded = self.service.put_municipality(&context, PutMunicipality { request_id, gemeente, buyer }).await?;
        Ok(Response::new(municipality_message(&recorded)))
    }

    async fn get_municipality(
        &self,
        request: Request<api::GetMunicipalityRequest>,
    ) -> Result<Response<api::Municipality>, Status> {
        let context = context(&request)?;
        let gemeente = parse_municipality_name(&request.get_ref().name)
            .map_err(|error| invalid(Violations::single("name", error)))?;
        let recorded = self.service.get_municipality(&context, gemeente).await?;
        Ok(Response::new(municipality_message(&recorded)))
    }

    async fn set_contract_invoicing(
        &self,
        request: Request<api::SetContractInvoicingRequest>,
    ) -> Result<Response<api::ContractInvoicing>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let mut v = Violations::new();
        let request_id = v.check("request_id", RequestId::parse(&message.request_id));
        let contract = v.check("parent", parse_contract_name(&message.parent));
        let Some(raw) = message.invoicing.as_ref() else {
            v.add("invoicing", "is required");
            return Err(invalid(v));
        };
        let effective_from = v.check("invoicing.effective_from", parse_date(raw_date(raw.effective_from)));
        let buyer_reference = v.check("invoicing.buyer_reference", optional_text(&raw.buyer_reference));
        let order_reference = v.check("invoicing.order_reference", optional_text(&raw.order_reference));
        let accounting_cost = v.check("invoicing.accounting_cost", optional_text(&raw.accounting_cost));
        let flavour = v.check(
            "invoicing.flavour",
            match api::InvoiceFlavour::try_from(raw.flavour) {
                Ok(api::InvoiceFlavour::Unspecified | api::InvoiceFlavour::SiUbl20) => Ok(Flavour::SiUbl20),
                Ok(api::InvoiceFlavour::PeppolBis3) => Ok(Flavour::PeppolBis3),
                Err(_) => Err("is not an InvoiceFlavour".to_owned()),
            },
        );
        let cost_mode = v.check(
            "invoicing.intercedent_cost_mode",
            match api::IntercedentCostMode::try_from(raw.intercedent_cost_mode) {
                Ok(api::IntercedentCostMode::Unspecified | api::IntercedentCostMode::Split) => Ok(CostMode::Split),
                Ok(api::IntercedentCostMode::Net) => Ok(CostMode::Net),
                Err(_) => Err("is not an IntercedentCostMode".to_owned()),
            },
        );
        let fee = vat_rule(raw.fee.as_ref(), "invoicing.fee", &mut v);
        let covered = vat_rule(raw.covered.as_ref(), "invoicing.covered", &mut v);
        let shifted = vat_rule(raw.shifted.as_ref(), "invoicing.shifted", &mut v);
        let intercedent_cost = vat_rule(raw.intercedent_cost.as_ref(), "invoicing.intercedent_cost", &mut v);
        let (
            Some(request_id),
            Some(contract),
            Some(effective_from),
            Some(buyer_reference),
            Some(order_reference),
            Some(accounting_cost),
            Some(flavour),
            Some(cost_mode),
            Some(fee),
            Some(covered),
            Some(shifted),
            Some(intercedent_cost),
        ) = (
            request_id,
            contract,
            effective_from,
            buyer_reference,
            order_reference,
            accounting_cost,
            flavour,
            cost_mode,
            fee,
            covered,
            shifted,
            intercedent_cost,
        )
        else {
            return Err(invalid(v));
        };
        let vat = VatTable { fee, covered, shifted, intercedent_cost, cost_mode };
        vat.check().map_err(|error| invalid(Violations::single("invoicing", error)))?;
        let terms = InvoicingTerms { buyer_reference, order_reference, accounting_cost, flavour, vat };
        let recorded = self
            .service
            .set_contract_invoicing(&context, SetContractInvoicing { request_id, contract, effective_from, terms })
            .await?;
        Ok(Response::new(invoicing_message(&recorded)))
    }

    async fn list_contract_invoicing(
        &self,
        request: Request<api::ListContractInvoicingRequest>,
    ) -> Result<Response<api::ListContractInvoicingResponse>, Status> {
        let context = context(&request)?;
        let contract = parse_contract_name(&request.get_ref().parent)
            .map_err(|error| invalid(Violations::single("parent", error)))?;
        let versions = self.service.invoicing_history(&context, contract).await?;
        Ok(Response::new(api::ListContractInvoicingResponse {
            versions: versions.iter().map(invoicing_message).collect(),
        }))
    }

    async fn get_statement_invoice(
        &self,
        request: Request<api::GetStatementInvoiceRequest>,
    ) -> Result<Response<api::StatementInvoice>, Status> {
        let context = context(&request)?;
        let (contract, period_start) =
            parse_invoice_name(&request.get_ref().name).map_err(|error| invalid(Violations::single("name", error)))?;
        let invoice = self.service.invoice(&context, contract, period_start).await?;
        Ok(Response::new(invoice_message(&invoice)))
    }

    async fn list_invoices(
        &self,
        request: Request<api::ListInvoicesRequest>,
    ) -> Result<Response<api::ListInvoicesResponse>, Status> {
        let context = context(&request)?;
        let message = request.get_ref();
        let (contract, page) = parent_and_page(&self.pages, &message.parent, message)?;
        let page = self.service.list_invoices(&context, contract, page).await?;
        Ok(Response::new(api::ListInvoicesResponse {
            invoices: page.items.iter().map(invoice_message).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }
}
