//! The server span and the call metrics of every gRPC call.
//!
//! [`server_span`] makes the span tonic runs each call in, named `package.Service/Method`, with
//! OpenTelemetry's RPC attributes, continuing the caller's trace when it sent `traceparent`.
//! [`CallTelemetryLayer`] counts calls in flight and, when the call's status is known (from the
//! response headers, or from the trailers at the end of the body), records the status on the
//! span and the call's duration. The access layer adds the caller's role to the span; never a
//! token or a personal reference.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use opentelemetry::KeyValue;
use tonic::codegen::http;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::metrics;

/// Service and method of a gRPC path (`/flextensie.settlement.v1.HoursService/SubmitHours`).
fn service_and_method(path: &str) -> (&str, &str) {
    path.trim_start_matches('/').split_once('/').unwrap_or((path, ""))
}

/// The methods served without a rule of the access table (health and reflection).
const OPEN_METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// What telemetry calls a path: the path of a method the service serves, or `_OTHER`
/// (OpenTelemetry's convention), so that a client sending made-up paths cannot make new span
/// names or metric series without end.
fn known_path(path: &str) -> &str {
    if super::access::allowed_roles(path).is_some() || OPEN_METHODS.contains(&path) { path } else { "/_OTHER/_OTHER" }
}

/// The server span of a call, child of the caller's trace when its headers carry one.
pub fn server_span<B>(request: &http::Request<B>) -> Span {
    let path = known_path(request.uri().path());
    let (service, method) = service_and_method(path);
    let address = request.uri().host().unwrap_or_default();
    let span = tracing::info_span!(
        "grpc",
        otel.name = path.trim_start_matches('/'),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = tracing::field::Empty,
        server.address = address,
        flexsettle.role = tracing::field::Empty,
    );
    if crate::telemetry::tracing_exported() {
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&opentelemetry_http::HeaderExtractor(request.headers()))
        });
        // Fails only when no OpenTelemetry layer is installed, and then there is nothing to link.
        let _ = span.set_parent(parent);
    }
    span
}

/// Whether a server span with this status is an error (OpenTelemetry's gRPC conventions: the
/// codes that say the server failed, not the caller).
fn server_error(code: i32) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// What a finished call records.
#[derive(Debug)]
struct CallRecord {
    span: Span,
    started: Instant,
    attributes: [KeyValue; 3],
    done: bool,
}

impl CallRecord {
    fn finish(&mut self, code: i32) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.span.record("rpc.grpc.status_code", code);
        if server_error(code) {
            self.span.record("otel.status_code", "ERROR");
        }
        let instruments = metrics::get();
        instruments.calls_in_flight.add(-1, &self.attributes);
        let mut attributes = self.attributes.to_vec();
        attributes.push(KeyValue::new("rpc.grpc.status_code", i64::from(code)));
        instruments.call_duration.record(self.started.elapsed().as_secs_f64(), &attributes);
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        // The body went away before its trailers: the client cancelled.
        self.finish(1);
    }
}

fn status_of(headers: &http::HeaderMap) -> Option<i32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// Records calls: see the module.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallTelemetryLayer;

impl<S> tower::Layer<S> for CallTelemetryLayer {
    type Service = CallTelemetry<S>;

    fn layer(&self, inner: S) -> CallTelemetry<S> {
        CallTelemetry { inner }
    }
}

/// The service of [`CallTelemetryLayer`].
#[derive(Debug, Clone)]
pub struct CallTelemetry<S> {
    inner: S,
}

/// A response body that records its call once its status is known.
#[derive(Debug, Default)]
pub struct RecordedBody<B> {
    inner: B,
    record: Option<CallRecord>,
}

impl<B> http_body::Body for RecordedBody<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(context);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(status_of)
                    && let Some(mut record) = this.record.take()
                {
                    record.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(mut record) = this.record.take() {
                    record.finish(13);
                }
            }
            Poll::Ready(None) => {
                // A body that ends without trailers carried no status: an internal fault.
                if let Some(mut record) = this.record.take() {
                    record.finish(13);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<S, RequestBody, ResponseBody> tower::Service<http::Request<RequestBody>> for CallTelemetry<S>
where
    S: tower::Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    RequestBody: Send + 'static,
    ResponseBody: Send + 'static,
{
    type Response = http::Response<RecordedBody<ResponseBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let (service, method) = service_and_method(known_path(request.uri().path()));
        let attributes = [
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", service.to_owned()),
            KeyValue::new("rpc.method", method.to_owned()),
        ];
        let started = Instant::now();
        Box::pin(async move {
            // Polled in the call's span (tonic enters it around each poll, not around `call`).
            metrics::get().calls_in_flight.add(1, &attributes);
            let mut record = CallRecord { span: Span::current(), started, attributes, done: false };
            let response = inner.call(request).await;
            match response {
                Ok(response) => {
                    let (parts, inner) = response.into_parts();
                    let record = match status_of(&parts.headers) {
                        // Trailers-only: the status is in the headers.
                        Some(code) => {
                            record.finish(code);
                            None
                        }
                        None => Some(record),
                    };
                    Ok(http::Response::from_parts(parts, RecordedBody { inner, record }))
                }
                Err(error) => {
                    record.finish(13);
                    Err(error)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            service_and_method("/flextensie.settlement.v1.HoursService/SubmitHours"),
            ("flextensie.settlement.v1.HoursService", "SubmitHours")
        );
        assert_eq!(service_and_method("/odd"), ("/odd", ""));
    }

    #[test]
    fn made_up_paths_are_other() {
        let submit = "/flextensie.settlement.v1.HoursService/SubmitHours";
        assert_eq!(known_path(submit), submit);
        assert_eq!(known_path("/grpc.health.v1.Health/Check"), "/grpc.health.v1.Health/Check");
        assert_eq!(known_path("/grpc.health.v1.Health/x1"), "/_OTHER/_OTHER");
        assert_eq!(known_path("/made.up.Service/Method42"), "/_OTHER/_OTHER");
    }

    #[test]
    fn only_server_faults_mark_the_span_as_an_error() {
        assert!(!server_error(0));
        assert!(!server_error(3), "INVALID_ARGUMENT is the caller's");
        assert!(!server_error(7), "PERMISSION_DENIED is the caller's");
        assert!(server_error(13));
        assert!(server_error(14));
    }
}
