//! flexsettle: the settlement service of Flextensie's flexpool. Verified hours actually worked
//! are charged against a municipality's realised savings as far as the result allows, and every
//! change is recorded in an append-only audit log. See `DESIGN.md` for the behaviour contract.
//!
//! Layers, with dependencies pointing one way: [`grpc`] (transport) → [`service`]
//! (orchestration, one transaction per call) → [`domain`] (pure) ← [`storage`] (diesel).
//! [`startup`] wires them together.

/// The allocator of every binary built with this crate, so that the service, its tests and its
/// benchmarks allocate alike (see `Cargo.toml`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod audit_tool;
pub mod auth;
pub mod configuration;
pub mod deadline;
pub mod demo;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod metrics;
pub mod service;
pub mod startup;
pub mod storage;
pub mod telemetry;
