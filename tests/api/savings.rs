//! Savings: either party records, the other verifies; only verified savings count.

use flexsettle::domain::{CbsCode, Principal, Role};
use flexsettle::grpc::api;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{TestApp, past_contract, violated_fields};

const CONTRACT: &str = "contracts/utrecht";

fn utrecht() -> Role {
    Role::Gemeente(CbsCode::parse("GM0344").unwrap())
}

fn name(id: &str) -> String {
    format!("{CONTRACT}/savings/{id}")
}

fn record(reference: &str, month: i32, cents: i64) -> api::SavingsRecord {
    api::SavingsRecord {
        period_start: crate::helpers::date(2025, month, 1),
        amount_cents: cents,
        kind: api::SavingsKind::FullOutflow.into(),
        source_reference: reference.to_owned(),
        certainty: api::SavingsCertainty::Definitive.into(),
        ..Default::default()
    }
}

fn submit(request_id: &str, savings: api::SavingsRecord) -> api::SubmitSavingsRequest {
    api::SubmitSavingsRequest { request_id: request_id.to_owned(), parent: CONTRACT.to_owned(), savings: Some(savings) }
}

fn verify(request_id: &str, ids: &[&str]) -> api::VerifySavingsRequest {
    api::VerifySavingsRequest {
        request_id: request_id.to_owned(),
        parent: CONTRACT.to_owned(),
        savings: ids.iter().map(|id| name(id)).collect(),
    }
}

async fn setup(app: &TestApp) {
    let request = api::CreateContractRequest {
        request_id: "c".to_owned(),
        contract_id: "utrecht".to_owned(),
        contract: Some(past_contract()),
    };
    app.create_contract(request).await.unwrap();
}

fn precondition(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_precondition_failure()
        .expect("PreconditionFailure")
        .violations
        .into_iter()
        .map(|v| v.r#type)
        .collect()
}

async fn verified_cents(app: &TestApp, month: i32) -> (i64, i64) {
    let totals = app
        .savings_as(Role::Auditor)
        .get_savings_totals(api::GetSavingsTotalsRequest {
            parent: CONTRACT.to_owned(),
            period_start: crate::helpers::date(2025, month, 1),
        })
        .await
        .unwrap()
        .into_inner();
    let verified = totals.states.iter().find(|state| state.state() == api::SavingsState::Verified).unwrap();
    (verified.record_count, verified.amount_cents)
}

on_both_backends! {
    async fn either_party_records_and_only_the_other_verifies(app) {
        setup(&app).await;
        let mut billing = app.savings_as(Role::Billing);
        let mut gemeente = app.savings_as(utrecht());
        let by_billing = billing.submit_savings(submit("s-1", record("uwv-1", 1, 410_000))).await.unwrap().into_inner();
        assert_eq!((by_billing.submitted_party.as_str(), by_billing.state()), ("flextensie", api::SavingsState::Submitted));
        gemeente.submit_savings(submit("s-2", record("gm-1", 1, 90_000))).await.unwrap();
        // The submitting party may not verify its own savings, whoever its principal is.
        let another_billing = Principal { subject: "billing-2".to_owned(), role: Role::Billing };
        let same_party = app.savings_as_principal(another_billing).verify_savings(verify("v-1", &["uwv-1"])).await.unwrap_err();
        assert_eq!(precondition(&same_party), ["SAME_PARTY"]);
        assert_eq!(verified_cents(&app, 1).await, (0, 0), "nothing counts before the other party verifies");
        gemeente.verify_savings(verify("v-2", &["uwv-1"])).await.unwrap();
        billing.verify_savings(verify("v-3", &["gm-1"])).await.unwrap();
        assert_eq!(verified_cents(&app, 1).await, (2, 500_000));
        let twice = gemeente.verify_savings(verify("v-4", &["uwv-1"])).await.unwrap_err();
        assert_eq!(precondition(&twice), ["ALREADY_DECIDED"]);
    }
}

on_both_backends! {
    async fn bad_savings_are_refused_with_every_reason_and_store_nothing(app) {
        setup(&app).await;
        let audit = app.audit_size().await;
        let bad = api::SavingsRecord {
            amount_cents: 0,
            kind: api::SavingsKind::Unspecified.into(),
            candidate: "111222333".to_owned(),
            ..record("uwv-1", 1, 1)
        };
        let status = app.savings_as(Role::Billing).submit_savings(submit("s-1", bad)).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["savings.amount_cents", "savings.kind", "savings.candidate"]);
        let mid_month = api::SavingsRecord { period_start: crate::helpers::date(2025, 1, 15), ..record("uwv-1", 1, 1) };
        let status = app.savings_as(Role::Billing).submit_savings(submit("s-2", mid_month)).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["savings.period_start"]);
        let after_term = api::SavingsRecord { period_start: crate::helpers::date(2026, 1, 1), ..record("uwv-1", 1, 1) };
        let status = app.savings_as(Role::Billing).submit_savings(submit("s-3", after_term)).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["savings.period_start"]);
        assert_eq!(app.audit_size().await, audit);
    }
}

on_both_backends! {
    async fn a_source_reference_names_one_record(app) {
        setup(&app).await;
        let mut billing = app.savings_as(Role::Billing);
        let first = billing.submit_savings(submit("s-1", record("uwv-1", 1, 410_000))).await.unwrap().into_inner();
        let audit = app.audit_size().await;
        let again = billing.submit_savings(submit("s-2", record("uwv-1", 1, 410_000))).await.unwrap().into_inner();
        assert_eq!(again, first);
        assert_eq!(app.audit_size().await, audit);
        let other = billing.submit_savings(submit("s-3", record("uwv-1", 1, 410_001))).await.unwrap_err();
        assert_eq!(violated_fields(&other), ["source_reference"]);
    }
}

on_both_backends! {
    async fn a_correction_takes_savings_back_but_never_more_than_was_saved(app) {
        setup(&app).await;
        let mut billing = app.savings_as(Role::Billing);
        let mut gemeente = app.savings_as(utrecht());
        billing.submit_savings(submit("s-1", record("uwv-1", 2, 980_000))).await.unwrap();
        let correct = |id: &str, cents: i64| api::CorrectSavingsRequest {
            request_id: id.to_owned(),
            savings: name("uwv-1"),
            amount_cents: cents,
            source_reference: id.to_owned(),
            note: "definitive figure".to_owned(),
        };
        let early = billing.correct_savings(correct("c-1", -1)).await.unwrap_err();
        assert_eq!(precondition(&early), ["NOT_VERIFIED"]);
        gemeente.verify_savings(verify("v-1", &["uwv-1"])).await.unwrap();
        let correction = billing.correct_savings(correct("c-2", -80_000)).await.unwrap().into_inner();
        assert_eq!((correction.amount_cents, correction.corrects.as_str()), (-80_000, name("uwv-1").as_str()));
        let too_much = billing.correct_savings(correct("c-3", -900_001)).await.unwrap_err();
        assert_eq!(precondition(&too_much), ["NET_AMOUNT_NEGATIVE"]);
        gemeente.verify_savings(verify("v-2", &["c-2"])).await.unwrap();
        assert_eq!(verified_cents(&app, 2).await, (2, 900_000));
    }
}

on_both_backends! {
    async fn a_rejected_record_does_not_count_and_says_why(app) {
        setup(&app).await;
        app.savings_as(utrecht()).submit_savings(submit("s-1", record("gm-1", 3, 200_000))).await.unwrap();
        let mut billing = app.savings_as(Role::Billing);
        let reject = |reason: &str| api::RejectSavingsRequest { request_id: "r-1".to_owned(), savings: name("gm-1"), reason: reason.to_owned() };
        assert_eq!(billing.reject_savings(reject("")).await.unwrap_err().code(), Code::InvalidArgument);
        let rejected = billing.reject_savings(reject("no outflow found")).await.unwrap().into_inner();
        assert_eq!((rejected.state(), rejected.rejection_reason.as_str()), (api::SavingsState::Rejected, "no outflow found"));
        assert_eq!(verified_cents(&app, 3).await, (0, 0));
        let listed = app
            .savings_as(utrecht())
            .list_savings(api::ListSavingsRequest {
                parent: CONTRACT.to_owned(),
                state: api::SavingsState::Rejected.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.savings.len(), 1);
    }
}
