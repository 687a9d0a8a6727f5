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
    /// Parses a role name and, for `gemeente`, the municipality's CBS code.
    ///
    /// # Errors
    /// A description of what is wrong.
    pub fn parse(name: &str, gemeente: Option<&str>) -> Result<Role, String> {
        match (name, gemeente) {
            ("billing", None) => Ok(Role::Billing),
            ("auditor", None) => Ok(Role::Auditor),
            ("admin", None) => Ok(Role::Admin),
            ("gemeente", Some(code)) => CbsCode::parse(code).map(Role::Gemeente),
            ("gemeente", None) => Err("the gemeente role needs the municipality's CBS code".to_owned()),
            ("billing" | "auditor" | "admin", Some(_)) => Err("only the gemeente role carries a CBS code".to_owned()),
            (other, _) => Err(format!("role must be billing, gemeente, auditor or admin, got {other:?}")),
        }
    }

    /// The role as the audit log names it: the role, and for a municipality its CBS code
    /// (`gemeente:GM0344`).
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Role::Gemeente(code) => format!("gemeente:{}", code.as_str()),
            Role::Billing | Role::Auditor | Role::Admin => self.as_str().to_owned(),
        }
    }

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
    /// The caller as one key: role label and subject, `gemeente:GM0344/alice`. The same subject
    /// in another role, or for another municipality, is another caller (its request ids are its
    /// own).
    #[must_use]
    pub fn key(&self) -> String {
        format!("{}/{}", self.role.label(), self.subject)
    }

    /// The principal of every call when authentication is switched off.
    #[must_use]
    pub fn local_admin() -> Principal {
        Principal { subject: "local".to_owned(), role: Role::Admin }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_with_and_only_with_a_cbs_code_for_gemeente() {
        assert_eq!(Role::parse("billing", None), Ok(Role::Billing));
        assert_eq!(Role::parse("gemeente", Some("GM0344")).unwrap().label(), "gemeente:GM0344");
        assert!(Role::parse("gemeente", None).is_err());
        assert!(Role::parse("gemeente", Some("Utrecht")).is_err());
        assert!(Role::parse("admin", Some("GM0344")).is_err());
        assert!(Role::parse("root", None).is_err());
    }
}
