//! Orchestration: one call of the API is one method here, and one transaction in storage.
//! Time and ids are chosen here (never in the domain), then handed down as values.

mod contracts;

pub use contracts::{ContractService, CreateContract, CreateHourlyRate, CreateIntercedent};

use chrono::{DateTime, SubsecRound, Utc};

use crate::domain::{CbsCode, Principal, Role};
use crate::error::Error;

/// Who is calling, for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// The authenticated caller.
    pub principal: Principal,
}

impl RequestContext {
    /// The municipality a caller is confined to: its own, for the `gemeente` role.
    #[must_use]
    pub fn gemeente_scope(&self) -> Option<&CbsCode> {
        match &self.principal.role {
            Role::Gemeente(code) => Some(code),
            Role::Billing | Role::Auditor | Role::Admin => None,
        }
    }

    /// Refuses a resource of another municipality to a municipality.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`].
    pub fn ensure_in_scope(&self, owner: &CbsCode, resource: &str) -> Result<(), Error> {
        match self.gemeente_scope() {
            Some(own) if own != owner => Err(out_of_scope(resource)),
            Some(_) | None => Ok(()),
        }
    }

    /// To a municipality, "does not exist" and "belongs to another" must look the same.
    #[must_use]
    pub fn conceal(&self, error: Error) -> Error {
        match (self.gemeente_scope(), error) {
            (Some(_), Error::NotFound { resource }) => out_of_scope(&resource),
            (_, error) => error,
        }
    }
}

fn out_of_scope(resource: &str) -> Error {
    Error::PermissionDenied {
        resource: resource.to_owned(),
        reason: "a municipality sees only its own contracts".to_owned(),
    }
}

/// The current instant, at the microsecond precision both databases store, so an answer
/// built from it equals the same resource read back later.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
