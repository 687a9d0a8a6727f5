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
use diesel::{Connection, RunQueryDsl};
use flexsettle::auth::{DevKeyPair, TokenRequest, mint};
use flexsettle::configuration::Settings;
use flexsettle::domain::{Principal, Role};
use flexsettle::grpc::api;
use flexsettle::grpc::api::contract_service_client::ContractServiceClient;
use flexsettle::grpc::api::hours_service_client::HoursServiceClient;
use flexsettle::grpc::proto::google::r#type::Date;
use flexsettle::startup::Application;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

/// Concurrent clients, as in the hours concurrency test.
const CLIENTS: usize = 8;
/// Lines per batch call.
const BATCH_LINES: usize = 500;

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// A fresh database: a SQLite file in a temporary folder, or a new PostgreSQL database.
enum Database {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, name: String },
}

impl Database {
    fn url(&self, suffix: &str) -> String {
        match self {
            Database::Sqlite(dir) => dir.path().join(format!("{suffix}.db")).to_string_lossy().into_owned(),
            Database::Postgres { admin, name } => {
                let mut url = url::Url::parse(admin).unwrap();
                url.set_path(&format!("/{name}_{suffix}"));
                url.to_string()
            }
        }
    }

    fn create(&self, suffix: &str) {
        if let Database::Postgres { admin, name } = self {
            let mut connection = diesel::PgConnection::establish(admin).unwrap();
            diesel::sql_query(format!("CREATE DATABASE {name}_{suffix}")).execute(&mut connection).unwrap();
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Database::Postgres { admin, name } = self
            && let Ok(mut connection) = diesel::PgConnection::establish(admin)
        {
            for suffix in ["baseline", "service"] {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}_{suffix} WITH (FORCE)"))
                    .execute(&mut connection);
            }
        }
    }
}

/// Single-row INSERT commits per second from `clients` connections.
fn baseline_commits_per_s(database: &Database, clients: usize, commits: usize) -> f64 {
    database.create("baseline");
    let url = database.url("baseline");
    let setup = |url: &str| -> flexsettle::storage::AnyConnection {
        if url.starts_with("postgres") {
            flexsettle::storage::AnyConnection::Postgresql(diesel::PgConnection::establish(url).unwrap())
        } else {
            let mut sqlite = diesel::SqliteConnection::establish(url).unwrap();
            sqlite
                .batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
                .unwrap();
            flexsettle::storage::AnyConnection::Sqlite(sqlite)
        }
    };
    setup(&url).batch_execute("CREATE TABLE baseline (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)").unwrap();
    let per_client = commits / clients;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for client in 0..clients {
            let url = url.clone();
            scope.spawn(move || {
                let mut connection = setup(&url);
                for n in 0..per_client {
                    let id = client * per_client + n;
                    connection.batch_execute(&format!("INSERT INTO baseline VALUES ({id}, 'hour line {id}')")).unwrap();
                }
            });
        }
    });
    (per_client * clients) as f64 / started.elapsed().as_secs_f64()
}

struct Server {
    address: String,
    authorization: MetadataValue<tonic::metadata::Ascii>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _data: tempfile::TempDir,
}

async fn start(database_url: String) -> Server {
    let data = tempfile::tempdir().unwrap();
    let mut settings = Settings { listen_addr: "127.0.0.1:0".parse().unwrap(), database_url, ..Settings::default() };
    settings.data_dir = data.path().to_path_buf();
    settings.log.filter = "warn".to_owned();
    let app = Application::build(&settings).await.unwrap();
    let address = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let key = std::fs::read(DevKeyPair::in_dir(data.path()).private_key).unwrap();
    let token = |role| {
        let request = TokenRequest {
            principal: Principal { subject: "bench".to_owned(), role },
            issuer: settings.auth.issuer.clone(),
            audience: settings.auth.audience.clone(),
            issued_at_s: chrono::Utc::now().timestamp(),
            ttl_s: 3_600,
        };
        format!("Bearer {}", mint(&key, &request).unwrap()).parse().unwrap()
    };
    let admin: MetadataValue<_> = token(Role::Admin);
    let channel = Channel::from_shared(address.clone()).unwrap().connect().await.unwrap();
    let mut contracts = ContractServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
        request.metadata_mut().insert("authorization", admin.clone());
        Ok(request)
    });
    let contract = api::Contract {
        gemeente: "GM0344".to_owned(),
        display_name: "Benchmark".to_owned(),
        start_date: Some(Date { year: 2025, month: 1, day: 1 }),
        term_months: 12,
        extension_option_months: 12,
        settlement_period_months: 1,
        intake_window_months: 3,
        service_fee_per_period_cents: 125_000,
        minimum_intake_per_window: 30,
        risk_shift_mode: api::RiskShiftMode::Full.into(),
        composition_target: Some(api::CompositionTarget { arrangement_1_percent: 15, arrangement_3_percent: 85 }),
        ..api::Contract::default()
    };
    contracts
        .create_contract(api::CreateContractRequest {
            request_id: "contract".to_owned(),
            contract_id: "bench".to_owned(),
            contract: Some(contract),
        })
        .await
        .unwrap();
    for client in 0..CLIENTS {
        contracts
            .create_intercedent(api::CreateIntercedentRequest {
                request_id: format!("intercedent-{client}"),
                parent: "contracts/bench".to_owned(),
                intercedent_id: format!("int-{client}"),
                intercedent: Some(api::Intercedent {
                    hourly_rates: vec![api::HourlyRate {
                        effective_date: Some(Date { year: 2025, month: 1, day: 1 }),
                        rate_per_hour_cents: 4875,
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            })
            .await
            .unwrap();
    }
    Server { address, authorization: token(Role::Billing), _stop: stop, _data: data }
}

fn line(client: usize, n: usize) -> api::HourLine {
    let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new((n % 365) as u64);
    api::HourLine {
        intercedent_id: format!("int-{client}"),
        work_date: Some(Date {
            year: chrono::Datelike::year(&day),
            month: chrono::Datelike::month(&day) as i32,
            day: chrono::Datelike::day(&day) as i32,
        }),
        kind: api::TimeKind::Work.into(),
        minutes: 1,
        line_reference: format!("c{client}-{n}"),
        note: String::new(),
    }
}

/// Entries per second when `CLIENTS` clients each submit `per_client` lines in calls of
/// `lines_per_call` lines; `offset` keeps line references unique between runs.
async fn submit_rate(server: &Server, per_client: usize, lines_per_call: usize, offset: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let channel = Channel::from_shared(server.address.clone()).unwrap().connect().await.unwrap();
        let authorization = server.authorization.clone();
        let mut hours = HoursServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("authorization", authorization.clone());
            Ok(request)
        });
        tasks.push(tokio::spawn(async move {
            for call in 0..per_client / lines_per_call {
                let first = offset + call * lines_per_call;
                let entries = (first..first + lines_per_call).map(|n| line(client, n)).collect();
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
    database.create("service");
    let server = start(database.url("service")).await;
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
    run("sqlite", Database::Sqlite(tempfile::tempdir().unwrap()), 1).await;
    let postgres =
        std::env::var("FLEXSETTLE_BENCH_DATABASE_URL").or_else(|_| std::env::var("FLEXSETTLE_TEST_DATABASE_URL"));
    match postgres {
        Ok(admin) => {
            let name = format!("flexsettle_bench_{}", uuid::Uuid::now_v7().simple());
            run("postgresql", Database::Postgres { admin, name }, CLIENTS).await;
        }
        Err(_) => println!("postgresql: skipped (set FLEXSETTLE_BENCH_DATABASE_URL)"),
    }
}
