//! Storage with diesel over one code path for SQLite (the embedded default) and PostgreSQL
//! (production): a `MultiConnection` enum, a connection pool, embedded migrations per backend,
//! and the transactional core that every mutating call goes through ([`Store::mutate`]).
//!
//! Blocking database work runs on tokio's blocking pool, never on the async workers. SQLite
//! writes go through a pool of exactly one connection (one writer; readers use WAL snapshots),
//! because concurrent SQLite writers at `synchronous=FULL` starve each other.

/// The body of `insert_decisions` for a decisions table whose input column is `$input`: one
/// decision on each id, as one multi-row INSERT per chunk on PostgreSQL, a prepared single-row
/// INSERT each in-process on SQLite.
macro_rules! insert_decisions {
    ($connection:expr, $table:ident, $input:ident, $contract:expr, $ids:expr, $decision:expr) => {{
        let decision: &crate::domain::hours::Decision = $decision;
        let decide_time = $crate::storage::to_stored_time(decision.decide_time);
        // The decisions are recorded by the audit entry this change ends with (`domain::inputs`).
        let decision_seq = $crate::storage::audit::next_entry_seq($connection)?;
        let rows: Vec<_> = $ids
            .iter()
            .map(|id| {
                (
                    $table::contract_id.eq($contract.as_str()),
                    $table::$input.eq(id.as_str()),
                    $table::verdict.eq(decision.verdict.as_str()),
                    $table::decided_by.eq(decision.decided_by.as_str()),
                    $table::decide_time.eq(decide_time),
                    $table::reason.eq(decision.reason.as_deref()),
                    $table::decision_seq.eq(decision_seq),
                )
            })
            .collect();
        match $connection {
            AnyConnection::Postgresql(pg) => rows
                .chunks($crate::storage::INSERT_CHUNK_ROWS)
                .try_for_each(|chunk| diesel::insert_into($table::table).values(chunk).execute(pg).map(drop)),
            AnyConnection::Sqlite(sqlite) => rows
                .iter()
                .try_for_each(|row| diesel::insert_into($table::table).values(*row).execute(sqlite).map(drop)),
        }
    }};
}

pub mod audit;
pub mod audit_tree;
mod connection;
pub mod contract_cache;
pub mod contracts;
pub mod gonogo;
pub mod hours;
pub(crate) mod idempotency;
pub mod invoices;
#[cfg(test)]
mod migration_tests;
pub mod pool;
mod reused;
pub mod savings;
pub mod schema;
mod sequencer;
pub mod statements;
#[cfg(test)]
mod test_support;
mod together;
pub mod writer_cache;

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use serde::{Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

use crate::domain::audit::canonical_json;
use crate::domain::{Action, Principal, RequestId};
use crate::error::{BoxError, Context, Error};

pub use connection::AnyConnection;
pub use contracts::paginate;
pub use sequencer::Batching;
pub use together::{Outcomes, Together};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Key of the PostgreSQL advisory lock that serialises migrations of replicas starting at once.
const MIGRATION_LOCK_KEY: i64 = 0x666c_6578_7365_7474; // "flexsett"

/// Which database a URL selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A `postgres://` or `postgresql://` URL.
    Postgres {
        /// The libpq connection URL.
        url: String,
    },
    /// A SQLite database file.
    Sqlite {
        /// Path of the file.
        path: String,
    },
}

impl Target {
    /// Reads a database URL: `postgres://…` or `postgresql://…` selects PostgreSQL; `sqlite://PATH`
    /// or a plain path selects a SQLite file.
    ///
    /// # Errors
    /// When the URL is empty.
    pub fn parse(url: &str) -> Result<Target, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Target::Postgres { url: url.to_owned() })
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            if path.is_empty() {
                Err("database_url is empty: give a SQLite file path or a postgres:// URL".to_owned())
            } else {
                Ok(Target::Sqlite { path: path.to_owned() })
            }
        }
    }

    /// The backend's name, for logs.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match self {
            Target::Postgres { .. } => "postgresql",
            Target::Sqlite { .. } => "sqlite",
        }
    }
}

/// Tuning of the database connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// Most open connections (PostgreSQL) or reader connections (SQLite).
    pub max_connections: u32,
    /// How long a call waits for a free connection before it is refused as unavailable.
    pub acquire_timeout: Duration,
    /// How long SQLite waits for a lock held by another process.
    pub sqlite_busy_timeout: Duration,
    /// Connections kept open while idle, replenished in the background. A short-lived command
    /// asks for none: a connection still being opened in the background when the process exits
    /// crashes libpq's and OpenSSL's exit handlers.
    pub min_idle_connections: u32,
    /// How the writer gathers concurrent changes into one transaction (group commit).
    pub batching: Batching,
    /// How long a contract read for `GetContract` is remembered (zero: not at all); see
    /// [`contract_cache`].
    pub contract_cache_ttl: Duration,
}

/// Opens connections of one target and prepares each (SQLite pragmas).
#[derive(Debug, Clone)]
struct ConnectionManager {
    target: Target,
    sqlite_busy_timeout: Duration,
}

impl ManageConnection for ConnectionManager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        match &self.target {
            Target::Postgres { url } => {
                let mut connection = diesel::PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                // Reads plan every statement for its parameters: tables here grow from empty at
                // a steady clip, and a generic plan cached while a table was tiny (a sequential
                // scan) would stay in use until the table is next analysed. The writer's
                // transactions go by the server's usual rules instead (`SET LOCAL plan_cache_mode
                // = auto` with the write lock, see `sequencer::begin_locked`): its statements
                // are lookups by primary key, per-item lookups the planner cannot flatten
                // (`hours::get_entries`, `hours::day_minutes`,
                // `contracts::intercedents_with_rates`), a contract's period read through
                // the index by period, inserts and appends — plans that do not depend on the
                // values bound. Planning each again was about a third of a lone SubmitHours
                // (`hours_ingest`, 2026-12-01: 3.0–3.3 ms a call, 2.0–2.3 ms without), and the
                // server plans an insert's foreign-key check, a query it keeps prepared, again
                // for every row under `force_custom_plan` (100,000 rows: 2.7–4.0 s instead of
                // 1.6–1.9 s in psql). Earlier runs of the whole service with the default plan
                // cache went wrong at times (500-line batches at 1,639 lines/s in one run and
                // 33,105 in the next); the lookup of entries by reference was later found to read
                // all of a contract's entries under stale statistics in either mode, and now
                // cannot (`hours::get_entries`).
                connection.batch_execute("SET plan_cache_mode = force_custom_plan").map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Postgresql(connection))
            }
            Target::Sqlite { path } => {
                let mut connection = diesel::SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers work beside the one writer; FULL makes every acknowledged
                // commit durable across a power cut. Temporary data stays in memory: the journal
                // of a savepoint (or of a statement that may fail halfway) went to a temporary
                // file once it outgrew 64 KiB, 60,000 file writes in 80,000 batched lines. A
                // checkpoint every 10,000 WAL pages instead of every 1,000 writes a page changed
                // by many commits into the database once: 5,800 page writes and 3 fsyncs of the
                // database file instead of 14,200 and 25 (`hours_ingest`, 80,000 batched lines,
                // 2026-12-01), for a WAL file of about 40 MiB once writing is steady (cut back to
                // 64 MiB after a checkpoint if readers held it longer) and one commit in about
                // 10,000 pages that waits for a larger checkpoint.
                let pragmas = format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 10000; \
                     PRAGMA journal_size_limit = 67108864;",
                    self.sqlite_busy_timeout.as_millis()
                );
                connection.batch_execute(&pragmas).map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(connection))
            }
        }
    }

    fn is_valid(&self, connection: &mut AnyConnection) -> Result<(), r2d2::Error> {
        connection.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, connection: &mut AnyConnection) -> bool {
        r2d2::R2D2Connection::is_broken(connection)
    }
}

type Pool = r2d2::Pool<ConnectionManager>;

/// The database: pools for reads and writes, the writer that commits changes in groups, and
/// the units of work over them.
#[derive(Clone)]
pub struct Store {
    target: Target,
    readers: Pool,
    writers: Pool,
    sequencer: sequencer::Sequencer,
    contracts: std::sync::Arc<contract_cache::ContractCache>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.target.backend()).finish_non_exhaustive()
    }
}

/// What a mutation records besides its effect: the first answer and the audit entry.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// Who makes the change.
    pub principal: Principal,
    /// The caller's idempotency key.
    pub request_id: RequestId,
    /// What kind of change.
    pub action: Action,
    /// SHA-256 (hex) of the canonical encoding of the action and the request's payload.
    pub fingerprint: String,
    /// When the change is made.
    pub now: DateTime<Utc>,
}

impl Mutation {
    /// Describes a mutation whose payload is `command`; the fingerprint covers the action and
    /// the canonical encoding of the command, not the request id.
    ///
    /// # Errors
    /// When the command cannot be encoded (an internal fault).
    pub fn new(
        principal: Principal,
        request_id: RequestId,
        action: Action,
        command: &impl Serialize,
        now: DateTime<Utc>,
    ) -> Result<Mutation, Error> {
        let payload = canonical_json(command).context("encoding a request canonically")?;
        let mut hasher = Sha256::new();
        hasher.update(action.as_str().as_bytes());
        hasher.update([0]);
        hasher.update(payload.as_bytes());
        let fingerprint = hex(&hasher.finalize());
        Ok(Mutation { principal, request_id, action, fingerprint, now })
    }
}

/// What a change did: the resource it touched, and the answer for the caller, which is also
/// the change's canonical record in the audit log.
#[derive(Debug, Clone)]
pub struct Applied<R> {
    /// Name of the resource changed.
    pub resource: String,
    /// The answer to the caller.
    pub response: R,
    changed: bool,
}

impl<R> Applied<R> {
    /// A change was made: it gets an audit entry.
    pub fn changed(resource: String, response: R) -> Applied<R> {
        Applied { resource, response, changed: true }
    }

    /// Nothing needed changing (everything asked for was recorded before): no audit entry,
    /// since there is no change to record; the answer is still kept for replays.
    pub fn unchanged(resource: String, response: R) -> Applied<R> {
        Applied { resource, response, changed: false }
    }
}

/// Lowercase hex of bytes.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

impl Store {
    /// Opens the pools of a database (creating a SQLite file and its folder if needed). Does
    /// not migrate; see [`Store::migrate`].
    ///
    /// # Errors
    /// When the database cannot be reached or the file cannot be created.
    pub fn open(target: Target, options: PoolOptions) -> Result<Store, Error> {
        if let Target::Sqlite { path } = &target
            && let Some(parent) = std::path::Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).context("creating the SQLite database folder")?;
        }
        let manager = ConnectionManager { target: target.clone(), sqlite_busy_timeout: options.sqlite_busy_timeout };
        let build = |size: u32| {
            r2d2::Pool::builder()
                .max_size(size)
                .min_idle(Some(options.min_idle_connections.min(size)))
                // No "SELECT 1" round trip on every checkout: a broken connection fails its own
                // statement (answered as unavailable) and r2d2 drops it on return.
                .test_on_check_out(false)
                // No reaper: connections live until they break. A pool thread closing or opening
                // a connection while the process exits would race libpq's and OpenSSL's exit
                // handlers (a crash seen in 1 run of 12 of `migrate` with sslmode=require).
                .idle_timeout(None)
                .max_lifetime(None)
                .connection_timeout(options.acquire_timeout)
                .build(manager.clone())
                .context("opening the database")
        };
        let (readers, writers) = match target {
            Target::Postgres { .. } => {
                let pool = build(options.max_connections)?;
                (pool.clone(), pool)
            }
            Target::Sqlite { .. } => {
                // The writer first: it switches the file to WAL before the readers open it.
                let writers = build(1)?;
                (build(options.max_connections)?, writers)
            }
        };
        let sequencer = sequencer::Sequencer::start(writers.clone(), options.batching, target.backend())?;
        let contracts =
            std::sync::Arc::new(contract_cache::ContractCache::new(options.contract_cache_ttl, CONTRACTS_REMEMBERED));
        Ok(Store { target, readers, writers, sequencer, contracts })
    }

    /// Contracts remembered between reads.
    #[must_use]
    pub fn contract_cache(&self) -> &contract_cache::ContractCache {
        &self.contracts
    }

    /// The database this store uses.
    #[must_use]
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Applies the embedded migrations that are not applied yet and returns their versions.
    /// On PostgreSQL an advisory lock keeps replicas that start together from racing.
    ///
    /// # Errors
    /// When a migration fails; nothing of a failed migration stays applied.
    pub async fn migrate(&self) -> Result<Vec<String>, Error> {
        fn versions(
            applied: diesel::migration::Result<Vec<diesel::migration::MigrationVersion<'_>>>,
        ) -> Result<Vec<String>, Error> {
            applied
                .map(|versions| versions.iter().map(ToString::to_string).collect())
                .map_err(|source: BoxError| Error::Internal { context: "migrating the database", source })
        }
        self.run(&self.writers, "migrate", |connection| match connection {
            AnyConnection::Postgresql(pg) => {
                diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                    .execute(pg)
                    .context("locking migrations")?;
                let applied = versions(pg.run_pending_migrations(POSTGRES_MIGRATIONS));
                diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                    .execute(pg)
                    .context("unlocking migrations")?;
                applied
            }
            AnyConnection::Sqlite(sqlite) => versions(sqlite.run_pending_migrations(SQLITE_MIGRATIONS)),
        })
        .await
    }

    /// Grants the PostgreSQL role the service runs as exactly what it needs, and no more:
    /// SELECT and INSERT on every table (the log, the tree, the checkpoints and the statements
    /// are only ever inserted into, like everything else the service stores), and UPDATE of the
    /// counters of `sequences`. Whatever else it held is revoked. Run as the tables' owner,
    /// after migrating; running it again changes nothing.
    ///
    /// # Errors
    /// On SQLite (it has no roles), for a name that is not a plain role name, or a fault.
    pub async fn grant_service_role(&self, role: &str) -> Result<(), Error> {
        let plain = !role.is_empty()
            && role.len() <= 63
            && role.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !role.starts_with(|c: char| c.is_ascii_digit());
        if !plain {
            return Err(Error::InvalidArgument(crate::domain::Violations::single(
                "grant_to",
                "must be a plain PostgreSQL role name: lowercase letters, digits and _, not starting with a digit",
            )));
        }
        let statements = format!(
            "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}; \
             GRANT USAGE ON SCHEMA public TO {role}; \
             GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {role}; \
             GRANT UPDATE (last_value, last_time) ON sequences TO {role};"
        );
        self.run(&self.writers, "grant", move |connection| match connection {
            AnyConnection::Postgresql(pg) => {
                pg.transaction(|pg| pg.batch_execute(&statements)).context("granting the service role")
            }
            AnyConnection::Sqlite(_) => Err(Error::InvalidArgument(crate::domain::Violations::single(
                "grant_to",
                "SQLite has no roles: grants apply to PostgreSQL only",
            ))),
        })
        .await
    }

    /// Checks that the database answers: one trivial query on a pooled connection.
    ///
    /// # Errors
    /// [`Error::Unavailable`] (or the fault) when it does not.
    pub async fn ping(&self) -> Result<(), Error> {
        self.read(|connection| connection.batch_execute("SELECT 1").context("pinging the database")).await
    }

    /// Connections open and idle in each pool (`writers`, `readers`).
    #[must_use]
    pub fn pool_states(&self) -> [(&'static str, u32, u32); 2] {
        let state = |name, pool: &Pool| {
            let state = pool.state();
            (name, state.connections, state.idle_connections)
        };
        [state("writers", &self.writers), state("readers", &self.readers)]
    }

    /// Runs a read on a pooled connection off the async workers.
    ///
    /// # Errors
    /// What `read` returns, or [`Error::Unavailable`] when no connection is free in time.
    pub async fn read<T, F>(&self, read: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, Error> + Send + 'static,
    {
        self.run(&self.readers, "read", read).await
    }

    /// The transactional core of every mutating call. In ONE transaction it (a) looks up the
    /// request id, (b) applies the change, (c) appends the audit entry and (d) stores the answer
    /// for replays. A replay with the same payload returns the first answer and changes
    /// nothing; the same request id with another payload is [`Error::RequestIdReused`]. Gives
    /// the answer and the sequence number of the change's audit entry (none when nothing
    /// changed).
    ///
    /// The transaction is shared with the other changes that wait for the writer at the same
    /// time (group commit, see `sequencer`): each runs in a savepoint of its own, and none is
    /// answered before the transaction has committed. The transaction holds the lock that
    /// orders every writer of every replica from its first statement, so changes never
    /// interleave: what `apply` reads stays as it read it until the commit, and no finer lock
    /// is needed.
    ///
    /// # Errors
    /// What `apply` returns (then nothing is written), [`Error::RequestIdReused`], or a
    /// storage fault.
    pub async fn mutate<R, F>(&self, mutation: Mutation, apply: F) -> Result<(R, Option<i64>), Error>
    where
        R: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<Applied<R>, Error> + Send + 'static,
    {
        let operation = mutation.action.as_str();
        self.queue(operation, |caller| Box::new(MutationJob { mutation, apply: Some(apply), caller })).await
    }

    /// [`Store::mutate`] for a kind of change whose calls the writer may apply together with
    /// others of their kind waiting at the same time, as one set-based step (see
    /// [`Together`]); the answers are the ones the calls would get one by one.
    ///
    /// # Errors
    /// The call's refusal, [`Error::RequestIdReused`], or a storage fault.
    pub async fn mutate_together<P: Together>(
        &self,
        mutation: Mutation,
        call: P,
    ) -> Result<(P::Answer, Option<i64>), Error> {
        let operation = mutation.action.as_str();
        self.queue(operation, |caller| Box::new(together::TogetherJob { mutation, call, caller })).await
    }

    /// Queues the job `make` builds for the writer and waits for its answer.
    async fn queue<A>(
        &self,
        operation: &'static str,
        make: impl FnOnce(sequencer::Caller<A>) -> Box<dyn sequencer::Job>,
    ) -> Result<A, Error> {
        let deadline = crate::deadline::current();
        check_deadline(deadline)?;
        let started = std::time::Instant::now();
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.sequencer.submit(make(sequencer::Caller::new(deadline, self.span(operation), reply)))?;
        let result = answer.await.unwrap_or_else(|_| {
            Err(Error::Unavailable { reason: "the database writer stopped before it answered".to_owned() })
        });
        self.record(operation, started, &result);
        result
    }

    /// Runs `work` in one write transaction that records no audit entry and no answer: for the
    /// audit log's integrator, which stores only what it derives from the log itself.
    ///
    /// # Errors
    /// What `work` returns (then nothing is written), or a storage fault.
    pub async fn derive<T, F>(&self, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, Error> + Send + 'static,
    {
        self.run(&self.writers, "derive", move |connection| transaction_begun_by(connection, begin_writing, work)).await
    }

    async fn run<T, F>(&self, pool: &Pool, operation: &'static str, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, Error> + Send + 'static,
    {
        check_deadline(crate::deadline::current())?;
        let pool = pool.clone();
        let span = self.span(operation);
        let started = std::time::Instant::now();
        let system_attribute = opentelemetry::KeyValue::new("db.system.name", self.target.backend());
        let result = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let connection = pool.get();
            crate::metrics::get()
                .connection_wait
                .record(started.elapsed().as_secs_f64(), std::slice::from_ref(&system_attribute));
            let mut connection = connection.map_err(|error| Error::Unavailable {
                reason: format!("no database connection became free in time ({error})"),
            })?;
            work(&mut connection)
        })
        .await
        .context("running database work")
        .and_then(|result| result);
        self.record(operation, started, &result);
        result
    }

    /// A child of the call's span for its database work, to be entered on the thread that does
    /// the work (a span does not follow work onto another thread by itself).
    fn span(&self, operation: &'static str) -> tracing::Span {
        let system = self.target.backend();
        tracing::info_span!(
            "db",
            otel.name = operation,
            otel.kind = "client",
            db.system.name = system,
            db.operation.name = operation,
        )
    }

    /// Records the duration of database work started at `started`, and its abort by a fault.
    fn record<T>(&self, operation: &'static str, started: std::time::Instant, result: &Result<T, Error>) {
        let attributes = [
            opentelemetry::KeyValue::new("db.system.name", self.target.backend()),
            opentelemetry::KeyValue::new("db.operation.name", operation),
        ];
        let instruments = crate::metrics::get();
        instruments.db_duration.record(started.elapsed().as_secs_f64(), &attributes);
        // Reads have no transaction to abort (a read that finds no free connection is not one).
        if operation != "read"
            && let Err(error) = result
            && let Some(reason) = error.fault_reason()
        {
            instruments
                .transaction_aborts
                .add(1, &[attributes[0].clone(), opentelemetry::KeyValue::new("reason", reason)]);
        }
    }
}

/// A mutating call waiting for the writer: its work, and where its answer goes.
struct MutationJob<R, F> {
    mutation: Mutation,
    apply: Option<F>,
    caller: sequencer::Caller<(R, Option<i64>)>,
}

impl<R, F> sequencer::Job for MutationJob<R, F>
where
    R: Serialize + DeserializeOwned + Send + 'static,
    F: FnOnce(&mut AnyConnection) -> Result<Applied<R>, Error> + Send + 'static,
{
    fn deadline(&self) -> Option<std::time::Instant> {
        self.caller.deadline()
    }

    fn abandoned(&self) -> bool {
        self.caller.abandoned()
    }

    fn run(&mut self, connection: &mut AnyConnection, _cache: &mut writer_cache::WriterCache) -> Result<(), Error> {
        let _entered = self.caller.span.enter();
        let apply = self.apply.take().ok_or_else(|| Error::internal("applying a change", "it ran before"))?;
        let mutation = &self.mutation;
        // The transaction holds the lock that orders every writer, so no other transaction can
        // record this request id between this lookup and the commit.
        if let Some(first) = idempotency::find(connection, mutation)? {
            self.caller.answer = Some(first.replay(mutation)?);
            return Ok(());
        }
        let applied = apply(connection)?;
        let response = canonical_json(&applied.response).context("encoding an answer canonically")?;
        let seq = if applied.changed {
            Some(audit::append_and_remember(connection, mutation, &applied.resource, &response)?)
        } else {
            idempotency::insert(connection, mutation, &response, None)?;
            None
        };
        self.caller.answer = Some((applied.response, seq));
        Ok(())
    }

    fn settle(self: Box<Self>, outcome: Result<(), Error>) {
        self.caller.settle(outcome);
    }
}

/// The call's deadline passed.
fn past_deadline() -> Error {
    Error::DeadlineExceeded {
        reason: "the call's deadline passed before its work was done; nothing was changed".to_owned(),
    }
}

/// Refuses to go on once `deadline` has passed.
fn check_deadline(deadline: Option<std::time::Instant>) -> Result<(), Error> {
    match deadline {
        Some(deadline) if crate::deadline::remaining(deadline).is_none() => Err(past_deadline()),
        _ => Ok(()),
    }
}

/// Begins a transaction that writes. On SQLite it takes the database's write lock as its first
/// statement (`BEGIN IMMEDIATE`), before it reads anything: a second process on the same file
/// (another replica, `flexsettle migrate`) then waits its busy timeout for the lock instead of
/// failing on a stale snapshot. Within one process the single writer connection serialises
/// already.
fn begin_writing(connection: &mut AnyConnection) -> Result<(), Error> {
    use diesel::connection::AnsiTransactionManager;
    match connection {
        AnyConnection::Postgresql(pg) => AnsiTransactionManager::begin_transaction_sql(pg, "BEGIN"),
        AnyConnection::Sqlite(sqlite) => AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE"),
    }
    .context("beginning a transaction that writes")
}

/// Runs `body` in a transaction that `begin` begins (its first statements of choice, through
/// diesel's transaction manager, so savepoints inside nest as usual); commits when `body`
/// succeeds, rolls back when it fails.
fn transaction_begun_by<T>(
    connection: &mut AnyConnection,
    begin: impl FnOnce(&mut AnyConnection) -> Result<(), Error>,
    body: impl FnOnce(&mut AnyConnection) -> Result<T, Error>,
) -> Result<T, Error> {
    use diesel::connection::TransactionManager;
    type Manager = <AnyConnection as Connection>::TransactionManager;
    begin(connection)?;
    match body(connection) {
        Ok(value) => {
            Manager::commit_transaction(connection)?;
            Ok(value)
        }
        Err(error) => match Manager::rollback_transaction(connection) {
            // A broken transaction manager says less than the failure that broke it.
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// Most contracts remembered between reads (a few hundred bytes each).
const CONTRACTS_REMEMBERED: usize = 10_000;

/// Rows per multi-row INSERT (and ids per `IN` list): at up to 11 parameters a row this stays
/// well under SQLite's and PostgreSQL's parameter limits.
pub(crate) const INSERT_CHUNK_ROWS: usize = 500;

/// Serialises transactions that touch the same things: on PostgreSQL a transaction-scoped
/// advisory lock per key, taken in sorted order so two transactions never wait on each other
/// in a cycle; SQLite has one writer, which serialises them already. For work outside the
/// writer lock (the audit log's integrator): changes made through [`Store::mutate`] run one at
/// a time under that lock and need no finer one.
///
/// # Errors
/// A storage fault.
pub fn lock_keys<'a>(connection: &mut AnyConnection, keys: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
    let AnyConnection::Postgresql(pg) = connection else {
        return Ok(());
    };
    let mut hashes: Vec<i64> = keys
        .into_iter()
        .map(|key| {
            let digest = Sha256::digest(key.as_bytes());
            let mut first = [0_u8; 8];
            first.copy_from_slice(&digest[..8]);
            i64::from_be_bytes(first)
        })
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    for hash in hashes {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(hash)
            .execute(pg)
            .context("taking a transaction lock")?;
    }
    Ok(())
}

/// True when a diesel error is a unique-constraint violation.
#[must_use]
pub fn is_unique_violation(error: &diesel::result::Error) -> bool {
    matches!(error, diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
}

/// Converts a UTC instant to the naive UTC timestamp both backends store.
#[must_use]
pub fn to_stored_time(instant: DateTime<Utc>) -> chrono::NaiveDateTime {
    instant.naive_utc()
}

/// Converts a stored naive UTC timestamp back to an instant.
#[must_use]
pub fn from_stored_time(stored: chrono::NaiveDateTime) -> DateTime<Utc> {
    stored.and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_select_their_backend() {
        assert_eq!(Target::parse("postgres://u@h/db").unwrap().backend(), "postgresql");
        assert_eq!(Target::parse("postgresql://u@h/db").unwrap().backend(), "postgresql");
        assert_eq!(Target::parse("sqlite://./data/x.db").unwrap(), Target::Sqlite { path: "./data/x.db".to_owned() });
        assert_eq!(Target::parse("x.db").unwrap(), Target::Sqlite { path: "x.db".to_owned() });
        assert!(Target::parse("").is_err());
        assert!(Target::parse("sqlite://").is_err());
    }

    #[test]
    fn fingerprints_ignore_the_request_id_but_not_the_action_or_payload() {
        let now = DateTime::UNIX_EPOCH;
        let principal = Principal::local_admin();
        let id = |text: &str| RequestId::parse(text).unwrap();
        let print = |request: &str, action, payload: &str| {
            Mutation::new(principal.clone(), id(request), action, &payload, now).unwrap().fingerprint
        };
        assert_eq!(print("a", Action::CreateContract, "x"), print("b", Action::CreateContract, "x"));
        assert_ne!(print("a", Action::CreateContract, "x"), print("a", Action::CreateContract, "y"));
        assert_ne!(print("a", Action::CreateContract, "x"), print("a", Action::CreateIntercedent, "x"));
    }
}
