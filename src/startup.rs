//! Builds the application from settings: the one place that wires concrete types together.
//! `build` binds the listener first, so a test can ask for port 0 and read the port back.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::auth::{Authenticator, DevKeyPair, LogSigningKey, TrustedKeys};
use crate::configuration::{AuditSettings, Limits, Settings};
use crate::domain::PageTokens;
use crate::domain::invoice::Seller;
use crate::grpc::access::{Access, AccessLayer, Authentication};
use crate::grpc::admission::AdmissionLayer;
use crate::grpc::api::audit_service_server::AuditServiceServer;
use crate::grpc::api::contract_service_server::ContractServiceServer;
use crate::grpc::api::go_no_go_service_server::GoNoGoServiceServer;
use crate::grpc::api::hours_service_server::HoursServiceServer;
use crate::grpc::api::invoice_service_server::InvoiceServiceServer;
use crate::grpc::api::pool_service_server::PoolServiceServer;
use crate::grpc::api::savings_service_server::SavingsServiceServer;
use crate::grpc::api::settlement_service_server::SettlementServiceServer;
use crate::grpc::proto::FILE_DESCRIPTOR_SET;
use crate::grpc::telemetry::CallTelemetryLayer;
use crate::grpc::{AuditApi, ContractApi, GoNoGoApi, HoursApi, InvoiceApi, PoolApi, SavingsApi, SettlementApi};
use crate::service::{
    AuditLogService, Clock, ContractService, GoNoGoService, HoursService, InvoiceService, LogIdentity, PoolService,
    SavingsService, SettlementService,
};
use crate::storage::Store;

/// A server that is bound, migrated and ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    health_listener: Option<TcpListener>,
    store: Store,
    limits: Limits,
    access: Access,
    tls: Option<ServerTlsConfig>,
    clock: Clock,
    audit_log: AuditLogService,
    checkpoint_interval: Duration,
    pages: PageTokens,
    seller: Option<Seller>,
}

/// The audit log's identity (its origin and the key that signs its checkpoints) and the sealer
/// of page tokens, whose key is derived from the same secret: every replica shares it, so any
/// replica continues any replica's listing.
///
/// # Errors
/// When the key cannot be read or made, or the origin cannot name a key.
pub fn log_identity(settings: &Settings) -> anyhow::Result<(LogIdentity, PageTokens)> {
    let origin = &settings.audit.origin;
    let seed = log_seed(settings)?;
    let identity =
        LogIdentity::new(origin, &seed).map_err(|error| anyhow::anyhow!("audit.origin {origin:?}: {error}"))?;
    Ok((identity, PageTokens::derive(&seed)))
}

/// The seed of the audit log's signing key: the configured key file, or the development key in
/// the data directory, made on first start.
fn log_seed(settings: &Settings) -> anyhow::Result<[u8; 32]> {
    let AuditSettings { signing_key_file, .. } = &settings.audit;
    let key = match signing_key_file {
        Some(path) => LogSigningKey { path: path.clone() },
        None => {
            let key = LogSigningKey::in_dir(&settings.data_dir);
            if key.ensure()? {
                tracing::info!(key.path = %key.path.display(), "created the audit log's signing key");
            }
            key
        }
    };
    key.seed()
}

/// The access control the settings ask for. Without configured keys it trusts the local
/// development key pair, creating it in the data directory on first start.
///
/// # Errors
/// When configured keys cannot be read or the key pair cannot be created.
pub fn access(settings: &Settings) -> anyhow::Result<Access> {
    let auth = &settings.auth;
    if auth.disabled {
        tracing::warn!(
            "AUTHENTICATION IS DISABLED (auth.disabled = true): every call acts as the local admin; never run this in production"
        );
        return Ok(Access::new(Authentication::Disabled));
    }
    let mut keys = TrustedKeys::from_pem_files(&auth.public_key_files)?;
    if let Some(jwks) = &auth.jwks_file {
        keys.add_jwks_file(jwks)?;
    }
    if keys.is_empty() {
        if !settings.listen_addr.ip().is_loopback() && !auth.allow_dev_key {
            anyhow::bail!(
                "no token keys configured: set auth.public_key_files or auth.jwks_file (or, for a development \
                 server off loopback, auth.allow_dev_key)"
            );
        }
        let dev = DevKeyPair::in_dir(&settings.data_dir);
        if dev.ensure()? {
            tracing::info!(key.path = %dev.private_key.display(), "created the local development token key pair");
        }
        tracing::warn!(
            key.path = %dev.public_key.display(),
            "trusting the local development token key; configure auth.public_key_files or auth.jwks_file in production"
        );
        keys = TrustedKeys::from_pem_files(&[dev.public_key])?;
    }
    let authenticator = Authenticator::new(keys, auth.issuer.clone(), auth.audience.clone(), auth.leeway_s);
    Ok(Access::new(Authentication::Tokens(authenticator)))
}

/// The clock the settings ask for; a fixed one is announced loudly.
#[must_use]
pub fn clock(settings: &Settings) -> Clock {
    match settings.clock.fixed_now {
        None => Clock::System,
        Some(instant) => {
            tracing::warn!(clock.fixed_now = %instant, "THE CLOCK IS FIXED (clock.fixed_now): for tests and demonstrations only");
            Clock::Fixed(instant)
        }
    }
}

/// The TLS configuration of the listener, `None` for plain text (allowed on loopback, or by an
/// explicit setting).
///
/// # Errors
/// When files cannot be read, only one of certificate and key is given, or plain text is asked
/// for on a non-loopback address without `tls.allow_plaintext`.
pub fn tls_config(settings: &Settings) -> anyhow::Result<Option<ServerTlsConfig>> {
    let tls = &settings.tls;
    let read = |path: &std::path::Path| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let mut config = ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?));
            if let Some(ca) = &tls.client_ca_file {
                config = config.client_ca_root(Certificate::from_pem(read(ca)?)).client_auth_optional(false);
            }
            Some(config)
        }
        (None, None) if tls.client_ca_file.is_some() => {
            anyhow::bail!("tls.client_ca_file needs tls.cert_file and tls.key_file")
        }
        (None, None) => None,
        _ => anyhow::bail!("tls.cert_file and tls.key_file go together"),
    };
    if config.is_none() && !settings.listen_addr.ip().is_loopback() && !tls.allow_plaintext {
        anyhow::bail!(
            "refusing to serve plain text on {}: configure tls.cert_file and tls.key_file, or set tls.allow_plaintext behind a TLS-terminating proxy",
            settings.listen_addr
        );
    }
    Ok(config)
}

/// Opens the configured database and applies pending migrations.
///
/// # Errors
/// When the database cannot be reached or migrated.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = open_unmigrated(settings).await?;
    let applied = store.migrate().await?;
    tracing::info!(database.backend = store.target().backend(), migrations.applied = ?applied, "database ready");
    Ok(store)
}

/// Opens the configured database without touching its schema.
///
/// # Errors
/// When the database cannot be reached.
pub async fn open_unmigrated(settings: &Settings) -> anyhow::Result<Store> {
    let target = settings.database_target().map_err(anyhow::Error::msg)?;
    let options = settings.pool_options();
    tokio::task::spawn_blocking(move || Store::open(target, options))
        .await
        .context("opening the database")?
        .map_err(anyhow::Error::from)
}

impl Application {
    /// Opens and migrates the database and binds the listener.
    ///
    /// # Errors
    /// When the database cannot be opened or migrated, or the address cannot be bound.
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        let tls = tls_config(settings)?;
        let access = access(settings)?;
        let seller = match &settings.invoicing.seller {
            Some(configured) => Some(
                configured
                    .seller()
                    .map_err(|violations| anyhow::anyhow!("invoicing.seller is not valid: {violations}"))?,
            ),
            None => None,
        };
        let (identity, pages) = log_identity(settings)?;
        let identity = std::sync::Arc::new(identity);
        // The port first: a start that cannot bind fails before any database connection opens.
        let listener = TcpListener::bind(settings.listen_addr)
            .await
            .with_context(|| format!("binding {}", settings.listen_addr))?;
        let health_listener = match settings.health_listen_addr {
            Some(address) => {
                Some(TcpListener::bind(address).await.with_context(|| format!("binding {address} (health)"))?)
            }
            None => None,
        };
        let store = if settings.database.migrate_at_start {
            open_store(settings).await?
        } else {
            tracing::info!(
                "database.migrate_at_start = false: the schema is left as it is (the owner runs `flexsettle migrate`)"
            );
            open_unmigrated(settings).await?
        };
        let local_addr = listener.local_addr().context("reading the bound address")?;
        Ok(Application {
            listener,
            local_addr,
            health_listener,
            limits: settings.limits.clone(),
            access,
            tls,
            audit_log: AuditLogService::new(store.clone(), identity, clock(settings)),
            store,
            checkpoint_interval: Duration::from_millis(settings.audit.checkpoint_interval_ms.max(1)),
            pages,
            clock: clock(settings),
            seller,
        })
    }

    /// The address the server listens on (with the real port when port 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the plain-text health listener, when one is configured.
    #[must_use]
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_listener.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    /// The database the server uses.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until `shutdown` completes, then stops taking calls, lets in-flight calls finish
    /// (up to the shutdown grace) and returns.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let limits = self.limits;
        let (health, health_service) = tonic_health::server::health_reporter();
        // Alive as long as the process serves, whatever the database does: what a liveness
        // probe asks (a restart does not bring a database back).
        health.set_service_status(LIVENESS_SERVICE, tonic_health::ServingStatus::Serving).await;
        // Not ready until the database has answered (tonic starts every name SERVING).
        for service in HEALTH_SERVICES {
            health.set_service_status(*service, tonic_health::ServingStatus::NotServing).await;
        }
        let health_only = self.health_listener.map(|listener| {
            let address = listener.local_addr().ok();
            tracing::info!(address = ?address, "serving health checks in plain text");
            tokio::spawn(
                Server::builder()
                    .http2_keepalive_interval(Some(Duration::from_millis(limits.keepalive_interval_ms)))
                    .http2_keepalive_timeout(Some(Duration::from_millis(limits.keepalive_timeout_ms)))
                    .add_service(health_service.clone())
                    .serve_with_incoming(TcpListenerStream::new(listener)),
            )
        });
        // Ready only once the database has answered: a pod whose database went away after its
        // migrations is not sent calls, not even for the first second.
        let database_up =
            matches!(tokio::time::timeout(DATABASE_WATCH_INTERVAL * 3, self.store.ping()).await, Ok(Ok(())));
        let status =
            if database_up { tonic_health::ServingStatus::Serving } else { tonic_health::ServingStatus::NotServing };
        for service in HEALTH_SERVICES {
            health.set_service_status(*service, status).await;
        }
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection().build_v1().context("building reflection v1")?;
        let reflection_v1alpha = reflection().build_v1alpha().context("building reflection v1alpha")?;
        let contracts = ContractServiceServer::new(ContractApi::new(
            ContractService::new(self.store.clone(), self.clock),
            self.pages.clone(),
        ))
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
        let hours = HoursServiceServer::new(HoursApi::new(
            HoursService::new(self.store.clone(), self.clock),
            self.pages.clone(),
        ))
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
        let gonogo = GoNoGoServiceServer::new(GoNoGoApi::new(GoNoGoService::new(self.store.clone(), self.clock)))
            .max_decoding_message_size(limits.max_message_bytes)
            .max_encoding_message_size(limits.max_message_bytes);
        let pool =
            PoolServiceServer::new(PoolApi::new(PoolService::new(self.store.clone(), self.clock), self.pages.clone()))
                .max_decoding_message_size(limits.max_message_bytes)
                .max_encoding_message_size(limits.max_message_bytes);
        let settlement = SettlementServiceServer::new(SettlementApi::new(
            SettlementService::new(self.store.clone(), self.clock).with_invoices(InvoiceService::new(
                self.store.clone(),
                self.clock,
                self.seller.clone(),
            )),
            self.pages.clone(),
        ))
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
        let savings = SavingsServiceServer::new(SavingsApi::new(
            SavingsService::new(self.store.clone(), self.clock),
            self.pages.clone(),
        ))
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
        let invoices = InvoiceServiceServer::new(InvoiceApi::new(
            InvoiceService::new(self.store.clone(), self.clock, self.seller.clone()),
            self.pages.clone(),
        ))
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
        let audit = AuditServiceServer::new(AuditApi::new(self.audit_log.clone(), self.pages.clone()))
            .max_decoding_message_size(limits.max_message_bytes)
            .max_encoding_message_size(limits.max_message_bytes);
        let integrator =
            tokio::spawn(integrate_periodically(self.audit_log.clone(), self.store.clone(), self.checkpoint_interval));
        let watcher = tokio::spawn(watch_database(self.store.clone(), health.clone(), database_up));

        let incoming = TcpListenerStream::new(self.listener).map(|stream| {
            stream.inspect(|tcp| {
                // Small request/response messages: do not wait to coalesce packets.
                let _ = tcp.set_nodelay(true);
            })
        });
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: no new calls, finishing in-flight calls");
            health.set_not_serving::<ContractServiceServer<ContractApi>>().await;
            health.set_not_serving::<HoursServiceServer<HoursApi>>().await;
            health.set_not_serving::<SavingsServiceServer<SavingsApi>>().await;
            health.set_not_serving::<PoolServiceServer<PoolApi>>().await;
            health.set_not_serving::<GoNoGoServiceServer<GoNoGoApi>>().await;
            health.set_not_serving::<SettlementServiceServer<SettlementApi>>().await;
            health.set_not_serving::<InvoiceServiceServer<InvoiceApi>>().await;
            health.set_not_serving::<AuditServiceServer<AuditApi>>().await;
            let _ = stopping_tx.send(());
        };
        let admission = AdmissionLayer::new(
            limits.max_concurrent_requests,
            limits.max_concurrent_requests_per_principal,
            Duration::from_millis(limits.request_timeout_ms),
        );
        let mut builder = Server::builder();
        if let Some(tls) = self.tls {
            builder = builder.tls_config(tls).context("configuring TLS")?;
        }
        let server = builder
            .trace_fn(crate::grpc::telemetry::server_span)
            .timeout(admission.transport_timeout())
            .max_concurrent_streams(limits.max_concurrent_streams_per_connection)
            .http2_keepalive_interval(Some(Duration::from_millis(limits.keepalive_interval_ms)))
            .http2_keepalive_timeout(Some(Duration::from_millis(limits.keepalive_timeout_ms)))
            .max_connection_age(Duration::from_millis(limits.max_connection_age_ms))
            .http2_max_header_list_size(Some(limits.max_header_list_bytes))
            // Authentication first: a call without a valid token never holds a slot.
            .layer(
                tower::ServiceBuilder::new()
                    .layer(CallTelemetryLayer)
                    .layer(AccessLayer::new(self.access))
                    .layer(admission)
                    .into_inner(),
            )
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(contracts)
            .add_service(hours)
            .add_service(savings)
            .add_service(pool)
            .add_service(gonogo)
            .add_service(settlement)
            .add_service(invoices)
            .add_service(audit)
            .serve_with_incoming_shutdown(incoming, signal);

        tracing::info!(address = %self.local_addr, database.backend = self.store.target().backend(), "listening");
        let grace = Duration::from_millis(limits.shutdown_grace_ms);
        let overdue = async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            served = server => served.context("serving gRPC")?,
            () = overdue => tracing::warn!(grace_ms = limits.shutdown_grace_ms, "in-flight calls outlived the shutdown grace; stopping anyway"),
        }
        integrator.abort();
        watcher.abort();
        if let Some(health_only) = health_only {
            health_only.abort();
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// The health service name that reports the process alive, database or not (for liveness
/// probes; readiness asks `""`, which follows the database).
pub const LIVENESS_SERVICE: &str = "flexsettle.Liveness";

/// The names health checking reports on: the server as a whole (`""`) and each API service.
const HEALTH_SERVICES: &[&str] = &[
    "",
    "flextensie.settlement.v1.ContractService",
    "flextensie.settlement.v1.HoursService",
    "flextensie.settlement.v1.SavingsService",
    "flextensie.settlement.v1.PoolService",
    "flextensie.settlement.v1.GoNoGoService",
    "flextensie.settlement.v1.SettlementService",
    "flextensie.settlement.v1.InvoiceService",
    "flextensie.settlement.v1.AuditService",
];

/// How often the database is pinged for health.
const DATABASE_WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Keeps health in step with the database: `NOT_SERVING` while it cannot be reached, `SERVING`
/// again by itself once it answers (no restart needed).
async fn watch_database(store: Store, health: tonic_health::server::HealthReporter, serving_at_start: bool) {
    let mut serving = serving_at_start;
    let mut ticks = tokio::time::interval(DATABASE_WATCH_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let reachable = match tokio::time::timeout(DATABASE_WATCH_INTERVAL * 3, store.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                if serving {
                    tracing::warn!(error = %error, "the database cannot be reached: health is NOT_SERVING");
                }
                false
            }
            Err(_) => {
                if serving {
                    tracing::warn!("the database does not answer: health is NOT_SERVING");
                }
                false
            }
        };
        if reachable != serving {
            let status = if reachable {
                tracing::info!("the database answers again: health is SERVING");
                tonic_health::ServingStatus::Serving
            } else {
                tonic_health::ServingStatus::NotServing
            };
            for service in HEALTH_SERVICES {
                health.set_service_status(*service, status).await;
            }
            serving = reachable;
        }
    }
}

/// The integrator of this process: every `interval`, takes newly committed audit entries into
/// the tree and publishes a checkpoint when the tree grew. Replicas on one database each run
/// one; they take turns, and whichever runs first does the work.
async fn integrate_periodically(log: AuditLogService, store: Store, interval: Duration) {
    let sizes = std::sync::Arc::new(LogSizes::default());
    let _gauges = observe(&store, &sizes);
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = log.integrate().await {
            tracing::warn!(error = %error, "integrating the audit log failed; retrying at the next tick");
        }
        let read = store
            .read(|connection| {
                let size = crate::storage::audit::size(connection)?;
                let integrated = crate::storage::audit_tree::integrated_size(connection)?;
                Ok((size, integrated))
            })
            .await;
        if let Ok((size, integrated)) = read {
            sizes.entries.store(size, std::sync::atomic::Ordering::Relaxed);
            let integrated = i64::try_from(integrated).unwrap_or(i64::MAX);
            sizes.integrated.store(integrated, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The audit log's size and how much of it a signed checkpoint covers, as last read.
#[derive(Debug, Default)]
struct LogSizes {
    entries: std::sync::atomic::AtomicI64,
    integrated: std::sync::atomic::AtomicI64,
}

/// The gauges read when metrics are collected: the database pools' connections, the audit
/// log's size and the integrator's lag (entries committed but not yet in a signed checkpoint).
fn observe(
    store: &Store,
    sizes: &std::sync::Arc<LogSizes>,
) -> (opentelemetry::metrics::ObservableGauge<i64>, opentelemetry::metrics::ObservableGauge<i64>) {
    use opentelemetry::KeyValue;
    use std::sync::atomic::Ordering;
    let meter = opentelemetry::global::meter(crate::telemetry::SCOPE);
    let pools = store.clone();
    let connections = meter
        .i64_observable_gauge("db.client.connection.count")
        .with_unit("{connection}")
        .with_description("Database connections of each pool, in use and idle")
        .with_callback(move |observer| {
            for (pool, open, idle) in pools.pool_states() {
                let name = KeyValue::new("db.client.connection.pool.name", pool);
                let used = i64::from(open.saturating_sub(idle));
                observer.observe(used, &[name.clone(), KeyValue::new("db.client.connection.state", "used")]);
                observer.observe(i64::from(idle), &[name, KeyValue::new("db.client.connection.state", "idle")]);
            }
        })
        .build();
    let log = sizes.clone();
    let audit = meter
        .i64_observable_gauge("flexsettle.audit.log.entries")
        .with_unit("{entry}")
        .with_description("Entries in the audit log, and those of them in a signed checkpoint")
        .with_callback(move |observer| {
            let entries = log.entries.load(Ordering::Relaxed);
            let integrated = log.integrated.load(Ordering::Relaxed);
            observer.observe(entries, &[KeyValue::new("flexsettle.audit.state", "committed")]);
            observer.observe(integrated, &[KeyValue::new("flexsettle.audit.state", "integrated")]);
            observer.observe(entries.saturating_sub(integrated), &[KeyValue::new("flexsettle.audit.state", "lag")]);
        })
        .build();
    (connections, audit)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!(signal = "SIGINT", "signal received"),
        () = terminate => tracing::info!(signal = "SIGTERM", "signal received"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_refused_off_loopback_unless_allowed() {
        let mut settings = Settings { listen_addr: "0.0.0.0:50051".parse().unwrap(), ..Settings::default() };
        assert!(tls_config(&settings).is_err());
        settings.tls.allow_plaintext = true;
        assert!(tls_config(&settings).unwrap().is_none());
        let loopback = Settings::default();
        assert!(tls_config(&loopback).unwrap().is_none());
    }

    #[test]
    fn the_development_key_is_trusted_only_on_loopback_unless_allowed() {
        let data = std::env::temp_dir().join(format!("flexsettle-startup-{}", uuid::Uuid::now_v7()));
        let mut settings =
            Settings { listen_addr: "0.0.0.0:50051".parse().unwrap(), data_dir: data.clone(), ..Settings::default() };
        settings.tls.allow_plaintext = true;
        assert!(access(&settings).is_err());
        assert!(!data.exists(), "no key pair is made for a server that refuses to start");
        settings.auth.allow_dev_key = true;
        assert!(access(&settings).is_ok());
        let _ = std::fs::remove_dir_all(data);
    }

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        let mut settings = Settings::default();
        settings.tls.cert_file = Some("server.pem".into());
        assert!(tls_config(&settings).is_err());
    }
}
