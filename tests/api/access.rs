//! Who may do what: every RPC × every role × own and other municipality, token refusals, and
//! tenant isolation of listings (DESIGN.md §6).

use flexsettle::domain::{CbsCode, Role};
use flexsettle::grpc::access::{RULES, RoleKind};
use flexsettle::grpc::api;
use tonic::Code;

use crate::helpers::{TestApp, all_contracts, create_contract_request, past_contract, worked_example_contract};

const OWN_GEMEENTE: &str = "GM0344";
const OTHER_GEMEENTE: &str = "GM0363";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Own,
    Other,
}

/// DESIGN.md §6, written out for the current RPCs: (method, roles allowed, scoped to the
/// caller's municipality). Kept apart from the service's own table on purpose.
const EXPECTED: &[(&str, &[RoleKind], bool)] = &[
    ("CreateContract", &[RoleKind::Admin], true),
    ("GetContract", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("ListContracts", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], false),
    ("CreateIntercedent", &[RoleKind::Admin], true),
    ("GetIntercedent", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("ListIntercedents", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("CreateHourlyRate", &[RoleKind::Admin], true),
    ("SubmitHours", &[RoleKind::Billing], true),
    ("CorrectHours", &[RoleKind::Billing], true),
    ("VerifyHours", &[RoleKind::Gemeente], true),
    ("RejectHours", &[RoleKind::Gemeente], true),
    ("GetHourEntry", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("ListHourEntries", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("GetHoursTotals", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("EvaluateCheckpoint", &[RoleKind::Billing, RoleKind::Gemeente], true),
    ("GetEvaluation", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("RecordGoNoGoDecision", &[RoleKind::Billing, RoleKind::Gemeente], true),
    ("ExerciseExtension", &[RoleKind::Admin], true),
    ("RegisterCandidate", &[RoleKind::Gemeente], true),
    ("RecordCandidateEvent", &[RoleKind::Gemeente], true),
    ("GetCandidate", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("ListCandidates", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("GetIntake", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("ListIntakeWindows", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("GetComposition", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("GetSocialResults", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("SubmitSavings", &[RoleKind::Billing, RoleKind::Gemeente], true),
    ("CorrectSavings", &[RoleKind::Billing, RoleKind::Gemeente], true),
    ("VerifySavings", &[RoleKind::Billing, RoleKind::Gemeente], true),
    ("RejectSavings", &[RoleKind::Billing, RoleKind::Gemeente], true),
    ("GetSavings", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("ListSavings", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("GetSavingsTotals", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("PreviewSettlement", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("SettlePeriod", &[RoleKind::Billing], true),
    ("GetStatement", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("ListStatements", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("ExportStatement", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("PutMunicipality", &[RoleKind::Admin], false),
    ("GetMunicipality", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("SetContractInvoicing", &[RoleKind::Admin], true),
    ("ListContractInvoicing", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    // An invoice is for the parties and the auditor; an admin manages the data it is made of.
    ("GetStatementInvoice", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor], true),
    ("ListInvoices", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor], true),
    // The log: a municipality lists only its own contracts' entries (filtered, not refused) and
    // reads the same checkpoints and proofs as an auditor; billing reads none of it.
    ("ListAuditEntries", &[RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], false),
    ("StreamAuditEntries", &[RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], false),
    ("GetCheckpoint", &[RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], false),
    ("GetInclusionProof", &[RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], false),
    ("GetConsistencyProof", &[RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], false),
    ("GetLogPublicKey", &[RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], false),
    ("GetStatementEvidence", &[RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
];

/// Lines each municipality's contract gets for the matrix to verify and reject (one per call).
const MATRIX_LINES: u32 = 120;

fn roles() -> [Role; 4] {
    [Role::Billing, Role::Gemeente(CbsCode::parse(OWN_GEMEENTE).unwrap()), Role::Auditor, Role::Admin]
}

fn rate(day: u32) -> api::HourlyRate {
    let date = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new(day.into());
    api::HourlyRate {
        effective_date: crate::helpers::date(
            chrono::Datelike::year(&date),
            i32::try_from(chrono::Datelike::month(&date)).unwrap(),
            i32::try_from(chrono::Datelike::day(&date)).unwrap(),
        ),
        rate_per_hour_cents: 4875,
        ..Default::default()
    }
}

/// Makes one call of `method` on the target municipality's resources; `n` keeps ids unique.
async fn call(app: &TestApp, role: &Role, method: &str, target: Target, n: u32) -> Result<(), tonic::Status> {
    let mut client = app.client_as(role.clone());
    let mut hours = app.hours_as(role.clone());
    let mut savings = app.savings_as(role.clone());
    let mut pool = app.pool_as(role.clone());
    // Each party decides what the other submitted.
    let submitted_by_other = if *role == Role::Billing { "sg" } else { "sb" };
    let (contract, gemeente) = match target {
        Target::Own => ("contracts/own", OWN_GEMEENTE),
        Target::Other => ("contracts/other", OTHER_GEMEENTE),
    };
    let intercedent = format!("{contract}/intercedents/int-1");
    let entry = |id: &str| format!("{contract}/hourEntries/{id}");
    let candidate = format!("{contract}/candidates/cbase");
    let mut invoices = crate::invoices::invoices_as(app, role.clone());
    let mut settlement = {
        let value = format!("Bearer {}", app.token(role.clone())).parse().unwrap();
        let channel = tonic::transport::Channel::from_shared(app.address.clone()).unwrap().connect_lazy();
        flexsettle::grpc::api::settlement_service_client::SettlementServiceClient::with_interceptor(
            channel,
            crate::helpers::Bearer::new(Some(value)),
        )
    };
    let mut gonogo = {
        let value = format!("Bearer {}", app.token(role.clone())).parse().unwrap();
        let channel = tonic::transport::Channel::from_shared(app.address.clone()).unwrap().connect_lazy();
        flexsettle::grpc::api::go_no_go_service_client::GoNoGoServiceClient::with_interceptor(
            channel,
            crate::helpers::Bearer::new(Some(value)),
        )
    };
    let mut audit = {
        let value = format!("Bearer {}", app.token(role.clone())).parse().unwrap();
        let channel = tonic::transport::Channel::from_shared(app.address.clone()).unwrap().connect_lazy();
        api::audit_service_client::AuditServiceClient::with_interceptor(
            channel,
            crate::helpers::Bearer::new(Some(value)),
        )
    };
    match method {
        "ListAuditEntries" => audit
            .list_audit_entries(api::ListAuditEntriesRequest {
                resource_prefix: format!("{contract}/"),
                ..Default::default()
            })
            .await
            .map(drop),
        "StreamAuditEntries" => {
            let mut stream =
                audit.stream_audit_entries(api::StreamAuditEntriesRequest { start_sequence: 1 }).await?.into_inner();
            stream.message().await.map(drop)
        }
        "GetCheckpoint" => audit.get_checkpoint(api::GetCheckpointRequest { tree_size: 0 }).await.map(drop),
        "GetInclusionProof" => {
            audit.get_inclusion_proof(api::GetInclusionProofRequest { sequence: 1, tree_size: 0 }).await.map(drop)
        }
        "GetConsistencyProof" => {
            let latest = audit.get_checkpoint(api::GetCheckpointRequest { tree_size: 0 }).await?.into_inner();
            let request = api::GetConsistencyProofRequest { from_tree_size: latest.tree_size, to_tree_size: 0 };
            audit.get_consistency_proof(request).await.map(drop)
        }
        "GetLogPublicKey" => audit.get_log_public_key(api::GetLogPublicKeyRequest {}).await.map(drop),
        "GetStatementEvidence" => audit
            .get_statement_evidence(api::GetStatementEvidenceRequest {
                name: format!("{contract}/statements/2025-01-01"),
            })
            .await
            .map(drop),
        "CreateContract" => {
            let contract = api::Contract { gemeente: gemeente.to_owned(), ..worked_example_contract() };
            let request = api::CreateContractRequest {
                request_id: format!("m-{n}"),
                contract_id: format!("m-{n}"),
                contract: Some(contract),
            };
            client.create_contract(request).await.map(drop)
        }
        "GetContract" => client.get_contract(api::GetContractRequest { name: contract.to_owned() }).await.map(drop),
        "ListContracts" => client.list_contracts(api::ListContractsRequest::default()).await.map(drop),
        "CreateIntercedent" => client
            .create_intercedent(api::CreateIntercedentRequest {
                request_id: format!("m-{n}"),
                parent: contract.to_owned(),
                intercedent_id: format!("m-{n}"),
                intercedent: Some(api::Intercedent { hourly_rates: vec![rate(0)], ..Default::default() }),
            })
            .await
            .map(drop),
        "GetIntercedent" => client.get_intercedent(api::GetIntercedentRequest { name: intercedent }).await.map(drop),
        "ListIntercedents" => client
            .list_intercedents(api::ListIntercedentsRequest { parent: contract.to_owned(), ..Default::default() })
            .await
            .map(drop),
        "CreateHourlyRate" => client
            .create_hourly_rate(api::CreateHourlyRateRequest {
                request_id: format!("m-{n}"),
                parent: intercedent,
                hourly_rate: Some(rate(n + 1)),
            })
            .await
            .map(drop),
        "SubmitHours" => hours
            .submit_hours(api::SubmitHoursRequest {
                request_id: format!("m-{n}"),
                parent: contract.to_owned(),
                entries: vec![hour_line(&format!("m-{n}"), 200 + n % 28, 1)],
            })
            .await
            .map(drop),
        "CorrectHours" => hours
            .correct_hours(api::CorrectHoursRequest {
                request_id: format!("m-{n}"),
                entry: entry("base"),
                minutes: 1,
                line_reference: format!("c-{n}"),
                note: String::new(),
            })
            .await
            .map(drop),
        "VerifyHours" => hours
            .verify_hours(api::VerifyHoursRequest {
                request_id: format!("m-{n}"),
                parent: contract.to_owned(),
                entries: vec![entry(&format!("tv-{n}"))],
            })
            .await
            .map(drop),
        "RejectHours" => hours
            .reject_hours(api::RejectHoursRequest {
                request_id: format!("m-{n}"),
                entry: entry(&format!("tr-{n}")),
                reason: "not worked".to_owned(),
            })
            .await
            .map(drop),
        "GetHourEntry" => hours.get_hour_entry(api::GetHourEntryRequest { name: entry("base") }).await.map(drop),
        "ListHourEntries" => hours
            .list_hour_entries(api::ListHourEntriesRequest { parent: contract.to_owned(), ..Default::default() })
            .await
            .map(drop),
        "GetHoursTotals" => hours
            .get_hours_totals(api::GetHoursTotalsRequest {
                parent: contract.to_owned(),
                period_start: crate::helpers::date(2025, 1, 1),
            })
            .await
            .map(drop),
        "EvaluateCheckpoint" => gonogo
            .evaluate_checkpoint(api::EvaluateCheckpointRequest {
                request_id: format!("m-{n}"),
                parent: contract.to_owned(),
                // Each party evaluates a checkpoint of its own; a checkpoint is evaluated once.
                checkpoint: if *role == Role::Billing {
                    crate::helpers::date(2026, 1, 1)
                } else {
                    crate::helpers::date(2026, 7, 1)
                },
            })
            .await
            .map(drop),
        "GetEvaluation" => gonogo
            .get_evaluation(api::GetEvaluationRequest { name: format!("{contract}/evaluations/2025-07-01") })
            .await
            .map(drop),
        "RecordGoNoGoDecision" => gonogo
            .record_go_no_go_decision(api::RecordGoNoGoDecisionRequest {
                request_id: format!("m-{n}"),
                evaluation: format!("{contract}/evaluations/2025-07-01"),
                verdict: api::GoNoGoVerdict::Go.into(),
                reasons: "on track".to_owned(),
            })
            .await
            .map(drop),
        "ExerciseExtension" => gonogo
            .exercise_extension(api::ExerciseExtensionRequest {
                request_id: format!("m-{n}"),
                contract: contract.to_owned(),
            })
            .await
            .map(drop),
        "PreviewSettlement" => settlement
            .preview_settlement(api::PreviewSettlementRequest {
                parent: contract.to_owned(),
                period_start: crate::helpers::date(2025, 2, 1),
            })
            .await
            .map(drop),
        "SettlePeriod" => settlement
            .settle_period(api::SettlePeriodRequest {
                request_id: format!("m-{n}"),
                parent: contract.to_owned(),
                period_start: crate::helpers::date(2025, 1, 1),
            })
            .await
            .map(drop),
        "PutMunicipality" => invoices
            .put_municipality(api::PutMunicipalityRequest {
                request_id: format!("m-{n}"),
                municipality: Some(municipality_party(gemeente)),
            })
            .await
            .map(drop),
        "GetMunicipality" => invoices
            .get_municipality(api::GetMunicipalityRequest { name: format!("municipalities/{gemeente}") })
            .await
            .map(drop),
        "SetContractInvoicing" => invoices
            .set_contract_invoicing(api::SetContractInvoicingRequest {
                request_id: format!("m-{n}"),
                parent: contract.to_owned(),
                invoicing: Some(contract_invoicing()),
            })
            .await
            .map(drop),
        "ListContractInvoicing" => invoices
            .list_contract_invoicing(api::ListContractInvoicingRequest { parent: contract.to_owned() })
            .await
            .map(drop),
        "GetStatementInvoice" => invoices
            .get_statement_invoice(api::GetStatementInvoiceRequest {
                name: format!("{contract}/statements/2025-01-01"),
            })
            .await
            .map(drop),
        "ListInvoices" => invoices
            .list_invoices(api::ListInvoicesRequest { parent: contract.to_owned(), ..Default::default() })
            .await
            .map(drop),
        "GetStatement" => settlement
            .get_statement(api::GetStatementRequest { name: format!("{contract}/statements/2025-01-01") })
            .await
            .map(drop),
        "ListStatements" => settlement
            .list_statements(api::ListStatementsRequest { parent: contract.to_owned(), ..Default::default() })
            .await
            .map(drop),
        "ExportStatement" => settlement
            .export_statement(api::ExportStatementRequest {
                name: format!("{contract}/statements/2025-01-01"),
                format: api::ExportFormat::Csv.into(),
            })
            .await
            .map(drop),
        "RegisterCandidate" => pool
            .register_candidate(api::RegisterCandidateRequest {
                request_id: format!("m-{n}"),
                parent: contract.to_owned(),
                candidate_id: format!("mc-{n}"),
                candidate: Some(api::Candidate {
                    arrangement: 3,
                    registration_date: crate::helpers::date(2025, 1, 10),
                    ..Default::default()
                }),
            })
            .await
            .map(drop),
        "RecordCandidateEvent" => pool
            .record_candidate_event(api::RecordCandidateEventRequest {
                request_id: format!("m-{n}"),
                candidate: candidate.clone(),
                event: Some(api::CandidateEvent {
                    kind: api::CandidateEventKind::PartialOutflow.into(),
                    date: crate::helpers::date(2025, 2, 1),
                    ..Default::default()
                }),
            })
            .await
            .map(drop),
        "GetCandidate" => pool.get_candidate(api::GetCandidateRequest { name: candidate.clone() }).await.map(drop),
        "ListCandidates" => pool
            .list_candidates(api::ListCandidatesRequest { parent: contract.to_owned(), ..Default::default() })
            .await
            .map(drop),
        "GetIntake" => pool
            .get_intake(api::GetIntakeRequest {
                parent: contract.to_owned(),
                from_date: crate::helpers::date(2025, 1, 1),
                to_date: crate::helpers::date(2025, 3, 31),
            })
            .await
            .map(drop),
        "ListIntakeWindows" => {
            pool.list_intake_windows(api::ListIntakeWindowsRequest { parent: contract.to_owned() }).await.map(drop)
        }
        "GetComposition" => pool
            .get_composition(api::GetCompositionRequest {
                parent: contract.to_owned(),
                date: crate::helpers::date(2025, 2, 1),
            })
            .await
            .map(drop),
        "GetSocialResults" => pool
            .get_social_results(api::GetSocialResultsRequest {
                parent: contract.to_owned(),
                from_date: crate::helpers::date(2025, 1, 1),
                to_date: crate::helpers::date(2025, 12, 31),
            })
            .await
            .map(drop),
        "SubmitSavings" => savings
            .submit_savings(api::SubmitSavingsRequest {
                request_id: format!("m-{n}"),
                parent: contract.to_owned(),
                savings: Some(savings_record(&format!("ms-{n}"))),
            })
            .await
            .map(drop),
        "CorrectSavings" => savings
            .correct_savings(api::CorrectSavingsRequest {
                request_id: format!("m-{n}"),
                savings: format!("{contract}/savings/sbase"),
                amount_cents: 1,
                source_reference: format!("msc-{n}"),
                note: String::new(),
            })
            .await
            .map(drop),
        "VerifySavings" => savings
            .verify_savings(api::VerifySavingsRequest {
                request_id: format!("m-{n}"),
                parent: contract.to_owned(),
                savings: vec![format!("{contract}/savings/{submitted_by_other}-v")],
            })
            .await
            .map(drop),
        "RejectSavings" => savings
            .reject_savings(api::RejectSavingsRequest {
                request_id: format!("m-{n}"),
                savings: format!("{contract}/savings/{submitted_by_other}-r"),
                reason: "not realised".to_owned(),
            })
            .await
            .map(drop),
        "GetSavings" => {
            savings.get_savings(api::GetSavingsRequest { name: format!("{contract}/savings/sbase") }).await.map(drop)
        }
        "ListSavings" => savings
            .list_savings(api::ListSavingsRequest { parent: contract.to_owned(), ..Default::default() })
            .await
            .map(drop),
        "GetSavingsTotals" => savings
            .get_savings_totals(api::GetSavingsTotalsRequest {
                parent: contract.to_owned(),
                period_start: crate::helpers::date(2025, 1, 1),
            })
            .await
            .map(drop),
        other => panic!("the access matrix has no call for {other}: add one"),
    }
}

/// A savings record of EUR 100.00 for January 2025.
fn savings_record(reference: &str) -> api::SavingsRecord {
    api::SavingsRecord {
        period_start: crate::helpers::date(2025, 1, 1),
        amount_cents: 10_000,
        kind: api::SavingsKind::FullOutflow.into(),
        source_reference: reference.to_owned(),
        certainty: api::SavingsCertainty::Definitive.into(),
        ..Default::default()
    }
}

/// A line of `minutes` on the `day`-th day of 2025.
fn hour_line(reference: &str, day: u32, minutes: i64) -> api::HourLine {
    let date = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new(day.into());
    api::HourLine {
        intercedent_id: "int-1".to_owned(),
        work_date: crate::helpers::naive_date(date),
        kind: api::TimeKind::Work.into(),
        minutes,
        line_reference: reference.to_owned(),
        note: String::new(),
    }
}

/// Two contracts of 2025, one per municipality, each with intercedent `int-1`, a verified
/// entry `base`, and submitted entries `tv-N` and `tr-N` for the matrix to decide.
/// A municipality's party data, with an OIN of its own.
fn municipality_party(gemeente: &str) -> api::Municipality {
    api::Municipality {
        name: format!("municipalities/{gemeente}"),
        oin: format!("0000000100{}000000", &gemeente[2..]),
        ..crate::invoices::utrecht_party()
    }
}

fn contract_invoicing() -> api::ContractInvoicing {
    api::ContractInvoicing {
        effective_from: crate::helpers::date(2025, 1, 1),
        buyer_reference: "FLEXPOOL".to_owned(),
        ..Default::default()
    }
}

async fn two_municipalities(app: &TestApp) {
    let mut admin = app.contracts.clone();
    let mut invoicing = crate::invoices::invoices_as(app, Role::Admin);
    for (id, gemeente) in [("own", OWN_GEMEENTE), ("other", OTHER_GEMEENTE)] {
        // Two years from 2025: three checkpoints reached by the server's clock (2026-07-15), and
        // the extension option still open.
        let contract = api::Contract { gemeente: gemeente.to_owned(), term_months: 24, ..past_contract() };
        let request = api::CreateContractRequest {
            request_id: format!("setup-{id}"),
            contract_id: id.to_owned(),
            contract: Some(contract),
        };
        admin.create_contract(request).await.unwrap();
        invoicing
            .put_municipality(api::PutMunicipalityRequest {
                request_id: format!("setup-municipality-{id}"),
                municipality: Some(municipality_party(gemeente)),
            })
            .await
            .unwrap();
        invoicing
            .set_contract_invoicing(api::SetContractInvoicingRequest {
                request_id: format!("setup-invoicing-{id}"),
                parent: format!("contracts/{id}"),
                invoicing: Some(contract_invoicing()),
            })
            .await
            .unwrap();
        admin
            .create_intercedent(api::CreateIntercedentRequest {
                request_id: format!("setup-int-{id}"),
                parent: format!("contracts/{id}"),
                intercedent_id: "int-1".to_owned(),
                intercedent: Some(api::Intercedent { hourly_rates: vec![rate(0)], ..Default::default() }),
            })
            .await
            .unwrap();
        let mut lines = vec![hour_line("base", 0, 60)];
        for n in 1..=MATRIX_LINES {
            lines.push(hour_line(&format!("tv-{n}"), n, 30));
            lines.push(hour_line(&format!("tr-{n}"), n, 30));
        }
        let parent = format!("contracts/{id}");
        let mut billing = app.hours_as(Role::Billing);
        billing
            .submit_hours(api::SubmitHoursRequest {
                request_id: format!("setup-hours-{id}"),
                parent: parent.clone(),
                entries: lines,
            })
            .await
            .unwrap();
        let municipality = Role::Gemeente(CbsCode::parse(gemeente).unwrap());
        app.hours_as(municipality.clone())
            .verify_hours(api::VerifyHoursRequest {
                request_id: format!("setup-verify-{id}"),
                parent: parent.clone(),
                entries: vec![format!("{parent}/hourEntries/base")],
            })
            .await
            .unwrap();
        for (role, references) in
            [(Role::Billing, ["sbase", "sb-v", "sb-r"]), (municipality.clone(), ["sg-v", "sg-r", "sg-x"])]
        {
            let mut client = app.savings_as(role);
            for reference in references {
                let request = api::SubmitSavingsRequest {
                    request_id: format!("setup-{id}-{reference}"),
                    parent: parent.clone(),
                    savings: Some(savings_record(reference)),
                };
                client.submit_savings(request).await.unwrap();
            }
        }
        app.pool_as(municipality.clone())
            .register_candidate(api::RegisterCandidateRequest {
                request_id: format!("setup-candidate-{id}"),
                parent: parent.clone(),
                candidate_id: "cbase".to_owned(),
                candidate: Some(api::Candidate {
                    arrangement: 3,
                    registration_date: crate::helpers::date(2025, 1, 5),
                    ..Default::default()
                }),
            })
            .await
            .unwrap();
        let value = format!("Bearer {}", app.token(Role::Billing)).parse().unwrap();
        let channel = tonic::transport::Channel::from_shared(app.address.clone()).unwrap().connect_lazy();
        flexsettle::grpc::api::go_no_go_service_client::GoNoGoServiceClient::with_interceptor(
            channel,
            crate::helpers::Bearer::new(Some(value)),
        )
        .evaluate_checkpoint(api::EvaluateCheckpointRequest {
            request_id: format!("setup-evaluate-{id}"),
            parent: parent.clone(),
            checkpoint: crate::helpers::date(2025, 7, 1),
        })
        .await
        .unwrap();
        let value = format!("Bearer {}", app.token(Role::Billing)).parse().unwrap();
        let channel = tonic::transport::Channel::from_shared(app.address.clone()).unwrap().connect_lazy();
        flexsettle::grpc::api::settlement_service_client::SettlementServiceClient::with_interceptor(
            channel,
            crate::helpers::Bearer::new(Some(value)),
        )
        .settle_period(api::SettlePeriodRequest {
            request_id: format!("setup-settle-{id}"),
            parent: parent.clone(),
            period_start: crate::helpers::date(2025, 1, 1),
        })
        .await
        .unwrap();
        app.savings_as(municipality)
            .verify_savings(api::VerifySavingsRequest {
                request_id: format!("setup-verify-savings-{id}"),
                parent: parent.clone(),
                savings: vec![format!("{parent}/savings/sbase")],
            })
            .await
            .unwrap();
    }
}

#[test]
fn the_matrix_covers_every_rpc_of_the_access_table() {
    let table: Vec<&str> = RULES.iter().map(|(path, _)| path.rsplit('/').next().unwrap()).collect();
    let matrix: Vec<&str> = EXPECTED.iter().map(|(method, _, _)| *method).collect();
    assert_eq!(table, matrix);
}

on_both_backends! {
    async fn every_rpc_answers_every_role_as_design_section_6_says(app) {
        let app = TestApp::spawn_with(app.backend, |settings| {
            settings.clock.fixed_now = Some("2026-07-15T10:00:00Z".parse().unwrap());
            settings.invoicing.seller = Some(crate::invoices::seller());
        })
        .await;
        two_municipalities(&app).await;
        let mut n = 0;
        let mut wrong = Vec::new();
        for (method, allowed, scoped) in EXPECTED {
            for role in roles() {
                let kind = RoleKind::of(&role);
                for target in [Target::Own, Target::Other] {
                    n += 1;
                    let expected = if !allowed.contains(&kind) || (kind == RoleKind::Gemeente && *scoped && target == Target::Other) {
                        Code::PermissionDenied
                    } else {
                        Code::Ok
                    };
                    let got = call(&app, &role, method, target, n).await.err().map_or(Code::Ok, |status| status.code());
                    if got != expected {
                        wrong.push(format!("{method} as {} on {target:?}: expected {expected:?}, got {got:?}", role.label()));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "cells that differ from DESIGN.md §6:\n{}", wrong.join("\n"));
    }
}

on_both_backends! {
    async fn a_municipality_lists_only_its_own_contracts(app) {
        two_municipalities(&app).await;
        let mut own = app.client_as(Role::Gemeente(CbsCode::parse(OWN_GEMEENTE).unwrap()));
        let names: Vec<String> = all_contracts(&mut own).await.into_iter().map(|contract| contract.name).collect();
        assert_eq!(names, ["contracts/own"]);
        let mut other = app.client_as(Role::Gemeente(CbsCode::parse(OTHER_GEMEENTE).unwrap()));
        let names: Vec<String> = all_contracts(&mut other).await.into_iter().map(|contract| contract.name).collect();
        assert_eq!(names, ["contracts/other"]);
        assert_eq!(all_contracts(&mut app.client_as(Role::Auditor)).await.len(), 2);
    }
}

on_both_backends! {
    async fn a_municipality_cannot_tell_a_missing_contract_from_anothers(app) {
        two_municipalities(&app).await;
        let mut own = app.client_as(Role::Gemeente(CbsCode::parse(OWN_GEMEENTE).unwrap()));
        for name in ["contracts/other", "contracts/does-not-exist"] {
            let status = own.get_contract(api::GetContractRequest { name: name.to_owned() }).await.unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{name}");
        }
        let mut admin = app.contracts.clone();
        let missing = admin.get_contract(api::GetContractRequest { name: "contracts/does-not-exist".to_owned() }).await;
        assert_eq!(missing.unwrap_err().code(), Code::NotFound);
    }
}

on_both_backends! {
    async fn the_audit_entry_names_the_real_principal(app) {
        app.create_contract(create_contract_request("r-1", "")).await.unwrap();
        let entry = app.audit_entries().await.remove(0);
        assert_eq!((entry.principal_subject.as_str(), entry.principal_role.as_str()), ("test-admin", "admin"));
    }
}
