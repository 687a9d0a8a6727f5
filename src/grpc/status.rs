//! The one mapping from service errors to gRPC statuses, with machine-readable details
//! (google.rpc `BadRequest`, `ResourceInfo`, `ErrorInfo`).

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::Error;

/// The `ErrorInfo` domain of this API.
pub const ERROR_DOMAIN: &str = "settlement.flextensie.nl";

/// Reason of `ErrorInfo` when a resource is outside the caller's municipality.
pub const REASON_OUT_OF_SCOPE: &str = "OUT_OF_SCOPE";

/// Reason of `ErrorInfo` when a request id is reused for another payload.
pub const REASON_REQUEST_ID_REUSED: &str = "REQUEST_ID_REUSED";

/// Bytes of violation text (fields and descriptions) a status carries at most: the details
/// travel base64-encoded in a trailer, and gRPC clients refuse trailers past 8–16 KiB, which
/// would hide the refusal behind `RESOURCE_EXHAUSTED`. What does not fit is counted instead.
pub const DETAILS_TEXT_BYTES_MAX: usize = 4 * 1024;
/// Characters of one field path or description shown at most.
pub const VIOLATION_TEXT_CHARS_MAX: usize = 160;
/// Characters of a status message at most.
pub const MESSAGE_CHARS_MAX: usize = 512;

/// `text` cut to at most `max` characters, marked with an ellipsis when cut.
#[must_use]
pub fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((end, _)) if text.len() > end + 1 && text.chars().count() > max => format!("{}…", &text[..end]),
        _ => text.to_owned(),
    }
}

/// The first violations that fit [`DETAILS_TEXT_BYTES_MAX`], each cut to
/// [`VIOLATION_TEXT_CHARS_MAX`], and how many were left out.
fn within_budget<'a>(violations: impl Iterator<Item = (&'a str, &'a str)>) -> (Vec<(String, String)>, usize) {
    let mut shown = Vec::new();
    let mut used = 0;
    let mut left_out = 0;
    for (field, description) in violations {
        let (field, description) =
            (bounded(field, VIOLATION_TEXT_CHARS_MAX), bounded(description, VIOLATION_TEXT_CHARS_MAX));
        if left_out == 0 && used + field.len() + description.len() <= DETAILS_TEXT_BYTES_MAX {
            used += field.len() + description.len();
            shown.push((field, description));
        } else {
            left_out += 1;
        }
    }
    (shown, left_out)
}

/// The resource type of a resource name, from its last collection segment.
fn resource_type(name: &str) -> &'static str {
    match name.rsplit('/').nth(1).unwrap_or("") {
        "contracts" => "flextensie.settlement.v1.Contract",
        "intercedents" => "flextensie.settlement.v1.Intercedent",
        "hourlyRates" => "flextensie.settlement.v1.HourlyRate",
        _ => "",
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        match error {
            Error::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                let items = violations.items();
                let (shown, left_out) =
                    within_budget(items.iter().map(|item| (item.field.as_str(), item.description.as_str())));
                for (field, description) in &shown {
                    details.add_bad_request_violation(field.clone(), description.clone());
                }
                if left_out > 0 {
                    details.add_bad_request_violation("", format!("and {left_out} more violations, not listed"));
                }
                let message = match shown.first() {
                    Some((field, description)) if items.len() == 1 => {
                        format!("invalid request: {field}: {description}")
                    }
                    Some((field, description)) => {
                        format!("invalid request: {} violations, the first: {field}: {description}", items.len())
                    }
                    None => "invalid request".to_owned(),
                };
                Status::with_error_details(Code::InvalidArgument, bounded(&message, MESSAGE_CHARS_MAX), details)
            }
            Error::NotFound { resource } => Status::with_error_details(
                Code::NotFound,
                format!("{resource} does not exist"),
                ErrorDetails::with_resource_info(resource_type(&resource), resource.clone(), "", "not found"),
            ),
            Error::AlreadyExists { resource } => Status::with_error_details(
                Code::AlreadyExists,
                format!("{resource} already exists"),
                ErrorDetails::with_resource_info(resource_type(&resource), resource.clone(), "", "already exists"),
            ),
            Error::FailedPrecondition(violations) => {
                let mut details = ErrorDetails::new();
                let (shown, left_out) = within_budget(
                    violations.iter().map(|violation| (violation.subject.as_str(), violation.description.as_str())),
                );
                for (violation, (subject, description)) in violations.iter().zip(shown) {
                    details.add_precondition_failure_violation(violation.kind, subject, description);
                }
                if left_out > 0 {
                    details.add_precondition_failure_violation(
                        "MORE",
                        "",
                        format!("and {left_out} more violations, not listed"),
                    );
                }
                let message = Error::FailedPrecondition(violations).to_string();
                Status::with_error_details(Code::FailedPrecondition, bounded(&message, MESSAGE_CHARS_MAX), details)
            }
            Error::PermissionDenied { resource, reason } => Status::with_error_details(
                Code::PermissionDenied,
                format!("permission denied on {resource}: {reason}"),
                ErrorDetails::with_error_info(
                    REASON_OUT_OF_SCOPE,
                    ERROR_DOMAIN,
                    HashMap::from([("resource".to_owned(), resource)]),
                ),
            ),
            Error::RequestIdReused { request_id, first_action } => Status::with_error_details(
                Code::AlreadyExists,
                format!(
                    "request id {request_id:?} was used before for a different request ({first_action}); \
                     a retry must repeat the first request exactly, a new request needs a new request id"
                ),
                ErrorDetails::with_error_info(
                    REASON_REQUEST_ID_REUSED,
                    ERROR_DOMAIN,
                    HashMap::from([("request_id".to_owned(), request_id), ("first_action".to_owned(), first_action)]),
                ),
            ),
            Error::Unavailable { reason } => Status::unavailable(reason),
            Error::DeadlineExceeded { reason } => Status::deadline_exceeded(reason),
            Error::ResourceExhausted { reason } => Status::resource_exhausted(reason),
            Error::Internal { context, source } => {
                tracing::error!(error.context = context, error.cause = %ErrorChain(&*source), "internal error");
                Status::internal("internal error; the service logged its cause")
            }
        }
    }
}

/// Displays an error with all its causes, `a: b: c`.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Violations;

    fn every_error() -> Vec<(Error, Code)> {
        vec![
            (Error::InvalidArgument(Violations::single("a", "b")), Code::InvalidArgument),
            (Error::NotFound { resource: "contracts/x".to_owned() }, Code::NotFound),
            (
                Error::FailedPrecondition(vec![crate::error::PreconditionViolation {
                    kind: "FOUR_EYES",
                    subject: "contracts/x/hourEntries/l-1".to_owned(),
                    description: "was submitted by the same principal".to_owned(),
                }]),
                Code::FailedPrecondition,
            ),
            (Error::AlreadyExists { resource: "contracts/x".to_owned() }, Code::AlreadyExists),
            (
                Error::RequestIdReused { request_id: "r".to_owned(), first_action: "contract.create".to_owned() },
                Code::AlreadyExists,
            ),
            (
                Error::PermissionDenied { resource: "contracts/x".to_owned(), reason: "not yours".to_owned() },
                Code::PermissionDenied,
            ),
            (Error::Unavailable { reason: "busy".to_owned() }, Code::Unavailable),
            (Error::DeadlineExceeded { reason: "late".to_owned() }, Code::DeadlineExceeded),
            (Error::ResourceExhausted { reason: "full".to_owned() }, Code::ResourceExhausted),
            (Error::internal("testing", "secret detail"), Code::Internal),
        ]
    }

    #[test]
    fn every_error_maps_to_its_code() {
        for (error, code) in every_error() {
            assert_eq!(Status::from(error).code(), code);
        }
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let status = Status::from(Error::internal("testing", "secret detail"));
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn field_violations_travel_as_bad_request_details() {
        let mut violations = Violations::new();
        violations.add("contract.gemeente", "bad");
        violations.add("request_id", "missing");
        let status = Status::from(Error::InvalidArgument(violations));
        let bad_request = status.get_details_bad_request().unwrap();
        let fields: Vec<_> = bad_request.field_violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["contract.gemeente", "request_id"]);
    }

    #[test]
    fn a_reused_request_id_names_the_conflict() {
        let status = Status::from(Error::RequestIdReused {
            request_id: "r-1".to_owned(),
            first_action: "contract.create".to_owned(),
        });
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, REASON_REQUEST_ID_REUSED);
        assert_eq!(info.metadata["request_id"], "r-1");
    }

    #[test]
    fn resource_types_follow_the_collection() {
        assert_eq!(resource_type("contracts/x"), "flextensie.settlement.v1.Contract");
        assert_eq!(resource_type("contracts/x/intercedents/y"), "flextensie.settlement.v1.Intercedent");
        assert_eq!(
            resource_type("contracts/x/intercedents/y/hourlyRates/2027-01-01"),
            "flextensie.settlement.v1.HourlyRate"
        );
    }

    #[test]
    fn a_refusal_of_many_bad_lines_stays_small_enough_for_any_client() {
        let mut violations = Violations::new();
        for index in 0..1_000 {
            violations
                .add(format!("entries[{index}].minutes"), format!("must be positive, got {}", "9".repeat(10_000)));
        }
        let status = Status::from(Error::InvalidArgument(violations));
        let details = status.details().len();
        assert!(
            status.message().len() <= MESSAGE_CHARS_MAX * 4 && details < 8 * 1024,
            "{} + {details}",
            status.message().len()
        );
        let shown = status.get_details_bad_request().unwrap().field_violations;
        assert!(shown.len() < 1_000 && shown.len() > 10, "{}", shown.len());
        assert!(shown.last().unwrap().description.contains("more violations"));
        assert!(status.message().starts_with("invalid request: 1000 violations, the first: entries[0].minutes"));
    }

    #[test]
    fn database_faults_are_retryable_not_internal() {
        use diesel::result::{DatabaseErrorKind, Error as Diesel};
        let fault = |kind, message: &str| {
            Status::from(Error::internal("x", Diesel::DatabaseError(kind, Box::new(message.to_owned())))).code()
        };
        assert_eq!(fault(DatabaseErrorKind::ClosedConnection, "gone"), Code::Unavailable);
        assert_eq!(
            fault(DatabaseErrorKind::Unknown, "terminating connection due to administrator command"),
            Code::Unavailable
        );
        assert_eq!(fault(DatabaseErrorKind::Unknown, "server closed the connection unexpectedly"), Code::Unavailable);
        assert_eq!(fault(DatabaseErrorKind::Unknown, "database or disk is full"), Code::ResourceExhausted);
        assert_eq!(
            fault(DatabaseErrorKind::Unknown, "canceling statement due to statement timeout"),
            Code::DeadlineExceeded
        );
        assert_eq!(fault(DatabaseErrorKind::SerializationFailure, "conflict"), Code::Unavailable);
        assert_eq!(fault(DatabaseErrorKind::Unknown, "syntax error at or near"), Code::Internal);
    }
}
