//! Contracts: create, get, list, and refusals of bad input.

use flexsettle::grpc::api;
use tonic::Code;

use crate::helpers::{create_contract_request, violated_fields, worked_example_contract};

on_both_backends! {
    async fn a_created_contract_reads_back_with_every_term(app) {
        let created = app.create_contract(create_contract_request("r-1", "")).await.unwrap();
        assert!(created.name.starts_with("contracts/c-"), "{}", created.name);
        let expected = api::Contract {
            name: created.name.clone(),
            end_date: crate::helpers::date(2027, 12, 31),
            create_time: created.create_time,
            ..worked_example_contract()
        };
        assert_eq!(created, expected);
        let read = app
            .contracts
            .clone()
            .get_contract(api::GetContractRequest { name: created.name.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read, created);
        assert_eq!(app.all_contracts().await, vec![created]);
    }
}

on_both_backends! {
    async fn an_invalid_contract_lists_every_violation_and_writes_nothing(app) {
        let before = app.audit_size().await;
        let mut contract = worked_example_contract();
        contract.gemeente = "Utrecht".to_owned();
        contract.start_date = crate::helpers::date(2027, 2, 30);
        contract.settlement_period_months = 3;
        contract.intake_window_months = 4;
        contract.service_fee_per_period_cents = -1;
        contract.risk_shift_mode = api::RiskShiftMode::Unspecified.into();
        contract.composition_target = Some(api::CompositionTarget { arrangement_1_percent: 27, arrangement_3_percent: 85 });
        let request = api::CreateContractRequest {
            request_id: String::new(),
            contract_id: "Not An Id".to_owned(),
            contract: Some(contract),
        };
        let status = app.create_contract(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            violated_fields(&status),
            [
                "request_id",
                "contract_id",
                "contract.gemeente",
                "contract.start_date",
                "contract.intake_window_months",
                "contract.service_fee_per_period_cents",
                "contract.risk_shift_mode",
                "contract.composition_target.arrangement_3_percent",
            ]
        );
        assert_eq!(app.audit_size().await, before);
        assert!(app.all_contracts().await.is_empty());
    }
}

on_both_backends! {
    async fn a_missing_contract_is_invalid_not_empty(app) {
        let request = api::CreateContractRequest { request_id: "r-1".to_owned(), ..Default::default() };
        let status = app.create_contract(request).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["contract"]);
        assert_eq!(app.audit_size().await, 0);
    }
}

on_both_backends! {
    async fn a_client_chosen_contract_id_is_taken_once(app) {
        app.create_contract(create_contract_request("r-1", "utrecht-2027")).await.unwrap();
        let status = app.create_contract(create_contract_request("r-2", "utrecht-2027")).await.unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists);
        assert!(status.message().contains("contracts/utrecht-2027"), "{}", status.message());
        assert_eq!(app.audit_size().await, 1);
    }
}

on_both_backends! {
    async fn an_unknown_contract_is_not_found_and_a_malformed_name_is_invalid(app) {
        let mut client = app.contracts.clone();
        let missing = client
            .get_contract(api::GetContractRequest { name: "contracts/nowhere".to_owned() })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound);
        let malformed = client
            .get_contract(api::GetContractRequest { name: "contract/nowhere".to_owned() })
            .await
            .unwrap_err();
        assert_eq!(malformed.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&malformed), ["name"]);
    }
}

on_both_backends! {
    async fn listing_pages_through_every_contract_once(app) {
        for index in 0..7 {
            app.create_contract(create_contract_request(&format!("r-{index}"), &format!("k-{index}"))).await.unwrap();
        }
        let mut client = app.contracts.clone();
        let mut seen = Vec::new();
        let mut page_token = String::new();
        let mut pages = 0;
        loop {
            let page = client
                .list_contracts(api::ListContractsRequest { page_size: 3, page_token })
                .await
                .unwrap()
                .into_inner();
            pages += 1;
            assert!(page.contracts.len() <= 3);
            seen.extend(page.contracts.into_iter().map(|contract| contract.name));
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        assert_eq!(pages, 3);
        let expected: Vec<String> = (0..7).map(|index| format!("contracts/k-{index}")).collect();
        assert_eq!(seen, expected);
    }
}

on_both_backends! {
    async fn a_foreign_page_token_or_negative_size_is_refused(app) {
        let status = app
            .contracts
            .clone()
            .list_contracts(api::ListContractsRequest { page_size: -1, page_token: "forged".to_owned() })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&status), ["page_size", "page_token"]);
    }
}
