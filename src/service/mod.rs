//! Orchestration: one call of the API is one method here, and one transaction in storage.
//! Time and ids are chosen here (never in the domain), then handed down as values.

mod contracts;

pub use contracts::{ContractService, CreateContract, CreateHourlyRate, CreateIntercedent};

use chrono::{DateTime, SubsecRound, Utc};

use crate::domain::Principal;

/// Who is calling, for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// The authenticated caller.
    pub principal: Principal,
}

/// The current instant, at the microsecond precision both databases store, so an answer
/// built from it equals the same resource read back later.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
