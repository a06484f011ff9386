//! The enterprise registry through a real gRPC server: good paths, bad paths,
//! paging, idempotency, persistence.

mod common;

use common::{code, create, expect_error, firm, TestServer};
use ladder::config::Config;
use ladder::pb::v1;
use prost_types::FieldMask;
use tonic::Code;

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask { paths: paths.iter().map(|p| p.to_string()).collect() })
}

/// Revisions written since the server started (seeding excluded).
async fn head_revision(server: &TestServer) -> u64 {
    server.store.next_revision().expect("revision") - 1 - server.base
}

#[tokio::test]
async fn lifecycle_create_get_update_delete_undelete_with_history() {
    let server = TestServer::start().await;
    let mut client = server.enterprises().await;

    let mut input = firm(1, "西安航天动力有限公司");
    input.industry_code = "3742".into();
    input.tags = vec!["专精特新".into(), " 储能 ".into()];
    input.founding_date = "2015-06-01".into();
    let created = client.create_enterprise(create(input)).await.expect("create").into_inner();
    assert_eq!(created.name, format!("enterprises/{}", code(1)));
    assert_eq!(created.industry_code, "C3742", "industry code stored canonical");
    assert_eq!(created.industry_name, "航天器及运载火箭制造");
    assert_eq!(created.tags, vec!["专精特新", "储能"], "tags trimmed");
    assert_eq!(created.region_code, "610116", "region defaults to the code's");
    assert_eq!(created.region_name, "长安区");
    assert_eq!((created.organisation_type.as_str(), created.organisation_type_label.as_str()), ("91", "企业"));
    assert_eq!(uuid::Uuid::parse_str(&created.uid).map(|u| u.get_version_num()), Ok(4));
    assert!(created.create_time.is_some() && created.delete_time.is_none());

    let got =
        client.get_enterprise(v1::GetEnterpriseRequest { name: created.name.clone() }).await.expect("get").into_inner();
    assert_eq!(got, created);

    // Update with the current etag: the old legal name is kept.
    let updated = client
        .update_enterprise(v1::UpdateEnterpriseRequest {
            enterprise: Some(v1::Enterprise {
                name: created.name.clone(),
                display_name: "西安航天新动力有限公司".into(),
                promotion_zone: "east".into(),
                ..Default::default()
            }),
            update_mask: mask(&["display_name", "promotion_zone"]),
            etag: created.etag.clone(),
            ..Default::default()
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.display_name, "西安航天新动力有限公司");
    assert_eq!(updated.former_names.len(), 1);
    assert_eq!(updated.former_names[0].display_name, "西安航天动力有限公司");
    assert_eq!(updated.tags, created.tags, "fields outside the mask are untouched");
    assert_ne!(updated.etag, created.etag);

    // The stale etag is now refused and nothing changes.
    let stale = client
        .update_enterprise(v1::UpdateEnterpriseRequest {
            enterprise: Some(v1::Enterprise { name: created.name.clone(), notes: "late".into(), ..Default::default() }),
            update_mask: mask(&["notes"]),
            etag: created.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&stale, Code::Aborted, "ETAG_MISMATCH");

    let deleted = client
        .delete_enterprise(v1::DeleteEnterpriseRequest {
            name: created.name.clone(),
            reason: "迁出".into(),
            etag: updated.etag.clone(),
            ..Default::default()
        })
        .await
        .expect("delete")
        .into_inner();
    assert!(deleted.delete_time.is_some());
    assert_eq!(deleted.delete_reason, "迁出");

    let listed = client.list_enterprises(v1::ListEnterprisesRequest::default()).await.unwrap().into_inner();
    assert!(listed.enterprises.is_empty(), "deleted firms are hidden by default");
    assert_eq!(listed.total_size, 0);
    let with_deleted = client
        .list_enterprises(v1::ListEnterprisesRequest { show_deleted: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(with_deleted.enterprises.len(), 1);

    let again = client
        .delete_enterprise(v1::DeleteEnterpriseRequest { name: created.name.clone(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&again, Code::FailedPrecondition, "ALREADY_DELETED");

    let restored = client
        .undelete_enterprise(v1::UndeleteEnterpriseRequest { name: created.name.clone(), ..Default::default() })
        .await
        .expect("undelete")
        .into_inner();
    assert!(restored.delete_time.is_none() && restored.delete_reason.is_empty());

    // The change log tells the whole story, attributed.
    let changes = server
        .changes()
        .await
        .list_changes(v1::ListChangesRequest { resource: created.name.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<i32> = changes.changes.iter().map(|c| c.kind).collect();
    use v1::ChangeKind::*;
    assert_eq!(kinds, vec![Created as i32, Updated as i32, Deleted as i32, Undeleted as i32]);
    let revisions: Vec<u64> = changes.changes.iter().map(|c| c.revision - server.base).collect();
    assert_eq!(revisions, vec![1, 2, 3, 4]);
    assert!(changes.changes.iter().all(|c| c.actor == "local-admin" && c.origin == "api"));
    let update = &changes.changes[1];
    let name_change = update.field_changes.iter().find(|f| f.field == "display_name").expect("name change");
    assert_eq!(
        (name_change.old_value.as_str(), name_change.new_value.as_str()),
        ("西安航天动力有限公司", "西安航天新动力有限公司")
    );
    assert_eq!(changes.changes[2].reason, "迁出");
    assert_eq!(changes.head_revision, server.base + 4);
}

#[tokio::test]
async fn wrong_check_character_names_the_field_and_the_expected_character() {
    let server = TestServer::start().await;
    let mut client = server.enterprises().await;
    let good = code(7);
    let last = good.chars().last().unwrap();
    let wrong = if last == '0' { '1' } else { '0' };
    let bad = format!("{}{wrong}", &good[..17]);
    let status = client
        .create_enterprise(create(v1::Enterprise { credit_code: bad, display_name: "x".into(), ..Default::default() }))
        .await
        .unwrap_err();
    let violations = expect_error(&status, Code::InvalidArgument, "CHECK_CHARACTER_MISMATCH");
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].0, "enterprise.credit_code");
    assert!(violations[0].1.contains(&format!("should be '{last}'")), "{}", violations[0].1);
    assert_eq!(head_revision(&server).await, 0, "nothing written");
}

#[tokio::test]
async fn malformed_codes_are_refused_and_messy_input_is_normalised() {
    let server = TestServer::start().await;
    let mut client = server.enterprises().await;
    let good = code(3);
    let cases = [
        (good[..17].to_string(), "WRONG_LENGTH"),
        (format!("{good}1"), "WRONG_LENGTH"),
        (format!("{}O{}", &good[..9], &good[10..]), "INVALID_CHARACTER"),
        (String::new(), "EMPTY"),
    ];
    for (input, reason) in cases {
        let status = client
            .create_enterprise(create(v1::Enterprise {
                credit_code: input.clone(),
                display_name: "x".into(),
                ..Default::default()
            }))
            .await
            .unwrap_err();
        let violations = expect_error(&status, Code::InvalidArgument, reason);
        assert_eq!(violations[0].0, "enterprise.credit_code", "for {input:?}");
    }
    assert_eq!(head_revision(&server).await, 0);

    // Lower case with full-width digits and spaces around is the same code.
    let messy: String = format!("  {}  ", good.to_lowercase())
        .chars()
        .map(|c| if c.is_ascii_digit() { char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap() } else { c })
        .collect();
    let created = client
        .create_enterprise(create(v1::Enterprise {
            credit_code: messy,
            display_name: "规范化".into(),
            ..Default::default()
        }))
        .await
        .expect("normalised")
        .into_inner();
    assert_eq!(created.credit_code, good);

    let dup = client.create_enterprise(create(firm(3, "重复"))).await.unwrap_err();
    expect_error(&dup, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
}

#[tokio::test]
async fn invalid_fields_are_all_reported_and_nothing_is_written() {
    let server = TestServer::start().await;
    let mut client = server.enterprises().await;
    let mut e = firm(1, "");
    e.industry_code = "D37".into();
    e.founding_date = "2023-02-29".into();
    e.contacts = vec![v1::Contact { name: "王敏".into(), email: "not-an-email".into(), ..Default::default() }];
    let status = client.create_enterprise(create(e)).await.unwrap_err();
    let violations = expect_error(&status, Code::InvalidArgument, "REQUIRED");
    let fields: Vec<&str> = violations.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "enterprise.display_name",
            "enterprise.industry_code",
            "enterprise.founding_date",
            "enterprise.contacts[0].email"
        ]
    );
    assert!(violations[1].1.contains("belongs to section C"), "{}", violations[1].1);

    let huge = firm(2, &"名".repeat(10 * 1024));
    let status = client.create_enterprise(create(huge)).await.unwrap_err();
    let violations = expect_error(&status, Code::InvalidArgument, "TOO_LONG");
    assert_eq!(violations[0].0, "enterprise.display_name");

    let missing = client.create_enterprise(v1::CreateEnterpriseRequest::default()).await.unwrap_err();
    expect_error(&missing, Code::InvalidArgument, "REQUIRED");

    assert_eq!(head_revision(&server).await, 0);
    let listed = client
        .list_enterprises(v1::ListEnterprisesRequest { show_deleted: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.enterprises.is_empty());
}

#[tokio::test]
async fn bad_updates_change_nothing() {
    let server = TestServer::start().await;
    let mut client = server.enterprises().await;
    let created = client.create_enterprise(create(firm(1, "甲公司"))).await.unwrap().into_inner();
    let update = |paths: &[&str], e: v1::Enterprise| v1::UpdateEnterpriseRequest {
        enterprise: Some(v1::Enterprise { name: created.name.clone(), ..e }),
        update_mask: mask(paths),
        ..Default::default()
    };
    let cases = [
        (update(&["credit_code"], v1::Enterprise::default()), "FIELD_NOT_UPDATABLE"),
        (update(&["colour"], v1::Enterprise::default()), "UNKNOWN_FIELD"),
        (update(&["display_name"], v1::Enterprise::default()), "REQUIRED"),
        (
            update(&["industry_code"], v1::Enterprise { industry_code: "C99999".into(), ..Default::default() }),
            "BAD_SHAPE",
        ),
        (
            update(&["region_code"], v1::Enterprise { region_code: "61".into(), ..Default::default() }),
            "INVALID_REGION_CODE",
        ),
    ];
    for (request, reason) in cases {
        let status = client.update_enterprise(request).await.unwrap_err();
        expect_error(&status, Code::InvalidArgument, reason);
    }
    let missing = client
        .update_enterprise(v1::UpdateEnterpriseRequest {
            enterprise: Some(v1::Enterprise {
                name: format!("enterprises/{}", code(99)),
                notes: "x".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&missing, Code::NotFound, "RESOURCE_NOT_FOUND");
    let after =
        client.get_enterprise(v1::GetEnterpriseRequest { name: created.name.clone() }).await.unwrap().into_inner();
    assert_eq!(after, created, "every refused update left the record as it was");
    assert_eq!(head_revision(&server).await, 1);

    // An update without a mask changes the populated fields; one that
    // changes nothing writes nothing.
    let implied = client
        .update_enterprise(v1::UpdateEnterpriseRequest {
            enterprise: Some(v1::Enterprise {
                name: created.name.clone(),
                address: "西安市长安区航天大道".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(implied.address, "西安市长安区航天大道");
    assert_eq!(implied.display_name, "甲公司");
    let same = client
        .update_enterprise(v1::UpdateEnterpriseRequest {
            enterprise: Some(v1::Enterprise {
                name: created.name.clone(),
                address: "西安市长安区航天大道".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(same.revision, implied.revision, "a no-op update is not a change");
    assert_eq!(head_revision(&server).await, 2);
}

#[tokio::test]
async fn request_ids_make_retries_safe() {
    let server = TestServer::start().await;
    let mut client = server.enterprises().await;
    let request = v1::CreateEnterpriseRequest {
        enterprise: Some(firm(5, "幂等公司")),
        request_id: "5d0c1f0e-retry".into(),
        ..Default::default()
    };
    let first = client.create_enterprise(request.clone()).await.unwrap().into_inner();
    let second = client.create_enterprise(request.clone()).await.expect("replay returns the original").into_inner();
    assert_eq!(first, second);
    assert_eq!(head_revision(&server).await, 1, "the retry wrote nothing");

    let mut different = request.clone();
    different.enterprise = Some(firm(6, "别的公司"));
    let status = client.create_enterprise(different).await.unwrap_err();
    let violations = expect_error(&status, Code::InvalidArgument, "REQUEST_ID_REUSED");
    assert_eq!(violations[0].0, "request_id");

    let request = v1::ListChangesRequest { start_revision: server.base + 1, ..Default::default() };
    let changes = server.changes().await.list_changes(request).await.unwrap().into_inner();
    assert_eq!(changes.changes.len(), 1);
    assert_eq!(changes.changes[0].request_id, "5d0c1f0e-retry");
}

#[tokio::test]
async fn validate_only_checks_everything_and_writes_nothing() {
    let server = TestServer::start().await;
    let mut client = server.enterprises().await;
    let preview = client
        .create_enterprise(v1::CreateEnterpriseRequest {
            enterprise: Some(firm(1, "预览")),
            validate_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(preview.display_name, "预览");
    assert!(preview.etag.is_empty() || preview.etag.trim_start_matches('0').is_empty(), "no revision: {preview:?}");
    let missing = client.get_enterprise(v1::GetEnterpriseRequest { name: preview.name.clone() }).await.unwrap_err();
    expect_error(&missing, Code::NotFound, "RESOURCE_NOT_FOUND");
    assert_eq!(head_revision(&server).await, 0);

    // An update checked only: the answer shows the new values with the
    // etag the record still has, which a real update then accepts.
    let stored = client.create_enterprise(create(firm(2, "原名"))).await.unwrap().into_inner();
    let preview = client
        .update_enterprise(v1::UpdateEnterpriseRequest {
            enterprise: Some(v1::Enterprise {
                name: stored.name.clone(),
                display_name: "新名".into(),
                etag: stored.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["display_name".into()] }),
            validate_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((preview.display_name.as_str(), preview.etag.as_str()), ("新名", stored.etag.as_str()));
    let now = client.get_enterprise(v1::GetEnterpriseRequest { name: stored.name.clone() }).await.unwrap().into_inner();
    assert_eq!((now.display_name.as_str(), now.etag.as_str()), ("原名", stored.etag.as_str()));
}

#[tokio::test]
async fn filters_are_served_and_bad_filters_are_precise() {
    let server = TestServer::start().await;
    let mut client = server.enterprises().await;
    let specs = [
        (1, "航天一号", "C3742", "east", vec!["专精特新"]),
        (2, "航天二号", "C3743", "east", vec![]),
        (3, "锂电三号", "C3841", "west", vec!["专精特新"]),
        (4, "软件四号", "I6513", "east", vec!["专精特新"]),
    ];
    for (n, name, industry, zone, tags) in specs {
        let mut e = firm(n, name);
        e.industry_code = industry.into();
        e.promotion_zone = zone.into();
        e.tags = tags.into_iter().map(String::from).collect();
        client.create_enterprise(create(e)).await.unwrap();
    }
    let list = |filter: &str| v1::ListEnterprisesRequest { filter: filter.into(), ..Default::default() };
    let names = |r: v1::ListEnterprisesResponse| r.enterprises.into_iter().map(|e| e.display_name).collect::<Vec<_>>();
    let cases: [(&str, Vec<&str>); 11] = [
        ("industry_code = C37", vec!["航天一号", "航天二号"]),
        ("industry_code = C3743 OR industry_code = C38", vec!["航天二号", "锂电三号"]),
        ("zone = east (industry_code = C38 OR industry_code = I)", vec!["软件四号"]),
        ("NOT (zone = east AND tags:专精特新)", vec!["航天二号", "锂电三号"]),
        (r#"display_name:"号" (zone = west OR industry_code = C3742)"#, vec!["航天一号", "锂电三号"]),
        (r#"industry_code = "C" AND zone = east"#, vec!["航天一号", "航天二号"]),
        (r#"tags:"专精特新" zone = "east""#, vec!["航天一号", "软件四号"]),
        (r#"display_name:"航天" -tags:"专精特新""#, vec!["航天二号"]),
        ("region = 6101", vec!["航天一号", "航天二号", "锂电三号", "软件四号"]),
        ("organisation_type = 92", vec![]),
        (&format!("credit_code = {}", code(3).to_lowercase()), vec!["锂电三号"]),
    ];
    for (filter, expected) in cases {
        let response =
            client.list_enterprises(list(filter)).await.unwrap_or_else(|s| panic!("{filter}: {s:?}")).into_inner();
        assert_eq!(response.total_size as usize, expected.len(), "{filter}");
        assert_eq!(names(response), expected, "{filter}");
    }

    let status = client.list_enterprises(list("colour = red")).await.unwrap_err();
    let violations = expect_error(&status, Code::InvalidArgument, "UNKNOWN_FILTER_FIELD");
    assert_eq!(violations[0].0, "filter");
    for bad in ["zone = ", "zone = a OR", "(zone = a", r#"display_name:"open"#, "industry_code = X1"] {
        let status = client.list_enterprises(list(bad)).await.unwrap_err();
        expect_error(&status, Code::InvalidArgument, "INVALID_FILTER");
    }
    let status = client
        .list_enterprises(v1::ListEnterprisesRequest { order_by: "colour".into(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&status, Code::InvalidArgument, "INVALID_ORDER_BY");
}

#[tokio::test]
async fn paging_is_complete_ordered_and_tamper_evident() {
    let server = TestServer::start().await;
    let mut client = server.enterprises().await;
    for n in 0..25 {
        let mut e = firm(n, &format!("企业{:02}", 24 - n));
        e.promotion_zone = if n % 2 == 0 { "east".into() } else { "west".into() };
        client.create_enterprise(create(e)).await.unwrap();
    }
    let collect = |filter: &'static str, order_by: &'static str| {
        let mut client = client.clone();
        async move {
            let mut request = v1::ListEnterprisesRequest {
                page_size: 10,
                filter: filter.into(),
                order_by: order_by.into(),
                ..Default::default()
            };
            let mut pages = Vec::new();
            loop {
                let r = client.list_enterprises(request.clone()).await.unwrap().into_inner();
                pages.push((r.enterprises.iter().map(|e| e.credit_code.clone()).collect::<Vec<_>>(), r.total_size));
                if r.next_page_token.is_empty() {
                    return pages;
                }
                request.page_token = r.next_page_token;
            }
        }
    };
    let pages = collect("", "").await;
    assert_eq!(pages.iter().map(|(p, _)| p.len()).collect::<Vec<_>>(), vec![10, 10, 5]);
    assert!(pages.iter().all(|(_, total)| *total == 25));
    let all: Vec<String> = pages.into_iter().flat_map(|(p, _)| p).collect();
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(all, sorted, "credit-code order, no duplicates");
    assert_eq!(all.len(), 25);

    let east = collect("zone = east", "").await;
    assert_eq!(east.iter().map(|(p, _)| p.len()).sum::<usize>(), 13);
    assert!(east.iter().all(|(_, t)| *t == 13));

    let by_name_desc: Vec<String> = collect("", "display_name desc").await.into_iter().flat_map(|(p, _)| p).collect();
    assert_eq!(by_name_desc.first(), Some(&code(0)), "企业24 comes first descending");
    assert_eq!(by_name_desc.last(), Some(&code(24)));
    assert_eq!(by_name_desc.len(), 25);

    // Forged, altered and foreign tokens are refused.
    let first = client
        .list_enterprises(v1::ListEnterprisesRequest { page_size: 10, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut altered = first.next_page_token.clone();
    let flipped = if altered.ends_with('A') { 'B' } else { 'A' };
    altered.pop();
    altered.push(flipped);
    for token in [altered, "forged".to_string(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string()] {
        let status = client
            .list_enterprises(v1::ListEnterprisesRequest { page_size: 10, page_token: token, ..Default::default() })
            .await
            .unwrap_err();
        expect_error(&status, Code::InvalidArgument, "INVALID_PAGE_TOKEN");
    }
    let status = client
        .list_enterprises(v1::ListEnterprisesRequest {
            page_size: 10,
            page_token: first.next_page_token,
            filter: "zone = east".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&status, Code::InvalidArgument, "INVALID_PAGE_TOKEN");
    let status =
        client.list_enterprises(v1::ListEnterprisesRequest { page_size: -1, ..Default::default() }).await.unwrap_err();
    expect_error(&status, Code::InvalidArgument, "NEGATIVE_PAGE_SIZE");
}

#[tokio::test]
async fn oversized_messages_are_refused_without_writing() {
    let mut config = Config::default();
    config.server.max_message_bytes = 64 * 1024;
    let server = TestServer::with_config(config).await;
    let mut client = server.enterprises().await;
    let mut e = firm(1, "大消息");
    e.notes = "x".repeat(100 * 1024);
    let status = client.create_enterprise(create(e)).await.unwrap_err();
    assert!(matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted), "{status:?}");
    assert_eq!(head_revision(&server).await, 0);
    // The server is still healthy afterwards.
    client.create_enterprise(create(firm(1, "小消息"))).await.expect("normal request after oversized one");
}

#[tokio::test]
async fn many_concurrent_writes_all_land_with_unique_revisions_and_consistent_indexes() {
    let server = TestServer::start().await;
    let client = server.enterprises().await;
    let mut tasks = Vec::new();
    for n in 0..200 {
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut e = firm(n, &format!("并发{n}"));
            e.industry_code = if n % 3 == 0 { "C3742".into() } else { "I6513".into() };
            e.tags = vec![format!("t{}", n % 5)];
            client.create_enterprise(create(e)).await.map(|r| r.into_inner().revision)
        }));
    }
    let mut revisions = Vec::new();
    for task in tasks {
        revisions.push(task.await.unwrap().expect("create"));
    }
    revisions.sort_unstable();
    assert_eq!(revisions, (server.base + 1..=server.base + 200).collect::<Vec<u64>>());
    let problems = ladder::store::check_consistency(&server.store).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let mut client = client.clone();
    let c37 = client
        .list_enterprises(v1::ListEnterprisesRequest {
            filter: "industry_code = C37".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c37.enterprises.len(), 67);
}

#[tokio::test]
async fn data_survives_a_restart() {
    let server = TestServer::start().await;
    let mut client = server.enterprises().await;
    let created = client.create_enterprise(create(firm(9, "持久公司"))).await.unwrap().into_inner();
    drop(client);
    let dir = server.stop().await;
    let server = TestServer::on_dir(Config::default(), dir).await;
    let mut client = server.enterprises().await;
    let got =
        client.get_enterprise(v1::GetEnterpriseRequest { name: created.name.clone() }).await.unwrap().into_inner();
    assert_eq!(got, created);
    // Revisions continue after the restart instead of starting over.
    let next = client.create_enterprise(create(firm(10, "重启后"))).await.unwrap().into_inner();
    assert_eq!(next.revision, created.revision + 1);
}

#[tokio::test]
async fn validate_credit_code_reports_problems_without_registering() {
    let server = TestServer::start().await;
    let mut client = server.enterprises().await;
    client.create_enterprise(create(firm(4, "已登记"))).await.unwrap();
    let ok = client
        .validate_credit_code(v1::ValidateCreditCodeRequest { credit_code: code(4).to_lowercase() })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.valid && ok.problems.is_empty());
    assert_eq!(ok.registered_as, format!("enterprises/{}", code(4)));
    assert_eq!(ok.region_name, "长安区");
    let bad = client
        .validate_credit_code(v1::ValidateCreditCodeRequest { credit_code: "91350100M000100Y44".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(!bad.valid);
    assert!(bad.problems[0].contains("should be '3'"), "{:?}", bad.problems);
}

#[tokio::test]
async fn a_zone_the_config_drops_is_reported_and_kept_by_edits_that_leave_it() {
    // A store created without a config accepts any zone.
    let server = TestServer::start().await;
    let mut client = server.enterprises().await;
    let mut e = firm(1, "老片区企业");
    e.promotion_zone = "nowhere".into();
    let stored = client.create_enterprise(create(e)).await.unwrap().into_inner();
    let dir = server.stop().await;

    // Restarted with a config that lists other zones.
    let config = ladder::config::Config::parse("[[zones]]\nid = \"east\"\nname = \"东区\"\n").unwrap();
    let server = TestServer::on_dir(config, dir).await;
    assert_eq!(server.store.zones_outside(&["east".to_string()]).unwrap(), vec![("nowhere".to_string(), 1)]);
    let mut client = server.enterprises().await;
    let update = |field: &str, value: &str| {
        let mut e = v1::Enterprise { name: stored.name.clone(), ..Default::default() };
        match field {
            "notes" => e.notes = value.into(),
            _ => e.promotion_zone = value.into(),
        }
        v1::UpdateEnterpriseRequest {
            enterprise: Some(e),
            update_mask: Some(prost_types::FieldMask { paths: vec![field.into()] }),
            ..Default::default()
        }
    };
    // An edit that leaves the zone alone goes through.
    let edited = client.update_enterprise(update("notes", "照常编辑")).await.unwrap().into_inner();
    assert_eq!(edited.promotion_zone, "nowhere");
    // Setting an unknown zone is refused; a configured one is accepted.
    let status = client.update_enterprise(update("promotion_zone", "elsewhere")).await.unwrap_err();
    let violations = expect_error(&status, Code::InvalidArgument, "UNKNOWN_ZONE");
    assert_eq!(violations[0].0, "enterprise.promotion_zone");
    client.update_enterprise(update("promotion_zone", "east")).await.unwrap();
    assert!(server.store.zones_outside(&["east".to_string()]).unwrap().is_empty());
}
