//! `ladder bench`: measures ladder on this machine and prints numbers, next
//! to the floor of the same run (an empty RPC on the same server).
//!
//! Without `--server`, the benchmark starts the real server binary on a
//! fresh store in a temporary directory (so the server's peak memory and
//! disk use are its own), loads realistic data through the public API and
//! removes the store afterwards.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Subcommand;
use serde_json::{json, Value};

use crate::cli::client::{connect, Intercepted};
use crate::cli::{table, ClientArgs};
use crate::domain::credit_code::CreditCode;
use crate::pb::v1;
use crate::pb::v1::enterprise_service_client::EnterpriseServiceClient;
use crate::pb::v1::supply_demand_service_client::SupplyDemandServiceClient;
use crate::sample::{self, Rng};

/// `ladder bench …`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// SuggestMatches latency at P open postings (p50/p90/p99/max), next to
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
    /// GetEnterprise at C concurrent clients (requests/s, p50/p90/p99/max)
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
    /// ListEnterprises pages of 100 with an industry + zone filter: the first
    /// page and a deep page (the tenth), next to an empty RPC.
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
    /// Calls in flight while loading.
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
            max: samples.last().copied().map(ms).unwrap_or(0.0),
        }
    }

    fn json(&self) -> Value {
        json!({ "calls": self.calls, "per_second": round(self.per_second), "p50_ms": round(self.p50),
                "p90_ms": round(self.p90), "p99_ms": round(self.p99), "max_ms": round(self.max) })
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
        let exe = std::env::current_exe().map_err(|e| format!("cannot find the ladder binary: {e}"))?;
        let child = std::process::Command::new(exe)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(&dir)
            .env("LADDER_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the server: {e}"))?;
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
/// call's latency and the wall time.
async fn timed<F, Fut>(n: usize, concurrency: usize, call: F) -> Result<Latency, String>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), tonic::Status>> + Send + 'static,
{
    let started = Instant::now();
    let mut samples = Vec::with_capacity(n);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let fut = call(i);
        tasks.spawn(async move {
            let t = Instant::now();
            fut.await.map(|()| t.elapsed())
        });
        while tasks.len() >= concurrency.max(1) {
            samples.push(joined(tasks.join_next().await)?);
        }
    }
    while let Some(done) = tasks.join_next().await {
        samples.push(joined(Some(done))?);
    }
    Ok(Latency::of(samples, started.elapsed()))
}

fn joined(done: Option<Result<Result<Duration, tonic::Status>, tokio::task::JoinError>>) -> Result<Duration, String> {
    match done {
        Some(Ok(Ok(d))) => Ok(d),
        Some(Ok(Err(status))) => Err(crate::cli::render::status_error(&status)),
        Some(Err(e)) => Err(format!("task failed: {e}")),
        None => Err("no task".into()),
    }
}

/// The credit code of sample firm `n` (valid, unique per n).
fn firm_code(n: usize) -> Result<String, String> {
    let org = sample::organisation_code("BM", n as u64);
    CreditCode::from_parts("91", "610116", &org).map(|c| c.as_str().to_string()).map_err(|e| e.to_string())
}

/// Runs `ladder bench …`.
pub async fn bench(cmd: BenchCommand) -> ExitCode {
    let result = match cmd {
        BenchCommand::Suggest { postings, firms, queries, concurrency, load_concurrency, seed, external, client } => {
            suggest(postings, firms.max(2), queries, concurrency, load_concurrency, seed, external, &client).await
        }
        BenchCommand::Get { common } => registry(Scenario::Get, &common).await,
        BenchCommand::Write { common } => registry(Scenario::Write, &common).await,
        BenchCommand::List { common } => registry(Scenario::List, &common).await,
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
    let (codes, firm_load) = load_firms(&target, firms, load_concurrency).await?;
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
        timed(postings, load_concurrency, move |i| {
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
        timed(n, concurrency, move |i| {
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
    let floor = {
        let client = EnterpriseServiceClient::new(connect(&target.client).await?);
        timed(queries, concurrency, move |_| {
            let mut c = client.clone();
            async move { c.ping(()).await.map(|_| ()) }
        })
        .await?
    };
    let avg_examined = examined.load(std::sync::atomic::Ordering::Relaxed) as f64 / queries.max(1) as f64;
    report(
        "suggest",
        &target,
        firms,
        concurrency,
        &[
            ("CreateEnterprise (load, durable)", firm_load),
            ("CreatePosting (load, durable)", load),
            ("SuggestMatches", suggest),
            ("Ping (floor)", floor),
        ],
        &[
            ("open_postings", names.len() as f64),
            ("p99_over_floor_p99", suggest.p99 / floor.p99.max(1e-9)),
            ("candidates_examined_avg", avg_examined),
        ],
        args.json,
    );
    Ok(())
}

/// The registry scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Get,
    Write,
    List,
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

/// Registers `n` sample firms (industries of the zone, 80% in zone `east`),
/// returning their codes and the load's figures.
async fn load_firms(target: &Target, n: usize, concurrency: usize) -> Result<(Vec<String>, Latency), String> {
    let codes: Vec<String> = (0..n).map(firm_code).collect::<Result<_, _>>()?;
    let loaders = clients(target, concurrency).await?;
    let industries = sample::industries();
    let shared = std::sync::Arc::new(codes.clone());
    let load = timed(n, concurrency, move |i| {
        let mut c = loaders[i % loaders.len()].clone();
        let e = v1::Enterprise {
            credit_code: shared[i].clone(),
            display_name: format!("西安样例科技有限公司{i}"),
            industry_code: industries[i % industries.len()].to_string(),
            promotion_zone: if i % 5 == 0 { String::new() } else { "east".into() },
            ..Default::default()
        };
        async move {
            match c.create_enterprise(v1::CreateEnterpriseRequest { enterprise: Some(e), ..Default::default() }).await {
                Ok(_) => Ok(()),
                // Re-running against the same external store.
                Err(s) if s.code() == tonic::Code::AlreadyExists => Ok(()),
                Err(s) => Err(s),
            }
        }
    })
    .await?;
    Ok((codes, load))
}

/// Runs a registry scenario and prints it next to its floor.
async fn registry(scenario: Scenario, a: &Common) -> Result<(), String> {
    let target = Target::start(&a.client, a.external).await?;
    eprintln!("loading {} firms …", a.firms);
    let (codes, load) = load_firms(&target, a.firms.max(1), a.load_concurrency).await?;
    let codes = std::sync::Arc::new(codes);
    let pool = clients(&target, a.concurrency).await?;
    let (calls, concurrency) = (a.calls.max(1), a.concurrency.max(1));
    let mut rows: Vec<(&str, Latency)> = vec![("CreateEnterprise (load, durable)", load)];
    let floor = {
        let pool = pool.clone();
        timed(calls, concurrency, move |i| {
            let mut c = pool[i % pool.len()].clone();
            async move { c.ping(()).await.map(|_| ()) }
        })
        .await?
    };
    eprintln!("timing {calls} calls at concurrency {concurrency} …");
    match scenario {
        Scenario::Get => {
            let (pool, codes) = (pool.clone(), codes.clone());
            let get = timed(calls, concurrency, move |i| {
                let mut c = pool[i % pool.len()].clone();
                // A spread of firms, not one hot record.
                let name = format!("enterprises/{}", codes[(i * 7919) % codes.len()]);
                async move { c.get_enterprise(v1::GetEnterpriseRequest { name }).await.map(|_| ()) }
            })
            .await?;
            rows.push(("GetEnterprise", get));
        }
        Scenario::Write => {
            let (pool, codes) = (pool.clone(), codes.clone());
            let write = timed(calls, concurrency, move |i| {
                let mut c = pool[i % pool.len()].clone();
                let e = v1::Enterprise {
                    name: format!("enterprises/{}", codes[(i * 7919) % codes.len()]),
                    notes: format!("benchmark write {i}"),
                    ..Default::default()
                };
                let request = v1::UpdateEnterpriseRequest {
                    enterprise: Some(e),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["notes".into()] }),
                    ..Default::default()
                };
                async move { c.update_enterprise(request).await.map(|_| ()) }
            })
            .await?;
            rows.push(("UpdateEnterprise (durable)", write));
        }
        Scenario::List => {
            let filter = "industry_code = C3841 AND zone = east".to_string();
            let first = {
                let (pool, filter) = (pool.clone(), filter.clone());
                timed(calls, concurrency, move |i| {
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
                timed(calls, concurrency, move |i| {
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
    let measured = rows[1].1;
    let name = match scenario {
        Scenario::Get => "get",
        Scenario::Write => "write",
        Scenario::List => "list",
    };
    report(
        name,
        &target,
        a.firms,
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
    firms: usize,
    concurrency: usize,
    rows: &[(&str, Latency)],
    ratios: &[(&str, f64)],
    json_out: bool,
) {
    let rss = target.peak_rss_mib();
    let disk = target.disk_mib();
    if json_out {
        let mut v = json!({
            "scenario": scenario, "machine": machine(), "firms": firms, "concurrency": concurrency,
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
    println!("{scenario}: {firms} firms; {} cores, {} GiB; concurrency {concurrency}", m["cores"], m["memory_gib"]);
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
                format!("{:.2}", l.max),
            ]
        })
        .collect();
    print!("{}", table::render(&["CALL", "N", "PER S", "P50 MS", "P90 MS", "P99 MS", "MAX MS"], &table_rows));
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
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(l.per_second, 50.0);
        assert!(firm_code(0).is_ok() && firm_code(0).unwrap() != firm_code(1).unwrap());
    }
}
