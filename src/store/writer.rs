//! The single writer and its group commit.
//!
//! All mutations run on one dedicated thread, one after another, so every
//! read-check-write (etag, uniqueness, idempotency) sees a consistent store
//! without locks. A job runs against a [`Txn`] that buffers its writes; a job
//! that succeeds becomes one atomic `apply_batch` (record, index entries,
//! change-log entries, counters and the revision counter together). The writer
//! takes every job already queued (up to [`MAX_GROUP`]), applies them, calls
//! `flush` (fsync) once, and only then answers them all: an acknowledged write
//! is durable, and a crash can lose only unacknowledged ones, whole.

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

/// The buffered writes of one job. Reads see the job's own earlier writes.
pub struct Txn<'a> {
    tree: &'a sled::Tree,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    counters: BTreeMap<&'static [u8], i64>,
    next_revision: u64,
    now: Micros,
}

impl<'a> Txn<'a> {
    fn new(tree: &'a sled::Tree, next_revision: u64) -> Self {
        Self {
            tree,
            writes: BTreeMap::new(),
            counters: BTreeMap::new(),
            next_revision,
            now: now_micros(),
        }
    }

    /// The commit time of this transaction.
    pub fn now(&self) -> Micros {
        self.now
    }

    /// Reads a key, seeing this transaction's own writes first.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.writes.get(key) {
            Some(pending) => Ok(pending.clone()),
            None => Ok(self.tree.get(key)?.map(|v| v.to_vec())),
        }
    }

    /// Reads and decodes a record.
    pub fn get_record<M: prost::Message + Default>(&self, key: &[u8]) -> Result<Option<M>> {
        self.get(key)?
            .map(|bytes| codec::decode(&bytes))
            .transpose()
    }

    /// Writes a key.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    /// Removes a key.
    pub fn remove(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Adds `delta` to a counter kept under a metadata key.
    pub fn count(&mut self, key: &'static [u8], delta: i64) {
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

    /// Turns the buffered writes into one batch; returns it with the next revision.
    fn into_batch(mut self) -> Result<(sled::Batch, u64)> {
        for (key, delta) in std::mem::take(&mut self.counters) {
            let current = read_u64(self.tree, key)?;
            let updated = current.saturating_add_signed(delta);
            self.put(key.to_vec(), updated.to_be_bytes().to_vec());
        }
        self.put(
            keys::META_REVISION.to_vec(),
            self.next_revision.to_be_bytes().to_vec(),
        );
        let mut batch = sled::Batch::default();
        for (key, value) in self.writes {
            match value {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            }
        }
        Ok((batch, self.next_revision))
    }
}

/// Reads a big-endian u64 stored under `key` (0 when absent).
pub fn read_u64(tree: &sled::Tree, key: &[u8]) -> Result<u64> {
    Ok(tree
        .get(key)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

/// Handle to the writer thread. Dropping every handle stops the thread after
/// it has committed and flushed the jobs already queued.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread over `tree`.
    pub fn start(db: sled::Db, tree: sled::Tree) -> Result<(Writer, JoinHandle<()>)> {
        let next_revision = read_u64(&tree, keys::META_REVISION)?.max(1);
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("ladder-writer".into())
            .spawn(move || run(&db, &tree, jobs, next_revision))
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
        self.queue
            .send(job)
            .await
            .map_err(|_| Error::Unavailable("the store is shutting down".into()))?;
        answer.await.map_err(|_| {
            Error::Unavailable("the store stopped before confirming the write".into())
        })?
    }
}

/// Runs `op` against a transaction that is never committed: for
/// `validate_only` requests, which must see the same checks as real writes.
pub fn dry_run<R>(tree: &sled::Tree, op: impl FnOnce(&mut Txn<'_>) -> Result<R>) -> Result<R> {
    let next = read_u64(tree, keys::META_REVISION)?.max(1);
    op(&mut Txn::new(tree, next))
}

fn run(db: &sled::Db, tree: &sled::Tree, mut jobs: mpsc::Receiver<Job>, mut next_revision: u64) {
    let mut group: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    let mut waiting: Vec<Completion> = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = jobs.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        for job in group.drain(..) {
            let mut txn = Txn::new(tree, next_revision);
            let (commit, done) = job(&mut txn);
            if !commit || txn.is_empty() {
                done(Ok(()));
                continue;
            }
            match txn.into_batch().and_then(|(batch, next)| {
                tree.apply_batch(batch)?;
                Ok(next)
            }) {
                Ok(next) => {
                    next_revision = next;
                    waiting.push(done);
                }
                Err(e) => {
                    tracing::error!(error = %e, "write failed");
                    done(Err(e));
                }
            }
        }
        if !waiting.is_empty() {
            let flushed = db.flush().map(|_| ()).map_err(|e| {
                tracing::error!(error = %e, "flush failed: writes are not confirmed durable");
                Error::Unavailable(format!("the store could not make the write durable: {e}"))
            });
            for done in waiting.drain(..) {
                done(flushed.clone());
            }
        }
    }
    if let Err(e) = db.flush() {
        tracing::error!(error = %e, "final flush failed");
    }
}
