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
    /// The call's deadline passed before its work was done; what it changed was rolled back.
    #[error("deadline exceeded: {reason}")]
    DeadlineExceeded {
        /// What did not finish in time.
        reason: String,
    },
    /// A resource the service needs is used up (the database's disk); a retry later may work.
    #[error("resource exhausted: {reason}")]
    ResourceExhausted {
        /// What is used up.
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
    /// For a fault the client may retry (its request id makes the retry safe), which kind:
    /// `unavailable`, `deadline_exceeded` or `resource_exhausted`. `None` for every other error.
    #[must_use]
    pub fn fault_reason(&self) -> Option<&'static str> {
        match self {
            Error::Unavailable { .. } => Some("unavailable"),
            Error::DeadlineExceeded { .. } => Some("deadline_exceeded"),
            Error::ResourceExhausted { .. } => Some("resource_exhausted"),
            _ => None,
        }
    }

    /// An internal error with its context — unless its cause is a database fault a client may
    /// retry: a lost or refused connection, a failed commit whose outcome is unknown, a
    /// serialisation conflict ([`Error::Unavailable`]), a statement cancelled at the call's
    /// deadline ([`Error::DeadlineExceeded`]), a full disk ([`Error::ResourceExhausted`]).
    pub fn internal(context: &'static str, source: impl Into<BoxError>) -> Error {
        let source = source.into();
        match database_fault(&*source) {
            Some(fault) => {
                tracing::warn!(error.context = context, error.cause = %source, "database fault");
                fault
            }
            None => Error::Internal { context, source },
        }
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

/// What a client can do about a database error, when it is a fault rather than a bug.
fn database_fault(source: &(dyn std::error::Error + 'static)) -> Option<Error> {
    use diesel::result::{DatabaseErrorKind, Error as Diesel};
    let retry = |what: &str| Error::Unavailable {
        reason: format!(
            "{what}; nothing was changed unless the first attempt committed: retry with the same request id, which \
             makes the retry safe"
        ),
    };
    let error = source.downcast_ref::<Diesel>()?;
    let message = match error {
        Diesel::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => {
            return Some(retry("the database connection was lost"));
        }
        Diesel::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
            return Some(retry("the database refused the transaction in a conflict with another"));
        }
        Diesel::DatabaseError(_, information) => information.message().to_owned(),
        Diesel::BrokenTransactionManager => return Some(retry("the database connection broke")),
        _ => return None,
    };
    let lower = message.to_lowercase();
    if lower.contains("statement timeout") || lower.contains("lock timeout") || lower.contains("canceling statement") {
        return Some(Error::DeadlineExceeded {
            reason: "the call's deadline passed while the database worked; its changes were rolled back".to_owned(),
        });
    }
    if lower.contains("disk is full") || lower.contains("no space left") || lower.contains("disk full") {
        return Some(Error::ResourceExhausted {
            reason: "the database's disk is full; nothing was changed: retry later with the same request id".to_owned(),
        });
    }
    let lost = [
        "terminating connection",
        "server closed the connection",
        "connection to server",
        "could not connect",
        "the database system is shutting down",
        "the database system is starting up",
        "no connection to the server",
        "database is locked",
        "ssl syscall error",
        "could not receive data",
        "could not send data",
    ];
    lost.iter().any(|needle| lower.contains(needle)).then(|| retry("the database could not be reached"))
}
