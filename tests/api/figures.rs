//! Money to the cent and one truth per figure: each defect an outside review found, shown
//! through the API (every test here failed before its fix).

use flexsettle::domain::Role;
use flexsettle::grpc::api;
use sha2::Digest;
use tonic::Code;
use tonic_types::StatusExt;

use crate::gonogo::{CONTRACT, date, evaluate, gonogo_as, spawn_at, utrecht, worked_example};
use crate::helpers::{Backend, TestApp, worked_example_contract};
use crate::settlement::{add_intercedent, settle, settlement_as};

/// A contract of `contract`'s terms with intercedent int-1 at `rate_cents` an hour.
async fn contract_with_rate(app: &TestApp, contract: api::Contract, rate_cents: i64) {
    app.create_contract(api::CreateContractRequest {
        request_id: "c".to_owned(),
        contract_id: "utrecht".to_owned(),
        contract: Some(contract),
    })
    .await
    .unwrap();
    add_intercedent(app, "int-1", "2027-01-01", rate_cents).await;
}

/// Submits `minutes` of int-1 on `day` (billing) and verifies them (the municipality).
async fn verified_hours(app: &TestApp, reference: &str, day: &str, minutes: i64) {
    let entries = app
        .hours_as(Role::Billing)
        .submit_hours(api::SubmitHoursRequest {
            request_id: format!("submit-{reference}"),
            parent: CONTRACT.to_owned(),
            entries: vec![api::HourLine {
                intercedent_id: "int-1".to_owned(),
                work_date: date(day),
                kind: api::TimeKind::Work.into(),
                minutes,
                line_reference: reference.to_owned(),
                note: String::new(),
            }],
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    app.hours_as(utrecht())
        .verify_hours(api::VerifyHoursRequest {
            request_id: format!("verify-{reference}"),
            parent: CONTRACT.to_owned(),
            entries: entries.into_iter().map(|entry| entry.name).collect(),
        })
        .await
        .unwrap();
}

/// Registers candidate `id` on `registered`, and records its motivation check dated `checked`.
async fn candidate(app: &TestApp, id: &str, registered: &str, checked: Option<&str>) {
    let mut pool = app.pool_as(utrecht());
    pool.register_candidate(api::RegisterCandidateRequest {
        request_id: format!("register-{id}"),
        parent: CONTRACT.to_owned(),
        candidate_id: id.to_owned(),
        candidate: Some(api::Candidate { arrangement: 3, registration_date: date(registered), ..Default::default() }),
    })
    .await
    .unwrap();
    if let Some(checked) = checked {
        motivation_check(app, id, checked).await;
    }
}

async fn motivation_check(app: &TestApp, id: &str, checked: &str) {
    app.pool_as(utrecht())
        .record_candidate_event(api::RecordCandidateEventRequest {
            request_id: format!("check-{id}"),
            candidate: format!("{CONTRACT}/candidates/{id}"),
            event: Some(api::CandidateEvent {
                kind: api::CandidateEventKind::MotivationCheck.into(),
                date: date(checked),
                detail: "consulent".to_owned(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
}

async fn verified_cost(app: &TestApp, month: u32) -> i64 {
    let totals = app
        .hours_as(Role::Auditor)
        .get_hours_totals(api::GetHoursTotalsRequest {
            parent: CONTRACT.to_owned(),
            period_start: date(&format!("2027-{month:02}-01")),
        })
        .await
        .unwrap()
        .into_inner();
    totals.states.iter().find(|state| state.state == i32::from(api::HourEntryState::Verified)).unwrap().cost_cents
}

/// DESIGN.md R5: PRO_RATA shifts `uncovered × shortfall / minimum` exactly, rounded once: 1,003
/// minutes at €3.60 an hour cost €60.18; with 11 of 12 motivated, €5.015 shifts → €5.02.
async fn a_pro_rata_share_on_a_half_cent_rounds_away_from_zero(backend: Backend) {
    let app = spawn_at(backend, "2027-02-15T10:00:00Z").await;
    let contract = api::Contract {
        intake_window_months: 1,
        minimum_intake_per_window: 12,
        service_fee_per_period_cents: 0,
        risk_shift_mode: api::RiskShiftMode::ProRata.into(),
        ..worked_example_contract()
    };
    contract_with_rate(&app, contract, 360).await;
    verified_hours(&app, "h-1", "2027-01-04", 1_003).await;
    for n in 1..=11 {
        candidate(&app, &format!("c-{n}"), "2027-01-05", Some("2027-01-06")).await;
    }
    let january = settle(&app, 1).await.unwrap();
    assert_eq!((january.uncovered_to_date_cents, january.motivated_intake, january.minimum_intake), (6_018, 11, 12));
    assert_eq!((january.shifted_cents, january.borne_cents), (502, 5_516));
    assert_eq!(january.net_balance_cents, 502 - 6_018);
}

/// DESIGN.md §4: a go/no-go decision is taken only while no period from its checkpoint on is
/// settled. A no-go recorded after July was settled would end the contract on 30 June and
/// leave July's statement outside it.
async fn a_decision_after_a_later_period_was_settled_is_refused(backend: Backend) {
    let app = spawn_at(backend, "2027-08-05T10:00:00Z").await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    evaluate(&app, Role::Billing, "evaluate").await.unwrap();
    for month in 1..=7 {
        settle(&app, month).await.unwrap();
    }
    let audit = app.audit_size().await;
    let refused = gonogo_as(&app, utrecht())
        .record_go_no_go_decision(api::RecordGoNoGoDecisionRequest {
            request_id: "no-go".to_owned(),
            evaluation: format!("{CONTRACT}/evaluations/2027-07-01"),
            verdict: api::GoNoGoVerdict::NoGo.into(),
            reasons: "intake stayed below the minimum".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let violation = &refused.get_details_precondition_failure().unwrap().violations[0];
    assert_eq!(violation.r#type, "PERIOD_AFTER_CHECKPOINT_SETTLED");
    assert!(violation.description.contains("2027-07-01"), "{violation:?}");
    assert_eq!(app.audit_size().await, audit, "nothing changed");
    let mut admin = app.client_as(Role::Admin);
    let contract = admin.get_contract(api::GetContractRequest { name: CONTRACT.to_owned() }).await.unwrap();
    assert_eq!(contract.into_inner().ended_on, None, "the contract runs on");
}

/// Before any period after the checkpoint is settled, the same no-go is taken and ends the
/// contract on the checkpoint's eve.
async fn a_decision_before_the_checkpoints_periods_are_settled_is_taken(backend: Backend) {
    let app = spawn_at(backend, "2027-08-05T10:00:00Z").await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    evaluate(&app, Role::Billing, "evaluate").await.unwrap();
    for month in 1..=6 {
        settle(&app, month).await.unwrap();
    }
    gonogo_as(&app, utrecht())
        .record_go_no_go_decision(api::RecordGoNoGoDecisionRequest {
            request_id: "no-go".to_owned(),
            evaluation: format!("{CONTRACT}/evaluations/2027-07-01"),
            verdict: api::GoNoGoVerdict::NoGo.into(),
            reasons: "intake stayed below the minimum".to_owned(),
        })
        .await
        .unwrap();
    let july = settle(&app, 7).await.unwrap_err();
    assert_eq!(july.get_details_precondition_failure().unwrap().violations[0].r#type, "AFTER_CONTRACT_END");
}

/// DESIGN.md §4, one truth per figure: one minute settled in January and one late minute at
/// €48.75 are 0.81 + 0.81 in the statements, so the hours totals and the go/no-go evaluation
/// say 1.62 — not 1.63, the two minutes priced together — before and after February takes the
/// late minute in.
async fn a_settled_period_reads_the_same_in_totals_evaluations_and_statements(backend: Backend) {
    let app = spawn_at(backend, "2027-07-15T10:00:00Z").await;
    contract_with_rate(&app, worked_example_contract(), 4_875).await;
    verified_hours(&app, "h-1", "2027-01-04", 1).await;
    let january = settle(&app, 1).await.unwrap();
    assert_eq!(january.cost_lines.iter().map(|line| line.cost_cents).sum::<i64>(), 81);
    verified_hours(&app, "h-2", "2027-01-05", 1).await;
    // Not settled yet: priced as February's statement will price it, on its own.
    assert_eq!(verified_cost(&app, 1).await, 162);
    let february = settle(&app, 2).await.unwrap();
    assert_eq!(february.corrections.iter().map(|correction| correction.cost_cents).sum::<i64>(), 81);
    let from_statements = 81 + 81;
    assert_eq!(verified_cost(&app, 1).await, from_statements);
    for month in 3..=6 {
        settle(&app, month).await.unwrap();
    }
    let evaluation = evaluate(&app, Role::Billing, "evaluate").await.unwrap();
    assert_eq!(evaluation.intercedent_cost_cents, from_statements);
    assert_eq!(evaluation.windows[0].covered_cents + evaluation.windows[0].uncovered_cents, from_statements);
    // The listed statements say the same.
    let listed = settlement_as(&app, Role::Auditor)
        .list_statements(api::ListStatementsRequest { parent: CONTRACT.to_owned(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .statements;
    let in_statements: i64 = listed
        .iter()
        .map(|s| {
            s.cost_lines.iter().map(|line| line.cost_cents).sum::<i64>()
                + s.corrections.iter().map(|correction| correction.cost_cents).sum::<i64>()
        })
        .sum();
    assert_eq!(in_statements, evaluation.intercedent_cost_cents);
}

/// DESIGN.md R6: a candidate counts in its window only with a motivation check dated by the
/// window's last day; once the window's closing statement is issued, its intake is the one that
/// statement recorded — in the evaluation and the intake windows too.
async fn a_closed_windows_intake_is_the_one_its_statement_recorded(backend: Backend) {
    let app = spawn_at(backend, "2027-07-15T10:00:00Z").await;
    contract_with_rate(&app, worked_example_contract(), 4_875).await;
    candidate(&app, "in-time", "2027-01-10", Some("2027-01-11")).await;
    // Registered in February, checked in May: never part of window 1's intake.
    candidate(&app, "late-check", "2027-02-10", None).await;
    // Registered in March, its check recorded after window 1 closed but dated inside it.
    candidate(&app, "late-record", "2027-03-10", None).await;
    for month in 1..=3 {
        settle(&app, month).await.unwrap();
    }
    let march = settlement_as(&app, Role::Auditor)
        .get_statement(api::GetStatementRequest { name: format!("{CONTRACT}/statements/2027-03-01") })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((march.motivated_intake, march.minimum_intake), (1, 30));
    motivation_check(&app, "late-check", "2027-05-02").await;
    motivation_check(&app, "late-record", "2027-03-11").await;
    for month in 4..=6 {
        settle(&app, month).await.unwrap();
    }
    let evaluation = evaluate(&app, Role::Billing, "evaluate").await.unwrap();
    assert_eq!(evaluation.windows[0].motivated_intake, march.motivated_intake);
    let windows = app
        .pool_as(utrecht())
        .list_intake_windows(api::ListIntakeWindowsRequest { parent: CONTRACT.to_owned() })
        .await
        .unwrap()
        .into_inner()
        .windows;
    assert_eq!(windows[0].motivated_intake, march.motivated_intake);
    // Window 2 (April–June) is closed by June's statement: the February registration does not
    // belong to it, whenever its check was dated.
    assert_eq!(evaluation.windows[1].motivated_intake, 0);
}

/// ListStatements names each statement's audit entry, as GetStatement does.
async fn listed_statements_carry_their_audit_sequence(backend: Backend) {
    let app = spawn_at(backend, "2027-07-15T10:00:00Z").await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    for month in 1..=3 {
        settle(&app, month).await.unwrap();
    }
    let mut client = settlement_as(&app, Role::Auditor);
    let listed = client
        .list_statements(api::ListStatementsRequest { parent: CONTRACT.to_owned(), page_size: 2, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let next = client
        .list_statements(api::ListStatementsRequest {
            parent: CONTRACT.to_owned(),
            page_size: 2,
            page_token: listed.next_page_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let entries = app.audit_entries().await;
    for statement in listed.statements.iter().chain(&next.statements) {
        assert_ne!(statement.audit_sequence, 0, "{}", statement.name);
        let entry = entries.iter().find(|entry| entry.seq == statement.audit_sequence).unwrap();
        assert_eq!((entry.action.as_str(), entry.resource.as_str()), ("statement.settle", statement.name.as_str()));
        let got = client.get_statement(api::GetStatementRequest { name: statement.name.clone() }).await.unwrap();
        assert_eq!(got.into_inner().audit_sequence, statement.audit_sequence);
    }
}

/// ExportStatement (JSON) returns the bytes stored at issue, so `content_sha256` stays true
/// when the statement type changes: here a statement stored by a version that had one more
/// field exports byte for byte, and hashes to its stored hash.
async fn an_exported_statement_hashes_to_its_stored_hash_after_the_type_changed(backend: Backend) {
    let app = spawn_at(backend, "2027-07-15T10:00:00Z").await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    settle(&app, 1).await.unwrap();
    let mut client = settlement_as(&app, Role::Auditor);
    let export =
        |name: &str| api::ExportStatementRequest { name: name.to_owned(), format: api::ExportFormat::Json.into() };
    let january = format!("{CONTRACT}/statements/2027-01-01");
    let bytes = client.export_statement(export(&january)).await.unwrap().into_inner().content;
    // February as an older or newer version would have stored it: January's content with the
    // period moved and a field this version does not know.
    let content = String::from_utf8(bytes)
        .unwrap()
        .replacen('{', r#"{"a_field_of_another_version":"kept","#, 1)
        .replace("\"2027-01-01\"", "\"2027-02-01\"")
        .replace("\"2027-01-31\"", "\"2027-02-28\"");
    let sha = flexsettle::storage::hex(&sha2::Sha256::digest(content.as_bytes()));
    let sql = format!(
        "INSERT INTO statements (contract_id, period_start, number, content, content_sha256, settled_by, create_time, \
         inputs_until, inputs_through) VALUES ('utrecht', '2027-02-01', 'GM0344-2027-0002', '{content}', '{sha}', \
         'billing', '2027-03-01 10:00:00', '2027-02-01', 0)"
    );
    app.execute_sql(sql).await.unwrap();
    let february = format!("{CONTRACT}/statements/2027-02-01");
    let exported = client.export_statement(export(&february)).await.unwrap().into_inner();
    assert_eq!(exported.content, content.as_bytes());
    let stored = client.get_statement(api::GetStatementRequest { name: february }).await.unwrap().into_inner();
    assert_eq!(flexsettle::storage::hex(&sha2::Sha256::digest(&exported.content)), stored.content_sha256);
}

on_both!(
    a_pro_rata_share_on_a_half_cent_rounds_away_from_zero,
    a_decision_after_a_later_period_was_settled_is_refused,
    a_decision_before_the_checkpoints_periods_are_settled_is_taken,
    a_settled_period_reads_the_same_in_totals_evaluations_and_statements,
    a_closed_windows_intake_is_the_one_its_statement_recorded,
    listed_statements_carry_their_audit_sequence,
    an_exported_statement_hashes_to_its_stored_hash_after_the_type_changed
);

/// A pool is read whole, page by page: never cut off at a limit without a word. Here 100,001
/// candidates (reading once stopped at 100,000), registered behind the API's back, are counted
/// in full.
async fn a_pool_larger_than_a_page_is_counted_in_full(backend: Backend) {
    let app = spawn_at(backend, "2027-07-15T10:00:00Z").await;
    contract_with_rate(&app, worked_example_contract(), 4_875).await;
    let size = 100_001;
    let (day, time) = match backend {
        Backend::Sqlite => ("'2027-01-05'", "'2027-01-05 10:00:00'"),
        Backend::Postgres => ("DATE '2027-01-05'", "TIMESTAMP '2027-01-05 10:00:00'"),
    };
    app.execute_sql(format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {size}) \
         INSERT INTO candidates (contract_id, id, arrangement, registration_date, registered_by, create_time) \
         SELECT 'utrecht', 'c-' || i, 3, {day}, 'gm', {time} FROM n"
    ))
    .await
    .unwrap();
    let intake = app
        .pool_as(utrecht())
        .get_intake(api::GetIntakeRequest {
            parent: CONTRACT.to_owned(),
            from_date: date("2027-01-01"),
            to_date: date("2027-03-31"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(i64::from(intake.registrations), size);
}

on_both!(a_pool_larger_than_a_page_is_counted_in_full);
