//! Admission: how many calls the service works on at once, and what a caller gets when it is
//! full. Placed after [`access`](super::access), so only authenticated calls ever hold a slot:
//! a peer without a token — or a silent one that sends headers and never a body — cannot
//! occupy what others need. Health and reflection are never limited, so probes always answer.
//! A call that finds no free slot is refused at once with `RESOURCE_EXHAUSTED` (load shedding),
//! never queued, and no principal may hold more than its share, so one busy caller cannot
//! starve the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::Status;
use tonic::codegen::BoxFuture;
use tonic::codegen::http;

use crate::domain::Principal;

/// Services every caller may reach without a slot: cheap, and what orchestrators probe.
const UNLIMITED_SERVICES: &[&str] =
    &["/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"];

/// The slots: all calls, and per principal.
#[derive(Debug)]
struct Slots {
    total: usize,
    per_principal: usize,
    held: Mutex<(usize, HashMap<String, usize>)>,
}

/// A held slot, given back when the call's response is ready (or the call is dropped).
struct Slot {
    slots: Arc<Slots>,
    principal: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.0 = held.0.saturating_sub(1);
        if let Some(count) = held.1.get_mut(&self.principal) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.1.remove(&self.principal);
            }
        }
    }
}

impl Slots {
    fn take(self: &Arc<Slots>, principal: &str) -> Result<Slot, Status> {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.0 >= self.total {
            return Err(Status::resource_exhausted(format!(
                "the server is working on {} calls, its limit; retry shortly (with the same request id)",
                self.total
            )));
        }
        let mine = held.1.get(principal).copied().unwrap_or(0);
        if mine >= self.per_principal {
            return Err(Status::resource_exhausted(format!(
                "this caller has {mine} calls in progress, its limit; wait for some to finish"
            )));
        }
        held.0 += 1;
        held.1.insert(principal.to_owned(), mine + 1);
        Ok(Slot { slots: self.clone(), principal: principal.to_owned() })
    }
}

/// The tower layer that admits calls (see the module).
#[derive(Debug, Clone)]
pub struct AdmissionLayer {
    slots: Arc<Slots>,
    request_timeout: Duration,
}

/// How long past its deadline a call may still take to come back from the database before
/// the caller is told its outcome is unknown.
const DEADLINE_GRACE: Duration = Duration::from_secs(2);

impl AdmissionLayer {
    /// At most `total` calls at once, and at most `per_principal` of one principal; each call's
    /// deadline is the client's `grpc-timeout`, capped by `request_timeout`.
    #[must_use]
    pub fn new(total: usize, per_principal: usize, request_timeout: Duration) -> AdmissionLayer {
        AdmissionLayer {
            slots: Arc::new(Slots {
                total: total.max(1),
                per_principal: per_principal.max(1),
                held: Mutex::new((0, HashMap::new())),
            }),
            request_timeout,
        }
    }

    /// How long the transport may let a call run: past its deadline, the grace in which the
    /// database reports what became of it.
    #[must_use]
    pub fn transport_timeout(&self) -> Duration {
        self.request_timeout + DEADLINE_GRACE * 2
    }
}

impl<S> tower::Layer<S> for AdmissionLayer {
    type Service = AdmissionService<S>;

    fn layer(&self, inner: S) -> AdmissionService<S> {
        AdmissionService { inner, slots: self.slots.clone(), request_timeout: self.request_timeout }
    }
}

/// See [`AdmissionLayer`].
#[derive(Debug, Clone)]
pub struct AdmissionService<S> {
    inner: S,
    slots: Arc<Slots>,
    request_timeout: Duration,
}

/// When a call's work must stop (the database is told, and rolls back what runs past it), and
/// when the caller must have its answer. A client's own deadline (`grpc-timeout`) is also
/// enforced by the transport, which answers a bare `CANCELLED` the moment it passes: the work
/// stops a little before it (at 80%), so the caller learns `DEADLINE_EXCEEDED` with nothing
/// changed, or — when even the database does not answer (at 95%) — that the outcome is unknown.
/// Under the server's own timeout, the transport waits past it (see
/// [`AdmissionLayer::transport_timeout`]).
fn call_deadlines(start: Instant, asked: Option<Duration>, request_timeout: Duration) -> (Instant, Instant) {
    match asked {
        Some(asked) if asked <= request_timeout => (start + asked * 4 / 5, start + asked * 19 / 20),
        _ => (start + request_timeout, start + request_timeout + DEADLINE_GRACE),
    }
}

/// tonic answers a message over the decoding limit with `OUT_OF_RANGE`; too large is a
/// resource the caller exhausted (`RESOURCE_EXHAUSTED`), as gRPC's own status guide says. The
/// status may stand in the headers (a trailers-only answer) or in the trailers.
fn too_large_is_resource_exhausted(headers: &mut http::HeaderMap) {
    let out_of_range = headers.get("grpc-status").is_some_and(|status| status == "11");
    let too_large = headers
        .get("grpc-message")
        .and_then(|message| message.to_str().ok())
        // grpc-message is percent-encoded on the wire.
        .is_some_and(|message| message.contains("too large") || message.contains("too%20large"));
    if out_of_range && too_large {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
}

/// A response body whose trailers pass through [`too_large_is_resource_exhausted`].
#[derive(Debug, Default)]
pub struct AdmittedBody<B> {
    inner: B,
}

impl<B> http_body::Body for AdmittedBody<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(context);
        polled.map(|frame| {
            frame.map(|frame| {
                frame.map(|frame| match frame.into_trailers() {
                    Ok(mut trailers) => {
                        too_large_is_resource_exhausted(&mut trailers);
                        http_body::Frame::trailers(trailers)
                    }
                    Err(frame) => frame,
                })
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn admitted<B>(response: http::Response<B>) -> http::Response<AdmittedBody<B>> {
    let (mut parts, inner) = response.into_parts();
    too_large_is_resource_exhausted(&mut parts.headers);
    http::Response::from_parts(parts, AdmittedBody { inner })
}

impl<S, RequestBody, ResponseBody> tower::Service<http::Request<RequestBody>> for AdmissionService<S>
where
    S: tower::Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    RequestBody: Send + 'static,
    ResponseBody: Default + Send + 'static,
{
    type Response = http::Response<AdmittedBody<ResponseBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        if UNLIMITED_SERVICES.iter().any(|open| request.uri().path().starts_with(open)) {
            return Box::pin(async move { inner.call(request).await.map(admitted) });
        }
        let principal = request.extensions().get::<Principal>().map_or_else(String::new, Principal::key);
        let slot = match self.slots.take(&principal) {
            Ok(slot) => slot,
            Err(status) => return Box::pin(async move { Ok(admitted(status.into_http())) }),
        };
        let asked = request
            .headers()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(crate::deadline::parse_grpc_timeout);
        let (deadline, answer_by) = call_deadlines(Instant::now(), asked, self.request_timeout);
        Box::pin(async move {
            // The database is told the deadline and rolls back what runs past it; if it does
            // not even answer by then (frozen, unreachable), the outcome is unknown, and the
            // caller is told to retry with the same request id rather than left waiting.
            let call = crate::deadline::scope(deadline, inner.call(request));
            let response = match tokio::time::timeout_at(answer_by.into(), call).await {
                Ok(response) => response.map(admitted),
                Err(_) => Ok(admitted(
                    Status::unavailable(
                        "the database did not answer by the call's deadline, so its outcome is unknown: retry with \
                         the same request id, which makes the retry safe",
                    )
                    .into_http(),
                )),
            };
            drop(slot);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_shed_load_and_keep_one_caller_from_taking_them_all() {
        let layer = AdmissionLayer::new(3, 2, Duration::from_secs(1));
        let first = layer.slots.take("a").unwrap();
        let _second = layer.slots.take("a").unwrap();
        assert_eq!(layer.slots.take("a").err().map(|status| status.code()), Some(tonic::Code::ResourceExhausted));
        let _third = layer.slots.take("b").unwrap();
        assert_eq!(layer.slots.take("c").err().map(|status| status.code()), Some(tonic::Code::ResourceExhausted));
        drop(first);
        assert!(layer.slots.take("c").is_ok(), "a slot given back is free again");
    }
}
