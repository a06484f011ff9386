//! Access control, health and reflection through a real server.

mod common;

use common::{code, create, expect_error, firm, TestServer};
use ladder::auth::{hash_token, Role, TokenEntry};
use ladder::config::Config;
use ladder::pb::v1;
use tonic::Code;

fn config_with_tokens() -> Config {
    let token =
        |name: &str, role: Role| TokenEntry { name: name.into(), role, sha256: hash_token(&format!("{name}-secret")) };
    Config {
        tokens: vec![token("viewer1", Role::Viewer), token("editor1", Role::Editor), token("admin1", Role::Admin)],
        ..Default::default()
    }
}

#[tokio::test]
async fn tokens_and_roles_are_enforced_and_the_actor_recorded() {
    let server = TestServer::with_config(config_with_tokens()).await;

    let status = server.enterprises().await.list_enterprises(v1::ListEnterprisesRequest::default()).await.unwrap_err();
    expect_error(&status, Code::Unauthenticated, "MISSING_TOKEN");
    let status =
        server.enterprises_as("guess").await.list_enterprises(v1::ListEnterprisesRequest::default()).await.unwrap_err();
    expect_error(&status, Code::Unauthenticated, "INVALID_TOKEN");

    let mut viewer = server.enterprises_as("viewer1-secret").await;
    viewer.list_enterprises(v1::ListEnterprisesRequest::default()).await.expect("viewer reads");
    let status = viewer.create_enterprise(create(firm(1, "甲"))).await.unwrap_err();
    expect_error(&status, Code::PermissionDenied, "ROLE_NOT_ALLOWED");

    let mut editor = server.enterprises_as("editor1-secret").await;
    editor.create_enterprise(create(firm(1, "甲"))).await.expect("editor writes");
    let changes = server
        .store
        .list_changes(ladder::store::ChangeQuery {
            start: server.base + 1,
            end: u64::MAX,
            page_size: 10,
            resource: None,
        })
        .await
        .unwrap();
    assert_eq!(changes.changes[0].actor, "editor1");
    assert_eq!(server.store.next_revision().unwrap(), server.base + 2, "only the editor's write landed");

    // Staff (editors) may undo a sync run; viewers may not.
    let revert = |token: &str| {
        let mut request = tonic::Request::new(v1::RevertSyncRunRequest {
            name: "syncRuns/0000000000000000aa".into(),
            ..Default::default()
        });
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
    };
    let mut sync = ladder::pb::v1::sync_service_client::SyncServiceClient::new(server.channel().await);
    let status = sync.revert_sync_run(revert("viewer1-secret")).await.unwrap_err();
    expect_error(&status, Code::PermissionDenied, "ROLE_NOT_ALLOWED");
    let status = sync.revert_sync_run(revert("editor1-secret")).await.unwrap_err();
    expect_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND");
}

#[tokio::test]
async fn credit_code_override_is_admin_only_reasoned_and_audited() {
    let server = TestServer::with_config(config_with_tokens()).await;
    let good = code(8);
    let wrong = if good.ends_with('0') { '1' } else { '0' };
    let bad = format!("{}{wrong}", &good[..17]);
    let request = |reason: &str| v1::CreateEnterpriseRequest {
        enterprise: Some(v1::Enterprise {
            credit_code: bad.clone(),
            display_name: "早期试点代码单位".into(),
            ..Default::default()
        }),
        credit_code_override_reason: reason.into(),
        ..Default::default()
    };
    let mut editor = server.enterprises_as("editor1-secret").await;
    let status = editor.create_enterprise(request("已在全国平台核验")).await.unwrap_err();
    expect_error(&status, Code::PermissionDenied, "OVERRIDE_NEEDS_ADMIN");

    let mut admin = server.enterprises_as("admin1-secret").await;
    let status = admin.create_enterprise(request("")).await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "CHECK_CHARACTER_MISMATCH");
    let created = admin.create_enterprise(request("已在全国平台核验")).await.expect("override").into_inner();
    assert_eq!(created.credit_code, bad);
    let o = created.credit_code_override.expect("override recorded");
    assert_eq!((o.reason.as_str(), o.actor.as_str()), ("已在全国平台核验", "admin1"));
    assert!(
        o.problems.iter().any(|p| p.contains(&format!("should be '{}'", good.chars().last().unwrap()))),
        "{:?}",
        o.problems
    );

    // An override on a valid code is refused rather than silently recorded.
    let status = admin
        .create_enterprise(v1::CreateEnterpriseRequest {
            enterprise: Some(firm(9, "正常")),
            credit_code_override_reason: "不需要".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&status, Code::InvalidArgument, "OVERRIDE_NOT_NEEDED");
}

#[tokio::test]
async fn health_and_reflection_stay_open_and_list_every_service() {
    use tonic_reflection::pb::{v1 as r1, v1alpha as r1a};
    let server = TestServer::with_config(config_with_tokens()).await;
    let channel = server.channel().await;

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let reply = health
        .check(tonic_health::pb::HealthCheckRequest { service: "ladder.v1.EnterpriseService".into() })
        .await
        .expect("health without token")
        .into_inner();
    assert_eq!(reply.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    for service in ["ladder.v1.ChangeService", "ladder.v1.AllianceService", "ladder.v1.CultivationService"] {
        let request = tonic_health::pb::HealthCheckRequest { service: service.into() };
        let reply = health.check(request).await.unwrap_or_else(|e| panic!("{service}: {e:?}")).into_inner();
        assert_eq!(reply.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32, "{service}");
    }

    let mut v1client = r1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = r1::ServerReflectionRequest {
        message_request: Some(r1::server_reflection_request::MessageRequest::ListServices(String::new())),
        ..Default::default()
    };
    let mut stream =
        v1client.server_reflection_info(tokio_stream::iter(vec![request])).await.expect("reflection v1").into_inner();
    let response = stream.message().await.unwrap().expect("one response");
    let services: Vec<String> = match response.message_response {
        Some(r1::server_reflection_response::MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected {other:?}"),
    };
    for wanted in [
        "ladder.v1.EnterpriseService",
        "ladder.v1.ChangeService",
        "ladder.v1.AllianceService",
        "ladder.v1.CultivationService",
        "grpc.health.v1.Health",
    ] {
        assert!(services.iter().any(|s| s == wanted), "{wanted} missing from {services:?}");
    }

    // v1alpha (what grpcurl speaks) also resolves the error-detail types.
    let mut alpha = r1a::server_reflection_client::ServerReflectionClient::new(channel);
    let request = r1a::ServerReflectionRequest {
        message_request: Some(r1a::server_reflection_request::MessageRequest::FileContainingSymbol(
            "google.rpc.BadRequest".into(),
        )),
        ..Default::default()
    };
    let mut stream =
        alpha.server_reflection_info(tokio_stream::iter(vec![request])).await.expect("reflection v1alpha").into_inner();
    match stream.message().await.unwrap().expect("response").message_response {
        Some(r1a::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) => {
            assert!(!files.file_descriptor_proto.is_empty());
        }
        other => panic!("google.rpc.BadRequest not resolvable: {other:?}"),
    }
}

#[test]
fn unauthenticated_servers_refuse_non_loopback_addresses() {
    let public: std::net::SocketAddr = "0.0.0.0:50051".parse().unwrap();
    let local: std::net::SocketAddr = "127.0.0.1:50051".parse().unwrap();
    let open = Config::default();
    let err = ladder::server::check_exposure(&public, &open).unwrap_err().to_string();
    assert!(err.contains("refusing to listen"), "{err}");
    assert!(ladder::server::check_exposure(&local, &open).is_ok());
    assert!(ladder::server::check_exposure(&public, &config_with_tokens()).is_ok());
    let mut allowed = Config::default();
    allowed.server.allow_unauthenticated = true;
    assert!(ladder::server::check_exposure(&public, &allowed).is_ok());
}
