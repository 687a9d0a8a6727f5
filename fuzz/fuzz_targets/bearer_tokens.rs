//! Bearer token parsing. Three shapes of input:
//! - any `authorization` header: refused, since no input can carry a trusted signature;
//! - any header and claims JSON, truly signed with the trusted key: accepted only when the
//!   header names EdDSA and nothing critical, and the claims carry the right issuer and
//!   audience, a live validity window and a printable subject;
//! - well-formed claims with any subject, role and municipality: accepted only as a valid role.
//!
//! Nothing panics.
#![no_main]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flexsettle::auth::{Authenticator, DevKeyPair, LogSigningKey, SUBJECT_LEN_MAX, TrustedKeys};
use libfuzzer_sys::fuzz_target;
use ring::signature::Ed25519KeyPair;

const ISSUER: &str = "flexsettle-fuzz";
const AUDIENCE: &str = "flexsettle";

struct Keys {
    authenticator: Authenticator,
    signer: Ed25519KeyPair,
    _folder: tempfile::TempDir,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let pair = DevKeyPair::in_dir(folder.path());
    pair.ensure().expect("a development key pair");
    let trusted = TrustedKeys::from_pem_files(&[pair.public_key.clone()]).expect("the public key");
    let seed = LogSigningKey { path: pair.private_key.clone() }.seed().expect("the private key");
    let signer = Ed25519KeyPair::from_seed_unchecked(&seed).expect("an Ed25519 key");
    Keys {
        authenticator: Authenticator::new(trusted, ISSUER.to_owned(), AUDIENCE.to_owned(), 0),
        signer,
        _folder: folder,
    }
});

fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)).unwrap_or(i64::MAX)
}

fn signed(header: &[u8], claims: &[u8]) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
    let signature = KEYS.signer.sign(input.as_bytes());
    format!("Bearer {input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

fn live_claims_accepted(claims: &serde_json::Value) -> bool {
    let now = now();
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => aud == AUDIENCE,
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(AUDIENCE)),
        _ => false,
    };
    let sub = claims.get("sub").and_then(serde_json::Value::as_str).unwrap_or("");
    aud_ok
        && claims.get("iss").and_then(serde_json::Value::as_str) == Some(ISSUER)
        && claims.get("exp").and_then(serde_json::Value::as_i64).is_some_and(|exp| exp > now - 1)
        && claims.get("nbf").and_then(serde_json::Value::as_i64).is_some_and(|nbf| nbf <= now + 1)
        && !sub.is_empty()
        && sub.len() <= SUBJECT_LEN_MAX
        && !sub.chars().any(char::is_control)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            assert!(KEYS.authenticator.authenticate(Some(rest)).is_err(), "an unsigned header was accepted");
        }
        1 => {
            let Some((&split, rest)) = rest.split_first() else { return };
            let (header, claims) = rest.split_at(usize::from(split).min(rest.len()));
            if let Ok(principal) = KEYS.authenticator.authenticate(Some(signed(header, claims).as_bytes())) {
                let header: serde_json::Value = serde_json::from_slice(header).expect("an accepted header is JSON");
                assert_eq!(header.get("alg").and_then(serde_json::Value::as_str), Some("EdDSA"));
                assert!(header.get("crit").is_none(), "a token with critical parameters was accepted");
                let claims: serde_json::Value = serde_json::from_slice(claims).expect("accepted claims are JSON");
                assert!(live_claims_accepted(&claims), "claims accepted: {claims}");
                assert_eq!(claims.get("sub").and_then(serde_json::Value::as_str), Some(principal.subject.as_str()));
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            let mut parts = text.splitn(3, '\u{1f}');
            let (sub, role, gemeente) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
            let now = now();
            let mut claims = serde_json::json!({
                "sub": sub, "role": role, "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "nbf": now - 600,
            });
            if let Some(gemeente) = gemeente {
                claims["gemeente"] = serde_json::Value::String(gemeente.to_owned());
            }
            let header = br#"{"alg":"EdDSA","typ":"JWT"}"#;
            let token = signed(header, claims.to_string().as_bytes());
            if let Ok(principal) = KEYS.authenticator.authenticate(Some(token.as_bytes())) {
                assert_eq!(principal.subject, sub);
                assert!(["billing", "gemeente", "auditor", "admin"].contains(&role), "role {role:?} accepted");
            }
        }
    }
});
