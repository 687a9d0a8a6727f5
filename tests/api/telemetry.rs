//! OpenTelemetry: the real binary, pointed by the standard variables at an OTLP receiver inside
//! the test, exports a server span that continues the caller's trace, with the RPC attributes,
//! the status code and a database span under it, and the call-duration metric by method.

use std::time::Duration;

use flexsettle::configuration::AuthSettings;
use flexsettle::domain::Role;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::sync::mpsc;

use crate::helpers::{Backend, ServerProcess, TestDatabase, client, create_contract_request, dev_token};

/// What the receiver got: every span and every metric export, as they arrive.
#[derive(Debug)]
enum Received {
    Spans(Vec<Span>),
    Metrics(Box<ExportMetricsServiceRequest>),
}

#[derive(Clone)]
struct Receiver(mpsc::UnboundedSender<Received>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|resource| resource.scope_spans)
            .flat_map(|scope| scope.spans)
            .collect();
        let _ = self.0.send(Received::Spans(spans));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let _ = self.0.send(Received::Metrics(Box::new(request.into_inner())));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// An OTLP/gRPC receiver on a free port: its address and what it receives.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    let (sender, received) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let receiver = Receiver(sender);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .add_service(MetricsServiceServer::new(receiver))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (address, received)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes.iter().find(|attribute| attribute.key == key)?.value.as_ref()?.value.as_ref()
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attributes, key)? {
        any_value::Value::StringValue(value) => Some(value.clone()),
        _ => None,
    }
}

fn integer(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attribute(attributes, key)? {
        any_value::Value::IntValue(value) => Some(*value),
        _ => None,
    }
}

/// The next thing received, waiting at most `limit` for it.
async fn next(received: &mut mpsc::UnboundedReceiver<Received>, limit: Duration) -> Received {
    tokio::time::timeout(limit, received.recv())
        .await
        .expect("the service exported within its export interval")
        .expect("the receiver is open")
}

/// An OTLP/HTTP (protobuf) receiver on a free port: its address and what it receives. HTTP/1.1
/// by hand: a POST to `/v1/traces` or `/v1/metrics` with a protobuf body, answered `200 OK`.
async fn http_receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    use prost::Message as _;
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
    let (sender, received) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut stream = tokio::io::BufReader::new(stream);
                loop {
                    let mut request_line = String::new();
                    if stream.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        stream.read_line(&mut line).await.unwrap();
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    stream.read_exact(&mut body).await.unwrap();
                    let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_owned();
                    let _ = match path.as_str() {
                        "/v1/traces" => {
                            let export = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
                            let spans = export
                                .resource_spans
                                .into_iter()
                                .flat_map(|resource| resource.scope_spans)
                                .flat_map(|scope| scope.spans)
                                .collect();
                            sender.send(Received::Spans(spans))
                        }
                        "/v1/metrics" => sender.send(Received::Metrics(Box::new(
                            ExportMetricsServiceRequest::decode(body.as_slice()).unwrap(),
                        ))),
                        other => panic!("unexpected OTLP path {other}"),
                    };
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    stream.get_mut().write_all(answer.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (address, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_traced_and_measured_over_otlp_grpc() {
    let (endpoint, received) = receiver().await;
    traced_and_measured(&endpoint, "grpc", received).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_traced_and_measured_over_otlp_http() {
    let (endpoint, received) = http_receiver().await;
    traced_and_measured(&endpoint, "http/protobuf", received).await;
}

async fn traced_and_measured(endpoint: &str, protocol: &str, mut received: mpsc::UnboundedReceiver<Received>) {
    let database = TestDatabase::create(Backend::Sqlite);
    let data_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        database.url(),
        data_dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_SERVICE_NAME", "flexsettle-under-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ],
    );
    let token = dev_token(data_dir.path(), &AuthSettings::default(), Role::Admin);
    let mut admin = client(&server.address, Some(&format!("Bearer {token}")));

    // The caller's trace: W3C trace context in the call's metadata.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let mut request = tonic::Request::new(create_contract_request("traced", "traced"));
    request.metadata_mut().insert("traceparent", format!("00-{trace_id}-{parent_id}-01").parse().unwrap());
    admin.create_contract(request).await.unwrap();

    let mut spans: Vec<Span> = Vec::new();
    let mut duration_of_the_call = false;
    let method = "/flextensie.settlement.v1.ContractService/CreateContract";
    let server_span = loop {
        let in_trace = |span: &&Span| hex(&span.trace_id) == trace_id;
        let server_span =
            spans.iter().filter(in_trace).find(|span| span.name == method.trim_start_matches('/')).cloned();
        let db_span = |server: &Span| {
            spans.iter().filter(in_trace).any(|span| {
                text(&span.attributes, "db.system.name").as_deref() == Some("sqlite")
                    && descends_from(&spans, span, &server.span_id)
            })
        };
        if let Some(server) = server_span.filter(|server| db_span(server))
            && duration_of_the_call
        {
            break server;
        }
        match next(&mut received, Duration::from_secs(20)).await {
            Received::Spans(batch) => spans.extend(batch),
            Received::Metrics(export) => duration_of_the_call |= call_measured(&export, "CreateContract"),
        }
    };
    assert_eq!(hex(&server_span.parent_span_id), parent_id, "the server span continues the caller's trace");
    assert_eq!(server_span.kind, 2, "SPAN_KIND_SERVER");
    let attributes = &server_span.attributes;
    assert_eq!(text(attributes, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(text(attributes, "rpc.service").as_deref(), Some("flextensie.settlement.v1.ContractService"));
    assert_eq!(text(attributes, "rpc.method").as_deref(), Some("CreateContract"));
    assert_eq!(integer(attributes, "rpc.grpc.status_code"), Some(0));
    assert_eq!(text(attributes, "flexsettle.role").as_deref(), Some("admin"));
    assert!(text(attributes, "server.address").is_some());
    let names: Vec<&str> = attributes.iter().map(|attribute| attribute.key.as_str()).collect();
    assert!(!names.iter().any(|name| name.contains("token") || name.contains("subject")), "{names:?}");
    drop(server);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whether `span` is `ancestor`'s descendant among `spans`.
fn descends_from(spans: &[Span], span: &Span, ancestor: &[u8]) -> bool {
    let mut parent = span.parent_span_id.clone();
    for _ in 0..spans.len() {
        if parent == ancestor {
            return true;
        }
        match spans.iter().find(|candidate| candidate.span_id == parent) {
            Some(up) => parent = up.parent_span_id.clone(),
            None => return false,
        }
    }
    false
}

/// Whether an export holds the call-duration histogram with a point for `method`.
fn call_measured(export: &ExportMetricsServiceRequest, method: &str) -> bool {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    export
        .resource_metrics
        .iter()
        .flat_map(|resource| &resource.scope_metrics)
        .flat_map(|scope| &scope.metrics)
        .filter(|metric| metric.name == "rpc.server.call.duration")
        .any(|metric| match &metric.data {
            Some(Data::Histogram(histogram)) => histogram.data_points.iter().any(|point| {
                text(&point.attributes, "rpc.method").as_deref() == Some(method)
                    && integer(&point.attributes, "rpc.grpc.status_code") == Some(0)
                    && point.count >= 1
            }),
            _ => false,
        })
}
