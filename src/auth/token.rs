//! Token claims, and minting tokens with a private key (the `flexsettle token` command and tests).

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde::{Deserialize, Serialize};

use crate::domain::{Principal, Role};

/// The claims flexsettle reads from a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who the caller is.
    pub sub: String,
    /// `billing`, `gemeente`, `auditor` or `admin`.
    pub role: String,
    /// The CBS code, for the `gemeente` role only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemeente: Option<String>,
    /// Issuer.
    pub iss: String,
    /// Audience: one, or a list (identity providers send either).
    pub aud: Audience,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Not before, seconds since the epoch.
    pub nbf: i64,
    /// Issued at, seconds since the epoch (optional in JWT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

/// The `aud` claim: a single audience or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

/// What a minted token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The principal the token names.
    pub principal: Principal,
    /// Issuer.
    pub issuer: String,
    /// Audience.
    pub audience: String,
    /// Issue instant, seconds since the epoch.
    pub issued_at_s: i64,
    /// Lifetime in seconds.
    pub ttl_s: i64,
}

impl TokenRequest {
    /// The claims of the token.
    #[must_use]
    pub fn claims(&self) -> Claims {
        let gemeente = match &self.principal.role {
            Role::Gemeente(code) => Some(code.as_str().to_owned()),
            Role::Billing | Role::Auditor | Role::Admin => None,
        };
        Claims {
            sub: self.principal.subject.clone(),
            role: self.principal.role.as_str().to_owned(),
            gemeente,
            iss: self.issuer.clone(),
            aud: Audience::One(self.audience.clone()),
            exp: self.issued_at_s.saturating_add(self.ttl_s),
            nbf: self.issued_at_s,
            iat: Some(self.issued_at_s),
        }
    }
}

/// Signs a token with an Ed25519 private key (PKCS#8 PEM).
///
/// # Errors
/// When the key cannot be read or signing fails.
pub fn mint(private_key_pem: &[u8], request: &TokenRequest) -> Result<String, jsonwebtoken::errors::Error> {
    let key = EncodingKey::from_ed_pem(private_key_pem)?;
    encode(&Header::new(Algorithm::EdDSA), &request.claims(), &key)
}
