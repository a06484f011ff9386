//! `ladder migrate`: copies a whole store between backends (sled ⇄
//! PostgreSQL, or sled → sled), verified.
//!
//! The source is read as a point-in-time backup ([`Store::backup`]: one
//! moment of the store on either backend, with a SHA-256 over every key and
//! value). The entries are written as they are into an empty target (keys
//! and values are the same bytes on both backends) and read back: their
//! SHA-256 must equal the source's. The target is then opened as a store
//! (which rebuilds its indexes from the records) and checked like `ladder
//! check`.

use super::kv::Kv;
use super::{Store, StoreOptions};
use crate::error::{Error, Result};

/// Entries written per batch (one transaction on PostgreSQL).
const BATCH_BYTES: usize = 8 * 1024 * 1024;

/// What a copy did.
#[derive(Debug, Clone)]
pub struct Copied {
    /// The revision the target holds (the source's when the copy began).
    pub revision: u64,
    /// Entries copied.
    pub entries: u64,
    /// Bytes of keys and values copied.
    pub bytes: u64,
    /// SHA-256 over every entry, equal on both sides.
    pub sha256: String,
    /// What the target's check found (empty: none).
    pub problems: Vec<String>,
}

/// Copies the store at `from` into the empty store at `to`, then checks the
/// target. `progress` is told the entries copied so far.
pub fn copy(from: &StoreOptions, to: &StoreOptions, mut progress: impl FnMut(u64)) -> Result<Copied> {
    // Opening a folder that holds no store would make an empty one and
    // "copy" that: a mistyped source is refused instead.
    if from.url.is_none() && !from.path.join("conf").exists() {
        return Err(Error::NotFound { resource: format!("a ladder store in {}", from.path.display()) });
    }
    let target = open_empty(to)?;
    let source = Store::open(from)?;
    let copied = (|| -> Result<(u64, u64, u64, String)> {
        let mut backup = source.backup()?;
        let revision = backup.revision();
        let mut bytes = 0u64;
        loop {
            let batch = backup.next_batch(BATCH_BYTES)?;
            if batch.is_empty() {
                break;
            }
            bytes += batch.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum::<u64>();
            target.put_many(batch)?;
            progress(backup.digest().0);
        }
        let (entries, sha256) = backup.digest();
        Ok((revision, entries, bytes, sha256))
    })();
    source.close();
    let (revision, entries, bytes, sha256) = copied?;
    // Read back before the target is opened as a store (opening records
    // when it was opened).
    let mut read = super::backup::Digester::default();
    for entry in target.iter() {
        let (key, value) = entry?;
        read.add(&key, &value);
    }
    let mut problems = Vec::new();
    if (read.entries, read.hex()) != (entries, sha256.clone()) {
        problems.push(format!(
            "the target holds {} entries (SHA-256 {}); the source sent {entries} ({sha256})",
            read.entries,
            read.hex()
        ));
    }
    // The target's own handle goes first (sled locks its folder).
    drop(target);
    let store = Store::open(to)?;
    let checked = (|| -> Result<Vec<String>> {
        problems.extend(super::check_consistency(&store)?);
        problems.extend(super::backup::check_log(&store)?);
        Ok(problems)
    })();
    store.close();
    Ok(Copied { revision, entries, bytes, sha256, problems: checked? })
}

/// The target's key space, refused unless it holds nothing.
fn open_empty(to: &StoreOptions) -> Result<Kv> {
    let not_empty = |what: String| Error::FailedPrecondition {
        reason: "TARGET_NOT_EMPTY",
        message: format!("{what} already holds a store: migrate into an empty one"),
    };
    match &to.url {
        Some(url) => {
            let kv = Kv::Pg(super::pg::Pg::open(url)?.kv());
            if !kv.is_empty()? {
                return Err(not_empty(super::pg::shown(url)));
            }
            Ok(kv)
        }
        None => {
            let path = &to.path;
            if path.exists() && std::fs::read_dir(path).map(|mut d| d.next().is_some()).unwrap_or(true) {
                return Err(not_empty(path.display().to_string()));
            }
            std::fs::create_dir_all(path)
                .map_err(|e| Error::Internal(format!("cannot create {}: {e}", path.display())))?;
            let db = super::open_sled(to)?;
            Ok(Kv::Sled(db.open_tree("ladder")?))
        }
    }
}
