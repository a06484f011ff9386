//! In-place migration of a layout-2 store to layout 3.
//!
//! Layout 2 kept every secondary index entry (`X`), counter (`N`, and the
//! live/deleted totals) and seen-by-source entry (`S`) as sled keys. Layout 3
//! keeps the indexes in memory, built from the records at open, and records
//! the sources that sent a firm in the record itself (`synced_by`).
//!
//! The steps are ordered so that a crash anywhere leaves a store the next
//! start migrates again: (1) every record gains the sources of its `S`
//! entries (a union, so repeating it changes nothing); (2) the `X`, `N` and
//! `S` keys and the totals are removed, which only starts once step 1 is
//! complete and is itself repeatable; (3) the layout version is set to 3,
//! last, and flushed. Until then the store still says layout 2. Firms'
//! per-resource log entries (`R`) stay: the history of a firm written
//! before the migration is read from them, and later changes chain on.

use std::path::Path;

use crate::domain::enterprise::Enterprise;
use crate::error::{Error, Result};
use crate::store::{codec, keys, writer};

/// Records rewritten, or keys removed, per batch.
const BATCH: usize = 2_000;

/// Migrates the store at `path` from layout 2 to layout 3 (see the module
/// documentation).
pub(super) fn from_layout_2(db: &sled::Db, tree: &sled::Tree, path: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    tracing::info!(path = %path.display(), "migrating the store from layout 2 to layout 3 (once)");
    let rewritten = record_sources(db, tree, path)?;
    let removed = remove_layout_2_keys(tree)?;
    finish(db, tree)?;
    tracing::info!(
        records_rewritten = rewritten,
        keys_removed = removed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "store migrated to layout 3"
    );
    Ok(())
}

/// Step 1: every record gains the sources of its seen-by-source entries.
fn record_sources(db: &sled::Db, tree: &sled::Tree, path: &Path) -> Result<usize> {
    let sources = sources(tree)?;
    let mut batch = sled::Batch::default();
    let (mut pending, mut rewritten) = (0usize, 0usize);
    for entry in tree.scan_prefix([keys::ENTERPRISE]) {
        let (key, value) = entry?;
        let mut record: Enterprise = codec::decode(&value).map_err(|e| {
            Error::Unavailable(format!(
                "cannot migrate {}: the record under key {:?} is damaged ({e})",
                path.display(),
                String::from_utf8_lossy(&key)
            ))
        })?;
        let mut changed = false;
        for source in &sources {
            if !record.synced_by.contains(source) && tree.contains_key(seen_key(source, &record.credit_code))? {
                record.synced_by.push(source.clone());
                changed = true;
            }
        }
        if changed {
            batch.insert(key.to_vec(), codec::encode(&record));
            pending += 1;
            rewritten += 1;
            if pending == BATCH {
                super::apply_batch(tree, std::mem::take(&mut batch))?;
                writer::reclaim();
                pending = 0;
            }
        }
    }
    super::apply_batch(tree, batch)?;
    super::flush(db)?;
    Ok(rewritten)
}

/// Step 2: the index entries, counters and seen-by-source entries go, in
/// batches.
fn remove_layout_2_keys(tree: &sled::Tree) -> Result<usize> {
    let mut removed = 0usize;
    for prefix in [LAYOUT2_INDEX, LAYOUT2_COUNT, LAYOUT2_SEEN] {
        removed += remove_prefix(tree, prefix)?;
    }
    Ok(removed)
}

fn remove_prefix(tree: &sled::Tree, prefix: u8) -> Result<usize> {
    let mut removed = 0;
    loop {
        let keys: Vec<sled::IVec> = tree.scan_prefix([prefix]).keys().take(BATCH).collect::<sled::Result<_>>()?;
        if keys.is_empty() {
            return Ok(removed);
        }
        let mut batch = sled::Batch::default();
        removed += keys.len();
        for key in keys {
            batch.remove(key);
        }
        super::apply_batch(tree, batch)?;
        writer::reclaim();
    }
}

/// Step 3: the totals go and the layout becomes 3, in one batch, flushed.
fn finish(db: &sled::Db, tree: &sled::Tree) -> Result<()> {
    let mut last = sled::Batch::default();
    last.remove(LAYOUT2_LIVE);
    last.remove(LAYOUT2_DELETED);
    last.insert(keys::META_LAYOUT, &super::LAYOUT_VERSION.to_be_bytes());
    super::apply_batch(tree, last)?;
    super::flush(db)?;
    Ok(())
}

/// Layout 2: secondary index entries `X{index}{value}\0{code}`.
const LAYOUT2_INDEX: u8 = b'X';
/// Layout 2: per-index-value counters `N{index}{value}`.
const LAYOUT2_COUNT: u8 = b'N';
/// Layout 2: seen-by-source entries `S{source}\0{code}` → last run id.
const LAYOUT2_SEEN: u8 = b'S';
/// Layout 2: live firms.
const LAYOUT2_LIVE: &[u8] = b"Mcount-live";
/// Layout 2: soft-deleted firms.
const LAYOUT2_DELETED: &[u8] = b"Mcount-deleted";

fn seen_key(source: &str, credit_code: &str) -> Vec<u8> {
    let mut k = vec![LAYOUT2_SEEN];
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(credit_code.as_bytes());
    k
}

/// The distinct sources of the seen-by-source entries, skipping from one
/// source to the next instead of reading every entry.
fn sources(tree: &sled::Tree) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut from = vec![LAYOUT2_SEEN];
    while let Some((key, _)) = tree.range(from.clone()..).next().transpose()? {
        if key.first() != Some(&LAYOUT2_SEEN) {
            break;
        }
        let Some(end) = key.iter().position(|b| *b == 0) else { break };
        out.push(String::from_utf8_lossy(&key[1..end]).into_owned());
        from = key[..end].to_vec();
        from.push(1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{check_consistency, Store, StoreOptions};

    /// A copy of the layout-2 fixture (a store written by the release before
    /// layout 3: 60 synced firms, designations, memberships, postings, edits).
    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/layout2");
        std::fs::create_dir_all(dir.path().join("data/blobs")).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), dir.path().join("data").join(entry.file_name())).unwrap();
            }
        }
        dir
    }

    fn layout_2_keys(tree: &sled::Tree) -> usize {
        [LAYOUT2_INDEX, LAYOUT2_COUNT, LAYOUT2_SEEN].iter().map(|p| tree.scan_prefix([*p]).count()).sum()
    }

    /// Runs the first `steps` steps of the migration only, as a crash after
    /// them would leave the store.
    fn cut_off_after(dir: &Path, steps: usize) {
        let db = sled::open(dir).unwrap();
        let tree = db.open_tree("ladder").unwrap();
        assert_eq!(writer::read_u64(&crate::store::kv::Kv::Sled(tree.clone()), keys::META_LAYOUT).unwrap(), 2);
        assert!(layout_2_keys(&tree) > 60 * 10, "the fixture has layout-2 index keys");
        if steps >= 1 {
            record_sources(&db, &tree, dir).unwrap();
        }
        if steps >= 2 {
            remove_prefix(&tree, LAYOUT2_INDEX).unwrap();
        }
        crate::store::flush(&db).unwrap();
        assert_eq!(
            writer::read_u64(&crate::store::kv::Kv::Sled(tree.clone()), keys::META_LAYOUT).unwrap(),
            2,
            "still layout 2 until the end"
        );
    }

    #[test]
    fn a_migration_cut_off_at_any_step_completes_at_the_next_open() {
        for steps in 0..=2 {
            let dir = fixture();
            let path = dir.path().join("data");
            cut_off_after(&path, steps);
            // sled's background flusher may hold the file lock a moment after
            // the cut-off database is dropped.
            let mut attempts = 0;
            let store = loop {
                match Store::open(&StoreOptions::new(&path)) {
                    Ok(store) => break store,
                    Err(e) if attempts < 100 && e.to_string().contains("lock") => {
                        attempts += 1;
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    Err(e) => panic!("open after {steps} steps: {e}"),
                }
            };
            assert_eq!(check_consistency(&store).unwrap(), Vec::<String>::new(), "after {steps} steps");
            let index = store.index().unwrap();
            assert_eq!(index.live_set(crate::store::index::id::SOURCE, b"market-registry").len(), 59);
            assert_eq!(index.live_set(crate::store::index::id::SOURCE, b"tax-bureau").len(), 30);
            drop(index);
            assert_eq!(writer::read_u64(store.tree(), keys::META_LAYOUT).unwrap(), 3);
            assert_eq!(layout_2_keys(store.tree().sled().unwrap()), 0, "no layout-2 key is left");
            store.close();
        }
    }
}
