//! `ladder backup`, `ladder restore` and `ladder check`: a point-in-time
//! backup of a running server into a folder, a new store built from it, and
//! the offline check of a store.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::client::{connect_with, fail};
use crate::cli::{render, ClientArgs};
use crate::pb::v1;
use crate::pb::v1::admin_service_client::AdminServiceClient;
use crate::store::backup::{BackupHeader, BackupWriter, BACKUP_FILE};
use crate::store::{Store, StoreOptions};

/// The manifest beside a backup file, for people and scripts.
const MANIFEST: &str = "manifest.json";

/// Runs `ladder backup DIR`: streams the server's backup into `DIR/ladder.backup`
/// (a new or empty folder) and writes `DIR/manifest.json`.
pub async fn backup(dir: PathBuf, args: ClientArgs) -> ExitCode {
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return render::usage_error(format!("{} exists and is not empty: back up into a new folder", dir.display()));
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return render::usage_error(format!("cannot create {}: {e}", dir.display()));
    }
    // A backup takes as long as the store is large: no per-call limit.
    let mut client = match connect_with(&args, None).await {
        // Whatever the server's message limit, a backup chunk fits.
        Ok(c) => AdminServiceClient::new(c).max_decoding_message_size(64 * 1024 * 1024),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = std::time::Instant::now();
    let mut stream = match client.backup(v1::BackupRequest::default()).await {
        Ok(r) => r.into_inner(),
        Err(status) => return fail(args.json, &status),
    };
    match receive(&dir, &mut stream).await {
        Ok((header, entries, sha256, bytes)) => {
            let seconds = started.elapsed().as_secs_f64();
            let manifest = serde_json::json!({
                "file": BACKUP_FILE,
                "revision": header.revision,
                "taken": render::stamp(crate::api::convert::timestamp(header.taken_micros).as_ref()),
                "entries": entries,
                "bytes": bytes,
                "sha256": sha256,
                "server": args.server,
            });
            if let Err(e) = std::fs::write(dir.join(MANIFEST), format!("{manifest:#}\n")) {
                eprintln!("error: cannot write the manifest: {e}");
                return ExitCode::FAILURE;
            }
            if args.json {
                println!("{}", serde_json::json!({"dir": dir, "seconds": seconds, "manifest": manifest}));
            } else {
                println!(
                    "backed up revision {} ({entries} entries, {:.1} MiB) into {} in {seconds:.1}s",
                    header.revision,
                    bytes as f64 / 1_048_576.0,
                    dir.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            // Nothing half-written is left to be mistaken for a backup.
            let _ = std::fs::remove_file(dir.join(BACKUP_FILE));
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the stream into the backup file; checks the trailer against what
/// arrived. The header, entries, digest and bytes written.
async fn receive(
    dir: &Path,
    stream: &mut tonic::Streaming<v1::BackupChunk>,
) -> Result<(BackupHeader, u64, String, u64), String> {
    use v1::backup_chunk::Part;
    let next = |m: Result<Option<v1::BackupChunk>, tonic::Status>| -> Result<Option<Part>, String> {
        m.map(|c| c.and_then(|c| c.part)).map_err(|s| render::status_error(&s))
    };
    let Some(Part::Header(h)) = next(stream.message().await)? else {
        return Err("the server's backup did not start with its header".into());
    };
    let taken_micros = h.time.map_or(0, |t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1000);
    let header = BackupHeader { revision: h.revision, taken_micros };
    let path = dir.join(BACKUP_FILE);
    let mut file = BackupWriter::create(&path, &header).map_err(|e| e.to_string())?;
    let mut bytes = 0u64;
    loop {
        match next(stream.message().await)? {
            Some(Part::Entries(batch)) => {
                if batch.keys.len() != batch.values.len() {
                    return Err("the server sent keys and values that do not pair up".into());
                }
                for (key, value) in batch.keys.iter().zip(&batch.values) {
                    file.append(key, value).map_err(|e| e.to_string())?;
                    bytes += (key.len() + value.len()) as u64;
                }
            }
            Some(Part::Trailer(t)) => {
                let (entries, sha256) = file.digest();
                if (entries, sha256.as_str()) != (t.entries, t.sha256.as_str()) {
                    return Err(format!(
                        "the backup arrived damaged: the server sent {} entries ({}), {entries} arrived ({sha256})",
                        t.entries, t.sha256
                    ));
                }
                let (entries, sha256) = file.finish().map_err(|e| e.to_string())?;
                return Ok((header, entries, sha256, bytes));
            }
            Some(Part::Header(_)) => return Err("the server sent a second header".into()),
            None => return Err("the backup stream ended before its trailer: the backup is incomplete".into()),
        }
    }
}

/// The store a `migrate` argument names: a postgres:// URL or a data folder.
fn store_at(place: &str) -> StoreOptions {
    if place.starts_with("postgres://") || place.starts_with("postgresql://") {
        StoreOptions { url: Some(place.to_string()), ..StoreOptions::new("") }
    } else {
        StoreOptions::new(place)
    }
}

/// Runs `ladder migrate --from A --to B`: copies a store into an empty one
/// (sled or PostgreSQL, either way), then checks the copy and compares its
/// digest with the source's.
pub fn migrate(from: &str, to: &str) -> ExitCode {
    let (from, to) = (store_at(from), store_at(to));
    let started = std::time::Instant::now();
    let mut last = std::time::Instant::now();
    let copied = crate::store::copy::copy(&from, &to, |entries| {
        if last.elapsed() >= std::time::Duration::from_secs(5) {
            last = std::time::Instant::now();
            eprintln!("  {entries} entries copied");
        }
    });
    match copied {
        Ok(c) if c.problems.is_empty() => {
            println!(
                "migrated revision {} ({} entries, {:.1} MiB) from {} to {} in {:.1}s; SHA-256 {} on both sides; \
                 the check found no problem",
                c.revision,
                c.entries,
                c.bytes as f64 / 1048576.0,
                from.location(),
                to.location(),
                started.elapsed().as_secs_f64(),
                c.sha256
            );
            ExitCode::SUCCESS
        }
        Ok(c) => failed_check(&format!("migrated revision {} to {}", c.revision, to.location()), &c.problems),
        Err(e) => {
            eprintln!("error: {}", render::clipped(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// Reports a new store whose check found problems.
fn failed_check(done: &str, problems: &[String]) -> ExitCode {
    eprintln!("{done}, but the check found problems:");
    for p in problems {
        eprintln!("  {p}");
    }
    ExitCode::FAILURE
}

/// Runs `ladder restore DIR --data NEW`: builds a new store from a backup
/// folder, then opens and checks it.
pub fn restore(dir: &Path, data: &Path) -> ExitCode {
    let file = if dir.is_dir() { dir.join(BACKUP_FILE) } else { dir.to_path_buf() };
    let started = std::time::Instant::now();
    match crate::store::backup::restore(&file, &StoreOptions::new(data)) {
        Ok(r) if r.problems.is_empty() => {
            println!(
                "restored revision {} ({} entries) into {} in {:.1}s; the check found no problem",
                r.revision,
                r.entries,
                data.display(),
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Ok(r) => failed_check(&format!("restored revision {} into {}", r.revision, data.display()), &r.problems),
        Err(e) => {
            eprintln!("error: {}", render::clipped(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// Runs `ladder check --data DIR` on a store no server is using: opens it
/// (which reads every record and rebuilds the index) and checks records,
/// index, projections, histories, posting indexes and counters, and the
/// change log. Every problem is printed; exit status 1 when there is one.
pub fn check(data: &Path, url: Option<String>, json: bool) -> ExitCode {
    let options = StoreOptions { url, ..StoreOptions::new(data) };
    if options.url.is_none() && !data.join("conf").exists() {
        eprintln!("error: {} holds no ladder store", data.display());
        return ExitCode::from(2);
    }
    let location = options.location();
    let started = std::time::Instant::now();
    let store = match Store::open(&options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", render::clipped(&e.to_string()));
            return ExitCode::FAILURE;
        }
    };
    let found = crate::store::check_consistency(&store).and_then(|mut problems| {
        problems.extend(crate::store::backup::check_log(&store)?);
        Ok(problems)
    });
    let head = store.next_revision().map(|n| n.saturating_sub(1)).unwrap_or(0);
    store.close();
    let problems = match found {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: the check could not finish: {e}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!("{}", serde_json::json!({"data": location, "revision": head, "problems": problems}));
    } else if problems.is_empty() {
        println!("{location}: revision {head}, no problem found ({:.1}s)", started.elapsed().as_secs_f64());
    } else {
        println!("{location}: revision {head}, {} problems:", problems.len());
        for p in &problems {
            println!("  {p}");
        }
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
