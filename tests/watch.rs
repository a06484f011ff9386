//! The change feed through a real server: in order, live, filtered, resumable.

mod common;

use std::time::Duration;

use common::{code, create, firm, TestServer};
use ladder::pb::v1;
use ladder::pb::v1::change_service_client::ChangeServiceClient;
use tonic::metadata::MetadataValue;

async fn next(stream: &mut tonic::Streaming<v1::Change>) -> v1::Change {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("a change in time")
        .unwrap()
        .expect("open stream")
}

#[tokio::test]
async fn a_watcher_receives_every_change_in_order_live_and_resumes() {
    let server = TestServer::start().await;
    let mut watcher = ChangeServiceClient::new(server.channel().await);
    let request = |start: u64, exclude: &str| v1::WatchChangesRequest {
        start_revision: start,
        resource_prefix: "enterprises/".into(),
        kinds: vec![],
        exclude_origin: exclude.into(),
    };
    let mut stream = watcher.watch_changes(request(server.base + 1, "")).await.unwrap().into_inner();
    let mut echoes_skipped =
        watcher.watch_changes(request(server.base + 1, "stats-bureau")).await.unwrap().into_inner();

    let mut firms = server.enterprises().await;
    for n in 0..3 {
        firms.create_enterprise(create(firm(n, &format!("企业{n}")))).await.unwrap();
    }
    // A write from a sync source, marked with its origin.
    let mut update = tonic::Request::new(v1::UpdateEnterpriseRequest {
        enterprise: Some(v1::Enterprise {
            name: format!("enterprises/{}", code(1)),
            notes: "来自统计局".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    update.metadata_mut().insert("x-ladder-origin", MetadataValue::from_static("stats-bureau"));
    firms.update_enterprise(update).await.unwrap();
    firms.create_enterprise(create(firm(3, "企业3"))).await.unwrap();

    let mut received = Vec::new();
    for _ in 0..5 {
        received.push(next(&mut stream).await);
    }
    let revisions: Vec<u64> = received.iter().map(|c| c.revision - server.base).collect();
    assert_eq!(revisions, vec![1, 2, 3, 4, 5], "every change, in order, as it happened");
    assert_eq!(received[3].origin, "stats-bureau");

    let mut without_echoes = Vec::new();
    for _ in 0..4 {
        without_echoes.push(next(&mut echoes_skipped).await.revision - server.base);
    }
    assert_eq!(without_echoes, vec![1, 2, 3, 5], "the source's own change is skipped");

    // After a disconnect, resuming from the last revision + 1 gives the rest.
    drop(stream);
    let resumed = received[2].revision + 1;
    let mut again = watcher.watch_changes(request(resumed, "")).await.unwrap().into_inner();
    assert_eq!(next(&mut again).await.revision, received[3].revision);
    assert_eq!(next(&mut again).await.revision, received[4].revision);

    // Starting from 0 means only changes from now on.
    let mut fresh = watcher.watch_changes(request(0, "")).await.unwrap().into_inner();
    firms.create_enterprise(create(firm(4, "企业4"))).await.unwrap();
    assert_eq!(next(&mut fresh).await.resource, format!("enterprises/{}", code(4)));
}

#[tokio::test]
async fn a_watcher_that_stops_reading_is_told_where_to_resume() {
    use ladder::pb::v1::sync_enterprises_request::Message;
    let server = TestServer::start().await;
    let mut watcher = ChangeServiceClient::new(server.channel().await);
    let request = v1::WatchChangesRequest { start_revision: server.base + 1, ..Default::default() };
    let mut stream = watcher.watch_changes(request).await.unwrap().into_inner();

    // Far more changes than the watcher's buffer and the HTTP/2 window hold.
    let header = v1::SyncHeader { source: "bulk".into(), mode: v1::SyncMode::Upsert as i32, dry_run: false };
    let mut messages = vec![v1::SyncEnterprisesRequest { message: Some(Message::Header(header)) }];
    messages.extend((0..12_000).map(|n| v1::SyncEnterprisesRequest {
        message: Some(Message::Row(v1::SyncRow {
            enterprise: Some(firm(n, &format!("一家名字相当长的航天配套企业有限公司{n}"))),
            ..Default::default()
        })),
    }));
    let mut sync = ladder::pb::v1::sync_service_client::SyncServiceClient::new(server.channel().await);
    assert_eq!(sync.sync_enterprises(tokio_stream::iter(messages)).await.unwrap().into_inner().created, 12_000);

    // The watcher reads nothing for longer than the stall limit ...
    tokio::time::sleep(ladder::api::change::WATCH_STALL + Duration::from_secs(2)).await;
    // ... then gets what was buffered and a precise reason to resume.
    let mut last = 0;
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .unwrap_or_else(|_| panic!("stalled after {last}"))
        {
            Ok(Some(change)) => {
                assert_eq!(change.revision, last.max(server.base) + 1, "in order, none skipped");
                last = change.revision;
            }
            Ok(None) => panic!("the stream ended as if complete after revision {last}"),
            Err(status) => break status,
        }
    };
    common::expect_error(&status, tonic::Code::ResourceExhausted, "WATCHER_TOO_SLOW");
    assert!(status.message().contains(&format!("start_revision {}", last + 1)), "{}", status.message());
    assert!(last < server.base + 12_000, "the watcher was let go before the end");
}

#[tokio::test]
async fn a_compacted_revision_is_out_of_range_naming_the_oldest_retained() {
    let server = TestServer::start().await;
    let mut firms = server.enterprises().await;
    for n in 0..5 {
        firms.create_enterprise(create(firm(n, &format!("企业{n}")))).await.unwrap();
    }
    let head = server.store.next_revision().unwrap() - 1;
    // Compact everything recorded so far, as a retention sweep would.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let cutoff = ladder::domain::time::now_micros();
    let removed = server.store.compact_log(cutoff).await.unwrap();
    assert_eq!(removed as u64, head, "every entry before the cutoff");
    assert_eq!(server.store.compact_log(cutoff).await.unwrap(), 0, "nothing left to remove");
    assert_eq!(server.store.oldest_retained().unwrap(), head + 1);
    firms.create_enterprise(create(firm(9, "企业9"))).await.unwrap();

    let mut changes = ChangeServiceClient::new(server.channel().await);
    let err =
        changes.list_changes(v1::ListChangesRequest { start_revision: 1, ..Default::default() }).await.unwrap_err();
    common::expect_error(&err, tonic::Code::OutOfRange, "REVISION_COMPACTED");
    let info = tonic_types::StatusExt::get_error_details(&err).error_info().unwrap().clone();
    assert_eq!(info.metadata.get("oldest_retained_revision"), Some(&(head + 1).to_string()));
    // From the start (0) or the oldest retained revision, the rest is there.
    let all = changes.list_changes(v1::ListChangesRequest::default()).await.unwrap().into_inner();
    assert_eq!(all.changes.iter().map(|c| c.revision).collect::<Vec<_>>(), vec![head + 1]);
    let by_resource = changes
        .list_changes(v1::ListChangesRequest { resource: code(0), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(by_resource.changes.is_empty(), "its entries went with the log");

    let err = changes
        .watch_changes(v1::WatchChangesRequest { start_revision: 2, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap_err();
    common::expect_error(&err, tonic::Code::OutOfRange, "REVISION_COMPACTED");
    let mut resumed = changes
        .watch_changes(v1::WatchChangesRequest { start_revision: head + 1, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut resumed).await.revision, head + 1);
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}
