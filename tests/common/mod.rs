//! Shared test harness: a real ladder server on an ephemeral loopback port
//! over a real sled store in a temp directory, and real gRPC clients.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod http;

use std::net::SocketAddr;

use ladder::config::Config;
use ladder::domain::credit_code::CreditCode;
use ladder::pb::v1;
use ladder::pb::v1::change_service_client::ChangeServiceClient;
use ladder::pb::v1::enterprise_service_client::EnterpriseServiceClient;
use ladder::store::{Store, StoreOptions};
use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// A running server; stops (and closes its store) on drop or [`TestServer::stop`].
pub struct TestServer {
    pub addr: SocketAddr,
    /// Head revision once the server was serving (after seeding the alliances).
    pub base: u64,
    pub store: Store,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts a server with the default configuration.
    pub async fn start() -> TestServer {
        Self::with_config(Config::default()).await
    }

    /// Starts a server with `config` on a fresh store.
    pub async fn with_config(config: Config) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::on_dir(config, dir).await
    }

    /// Starts a server on a fresh sled store, whatever backend the suite
    /// runs against (for tests of sled's own files).
    pub async fn on_sled() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = StoreOptions::new(dir.path().join("data"));
        Self::open_on(Config::default(), dir, options).await
    }

    /// Starts a server with `config` on the store in `dir` (reopening it).
    pub async fn on_dir(config: Config, dir: tempfile::TempDir) -> TestServer {
        let options = store_options(&dir.path().join("data"));
        Self::open_on(config, dir, options).await
    }

    async fn open_on(config: Config, dir: tempfile::TempDir, options: StoreOptions) -> TestServer {
        // A server stopped in this process may still have connection tasks
        // winding down that hold the old handle (and sled's file lock).
        let mut attempts = 0;
        let store = loop {
            match Store::open(&options) {
                Ok(store) => break store,
                Err(e) if attempts < 100 && e.to_string().contains("lock") => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => panic!("open store: {e}"),
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = store.clone();
        let task = tokio::spawn(async move {
            ladder::server::serve(listener, &config, serving, async {
                let _ = stopped.await;
            })
            .await
        });
        let mut server = TestServer { addr, base: 0, store, dir, stop: Some(stop), task: Some(task) };
        // Ready once health answers: serve() seeds alliances before serving.
        let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
        for _ in 0..200 {
            let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
            if health.check(request).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        server.base = server.store.next_revision().expect("revision") - 1;
        server
    }

    /// Stops serving, closes the store and hands back its directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.shutdown().await;
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
        self.store.close();
    }

    /// A channel to the server.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr)).expect("url").connect().await.expect("connect")
    }

    /// An enterprise client without a token.
    pub async fn enterprises(&self) -> EnterpriseServiceClient<Channel> {
        EnterpriseServiceClient::new(self.channel().await)
    }

    /// A change client without a token.
    pub async fn changes(&self) -> ChangeServiceClient<Channel> {
        ChangeServiceClient::new(self.channel().await)
    }

    /// An enterprise client sending `token`.
    pub async fn enterprises_as(&self, token: &str) -> EnterpriseServiceClient<InterceptedService<Channel, Bearer>> {
        EnterpriseServiceClient::with_interceptor(self.channel().await, Bearer(token.to_string()))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.store.close();
    }
}

/// Adds `authorization: Bearer <token>`.
#[derive(Clone)]
pub struct Bearer(pub String);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let value: MetadataValue<_> = format!("Bearer {}", self.0).parse().expect("header");
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

/// The n-th valid credit code of a Xi'an (长安区) company.
pub fn code(n: u32) -> String {
    CreditCode::from_parts("91", "610116", &format!("MA{n:06}")).expect("valid parts").as_str().to_string()
}

/// A minimal valid enterprise.
pub fn firm(n: u32, name: &str) -> v1::Enterprise {
    v1::Enterprise { credit_code: code(n), display_name: name.to_string(), ..Default::default() }
}

/// A create request for `enterprise`.
pub fn create(enterprise: v1::Enterprise) -> v1::CreateEnterpriseRequest {
    v1::CreateEnterpriseRequest { enterprise: Some(enterprise), ..Default::default() }
}

/// Asserts the status code and `ErrorInfo.reason`; returns the field
/// violations as (field, description).
/// An update of a firm's notes alone.
pub fn set_notes(credit_code: &str, notes: &str) -> v1::UpdateEnterpriseRequest {
    v1::UpdateEnterpriseRequest {
        enterprise: Some(v1::Enterprise {
            name: format!("enterprises/{credit_code}"),
            notes: notes.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["notes".into()] }),
        ..Default::default()
    }
}

pub fn expect_error(status: &Status, code: Code, reason: &str) -> Vec<(String, String)> {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let details = status.get_error_details();
    let info = details.error_info().unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "unexpected reason in {status:?}");
    assert_eq!(info.domain, "ladder");
    details
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| (v.field.clone(), v.description.clone())).collect())
        .unwrap_or_default()
}

/// Runs the real `ladder` binary (off the async runtime, so an in-process
/// server keeps serving), with none of the caller's LADDER_* settings.
pub async fn run_ladder(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_ladder"))
            .args(&args)
            .env_remove("LADDER_TOKEN")
            .env_remove("LADDER_SERVER")
            .env_remove("LADDER_DATA")
            .output()
            .expect("run ladder")
    })
    .await
    .unwrap()
}

/// The PostgreSQL server the suite runs against, when `LADDER_TEST_POSTGRES`
/// names one (`scripts/with-postgres.sh` starts one and sets it).
pub fn postgres() -> Option<String> {
    std::env::var("LADDER_TEST_POSTGRES").ok().filter(|url| !url.is_empty())
}

/// The store options for the data folder `data`: sled in it, or, when the
/// suite runs against PostgreSQL, a schema of its own (its URL is kept in
/// `data/postgres-url`, so reopening the folder reopens the same store).
pub fn store_options(data: &std::path::Path) -> StoreOptions {
    let mut options = StoreOptions::new(data);
    // A folder that already holds a sled store (a restore, a fixture) stays
    // on sled.
    let sled_there = data.join("conf").exists() && !data.join("postgres-url").exists();
    if let (Some(base), false) = (postgres(), sled_there) {
        std::fs::create_dir_all(data).expect("data folder");
        let file = data.join("postgres-url");
        let url = match std::fs::read_to_string(&file) {
            Ok(url) => url,
            Err(_) => {
                let schema = format!("t{}", uuid_like());
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
                std::fs::write(&file, &url).expect("write postgres-url");
                url
            }
        };
        options.url = Some(url);
    }
    options
}

/// The `serve` arguments that put a server's store in `data` (and, against
/// PostgreSQL, in that folder's schema).
pub fn store_args(data: &std::path::Path) -> Vec<String> {
    let mut args = vec!["--data".to_string(), data.display().to_string()];
    if let Some(url) = store_options(data).url {
        args.extend(["--store".to_string(), url]);
    }
    args
}

/// A unique lowercase name part.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:x}{:x}{:x}", std::process::id(), nanos, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A `ladder serve` child process, killed when dropped: a test that fails
/// half-way leaves no server running (nor holding its output pipes).
pub struct Served(pub std::process::Child);

impl std::ops::Deref for Served {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Served {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the real `ladder serve` on port 0 with `args` (after `--listen`),
/// logging warnings only; returns the child and the address it printed.
pub fn spawn_serve(args: &[String]) -> (Served, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ladder"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("LADDER_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn ladder serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("read listening line");
    let addr = line
        .trim()
        .strip_prefix("ladder listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (Served(child), addr)
}
