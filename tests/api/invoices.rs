//! Statements as e-invoices (DESIGN.md §9) through the API: the worked example's figures to the
//! cent, issuing once and keeping the bytes whatever changes later, the municipality's scope,
//! the refusal that names missing data, and bad input that changes nothing.

use flexsettle::configuration::SellerSettings;
use flexsettle::domain::{CbsCode, Role};
use flexsettle::grpc::api;
use flexsettle::grpc::api::invoice_service_client::InvoiceServiceClient;
use flexsettle::storage::hex;
use sha2::Digest;
use tonic::Code;
use tonic_types::StatusExt;

use crate::gonogo::{CONTRACT, date, utrecht, worked_example};
use crate::helpers::{Backend, Bearer, TestApp, violated_fields};
use crate::settlement::settle;

type InvoiceClient =
    InvoiceServiceClient<tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>>;

pub(crate) fn invoices_as(app: &TestApp, role: Role) -> InvoiceClient {
    let value = format!("Bearer {}", app.token(role)).parse().unwrap();
    let channel = tonic::transport::Channel::from_shared(app.address.clone()).unwrap().connect_lazy();
    InvoiceServiceClient::with_interceptor(channel, Bearer::new(Some(value)))
}

pub(crate) fn seller() -> SellerSettings {
    SellerSettings {
        name: "Flextensie B.V.".to_owned(),
        kvk: "12345678".to_owned(),
        vat_number: "NL001234567B01".to_owned(),
        street: "Voorbeeldstraat 1".to_owned(),
        city: "Utrecht".to_owned(),
        postal_zone: "3511 AA".to_owned(),
        country: "NL".to_owned(),
        iban: "NL91 ABNA 0417 1643 00".to_owned(),
        payment_terms_days: 30,
    }
}

/// A server in July 2027 with Flextensie's party configured, and the worked example's inputs.
async fn worked_example_app(backend: Backend) -> TestApp {
    let now = "2027-07-15T10:00:00Z".parse().unwrap();
    let app = TestApp::spawn_with(backend, |settings| {
        settings.clock.fixed_now = Some(now);
        settings.invoicing.seller = Some(seller());
    })
    .await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    app
}

pub(crate) fn utrecht_party() -> api::Municipality {
    api::Municipality {
        name: "municipalities/GM0344".to_owned(),
        display_name: "Gemeente Utrecht".to_owned(),
        oin: "00000001002220647000".to_owned(),
        kvk: "30280353".to_owned(),
        address: Some(api::PostalAddress {
            street: "Postbus 16200".to_owned(),
            city: "Utrecht".to_owned(),
            postal_zone: "3500 CE".to_owned(),
            country: "NL".to_owned(),
        }),
        ..Default::default()
    }
}

fn standard(rate: i32) -> Option<api::VatRule> {
    Some(api::VatRule { category: api::VatCategory::Standard.into(), rate_basis_points: rate, ..Default::default() })
}

async fn set_invoicing(app: &TestApp, request_id: &str, invoicing: api::ContractInvoicing) -> api::ContractInvoicing {
    invoices_as(app, Role::Admin)
        .set_contract_invoicing(api::SetContractInvoicingRequest {
            request_id: request_id.to_owned(),
            parent: CONTRACT.to_owned(),
            invoicing: Some(invoicing),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn invoice(app: &TestApp, role: Role, month: u32) -> Result<api::StatementInvoice, tonic::Status> {
    invoices_as(app, role)
        .get_statement_invoice(api::GetStatementInvoiceRequest {
            name: format!("{CONTRACT}/statements/2027-{month:02}-01"),
        })
        .await
        .map(tonic::Response::into_inner)
}

fn totals(invoice: &api::StatementInvoice) -> Vec<(i64, i64, i64)> {
    invoice.documents.iter().map(|d| (d.line_total_cents, d.vat_cents, d.payable_cents)).collect()
}

async fn issued_invoices_match_the_worked_example_and_never_change(backend: Backend) {
    let app = worked_example_app(backend).await;
    for month in 1..=2 {
        settle(&app, month).await.unwrap();
    }

    // Nothing recorded yet: the refusal names every missing piece, and writes nothing.
    let before = app.audit_size().await;
    let refused = invoice(&app, Role::Billing, 1).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let violations = refused.get_details_precondition_failure().unwrap().violations;
    let subjects: Vec<&str> = violations.iter().map(|v| v.subject.as_str()).collect();
    assert_eq!(subjects, ["municipalities/GM0344", "contracts/utrecht/invoicing"]);
    assert!(violations.iter().all(|v| v.r#type == "INVOICING_DATA_MISSING"));
    assert_eq!(app.audit_size().await, before);

    let party = invoices_as(&app, Role::Admin)
        .put_municipality(api::PutMunicipalityRequest {
            request_id: "m-1".to_owned(),
            municipality: Some(utrecht_party()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((party.version, party.endpoint_scheme.as_str()), (1, "0190"));
    let net = api::ContractInvoicing {
        effective_from: date("2027-01-01"),
        buyer_reference: "WI-FLEXPOOL-2027".to_owned(),
        intercedent_cost_mode: api::IntercedentCostMode::Net.into(),
        ..Default::default()
    };
    let recorded = set_invoicing(&app, "inv-1", net.clone()).await;
    assert_eq!((recorded.version, recorded.fee), (1, standard(2_100)), "an unset rule is §9's default");

    // DESIGN.md §9: January NET −1,774.38 + VAT −372.62 = −2,147.00; February 4,274.38 +
    // 897.62 = 5,172.00. Asking for February first issues January before it (invoices are
    // issued in statement order); the municipality fetches its own, billing the other.
    let february = invoice(&app, Role::Billing, 2).await.unwrap();
    assert_eq!(totals(&february), [(427_438, 89_762, 517_200)]);
    let issued: Vec<String> = app
        .audit_entries()
        .await
        .into_iter()
        .filter(|entry| entry.action == "invoice.issue")
        .map(|entry| entry.resource)
        .collect();
    assert_eq!(
        issued,
        ["contracts/utrecht/statements/2027-01-01/invoice", "contracts/utrecht/statements/2027-02-01/invoice"]
    );
    let january = invoice(&app, utrecht(), 1).await.unwrap();
    assert_eq!(totals(&january), [(-177_438, -37_262, -214_700)]);
    let document = &january.documents[0];
    assert_eq!(document.number, "GM0344-2027-0001");
    assert_eq!(document.content_sha256, hex(&sha2::Sha256::digest(&document.content)));
    let xml = String::from_utf8(document.content.clone()).unwrap();
    assert!(xml.contains("<cbc:BuyerReference>WI-FLEXPOOL-2027</cbc:BuyerReference>"));
    assert!(xml.contains("<cbc:IssueDate>2027-07-15</cbc:IssueDate>"));
    assert!(xml.contains(r#"<cbc:ID schemeID="0106">30280353</cbc:ID>"#), "the municipality's KvK number");
    assert!(xml.contains(r#"<cbc:InvoicedQuantity unitCode="HUR">-120.5</cbc:InvoicedQuantity>"#));
    let by_own_name = invoices_as(&app, Role::Auditor)
        .get_statement_invoice(api::GetStatementInvoiceRequest { name: january.name.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_own_name, january);
    assert_eq!(app.audit_entries().await.iter().filter(|entry| entry.action == "invoice.issue").count(), 2);

    // Another municipality sees none of it, issued or not.
    let other = Role::Gemeente(CbsCode::parse("GM0363").unwrap());
    for month in [1, 3] {
        assert_eq!(invoice(&app, other.clone(), month).await.unwrap_err().code(), Code::PermissionDenied);
    }
    let listed = invoices_as(&app, other.clone())
        .list_invoices(api::ListInvoicesRequest { parent: CONTRACT.to_owned(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(listed.code(), Code::PermissionDenied);
    let party = invoices_as(&app, other)
        .get_municipality(api::GetMunicipalityRequest { name: "municipalities/GM0344".to_owned() })
        .await
        .unwrap_err();
    assert_eq!(party.code(), Code::PermissionDenied);

    // New settings (SPLIT, the shift not subject to VAT) apply to statements not yet invoiced;
    // the invoices issued keep their bytes.
    let not_subject = api::VatRule {
        category: api::VatCategory::NotSubject.into(),
        rate_basis_points: 0,
        exemption_reason: "Schadevergoeding, geen vergoeding voor een dienst".to_owned(),
    };
    let split = api::ContractInvoicing {
        intercedent_cost_mode: api::IntercedentCostMode::Split.into(),
        shifted: Some(not_subject),
        ..net
    };
    assert_eq!(set_invoicing(&app, "inv-2", split).await.version, 2);
    for role in [Role::Auditor, utrecht(), Role::Billing] {
        assert_eq!(invoice(&app, role, 1).await.unwrap(), january, "an issued invoice is never re-rendered");
    }
    // With the data complete, settling issues the statement's invoice at once.
    settle(&app, 3).await.unwrap();
    let actions: Vec<String> = app.audit_entries().await.into_iter().rev().take(2).map(|entry| entry.action).collect();
    assert_eq!(actions, ["invoice.issue", "statement.settle"]);
    let march = invoice(&app, Role::Billing, 3).await.unwrap();
    // Fee 1,250.00 + covered 1,400.62 at 21%; the shifted 4,121.38 in a document of its own.
    assert_eq!(totals(&march), [(265_062, 55_663, 320_725), (412_138, 0, 412_138)]);
    let numbers: Vec<&str> = march.documents.iter().map(|d| d.number.as_str()).collect();
    assert_eq!(numbers, ["GM0344-2027-0003", "GM0344-2027-O0001"]);

    keep_for_validation(app.backend, [&january, &february, &march]);

    let history = invoices_as(&app, Role::Auditor)
        .list_contract_invoicing(api::ListContractInvoicingRequest { parent: CONTRACT.to_owned() })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(history.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);

    let mut first_page = invoices_as(&app, Role::Auditor)
        .list_invoices(api::ListInvoicesRequest { parent: CONTRACT.to_owned(), page_size: 2, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let rest = invoices_as(&app, Role::Auditor)
        .list_invoices(api::ListInvoicesRequest {
            parent: CONTRACT.to_owned(),
            page_size: 2,
            page_token: first_page.next_page_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(rest.next_page_token.is_empty());
    first_page.invoices.extend(rest.invoices);
    let listed: Vec<(String, usize, bool)> = first_page
        .invoices
        .iter()
        .map(|i| (i.statement.clone(), i.documents.len(), i.documents.iter().all(|d| d.content.is_empty())))
        .collect();
    assert_eq!(
        listed,
        [1, 2, 3].map(|m| (format!("{CONTRACT}/statements/2027-{m:02}-01"), if m == 3 { 2 } else { 1 }, true))
    );
    assert_eq!(first_page.invoices[0].documents[0].content_sha256, january.documents[0].content_sha256);
}

async fn bad_invoicing_data_is_refused_and_changes_nothing(backend: Backend) {
    let app = worked_example_app(backend).await;
    let before = app.audit_size().await;
    let mut admin = invoices_as(&app, Role::Admin);
    let refused = admin
        .set_contract_invoicing(api::SetContractInvoicingRequest {
            request_id: "bad".to_owned(),
            parent: CONTRACT.to_owned(),
            invoicing: Some(api::ContractInvoicing {
                effective_from: date("2027-01-01"),
                buyer_reference: "WI\u{202e}1".to_owned(),
                fee: standard(0),
                covered: Some(api::VatRule { category: api::VatCategory::Exempt.into(), ..Default::default() }),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&refused), ["invoicing.buyer_reference", "invoicing.fee", "invoicing.covered"]);
    let party = api::Municipality {
        oin: "1234".to_owned(),
        vat_number: "nl-123".to_owned(),
        address: Some(api::PostalAddress { country: "Nederland".to_owned(), ..utrecht_party().address.unwrap() }),
        ..utrecht_party()
    };
    let refused = admin
        .put_municipality(api::PutMunicipalityRequest { request_id: "m".to_owned(), municipality: Some(party) })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&refused),
        ["municipality.oin", "municipality.vat_number", "municipality.address.country"]
    );
    // Line types of one category and rate share a VAT breakdown with room for one reason.
    let exempt = |reason: &str| {
        Some(api::VatRule {
            category: api::VatCategory::Exempt.into(),
            exemption_reason: reason.to_owned(),
            ..Default::default()
        })
    };
    let refused = admin
        .set_contract_invoicing(api::SetContractInvoicingRequest {
            request_id: "bad-2".to_owned(),
            parent: CONTRACT.to_owned(),
            invoicing: Some(api::ContractInvoicing {
                effective_from: date("2027-01-01"),
                buyer_reference: "WI".to_owned(),
                fee: exempt("Vrijgesteld"),
                covered: exempt("Anders"),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&refused), ["invoicing"]);
    // Only an admin manages invoicing data.
    let denied = invoices_as(&app, Role::Billing)
        .put_municipality(api::PutMunicipalityRequest {
            request_id: "m".to_owned(),
            municipality: Some(utrecht_party()),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(app.audit_size().await, before);
    let history = admin
        .list_contract_invoicing(api::ListContractInvoicingRequest { parent: CONTRACT.to_owned() })
        .await
        .unwrap()
        .into_inner();
    assert!(history.versions.is_empty());
    // An unsettled period has no invoice.
    let missing = invoice(&app, Role::Billing, 1).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
}

/// With `FLEXSETTLE_TEST_EINVOICE_OUT` set (`.ci/run` sets it), writes the documents the API issued
/// there, for `.ci/einvoice` to validate with the official rule sets beside the golden ones.
fn keep_for_validation<const N: usize>(backend: Backend, invoices: [&api::StatementInvoice; N]) {
    let Some(folder) = std::env::var_os("FLEXSETTLE_TEST_EINVOICE_OUT") else { return };
    let folder = std::path::PathBuf::from(folder);
    std::fs::create_dir_all(&folder).unwrap();
    for document in invoices.iter().flat_map(|invoice| &invoice.documents) {
        let file = folder.join(format!("{backend:?}-{}.xml", document.number).to_lowercase());
        std::fs::write(file, &document.content).unwrap();
    }
}

on_both!(issued_invoices_match_the_worked_example_and_never_change, bad_invoicing_data_is_refused_and_changes_nothing);
