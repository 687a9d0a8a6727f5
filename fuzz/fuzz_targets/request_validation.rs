//! Request validation: any bytes, read as one of the API's write requests, are either accepted
//! as a checked command or refused with an `INVALID_ARGUMENT` whose message and details stay
//! within gRPC clients' metadata limits. Nothing panics.
#![no_main]

use flexsettle::domain::Violations;
use flexsettle::error::Error;
use flexsettle::grpc::api;
use flexsettle::grpc::status::{DETAILS_TEXT_BYTES_MAX, MESSAGE_CHARS_MAX};
use flexsettle::service::{
    CorrectHours, CorrectSavings, CreateContract, CreateHourlyRate, CreateIntercedent, RejectHours, SubmitHours,
    SubmitSavings, VerifyHours,
};
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// What a refusal may cost the client at most: the message and the encoded details, well under
/// the 8 KiB that the strictest gRPC clients allow for all trailers together.
const TRAILER_BUDGET_BYTES: usize = 6 * 1024;

fn check_refusal(violations: Violations) {
    assert!(!violations.items().is_empty(), "a refusal names at least one violation");
    let status = tonic::Status::from(Error::InvalidArgument(violations));
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().chars().count() <= MESSAGE_CHARS_MAX, "message of {} chars", status.message().len());
    assert!(status.details().len() <= DETAILS_TEXT_BYTES_MAX + 1024, "details of {} bytes", status.details().len());
    assert!(status.message().len() + status.details().len() <= TRAILER_BUDGET_BYTES);
}

/// Decodes `bytes` as `M` and validates it; `refusal` gives the violations of a refused one.
fn validate<M, C, E>(bytes: &[u8], refusal: impl Fn(E) -> Violations)
where
    M: Message + Default,
    C: TryFrom<M, Error = E>,
{
    let Ok(message) = M::decode(bytes) else { return };
    if let Err(error) = C::try_from(message) {
        check_refusal(refusal(error));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else { return };
    match which % 9 {
        0 => validate::<api::CreateContractRequest, CreateContract, _>(bytes, |v| v),
        1 => validate::<api::CreateIntercedentRequest, CreateIntercedent, _>(bytes, |v| v),
        2 => validate::<api::CreateHourlyRateRequest, CreateHourlyRate, _>(bytes, |v| v),
        3 => validate::<api::SubmitHoursRequest, SubmitHours, _>(
            bytes,
            |malformed: flexsettle::grpc::MalformedSubmission| malformed.violations().clone(),
        ),
        4 => validate::<api::CorrectHoursRequest, CorrectHours, _>(bytes, |v| v),
        5 => validate::<api::VerifyHoursRequest, VerifyHours, _>(bytes, |v| v),
        6 => validate::<api::RejectHoursRequest, RejectHours, _>(bytes, |v| v),
        7 => validate::<api::SubmitSavingsRequest, SubmitSavings, _>(bytes, |v| v),
        _ => validate::<api::CorrectSavingsRequest, CorrectSavings, _>(bytes, |v| v),
    }
});
