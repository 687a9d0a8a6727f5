//! Graceful shutdown: SIGTERM during a stream of CreateContract calls loses no acknowledged
//! contract. The real binary runs as a child process; the test restarts it and counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use flexsettle::configuration::AuthSettings;
use flexsettle::domain::Role;
use tokio::sync::Mutex;

use crate::helpers::{ServerProcess, TestDatabase, client, create_contract_request, dev_token};

/// Acknowledged contracts after which the server gets SIGTERM.
const ACKED_BEFORE_SIGTERM: usize = 40;
/// Writers calling at once.
const WRITERS: usize = 4;
/// Upper bound of calls per writer, so the loop always ends.
const CALLS_PER_WRITER_MAX: usize = 5_000;

on_both_backends! {
    async fn sigterm_during_a_stream_of_creates_loses_no_acknowledged_contract(app) {
        // The harness's own server is not used: this test runs the binary on a database of its own.
        let backend = app.backend;
        drop(app);
        let database = tokio::task::spawn_blocking(move || TestDatabase::create(backend)).await.unwrap();
        let url = database.url().to_owned();
        let data_dir = tempfile::tempdir().unwrap();
        let server = Arc::new(std::sync::Mutex::new(ServerProcess::start(&url, data_dir.path())));
        // The server made its development key at start; sign an admin token with it.
        let authorization = format!("Bearer {}", dev_token(data_dir.path(), &AuthSettings::default(), Role::Admin));
        let address = server.lock().unwrap().address.clone();

        let acked = Arc::new(Mutex::new(Vec::<String>::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let client = client(&address, Some(&authorization));
            let (acked, count, server) = (acked.clone(), count.clone(), server.clone());
            writers.push(tokio::spawn(async move {
                let mut client = client;
                for call in 0..CALLS_PER_WRITER_MAX {
                    let request = create_contract_request(&format!("w{writer}-{call}"), &format!("w{writer}-{call}"));
                    match client.create_contract(request).await {
                        Ok(response) => {
                            acked.lock().await.push(response.into_inner().name);
                            if count.fetch_add(1, Ordering::SeqCst) + 1 == ACKED_BEFORE_SIGTERM {
                                server.lock().unwrap().terminate();
                            }
                        }
                        Err(_) => return call,
                    }
                }
                CALLS_PER_WRITER_MAX
            }));
        }
        for writer in writers {
            assert!(writer.await.unwrap() < CALLS_PER_WRITER_MAX, "a writer never saw the server stop");
        }
        let exit = tokio::task::spawn_blocking(move || server.lock().unwrap().child.wait().unwrap()).await.unwrap();
        assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");

        let acked = acked.lock().await.clone();
        eprintln!("{} contracts acknowledged, SIGTERM after {ACKED_BEFORE_SIGTERM}", acked.len());
        assert!(acked.len() >= ACKED_BEFORE_SIGTERM);
        let restarted = ServerProcess::start(&url, data_dir.path());
        let mut client = client(&restarted.address, Some(&authorization));
        for name in &acked {
            let read = client
                .get_contract(flexsettle::grpc::api::GetContractRequest { name: name.clone() })
                .await
                .unwrap_or_else(|status| panic!("acknowledged {name} was lost: {status}"));
            assert_eq!(&read.into_inner().name, name);
        }
        restarted.terminate();
        let mut restarted = restarted;
        assert!(restarted.child.wait().unwrap().success());
    }
}

/// Past the shutdown grace, a call stuck on the database does not keep the process alive: it
/// exits at once, and the stuck write — its connection closed with the process — never commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_grace_a_stuck_write_is_rolled_back_and_the_process_exits() {
    use diesel::{Connection, RunQueryDsl};
    if !crate::helpers::postgres_configured() {
        return;
    }
    let database =
        tokio::task::spawn_blocking(|| TestDatabase::create(crate::helpers::Backend::Postgres)).await.unwrap();
    let url = database.url().to_owned();
    let data_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(&url, data_dir.path(), &[("FLEXSETTLE_LIMITS__SHUTDOWN_GRACE_MS", "1500")]);
    let authorization = format!("Bearer {}", dev_token(data_dir.path(), &AuthSettings::default(), Role::Admin));
    // Another transaction holds the audit counter's row: every write waits for it.
    let held = crate::helpers::AuditCounterHeld::take(&url);
    let mut stuck_client = client(&server.address, Some(&authorization));
    let stuck =
        tokio::spawn(async move { stuck_client.create_contract(create_contract_request("stuck", "stuck")).await });
    // SIGTERM once the call waits in the database for the lock (as PostgreSQL reports it).
    let watched = url.clone();
    tokio::task::spawn_blocking(move || {
        #[derive(diesel::QueryableByName)]
        struct Waiting {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            waiting: i64,
        }
        let mut connection = diesel::PgConnection::establish(&watched).unwrap();
        let started = std::time::Instant::now();
        while diesel::sql_query(
            "SELECT count(*) AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result::<Waiting>(&mut connection)
        .unwrap()
        .waiting
            == 0
        {
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "the call never reached the database");
        }
    })
    .await
    .unwrap();
    let terminated = std::time::Instant::now();
    server.terminate();
    let mut server = server;
    // Bounded: a process that outlives its grace is killed, and the test fails.
    let (exited, server) = tokio::task::spawn_blocking(move || {
        while terminated.elapsed() < std::time::Duration::from_secs(10) {
            if server.child.try_wait().unwrap().is_some() {
                return (true, server);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        (false, server)
    })
    .await
    .unwrap();
    let took = terminated.elapsed();
    if !exited {
        held.release();
        drop(server);
        panic!("the process outlived its grace by far: still running {took:?} after SIGTERM");
    }
    assert!(took < std::time::Duration::from_secs(6), "the process outlived its grace: {took:?}");
    assert!(stuck.await.unwrap().is_err(), "the stuck call was not acknowledged");
    held.release();
    let url_for_count = url.clone();
    let created: i64 = tokio::task::spawn_blocking(move || {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }
        let mut connection = diesel::PgConnection::establish(&url_for_count).unwrap();
        diesel::sql_query("SELECT count(*) AS count FROM contracts WHERE id = 'stuck'")
            .get_result::<Count>(&mut connection)
            .unwrap()
            .count
    })
    .await
    .unwrap();
    assert_eq!(created, 0, "the stuck write never committed");
    drop(server);
}

/// `flexsettle migrate` against PostgreSQL over TLS ends cleanly every time: no pool thread is
/// left opening or closing a connection while libpq's and OpenSSL's exit handlers run (it
/// crashed in about 1 run of 12).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_over_tls_never_crashes_at_exit() {
    if !crate::helpers::postgres_configured() {
        return;
    }
    let database =
        tokio::task::spawn_blocking(|| TestDatabase::create(crate::helpers::Backend::Postgres)).await.unwrap();
    let url = format!("{}?sslmode=require", database.url());
    let data_dir = tempfile::tempdir().unwrap();
    for run in 0..24 {
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_flexsettle"))
            .arg("migrate")
            .env("FLEXSETTLE_DATABASE_URL", &url)
            .env("FLEXSETTLE_DATA_DIR", data_dir.path())
            .env("FLEXSETTLE_LOG__FILTER", "error")
            .env_remove("RUST_LOG")
            .status()
            .unwrap();
        assert!(status.success(), "run {run}: {status:?}");
    }
}
