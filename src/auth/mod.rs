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

/// Checks bearer tokens.
#[derive(Clone)]
pub struct Authenticator {
    keys: TrustedKeys,
    issuer: String,
    audience: String,
    leeway_s: u64,
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
        Authenticator { keys, issuer, audience, leeway_s }
    }

    /// Reads the principal from an `authorization` header value (`Bearer <JWT>`).
    ///
    /// # Errors
    /// Why the token is refused.
    pub fn authenticate(&self, header: Option<&[u8]>) -> Result<Principal, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        if header.len() > TOKEN_LEN_MAX {
            return Err(AuthError::Malformed(format!("longer than {TOKEN_LEN_MAX} bytes")));
        }
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
                Ok(data) => return principal(data.claims),
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
