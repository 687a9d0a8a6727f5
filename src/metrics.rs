//! The service's OpenTelemetry instruments, made once from the global meter provider (the no-op
//! provider unless `telemetry::init` installed an exporter, so recording costs next to nothing
//! when metrics are off). Names follow OpenTelemetry's semantic conventions where one exists
//! (`rpc.server.*`, `db.client.*`), `flexsettle.*` otherwise. Amounts are counted in cents.

use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, UpDownCounter};

/// Every instrument the service records into.
#[derive(Debug)]
pub struct Instruments {
    /// `rpc.server.call.duration`: seconds per call, by service, method and status code.
    pub call_duration: Histogram<f64>,
    /// `rpc.server.active_requests`: calls in flight.
    pub calls_in_flight: UpDownCounter<i64>,
    /// `db.client.connection.wait_time`: seconds waited for a pooled connection.
    pub connection_wait: Histogram<f64>,
    /// `db.client.operation.duration`: seconds of database work per call, by operation.
    pub db_duration: Histogram<f64>,
    /// `flexsettle.db.write_batch.calls`: calls committed together in one write transaction
    /// (group commit).
    pub write_batch_calls: Histogram<u64>,
    /// `flexsettle.db.transaction.aborts`: transactions the database aborted (retryable by the
    /// client with its request id), by reason.
    pub transaction_aborts: Counter<u64>,
    /// `flexsettle.hours.entries`: hour entries submitted, verified and rejected.
    pub hour_entries: Counter<u64>,
    /// `flexsettle.savings.records`: savings records submitted, verified and rejected.
    pub savings_records: Counter<u64>,
    /// `flexsettle.statements.issued`: statements issued.
    pub statements_issued: Counter<u64>,
    /// `flexsettle.settlement.amount`: cents covered, borne and shifted, by risk mode.
    pub settled_cents: Counter<u64>,
}

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

/// The instruments. The first call makes them from the global meter provider, so install the
/// provider (`telemetry::init`) before the first call is served.
pub fn get() -> &'static Instruments {
    INSTRUMENTS.get_or_init(|| Instruments::new(&opentelemetry::global::meter(crate::telemetry::SCOPE)))
}

impl Instruments {
    fn new(meter: &Meter) -> Instruments {
        Instruments {
            call_duration: meter
                .f64_histogram("rpc.server.call.duration")
                .with_unit("s")
                .with_description("Duration of gRPC calls served")
                .with_boundaries(vec![
                    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ])
                .build(),
            calls_in_flight: meter
                .i64_up_down_counter("rpc.server.active_requests")
                .with_unit("{request}")
                .with_description("gRPC calls in flight")
                .build(),
            connection_wait: meter
                .f64_histogram("db.client.connection.wait_time")
                .with_unit("s")
                .with_description("Time waited for a pooled database connection")
                .build(),
            db_duration: meter
                .f64_histogram("db.client.operation.duration")
                .with_unit("s")
                .with_description("Duration of a call's database work, connection wait included")
                .build(),
            write_batch_calls: meter
                .u64_histogram("flexsettle.db.write_batch.calls")
                .with_unit("{call}")
                .with_description("Calls committed together in one write transaction (group commit)")
                .with_boundaries(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0])
                .build(),
            transaction_aborts: meter
                .u64_counter("flexsettle.db.transaction.aborts")
                .with_unit("{transaction}")
                .with_description("Transactions aborted by a database fault; the client retries with its request id")
                .build(),
            hour_entries: meter
                .u64_counter("flexsettle.hours.entries")
                .with_unit("{entry}")
                .with_description("Hour entries submitted, verified and rejected")
                .build(),
            savings_records: meter
                .u64_counter("flexsettle.savings.records")
                .with_unit("{record}")
                .with_description("Savings records submitted, verified and rejected")
                .build(),
            statements_issued: meter
                .u64_counter("flexsettle.statements.issued")
                .with_unit("{statement}")
                .with_description("Settlement statements issued")
                .build(),
            settled_cents: meter
                .u64_counter("flexsettle.settlement.amount")
                .with_unit("{cent}")
                .with_description("Cost covered by the result, borne by Flextensie and shifted to the municipality")
                .build(),
        }
    }
}

/// Counts `count` hour entries that reached `state` (`submitted`, `verified`, `rejected`).
pub fn hour_entries(count: usize, state: &'static str) {
    get().hour_entries.add(u64::try_from(count).unwrap_or(u64::MAX), &[KeyValue::new("state", state)]);
}

/// Counts `count` savings records that reached `state`.
pub fn savings_records(count: usize, state: &'static str) {
    get().savings_records.add(u64::try_from(count).unwrap_or(u64::MAX), &[KeyValue::new("state", state)]);
}

/// Counts an issued statement and its amounts (cents; a negative amount, which a correction can
/// make, is not a count and is left out).
pub fn statement_issued(risk_mode: &'static str, covered: i64, borne: i64, shifted: i64) {
    let instruments = get();
    let mode = KeyValue::new("flexsettle.risk_shift_mode", risk_mode);
    instruments.statements_issued.add(1, std::slice::from_ref(&mode));
    for (kind, cents) in [("covered", covered), ("borne", borne), ("shifted", shifted)] {
        if let Ok(cents) = u64::try_from(cents) {
            instruments.settled_cents.add(cents, &[mode.clone(), KeyValue::new("flexsettle.amount.kind", kind)]);
        }
    }
}

/// A count taken inside a transaction, to record only once the transaction has committed (a
/// replayed call does not run its transaction, so it counts nothing).
#[derive(Debug, Clone, Default)]
pub struct Tally(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Tally {
    /// Notes the count.
    pub fn set(&self, count: usize) {
        self.0.store(count, std::sync::atomic::Ordering::Relaxed);
    }

    /// The count noted, 0 when none was.
    #[must_use]
    pub fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}
