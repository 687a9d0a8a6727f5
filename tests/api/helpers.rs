//! Test harness: fresh databases, a server per test, and the macro that runs a test on both
//! backends.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Once;

use flexsettle::auth::{DevKeyPair, TokenRequest, mint};
use flexsettle::configuration::{AuthSettings, Settings};
use flexsettle::domain::{Principal, Role};
use flexsettle::grpc::api;
use flexsettle::grpc::api::contract_service_client::ContractServiceClient;
use flexsettle::grpc::api::hours_service_client::HoursServiceClient;
use flexsettle::grpc::api::pool_service_client::PoolServiceClient;
use flexsettle::grpc::api::savings_service_client::SavingsServiceClient;
use flexsettle::startup::Application;
use flexsettle::storage::{AnyConnection, Store, audit};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The variable that points the tests at a PostgreSQL server (any database on it; each test
/// creates and drops its own).
pub const POSTGRES_URL_VAR: &str = "FLEXSETTLE_TEST_DATABASE_URL";

/// Runs the test body once per backend: `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both_backends {
    ($(#[$meta:meta])* async fn $name:ident($app:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports, reason = "each test body uses a different part of the prelude")]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $app = crate::helpers::TestApp::spawn(crate::helpers::Backend::Sqlite).await;
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !crate::helpers::postgres_configured() {
                    return;
                }
                let $app = crate::helpers::TestApp::spawn(crate::helpers::Backend::Postgres).await;
                $body
            }
        }
    };
}

/// Runs each `async fn(Backend)` on SQLite and, when PostgreSQL is configured, on PostgreSQL.
macro_rules! on_both {
    ($($name:ident),*) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if crate::helpers::postgres_configured() {
                        super::$name(crate::helpers::Backend::Postgres).await;
                    }
                }
            }
        )*
    };
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// True when PostgreSQL tests should run. In CI (`CI` set) the variable is required: a
/// PostgreSQL run that silently did not happen would be a lie.
pub fn postgres_configured() -> bool {
    let configured = std::env::var(POSTGRES_URL_VAR).is_ok_and(|url| !url.is_empty());
    if !configured {
        assert!(
            std::env::var("CI").is_err(),
            "{POSTGRES_URL_VAR} must be set in CI: the suite must run on PostgreSQL too"
        );
        static WARN: Once = Once::new();
        WARN.call_once(|| eprintln!("PostgreSQL tests skipped: {POSTGRES_URL_VAR} is not set"));
    }
    configured
}

/// A database of its own for one test; dropped with the test.
pub enum TestDatabase {
    Sqlite { _dir: tempfile::TempDir, path: String },
    Postgres { admin_url: String, name: String, url: String },
}

impl TestDatabase {
    pub fn create(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary folder");
                let path = dir.path().join("flexsettle.db").to_string_lossy().into_owned();
                TestDatabase::Sqlite { _dir: dir, path }
            }
            Backend::Postgres => {
                use diesel::{Connection, RunQueryDsl};
                let admin_url = std::env::var(POSTGRES_URL_VAR).expect("PostgreSQL URL");
                let name = format!("flexsettle_test_{}", uuid::Uuid::now_v7().simple());
                let mut admin = diesel::PgConnection::establish(&admin_url)
                    .unwrap_or_else(|error| panic!("PostgreSQL at {POSTGRES_URL_VAR} is unreachable: {error}"));
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).expect("create database");
                let mut url = url::Url::parse(&admin_url).expect("PostgreSQL URL parses");
                url.set_path(&format!("/{name}"));
                TestDatabase::Postgres { admin_url, name, url: url.to_string() }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { path, .. } => path,
            TestDatabase::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name, .. } = self {
            use diesel::{Connection, RunQueryDsl};
            // Best effort: a database left behind is only clutter.
            if let Ok(mut admin) = diesel::PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
            }
        }
    }
}

/// Settings of a test server on `database_url`, listening on a free port.
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings {
        listen_addr: "127.0.0.1:0".parse().expect("address"),
        database_url: database_url.to_owned(),
        ..Settings::default()
    };
    settings.database.max_connections = 4;
    settings
}

/// Adds a bearer token to every call of a client.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    /// Sends this `authorization` value, or none.
    pub fn new(value: Option<MetadataValue<Ascii>>) -> Bearer {
        Bearer(value)
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// An hours-service client that sends a token of its own.
pub type HoursClient = HoursServiceClient<InterceptedService<Channel, Bearer>>;

/// A pool-service client that sends a token of its own.
pub type PoolClient = PoolServiceClient<InterceptedService<Channel, Bearer>>;

/// A savings-service client that sends a token of its own.
pub type SavingsClient = SavingsServiceClient<InterceptedService<Channel, Bearer>>;

/// A contract-service client that sends a token of its own.
pub type ContractClient = ContractServiceClient<InterceptedService<Channel, Bearer>>;

/// The principal the harness acts as for a role.
pub fn principal(role: Role) -> Principal {
    Principal { subject: format!("test-{}", role.label()), role }
}

/// A running server on its own database, and clients of it.
pub struct TestApp {
    pub backend: Backend,
    pub address: String,
    pub settings: Settings,
    /// A client acting as the admin.
    pub contracts: ContractClient,
    pub store: Store,
    _stop: tokio::sync::oneshot::Sender<()>,
    _data_dir: tempfile::TempDir,
    // Dropped last: the server's pool must not outlive its database.
    _database: TestDatabase,
}

/// A second in-process server beside a [`TestApp`]; it stops when dropped.
pub struct Replica {
    pub address: String,
    pub settings: Settings,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Replica {
    /// An hours client acting as the test principal of `role`.
    pub fn hours_as(&self, role: Role) -> HoursClient {
        let token = dev_token_for(&self.settings.data_dir, &self.settings.auth, principal(role));
        let value = format!("Bearer {token}").parse().expect("header value");
        HoursServiceClient::with_interceptor(lazy_channel(&self.address), Bearer(Some(value)))
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, |_| {}).await
    }

    /// A server whose settings `configure` adjusts first.
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let database = tokio::task::spawn_blocking(move || TestDatabase::create(backend)).await.expect("database");
        let data_dir = tempfile::tempdir().expect("data folder");
        let mut settings = test_settings(database.url());
        settings.data_dir = data_dir.path().to_path_buf();
        configure(&mut settings);
        let app = Application::build(&settings).await.expect("application builds");
        let address = format!("http://{}", app.local_addr());
        let store = app.store().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        let mut app = TestApp {
            backend,
            address: address.clone(),
            settings,
            contracts: ContractServiceClient::with_interceptor(lazy_channel(&address), Bearer(None)),
            store,
            _stop: stop,
            _data_dir: data_dir,
            _database: database,
        };
        // Servers configured with keys of their own have no development key to sign with.
        if DevKeyPair::in_dir(&app.settings.data_dir).private_key.exists() {
            app.contracts = app.client_as(Role::Admin);
        }
        app
    }

    /// A second server over this one's database and data folder (so the same tokens work),
    /// with the settings `configure` adjusts.
    pub async fn replica_with(&self, configure: impl FnOnce(&mut Settings)) -> Replica {
        let mut settings = self.settings.clone();
        configure(&mut settings);
        let app = Application::build(&settings).await.expect("application builds");
        let address = format!("http://{}", app.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Replica { address, settings, _stop: stop }
    }

    /// A token of the test principal of `role`, signed with the server's development key.
    pub fn token(&self, role: Role) -> String {
        self.token_for(principal(role))
    }

    /// A token naming `principal`, signed with the server's development key.
    pub fn token_for(&self, principal: Principal) -> String {
        dev_token_for(&self.settings.data_dir, &self.settings.auth, principal)
    }

    /// An hours client acting as the test principal of `role`.
    pub fn hours_as(&self, role: Role) -> HoursClient {
        self.hours_as_principal(principal(role))
    }

    /// An hours client acting as `principal`.
    pub fn hours_as_principal(&self, principal: Principal) -> HoursClient {
        let token = self.token_for(principal);
        let value = format!("Bearer {token}").parse().expect("header value");
        HoursServiceClient::with_interceptor(lazy_channel(&self.address), Bearer(Some(value)))
    }

    /// A pool client acting as the test principal of `role`.
    pub fn pool_as(&self, role: Role) -> PoolClient {
        let token = self.token(role);
        let value = format!("Bearer {token}").parse().expect("header value");
        PoolServiceClient::with_interceptor(lazy_channel(&self.address), Bearer(Some(value)))
    }

    /// A savings client acting as the test principal of `role`.
    pub fn savings_as(&self, role: Role) -> SavingsClient {
        self.savings_as_principal(principal(role))
    }

    /// A savings client acting as `principal`.
    pub fn savings_as_principal(&self, principal: Principal) -> SavingsClient {
        let token = self.token_for(principal);
        let value = format!("Bearer {token}").parse().expect("header value");
        SavingsServiceClient::with_interceptor(lazy_channel(&self.address), Bearer(Some(value)))
    }

    /// A client acting as the test principal of `role`.
    pub fn client_as(&self, role: Role) -> ContractClient {
        let token = self.token(role);
        self.client_with_authorization(Some(&format!("Bearer {token}")))
    }

    /// A client that sends this `authorization` header (or none).
    pub fn client_with_authorization(&self, authorization: Option<&str>) -> ContractClient {
        client(&self.address, authorization)
    }

    /// A channel to the server that connects on first use.
    pub fn channel_lazy(&self) -> Channel {
        lazy_channel(&self.address)
    }

    /// A new channel to the server.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.address.clone()).expect("address").connect().await.expect("channel connects")
    }

    /// The number of audit entries.
    pub async fn audit_size(&self) -> i64 {
        self.store.read(audit::size).await.expect("audit size")
    }

    /// Every audit entry, in order.
    pub async fn audit_entries(&self) -> Vec<flexsettle::domain::audit::AuditEntry> {
        self.store.read(|connection| audit::entries_after(connection, 0, 10_000)).await.expect("audit entries")
    }

    /// Runs raw SQL on a connection of the server's database.
    pub async fn execute_sql(&self, sql: impl Into<String>) -> diesel::QueryResult<usize> {
        let sql = sql.into();
        self.store
            .read(move |connection: &mut AnyConnection| {
                use diesel::RunQueryDsl;
                Ok(diesel::sql_query(sql).execute(connection))
            })
            .await
            .expect("connection")
    }

    pub async fn create_contract(&self, request: api::CreateContractRequest) -> Result<api::Contract, tonic::Status> {
        self.contracts.clone().create_contract(request).await.map(tonic::Response::into_inner)
    }

    pub async fn all_contracts(&self) -> Vec<api::Contract> {
        all_contracts(&mut self.contracts.clone()).await
    }
}

/// Every contract a client may see, through all pages.
pub async fn all_contracts(client: &mut ContractClient) -> Vec<api::Contract> {
    let mut contracts = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_contracts(api::ListContractsRequest { page_size: 500, page_token })
            .await
            .expect("list contracts")
            .into_inner();
        contracts.extend(page.contracts);
        if page.next_page_token.is_empty() {
            return contracts;
        }
        page_token = page.next_page_token;
    }
}

/// A token of the test principal of `role`, signed with the development key in `data_dir`.
pub fn dev_token(data_dir: &std::path::Path, auth: &AuthSettings, role: Role) -> String {
    dev_token_for(data_dir, auth, principal(role))
}

/// A token naming `principal`, signed with the development key in `data_dir`.
pub fn dev_token_for(data_dir: &std::path::Path, auth: &AuthSettings, principal: Principal) -> String {
    let key = std::fs::read(DevKeyPair::in_dir(data_dir).private_key).expect("development key");
    let request = TokenRequest {
        principal,
        issuer: auth.issuer.clone(),
        audience: auth.audience.clone(),
        issued_at_s: chrono::Utc::now().timestamp(),
        ttl_s: 600,
    };
    mint(&key, &request).expect("token")
}

/// A client of `address` that sends this `authorization` header (or none).
pub fn client(address: &str, authorization: Option<&str>) -> ContractClient {
    let value = authorization.map(|text| text.parse().expect("header value"));
    ContractServiceClient::with_interceptor(lazy_channel(address), Bearer(value))
}

fn lazy_channel(address: &str) -> Channel {
    Channel::from_shared(address.to_owned()).expect("address").connect_lazy()
}

pub fn date(year: i32, month: i32, day: i32) -> Option<flexsettle::grpc::proto::google::r#type::Date> {
    Some(flexsettle::grpc::proto::google::r#type::Date { year, month, day })
}

/// The contract of DESIGN.md's worked example.
pub fn worked_example_contract() -> api::Contract {
    api::Contract {
        gemeente: "GM0344".to_owned(),
        display_name: "Utrecht flexpool 2027".to_owned(),
        start_date: date(2027, 1, 1),
        term_months: 12,
        extension_option_months: 12,
        settlement_period_months: 1,
        intake_window_months: 3,
        service_fee_per_period_cents: 125_000,
        minimum_intake_per_window: 30,
        risk_shift_mode: api::RiskShiftMode::Full.into(),
        composition_target: Some(api::CompositionTarget { arrangement_1_percent: 15, arrangement_3_percent: 85 }),
        ..api::Contract::default()
    }
}

/// The worked example's terms on a contract of 2025, so every work date is in the past.
pub fn past_contract() -> api::Contract {
    api::Contract { start_date: date(2025, 1, 1), ..worked_example_contract() }
}

/// A civil date on the wire.
pub fn naive_date(date: chrono::NaiveDate) -> Option<flexsettle::grpc::proto::google::r#type::Date> {
    use chrono::Datelike;
    let month = i32::try_from(date.month()).expect("month");
    let day = i32::try_from(date.day()).expect("day");
    self::date(date.year(), month, day)
}

pub fn create_contract_request(request_id: &str, contract_id: &str) -> api::CreateContractRequest {
    api::CreateContractRequest {
        request_id: request_id.to_owned(),
        contract_id: contract_id.to_owned(),
        contract: Some(worked_example_contract()),
    }
}

/// The fields named by the `BadRequest` detail of a status.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .expect("a BadRequest detail")
        .field_violations
        .into_iter()
        .map(|violation| violation.field)
        .collect()
}

/// A `flexsettle serve` child process on `database_url` and port 0.
pub struct ServerProcess {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:{port}`.
    pub address: String,
}

impl ServerProcess {
    /// Starts the binary and waits until it listens.
    pub fn start(database_url: &str, data_dir: &std::path::Path) -> ServerProcess {
        ServerProcess::start_with(database_url, data_dir, &[])
    }

    /// Starts the binary with extra `FLEXSETTLE_*` settings and waits until it listens.
    pub fn start_with(database_url: &str, data_dir: &std::path::Path, settings: &[(&str, &str)]) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flexsettle"))
            .arg("serve")
            .env("FLEXSETTLE_LISTEN_ADDR", "127.0.0.1:0")
            .env("FLEXSETTLE_DATABASE_URL", database_url)
            .env("FLEXSETTLE_DATA_DIR", data_dir)
            .env("FLEXSETTLE_LOG__FORMAT", "json")
            .env("FLEXSETTLE_LOG__FILTER", "info")
            .envs(settings.iter().copied())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        // The server logs `listening` with its address once it is bound; read up to it.
        let address = loop {
            let line = lines.next().expect("the server logged `listening` before exiting").expect("a log line");
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if event["message"] == "listening" {
                break format!("http://{}", event["address"].as_str().expect("an address field"));
            }
        };
        // Keep draining the log so the server never blocks on a full pipe; its lines join the
        // test's own output (shown when the test fails): what a server that crashed said last.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(|line| eprintln!("server: {line}")));
        ServerProcess { child, address }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill runs");
        assert!(status.success());
    }
}

impl Drop for ServerProcess {
    /// A test that fails half-way leaves no server behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Another transaction holding the audit counter's row of the PostgreSQL database at `url`,
/// so that every write of the service waits for it; it ends when this is released or dropped.
pub struct AuditCounterHeld {
    release: Option<std::sync::mpsc::Sender<()>>,
    holder: Option<std::thread::JoinHandle<()>>,
}

impl AuditCounterHeld {
    /// Takes the row and returns once it is held.
    pub fn take(url: &str) -> AuditCounterHeld {
        use diesel::{Connection, RunQueryDsl};
        let url = url.to_owned();
        let (locked, locked_rx) = std::sync::mpsc::channel::<()>();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let mut connection = diesel::PgConnection::establish(&url).expect("a connection");
            connection
                .transaction::<_, diesel::result::Error, _>(|connection| {
                    diesel::sql_query("SELECT last_value FROM sequences WHERE name = 'audit_log' FOR UPDATE")
                        .execute(connection)?;
                    locked.send(()).expect("the test waits");
                    let _ = release_rx.recv();
                    Ok(())
                })
                .expect("the holding transaction");
        });
        locked_rx.recv().expect("the row is taken");
        AuditCounterHeld { release: Some(release), holder: Some(holder) }
    }

    /// Ends the holding transaction and waits for it.
    pub fn release(mut self) {
        self.end();
    }

    fn end(&mut self) {
        drop(self.release.take());
        if let Some(holder) = self.holder.take() {
            let _ = holder.join();
        }
    }
}

impl Drop for AuditCounterHeld {
    fn drop(&mut self) {
        self.end();
    }
}

/// A small deterministic generator (xorshift64*): a seed always gives the same sequence.
pub struct Random(pub u64);

impl Random {
    /// A number below `bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}
