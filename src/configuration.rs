//! Settings: built-in defaults, then an optional TOML file, then `FLEXSETTLE_*` environment
//! variables (nested keys with `__`, e.g. `FLEXSETTLE_LIMITS__REQUEST_TIMEOUT_MS`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::storage::{PoolOptions, Target};

/// The TOML file read when no `--config` is given (if it exists).
pub const DEFAULT_CONFIG_FILE: &str = "flexsettle.toml";
/// Prefix of the environment variables that override settings.
pub const ENV_PREFIX: &str = "FLEXSETTLE_";

/// Everything the service can be told at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub listen_addr: SocketAddr,
    /// A second, plain-text listener that serves nothing but the gRPC health service, for
    /// probes that cannot speak the API's TLS (the kubelet's gRPC probe). Off when unset.
    pub health_listen_addr: Option<SocketAddr>,
    /// A SQLite file path (optionally `sqlite://PATH`) or a `postgres://` URL.
    pub database_url: String,
    /// Connection pool.
    pub database: DatabaseSettings,
    /// Limits of the server.
    pub limits: Limits,
    /// Logging.
    pub log: LogSettings,
    /// Folder of local state: the SQLite file by default, and the development token key pair.
    pub data_dir: PathBuf,
    /// Who may call.
    pub auth: AuthSettings,
    /// TLS on the wire.
    pub tls: TlsSettings,
    /// The service's clock.
    pub clock: ClockSettings,
    /// The auditors' log: its origin, signing key and checkpoints.
    pub audit: AuditSettings,
    /// Invoices (DESIGN.md §9): Flextensie's own party as the seller.
    pub invoicing: InvoicingSettings,
}

/// Invoicing: Flextensie's own party. Without a seller no invoice is issued (the refusal says
/// the seller is not configured); a seller that is configured must be whole and valid, or the
/// service does not start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct InvoicingSettings {
    /// Flextensie as the seller on its invoices.
    pub seller: Option<SellerSettings>,
}

/// Flextensie's party data, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SellerSettings {
    /// Registered name.
    pub name: String,
    /// KvK number, 8 digits.
    pub kvk: String,
    /// VAT number, e.g. `NL001234567B01`.
    pub vat_number: String,
    /// Street and number.
    pub street: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_zone: String,
    /// Country code, e.g. `NL`.
    #[serde(default = "netherlands")]
    pub country: String,
    /// IBAN that payments go to.
    pub iban: String,
    /// Days from an invoice's issue date to its due date.
    #[serde(default = "thirty_days")]
    pub payment_terms_days: u32,
}

fn netherlands() -> String {
    "NL".to_owned()
}

fn thirty_days() -> u32 {
    30
}

impl SellerSettings {
    /// The seller, checked.
    ///
    /// # Errors
    /// Every field that is not valid.
    pub fn seller(&self) -> Result<crate::domain::invoice::Seller, crate::domain::Violations> {
        use crate::domain::invoice::{
            Address, RawAddress, Seller, parse_iban, parse_kvk, parse_vat_number, required_text,
        };
        let mut v = crate::domain::Violations::new();
        let name = v.check("invoicing.seller.name", required_text(&self.name));
        let kvk = v.check("invoicing.seller.kvk", parse_kvk(&self.kvk));
        let vat_number = v.check("invoicing.seller.vat_number", parse_vat_number(&self.vat_number));
        let iban = v.check("invoicing.seller.iban", parse_iban(&self.iban));
        let raw = RawAddress {
            street: &self.street,
            city: &self.city,
            postal_zone: &self.postal_zone,
            country: &self.country,
        };
        let address = Address::parse(raw, "invoicing.seller", &mut v);
        if !(1..=365).contains(&self.payment_terms_days) {
            v.add("invoicing.seller.payment_terms_days", "must be 1 to 365");
        }
        match (name, kvk, vat_number, iban, address) {
            (Some(name), Some(kvk), Some(vat_number), Some(iban), Some(address)) if v.is_empty() => {
                Ok(Seller { name, kvk, vat_number, address, iban, payment_terms_days: self.payment_terms_days })
            }
            _ => Err(v),
        }
    }
}

/// The tamper-evident audit log (DESIGN.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// The log's origin: the first line of every checkpoint and the name of its signing key
    /// (C2SP `tlog-checkpoint`), e.g. `flextensie.nl/flexsettle/audit`. Unique per log.
    pub origin: String,
    /// A PEM (PKCS#8) Ed25519 private key that signs checkpoints. Without one, the key in the
    /// data directory (`audit-log-key.pem`) is used, made on first start and never overwritten.
    /// Every replica of one log needs the same key.
    pub signing_key_file: Option<PathBuf>,
    /// How often the integrator takes new entries into the tree and publishes a checkpoint,
    /// at most, in milliseconds.
    pub checkpoint_interval_ms: u64,
}

impl Default for AuditSettings {
    fn default() -> AuditSettings {
        AuditSettings {
            origin: "localhost/flexsettle/audit".to_owned(),
            signing_key_file: None,
            checkpoint_interval_ms: 1_000,
        }
    }
}

/// The service's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ClockSettings {
    /// A fixed instant (RFC 3339) the service takes as now, for tests and demonstrations of a
    /// contract's months; logged loudly at start. Never set in production.
    pub fixed_now: Option<chrono::DateTime<chrono::Utc>>,
}

/// Token authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Switches authentication off: every call acts as the local admin. Logged loudly at every
    /// start; never for production.
    pub disabled: bool,
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The `aud` tokens must carry.
    pub audience: String,
    /// PEM public keys (Ed25519, RSA or EC P-256) that sign tokens.
    pub public_key_files: Vec<PathBuf>,
    /// A JWKS file of keys that sign tokens.
    pub jwks_file: Option<PathBuf>,
    /// Allowed clock skew for `exp` and `nbf`, in seconds.
    pub leeway_s: u64,
    /// Trusts the local development key even when listening off loopback. Without configured
    /// keys the server refuses to start off loopback unless this is set.
    pub allow_dev_key: bool,
}

/// TLS of the gRPC listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain of the server.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the server.
    pub key_file: Option<PathBuf>,
    /// PEM CA certificates; when set, every client must present a certificate they signed
    /// (mutual TLS).
    pub client_ca_file: Option<PathBuf>,
    /// Allows plain text on an address other than loopback (behind a TLS-terminating proxy).
    pub allow_plaintext: bool,
}

impl Default for AuthSettings {
    fn default() -> AuthSettings {
        AuthSettings {
            disabled: false,
            issuer: "flexsettle-local".to_owned(),
            audience: "flexsettle".to_owned(),
            public_key_files: Vec::new(),
            jwks_file: None,
            leeway_s: 30,
            allow_dev_key: false,
        }
    }
}

/// Connection pool settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Most connections (PostgreSQL) or reader connections (SQLite; it has one writer).
    pub max_connections: u32,
    /// How long a call waits for a free connection, in milliseconds.
    pub acquire_timeout_ms: u64,
    /// How long SQLite waits for a lock, in milliseconds.
    pub sqlite_busy_timeout_ms: u64,
    /// Group commit: after the first change reaches the writer, how long it waits for more
    /// before it starts their shared transaction, in microseconds. 0 (the default) waits for
    /// nothing: changes that arrive while a transaction runs form the next one, so a lone call
    /// pays no latency and batches grow with the load. A window adds up to its length to every
    /// change's latency at low load.
    pub write_batch_window_us: u64,
    /// Group commit under load: after a transaction of several changes, how long the writer
    /// waits for more before it starts the next one, in microseconds (at least
    /// `write_batch_window_us`). A lone call after a lone call never waits, so this costs
    /// nothing at low load; under load it lets the answered callers' next calls join one
    /// transaction instead of the first of them running alone. Unset: 1,000 on PostgreSQL,
    /// where a transaction costs round trips and bigger ones pay, and 0 on SQLite, where a
    /// commit is cheap and waiting only idles the one writer (see `storage::Batching`).
    pub write_batch_busy_window_us: Option<u64>,
    /// How long a contract read by `GetContract` is remembered and served without a database
    /// read, in milliseconds; 0 reads the database every time. This process forgets a contract
    /// as soon as it changes it; another replica's change (an extension, an early end) shows
    /// here at most this long after it committed.
    pub contract_cache_ttl_ms: u64,
    /// Group commit: most changes in one transaction.
    pub write_batch_max_calls: usize,
    /// Applies pending migrations when the server starts. Off where the service runs as a
    /// role that may not change the schema (PostgreSQL in production): the tables' owner then
    /// runs `flexsettle migrate --grant-to ROLE` first.
    pub migrate_at_start: bool,
}

/// Server limits: every queue and message is bounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request or response message, in bytes.
    pub max_message_bytes: usize,
    /// Longest a call may take before it is cancelled, in milliseconds.
    pub request_timeout_ms: u64,
    /// Most calls worked on at once across all connections; more are refused at once with
    /// `RESOURCE_EXHAUSTED` (health and reflection are never limited).
    pub max_concurrent_requests: usize,
    /// Most calls of one principal worked on at once, so one caller cannot starve the others.
    pub max_concurrent_requests_per_principal: usize,
    /// How often an idle HTTP/2 connection is pinged, in milliseconds; a peer that does not
    /// answer within `keepalive_timeout_ms` is disconnected.
    pub keepalive_interval_ms: u64,
    /// How long a keepalive ping may go unanswered, in milliseconds.
    pub keepalive_timeout_ms: u64,
    /// How long a connection lives at most before the server closes it gracefully (clients
    /// reconnect), in milliseconds: no connection, idle or not, is held forever.
    pub max_connection_age_ms: u64,
    /// The largest header list a request may send, in bytes.
    pub max_header_list_bytes: u32,
    /// Most concurrent calls (HTTP/2 streams) on one connection.
    pub max_concurrent_streams_per_connection: u32,
    /// Longest wait for in-flight calls to finish at shutdown, in milliseconds.
    pub shutdown_grace_ms: u64,
}

/// How logs are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` for people, `json` for machines.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `flexsettle=debug,info`.
    pub filter: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            health_listen_addr: None,
            database_url: "./data/flexsettle.db".to_owned(),
            database: DatabaseSettings::default(),
            limits: Limits::default(),
            log: LogSettings::default(),
            data_dir: PathBuf::from("./data"),
            auth: AuthSettings::default(),
            tls: TlsSettings::default(),
            clock: ClockSettings::default(),
            audit: AuditSettings::default(),
            invoicing: InvoicingSettings::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> DatabaseSettings {
        DatabaseSettings {
            max_connections: 16,
            acquire_timeout_ms: 10_000,
            sqlite_busy_timeout_ms: 5_000,
            write_batch_window_us: 0,
            write_batch_busy_window_us: None,
            contract_cache_ttl_ms: 1_000,
            write_batch_max_calls: 128,
            migrate_at_start: true,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 4 * 1024 * 1024,
            request_timeout_ms: 30_000,
            max_concurrent_requests: 1_024,
            max_concurrent_requests_per_principal: 256,
            keepalive_interval_ms: 30_000,
            keepalive_timeout_ms: 10_000,
            max_connection_age_ms: 30 * 60 * 1_000,
            max_header_list_bytes: 16 * 1024,
            max_concurrent_streams_per_connection: 256,
            shutdown_grace_ms: 30_000,
        }
    }
}

impl Default for LogSettings {
    fn default() -> LogSettings {
        LogSettings { format: LogFormat::Text, filter: "info".to_owned() }
    }
}

/// `FLEXSETTLE_*` variables that are not settings: the command line's own, and those of the
/// tests and benchmarks. Every other `FLEXSETTLE_*` variable must name a setting: a misspelt
/// one is refused at start, by name, instead of being ignored.
const NOT_SETTINGS: &[&str] = &["config", "token", "hermetic"];
const NOT_SETTINGS_PREFIXES: &[&str] = &["test_", "bench_", "model_", "crash_"];

fn is_setting(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    !NOT_SETTINGS.contains(&key.as_str()) && !NOT_SETTINGS_PREFIXES.iter().any(|prefix| key.starts_with(prefix))
}

impl Settings {
    /// Loads the settings: defaults, then the TOML file (`path`, or [`DEFAULT_CONFIG_FILE`] if
    /// it exists), then the environment.
    ///
    /// # Errors
    /// When a given file is missing, a value has the wrong type, or a key (in the file or a
    /// `FLEXSETTLE_*` variable) names no setting.
    pub fn load(path: Option<&Path>) -> Result<Settings, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        figment = match path {
            Some(path) if !path.exists() => {
                return Err(Box::new(figment::Error::from(format!(
                    "configuration file {} does not exist",
                    path.display()
                ))));
            }
            Some(path) => figment.merge(Toml::file(path)),
            None => figment.merge(Toml::file(DEFAULT_CONFIG_FILE)),
        };
        figment
            .merge(Env::prefixed(ENV_PREFIX).filter(|key| is_setting(key.as_str())).split("__"))
            .extract()
            .map_err(Box::new)
    }

    /// The database the URL selects.
    ///
    /// # Errors
    /// When the URL is empty.
    pub fn database_target(&self) -> Result<Target, String> {
        Target::parse(&self.database_url)
    }

    /// Pool options in the storage layer's terms.
    #[must_use]
    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_connections: self.database.max_connections.max(1),
            acquire_timeout: Duration::from_millis(self.database.acquire_timeout_ms),
            sqlite_busy_timeout: Duration::from_millis(self.database.sqlite_busy_timeout_ms),
            // Opened on demand, by the caller that waits for them: no pool thread is left opening
            // one in the background when the process exits.
            min_idle_connections: 0,
            batching: crate::storage::Batching {
                window: Duration::from_micros(self.database.write_batch_window_us),
                busy_window: self.database.write_batch_busy_window_us.map(Duration::from_micros),
                max_calls: self.database.write_batch_max_calls,
            },
            contract_cache_ttl: Duration::from_millis(self.database.contract_cache_ttl_ms),
        }
    }

    /// A copy safe to log: the database password is masked.
    #[must_use]
    pub fn redacted(&self) -> Settings {
        let mut copy = self.clone();
        copy.database_url = redact_url(&self.database_url);
        copy
    }
}

/// Masks the password of a URL (and any `password=` query parameter).
fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return raw.to_owned();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    let has_secret_query = url.query_pairs().any(|(key, _)| key.eq_ignore_ascii_case("password"));
    if has_secret_query {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if key.eq_ignore_ascii_case("password") { "***".to_owned() } else { value.into_owned() };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_log() {
        let settings = Settings {
            database_url: "postgres://app:s3cret@db:5432/flex?sslmode=require&password=other".to_owned(),
            ..Settings::default()
        };
        let shown = format!("{:?}", settings.redacted());
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("other"), "{shown}");
        assert!(shown.contains("sslmode=require"), "{shown}");
    }

    #[test]
    fn a_sqlite_path_is_left_as_it_is() {
        assert_eq!(redact_url("./data/flexsettle.db"), "./data/flexsettle.db");
    }

    #[test]
    fn the_default_serves_sqlite_on_the_standard_port() {
        let settings = Settings::default();
        assert_eq!(settings.listen_addr.to_string(), "127.0.0.1:50051");
        assert_eq!(settings.database_target().unwrap().backend(), "sqlite");
    }

    #[test]
    fn a_misspelt_key_is_refused_by_name() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("flexsettle.toml");
        std::fs::write(&file, "[auth]\ndisable = true\n").unwrap();
        let refused = Settings::load(Some(&file)).unwrap_err().to_string();
        assert!(refused.contains("disable"), "{refused}");
        std::fs::write(&file, "[auth]\ndisabled = false\n[limits]\nrequest_timeout_ms = 1000\n").unwrap();
        assert_eq!(Settings::load(Some(&file)).unwrap().limits.request_timeout_ms, 1000);
    }

    #[test]
    fn variables_of_the_command_line_and_the_tests_are_not_settings() {
        for other in ["CONFIG", "token", "TEST_DATABASE_URL", "BENCH_DATABASE_URL", "MODEL_SEED", "HERMETIC"] {
            assert!(!is_setting(other), "{other}");
        }
        for setting in ["DATABASE_URL", "AUTH__DISABLE", "LIMITS__REQUEST_TIMEOUT_MS"] {
            assert!(is_setting(setting), "{setting}");
        }
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        assert!(Settings::load(Some(Path::new("/nonexistent/flexsettle.toml"))).is_err());
    }
}
