//! `ladder bench web`: the web workspace's JSON mapping at N firms (default
//! 100,000). Loads them by sync, then times the calls its pages make, sent
//! as a browser sends them (JSON over keep-alive HTTP/1.1 connections, one
//! per worker): WhoAmI (the floor of the web path), GetEnterprise, a
//! ListEnterprises page of 50 by name substring and one by an indexed
//! filter, and GetFunnel; next to the same GetEnterprise and filtered page
//! over gRPC and the gRPC Ping floor. The gaps between the JSON and gRPC rows
//! are what the JSON mapping costs.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{connect, load_firms, ping_floor, report, timed, Latency, Target};
use crate::cli::ClientArgs;
use crate::pb::v1;
use crate::pb::v1::enterprise_service_client::EnterpriseServiceClient;

/// One JSON call: method (`Service/Method`) and body, for call `i`.
type Call = Arc<dyn Fn(usize) -> (String, String) + Send + Sync>;

/// Loads `firms`, then times each page call `calls` times at `concurrency`.
pub(super) async fn web(
    firms: usize,
    calls: usize,
    concurrency: usize,
    external: bool,
    args: &ClientArgs,
) -> Result<(), String> {
    let target = Target::start(args, external).await?;
    eprintln!("loading {firms} firms …");
    let (codes, load) = load_firms(&target, firms, 4754).await?;
    let codes = Arc::new(codes);
    let addr = target
        .client
        .server
        .strip_prefix("http://")
        .ok_or("the web bench speaks plain HTTP: give an http:// server")?
        .trim_end_matches('/')
        .to_string();
    let token = target.client.token.clone();
    let json = |method: &'static str, body: fn(&[String], usize) -> String| -> (&'static str, Call) {
        let codes = Arc::clone(&codes);
        (method, Arc::new(move |i| (method.to_string(), body(&codes, i))))
    };
    let scenarios: Vec<(&str, Call)> = vec![
        json("EnterpriseService/WhoAmI", |_, _| "{}".into()),
        json("EnterpriseService/GetEnterprise", |codes, i| {
            format!(r#"{{"name":"enterprises/{}"}}"#, codes[(i * 7919) % codes.len()])
        }),
        json("EnterpriseService/ListEnterprises", |_, _| r#"{"page_size":50,"filter":"display_name:\"航天\""}"#.into()),
        json("EnterpriseService/ListEnterprises", |_, _| {
            r#"{"page_size":50,"filter":"zone = \"east\" AND industry_code = \"C37\""}"#.into()
        }),
        json("CultivationService/GetFunnel", |_, _| r#"{"filter":"zone = \"east\""}"#.into()),
    ];
    let labels = [
        "JSON WhoAmI (web floor)",
        "JSON GetEnterprise",
        "JSON ListEnterprises 50, name contains 航天",
        "JSON ListEnterprises 50, zone + industry",
        "JSON GetFunnel, one zone",
    ];
    let mut rows = Vec::new();
    for ((method, call), label) in scenarios.into_iter().zip(labels) {
        eprintln!("timing {calls} × {method} over HTTP/1.1 at concurrency {concurrency} …");
        let (addr, token) = (addr.clone(), token.clone());
        let latency =
            tokio::task::spawn_blocking(move || http_timed(&addr, token.as_deref(), calls, concurrency, call))
                .await
                .map_err(|e| format!("timing failed: {e}"))??;
        rows.push((label, latency));
    }
    let client = EnterpriseServiceClient::new(connect(&target.client).await?);
    let grpc_get = {
        let codes = Arc::clone(&codes);
        timed(calls, concurrency, true, move |i| {
            let mut c = client.clone();
            let name = format!("enterprises/{}", codes[(i * 7919) % codes.len()]);
            async move { c.get_enterprise(v1::GetEnterpriseRequest { name }).await.map(|_| ()) }
        })
        .await?
    };
    rows.push(("gRPC GetEnterprise", grpc_get));
    let list = EnterpriseServiceClient::new(connect(&target.client).await?);
    let grpc_list = timed(calls, concurrency, true, move |_| {
        let mut c = list.clone();
        let request = v1::ListEnterprisesRequest {
            page_size: 50,
            filter: r#"zone = "east" AND industry_code = "C37""#.into(),
            ..Default::default()
        };
        async move { c.list_enterprises(request).await.map(|_| ()) }
    })
    .await?;
    rows.push(("gRPC ListEnterprises 50, zone + industry", grpc_list));
    rows.push(("gRPC Ping (floor)", ping_floor(&target, calls, concurrency).await?));
    let (json_get, json_list) = (rows[1].1, rows[3].1);
    report(
        "web",
        &target,
        &load,
        concurrency,
        &rows,
        &[
            ("firms", firms as f64),
            ("json_get_p50_over_grpc_get_p50", json_get.p50 / grpc_get.p50.max(1e-9)),
            ("json_list_p50_over_grpc_list_p50", json_list.p50 / grpc_list.p50.max(1e-9)),
        ],
        args.json,
    );
    Ok(())
}

/// Times `n` JSON calls over `concurrency` keep-alive connections.
fn http_timed(addr: &str, token: Option<&str>, n: usize, concurrency: usize, call: Call) -> Result<Latency, String> {
    let workers = concurrency.clamp(1, n.max(1));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (addr, token, call, next) =
                (addr.to_string(), token.map(String::from), Arc::clone(&call), next.clone());
            std::thread::spawn(move || -> Result<Vec<Duration>, String> {
                let mut conn = Connection::open(&addr)?;
                // One untimed call warms the connection.
                let (method, body) = call(0);
                conn.post(&addr, token.as_deref(), &method, &body)?;
                let mut samples = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok(samples);
                    }
                    let (method, body) = call(i);
                    let t = Instant::now();
                    conn.post(&addr, token.as_deref(), &method, &body)?;
                    samples.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut samples = Vec::with_capacity(n);
    for h in handles {
        samples.extend(h.join().map_err(|_| "a timing thread panicked".to_string())??);
    }
    Ok(Latency::of(samples, started.elapsed()))
}

/// A keep-alive HTTP/1.1 connection, as a browser holds one.
struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    fn open(addr: &str) -> Result<Self, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        Ok(Self { reader: BufReader::new(stream), writer })
    }

    /// One call; an answer other than 200 is an error.
    fn post(&mut self, addr: &str, token: Option<&str>, method: &str, body: &str) -> Result<(), String> {
        let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
        let request = format!(
            "POST /api/ladder.v1.{method} HTTP/1.1\r\nhost: {addr}\r\nx-ladder-client: web\r\n\
             content-type: application/json\r\n{auth}content-length: {}\r\n\r\n{body}",
            body.len()
        );
        self.writer.write_all(request.as_bytes()).map_err(|e| format!("{method}: {e}"))?;
        let mut status = String::new();
        self.reader.read_line(&mut status).map_err(|e| format!("{method}: {e}"))?;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).map_err(|e| format!("{method}: {e}"))?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().map_err(|_| format!("{method}: bad content-length"))?;
                }
            }
        }
        let mut answer = vec![0u8; length];
        self.reader.read_exact(&mut answer).map_err(|e| format!("{method}: {e}"))?;
        if !status.starts_with("HTTP/1.1 200") {
            return Err(format!("{method}: {} {}", status.trim(), String::from_utf8_lossy(&answer)));
        }
        Ok(())
    }
}
