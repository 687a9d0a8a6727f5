//! Settlement through the API: DESIGN.md §4's worked example to the cent, late inputs as
//! corrections (also of a closed window), pending inputs, immutability, concurrent settlement.

use std::collections::BTreeSet;
use std::sync::Arc;

use flexsettle::domain::Role;
use flexsettle::grpc::api;
use tonic_types::StatusExt;

use crate::gonogo::{CONTRACT, date, spawn, utrecht, worked_example, worked_example_with_intake};
use crate::helpers::{Backend, ServerProcess, TestApp};

pub(crate) type SettlementClient = flexsettle::grpc::api::settlement_service_client::SettlementServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, crate::helpers::Bearer>,
>;

pub(crate) fn settlement_as(app: &TestApp, role: Role) -> SettlementClient {
    settlement_at(&app.address, app, role)
}

/// A settlement client of the server at `address`, with a token of `app`'s keys.
fn settlement_at(address: &str, app: &TestApp, role: Role) -> SettlementClient {
    let value = format!("Bearer {}", app.token(role)).parse().unwrap();
    let channel = tonic::transport::Channel::from_shared(address.to_owned()).unwrap().connect_lazy();
    flexsettle::grpc::api::settlement_service_client::SettlementServiceClient::with_interceptor(
        channel,
        crate::helpers::Bearer::new(Some(value)),
    )
}

/// An hours client of the server at `address`, with a token of `app`'s keys.
fn hours_at(address: &str, app: &TestApp, role: Role) -> crate::helpers::HoursClient {
    let value = format!("Bearer {}", app.token(role)).parse().unwrap();
    let channel = tonic::transport::Channel::from_shared(address.to_owned()).unwrap().connect_lazy();
    api::hours_service_client::HoursServiceClient::with_interceptor(channel, crate::helpers::Bearer::new(Some(value)))
}

pub(crate) async fn settle(app: &TestApp, month: u32) -> Result<api::Statement, tonic::Status> {
    settlement_as(app, Role::Billing)
        .settle_period(api::SettlePeriodRequest {
            request_id: format!("settle-{month}"),
            parent: CONTRACT.to_owned(),
            period_start: date(&format!("2027-{month:02}-01")),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn the_worked_example_settles_to_the_cent_under_full(backend: Backend) {
    let app = spawn(backend).await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    let early = settle(&app, 2).await.unwrap_err();
    assert_eq!(early.get_details_precondition_failure().unwrap().violations[0].r#type, "PREVIOUS_PERIOD_NOT_SETTLED");
    // A preview computes January's figures and stores nothing.
    let audit = app.audit_size().await;
    let preview = settlement_as(&app, utrecht())
        .preview_settlement(api::PreviewSettlementRequest {
            parent: CONTRACT.to_owned(),
            period_start: date("2027-01-01"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (preview.number.as_str(), preview.covered_this_period_cents, preview.net_balance_cents),
        ("", 285_000, -177_438)
    );
    assert_eq!(app.audit_size().await, audit);
    let mut statements = Vec::new();
    for month in 1..=3 {
        statements.push(settle(&app, month).await.unwrap());
    }
    let row = |s: &api::Statement| {
        (
            s.number.clone(),
            s.cost_to_date_cents,
            s.result_to_date_cents,
            s.covered_to_date_cents,
            s.covered_this_period_cents,
            s.uncovered_to_date_cents,
            s.net_balance_cents,
        )
    };
    assert_eq!(
        statements.iter().map(row).collect::<Vec<_>>(),
        [
            ("GM0344-2027-0001".to_owned(), 587_438, 285_000, 285_000, 285_000, 302_438, -177_438),
            ("GM0344-2027-0002".to_owned(), 1_074_938, 1_140_000, 1_074_938, 789_938, 0, 427_438),
            ("GM0344-2027-0003".to_owned(), 1_627_138, 1_215_000, 1_215_000, 140_062, 412_138, 125_000),
        ]
    );
    let march = &statements[2];
    assert!(march.closes_window);
    assert_eq!(
        (march.motivated_intake, march.minimum_intake, march.shifted_cents, march.borne_cents),
        (24, 30, 412_138, 0)
    );
    assert_eq!(march.cost_lines.len(), 1);
    assert_eq!(
        (march.cost_lines[0].rate_per_hour_cents, march.cost_lines[0].minutes, march.cost_lines[0].cost_cents),
        (5_020, 6_600, 552_200)
    );
    assert_eq!(statements.iter().map(|s| s.net_balance_cents).sum::<i64>(), 375_000);
    assert!(march.audit_sequence > statements[1].audit_sequence);
    // Settling a settled period gives its statement back; the next period has not ended.
    let again = settlement_as(&app, Role::Billing)
        .settle_period(api::SettlePeriodRequest {
            request_id: "again".to_owned(),
            parent: CONTRACT.to_owned(),
            period_start: date("2027-03-01"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, statements[2]);
    for month in 4..=6 {
        settle(&app, month).await.unwrap();
    }
    let july = settle(&app, 7).await.unwrap_err();
    assert_eq!(july.get_details_precondition_failure().unwrap().violations[0].r#type, "PERIOD_NOT_ENDED");
    // Exports: the canonical JSON hashes to the statement's content_sha256; the CSV adds up.
    let export =
        |format: api::ExportFormat| api::ExportStatementRequest { name: march.name.clone(), format: format.into() };
    let json =
        settlement_as(&app, utrecht()).export_statement(export(api::ExportFormat::Json)).await.unwrap().into_inner();
    assert_eq!(json.content_type, "application/json");
    use sha2::Digest;
    assert_eq!(flexsettle::storage::hex(&sha2::Sha256::digest(&json.content)), march.content_sha256);
    let csv =
        settlement_as(&app, utrecht()).export_statement(export(api::ExportFormat::Csv)).await.unwrap().into_inner();
    let csv = String::from_utf8(csv.content).unwrap();
    assert!(csv.contains("GM0344-2027-0003,cost,int-1,6600,50.20,5522.00"), "{csv}");
    assert!(csv.contains("GM0344-2027-0003,shifted,,,,4121.38"), "{csv}");
    assert!(csv.contains("GM0344-2027-0003,net_balance,,,,1250.00"), "{csv}");
    // An issued statement is never edited.
    assert!(app.execute_sql("UPDATE statements SET number = 'forged'").await.is_err());
    // Nor the bounds that name the inputs it took in, nor the decisions they rest on.
    assert!(app.execute_sql("UPDATE statements SET inputs_through = 0").await.is_err());
    assert!(app.execute_sql("UPDATE hour_decisions SET decision_seq = 0").await.is_err());
    assert!(app.execute_sql("UPDATE savings_decisions SET decision_seq = 0").await.is_err());
}

async fn the_worked_example_settles_to_the_cent_under_pro_rata_and_at_the_minimum(backend: Backend) {
    let app = spawn(backend).await;
    worked_example(&app, api::RiskShiftMode::ProRata).await;
    let mut balances = Vec::new();
    for month in 1..=3 {
        balances.push(settle(&app, month).await.unwrap());
    }
    let march = &balances[2];
    assert_eq!((march.shifted_cents, march.borne_cents, march.net_balance_cents), (82_428, 329_710, -204_710));
    assert_eq!(balances.iter().map(|s| s.net_balance_cents).sum::<i64>(), 45_290);
    let app = spawn(backend).await;
    worked_example_with_intake(&app, api::RiskShiftMode::Full, 30).await;
    let mut at_minimum = Vec::new();
    for month in 1..=3 {
        at_minimum.push(settle(&app, month).await.unwrap());
    }
    // Intake at the minimum: nothing shifts, Flextensie bears all 4,121.38.
    let march = &at_minimum[2];
    assert_eq!((march.motivated_intake, march.shifted_cents, march.borne_cents), (30, 0, 412_138));
    assert_eq!(march.net_balance_cents, -287_138);
    assert_eq!(at_minimum.iter().map(|s| s.net_balance_cents).sum::<i64>(), 375_000 - 412_138);
}

async fn a_late_input_is_carried_by_the_next_statement_as_a_correction(backend: Backend) {
    let app = spawn(backend).await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    let january = settle(&app, 1).await.unwrap();
    // 60 more minutes worked on 31 January, submitted and verified after January was settled.
    let entry = record_hours(&app, "jan-late", "2027-01-31", 60, true).await;
    assert!(entry.late, "dated in a settled period");
    let february = settle(&app, 2).await.unwrap();
    let corrections: Vec<_> =
        february.corrections.iter().map(|c| (c.period_start, c.cost_cents, c.same_window)).collect();
    assert_eq!(corrections, [(date("2027-01-01"), 4_875, true)]);
    // The correction joins the window's figures; January's statement is untouched.
    assert_eq!(february.cost_to_date_cents, 587_438 + 4_875 + 487_500);
    let read = settlement_as(&app, Role::Auditor)
        .get_statement(api::GetStatementRequest { name: january.name.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, january);
}

/// A server's writer remembers between its transactions what submissions are checked against
/// (`storage::writer_cache`), here that January is open; once another replica settled January,
/// the first server's next submission for January knows it, and so does its own next one after
/// it settled a period itself.
async fn a_server_sees_a_period_another_replica_settled(backend: Backend) {
    let app = spawn(backend).await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    let replica = app.replica_with(|_| {}).await;
    let before = record_hours(&app, "jan-before", "2027-01-30", 30, false).await;
    assert!(!before.late, "January is open");
    let mut elsewhere = settlement_at(&replica.address, &app, Role::Billing);
    elsewhere
        .settle_period(api::SettlePeriodRequest {
            request_id: "settle-1-elsewhere".to_owned(),
            parent: CONTRACT.to_owned(),
            period_start: date("2027-01-01"),
        })
        .await
        .unwrap();
    let after = record_hours(&app, "jan-after", "2027-01-31", 30, false).await;
    assert!(after.late, "January was settled by the other replica");
    let february = record_hours(&app, "feb-before", "2027-02-26", 30, false).await;
    assert!(!february.late, "February is open");
    settle(&app, 2).await.unwrap();
    let february = record_hours(&app, "feb-after", "2027-02-27", 30, false).await;
    assert!(february.late, "February was settled by this server");
}

/// Submits a line of `minutes` for int-1 on `day`, and verifies it when asked.
pub(crate) async fn record_hours(
    app: &TestApp,
    reference: &str,
    day: &str,
    minutes: i64,
    verify: bool,
) -> api::HourEntry {
    let line = api::HourLine {
        intercedent_id: "int-1".to_owned(),
        work_date: date(day),
        kind: api::TimeKind::Work.into(),
        minutes,
        line_reference: reference.to_owned(),
        note: String::new(),
    };
    let entry = app
        .hours_as(Role::Billing)
        .submit_hours(api::SubmitHoursRequest {
            request_id: format!("submit-{reference}"),
            parent: CONTRACT.to_owned(),
            entries: vec![line],
        })
        .await
        .unwrap()
        .into_inner()
        .entries
        .remove(0);
    if verify {
        app.hours_as(utrecht())
            .verify_hours(api::VerifyHoursRequest {
                request_id: format!("verify-{reference}"),
                parent: CONTRACT.to_owned(),
                entries: vec![entry.name.clone()],
            })
            .await
            .unwrap();
    }
    entry
}

async fn a_correction_to_a_closed_window_uses_that_windows_intake_outcome(backend: Backend) {
    let app = spawn(backend).await;
    worked_example(&app, api::RiskShiftMode::ProRata).await;
    for month in 1..=3 {
        settle(&app, month).await.unwrap();
    }
    // After the window closed: one more verified hour in January, and 30 minutes in February
    // that nobody has verified yet.
    record_hours(&app, "jan-late", "2027-01-31", 60, true).await;
    let pending = record_hours(&app, "feb-late", "2027-02-26", 30, false).await.name;
    // And 500.00 more savings for March, that the municipality has not verified yet.
    let savings = api::SavingsRecord {
        period_start: date("2027-03-01"),
        amount_cents: 50_000,
        kind: api::SavingsKind::FullOutflow.into(),
        source_reference: "uwv-late-3".to_owned(),
        certainty: api::SavingsCertainty::Definitive.into(),
        ..Default::default()
    };
    let late_savings = app
        .savings_as(Role::Billing)
        .submit_savings(api::SubmitSavingsRequest {
            request_id: "late-savings".to_owned(),
            parent: CONTRACT.to_owned(),
            savings: Some(savings),
        })
        .await
        .unwrap()
        .into_inner()
        .name;
    let april = settle(&app, 4).await.unwrap();
    assert_eq!(april.pending_hour_entry_names, std::slice::from_ref(&pending), "listed as pending, not settled");
    assert_eq!(april.pending_savings_record_names, std::slice::from_ref(&late_savings));
    assert_eq!((april.pending_hour_entries, april.pending_savings_records), (1, 1));
    let [january] = april.corrections.as_slice() else { panic!("{:?}", april.corrections) };
    assert_eq!((january.period_start, january.cost_cents, january.same_window), (date("2027-01-01"), 4_875, false));
    // Window 1 kept its intake (24 of 30): a fifth of the extra uncovered 48.75 shifts
    // (834.03 − 824.28), Flextensie bears the rest.
    let adjustment = january.adjustment.unwrap();
    assert_eq!(
        (adjustment.window_start, adjustment.motivated_intake, adjustment.minimum_intake),
        (date("2027-01-01"), 24, 30)
    );
    assert_eq!(
        (adjustment.covered_cents, adjustment.shifted_cents, adjustment.borne_cents, adjustment.net_balance_cents),
        (0, 975, 3_900, -3_900)
    );
    // April's own window is untouched by it; the statement's balance carries it.
    assert_eq!(april.cost_to_date_cents, 0);
    assert_eq!(april.net_balance_cents, april.window_net_balance_cents - 3_900);
    // Once verified, the February line and the March savings settle with May, on top of
    // January's correction, one after the other.
    app.hours_as(utrecht())
        .verify_hours(api::VerifyHoursRequest {
            request_id: "verify-feb-late".to_owned(),
            parent: CONTRACT.to_owned(),
            entries: vec![pending],
        })
        .await
        .unwrap();
    app.savings_as(utrecht())
        .verify_savings(api::VerifySavingsRequest {
            request_id: "verify-late-savings".to_owned(),
            parent: CONTRACT.to_owned(),
            savings: vec![late_savings],
        })
        .await
        .unwrap();
    let may = settle(&app, 5).await.unwrap();
    assert!(may.pending_hour_entry_names.is_empty() && may.pending_savings_record_names.is_empty());
    assert_eq!((may.pending_hour_entries, may.pending_savings_records), (0, 0));
    let [february, march] = may.corrections.as_slice() else { panic!("{:?}", may.corrections) };
    assert_eq!((february.period_start, february.cost_cents, february.savings_cents), (date("2027-02-01"), 2_438, 0));
    assert_eq!((march.period_start, march.cost_cents, march.savings_cents), (date("2027-03-01"), 0, 50_000));
    let (second, third) = (february.adjustment.unwrap(), march.adjustment.unwrap());
    assert_eq!(second.covered_cents + second.shifted_cents + second.borne_cents, 2_438, "30 minutes at 48.75");
    // More savings: 500.00 more of the cost is covered, and less is left to allocate.
    assert_eq!(third.covered_cents, 50_000);
    assert_eq!(third.covered_cents + third.shifted_cents + third.borne_cents, 0);
    // Together the corrections shift exactly what the window, allocated from scratch, shifts:
    // a fifth of (16,271.38 + 48.75 + 24.38) − (16,400.00 − 3,750.00) = 3,694.51, rounded once.
    let shifted = 82_428 + adjustment.shifted_cents + second.shifted_cents + third.shifted_cents;
    assert_eq!(shifted, 73_890);
    assert_eq!(
        may.net_balance_cents,
        may.window_net_balance_cents + second.net_balance_cents + third.net_balance_cents
    );
    // The CSV names the correction's allocation.
    let csv = settlement_as(&app, utrecht())
        .export_statement(api::ExportStatementRequest {
            name: april.name.clone(),
            format: api::ExportFormat::Csv.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let csv = String::from_utf8(csv.content).unwrap();
    assert!(csv.contains(&format!("{},correction_shifted,2027-01-01,,,9.75", april.number)), "{csv}");
}

async fn a_rate_that_would_reprice_settled_hours_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    let january = settle(&app, 1).await.unwrap();
    let raise = |request_id: &str, intercedent: &str, month: i32, day: i32| api::CreateHourlyRateRequest {
        request_id: request_id.to_owned(),
        parent: format!("{CONTRACT}/intercedents/{intercedent}"),
        hourly_rate: Some(api::HourlyRate {
            effective_date: crate::helpers::date(2027, month, day),
            rate_per_hour_cents: 9_999,
            ..Default::default()
        }),
    };
    let audit = app.audit_size().await;
    // From 15 January it would reprice hours January's statement settled at 48.75 (the last
    // on 30 January).
    let refused = app.contracts.clone().create_hourly_rate(raise("backdated", "int-1", 1, 15)).await.unwrap_err();
    let violation = &refused.get_details_precondition_failure().unwrap().violations[0];
    assert_eq!(violation.r#type, "RATE_IN_SETTLED_PERIOD");
    assert!(violation.description.contains("int-1 worked up to 2027-01-30"), "{}", violation.description);
    assert_eq!(app.audit_size().await, audit, "a refusal changes nothing");
    // From 31 January on it reprices nothing settled, and is taken; January stays as issued.
    app.contracts.clone().create_hourly_rate(raise("after", "int-1", 1, 31)).await.unwrap();
    let read = settlement_as(&app, Role::Auditor)
        .get_statement(api::GetStatementRequest { name: january.name.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, january);
    assert_eq!(settle(&app, 2).await.unwrap().cost_lines[0].rate_per_hour_cents, 9_999);
    // An intercedent with no settled hours may get a rate dated in a settled period.
    add_intercedent(&app, "int-2", "2027-03-01", 5_000).await;
    app.contracts.clone().create_hourly_rate(raise("int-2-january", "int-2", 1, 10)).await.unwrap();
}

async fn a_municipalitys_second_contract_numbers_its_statements_in_a_series_of_its_own(backend: Backend) {
    let app = spawn(backend).await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    app.create_contract(api::CreateContractRequest {
        request_id: "second".to_owned(),
        contract_id: "utrecht-bis".to_owned(),
        contract: Some(crate::helpers::worked_example_contract()),
    })
    .await
    .unwrap();
    let first = settle(&app, 1).await.unwrap();
    let second = settlement_as(&app, Role::Billing)
        .settle_period(api::SettlePeriodRequest {
            request_id: "bis-1".to_owned(),
            parent: "contracts/utrecht-bis".to_owned(),
            period_start: date("2027-01-01"),
        })
        .await
        .unwrap()
        .into_inner();
    let then = settle(&app, 2).await.unwrap();
    assert_eq!(
        [first.number, second.number, then.number],
        ["GM0344-2027-0001", "GM0344.2-2027-0001", "GM0344-2027-0002"]
    );
}

async fn two_concurrent_settlements_of_a_period_issue_one_statement(backend: Backend) {
    let app = spawn(backend).await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    let calls = (0..4).map(|n| {
        let mut client = settlement_as(&app, Role::Billing);
        tokio::spawn(async move {
            client
                .settle_period(api::SettlePeriodRequest {
                    request_id: format!("race-{n}"),
                    parent: CONTRACT.to_owned(),
                    period_start: date("2027-01-01"),
                })
                .await
                .map(|response| response.into_inner().number)
        })
    });
    let mut numbers = std::collections::BTreeSet::new();
    for call in calls {
        numbers.insert(call.await.unwrap().unwrap());
    }
    assert_eq!(numbers.into_iter().collect::<Vec<_>>(), ["GM0344-2027-0001"]);
    let listed = settlement_as(&app, Role::Auditor)
        .list_statements(api::ListStatementsRequest { parent: CONTRACT.to_owned(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.statements.len(), 1);
    let settlements = app.audit_entries().await.iter().filter(|entry| entry.action == "statement.settle").count();
    assert_eq!(settlements, 1, "the other calls changed nothing");
}

/// Attaches intercedent `id` to the contract with one rate of `cents` an hour from `from`.
pub(crate) async fn add_intercedent(app: &TestApp, id: &str, from: &str, cents: i64) {
    app.contracts
        .clone()
        .create_intercedent(api::CreateIntercedentRequest {
            request_id: format!("intercedent-{id}"),
            parent: CONTRACT.to_owned(),
            intercedent_id: id.to_owned(),
            intercedent: Some(api::Intercedent {
                hourly_rates: vec![api::HourlyRate {
                    effective_date: date(from),
                    rate_per_hour_cents: cents,
                    ..Default::default()
                }],
                ..Default::default()
            }),
        })
        .await
        .unwrap();
}

/// Settles `month` with `calls` concurrent calls spread over the `replicas`; the statement
/// numbers they answer with.
async fn settle_from_everywhere(app: &TestApp, replicas: &[String], month: u32, calls: usize) -> BTreeSet<String> {
    let calls: Vec<_> = (0..calls)
        .map(|n| {
            let mut client = settlement_at(&replicas[n % replicas.len()], app, Role::Billing);
            tokio::spawn(async move {
                client
                    .settle_period(api::SettlePeriodRequest {
                        request_id: format!("replica-settle-{month}-{n}"),
                        parent: CONTRACT.to_owned(),
                        period_start: date(&format!("2027-{month:02}-01")),
                    })
                    .await
                    .map(|response| response.into_inner().number)
            })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for call in calls {
        numbers.insert(call.await.unwrap().unwrap());
    }
    numbers
}

async fn two_server_processes_settle_a_period_once_and_lose_no_input(backend: Backend) {
    let app = spawn(backend).await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    // Two replicas: the real binary twice, on the same database, keys and clock.
    let (url, data) = (app.settings.database_url.clone(), app.settings.data_dir.clone());
    let processes = tokio::task::spawn_blocking(move || {
        let clock = [("FLEXSETTLE_CLOCK__FIXED_NOW", "2027-07-15T10:00:00Z")];
        [ServerProcess::start_with(&url, &data, &clock), ServerProcess::start_with(&url, &data, &clock)]
    })
    .await
    .unwrap();
    let replicas: Vec<String> = processes.iter().map(|process| process.address.clone()).collect();

    // Eight calls for January at once, four to each process: one statement.
    let january = settle_from_everywhere(&app, &replicas, 1, 8).await;
    assert_eq!(january.into_iter().collect::<Vec<_>>(), ["GM0344-2027-0001"]);

    // February is settled from both processes while one of them records and verifies more
    // February hours (60 minutes each: 48.75, exact to the cent).
    const DURING: usize = 40;
    let recorded = Arc::new(tokio::sync::Notify::new());
    let writer = {
        let (mut submit, mut verify) =
            (hours_at(&replicas[0], &app, Role::Billing), hours_at(&replicas[0], &app, utrecht()));
        let recorded = recorded.clone();
        tokio::spawn(async move {
            for k in 0..DURING {
                let line = api::HourLine {
                    intercedent_id: "int-1".to_owned(),
                    work_date: date(&format!("2027-02-{:02}", 21 + k / 5)),
                    kind: api::TimeKind::Work.into(),
                    minutes: 60,
                    line_reference: format!("during-{k}"),
                    note: String::new(),
                };
                let request = api::SubmitHoursRequest {
                    request_id: format!("during-{k}"),
                    parent: CONTRACT.to_owned(),
                    entries: vec![line],
                };
                let entry = submit.submit_hours(request).await.unwrap().into_inner().entries.remove(0);
                let request = api::VerifyHoursRequest {
                    request_id: format!("verify-during-{k}"),
                    parent: CONTRACT.to_owned(),
                    entries: vec![entry.name],
                };
                verify.verify_hours(request).await.unwrap();
                if k == DURING / 4 {
                    recorded.notify_one();
                }
            }
        })
    };
    recorded.notified().await;
    let february = settle_from_everywhere(&app, &replicas, 2, 4).await;
    assert_eq!(february.into_iter().collect::<Vec<_>>(), ["GM0344-2027-0002"]);
    writer.await.unwrap();
    let march = settle_from_everywhere(&app, &replicas, 3, 2).await;
    assert_eq!(march.into_iter().collect::<Vec<_>>(), ["GM0344-2027-0003"]);

    // Every hour recorded meanwhile is in February's statement or in March's correction of
    // February: never in none, never in both.
    let mut reader = settlement_at(&replicas[1], &app, Role::Auditor);
    let statement = |month: u32| api::GetStatementRequest { name: format!("{CONTRACT}/statements/2027-{month:02}-01") };
    let february = reader.get_statement(statement(2)).await.unwrap().into_inner();
    let march = reader.get_statement(statement(3)).await.unwrap().into_inner();
    let in_february: i64 = february.cost_lines.iter().map(|line| line.cost_cents).sum::<i64>() - 487_500;
    let in_march: i64 = march
        .corrections
        .iter()
        .filter(|correction| correction.period_start == date("2027-02-01"))
        .map(|correction| correction.cost_cents)
        .sum();
    assert_eq!((in_february % 4_875, in_march % 4_875), (0, 0));
    eprintln!(
        "hours recorded during settlement: {} in February's statement, {} in March's",
        in_february / 4_875,
        in_march / 4_875
    );
    assert_eq!(in_february + in_march, 4_875 * i64::try_from(DURING).unwrap());
    let settlements = app.audit_entries().await.iter().filter(|entry| entry.action == "statement.settle").count();
    assert_eq!(settlements, 3, "one audit entry per statement");
}

on_both!(
    the_worked_example_settles_to_the_cent_under_full,
    the_worked_example_settles_to_the_cent_under_pro_rata_and_at_the_minimum,
    a_late_input_is_carried_by_the_next_statement_as_a_correction,
    a_server_sees_a_period_another_replica_settled,
    a_correction_to_a_closed_window_uses_that_windows_intake_outcome,
    a_rate_that_would_reprice_settled_hours_is_refused,
    a_municipalitys_second_contract_numbers_its_statements_in_a_series_of_its_own,
    two_concurrent_settlements_of_a_period_issue_one_statement,
    two_server_processes_settle_a_period_once_and_lose_no_input
);
