//! The go/no-go: DESIGN.md's worked example evaluated at its first checkpoint, field by field;
//! a no-go ends the contract; the extension option is exercised once.

use flexsettle::domain::{CbsCode, Role};
use flexsettle::grpc::api;
use flexsettle::grpc::api::go_no_go_service_client::GoNoGoServiceClient;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{Backend, TestApp, naive_date, worked_example_contract};

pub(crate) const CONTRACT: &str = "contracts/utrecht";

pub(crate) fn utrecht() -> Role {
    Role::Gemeente(CbsCode::parse("GM0344").unwrap())
}

pub(crate) fn date(text: &str) -> Option<flexsettle::grpc::proto::google::r#type::Date> {
    naive_date(text.parse().unwrap())
}

type GoNoGoClient = GoNoGoServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, crate::helpers::Bearer>,
>;

pub(crate) fn gonogo_as(app: &TestApp, role: Role) -> GoNoGoClient {
    let value = format!("Bearer {}", app.token(role)).parse().unwrap();
    let channel = tonic::transport::Channel::from_shared(app.address.clone()).unwrap().connect_lazy();
    GoNoGoServiceClient::with_interceptor(channel, crate::helpers::Bearer::new(Some(value)))
}

/// A server whose clock stands in July 2027, after the worked example's first half year.
pub(crate) async fn spawn(backend: Backend) -> TestApp {
    spawn_at(backend, "2027-07-15T10:00:00Z").await
}

/// A server whose clock stands at `now`.
pub(crate) async fn spawn_at(backend: Backend, now: &str) -> TestApp {
    let now = now.parse().unwrap();
    TestApp::spawn_with(backend, |settings| settings.clock.fixed_now = Some(now)).await
}

/// DESIGN.md §4's worked example: hours, savings and intake of January to March 2027, all
/// verified by the other party; 27 registrations of which 24 motivated (4 in arrangement 1).
pub(crate) async fn worked_example(app: &TestApp, mode: api::RiskShiftMode) {
    worked_example_with_intake(app, mode, 24).await;
}

/// The worked example with `motivated` of its 27 registrations motivated.
pub(crate) async fn worked_example_with_intake(app: &TestApp, mode: api::RiskShiftMode, motivated: u32) {
    let contract = api::Contract { risk_shift_mode: mode.into(), ..worked_example_contract() };
    worked_example_of(app, contract, motivated).await;
}

/// The worked example's inputs on `contract`, with `motivated` of its 27 registrations
/// motivated.
async fn worked_example_of(app: &TestApp, contract: api::Contract, motivated: u32) {
    let request = api::CreateContractRequest {
        request_id: "c".to_owned(),
        contract_id: "utrecht".to_owned(),
        contract: Some(contract),
    };
    app.create_contract(request).await.unwrap();
    let rate = |month, cents| api::HourlyRate {
        effective_date: crate::helpers::date(2027, month, 1),
        rate_per_hour_cents: cents,
        ..Default::default()
    };
    app.contracts
        .clone()
        .create_intercedent(api::CreateIntercedentRequest {
            request_id: "i".to_owned(),
            parent: CONTRACT.to_owned(),
            intercedent_id: "int-1".to_owned(),
            intercedent: Some(api::Intercedent {
                hourly_rates: vec![rate(1, 4875), rate(3, 5020)],
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let line = |reference: String, day: String, minutes| api::HourLine {
        intercedent_id: "int-1".to_owned(),
        work_date: date(&day),
        kind: api::TimeKind::Work.into(),
        minutes,
        line_reference: reference,
        note: String::new(),
    };
    let mut lines: Vec<api::HourLine> =
        (1..=30).map(|d| line(format!("jan-{d}"), format!("2027-01-{d:02}"), 241)).collect();
    lines.extend((1..=20).map(|d| line(format!("feb-{d}"), format!("2027-02-{d:02}"), 300)));
    lines.extend((1..=22).map(|d| line(format!("mar-{d}"), format!("2027-03-{d:02}"), 300)));
    let entries = app
        .hours_as(Role::Billing)
        .submit_hours(api::SubmitHoursRequest {
            request_id: "h".to_owned(),
            parent: CONTRACT.to_owned(),
            entries: lines,
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    app.hours_as(utrecht())
        .verify_hours(api::VerifyHoursRequest {
            request_id: "vh".to_owned(),
            parent: CONTRACT.to_owned(),
            entries: entries.into_iter().map(|entry| entry.name).collect(),
        })
        .await
        .unwrap();
    let mut billing = app.savings_as(Role::Billing);
    for (month, cents) in [(1, 410_000), (2, 980_000), (3, 200_000)] {
        let savings = api::SavingsRecord {
            period_start: crate::helpers::date(2027, month, 1),
            amount_cents: cents,
            kind: api::SavingsKind::FullOutflow.into(),
            source_reference: format!("uwv-{month}"),
            certainty: api::SavingsCertainty::Definitive.into(),
            ..Default::default()
        };
        billing
            .submit_savings(api::SubmitSavingsRequest {
                request_id: format!("s-{month}"),
                parent: CONTRACT.to_owned(),
                savings: Some(savings),
            })
            .await
            .unwrap();
    }
    app.savings_as(utrecht())
        .verify_savings(api::VerifySavingsRequest {
            request_id: "vs".to_owned(),
            parent: CONTRACT.to_owned(),
            savings: (1..=3).map(|month| format!("{CONTRACT}/savings/uwv-{month}")).collect(),
        })
        .await
        .unwrap();
    let mut pool = app.pool_as(utrecht());
    for n in 1..=motivated.max(27) {
        let registered = format!("2027-{:02}-{:02}", 1 + (n - 1) / 10, 1 + (n - 1) % 10);
        pool.register_candidate(api::RegisterCandidateRequest {
            request_id: format!("r-{n}"),
            parent: CONTRACT.to_owned(),
            candidate_id: format!("cand-{n}"),
            candidate: Some(api::Candidate {
                arrangement: if n <= 4 { 1 } else { 3 },
                registration_date: date(&registered),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
        // Three registrations lack a motivation check and do not count.
        if n <= motivated {
            pool.record_candidate_event(api::RecordCandidateEventRequest {
                request_id: format!("m-{n}"),
                candidate: format!("{CONTRACT}/candidates/cand-{n}"),
                event: Some(api::CandidateEvent {
                    kind: api::CandidateEventKind::MotivationCheck.into(),
                    date: date(&registered),
                    detail: "consulent".to_owned(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap();
        }
    }
}

pub(crate) async fn evaluate(app: &TestApp, role: Role, request_id: &str) -> Result<api::Evaluation, tonic::Status> {
    gonogo_as(app, role)
        .evaluate_checkpoint(api::EvaluateCheckpointRequest {
            request_id: request_id.to_owned(),
            parent: CONTRACT.to_owned(),
            checkpoint: date("2027-07-01"),
        })
        .await
        .map(tonic::Response::into_inner)
}

fn window(
    w: &api::EvaluatedWindow,
) -> (
    Option<flexsettle::grpc::proto::google::r#type::Date>,
    Option<flexsettle::grpc::proto::google::r#type::Date>,
    i32,
    i32,
    bool,
    [i64; 5],
) {
    (
        w.start_date,
        w.end_date,
        w.minimum_intake,
        w.motivated_intake,
        w.closed,
        [w.result_cents, w.covered_cents, w.uncovered_cents, w.shifted_cents, w.borne_cents],
    )
}

async fn the_worked_example_is_evaluated_field_by_field(backend: Backend) {
    let app = spawn(backend).await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    let evaluation = evaluate(&app, Role::Billing, "e-1").await.unwrap();
    assert_eq!(evaluation.name, format!("{CONTRACT}/evaluations/2027-07-01"));
    assert_eq!((evaluation.span_start, evaluation.span_end), (date("2027-01-01"), date("2027-06-30")));
    // Half year: savings 15,900.00; six fees 7,500.00; cost 16,271.38; result 8,400.00.
    assert_eq!(
        (evaluation.savings_cents, evaluation.fees_cents, evaluation.intercedent_cost_cents, evaluation.result_cents),
        (1_590_000, 750_000, 1_627_138, 840_000)
    );
    assert!(!evaluation.cost_neutral, "15,900.00 < 7,500.00 + 16,271.38");
    let social = evaluation.social_results.unwrap();
    assert_eq!((social.transitions_3_to_1, social.full_outflow, social.partial_outflow), (0, 0, 0));
    let windows: Vec<_> = evaluation.windows.iter().map(window).collect();
    assert_eq!(
        windows,
        [
            // January–March: result 12,150.00 covers 12,150.00; 4,121.38 uncovered, intake 24 < 30: FULL shifts it all.
            (date("2027-01-01"), date("2027-03-31"), 30, 24, true, [1_215_000, 1_215_000, 412_138, 412_138, 0]),
            // April–June: no savings, no hours: nothing to cover.
            (date("2027-04-01"), date("2027-06-30"), 30, 0, true, [0, 0, 0, 0, 0]),
        ]
    );
    let composition = evaluation.composition.unwrap();
    // 4 of 27 in arrangement 1: 1,481 bps; 23 of 27 in 3: 8,519 bps ≥ 85 %.
    assert_eq!(
        (
            composition.arrangement_1_count,
            composition.arrangement_3_count,
            composition.arrangement_1_share_bps,
            composition.arrangement_3_share_bps,
            composition.target_met
        ),
        (4, 23, 1_481, 8_519, true)
    );
    assert_eq!((evaluation.risk_borne_cents, evaluation.pending_uncovered_cents), (0, 0));
    assert_eq!(evaluation.content_sha256.len(), 64);
    assert!(evaluation.decisions.is_empty());
    let read = gonogo_as(&app, Role::Auditor)
        .get_evaluation(api::GetEvaluationRequest { name: evaluation.name.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, evaluation);
    let twice = evaluate(&app, utrecht(), "e-2").await.unwrap_err();
    assert_eq!(twice.code(), Code::AlreadyExists);
}

async fn pro_rata_leaves_flextensie_its_share_of_the_risk(backend: Backend) {
    let app = spawn(backend).await;
    worked_example(&app, api::RiskShiftMode::ProRata).await;
    let evaluation = evaluate(&app, utrecht(), "e-1").await.unwrap();
    let first = &evaluation.windows[0];
    // Shortfall 6/30 of 4,121.38: 824.28 shifts, Flextensie bears 3,297.10.
    assert_eq!((first.shifted_cents, first.borne_cents), (82_428, 329_710));
    assert_eq!(evaluation.risk_borne_cents, 329_710);
}

async fn a_no_go_ends_the_contract_at_the_checkpoint(backend: Backend) {
    // In August 2027: July, the first month after the end, is over.
    let app = spawn_at(backend, "2027-08-15T10:00:00Z").await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    evaluate(&app, Role::Billing, "e-1").await.unwrap();
    let decide = |request_id: &str, verdict: api::GoNoGoVerdict, reasons: &str| api::RecordGoNoGoDecisionRequest {
        request_id: request_id.to_owned(),
        evaluation: format!("{CONTRACT}/evaluations/2027-07-01"),
        verdict: verdict.into(),
        reasons: reasons.to_owned(),
    };
    gonogo_as(&app, Role::Billing)
        .record_go_no_go_decision(decide("d-1", api::GoNoGoVerdict::Go, "results improving"))
        .await
        .unwrap();
    // Read (and remembered by the server) before the no-go: the end must show right after it.
    let before = app.contracts.clone().get_contract(api::GetContractRequest { name: CONTRACT.to_owned() }).await;
    assert_eq!(before.unwrap().into_inner().ended_on, None);
    let decided = gonogo_as(&app, utrecht())
        .record_go_no_go_decision(decide("d-2", api::GoNoGoVerdict::NoGo, "intake stayed below the minimum"))
        .await
        .unwrap()
        .into_inner();
    let parties: Vec<(String, i32)> = decided.decisions.iter().map(|d| (d.party.clone(), d.verdict)).collect();
    assert_eq!(
        parties,
        [
            ("flextensie".to_owned(), api::GoNoGoVerdict::Go.into()),
            ("gemeente".to_owned(), api::GoNoGoVerdict::NoGo.into())
        ]
    );
    let again = gonogo_as(&app, utrecht())
        .record_go_no_go_decision(decide("d-3", api::GoNoGoVerdict::Go, "changed our mind"))
        .await;
    assert_eq!(again.unwrap_err().code(), Code::AlreadyExists);
    let contract = app
        .contracts
        .clone()
        .get_contract(api::GetContractRequest { name: CONTRACT.to_owned() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((contract.end_date, contract.ended_on), (date("2027-06-30"), date("2027-06-30")));
    // Nothing after the end counts: hours dated in July are refused.
    let july = api::HourLine {
        intercedent_id: "int-1".to_owned(),
        work_date: date("2027-07-05"),
        kind: api::TimeKind::Work.into(),
        minutes: 60,
        line_reference: "jul-5".to_owned(),
        note: String::new(),
    };
    let status = app
        .hours_as(Role::Billing)
        .submit_hours(api::SubmitHoursRequest {
            request_id: "h-late".to_owned(),
            parent: CONTRACT.to_owned(),
            entries: vec![july],
        })
        .await
        .unwrap_err();
    assert_eq!(crate::helpers::violated_fields(&status), ["entries[0].work_date"]);
    let extend = gonogo_as(&app, Role::Admin)
        .exercise_extension(api::ExerciseExtensionRequest { request_id: "x".to_owned(), contract: CONTRACT.to_owned() })
        .await
        .unwrap_err();
    assert_eq!(extend.get_details_precondition_failure().unwrap().violations[0].r#type, "EXTENSION_NOT_AVAILABLE");
    // The periods up to the end settle; the first one after it has nothing to settle.
    for month in 1..=6 {
        crate::settlement::settle(&app, month).await.unwrap();
    }
    let july = crate::settlement::settle(&app, 7).await.unwrap_err();
    let violation = &july.get_details_precondition_failure().unwrap().violations[0];
    assert_eq!(
        (violation.r#type.as_str(), violation.subject.as_str()),
        ("AFTER_CONTRACT_END", "contracts/utrecht/statements/2027-07-01")
    );
    // An hour of June (at 50.20) verified after June's statement is not lost: a run-off statement carries
    // it as a correction of the closed window April–June, with that window's intake (none of
    // the 30 needed: under FULL the uncovered hour shifts to the municipality).
    let late = crate::settlement::record_hours(&app, "jun-late", "2027-06-30", 60, true).await;
    assert!(late.late);
    let run_off = crate::settlement::settle(&app, 7).await.unwrap();
    assert!(run_off.run_off && !run_off.closes_window);
    assert_eq!((run_off.number.as_str(), run_off.fee_cents, run_off.cost_lines.len()), ("GM0344-2027-0007", 0, 0));
    let [june] = run_off.corrections.as_slice() else { panic!("{:?}", run_off.corrections) };
    let adjustment = june.adjustment.unwrap();
    assert_eq!((june.period_start, june.cost_cents, june.same_window), (date("2027-06-01"), 5_020, false));
    assert_eq!(
        (adjustment.window_start, adjustment.motivated_intake, adjustment.minimum_intake),
        (date("2027-04-01"), 0, 30)
    );
    assert_eq!((adjustment.covered_cents, adjustment.shifted_cents, adjustment.net_balance_cents), (0, 5_020, 0));
    assert_eq!(run_off.net_balance_cents, 0);
}

/// Records the no-go of both parties at the first checkpoint.
async fn no_go(app: &TestApp) {
    evaluate(app, Role::Billing, "e-1").await.unwrap();
    for (role, request_id) in [(Role::Billing, "d-1"), (utrecht(), "d-2")] {
        gonogo_as(app, role)
            .record_go_no_go_decision(api::RecordGoNoGoDecisionRequest {
                request_id: request_id.to_owned(),
                evaluation: format!("{CONTRACT}/evaluations/2027-07-01"),
                verdict: api::GoNoGoVerdict::NoGo.into(),
                reasons: "stop".to_owned(),
            })
            .await
            .unwrap();
    }
}

async fn a_run_off_closes_the_window_a_no_go_cut_short(backend: Backend) {
    // Four-month windows: January–April, then May–August, which the no-go cuts to May–June
    // after June was settled as an ordinary month.
    let app = spawn_at(backend, "2027-08-15T10:00:00Z").await;
    let contract = api::Contract { intake_window_months: 4, ..worked_example_contract() };
    worked_example_of(&app, contract, 24).await;
    crate::settlement::record_hours(&app, "may-10", "2027-05-10", 300, true).await;
    // July hours recorded and verified before the no-go: the no-go ends the contract before them.
    crate::settlement::record_hours(&app, "jul-5", "2027-07-05", 60, true).await;
    let mut june = None;
    for month in 1..=6 {
        june = Some(crate::settlement::settle(&app, month).await.unwrap());
    }
    let june = june.unwrap();
    assert!(!june.closes_window, "May–August was open when June was settled");
    no_go(&app).await;
    let run_off = crate::settlement::settle(&app, 7).await.unwrap();
    assert!(run_off.run_off);
    // The July hours are not the contract's: neither taken in nor corrected.
    assert!(run_off.cost_lines.is_empty() && run_off.corrections.is_empty(), "{run_off:?}");
    // May–June: 5 hours at 50.20 cost 251.00, no savings against 2,500.00 of fees, no intake
    // against a minimum of 30 × 61/123 days, rounded up to 15: under FULL it all shifts.
    let [closing] = run_off.closings.as_slice() else { panic!("{:?}", run_off.closings) };
    assert_eq!((closing.window_start, closing.window_end), (date("2027-05-01"), date("2027-06-30")));
    assert_eq!((closing.motivated_intake, closing.minimum_intake), (0, 15));
    assert_eq!(
        (closing.covered_cents, closing.shifted_cents, closing.borne_cents, closing.net_balance_cents),
        (0, 25_100, 0, 25_100)
    );
    assert_eq!(run_off.net_balance_cents, 25_100);
    // Nothing more to settle after it.
    let august = crate::settlement::settle(&app, 8).await.unwrap_err();
    assert_eq!(august.get_details_precondition_failure().unwrap().violations[0].r#type, "PERIOD_NOT_ENDED");
}

async fn the_extension_option_is_exercised_once(backend: Backend) {
    let app = spawn(backend).await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    let mut admin = gonogo_as(&app, Role::Admin);
    let extend = |request_id: &str| api::ExerciseExtensionRequest {
        request_id: request_id.to_owned(),
        contract: CONTRACT.to_owned(),
    };
    let read = || async {
        app.contracts.clone().get_contract(api::GetContractRequest { name: CONTRACT.to_owned() }).await.unwrap()
    };
    // Read (and remembered by the server) before: the extension must show right after it.
    assert!(!read().await.into_inner().extended);
    let extended = admin.exercise_extension(extend("x-1")).await.unwrap().into_inner();
    assert_eq!((extended.extended, extended.end_date), (true, date("2028-12-31")));
    assert_eq!(read().await.into_inner(), extended, "GetContract shows the extension at once");
    let twice = admin.exercise_extension(extend("x-2")).await.unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
}

on_both!(
    the_worked_example_is_evaluated_field_by_field,
    pro_rata_leaves_flextensie_its_share_of_the_risk,
    a_no_go_ends_the_contract_at_the_checkpoint,
    a_run_off_closes_the_window_a_no_go_cut_short,
    the_extension_option_is_exercised_once
);
