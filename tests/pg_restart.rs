//! PostgreSQL restarts under load: writers get UNAVAILABLE while it is
//! down (never another code, never a wrong answer), the server reconnects by
//! itself, and nothing acknowledged is lost. Its own test binary: it
//! restarts the cluster every PostgreSQL test shares, and test binaries run
//! one after another.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{code, create, firm, TestServer};
use ladder::pb::v1;
use tonic::Code;

/// Restarts the suite's PostgreSQL (`scripts/with-postgres.sh` says where).
fn restart_postgres() {
    let (Ok(pg_ctl), Ok(data)) = (std::env::var("LADDER_TEST_PG_CTL"), std::env::var("LADDER_TEST_PG_DATA")) else {
        panic!("LADDER_TEST_PG_CTL and LADDER_TEST_PG_DATA are needed to restart PostgreSQL");
    };
    let command = format!("'{pg_ctl}' -D '{data}' -m fast -w restart >/dev/null");
    let is_root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    let status = if is_root {
        std::process::Command::new("su").args(["postgres", "-s", "/bin/bash", "-c", &command]).status()
    } else {
        std::process::Command::new("bash").args(["-c", &command]).status()
    };
    assert!(status.is_ok_and(|s| s.success()), "pg_ctl restart failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_gives_unavailable_then_recovers_losing_nothing() {
    if common::postgres().is_none() || std::env::var("LADDER_TEST_PG_CTL").is_err() {
        eprintln!("a_postgres_restart: skipped, no PostgreSQL of the suite's own (run under scripts/with-postgres.sh)");
        return;
    }
    let server = TestServer::start().await;
    let client = server.enterprises().await;
    let acked: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let codes: Arc<Mutex<Vec<Code>>> = Arc::default();
    let stop_at = Arc::new(Mutex::new(None::<Instant>));
    let mut writers = Vec::new();
    for w in 0..4u32 {
        let mut client = client.clone();
        let (acked, codes, stop_at) = (Arc::clone(&acked), Arc::clone(&codes), Arc::clone(&stop_at));
        writers.push(tokio::spawn(async move {
            client.create_enterprise(create(firm(w, "重启测试"))).await.expect("create");
            let mut version = 0u32;
            loop {
                if stop_at.lock().unwrap().is_some_and(|t| Instant::now() >= t) {
                    return;
                }
                version += 1;
                let result = client.update_enterprise(common::set_notes(&code(w), &version.to_string())).await;
                match result {
                    Ok(_) => {
                        acked.lock().unwrap().insert(code(w), version);
                    }
                    Err(e) => {
                        codes.lock().unwrap().push(e.code());
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = acked.lock().unwrap().len();
    assert_eq!(before, 4, "every writer wrote before the restart");
    restart_postgres();
    let restarted = acked.lock().unwrap().clone();
    // Writes succeed again once PostgreSQL is back.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = acked.lock().unwrap().clone();
        if now.iter().all(|(k, v)| restarted.get(k).is_some_and(|r| v > r)) {
            break;
        }
        assert!(Instant::now() < deadline, "writes did not recover after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    *stop_at.lock().unwrap() = Some(Instant::now() + Duration::from_millis(300));
    for writer in writers {
        writer.await.unwrap();
    }
    let codes = codes.lock().unwrap().clone();
    assert!(
        codes.iter().all(|c| *c == Code::Unavailable),
        "while PostgreSQL was down the writers saw only UNAVAILABLE: {codes:?}"
    );
    // Nothing acknowledged is lost, read through the reconnected server.
    let mut client = client;
    let acked = acked.lock().unwrap().clone();
    for (credit_code, version) in &acked {
        let got = client
            .get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{credit_code}") })
            .await
            .expect("read after the restart")
            .into_inner();
        let stored: u32 = got.notes.parse().unwrap();
        assert!(stored >= *version, "{credit_code}: acknowledged {version}, stored {stored}");
    }
    assert_eq!(ladder::store::check_consistency(&server.store).unwrap(), Vec::<String>::new());
}
