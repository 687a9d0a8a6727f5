//! Benchmark of the auditors' log, each figure next to a baseline measured in the same run:
//!
//! 1. `audit verify` throughput: entries verified per second (decode, leaf hash, tree, statement
//!    check) against raw SHA-256 over the same bytes, one hash per export line (goal ≥ 0.5×);
//! 2. inclusion-proof latency at 1,000,000 entries, as the server spends it (goal < 1 ms), on
//!    SQLite and PostgreSQL, and how fast the integrator builds that tree;
//! 3. how far integration lags the writes while single-line `SubmitHours` calls run (goal < 2 s).
//!
//! Run: `cargo bench --bench audit_log` (sizes: `BENCH_VERIFY_ENTRIES`, `BENCH_TREE_ENTRIES`,
//! `BENCH_INGEST_CALLS`; PostgreSQL with `FLEXSETTLE_BENCH_DATABASE_URL`).

#![expect(clippy::unwrap_used, clippy::print_stdout, reason = "a benchmark program")]
#![expect(clippy::float_arithmetic, reason = "a benchmark program: rates are ratios, not money")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use flexsettle::audit_tool;
use flexsettle::domain::Role;
use flexsettle::domain::audit::AuditEntry;
use flexsettle::domain::tlog::{self, Checkpoint, NoteSigner};
use flexsettle::grpc::api;
use flexsettle::grpc::api::hours_service_client::HoursServiceClient;
use flexsettle::grpc::proto::google::r#type::Date;
use flexsettle::service::{AuditLogService, Clock, LogIdentity};
use flexsettle::storage::{PoolOptions, Store, Target};
use sha2::Digest;
use support::{Database, Server, env_count, postgres_admin_url};

mod support;

/// Intercedents of the benchmark contract: enough that a day of one carries a line or a few.
const INTERCEDENTS: usize = 512;

const ORIGIN: &str = "bench.example/flexsettle/audit";

fn entry(seq: i64) -> AuditEntry {
    AuditEntry {
        seq,
        recorded_at: "2027-02-01T09:30:00.000250Z".parse().unwrap(),
        principal_subject: "billing-system".to_owned(),
        principal_role: "billing".to_owned(),
        action: "hours.submit".to_owned(),
        resource: format!("contracts/utrecht/hourEntries/line-{seq}"),
        request_id: format!("0193a1c2-5f7e-7c1a-9a3b-{seq:012}"),
        payload: format!(
            r#"[{{"contract_id":"utrecht","id":"line-{seq}","intercedent":"int-7","kind":"WORK","minutes":480,"note":"","period_start":"2027-01-01","state":"SUBMITTED","submitted_by":"billing-system","work_date":"2027-01-14"}}]"#
        ),
    }
}

/// Figure 1: verify throughput against raw SHA-256 over the same bytes.
fn verify_throughput() {
    let count = env_count("BENCH_VERIFY_ENTRIES", 300_000);
    let entries: Vec<AuditEntry> = (1..=i64::try_from(count).unwrap()).map(entry).collect();
    let leaves: Vec<tlog::Hash> = entries.iter().map(|entry| tlog::leaf_hash(&entry.leaf())).collect();
    let signer = NoteSigner::new(ORIGIN, &[7; 32]).unwrap();
    let body =
        Checkpoint { origin: ORIGIN.to_owned(), size: count as u64, root: tlog::root_from_leaf_hashes(&leaves) }.body();
    let note = signer.sign(&body).unwrap();
    let mut export = Vec::new();
    audit_tool::write_export(&mut export, &note, entries.into_iter().zip(leaves.into_iter().map(Some))).unwrap();
    let verifier = signer.verifier();
    let lines: Vec<&[u8]> = export.split(|byte| *byte == b'\n').skip(1).filter(|line| !line.is_empty()).collect();

    let started = Instant::now();
    let mut digest = 0_u8;
    for line in &lines {
        digest ^= sha2::Sha256::digest(line)[0];
    }
    let baseline = count as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let verified = audit_tool::verify_export(&export, &verifier, None).unwrap();
    let rate = count as f64 / started.elapsed().as_secs_f64();
    assert_eq!(verified.entries, count as u64);
    println!(
        "verify: {count} entries ({:.0} bytes a line): raw SHA-256 {baseline:>10.0} lines/s (x{digest:02x}); \
         audit verify {rate:>10.0} entries/s = {:.2} x baseline",
        export.len() as f64 / count as f64,
        rate / baseline
    );
}

/// Appends entries `from..=to` to the log directly (the integrator cannot tell).
fn append_raw(store_url: &str, postgres: bool, from: u64, to: u64) {
    let time = if postgres { "TIMESTAMP '2027-01-01 10:00:00'" } else { "'2027-01-01 10:00:00'" };
    let mut connection = support::raw_connection(store_url);
    diesel::sql_query(format!(
        "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {to}) \
         INSERT INTO audit_log (seq, recorded_at, principal_subject, principal_role, action, resource, request_id, payload) \
         SELECT i, {time}, 'billing-system', 'billing', 'hours.submit', 'contracts/utrecht/hourEntries/line-' || i, \
         'request-' || i, '[{{\"id\":\"line-' || i || '\",\"minutes\":480,\"work_date\":\"2027-01-14\"}}]' FROM n"
    ))
    .execute(&mut connection)
    .unwrap();
}

/// Figure 2: inclusion-proof latency at a million entries, and the integrator's build rate.
async fn proof_latency(name: &str, database: &Database, postgres: bool) {
    let count = env_count("BENCH_TREE_ENTRIES", 1_000_000) as u64;
    let url = database.create("tree");
    let options = PoolOptions {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(30),
        sqlite_busy_timeout: Duration::from_secs(10),
        min_idle_connections: 1,
        batching: flexsettle::storage::Batching::default(),
        contract_cache_ttl: Duration::ZERO,
    };
    let target = Target::parse(&url).unwrap();
    let store = tokio::task::block_in_place(|| Store::open(target, options)).unwrap();
    store.migrate().await.unwrap();
    let chunk = 100_000;
    let mut from = 1;
    while from <= count {
        let to = (from + chunk - 1).min(count);
        let url = url.clone();
        tokio::task::block_in_place(|| append_raw(&url, postgres, from, to));
        from = to + 1;
    }
    let identity = Arc::new(LogIdentity::new(ORIGIN, &[9; 32]).unwrap());
    let log = AuditLogService::new(store.clone(), identity, Clock::System);
    let started = Instant::now();
    let checkpoint = log.integrate().await.unwrap().unwrap();
    let integrated = started.elapsed().as_secs_f64();
    assert_eq!(checkpoint.tree_size, count);
    let size = Some(i64::try_from(count).unwrap());
    let mut latencies = Vec::new();
    let mut state = 0x5EED_u64;
    for _ in 0..2_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let seq = 1 + i64::try_from(state % count).unwrap();
        let started = Instant::now();
        let proven = log.inclusion_proof(seq, size).await.unwrap();
        latencies.push(started.elapsed());
        assert!(!proven.proof.is_empty());
    }
    latencies.sort_unstable();
    let at = |quantile: f64| latencies[((latencies.len() - 1) as f64 * quantile) as usize].as_secs_f64() * 1_000.0;
    let started = Instant::now();
    for _ in 0..200 {
        log.latest_checkpoint().await.unwrap();
    }
    let latest = started.elapsed().as_secs_f64() * 1_000.0 / 200.0;
    println!(
        "{name}: tree of {count} entries integrated in {integrated:.1} s ({:.0} entries/s); inclusion proof \
         median {:.3} ms, p99 {:.3} ms; latest checkpoint {latest:.3} ms",
        count as f64 / integrated,
        at(0.5),
        at(0.99)
    );
}

/// Figure 3: integration lag while single-line SubmitHours calls run from 8 clients.
async fn integration_lag(name: &str, database: &Database) {
    let calls = env_count("BENCH_INGEST_CALLS", 8_000);
    let url = database.create("ingest");
    let server = Server::start(url.clone()).await;
    server.create_contract("bench", Date { year: 2025, month: 1, day: 1 }, INTERCEDENTS).await;
    let target = Target::parse(&url).unwrap();
    let options = PoolOptions {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(30),
        sqlite_busy_timeout: Duration::from_secs(10),
        min_idle_connections: 1,
        batching: flexsettle::storage::Batching::default(),
        contract_cache_ttl: Duration::ZERO,
    };
    let observer = tokio::task::block_in_place(|| Store::open(target, options)).unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut lags = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let lag = observer
                    .read(|connection| {
                        use flexsettle::storage::{audit, audit_tree};
                        let covered = audit_tree::checkpoint(connection, None)?.map_or(0, |c| c.tree_size);
                        let waiting = audit::entries_after(connection, i64::try_from(covered).unwrap_or(0), 1)?;
                        Ok(waiting.first().map(|entry| chrono::Utc::now() - entry.recorded_at))
                    })
                    .await
                    .unwrap();
                lags.push(lag.map_or(0.0, |lag| lag.as_seconds_f64()));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            lags
        })
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..8 {
        let mut hours = HoursServiceClient::new(server.channel(Role::Billing).await);
        tasks.push(tokio::spawn(async move {
            for n in 0..calls / 8 {
                let line = support::hour_line(client, n, INTERCEDENTS);
                let request = api::SubmitHoursRequest {
                    request_id: format!("c{client}-{n}"),
                    parent: "contracts/bench".to_owned(),
                    entries: vec![line],
                };
                hours.submit_hours(request).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rate = (calls / 8 * 8) as f64 / started.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut lags = sampler.await.unwrap();
    lags.sort_by(f64::total_cmp);
    println!(
        "{name}: integration lag under {rate:.0} single-line calls/s: median {:.2} s, max {:.2} s ({} samples; \
         checkpoint interval 1 s)",
        lags[lags.len() / 2],
        lags[lags.len() - 1],
        lags.len()
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    println!("audit log benchmark on {} cores", std::thread::available_parallelism().map_or(0, usize::from));
    tokio::task::block_in_place(verify_throughput);
    let sqlite = Database::sqlite();
    proof_latency("sqlite", &sqlite, false).await;
    integration_lag("sqlite", &sqlite).await;
    match postgres_admin_url() {
        Some(admin) => {
            let postgres = Database::postgres(admin);
            proof_latency("postgresql", &postgres, true).await;
            integration_lag("postgresql", &postgres).await;
        }
        None => println!("postgresql: skipped (set FLEXSETTLE_BENCH_DATABASE_URL)"),
    }
}
