//! Benchmark: hour entries submitted per second through the public API, as single-line calls
//! and as batches, on SQLite and (when `FLEXSETTLE_BENCH_DATABASE_URL` or
//! `FLEXSETTLE_TEST_DATABASE_URL` names a PostgreSQL server) on PostgreSQL.
//!
//! Machines here are shared and noisy, so each backend's figure is reported next to a baseline
//! measured in the same run: the database's own rate of single-row INSERT commits with the same
//! durability settings and the same number of clients. The ratio is what to compare over time.
//!
//! Run: `cargo bench --bench hours_ingest` (sizes: `BENCH_SINGLE_CALLS`, `BENCH_BATCH_ENTRIES`,
//! `BENCH_LATENCY_CALLS`).

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

/// Calls in flight for single-line submissions, as the figure asks.
const IN_FLIGHT: usize = 64;
/// Connections (HTTP/2 channels) the single-line calls share.
const CHANNELS: usize = 8;
/// Concurrent clients sending batches.
const BATCH_CLIENTS: usize = 8;
/// Lines per batch call.
const BATCH_LINES: usize = 500;
/// Intercedents of the contract: enough that a day of one carries a line or a few.
const INTERCEDENTS: usize = 1024;

/// A fresh table for the baseline's INSERT commits; gives its URL.
fn baseline_table(database: &Database, suffix: &str) -> String {
    let url = database.create(suffix);
    raw_connection(&url).batch_execute("CREATE TABLE baseline (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)").unwrap();
    url
}

/// Single-row INSERT commits per second from `clients` connections.
fn baseline_commits_per_s(database: &Database, clients: usize, commits: usize) -> f64 {
    let url = baseline_table(database, "baseline");
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

/// Median latency of one single-row INSERT commit, one after another on one connection.
fn baseline_commit_latency(database: &Database, commits: usize) -> Duration {
    let url = baseline_table(database, "latency");
    let mut connection = raw_connection(&url);
    median((0..commits).map(|id| {
        let started = Instant::now();
        connection.batch_execute(&format!("INSERT INTO baseline VALUES ({id}, 'hour line {id}')")).unwrap();
        started.elapsed()
    }))
}

/// Rows per second that the database itself takes into the service's own `hour_entries` table
/// (its indexes, its foreign key to the intercedents, the same durability) in transactions of
/// [`BATCH_LINES`] rows, one multi-row INSERT each, from `clients` connections: what a batch of
/// hour lines costs the database alone, the ceiling for the service's batch figure.
fn batch_ceiling_rows_per_s(url: &str, clients: usize, rows: usize) -> f64 {
    let postgres = url.starts_with("postgres");
    let (date, time) = if postgres { ("::date", "::timestamp") } else { ("", "") };
    let per_client = rows / clients / BATCH_LINES * BATCH_LINES;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for client in 0..clients {
            scope.spawn(move || {
                let mut connection = raw_connection(url);
                for first in (0..per_client).step_by(BATCH_LINES) {
                    let values: Vec<String> = (first..first + BATCH_LINES)
                        .map(|n| {
                            let line = support::hour_line(client, n, INTERCEDENTS);
                            let day = line.work_date.unwrap();
                            format!(
                                "('bench', 'ceiling-{client}-{n}', '{}', '{:04}-{:02}-{:02}'{date}, '{:04}-{:02}-01'{date}, \
                                 1, '', NULL, FALSE, 'bench-billing', '2026-12-01 12:00:00.123456'{time})",
                                line.intercedent_id, day.year, day.month, day.day, day.year, day.month
                            )
                        })
                        .collect();
                    connection
                        .batch_execute(&format!(
                            "BEGIN; INSERT INTO hour_entries (contract_id, id, intercedent_id, work_date, period_start, \
                             minutes, note, corrects_id, late, submitted_by, submit_time) VALUES {}; COMMIT",
                            values.join(", ")
                        ))
                        .unwrap();
                }
            });
        }
    });
    (per_client * clients) as f64 / started.elapsed().as_secs_f64()
}

fn median(samples: impl IntoIterator<Item = Duration>) -> Duration {
    let mut samples: Vec<Duration> = samples.into_iter().collect();
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Entries per second when `tasks` tasks over `channels` connections each submit `per_task`
/// lines in calls of `lines_per_call` lines; `offset` keeps line references unique between runs.
async fn submit_rate(
    server: &Server,
    (tasks, channels): (usize, usize),
    per_task: usize,
    lines_per_call: usize,
    offset: usize,
) -> f64 {
    let mut connections = Vec::new();
    for _ in 0..channels {
        connections.push(HoursServiceClient::new(server.channel(Role::Billing).await));
    }
    let started = Instant::now();
    let mut running = Vec::new();
    for task in 0..tasks {
        let mut hours = connections[task % channels].clone();
        running.push(tokio::spawn(async move {
            for call in 0..per_task / lines_per_call {
                let first = offset + call * lines_per_call;
                let entries =
                    (first..first + lines_per_call).map(|n| support::hour_line(task, n, INTERCEDENTS)).collect();
                let request = api::SubmitHoursRequest {
                    request_id: format!("c{task}-{first}"),
                    parent: "contracts/bench".to_owned(),
                    entries,
                };
                hours.submit_hours(request).await.unwrap();
            }
        }));
    }
    for task in running {
        task.await.unwrap();
    }
    (per_task / lines_per_call * lines_per_call * tasks) as f64 / started.elapsed().as_secs_f64()
}

/// Median latency of single-line calls made one after another.
async fn submit_latency(server: &Server, calls: usize, offset: usize) -> Duration {
    let mut hours = HoursServiceClient::new(server.channel(Role::Billing).await);
    let mut samples = Vec::with_capacity(calls);
    for n in offset..offset + calls {
        let request = api::SubmitHoursRequest {
            request_id: format!("latency-{n}"),
            parent: "contracts/bench".to_owned(),
            entries: vec![support::hour_line(0, n, INTERCEDENTS)],
        };
        let started = Instant::now();
        hours.submit_hours(request).await.unwrap();
        samples.push(started.elapsed());
    }
    median(samples)
}

async fn run(name: &str, database: Database, baseline_clients: usize) {
    let single_calls = env_count("BENCH_SINGLE_CALLS", 16_000);
    let batch_entries = env_count("BENCH_BATCH_ENTRIES", 160_000);
    let latency_calls = env_count("BENCH_LATENCY_CALLS", 1_000);
    let (baseline, baseline_latency) = tokio::task::block_in_place(|| {
        (
            baseline_commits_per_s(&database, baseline_clients, single_calls),
            baseline_commit_latency(&database, latency_calls),
        )
    });
    let server = Server::start(database.create("service")).await;
    server.create_contract("bench", Date { year: 2025, month: 1, day: 1 }, INTERCEDENTS).await;
    // Warm-up: connections, statement caches.
    submit_rate(&server, (IN_FLIGHT, CHANNELS), 4, 1, 10_000_000).await;
    let single = submit_rate(&server, (IN_FLIGHT, CHANNELS), single_calls / IN_FLIGHT, 1, 0).await;
    let latency = submit_latency(&server, latency_calls, 20_000_000).await;
    let batched =
        submit_rate(&server, (BATCH_CLIENTS, BATCH_CLIENTS), batch_entries / BATCH_CLIENTS, BATCH_LINES, 1_000_000)
            .await;
    // The database's own batch figure, into the same table after the service's run: SQLite
    // from one connection (one writer), PostgreSQL from as many as the batch clients.
    let service_url = database.url("service");
    let ceiling_clients = if baseline_clients == 1 { 1 } else { BATCH_CLIENTS };
    let ceiling =
        tokio::task::block_in_place(|| batch_ceiling_rows_per_s(&service_url, ceiling_clients, batch_entries));
    println!("{name}: baseline {baseline:>9.0} single-row commits/s ({baseline_clients} connection(s))");
    println!(
        "{name}: single-line calls {single:>9.0} entries/s ({IN_FLIGHT} in flight) = {:.2} x baseline",
        single / baseline
    );
    println!(
        "{name}: 1 in flight: median {:>7.0} us a call, one INSERT commit {:>7.0} us = {:.2} x",
        latency.as_secs_f64() * 1e6,
        baseline_latency.as_secs_f64() * 1e6,
        latency.as_secs_f64() / baseline_latency.as_secs_f64()
    );
    println!(
        "{name}: {BATCH_LINES}-line batches  {batched:>9.0} entries/s ({BATCH_CLIENTS} clients) = {:.2} x the database's own \
         {BATCH_LINES}-row INSERT commits into hour_entries, {ceiling:.0} rows/s ({ceiling_clients} connection(s))",
        batched / ceiling
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    println!("hours ingest benchmark on {} cores", std::thread::available_parallelism().map_or(0, usize::from));
    // SQLite has one writer: its baseline is one connection committing (more only contend).
    run("sqlite", Database::sqlite(), 1).await;
    match postgres_admin_url() {
        Some(admin) => run("postgresql", Database::postgres(admin), IN_FLIGHT).await,
        None => println!("postgresql: skipped (set FLEXSETTLE_BENCH_DATABASE_URL)"),
    }
}
