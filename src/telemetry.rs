//! Logs, traces and metrics.
//!
//! Logs: `tracing` events, human-readable or JSON lines on standard error. Traces and metrics:
//! OpenTelemetry over OTLP, configured by the standard variables — `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or the per-signal `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `_METRICS_ENDPOINT`),
//! `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc` or `http/protobuf`, the default), `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_METRIC_EXPORT_INTERVAL`,
//! `OTEL_TRACES_EXPORTER=none`, `OTEL_METRICS_EXPORTER=none`, `OTEL_SDK_DISABLED`. With no
//! endpoint set nothing is exported and nothing is installed: spans stay plain `tracing` spans
//! and instruments are the no-op ones.
//!
//! The `tracing` spans are the source of the traces (through `tracing-opentelemetry`): the
//! server span of each call (`grpc::telemetry`) and the database spans under it (`storage`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{MetricExporter, Protocol, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::configuration::{LogFormat, LogSettings};

/// The instrumentation scope of every span and instrument.
pub const SCOPE: &str = "flexsettle";

/// Whether traces are exported: the gRPC layer reads incoming trace context only then.
static TRACING: AtomicBool = AtomicBool::new(false);

/// True when traces are exported.
#[must_use]
pub fn tracing_exported() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// The installed exporters; [`Telemetry::shutdown`] flushes them.
#[derive(Debug, Default)]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Exports what is still buffered and stops the exporters. Call it on a thread of its own
    /// while the runtime that [`init`] ran on still runs: the exporters' connections live on it.
    pub fn shutdown(self) {
        if let Some(provider) = self.tracer_provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "flushing traces at shutdown");
        }
        if let Some(provider) = self.meter_provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "flushing metrics at shutdown");
        }
    }
}

/// What the standard variables ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OtlpPlan {
    traces: Option<Protocol>,
    metrics: Option<Protocol>,
}

fn variable(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

/// The protocol of one signal (`TRACES` or `METRICS`), if it is to be exported at all.
fn signal_plan(variable: &impl Fn(&str) -> Option<String>, signal: &str) -> anyhow::Result<Option<Protocol>> {
    let endpoint =
        variable(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")).or_else(|| variable("OTEL_EXPORTER_OTLP_ENDPOINT"));
    let exporter = variable(&format!("OTEL_{signal}_EXPORTER"));
    if endpoint.is_none() || exporter.as_deref() == Some("none") {
        return Ok(None);
    }
    if let Some(other) = exporter.filter(|exporter| exporter != "otlp") {
        anyhow::bail!("OTEL_{signal}_EXPORTER={other}: only otlp (or none) is supported");
    }
    let protocol = variable(&format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"))
        .or_else(|| variable("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_else(|| "http/protobuf".to_owned());
    match protocol.as_str() {
        "grpc" => Ok(Some(Protocol::Grpc)),
        "http/protobuf" => Ok(Some(Protocol::HttpBinary)),
        other => anyhow::bail!("OTEL_EXPORTER_OTLP_PROTOCOL={other}: use grpc or http/protobuf"),
    }
}

/// What the variables that `variable` reads ask to export.
fn otlp_plan(variable: impl Fn(&str) -> Option<String>) -> anyhow::Result<OtlpPlan> {
    if variable("OTEL_SDK_DISABLED").is_some_and(|disabled| disabled.eq_ignore_ascii_case("true")) {
        return Ok(OtlpPlan { traces: None, metrics: None });
    }
    Ok(OtlpPlan { traces: signal_plan(&variable, "TRACES")?, metrics: signal_plan(&variable, "METRICS")? })
}

/// Installs the global log subscriber and, when the OTLP variables ask for it, the trace and
/// metric exporters. `RUST_LOG`, when set, overrides the configured log filter. Runs inside the
/// Tokio runtime: the exporters send on it.
///
/// # Errors
/// When the filter does not parse, the OTLP variables are malformed, an exporter cannot be
/// built, or a subscriber is installed already.
pub fn init(settings: &LogSettings) -> anyhow::Result<Telemetry> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => EnvFilter::try_new(from_env)?,
        _ => EnvFilter::try_new(&settings.filter)?,
    };
    let plan = otlp_plan(variable)?;
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| anyhow::anyhow!("telemetry starts inside the Tokio runtime"))?;
    let resource = Resource::builder().with_service_name(service_name()).build();
    let tracer_provider = plan
        .traces
        .map(|protocol| {
            let exporter = match protocol {
                Protocol::Grpc => SpanExporter::builder().with_tonic().build(),
                _ => SpanExporter::builder().with_http().with_protocol(protocol).build(),
            }
            .map_err(|error| anyhow::anyhow!("building the OTLP trace exporter: {error}"))?;
            anyhow::Ok(
                SdkTracerProvider::builder()
                    .with_resource(resource.clone())
                    .with_batch_exporter(InRuntime { runtime: runtime.clone(), inner: exporter })
                    .build(),
            )
        })
        .transpose()?;
    let meter_provider = plan
        .metrics
        .map(|protocol| {
            let exporter = match protocol {
                Protocol::Grpc => MetricExporter::builder().with_tonic().build(),
                _ => MetricExporter::builder().with_http().with_protocol(protocol).build(),
            }
            .map_err(|error| anyhow::anyhow!("building the OTLP metric exporter: {error}"))?;
            let reader = PeriodicReader::builder(InRuntime { runtime: runtime.clone(), inner: exporter }).build();
            anyhow::Ok(SdkMeterProvider::builder().with_resource(resource.clone()).with_reader(reader).build())
        })
        .transpose()?;
    if let Some(provider) = &meter_provider {
        opentelemetry::global::set_meter_provider(provider.clone());
    }
    let otel_layer = tracer_provider.as_ref().map(|provider| {
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        tracing_opentelemetry::layer().with_tracer(provider.tracer(SCOPE))
    });
    TRACING.store(otel_layer.is_some(), Ordering::Relaxed);
    let registry = tracing_subscriber::registry().with(otel_layer);
    let installed = match settings.format {
        LogFormat::Text => {
            registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter)).try_init()
        }
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("installing the log subscriber: {error}"))?;
    if plan.traces.is_some() || plan.metrics.is_some() {
        tracing::info!(traces = ?plan.traces, metrics = ?plan.metrics, "exporting OpenTelemetry over OTLP");
    }
    Ok(Telemetry { tracer_provider, meter_provider })
}

/// `OTEL_SERVICE_NAME`, or this service's own name.
fn service_name() -> String {
    variable("OTEL_SERVICE_NAME").unwrap_or_else(|| SCOPE.to_owned())
}

/// An exporter whose work runs with the service's Tokio runtime entered. OpenTelemetry's batch
/// processor and periodic reader export from threads of their own, outside any runtime, while
/// the OTLP clients (tonic, hyper) need one for their connections and timers.
#[derive(Debug)]
struct InRuntime<E> {
    runtime: tokio::runtime::Handle,
    inner: E,
}

/// A future polled with a runtime entered.
struct Entered<F> {
    runtime: tokio::runtime::Handle,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for Entered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _entered = this.runtime.enter();
        this.future.as_mut().poll(context)
    }
}

impl<E> InRuntime<E> {
    fn entered<F: Future>(&self, future: F) -> Entered<F> {
        Entered { runtime: self.runtime.clone(), future: Box::pin(future) }
    }
}

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter for InRuntime<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.entered(self.inner.export(batch))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _entered = self.runtime.enter();
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        let _entered = self.runtime.enter();
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for InRuntime<E> {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        self.entered(self.inner.export(metrics))
    }

    fn force_flush(&self) -> OTelSdkResult {
        let _entered = self.runtime.enter();
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _entered = self.runtime.enter();
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(variables: &[(&str, &str)]) -> anyhow::Result<OtlpPlan> {
        let variables: std::collections::HashMap<String, String> =
            variables.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect();
        otlp_plan(|name| variables.get(name).cloned().filter(|value| !value.is_empty()))
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        assert_eq!(plan(&[]).unwrap(), OtlpPlan { traces: None, metrics: None });
        assert_eq!(plan(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap(), OtlpPlan { traces: None, metrics: None });
    }

    #[test]
    fn the_standard_variables_choose_signals_and_protocols() {
        let both = plan(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]).unwrap();
        assert_eq!(both, OtlpPlan { traces: Some(Protocol::HttpBinary), metrics: Some(Protocol::HttpBinary) });
        let grpc_traces = plan(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .unwrap();
        assert_eq!(grpc_traces, OtlpPlan { traces: Some(Protocol::Grpc), metrics: None });
        let no_metrics =
            plan(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_METRICS_EXPORTER", "none")]).unwrap();
        assert_eq!(no_metrics.metrics, None);
        let disabled =
            plan(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "TRUE")]).unwrap();
        assert_eq!(disabled, OtlpPlan { traces: None, metrics: None });
        assert!(
            plan(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).is_err()
        );
        assert!(plan(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_TRACES_EXPORTER", "zipkin")]).is_err());
    }
}
