//! The transactional core: a retry with the same request id replays the first answer, another
//! payload under the same id is refused, and a refused call leaves its id unused.

use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::create_contract_request;

on_both_backends! {
    async fn a_replayed_create_returns_the_first_contract_and_leaves_one_audit_entry(app) {
        let first = app.create_contract(create_contract_request("same-id", "")).await.unwrap();
        let replay = app.create_contract(create_contract_request("same-id", "")).await.unwrap();
        assert_eq!(replay, first);
        assert_eq!(app.all_contracts().await.len(), 1);
        let entries = app.audit_entries().await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].action, "contract.create");
        assert_eq!(entries[0].resource, first.name);
        assert_eq!(entries[0].request_id, "same-id");
        assert_eq!(entries[0].principal_subject, "test-admin");
        assert_eq!(entries[0].principal_role, "admin");
    }
}

on_both_backends! {
    async fn the_same_request_id_with_another_payload_is_already_exists(app) {
        app.create_contract(create_contract_request("same-id", "")).await.unwrap();
        let mut other = create_contract_request("same-id", "");
        if let Some(contract) = other.contract.as_mut() {
            contract.service_fee_per_period_cents += 1;
        }
        let status = app.create_contract(other).await.unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists);
        let info = status.get_details_error_info().expect("an ErrorInfo detail");
        assert_eq!(info.reason, "REQUEST_ID_REUSED");
        assert_eq!(info.metadata["request_id"], "same-id");
        assert_eq!(info.metadata["first_action"], "contract.create");
        assert_eq!(app.audit_size().await, 1);
        assert_eq!(app.all_contracts().await.len(), 1);
    }
}

on_both_backends! {
    async fn concurrent_retries_of_one_request_create_one_contract(app) {
        let calls = (0..8).map(|_| {
            let mut client = app.contracts.clone();
            tokio::spawn(async move { client.create_contract(create_contract_request("raced", "")).await })
        });
        let mut names = std::collections::BTreeSet::new();
        for call in calls {
            names.insert(call.await.unwrap().unwrap().into_inner().name);
        }
        assert_eq!(names.len(), 1, "{names:?}");
        assert_eq!(app.audit_size().await, 1);
        assert_eq!(app.all_contracts().await.len(), 1);
    }
}

on_both_backends! {
    async fn a_refused_request_leaves_its_request_id_unused(app) {
        let mut bad = create_contract_request("retry-me", "");
        if let Some(contract) = bad.contract.as_mut() {
            contract.gemeente = "nope".to_owned();
        }
        assert_eq!(app.create_contract(bad).await.unwrap_err().code(), Code::InvalidArgument);
        app.create_contract(create_contract_request("retry-me", "")).await.unwrap();
        app.create_contract(create_contract_request("taken-id", "dup")).await.unwrap();
        // Refused by the database (the id is taken): rolled back with its idempotency record.
        let refused = app.create_contract(create_contract_request("second", "dup")).await.unwrap_err();
        assert_eq!(refused.code(), Code::AlreadyExists);
        let fresh = app.create_contract(create_contract_request("second", "fresh")).await.unwrap();
        assert_eq!(fresh.name, "contracts/fresh");
        assert_eq!(app.audit_size().await, 3);
    }
}

/// Group commit: eight calls that reach the writer together share one transaction (the writer
/// waits for all eight: a long window, a cap of eight). A call refused inside it (a contract id
/// a batch-mate took first) rolls back alone, a retry inside the same batch replays its first
/// answer, and the audit log stays gapless.
async fn calls_committed_together_keep_their_own_outcomes(backend: crate::helpers::Backend) {
    let app = crate::helpers::TestApp::spawn_with(backend, |settings| {
        settings.database.write_batch_window_us = 20_000_000;
        settings.database.write_batch_max_calls = 8;
    })
    .await;
    let asked = [
        ("g1", "alpha"),
        ("g2", "dup"),
        ("g3", "dup"),
        ("g4", "beta"),
        ("g5", "gamma"),
        ("g5", "gamma"),
        ("g6", "delta"),
        ("g7", "epsilon"),
    ];
    let calls: Vec<_> = asked
        .iter()
        .map(|(request, contract)| {
            let mut client = app.contracts.clone();
            let request = create_contract_request(request, contract);
            tokio::spawn(async move { client.create_contract(request).await.map(tonic::Response::into_inner) })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    let refused: Vec<_> = answers.iter().filter_map(|answer| answer.as_ref().err()).collect();
    assert_eq!(refused.len(), 1, "{answers:?}");
    assert_eq!(refused[0].code(), Code::AlreadyExists, "{refused:?}");
    assert_eq!(answers[4].as_ref().unwrap(), answers[5].as_ref().unwrap(), "the retry replays the first answer");
    let mut names: Vec<String> = app.all_contracts().await.into_iter().map(|contract| contract.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "contracts/alpha",
            "contracts/beta",
            "contracts/delta",
            "contracts/dup",
            "contracts/epsilon",
            "contracts/gamma"
        ]
    );
    let entries = app.audit_entries().await;
    let seqs: Vec<i64> = entries.iter().map(|entry| entry.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6], "gapless: the refused call's number was handed back");
}

/// Group commit shares one transaction: while the last of eight gathered calls does its work,
/// the seven before it are visible to it (its own transaction) but not yet committed — a
/// connection of its own outside sees none of them.
async fn gathered_calls_share_one_transaction(backend: crate::helpers::Backend) {
    use diesel::{Connection, RunQueryDsl};
    use flexsettle::domain::{Action, Principal, RequestId};
    use flexsettle::error::{Context, Error};
    use flexsettle::storage::{AnyConnection, Applied, Mutation};

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        entries: i64,
    }
    fn entries(connection: &mut AnyConnection) -> Result<i64, Error> {
        let count: Count = diesel::sql_query("SELECT count(*) AS entries FROM audit_log")
            .get_result(connection)
            .context("counting")?;
        Ok(count.entries)
    }

    let app = crate::helpers::TestApp::spawn_with(backend, |settings| {
        settings.database.write_batch_window_us = 20_000_000;
        settings.database.write_batch_max_calls = 8;
    })
    .await;
    let url = app.settings.database_url.clone();
    let calls: Vec<_> = (0..8)
        .map(|n| {
            let store = app.store.clone();
            let url = url.clone();
            let mutation = Mutation::new(
                Principal::local_admin(),
                RequestId::parse(&format!("together-{n}")).unwrap(),
                Action::CreateContract,
                &n,
                chrono::Utc::now(),
            )
            .unwrap();
            tokio::spawn(async move {
                store
                    .mutate(mutation, move |connection| {
                        let inside = entries(connection)?;
                        let mut outside = match backend {
                            crate::helpers::Backend::Sqlite => {
                                AnyConnection::Sqlite(diesel::SqliteConnection::establish(&url).unwrap())
                            }
                            crate::helpers::Backend::Postgres => {
                                AnyConnection::Postgresql(diesel::PgConnection::establish(&url).unwrap())
                            }
                        };
                        let outside = entries(&mut outside)?;
                        Ok(Applied::changed(format!("together/{n}"), (inside, outside)))
                    })
                    .await
            })
        })
        .collect();
    let mut seen = Vec::new();
    for call in calls {
        let ((inside, outside), seq) = call.await.unwrap().unwrap();
        assert!(seq.is_some());
        seen.push((inside, outside));
    }
    seen.sort_unstable();
    let expected: Vec<(i64, i64)> = (0..8).map(|inside| (inside, 0)).collect();
    assert_eq!(seen, expected, "each call saw its batch-mates' entries, and nothing of them was committed yet");
    assert_eq!(app.audit_size().await, 8);
}

on_both!(calls_committed_together_keep_their_own_outcomes, gathered_calls_share_one_transaction);
