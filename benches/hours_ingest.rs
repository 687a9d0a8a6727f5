//! Benchmark: hour entries submitted per second through the public API, as single-line calls
//! and as batches, on SQLite and (when `FLEXSETTLE_BENCH_DATABASE_URL` or
//! `FLEXSETTLE_TEST_DATABASE_URL` names a PostgreSQL server) on PostgreSQL.
//!
//! Machines here are shared and noisy, so each backend's figure is reported next to a baseline
//! measured in the same run: the database's own rate of single-row INSERT commits with the same
//! durability settings and the same number of clients. The ratio is what to compare over time.
//!
//! Run: `cargo bench --bench hours_ingest` (sizes: `BENCH_SINGLE_CALLS`, `BENCH_BATCH_ENTRIES`).

#![expect(clippy::unwrap_used, clippy::print_stdout, reason = "a benchmark program")]
#![expect(clippy::float_arithmetic, reason = "a benchmark program: rates are ratios, not money")]

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use flexsettle::domain::Role;
use flexsettle::grpc::api;
use flexsettle::grpc::api::hours_service_client::HoursServiceClient;
use flexsettle::grpc::proto::google::r#type::Date;
use support::{Database, Server, env_count, postgres_admin_url, raw_connection};

mod support;

/// Concurrent clients, as in the hours concurrency test.
const CLIENTS: usize = 8;
/// Lines per batch call.
const BATCH_LINES: usize = 500;

/// Single-row INSERT commits per second from `clients` connections.
fn baseline_commits_per_s(database: &Database, clients: usize, commits: usize) -> f64 {
    let url = database.create("baseline");
    raw_connection(&url).batch_execute("CREATE TABLE baseline (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)").unwrap();
    let per_client = commits / clients;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for client in 0..clients {
            let url = url.clone();
            scope.spawn(move || {
                let mut connection = raw_connection(&url);
                for n in 0..per_client {
                    let id = client * per_client + n;
                    connection.batch_execute(&format!("INSERT INTO baseline VALUES ({id}, 'hour line {id}')")).unwrap();
                }
            });
        }
    });
    (per_client * clients) as f64 / started.elapsed().as_secs_f64()
}

/// Entries per second when `CLIENTS` clients each submit `per_client` lines in calls of
/// `lines_per_call` lines; `offset` keeps line references unique between runs.
async fn submit_rate(server: &Server, per_client: usize, lines_per_call: usize, offset: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let mut hours = HoursServiceClient::new(server.channel(Role::Billing).await);
        tasks.push(tokio::spawn(async move {
            for call in 0..per_client / lines_per_call {
                let first = offset + call * lines_per_call;
                let entries = (first..first + lines_per_call).map(|n| support::hour_line(client, n)).collect();
                let request = api::SubmitHoursRequest {
                    request_id: format!("c{client}-{first}"),
                    parent: "contracts/bench".to_owned(),
                    entries,
                };
                hours.submit_hours(request).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    (per_client / lines_per_call * lines_per_call * CLIENTS) as f64 / started.elapsed().as_secs_f64()
}

async fn run(name: &str, database: Database, baseline_clients: usize) {
    let single_calls = env_count("BENCH_SINGLE_CALLS", 8_000);
    let batch_entries = env_count("BENCH_BATCH_ENTRIES", 80_000);
    let baseline = tokio::task::block_in_place(|| baseline_commits_per_s(&database, baseline_clients, single_calls));
    let server = Server::start(database.create("service")).await;
    server.create_contract("bench", Date { year: 2025, month: 1, day: 1 }, CLIENTS).await;
    // Warm-up: connections, statement caches.
    submit_rate(&server, CLIENTS * 4, 1, 10_000_000).await;
    let single = submit_rate(&server, single_calls / CLIENTS, 1, 0).await;
    let batched = submit_rate(&server, batch_entries / CLIENTS, BATCH_LINES, 1_000_000).await;
    println!("{name}: baseline {baseline:>9.0} single-row commits/s ({baseline_clients} client(s))");
    println!(
        "{name}: single-line calls {single:>9.0} entries/s ({CLIENTS} clients) = {:.2} x baseline",
        single / baseline
    );
    println!(
        "{name}: {BATCH_LINES}-line batches  {batched:>9.0} entries/s ({CLIENTS} clients) = {:.2} x baseline",
        batched / baseline
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    println!("hours ingest benchmark on {} cores", std::thread::available_parallelism().map_or(0, usize::from));
    // SQLite has one writer: its baseline is one client committing.
    run("sqlite", Database::sqlite(), 1).await;
    match postgres_admin_url() {
        Some(admin) => run("postgresql", Database::postgres(admin), CLIENTS).await,
        None => println!("postgresql: skipped (set FLEXSETTLE_BENCH_DATABASE_URL)"),
    }
}
