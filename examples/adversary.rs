//! The adversarial clients of `scripts/hardening.sh` (issue 13): idle
//! connections, idle watchers, parallel sync streams, and the probes that
//! measure what a well-behaved client sees meanwhile. Loopback only.
//!
//! ```text
//! adversary idle PORT N HOLD_SECS        open N TCP connections that never speak
//! adversary probe PORT                   time until a new client is served
//! adversary load PORT N                  sync N small firms
//! adversary watchers PORT N HOLD_SECS    open N WatchChanges from revision 1, never read
//! adversary writes PORT N                N sequential UpdateEnterprise calls: p50/p99
//! adversary sync PORT STREAMS ROWS       parallel one-message-per-frame sync streams on one channel
//! ```

use std::time::{Duration, Instant};

use ladder::domain::credit_code::CreditCode;
use ladder::pb::v1;
use v1::sync_enterprises_request::Message;

fn code(n: u32) -> String {
    CreditCode::from_parts("91", "610116", &format!("MA{n:06}")).expect("valid parts").as_str().to_string()
}

fn row(n: u32) -> v1::SyncEnterprisesRequest {
    let enterprise = v1::Enterprise { credit_code: code(n), display_name: format!("企业{n}"), ..Default::default() };
    v1::SyncEnterprisesRequest {
        message: Some(Message::Row(v1::SyncRow { enterprise: Some(enterprise), ..Default::default() })),
    }
}

fn header(source: &str) -> v1::SyncEnterprisesRequest {
    let header = v1::SyncHeader { source: source.into(), mode: v1::SyncMode::Upsert as i32, dry_run: false };
    v1::SyncEnterprisesRequest { message: Some(Message::Header(header)) }
}

async fn channel(port: u16) -> anyhow::Result<tonic::transport::Channel> {
    Ok(tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .connect()
        .await?)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> anyhow::Result<T> {
    args.get(i).and_then(|a| a.parse().ok()).ok_or_else(|| anyhow::anyhow!("argument {i} missing or invalid"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = arg(&args, 2)?;
    match args.get(1).map(String::as_str) {
        Some("idle") => {
            let (n, hold): (usize, u64) = (arg(&args, 3)?, arg(&args, 4)?);
            let started = Instant::now();
            let mut open = Vec::with_capacity(n);
            let mut failed = 0;
            for _ in 0..n {
                match tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(("127.0.0.1", port)))
                    .await
                {
                    Ok(Ok(s)) => open.push(s),
                    _ => failed += 1,
                }
            }
            println!(
                "idle: {} connected, {failed} failed to connect, in {:.1}s",
                open.len(),
                started.elapsed().as_secs_f64()
            );
            tokio::time::sleep(Duration::from_secs(hold)).await;
            // How many the server closed meanwhile (a read sees EOF at once).
            let mut closed = 0;
            for s in &open {
                let mut buf = [0u8; 64];
                if let Ok(Ok(0)) | Ok(Err(_)) = tokio::time::timeout(Duration::from_millis(1), async {
                    loop {
                        s.readable().await?;
                        match s.try_read(&mut buf) {
                            Ok(n) => return Ok::<usize, std::io::Error>(n),
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                            Err(e) => return Err(e),
                        }
                    }
                })
                .await
                {
                    closed += 1;
                }
            }
            println!("idle: after {hold}s the server had closed {closed} of {}", open.len());
        }
        Some("probe") => {
            let started = Instant::now();
            let mut attempts = 0;
            loop {
                attempts += 1;
                let served = async {
                    let mut health = tonic_health::pb::health_client::HealthClient::new(channel(port).await?);
                    health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await?;
                    anyhow::Ok(())
                };
                match served.await {
                    Ok(()) => break,
                    Err(_) if started.elapsed() < Duration::from_secs(30) => {
                        tokio::time::sleep(Duration::from_millis(200)).await
                    }
                    Err(e) => {
                        println!("probe: NOT served within 30 s ({attempts} attempts): {e}");
                        return Ok(());
                    }
                }
            }
            println!("probe: new client served after {:.2}s ({attempts} attempts)", started.elapsed().as_secs_f64());
        }
        Some("load") => {
            let n: u32 = arg(&args, 3)?;
            let mut client = v1::sync_service_client::SyncServiceClient::new(channel(port).await?);
            let messages: Vec<_> = std::iter::once(header("load")).chain((0..n).map(row)).collect();
            let run = client.sync_enterprises(tokio_stream::iter(messages)).await?.into_inner();
            println!("load: {} firms created", run.created);
        }
        Some("watchers") => {
            let (n, hold): (usize, u64) = (arg(&args, 3)?, arg(&args, 4)?);
            let mut client = v1::change_service_client::ChangeServiceClient::new(channel(port).await?);
            let (mut open, mut refused) = (Vec::new(), std::collections::BTreeMap::new());
            for _ in 0..n {
                let request = v1::WatchChangesRequest { start_revision: 1, ..Default::default() };
                match client.watch_changes(request).await {
                    Ok(stream) => open.push(stream),
                    Err(status) => *refused.entry(format!("{:?}", status.code())).or_insert(0) += 1,
                }
            }
            println!("watchers: {} open, refused {refused:?}; holding {hold}s without reading", open.len());
            tokio::time::sleep(Duration::from_secs(hold)).await;
        }
        Some("writes") => {
            let n: u32 = arg(&args, 3)?;
            let mut client = v1::enterprise_service_client::EnterpriseServiceClient::new(channel(port).await?);
            let mut times = Vec::new();
            for i in 0..n {
                let enterprise = v1::Enterprise {
                    name: format!("enterprises/{}", code(i % 100)),
                    notes: format!("note {i}"),
                    ..Default::default()
                };
                let mask = prost_types::FieldMask { paths: vec!["notes".into()] };
                let request = v1::UpdateEnterpriseRequest {
                    enterprise: Some(enterprise),
                    update_mask: Some(mask),
                    ..Default::default()
                };
                let started = Instant::now();
                client.update_enterprise(request).await?;
                times.push(started.elapsed());
            }
            times.sort();
            let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)].as_secs_f64() * 1000.0;
            println!("writes: {n} updates, p50 {:.1} ms, p99 {:.1} ms", at(0.5), at(0.99));
        }
        Some("sync") => {
            let (streams, rows): (u32, u32) = (arg(&args, 3)?, arg(&args, 4)?);
            let channel = channel(port).await?;
            let started = Instant::now();
            let mut tasks = Vec::new();
            for s in 0..streams {
                let mut client = v1::sync_service_client::SyncServiceClient::new(channel.clone());
                let (tx, rx) = tokio::sync::mpsc::channel(1);
                tokio::spawn(async move {
                    let _ = tx.send(header(&format!("parallel-{s}"))).await;
                    for n in 0..rows {
                        if tx.send(row(500_000 + s * rows + n)).await.is_err() {
                            return;
                        }
                        tokio::task::yield_now().await;
                    }
                });
                tasks.push(tokio::spawn(async move {
                    client.sync_enterprises(tokio_stream::wrappers::ReceiverStream::new(rx)).await
                }));
            }
            let (mut ok, mut failed) = (0, Vec::new());
            for task in tasks {
                match task.await? {
                    Ok(_) => ok += 1,
                    Err(status) => failed.push(format!("{:?} {}", status.code(), status.message())),
                }
            }
            println!(
                "sync: {ok} of {streams} streams of {rows} rows succeeded in {:.1}s; failures: {failed:?}",
                started.elapsed().as_secs_f64()
            );
        }
        _ => anyhow::bail!("usage: adversary idle|probe|load|watchers|writes|sync PORT …"),
    }
    Ok(())
}
