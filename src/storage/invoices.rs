//! Invoicing data and issued invoices (DESIGN.md §9). Only ever inserted: a change of party or
//! invoicing data is a new version, and an issued document is never edited.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::{contract_invoicing, invoices, municipalities, statements};
use super::{AnyConnection, from_stored_time, to_stored_time};
use crate::domain::audit::canonical_json;
use crate::domain::invoice::{Buyer, Corrected, InvoicingTerms, Series};
use crate::domain::{CbsCode, Cents, Contract, ContractId, Page, PageRequest, Violations};
use crate::error::{Context, Error};

/// A version of a municipality's party data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MunicipalityVersion {
    /// Its CBS code.
    pub gemeente: CbsCode,
    /// 1, 2, 3, …
    pub version: i64,
    /// The party data.
    pub buyer: Buyer,
    /// When recorded.
    pub create_time: DateTime<Utc>,
}

/// A version of a contract's invoicing data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoicingVersion {
    /// The contract.
    pub contract: ContractId,
    /// First day it applies to.
    pub effective_from: NaiveDate,
    /// 1, 2, 3, … per contract and day.
    pub version: i64,
    /// The data.
    pub terms: InvoicingTerms,
    /// When recorded.
    pub create_time: DateTime<Utc>,
}

/// An issued invoice document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedDocument {
    /// 1 for the statement's document, 2 for its document of lines not subject to VAT.
    pub position: i32,
    /// Its number.
    pub number: String,
    /// Its series.
    pub series: Series,
    /// Its `cbc:CustomizationID`.
    pub customization_id: String,
    /// Its issue date.
    pub issue_date: NaiveDate,
    /// The UBL XML; empty in listings and in the audit record.
    #[serde(skip)]
    pub content: String,
    /// SHA-256 of the XML, hex.
    pub content_sha256: String,
    /// Sum of its lines.
    pub line_total: Cents,
    /// Its VAT.
    pub vat: Cents,
    /// Payable: positive to Flextensie, negative to the municipality.
    pub payable: Cents,
    /// Subject of the principal whose call issued it.
    pub issued_by: String,
    /// When issued.
    pub create_time: DateTime<Utc>,
}

/// The invoice of one statement: its documents, in position order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedInvoice {
    /// The contract.
    pub contract: ContractId,
    /// The statement's period.
    pub period_start: NaiveDate,
    /// Its documents.
    pub documents: Vec<IssuedDocument>,
}

fn next_version(latest: Option<i64>) -> i64 {
    latest.map_or(1, |version| version.saturating_add(1))
}

/// Records a new version of a municipality's party data.
///
/// # Errors
/// A storage fault.
pub fn insert_municipality(
    connection: &mut AnyConnection,
    gemeente: &CbsCode,
    buyer: &Buyer,
    now: DateTime<Utc>,
) -> Result<MunicipalityVersion, Error> {
    let latest: Option<i64> = municipalities::table
        .filter(municipalities::gemeente.eq(gemeente.as_str()))
        .select(diesel::dsl::max(municipalities::version))
        .first(connection)
        .context("reading a municipality's latest version")?;
    let version = next_version(latest);
    let content = canonical_json(buyer).context("encoding a municipality")?;
    diesel::insert_into(municipalities::table)
        .values((
            municipalities::gemeente.eq(gemeente.as_str()),
            municipalities::version.eq(version),
            municipalities::content.eq(&content),
            municipalities::create_time.eq(to_stored_time(now)),
        ))
        .execute(connection)
        .context("recording a municipality")?;
    Ok(MunicipalityVersion { gemeente: gemeente.clone(), version, buyer: buyer.clone(), create_time: now })
}

/// The latest version of a municipality's party data, if it was ever recorded.
///
/// # Errors
/// A storage fault.
pub fn latest_municipality(
    connection: &mut AnyConnection,
    gemeente: &CbsCode,
) -> Result<Option<MunicipalityVersion>, Error> {
    let row: Option<(i64, String, chrono::NaiveDateTime)> = municipalities::table
        .filter(municipalities::gemeente.eq(gemeente.as_str()))
        .order(municipalities::version.desc())
        .select((municipalities::version, municipalities::content, municipalities::create_time))
        .first(connection)
        .optional()
        .context("reading a municipality")?;
    row.map(|(version, content, time)| {
        Ok(MunicipalityVersion {
            gemeente: gemeente.clone(),
            version,
            buyer: serde_json::from_str(&content).context("decoding a stored municipality")?,
            create_time: from_stored_time(time),
        })
    })
    .transpose()
}

/// Records a new version of a contract's invoicing data from `effective_from` on.
///
/// # Errors
/// A storage fault.
pub fn insert_invoicing(
    connection: &mut AnyConnection,
    contract: &ContractId,
    effective_from: NaiveDate,
    terms: &InvoicingTerms,
    now: DateTime<Utc>,
) -> Result<InvoicingVersion, Error> {
    let latest: Option<i64> = contract_invoicing::table
        .filter(contract_invoicing::contract_id.eq(contract.as_str()))
        .filter(contract_invoicing::effective_from.eq(effective_from))
        .select(diesel::dsl::max(contract_invoicing::version))
        .first(connection)
        .context("reading a contract's latest invoicing version")?;
    let version = next_version(latest);
    let content = canonical_json(terms).context("encoding invoicing data")?;
    diesel::insert_into(contract_invoicing::table)
        .values((
            contract_invoicing::contract_id.eq(contract.as_str()),
            contract_invoicing::effective_from.eq(effective_from),
            contract_invoicing::version.eq(version),
            contract_invoicing::content.eq(&content),
            contract_invoicing::create_time.eq(to_stored_time(now)),
        ))
        .execute(connection)
        .context("recording invoicing data")?;
    Ok(InvoicingVersion { contract: contract.clone(), effective_from, version, terms: terms.clone(), create_time: now })
}

type InvoicingRow = (NaiveDate, i64, String, chrono::NaiveDateTime);

fn into_invoicing(
    contract: &ContractId,
    (effective_from, version, content, time): InvoicingRow,
) -> Result<InvoicingVersion, Error> {
    Ok(InvoicingVersion {
        contract: contract.clone(),
        effective_from,
        version,
        terms: serde_json::from_str(&content).context("decoding stored invoicing data")?,
        create_time: from_stored_time(time),
    })
}

/// Every version of a contract's invoicing data, by day and version.
///
/// # Errors
/// A storage fault.
pub fn invoicing_history(
    connection: &mut AnyConnection,
    contract: &ContractId,
) -> Result<Vec<InvoicingVersion>, Error> {
    let rows: Vec<InvoicingRow> = contract_invoicing::table
        .filter(contract_invoicing::contract_id.eq(contract.as_str()))
        .order((contract_invoicing::effective_from.asc(), contract_invoicing::version.asc()))
        .select((
            contract_invoicing::effective_from,
            contract_invoicing::version,
            contract_invoicing::content,
            contract_invoicing::create_time,
        ))
        .load(connection)
        .context("reading invoicing data")?;
    rows.into_iter().map(|row| into_invoicing(contract, row)).collect()
}

/// The contract's invoicing data in force on `day`: the latest version of the latest day on or
/// before it.
///
/// # Errors
/// A storage fault.
pub fn invoicing_on(
    connection: &mut AnyConnection,
    contract: &ContractId,
    day: NaiveDate,
) -> Result<Option<InvoicingVersion>, Error> {
    let row: Option<InvoicingRow> = contract_invoicing::table
        .filter(contract_invoicing::contract_id.eq(contract.as_str()))
        .filter(contract_invoicing::effective_from.le(day))
        .order((contract_invoicing::effective_from.desc(), contract_invoicing::version.desc()))
        .select((
            contract_invoicing::effective_from,
            contract_invoicing::version,
            contract_invoicing::content,
            contract_invoicing::create_time,
        ))
        .first(connection)
        .optional()
        .context("reading invoicing data")?;
    row.map(|row| into_invoicing(contract, row)).transpose()
}

/// What an invoice of `contract`'s statement of `period_start` is made of besides the statement:
/// the municipality's latest party data and the contract's invoicing data in force on the
/// period, each if recorded.
///
/// # Errors
/// A storage fault.
pub fn invoicing_inputs(
    connection: &mut AnyConnection,
    contract: &Contract,
    period_start: NaiveDate,
) -> Result<(Option<Buyer>, Option<InvoicingTerms>), Error> {
    let buyer = latest_municipality(connection, contract.terms.gemeente())?.map(|version| version.buyer);
    let terms = invoicing_on(connection, &contract.id, period_start)?.map(|version| version.terms);
    Ok((buyer, terms))
}

/// The statements of `contract` whose periods start on `periods`, as correction lines refer to
/// them: period, number, and the number of their invoice's document of lines not subject to
/// VAT, if it has one. Two queries, whatever the number of periods.
///
/// # Errors
/// A storage fault, or [`Error::Internal`] when a period has no statement.
pub fn corrected_statements(
    connection: &mut AnyConnection,
    contract: &Contract,
    periods: &[NaiveDate],
) -> Result<Vec<Corrected>, Error> {
    let numbers: Vec<(NaiveDate, String)> = statements::table
        .filter(statements::contract_id.eq(contract.id.as_str()))
        .filter(statements::period_start.eq_any(periods))
        .select((statements::period_start, statements::number))
        .load(connection)
        .context("reading corrected statements' numbers")?;
    let not_subject: Vec<(NaiveDate, String)> = invoices::table
        .filter(invoices::contract_id.eq(contract.id.as_str()))
        .filter(invoices::period_start.eq_any(periods))
        .filter(invoices::series.eq(series_name(Series::NotSubject)))
        .select((invoices::period_start, invoices::number))
        .load(connection)
        .context("reading corrected invoices' numbers")?;
    periods
        .iter()
        .map(|start| {
            let number = numbers.iter().find(|(period, _)| period == start).map(|(_, number)| number.clone());
            let period = contract.terms.period_of(*start).filter(|period| period.start == *start);
            let (Some(number), Some(period)) = (number, period) else {
                return Err(Error::internal("finding a corrected statement", format!("no statement of {start}")));
            };
            let not_subject_number =
                not_subject.iter().find(|(period, _)| period == start).map(|(_, number)| number.clone());
            Ok(Corrected { period, number, not_subject_number })
        })
        .collect()
}

/// Stores a statement's documents.
///
/// # Errors
/// A storage fault (a statement issued twice is refused by the primary key).
pub fn insert_invoice(connection: &mut AnyConnection, invoice: &IssuedInvoice) -> Result<(), Error> {
    for document in &invoice.documents {
        diesel::insert_into(invoices::table)
            .values((
                invoices::contract_id.eq(invoice.contract.as_str()),
                invoices::period_start.eq(invoice.period_start),
                invoices::position.eq(document.position),
                invoices::number.eq(&document.number),
                invoices::series.eq(series_name(document.series)),
                invoices::customization_id.eq(&document.customization_id),
                invoices::issue_date.eq(document.issue_date),
                invoices::content.eq(&document.content),
                invoices::content_sha256.eq(&document.content_sha256),
                invoices::line_total_cents.eq(document.line_total.cents()),
                invoices::vat_cents.eq(document.vat.cents()),
                invoices::payable_cents.eq(document.payable.cents()),
                invoices::issued_by.eq(&document.issued_by),
                invoices::create_time.eq(to_stored_time(document.create_time)),
            ))
            .execute(connection)
            .context("storing an invoice document")?;
    }
    Ok(())
}

fn series_name(series: Series) -> &'static str {
    match series {
        Series::Statement => "STATEMENT",
        Series::NotSubject => "NOT_SUBJECT",
    }
}

type DocumentRow =
    (NaiveDate, i32, String, String, String, NaiveDate, String, String, i64, i64, i64, String, chrono::NaiveDateTime);

macro_rules! document_columns {
    ($content:expr) => {
        (
            invoices::period_start,
            invoices::position,
            invoices::number,
            invoices::series,
            invoices::customization_id,
            invoices::issue_date,
            $content,
            invoices::content_sha256,
            invoices::line_total_cents,
            invoices::vat_cents,
            invoices::payable_cents,
            invoices::issued_by,
            invoices::create_time,
        )
    };
}

fn into_document(row: DocumentRow) -> Result<(NaiveDate, IssuedDocument), Error> {
    let (
        period_start,
        position,
        number,
        series,
        customization_id,
        issue_date,
        content,
        sha,
        total,
        vat,
        payable,
        by,
        time,
    ) = row;
    let series = match series.as_str() {
        "STATEMENT" => Series::Statement,
        "NOT_SUBJECT" => Series::NotSubject,
        other => {
            return Err(Error::internal("decoding a stored invoice document", format!("unknown series {other:?}")));
        }
    };
    Ok((
        period_start,
        IssuedDocument {
            position,
            number,
            series,
            customization_id,
            issue_date,
            content,
            content_sha256: sha,
            line_total: Cents::from_stored(total),
            vat: Cents::from_stored(vat),
            payable: Cents::from_stored(payable),
            issued_by: by,
            create_time: from_stored_time(time),
        },
    ))
}

/// The invoice of a statement, with its documents' XML, if it was issued.
///
/// # Errors
/// A storage fault.
pub fn find_invoice(
    connection: &mut AnyConnection,
    contract: &ContractId,
    period_start: NaiveDate,
) -> Result<Option<IssuedInvoice>, Error> {
    let rows: Vec<DocumentRow> = invoices::table
        .filter(invoices::contract_id.eq(contract.as_str()))
        .filter(invoices::period_start.eq(period_start))
        .order(invoices::position.asc())
        .select(document_columns!(invoices::content))
        .load(connection)
        .context("reading an invoice")?;
    let documents =
        rows.into_iter().map(|row| into_document(row).map(|(_, document)| document)).collect::<Result<Vec<_>, _>>()?;
    Ok((!documents.is_empty()).then(|| IssuedInvoice { contract: contract.clone(), period_start, documents }))
}

/// The periods of the contract's statements up to and including `through` that have no
/// invoice yet, in order.
///
/// # Errors
/// A storage fault.
pub fn not_invoiced_through(
    connection: &mut AnyConnection,
    contract: &ContractId,
    through: NaiveDate,
) -> Result<Vec<NaiveDate>, Error> {
    let settled: Vec<NaiveDate> = statements::table
        .filter(statements::contract_id.eq(contract.as_str()))
        .filter(statements::period_start.le(through))
        .order(statements::period_start.asc())
        .select(statements::period_start)
        .load(connection)
        .context("reading a contract's statements")?;
    let invoiced: Vec<NaiveDate> = invoices::table
        .filter(invoices::contract_id.eq(contract.as_str()))
        .filter(invoices::period_start.le(through))
        .filter(invoices::position.eq(1))
        .select(invoices::period_start)
        .load(connection)
        .context("reading a contract's invoices")?;
    Ok(settled.into_iter().filter(|period| !invoiced.contains(period)).collect())
}

/// A page of a contract's invoices, oldest first, without their documents' XML.
///
/// # Errors
/// [`Error::InvalidArgument`] for a page token this service did not issue, or a storage fault.
pub fn list_invoices(
    connection: &mut AnyConnection,
    contract: &ContractId,
    page: &PageRequest,
) -> Result<Page<IssuedInvoice>, Error> {
    let size = usize::try_from(page.size.get()).unwrap_or(usize::MAX);
    // At most two documents per invoice: enough rows for the page and one more invoice.
    let rows = i64::from(page.size.get()).saturating_add(1).saturating_mul(2);
    let mut query = invoices::table
        .filter(invoices::contract_id.eq(contract.as_str().to_owned()))
        .order((invoices::period_start.asc(), invoices::position.asc()))
        .select(document_columns!(diesel::dsl::sql::<diesel::sql_types::Text>("''")))
        .limit(rows)
        .into_boxed();
    if let Some(after) = &page.after {
        let after: NaiveDate = after.parse().map_err(|_| {
            Error::InvalidArgument(Violations::single("page_token", "is not a token this service issued"))
        })?;
        query = query.filter(invoices::period_start.gt(after));
    }
    let rows: Vec<DocumentRow> = query.load(connection).context("listing invoices")?;
    let mut listed: Vec<IssuedInvoice> = Vec::new();
    for row in rows {
        let (period_start, document) = into_document(row)?;
        match listed.last_mut() {
            Some(invoice) if invoice.period_start == period_start => invoice.documents.push(document),
            _ => listed.push(IssuedInvoice { contract: contract.clone(), period_start, documents: vec![document] }),
        }
    }
    listed.truncate(size.saturating_add(1));
    Ok(super::contracts::paginate(listed, page, |invoice| invoice.period_start.to_string()))
}
