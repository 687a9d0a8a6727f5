//! Hours actually worked: submission and its refusals, the four-eyes decision, corrections,
//! listings and totals, and concurrent submitters.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use flexsettle::domain::{CbsCode, Principal, Role};
use flexsettle::grpc::api;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{HoursClient, TestApp, naive_date, past_contract, violated_fields};

const CONTRACT: &str = "contracts/utrecht";

fn utrecht() -> Role {
    Role::Gemeente(CbsCode::parse("GM0344").unwrap())
}

fn day(text: &str) -> chrono::NaiveDate {
    text.parse().unwrap()
}

fn line(reference: &str, date: &str, minutes: i64) -> api::HourLine {
    api::HourLine {
        intercedent_id: "int-1".to_owned(),
        work_date: naive_date(day(date)),
        kind: api::TimeKind::Work.into(),
        minutes,
        line_reference: reference.to_owned(),
        note: String::new(),
    }
}

fn submit(request_id: &str, lines: Vec<api::HourLine>) -> api::SubmitHoursRequest {
    api::SubmitHoursRequest { request_id: request_id.to_owned(), parent: CONTRACT.to_owned(), entries: lines }
}

fn entry(id: &str) -> String {
    format!("{CONTRACT}/hourEntries/{id}")
}

/// The worked example's contract in 2025, with intercedent `int-1` at EUR 48.75 an hour,
/// raised to EUR 50.20 from March, and `int-2` whose first rate is from March.
async fn setup(app: &TestApp) {
    let mut admin = app.contracts.clone();
    let request = api::CreateContractRequest {
        request_id: "c".to_owned(),
        contract_id: "utrecht".to_owned(),
        contract: Some(past_contract()),
    };
    admin.create_contract(request).await.unwrap();
    let rate = |month, cents| api::HourlyRate {
        effective_date: crate::helpers::date(2025, month, 1),
        rate_per_hour_cents: cents,
        ..Default::default()
    };
    for (id, rates) in [("int-1", vec![rate(1, 4875), rate(3, 5020)]), ("int-2", vec![rate(3, 5020)])] {
        admin
            .create_intercedent(api::CreateIntercedentRequest {
                request_id: format!("i-{id}"),
                parent: CONTRACT.to_owned(),
                intercedent_id: id.to_owned(),
                intercedent: Some(api::Intercedent { hourly_rates: rates, ..Default::default() }),
            })
            .await
            .unwrap();
    }
}

async fn count_entries(app: &TestApp) -> usize {
    let mut client = app.hours_as(Role::Auditor);
    let mut count = 0;
    let mut page_token = String::new();
    loop {
        let page = client
            .list_hour_entries(api::ListHourEntriesRequest {
                parent: CONTRACT.to_owned(),
                page_size: 500,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        count += page.entries.len();
        if page.next_page_token.is_empty() {
            return count;
        }
        page_token = page.next_page_token;
    }
}

/// Submits `lines` as billing and expects them refused with these fields; nothing is stored.
async fn assert_refused(app: &TestApp, lines: Vec<api::HourLine>, fields: &[&str]) -> tonic::Status {
    let audit_before = app.audit_size().await;
    let entries_before = count_entries(app).await;
    let status = app.hours_as(Role::Billing).submit_hours(submit("refused", lines)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(violated_fields(&status), fields);
    assert_eq!(app.audit_size().await, audit_before, "a refusal writes no audit entry");
    assert_eq!(count_entries(app).await, entries_before, "a refusal stores no entry");
    status
}

async fn totals(client: &mut HoursClient, month: i32) -> api::HoursTotals {
    client
        .get_hours_totals(api::GetHoursTotalsRequest {
            parent: CONTRACT.to_owned(),
            period_start: crate::helpers::date(2025, month, 1),
        })
        .await
        .unwrap()
        .into_inner()
}

fn verified(totals: &api::HoursTotals) -> &api::StateTotals {
    totals.states.iter().find(|state| state.state() == api::HourEntryState::Verified).unwrap()
}

on_both_backends! {
    async fn verified_hours_cost_the_worked_example_to_the_cent(app) {
        setup(&app).await;
        let mut billing = app.hours_as(Role::Billing);
        // January's 7,230 minutes in 30 lines, February's 6,000 and March's 6,600 after the raise.
        let mut lines: Vec<api::HourLine> = (1..=30).map(|d| line(&format!("jan-{d}"), &format!("2025-01-{d:02}"), 241)).collect();
        lines.extend((1..=20).map(|d| line(&format!("feb-{d}"), &format!("2025-02-{d:02}"), 300)));
        lines.extend((1..=22).map(|d| line(&format!("mar-{d}"), &format!("2025-03-{d:02}"), 300)));
        let submitted = billing.submit_hours(submit("s-1", lines)).await.unwrap().into_inner().entries;
        assert_eq!(submitted.len(), 72);
        assert!(submitted.iter().all(|entry| entry.state() == api::HourEntryState::Submitted));
        assert_eq!(submitted[0].submitted_by, "test-billing");
        let names: Vec<String> = submitted.iter().map(|entry| entry.name.clone()).collect();
        let mut gemeente = app.hours_as(utrecht());
        let decided = gemeente
            .verify_hours(api::VerifyHoursRequest { request_id: "v-1".to_owned(), parent: CONTRACT.to_owned(), entries: names })
            .await
            .unwrap()
            .into_inner()
            .entries;
        assert!(decided.iter().all(|entry| entry.state() == api::HourEntryState::Verified && entry.decided_by == "test-gemeente:GM0344"));
        let mut reader = app.hours_as(Role::Auditor);
        let mut month_costs = Vec::new();
        for month in 1..=3 {
            let totals = totals(&mut reader, month).await;
            let verified = verified(&totals);
            assert_eq!(verified.lines.len(), 1, "one line per intercedent, rate and period");
            month_costs.push((verified.minutes, verified.cost_cents));
        }
        assert_eq!(month_costs, [(7_230, 587_438), (6_000, 487_500), (6_600, 552_200)]);
    }
}

on_both_backends! {
    async fn absence_of_every_kind_is_refused_by_name_and_stores_nothing(app) {
        setup(&app).await;
        let absences = [
            (api::TimeKind::Sickness, "sickness"),
            (api::TimeKind::Leave, "leave"),
            (api::TimeKind::Holiday, "holiday"),
            (api::TimeKind::OtherAbsence, "absence"),
            (api::TimeKind::Unspecified, "TIME_KIND_WORK"),
        ];
        for (kind, named) in absences {
            let absent = api::HourLine { kind: kind.into(), ..line("l-1", "2025-01-06", 480) };
            let status = assert_refused(&app, vec![absent], &["entries[0].kind"]).await;
            let description = &status.get_details_bad_request().unwrap().field_violations[0].description;
            assert!(description.contains(named), "{kind:?}: {description}");
        }
    }
}

on_both_backends! {
    async fn minutes_must_be_positive_and_a_day_holds_at_most_24_hours(app) {
        setup(&app).await;
        assert_refused(&app, vec![line("l-1", "2025-01-06", 0)], &["entries[0].minutes"]).await;
        assert_refused(&app, vec![line("l-1", "2025-01-06", -60)], &["entries[0].minutes"]).await;
        assert_refused(&app, vec![line("l-1", "2025-01-06", 1_000), line("l-2", "2025-01-06", 441)], &["entries[1].minutes"]).await;
        app.hours_as(Role::Billing).submit_hours(submit("s-1", vec![line("l-1", "2025-01-06", 1_000)])).await.unwrap();
        assert_refused(&app, vec![line("l-2", "2025-01-06", 441)], &["entries[0].minutes"]).await;
        app.hours_as(Role::Billing).submit_hours(submit("s-2", vec![line("l-2", "2025-01-06", 440)])).await.unwrap();
    }
}

on_both_backends! {
    async fn dates_in_the_future_outside_the_term_or_before_the_first_rate_are_refused(app) {
        setup(&app).await;
        let tomorrow = (chrono::Utc::now() + chrono::Duration::days(3)).date_naive();
        let future = api::HourLine { work_date: naive_date(tomorrow), ..line("l-1", "2025-01-06", 60) };
        assert_refused(&app, vec![future], &["entries[0].work_date"]).await;
        assert_refused(&app, vec![line("l-1", "2024-12-31", 60)], &["entries[0].work_date", "entries[0].work_date"]).await;
        assert_refused(&app, vec![line("l-1", "2026-01-01", 60)], &["entries[0].work_date"]).await;
        let early = api::HourLine { intercedent_id: "int-2".to_owned(), ..line("l-1", "2025-02-10", 60) };
        assert_refused(&app, vec![early], &["entries[0].work_date"]).await;
    }
}

on_both_backends! {
    async fn an_intercedent_of_another_contract_is_refused(app) {
        setup(&app).await;
        let stranger = api::HourLine { intercedent_id: "int-9".to_owned(), ..line("l-1", "2025-01-06", 60) };
        assert_refused(&app, vec![stranger], &["entries[0].intercedent"]).await;
    }
}

on_both_backends! {
    async fn a_line_reference_is_recorded_once_and_never_reused_for_other_content(app) {
        setup(&app).await;
        let mut billing = app.hours_as(Role::Billing);
        let first = billing.submit_hours(submit("s-1", vec![line("l-1", "2025-01-06", 60)])).await.unwrap().into_inner();
        let audit = app.audit_size().await;
        // The same line under a new request id: the existing entry, and nothing written.
        let again = billing.submit_hours(submit("s-2", vec![line("l-1", "2025-01-06", 60)])).await.unwrap().into_inner();
        assert_eq!(again.entries, first.entries);
        assert_eq!(app.audit_size().await, audit);
        assert_refused(&app, vec![line("l-1", "2025-01-06", 61)], &["entries[0].line_reference"]).await;
        assert_refused(&app, vec![line("l-2", "2025-01-07", 60), line("l-2", "2025-01-07", 60)], &["entries[1].line_reference"]).await;
    }
}

on_both_backends! {
    async fn a_refused_batch_names_every_bad_line_and_stores_none(app) {
        setup(&app).await;
        let lines = vec![
            line("ok-1", "2025-01-06", 60),
            api::HourLine { kind: api::TimeKind::Sickness.into(), ..line("sick", "2025-01-07", 60) },
            line("ok-2", "2025-01-08", 60),
            line("zero", "2025-01-09", 0),
            api::HourLine { intercedent_id: "int-9".to_owned(), ..line("stranger", "2025-01-10", 60) },
        ];
        assert_refused(&app, lines, &["entries[1].kind", "entries[3].minutes", "entries[4].intercedent"]).await;
    }
}

on_both_backends! {
    async fn the_submitter_cannot_verify_and_another_municipality_cannot_verify_at_all(app) {
        setup(&app).await;
        let alice = |role| Principal { subject: "alice".to_owned(), role };
        app.hours_as_principal(alice(Role::Billing)).submit_hours(submit("s-1", vec![line("l-1", "2025-01-06", 60)])).await.unwrap();
        let verify = |id: &str| api::VerifyHoursRequest {
            request_id: id.to_owned(),
            parent: CONTRACT.to_owned(),
            entries: vec![entry("l-1")],
        };
        // The same principal (subject) in the municipality's role: the four-eyes rule refuses.
        let same = app.hours_as_principal(alice(utrecht())).verify_hours(verify("v-1")).await.unwrap_err();
        assert_eq!(same.code(), Code::FailedPrecondition);
        let failure = same.get_details_precondition_failure().unwrap();
        assert_eq!(failure.violations[0].r#type, "FOUR_EYES");
        assert_eq!(failure.violations[0].subject, entry("l-1"));
        // Another municipality may not touch the contract at all.
        let amsterdam = Role::Gemeente(CbsCode::parse("GM0363").unwrap());
        let other = app.hours_as(amsterdam).verify_hours(verify("v-2")).await.unwrap_err();
        assert_eq!(other.code(), Code::PermissionDenied);
        // The billing role may not verify.
        let billing = app.hours_as(Role::Billing).verify_hours(verify("v-3")).await.unwrap_err();
        assert_eq!(billing.code(), Code::PermissionDenied);
        let read = app.hours_as(Role::Auditor).get_hour_entry(api::GetHourEntryRequest { name: entry("l-1") }).await.unwrap();
        assert_eq!(read.into_inner().state(), api::HourEntryState::Submitted);
        // The municipality's own principal verifies; the decision is final.
        app.hours_as(utrecht()).verify_hours(verify("v-4")).await.unwrap();
        let twice = app.hours_as(utrecht()).verify_hours(verify("v-5")).await.unwrap_err();
        assert_eq!(twice.get_details_precondition_failure().unwrap().violations[0].r#type, "ALREADY_DECIDED");
    }
}

on_both_backends! {
    async fn a_rejection_carries_a_reason_is_final_and_frees_the_day(app) {
        setup(&app).await;
        app.hours_as(Role::Billing).submit_hours(submit("s-1", vec![line("l-1", "2025-01-06", 1_440)])).await.unwrap();
        let mut gemeente = app.hours_as(utrecht());
        let reject = |id: &str, reason: &str| api::RejectHoursRequest {
            request_id: id.to_owned(),
            entry: entry("l-1"),
            reason: reason.to_owned(),
        };
        let status = gemeente.reject_hours(reject("r-1", " ")).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["reason"]);
        let rejected = gemeente.reject_hours(reject("r-2", "was on leave")).await.unwrap().into_inner();
        assert_eq!((rejected.state(), rejected.rejection_reason.as_str()), (api::HourEntryState::Rejected, "was on leave"));
        let verify = api::VerifyHoursRequest { request_id: "v-1".to_owned(), parent: CONTRACT.to_owned(), entries: vec![entry("l-1")] };
        assert_eq!(gemeente.verify_hours(verify).await.unwrap_err().code(), Code::FailedPrecondition);
        // Rejected minutes do not count toward the day.
        app.hours_as(Role::Billing).submit_hours(submit("s-2", vec![line("l-2", "2025-01-06", 480)])).await.unwrap();
    }
}

on_both_backends! {
    async fn a_correction_takes_hours_back_but_never_more_than_were_worked(app) {
        setup(&app).await;
        let mut billing = app.hours_as(Role::Billing);
        billing.submit_hours(submit("s-1", vec![line("l-1", "2025-01-06", 600)])).await.unwrap();
        let correct = |id: &str, minutes: i64, reference: &str| api::CorrectHoursRequest {
            request_id: id.to_owned(),
            entry: entry("l-1"),
            minutes,
            line_reference: reference.to_owned(),
            note: "timesheet fix".to_owned(),
        };
        let unverified = billing.correct_hours(correct("c-1", -120, "c-1")).await.unwrap_err();
        assert_eq!(unverified.get_details_precondition_failure().unwrap().violations[0].r#type, "NOT_VERIFIED");
        let mut gemeente = app.hours_as(utrecht());
        let verify = |id: &str, entries: Vec<String>| api::VerifyHoursRequest {
            request_id: id.to_owned(),
            parent: CONTRACT.to_owned(),
            entries,
        };
        gemeente.verify_hours(verify("v-1", vec![entry("l-1")])).await.unwrap();
        let correction = billing.correct_hours(correct("c-2", -120, "c-1")).await.unwrap().into_inner();
        assert_eq!((correction.minutes, correction.corrects.as_str()), (-120, entry("l-1").as_str()));
        assert_eq!(correction.work_date, naive_date(day("2025-01-06")));
        let too_much = billing.correct_hours(correct("c-3", -481, "c-2")).await.unwrap_err();
        assert_eq!(too_much.get_details_precondition_failure().unwrap().violations[0].r#type, "NET_MINUTES_NEGATIVE");
        gemeente.verify_hours(verify("v-2", vec![entry("c-1")])).await.unwrap();
        let totals = totals(&mut app.hours_as(Role::Auditor), 1).await;
        let verified = verified(&totals);
        assert_eq!((verified.entry_count, verified.minutes, verified.cost_cents), (2, 480, 39_000));
        // Corrections are entries: never edited, listed with the rest.
        assert_eq!(count_entries(&app).await, 2);
    }
}

on_both_backends! {
    async fn entries_list_by_intercedent_period_and_state(app) {
        setup(&app).await;
        let lines = vec![
            line("a", "2025-01-06", 60),
            line("b", "2025-02-06", 60),
            api::HourLine { intercedent_id: "int-2".to_owned(), ..line("c", "2025-03-06", 60) },
            line("d", "2025-03-07", 60),
        ];
        app.hours_as(Role::Billing).submit_hours(submit("s-1", lines)).await.unwrap();
        let verify = api::VerifyHoursRequest { request_id: "v".to_owned(), parent: CONTRACT.to_owned(), entries: vec![entry("d")] };
        app.hours_as(utrecht()).verify_hours(verify).await.unwrap();
        let mut reader = app.hours_as(utrecht());
        let mut list = async |request: api::ListHourEntriesRequest| -> Vec<String> {
            let request = api::ListHourEntriesRequest { parent: CONTRACT.to_owned(), ..request };
            reader.list_hour_entries(request).await.unwrap().into_inner().entries.into_iter().map(|e| e.line_reference).collect()
        };
        assert_eq!(list(api::ListHourEntriesRequest::default()).await, ["a", "b", "c", "d"]);
        assert_eq!(list(api::ListHourEntriesRequest { intercedent_id: "int-2".to_owned(), ..Default::default() }).await, ["c"]);
        let march = api::ListHourEntriesRequest { period_start: crate::helpers::date(2025, 3, 1), ..Default::default() };
        assert_eq!(list(march).await, ["c", "d"]);
        let verified = api::ListHourEntriesRequest { state: api::HourEntryState::Verified.into(), ..Default::default() };
        assert_eq!(list(verified).await, ["d"]);
        let submitted = api::ListHourEntriesRequest { state: api::HourEntryState::Submitted.into(), page_size: 2, ..Default::default() };
        assert_eq!(list(submitted).await, ["a", "b"]);
    }
}

/// Clients submitting at once, and calls per client.
const CLIENTS: u32 = 8;
const CALLS_PER_CLIENT: u32 = 1_000;

on_both_backends! {
    async fn concurrent_submitters_lose_and_double_nothing(app) {
        setup(&app).await;
        let acknowledged_minutes = Arc::new(AtomicI64::new(0));
        let acknowledged_calls = Arc::new(AtomicI64::new(0));
        let mut clients = Vec::new();
        for client in 0..CLIENTS {
            let mut billing = app.hours_as(Role::Billing);
            let (minutes_total, calls_total) = (acknowledged_minutes.clone(), acknowledged_calls.clone());
            clients.push(tokio::spawn(async move {
                for call in 0..CALLS_PER_CLIENT {
                    let n = client * CALLS_PER_CLIENT + call;
                    let date = day("2025-01-01") + chrono::Days::new(u64::from(n % 365));
                    let minutes = i64::from(1 + n % 3);
                    let request = api::SubmitHoursRequest {
                        request_id: format!("r-{n}"),
                        parent: CONTRACT.to_owned(),
                        entries: vec![api::HourLine { work_date: naive_date(date), ..line(&format!("l-{n}"), "2025-01-01", minutes) }],
                    };
                    let first = billing.submit_hours(request.clone()).await.unwrap().into_inner();
                    minutes_total.fetch_add(minutes, Ordering::SeqCst);
                    calls_total.fetch_add(1, Ordering::SeqCst);
                    // Every tenth call is retried, as a client that lost the answer would.
                    if n.is_multiple_of(10) {
                        let replay = billing.submit_hours(request).await.unwrap().into_inner();
                        assert_eq!(replay, first);
                    }
                }
            }));
        }
        for client in clients {
            client.await.unwrap();
        }
        let calls = acknowledged_calls.load(Ordering::SeqCst);
        assert_eq!(calls, i64::from(CLIENTS * CALLS_PER_CLIENT));
        assert_eq!(i64::try_from(count_entries(&app).await).unwrap(), calls);
        let mut reader = app.hours_as(Role::Auditor);
        let mut minutes = 0;
        for month in 1..=12 {
            let totals = totals(&mut reader, month).await;
            minutes += totals.states.iter().map(|state| state.minutes).sum::<i64>();
        }
        assert_eq!(minutes, acknowledged_minutes.load(Ordering::SeqCst));
        let submissions = app.audit_entries().await.iter().filter(|entry| entry.action == "hours.submit").count();
        assert_eq!(i64::try_from(submissions).unwrap(), calls);
    }
}

fn verify_request(request_id: &str, entries: &[&str]) -> api::VerifyHoursRequest {
    api::VerifyHoursRequest {
        request_id: request_id.to_owned(),
        parent: CONTRACT.to_owned(),
        entries: entries.iter().map(|id| entry(id)).collect(),
    }
}

fn precondition(status: &tonic::Status) -> Vec<(String, String)> {
    status
        .get_details_precondition_failure()
        .expect("a PreconditionFailure detail")
        .violations
        .into_iter()
        .map(|violation| (violation.r#type, violation.subject))
        .collect()
}

on_both_backends! {
    async fn a_verification_with_one_bad_entry_verifies_none_and_writes_nothing(app) {
        setup(&app).await;
        let alice = Principal { subject: "alice".to_owned(), role: utrecht() };
        app.hours_as(Role::Billing).submit_hours(submit("s-1", vec![line("a", "2025-01-06", 60), line("b", "2025-01-07", 60)])).await.unwrap();
        let mut gemeente = app.hours_as_principal(alice.clone());
        gemeente.verify_hours(verify_request("v-1", &["a"])).await.unwrap();
        let audit = app.audit_size().await;
        let status = gemeente.verify_hours(verify_request("v-2", &["b", "a"])).await.unwrap_err();
        assert_eq!(precondition(&status), [("ALREADY_DECIDED".to_owned(), entry("a"))]);
        let missing = gemeente.verify_hours(verify_request("v-3", &["b", "nope"])).await.unwrap_err();
        assert_eq!(missing.code(), Code::NotFound);
        assert_eq!(app.audit_size().await, audit, "refused verifications write nothing");
        let b = app.hours_as(Role::Auditor).get_hour_entry(api::GetHourEntryRequest { name: entry("b") }).await.unwrap();
        assert_eq!(b.into_inner().state(), api::HourEntryState::Submitted);
        // A replay returns the first answer; the same id for another payload is refused.
        let first = gemeente.verify_hours(verify_request("v-4", &["b"])).await.unwrap().into_inner();
        let replay = gemeente.verify_hours(verify_request("v-4", &["b"])).await.unwrap().into_inner();
        assert_eq!(replay, first);
        let reused = gemeente.verify_hours(verify_request("v-4", &["a"])).await.unwrap_err();
        assert_eq!(reused.code(), Code::AlreadyExists);
        let decisions = app.audit_entries().await.iter().filter(|entry| entry.action == "hours.verify").count();
        assert_eq!(decisions, 2, "one audit entry per verification call that changed something");
    }
}

on_both_backends! {
    async fn refused_corrections_and_rejections_write_nothing(app) {
        setup(&app).await;
        let mut billing = app.hours_as(Role::Billing);
        billing.submit_hours(submit("s-1", vec![line("l-1", "2025-01-06", 1_400)])).await.unwrap();
        app.hours_as(utrecht()).verify_hours(verify_request("v-1", &["l-1"])).await.unwrap();
        let correct = |id: &str, target: &str, minutes: i64, reference: &str| api::CorrectHoursRequest {
            request_id: id.to_owned(),
            entry: entry(target),
            minutes,
            line_reference: reference.to_owned(),
            note: String::new(),
        };
        billing.correct_hours(correct("c-1", "l-1", -100, "c-1")).await.unwrap();
        let audit = app.audit_size().await;
        let over = billing.correct_hours(correct("c-2", "l-1", 41, "c-2")).await.unwrap_err();
        assert_eq!(precondition(&over), [("DAY_OVERFULL".to_owned(), entry("l-1"))]);
        let of_correction = billing.correct_hours(correct("c-3", "c-1", -10, "c-3")).await.unwrap_err();
        assert_eq!(precondition(&of_correction), [("CORRECTS_A_CORRECTION".to_owned(), entry("c-1"))]);
        let no_reason = app
            .hours_as(utrecht())
            .reject_hours(api::RejectHoursRequest { request_id: "r-1".to_owned(), entry: entry("c-1"), reason: String::new() })
            .await
            .unwrap_err();
        assert_eq!(no_reason.code(), Code::InvalidArgument);
        assert_eq!(app.audit_size().await, audit);
        assert_eq!(count_entries(&app).await, 2);
    }
}

on_both_backends! {
    async fn an_undecided_correction_never_makes_room_it_may_not_leave(app) {
        setup(&app).await;
        let mut billing = app.hours_as(Role::Billing);
        billing.submit_hours(submit("s-1", vec![line("l-1", "2025-01-06", 1_440)])).await.unwrap();
        app.hours_as(utrecht()).verify_hours(verify_request("v-1", &["l-1"])).await.unwrap();
        let correct = |id: &str, minutes: i64| api::CorrectHoursRequest {
            request_id: id.to_owned(),
            entry: entry("l-1"),
            minutes,
            line_reference: id.to_owned(),
            note: String::new(),
        };
        // A pending take-back of 600 minutes may still be rejected: the day stays full.
        billing.correct_hours(correct("minus", -600)).await.unwrap();
        assert_refused(&app, vec![line("l-2", "2025-01-06", 600)], &["entries[0].minutes"]).await;
        // A pending addition may be rejected too: it gives nothing more to take back.
        let mut other = app.hours_as(Role::Billing);
        other.submit_hours(submit("s-2", vec![line("l-3", "2025-01-07", 60)])).await.unwrap();
        app.hours_as(utrecht()).verify_hours(verify_request("v-2", &["l-3"])).await.unwrap();
        let plus = api::CorrectHoursRequest { entry: entry("l-3"), ..correct("plus", 60) };
        other.correct_hours(plus).await.unwrap();
        let minus = api::CorrectHoursRequest { entry: entry("l-3"), ..correct("minus-2", -120) };
        let status = other.correct_hours(minus).await.unwrap_err();
        assert_eq!(precondition(&status), [("NET_MINUTES_NEGATIVE".to_owned(), entry("l-3"))]);
    }
}

on_both_backends! {
    async fn concurrent_submissions_never_overfill_a_day(app) {
        setup(&app).await;
        let calls = (0..8).map(|n| {
            let mut billing = app.hours_as(Role::Billing);
            tokio::spawn(async move { billing.submit_hours(submit(&format!("r-{n}"), vec![line(&format!("l-{n}"), "2025-01-06", 300)])).await })
        });
        let mut accepted = 0;
        for call in calls {
            match call.await.unwrap() {
                Ok(_) => accepted += 1,
                Err(status) => assert_eq!(status.code(), Code::InvalidArgument, "{status:?}"),
            }
        }
        assert_eq!(accepted, 4, "four lines of 300 minutes fill 1200 of a day's 1440; a fifth would not fit");
        let totals = totals(&mut app.hours_as(Role::Auditor), 1).await;
        assert_eq!(totals.states.iter().map(|state| state.minutes).sum::<i64>(), 1_200);
    }
}

/// Sends `requests` at once to `replica`, whose writer gathers exactly as many calls before it
/// starts, and gives the answers in the order asked.
async fn submit_together(
    replica: &crate::helpers::Replica,
    requests: &[api::SubmitHoursRequest],
) -> Vec<Result<api::SubmitHoursResponse, tonic::Status>> {
    let calls: Vec<_> = requests
        .iter()
        .map(|request| {
            let (mut billing, request) = (replica.hours_as(Role::Billing), request.clone());
            tokio::spawn(async move { billing.submit_hours(request).await.map(tonic::Response::into_inner) })
        })
        .collect();
    let mut answers = Vec::with_capacity(calls.len());
    for call in calls {
        answers.push(call.await.unwrap());
    }
    answers
}

/// Group commit of submissions: eight single-line calls that reach the writer together are
/// recorded as one set-based step, and each still gets the answer it would get alone, in
/// whatever order they arrived: refusals are their own, a line recorded by a batch-mate counts
/// towards the day and comes back as recorded, the audit log stays gapless, and every answer
/// replays. A request id twice in a batch makes the batch run call by call, with the same result.
async fn submissions_gathered_together_keep_their_own_outcomes(backend: crate::helpers::Backend) {
    let app = TestApp::spawn(backend).await;
    setup(&app).await;
    let replica = app
        .replica_with(|settings| {
            settings.database.write_batch_window_us = 20_000_000;
            settings.database.write_batch_max_calls = 8;
        })
        .await;
    let stranger = api::HourLine { intercedent_id: "int-9".to_owned(), ..line("l-7", "2025-01-07", 60) };
    let requests = [
        // 300 + 300 + 900 minutes do not fit in a day: whichever arrives last is refused.
        submit("g-1", vec![line("l-1", "2025-01-06", 300)]),
        submit("g-2", vec![line("l-2", "2025-01-06", 300)]),
        submit("g-3", vec![line("l-3", "2025-01-06", 900)]),
        // The line of g-1 again under another request id: recorded once, answered to both.
        submit("g-4", vec![line("l-1", "2025-01-06", 300)]),
        submit("g-5", vec![line("l-5", "2025-01-07", 60), line("l-6", "2025-01-08", 30)]),
        submit("g-6", vec![stranger]),
        submit("g-7", vec![line("l-8", "2025-01-07", 45)]),
        submit("g-8", vec![line("l-9", "2999-01-01", 60)]),
    ];
    let answers = submit_together(&replica, &requests).await;
    for index in [4, 6] {
        assert!(answers[index].is_ok(), "{:?}", answers[index]);
    }
    for index in [5, 7] {
        assert_eq!(answers[index].as_ref().unwrap_err().code(), Code::InvalidArgument, "{:?}", answers[index]);
    }
    let day_calls: Vec<_> = answers[..4].iter().collect();
    for answer in &day_calls {
        if let Err(status) = answer {
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        }
    }
    assert_eq!(answers[0].is_ok(), answers[3].is_ok(), "g-1 and g-4 ask for the same line: {answers:?}");
    if let (Ok(first), Ok(again)) = (&answers[0], &answers[3]) {
        assert_eq!(first, again, "the line recorded by one is the answer to the other");
    }
    let accepted_on_day: i64 = [&answers[0], &answers[1], &answers[2]]
        .iter()
        .filter_map(|answer| answer.as_ref().ok())
        .flat_map(|answer| answer.entries.iter().map(|entry| entry.minutes))
        .sum();
    assert!(accepted_on_day <= 1_440, "{answers:?}");
    assert_eq!(
        answers[..3].iter().filter(|answer| answer.is_err()).count(),
        1,
        "one of three does not fit: {answers:?}"
    );
    let mut reader = app.hours_as(Role::Auditor);
    let january = totals(&mut reader, 1).await;
    assert_eq!(january.states.iter().map(|state| state.minutes).sum::<i64>(), accepted_on_day + 60 + 30 + 45);
    // When g-1 and g-4 both succeed, only the first of them to run recorded something.
    let created = answers.iter().filter(|answer| answer.is_ok()).count() - usize::from(answers[0].is_ok());
    let entries_created = 2 + 2 + 1;
    assert_eq!(count_entries(&app).await, entries_created);
    let entries = app.audit_entries().await;
    let submissions: Vec<_> = entries.iter().filter(|entry| entry.action == "hours.submit").collect();
    assert_eq!(submissions.len(), created, "one entry per call that recorded something: {answers:?}");
    let seqs: Vec<i64> = entries.iter().map(|entry| entry.seq).collect();
    assert_eq!(seqs, (1..=i64::try_from(entries.len()).unwrap()).collect::<Vec<_>>(), "gapless");

    // Every answer given replays as it was, through the other server.
    let mut billing = app.hours_as(Role::Billing);
    for (request, answer) in requests.iter().zip(&answers) {
        if let Ok(first) = answer {
            assert_eq!(&billing.submit_hours(request.clone()).await.unwrap().into_inner(), first);
        }
    }
    assert_eq!(app.audit_size().await, i64::try_from(entries.len()).unwrap(), "replays change nothing");

    let (requests_before, answers_before) = (requests, answers);

    // A request id twice in one batch: the second replays the first.
    let mut requests: Vec<_> =
        (10..16).map(|n| submit(&format!("h-{n}"), vec![line(&format!("l-{n}"), "2025-01-09", 30)])).collect();
    requests.push(requests[2].clone());
    requests.push(submit("h-16", vec![line("l-16", "2025-01-10", 30)]));
    let answers = submit_together(&replica, &requests).await;
    let answers: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(answers[2], answers[6]);
    assert_eq!(count_entries(&app).await, entries_created + 7);
    let audited = i64::try_from(entries.len()).unwrap() + 7;
    assert_eq!(app.audit_size().await, audited);

    // Request ids answered before, in a batch: a retry replays, another payload under an
    // answered id is refused as alone, a refused call is refused again; the rest are recorded.
    let first = (requests_before[4].clone(), answers_before[4].as_ref().unwrap().clone());
    let mut requests: Vec<_> =
        (20..25).map(|n| submit(&format!("k-{n}"), vec![line(&format!("l-{n}"), "2025-01-13", 30)])).collect();
    requests.push(first.0.clone());
    requests.push(submit("g-7", vec![line("l-30", "2025-01-14", 30)]));
    requests.push(requests_before[5].clone());
    let answers = submit_together(&replica, &requests).await;
    assert_eq!(answers[5].as_ref().unwrap(), &first.1, "the retry replays its first answer");
    let reused = billing.submit_hours(requests[6].clone()).await.unwrap_err();
    assert_eq!(answers[6].as_ref().unwrap_err().code(), reused.code(), "{:?}", answers[6]);
    assert_ne!(reused.code(), Code::Ok);
    assert_eq!(answers[7].as_ref().unwrap_err().code(), Code::InvalidArgument);
    assert!(answers[..5].iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(count_entries(&app).await, entries_created + 7 + 5);
    assert_eq!(app.audit_size().await, audited + 5);
}

on_both!(submissions_gathered_together_keep_their_own_outcomes);

on_both_backends! {
    async fn the_same_subject_in_another_role_is_another_caller(app) {
        setup(&app).await;
        let as_role = |role| Principal { subject: "shared".to_owned(), role };
        let request = submit("same-id", vec![line("l-1", "2025-01-06", 60)]);
        app.hours_as_principal(as_role(Role::Billing)).submit_hours(request.clone()).await.unwrap();
        // Another municipality replaying the request id and payload gets no answer of GM0344's.
        let amsterdam = as_role(Role::Gemeente(CbsCode::parse("GM0363").unwrap()));
        let replayed = app.hours_as_principal(amsterdam).submit_hours(request).await.unwrap_err();
        assert_eq!(replayed.code(), Code::PermissionDenied);
        // The municipality's principal with the same subject verifies under the same request id:
        // a different caller, so no clash with billing's request id — but the four-eyes rule
        // still compares subjects.
        let status = app.hours_as_principal(as_role(utrecht())).verify_hours(verify_request("same-id", &["l-1"])).await.unwrap_err();
        assert_eq!(precondition(&status), [("FOUR_EYES".to_owned(), entry("l-1"))]);
    }
}
