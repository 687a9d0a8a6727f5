//! Standard gRPC health checking and server reflection, so stock clients work.

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

on_both_backends! {
    async fn health_answers_serving(app) {
        let mut health = HealthClient::new(app.channel().await);
        for service in ["", "flextensie.settlement.v1.ContractService"] {
            let answer = health.check(HealthCheckRequest { service: service.to_owned() }).await.unwrap().into_inner();
            assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
        }
    }
}

macro_rules! list_services {
    ($version:ident, $channel:expr) => {{
        use tonic_reflection::pb::$version::ServerReflectionRequest;
        use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
        let mut client = ServerReflectionClient::new($channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = client.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
        let answer = answers.message().await.unwrap().expect("one answer");
        match answer.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                list.service.into_iter().map(|service| service.name).collect::<Vec<String>>()
            }
            other => panic!("unexpected reflection answer {other:?}"),
        }
    }};
}

on_both_backends! {
    async fn reflection_lists_the_api_on_v1_and_v1alpha(app) {
        let v1 = list_services!(v1, app.channel().await);
        let v1alpha = list_services!(v1alpha, app.channel().await);
        for services in [&v1, &v1alpha] {
            assert!(services.iter().any(|name| name == "flextensie.settlement.v1.ContractService"), "{services:?}");
            assert!(services.iter().any(|name| name == "grpc.health.v1.Health"), "{services:?}");
        }
    }
}

/// The plain-text health listener serves health and nothing else; the liveness name is SERVING.
#[tokio::test]
async fn a_health_only_listener_serves_probes() {
    let database = crate::helpers::TestDatabase::create(crate::helpers::Backend::Sqlite);
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(database.url());
    settings.data_dir = data_dir.path().to_path_buf();
    settings.health_listen_addr = Some("127.0.0.1:0".parse().unwrap());
    let app = flexsettle::startup::Application::build(&settings).await.unwrap();
    let health_address = format!("http://{}", app.health_addr().expect("a health listener"));
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Channel::from_shared(health_address).unwrap().connect().await.unwrap();
    let mut health = HealthClient::new(channel.clone());
    // Alive at once; ready once the database has answered its first ping (watched, not polled).
    let alive = health
        .check(HealthCheckRequest { service: flexsettle::startup::LIVENESS_SERVICE.to_owned() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(alive.status(), ServingStatus::Serving);
    let mut changes = health.watch(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(answer) = changes.message().await.unwrap() {
            if answer.status() == ServingStatus::Serving {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(ready, "ready once the database answered");
    let mut contracts = flexsettle::grpc::api::contract_service_client::ContractServiceClient::new(channel);
    let refused = contracts.list_contracts(flexsettle::grpc::api::ListContractsRequest::default()).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unimplemented, "only health is served there: {refused:?}");
}
