//! Token authentication: every kind of bad token is refused with UNAUTHENTICATED before any
//! handler runs, and RS256 keys from PEM and JWKS files are trusted as configured.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flexsettle::auth::{DevKeyPair, TokenRequest, mint};
use flexsettle::domain::Role;
use flexsettle::grpc::api;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tonic::Code;

use crate::helpers::{Backend, TestApp, principal};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

fn request(app: &TestApp) -> TokenRequest {
    TokenRequest {
        principal: principal(Role::Admin),
        issuer: app.settings.auth.issuer.clone(),
        audience: app.settings.auth.audience.clone(),
        issued_at_s: now_s(),
        ttl_s: 600,
    }
}

fn dev_key(app: &TestApp) -> Vec<u8> {
    std::fs::read(DevKeyPair::in_dir(&app.settings.data_dir).private_key).unwrap()
}

/// Calls ListContracts with this `authorization` header and returns the refusal.
async fn refusal(app: &TestApp, authorization: Option<&str>) -> tonic::Status {
    let mut client = app.client_with_authorization(authorization);
    client.list_contracts(api::ListContractsRequest::default()).await.unwrap_err()
}

async fn assert_refused(app: &TestApp, token: &str, says: &str) {
    let status = refusal(app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{says}: {status:?}");
    assert!(status.message().contains(says), "expected {says:?} in {:?}", status.message());
}

#[tokio::test]
async fn a_valid_token_is_admitted() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = mint(&dev_key(&app), &request(&app)).unwrap();
    let mut client = app.client_with_authorization(Some(&format!("Bearer {token}")));
    client.list_contracts(api::ListContractsRequest::default()).await.unwrap();
}

#[tokio::test]
async fn a_missing_or_malformed_token_is_unauthenticated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let missing = refusal(&app, None).await;
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(missing.message().contains("missing bearer token"), "{}", missing.message());
    for header in ["Basic YWRtaW46YWRtaW4=", "Bearer not-a-jwt", "Bearer a.b.c"] {
        let status = refusal(&app, Some(header)).await;
        assert_eq!(status.code(), Code::Unauthenticated, "{header}");
        assert!(status.message().contains("malformed"), "{header}: {}", status.message());
    }
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_unauthenticated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = dev_key(&app);
    let expired = TokenRequest { issued_at_s: now_s() - 3_600, ttl_s: 60, ..request(&app) };
    assert_refused(&app, &mint(&key, &expired).unwrap(), "expired").await;
    let early = TokenRequest { issued_at_s: now_s() + 3_600, ..request(&app) };
    assert_refused(&app, &mint(&key, &early).unwrap(), "not yet valid").await;
}

#[tokio::test]
async fn wrong_audience_and_wrong_issuer_are_unauthenticated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = dev_key(&app);
    let audience = TokenRequest { audience: "another-service".to_owned(), ..request(&app) };
    assert_refused(&app, &mint(&key, &audience).unwrap(), "audience").await;
    let issuer = TokenRequest { issuer: "someone-else".to_owned(), ..request(&app) };
    assert_refused(&app, &mint(&key, &issuer).unwrap(), "issuer").await;
}

#[tokio::test]
async fn a_token_signed_by_an_untrusted_key_is_unauthenticated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let elsewhere = tempfile::tempdir().unwrap();
    let stranger = DevKeyPair::in_dir(elsewhere.path());
    assert!(stranger.ensure().unwrap());
    let token = mint(&std::fs::read(&stranger.private_key).unwrap(), &request(&app)).unwrap();
    assert_refused(&app, &token, "signature").await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_unauthenticated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&request(&app).claims()).unwrap());
    assert_refused(&app, &format!("{header}.{claims}."), "algorithm").await;
}

#[tokio::test]
async fn a_token_with_an_unknown_role_is_unauthenticated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut claims = request(&app).claims();
    claims.role = "root".to_owned();
    let key = EncodingKey::from_ed_pem(&dev_key(&app)).unwrap();
    let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key).unwrap();
    assert_refused(&app, &token, "role").await;
}

fn rs256_token(app: &TestApp, kid: Option<&str>) -> String {
    let key = EncodingKey::from_rsa_pem(&std::fs::read(format!("{FIXTURES}/rsa-test-key.pem")).unwrap()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &request(app).claims(), &key).unwrap()
}

#[tokio::test]
async fn rs256_tokens_verify_against_a_configured_pem_key_and_the_dev_key_is_then_untrusted() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.auth.public_key_files = vec![format!("{FIXTURES}/rsa-test-key.pub.pem").into()];
    })
    .await;
    let token = rs256_token(&app, None);
    let mut client = app.client_with_authorization(Some(&format!("Bearer {token}")));
    client.list_contracts(api::ListContractsRequest::default()).await.unwrap();
    // With keys configured, no development key pair is made or trusted.
    assert!(!DevKeyPair::in_dir(&app.settings.data_dir).private_key.exists());
}

#[tokio::test]
async fn rs256_tokens_verify_against_a_jwks_file_by_key_id() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.auth.jwks_file = Some(format!("{FIXTURES}/rsa-test-key.jwks.json").into());
    })
    .await;
    let token = rs256_token(&app, Some("test-rsa-1"));
    let mut client = app.client_with_authorization(Some(&format!("Bearer {token}")));
    client.list_contracts(api::ListContractsRequest::default()).await.unwrap();
    assert_refused(&app, &rs256_token(&app, Some("unknown-kid")), "signature").await;
}

#[tokio::test]
async fn with_authentication_switched_off_every_call_acts_as_the_local_admin() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| settings.auth.disabled = true).await;
    let mut anonymous = app.client_with_authorization(None);
    anonymous.create_contract(crate::helpers::create_contract_request("r-1", "")).await.unwrap();
    let entry = app.audit_entries().await.remove(0);
    assert_eq!((entry.principal_subject.as_str(), entry.principal_role.as_str()), ("local", "admin"));
}

#[test]
fn the_development_key_pair_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let pair = DevKeyPair::in_dir(dir.path());
    assert!(pair.ensure().unwrap());
    let private = std::fs::read(&pair.private_key).unwrap();
    let public = std::fs::read(&pair.public_key).unwrap();
    assert!(!pair.ensure().unwrap());
    assert_eq!(std::fs::read(&pair.private_key).unwrap(), private);
    assert_eq!(std::fs::read(&pair.public_key).unwrap(), public);
}

#[tokio::test]
async fn an_audience_list_is_accepted() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut claims = request(&app).claims();
    claims.aud = flexsettle::auth::Audience::Many(vec!["other".to_owned(), app.settings.auth.audience.clone()]);
    claims.iat = None;
    let key = EncodingKey::from_ed_pem(&dev_key(&app)).unwrap();
    let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key).unwrap();
    let mut client = app.client_with_authorization(Some(&format!("Bearer {token}")));
    client.list_contracts(api::ListContractsRequest::default()).await.unwrap();
}
