//! Adversarial input through a real server (issue 13): out-of-range enums,
//! unbounded figures, reserved origins and hostile text are refused with a
//! precise error and write nothing.

mod common;

use common::{code, create, expect_error, firm, TestServer};
use ladder::pb::v1;
use ladder::pb::v1::alliance_service_client::AllianceServiceClient;
use ladder::pb::v1::cultivation_service_client::CultivationServiceClient;
use ladder::pb::v1::sync_enterprises_request::Message;
use ladder::pb::v1::sync_service_client::SyncServiceClient;
use tonic::Code;

fn designation(kind: i32, level: i32, status: i32) -> v1::Designation {
    v1::Designation {
        kind,
        level,
        status,
        valid_from: "2024-01-01".into(),
        valid_until: "2026-12-31".into(),
        certificate_number: "GR202461000001".into(),
        authority: "陕西省科学技术厅".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn enum_numbers_the_contract_does_not_define_are_refused_as_invalid() {
    let server = TestServer::start().await;
    server.enterprises().await.create_enterprise(create(firm(1, "甲"))).await.unwrap();
    let mut cultivation = CultivationServiceClient::new(server.channel().await);
    let before = server.store.next_revision().unwrap();
    let granted = v1::DesignationStatus::Granted as i32;
    let high_tech = v1::DesignationKind::HighTech as i32;
    let cases = [
        (designation(high_tech, 999, granted), "designation.level"),
        (designation(high_tech, -1, granted), "designation.level"),
        (designation(high_tech, 12345, granted), "designation.level"),
        (designation(999, 0, granted), "designation.kind"),
        (designation(high_tech, 0, 999), "designation.status"),
    ];
    for (d, field) in cases {
        let status = cultivation
            .create_designation(v1::CreateDesignationRequest {
                parent: format!("enterprises/{}", code(1)),
                designation: Some(d),
                ..Default::default()
            })
            .await
            .unwrap_err();
        let violations = expect_error(&status, Code::InvalidArgument, "INVALID_ENUM");
        assert_eq!(violations[0].0, field);
    }
    let status = AllianceServiceClient::new(server.channel().await)
        .create_alliance(v1::CreateAllianceRequest {
            alliance_id: "space".into(),
            alliance: Some(v1::Alliance { display_name: "航天".into(), kind: 999, ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(expect_error(&status, Code::InvalidArgument, "INVALID_ENUM")[0].0, "alliance.kind");

    let header = v1::SyncEnterprisesRequest {
        message: Some(Message::Header(v1::SyncHeader { source: "registry".into(), mode: 999, dry_run: false })),
    };
    let row = v1::SyncEnterprisesRequest {
        message: Some(Message::Row(v1::SyncRow { enterprise: Some(firm(2, "乙")), ..Default::default() })),
    };
    let status = SyncServiceClient::new(server.channel().await)
        .sync_enterprises(tokio_stream::iter(vec![header, row]))
        .await
        .unwrap_err();
    assert_eq!(expect_error(&status, Code::InvalidArgument, "INVALID_ENUM")[0].0, "header.mode");
    assert_eq!(server.store.next_revision().unwrap(), before, "nothing written");
}

/// Adds `x-ladder-origin` (and a token, when given) to every call.
#[derive(Clone)]
struct Origin(&'static str, Option<&'static str>);

impl tonic::service::Interceptor for Origin {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("x-ladder-origin", self.0.parse().unwrap());
        if let Some(token) = self.1 {
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        Ok(request)
    }
}

fn sync_messages(source: &str, n: u32) -> Vec<v1::SyncEnterprisesRequest> {
    vec![
        v1::SyncEnterprisesRequest {
            message: Some(Message::Header(v1::SyncHeader {
                source: source.into(),
                mode: v1::SyncMode::Upsert as i32,
                dry_run: false,
            })),
        },
        v1::SyncEnterprisesRequest {
            message: Some(Message::Row(v1::SyncRow {
                enterprise: Some(firm(n, "同步企业")), ..Default::default()
            })),
        },
    ]
}

#[tokio::test]
async fn callers_cannot_claim_built_in_origins_or_a_sync_sources_name() {
    let server = TestServer::start().await;
    SyncServiceClient::new(server.channel().await)
        .sync_enterprises(tokio_stream::iter(sync_messages("market-registry", 1)))
        .await
        .unwrap();
    let before = server.store.next_revision().unwrap();
    for origin in ["system", "seed", "revert", "stage-sweeper", "Revert", "market-registry"] {
        let mut client = v1::enterprise_service_client::EnterpriseServiceClient::with_interceptor(
            server.channel().await,
            Origin(origin, None),
        );
        let status = client.create_enterprise(create(firm(2, "乙"))).await.unwrap_err();
        expect_error(&status, Code::PermissionDenied, "RESERVED_ORIGIN");
    }
    assert_eq!(server.store.next_revision().unwrap(), before, "nothing written");
    let mut client = v1::enterprise_service_client::EnterpriseServiceClient::with_interceptor(
        server.channel().await,
        Origin("nightly-script", None),
    );
    client.create_enterprise(create(firm(2, "乙"))).await.unwrap();
    // A source cannot be named after a built-in origin either.
    let status = SyncServiceClient::new(server.channel().await)
        .sync_enterprises(tokio_stream::iter(sync_messages("revert", 3)))
        .await
        .unwrap_err();
    expect_error(&status, Code::InvalidArgument, "RESERVED_SOURCE");
}

#[tokio::test]
async fn a_sync_source_is_bound_to_the_caller_that_first_synced_it() {
    use ladder::auth::{hash_token, Role, TokenEntry};
    let token =
        |name: &str, role: Role| TokenEntry { name: name.into(), role, sha256: hash_token(&format!("{name}-s")) };
    let config = ladder::config::Config {
        tokens: vec![token("registry-bot", Role::Sync), token("other-bot", Role::Sync), token("boss", Role::Admin)],
        ..Default::default()
    };
    let server = TestServer::with_config(config).await;
    let channel = server.channel().await;
    let mut registry = SyncServiceClient::with_interceptor(channel.clone(), Origin("cli", Some("registry-bot-s")));
    let mut other = SyncServiceClient::with_interceptor(channel.clone(), Origin("cli", Some("other-bot-s")));
    let mut boss = SyncServiceClient::with_interceptor(channel, Origin("cli", Some("boss-s")));
    registry.sync_enterprises(tokio_stream::iter(sync_messages("market-registry", 1))).await.unwrap();
    let status = other.sync_enterprises(tokio_stream::iter(sync_messages("market-registry", 2))).await.unwrap_err();
    expect_error(&status, Code::PermissionDenied, "SOURCE_OF_ANOTHER_CALLER");
    other.sync_enterprises(tokio_stream::iter(sync_messages("other-source", 2))).await.unwrap();
    boss.sync_enterprises(tokio_stream::iter(sync_messages("market-registry", 3))).await.unwrap();
    registry.sync_enterprises(tokio_stream::iter(sync_messages("market-registry", 4))).await.unwrap();
}
