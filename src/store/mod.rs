//! The store: the only module that knows sled or PostgreSQL exists.
//!
//! One ordered key–value space ([`kv`]: a sled tree, or PostgreSQL's
//! `ladder_kv` table through [`pg`]) holds everything under typed key
//! prefixes ([`keys`]); records are encoded by [`codec`]; every mutation goes
//! through the single [`writer`] with group commit. Reads go straight to the
//! space (point reads inline, scans on the blocking pool).

mod alliances;
pub mod backup;
mod changes;
pub mod codec;
pub mod copy;
mod enterprises;
pub mod floor;
mod idempotency;
pub(crate) mod index;
pub mod kv;
mod ladder;
mod migrate;
mod pg;
mod projects;
mod records;
mod supply_demand;
mod sync;
pub use enterprises::check_consistency;
pub mod keys;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

pub use alliances::{AllianceSummary, MembershipFilter, MembershipUpdate};
pub use changes::{ChangePage, ChangeQuery, COMPACT_BATCH};
pub use enterprises::{position_of, ListPage, ListQuery, OrderKey};
pub use ladder::{CohortMember, DesignationFilter, Evaluated, FunnelCounts, Movement};
pub use projects::{set_keys as project_set_keys, ProjectCondition, ProjectFilter};
pub use supply_demand::{
    group_code, ChainGap, GapQuery, MapCategory, MapData, MapFirm, MapLevel, MapQuery, MatchFilter, PostingFilter,
    Sourcing, Suggestion, Suggestions,
};
pub use sync::{
    ChunkResult, RevertConflict, RevertOutcome, RunClaim, RunProgress, RunSeen, SourceStats, SyncRow, CHUNK_BYTES,
    CHUNK_ROWS,
};
pub use writer::Txn;

use crate::error::{Error, Result};

/// Layout version written into a new store. Layout 2 (secondary indexes
/// and counters as sled keys) is migrated in place when opened; any other
/// version is refused instead of misread.
pub const LAYOUT_VERSION: u64 = 3;

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Self::Internal(format!("storage: {e}"))
    }
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Directory of the sled database; created if missing (unused with
    /// `url`).
    pub path: PathBuf,
    /// sled page-cache budget in bytes.
    pub cache_bytes: u64,
    /// A PostgreSQL URL (`postgres://user@host:port/db`): the store lives
    /// there instead of in `path`, and several servers may share it.
    pub url: Option<String>,
}

/// Opens the sled database the way every store (and the benchmark's raw
/// floor) does: the configured cache, tuned for throughput.
///
/// A folder locked by this same process is retried for a moment: after a
/// store in this process is closed, sled's background threads may hold
/// the locked file a little longer (a reopen right after a close, as in
/// restarts and tests, would otherwise fail now and then). A lock another
/// process holds stays, and is reported once the moment has passed.
fn open_sled(options: &StoreOptions) -> Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let opened = sled::Config::new()
            .path(&options.path)
            .cache_capacity(options.cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .open();
        match opened {
            Ok(db) => return Ok(db),
            Err(e) if e.to_string().contains("acquire lock") => {
                if std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                    continue;
                }
                return Err(Error::Unavailable(format!(
                    "another ladder process is using the store at {} (the folder is locked: one server per \
                     data folder; stop the other first, or give this one another --data)",
                    options.path.display()
                )));
            }
            Err(e) => {
                return Err(Error::Unavailable(format!("cannot open the store at {}: {e}", options.path.display())))
            }
        }
    }
}

impl StoreOptions {
    /// Options with the default cache (256 MiB).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self { path: path.as_ref().to_path_buf(), cache_bytes: 256 * 1024 * 1024, url: None }
    }

    /// Where the store is, for messages (the URL without its password).
    pub fn location(&self) -> String {
        match &self.url {
            Some(url) => pg::shown(url),
            None => self.path.display().to_string(),
        }
    }
}

/// A handle to the open store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// The sled database (`None` on PostgreSQL).
    db: Option<sled::Db>,
    tree: kv::Kv,
    /// PostgreSQL: what follows the other servers' commits, and its thread.
    follower: Option<Arc<pg::Follower>>,
    following: Mutex<Option<(Arc<std::sync::atomic::AtomicBool>, JoinHandle<()>)>>,
    writer: Mutex<Option<writer::Writer>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    token_key: Vec<u8>,
    head: tokio::sync::watch::Sender<u64>,
    index: Arc<RwLock<index::EnterpriseIndex>>,
    /// The backup in progress, whose before images the committer keeps.
    snapshot: backup::Snapshot,
}

impl Store {
    /// Opens (or creates) the store and starts its writer.
    pub fn open(options: &StoreOptions) -> Result<Store> {
        let Opened { tree, sled, pg, index, head } = match &options.url {
            Some(url) => open_pg(url)?,
            None => open_sled_store(options)?,
        };
        let token_key = token_key(&tree)?;
        let index = Arc::new(RwLock::new(index));
        let head = tokio::sync::watch::Sender::new(head);
        let snapshot = backup::Snapshot::default();
        let (backend, follower, following) = match (sled, pg) {
            (Some((db, tree)), _) => {
                let (index, head, snapshot) = (Arc::clone(&index), head.clone(), Arc::clone(&snapshot));
                (writer::Backend::Sled { db, tree, index, head, snapshot }, None, None)
            }
            (None, Some((pg, seq))) => {
                let follower = Arc::new(pg::Follower::new(Arc::clone(&pg), Arc::clone(&index), head.clone(), seq));
                let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let thread = Arc::clone(&follower).run(Arc::clone(&stop))?;
                let writer = pg::PgWriter::new(pg);
                let backend = writer::Backend::Pg { kv: tree.clone(), writer, follower: Arc::clone(&follower) };
                (backend, Some(follower), Some((stop, thread)))
            }
            (None, None) => return Err(Error::Internal("a store with no backend".into())),
        };
        let db = match &backend {
            writer::Backend::Sled { db, .. } => Some(db.clone()),
            writer::Backend::Pg { .. } => None,
        };
        let (writer, thread) = writer::Writer::start(backend)?;
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                tree,
                follower,
                following: Mutex::new(following),
                writer: Mutex::new(Some(writer)),
                thread: Mutex::new(Some(thread)),
                token_key,
                head,
                index,
                snapshot,
            }),
        })
    }

    /// On PostgreSQL, applies every commit made (through any server) before
    /// this call to the in-memory indexes and the head revision, so what
    /// follows sees every write acknowledged so far. Every request calls
    /// it first; on sled it does nothing.
    pub async fn refresh(&self) -> Result<()> {
        match &self.inner.follower {
            Some(follower) => follower.refresh(std::time::Instant::now()).await,
            None => Ok(()),
        }
    }

    /// Applies every commit made so far, on the calling thread.
    pub(crate) fn catch_up(&self) -> Result<()> {
        self.inner.follower.as_ref().map_or(Ok(()), |f| f.catch_up())
    }

    /// Whether other servers may write to this store too (PostgreSQL), so
    /// a request must first [`Store::refresh`].
    pub fn shared(&self) -> bool {
        self.inner.follower.is_some()
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

    /// Writes waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.inner.writer.lock().ok().and_then(|w| w.as_ref().map(writer::Writer::queued)).unwrap_or(0)
    }

    /// Registered firms that are not deleted.
    pub fn live_firms(&self) -> Result<u64> {
        Ok(self.index()?.live_count())
    }

    /// Bytes the database occupies on disk (on PostgreSQL, its tables).
    pub fn size_on_disk(&self) -> Result<u64> {
        match (&self.inner.db, &self.inner.tree) {
            (Some(db), _) => Ok(db.size_on_disk()?),
            (None, kv::Kv::Pg(pg)) => pg.pg().size(),
            (None, kv::Kv::Sled(_)) => Ok(0),
        }
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
        // Stopping the writer explicitly, not by dropping this handle: a
        // request task holding a clone may sit on the caller's own runtime,
        // which cannot run while this thread waits for the writer below.
        if let Some(writer) = self.inner.writer.lock().ok().and_then(|mut w| w.take()) {
            writer.shutdown();
        }
        let thread = self.inner.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("the writer thread panicked");
            }
        }
        if let Some((stop, thread)) = self.inner.following.lock().ok().and_then(|mut f| f.take()) {
            stop.store(true, std::sync::atomic::Ordering::Release);
            if let kv::Kv::Pg(pg) = &self.inner.tree {
                pg.pg().stop();
            }
            if thread.join().is_err() {
                tracing::error!("the follower thread panicked");
            }
        }
        if let Some(db) = &self.inner.db {
            if let Err(e) = flush(db) {
                tracing::error!(error = %e, "flush on close failed");
            }
        }
    }

    fn tree(&self) -> &kv::Kv {
        &self.inner.tree
    }
}

/// sled 0.34 guards every database in the process with one lock: a batch
/// takes it exclusively, and a flush holds it shared while it waits for the
/// log flusher, which needs it shared too. A flush of one store meeting a
/// batch of another (two stores in one process, as in the tests) can
/// therefore deadlock. Every batch and flush of this crate goes through this
/// lock, one at a time; with one store it is only ever taken by the
/// committer, uncontended.
pub(crate) static SLED_COMMITS: Mutex<()> = Mutex::new(());

/// Applies a batch atomically (see [`SLED_COMMITS`]).
pub(crate) fn apply_batch(tree: &sled::Tree, batch: sled::Batch) -> Result<()> {
    let _one = SLED_COMMITS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(tree.apply_batch(batch)?)
}

/// Makes every write so far durable (see [`SLED_COMMITS`]).
pub(crate) fn flush(db: &sled::Db) -> Result<()> {
    let _one = SLED_COMMITS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    db.flush()?;
    Ok(())
}

/// A store opened on its backend, before its writer starts.
struct Opened {
    tree: kv::Kv,
    /// sled: the database and its tree.
    sled: Option<(sled::Db, sled::Tree)>,
    /// PostgreSQL: the connection and the commit the indexes start from.
    pg: Option<(Arc<pg::Pg>, u64)>,
    index: index::EnterpriseIndex,
    /// The head revision the indexes hold.
    head: u64,
}

/// Opens the sled store in `options.path`: layout check (and migration of
/// layout 2), runs cut off by a crash, the indexes.
fn open_sled_store(options: &StoreOptions) -> Result<Opened> {
    std::fs::create_dir_all(&options.path)
        .map_err(|e| Error::Internal(format!("cannot create {}: {e}", options.path.display())))?;
    let db = open_sled(options)?;
    let sled_tree = db.open_tree("ladder")?;
    let tree = kv::Kv::Sled(sled_tree.clone());
    let location = options.path.display().to_string();
    match writer::read_u64(&tree, keys::META_LAYOUT)? {
        0 if tree.is_empty()? => {
            tree.insert(keys::META_LAYOUT, LAYOUT_VERSION.to_be_bytes())?;
        }
        LAYOUT_VERSION => {}
        // A layout-2 store (layout 2 wrote its version at creation, so a
        // non-empty store without one is refused below).
        2 => migrate::from_layout_2(&db, &sled_tree, &options.path)?,
        other => return Err(wrong_layout(&location, other)),
    }
    if tree.get(keys::META_TOKEN_KEY)?.is_none() {
        tree.insert(keys::META_TOKEN_KEY, new_token_key())?;
    }
    let last = writer::read_u64(&tree, keys::META_REVISION)?.max(1) - 1;
    let leftover = Store::interrupt_leftover_runs(&tree, last)?;
    if leftover > 0 {
        tracing::warn!(runs = leftover, "sync runs cut off by a crash are marked interrupted");
    }
    flush(&db)?;
    let (index, head) = load_indexes(&tree, &location)?;
    Ok(Opened { tree, sled: Some((db, sled_tree)), pg: None, index, head })
}

/// Opens a store on PostgreSQL: applies the schema migrations, makes the
/// layout and token key once (the first server), marks runs of servers that
/// died interrupted, and builds the indexes from one snapshot, from whose
/// commit the follower goes on.
fn open_pg(url: &str) -> Result<Opened> {
    let pg = pg::Pg::open(url)?;
    let tree = kv::Kv::Pg(pg.kv());
    let location = pg::shown(url);
    // Servers opening a new database together: each writes only if absent.
    pg.init_meta(keys::META_LAYOUT, &LAYOUT_VERSION.to_be_bytes())?;
    match writer::read_u64(&tree, keys::META_LAYOUT)? {
        LAYOUT_VERSION => {}
        other => return Err(wrong_layout(&location, other)),
    }
    pg.init_meta(keys::META_TOKEN_KEY, &new_token_key())?;
    let head_now = writer::read_u64(&tree, keys::META_REVISION)?.max(1) - 1;
    let abandoned = Store::interrupt_abandoned_runs(&tree, head_now)?;
    if abandoned > 0 {
        tracing::warn!(runs = abandoned, "sync runs cut off by a server that stopped are marked interrupted");
    }
    let (snapshot, seq) = pg.snapshot()?;
    let (index, head) = load_indexes(&kv::Kv::Pg(snapshot), &location)?;
    Ok(Opened { tree, sled: None, pg: Some((pg, seq)), index, head })
}

fn wrong_layout(location: &str, found: u64) -> Error {
    Error::Unavailable(format!("the store at {location} has layout {found}; this ladder reads layout {LAYOUT_VERSION}"))
}

/// A fresh page-token secret.
fn new_token_key() -> Vec<u8> {
    let mut key = uuid::Uuid::new_v4().as_bytes().to_vec();
    key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    key
}

/// The page-token secret (made when the store was created).
fn token_key(tree: &kv::Kv) -> Result<Vec<u8>> {
    tree.get(keys::META_TOKEN_KEY)?
        .map(|key| key.to_vec())
        .ok_or_else(|| Error::Internal("the store has no page-token key".into()))
}

/// The in-memory indexes of the store as `tree` shows it (on PostgreSQL a
/// snapshot), and the head revision they hold.
pub(crate) fn load_indexes(tree: &kv::Kv, location: &str) -> Result<(index::EnterpriseIndex, u64)> {
    let mut index = build_index(tree, location)?;
    index.projects = projects::ProjectIndex::load(tree)?;
    let head = writer::read_u64(tree, keys::META_REVISION)?.max(1) - 1;
    Ok((index, head))
}

/// Every this many records, building the index logs its progress.
const PROGRESS_EVERY: usize = 250_000;

/// Builds the in-memory index from the records: one thread reads and
/// decodes them (only the fields the index needs), the calling thread
/// builds the index. A record that does not decode stops the open with an
/// error naming its key: serving an index that silently lacks a firm would
/// give wrong answers.
fn build_index(tree: &kv::Kv, location: &str) -> Result<index::EnterpriseIndex> {
    const BATCH: usize = 4096;
    let started = std::time::Instant::now();
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<Result<index::Entry>>>(8);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            for (seen, entry) in tree.scan_prefix([keys::ENTERPRISE]).enumerate() {
                let entry = entry.and_then(|(key, value)| decode_entry(&key, &value, location));
                let failed = entry.is_err();
                batch.push(entry);
                let full = batch.len() == BATCH || failed;
                if full && (send.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).is_err() || failed) {
                    return;
                }
                if (seen + 1) % PROGRESS_EVERY == 0 {
                    let elapsed_ms = started.elapsed().as_millis() as u64;
                    tracing::info!(firms = seen + 1, elapsed_ms, "building the index");
                }
            }
            let _ = send.send(batch);
        });
        let built = index::EnterpriseIndex::build(receive.into_iter().flatten())?;
        let firms = built.len();
        if firms >= PROGRESS_EVERY {
            tracing::info!(firms, elapsed_ms = started.elapsed().as_millis() as u64, "index built");
        }
        Ok(built)
    })
}

/// The index entry of one stored record, or an error naming its key.
fn decode_entry(key: &[u8], value: &[u8], location: &str) -> Result<index::Entry> {
    let corrupt = |why: String| {
        Error::Unavailable(format!(
            "the store at {} holds a damaged enterprise record under key {:?} ({why}); \
             restore it from a backup, or see README \"Recovering a damaged store\"",
            location,
            String::from_utf8_lossy(key)
        ))
    };
    let fields: index::IndexedFields = codec::decode(value).map_err(|e| corrupt(e.to_string()))?;
    let entry = index::Entry::of(&fields).map_err(|e| corrupt(e.to_string()))?;
    if key.get(1..) != Some(entry.code().as_slice()) {
        return Err(corrupt(format!("it holds {}", String::from_utf8_lossy(entry.code()))));
    }
    Ok(entry)
}

/// Runs a blocking store operation (a scan) on tokio's blocking pool.
pub async fn blocking<R: Send + 'static>(f: impl FnOnce() -> Result<R> + Send + 'static) -> Result<R> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(format!("store task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task parked on the closing thread's own runtime still holds a
    /// writer handle (the answer to its write arrived, but the task cannot
    /// run to drop the handle): close must not wait for it. It did, now and
    /// then, when a test server was dropped inside its test's runtime.
    #[tokio::test(flavor = "current_thread")]
    async fn close_returns_while_a_parked_task_holds_a_writer_handle() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions::new(dir.path())).unwrap();
        let writer = store.clone();
        let task = tokio::spawn(async move {
            writer
                .write(false, |txn| {
                    txn.put(b"test".to_vec(), b"1".to_vec());
                    Ok(())
                })
                .await
                .unwrap();
        });
        // The task runs until it waits for its answer, holding the handle.
        tokio::task::yield_now().await;
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if finished.recv_timeout(std::time::Duration::from_secs(60)).is_err() {
                eprintln!("Store::close hung with a writer handle held by a parked task");
                std::process::exit(101);
            }
        });
        store.close();
        done.send(()).unwrap();
        task.await.unwrap();
        // A write after the close is refused, not lost in a queue.
        let err = store
            .write(false, |txn| {
                txn.put(b"test".to_vec(), b"2".to_vec());
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("shutting down"), "{err}");
    }

    #[test]
    fn a_store_in_use_is_refused_with_one_clear_reason() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions::new(dir.path());
        let first = Store::open(&options).unwrap();
        let err = Store::open(&options).err().expect("the second open fails").to_string();
        assert!(err.contains("another ladder process is using the store"), "{err}");
        first.close();
    }

    #[test]
    fn a_damaged_record_stops_the_open_and_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions::new(dir.path());
        Store::open(&options).unwrap().close();
        {
            let db = sled::open(dir.path()).unwrap();
            let tree = db.open_tree("ladder").unwrap();
            tree.insert(keys::enterprise("91610116MA6U000001"), &[1u8, 0xff, 0xff, 0xff][..]).unwrap();
            flush(&db).unwrap();
        }
        let err = Store::open(&options).err().expect("the open fails").to_string();
        assert!(err.contains("E91610116MA6U000001") && err.contains("damaged"), "{err}");
    }
}
