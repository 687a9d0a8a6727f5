//! Who is calling: an authenticated principal with one role (DESIGN.md §6).

use serde::{Deserialize, Serialize};

use super::CbsCode;

/// The role of a principal, and for municipalities the one municipality it acts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", content = "gemeente", rename_all = "snake_case")]
pub enum Role {
    /// Flextensie's billing system.
    Billing,
    /// A municipality's finance system, scoped to its CBS code.
    Gemeente(CbsCode),
    /// An auditor: reads everything, changes nothing.
    Auditor,
    /// Manages contracts, terms, intercedents and rates.
    Admin,
}

impl Role {
    /// The stable name of the role.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Billing => "billing",
            Role::Gemeente(_) => "gemeente",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The subject: who it is, as the token names it.
    pub subject: String,
    /// What it may do.
    pub role: Role,
}

impl Principal {
    /// The fixed principal of a local, unauthenticated server (until authentication lands).
    #[must_use]
    pub fn local_admin() -> Principal {
        Principal {
            subject: "local".to_owned(),
            role: Role::Admin,
        }
    }
}
