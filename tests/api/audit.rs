//! The auditors' log (DESIGN.md §5, docs/audit-log.md): every proof the server serves verifies
//! against its signed checkpoints, a statement's evidence verifies offline, a stream delivers
//! every entry once across a reconnect, tampering behind the service's back is caught by
//! `flexsettle audit verify` — naming the entry — and two replicas publish one tree.

use std::process::Command;
use std::time::Duration;

use flexsettle::audit_tool::{self, EvidenceFile};
use flexsettle::domain::tlog::{self, Hash, NoteVerifier};
use flexsettle::domain::{CbsCode, Role};
use flexsettle::grpc::api;
use tonic::Code;

use crate::gonogo::{CONTRACT, spawn_at, utrecht, worked_example};
use crate::helpers::{Backend, Random, ServerProcess, TestApp, TestDatabase, create_contract_request};
use crate::settlement::settle;

type AuditClient = api::audit_service_client::AuditServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, crate::helpers::Bearer>,
>;

fn audit_at(address: &str, token: &str) -> AuditClient {
    let value = format!("Bearer {token}").parse().unwrap();
    let channel = tonic::transport::Channel::from_shared(address.to_owned()).unwrap().connect_lazy();
    api::audit_service_client::AuditServiceClient::with_interceptor(channel, crate::helpers::Bearer::new(Some(value)))
}

fn audit_as(app: &TestApp, role: Role) -> AuditClient {
    audit_at(&app.address, &app.token(role))
}

async fn verifier(client: &mut AuditClient) -> NoteVerifier {
    let key = client.get_log_public_key(api::GetLogPublicKeyRequest {}).await.unwrap().into_inner();
    let verifier = NoteVerifier::parse(&key.verifier_key).unwrap();
    assert_eq!(verifier.public_key().as_slice(), key.ed25519_public_key.as_slice());
    assert_eq!(verifier.name(), key.origin);
    verifier
}

fn hash(bytes: &[u8]) -> Hash {
    bytes.try_into().unwrap()
}

fn hashes(list: &[Vec<u8>]) -> Vec<Hash> {
    list.iter().map(|bytes| hash(bytes)).collect()
}

/// A checkpoint as served, its signature checked: (size, root).
fn opened(checkpoint: &api::Checkpoint, verifier: &NoteVerifier) -> (u64, Hash) {
    let body = audit_tool::open_checkpoint(&checkpoint.signed_note, verifier).unwrap();
    assert_eq!(body.size, u64::try_from(checkpoint.tree_size).unwrap());
    assert_eq!(body.root.as_slice(), checkpoint.root_hash.as_slice());
    (body.size, body.root)
}

/// Appends entries `from..=to` to the log behind the service's back (bulk SQL: a few thousand
/// entries through the API would only slow the test down, and the integrator cannot tell).
async fn append_raw_entries(app: &TestApp, from: u64, to: u64) {
    let time = match app.backend {
        Backend::Sqlite => "'2027-01-01 10:00:00'",
        Backend::Postgres => "TIMESTAMP '2027-01-01 10:00:00'",
    };
    app.execute_sql(format!(
        "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {to}) \
         INSERT INTO audit_log (seq, recorded_at, principal_subject, principal_role, action, resource, request_id, payload) \
         SELECT i, {time}, 'bulk', 'admin', 'contract.create', 'contracts/bulk-' || i, 'bulk-' || i, '{{\"n\":' || i || '}}' FROM n"
    ))
    .await
    .unwrap();
}

/// The log grows in random steps to a few thousand entries; after each step the server
/// publishes a checkpoint. Every checkpoint's signature verifies, every consistency proof
/// between any two of them verifies, and every entry's inclusion proof verifies in the last
/// tree (and random ones in every earlier tree).
async fn every_proof_the_server_serves_verifies_against_its_checkpoints(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = audit_as(&app, Role::Auditor);
    let verifier = verifier(&mut client).await;
    let mut random = Random(0x7105_2024);
    let mut checkpoints = Vec::new();
    let mut size = 0;
    while size < 3_000 {
        let step = 1 + random.below(if checkpoints.len() % 3 == 0 { 9 } else { 700 });
        append_raw_entries(&app, size + 1, size + step).await;
        size += step;
        let checkpoint = client.get_checkpoint(api::GetCheckpointRequest { tree_size: 0 }).await.unwrap().into_inner();
        checkpoints.push(opened(&checkpoint, &verifier));
        assert_eq!(checkpoints.last().unwrap().0, size);
    }
    let root_of = |size: u64| checkpoints.iter().find(|(s, _)| *s == size).unwrap().1;
    for (index, &(older, older_root)) in checkpoints.iter().enumerate() {
        for &(newer, newer_root) in &checkpoints[index..] {
            let proof = client
                .get_consistency_proof(api::GetConsistencyProofRequest {
                    from_tree_size: i64::try_from(older).unwrap(),
                    to_tree_size: i64::try_from(newer).unwrap(),
                })
                .await
                .unwrap()
                .into_inner();
            tlog::verify_consistency(older, newer, &older_root, &newer_root, &hashes(&proof.hashes))
                .unwrap_or_else(|error| panic!("consistency {older} → {newer}: {error}"));
        }
        // A checkpoint of any size published is served again, unchanged.
        let again = client
            .get_checkpoint(api::GetCheckpointRequest { tree_size: i64::try_from(older).unwrap() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(opened(&again, &verifier), (older, older_root));
    }
    let prove = |sequence: u64, tree_size: u64| api::GetInclusionProofRequest {
        sequence: i64::try_from(sequence).unwrap(),
        tree_size: i64::try_from(tree_size).unwrap(),
    };
    let mut checked = 0;
    for &(tree_size, root) in &checkpoints {
        let sequences: Vec<u64> = if tree_size == size {
            (1..=tree_size).collect()
        } else {
            (0..5).map(|_| 1 + random.below(tree_size)).collect()
        };
        for sequence in sequences {
            let proof = client.get_inclusion_proof(prove(sequence, tree_size)).await.unwrap().into_inner();
            assert_eq!(proof.leaf_index, i64::try_from(sequence - 1).unwrap());
            tlog::verify_inclusion(sequence - 1, tree_size, &hash(&proof.leaf_hash), &hashes(&proof.hashes), &root)
                .unwrap_or_else(|error| panic!("inclusion of {sequence} in {tree_size}: {error}"));
            checked += 1;
        }
    }
    assert_eq!(root_of(size), checkpoints.last().unwrap().1);
    // An entry outside the tree has no proof.
    let outside = client.get_inclusion_proof(prove(size + 1, size)).await.unwrap_err();
    assert_eq!(outside.code(), Code::InvalidArgument);
    eprintln!(
        "{} checkpoints up to {size} entries: every consistency proof and {checked} inclusion proofs verify",
        checkpoints.len()
    );
}

/// A municipality's finance system keeps a statement's evidence beside the booked statement and
/// verifies it offline with the log's public key alone; a changed statement fails.
async fn a_statements_evidence_verifies_offline(backend: Backend) {
    let app = spawn_at(backend, "2027-07-15T10:00:00Z").await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    let january = settle(&app, 1).await.unwrap();
    settle(&app, 2).await.unwrap();
    let verifier = verifier(&mut audit_as(&app, utrecht())).await;
    let evidence: EvidenceFile =
        flexsettle::grpc::client::fetch_evidence(&app.address, &app.token(utrecht()), &january.name).await.unwrap();
    assert_eq!(evidence.content_sha256, january.content_sha256);
    let checkpoint = audit_tool::verify_evidence(&evidence, &verifier).unwrap();
    assert!(checkpoint.size >= u64::try_from(january.audit_sequence).unwrap());
    // The same bundle with the statement's content changed, or of another statement, fails.
    let forged = EvidenceFile { content: evidence.content.replace("177438", "177439"), ..evidence.clone() };
    assert_ne!(forged.content, evidence.content);
    assert!(audit_tool::verify_evidence(&forged, &verifier).is_err());
    let renamed = EvidenceFile { statement: format!("{CONTRACT}/statements/2027-02-01"), ..evidence.clone() };
    assert!(audit_tool::verify_evidence(&renamed, &verifier).is_err());
    // Another municipality may not fetch it.
    let other = Role::Gemeente(CbsCode::parse("GM0363").unwrap());
    let refused = audit_as(&app, other)
        .get_statement_evidence(api::GetStatementEvidenceRequest { name: january.name.clone() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    // `flexsettle audit prove` checks it from a file with nothing but the public key.
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("evidence.json");
    std::fs::write(&file, serde_json::to_vec(&evidence).unwrap()).unwrap();
    let output = flexsettle_command(&app, &["audit", "prove", "--statement", &january.name, "--evidence"])
        .arg(&file)
        .args(["--public-key", &verifier.vkey()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
}

/// A municipality lists only the entries of its own contracts.
async fn a_municipality_reads_only_its_own_entries(backend: Backend) {
    let app = spawn_at(backend, "2027-07-15T10:00:00Z").await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    app.create_contract(api::CreateContractRequest {
        contract: Some(api::Contract { gemeente: "GM0363".to_owned(), ..crate::helpers::worked_example_contract() }),
        ..create_contract_request("amsterdam", "amsterdam")
    })
    .await
    .unwrap();
    let all = audit_as(&app, Role::Auditor)
        .list_audit_entries(api::ListAuditEntriesRequest { page_size: 500, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let own = audit_as(&app, utrecht())
        .list_audit_entries(api::ListAuditEntriesRequest { page_size: 500, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(all.iter().any(|entry| entry.resource == "contracts/amsterdam"));
    assert!(!own.is_empty());
    assert!(own.iter().all(|entry| entry.resource == CONTRACT || entry.resource.starts_with(&format!("{CONTRACT}/"))));
    let expected = all.iter().filter(|entry| entry.resource.starts_with(CONTRACT)).count();
    assert_eq!(own.len(), expected);
    // Each entry's leaf is what the document says, and its hash is the leaf's.
    for entry in &own {
        let read = flexsettle::domain::audit::AuditEntry::from_leaf(&entry.leaf).unwrap();
        assert_eq!(
            (read.seq, read.resource.as_str(), read.payload.as_str()),
            (entry.sequence, entry.resource.as_str(), entry.payload.as_str())
        );
        assert_eq!(tlog::leaf_hash(&entry.leaf).as_slice(), entry.leaf_hash.as_slice());
    }
}

/// `StreamAuditEntries` delivers every entry exactly once, in order, across a disconnect and a
/// resume, while writes go on.
async fn a_stream_delivers_every_entry_once_across_a_resume(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    const WRITES: usize = 60;
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            for index in 0..WRITES {
                app.create_contract(create_contract_request(&format!("w-{index}"), "")).await.unwrap();
            }
        })
    };
    let mut client = audit_as(&app, Role::Auditor);
    let mut seen: Vec<i64> = Vec::new();
    // Read a first part, then drop the stream mid-way.
    let mut stream =
        client.stream_audit_entries(api::StreamAuditEntriesRequest { start_sequence: 1 }).await.unwrap().into_inner();
    while seen.len() < WRITES / 3 {
        seen.push(next_entry(&mut stream).await.sequence);
    }
    drop(stream);
    // Resume from the next sequence number, and follow until every write is in.
    let resume = seen.last().unwrap() + 1;
    let mut stream = client
        .stream_audit_entries(api::StreamAuditEntriesRequest { start_sequence: resume })
        .await
        .unwrap()
        .into_inner();
    while seen.len() < WRITES {
        seen.push(next_entry(&mut stream).await.sequence);
    }
    writer.await.unwrap();
    assert_eq!(seen, (1..=i64::try_from(WRITES).unwrap()).collect::<Vec<_>>());
}

/// The next entry of a stream, within a generous bound (a hung stream fails the test).
async fn next_entry(stream: &mut tonic::Streaming<api::AuditEntry>) -> api::AuditEntry {
    tokio::time::timeout(Duration::from_secs(20), stream.message())
        .await
        .expect("the stream delivers within 20 s")
        .unwrap()
        .expect("the stream stays open")
}

/// `flexsettle` with the test server's database and data folder.
fn flexsettle_command(app: &TestApp, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flexsettle"));
    command
        .args(args)
        .env("FLEXSETTLE_DATABASE_URL", &app.settings.database_url)
        .env("FLEXSETTLE_DATA_DIR", &app.settings.data_dir)
        .env("FLEXSETTLE_LOG__FILTER", "warn")
        .env_remove("RUST_LOG");
    command
}

/// Exports the log from the database and verifies it with `flexsettle audit`; gives the
/// verification's exit success and output.
fn export_and_verify(app: &TestApp, folder: &std::path::Path, key: &str, extra: &[&str]) -> (bool, String) {
    let export = folder.join("log.jsonl");
    let exported = flexsettle_command(app, &["audit", "export", "--out"]).arg(&export).output().unwrap();
    assert!(
        exported.status.success(),
        "{:?}: {} {}",
        exported.status,
        String::from_utf8_lossy(&exported.stdout),
        String::from_utf8_lossy(&exported.stderr)
    );
    let verified = flexsettle_command(app, &["audit", "verify", "--input"])
        .arg(&export)
        .args(["--public-key", key])
        .args(extra)
        .output()
        .unwrap();
    (verified.status.success(), String::from_utf8_lossy(&verified.stdout).into_owned())
}

/// Makes the log's tables writable for the table owner, as a tamperer would.
async fn disable_log_triggers(app: &TestApp) {
    let statements: &[&str] = match app.backend {
        Backend::Sqlite => &[
            "DROP TRIGGER audit_log_refuses_update",
            "DROP TRIGGER audit_log_refuses_delete",
            "DROP TRIGGER audit_tree_nodes_refuse_delete",
            "DROP TRIGGER audit_checkpoints_refuse_delete",
        ],
        Backend::Postgres => &[
            "ALTER TABLE audit_log DISABLE TRIGGER ALL",
            "ALTER TABLE audit_tree_nodes DISABLE TRIGGER ALL",
            "ALTER TABLE audit_checkpoints DISABLE TRIGGER ALL",
        ],
    };
    for statement in statements {
        app.execute_sql(*statement).await.unwrap();
    }
}

/// One entry altered behind the service's back (as the table owner, triggers off): `audit
/// verify` names exactly that entry.
async fn audit_verify_names_the_entry_altered_behind_the_services_back(backend: Backend) {
    let app = spawn_at(backend, "2027-07-15T10:00:00Z").await;
    worked_example(&app, api::RiskShiftMode::Full).await;
    for month in 1..=3 {
        settle(&app, month).await.unwrap();
    }
    let mut client = audit_as(&app, Role::Auditor);
    let key = verifier(&mut client).await.vkey();
    client.get_checkpoint(api::GetCheckpointRequest { tree_size: 0 }).await.unwrap();
    let folder = tempfile::tempdir().unwrap();
    let (ok, output) = export_and_verify(&app, folder.path(), &key, &[]);
    assert!(ok, "{output}");
    assert!(output.starts_with("ok: "), "{output}");
    // January's statement entry: its net balance is rewritten.
    let target = app
        .audit_entries()
        .await
        .into_iter()
        .find(|entry| entry.resource == format!("{CONTRACT}/statements/2027-01-01"))
        .unwrap()
        .seq;
    disable_log_triggers(&app).await;
    app.execute_sql(format!(
        "UPDATE audit_log SET payload = replace(payload, '-177438', '-177400') WHERE seq = {target}"
    ))
    .await
    .unwrap();
    let (ok, output) = export_and_verify(&app, folder.path(), &key, &[]);
    assert!(!ok, "{output}");
    assert!(output.starts_with(&format!("FAILED at entry {target}:")), "{output}");
}

/// The last entry dropped (with its tree nodes and checkpoint) behind the service's back: the
/// shortened log verifies on its own, but not against the checkpoint an earlier run saved.
async fn audit_verify_catches_a_dropped_last_entry_with_the_saved_checkpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut client = audit_as(&app, Role::Auditor);
    let key = verifier(&mut client).await.vkey();
    for index in 0..5 {
        app.create_contract(create_contract_request(&format!("r-{index}"), "")).await.unwrap();
    }
    client.get_checkpoint(api::GetCheckpointRequest { tree_size: 0 }).await.unwrap();
    app.create_contract(create_contract_request("r-last", "")).await.unwrap();
    let latest = client.get_checkpoint(api::GetCheckpointRequest { tree_size: 0 }).await.unwrap().into_inner();
    assert_eq!(latest.tree_size, 6);
    let folder = tempfile::tempdir().unwrap();
    let saved = folder.path().join("checkpoint.txt");
    let save = ["--save-checkpoint", saved.to_str().unwrap()];
    let (ok, output) = export_and_verify(&app, folder.path(), &key, &save);
    assert!(ok, "{output}");
    disable_log_triggers(&app).await;
    for statement in [
        "DELETE FROM idempotency_records WHERE audit_seq = 6",
        "DELETE FROM audit_log WHERE seq = 6",
        // The nodes that cover leaf 5 (entry 6) and the checkpoint of 6 entries.
        "DELETE FROM audit_tree_nodes WHERE (level = 0 AND idx = 5) OR (level = 1 AND idx = 2)",
        "DELETE FROM audit_checkpoints WHERE tree_size = 6",
    ] {
        app.execute_sql(statement).await.unwrap();
    }
    let (ok, output) = export_and_verify(&app, folder.path(), &key, &[]);
    assert!(ok, "the shortened log is consistent in itself: {output}");
    let previous = ["--previous", saved.to_str().unwrap()];
    let (ok, output) = export_and_verify(&app, folder.path(), &key, &previous);
    assert!(!ok, "{output}");
    assert!(output.contains("the log shrank"), "{output}");
}

/// Two server processes on one PostgreSQL, both written to: every checkpoint either serves is
/// consistent with every other (the consistency proofs between each pair verify).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_publish_one_tree() {
    if !crate::helpers::postgres_configured() {
        return;
    }
    let database = tokio::task::spawn_blocking(|| TestDatabase::create(Backend::Postgres)).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let interval = [("FLEXSETTLE_AUDIT__CHECKPOINT_INTERVAL_MS", "50")];
    let first = ServerProcess::start_with(database.url(), data.path(), &interval);
    let second = ServerProcess::start_with(database.url(), data.path(), &interval);
    let auth = flexsettle::configuration::AuthSettings::default();
    let admin = crate::helpers::dev_token(data.path(), &auth, Role::Admin);
    let auditor = crate::helpers::dev_token(data.path(), &auth, Role::Auditor);
    let mut writers = Vec::new();
    for (replica, address) in [&first.address, &second.address].into_iter().enumerate() {
        let mut client = crate::helpers::client(address, Some(&format!("Bearer {admin}")));
        writers.push(tokio::spawn(async move {
            for index in 0..40 {
                client.create_contract(create_contract_request(&format!("{replica}-{index}"), "")).await.unwrap();
            }
        }));
    }
    let mut readers = [audit_at(&first.address, &auditor), audit_at(&second.address, &auditor)];
    let verifier = verifier(&mut readers[0]).await;
    assert_eq!(verifier.vkey(), self::verifier(&mut readers[1]).await.vkey(), "one log, one key");
    let mut seen: Vec<(u64, Hash)> = Vec::new();
    while writers.iter().any(|writer| !writer.is_finished()) || seen.len() < 4 {
        for reader in &mut readers {
            let checkpoint =
                reader.get_checkpoint(api::GetCheckpointRequest { tree_size: 0 }).await.unwrap().into_inner();
            seen.push(opened(&checkpoint, &verifier));
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    for reader in &mut readers {
        let checkpoint = reader.get_checkpoint(api::GetCheckpointRequest { tree_size: 0 }).await.unwrap().into_inner();
        seen.push(opened(&checkpoint, &verifier));
    }
    seen.sort_unstable();
    seen.dedup();
    assert!(seen.windows(2).all(|pair| pair[0].0 != pair[1].0), "two different trees of one size: {seen:?}");
    // Every pair of at most 40 of them (evenly spread, the last included): enough to cover
    // both replicas' checkpoints without thousands of calls.
    let step = seen.len().div_ceil(40);
    let last = *seen.last().unwrap();
    let mut seen: Vec<(u64, Hash)> = seen.into_iter().step_by(step).collect();
    if seen.last() != Some(&last) {
        seen.push(last);
    }
    assert_eq!(seen.last().unwrap().0, 80, "every write is in the last tree");
    for (index, &(older, older_root)) in seen.iter().enumerate() {
        for &(newer, newer_root) in &seen[index..] {
            let proof = readers[index % 2]
                .get_consistency_proof(api::GetConsistencyProofRequest {
                    from_tree_size: i64::try_from(older).unwrap(),
                    to_tree_size: i64::try_from(newer).unwrap(),
                })
                .await
                .unwrap()
                .into_inner();
            tlog::verify_consistency(older, newer, &older_root, &newer_root, &hashes(&proof.hashes))
                .unwrap_or_else(|error| panic!("consistency {older} → {newer}: {error}"));
        }
    }
    eprintln!("{} distinct checkpoints from two replicas, all consistent", seen.len());
}

on_both!(
    every_proof_the_server_serves_verifies_against_its_checkpoints,
    a_statements_evidence_verifies_offline,
    a_municipality_reads_only_its_own_entries,
    a_stream_delivers_every_entry_once_across_a_resume,
    audit_verify_names_the_entry_altered_behind_the_services_back,
    audit_verify_catches_a_dropped_last_entry_with_the_saved_checkpoint
);
