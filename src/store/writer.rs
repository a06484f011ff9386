//! The single writer and its group commit.
//!
//! All mutations run on one dedicated thread, one after another, so every
//! read-check-write (etag, uniqueness, idempotency) sees a consistent store
//! without locks. The writer takes every job already queued (up to
//! [`MAX_GROUP`]) and runs each against a [`Txn`] that buffers its writes on
//! top of the group's. A job that fails leaves nothing behind; the writes of
//! the jobs that succeed are merged and applied as **one** atomic
//! `apply_batch` (records, index entries, change-log entries, counters and the
//! revision counter together). Then the writer calls `flush` (fsync) once and
//! only then answers the jobs: an acknowledged write is durable, and a crash
//! can lose only unacknowledged groups, whole.

use std::collections::BTreeMap;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::domain::change::Change;
use crate::domain::time::{now_micros, Micros};
use crate::error::{Error, Result};
use crate::store::{codec, keys};

/// Most jobs committed by one flush.
pub const MAX_GROUP: usize = 1024;
/// Jobs that may wait for the writer before callers are made to wait.
pub const QUEUE_DEPTH: usize = 4096;

/// Called once the job's fate is known: `Ok` after its batch is durable.
type Completion = Box<dyn FnOnce(Result<()>) + Send>;
/// A unit of work: runs against a transaction, says whether to commit it.
type Job = Box<dyn FnOnce(&mut Txn<'_>) -> (bool, Completion) + Send>;

/// Buffered writes: `None` marks a removal.
type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// What the jobs of one group have written so far.
#[derive(Default)]
struct Group {
    writes: Writes,
    counters: BTreeMap<Vec<u8>, i64>,
}

/// The buffered writes of one job. Reads see the job's own earlier writes,
/// then those of the earlier jobs of its group, then the store.
pub struct Txn<'a> {
    tree: &'a sled::Tree,
    group: &'a Group,
    writes: Writes,
    counters: BTreeMap<Vec<u8>, i64>,
    next_revision: u64,
    now: Micros,
}

impl<'a> Txn<'a> {
    fn new(tree: &'a sled::Tree, group: &'a Group, next_revision: u64) -> Self {
        Self { tree, group, writes: BTreeMap::new(), counters: BTreeMap::new(), next_revision, now: now_micros() }
    }

    /// The commit time of this transaction.
    pub fn now(&self) -> Micros {
        self.now
    }

    /// Reads a key, seeing buffered writes first.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(pending) = self.writes.get(key).or_else(|| self.group.writes.get(key)) {
            return Ok(pending.clone());
        }
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    /// Every key and value under `prefix`, in key order, seeing buffered
    /// writes (so a scan in a job sees what earlier jobs of its group wrote).
    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for entry in self.tree.scan_prefix(prefix) {
            let (k, v) = entry?;
            merged.insert(k.to_vec(), Some(v.to_vec()));
        }
        for layer in [&self.group.writes, &self.writes] {
            for (k, v) in layer.range(prefix.to_vec()..).take_while(|(k, _)| k.starts_with(prefix)) {
                merged.insert(k.clone(), v.clone());
            }
        }
        Ok(merged.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
    }

    /// Reads and decodes a record.
    pub fn get_record<M: prost::Message + Default>(&self, key: &[u8]) -> Result<Option<M>> {
        self.get(key)?.map(|bytes| codec::decode(&bytes)).transpose()
    }

    /// Writes a key.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    /// Removes a key.
    pub fn remove(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Adds `delta` to a counter stored under `key` (a big-endian u64).
    pub fn count(&mut self, key: Vec<u8>, delta: i64) {
        *self.counters.entry(key).or_default() += delta;
    }

    /// Appends a change to the log, assigning and returning its revision.
    pub fn log(&mut self, mut change: Change) -> u64 {
        let revision = self.next_revision;
        self.next_revision += 1;
        change.revision = revision;
        change.time = self.now;
        self.put(keys::resource_log(&change.resource, revision), Vec::new());
        self.put(keys::log(revision), codec::encode(&change));
        revision
    }

    /// Whether the transaction wrote nothing (a no-op needs no commit).
    fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.counters.is_empty()
    }

    /// The buffered writes and counter changes, and the next revision.
    fn into_parts(self) -> (Writes, BTreeMap<Vec<u8>, i64>, u64) {
        (self.writes, self.counters, self.next_revision)
    }
}

impl Group {
    fn absorb(&mut self, writes: Writes, counters: BTreeMap<Vec<u8>, i64>) {
        self.writes.extend(writes);
        for (key, delta) in counters {
            *self.counters.entry(key).or_default() += delta;
        }
    }

    /// One batch with every write of the group, the counters folded into
    /// their stored values and the revision counter.
    fn into_batch(self, tree: &sled::Tree, next_revision: u64) -> Result<sled::Batch> {
        let mut batch = sled::Batch::default();
        for (key, delta) in self.counters {
            if delta == 0 {
                continue;
            }
            let updated = read_u64(tree, &key)?.saturating_add_signed(delta);
            if updated == 0 {
                batch.remove(key);
            } else {
                batch.insert(key, updated.to_be_bytes().to_vec());
            }
        }
        for (key, value) in self.writes {
            match value {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            }
        }
        batch.insert(keys::META_REVISION, next_revision.to_be_bytes().to_vec());
        Ok(batch)
    }
}

/// Pins sled's epoch this many times after each group, collecting garbage.
const RECLAIM_ROUNDS: usize = 64;

/// Runs the frees sled has deferred. sled frees the pages its inserts
/// replace through crossbeam's epoch collector, which collects only a few
/// bags of garbage each time a thread pins. A writer that pins once per
/// batch of thousands of inserts leaves most of it uncollected: memory then
/// grows with every write (a raw-sled loop writing 1,000,000 firms grew past
/// 24 GiB and was killed). Each round here collects up to eight bags.
pub(crate) fn reclaim() {
    for _ in 0..RECLAIM_ROUNDS {
        sled::pin().flush();
    }
}

/// Reads a big-endian u64 stored under `key` (0 when absent).
pub fn read_u64(tree: &sled::Tree, key: &[u8]) -> Result<u64> {
    Ok(tree.get(key)?.map_or(0, |v| decode_u64(&v)))
}

/// A big-endian u64 value (0 when malformed).
pub fn decode_u64(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes).map_or(0, u64::from_be_bytes)
}

/// Handle to the writer thread. Dropping every handle stops the thread after
/// it has committed and flushed the jobs already queued.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread over `tree`; it publishes the head revision
    /// to `head` after every durable group.
    pub fn start(
        db: sled::Db,
        tree: sled::Tree,
        head: tokio::sync::watch::Sender<u64>,
    ) -> Result<(Writer, JoinHandle<()>)> {
        let next_revision = read_u64(&tree, keys::META_REVISION)?.max(1);
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("ladder-writer".into())
            .spawn(move || run(&db, &tree, jobs, next_revision, &head))
            .map_err(|e| Error::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok((Writer { queue }, thread))
    }

    /// Runs `op` in the writer and answers once its writes are durable. An
    /// `Err` from `op` discards its writes.
    pub async fn write<R, F>(&self, op: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Txn<'_>) -> Result<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |txn| match op(txn) {
            Ok(value) => (
                true,
                Box::new(move |durable: Result<()>| {
                    let _ = reply.send(durable.map(|()| value));
                }),
            ),
            Err(e) => (
                false,
                Box::new(move |_| {
                    let _ = reply.send(Err(e));
                }),
            ),
        });
        self.queue.send(job).await.map_err(|_| Error::Unavailable("the store is shutting down".into()))?;
        answer.await.map_err(|_| {
            Error::Internal("the write failed inside the store before it was confirmed (see the server log)".into())
        })?
    }
}

/// Runs `op` against a transaction that is never committed: for
/// `validate_only` requests, which must see the same checks as real writes.
pub fn dry_run<R>(tree: &sled::Tree, op: impl FnOnce(&mut Txn<'_>) -> Result<R>) -> Result<R> {
    let next = read_u64(tree, keys::META_REVISION)?.max(1);
    let group = Group::default();
    op(&mut Txn::new(tree, &group, next))
}

fn run(
    db: &sled::Db,
    tree: &sled::Tree,
    mut jobs: mpsc::Receiver<Job>,
    mut next_revision: u64,
    head: &tokio::sync::watch::Sender<u64>,
) {
    let mut queued: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    let mut waiting: Vec<Completion> = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = jobs.blocking_recv() {
        queued.push(first);
        while queued.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => queued.push(job),
                Err(_) => break,
            }
        }
        let mut group = Group::default();
        let mut group_revision = next_revision;
        let mut wrote = false;
        for job in queued.drain(..) {
            let mut txn = Txn::new(tree, &group, group_revision);
            // A panicking job must not take the writer down: its reply
            // channel is dropped (its caller sees an error) and its writes
            // are discarded.
            let Ok((commit, done)) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut txn))) else {
                tracing::error!("a write job panicked; its writes were discarded");
                continue;
            };
            if !commit {
                done(Ok(()));
                continue;
            }
            if !txn.is_empty() {
                let (writes, counters, next) = txn.into_parts();
                group.absorb(writes, counters);
                group_revision = next;
                wrote = true;
            }
            // Answered after the flush even when it wrote nothing itself: a
            // retry or no-op may report state an earlier job of this group
            // wrote, which is durable only after the flush.
            waiting.push(done);
        }
        if !wrote {
            for done in waiting.drain(..) {
                done(Ok(()));
            }
            continue;
        }
        let applied = group.into_batch(tree, group_revision).and_then(|batch| Ok(tree.apply_batch(batch)?));
        if applied.is_ok() {
            // The revisions are taken even if the flush fails below: the
            // batch may reach disk later, and its revisions must never be
            // handed out again.
            next_revision = group_revision;
        }
        let committed = applied.and_then(|()| {
            db.flush()
                .map(|_| ())
                .map_err(|e| Error::Unavailable(format!("the store could not make the write durable: {e}")))
        });
        match &committed {
            Ok(()) => {
                head.send_replace(next_revision - 1);
            }
            Err(e) => tracing::error!(error = %e, jobs = waiting.len(), "group commit failed"),
        }
        for done in waiting.drain(..) {
            done(committed.clone());
        }
        reclaim();
    }
    if let Err(e) = db.flush() {
        tracing::error!(error = %e, "final flush failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, sled::Db, sled::Tree) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("t").unwrap();
        (dir, db, tree)
    }

    #[test]
    fn jobs_see_earlier_jobs_of_their_group_and_failed_jobs_leave_nothing() {
        let (_dir, _db, tree) = open();
        let mut group = Group::default();
        let mut first = Txn::new(&tree, &group, 1);
        first.put(b"a".to_vec(), b"1".to_vec());
        first.count(b"Mc".to_vec(), 2);
        let (w, c, next) = first.into_parts();
        group.absorb(w, c);
        assert_eq!(next, 1);

        let mut second = Txn::new(&tree, &group, next);
        assert_eq!(second.get(b"a").unwrap(), Some(b"1".to_vec()), "sees the first job");
        second.put(b"b".to_vec(), b"2".to_vec());
        drop(second); // failed: never absorbed

        let mut third = Txn::new(&tree, &group, next);
        assert_eq!(third.get(b"b").unwrap(), None, "a failed job's writes are gone");
        third.count(b"Mc".to_vec(), 1);
        let revision = third.log(Change { resource: "r".into(), ..Default::default() });
        let (w, c, next) = third.into_parts();
        group.absorb(w, c);
        assert_eq!((revision, next), (1, 2));

        tree.apply_batch(group.into_batch(&tree, next).unwrap()).unwrap();
        assert_eq!(read_u64(&tree, b"Mc").unwrap(), 3);
        assert_eq!(read_u64(&tree, keys::META_REVISION).unwrap(), 2);
        assert!(tree.get(b"b").unwrap().is_none());
        assert!(tree.get(keys::log(1)).unwrap().is_some());
    }

    #[test]
    fn counters_that_reach_zero_are_removed() {
        let (_dir, _db, tree) = open();
        tree.insert(b"Mc", &1u64.to_be_bytes()).unwrap();
        let mut group = Group::default();
        group.absorb(Writes::new(), BTreeMap::from([(b"Mc".to_vec(), -1)]));
        tree.apply_batch(group.into_batch(&tree, 1).unwrap()).unwrap();
        assert!(tree.get(b"Mc").unwrap().is_none());
    }
}
