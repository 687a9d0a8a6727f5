//! The flexpool: registrations, motivation checks, transitions, outflow and leavers, and the
//! queries over them, against hand-computed fixtures.

use flexsettle::domain::{CbsCode, Role};
use flexsettle::grpc::api;
use tonic::Code;

use crate::helpers::{PoolClient, TestApp, past_contract, violated_fields};

const CONTRACT: &str = "contracts/utrecht";

fn utrecht() -> Role {
    Role::Gemeente(CbsCode::parse("GM0344").unwrap())
}

fn date(text: &str) -> Option<flexsettle::grpc::proto::google::r#type::Date> {
    crate::helpers::naive_date(text.parse().unwrap())
}

/// A 2025 contract with 9-month intake windows: the second window (October 2025 to June 2026)
/// is cut short by the contract's end on 2025-12-31.
async fn setup(app: &TestApp) -> PoolClient {
    let contract = api::Contract { intake_window_months: 9, ..past_contract() };
    let request = api::CreateContractRequest {
        request_id: "c".to_owned(),
        contract_id: "utrecht".to_owned(),
        contract: Some(contract),
    };
    app.create_contract(request).await.unwrap();
    app.pool_as(utrecht())
}

async fn register(
    pool: &mut PoolClient,
    id: &str,
    arrangement: i32,
    registered: &str,
) -> Result<api::Candidate, tonic::Status> {
    pool.register_candidate(api::RegisterCandidateRequest {
        request_id: format!("register-{id}"),
        parent: CONTRACT.to_owned(),
        candidate_id: id.to_owned(),
        candidate: Some(api::Candidate { arrangement, registration_date: date(registered), ..Default::default() }),
    })
    .await
    .map(tonic::Response::into_inner)
}

async fn record(
    pool: &mut PoolClient,
    id: &str,
    kind: api::CandidateEventKind,
    on: &str,
    detail: &str,
) -> Result<api::Candidate, tonic::Status> {
    pool.record_candidate_event(api::RecordCandidateEventRequest {
        request_id: format!("event-{id}-{}-{on}", kind.as_str_name()),
        candidate: format!("{CONTRACT}/candidates/{id}"),
        event: Some(api::CandidateEvent {
            kind: kind.into(),
            date: date(on),
            detail: detail.to_owned(),
            ..Default::default()
        }),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// Six candidates: a, b motivated in window 1; c registered without a check; d motivated, moves
/// to arrangement 1 on 2025-05-15 and partly leaves benefits; e motivated, fully leaves benefits
/// and the pool in June; f motivated in window 2 (October).
async fn fixture(pool: &mut PoolClient) {
    use api::CandidateEventKind::{FullOutflow, Left, MotivationCheck, PartialOutflow, TransitionTo1};
    for (id, arrangement, registered) in [
        ("a", 3, "2025-01-06"),
        ("b", 1, "2025-02-03"),
        ("c", 3, "2025-02-10"),
        ("d", 3, "2025-03-03"),
        ("e", 3, "2025-04-07"),
        ("f", 3, "2025-10-06"),
    ] {
        register(pool, id, arrangement, registered).await.unwrap();
    }
    for (id, on) in
        [("a", "2025-01-07"), ("b", "2025-02-04"), ("d", "2025-03-04"), ("e", "2025-04-08"), ("f", "2025-10-07")]
    {
        record(pool, id, MotivationCheck, on, "consulent J.").await.unwrap();
    }
    record(pool, "d", TransitionTo1, "2025-05-15", "").await.unwrap();
    record(pool, "d", PartialOutflow, "2025-06-02", "").await.unwrap();
    record(pool, "e", FullOutflow, "2025-06-10", "").await.unwrap();
    record(pool, "e", Left, "2025-06-30", "found a job").await.unwrap();
}

on_both_backends! {
    async fn intake_windows_count_motivated_registrations_and_prorate_a_cut_short_minimum(app) {
        let mut pool = setup(&app).await;
        fixture(&mut pool).await;
        let windows = app.pool_as(Role::Auditor)
            .list_intake_windows(api::ListIntakeWindowsRequest { parent: CONTRACT.to_owned() })
            .await
            .unwrap()
            .into_inner()
            .windows;
        let summary: Vec<_> = windows
            .iter()
            .map(|w| (w.start_date, w.end_date, w.cut_short, w.minimum_intake, w.motivated_intake, w.below_minimum))
            .collect();
        // Window 2 runs 2025-10-01 .. 2026-06-30 (273 days) but the term ends 2025-12-31 (92 days):
        // minimum ceil(30 × 92 / 273) = ceil(10.1) = 11.
        assert_eq!(
            summary,
            [
                (date("2025-01-01"), date("2025-09-30"), false, 30, 4, true),
                (date("2025-10-01"), date("2025-12-31"), true, 11, 1, true),
            ]
        );
        let intake = app.pool_as(Role::Billing)
            .get_intake(api::GetIntakeRequest { parent: CONTRACT.to_owned(), from_date: date("2025-02-01"), to_date: date("2025-03-31") })
            .await
            .unwrap()
            .into_inner();
        // b, c, d registered; c was never checked.
        assert_eq!((intake.registrations, intake.motivated_intake), (3, 2));
    }
}

on_both_backends! {
    async fn composition_and_social_results_follow_the_pool(app) {
        let mut pool = setup(&app).await;
        fixture(&mut pool).await;
        let mut reader = app.pool_as(Role::Auditor);
        let composition = |on: &str| api::GetCompositionRequest { parent: CONTRACT.to_owned(), date: date(on) };
        // 2025-04-30: a, c, d, e in 3; b in 1 → 20.00 % / 80.00 %, short of 85 %.
        let april = reader.get_composition(composition("2025-04-30")).await.unwrap().into_inner();
        assert_eq!(
            (april.arrangement_1_count, april.arrangement_3_count, april.arrangement_1_share_bps, april.arrangement_3_share_bps, april.target_met),
            (1, 4, 2_000, 8_000, false)
        );
        // 2025-07-01: e has left, d moved to 1 → b, d in 1; a, c in 3.
        let july = reader.get_composition(composition("2025-07-01")).await.unwrap().into_inner();
        assert_eq!((july.arrangement_1_count, july.arrangement_3_count, july.target_arrangement_3_percent), (2, 2, 85));
        // Only a is in the pool on 2025-01-31: all arrangement 3, target met.
        let january = reader.get_composition(composition("2025-01-31")).await.unwrap().into_inner();
        assert!(january.target_met);
        let social = reader
            .get_social_results(api::GetSocialResultsRequest { parent: CONTRACT.to_owned(), from_date: date("2025-05-01"), to_date: date("2025-06-30") })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((social.transitions_3_to_1, social.full_outflow, social.partial_outflow), (1, 1, 1));
    }
}

on_both_backends! {
    async fn a_citizen_service_number_is_never_a_candidate_reference(app) {
        let mut pool = setup(&app).await;
        // 111222333 passes the 11-check (9+8+7+12+10+8+9+6−3 = 66); 111222334 does not.
        let status = register(&mut pool, "111222333", 3, "2025-01-06").await.unwrap_err();
        assert_eq!(violated_fields(&status), ["candidate_id"]);
        register(&mut pool, "111222334", 3, "2025-01-06").await.unwrap();
        assert_eq!(app.audit_size().await, 2, "the contract and one registration");
    }
}

on_both_backends! {
    async fn an_event_that_breaks_the_candidates_story_is_refused_and_writes_nothing(app) {
        use api::CandidateEventKind::{Left, MotivationCheck, PartialOutflow, TransitionTo1};
        let mut pool = setup(&app).await;
        register(&mut pool, "a", 1, "2025-01-06").await.unwrap();
        record(&mut pool, "a", MotivationCheck, "2025-01-07", "consulent J.").await.unwrap();
        let audit = app.audit_size().await;
        let refusals = [
            record(&mut pool, "a", MotivationCheck, "2025-01-08", "again").await,
            record(&mut pool, "a", TransitionTo1, "2025-02-01", "").await,
            record(&mut pool, "a", PartialOutflow, "2025-01-01", "").await,
        ];
        for refusal in refusals {
            assert_eq!(refusal.unwrap_err().code(), Code::FailedPrecondition);
        }
        let no_reason = record(&mut pool, "a", Left, "2025-03-01", "").await.unwrap_err();
        assert_eq!(violated_fields(&no_reason), ["event.detail"]);
        assert_eq!(app.audit_size().await, audit);
        record(&mut pool, "a", Left, "2025-03-01", "moved away").await.unwrap();
        let after = record(&mut pool, "a", PartialOutflow, "2025-03-02", "").await.unwrap_err();
        assert_eq!(after.code(), Code::FailedPrecondition);
    }
}
