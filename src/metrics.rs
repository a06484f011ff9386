//! Prometheus metrics, in the text exposition format, on an optional
//! listener of their own (`ladder serve --metrics 127.0.0.1:9464`, path
//! `/metrics`).
//!
//! Counted as things happen: calls by method and status with a latency
//! histogram (`requests.rs`), writer groups, jobs and flush latency
//! (`store/writer.rs`), sync rows (`api/sync.rs`), open watchers
//! (`api/change.rs`). Read at each scrape: the writer's queue depth, the
//! store's size on disk, live firms and the head revision.
//!
//! Method labels are bounded: only methods the server serves are named;
//! any other path counts as `other`, so a client sending made-up paths
//! cannot grow the registry.

use std::collections::HashSet;
use std::sync::atomic::AtomicI64;
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::store::Store;

/// Scrapes served at once.
const MAX_SCRAPES: usize = 8;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

/// Every metric ladder keeps.
struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    latency: Family<MethodLabel, Histogram>,
    groups: Counter,
    jobs: Counter,
    flush: Histogram,
    sync_rows: Counter,
    watchers: Gauge,
    queue: Gauge,
    store_bytes: Gauge,
    live_firms: Gauge,
    head: Gauge<i64, AtomicI64>,
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("ladder");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register("rpc_calls", "gRPC calls by method and status code", calls.clone());
        let latency = Family::<MethodLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0])
        });
        registry.register("rpc_duration_seconds", "Time to a call's response headers", latency.clone());
        let groups = Counter::default();
        registry.register("writer_groups", "Write groups committed (one batch and one flush each)", groups.clone());
        let jobs = Counter::default();
        registry.register("writer_jobs", "Write jobs answered", jobs.clone());
        let flush = Histogram::new([0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0]);
        registry.register("writer_flush_seconds", "Time to make a group durable (fsync)", flush.clone());
        let sync_rows = Counter::default();
        registry.register("sync_rows", "Rows received by SyncEnterprises", sync_rows.clone());
        let watchers = Gauge::default();
        registry.register("watchers", "Open WatchChanges streams", watchers.clone());
        let queue = Gauge::default();
        registry.register("writer_queue_depth", "Writes waiting for the writer", queue.clone());
        let store_bytes = Gauge::default();
        registry.register("store_bytes", "The store's size on disk", store_bytes.clone());
        let live_firms = Gauge::default();
        registry.register("live_firms", "Registered firms not deleted", live_firms.clone());
        let head = Gauge::<i64, AtomicI64>::default();
        registry.register("head_revision", "The newest durable revision", head.clone());
        Metrics {
            registry,
            calls,
            latency,
            groups,
            jobs,
            flush,
            sync_rows,
            watchers,
            queue,
            store_bytes,
            live_firms,
            head,
        }
    })
}

/// The methods the server serves: ladder's (from its descriptor set),
/// health and reflection.
fn known_methods() -> &'static HashSet<String> {
    static KNOWN: OnceLock<HashSet<String>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        use prost::Message as _;
        let mut known: HashSet<String> = [
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Watch",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        if let Ok(set) = prost_types::FileDescriptorSet::decode(crate::pb::FILE_DESCRIPTOR_SET) {
            for file in set.file {
                for service in &file.service {
                    for method in &service.method {
                        known.insert(format!("/{}.{}/{}", file.package(), service.name(), method.name()));
                    }
                }
            }
        }
        known
    })
}

/// The method as a label: itself when the server serves it, else `other`
/// (a client sending made-up paths cannot grow the registry). The known
/// methods are a fixed set, so no lock is taken per call.
fn method_label(method: &str) -> &str {
    if known_methods().contains(method) {
        method
    } else {
        "other"
    }
}

/// Counts a call with its status code and latency.
pub fn observe_call(method: &str, code: tonic::Code, latency: Duration) {
    let m = metrics();
    let method = method_label(method).to_string();
    m.calls.get_or_create(&CallLabels { method: method.clone(), code: format!("{code:?}") }).inc();
    m.latency.get_or_create(&MethodLabel { method }).observe(latency.as_secs_f64());
}

/// Counts a committed group of `jobs` and its flush time.
pub fn observe_group(jobs: usize, flush: Duration) {
    let m = metrics();
    m.groups.inc();
    m.jobs.inc_by(jobs as u64);
    m.flush.observe(flush.as_secs_f64());
}

/// Counts rows received by a sync stream.
pub fn add_sync_rows(rows: u64) {
    metrics().sync_rows.inc_by(rows);
}

/// A watcher opened (`+1`) or closed (`-1`).
pub fn watchers(delta: i64) {
    metrics().watchers.inc_by(delta);
}

/// Every metric in the text exposition format, with the store's gauges
/// read now.
pub fn render(store: &Store) -> String {
    let m = metrics();
    m.queue.set(i64::try_from(store.queue_depth()).unwrap_or(i64::MAX));
    m.store_bytes.set(store.size_on_disk().ok().and_then(|b| i64::try_from(b).ok()).unwrap_or(-1));
    m.live_firms.set(store.live_firms().ok().and_then(|n| i64::try_from(n).ok()).unwrap_or(-1));
    m.head.set(store.next_revision().ok().and_then(|n| i64::try_from(n).ok()).map_or(-1, |n| n - 1));
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &m.registry) {
        tracing::warn!(error = %e, "cannot encode the metrics");
    }
    out
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves: plain
/// HTTP/1.1, one response per connection, at most [`MAX_SCRAPES`] at once,
/// a request line within 5 s.
pub async fn serve(listener: tokio::net::TcpListener, store: Store, shutdown: impl std::future::Future<Output = ()>) {
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPES));
    tokio::pin!(shutdown);
    loop {
        let (mut socket, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let Ok(permit) = std::sync::Arc::clone(&permits).try_acquire_owned() else {
            continue; // too many scrapes at once: drop the connection
        };
        let store = store.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while len < buf.len() {
                    let n = socket.read(&mut buf[len..]).await?;
                    if n == 0 {
                        break;
                    }
                    len += n;
                    if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                Ok::<_, std::io::Error>(())
            })
            .await;
            if !matches!(read, Ok(Ok(()))) {
                return;
            }
            let line = String::from_utf8_lossy(&buf[..len]);
            let path = line.split_whitespace().nth(1).unwrap_or("");
            let get = line.starts_with("GET ");
            let (status, kind, body) = if get && (path == "/metrics" || path.starts_with("/metrics?")) {
                let store = store.clone();
                let body = tokio::task::spawn_blocking(move || render(&store)).await.unwrap_or_default();
                ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body)
            } else {
                ("404 Not Found", "text/plain; charset=utf-8", "ladder serves metrics at /metrics\n".to_string())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            // A scraper that does not read its answer gives its slot back.
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                socket.write_all(head.as_bytes()).await?;
                socket.write_all(body.as_bytes()).await?;
                socket.shutdown().await
            })
            .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_served_methods_are_named() {
        for n in 0..300 {
            assert_eq!(method_label(&format!("/ladder.v1.Made/Up{n}")), "other");
        }
        let real = "/ladder.v1.EnterpriseService/GetEnterprise";
        assert_eq!(method_label(real), real, "a real method keeps its name after a flood of made-up ones");
        assert!(known_methods().contains("/ladder.v1.AdminService/Backup"));
    }
}
