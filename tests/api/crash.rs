//! The crash harness: the real binary under concurrent writes, killed with SIGKILL at seeded
//! random moments and restarted, cycle after cycle. Afterwards every write is retried with its
//! request id: an acknowledged write replays its first answer exactly, an unacknowledged one
//! either replays (it had committed) or happens now — and in the end every write is present
//! exactly once, the audit log is gapless with one entry per change, and nothing is half there.
//!
//! CI runs `FLEXSETTLE_CRASH_CYCLES` (default 10) cycles per backend; the README gives the
//! command of a 1,000-cycle run. `FLEXSETTLE_CRASH_SEED` picks the schedule.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flexsettle::configuration::AuthSettings;
use flexsettle::domain::Role;
use flexsettle::grpc::api;

use crate::helpers::{Backend, Random, ServerProcess, TestDatabase, client, create_contract_request, dev_token};

/// Writers calling at once during a cycle.
const WRITERS: usize = 4;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// What the writers saw: the first answer of each acknowledged request, and every request sent.
#[derive(Default)]
struct Seen {
    acknowledged: BTreeMap<String, api::Contract>,
    sent: BTreeSet<String>,
}

async fn sigkill_cycles_lose_nothing_and_double_nothing(backend: Backend) {
    let cycles = setting("FLEXSETTLE_CRASH_CYCLES", 10);
    let mut random = Random(setting("FLEXSETTLE_CRASH_SEED", 0xC4A5_4001) | 1);
    let database = tokio::task::spawn_blocking(move || TestDatabase::create(backend)).await.unwrap();
    let url = database.url().to_owned();
    let data_dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut kills = 0;
    for cycle in 0..cycles {
        let mut server = ServerProcess::start(&url, data_dir.path());
        let authorization = format!("Bearer {}", dev_token(data_dir.path(), &AuthSettings::default(), Role::Admin));
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let mut client = client(&server.address, Some(&authorization));
            let seen = seen.clone();
            writers.push(tokio::spawn(async move {
                for call in 0.. {
                    let id = format!("k{cycle}-{writer}-{call}");
                    seen.lock().unwrap().sent.insert(id.clone());
                    match client.create_contract(create_contract_request(&id, &id)).await {
                        Ok(answer) => {
                            seen.lock().unwrap().acknowledged.insert(id, answer.into_inner());
                        }
                        Err(_) => return,
                    }
                }
            }));
        }
        // The fault: SIGKILL at a seeded moment of the load (this sleep is the fault's timing,
        // not a wait for anything).
        tokio::time::sleep(Duration::from_millis(20 + random.below(180))).await;
        let _ = server.child.kill();
        let _ = server.child.wait();
        kills += 1;
        for writer in writers {
            writer.await.unwrap();
        }
    }
    // Recovery: every request again, with its request id, against a fresh start.
    let server = ServerProcess::start(&url, data_dir.path());
    let authorization = format!("Bearer {}", dev_token(data_dir.path(), &AuthSettings::default(), Role::Admin));
    let mut retry = client(&server.address, Some(&authorization));
    let Seen { acknowledged, sent } = std::mem::take(&mut *seen.lock().unwrap());
    for id in &sent {
        let answer = retry.create_contract(create_contract_request(id, id)).await.unwrap().into_inner();
        if let Some(first) = acknowledged.get(id) {
            assert_eq!(&answer, first, "{id}: an acknowledged write replays its first answer exactly");
        }
    }
    // Every write exactly once, and the log gapless with one entry per change.
    let contracts: BTreeSet<String> =
        crate::helpers::all_contracts(&mut retry).await.into_iter().map(|contract| contract.name).collect();
    let expected: BTreeSet<String> = sent.iter().map(|id| format!("contracts/{id}")).collect();
    assert_eq!(contracts, expected);
    let mut audit = api::audit_service_client::AuditServiceClient::new(
        tonic::transport::Channel::from_shared(server.address.clone()).unwrap().connect().await.unwrap(),
    );
    let auditor = dev_token(data_dir.path(), &AuthSettings::default(), Role::Auditor);
    let mut sequences = Vec::new();
    let mut resources = BTreeMap::<String, usize>::new();
    let mut page_token = String::new();
    loop {
        let mut request =
            tonic::Request::new(api::ListAuditEntriesRequest { page_size: 500, page_token, ..Default::default() });
        request.metadata_mut().insert("authorization", format!("Bearer {auditor}").parse().unwrap());
        let page = audit.list_audit_entries(request).await.unwrap().into_inner();
        for entry in page.entries {
            sequences.push(entry.sequence);
            *resources.entry(entry.resource).or_default() += 1;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(sequences, (1..=i64::try_from(sequences.len()).unwrap()).collect::<Vec<_>>(), "a gapless log");
    assert_eq!(resources.len(), expected.len(), "one entry per contract");
    assert!(resources.values().all(|count| *count == 1), "no change recorded twice");
    eprintln!(
        "{kills} SIGKILL cycles: {} writes sent, {} acknowledged before their kill, 0 lost, 0 doubled",
        sent.len(),
        acknowledged.len()
    );
}

on_both!(sigkill_cycles_lose_nothing_and_double_nothing);
