//! Group commit: the mutations of one process go through one writer thread, which gathers the
//! calls waiting for it (up to a cap, optionally waiting a short window for more), runs each in
//! a savepoint of one transaction, commits once and then answers them all.
//!
//! - **Order and gaplessness.** The transaction first takes the write lock that orders every
//!   writer — the audit counter's row on PostgreSQL, the database's write lock on SQLite — so
//!   writers of other replicas wait whole batches, never interleave with one. Inside the batch the
//!   calls run one after another in the order they arrived, each appending its audit entry
//!   under that lock, so sequence numbers are handed out in commit order without gaps.
//! - **Refusals are private.** A call that fails rolls back to its savepoint: its changes, its
//!   audit entry and its sequence number go, the others' stay.
//! - **Nothing is answered before it is durable.** Every answer — also a refusal or a replay,
//!   which may rest on a batch-mate's uncommitted change — waits for the commit. When the commit
//!   fails, every call of the batch hears the fault (outcome unknown: retry with the request id).
//! - **Calls of one kind run as one.** Consecutive calls that name the same kind of work
//!   ([`Job::together`]) first run as one set-based step in one savepoint — one lookup of their
//!   request ids (only of the calls it refuses: the others' records refuse a request id answered
//!   before), one read of what they are checked against, one INSERT of what they add, one
//!   statement appending their audit entries — so 64 single-line submissions cost about what one
//!   64-line submission costs. A lone call of such a kind is a step of one. A call the step
//!   refuses answers its own error and adds nothing.
//!   When the step as a whole fails (a request id twice in it, a fault, a deadline passed), its
//!   savepoint is rolled back and the calls run one by one as above: the step is only ever a
//!   faster way to the answers they would get alone. A batch that is one such step and nothing
//!   else runs it without a savepoint; when it fails, the whole transaction is rolled back and
//!   run again with the calls one by one, each looking its request id up first.
//! - **What submissions are checked against is remembered** between transactions
//!   ([`WriterCache`]) while the audit counter says nothing changed it; calls of other kinds and
//!   rollbacks set it aside.
//! - **Deadlines.** A call whose deadline passed, or whose caller went away, before its turn does
//!   not run; one that runs past its deadline is rolled back to its savepoint. On PostgreSQL every
//!   statement of the batch is bounded by the latest deadline in it.

use std::any::{Any, TypeId};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, SimpleConnection};

use super::writer_cache::WriterCache;
use super::{AnyConnection, Pool, check_deadline, past_deadline};
use crate::error::{Context, Error};

/// One call waiting for the writer.
pub(super) trait Job: Send {
    /// When the caller stops waiting, if ever.
    fn deadline(&self) -> Option<Instant>;
    /// True when the caller went away: its work need not run.
    fn abandoned(&self) -> bool;
    /// Does the call's work inside its savepoint; keeps its answer until [`Job::settle`].
    ///
    /// # Errors
    /// The call's refusal or fault; its savepoint is then rolled back.
    fn run(&mut self, connection: &mut AnyConnection, cache: &mut WriterCache) -> Result<(), Error>;
    /// True when the call changes nothing the writer's cache remembers ([`WriterCache`]); a
    /// call that may runs with the cache set aside.
    fn leaves_writer_cache(&self) -> bool {
        false
    }
    /// The kind of work that calls run together as one step; `None` runs alone.
    fn together(&self) -> Option<TypeId> {
        None
    }
    /// The call itself, for [`Job::run_together`] to take its own kind back out of a batch.
    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        None
    }
    /// Does the work of this call and of `others` (calls of the same [`Job::together`] kind, in
    /// order) as one step, and keeps their answers; gives each call's own refusal, this one's
    /// first.
    ///
    /// # Errors
    /// When the step cannot stand for the calls' separate runs; they then run one by one.
    fn run_together(
        &mut self,
        _connection: &mut AnyConnection,
        _cache: &mut WriterCache,
        _others: &mut [Box<dyn Job>],
    ) -> Result<Vec<Option<Error>>, Error> {
        Err(Error::internal("running calls together", "this kind of call runs alone"))
    }
    /// Answers the caller once the batch's fate is known: its kept answer when `outcome` is
    /// `Ok`, else the error.
    fn settle(self: Box<Self>, outcome: Result<(), Error>);
}

/// A caller waiting for the writer: when it stops waiting, the span its work is traced in, and
/// where its answer goes once the batch's fate is known.
pub(super) struct Caller<A> {
    deadline: Option<Instant>,
    pub(super) span: tracing::Span,
    /// The answer its work produced, kept until the commit.
    pub(super) answer: Option<A>,
    reply: tokio::sync::oneshot::Sender<Result<A, Error>>,
}

impl<A> Caller<A> {
    pub(super) fn new(
        deadline: Option<Instant>,
        span: tracing::Span,
        reply: tokio::sync::oneshot::Sender<Result<A, Error>>,
    ) -> Caller<A> {
        Caller { deadline, span, answer: None, reply }
    }

    /// See [`Job::deadline`].
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// See [`Job::abandoned`].
    pub(super) fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    /// See [`Job::settle`].
    pub(super) fn settle(self, outcome: Result<(), Error>) {
        let Caller { answer, reply, .. } = self;
        let answer = outcome.and_then(|()| {
            answer.ok_or_else(|| Error::internal("answering a change", "it committed without an answer"))
        });
        // The caller may have gone away meanwhile; then there is no one to tell.
        let _ = reply.send(answer);
    }
}

/// How the writer gathers calls into one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// After the first call arrives, how long to wait for more before starting. Zero (the
    /// default) starts at once with whatever is waiting: calls that arrive while a batch runs
    /// form the next one, so batches grow with the load and a lone call waits for nothing.
    pub window: Duration,
    /// After a transaction of more than one call, how long to wait for more before starting
    /// the next (at least `window`): under load the callers just answered send their next
    /// calls within it, and they join one transaction instead of the first running alone. A
    /// lone call after a lone call never waits for it. `None`: the backend's own default,
    /// [`Batching::busy_window_of`].
    pub busy_window: Option<Duration>,
    /// Most calls in one transaction (0 counts as 1).
    pub max_calls: usize,
}

impl Default for Batching {
    fn default() -> Batching {
        Batching { window: Duration::ZERO, busy_window: None, max_calls: 128 }
    }
}

impl Batching {
    /// The busy window on `system` (`"postgresql"` or `"sqlite"`, `Target::backend`): the
    /// configured one, else 1 ms on PostgreSQL and none on SQLite; never less than `window`. Measured with `hours_ingest` (single-line calls,
    /// 64 in flight, 2026-12-01): PostgreSQL 4,428–4,745 calls/s with none, 5,370–5,810 with
    /// 1 ms, 5,497–5,683 with 3 ms (a transaction is a dozen round trips: bigger ones pay);
    /// SQLite 11,705–12,315 with none, 7,354–7,534 with 3 ms and about 9,000 with 1 ms (a
    /// commit is cheap: waiting idles the one writer while its callers' next calls could
    /// already be running).
    #[must_use]
    pub fn busy_window_of(&self, system: &str) -> Duration {
        let own = if system == "postgresql" { Duration::from_millis(1) } else { Duration::ZERO };
        self.window.max(self.busy_window.unwrap_or(own))
    }
}

/// The queue in front of the writer thread.
#[derive(Clone)]
pub(super) struct Sequencer {
    queue: Sender<Box<dyn Job>>,
}

impl Sequencer {
    /// Starts the writer thread over `pool`. It ends when the last clone of the sequencer is
    /// dropped.
    pub(super) fn start(pool: Pool, batching: Batching, system: &'static str) -> Result<Sequencer, Error> {
        let (queue, waiting) = std::sync::mpsc::channel::<Box<dyn Job>>();
        tracing::info!(
            window_us = batching.window.as_micros(),
            busy_window_us = batching.busy_window_of(system).as_micros(),
            max_calls = batching.max_calls.max(1),
            "group commit"
        );
        std::thread::Builder::new()
            .name("flexsettle-writer".to_owned())
            .spawn(move || serve(&pool, &waiting, batching, system))
            .context("starting the writer thread")?;
        Ok(Sequencer { queue })
    }

    /// Queues a call for the writer.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the writer thread is gone.
    pub(super) fn submit(&self, job: Box<dyn Job>) -> Result<(), Error> {
        self.queue.send(job).map_err(|_| Error::Unavailable { reason: "the database writer has stopped".to_owned() })
    }
}

fn serve(pool: &Pool, waiting: &Receiver<Box<dyn Job>>, batching: Batching, system: &'static str) {
    let max_calls = batching.max_calls.max(1);
    let busy_window = batching.busy_window_of(system);
    let mut busy = false;
    let mut cache = WriterCache::default();
    while let Ok(first) = waiting.recv() {
        let mut batch = vec![first];
        let window = if busy { busy_window } else { batching.window };
        let gather_until = Instant::now() + window;
        // A call already queued is taken at once, even with no window left.
        while batch.len() < max_calls {
            match waiting.recv_timeout(gather_until.saturating_duration_since(Instant::now())) {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        busy = batch.len() > 1;
        commit(pool, &mut cache, batch, system);
    }
}

/// Runs one batch in one transaction and answers every call in it.
fn commit(pool: &Pool, cache: &mut WriterCache, batch: Vec<Box<dyn Job>>, system: &'static str) {
    let instruments = crate::metrics::get();
    let system_attribute = opentelemetry::KeyValue::new("db.system.name", system);
    instruments.write_batch_calls.record(batch.len() as u64, std::slice::from_ref(&system_attribute));
    // Calls that need not run (their caller is gone, or their deadline has passed) are answered
    // without touching the database.
    let mut batch = still_awaited(batch);
    if batch.is_empty() {
        return;
    }
    let waited = Instant::now();
    let connection = pool.get();
    instruments.connection_wait.record(waited.elapsed().as_secs_f64(), std::slice::from_ref(&system_attribute));
    let mut connection = match connection {
        Ok(connection) => connection,
        Err(error) => {
            let reason = format!("no database connection became free in time ({error})");
            for job in batch {
                job.settle(Err(Error::Unavailable { reason: reason.clone() }));
            }
            return;
        }
    };
    // The latest deadline of the batch bounds its statements; none when a call has none.
    let deadline =
        batch.iter().map(|job| job.deadline()).collect::<Option<Vec<Instant>>>().and_then(|all| all.into_iter().max());
    let mut refusals: Vec<Option<Error>> = Vec::new();
    let alone = batch.len() == 1;
    // A batch that is one step of calls run together needs no savepoint around the step: the
    // transaction holds nothing else. (SQLite copies each page a savepoint changes to its
    // journal first: in `hours_ingest`'s 500-line batches that was about a tenth of the
    // writer's time.) When the step fails, the transaction is rolled back and begun again with
    // the calls one by one. A lone call of a kind that runs together is a step of one: it
    // records its request id without looking it up first (see `together::run_all`).
    let one_step = batch.first().is_some_and(|job| job.together().is_some()) && group_end(&batch, 0) == batch.len();
    let mut step_failed = false;
    let mut committed = write_transaction(&mut connection, cache, deadline, |connection, cache| {
        if alone && !one_step {
            // A lone call's refusal rolls back the whole transaction: no savepoint needed.
            let job = batch.first_mut().ok_or_else(|| Error::internal("committing a batch", "it is empty"))?;
            run_in_time(job.as_mut(), connection, cache)?;
            refusals.push(None);
            return Ok(());
        }
        if one_step {
            refusals = run_step(connection, cache, &mut batch).inspect_err(|_| step_failed = true)?;
            return Ok(());
        }
        refusals = run_batch(connection, cache, &mut batch, true)?;
        Ok(())
    });
    if step_failed {
        if let Err(error) = &committed {
            tracing::debug!(error = %error, calls = batch.len(), "the step failed; running its calls one by one");
        }
        // Calls whose deadline passed (or whose caller went away) meanwhile are answered so
        // without running again.
        batch = still_awaited(batch);
        if batch.is_empty() {
            return;
        }
        committed = write_transaction(&mut connection, cache, deadline, |connection, cache| {
            refusals = run_batch(connection, cache, &mut batch, false)?;
            Ok(())
        });
    }
    match committed {
        Ok(()) => {
            for (job, refusal) in batch.into_iter().zip(refusals) {
                job.settle(refusal.map_or(Ok(()), Err));
            }
        }
        Err(error) if alone => {
            if let Some(job) = batch.into_iter().next() {
                job.settle(Err(error));
            }
        }
        Err(error) => {
            tracing::warn!(error = %error, calls = batch.len(), "a batch of changes did not commit");
            for job in batch {
                job.settle(Err(shared(&error)));
            }
        }
    }
}

/// Answers "past its deadline" to every call whose deadline passed or whose caller went away,
/// and gives the others, in order.
fn still_awaited(batch: Vec<Box<dyn Job>>) -> Vec<Box<dyn Job>> {
    let (still, expired): (Vec<_>, Vec<_>) =
        batch.into_iter().partition(|job| !job.abandoned() && check_deadline(job.deadline()).is_ok());
    for job in expired {
        job.settle(Err(past_deadline()));
    }
    still
}

/// One transaction of the writer: takes the write lock, runs `body`, commits (or rolls back),
/// with the writer's cache told where the transaction begins and how it ends.
fn write_transaction(
    connection: &mut AnyConnection,
    cache: &mut WriterCache,
    deadline: Option<Instant>,
    body: impl FnOnce(&mut AnyConnection, &mut WriterCache) -> Result<(), Error>,
) -> Result<(), Error> {
    cache.begin();
    let committed = locked_transaction(connection, deadline, |connection| body(connection, cache));
    cache.end(committed.is_ok());
    committed
}

/// Runs `body` in a transaction whose first statement takes the write lock
/// ([`begin_locked`]); commits when it succeeds, rolls back when it fails.
fn locked_transaction<T>(
    connection: &mut AnyConnection,
    deadline: Option<Instant>,
    body: impl FnOnce(&mut AnyConnection) -> Result<T, Error>,
) -> Result<T, Error> {
    super::transaction_begun_by(connection, |connection| begin_locked(connection, deadline), body)
}

/// Runs one call; past its deadline the caller has been told so, and its work may not commit.
fn run_in_time(job: &mut dyn Job, connection: &mut AnyConnection, cache: &mut WriterCache) -> Result<(), Error> {
    cache.call_runs(job.leaves_writer_cache());
    job.run(connection, cache)?;
    check_deadline(job.deadline())
}

/// One past the last call from `start` on that runs together with the call at `start`.
fn group_end(batch: &[Box<dyn Job>], start: usize) -> usize {
    let Some(kind) = batch.get(start).and_then(|job| job.together()) else {
        return start + 1;
    };
    let mut end = start + 1;
    while batch.get(end).is_some_and(|job| job.together() == Some(kind)) {
        end += 1;
    }
    end
}

/// Runs the calls of a batch in order: with `together`, each group of consecutive calls of one
/// kind as one step in one savepoint, and each call of a step that fails (or of a group of one)
/// in its own savepoint; without, every call in its own savepoint. Gives each call's refusal.
fn run_batch(
    connection: &mut AnyConnection,
    cache: &mut WriterCache,
    batch: &mut [Box<dyn Job>],
    together: bool,
) -> Result<Vec<Option<Error>>, Error> {
    let mut refusals = Vec::with_capacity(batch.len());
    let mut start = 0;
    while start < batch.len() {
        let end = if together { group_end(batch, start) } else { start + 1 };
        if end - start > 1 {
            match connection.transaction(|connection| run_step(connection, cache, &mut batch[start..end])) {
                Ok(group_refusals) => {
                    refusals.extend(group_refusals);
                    start = end;
                    continue;
                }
                Err(error) => {
                    // The savepoint took the step's audit entries with it.
                    cache.unsure();
                    tracing::debug!(error = %error, calls = end - start, "calls could not run together; running them one by one");
                }
            }
        }
        for job in &mut batch[start..end] {
            let refusal = connection.transaction(|connection| run_in_time(job.as_mut(), connection, cache)).err();
            if refusal.is_some() {
                // The savepoint may have taken audit entries with it.
                cache.unsure();
            }
            refusals.push(refusal);
        }
        start = end;
    }
    Ok(refusals)
}

/// Runs calls of one kind as one step; fails as a whole when a call's deadline passed meanwhile.
/// Whatever it wrote must be rolled back when it fails.
fn run_step(
    connection: &mut AnyConnection,
    cache: &mut WriterCache,
    group: &mut [Box<dyn Job>],
) -> Result<Vec<Option<Error>>, Error> {
    let (first, others) =
        group.split_first_mut().ok_or_else(|| Error::internal("running calls together", "no calls"))?;
    cache.call_runs(first.leaves_writer_cache());
    let refusals = first.run_together(connection, cache, others)?;
    if refusals.len() != group.len() {
        return Err(Error::internal("running calls together", "an answer per call is missing"));
    }
    for job in group.iter() {
        check_deadline(job.deadline())?;
    }
    Ok(refusals)
}

/// Begins a transaction by taking the lock that orders every writer, and bounds the
/// transaction's statements and lock waits by `deadline` (PostgreSQL). On PostgreSQL that is
/// the audit counter's row, locked in the same round trip as the BEGIN. On SQLite it is the
/// database's write lock (`BEGIN IMMEDIATE`), so a second process on the same file waits its
/// busy timeout for it instead of failing on a stale snapshot.
fn begin_locked(connection: &mut AnyConnection, deadline: Option<Instant>) -> Result<(), Error> {
    match connection {
        AnyConnection::Postgresql(pg) => {
            let bound = match deadline {
                Some(deadline) => {
                    let millis = crate::deadline::remaining(deadline).ok_or_else(past_deadline)?.as_millis().max(1);
                    format!("SET LOCAL statement_timeout = {millis}; SET LOCAL lock_timeout = {millis}; ")
                }
                None => String::new(),
            };
            // The writer's statements are planned by the server's usual rules (see
            // `storage::ConnectionManager`).
            let begun = AnsiTransactionManager::begin_transaction_sql(
                pg,
                &format!(
                    "BEGIN; {bound}SET LOCAL plan_cache_mode = auto; \
                     SELECT 1 FROM sequences WHERE name = 'audit_log' FOR UPDATE"
                ),
            );
            if let Err(error) = begun {
                // A statement after the BEGIN failed (the lock's wait timed out, say): the
                // server's transaction is open, though diesel counts none. End it, so the
                // connection's next transaction begins afresh; if that fails too, the connection
                // is gone and its next statement fails.
                if let Err(rollback) = pg.batch_execute("ROLLBACK") {
                    tracing::warn!(error = %rollback, "ending a transaction whose write lock failed");
                }
                return Err(error).context("taking the write lock");
            }
            Ok(())
        }
        AnyConnection::Sqlite(_) => super::begin_writing(connection),
    }
}

/// The fault of a batch that did not commit, as each of its calls hears it.
fn shared(error: &Error) -> Error {
    match error {
        Error::DeadlineExceeded { reason } => Error::DeadlineExceeded { reason: reason.clone() },
        Error::ResourceExhausted { reason } => Error::ResourceExhausted { reason: reason.clone() },
        Error::Unavailable { reason } => Error::Unavailable { reason: reason.clone() },
        other => Error::Unavailable {
            reason: format!(
                "the transaction this call was part of did not commit ({other}); nothing was changed: retry with the \
                 same request id"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use diesel::Connection;
    use diesel::connection::SimpleConnection;

    use super::{AnyConnection, Batching, locked_transaction};

    /// On PostgreSQL the writer's transaction plans its statements by the server's usual rules
    /// (`plan_cache_mode = auto`), and the session's own setting holds again after it.
    #[test]
    fn the_writers_transactions_plan_by_the_servers_rules_and_leave_the_sessions_setting() {
        super::super::test_support::on_scratch_postgres("writer_plans", |mut pg| {
            use diesel::RunQueryDsl;
            use diesel_migrations::MigrationHarness;
            #[derive(diesel::QueryableByName)]
            struct Mode {
                #[diesel(sql_type = diesel::sql_types::Text)]
                plan_cache_mode: String,
            }
            pg.run_pending_migrations(super::super::POSTGRES_MIGRATIONS).unwrap();
            pg.batch_execute("SET plan_cache_mode = force_custom_plan").unwrap();
            let mut connection = AnyConnection::Postgresql(pg);
            let mode = |connection: &mut AnyConnection| {
                let AnyConnection::Postgresql(pg) = connection else { unreachable!() };
                diesel::sql_query("SHOW plan_cache_mode").get_result::<Mode>(pg).unwrap().plan_cache_mode
            };
            locked_transaction(&mut connection, None, |connection| {
                assert_eq!(mode(connection), "auto");
                Ok(())
            })
            .unwrap();
            assert_eq!(mode(&mut connection), "force_custom_plan");
        });
    }

    /// A write lock not had in time fails the transaction, and leaves the connection ready for
    /// the next one: the server's transaction that the BEGIN opened in the same round trip is
    /// ended too, though diesel never counted it.
    #[test]
    fn a_write_lock_not_had_in_time_leaves_the_connection_ready_on_postgresql() {
        super::super::test_support::on_scratch_postgres("writer_lock_wait", |mut pg| {
            use diesel::RunQueryDsl;
            use diesel_migrations::MigrationHarness;
            #[derive(diesel::QueryableByName)]
            struct Counter {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                last_value: i64,
            }
            let counter = |pg: &mut diesel::PgConnection| {
                diesel::sql_query("SELECT last_value FROM sequences WHERE name = 'audit_log'")
                    .get_result::<Counter>(pg)
                    .unwrap()
                    .last_value
            };
            #[derive(diesel::QueryableByName)]
            struct Name {
                #[diesel(sql_type = diesel::sql_types::Text)]
                name: String,
            }
            pg.run_pending_migrations(super::super::POSTGRES_MIGRATIONS).unwrap();
            let database = diesel::sql_query("SELECT current_database() AS name").get_result::<Name>(&mut pg).unwrap();
            let url = std::env::var("FLEXSETTLE_TEST_DATABASE_URL").unwrap();
            let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
            let mut holder = diesel::PgConnection::establish(&format!("{base}/{}", database.name)).unwrap();
            holder.batch_execute("BEGIN; SELECT 1 FROM sequences WHERE name = 'audit_log' FOR UPDATE").unwrap();
            let before = counter(&mut holder);

            let mut connection = AnyConnection::Postgresql(pg);
            let soon = std::time::Instant::now() + Duration::from_millis(200);
            let refused = locked_transaction(&mut connection, Some(soon), |_| Ok(()));
            assert!(refused.is_err(), "the lock is held elsewhere: {refused:?}");

            holder.batch_execute("COMMIT").unwrap();
            locked_transaction(&mut connection, None, |connection| {
                connection
                    .batch_execute("UPDATE sequences SET last_value = last_value + 1 WHERE name = 'audit_log'")?;
                Ok(())
            })
            .unwrap();
            assert_eq!(counter(&mut holder), before + 1, "the next transaction committed");
        });
    }

    /// On SQLite the transaction holds the database's write lock from its first statement: a
    /// second connection cannot begin writing meanwhile.
    #[test]
    fn the_writers_transaction_holds_the_write_lock_from_its_start_on_sqlite() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("lock.db");
        let path = path.to_str().unwrap();
        let mut first = AnyConnection::Sqlite(diesel::SqliteConnection::establish(path).unwrap());
        let mut second = diesel::SqliteConnection::establish(path).unwrap();
        second.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
        locked_transaction(&mut first, None, |_| {
            let busy = second.batch_execute("BEGIN IMMEDIATE");
            assert!(busy.is_err(), "a second writer began while the first held the lock");
            Ok(())
        })
        .unwrap();
        second.batch_execute("BEGIN IMMEDIATE; COMMIT").unwrap();
    }

    #[test]
    fn the_busy_window_is_the_backends_own_unless_configured() {
        let unset = Batching::default();
        assert_eq!(unset.busy_window_of("postgresql"), Duration::from_millis(1));
        assert_eq!(unset.busy_window_of("sqlite"), Duration::ZERO);
        let set = Batching { busy_window: Some(Duration::from_micros(250)), ..Batching::default() };
        assert_eq!(set.busy_window_of("postgresql"), Duration::from_micros(250));
        assert_eq!(set.busy_window_of("sqlite"), Duration::from_micros(250));
    }
}
