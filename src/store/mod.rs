//! The sled store: the only module that knows sled exists.
//!
//! One sled tree holds everything under typed key prefixes ([`keys`]); records
//! are encoded by [`codec`]; every mutation goes through the single
//! [`writer`] with group commit. Reads go straight to sled (point reads inline,
//! scans on the blocking pool).

mod alliances;
mod changes;
pub mod codec;
mod enterprises;
pub mod floor;
mod idempotency;
mod ladder;
mod records;
mod supply_demand;
mod sync;
pub use enterprises::check_consistency;
pub mod keys;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub use alliances::{AllianceSummary, MembershipFilter, MembershipUpdate};
pub use changes::{ChangePage, ChangeQuery, COMPACT_BATCH};
pub use enterprises::{ListPage, ListQuery, OrderKey};
pub use ladder::{CohortMember, DesignationFilter, Evaluated, FunnelCounts, Movement};
pub use supply_demand::{
    group_code, ChainGap, GapQuery, MapData, MapFirm, MapQuery, MatchFilter, PostingFilter, Sourcing, Suggestion,
    Suggestions,
};
pub use sync::{ChunkResult, DrySeen, RevertConflict, RevertOutcome, SyncRow, CHUNK_ROWS};
pub use writer::Txn;

use crate::error::{Error, Result};

/// Layout version written into a new store; a store with another version is
/// refused instead of misread.
pub const LAYOUT_VERSION: u64 = 2;

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Self::Internal(format!("storage: {e}"))
    }
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Directory of the sled database; created if missing.
    pub path: PathBuf,
    /// sled page-cache budget in bytes.
    pub cache_bytes: u64,
}

/// Opens the sled database the way every store (and the benchmark's raw
/// floor) does: the configured cache, tuned for throughput.
fn open_sled(options: &StoreOptions) -> Result<sled::Db> {
    sled::Config::new()
        .path(&options.path)
        .cache_capacity(options.cache_bytes)
        .mode(sled::Mode::HighThroughput)
        .open()
        .map_err(|e| Error::Unavailable(format!("cannot open the store at {}: {e}", options.path.display())))
}

impl StoreOptions {
    /// Options with the default cache (256 MiB).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self { path: path.as_ref().to_path_buf(), cache_bytes: 256 * 1024 * 1024 }
    }
}

/// A handle to the open store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    writer: Mutex<Option<writer::Writer>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    token_key: Vec<u8>,
    head: tokio::sync::watch::Sender<u64>,
}

impl Store {
    /// Opens (or creates) the store and starts its writer.
    pub fn open(options: &StoreOptions) -> Result<Store> {
        std::fs::create_dir_all(&options.path)
            .map_err(|e| Error::Internal(format!("cannot create {}: {e}", options.path.display())))?;
        let db = open_sled(options)?;
        let tree = db.open_tree("ladder")?;
        match writer::read_u64(&tree, keys::META_LAYOUT)? {
            0 => {
                tree.insert(keys::META_LAYOUT, &LAYOUT_VERSION.to_be_bytes())?;
            }
            LAYOUT_VERSION => {}
            other => {
                return Err(Error::Unavailable(format!(
                    "the store at {} has layout {other}; this ladder reads layout {LAYOUT_VERSION}",
                    options.path.display()
                )))
            }
        }
        let token_key = match tree.get(keys::META_TOKEN_KEY)? {
            Some(key) => key.to_vec(),
            None => {
                let mut key = uuid::Uuid::new_v4().as_bytes().to_vec();
                key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
                tree.insert(keys::META_TOKEN_KEY, key.as_slice())?;
                key
            }
        };
        let last = writer::read_u64(&tree, keys::META_REVISION)?.max(1) - 1;
        let leftover = Store::interrupt_leftover_runs(&tree, last)?;
        if leftover > 0 {
            tracing::warn!(runs = leftover, "sync runs cut off by a crash are marked interrupted");
        }
        db.flush()?;
        let head = tokio::sync::watch::Sender::new(last);
        let (writer, thread) = writer::Writer::start(db.clone(), tree.clone(), head.clone())?;
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                tree,
                writer: Mutex::new(Some(writer)),
                thread: Mutex::new(Some(thread)),
                token_key,
                head,
            }),
        })
    }

    /// Secret that signs page tokens; stable for the life of the store.
    pub fn token_key(&self) -> &[u8] {
        &self.inner.token_key
    }

    /// The next revision the change log will assign (the head is one less).
    pub fn next_revision(&self) -> Result<u64> {
        Ok(writer::read_u64(&self.inner.tree, keys::META_REVISION)?.max(1))
    }

    /// Follows the head revision: it changes after every durable write group.
    pub fn watch_head(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.head.subscribe()
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.inner.db.size_on_disk()?)
    }

    /// Runs a mutation in the writer (or, with `dry_run`, against an
    /// uncommitted transaction) and returns once it is durable.
    pub async fn write<R, F>(&self, dry_run: bool, op: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Txn<'_>) -> Result<R> + Send + 'static,
    {
        if dry_run {
            let tree = self.inner.tree.clone();
            return blocking(move || writer::dry_run(&tree, op)).await;
        }
        let writer = self
            .inner
            .writer
            .lock()
            .map_err(|_| Error::Internal("writer lock poisoned".into()))?
            .clone()
            .ok_or_else(|| Error::Unavailable("the store is shutting down".into()))?;
        writer.write(op).await
    }

    /// Stops accepting writes, lets the writer commit and flush what is
    /// queued, and waits for it. Idempotent.
    pub fn close(&self) {
        if let Ok(mut writer) = self.inner.writer.lock() {
            writer.take();
        }
        let thread = self.inner.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("the writer thread panicked");
            }
        }
        if let Err(e) = self.inner.db.flush() {
            tracing::error!(error = %e, "flush on close failed");
        }
    }

    fn tree(&self) -> &sled::Tree {
        &self.inner.tree
    }
}

/// Runs a blocking store operation (a scan) on tokio's blocking pool.
pub async fn blocking<R: Send + 'static>(f: impl FnOnce() -> Result<R> + Send + 'static) -> Result<R> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(format!("store task failed: {e}")))?
}
