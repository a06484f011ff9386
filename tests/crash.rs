//! Acknowledged means durable: a real `ladder serve` process is killed with
//! SIGKILL while writers are busy; after restart every acknowledged write is
//! there, and no record lacks its index entries or change-log entry.
//!
//! A process kill leaves the OS page cache intact, so this proves that sled's
//! own buffers were written before the answer, not that fsync reached the
//! platter; the fsync itself is `Db::flush`, called before every answer.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{code, create, firm};
use ladder::pb::v1;
use ladder::pb::v1::enterprise_service_client::EnterpriseServiceClient;
use ladder::store::Store;
use tonic::transport::Channel;

/// Starts `ladder serve` on port 0 over the store in `data` and returns the
/// child and its address.
fn spawn_server(data: &std::path::Path) -> (common::Served, String) {
    common::spawn_serve(&common::store_args(data))
}

async fn connect(addr: &str) -> EnterpriseServiceClient<Channel> {
    for _ in 0..50 {
        if let Ok(channel) = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await {
            return EnterpriseServiceClient::new(channel);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server at {addr} did not come up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, addr) = spawn_server(&data);
    let client = connect(&addr).await;

    // Each writer owns some firms: creates them, then updates their notes with
    // an increasing counter. Acknowledged states are recorded per firm.
    let acked: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..8u32 {
        let mut client = client.clone();
        let acked = Arc::clone(&acked);
        writers.push(tokio::spawn(async move {
            for round in 0..u32::MAX {
                let n = w * 1000 + round % 20;
                let result = if round < 20 {
                    let mut e = firm(n, &format!("崩溃测试{n}"));
                    e.industry_code = "C3742".into();
                    e.tags = vec![format!("w{w}")];
                    e.notes = "0".into();
                    client.create_enterprise(create(e)).await.map(|_| 0)
                } else {
                    let version = round / 20;
                    client
                        .update_enterprise(v1::UpdateEnterpriseRequest {
                            enterprise: Some(v1::Enterprise {
                                name: format!("enterprises/{}", code(n)),
                                notes: version.to_string(),
                                tags: vec![format!("w{w}"), format!("v{version}")],
                                ..Default::default()
                            }),
                            update_mask: Some(prost_types::FieldMask { paths: vec!["notes".into(), "tags".into()] }),
                            ..Default::default()
                        })
                        .await
                        .map(|_| version)
                };
                match result {
                    Ok(version) => {
                        acked.lock().unwrap().insert(code(n), version);
                    }
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }

    // Let the writers get well into updates, then kill the server mid-flight.
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let done = acked.lock().unwrap().values().filter(|v| **v >= 3).count();
        if done >= 100 {
            break;
        }
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    for writer in writers {
        writer.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 160, "every firm was created before the kill");

    // Reopen the store in-process and check it against the acknowledgements.
    let store = Store::open(&common::store_options(&data)).expect("reopen after kill -9");
    for (credit_code, version) in &acked {
        let record =
            store.get_enterprise(credit_code).unwrap().unwrap_or_else(|| panic!("acknowledged {credit_code} lost"));
        let stored: u32 = record.notes.parse().unwrap();
        assert!(stored >= *version, "{credit_code}: acknowledged version {version}, found {stored}");
        let tag = format!("v{stored}");
        assert!(stored == 0 || record.tags.contains(&tag), "notes and tags of one update are applied together");
    }
    let problems = ladder::store::check_consistency(&store).unwrap();
    assert!(problems.is_empty(), "after kill -9: {problems:?}");
    let head = store.next_revision().unwrap() - 1;
    let log = store
        .list_changes(ladder::store::ChangeQuery { start: 1, end: u64::MAX, page_size: 1_000_000, resource: None })
        .await
        .unwrap();
    assert_eq!(log.changes.len() as u64, head, "every revision up to the head is in the log");
    assert!(log.changes.iter().enumerate().all(|(i, c)| c.revision == i as u64 + 1));
    store.close();
    drop(store);

    // And the real server starts on it again and serves the data.
    let (mut child, addr) = spawn_server(&data);
    let mut client = connect(&addr).await;
    let some = acked.keys().next().unwrap();
    let got = client
        .get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{some}") })
        .await
        .expect("served after restart");
    assert_eq!(&got.into_inner().credit_code, some);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_writes_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, addr) = spawn_server(&data);
    let client = connect(&addr).await;
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..8u32 {
        let mut client = client.clone();
        let acked = Arc::clone(&acked);
        writers.push(tokio::spawn(async move {
            for i in 0..10_000u32 {
                let n = w * 10_000 + i;
                match client.create_enterprise(create(firm(n, &format!("优雅停机{n}")))).await {
                    Ok(_) => acked.lock().unwrap().push(code(n)),
                    Err(_) => return,
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SIGTERM while eight writers are mid-request.
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().expect("wait")).await.unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    for writer in writers {
        writer.await.unwrap();
    }
    let store = Store::open(&common::store_options(&data)).unwrap();
    let acked = acked.lock().unwrap().clone();
    for credit_code in &acked {
        assert!(store.get_enterprise(credit_code).unwrap().is_some(), "acknowledged {credit_code} lost on SIGTERM");
    }
    assert!(ladder::store::check_consistency(&store).unwrap().is_empty());
    store.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_large_sync_leaves_whole_chunks_only() {
    use ladder::pb::v1::sync_enterprises_request::Message;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, addr) = spawn_server(&data);
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut sync = ladder::pb::v1::sync_service_client::SyncServiceClient::new(channel);

    // 20,000 valid rows, streamed until the server dies.
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let feeder = tokio::spawn(async move {
        let header = v1::SyncHeader { source: "crash-test".into(), mode: v1::SyncMode::Upsert as i32, dry_run: false };
        if tx.send(v1::SyncEnterprisesRequest { message: Some(Message::Header(header)) }).await.is_err() {
            return;
        }
        for n in 0..20_000u32 {
            let row = v1::SyncRow {
                row_number: 0,
                enterprise: Some(firm(n, &format!("同步{n}"))),
                fields: vec![],
                indicators: None,
            };
            if tx.send(v1::SyncEnterprisesRequest { message: Some(Message::Row(row)) }).await.is_err() {
                return;
            }
        }
    });
    let call =
        tokio::spawn(async move { sync.sync_enterprises(tokio_stream::wrappers::ReceiverStream::new(rx)).await });

    // Kill it once a few chunks have landed (and well before the end).
    let mut reader = connect(&addr).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let total = reader
            .list_enterprises(v1::ListEnterprisesRequest { page_size: 1, ..Default::default() })
            .await
            .map(|r| r.into_inner().total_size)
            .unwrap_or(0);
        assert!(tokio::time::Instant::now() < deadline, "the sync did not start in time");
        if total >= 2000 {
            break;
        }
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let _ = call.await;
    feeder.abort();

    let store = Store::open(&common::store_options(&data)).expect("reopen after kill -9");
    let problems = ladder::store::check_consistency(&store).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let page = store
        .list_enterprises(ladder::store::ListQuery { page_size: 1, count_total: true, ..Default::default() })
        .await
        .unwrap();
    let firms = page.total.unwrap();
    // Reads can see a chunk applied but not yet flushed; the stream waits
    // for each chunk to be durable before sending the next, so every chunk
    // but the last one seen is on disk.
    assert!((1500..20_000).contains(&firms), "{firms} firms");
    assert_eq!(firms % 500, 0, "{firms} firms: chunks are applied whole or not at all");
    // The run was recorded with each chunk and is marked interrupted at open.
    let (runs, _, _) = store.list_sync_runs(Some("crash-test"), None, 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].state, v1::SyncRunState::Interrupted as i32);
    assert_eq!(u64::try_from(runs[0].created).unwrap(), firms, "the run counts exactly the chunks on disk");
    store.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_cut_off_by_kill_9_resumes_where_it_stopped() {
    use ladder::pb::v1::sync_enterprises_request::Message;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, addr) = spawn_server(&data);
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut sync = ladder::pb::v1::sync_service_client::SyncServiceClient::new(channel);
    let header = v1::SyncHeader { source: "revert-crash".into(), mode: v1::SyncMode::Upsert as i32, dry_run: false };
    let mut messages = vec![v1::SyncEnterprisesRequest { message: Some(Message::Header(header)) }];
    const FIRMS: u32 = 8_000;
    for n in 0..FIRMS {
        let row = v1::SyncRow { enterprise: Some(firm(n, &format!("撤销{n}"))), ..Default::default() };
        messages.push(v1::SyncEnterprisesRequest { message: Some(Message::Row(row)) });
    }
    let run = sync.sync_enterprises(tokio_stream::iter(messages)).await.unwrap().into_inner();
    assert_eq!(run.created, i64::from(FIRMS));

    // Revert, and kill the server once some firms are deleted but not all.
    let mut reverter = sync.clone();
    let name = run.name.clone();
    let call =
        tokio::spawn(
            async move { reverter.revert_sync_run(v1::RevertSyncRunRequest { name, ..Default::default() }).await },
        );
    let mut reader = connect(&addr).await;
    let live = |r: Result<tonic::Response<v1::ListEnterprisesResponse>, tonic::Status>| {
        r.map(|r| i64::from(r.into_inner().total_size)).unwrap_or(-1)
    };
    loop {
        let total =
            live(reader.list_enterprises(v1::ListEnterprisesRequest { page_size: 1, ..Default::default() }).await);
        if total < i64::from(FIRMS) - 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let _ = call.await;

    // After a restart the run says its revert did not finish (unless it
    // finished just before the kill); reverting again completes it.
    let (mut child, addr) = spawn_server(&data);
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut sync = ladder::pb::v1::sync_service_client::SyncServiceClient::new(channel);
    let before = sync.get_sync_run(v1::GetSyncRunRequest { name: run.name.clone() }).await.unwrap().into_inner();
    let mut reader = connect(&addr).await;
    let remaining =
        live(reader.list_enterprises(v1::ListEnterprisesRequest { page_size: 1, ..Default::default() }).await);
    eprintln!("revert cut off: {}, firms left: {remaining}", before.reverting);
    let again = sync.revert_sync_run(v1::RevertSyncRunRequest { name: run.name.clone(), ..Default::default() }).await;
    if before.reverting {
        let outcome = again.expect("the revert resumes").into_inner();
        assert_eq!(outcome.deleted, remaining, "exactly the firms the cut-off revert had not reached");
        assert_eq!(outcome.conflict_count, 0, "nothing the first attempt did is taken for someone else's change");
        assert!(!outcome.run.unwrap().reverting);
    } else {
        assert_eq!(again.unwrap_err().code(), tonic::Code::FailedPrecondition, "already reverted");
    }
    let left = live(reader.list_enterprises(v1::ListEnterprisesRequest { page_size: 1, ..Default::default() }).await);
    assert_eq!(left, 0, "every firm the run created is soft-deleted");
    child.kill().unwrap();
    child.wait().unwrap();
    let store = Store::open(&common::store_options(&data)).unwrap();
    assert!(ladder::store::check_consistency(&store).unwrap().is_empty());
    store.close();
}
