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
