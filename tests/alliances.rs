//! Alliances and memberships through a real server: seeding, the roster's
//! history, the chair rule, projections onto enterprises, forced deletes.

mod common;

use common::{code, create, expect_error, firm, TestServer};
use ladder::config::Config;
use ladder::pb::v1;
use ladder::pb::v1::alliance_service_client::AllianceServiceClient;
use tonic::transport::Channel;
use tonic::Code;

use v1::{EndReason, MembershipEventKind as Ev, MembershipRole as R, MembershipState as S};

async fn alliances(server: &TestServer) -> AllianceServiceClient<Channel> {
    AllianceServiceClient::new(server.channel().await)
}

async fn join(
    client: &mut AllianceServiceClient<Channel>,
    alliance: &str,
    n: u32,
    role: R,
    date: &str,
) -> Result<v1::Membership, tonic::Status> {
    client
        .create_membership(v1::CreateMembershipRequest {
            parent: format!("alliances/{alliance}"),
            credit_code: code(n),
            membership: Some(v1::Membership { role: role as i32, join_date: date.into(), ..Default::default() }),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

fn member(alliance: &str, n: u32) -> String {
    format!("alliances/{alliance}/memberships/{}", code(n))
}

async fn register(server: &TestServer, n: u32, name: &str, industry: &str) {
    let mut e = firm(n, name);
    e.industry_code = industry.into();
    server.enterprises().await.create_enterprise(create(e)).await.expect("register");
}

#[tokio::test]
async fn a_new_store_is_seeded_with_nine_marked_alliances_once() {
    let server = TestServer::start().await;
    let mut client = alliances(&server).await;
    let listed = client.list_alliances(v1::ListAlliancesRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.alliances.len(), 9);
    assert!(listed.alliances.iter().all(|a| a.seeded_default));
    let kinds = |k: v1::AllianceKind| listed.alliances.iter().filter(|a| a.kind == k as i32).count();
    assert_eq!(
        (kinds(v1::AllianceKind::Industry), kinds(v1::AllianceKind::Finance), kinds(v1::AllianceKind::Talent)),
        (7, 1, 1)
    );

    // Restarting does not seed again, even after one was retired.
    client
        .delete_alliance(v1::DeleteAllianceRequest { name: "alliances/drones".into(), ..Default::default() })
        .await
        .unwrap();
    let dir = server.stop().await;
    let server = TestServer::on_dir(Config::default(), dir).await;
    let mut client = alliances(&server).await;
    let listed = client.list_alliances(v1::ListAlliancesRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.alliances.len(), 8);
    let paged = client
        .list_alliances(v1::ListAlliancesRequest { page_size: 5, show_deleted: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paged.alliances.len(), 5);
    let rest = client
        .list_alliances(v1::ListAlliancesRequest {
            page_size: 5,
            show_deleted: true,
            page_token: paged.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.alliances.len(), 4);
    assert!(rest.next_page_token.is_empty());
}

#[tokio::test]
async fn configured_alliances_replace_the_defaults() {
    let config =
        Config::parse("[[alliances]]\nid = \"aerospace\"\ndisplay_name = \"航天产业联盟\"\nkind = \"industry\"\n")
            .unwrap();
    let server = TestServer::with_config(config).await;
    let listed =
        alliances(&server).await.list_alliances(v1::ListAlliancesRequest::default()).await.unwrap().into_inner();
    let names: Vec<&str> = listed.alliances.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["alliances/aerospace"]);
    assert!(!listed.alliances[0].seeded_default, "a zone's own alliances are not placeholders");
}

#[tokio::test]
async fn join_change_role_leave_and_rejoin_are_all_history() {
    let server = TestServer::start().await;
    register(&server, 1, "西安航天动力", "C3742").await;
    let mut client = alliances(&server).await;

    join(&mut client, "commercial-space", 1, R::Member, "2024-03-01").await.expect("join one");
    join(&mut client, "satellite-apps", 1, R::Director, "2024-04-01").await.expect("join two");

    // Role change in one: history, not overwrite.
    let promoted = client
        .update_membership(v1::UpdateMembershipRequest {
            membership: Some(v1::Membership {
                name: member("commercial-space", 1),
                role: R::ViceChair as i32,
                ..Default::default()
            }),
            effective_date: "2024-09-01".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(promoted.role, R::ViceChair as i32);
    assert_eq!(
        promoted.events.iter().map(|e| (e.kind, e.role)).collect::<Vec<_>>(),
        vec![(Ev::Joined as i32, R::Member as i32), (Ev::RoleChanged as i32, R::ViceChair as i32)]
    );

    // Leave the other one, then rejoin: both periods stay visible.
    let ended = client
        .end_membership(v1::EndMembershipRequest {
            name: member("satellite-apps", 1),
            end_date: "2025-01-31".into(),
            reason: EndReason::Lapsed as i32,
            note: "未缴 2025 年会费".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ended.state, ended.end_date.as_str()), (S::Ended as i32, "2025-01-31"));
    let status = client
        .end_membership(v1::EndMembershipRequest {
            name: member("satellite-apps", 1),
            reason: EndReason::Withdrew as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&status, Code::FailedPrecondition, "MEMBERSHIP_ENDED");
    let rejoined = join(&mut client, "satellite-apps", 1, R::Member, "2025-06-01").await.expect("rejoin");
    let kinds: Vec<i32> = rejoined.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![Ev::Joined as i32, Ev::Ended as i32, Ev::Rejoined as i32]);
    assert_eq!(rejoined.events[1].end_reason, EndReason::Lapsed as i32);
    assert_eq!((rejoined.state, rejoined.join_date.as_str()), (S::Active as i32, "2025-06-01"));
    let again = join(&mut client, "satellite-apps", 1, R::Member, "").await.unwrap_err();
    expect_error(&again, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");

    // The enterprise shows both active memberships and filters by alliance.
    let mut firms = server.enterprises().await;
    let e = firms
        .get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{}", code(1)) })
        .await
        .unwrap()
        .into_inner();
    let shown: Vec<(&str, &str, i32)> =
        e.memberships.iter().map(|m| (m.alliance.as_str(), m.alliance_display_name.as_str(), m.role)).collect();
    assert_eq!(
        shown,
        vec![
            ("alliances/commercial-space", "商业航天产业联盟", R::ViceChair as i32),
            ("alliances/satellite-apps", "卫星应用产业联盟", R::Member as i32)
        ]
    );
    register(&server, 2, "无关企业", "I6513").await;
    let listed = firms
        .list_enterprises(v1::ListEnterprisesRequest {
            filter: r#"alliance = "satellite-apps""#.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((listed.total_size, listed.enterprises[0].credit_code.clone()), (1, code(1)));

    // Every step is in the change log under the membership's name.
    let log = server
        .changes()
        .await
        .list_changes(v1::ListChangesRequest { resource: member("satellite-apps", 1), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(log.changes.len(), 3, "joined, ended, rejoined");
    let summary = client
        .get_alliance_summary(v1::GetAllianceSummaryRequest {
            name: "alliances/satellite-apps".into(),
            period_start: "2025-01-01".into(),
            period_end: "2025-12-31".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((summary.active_members, summary.joins, summary.departures), (1, 1, 1));
    assert_eq!(summary.by_industry_division[0].key, "C37");
    assert_eq!(summary.alliance.unwrap().active_members, 1);
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn one_chair_per_alliance_and_an_atomic_hand_over() {
    let server = TestServer::start().await;
    for n in 1..=3 {
        register(&server, n, &format!("成员{n}"), "C3963").await;
    }
    let mut client = alliances(&server).await;
    join(&mut client, "drones", 1, R::Chair, "2024-01-01").await.unwrap();
    join(&mut client, "drones", 2, R::Member, "2024-01-01").await.unwrap();
    let second = join(&mut client, "drones", 3, R::Chair, "2024-01-01").await.unwrap_err();
    expect_error(&second, Code::FailedPrecondition, "CHAIR_TAKEN");
    let promote = |previous: R| v1::UpdateMembershipRequest {
        membership: Some(v1::Membership { name: member("drones", 2), role: R::Chair as i32, ..Default::default() }),
        previous_chair_role: previous as i32,
        effective_date: "2025-01-01".into(),
        ..Default::default()
    };
    let status = client.update_membership(promote(R::Unspecified)).await.unwrap_err();
    expect_error(&status, Code::FailedPrecondition, "CHAIR_TAKEN");
    client.update_membership(promote(R::ViceChair)).await.expect("hand-over");
    let chairs = client
        .list_memberships(v1::ListMembershipsRequest {
            parent: "alliances/drones".into(),
            filter: "role = CHAIR state = ACTIVE".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        chairs.memberships.iter().map(|m| m.enterprise.clone()).collect::<Vec<_>>(),
        vec![format!("enterprises/{}", code(2))]
    );
    let old_chair =
        client.get_membership(v1::GetMembershipRequest { name: member("drones", 1) }).await.unwrap().into_inner();
    assert_eq!(old_chair.role, R::ViceChair as i32);
    assert_eq!(old_chair.events.last().map(|e| e.kind), Some(Ev::RoleChanged as i32));
}

#[tokio::test]
async fn bad_membership_input_is_refused_and_writes_nothing() {
    let server = TestServer::start().await;
    register(&server, 1, "成员", "C3825").await;
    let mut client = alliances(&server).await;
    let before = server.store.next_revision().unwrap();

    let status = join(&mut client, "no-such", 1, R::Member, "").await.unwrap_err();
    expect_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND");
    let status = join(&mut client, "photovoltaics", 9, R::Member, "").await.unwrap_err();
    let violations = expect_error(&status, Code::InvalidArgument, "UNKNOWN_ENTERPRISE");
    assert_eq!(violations[0].0, "credit_code");
    let status = join(&mut client, "Bad_Slug", 1, R::Member, "").await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "INVALID_ALLIANCE_ID");
    let status = join(&mut client, "photovoltaics", 1, R::Unspecified, "").await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "REQUIRED");
    let status = join(&mut client, "photovoltaics", 1, R::Member, "2999-01-01").await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "DATE_IN_FUTURE");
    let status = client
        .create_alliance(v1::CreateAllianceRequest {
            alliance_id: "Space X".into(),
            alliance: Some(v1::Alliance { display_name: "x".into(), kind: 1, ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&status, Code::InvalidArgument, "INVALID_ALLIANCE_ID");
    assert_eq!(server.store.next_revision().unwrap(), before, "nothing written");

    join(&mut client, "photovoltaics", 1, R::Member, "2024-05-01").await.unwrap();
    let status = client
        .end_membership(v1::EndMembershipRequest {
            name: member("photovoltaics", 1),
            end_date: "2024-04-30".into(),
            reason: EndReason::Withdrew as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    let violations = expect_error(&status, Code::InvalidArgument, "DATE_BEFORE_JOIN");
    assert_eq!(violations[0].0, "end_date");
    let status = client
        .list_memberships(v1::ListMembershipsRequest {
            parent: "alliances/-".into(),
            filter: "colour = red".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&status, Code::InvalidArgument, "UNKNOWN_FILTER_FIELD");
}

#[tokio::test]
async fn deleting_members_and_alliances_needs_force_and_ends_memberships() {
    let server = TestServer::start().await;
    register(&server, 1, "甲", "C3841").await;
    register(&server, 2, "乙", "C3841").await;
    let mut client = alliances(&server).await;
    join(&mut client, "energy-storage", 1, R::Member, "2024-01-01").await.unwrap();
    join(&mut client, "finance", 1, R::Member, "2024-01-01").await.unwrap();
    join(&mut client, "energy-storage", 2, R::Member, "2024-01-01").await.unwrap();
    let mut firms = server.enterprises().await;
    let name = format!("enterprises/{}", code(1));

    let status = firms
        .delete_enterprise(v1::DeleteEnterpriseRequest { name: name.clone(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&status, Code::FailedPrecondition, "ACTIVE_MEMBERSHIPS");
    let deleted = firms
        .delete_enterprise(v1::DeleteEnterpriseRequest {
            name: name.clone(),
            force: true,
            reason: "注销".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.delete_time.is_some() && deleted.memberships.is_empty());
    let ended =
        client.get_membership(v1::GetMembershipRequest { name: member("finance", 1) }).await.unwrap().into_inner();
    assert_eq!((ended.state, ended.end_reason), (S::Ended as i32, EndReason::EnterpriseDeleted as i32));
    let status = join(&mut client, "finance", 1, R::Member, "").await.unwrap_err();
    expect_error(&status, Code::FailedPrecondition, "ENTERPRISE_DELETED");

    let status = client
        .delete_alliance(v1::DeleteAllianceRequest { name: "alliances/energy-storage".into(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&status, Code::FailedPrecondition, "ACTIVE_MEMBERS");
    let retired = client
        .delete_alliance(v1::DeleteAllianceRequest {
            name: "alliances/energy-storage".into(),
            force: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(retired.delete_time.is_some());
    assert_eq!(retired.active_members, 0);
    let m = client
        .get_membership(v1::GetMembershipRequest { name: member("energy-storage", 2) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.end_reason, EndReason::AllianceDissolved as i32);
    let e2 = firms
        .get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{}", code(2)) })
        .await
        .unwrap()
        .into_inner();
    assert!(e2.memberships.is_empty());
    let status = join(&mut client, "energy-storage", 2, R::Member, "").await.unwrap_err();
    expect_error(&status, Code::FailedPrecondition, "ALLIANCE_DELETED");
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn a_firms_memberships_across_alliances_and_alliance_edits() {
    let server = TestServer::start().await;
    register(&server, 1, "跨盟企业", "M7320").await;
    let mut client = alliances(&server).await;
    for alliance in ["rd-services", "talent", "finance"] {
        join(&mut client, alliance, 1, R::Member, "2024-01-01").await.unwrap();
    }
    let mine = client
        .list_memberships(v1::ListMembershipsRequest {
            parent: "alliances/-".into(),
            filter: format!("credit_code = {}", code(1)),
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.memberships.len(), 2);
    let rest = client
        .list_memberships(v1::ListMembershipsRequest {
            parent: "alliances/-".into(),
            filter: format!("credit_code = {}", code(1)),
            page_size: 2,
            page_token: mine.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    let all: Vec<String> = mine.memberships.iter().chain(&rest.memberships).map(|m| m.name.clone()).collect();
    assert_eq!(all, vec![member("finance", 1), member("rd-services", 1), member("talent", 1)]);

    let renamed = client
        .update_alliance(v1::UpdateAllianceRequest {
            alliance: Some(v1::Alliance {
                name: "alliances/rd-services".into(),
                display_name: "科技服务联盟".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!renamed.seeded_default, "an edited default is no longer a placeholder");
    assert_eq!(renamed.active_members, 1);
    let status = client
        .update_alliance(v1::UpdateAllianceRequest {
            alliance: Some(v1::Alliance {
                name: "alliances/rd-services".into(),
                display_name: "x".into(),
                ..Default::default()
            }),
            etag: "0000000000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&status, Code::Aborted, "ETAG_MISMATCH");
}

#[tokio::test]
async fn retries_of_multi_record_requests_replay_their_answer() {
    let server = TestServer::start().await;
    register(&server, 1, "甲", "C3742").await;
    register(&server, 2, "乙", "C3742").await;
    let mut client = alliances(&server).await;
    join(&mut client, "commercial-space", 1, R::Chair, "2024-01-01").await.unwrap();
    join(&mut client, "commercial-space", 2, R::Member, "2024-01-01").await.unwrap();
    join(&mut client, "finance", 1, R::Member, "2024-01-01").await.unwrap();

    // A hand-over writes two memberships; its retry writes nothing.
    let handover = v1::UpdateMembershipRequest {
        membership: Some(v1::Membership {
            name: member("commercial-space", 2),
            role: R::Chair as i32,
            ..Default::default()
        }),
        previous_chair_role: R::ViceChair as i32,
        effective_date: "2025-01-01".into(),
        request_id: "handover-1".into(),
        ..Default::default()
    };
    let first = client.update_membership(handover.clone()).await.expect("hand-over").into_inner();
    let head = server.store.next_revision().unwrap();
    let again = client.update_membership(handover).await.expect("retry").into_inner();
    assert_eq!(first, again);
    assert_eq!(server.store.next_revision().unwrap(), head, "the retry wrote nothing");

    // A forced enterprise delete ends memberships and remembers the enterprise.
    let mut firms = server.enterprises().await;
    let delete = v1::DeleteEnterpriseRequest {
        name: format!("enterprises/{}", code(1)),
        force: true,
        request_id: "delete-1".into(),
        ..Default::default()
    };
    let deleted = firms.delete_enterprise(delete.clone()).await.expect("forced delete with a request id").into_inner();
    assert!(deleted.delete_time.is_some());
    let head = server.store.next_revision().unwrap();
    assert_eq!(firms.delete_enterprise(delete).await.expect("retry").into_inner(), deleted);
    assert_eq!(server.store.next_revision().unwrap(), head);

    // And so does a forced alliance delete.
    let retire = v1::DeleteAllianceRequest {
        name: "alliances/commercial-space".into(),
        force: true,
        request_id: "retire-1".into(),
        ..Default::default()
    };
    let retired =
        client.delete_alliance(retire.clone()).await.expect("forced alliance delete with a request id").into_inner();
    assert_eq!(client.delete_alliance(retire).await.expect("retry").into_inner(), retired);
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn membership_history_stays_in_date_order_and_system_reasons_are_reserved() {
    let server = TestServer::start().await;
    register(&server, 1, "甲", "C3963").await;
    let mut client = alliances(&server).await;
    join(&mut client, "drones", 1, R::Member, "2024-01-01").await.unwrap();
    let role = |role: R, date: &str| v1::UpdateMembershipRequest {
        membership: Some(v1::Membership { name: member("drones", 1), role: role as i32, ..Default::default() }),
        effective_date: date.into(),
        ..Default::default()
    };
    client.update_membership(role(R::Director, "2025-06-01")).await.unwrap();
    let before = server.store.next_revision().unwrap();
    let status = client.update_membership(role(R::ViceChair, "2024-06-01")).await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "DATE_OUT_OF_ORDER");
    let end = |date: &str, reason: EndReason| v1::EndMembershipRequest {
        name: member("drones", 1),
        end_date: date.into(),
        reason: reason as i32,
        ..Default::default()
    };
    let status = client.end_membership(end("2024-03-01", EndReason::Withdrew)).await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "DATE_OUT_OF_ORDER");
    let status = client.end_membership(end("2025-07-01", EndReason::EnterpriseDeleted)).await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "SYSTEM_REASON");
    assert_eq!(server.store.next_revision().unwrap(), before, "refused changes wrote nothing");
    client.end_membership(end("2025-07-01", EndReason::Withdrew)).await.unwrap();
    let status = join(&mut client, "drones", 1, R::Member, "2025-06-30").await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "REJOIN_BEFORE_END");
    // A rejoin on the day the membership ended is accepted (both default to today).
    join(&mut client, "drones", 1, R::Member, "2025-07-01").await.unwrap();
    // An active member re-added as chair hears that it is already a member.
    let status = join(&mut client, "drones", 1, R::Chair, "").await.unwrap_err();
    expect_error(&status, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
}
