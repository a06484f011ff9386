//! `ladder migrate`: copies a whole store between backends (sled ⇄
//! PostgreSQL, or sled → sled), verified.
//!
//! The source is read as a point-in-time backup ([`Store::backup`]: one
//! moment of the store on either backend, with a SHA-256 over every key and
//! value). The entries are written as they are into an empty target (keys
//! and values are the same bytes on both backends). The target is then
//! opened as a store (which rebuilds its indexes from the records), checked
//! like `ladder check`, and read back as a backup whose digest must equal
//! the source's.

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
    // The target's own handle goes before it is opened as a store (sled
    // locks its folder).
    drop(target);
    let store = Store::open(to)?;
    let checked = (|| -> Result<Vec<String>> {
        let mut problems = super::check_consistency(&store)?;
        problems.extend(super::backup::check_log(&store)?);
        let mut back = store.backup()?;
        while !back.next_batch(BATCH_BYTES)?.is_empty() {}
        let (read, digest) = back.digest();
        if (read, digest.as_str()) != (entries, sha256.as_str()) {
            problems.push(format!(
                "the target holds {read} entries (SHA-256 {digest}); the source sent {entries} ({sha256})"
            ));
        }
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
