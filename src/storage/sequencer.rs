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
//! - **Deadlines.** A call whose deadline passed, or whose caller went away, before its turn does
//!   not run; one that runs past its deadline is rolled back to its savepoint. On PostgreSQL every
//!   statement of the batch is bounded by the latest deadline in it.

use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::connection::SimpleConnection;

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
    fn run(&mut self, connection: &mut AnyConnection) -> Result<(), Error>;
    /// Answers the caller once the batch's fate is known: its kept answer when `outcome` is
    /// `Ok`, else the error.
    fn settle(self: Box<Self>, outcome: Result<(), Error>);
}

/// How the writer gathers calls into one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// After the first call arrives, how long to wait for more before starting. Zero (the
    /// default) starts at once with whatever is waiting: calls that arrive while a batch runs
    /// form the next one, so batches grow with the load and a lone call waits for nothing.
    pub window: Duration,
    /// Most calls in one transaction (0 counts as 1).
    pub max_calls: usize,
}

impl Default for Batching {
    fn default() -> Batching {
        Batching { window: Duration::ZERO, max_calls: 128 }
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
    while let Ok(first) = waiting.recv() {
        let mut batch = vec![first];
        let gather_until = Instant::now() + batching.window;
        // A call already queued is taken at once, even with no window left.
        while batch.len() < max_calls {
            match waiting.recv_timeout(gather_until.saturating_duration_since(Instant::now())) {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(pool, batch, system);
    }
}

/// Runs one batch in one transaction and answers every call in it.
fn commit(pool: &Pool, batch: Vec<Box<dyn Job>>, system: &'static str) {
    let instruments = crate::metrics::get();
    let system_attribute = opentelemetry::KeyValue::new("db.system.name", system);
    instruments.write_batch_calls.record(batch.len() as u64, std::slice::from_ref(&system_attribute));
    // Calls that need not run (their caller is gone, or their deadline has passed) are answered
    // without touching the database.
    let (mut batch, skipped): (Vec<_>, Vec<_>) =
        batch.into_iter().partition(|job| !job.abandoned() && check_deadline(job.deadline()).is_ok());
    for job in skipped {
        job.settle(Err(past_deadline()));
    }
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
    let mut refusals: Vec<Option<Error>> = Vec::with_capacity(batch.len());
    let alone = batch.len() == 1;
    let committed = connection.transaction::<(), Error, _>(|connection| {
        take_write_lock(connection, deadline)?;
        for job in &mut batch {
            let job_deadline = job.deadline();
            let mut work = |connection: &mut AnyConnection| {
                job.run(connection)?;
                // Past the deadline the caller has been told so: its work may not commit.
                check_deadline(job_deadline)
            };
            let outcome = if alone {
                // A lone call's refusal rolls back the whole transaction: no savepoint needed.
                work(connection)
            } else {
                connection.transaction(|connection| work(connection))
            };
            if alone && let Err(error) = outcome {
                return Err(error);
            }
            refusals.push(outcome.err());
        }
        Ok(())
    });
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

/// Takes the lock that orders every writer, as the transaction's first statement, and bounds
/// the transaction's statements and lock waits by `deadline` (PostgreSQL). On SQLite that is the
/// database's write lock, so a second process on the same file waits its busy timeout for it
/// instead of failing on a stale snapshot.
fn take_write_lock(connection: &mut AnyConnection, deadline: Option<Instant>) -> Result<(), Error> {
    match connection {
        AnyConnection::Postgresql(pg) => {
            let bound = match deadline {
                Some(deadline) => {
                    let millis = crate::deadline::remaining(deadline).ok_or_else(past_deadline)?.as_millis().max(1);
                    format!("SET LOCAL statement_timeout = {millis}; SET LOCAL lock_timeout = {millis}; ")
                }
                None => String::new(),
            };
            pg.batch_execute(&format!("{bound}SELECT 1 FROM sequences WHERE name = 'audit_log' FOR UPDATE"))
                .context("taking the write lock")
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
