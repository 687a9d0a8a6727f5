//! Authentication: bearer tokens (JWT) verified against configured public keys, turned into a
//! [`Principal`]. No transport types here; the gRPC layer calls [`Authenticator::authenticate`]
//! with the raw `authorization` header.

mod keys;
mod token;

pub use keys::{DevKeyPair, LogSigningKey, TrustedKeys};
pub use token::{Audience, Claims, TokenRequest, mint};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};

use crate::domain::{Principal, Role};

/// Longest subject a token may carry.
pub const SUBJECT_LEN_MAX: usize = 256;
/// Longest `authorization` header value the service reads.
pub const TOKEN_LEN_MAX: usize = 8 * 1024;
/// The signature algorithms the service accepts.
pub const ALGORITHMS: [Algorithm; 3] = [Algorithm::EdDSA, Algorithm::RS256, Algorithm::ES256];

/// Why a request is not authenticated. Each says which, for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `authorization` header.
    #[error("missing bearer token: send the header `authorization: Bearer <JWT>`")]
    Missing,
    /// The header or the token cannot be read.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The token's algorithm is not one the service accepts (e.g. `none`).
    #[error("token algorithm {0} is not accepted; use EdDSA, RS256 or ES256")]
    Algorithm(String),
    /// No trusted key verifies the signature.
    #[error("token signature does not verify with any trusted key")]
    Signature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is still in the future.
    #[error("token not yet valid (nbf is in the future)")]
    NotYetValid,
    /// `aud` is not this service.
    #[error("token audience is wrong: expected {0:?}")]
    Audience(String),
    /// `iss` is not the trusted issuer.
    #[error("token issuer is wrong: expected {0:?}")]
    Issuer(String),
    /// The claims do not name a valid principal.
    #[error("token claims are invalid: {0}")]
    Claims(String),
}

/// Most verified tokens remembered at once.
pub const TOKEN_CACHE_MAX: usize = 4_096;

/// Checks bearer tokens, remembering the ones it verified until they expire: a client sends
/// the same token with every call, and a signature check costs more than the call it guards.
#[derive(Clone)]
pub struct Authenticator {
    keys: TrustedKeys,
    issuer: String,
    audience: String,
    leeway_s: u64,
    verified: std::sync::Arc<std::sync::Mutex<VerifiedTokens>>,
    now_s: fn() -> i64,
}

/// Verified tokens by the SHA-256 of their header value: the principal and the expiry.
#[derive(Debug, Default)]
struct VerifiedTokens {
    tokens: std::collections::HashMap<[u8; 32], (Principal, i64)>,
}

impl VerifiedTokens {
    /// Remembers a token, keeping at most [`TOKEN_CACHE_MAX`]: when full, the expired ones go,
    /// and if none has, everything does (the next calls verify again).
    fn remember(&mut self, key: [u8; 32], principal: Principal, expires_s: i64, now_s: i64, leeway_s: i64) {
        if self.tokens.len() >= TOKEN_CACHE_MAX {
            self.tokens.retain(|_, (_, expires)| expires.saturating_add(leeway_s) >= now_s);
            if self.tokens.len() >= TOKEN_CACHE_MAX {
                self.tokens.clear();
            }
        }
        self.tokens.insert(key, (principal, expires_s));
    }
}

fn system_now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator that trusts `keys` for tokens of `issuer` meant for `audience`, with a
    /// leeway for clock skew.
    #[must_use]
    pub fn new(keys: TrustedKeys, issuer: String, audience: String, leeway_s: u64) -> Authenticator {
        Authenticator { keys, issuer, audience, leeway_s, verified: std::sync::Arc::default(), now_s: system_now_s }
    }

    /// Reads the principal from an `authorization` header value (`Bearer <JWT>`). A token
    /// verified before is taken from memory while it has not expired (the same test of `exp`,
    /// with the same leeway, as a full verification); only verified tokens are remembered, so
    /// nothing the full verification refuses is ever accepted.
    ///
    /// # Errors
    /// Why the token is refused.
    pub fn authenticate(&self, header: Option<&[u8]>) -> Result<Principal, AuthError> {
        use sha2::Digest as _;
        let header = header.ok_or(AuthError::Missing)?;
        if header.len() > TOKEN_LEN_MAX {
            return Err(AuthError::Malformed(format!("longer than {TOKEN_LEN_MAX} bytes")));
        }
        let key: [u8; 32] = sha2::Sha256::digest(header).into();
        let now_s = (self.now_s)();
        let leeway_s = i64::try_from(self.leeway_s).unwrap_or(i64::MAX);
        let mut verified = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((principal, expires_s)) = verified.tokens.get(&key) {
            if expires_s.saturating_add(leeway_s) >= now_s {
                return Ok(principal.clone());
            }
            verified.tokens.remove(&key);
            return Err(AuthError::Expired);
        }
        drop(verified);
        let (principal, expires_s) = self.verify(header)?;
        self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remember(
            key,
            principal.clone(),
            expires_s,
            now_s,
            leeway_s,
        );
        Ok(principal)
    }

    /// Verifies a token in full: its principal and expiry.
    fn verify(&self, header: &[u8]) -> Result<(Principal, i64), AuthError> {
        let header = std::str::from_utf8(header).map_err(|_| AuthError::Malformed("not UTF-8".to_owned()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| AuthError::Malformed("the authorization header must be `Bearer <JWT>`".to_owned()))?
            .trim();
        // Refuse a foreign algorithm (above all `none`) by name, before anything else is read.
        let named =
            algorithm_named(token).ok_or_else(|| AuthError::Malformed("the token header cannot be read".to_owned()))?;
        if !ALGORITHMS.iter().any(|algorithm| format!("{algorithm:?}") == named) {
            return Err(AuthError::Algorithm(named));
        }
        let jwt_header = decode_header(token).map_err(|error| AuthError::Malformed(error.to_string()))?;
        // RFC 7515 §4.1.11: a critical header parameter the service does not understand (it
        // understands none) makes the token invalid.
        if let Some(critical) = &jwt_header.crit {
            return Err(AuthError::Malformed(format!(
                "the token names {} critical header parameter(s) this service does not understand",
                critical.len()
            )));
        }
        let mut validation = Validation::new(jwt_header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway_s;
        let mut last = AuthError::Signature;
        for key in self.keys.candidates(jwt_header.alg, jwt_header.kid.as_deref()) {
            match decode::<Claims>(token, key, &validation) {
                Ok(data) => {
                    let expires_s = data.claims.exp;
                    return principal(data.claims).map(|principal| (principal, expires_s));
                }
                Err(error) => {
                    last = match error.kind() {
                        ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => {
                            AuthError::Signature
                        }
                        ErrorKind::ExpiredSignature => AuthError::Expired,
                        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                        ErrorKind::InvalidAudience => AuthError::Audience(self.audience.clone()),
                        ErrorKind::InvalidIssuer => AuthError::Issuer(self.issuer.clone()),
                        ErrorKind::MissingRequiredClaim(claim) => {
                            AuthError::Claims(format!("the {claim} claim is required"))
                        }
                        _ => AuthError::Malformed(error.to_string()),
                    };
                    if last != AuthError::Signature {
                        // The signature verified; the claims are what is wrong.
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }
}

/// The `alg` a token's header names, if it can be read.
fn algorithm_named(token: &str) -> Option<String> {
    use base64::Engine;
    let header = token.split('.').next()?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&json).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

/// The principal that verified claims name.
fn principal(claims: Claims) -> Result<Principal, AuthError> {
    if claims.sub.is_empty() || claims.sub.len() > SUBJECT_LEN_MAX || claims.sub.chars().any(char::is_control) {
        return Err(AuthError::Claims(format!("sub must be 1 to {SUBJECT_LEN_MAX} printable characters")));
    }
    let role = Role::parse(&claims.role, claims.gemeente.as_deref()).map_err(AuthError::Claims)?;
    Ok(Principal { subject: claims.sub, role })
}

#[cfg(test)]
mod tests {
    use super::*;

    static FAKE_NOW_S: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

    fn fake_now_s() -> i64 {
        FAKE_NOW_S.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn signed(folder: &std::path::Path, ttl_s: i64) -> (Authenticator, String) {
        let keys = DevKeyPair::in_dir(folder);
        keys.ensure().unwrap();
        let trusted = TrustedKeys::from_pem_files(std::slice::from_ref(&keys.public_key)).unwrap();
        let request = TokenRequest {
            principal: Principal { subject: "alice".to_owned(), role: Role::Billing },
            issuer: "issuer".to_owned(),
            audience: "audience".to_owned(),
            issued_at_s: system_now_s(),
            ttl_s,
        };
        let token = mint(&std::fs::read(&keys.private_key).unwrap(), &request).unwrap();
        (Authenticator::new(trusted, "issuer".to_owned(), "audience".to_owned(), 5), format!("Bearer {token}"))
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires() {
        let folder = tempfile::tempdir().unwrap();
        let (mut authenticator, header) = signed(folder.path(), 60);
        FAKE_NOW_S.store(system_now_s(), std::sync::atomic::Ordering::Relaxed);
        authenticator.now_s = fake_now_s;
        let first = authenticator.authenticate(Some(header.as_bytes())).unwrap();
        assert_eq!(first.subject, "alice");
        assert_eq!(authenticator.verified.lock().unwrap().tokens.len(), 1, "remembered");
        assert_eq!(authenticator.authenticate(Some(header.as_bytes())).unwrap(), first);
        // Within the leeway past its expiry it still counts, as in a full verification…
        FAKE_NOW_S.fetch_add(60 + 5, std::sync::atomic::Ordering::Relaxed);
        assert!(authenticator.authenticate(Some(header.as_bytes())).is_ok());
        // …and not a second later.
        FAKE_NOW_S.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(authenticator.authenticate(Some(header.as_bytes())), Err(AuthError::Expired));
        assert!(authenticator.verified.lock().unwrap().tokens.is_empty(), "forgotten");
    }

    #[test]
    fn refused_tokens_are_never_remembered() {
        let folder = tempfile::tempdir().unwrap();
        let (authenticator, header) = signed(folder.path(), 60);
        let mut tampered = header.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        for _ in 0..2 {
            assert!(authenticator.authenticate(Some(&tampered)).is_err());
        }
        assert!(authenticator.verified.lock().unwrap().tokens.is_empty());
        // A token already past its expiry is refused by the full verification, so never cached.
        let (expired, header) = signed(folder.path(), -60);
        assert_eq!(expired.authenticate(Some(header.as_bytes())), Err(AuthError::Expired));
        assert!(expired.verified.lock().unwrap().tokens.is_empty());
    }

    #[test]
    fn the_memory_is_bounded() {
        let mut tokens = VerifiedTokens::default();
        let principal = Principal { subject: "a".to_owned(), role: Role::Admin };
        for n in 0..TOKEN_CACHE_MAX + 10 {
            let mut key = [0_u8; 32];
            key[..8].copy_from_slice(&(n as u64).to_be_bytes());
            tokens.remember(key, principal.clone(), 1_000, 0, 0);
            assert!(tokens.tokens.len() <= TOKEN_CACHE_MAX);
        }
    }
}
