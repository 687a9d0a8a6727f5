//! A call's deadline, carried from the gRPC edge to the database without threading it through
//! every signature: the edge runs the call inside [`scope`]; storage reads [`remaining`] when it
//! starts a transaction and bounds the database's work by it, so work past the deadline is
//! rolled back instead of committing after the caller gave up.

use std::future::Future;
use std::time::{Duration, Instant};

tokio::task_local! {
    static CALL_DEADLINE: Instant;
}

/// Runs `call` with `deadline` as its deadline.
pub async fn scope<F: Future>(deadline: Instant, call: F) -> F::Output {
    CALL_DEADLINE.scope(deadline, call).await
}

/// The deadline of the current call, if it has one.
#[must_use]
pub fn current() -> Option<Instant> {
    CALL_DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Time left before `deadline`: `None` when it has passed.
#[must_use]
pub fn remaining(deadline: Instant) -> Option<Duration> {
    deadline.checked_duration_since(Instant::now()).filter(|left| !left.is_zero())
}

/// Reads a gRPC `grpc-timeout` header value (`TimeoutValue TimeoutUnit`: up to 8 digits and one
/// of `H M S m u n`).
#[must_use]
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    match unit {
        "H" => Some(Duration::from_secs(amount.checked_mul(3_600)?)),
        "M" => Some(Duration::from_secs(amount.checked_mul(60)?)),
        "S" => Some(Duration::from_secs(amount)),
        "m" => Some(Duration::from_millis(amount)),
        "u" => Some(Duration::from_micros(amount)),
        "n" => Some(Duration::from_nanos(amount)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read_by_the_specification() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3_600)));
        assert_eq!(parse_grpc_timeout("250u"), Some(Duration::from_micros(250)));
        for bad in ["", "m", "100", "123456789S", "-1S", "1x", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_deadline_is_seen_inside_its_scope_only() {
        assert_eq!(current(), None);
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(scope(deadline, async { current() }).await, Some(deadline));
        assert!(remaining(Instant::now() - Duration::from_millis(1)).is_none());
    }
}
