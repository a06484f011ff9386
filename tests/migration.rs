//! A store written by the release before layout 3 (`tests/data/layout2`: 60
//! firms synced by `market-registry`, the first 30 also by `tax-bureau`,
//! `ladder seed` designations, memberships and postings, one firm edited
//! twice and one deleted) opens in this release, is migrated in place, and
//! answers as before: the same funnel, filters, histories and sync sources.

mod common;

use common::TestServer;
use ladder::config::Config;
use ladder::pb::v1;
use ladder::pb::v1::cultivation_service_client::CultivationServiceClient;
use ladder::pb::v1::sync_enterprises_request::Message;
use ladder::pb::v1::sync_service_client::SyncServiceClient;

/// The renamed and re-tagged firm of the fixture (row 1 of its CSV).
const EDITED: &str = "91610138MA00000070";

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/layout2");
    std::fs::create_dir_all(dir.path().join("data/blobs")).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.path().join("data").join(entry.file_name())).unwrap();
        }
    }
    dir
}

/// The first `n` firms of the fixture's CSV as sync rows.
fn fixture_rows(n: usize) -> Vec<v1::SyncEnterprisesRequest> {
    let csv = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/layout2-firms.csv")).unwrap();
    csv.lines()
        .skip(1)
        .take(n)
        .map(|line| {
            let code = line.split(',').next().unwrap().to_string();
            v1::SyncEnterprisesRequest {
                message: Some(Message::Row(v1::SyncRow {
                    enterprise: Some(v1::Enterprise { credit_code: code, ..Default::default() }),
                    ..Default::default()
                })),
            }
        })
        .collect()
}

#[tokio::test]
async fn a_layout_2_store_is_migrated_and_answers_as_before() {
    let server = TestServer::on_dir(Config::default(), fixture()).await;
    assert_eq!(ladder::store::check_consistency(&server.store).unwrap(), Vec::<String>::new());

    // The funnel the fixture showed before the migration: 59 live firms.
    let mut cultivation = CultivationServiceClient::new(server.channel().await);
    let funnel = cultivation.get_funnel(v1::GetFunnelRequest::default()).await.unwrap().into_inner();
    assert_eq!(funnel.firms, 59);
    let count = |stage: v1::Stage| funnel.by_stage.iter().find(|c| c.stage == stage as i32).map_or(0, |c| c.count);
    assert_eq!(
        [v1::Stage::Unspecified, v1::Stage::Nurture, v1::Stage::Climb, v1::Stage::Advance].map(count),
        [44, 4, 7, 4]
    );

    // Filters answer from the rebuilt index.
    let mut firms = server.enterprises().await;
    let list = |filter: &str| v1::ListEnterprisesRequest { filter: filter.into(), ..Default::default() };
    let east = firms.list_enterprises(list(r#"zone = east AND tags:"储能""#)).await.unwrap().into_inner();
    assert!(east.enterprises.iter().any(|e| e.credit_code == EDITED), "the edited firm is in east with 储能");
    assert_eq!(east.total_size as usize, east.enterprises.len());
    let all = firms.list_enterprises(list("")).await.unwrap().into_inner();
    assert_eq!(all.total_size, 59);

    // Its history, written under layout 2, is read back, and a new change
    // continues it.
    let mut changes = server.changes().await;
    let history = |changes: &mut ladder::pb::v1::change_service_client::ChangeServiceClient<_>| {
        let request = v1::ListChangesRequest { resource: format!("enterprises/{EDITED}"), ..Default::default() };
        let mut changes = changes.clone();
        async move { changes.list_changes(request).await.unwrap().into_inner().changes }
    };
    let before = history(&mut changes).await;
    assert_eq!(before.len(), 3, "created, re-tagged, renamed: {before:?}");
    firms
        .update_enterprise(v1::UpdateEnterpriseRequest {
            enterprise: Some(v1::Enterprise {
                name: format!("enterprises/{EDITED}"),
                notes: "迁移之后".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["notes".into()] }),
            ..Default::default()
        })
        .await
        .unwrap();
    let after = history(&mut changes).await;
    assert_eq!(after.len(), 4);
    assert_eq!(after[..3], before[..]);
    assert!(after.windows(2).all(|w| w[0].revision < w[1].revision));

    // The sources recorded by the old seen-by-source entries moved into the
    // records: a full run of tax-bureau with 10 of its 30 firms misses 20.
    let mut sync = SyncServiceClient::new(server.channel().await);
    let mut messages = vec![v1::SyncEnterprisesRequest {
        message: Some(Message::Header(v1::SyncHeader {
            source: "tax-bureau".into(),
            mode: v1::SyncMode::Full as i32,
            dry_run: false,
        })),
    }];
    messages.extend(fixture_rows(10));
    let run = sync.sync_enterprises(tokio_stream::iter(messages)).await.unwrap().into_inner();
    assert_eq!((run.unchanged, run.missing_from_source), (10, 20), "{run:?}");
    assert_eq!(ladder::store::check_consistency(&server.store).unwrap(), Vec::<String>::new());

    // Reopened, it is layout 3 and nothing is migrated again.
    let dir = server.stop().await;
    let server = TestServer::on_dir(Config::default(), dir).await;
    assert_eq!(ladder::store::check_consistency(&server.store).unwrap(), Vec::<String>::new());
    let mut firms = server.enterprises().await;
    assert_eq!(firms.list_enterprises(list("")).await.unwrap().into_inner().total_size, 59);
}
