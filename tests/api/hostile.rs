//! Hostile peers and faults: each finding of the review as a test that failed before its fix —
//! refusals that stay small, forged page tokens, overflowing integers, text that lies, critical
//! token headers, oversized requests, deadlines that reach the database, and silent streams
//! that must not stall anyone else. Every refusal changes nothing (the audit log does not move).

use std::time::{Duration, Instant};

use flexsettle::domain::Role;
use flexsettle::grpc::api;
use tonic::Code;

use crate::helpers::{Backend, TestApp, create_contract_request, worked_example_contract};

fn line(reference: &str, minutes: i64) -> api::HourLine {
    api::HourLine {
        intercedent_id: "int-1".to_owned(),
        work_date: crate::helpers::date(2025, 1, 6),
        kind: api::TimeKind::Work.into(),
        minutes,
        line_reference: reference.to_owned(),
        note: String::new(),
    }
}

/// A 2025 contract `utrecht` with intercedent int-1.
async fn contract(app: &TestApp) {
    app.create_contract(api::CreateContractRequest {
        contract: Some(crate::helpers::past_contract()),
        ..create_contract_request("c", "utrecht")
    })
    .await
    .unwrap();
    crate::settlement::add_intercedent(app, "int-1", "2025-01-01", 4_875).await;
}

/// One table of hostile inputs: each must get exactly its status, with a message a client can
/// take (bounded), and change nothing.
async fn hostile_inputs_are_refused_with_their_status_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    contract(&app).await;
    let before = app.audit_size().await;
    let mut hours = app.hours_as(Role::Billing);
    let mut admin = app.client_as(Role::Admin);
    let submit = |entries: Vec<api::HourLine>, parent: &str| api::SubmitHoursRequest {
        request_id: "hostile".to_owned(),
        parent: parent.to_owned(),
        entries,
    };
    let nul_token = base64_url(b"v1:\0");
    let mut cases: Vec<(&str, Result<(), tonic::Status>, Code)> = Vec::new();
    cases.push((
        "60 bad lines",
        hours
            .submit_hours(submit(
                (0..60).map(|n| line(&format!("bad line {n} {}", "x".repeat(200)), -5)).collect(),
                "contracts/utrecht",
            ))
            .await
            .map(drop),
        Code::InvalidArgument,
    ));
    cases.push((
        "1,000 bad lines",
        hours
            .submit_hours(submit(
                (0..1_000).map(|n| line(&format!("{n}{}", "y".repeat(100)), 0)).collect(),
                "contracts/utrecht",
            ))
            .await
            .map(drop),
        Code::InvalidArgument,
    ));
    cases.push((
        "a 1 MB contract id",
        admin.create_contract(create_contract_request("big", &"c".repeat(1_000_000))).await.map(drop),
        Code::InvalidArgument,
    ));
    cases.push((
        "a NUL in a page token",
        admin
            .list_contracts(api::ListContractsRequest { page_size: 10, page_token: nul_token.clone() })
            .await
            .map(drop),
        Code::InvalidArgument,
    ));
    cases.push((
        "a NUL in a page token of entries",
        hours
            .list_hour_entries(api::ListHourEntriesRequest {
                parent: "contracts/utrecht".to_owned(),
                page_token: nul_token,
                ..Default::default()
            })
            .await
            .map(drop),
        Code::InvalidArgument,
    ));
    cases.push((
        "i64::MIN minutes in a correction",
        hours
            .correct_hours(api::CorrectHoursRequest {
                request_id: "min".to_owned(),
                entry: "contracts/utrecht/hourEntries/none".to_owned(),
                minutes: i64::MIN,
                line_reference: "c-1".to_owned(),
                note: String::new(),
            })
            .await
            .map(drop),
        Code::InvalidArgument,
    ));
    cases.push((
        "i64::MAX minutes in a line",
        hours.submit_hours(submit(vec![line("max", i64::MAX)], "contracts/utrecht")).await.map(drop),
        Code::InvalidArgument,
    ));
    cases.push((
        "a right-to-left override in a display name",
        admin
            .create_contract(api::CreateContractRequest {
                contract: Some(api::Contract {
                    display_name: "Utrecht \u{202E}7202 loopxelf".to_owned(),
                    ..worked_example_contract()
                }),
                ..create_contract_request("bidi", "bidi")
            })
            .await
            .map(drop),
        Code::InvalidArgument,
    ));
    cases.push((
        "a zero-width joiner in a note",
        hours
            .submit_hours(submit(
                vec![api::HourLine { note: "ok\u{200D}".to_owned(), ..line("zw", 60) }],
                "contracts/utrecht",
            ))
            .await
            .map(drop),
        Code::InvalidArgument,
    ));
    cases.push((
        "a duplicate line reference in one batch",
        hours.submit_hours(submit(vec![line("same", 60), line("same", 30)], "contracts/utrecht")).await.map(drop),
        Code::InvalidArgument,
    ));
    cases.push((
        "an unknown enum value",
        hours
            .submit_hours(submit(vec![api::HourLine { kind: 99, ..line("enum", 60) }], "contracts/utrecht"))
            .await
            .map(drop),
        Code::InvalidArgument,
    ));
    cases.push((
        "a date out of range",
        hours
            .submit_hours(submit(
                vec![api::HourLine { work_date: crate::helpers::date(2025, 13, 40), ..line("date", 60) }],
                "contracts/utrecht",
            ))
            .await
            .map(drop),
        Code::InvalidArgument,
    ));
    cases.push((
        "a 5 MB request",
        hours
            .submit_hours(submit(
                vec![api::HourLine { note: "n".repeat(5 * 1024 * 1024), ..line("huge", 60) }],
                "contracts/utrecht",
            ))
            .await
            .map(drop),
        Code::ResourceExhausted,
    ));
    let mut wrong = Vec::new();
    for (name, result, expected) in cases {
        let status = result.err().unwrap_or_else(|| tonic::Status::ok("accepted"));
        if status.code() != expected {
            wrong.push(format!("{name}: expected {expected:?}, got {:?} ({})", status.code(), status.message()));
        }
        assert!(status.message().len() <= 2_048, "{name}: a message of {} bytes", status.message().len());
        assert!(!status.message().contains(&"x".repeat(100)), "{name}: the message echoes the input whole");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(app.audit_size().await, before, "no refusal changed anything");
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7515 §4.1.11: a token with a `crit` header parameter the service does not understand is
/// refused, even when its signature is good.
async fn a_token_with_a_critical_header_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = std::fs::read(flexsettle::auth::DevKeyPair::in_dir(&app.settings.data_dir).private_key).unwrap();
    let request = flexsettle::auth::TokenRequest {
        principal: crate::helpers::principal(Role::Admin),
        issuer: app.settings.auth.issuer.clone(),
        audience: app.settings.auth.audience.clone(),
        issued_at_s: chrono::Utc::now().timestamp(),
        ttl_s: 600,
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.crit = Some(vec!["exp".to_owned()]);
    let token =
        jsonwebtoken::encode(&header, &request.claims(), &jsonwebtoken::EncodingKey::from_ed_pem(&key).unwrap())
            .unwrap();
    let refused = app
        .client_with_authorization(Some(&format!("Bearer {token}")))
        .list_contracts(api::ListContractsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert!(refused.message().contains("critical"), "{refused:?}");
}

/// A call whose deadline passes while the database makes it wait (the audit counter's row held
/// by another transaction) is `DEADLINE_EXCEEDED`, and what it did is rolled back: once the
/// other transaction ends, nothing of the call is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_reaches_the_database_and_rolls_the_call_back() {
    if !crate::helpers::postgres_configured() {
        return;
    }
    let app = TestApp::spawn(Backend::Postgres).await;
    let before = app.audit_size().await;
    let held = crate::helpers::AuditCounterHeld::take(&app.settings.database_url);
    // The deadline as the client's header states it, sent over plain HTTP/2: a tonic client
    // would also start a timer of its own and give up first; what matters here is the server.
    let token = app.token(Role::Admin);
    let started = Instant::now();
    let status = raw_unary(
        &app.address,
        "/flextensie.settlement.v1.ContractService/CreateContract",
        &token,
        &create_contract_request("late", "late"),
        "400m",
    )
    .await;
    let took = started.elapsed();
    held.release();
    assert_eq!(status, Code::DeadlineExceeded, "after {took:?}");
    assert!(took < Duration::from_secs(3), "answered at the deadline, not at the request timeout: {took:?}");
    assert_eq!(app.audit_size().await, before, "the call was rolled back");
    let mut admin = app.client_as(Role::Admin);
    let missing = admin.get_contract(api::GetContractRequest { name: "contracts/late".to_owned() }).await;
    assert_eq!(missing.unwrap_err().code(), Code::NotFound);
}

/// One unary gRPC call over plain HTTP/2 with a `grpc-timeout` header and no timer of the
/// client's own: the status code the server answers with.
pub(crate) async fn raw_unary(
    address: &str,
    path: &str,
    token: &str,
    message: &impl prost::Message,
    timeout: &str,
) -> Code {
    let authority = address.trim_start_matches("http://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{authority}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", timeout)
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    let (response, mut stream) = client.send_request(request, false).unwrap();
    let body = message.encode_to_vec();
    let mut framed = vec![0_u8];
    framed.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(&body);
    stream.send_data(bytes::Bytes::from(framed), true).unwrap();
    let response = response.await.unwrap();
    let code = |value: &http::HeaderValue| Code::from_i32(value.to_str().unwrap().parse().unwrap());
    if let Some(status) = response.headers().get("grpc-status") {
        return code(status);
    }
    let mut body = response.into_body();
    while body.data().await.is_some() {}
    code(body.trailers().await.unwrap().unwrap().get("grpc-status").unwrap())
}

/// 2,000 streams across 10 connections that send their headers (no token, to the open health
/// service) and never a body cannot stall anyone: health and an authenticated `GetContract`
/// are answered at once.
async fn silent_streams_do_not_stall_health_or_calls(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_contract(create_contract_request("c", "utrecht")).await.unwrap();
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..10 {
        let tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut client = client.ready().await.unwrap();
        for _ in 0..200 {
            let request = http::Request::builder()
                .method("POST")
                .uri(format!("http://{address}/grpc.health.v1.Health/Check"))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(())
                .unwrap();
            let (response, stream) = client.send_request(request, false).unwrap();
            held.push((response, stream));
            client = client.ready().await.unwrap();
        }
    }
    let started = Instant::now();
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel().await);
    let healthy = tokio::time::timeout(
        Duration::from_secs(1),
        health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }),
    )
    .await
    .expect("health answers within 1 s")
    .unwrap();
    let health_took = started.elapsed();
    assert_eq!(healthy.into_inner().status, i32::from(tonic_health::pb::health_check_response::ServingStatus::Serving));
    let started = Instant::now();
    let mut admin = app.client_as(Role::Admin);
    tokio::time::timeout(
        Duration::from_secs(1),
        admin.get_contract(api::GetContractRequest { name: "contracts/utrecht".to_owned() }),
    )
    .await
    .expect("GetContract answers within 1 s")
    .unwrap();
    eprintln!("under 2,000 silent streams: health {health_took:?}, GetContract {:?}", started.elapsed());
    drop(held);
}

on_both!(
    hostile_inputs_are_refused_with_their_status_and_change_nothing,
    a_token_with_a_critical_header_is_refused,
    silent_streams_do_not_stall_health_or_calls
);
