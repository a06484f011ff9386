//! Assembles the gRPC server: ladder services behind authentication, health,
//! reflection (v1 and v1alpha, with the google.rpc error types), explicit
//! limits, and graceful shutdown that finishes in-flight requests and flushes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tonic::transport::Server;

use crate::api::alliance::AllianceApi;
use crate::api::change::ChangeApi;
use crate::api::cultivation::CultivationApi;
use crate::api::enterprise::EnterpriseApi;
use crate::api::supply_demand::SupplyDemandApi;
use crate::api::sync::SyncApi;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::connections::Incoming;
use crate::domain::enterprise::Rules;
use crate::pb::{self, v1};
use crate::requests::InFlight;
use crate::store::{Store, StoreOptions};

/// Most concurrent HTTP/2 streams per connection.
pub const MAX_CONCURRENT_STREAMS: u32 = 256;
/// HTTP/2 flow-control window of each stream. h2 charges every received DATA
/// frame under 256 bytes against a connection budget of half the connection
/// window until the application takes it, and closes the connection (GOAWAY
/// ENHANCE_YOUR_CALM) when it runs out; hyper does not let us set the budget.
/// A gRPC message of one small row is a ~50-byte frame costing ~206 bytes of
/// budget, so a stream may have at most 64 KiB unread in flight, and the
/// connection window is 8 MiB (a 4 MiB budget): 8 streams of small frames
/// that all stall at once still fit (2.1 MiB), and `requests.rs` reads client
/// streams ahead so they rarely stall at all. (hyper's defaults, 1 MiB each,
/// gave a 512 KiB budget that two busy streams exhausted.)
pub const STREAM_WINDOW: u32 = 64 * 1024;
/// HTTP/2 flow-control window of a connection; see [`STREAM_WINDOW`].
pub const CONNECTION_WINDOW: u32 = 8 * 1024 * 1024;
/// How long shutdown waits for in-flight requests before closing anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves ladder on an already-bound listener until `shutdown` resolves, then
/// stops accepting, lets in-flight requests finish (up to [`SHUTDOWN_GRACE`])
/// and closes the remaining idle connections. The caller owns the store (and
/// closes it, which commits and flushes every write already queued).
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    store: Store,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let limits = &config.server;
    let auth = Authenticator::new(config.tokens.clone());
    let rules = Rules { zones: config.zone_ids() };
    for (zone, firms) in store.zones_outside(&rules.zones)? {
        tracing::warn!(
            zone = %zone,
            firms,
            "firms name a promotion zone the config does not list: edits that keep it are accepted, \
             edits that set it are refused (add it to [[zones]] or move the firms)"
        );
    }
    let policy = config.policy()?;
    tracing::info!(source = %policy.source, versions = policy.versions.len(), "cultivation policy loaded");

    // Every ladder service gets the same message limits and authentication.
    macro_rules! service {
        ($server:path, $api:expr) => {
            tonic::service::interceptor::InterceptedService::new(
                <$server>::new($api)
                    .max_decoding_message_size(limits.max_message_bytes)
                    .max_encoding_message_size(limits.max_message_bytes),
                auth.clone(),
            )
        };
    }
    let enterprise = service!(
        v1::enterprise_service_server::EnterpriseServiceServer<EnterpriseApi>,
        EnterpriseApi::new(store.clone(), rules.clone()).with_response_limit(limits.max_message_bytes).with_site(
            crate::api::enterprise::Site { tokens_required: !config.tokens.is_empty(), zones: config.zones.clone() }
        )
    );
    let change = service!(
        v1::change_service_server::ChangeServiceServer<ChangeApi>,
        ChangeApi::new(
            store.clone(),
            crate::api::change::WatcherLimits {
                total: limits.max_watchers,
                per_caller: limits.max_watchers_per_caller,
            }
        )
        .with_response_limit(limits.max_message_bytes)
    );
    let alliance =
        service!(v1::alliance_service_server::AllianceServiceServer<AllianceApi>, AllianceApi::new(store.clone()));
    let sync = service!(
        v1::sync_service_server::SyncServiceServer<SyncApi>,
        SyncApi::with_max_streams(store.clone(), rules.clone(), limits.max_sync_streams)
            .with_expected_sources(config.expected_sources())
    );
    let cultivation = service!(
        v1::cultivation_service_server::CultivationServiceServer<CultivationApi>,
        CultivationApi::new(store.clone(), policy)
    );
    let supply_demand = service!(
        v1::supply_demand_service_server::SupplyDemandServiceServer<SupplyDemandApi>,
        SupplyDemandApi::new(store.clone())
    );
    let projects = service!(
        v1::project_service_server::ProjectServiceServer<crate::api::project::ProjectApi>,
        crate::api::project::ProjectApi::new(store.clone(), config)
    );
    let admin = service!(
        v1::admin_service_server::AdminServiceServer<crate::api::admin::AdminApi>,
        crate::api::admin::AdminApi::new(store.clone(), limits.max_message_bytes)
    );
    // Build the segmenter's dictionary now, not on the first posting.
    tokio::task::spawn_blocking(crate::domain::matching::warm_up);

    let seeded =
        store.seed_alliances(config.seed_alliances()).await.map_err(|e| anyhow::anyhow!("seeding alliances: {e}"))?;
    if seeded > 0 {
        tracing::info!(seeded, "new store: seeded the alliances (edit them to the zone's own)");
    }

    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<v1::enterprise_service_server::EnterpriseServiceServer<EnterpriseApi>>().await;
    health_reporter.set_serving::<v1::change_service_server::ChangeServiceServer<ChangeApi>>().await;
    health_reporter.set_serving::<v1::alliance_service_server::AllianceServiceServer<AllianceApi>>().await;
    health_reporter.set_serving::<v1::cultivation_service_server::CultivationServiceServer<CultivationApi>>().await;
    health_reporter.set_serving::<v1::sync_service_server::SyncServiceServer<SyncApi>>().await;
    health_reporter.set_serving::<v1::supply_demand_service_server::SupplyDemandServiceServer<SupplyDemandApi>>().await;
    health_reporter
        .set_serving::<v1::project_service_server::ProjectServiceServer<crate::api::project::ProjectApi>>()
        .await;
    health_reporter.set_serving::<v1::admin_service_server::AdminServiceServer<crate::api::admin::AdminApi>>().await;

    let sweeper = tokio::spawn(sweep_stages(store.clone()));
    let compactor = tokio::spawn(compact_log(store.clone(), limits.change_log_retention_days));
    let expirer = tokio::spawn(expire_request_ids(store.clone(), limits.request_id_retention_days));
    let watchman = tokio::spawn(warn_late_sources(store.clone(), config.expected_sources()));
    let reflection_v1 = reflection_builder().build_v1().context("building reflection v1")?;
    let reflection_v1alpha = reflection_builder().build_v1alpha().context("building reflection v1alpha")?;

    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving");
    }
    let in_flight = InFlight::with_timeout(Duration::from_secs(limits.request_timeout_secs)).refreshing(&store);
    let signalled = Arc::new(Notify::new());
    let notify = Arc::clone(&signalled);
    let mut builder = Server::builder();
    if let Some(tls) = tls_config(&config.server)? {
        builder = builder.tls_config(tls).context("the TLS certificate or key is not usable")?;
        tracing::info!("serving gRPC over TLS");
    }
    // The web workspace shares the port: browsers speak HTTP/1.1.
    let web = crate::web::Web::new(limits.max_message_bytes, auth.clone(), in_flight.clone())?;
    let server = builder
        .accept_http1(true)
        .concurrency_limit_per_connection(limits.concurrency_per_connection)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(limits.keepalive_interval_secs)))
        .http2_keepalive_timeout(Some(Duration::from_secs(limits.keepalive_timeout_secs)))
        .layer(web)
        .layer(in_flight.clone())
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(enterprise)
        .add_service(change)
        .add_service(alliance)
        .add_service(cultivation)
        .add_service(sync)
        .add_service(supply_demand)
        .add_service(projects)
        .add_service(admin)
        .serve_with_incoming_shutdown(Incoming::new(listener, config.connection_limits()), async move {
            shutdown.await;
            notify.notify_one();
        });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result.context("gRPC server failed")?,
        finished = async {
            signalled.notified().await;
            in_flight.drained(SHUTDOWN_GRACE).await
        } => {
            if !finished {
                tracing::warn!(in_flight = in_flight.current(), "requests still running after the grace period; closing");
            }
        }
    }
    sweeper.abort();
    compactor.abort();
    expirer.abort();
    watchman.abort();
    tracing::info!("stopped accepting requests; in-flight requests finished");
    Ok(())
}

/// How often the stage sweeper looks for designations that started or ended.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(600);

/// Records stage changes that happen with time (a certificate expiring, a
/// future-dated designation starting): at start and every [`SWEEP_INTERVAL`].
async fn sweep_stages(store: Store) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        match store.sweep_stages(crate::domain::time::Date::today()).await {
            Ok(0) => {}
            Ok(changed) => tracing::info!(changed, "stage sweeper recorded stage changes"),
            Err(e) => tracing::warn!(error = %e, "stage sweep failed; will retry"),
        }
    }
}

/// How often the change log is compacted (when a retention is configured).
pub const COMPACT_INTERVAL: Duration = Duration::from_secs(3600);

/// Removes change-log entries older than `days` (0: never), at start and
/// every [`COMPACT_INTERVAL`], a bounded batch per write so writers are not
/// held up.
async fn compact_log(store: Store, days: u64) {
    hourly_in_batches(days, "change-log entries", |cutoff| {
        let store = store.clone();
        async move { store.compact_log(cutoff).await }
    })
    .await;
}

/// Forgets request ids older than `days` (0: never), the same way.
async fn expire_request_ids(store: Store, days: u64) {
    hourly_in_batches(days, "request ids", |cutoff| {
        let store = store.clone();
        async move { store.expire_request_ids(cutoff).await }
    })
    .await;
}

/// Logs a warning for each late sync source, at start and every hour.
async fn warn_late_sources(store: Store, expected: std::collections::BTreeMap<String, u64>) {
    if expected.is_empty() {
        return;
    }
    let mut tick = tokio::time::interval(COMPACT_INTERVAL);
    loop {
        tick.tick().await;
        let (reading, wanted) = (store.clone(), expected.clone());
        let health = crate::store::blocking(move || {
            crate::api::sync::source_health(&reading, &wanted, crate::domain::time::now_micros())
        })
        .await;
        match health {
            Ok(sources) => {
                for s in sources.iter().filter(|s| s.late) {
                    let last = s.last_success_time.as_ref().map_or("never".to_string(), ToString::to_string);
                    tracing::warn!(
                        source = %s.source,
                        expected_every_hours = s.expected_interval_hours,
                        last_completed = %last,
                        "a sync source is late: no run completed within its expected interval"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the sync sources"),
        }
    }
}

/// Every [`COMPACT_INTERVAL`] (and at start), calls `batch` with the time
/// `days` ago until it removes fewer than [`crate::store::COMPACT_BATCH`].
async fn hourly_in_batches<F, Fut>(days: u64, what: &'static str, mut batch: F)
where
    F: FnMut(crate::domain::time::Micros) -> Fut,
    Fut: std::future::Future<Output = crate::error::Result<usize>>,
{
    if days == 0 {
        return;
    }
    let mut tick = tokio::time::interval(COMPACT_INTERVAL);
    loop {
        tick.tick().await;
        let keep = i64::try_from(days).unwrap_or(i64::MAX / 86_400_000_000).saturating_mul(86_400_000_000);
        let cutoff = crate::domain::time::now_micros().saturating_sub(keep);
        let mut total = 0;
        loop {
            match batch(cutoff).await {
                Ok(n) => {
                    total += n;
                    if n < crate::store::COMPACT_BATCH {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, what, "removing old entries failed; will retry");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::info!(removed = total, days, what, "removed entries past their retention");
        }
    }
}

/// Reflection over ladder's protos plus the standard types clients need to
/// decode errors (google.rpc) and health.
fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// Refuses an unauthenticated server on a non-loopback address unless the
/// configuration explicitly allows it.
/// The server's TLS identity from `tls_cert` and `tls_key`, if both are set.
fn tls_config(server: &crate::config::ServerConfig) -> anyhow::Result<Option<tonic::transport::ServerTlsConfig>> {
    match (&server.tls_cert, &server.tls_key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            let read = |p: &std::path::Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
            let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
            Ok(Some(tonic::transport::ServerTlsConfig::new().identity(identity)))
        }
        _ => anyhow::bail!("TLS needs both a certificate (--tls-cert) and its key (--tls-key)"),
    }
}

pub fn check_exposure(addr: &SocketAddr, config: &Config) -> anyhow::Result<()> {
    if config.tokens.is_empty() && !addr.ip().is_loopback() {
        anyhow::ensure!(
            config.server.allow_unauthenticated,
            "refusing to listen on {addr} without tokens: anyone reaching it would be admin. \
             Mint tokens (`ladder token mint`) into the config file, listen on 127.0.0.1, \
             or pass --allow-unauthenticated for a closed network"
        );
        tracing::warn!(%addr, "serving WITHOUT authentication on a non-loopback address: every caller is admin");
    }
    if !config.tokens.is_empty() && !addr.ip().is_loopback() && config.server.tls_cert.is_none() {
        tracing::warn!(
            %addr,
            "serving tokens on a non-loopback address without TLS: they cross the network in clear \
             (give --tls-cert and --tls-key)"
        );
    }
    Ok(())
}

/// Opens the store, binds, serves until SIGINT/SIGTERM, then drains and
/// flushes: the `ladder serve` command.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let addr: SocketAddr = config
        .server
        .listen
        .parse()
        .with_context(|| format!("--listen {:?} is not an address like 127.0.0.1:50051", config.server.listen))?;
    check_exposure(&addr, &config)?;
    let options = StoreOptions {
        path: config.server.data.clone(),
        cache_bytes: config.server.cache_mb * 1024 * 1024,
        url: config.store.url.clone(),
    };
    let store = Store::open(&options).map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(data = %options.path.display(), "store open");
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr().map_or_else(|_| addr.to_string(), |a| a.to_string());
    // One plain line on stdout, for people and for scripts that start ladder
    // on port 0 and need the port it got.
    // The web workspace's address goes out in the same write (a reader may
    // take only the first line and close the pipe), and a closed stdout is
    // no reason to stop serving.
    let scheme = if config.server.tls_cert.is_some() { "https" } else { "http" };
    let banner = format!("ladder listening on {bound}\nweb workspace: {scheme}://{bound}/\n");
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(metrics) = config.server.metrics_listen.as_deref().filter(|m| !m.is_empty()) {
        let at: SocketAddr =
            metrics.parse().with_context(|| format!("--metrics {metrics:?} is not an address like 127.0.0.1:9464"))?;
        let listener = TcpListener::bind(at).await.with_context(|| format!("cannot listen on {at} for metrics"))?;
        if !at.ip().is_loopback() {
            tracing::warn!(%at, "metrics are served without authentication on a non-loopback address");
        }
        tracing::info!(addr = %listener.local_addr().map_or(at, |a| a), "serving metrics at /metrics");
        tokio::spawn(crate::metrics::serve(listener, store.clone(), async {
            let _ = metrics_stopped.await;
        }));
    }
    let result = serve(listener, &config, store.clone(), shutdown_signal()).await;
    let _ = stop_metrics.send(());
    // Closing joins the writer thread: keep that off the async workers.
    let closing = store.clone();
    if tokio::task::spawn_blocking(move || closing.close()).await.is_err() {
        tracing::error!("closing the store panicked");
    }
    tracing::info!("store flushed and closed");
    result
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = term => tracing::info!("SIGTERM received, shutting down"),
    }
}
