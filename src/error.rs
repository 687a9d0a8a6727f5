//! The one error type of the service and storage layers. The gRPC layer maps it to a `Status`
//! exhaustively (`grpc::status`).

use crate::domain::Violations;

/// A boxed error of any source, kept as the cause of an internal error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; every violation is listed. Nothing was changed.
    #[error("invalid request: {0}")]
    InvalidArgument(Violations),
    /// The named resource does not exist.
    #[error("{resource} does not exist")]
    NotFound {
        /// The resource name that was asked for.
        resource: String,
    },
    /// A resource with that name exists already.
    #[error("{resource} already exists")]
    AlreadyExists {
        /// The resource name that is taken.
        resource: String,
    },
    /// The caller may not touch the resource: it belongs to another municipality, or (to a
    /// municipality) it does not exist — the two are not told apart.
    #[error("permission denied on {resource}: {reason}")]
    PermissionDenied {
        /// The resource asked for.
        resource: String,
        /// Why, for the client.
        reason: String,
    },
    /// The request is well-formed, but the state of what it names does not allow it; every
    /// reason is listed. Nothing was changed.
    #[error("failed precondition: {}", describe(.0))]
    FailedPrecondition(Vec<PreconditionViolation>),
    /// The request id was used before for a different request.
    #[error("request id {request_id:?} was used before for a different request ({first_action})")]
    RequestIdReused {
        /// The reused request id.
        request_id: String,
        /// The action the id was first used for.
        first_action: String,
    },
    /// The service cannot take the call now; a retry later may succeed.
    #[error("service unavailable: {reason}")]
    Unavailable {
        /// What is unavailable.
        reason: String,
    },
    /// A fault inside the service; its cause is logged, never shown to the client.
    #[error("{context}")]
    Internal {
        /// What the service was doing.
        context: &'static str,
        /// The underlying cause.
        #[source]
        source: BoxError,
    },
}

/// One reason a request cannot be carried out in the current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreconditionViolation {
    /// A stable name of the kind of reason, e.g. `FOUR_EYES`.
    pub kind: &'static str,
    /// The resource it concerns.
    pub subject: String,
    /// What is wrong and what to do.
    pub description: String,
}

fn describe(violations: &[PreconditionViolation]) -> String {
    violations
        .iter()
        .map(|violation| format!("{} {} ({})", violation.subject, violation.description, violation.kind))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// An internal error with its context.
    pub fn internal(context: &'static str, source: impl Into<BoxError>) -> Error {
        Error::Internal { context, source: source.into() }
    }

    /// A refusal for one unmet precondition: its kind (e.g. `PERIOD_NOT_ENDED`), the resource
    /// it concerns, and what would meet it.
    #[must_use]
    pub fn precondition(kind: &'static str, subject: String, description: String) -> Error {
        Error::FailedPrecondition(vec![PreconditionViolation { kind, subject, description }])
    }
}

impl From<Violations> for Error {
    fn from(violations: Violations) -> Error {
        Error::InvalidArgument(violations)
    }
}

impl From<diesel::result::Error> for Error {
    /// A database error that no storage function gave a more specific meaning.
    fn from(source: diesel::result::Error) -> Error {
        Error::internal("database transaction", source)
    }
}

/// Attaches context to a failure of a lower layer, making it an internal error.
pub trait Context<T> {
    /// Makes the failure an [`Error::Internal`] that says what was being done.
    ///
    /// # Errors
    /// The failure, with its context.
    fn context(self, context: &'static str) -> Result<T, Error>;
}

impl<T, E> Context<T> for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn context(self, context: &'static str) -> Result<T, Error> {
        self.map_err(|source| Error::internal(context, source))
    }
}
