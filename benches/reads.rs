//! Benchmark: authenticated reads against the framework's own ceiling, in one run.
//!
//! The baseline is a plain tonic server that serves only the standard health service (no
//! layers, no token, no database), called by the same client the same way: 64 calls in
//! flight over one HTTP/2 connection. Then the service's own health check (its layers, no token),
//! and an authenticated `GetContract` (token check — remembered once verified —, access rule,
//! one database read), on SQLite and, when `FLEXSETTLE_BENCH_DATABASE_URL` or
//! `FLEXSETTLE_TEST_DATABASE_URL` names a PostgreSQL server, on PostgreSQL.
//!
//! Run: `cargo bench --bench reads` (`BENCH_READ_SECONDS`, default 5 per figure).

#![expect(clippy::unwrap_used, clippy::print_stdout, reason = "a benchmark program")]
#![expect(clippy::float_arithmetic, reason = "a benchmark program: rates are ratios, not money")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flexsettle::domain::Role;
use flexsettle::grpc::api;
use flexsettle::grpc::api::contract_service_client::ContractServiceClient;
use flexsettle::grpc::proto::google::r#type::Date;
use support::{Database, Server, env_count, postgres_admin_url};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[allow(dead_code, reason = "helpers shared with the other benchmarks")]
mod support;

/// Calls in flight.
const IN_FLIGHT: usize = 64;

/// Calls per second of `call`, made by `IN_FLIGHT` tasks at once for `seconds`.
async fn rate<F, Fut>(seconds: u64, call: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // Warm the connection and caches first.
    for _ in 0..IN_FLIGHT {
        call().await;
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (call, done, stop) = (call.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    call().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Health checks per second against `channel`.
async fn health_rate(channel: Channel, seconds: u64) -> f64 {
    rate(seconds, move || {
        let mut health = HealthClient::new(channel.clone());
        async move {
            health.check(HealthCheckRequest { service: String::new() }).await.unwrap();
        }
    })
    .await
}

/// A plain tonic server with only the health service: the framework's ceiling.
async fn echo_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (_reporter, service) = tonic_health::server::health_reporter();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            // As the service does: small messages, no waiting to coalesce packets.
            .serve_with_incoming(tokio_stream::StreamExt::map(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                |stream| {
                    stream.inspect(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    })
                },
            )),
    );
    address
}

async fn connect(address: &str) -> Channel {
    Channel::from_shared(address.to_owned()).unwrap().connect().await.unwrap()
}

async fn run(name: &str, database: Database, seconds: u64, echo: f64) {
    let server = Server::start(database.create("reads")).await;
    server.create_contract("reads", Date { year: 2025, month: 1, day: 1 }, 1).await;
    let own_health = health_rate(connect(&server.address).await, seconds).await;
    let authorized = server.channel(Role::Billing).await;
    let get_contract = rate(seconds, move || {
        let mut contracts = ContractServiceClient::new(authorized.clone());
        async move {
            contracts.get_contract(api::GetContractRequest { name: "contracts/reads".to_owned() }).await.unwrap();
        }
    })
    .await;
    println!(
        "| {name} | {echo:.0} | {own_health:.0} ({:.2}×) | {get_contract:.0} ({:.2}×) |",
        own_health / echo,
        get_contract / echo
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds = u64::try_from(env_count("BENCH_READ_SECONDS", 5)).unwrap();
    println!(
        "{IN_FLIGHT} calls in flight over one connection, {seconds} s per figure; calls/s (ratio to the baseline)\n"
    );
    println!(
        "| backend | baseline: plain tonic health | service health (layers, no token) | GetContract (token, access, read) |"
    );
    println!("| --- | --- | --- | --- |");
    let echo = health_rate(connect(&echo_server().await).await, seconds).await;
    run("sqlite", Database::sqlite(), seconds, echo).await;
    if let Some(admin) = postgres_admin_url() {
        let echo = health_rate(connect(&echo_server().await).await, seconds).await;
        run("postgresql", Database::postgres(admin), seconds, echo).await;
    }
}
