//! Prometheus metrics from a real server, scraped over HTTP.

mod common;

use common::{code, create, firm, TestServer};
use ladder::pb::v1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    socket.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_writes_watchers_and_the_store_are_counted() {
    let server = TestServer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ladder::metrics::serve(listener, server.store.clone(), async {
        let _ = stopped.await;
    }));

    let mut c = server.enterprises().await;
    for n in 0..3 {
        c.create_enterprise(create(firm(n, &format!("西安{n}有限公司")))).await.unwrap();
    }
    for n in [0, 1, 99] {
        let _ = c.get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{}", code(n)) }).await;
    }
    let mut changes = server.changes().await;
    let watcher = changes.watch_changes(v1::WatchChangesRequest::default()).await.unwrap();

    let page = get(addr, "/metrics").await;
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    let line = |needle: &str| page.lines().find(|l| l.starts_with(needle)).map(str::to_string);
    let get_ok = line(r#"ladder_rpc_calls_total{method="/ladder.v1.EnterpriseService/GetEnterprise",code="Ok"}"#);
    assert_eq!(get_ok.as_deref().and_then(|l| l.rsplit(' ').next()), Some("2"), "{page}");
    let not_found =
        line(r#"ladder_rpc_calls_total{method="/ladder.v1.EnterpriseService/GetEnterprise",code="NotFound"}"#);
    assert_eq!(not_found.as_deref().and_then(|l| l.rsplit(' ').next()), Some("1"), "{page}");
    assert!(
        line(r#"ladder_rpc_duration_seconds_bucket{le="+Inf",method="/ladder.v1.EnterpriseService/CreateEnterprise"}"#)
            .is_some_and(|l| l.ends_with(" 3")),
        "{page}"
    );
    let value = |name: &str| -> f64 {
        line(&format!("{name} ")).and_then(|l| l.rsplit(' ').next().and_then(|v| v.parse().ok())).unwrap_or(-1.0)
    };
    assert_eq!(value("ladder_live_firms"), 3.0);
    assert_eq!(value("ladder_watchers"), 1.0);
    assert!(value("ladder_writer_groups_total") >= 3.0, "{page}");
    assert!(value("ladder_store_bytes") > 0.0);
    assert_eq!(value("ladder_head_revision"), (server.store.next_revision().unwrap() - 1) as f64);
    drop(watcher);

    let other = get(addr, "/").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    let _ = stop.send(());
}
