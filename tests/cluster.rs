//! Several ladder servers on one PostgreSQL database: two real `ladder serve`
//! processes share a store; writers and watchers on both; one is killed
//! with SIGKILL mid-write. Nothing acknowledged is lost, conflicts between
//! the servers resolve as within one, and both change feeds are the same
//! gap-free sequence.
//!
//! Runs only against PostgreSQL (`scripts/with-postgres.sh cargo test`, as
//! `.ci/run` does); on sled alone there is nothing to share, and it says so.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{code, create, firm};
use ladder::pb::v1;
use ladder::pb::v1::change_service_client::ChangeServiceClient;
use ladder::pb::v1::enterprise_service_client::EnterpriseServiceClient;
use tonic::transport::Channel;
use tonic::Code;

/// Starts `ladder serve` on port 0 over the store at `url`.
fn spawn_server(folder: &std::path::Path, url: &str) -> (common::Served, String) {
    let args = ["--store".to_string(), url.to_string(), "--data".to_string(), folder.display().to_string()];
    common::spawn_serve(&args)
}

async fn channel(addr: &str) -> Channel {
    for _ in 0..100 {
        if let Ok(channel) = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await {
            return channel;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server at {addr} did not come up");
}

/// A change feed as a watcher received it: (revision, resource).
type Feed = Arc<Mutex<Vec<(u64, String)>>>;

/// Follows a server's change feed from `start`, recording every change
/// (revision, resource) until the stream ends.
fn watch(channel: Channel, start: u64) -> (Feed, tokio::task::JoinHandle<()>) {
    let seen: Feed = Arc::default();
    let into = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        let mut client = ChangeServiceClient::new(channel);
        let request = v1::WatchChangesRequest { start_revision: start, ..Default::default() };
        let Ok(stream) = client.watch_changes(request).await else { return };
        let mut stream = stream.into_inner();
        while let Ok(Some(change)) = stream.message().await {
            into.lock().unwrap().push((change.revision, change.resource));
        }
    });
    (seen, task)
}

/// Waits until `feed` reaches `head`.
async fn reaches(feed: &Feed, head: u64) {
    for _ in 0..300 {
        if feed.lock().unwrap().last().is_some_and(|c| c.0 >= head) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the feed did not reach {head}: ends at {:?}", feed.lock().unwrap().last());
}

async fn head_of(client: &mut ChangeServiceClient<Channel>) -> u64 {
    let page = client
        .list_changes(v1::ListChangesRequest { start_revision: 1, page_size: 1, ..Default::default() })
        .await
        .expect("list changes")
        .into_inner();
    page.head_revision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_store_and_survive_kill_9() {
    if common::postgres().is_none() {
        eprintln!("two_servers_share_one_store: skipped, no PostgreSQL (run under scripts/with-postgres.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = common::store_options(&dir.path().join("store")).url.unwrap();
    let (mut a, addr_a) = spawn_server(&dir.path().join("a"), &url);
    let (mut b, addr_b) = spawn_server(&dir.path().join("b"), &url);
    let (chan_a, chan_b) = (channel(&addr_a).await, channel(&addr_b).await);
    let (mut ent_a, mut ent_b) =
        (EnterpriseServiceClient::new(chan_a.clone()), EnterpriseServiceClient::new(chan_b.clone()));

    // A write through A is visible through B at once, in records and lists.
    ent_a.create_enterprise(create(firm(1, "甲服务器写入"))).await.expect("create on A");
    let got = ent_b
        .get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{}", code(1)) })
        .await
        .expect("read on B")
        .into_inner();
    assert_eq!(got.display_name, "甲服务器写入");
    let listed = ent_b
        .list_enterprises(v1::ListEnterprisesRequest {
            filter: format!("credit_code = \"{}\"", code(1)),
            ..Default::default()
        })
        .await
        .expect("list on B")
        .into_inner();
    assert_eq!(listed.total_size, 1, "B's index holds A's firm");
    // Again and again, each list sent the moment A acknowledged: B's index
    // must not wait for the notification (each request catches up first).
    for n in 2..32u32 {
        ent_a.create_enterprise(create(firm(n, "紧随写入"))).await.expect("create on A");
        let listed = ent_b
            .list_enterprises(v1::ListEnterprisesRequest {
                filter: format!("credit_code = \"{}\"", code(n)),
                ..Default::default()
            })
            .await
            .expect("list on B")
            .into_inner();
        assert_eq!(listed.total_size, 1, "B lists firm {n} the moment A acknowledged it");
    }

    // An etag conflict between the servers is refused as within one.
    let stale = got.etag.clone();
    let rename = |name: &str, etag: &str| v1::UpdateEnterpriseRequest {
        enterprise: Some(v1::Enterprise {
            name: format!("enterprises/{}", code(1)),
            display_name: name.into(),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["display_name".into()] }),
        ..Default::default()
    };
    ent_a.update_enterprise(rename("甲改名", &stale)).await.expect("first update on A");
    let err = ent_b.update_enterprise(rename("乙改名", &stale)).await.expect_err("stale etag on B");
    assert_eq!(err.code(), Code::Aborted, "{err:?}");

    // The same firm created on both at once: exactly one wins.
    let mut races = Vec::new();
    for n in 0..20u32 {
        let (mut ca, mut cb) = (ent_a.clone(), ent_b.clone());
        races.push(tokio::spawn(async move {
            let (ra, rb) = tokio::join!(
                ca.create_enterprise(create(firm(500 + n, "并发甲"))),
                cb.create_enterprise(create(firm(500 + n, "并发乙")))
            );
            let codes =
                [ra.map(|_| Code::Ok).unwrap_or_else(|e| e.code()), rb.map(|_| Code::Ok).unwrap_or_else(|e| e.code())];
            assert!(
                codes.contains(&Code::Ok) && codes.contains(&Code::AlreadyExists),
                "one create wins, the other is ALREADY_EXISTS: {codes:?}"
            );
        }));
    }
    for race in races {
        race.await.unwrap();
    }

    let mut changes_b = ChangeServiceClient::new(chan_b.clone());
    let start = head_of(&mut changes_b).await + 1;
    let (feed_a, watch_a) = watch(chan_a.clone(), start);
    let (feed_b, watch_b) = watch(chan_b.clone(), start);

    // Writers on both servers; each owns its firms and records what was
    // acknowledged (firm → notes version).
    let acked: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..8u32 {
        let mut client = if w % 2 == 0 { ent_a.clone() } else { ent_b.clone() };
        let acked = Arc::clone(&acked);
        writers.push(tokio::spawn(async move {
            for round in 0..400u32 {
                let n = 1000 + w * 100 + round % 10;
                let result = if round < 10 {
                    let mut e = firm(n, &format!("双机{n}"));
                    e.notes = "0".into();
                    client.create_enterprise(create(e)).await.map(|_| 0)
                } else {
                    let version = round / 10;
                    client.update_enterprise(common::set_notes(&code(n), &version.to_string())).await.map(|_| version)
                };
                match result {
                    Ok(version) => {
                        acked.lock().unwrap().insert(code(n), version);
                    }
                    Err(_) if w % 2 == 0 => return, // A is gone
                    Err(e) => panic!("a write through B failed: {e:?}"),
                }
            }
        }));
    }

    // Kill A once its writers are well into updates.
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if acked.lock().unwrap().values().filter(|v| **v >= 3).count() >= 40 {
            break;
        }
    }
    a.kill().expect("SIGKILL");
    a.wait().expect("reaped");
    for writer in writers {
        writer.await.unwrap();
    }
    watch_a.abort();
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 80, "every firm was created");

    // Every acknowledged write, through either server, is there (read on B).
    for (credit_code, version) in &acked {
        let record = ent_b
            .get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{credit_code}") })
            .await
            .unwrap_or_else(|e| panic!("acknowledged {credit_code} lost: {e:?}"))
            .into_inner();
        let stored: u32 = record.notes.parse().unwrap();
        assert!(stored >= *version, "{credit_code}: acknowledged {version}, found {stored}");
    }

    // B's feed is gap-free from the start to the head and holds every change
    // A's feed showed, in the same order.
    let head = head_of(&mut changes_b).await;
    reaches(&feed_b, head).await;
    let feed_b = feed_b.lock().unwrap().clone();
    let revisions: Vec<u64> = feed_b.iter().map(|c| c.0).collect();
    assert_eq!(revisions, (start..=head).collect::<Vec<_>>(), "B's feed is every revision, in order");
    let feed_a = feed_a.lock().unwrap().clone();
    assert!(feed_a.len() > 10, "A's watcher saw changes before the kill");
    assert_eq!(feed_a[..], feed_b[..feed_a.len()], "A's feed is a prefix of B's");
    assert!(feed_b.iter().any(|c| acked.contains_key(c.1.trim_start_matches("enterprises/"))));

    // A restarts on the store and serves the same feed and the same data.
    let (mut a, addr_a) = spawn_server(&dir.path().join("a"), &url);
    let chan_a = channel(&addr_a).await;
    let (again, watch_again) = watch(chan_a.clone(), start);
    reaches(&again, head).await;
    assert_eq!(again.lock().unwrap()[..], feed_b[..], "after the restart A's feed equals B's");
    watch_again.abort();
    watch_b.abort();
    let mut ent_a = EnterpriseServiceClient::new(chan_a);
    let total = |r: v1::ListEnterprisesResponse| r.total_size;
    let on_a = total(ent_a.list_enterprises(v1::ListEnterprisesRequest::default()).await.unwrap().into_inner());
    let on_b = total(ent_b.list_enterprises(v1::ListEnterprisesRequest::default()).await.unwrap().into_inner());
    assert_eq!(on_a, on_b, "both servers count the same firms");
    assert_eq!(on_a, 31 + 20 + 80);
    a.kill().unwrap();
    a.wait().unwrap();
    b.kill().unwrap();
    b.wait().unwrap();

    // The store checks clean.
    let out =
        Command::new(env!("CARGO_BIN_EXE_ladder")).args(["check", "--store", &url]).output().expect("ladder check");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no problem found"));
}
