//! Who may do what: every RPC × every role × own and other municipality, token refusals, and
//! tenant isolation of listings (DESIGN.md §6).

use flexsettle::domain::{CbsCode, Role};
use flexsettle::grpc::access::{RULES, RoleKind};
use flexsettle::grpc::api;
use tonic::Code;

use crate::helpers::{ContractClient, TestApp, all_contracts, create_contract_request, worked_example_contract};

const OWN_GEMEENTE: &str = "GM0344";
const OTHER_GEMEENTE: &str = "GM0363";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Own,
    Other,
}

/// DESIGN.md §6, written out for the current RPCs: (method, roles allowed, scoped to the
/// caller's municipality). Kept apart from the service's own table on purpose.
const EXPECTED: &[(&str, &[RoleKind], bool)] = &[
    ("CreateContract", &[RoleKind::Admin], true),
    ("GetContract", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("ListContracts", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], false),
    ("CreateIntercedent", &[RoleKind::Admin], true),
    ("GetIntercedent", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("ListIntercedents", &[RoleKind::Billing, RoleKind::Gemeente, RoleKind::Auditor, RoleKind::Admin], true),
    ("CreateHourlyRate", &[RoleKind::Admin], true),
];

fn roles() -> [Role; 4] {
    [Role::Billing, Role::Gemeente(CbsCode::parse(OWN_GEMEENTE).unwrap()), Role::Auditor, Role::Admin]
}

fn rate(day: u32) -> api::HourlyRate {
    let date = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap() + chrono::Days::new(day.into());
    api::HourlyRate {
        effective_date: crate::helpers::date(
            chrono::Datelike::year(&date),
            i32::try_from(chrono::Datelike::month(&date)).unwrap(),
            i32::try_from(chrono::Datelike::day(&date)).unwrap(),
        ),
        rate_per_hour_cents: 4875,
        ..Default::default()
    }
}

/// Makes one call of `method` on the target municipality's resources; `n` keeps ids unique.
async fn call(client: &mut ContractClient, method: &str, target: Target, n: u32) -> Result<(), tonic::Status> {
    let (contract, gemeente) = match target {
        Target::Own => ("contracts/own", OWN_GEMEENTE),
        Target::Other => ("contracts/other", OTHER_GEMEENTE),
    };
    let intercedent = format!("{contract}/intercedents/int-1");
    match method {
        "CreateContract" => {
            let contract = api::Contract { gemeente: gemeente.to_owned(), ..worked_example_contract() };
            let request = api::CreateContractRequest {
                request_id: format!("m-{n}"),
                contract_id: format!("m-{n}"),
                contract: Some(contract),
            };
            client.create_contract(request).await.map(drop)
        }
        "GetContract" => client.get_contract(api::GetContractRequest { name: contract.to_owned() }).await.map(drop),
        "ListContracts" => client.list_contracts(api::ListContractsRequest::default()).await.map(drop),
        "CreateIntercedent" => client
            .create_intercedent(api::CreateIntercedentRequest {
                request_id: format!("m-{n}"),
                parent: contract.to_owned(),
                intercedent_id: format!("m-{n}"),
                intercedent: Some(api::Intercedent { hourly_rates: vec![rate(0)], ..Default::default() }),
            })
            .await
            .map(drop),
        "GetIntercedent" => client.get_intercedent(api::GetIntercedentRequest { name: intercedent }).await.map(drop),
        "ListIntercedents" => client
            .list_intercedents(api::ListIntercedentsRequest { parent: contract.to_owned(), ..Default::default() })
            .await
            .map(drop),
        "CreateHourlyRate" => client
            .create_hourly_rate(api::CreateHourlyRateRequest {
                request_id: format!("m-{n}"),
                parent: intercedent,
                hourly_rate: Some(rate(n + 1)),
            })
            .await
            .map(drop),
        other => panic!("the access matrix has no call for {other}: add one"),
    }
}

/// Two contracts, one per municipality, each with intercedent `int-1`.
async fn two_municipalities(app: &TestApp) {
    let mut admin = app.contracts.clone();
    for (id, gemeente) in [("own", OWN_GEMEENTE), ("other", OTHER_GEMEENTE)] {
        let mut request = create_contract_request(&format!("setup-{id}"), id);
        if let Some(contract) = request.contract.as_mut() {
            contract.gemeente = gemeente.to_owned();
        }
        admin.create_contract(request).await.unwrap();
        admin
            .create_intercedent(api::CreateIntercedentRequest {
                request_id: format!("setup-int-{id}"),
                parent: format!("contracts/{id}"),
                intercedent_id: "int-1".to_owned(),
                intercedent: Some(api::Intercedent { hourly_rates: vec![rate(0)], ..Default::default() }),
            })
            .await
            .unwrap();
    }
}

#[test]
fn the_matrix_covers_every_rpc_of_the_access_table() {
    let table: Vec<&str> = RULES.iter().map(|(path, _)| path.rsplit('/').next().unwrap()).collect();
    let matrix: Vec<&str> = EXPECTED.iter().map(|(method, _, _)| *method).collect();
    assert_eq!(table, matrix);
}

on_both_backends! {
    async fn every_rpc_answers_every_role_as_design_section_6_says(app) {
        two_municipalities(&app).await;
        let mut n = 0;
        let mut wrong = Vec::new();
        for (method, allowed, scoped) in EXPECTED {
            for role in roles() {
                let kind = RoleKind::of(&role);
                let mut client = app.client_as(role.clone());
                for target in [Target::Own, Target::Other] {
                    n += 1;
                    let expected = if !allowed.contains(&kind) || (kind == RoleKind::Gemeente && *scoped && target == Target::Other) {
                        Code::PermissionDenied
                    } else {
                        Code::Ok
                    };
                    let got = call(&mut client, method, target, n).await.err().map_or(Code::Ok, |status| status.code());
                    if got != expected {
                        wrong.push(format!("{method} as {} on {target:?}: expected {expected:?}, got {got:?}", role.label()));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "cells that differ from DESIGN.md §6:\n{}", wrong.join("\n"));
    }
}

on_both_backends! {
    async fn a_municipality_lists_only_its_own_contracts(app) {
        two_municipalities(&app).await;
        let mut own = app.client_as(Role::Gemeente(CbsCode::parse(OWN_GEMEENTE).unwrap()));
        let names: Vec<String> = all_contracts(&mut own).await.into_iter().map(|contract| contract.name).collect();
        assert_eq!(names, ["contracts/own"]);
        let mut other = app.client_as(Role::Gemeente(CbsCode::parse(OTHER_GEMEENTE).unwrap()));
        let names: Vec<String> = all_contracts(&mut other).await.into_iter().map(|contract| contract.name).collect();
        assert_eq!(names, ["contracts/other"]);
        assert_eq!(all_contracts(&mut app.client_as(Role::Auditor)).await.len(), 2);
    }
}

on_both_backends! {
    async fn a_municipality_cannot_tell_a_missing_contract_from_anothers(app) {
        two_municipalities(&app).await;
        let mut own = app.client_as(Role::Gemeente(CbsCode::parse(OWN_GEMEENTE).unwrap()));
        for name in ["contracts/other", "contracts/does-not-exist"] {
            let status = own.get_contract(api::GetContractRequest { name: name.to_owned() }).await.unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{name}");
        }
        let mut admin = app.contracts.clone();
        let missing = admin.get_contract(api::GetContractRequest { name: "contracts/does-not-exist".to_owned() }).await;
        assert_eq!(missing.unwrap_err().code(), Code::NotFound);
    }
}

on_both_backends! {
    async fn the_audit_entry_names_the_real_principal(app) {
        app.create_contract(create_contract_request("r-1", "")).await.unwrap();
        let entry = app.audit_entries().await.remove(0);
        assert_eq!((entry.principal_subject.as_str(), entry.principal_role.as_str()), ("test-admin", "admin"));
    }
}
