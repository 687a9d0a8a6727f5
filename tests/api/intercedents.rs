//! Intercedents and their effective-dated hourly rates.

use flexsettle::grpc::api;
use tonic::Code;

use crate::helpers::{TestApp, create_contract_request, date, violated_fields};

fn rate(year: i32, month: i32, cents: i64) -> api::HourlyRate {
    api::HourlyRate { effective_date: date(year, month, 1), rate_per_hour_cents: cents, ..Default::default() }
}

fn create_intercedent_request(
    request_id: &str,
    parent: &str,
    id: &str,
    rates: Vec<api::HourlyRate>,
) -> api::CreateIntercedentRequest {
    api::CreateIntercedentRequest {
        request_id: request_id.to_owned(),
        parent: parent.to_owned(),
        intercedent_id: id.to_owned(),
        intercedent: Some(api::Intercedent { hourly_rates: rates, ..Default::default() }),
    }
}

async fn utrecht(app: &TestApp) -> String {
    app.create_contract(create_contract_request("contract", "utrecht")).await.unwrap().name
}

on_both_backends! {
    async fn an_intercedent_keeps_its_rates_in_date_order(app) {
        let contract = utrecht(&app).await;
        let mut client = app.contracts.clone();
        let created = client
            .create_intercedent(create_intercedent_request("i-1", &contract, "int-1", vec![rate(2027, 3, 5020), rate(2027, 1, 4875)]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(created.name, "contracts/utrecht/intercedents/int-1");
        assert_eq!(created.contract, contract);
        let rates: Vec<(String, i64)> =
            created.hourly_rates.iter().map(|rate| (rate.name.clone(), rate.rate_per_hour_cents)).collect();
        assert_eq!(
            rates,
            [
                ("contracts/utrecht/intercedents/int-1/hourlyRates/2027-01-01".to_owned(), 4875),
                ("contracts/utrecht/intercedents/int-1/hourlyRates/2027-03-01".to_owned(), 5020),
            ]
        );
        let read = client
            .get_intercedent(api::GetIntercedentRequest { name: created.name.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read, created);
    }
}

on_both_backends! {
    async fn a_raise_is_added_once_per_effective_date(app) {
        let contract = utrecht(&app).await;
        let mut client = app.contracts.clone();
        let intercedent = client
            .create_intercedent(create_intercedent_request("i-1", &contract, "int-1", vec![rate(2027, 1, 4875)]))
            .await
            .unwrap()
            .into_inner();
        let raise = api::CreateHourlyRateRequest {
            request_id: "raise".to_owned(),
            parent: intercedent.name.clone(),
            hourly_rate: Some(rate(2027, 3, 5020)),
        };
        let added = client.create_hourly_rate(raise.clone()).await.unwrap().into_inner();
        assert_eq!(added.rate_per_hour_cents, 5020);
        let replayed = client.create_hourly_rate(raise).await.unwrap().into_inner();
        assert_eq!(replayed, added);
        let twice = api::CreateHourlyRateRequest {
            request_id: "raise-again".to_owned(),
            parent: intercedent.name.clone(),
            hourly_rate: Some(rate(2027, 3, 5100)),
        };
        assert_eq!(client.create_hourly_rate(twice).await.unwrap_err().code(), Code::AlreadyExists);
        let read = client.get_intercedent(api::GetIntercedentRequest { name: intercedent.name }).await.unwrap().into_inner();
        assert_eq!(read.hourly_rates.len(), 2);
        assert_eq!(app.audit_size().await, 3);
    }
}

on_both_backends! {
    async fn an_intercedent_of_an_unknown_contract_is_not_found_and_writes_nothing(app) {
        let status = app
            .contracts
            .clone()
            .create_intercedent(create_intercedent_request("i-1", "contracts/nowhere", "int-1", vec![rate(2027, 1, 4875)]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(app.audit_size().await, 0);
    }
}

on_both_backends! {
    async fn a_citizen_number_and_bad_rates_are_refused_together(app) {
        let contract = utrecht(&app).await;
        let bad_rate = api::HourlyRate { effective_date: None, rate_per_hour_cents: 0, ..Default::default() };
        let status = app
            .contracts
            .clone()
            .create_intercedent(create_intercedent_request("i-1", &contract, "111222333", vec![rate(2027, 1, 4875), bad_rate]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            violated_fields(&status),
            [
                "intercedent_id",
                "intercedent.hourly_rates[1].effective_date",
                "intercedent.hourly_rates[1].rate_per_hour_cents",
            ]
        );
        assert_eq!(app.audit_size().await, 1);
    }
}

on_both_backends! {
    async fn intercedents_list_by_contract_in_pages(app) {
        let contract = utrecht(&app).await;
        let other = app.create_contract(create_contract_request("other", "amersfoort")).await.unwrap().name;
        let mut client = app.contracts.clone();
        for index in 0..5 {
            client
                .create_intercedent(create_intercedent_request(&format!("i-{index}"), &contract, &format!("int-{index}"), vec![rate(2027, 1, 4875)]))
                .await
                .unwrap();
        }
        client.create_intercedent(create_intercedent_request("elsewhere", &other, "int-9", vec![rate(2027, 1, 4875)])).await.unwrap();
        let first = client
            .list_intercedents(api::ListIntercedentsRequest { parent: contract.clone(), page_size: 3, page_token: String::new() })
            .await
            .unwrap()
            .into_inner();
        let second = client
            .list_intercedents(api::ListIntercedentsRequest { parent: contract.clone(), page_size: 3, page_token: first.next_page_token.clone() })
            .await
            .unwrap()
            .into_inner();
        let names: Vec<String> =
            first.intercedents.iter().chain(&second.intercedents).map(|intercedent| intercedent.name.clone()).collect();
        let expected: Vec<String> = (0..5).map(|index| format!("{contract}/intercedents/int-{index}")).collect();
        assert_eq!(names, expected);
        assert!(second.next_page_token.is_empty());
        assert!(second.intercedents.iter().all(|intercedent| intercedent.hourly_rates.len() == 1));
    }
}

on_both_backends! {
    async fn a_page_token_continues_only_its_own_listing(app) {
        let contract = utrecht(&app).await;
        let other = app.create_contract(create_contract_request("other", "amersfoort")).await.unwrap().name;
        let mut client = app.contracts.clone();
        for index in 0..3 {
            client
                .create_intercedent(create_intercedent_request(&format!("i-{index}"), &contract, &format!("int-{index}"), vec![rate(2027, 1, 4875)]))
                .await
                .unwrap();
        }
        let first = client
            .list_intercedents(api::ListIntercedentsRequest { parent: contract.clone(), page_size: 1, page_token: String::new() })
            .await
            .unwrap()
            .into_inner();
        assert!(!first.next_page_token.is_empty());
        // Another contract's listing, and another method, refuse it.
        let elsewhere = client
            .list_intercedents(api::ListIntercedentsRequest { parent: other, page_size: 1, page_token: first.next_page_token.clone() })
            .await
            .unwrap_err();
        assert_eq!(elsewhere.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&elsewhere), ["page_token"]);
        let other_method = client
            .list_contracts(api::ListContractsRequest { page_size: 1, page_token: first.next_page_token.clone() })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&other_method), ["page_token"]);
        // A different page size continues the same listing (AIP-158).
        let second = client
            .list_intercedents(api::ListIntercedentsRequest { parent: contract.clone(), page_size: 5, page_token: first.next_page_token })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(second.intercedents.len(), 2);
    }
}
