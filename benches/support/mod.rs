//! What the benchmarks share: a fresh database per run (a SQLite file, or a new PostgreSQL
//! database dropped afterwards), a raw connection for baselines, and a service on port 0 with
//! tokens for every role.

use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};
use flexsettle::auth::{DevKeyPair, TokenRequest, mint};
use flexsettle::configuration::Settings;
use flexsettle::domain::{Principal, Role};
use flexsettle::grpc::api;
use flexsettle::grpc::api::contract_service_client::ContractServiceClient;
use flexsettle::grpc::proto::google::r#type::Date;
use flexsettle::startup::Application;
use flexsettle::storage::AnyConnection;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A count from the environment, or `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// The PostgreSQL server to measure, if one is named.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("FLEXSETTLE_BENCH_DATABASE_URL").or_else(|_| std::env::var("FLEXSETTLE_TEST_DATABASE_URL")).ok()
}

/// A fresh database: a SQLite file in a temporary folder, or new PostgreSQL databases (one per
/// suffix), dropped at the end.
pub enum Database {
    /// SQLite files in this folder.
    Sqlite(tempfile::TempDir),
    /// Databases `{name}_{suffix}` on the server at `admin`.
    Postgres { admin: String, name: String, created: std::cell::RefCell<Vec<String>> },
}

impl Database {
    /// A new SQLite folder.
    pub fn sqlite() -> Database {
        Database::Sqlite(tempfile::tempdir().unwrap())
    }

    /// New databases on the PostgreSQL server at `admin`.
    pub fn postgres(admin: String) -> Database {
        let name = format!("flexsettle_bench_{}", uuid::Uuid::now_v7().simple());
        Database::Postgres { admin, name, created: std::cell::RefCell::default() }
    }

    /// The URL of the database `suffix`.
    pub fn url(&self, suffix: &str) -> String {
        match self {
            Database::Sqlite(dir) => dir.path().join(format!("{suffix}.db")).to_string_lossy().into_owned(),
            Database::Postgres { admin, name, .. } => {
                let mut url = url::Url::parse(admin).unwrap();
                url.set_path(&format!("/{name}_{suffix}"));
                url.to_string()
            }
        }
    }

    /// Creates the database `suffix` (a SQLite file creates itself) and gives its URL.
    pub fn create(&self, suffix: &str) -> String {
        if let Database::Postgres { admin, name, created } = self {
            let mut connection = diesel::PgConnection::establish(admin).unwrap();
            diesel::sql_query(format!("CREATE DATABASE {name}_{suffix}")).execute(&mut connection).unwrap();
            created.borrow_mut().push(format!("{name}_{suffix}"));
        }
        self.url(suffix)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Database::Postgres { admin, created, .. } = self
            && let Ok(mut connection) = diesel::PgConnection::establish(admin)
        {
            for database in created.borrow().iter() {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                    .execute(&mut connection);
            }
        }
    }
}

/// A raw connection with the service's durability settings, for a baseline.
pub fn raw_connection(url: &str) -> AnyConnection {
    if url.starts_with("postgres") {
        AnyConnection::Postgresql(diesel::PgConnection::establish(url).unwrap())
    } else {
        let mut sqlite = diesel::SqliteConnection::establish(url).unwrap();
        sqlite
            .batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .unwrap();
        AnyConnection::Sqlite(sqlite)
    }
}

/// Adds a bearer token to every request.
pub type Authorized = InterceptedService<Channel, Bearer>;

/// An interceptor that sends one bearer token.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A service on port 0 over one database.
pub struct Server {
    /// `http://127.0.0.1:{port}`.
    pub address: String,
    settings: Settings,
    key: Vec<u8>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _data: tempfile::TempDir,
}

impl Server {
    /// Starts a service on `database_url`.
    pub async fn start(database_url: String) -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut settings =
            Settings { listen_addr: "127.0.0.1:0".parse().unwrap(), database_url, ..Settings::default() };
        settings.data_dir = data.path().to_path_buf();
        settings.log.filter = "warn".to_owned();
        let app = Application::build(&settings).await.unwrap();
        let address = format!("http://{}", app.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        let key = std::fs::read(DevKeyPair::in_dir(data.path()).private_key).unwrap();
        Server { address, settings, key, _stop: stop, _data: data }
    }

    /// A channel with a token of `role` (its subject is the role's label, so two roles are two
    /// principals).
    pub async fn channel(&self, role: Role) -> Authorized {
        let request = TokenRequest {
            principal: Principal { subject: format!("bench-{}", role.label()), role },
            issuer: self.settings.auth.issuer.clone(),
            audience: self.settings.auth.audience.clone(),
            issued_at_s: chrono::Utc::now().timestamp(),
            ttl_s: 3_600,
        };
        let bearer = Bearer(format!("Bearer {}", mint(&self.key, &request).unwrap()).parse().unwrap());
        let channel = Channel::from_shared(self.address.clone()).unwrap().connect().await.unwrap();
        InterceptedService::new(channel, bearer)
    }

    /// Creates contract `id` of GM0344 from `start` (monthly periods, 3-month windows) with
    /// `intercedents` intercedents `int-0`, `int-1`, … at 48.75 an hour.
    pub async fn create_contract(&self, id: &str, start: Date, intercedents: usize) {
        let mut contracts = ContractServiceClient::new(self.channel(Role::Admin).await);
        let contract = api::Contract {
            gemeente: "GM0344".to_owned(),
            display_name: "Benchmark".to_owned(),
            start_date: Some(start),
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
                request_id: format!("contract-{id}"),
                contract_id: id.to_owned(),
                contract: Some(contract),
            })
            .await
            .unwrap();
        for n in 0..intercedents {
            contracts
                .create_intercedent(api::CreateIntercedentRequest {
                    request_id: format!("intercedent-{id}-{n}"),
                    parent: format!("contracts/{id}"),
                    intercedent_id: format!("int-{n}"),
                    intercedent: Some(api::Intercedent {
                        hourly_rates: vec![api::HourlyRate {
                            effective_date: Some(start),
                            rate_per_hour_cents: 4875,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                })
                .await
                .unwrap();
        }
    }
}

/// Line `n` of benchmark client `client` on a contract with `intercedents` intercedents: one
/// minute on a day of 2025. Like a timesheet, a client's consecutive lines name consecutive days
/// of one intercedent, then of the next: each client starts 64 intercedents after the one before
/// it, so with enough intercedents every day of an intercedent carries one line or a few (a day
/// holding hundreds of lines would make the check of its total read them all, which no
/// timesheet asks for).
pub fn hour_line(client: usize, n: usize, intercedents: usize) -> api::HourLine {
    let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new((n % 365) as u64);
    api::HourLine {
        intercedent_id: format!("int-{}", (client * 64 + n / 365) % intercedents.max(1)),
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
