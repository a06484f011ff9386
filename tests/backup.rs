//! Point-in-time backups of a running server (the real CLI against a real
//! server), restores, and the offline check.

mod common;

use std::collections::HashMap;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{code, create, firm, TestServer};
use ladder::config::Config;
use ladder::pb::v1;
use ladder::pb::v1::admin_service_client::AdminServiceClient;
use tonic::Code;

async fn ladder(args: Vec<String>) -> Output {
    common::run_ladder(args).await
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

const FIRMS: u32 = 150;

/// Every acknowledged write: (revision, firm, its notes after the write).
type Acked = Arc<Mutex<Vec<(u64, String, Option<String>)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_writes_run_restores_the_store_as_it_was_at_its_revision() {
    let server = TestServer::start().await;
    let acked: Acked = Arc::default();
    let mut c = server.enterprises().await;
    for n in 0..FIRMS {
        let e = c.create_enterprise(create(firm(n, &format!("西安备份测试{n}有限公司")))).await.unwrap().into_inner();
        acked.lock().unwrap().push((e.revision, e.credit_code, Some(String::new())));
    }
    // Writers update notes and register new firms while the backup runs.
    let running = Arc::new(AtomicBool::new(true));
    let mut writers = Vec::new();
    for w in 0..3u32 {
        let (acked, running) = (Arc::clone(&acked), Arc::clone(&running));
        let mut c = server.enterprises().await;
        writers.push(tokio::spawn(async move {
            let mut k = 0u32;
            while running.load(Ordering::Relaxed) {
                k += 1;
                if k % 10 == 0 {
                    let n = 10_000 + w * 100_000 + k;
                    let e = c.create_enterprise(create(firm(n, &format!("新登记{n}有限公司")))).await.unwrap();
                    let e = e.into_inner();
                    acked.lock().unwrap().push((e.revision, e.credit_code, Some(String::new())));
                    continue;
                }
                let notes = format!("w{w}-{k}");
                let e = v1::Enterprise {
                    name: format!("enterprises/{}", code((k * 7 + w) % FIRMS)),
                    notes: notes.clone(),
                    ..Default::default()
                };
                let request = v1::UpdateEnterpriseRequest {
                    enterprise: Some(e),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["notes".into()] }),
                    ..Default::default()
                };
                let e = c.update_enterprise(request).await.unwrap().into_inner();
                acked.lock().unwrap().push((e.revision, e.credit_code, Some(notes)));
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    let backup_dir = dir.path().join("bk");
    let out = ladder(vec![
        "backup".into(),
        backup_dir.display().to_string(),
        "--server".into(),
        format!("http://{}", server.addr),
        "--json".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    running.store(false, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(backup_dir.join("manifest.json")).unwrap()).unwrap();
    let revision = manifest["revision"].as_u64().unwrap();
    let acked = acked.lock().unwrap().clone();
    let after = acked.iter().filter(|(r, _, _)| *r > revision).count();
    let before = acked.iter().filter(|(r, _, _)| *r <= revision).count();
    assert!(after > 0 && before > FIRMS as usize, "writes ran on both sides of the backup ({before}, {after})");

    // The state at the backup's revision: each firm's last write up to it.
    let mut expected: HashMap<String, Option<String>> = HashMap::new();
    let mut ordered = acked.clone();
    ordered.sort_by_key(|(r, _, _)| *r);
    for (r, code, notes) in &ordered {
        if *r <= revision {
            expected.insert(code.clone(), notes.clone());
        } else {
            expected.entry(code.clone()).or_insert(None);
        }
    }

    let restored = tempfile::tempdir().unwrap();
    let data = restored.path().join("data");
    let out =
        ladder(vec!["restore".into(), backup_dir.display().to_string(), "--data".into(), data.display().to_string()])
            .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("restored revision {revision}")), "{}", text(&out));
    let out = ladder(vec!["check".into(), "--data".into(), data.display().to_string()]).await;
    assert!(out.status.success() && text(&out).contains("no problem found"), "{}", text(&out));

    let copy = TestServer::on_dir(Config::default(), restored).await;
    assert_eq!(copy.store.next_revision().unwrap() - 1, revision, "the copy ends at the backup's revision");
    let mut c = copy.enterprises().await;
    for (code, notes) in &expected {
        let got = c.get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{code}") }).await;
        match notes {
            Some(notes) => assert_eq!(&got.unwrap().into_inner().notes, notes, "{code}"),
            None => assert_eq!(got.unwrap_err().code(), Code::NotFound, "{code} was registered after the backup"),
        }
    }
    // The change log ends exactly at the revision too.
    let mut changes = copy.changes().await;
    let page = changes
        .list_changes(v1::ListChangesRequest { start_revision: revision, page_size: 10, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.changes.iter().map(|c| c.revision).collect::<Vec<_>>(), vec![revision]);
    assert!(ladder::store::check_consistency(&copy.store).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_backup_file_restores_nothing() {
    let server = TestServer::start().await;
    let mut c = server.enterprises().await;
    for n in 0..20 {
        c.create_enterprise(create(firm(n, &format!("西安{n}有限公司")))).await.unwrap();
    }
    // A backup needs role admin.
    let mut admin = AdminServiceClient::new(server.channel().await);
    let mut whole = admin.backup(v1::BackupRequest { chunk_bytes: 65_536 }).await.unwrap().into_inner();
    let mut parts = Vec::new();
    while let Some(chunk) = whole.message().await.unwrap() {
        parts.push(match chunk.part {
            Some(v1::backup_chunk::Part::Header(_)) => "header",
            Some(v1::backup_chunk::Part::Entries(_)) => "entries",
            Some(v1::backup_chunk::Part::Trailer(_)) => "trailer",
            None => "none",
        });
    }
    assert_eq!(parts.first(), Some(&"header"));
    assert_eq!(parts.last(), Some(&"trailer"));

    let dir = tempfile::tempdir().unwrap();
    let bk = dir.path().join("bk");
    let out =
        ladder(vec!["backup".into(), bk.display().to_string(), "--server".into(), format!("http://{}", server.addr)])
            .await;
    assert!(out.status.success(), "{}", text(&out));
    // One flipped byte in the middle: the digest catches it, nothing is left behind.
    let file = bk.join("ladder.backup");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&file, &bytes).unwrap();
    let target = dir.path().join("new");
    let out =
        ladder(vec!["restore".into(), bk.display().to_string(), "--data".into(), target.display().to_string()]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("damaged"), "{}", text(&out));
    assert!(!target.exists(), "a failed restore leaves no store behind");
    // A backup folder that is not empty is refused before anything is sent.
    let out =
        ladder(vec!["backup".into(), bk.display().to_string(), "--server".into(), format!("http://{}", server.addr)])
            .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_a_damaged_store_with_its_key_and_fails() {
    // It damages sled's files itself.
    let server = TestServer::on_sled().await;
    let mut c = server.enterprises().await;
    for n in 0..5 {
        c.create_enterprise(create(firm(n, &format!("西安{n}有限公司")))).await.unwrap();
    }
    drop(c);
    let dir = server.stop().await;
    let data = dir.path().join("data");
    let out = ladder(vec!["check".into(), "--data".into(), data.display().to_string()]).await;
    assert!(out.status.success(), "{}", text(&out));
    // Remove one change-log entry behind the store's back.
    {
        let db = sled::open(&data).unwrap();
        let tree = db.open_tree("ladder").unwrap();
        let key = tree.scan_prefix(b"L").keys().nth(3).unwrap().unwrap();
        tree.remove(key).unwrap();
        db.flush().unwrap();
    }
    let out = ladder(vec!["check".into(), "--data".into(), data.display().to_string()]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("the change log jumps"), "{}", text(&out));
}

/// `ladder migrate`: sled → sled always, and sled → PostgreSQL → sled when the
/// suite has PostgreSQL. Each copy is read back against its source's SHA-256
/// and checked (the command fails otherwise), and serves the same firms; a
/// PostgreSQL source (which opening does not write to) gives its copy the
/// digest it was given; a non-empty target and a folder without a store are
/// refused, writing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_copies_a_store_between_backends_and_refuses_bad_targets() {
    let server = TestServer::on_sled().await;
    let mut c = server.enterprises().await;
    for n in 0..20 {
        c.create_enterprise(create(firm(n, &format!("迁移测试{n}有限公司")))).await.unwrap();
    }
    drop(c);
    let revision = server.store.next_revision().unwrap() - 1;
    let dir = server.stop().await;
    let source = dir.path().join("data").display().to_string();
    let sha = |out: &Output| {
        let t = text(out);
        assert!(out.status.success() && t.contains("the check found no problem"), "{t}");
        assert!(t.contains(&format!("migrated revision {revision} ")), "{t}");
        t.split("SHA-256 ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_string()
    };
    let migrate = |from: String, to: String| ladder(vec!["migrate".into(), "--from".into(), from, "--to".into(), to]);

    let copy = dir.path().join("copy").display().to_string();
    sha(&migrate(source.clone(), copy.clone()).await);
    let mut places = vec![dir.path().join("copy")];
    if let Some(url) = common::store_options(&dir.path().join("pg")).url {
        let into_pg = sha(&migrate(source.clone(), url.clone()).await);
        let back = dir.path().join("back");
        assert_eq!(sha(&migrate(url.clone(), back.display().to_string()).await), into_pg, "PostgreSQL → sled");
        places.push(back);
        // Into a PostgreSQL store that is not empty: refused.
        let out = migrate(source.clone(), url).await;
        assert!(!out.status.success() && text(&out).contains("already holds a store"), "{}", text(&out));
    }
    // Into a sled folder that is not empty, and from a folder with no store.
    let out = migrate(source.clone(), copy.clone()).await;
    assert!(!out.status.success() && text(&out).contains("already holds a store"), "{}", text(&out));
    let missing = dir.path().join("no-such-store").display().to_string();
    let out = migrate(missing.clone(), dir.path().join("other").display().to_string()).await;
    assert!(!out.status.success() && text(&out).contains("not found"), "{}", text(&out));
    assert!(!std::path::Path::new(&missing).exists(), "nothing is made at a missing source");

    // Each copy serves the firms.
    for place in places {
        let store = ladder::store::Store::open(&ladder::store::StoreOptions::new(&place)).unwrap();
        assert_eq!(store.live_firms().unwrap(), 20);
        assert_eq!(store.next_revision().unwrap() - 1, revision);
        assert!(store.get_enterprise(&code(7)).unwrap().is_some_and(|e| e.display_name == "迁移测试7有限公司"));
        store.close();
    }
}
