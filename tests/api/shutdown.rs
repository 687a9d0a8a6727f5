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
