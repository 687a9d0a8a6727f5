//! Benchmark: `SettlePeriod` of one month that holds 100,000 verified hour entries (100
//! intercedents; 2,000 entries each beyond that) and 1,000 verified savings records, through the public API, on SQLite and
//! (when `FLEXSETTLE_BENCH_DATABASE_URL` or `FLEXSETTLE_TEST_DATABASE_URL` names a PostgreSQL
//! server) on PostgreSQL. `PreviewSettlement` of the same period is timed first.
//!
//! Machines here are shared and noisy, so each figure stands next to a baseline measured in
//! the same run on the same database server: one transaction that reads as many rows of four
//! columns to the client and records each of them in a second table (`INSERT … SELECT`), the
//! least I/O a settlement of these inputs can do. The ratio is what to compare over time.
//!
//! The server runs in this process: the peak resident set (`VmHWM`) while previewing and
//! settling is reported per sample, the server's and this client's together.
//!
//! Run: `cargo bench --bench settle_period` (sizes: `BENCH_SETTLE_ENTRIES`,
//! `BENCH_SETTLE_SAVINGS`, `BENCH_SETTLE_SAMPLES`); the million-entry figure:
//! `BENCH_SETTLE_ENTRIES=1000000 BENCH_SETTLE_SAMPLES=1 cargo bench --bench settle_period`.

#![expect(clippy::unwrap_used, clippy::print_stdout, reason = "a benchmark program")]
#![expect(clippy::float_arithmetic, reason = "a benchmark program: timings are ratios, not money")]

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use flexsettle::domain::{CbsCode, Role};
use flexsettle::grpc::api;
use flexsettle::grpc::api::hours_service_client::HoursServiceClient;
use flexsettle::grpc::api::savings_service_client::SavingsServiceClient;
use flexsettle::grpc::api::settlement_service_client::SettlementServiceClient;
use flexsettle::grpc::proto::google::r#type::Date;
use support::{Database, Server, env_count, postgres_admin_url, raw_connection};

#[expect(dead_code, reason = "the ingest benchmarks' hour line is not used here")]
mod support;

/// Intercedents of the contract: at least 100, and enough that their entries of 15 minutes stay
/// within 24 hours a day (2,000 entries each spread over January: about 16 hours a day).
fn intercedents(entries: usize) -> usize {
    entries.div_ceil(2_000).max(100)
}
/// Lines (and decisions) per call: the API's maximum.
const PER_CALL: usize = 1_000;
/// Concurrent clients while loading the inputs.
const CLIENTS: usize = 4;
/// Minutes of every entry.
const MINUTES: i64 = 15;

const JANUARY: Date = Date { year: 2025, month: 1, day: 1 };

fn gemeente() -> Role {
    Role::Gemeente(CbsCode::parse("GM0344").unwrap())
}

/// A row of the baseline's input table.
#[derive(QueryableByName)]
#[expect(dead_code, reason = "read to the client, as a settlement reads its inputs")]
struct InputRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    intercedent: String,
    #[diesel(sql_type = diesel::sql_types::Date)]
    work_date: chrono::NaiveDate,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    minutes: i64,
}

/// Seconds for one transaction that reads `rows` input rows to the client and records them all
/// as taken.
fn baseline_s(database: &Database, rows: usize) -> f64 {
    let url = database.create("baseline");
    let mut connection = raw_connection(&url);
    connection
        .batch_execute(&format!(
            "CREATE TABLE inputs (id TEXT PRIMARY KEY, intercedent TEXT NOT NULL, work_date DATE NOT NULL, \
             minutes BIGINT NOT NULL); \
             CREATE TABLE taken (id TEXT PRIMARY KEY); \
             INSERT INTO inputs WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < {}) \
             SELECT 'e' || k, 'int-' || (k % 100), '2025-01-15', 15 FROM n;",
            rows - 1
        ))
        .unwrap();
    let started = Instant::now();
    connection
        .transaction(|connection| {
            let read: Vec<InputRow> =
                diesel::sql_query("SELECT id, intercedent, work_date, minutes FROM inputs").load(connection)?;
            assert_eq!(read.len(), rows);
            diesel::sql_query("INSERT INTO taken SELECT id FROM inputs").execute(connection)
        })
        .unwrap();
    started.elapsed().as_secs_f64()
}

/// Records `entries` hour entries of January (each intercedent's spread over the month) and
/// `savings` savings records, and has the municipality verify them all.
async fn load_inputs(server: &Server, contract: &str, entries: usize, savings: usize) {
    let intercedents = intercedents(entries);
    let parent = format!("contracts/{contract}");
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (billing, gemeente) = (server.channel(Role::Billing).await, server.channel(gemeente()).await);
        let (parent, contract) = (parent.clone(), contract.to_owned());
        tasks.push(tokio::spawn(async move {
            let (mut submit, mut verify) = (HoursServiceClient::new(billing), HoursServiceClient::new(gemeente));
            for call in (0..entries.div_ceil(PER_CALL)).filter(|call| call % CLIENTS == client) {
                let lines = (call * PER_CALL..((call + 1) * PER_CALL).min(entries))
                    .map(|k| api::HourLine {
                        intercedent_id: format!("int-{}", k % intercedents),
                        work_date: Some(Date { day: i32::try_from(1 + (k / intercedents) % 31).unwrap(), ..JANUARY }),
                        kind: api::TimeKind::Work.into(),
                        minutes: MINUTES,
                        line_reference: format!("e{k}"),
                        note: String::new(),
                    })
                    .collect();
                let submitted = submit
                    .submit_hours(api::SubmitHoursRequest {
                        request_id: format!("{contract}:submit-{call}"),
                        parent: parent.clone(),
                        entries: lines,
                    })
                    .await
                    .unwrap()
                    .into_inner();
                verify
                    .verify_hours(api::VerifyHoursRequest {
                        request_id: format!("{contract}:verify-{call}"),
                        parent: parent.clone(),
                        entries: submitted.entries.into_iter().map(|entry| entry.name).collect(),
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut submit = SavingsServiceClient::new(server.channel(Role::Billing).await);
    for k in 0..savings {
        let record = api::SavingsRecord {
            period_start: Some(JANUARY),
            amount_cents: 10_000 + i64::try_from(k).unwrap(),
            kind: api::SavingsKind::FullOutflow.into(),
            source_reference: format!("s{k}"),
            certainty: api::SavingsCertainty::Definitive.into(),
            ..Default::default()
        };
        submit
            .submit_savings(api::SubmitSavingsRequest {
                request_id: format!("{contract}:savings-{k}"),
                parent: parent.clone(),
                savings: Some(record),
            })
            .await
            .unwrap();
    }
    let mut verify = SavingsServiceClient::new(server.channel(gemeente()).await);
    for (call, first) in (0..savings).step_by(PER_CALL).enumerate() {
        verify
            .verify_savings(api::VerifySavingsRequest {
                request_id: format!("{contract}:verify-savings-{call}"),
                parent: parent.clone(),
                savings: (first..(first + PER_CALL).min(savings)).map(|k| format!("{parent}/savings/s{k}")).collect(),
            })
            .await
            .unwrap();
    }
}

async fn run(name: &str, database: Database) {
    let entries = env_count("BENCH_SETTLE_ENTRIES", 100_000);
    let savings = env_count("BENCH_SETTLE_SAVINGS", 1_000);
    let samples = env_count("BENCH_SETTLE_SAMPLES", 2);
    let baseline = tokio::task::block_in_place(|| baseline_s(&database, entries + savings));
    let server = Server::start(database.create("service")).await;
    let mut settlement = SettlementServiceClient::new(server.channel(Role::Billing).await);
    let (mut previews, mut settles, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
    for sample in 0..samples {
        let contract = format!("bench{sample}");
        server.create_contract(&contract, JANUARY, intercedents(entries)).await;
        let loading = Instant::now();
        load_inputs(&server, &contract, entries, savings).await;
        let loaded = loading.elapsed();
        let period = || (format!("contracts/{contract}"), Some(JANUARY));
        reset_peak_rss();
        let started = Instant::now();
        let (parent, period_start) = period();
        let preview = settlement
            .preview_settlement(api::PreviewSettlementRequest { parent, period_start })
            .await
            .unwrap()
            .into_inner();
        previews.push(started.elapsed());
        let started = Instant::now();
        let (parent, period_start) = period();
        let statement = settlement
            .settle_period(api::SettlePeriodRequest { request_id: format!("settle-{sample}"), parent, period_start })
            .await
            .unwrap()
            .into_inner();
        settles.push(started.elapsed());
        peaks.push(peak_rss_kib());
        // The statement took in every input, to the minute and the cent.
        let minutes: i64 = statement.cost_lines.iter().map(|line| line.minutes).sum();
        assert_eq!(minutes, i64::try_from(entries).unwrap() * MINUTES);
        assert_eq!(statement.cost_lines.len(), intercedents(entries).min(entries));
        let expected_savings: i64 = (0..i64::try_from(savings).unwrap()).map(|k| 10_000 + k).sum();
        assert_eq!(statement.savings_cents, expected_savings);
        assert_eq!(
            (preview.cost_to_date_cents, preview.savings_cents),
            (statement.cost_to_date_cents, expected_savings)
        );
        println!(
            "{name}: sample {sample}: inputs loaded through the API in {:.1} s; preview {:.2} s, settle {:.2} s; \
             peak RSS while previewing and settling {} MiB",
            loaded.as_secs_f64(),
            previews[sample].as_secs_f64(),
            settles[sample].as_secs_f64(),
            peaks[sample] / 1024,
        );
    }
    let mean = |times: &[Duration]| times.iter().map(Duration::as_secs_f64).sum::<f64>() / times.len() as f64;
    println!("{name}: baseline {baseline:.3} s to read {} rows and record them taken", entries + savings);
    println!(
        "{name}: SettlePeriod of {entries} hour entries + {savings} savings records: {:.2} s = {:.1} x baseline",
        mean(&settles),
        mean(&settles) / baseline
    );
    println!(
        "{name}: PreviewSettlement of the same: {:.2} s = {:.1} x baseline",
        mean(&previews),
        mean(&previews) / baseline
    );
}

/// Resets the process's peak resident set to its current size (Linux: `/proc/self/clear_refs`),
/// so the next reading of `VmHWM` is the peak of what follows.
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

/// The process's peak resident set (`VmHWM`), in KiB: the server's, with this benchmark's
/// client, which holds one statement at a time.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    println!("settle_period benchmark on {} cores", std::thread::available_parallelism().map_or(0, usize::from));
    run("sqlite", Database::sqlite()).await;
    match postgres_admin_url() {
        Some(admin) => run("postgresql", Database::postgres(admin)).await,
        None => println!("postgresql: skipped (set FLEXSETTLE_BENCH_DATABASE_URL)"),
    }
}
