//! The cultivation ladder through a real server: designations, the derived
//! stage, its history, expiry without writes, the stage filter and sweeper.

mod common;

use common::{code, create, expect_error, firm, TestServer};
use ladder::domain::time::Date;
use ladder::pb::v1;
use ladder::pb::v1::cultivation_service_client::CultivationServiceClient;
use tonic::transport::Channel;
use tonic::Code;

use v1::{DesignationKind as K, DesignationStatus as St, Stage, StageChangeCause as Cause};

async fn cultivation(server: &TestServer) -> CultivationServiceClient<Channel> {
    CultivationServiceClient::new(server.channel().await)
}

fn designation(kind: K, from: &str, until: &str, certificate: &str) -> v1::Designation {
    v1::Designation {
        kind: kind as i32,
        status: St::Granted as i32,
        valid_from: from.into(),
        valid_until: until.into(),
        certificate_number: certificate.into(),
        authority: "陕西省科学技术厅".into(),
        ..Default::default()
    }
}

async fn record(
    client: &mut CultivationServiceClient<Channel>,
    n: u32,
    d: v1::Designation,
) -> Result<v1::Designation, tonic::Status> {
    client
        .create_designation(v1::CreateDesignationRequest {
            parent: format!("enterprises/{}", code(n)),
            designation: Some(d),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

async fn stage_of(server: &TestServer, n: u32) -> (i32, String) {
    let e = server
        .enterprises()
        .await
        .get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{}", code(n)) })
        .await
        .unwrap()
        .into_inner();
    (e.stage, e.stage_since)
}

fn days_from_today(n: i64) -> String {
    Date::today().add_days(n).to_string()
}

#[tokio::test]
async fn tech_sme_then_high_tech_climbs_and_revocation_falls_back() {
    let server = TestServer::start().await;
    server.enterprises().await.create_enterprise(create(firm(1, "西安星火科技"))).await.unwrap();
    let mut client = cultivation(&server).await;

    record(&mut client, 1, designation(K::TechSme, &days_from_today(-400), "", "")).await.unwrap();
    // Its usual one-year validity was filled in, so it has already expired.
    assert_eq!(
        stage_of(&server, 1).await.0,
        Stage::Unspecified as i32,
        "an expired entry needs no write to stop counting"
    );
    record(&mut client, 1, designation(K::TechSme, &days_from_today(-30), "", "")).await.unwrap();
    assert_eq!(stage_of(&server, 1).await, (Stage::Nurture as i32, days_from_today(-30)));

    let gr =
        record(&mut client, 1, designation(K::HighTech, &days_from_today(-10), "", "GR202461000123")).await.unwrap();
    assert_eq!(gr.stage, Stage::Climb as i32);
    assert_eq!(gr.valid_until, Date::today().add_days(-10).add_years(3).add_days(-1).to_string());
    assert_eq!(stage_of(&server, 1).await, (Stage::Climb as i32, days_from_today(-10)));

    let revoked = client
        .revoke_designation(v1::RevokeDesignationRequest {
            name: gr.name.clone(),
            reason: "年报连续两年未报".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.status, St::Revoked as i32);
    assert_eq!(stage_of(&server, 1).await.0, Stage::Nurture as i32);

    let stage = client
        .get_enterprise_stage(v1::GetEnterpriseStageRequest {
            name: format!("enterprises/{}", code(1)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let steps: Vec<(i32, i32, i32)> = stage.history.iter().map(|c| (c.from_stage, c.to_stage, c.cause)).collect();
    assert_eq!(
        steps,
        vec![
            (Stage::Unspecified as i32, Stage::Nurture as i32, Cause::Granted as i32),
            (Stage::Nurture as i32, Stage::Unspecified as i32, Cause::Expired as i32),
            (Stage::Unspecified as i32, Stage::Nurture as i32, Cause::Granted as i32),
            (Stage::Nurture as i32, Stage::Climb as i32, Cause::Granted as i32),
            (Stage::Climb as i32, Stage::Nurture as i32, Cause::Revoked as i32),
        ]
    );
    let fall = stage.history.last().unwrap();
    assert_eq!(
        (fall.actor.as_str(), fall.reason.as_str(), fall.designation.as_str()),
        ("local-admin", "年报连续两年未报", gr.name.as_str())
    );
    assert_eq!(stage.spells.last().map(|s| s.stage), Some(Stage::Nurture as i32));

    // As of a past date, the answer is the stage then.
    let then = client
        .get_enterprise_stage(v1::GetEnterpriseStageRequest {
            name: format!("enterprises/{}", code(1)),
            as_of: days_from_today(-5),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(then.stage, Stage::Climb as i32);

    // Revoking it again is refused; the same certificate cannot be recorded twice.
    let status = client
        .revoke_designation(v1::RevokeDesignationRequest {
            name: gr.name.clone(),
            reason: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&status, Code::FailedPrecondition, "ALREADY_REVOKED");
    let status =
        record(&mut client, 1, designation(K::HighTech, &days_from_today(-1), "", "gr202461000123")).await.unwrap_err();
    let violations = expect_error(&status, Code::InvalidArgument, "DUPLICATE_CERTIFICATE");
    assert_eq!(violations[0].0, "designation.certificate_number");
    assert!(violations[0].1.contains(&gr.name), "{}", violations[0].1);
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn bad_designations_are_refused_and_write_nothing() {
    let server = TestServer::start().await;
    server.enterprises().await.create_enterprise(create(firm(1, "甲"))).await.unwrap();
    let mut client = cultivation(&server).await;
    let before = server.store.next_revision().unwrap();

    let status = record(&mut client, 1, designation(K::HighTech, "2024-01-01", "2023-12-31", "")).await.unwrap_err();
    let violations = expect_error(&status, Code::InvalidArgument, "UNTIL_BEFORE_FROM");
    assert_eq!(violations[0].0, "designation.valid_until");
    let status = record(&mut client, 1, designation(K::Unspecified, "2024-01-01", "", "")).await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "REQUIRED");
    let status = record(&mut client, 9, designation(K::HighTech, "2024-01-01", "", "")).await.unwrap_err();
    expect_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND");
    assert_eq!(server.store.next_revision().unwrap(), before, "nothing written");

    server
        .enterprises()
        .await
        .delete_enterprise(v1::DeleteEnterpriseRequest {
            name: format!("enterprises/{}", code(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    let status = record(&mut client, 1, designation(K::HighTech, "2024-01-01", "", "")).await.unwrap_err();
    expect_error(&status, Code::FailedPrecondition, "ENTERPRISE_DELETED");
}

#[tokio::test]
async fn the_stage_filter_and_the_expiry_sweeper() {
    let server = TestServer::start().await;
    let mut firms = server.enterprises().await;
    for n in 1..=3 {
        firms.create_enterprise(create(firm(n, &format!("企业{n}")))).await.unwrap();
    }
    let mut client = cultivation(&server).await;
    // Firm 1 holds a 规上 status ending in ten days; firm 2 a 高企 certificate;
    // firm 3 will be 规上 from a date in five days.
    record(&mut client, 1, designation(K::AboveScaleIndustry, &days_from_today(-100), &days_from_today(10), ""))
        .await
        .unwrap();
    record(&mut client, 2, designation(K::HighTech, &days_from_today(-100), "", "GR1")).await.unwrap();
    record(&mut client, 3, designation(K::AboveScaleIndustry, &days_from_today(5), "", "")).await.unwrap();

    let codes = |r: v1::ListEnterprisesResponse| r.enterprises.into_iter().map(|e| e.credit_code).collect::<Vec<_>>();
    let list = |filter: &str| v1::ListEnterprisesRequest { filter: filter.into(), ..Default::default() };
    assert_eq!(
        codes(firms.list_enterprises(list("stage = STAGE_SCALE_UP")).await.unwrap().into_inner()),
        vec![code(1)]
    );
    assert_eq!(
        codes(firms.list_enterprises(list("stage >= STAGE_CLIMB")).await.unwrap().into_inner()),
        vec![code(1), code(2)]
    );
    assert_eq!(
        codes(firms.list_enterprises(list("stage = STAGE_UNSPECIFIED")).await.unwrap().into_inner()),
        vec![code(3)]
    );
    let status = firms.list_enterprises(list("stage = TOP")).await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "INVALID_FILTER");

    // Twenty days on, the sweeper moves both firms' stage index and logs each
    // change as the system.
    let later = Date::today().add_days(20);
    assert_eq!(server.store.sweep_stages(later).await.unwrap(), 2);
    assert_eq!(server.store.sweep_stages(later).await.unwrap(), 0, "nothing is due twice");
    let log = server
        .changes()
        .await
        .list_changes(v1::ListChangesRequest { resource: code(1), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let last = log.changes.last().unwrap();
    assert_eq!((last.actor.as_str(), last.origin.as_str()), ("system", "stage-sweeper"));
    assert_eq!(last.field_changes[0].old_value, "STAGE_SCALE_UP");
    assert_eq!(last.field_changes[0].new_value, "");

    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn corrections_deletes_and_retries_of_designations() {
    let server = TestServer::start().await;
    server.enterprises().await.create_enterprise(create(firm(1, "西安小巨人科技"))).await.unwrap();
    let mut client = cultivation(&server).await;
    let mut noticed = designation(K::LittleGiant, "2024-07-01", "", "XJR-2024-001");
    noticed.status = St::PublicNotice as i32;
    let create_request = v1::CreateDesignationRequest {
        parent: format!("enterprises/{}", code(1)),
        designation: Some(noticed),
        request_id: "create-1".into(),
        ..Default::default()
    };
    let created = client.create_designation(create_request.clone()).await.unwrap().into_inner();
    assert_eq!(stage_of(&server, 1).await.0, Stage::Unspecified as i32, "a noticed designation does not count yet");

    // 公示 → 认定 and the issuing level: an ordinary step, not a correction.
    let granted = client
        .update_designation(v1::UpdateDesignationRequest {
            designation: Some(v1::Designation {
                name: created.name.clone(),
                status: St::Granted as i32,
                level: v1::IssuingLevel::National as i32,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["status".into(), "level".into()] }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((granted.level, granted.corrected), (v1::IssuingLevel::National as i32, false));
    assert_ne!(granted.revision, created.revision);
    let history = client
        .get_enterprise_stage(v1::GetEnterpriseStageRequest {
            name: format!("enterprises/{}", code(1)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .history;
    assert_eq!(history.last().map(|c| c.cause), Some(Cause::Granted as i32));

    // Re-dating it is a correction, and the history says so.
    let corrected = client
        .update_designation(v1::UpdateDesignationRequest {
            designation: Some(v1::Designation {
                name: created.name.clone(),
                valid_from: "2024-08-01".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["valid_from".into()] }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(corrected.corrected);

    // A delete with a request id replays; the certificate is free again.
    let delete = v1::DeleteDesignationRequest {
        name: created.name.clone(),
        request_id: "delete-1".into(),
        reason: "录错企业".into(),
        ..Default::default()
    };
    let removed = client.delete_designation(delete.clone()).await.unwrap().into_inner();
    assert_eq!(client.delete_designation(delete).await.expect("retry replays").into_inner(), removed);
    assert_eq!(stage_of(&server, 1).await.0, Stage::Unspecified as i32);
    record(&mut client, 1, designation(K::LittleGiant, "2024-08-01", "", "XJR-2024-001"))
        .await
        .expect("certificate released");

    // A create retried after the firm was deleted still gets its answer.
    server
        .enterprises()
        .await
        .delete_enterprise(v1::DeleteEnterpriseRequest {
            name: format!("enterprises/{}", code(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    let retry = client.create_designation(create_request).await.expect("the retry replays the original answer");
    assert_eq!(retry.into_inner(), created);
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}
