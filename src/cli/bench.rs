//! `ladder bench`: measures ladder on this machine and prints numbers, next
//! to the floor of the same run (an empty RPC on the same server).
//!
//! Without `--server`, the benchmark starts the real server binary on a
//! fresh store in a temporary directory (so the server's peak memory and
//! disk use are its own), loads realistic data through the public API and
//! removes the store afterwards.

mod projects;
mod web;

use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Subcommand;
use serde_json::{json, Value};

use crate::cli::client::{connect, connect_with, Intercepted};
use crate::cli::{table, ClientArgs};
use crate::pb::v1;
use crate::pb::v1::enterprise_service_client::EnterpriseServiceClient;
use crate::pb::v1::supply_demand_service_client::SupplyDemandServiceClient;
use crate::sample::{self, Rng};
use crate::store::floor::{self, FloorKeys, FloorRun};
use crate::store::{StoreOptions, CHUNK_ROWS};

/// `ladder bench …`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// SuggestMatches latency at P open postings (p50/p90/p99/p99.9/max), next to
    /// an empty RPC on the same server, plus the durable create rate while
    /// loading, the server's peak memory and its disk use.
    Suggest {
        /// Open postings to load.
        #[arg(long, default_value_t = 100_000)]
        postings: usize,
        /// Firms to spread them over.
        #[arg(long, default_value_t = 5_000)]
        firms: usize,
        /// Suggestion requests to time.
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
        /// Requests in flight while timing.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Requests in flight while loading.
        #[arg(long, default_value_t = 256)]
        load_concurrency: usize,
        /// Random seed of the sample data.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Benchmark a running server instead of starting one (its store
        /// gets the sample data).
        #[arg(long)]
        external: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Durable bulk sync of N sample firms through SyncEnterprises (rows/s),
    /// then the same file again (every row unchanged), next to the raw-sled
    /// floor: the same records and keys written straight into sled with the
    /// same flush policy, and the record alone.
    Sync {
        /// Firms to sync.
        #[arg(long, default_value_t = 100_000)]
        firms: usize,
        /// Random seed of the sample firms.
        #[arg(long, default_value_t = 4754)]
        seed: u64,
        /// Benchmark a running server instead of starting one (its store
        /// gets the sample firms; the floor still runs on a temporary store).
        #[arg(long)]
        external: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A soak: C clients for S seconds, each calling at random GetEnterprise
    /// (60%), a filtered ListEnterprises page (20%), an etag-guarded
    /// UpdateEnterprise of a firm it has just read (15%) and a ListChanges
    /// page (5%). Prints each call's percentiles, the errors other than etag
    /// conflicts (which concurrent editors legitimately get) and the server's
    /// RSS every 10 s, to show memory stays flat.
    Soak {
        /// Firms to load.
        #[arg(long, default_value_t = 20_000)]
        firms: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 180)]
        seconds: u64,
        /// Benchmark a running server instead of starting one.
        #[arg(long)]
        external: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// GetEnterprise at C concurrent clients (requests/s, p50/p90/p99/p99.9/max)
    /// next to an empty RPC at the same concurrency.
    Get {
        #[command(flatten)]
        common: Common,
    },
    /// Concurrent single UpdateEnterprise calls (acknowledged-durable
    /// writes/s and latency) next to an empty RPC at the same concurrency.
    Write {
        #[command(flatten)]
        common: Common,
    },
    /// Change-feed delivery lag under a write load: one WatchChanges
    /// follower while concurrent UpdateEnterprise calls run; each change's
    /// arrival is timed from its call's start and from its acknowledgement.
    Watch {
        #[command(flatten)]
        common: Common,
    },
    /// The project reports at a library of N projects: loads them (created,
    /// stepped, the key ones with this year's figures), then times a
    /// filtered ListProjects page, the funnel by zone, the investment report
    /// by project and the stalled list, next to an empty RPC.
    Projects {
        /// Projects to load.
        #[arg(long, default_value_t = 10_000)]
        projects: usize,
        /// Calls of each report to time.
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Requests in flight while timing.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Benchmark a running server instead of starting one.
        #[arg(long)]
        external: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The web workspace's JSON mapping at N firms: WhoAmI, GetEnterprise, a
    /// name search page, a filtered page and the funnel, as a browser sends
    /// them (JSON over keep-alive HTTP/1.1), next to GetEnterprise and the
    /// empty RPC over gRPC.
    Web {
        /// Firms to load.
        #[arg(long, default_value_t = 100_000)]
        firms: usize,
        /// Calls of each kind to time.
        #[arg(long, default_value_t = 2_000)]
        calls: usize,
        /// Connections (calls in flight) while timing.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Benchmark a running server instead of starting one.
        #[arg(long)]
        external: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// ListEnterprises pages of 100 with a stage + alliance + industry filter
    /// (after granting sample designations and memberships): the first page
    /// and a deep page (the tenth), next to an empty RPC.
    List {
        #[command(flatten)]
        common: Common,
    },
}

/// What the registry scenarios share.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Firms to load.
    #[arg(long, default_value_t = 100_000)]
    firms: usize,
    /// Calls to time.
    #[arg(long, default_value_t = 20_000)]
    calls: usize,
    /// Calls in flight while timing.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// The list scenario's filter.
    #[arg(long, default_value = r#"stage = STAGE_CLIMB AND alliance = "commercial-space" AND industry_code = C3742"#)]
    filter: String,
    /// Calls in flight while loading designations and memberships.
    #[arg(long, default_value_t = 256)]
    load_concurrency: usize,
    /// Benchmark a running server instead of starting one (its store gets
    /// the sample data).
    #[arg(long)]
    external: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Latency percentiles of one timed set of calls.
#[derive(Debug, Clone, Copy)]
struct Latency {
    calls: usize,
    per_second: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

impl Latency {
    fn of(mut samples: Vec<Duration>, wall: Duration) -> Latency {
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len().max(1)) - 1;
            samples.get(i).copied().map(ms).unwrap_or(0.0)
        };
        Latency {
            calls: samples.len(),
            per_second: samples.len() as f64 / wall.as_secs_f64().max(1e-9),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: samples.last().copied().map(ms).unwrap_or(0.0),
        }
    }

    fn json(&self) -> Value {
        json!({ "calls": self.calls, "per_second": round(self.per_second), "p50_ms": round(self.p50),
                "p90_ms": round(self.p90), "p99_ms": round(self.p99), "p999_ms": round(self.p999), "max_ms": round(self.max) })
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The server under test: a child process on a temporary store, or an
/// external one.
struct Target {
    child: Option<Child>,
    dir: Option<PathBuf>,
    client: ClientArgs,
}

impl Target {
    /// Starts `ladder serve` on a fresh store and waits until it answers.
    async fn start(client: &ClientArgs, external: bool) -> Result<Target, String> {
        if external {
            return Ok(Target { child: None, dir: None, client: client.clone() });
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot pick a port: {e}"))?
            .port();
        let dir = std::env::temp_dir().join(format!("ladder-bench-{}-{port}", std::process::id()));
        let child = spawn_server(&port.to_string(), &dir)?;
        let mut args = client.clone();
        args.server = format!("http://127.0.0.1:{port}");
        let target = Target { child: Some(child), dir: Some(dir), client: args };
        for _ in 0..300 {
            if let Ok(channel) = connect(&target.client).await {
                if EnterpriseServiceClient::new(channel).ping(()).await.is_ok() {
                    return Ok(target);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("the server did not start within 15 s".into())
    }

    /// Stops our server (SIGTERM, as an operator would) and starts it again
    /// on the same store; returns how long the new process took from its
    /// start to its first answer (opening the store and building the index).
    async fn reopen(&mut self) -> Result<Option<Duration>, String> {
        let (Some(child), Some(dir)) = (self.child.as_mut(), self.dir.clone()) else { return Ok(None) };
        let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let _ = child.wait();
        let port = self.client.server.rsplit(':').next().unwrap_or_default().to_string();
        let started = Instant::now();
        self.child = Some(spawn_server(&port, &dir)?);
        for _ in 0..12_000 {
            if let Ok(channel) = connect(&self.client).await {
                if EnterpriseServiceClient::new(channel).ping(()).await.is_ok() {
                    return Ok(Some(started.elapsed()));
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err("the server did not reopen its store within 120 s".into())
    }

    /// Resident memory of the server process now (MiB), when it is ours.
    fn rss_mib(&self) -> Option<f64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }

    /// Peak resident memory of the server process (MiB), when it is ours.
    fn peak_rss_mib(&self) -> Option<f64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }

    /// Bytes of the store on disk, when it is ours.
    fn disk_mib(&self) -> Option<f64> {
        self.dir.as_deref().map(|d| dir_size(d) as f64 / (1024.0 * 1024.0))
    }
}

/// Starts this binary's `ladder serve` on loopback `port` over the store at
/// `dir`, logging warnings only.
fn spawn_server(port: &str, dir: &Path) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the ladder binary: {e}"))?;
    std::process::Command::new(exe)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir)
        .env("LADDER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Cores and memory of this machine.
fn machine() -> Value {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| round(kb / 1024.0 / 1024.0));
    json!({ "cores": cores, "memory_gib": mem_gib })
}

/// Runs `n` calls of `call` with `concurrency` in flight; returns each
/// call's latency and the wall time. `concurrency` long-lived workers take
/// the next call number in turn (no task is spawned per call, so the client
/// costs the server's machine as little as it can); with `warm_up`, after
/// one untimed call per worker (calls `0..workers` again: reads only).
async fn timed<F, Fut>(n: usize, concurrency: usize, warm_up: bool, call: F) -> Result<Latency, String>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), tonic::Status>> + Send + 'static,
{
    let workers = concurrency.clamp(1, n.max(1));
    let call = std::sync::Arc::new(call);
    for i in (0..workers).filter(|_| warm_up) {
        call(i).await.map_err(|status| crate::cli::render::status_error(&status))?;
    }
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (call, next) = (std::sync::Arc::clone(&call), std::sync::Arc::clone(&next));
        tasks.spawn(async move {
            let mut samples = Vec::with_capacity(n / workers + 1);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return Ok(samples);
                }
                let t = Instant::now();
                call(i).await?;
                samples.push(t.elapsed());
            }
        });
    }
    let mut samples = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        samples.extend(joined(Some(done))?);
    }
    Ok(Latency::of(samples, started.elapsed()))
}

fn joined<T>(done: Option<Result<Result<T, tonic::Status>, tokio::task::JoinError>>) -> Result<T, String> {
    match done {
        Some(Ok(Ok(d))) => Ok(d),
        Some(Ok(Err(status))) => Err(crate::cli::render::status_error(&status)),
        Some(Err(e)) => Err(format!("task failed: {e}")),
        None => Err("no task".into()),
    }
}

/// Runs `ladder bench …`.
pub async fn bench(cmd: BenchCommand) -> ExitCode {
    let result = match cmd {
        BenchCommand::Suggest { postings, firms, queries, concurrency, load_concurrency, seed, external, client } => {
            suggest(postings, firms.max(2), queries, concurrency, load_concurrency, seed, external, &client).await
        }
        BenchCommand::Sync { firms, seed, external, client } => sync(firms.max(1), seed, external, &client).await,
        BenchCommand::Projects { projects, queries, concurrency, external, client } => {
            projects::projects(projects.max(1), queries.max(1), concurrency.max(1), external, &client).await
        }
        BenchCommand::Web { firms, calls, concurrency, external, client } => {
            web::web(firms.max(1), calls.max(1), concurrency.max(1), external, &client).await
        }
        BenchCommand::Get { common } => registry(Scenario::Get, &common).await,
        BenchCommand::Write { common } => registry(Scenario::Write, &common).await,
        BenchCommand::List { common } => registry(Scenario::List, &common).await,
        BenchCommand::Watch { common } => registry(Scenario::Watch, &common).await,
        BenchCommand::Soak { firms, clients, seconds, external, client } => {
            soak(firms.max(1), clients.max(1), seconds.max(1), external, &client).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn suggest(
    postings: usize,
    firms: usize,
    queries: usize,
    concurrency: usize,
    load_concurrency: usize,
    seed: u64,
    external: bool,
    args: &ClientArgs,
) -> Result<(), String> {
    let target = Target::start(args, external).await?;
    eprintln!("loading {firms} firms and {postings} postings …");
    let (codes, firm_load) = load_firms(&target, firms, seed).await?;
    let industries = sample::industries();
    let mut rng = Rng::new(seed);
    let batch: Vec<v1::Posting> = (0..postings)
        .map(|_| {
            let n = rng.below(codes.len());
            sample::posting(&mut rng, &codes[n], Some(industries[n % industries.len()]))
        })
        .collect();
    // The server admits 64 requests per connection: loading at a higher
    // concurrency spreads the calls over several connections.
    let mut loaders = Vec::new();
    for _ in 0..load_concurrency.div_ceil(32).max(1) {
        loaders.push(SupplyDemandServiceClient::new(connect(&target.client).await?));
    }
    let names = std::sync::Arc::new(std::sync::Mutex::new(Vec::with_capacity(postings)));
    let load = {
        let (batch, names) = (std::sync::Arc::new(batch), names.clone());
        timed(postings, load_concurrency, false, move |i| {
            let mut c = loaders[i % loaders.len()].clone();
            let p = batch[i].clone();
            let names = names.clone();
            async move {
                let created =
                    c.create_posting(v1::CreatePostingRequest { posting: Some(p), ..Default::default() }).await?;
                if let Ok(mut names) = names.lock() {
                    names.push(created.into_inner().name);
                }
                Ok(())
            }
        })
        .await?
    };
    let names: Vec<String> = names.lock().map(|n| n.clone()).unwrap_or_default();
    if names.is_empty() {
        return Err("no posting was created".into());
    }

    eprintln!("timing {queries} suggestions at concurrency {concurrency} …");
    let sd = SupplyDemandServiceClient::new(connect(&target.client).await?);
    let picks: std::sync::Arc<Vec<String>> =
        std::sync::Arc::new((0..queries).map(|_| names[rng.below(names.len())].clone()).collect());
    let examined = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let run = |n: usize| {
        let (picks, client, examined) = (picks.clone(), sd.clone(), examined.clone());
        timed(n, concurrency, true, move |i| {
            let mut c = client.clone();
            let name = picks[i].clone();
            let examined = examined.clone();
            async move {
                let r = c.suggest_matches(v1::SuggestMatchesRequest { posting: name, ..Default::default() }).await?;
                examined.fetch_add(r.into_inner().candidates_examined as u64, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
        })
    };
    // Warm the caches the way a running server's are, then time.
    run(queries.min(200)).await?;
    examined.store(0, std::sync::atomic::Ordering::Relaxed);
    let suggest = run(queries).await?;
    let floor = ping_floor(&target, queries, concurrency).await?;
    let avg_examined = examined.load(std::sync::atomic::Ordering::Relaxed) as f64 / queries.max(1) as f64;
    report(
        "suggest",
        &target,
        &firm_load,
        concurrency,
        &[("CreatePosting (load, durable)", load), ("SuggestMatches", suggest), ("Ping (floor)", floor)],
        &[
            ("open_postings", names.len() as f64),
            ("p99_over_floor_p99", suggest.p99 / floor.p99.max(1e-9)),
            ("candidates_examined_avg", avg_examined),
        ],
        args.json,
    );
    Ok(())
}

/// `Ping` (the empty RPC) timed `n` times at `concurrency`: the floor every
/// scenario's calls are read against.
async fn ping_floor(target: &Target, n: usize, concurrency: usize) -> Result<Latency, String> {
    let client = EnterpriseServiceClient::new(connect(&target.client).await?);
    timed(n, concurrency, true, move |_| {
        let mut c = client.clone();
        async move { c.ping(()).await.map(|_| ()) }
    })
    .await
}

/// The registry scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Watch,
    Get,
    Write,
    List,
}

/// The calls of the soak, in the order of their shares.
const SOAK_CALLS: [&str; 4] =
    ["GetEnterprise", "ListEnterprises (filtered page)", "UpdateEnterprise (etag)", "ListChanges"];

/// What one soak client saw: each call's latencies, etag conflicts, errors.
#[derive(Default)]
struct SoakTally {
    samples: [Vec<Duration>; 4],
    conflicts: u64,
    errors: Vec<String>,
}

async fn soak(firms: usize, clients_n: usize, seconds: u64, external: bool, args: &ClientArgs) -> Result<(), String> {
    let target = Target::start(args, external).await?;
    eprintln!("loading {firms} firms …");
    let (codes, load) = load_firms(&target, firms, 4754).await?;
    let codes = std::sync::Arc::new(codes);
    let pool = clients(&target, clients_n).await?;
    let changes = crate::pb::v1::change_service_client::ChangeServiceClient::new(connect(&target.client).await?);
    eprintln!("soaking with {clients_n} clients for {seconds} s …");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..clients_n {
        let (mut c, mut feed, codes) = (pool[w % pool.len()].clone(), changes.clone(), codes.clone());
        tasks.spawn(async move {
            let mut rng = Rng::new(w as u64 + 1);
            let mut tally = SoakTally::default();
            let zones = ["east", "west", "north", "south"];
            while Instant::now() < deadline {
                let roll = rng.below(100);
                let name = format!("enterprises/{}", rng.pick(&codes));
                let t = Instant::now();
                let (kind, outcome) = match roll {
                    0..60 => (0, c.get_enterprise(v1::GetEnterpriseRequest { name }).await.map(|_| ())),
                    60..80 => {
                        let filter = format!("zone = {} AND industry_code = C", rng.pick(&zones));
                        let request = v1::ListEnterprisesRequest { filter, page_size: 50, ..Default::default() };
                        (1, c.list_enterprises(request).await.map(|_| ()))
                    }
                    80..95 => {
                        let got = c.get_enterprise(v1::GetEnterpriseRequest { name: name.clone() }).await;
                        let outcome = match got {
                            Ok(e) => {
                                let e = e.into_inner();
                                let patch = v1::Enterprise {
                                    name,
                                    notes: format!("soak {w} {}", rng.next_u64()),
                                    etag: e.etag,
                                    ..Default::default()
                                };
                                let request = v1::UpdateEnterpriseRequest {
                                    enterprise: Some(patch),
                                    update_mask: Some(prost_types::FieldMask { paths: vec!["notes".into()] }),
                                    ..Default::default()
                                };
                                c.update_enterprise(request).await.map(|_| ())
                            }
                            Err(e) => Err(e),
                        };
                        (2, outcome)
                    }
                    _ => {
                        let request = v1::ListChangesRequest { page_size: 100, ..Default::default() };
                        (3, feed.list_changes(request).await.map(|_| ()))
                    }
                };
                match outcome {
                    Ok(()) => tally.samples[kind].push(t.elapsed()),
                    Err(status) if status.code() == tonic::Code::Aborted => tally.conflicts += 1,
                    Err(status) => {
                        if tally.errors.len() < 5 {
                            tally.errors.push(crate::cli::render::status_error(&status));
                        }
                        tally.samples[kind].push(t.elapsed());
                    }
                }
            }
            tally
        });
    }
    // The server's memory every 10 s while the clients run.
    let mut rss = Vec::new();
    let mut next = started;
    while !tasks.is_empty() && Instant::now() < deadline + Duration::from_secs(30) {
        if Instant::now() >= next {
            rss.push((started.elapsed().as_secs(), target.rss_mib()));
            next += Duration::from_secs(10);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if Instant::now() >= deadline {
            break;
        }
    }
    let mut total = SoakTally::default();
    let mut failed = 0usize;
    while let Some(done) = tasks.join_next().await {
        let tally = done.map_err(|e| format!("a soak client failed: {e}"))?;
        for (all, mine) in total.samples.iter_mut().zip(tally.samples) {
            all.extend(mine);
        }
        total.conflicts += tally.conflicts;
        failed += tally.errors.len();
        total.errors.extend(tally.errors);
    }
    rss.push((started.elapsed().as_secs(), target.rss_mib()));
    let wall = started.elapsed();
    let rows: Vec<(&str, Latency)> =
        SOAK_CALLS.iter().zip(total.samples).map(|(name, samples)| (*name, Latency::of(samples, wall))).collect();
    let rss_line: Vec<String> = rss.iter().filter_map(|(s, m)| m.map(|m| format!("{s}s {m:.0}"))).collect();
    if args.json {
        let v = json!({
            "scenario": "soak", "machine": machine(), "firms": firms, "clients": clients_n, "seconds": seconds,
            "runs": rows.iter().map(|(name, l)| {
                let mut run = l.json();
                run["name"] = json!(name);
                run
            }).collect::<Vec<_>>(),
            "etag_conflicts": total.conflicts, "errors": failed, "first_errors": total.errors,
            "rss_mib": rss.iter().map(|(s, m)| json!({"second": s, "mib": m.map(round)})).collect::<Vec<_>>(),
            "server_peak_rss_mib": target.peak_rss_mib().map(round),
        });
        println!("{v}");
        return if failed > 0 { Err(format!("{failed} calls failed")) } else { Ok(()) };
    }
    report("soak", &target, &load, clients_n, &rows, &[], false);
    println!("etag conflicts (expected between concurrent editors): {}", total.conflicts);
    println!(
        "other errors: {failed}{}",
        if total.errors.is_empty() { String::new() } else { format!(" ({})", total.errors.join("; ")) }
    );
    println!("server RSS (MiB) every 10 s: {}", rss_line.join(", "));
    if failed > 0 {
        return Err(format!("{failed} calls failed"));
    }
    Ok(())
}

/// `n` clients over connections of at most 32 calls each (the server
/// admits 64 per connection).
async fn clients(target: &Target, concurrency: usize) -> Result<Vec<EnterpriseServiceClient<Intercepted>>, String> {
    let mut out = Vec::new();
    for _ in 0..concurrency.div_ceil(32).max(1) {
        out.push(EnterpriseServiceClient::new(connect(&target.client).await?));
    }
    Ok(out)
}

/// Sample firms `0..n` of the project's generator ([`sample::firm`]).
fn sample_firms(n: usize, seed: u64) -> Vec<v1::Enterprise> {
    let mut rng = Rng::new(seed);
    (0..n as u64).filter_map(|i| sample::firm(&mut rng, i)).collect()
}

/// What streaming one sync took.
#[derive(Debug, Clone, Copy)]
struct Streamed {
    rows: usize,
    created: i64,
    updated: i64,
    unchanged: i64,
    failed: i64,
    elapsed: Duration,
}

impl Streamed {
    fn per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Streams `firms` through one SyncEnterprises call (upsert mode, every
/// field sent) and waits for the run's answer, which comes once every chunk
/// is durable.
async fn stream_sync(target: &Target, firms: &std::sync::Arc<Vec<v1::Enterprise>>) -> Result<Streamed, String> {
    use crate::pb::v1::sync_enterprises_request::Message;
    let mut client =
        crate::pb::v1::sync_service_client::SyncServiceClient::new(connect_with(&target.client, None).await?);
    let (tx, rx) = tokio::sync::mpsc::channel::<v1::SyncEnterprisesRequest>(1024);
    let header = v1::SyncHeader { source: "bench".into(), mode: v1::SyncMode::Upsert as i32, dry_run: false };
    let rows = std::sync::Arc::clone(firms);
    let feeder = tokio::spawn(async move {
        if tx.send(v1::SyncEnterprisesRequest { message: Some(Message::Header(header)) }).await.is_err() {
            return;
        }
        for (i, e) in rows.iter().enumerate() {
            let row = v1::SyncRow { row_number: i as i64 + 2, enterprise: Some(e.clone()), ..Default::default() };
            if tx.send(v1::SyncEnterprisesRequest { message: Some(Message::Row(row)) }).await.is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let run = client
        .sync_enterprises(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(|s| crate::cli::render::status_error(&s))?
        .into_inner();
    let elapsed = started.elapsed();
    let _ = feeder.await;
    Ok(Streamed {
        rows: run.rows as usize,
        created: run.created,
        updated: run.updated,
        unchanged: run.unchanged,
        failed: run.failed,
        elapsed,
    })
}

/// Loads `n` sample firms through one sync, returning their codes and the
/// load's figures.
async fn load_firms(target: &Target, n: usize, seed: u64) -> Result<(Vec<String>, Streamed), String> {
    let firms = std::sync::Arc::new(sample_firms(n, seed));
    let load = stream_sync(target, &firms).await?;
    if load.failed > 0 {
        return Err(format!("{} sample rows failed to sync", load.failed));
    }
    Ok((firms.iter().map(|e| e.credit_code.clone()).collect(), load))
}

/// The records the sync rule makes of `firms` when they are new: what the
/// floor writes.
fn floor_records(firms: &[v1::Enterprise]) -> Result<Vec<crate::domain::enterprise::Enterprise>, String> {
    let rules = crate::domain::enterprise::Rules::default();
    let now = crate::domain::time::now_micros();
    firms
        .iter()
        .map(|e| {
            let row = crate::api::convert::enterprise_from_pb(e.clone());
            crate::domain::sync::apply_row(None, row, &[], &rules, *uuid::Uuid::new_v4().as_bytes(), now)
                .map(|(_, record)| record)
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Runs the raw-sled floor on a temporary store next to the benchmark's.
fn floor(records: &[crate::domain::enterprise::Enterprise], what: FloorKeys) -> Result<FloorRun, String> {
    let dir = std::env::temp_dir().join(format!("ladder-floor-{}-{what:?}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = floor::sync_floor(&StoreOptions::new(&dir), records, CHUNK_ROWS, what).map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    run
}

/// `ladder bench sync`.
async fn sync(n: usize, seed: u64, external: bool, args: &ClientArgs) -> Result<(), String> {
    eprintln!("generating {n} sample firms …");
    let firms = std::sync::Arc::new(sample_firms(n, seed));
    let records = floor_records(&firms)?;
    eprintln!("raw-sled floors …");
    let same = floor(&records, FloorKeys::Same)?;
    let record_only = floor(&records, FloorKeys::RecordOnly)?;
    drop(records);
    let mut target = Target::start(args, external).await?;
    eprintln!("syncing {n} firms …");
    let first = stream_sync(&target, &firms).await?;
    let (rss, disk) = (target.peak_rss_mib(), target.disk_mib());
    eprintln!("syncing them again (unchanged) …");
    let again = stream_sync(&target, &firms).await?;
    eprintln!("restarting the server on the store …");
    let reopen = target.reopen().await?;
    let rate = |rows: usize, d: Duration| rows as f64 / d.as_secs_f64().max(1e-9);
    let sync_rate = first.per_second();
    let floor_rate = rate(same.rows, same.elapsed);
    let rows = [
        ("SyncEnterprises, new firms (durable)", first.rows, first.elapsed, None),
        ("SyncEnterprises, same rows again", again.rows, again.elapsed, None),
        ("raw sled, same keys (floor)", same.rows, same.elapsed, Some(same.keys)),
        ("raw sled, record only", record_only.rows, record_only.elapsed, Some(record_only.keys)),
    ];
    let ratio = sync_rate / floor_rate.max(1e-9);
    if args.json {
        let v = json!({
            "scenario": "sync", "machine": machine(), "firms": n,
            "runs": rows.iter().map(|(name, r, d, keys)| json!({
                "name": name, "rows": r, "seconds": round(d.as_secs_f64()), "rows_per_second": round(rate(*r, *d)),
                "keys_per_row": keys.map(|k| round(k as f64 / (*r).max(1) as f64)),
            })).collect::<Vec<_>>(),
            "created": first.created, "updated_again": again.updated, "unchanged_again": again.unchanged,
            "sync_over_floor": round(ratio),
            "server_peak_rss_mib": rss.map(round), "store_disk_mib": disk.map(round),
            "reopen_seconds": reopen.map(|d| round(d.as_secs_f64())),
        });
        println!("{v}");
        return Ok(());
    }
    let m = machine();
    println!(
        "sync: {n} firms; {} cores, {} GiB; {CHUNK_ROWS} rows per atomic batch and flush",
        m["cores"], m["memory_gib"]
    );
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(name, r, d, keys)| {
            vec![
                name.to_string(),
                r.to_string(),
                format!("{:.1}", d.as_secs_f64()),
                format!("{:.0}", rate(*r, *d)),
                keys.map(|k| format!("{:.1}", k as f64 / (*r).max(1) as f64)).unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(&["运行 RUN", "行数 ROWS", "秒 SECONDS", "行/秒 ROWS/S", "键/行 KEYS/ROW"], &table_rows)
    );
    println!("created {}, then unchanged {} (updated {})", first.created, again.unchanged, again.updated);
    println!("sync_over_floor = {ratio:.2}");
    if let (Some(rss), Some(disk)) = (rss, disk) {
        println!("server peak RSS during the sync {rss:.0} MiB; store on disk after it {disk:.0} MiB");
    }
    if let Some(reopen) = reopen {
        println!("restart: store opened and index rebuilt, first answer after {:.2} s", reopen.as_secs_f64());
    }
    Ok(())
}

/// Puts sample firms on the ladder and in alliances, so the list scenario's
/// stage and alliance conditions select real firms: every fifth firm gets
/// its sample designations (most a tech SME, a quarter high-tech, a few
/// elite), and every fourth firm of an industry with an alliance joins it.
async fn climb_and_join(
    target: &Target,
    n: usize,
    seed: u64,
    concurrency: usize,
) -> Result<(Latency, Latency), String> {
    use crate::pb::v1::alliance_service_client::AllianceServiceClient;
    use crate::pb::v1::cultivation_service_client::CultivationServiceClient;
    let firms = sample_firms(n, seed);
    let year = i32::try_from(crate::domain::time::Date::today().ymd().0).unwrap_or(2026);
    let mut rng = Rng::new(seed);
    let mut grants: Vec<v1::CreateDesignationRequest> = Vec::new();
    // Request ids make a second run against the same (external) store a
    // replay, not a second set of designations.
    for (i, e) in firms.iter().enumerate().step_by(5) {
        for (k, d) in sample::designations(&mut rng, i, year).into_iter().enumerate() {
            grants.push(v1::CreateDesignationRequest {
                parent: format!("enterprises/{}", e.credit_code),
                designation: Some(d),
                request_id: format!("bench-designation-{seed}-{i}-{k}"),
                ..Default::default()
            });
        }
    }
    let joins: Vec<v1::CreateMembershipRequest> = firms
        .iter()
        .step_by(4)
        .filter_map(|e| {
            Some(v1::CreateMembershipRequest {
                parent: format!("alliances/{}", sample::alliance_for(&e.industry_code)?),
                credit_code: e.credit_code.clone(),
                membership: Some(v1::Membership { role: v1::MembershipRole::Member as i32, ..Default::default() }),
                request_id: format!("bench-membership-{seed}-{}", e.credit_code),
                ..Default::default()
            })
        })
        .collect();
    let mut channels = Vec::new();
    for _ in 0..concurrency.div_ceil(32).max(1) {
        channels.push(connect(&target.client).await?);
    }
    let (grants, joins) = (std::sync::Arc::new(grants), std::sync::Arc::new(joins));
    let cultivation: Vec<_> = channels.iter().cloned().map(CultivationServiceClient::new).collect();
    let designations = timed(grants.len(), concurrency, false, move |i| {
        let mut c = cultivation[i % cultivation.len()].clone();
        let request = grants[i].clone();
        async move { c.create_designation(request).await.map(|_| ()) }
    })
    .await?;
    let alliances: Vec<_> = channels.into_iter().map(AllianceServiceClient::new).collect();
    let memberships = timed(joins.len(), concurrency, false, move |i| {
        let mut c = alliances[i % alliances.len()].clone();
        let request = joins[i].clone();
        async move { c.create_membership(request).await.map(|_| ()) }
    })
    .await?;
    Ok((designations, memberships))
}

/// Call `i`'s update: the notes of one of a spread of firms (not one hot
/// record) set to `{label} {i}`.
fn notes_update(codes: &[String], i: usize, label: &str) -> v1::UpdateEnterpriseRequest {
    let e = v1::Enterprise {
        name: format!("enterprises/{}", codes[(i * 7919) % codes.len()]),
        notes: format!("{label} {i}"),
        ..Default::default()
    };
    v1::UpdateEnterpriseRequest {
        enterprise: Some(e),
        update_mask: Some(prost_types::FieldMask { paths: vec!["notes".into()] }),
        ..Default::default()
    }
}

/// Runs `calls` durable updates at `concurrency` while one follower watches
/// the change feed. Returns the writes' latencies, then each change's
/// arrival at the follower timed from its call's start and from its
/// acknowledgement (0 when it arrived first: the head moves before the
/// writer answers).
async fn watch_lag(
    target: &Target,
    pool: &[EnterpriseServiceClient<Intercepted>],
    codes: &std::sync::Arc<Vec<String>>,
    calls: usize,
    concurrency: usize,
) -> Result<(Latency, Latency, Latency), String> {
    use crate::pb::v1::change_service_client::ChangeServiceClient;
    use std::sync::{Arc, Mutex};
    let mut changes = ChangeServiceClient::new(connect_with(&target.client, None).await?);
    let request = v1::WatchChangesRequest { resource_prefix: "enterprises/".into(), ..Default::default() };
    let mut stream =
        changes.watch_changes(request).await.map_err(|s| crate::cli::render::status_error(&s))?.into_inner();
    // Arrival time of the change that wrote `benchmark watch {i}`.
    let arrivals: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; calls]));
    let follower = {
        let arrivals = Arc::clone(&arrivals);
        tokio::spawn(async move {
            let mut seen = 0;
            while let Ok(Some(change)) = stream.message().await {
                let at = Instant::now();
                let i = change
                    .field_changes
                    .iter()
                    .find_map(|f| f.new_value.strip_prefix("benchmark watch ").and_then(|n| n.parse::<usize>().ok()));
                if let (Some(i), Ok(mut arrivals)) = (i, arrivals.lock()) {
                    if let Some(slot) = arrivals.get_mut(i) {
                        *slot = Some(at);
                        seen += 1;
                    }
                }
                if seen == arrivals.lock().map(|a| a.len()).unwrap_or(0) {
                    return;
                }
            }
        })
    };
    let sent: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::new(Mutex::new(vec![(Instant::now(), Instant::now()); calls]));
    let started = Instant::now();
    let write = {
        let (pool, codes, sent) = (pool.to_vec(), Arc::clone(codes), Arc::clone(&sent));
        timed(calls, concurrency, false, move |i| {
            let mut c = pool[i % pool.len()].clone();
            let request = notes_update(&codes, i, "benchmark watch");
            let sent = Arc::clone(&sent);
            async move {
                let start = Instant::now();
                c.update_enterprise(request).await?;
                if let Ok(mut sent) = sent.lock() {
                    sent[i] = (start, Instant::now());
                }
                Ok(())
            }
        })
        .await?
    };
    if tokio::time::timeout(Duration::from_secs(60), follower).await.is_err() {
        return Err("the follower did not receive every change within 60 s".into());
    }
    let wall = started.elapsed();
    let arrivals = arrivals.lock().map_err(|_| "poisoned")?.clone();
    let sent = sent.lock().map_err(|_| "poisoned")?.clone();
    let missing = arrivals.iter().filter(|a| a.is_none()).count();
    if missing > 0 {
        return Err(format!("{missing} of {calls} changes never reached the follower"));
    }
    let pairs = arrivals.iter().flatten().zip(&sent);
    let from_start = pairs.clone().map(|(at, (start, _))| at.saturating_duration_since(*start)).collect();
    let from_ack = pairs.map(|(at, (_, acked))| at.saturating_duration_since(*acked)).collect();
    Ok((write, Latency::of(from_start, wall), Latency::of(from_ack, wall)))
}

/// Runs a registry scenario and prints it next to its floor.
async fn registry(scenario: Scenario, a: &Common) -> Result<(), String> {
    let target = Target::start(&a.client, a.external).await?;
    eprintln!("loading {} firms …", a.firms);
    let (codes, load) = load_firms(&target, a.firms.max(1), 4754).await?;
    let codes = std::sync::Arc::new(codes);
    let mut loads: Vec<(&str, Latency)> = Vec::new();
    if scenario == Scenario::List {
        eprintln!("granting designations and memberships …");
        let (designations, memberships) = climb_and_join(&target, a.firms.max(1), 4754, a.load_concurrency).await?;
        loads.push(("CreateDesignation (load, durable)", designations));
        loads.push(("CreateMembership (load, durable)", memberships));
    }
    let pool = clients(&target, a.concurrency).await?;
    let (calls, concurrency) = (a.calls.max(1), a.concurrency.max(1));
    let mut rows: Vec<(&str, Latency)> = Vec::new();
    let floor = {
        let pool = pool.clone();
        timed(calls, concurrency, true, move |i| {
            let mut c = pool[i % pool.len()].clone();
            async move { c.ping(()).await.map(|_| ()) }
        })
        .await?
    };
    eprintln!("timing {calls} calls at concurrency {concurrency} …");
    match scenario {
        Scenario::Get => {
            let (pool, codes) = (pool.clone(), codes.clone());
            let get = timed(calls, concurrency, true, move |i| {
                let mut c = pool[i % pool.len()].clone();
                // A spread of firms, not one hot record.
                let name = format!("enterprises/{}", codes[(i * 7919) % codes.len()]);
                async move { c.get_enterprise(v1::GetEnterpriseRequest { name }).await.map(|_| ()) }
            })
            .await?;
            rows.push(("GetEnterprise", get));
        }
        Scenario::Watch => {
            let (write, delivered, after_ack) = watch_lag(&target, &pool, &codes, calls, concurrency).await?;
            rows.push(("UpdateEnterprise (durable)", write));
            rows.push(("WatchChanges delivery, from call start", delivered));
            rows.push(("WatchChanges delivery, after the ack", after_ack));
        }
        Scenario::Write => {
            let (pool, codes) = (pool.clone(), codes.clone());
            let write = timed(calls, concurrency, false, move |i| {
                let mut c = pool[i % pool.len()].clone();
                let request = notes_update(&codes, i, "benchmark write");
                async move { c.update_enterprise(request).await.map(|_| ()) }
            })
            .await?;
            rows.push(("UpdateEnterprise (durable)", write));
        }
        Scenario::List => {
            let filter = a.filter.clone();
            let first = {
                let (pool, filter) = (pool.clone(), filter.clone());
                timed(calls, concurrency, true, move |i| {
                    let mut c = pool[i % pool.len()].clone();
                    let request =
                        v1::ListEnterprisesRequest { filter: filter.clone(), page_size: 100, ..Default::default() };
                    async move { c.list_enterprises(request).await.map(|_| ()) }
                })
                .await?
            };
            // The token of the tenth page, then that page timed.
            let mut c = pool[0].clone();
            let mut token = String::new();
            for _ in 0..9 {
                let page = c
                    .list_enterprises(v1::ListEnterprisesRequest {
                        filter: filter.clone(),
                        page_size: 100,
                        page_token: token.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|s| crate::cli::render::status_error(&s))?
                    .into_inner();
                token = page.next_page_token;
                if token.is_empty() {
                    break;
                }
            }
            let deep = {
                let (pool, filter, token) = (pool.clone(), filter.clone(), token.clone());
                timed(calls, concurrency, true, move |i| {
                    let mut c = pool[i % pool.len()].clone();
                    let request = v1::ListEnterprisesRequest {
                        filter: filter.clone(),
                        page_size: 100,
                        page_token: token.clone(),
                        ..Default::default()
                    };
                    async move { c.list_enterprises(request).await.map(|_| ()) }
                })
                .await?
            };
            rows.push(("ListEnterprises, first page", first));
            rows.push(if token.is_empty() {
                ("ListEnterprises, last page (<10)", deep)
            } else {
                ("ListEnterprises, page 10", deep)
            });
        }
    }
    rows.push(("Ping (floor)", floor));
    let measured = rows[0].1;
    rows.extend(loads);
    let name = match scenario {
        Scenario::Get => "get",
        Scenario::Write => "write",
        Scenario::List => "list",
        Scenario::Watch => "watch",
    };
    report(
        name,
        &target,
        &load,
        concurrency,
        &rows,
        &[
            ("throughput_over_floor", measured.per_second / floor.per_second.max(1e-9)),
            ("p99_over_floor_p99", measured.p99 / floor.p99.max(1e-9)),
        ],
        a.client.json,
    );
    Ok(())
}

/// Prints a scenario's rows as a table, or as one JSON object.
fn report(
    scenario: &str,
    target: &Target,
    load: &Streamed,
    concurrency: usize,
    rows: &[(&str, Latency)],
    ratios: &[(&str, f64)],
    json_out: bool,
) {
    let rss = target.peak_rss_mib();
    let disk = target.disk_mib();
    if json_out {
        let mut v = json!({
            "scenario": scenario, "machine": machine(), "firms": load.rows, "concurrency": concurrency,
            "load": json!({ "rows": load.rows, "seconds": round(load.elapsed.as_secs_f64()),
                            "rows_per_second": round(load.per_second()) }),
            "calls": rows.iter().map(|(name, l)| { let mut j = l.json(); j["name"] = json!(name); j }).collect::<Vec<_>>(),
            "server_peak_rss_mib": rss.map(round), "store_disk_mib": disk.map(round),
        });
        for (k, x) in ratios {
            v[*k] = json!(round(*x));
        }
        println!("{v}");
        return;
    }
    let m = machine();
    let loaded = if scenario == "projects" { "projects (loaded through the API" } else { "firms (loaded by one sync" };
    println!(
        "{scenario}: {} {loaded} in {:.1}s, {:.0} rows/s); {} cores, {} GiB; concurrency {concurrency}",
        load.rows,
        load.elapsed.as_secs_f64(),
        load.per_second(),
        m["cores"],
        m["memory_gib"]
    );
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(name, l)| {
            vec![
                name.to_string(),
                l.calls.to_string(),
                format!("{:.0}", l.per_second),
                format!("{:.2}", l.p50),
                format!("{:.2}", l.p90),
                format!("{:.2}", l.p99),
                format!("{:.2}", l.p999),
                format!("{:.2}", l.max),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "调用 CALL",
                "次数 N",
                "每秒 PER S",
                "P50 毫秒 MS",
                "P90 毫秒 MS",
                "P99 毫秒 MS",
                "P99.9 毫秒 MS",
                "最大 MAX MS"
            ],
            &table_rows
        )
    );
    for (k, x) in ratios {
        println!("{k} = {x:.2}");
    }
    if let (Some(rss), Some(disk)) = (rss, disk) {
        println!("server peak RSS {rss:.0} MiB; store on disk {disk:.0} MiB");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_sorted_samples() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let l = Latency::of(samples, Duration::from_secs(2));
        assert_eq!((l.p50, l.p90, l.p99, l.p999, l.max), (50.0, 90.0, 99.0, 100.0, 100.0));
        assert_eq!(l.per_second, 50.0);
    }
}
