//! Black-box tests of the gRPC API over a real server on port 0. Every test that touches the
//! database runs twice: on a fresh SQLite file and, when `FLEXSETTLE_TEST_DATABASE_URL` is set,
//! on a fresh PostgreSQL database.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failed expectation is a failed test")]

#[macro_use]
mod helpers;

mod access;
mod audit;
mod contracts;
mod crash;
mod demo;
mod faults;
mod figures;
mod gonogo;
mod health;
mod hostile;
mod hours;
mod idempotency;
mod intercedents;
mod invoices;
#[path = "../model/settlement_model.rs"]
mod model;
mod model_agreement;
mod pool;
mod savings;
mod schema;
mod settlement;
mod shutdown;
mod telemetry;
mod tls;
mod tokens;
