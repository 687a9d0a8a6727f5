//! Invoices a municipality's finance system can book (DESIGN.md §9): party and invoicing data,
//! and issuing a statement's invoice the first time it is asked for. An issued invoice is
//! stored with its SHA-256 and an audit entry in one transaction, and every later request gets
//! those bytes, whatever changed in the settings since.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::instrument;

use super::{Clock, RequestContext, dutch_today, mutate_contract, mutate_scoped, read_scoped};
use crate::domain::invoice::{
    Buyer, InvoiceLines, InvoiceSource, InvoicingTerms, Missing, Seller, missing_data, render,
};
use crate::domain::names::{invoice_name, invoicing_name, municipality_name, statement_name};
use crate::domain::{Action, CbsCode, Contract, ContractId, Page, PageRequest, RequestId};
use crate::error::{Error, PreconditionViolation};
use crate::storage::invoices::{self as rows, InvoicingVersion, IssuedDocument, IssuedInvoice, MunicipalityVersion};
use crate::storage::{AnyConnection, Applied, Mutation, Store, hex, statements};

/// A checked request to record a municipality's party data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PutMunicipality {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The municipality.
    pub gemeente: CbsCode,
    /// Its party data.
    pub buyer: Buyer,
}

/// A checked request to record a contract's invoicing data from a day on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetContractInvoicing {
    /// The idempotency key; not part of the payload.
    #[serde(skip)]
    pub request_id: RequestId,
    /// The contract.
    pub contract: ContractId,
    /// First day it applies to (statements of periods starting on or after it).
    pub effective_from: NaiveDate,
    /// The data.
    pub terms: InvoicingTerms,
}

/// What issuing a statement's invoice records as its request: the statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct IssueInvoice {
    contract: ContractId,
    period_start: NaiveDate,
}

/// Party and invoicing data, and statements' invoices.
#[derive(Debug, Clone)]
pub struct InvoiceService {
    store: Store,
    clock: Clock,
    seller: Option<Arc<Seller>>,
}

impl InvoiceService {
    /// A service over `store` that reads the time from `clock`, with Flextensie's own party
    /// from the configuration (none: no invoice can be issued, and the refusal says so).
    #[must_use]
    pub fn new(store: Store, clock: Clock, seller: Option<Seller>) -> InvoiceService {
        InvoiceService { store, clock, seller: seller.map(Arc::new) }
    }

    /// Records a new version of a municipality's party data.
    ///
    /// # Errors
    /// [`Error::RequestIdReused`], or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), gemeente = command.gemeente.as_str()))]
    pub async fn put_municipality(
        &self,
        context: &RequestContext,
        command: PutMunicipality,
    ) -> Result<MunicipalityVersion, Error> {
        let now = self.clock.now();
        let mutation = Mutation::new(
            context.principal.clone(),
            command.request_id.clone(),
            Action::PutMunicipality,
            &command,
            now,
        )?;
        let (recorded, _) = self
            .store
            .mutate(mutation, move |connection| {
                let recorded = rows::insert_municipality(connection, &command.gemeente, &command.buyer, now)?;
                Ok(Applied::changed(municipality_name(&command.gemeente), recorded))
            })
            .await?;
        Ok(recorded)
    }

    /// The latest party data of a municipality; a municipality reads only its own.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::PermissionDenied`], or a fault.
    #[instrument(skip_all, fields(gemeente = gemeente.as_str()))]
    pub async fn get_municipality(
        &self,
        context: &RequestContext,
        gemeente: CbsCode,
    ) -> Result<MunicipalityVersion, Error> {
        let name = municipality_name(&gemeente);
        context.ensure_in_scope(&gemeente, &name)?;
        self.store
            .read(move |connection| {
                rows::latest_municipality(connection, &gemeente)?.ok_or(Error::NotFound { resource: name })
            })
            .await
    }

    /// Records a new version of a contract's invoicing data.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the contract, [`Error::RequestIdReused`], or a fault.
    #[instrument(skip_all, fields(request.id = command.request_id.as_str(), contract.id = command.contract.as_str()))]
    pub async fn set_contract_invoicing(
        &self,
        context: &RequestContext,
        command: SetContractInvoicing,
    ) -> Result<InvoicingVersion, Error> {
        let now = self.clock.now();
        let mutation = Mutation::new(
            context.principal.clone(),
            command.request_id.clone(),
            Action::SetContractInvoicing,
            &command,
            now,
        )?;
        let contract = command.contract.clone();
        mutate_scoped(&self.store, context, mutation, contract, move |connection, _, contract| {
            let recorded =
                rows::insert_invoicing(connection, &contract.id, command.effective_from, &command.terms, now)?;
            Ok(Applied::changed(invoicing_name(&contract.id), recorded))
        })
        .await
    }

    /// Every version of a contract's invoicing data.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the contract, or a fault.
    #[instrument(skip_all, fields(contract.id = contract.as_str()))]
    pub async fn invoicing_history(
        &self,
        context: &RequestContext,
        contract: ContractId,
    ) -> Result<Vec<InvoicingVersion>, Error> {
        read_scoped(&self.store, context, contract, |connection, contract| {
            rows::invoicing_history(connection, &contract.id)
        })
        .await
    }

    /// A statement's invoice: the stored documents, issued now if this is the first request.
    /// Invoices are issued in statement order, so that a correction's reference to an earlier
    /// invoice names one that exists: asking for one first issues the contract's earlier
    /// statements' invoices not issued yet, each in a transaction of its own.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the period is not settled, [`Error::FailedPrecondition`] with
    /// every piece of missing invoicing data, or a fault.
    #[instrument(skip_all, fields(contract.id = contract.as_str(), period.start = %period_start))]
    pub async fn invoice(
        &self,
        context: &RequestContext,
        contract: ContractId,
        period_start: NaiveDate,
    ) -> Result<IssuedInvoice, Error> {
        let id = contract.clone();
        let (issued, waiting) = read_scoped(&self.store, context, id, move |connection, contract| {
            match rows::find_invoice(connection, &contract.id, period_start)? {
                Some(invoice) => Ok((Some(invoice), Vec::new())),
                None => Ok((None, rows::not_invoiced_through(connection, &contract.id, period_start)?)),
            }
        })
        .await?;
        if let Some(invoice) = issued {
            return Ok(invoice);
        }
        if waiting.last() != Some(&period_start) {
            return Err(Error::NotFound { resource: statement_name(&contract, period_start) });
        }
        for period in waiting {
            self.issue(context, &contract, period).await?;
        }
        self.store
            .read(move |connection| {
                rows::find_invoice(connection, &contract, period_start)?
                    .ok_or(Error::NotFound { resource: invoice_name(&contract, period_start) })
            })
            .await
    }

    /// Issues a statement's invoice right after its settlement when the contract's invoicing
    /// data is complete, so that its issue date is the settlement's day; otherwise the first
    /// request issues it. Never fails the settlement, which has committed: a fault is logged,
    /// and the first request issues the invoice instead.
    pub async fn issue_when_ready(&self, context: &RequestContext, contract: ContractId, period_start: NaiveDate) {
        let Some(seller) = self.seller.clone() else { return };
        let id = contract.clone();
        let ready = self
            .store
            .read(move |connection| {
                let contract = crate::storage::contracts::get_contract(connection, &id)?;
                let (buyer, terms) = rows::invoicing_inputs(connection, &contract, period_start)?;
                let gaps = missing_data(&id, contract.terms.gemeente(), Some(&seller), buyer.as_ref(), terms.as_ref());
                Ok(gaps.is_empty())
            })
            .await;
        match ready {
            Ok(true) => match self.invoice(context, contract, period_start).await {
                Ok(invoice) => tracing::info!(documents = invoice.documents.len(), "invoice issued at settlement"),
                Err(error) => {
                    tracing::warn!(%error, "issuing the invoice at settlement failed; its first request issues it")
                }
            },
            Ok(false) => tracing::debug!("invoicing data incomplete: the invoice is issued on its first request"),
            Err(error) => tracing::warn!(%error, "reading invoicing data at settlement failed"),
        }
    }

    /// Issues the invoice of one statement, unless it was issued already.
    async fn issue(
        &self,
        context: &RequestContext,
        contract: &ContractId,
        period_start: NaiveDate,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        // An id no client can send: a retry, or a race with itself, replays; others find the
        // invoice issued.
        let request_id = RequestId::reserved(&format!("invoice.issue:{}:{period_start}", contract.as_str()));
        let command = IssueInvoice { contract: contract.clone(), period_start };
        let mutation = Mutation::new(context.principal.clone(), request_id, Action::IssueInvoice, &command, now)?;
        let seller = self.seller.clone();
        mutate_contract(&self.store, context, mutation, contract.clone(), move |connection, context, contract| {
            issue(connection, context, &contract, period_start, seller.as_deref(), now)
        })
        .await?;
        Ok(())
    }

    /// A page of a contract's issued invoices, without their documents' XML.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the contract, or a fault.
    #[instrument(skip_all, fields(contract.id = contract.as_str()))]
    pub async fn list_invoices(
        &self,
        context: &RequestContext,
        contract: ContractId,
        page: PageRequest,
    ) -> Result<Page<IssuedInvoice>, Error> {
        read_scoped(&self.store, context, contract, move |connection, contract| {
            rows::list_invoices(connection, &contract.id, &page)
        })
        .await
    }
}

/// Issues the invoice of the statement of `period_start` (unless it was issued already):
/// renders it from the statement and the settings in force on its period, numbers a second
/// document of lines not subject to VAT in its own series, and stores the documents.
fn issue(
    connection: &mut AnyConnection,
    context: &RequestContext,
    contract: &Contract,
    period_start: NaiveDate,
    seller: Option<&Seller>,
    now: DateTime<Utc>,
) -> Result<Applied<IssuedInvoice>, Error> {
    let name = invoice_name(&contract.id, period_start);
    let stored = statements::find_statement(connection, &contract.id, period_start)?
        .ok_or_else(|| Error::NotFound { resource: statement_name(&contract.id, period_start) })?;
    if let Some(issued) = rows::find_invoice(connection, &contract.id, period_start)? {
        return Ok(Applied::unchanged(name, issued));
    }
    if let Some(earlier) = rows::not_invoiced_through(connection, &contract.id, period_start)?.first()
        && *earlier < period_start
    {
        return Err(Error::precondition(
            "EARLIER_INVOICE_NOT_ISSUED",
            invoice_name(&contract.id, *earlier),
            "invoices are issued in statement order: issue this one first".to_owned(),
        ));
    }
    let (buyer, terms) = rows::invoicing_inputs(connection, contract, period_start)?;
    let gaps = missing_data(&contract.id, contract.terms.gemeente(), seller, buyer.as_ref(), terms.as_ref());
    let (true, Some(seller), Some(buyer), Some(terms)) = (gaps.is_empty(), seller, buyer.as_ref(), terms.as_ref())
    else {
        return Err(refusal(gaps));
    };
    let statement = &stored.statement;
    let periods: Vec<NaiveDate> = statement.corrections.iter().map(|correction| correction.period_start).collect();
    let corrected = rows::corrected_statements(connection, contract, &periods)?;
    let lines = InvoiceLines::of(statement, &terms.vat, &corrected)
        .map_err(|reason| Error::internal("drawing up an invoice's lines", reason))?;
    let second = if lines.needs_second_document() {
        let (prefix, _) = statement
            .number
            .rsplit_once('-')
            .ok_or_else(|| Error::internal("numbering an invoice", format!("statement number {}", statement.number)))?;
        let next = statements::advance(connection, &format!("invoice-series/not-subject/{prefix}"))?;
        Some(format!("{prefix}-O{next:04}"))
    } else {
        None
    };
    let issue_date = dutch_today(now);
    let source = InvoiceSource { statement, terms, seller, buyer, issue_date, second_number: second.as_deref() };
    let documents = render(&source, &lines).map_err(|reason| Error::internal("rendering an invoice", reason))?;
    let mut issued = IssuedInvoice { contract: contract.id.clone(), period_start, documents: Vec::new() };
    for (position, document) in (1..).zip(documents) {
        issued.documents.push(IssuedDocument {
            position,
            number: document.number,
            series: document.series,
            customization_id: terms.flavour.customization_id().to_owned(),
            issue_date,
            content_sha256: hex(&Sha256::digest(document.xml.as_bytes())),
            content: document.xml,
            line_total: document.line_total,
            vat: document.vat,
            payable: document.payable,
            issued_by: context.principal.subject.clone(),
            create_time: now,
        });
    }
    rows::insert_invoice(connection, &issued)?;
    Ok(Applied::changed(name, issued))
}

/// The refusal of an invoice that lacks data: one violation per missing piece.
fn refusal(gaps: Vec<Missing>) -> Error {
    Error::FailedPrecondition(
        gaps.into_iter()
            .map(|missing| PreconditionViolation {
                kind: "INVOICING_DATA_MISSING",
                subject: missing.subject,
                description: missing.description,
            })
            .collect(),
    )
}
