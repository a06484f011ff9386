//! The single writer and its group commit.
//!
//! All mutations run on one dedicated thread, one after another, so every
//! read-check-write (etag, uniqueness, idempotency) sees a consistent store
//! without locks. The writer takes every job already queued (up to
//! [`MAX_GROUP`]) and runs each against a [`Txn`] that buffers its writes on
//! top of the group's. A job that fails leaves nothing behind; the writes of
//! the jobs that succeed are merged and applied as **one** atomic
//! `apply_batch` (records, change-log entries, counters and the revision
//! counter together). Then `flush` (fsync) runs once and only then are the
//! jobs answered: an acknowledged write is durable, and a crash can lose only
//! unacknowledged groups, whole.
//!
//! Two threads share the work, as a pipeline. The **executor**
//! (`ladder-writer`) runs the jobs of group N+1 while the **committer**
//! (`ladder-commit`) applies group N's batch, moves the in-memory index,
//! flushes and answers. Until a group is applied, its final writes stay in
//! the *pending* list, and the executor's transactions read through them
//! (own writes → the group's → pending groups, newest first → the tree), so
//! every job still sees every earlier write. Groups are committed and
//! answered in order; a job that wrote nothing is answered only once the
//! groups before it are durable.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::domain::change::Change;
use crate::domain::time::{now_micros, Micros};
use crate::error::{Error, Result};
use crate::store::index::{Delta, EnterpriseIndex};
use crate::store::kv::Kv;
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

/// The final writes of the groups handed to the committer and not applied
/// yet, oldest first.
type Pending = Arc<Mutex<VecDeque<Arc<Writes>>>>;

/// What the jobs of one group have written so far.
#[derive(Default)]
struct Group {
    writes: Writes,
    counters: BTreeMap<Vec<u8>, i64>,
    index: Vec<Delta>,
}

/// The buffered writes of one job. Reads see the job's own earlier writes,
/// then those of the earlier jobs of its group, then the store.
pub struct Txn<'a> {
    tree: &'a Kv,
    /// Groups not applied yet, oldest first.
    pending: &'a [Arc<Writes>],
    group: &'a Group,
    writes: Writes,
    counters: BTreeMap<Vec<u8>, i64>,
    index: Vec<Delta>,
    next_revision: u64,
    now: Micros,
    /// A `validate_only` run: never committed.
    dry: bool,
    /// Why the group cannot run: every read fails with it at once.
    refusal: Option<Error>,
    /// Values read ahead ([`Txn::prefetch`]); `None`: absent.
    read: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Txn<'a> {
    fn new(tree: &'a Kv, pending: &'a [Arc<Writes>], group: &'a Group, next_revision: u64) -> Self {
        Self {
            tree,
            pending,
            group,
            writes: BTreeMap::new(),
            counters: BTreeMap::new(),
            index: Vec::new(),
            next_revision,
            now: now_micros(),
            dry: false,
            refusal: None,
            read: BTreeMap::new(),
        }
    }

    /// Whether this transaction only validates (it is never committed).
    pub fn is_dry_run(&self) -> bool {
        self.dry
    }

    /// The commit time of this transaction.
    pub fn now(&self) -> Micros {
        self.now
    }

    fn refused(&self) -> Result<()> {
        self.refusal.clone().map_or(Ok(()), Err)
    }

    /// Reads a key, seeing buffered writes first.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.refused()?;
        let buffered = self.writes.get(key).or_else(|| self.group.writes.get(key)).or_else(|| self.read.get(key));
        if let Some(value) = buffered {
            return Ok(value.clone());
        }
        read_through(self.tree, self.pending, key)
    }

    /// Every key and value under `prefix`, in key order, seeing buffered
    /// writes (so a scan in a job sees what earlier jobs of its group wrote).
    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.refused()?;
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for entry in self.tree.scan_prefix(prefix) {
            let (k, v) = entry?;
            merged.insert(k.to_vec(), Some(v.to_vec()));
        }
        let layers = self.pending.iter().map(|w| &**w).chain([&self.group.writes, &self.writes]);
        for layer in layers {
            for (k, v) in layer.range(prefix.to_vec()..).take_while(|(k, _)| k.starts_with(prefix)) {
                merged.insert(k.clone(), v.clone());
            }
        }
        Ok(merged.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
    }

    /// Reads `keys` ahead, in one round trip on PostgreSQL, for the
    /// [`Txn::get`]s that follow (a sync chunk's firms). A key any layer
    /// of writes holds is not read. On sled, where a read is cheap, it does
    /// nothing.
    pub fn prefetch(&mut self, keys: impl IntoIterator<Item = Vec<u8>>) -> Result<()> {
        self.refused()?;
        if self.tree.read_batch() == 1 {
            return Ok(());
        }
        let written = |key: &Vec<u8>| {
            self.writes.contains_key(key)
                || self.group.writes.contains_key(key)
                || self.pending.iter().any(|w| w.contains_key(key))
                || self.read.contains_key(key)
        };
        let unread: Vec<Vec<u8>> = keys.into_iter().filter(|k| !written(k)).collect();
        let found: BTreeMap<Vec<u8>, Vec<u8>> =
            self.tree.get_many(&unread)?.into_iter().map(|(k, v)| (k, v.to_vec())).collect();
        for key in unread {
            let value = found.get(&key).cloned();
            self.read.insert(key, value);
        }
        Ok(())
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

    /// Appends a change to the log, assigning and returning its revision,
    /// and indexes it under its resource (`R{resource}\0{revision}`).
    pub fn log(&mut self, change: Change) -> u64 {
        let resource = keys::resource_log(&change.resource, self.next_revision);
        self.put(resource, Vec::new());
        self.log_chained(change, 0)
    }

    /// Appends a change of a resource whose history is chained through its
    /// record (an enterprise's `log_head`): the entry names the resource's
    /// `previous` change instead of taking a per-resource index key.
    pub fn log_chained(&mut self, mut change: Change, previous: u64) -> u64 {
        let revision = self.next_revision;
        self.next_revision += 1;
        change.revision = revision;
        change.time = self.now;
        change.previous_revision = previous;
        self.put(keys::log(revision), codec::encode(&change));
        revision
    }

    /// Records that an enterprise's index entry moves from `old` to `new`
    /// when this transaction commits.
    pub(crate) fn reindex(&mut self, delta: Delta) {
        self.index.push(delta);
    }

    /// Whether the transaction wrote nothing (a no-op needs no commit).
    fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.counters.is_empty()
    }

    /// The buffered writes, counter changes and index deltas, and the next
    /// revision.
    fn into_parts(self) -> (Writes, BTreeMap<Vec<u8>, i64>, Vec<Delta>, u64) {
        (self.writes, self.counters, self.index, self.next_revision)
    }
}

impl Group {
    fn absorb(&mut self, writes: Writes, counters: BTreeMap<Vec<u8>, i64>, index: Vec<Delta>) {
        self.index.extend(index);
        self.writes.extend(writes);
        for (key, delta) in counters {
            *self.counters.entry(key).or_default() += delta;
        }
    }

    /// Every write of the group, the counters folded into their current
    /// values (read through the pending groups) and the revision counter.
    fn finish(self, tree: &Kv, pending: &[Arc<Writes>], next_revision: u64) -> Result<(Writes, Vec<Delta>)> {
        let mut writes = self.writes;
        for (key, delta) in self.counters {
            if delta == 0 {
                continue;
            }
            let current = read_through(tree, pending, &key)?.map_or(0, |v| decode_u64(&v));
            let updated = current.saturating_add_signed(delta);
            writes.insert(key, (updated != 0).then(|| updated.to_be_bytes().to_vec()));
        }
        writes.insert(keys::META_REVISION.to_vec(), Some(next_revision.to_be_bytes().to_vec()));
        Ok((writes, self.index))
    }
}

/// The sled batch of a group's final writes.
fn batch_of(writes: &Writes) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (key, value) in writes {
        match value {
            Some(v) => batch.insert(key.as_slice(), v.as_slice()),
            None => batch.remove(key.as_slice()),
        }
    }
    batch
}

/// Reads a key as it will be once the pending groups are applied.
fn read_through(tree: &Kv, pending: &[Arc<Writes>], key: &[u8]) -> Result<Option<Vec<u8>>> {
    for writes in pending.iter().rev() {
        if let Some(value) = writes.get(key) {
            return Ok(value.clone());
        }
    }
    Ok(tree.get(key)?.map(|v| v.to_vec()))
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
pub fn read_u64(tree: &Kv, key: &[u8]) -> Result<u64> {
    Ok(tree.get(key)?.map_or(0, |v| decode_u64(&v)))
}

/// A big-endian u64 value (0 when malformed).
pub fn decode_u64(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes).map_or(0, u64::from_be_bytes)
}

/// Where the writer commits.
pub(crate) enum Backend {
    /// The sled tree: batches applied by the committer thread, then flushed;
    /// the committer moves `index` with each group, keeps before images for
    /// a backup (`snapshot`) and publishes the head revision to `head`.
    Sled {
        db: sled::Db,
        tree: sled::Tree,
        index: Arc<RwLock<EnterpriseIndex>>,
        head: tokio::sync::watch::Sender<u64>,
        snapshot: super::backup::Snapshot,
    },
    /// PostgreSQL: one transaction per group, under the global write lock.
    Pg { kv: Kv, writer: super::pg::PgWriter, follower: Arc<super::pg::Follower> },
}

/// Handle to the writer thread. [`Writer::shutdown`] (or dropping every
/// handle) stops the thread after it has committed and flushed the jobs
/// already queued.
#[derive(Clone)]
pub struct Writer {
    /// Jobs; `None` asks the thread to stop taking new ones.
    queue: mpsc::Sender<Option<Job>>,
}

impl Writer {
    /// Starts the writer thread over `backend`; it moves the in-memory
    /// indexes with every group it commits and publishes the head revision
    /// after every durable group.
    pub fn start(backend: Backend) -> Result<(Writer, JoinHandle<()>)> {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let thread = match backend {
            Backend::Sled { db, tree, index, head, snapshot } => {
                let next_revision = read_u64(&Kv::Sled(tree.clone()), keys::META_REVISION)?.max(1);
                std::thread::Builder::new()
                    .name("ladder-writer".into())
                    .spawn(move || run(&db, &tree, &index, jobs, next_revision, &head, snapshot))
            }
            Backend::Pg { kv, writer, follower } => std::thread::Builder::new()
                .name("ladder-writer".into())
                .spawn(move || run_pg(&kv, writer, &follower, jobs)),
        }
        .map_err(|e| Error::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok((Writer { queue }, thread))
    }

    /// Jobs waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Tells the thread to finish the jobs already queued and stop, even
    /// while other handles live on (a request task parked on the caller's
    /// own runtime may hold one and never run again); writes sent after
    /// this are refused as UNAVAILABLE. Returns once the request is queued,
    /// not when the thread has stopped (join its handle for that).
    pub fn shutdown(&self) {
        let queue = self.queue.clone();
        // From a thread of its own: a blocking send may not run on an async
        // runtime's thread, and the caller may be one.
        let sent = std::thread::Builder::new()
            .name("ladder-writer-stop".into())
            .spawn(move || {
                let _ = queue.blocking_send(None);
            })
            .map(|t| t.join());
        if sent.is_err() {
            tracing::error!("cannot ask the writer to stop: it stops when its last handle is dropped");
        }
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
        self.queue.send(Some(job)).await.map_err(|_| Error::Unavailable("the store is shutting down".into()))?;
        answer.await.map_err(|_| {
            Error::Internal("the write failed inside the store before it was confirmed (see the server log)".into())
        })?
    }
}

/// Runs `op` against a transaction that is never committed: for
/// `validate_only` requests, which must see the same checks as real writes.
pub fn dry_run<R>(tree: &Kv, op: impl FnOnce(&mut Txn<'_>) -> Result<R>) -> Result<R> {
    let next = read_u64(tree, keys::META_REVISION)?.max(1);
    let group = Group::default();
    let mut txn = Txn::new(tree, &[], &group, next);
    txn.dry = true;
    op(&mut txn)
}

/// A group handed from the executor to the committer.
struct Commit {
    /// Its final writes (`None`: the group wrote nothing; its jobs are
    /// answered once the groups before it are).
    writes: Option<Arc<Writes>>,
    deltas: Vec<Delta>,
    waiting: Vec<Completion>,
    /// The head revision once it is durable.
    head: u64,
}

/// The executor: runs the jobs, group by group, and hands each group's
/// final writes to the committer.
fn run(
    db: &sled::Db,
    tree: &sled::Tree,
    index: &Arc<RwLock<EnterpriseIndex>>,
    mut jobs: mpsc::Receiver<Option<Job>>,
    mut next_revision: u64,
    head: &tokio::sync::watch::Sender<u64>,
    snapshot: super::backup::Snapshot,
) {
    let pending: Pending = Arc::default();
    let broken = Arc::new(AtomicBool::new(false));
    // Two groups may wait for the committer: the executor runs ahead by at
    // most that much.
    let (commits, to_commit) = std::sync::mpsc::sync_channel::<Commit>(2);
    let committer = {
        let (db, tree, index, head) = (db.clone(), tree.clone(), Arc::clone(index), head.clone());
        let (pending, broken) = (Arc::clone(&pending), Arc::clone(&broken));
        std::thread::Builder::new().name("ladder-commit".into()).spawn(move || {
            let shared = Committer { db, tree, index, pending, broken, head, snapshot };
            commit_groups(&shared, to_commit);
        })
    };
    let committer = match committer {
        Ok(thread) => thread,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the commit thread; the store takes no writes");
            return;
        }
    };
    let kv = Kv::Sled(tree.clone());
    let mut queued: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    while take_jobs(&mut jobs, &mut queued) {
        if queued.is_empty() {
            continue;
        }
        if broken.load(Ordering::Acquire) {
            // A batch failed to apply: what later groups read may never
            // have reached the store. Refuse writes until a restart.
            refuse(
                &kv,
                &mut queued,
                next_revision,
                &Error::Unavailable("the store failed to apply a write; restart the server (see its log)".into()),
            );
            continue;
        }
        let snapshot: Vec<Arc<Writes>> = pending.lock().map(|p| p.iter().cloned().collect()).unwrap_or_default();
        let Executed { group, group_revision, wrote, waiting } = execute(&kv, &snapshot, &mut queued, next_revision);
        let commit = if wrote {
            match group.finish(&kv, &snapshot, group_revision) {
                Ok((writes, deltas)) => {
                    // The revisions are taken once handed over, even if the
                    // commit fails: the batch may reach disk later, and its
                    // revisions must never be handed out again.
                    next_revision = group_revision;
                    let writes = Arc::new(writes);
                    if let Ok(mut p) = pending.lock() {
                        p.push_back(Arc::clone(&writes));
                    }
                    Commit { writes: Some(writes), deltas, waiting, head: next_revision - 1 }
                }
                Err(e) => {
                    tracing::error!(error = %e, "a group could not be prepared");
                    for done in waiting {
                        done(Err(e.clone()));
                    }
                    continue;
                }
            }
        } else {
            Commit { writes: None, deltas: Vec::new(), waiting, head: next_revision - 1 }
        };
        if commits.send(commit).is_err() {
            tracing::error!("the commit thread stopped");
            break;
        }
    }
    drop(commits);
    if committer.join().is_err() {
        tracing::error!("the commit thread panicked");
    }
    if let Err(e) = crate::store::flush(db) {
        tracing::error!(error = %e, "final flush failed");
    }
}

/// What running one group's jobs left.
struct Executed {
    group: Group,
    /// The next revision after the group.
    group_revision: u64,
    /// Whether any job wrote anything.
    wrote: bool,
    /// The completions of the jobs to answer once the group is durable.
    waiting: Vec<Completion>,
}

/// Runs the queued jobs, each on top of the earlier ones' writes; answers
/// the failed ones at once.
fn execute(kv: &Kv, pending: &[Arc<Writes>], queued: &mut Vec<Job>, next_revision: u64) -> Executed {
    let mut group = Group::default();
    let mut group_revision = next_revision;
    let mut wrote = false;
    let mut waiting: Vec<Completion> = Vec::with_capacity(queued.len());
    for job in queued.drain(..) {
        let mut txn = Txn::new(kv, pending, &group, group_revision);
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
            let (writes, counters, deltas, next) = txn.into_parts();
            group.absorb(writes, counters, deltas);
            group_revision = next;
            wrote = true;
        }
        // Answered after the commit even when it wrote nothing itself: a
        // retry or no-op may report state an earlier job wrote, which is
        // durable only after the commit.
        waiting.push(done);
    }
    Executed { group, group_revision, wrote, waiting }
}

/// Answers every queued job with `error` (their writes are discarded).
fn refuse(kv: &Kv, queued: &mut Vec<Job>, next_revision: u64, error: &Error) {
    let empty = Group::default();
    for job in queued.drain(..) {
        let mut txn = Txn::new(kv, &[], &empty, next_revision);
        txn.refusal = Some(error.clone());
        let (_, done) = job(&mut txn);
        done(Err(error.clone()));
    }
}

/// Takes the jobs already queued (at least one, waiting for it) up to
/// [`MAX_GROUP`]; `false` once the queue is closed and empty.
fn take_jobs(jobs: &mut mpsc::Receiver<Option<Job>>, queued: &mut Vec<Job>) -> bool {
    let Some(first) = jobs.blocking_recv() else { return false };
    // A stop request closes the queue: the jobs already in it are still
    // received (and committed), then `blocking_recv` ends the loop.
    match first {
        Some(job) => queued.push(job),
        None => jobs.close(),
    }
    while queued.len() < MAX_GROUP {
        match jobs.try_recv() {
            Ok(Some(job)) => queued.push(job),
            Ok(None) => jobs.close(),
            Err(_) => break,
        }
    }
    true
}

/// The PostgreSQL writer: one transaction per group. It takes the global
/// write lock (every server's groups commit one at a time), applies the
/// commits other servers made meanwhile to the indexes, reads the next
/// revision, runs the jobs against the store as it now is, writes the
/// group with its index moves for the other servers, commits (durable:
/// `synchronous_commit = on`), moves the index and only then answers.
fn run_pg(
    kv: &Kv,
    mut writer: super::pg::PgWriter,
    follower: &super::pg::Follower,
    mut jobs: mpsc::Receiver<Option<Job>>,
) {
    let mut queued: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    while take_jobs(&mut jobs, &mut queued) {
        if queued.is_empty() {
            continue;
        }
        let prepared = writer.begin().and_then(|seq| {
            follower.catch_up_to(seq)?;
            Ok((seq, read_u64(kv, keys::META_REVISION)?.max(1)))
        });
        let (seq, next_revision) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                writer.rollback();
                tracing::warn!(error = %e, jobs = queued.len(), "a write group could not start");
                refuse(kv, &mut queued, 0, &e);
                continue;
            }
        };
        let Executed { group, group_revision, wrote, waiting } = execute(kv, &[], &mut queued, next_revision);
        let committed = if wrote {
            let started = std::time::Instant::now();
            let committed = group.finish(kv, &[], group_revision).and_then(|(writes, deltas)| {
                let head = group_revision - 1;
                writer.commit(&writes, seq + 1, head, super::index::encode_deltas(&deltas))?;
                // Durable now: the jobs are answered OK. Should the index
                // move fail here, the follower applies the commit later.
                if let Err(e) = follower.own(seq + 1, head, deltas) {
                    tracing::warn!(error = %e, "a commit's index moves wait for the follower");
                }
                Ok(())
            });
            crate::metrics::observe_group(waiting.len(), started.elapsed());
            if let Err(e) = &committed {
                tracing::error!(error = %e, jobs = waiting.len(), "group commit failed");
            }
            committed
        } else {
            writer.rollback();
            Ok(())
        };
        for done in waiting {
            done(committed.clone());
        }
    }
}

/// What the committer works with.
struct Committer {
    db: sled::Db,
    tree: sled::Tree,
    index: Arc<RwLock<EnterpriseIndex>>,
    pending: Pending,
    broken: Arc<AtomicBool>,
    head: tokio::sync::watch::Sender<u64>,
    /// The backup in progress, whose before images it keeps.
    snapshot: super::backup::Snapshot,
}

/// The committer: applies each group's batch and moves the index (under
/// the index's write lock, so readers see both or neither), flushes,
/// publishes the head and answers the group's jobs, in order.
fn commit_groups(shared: &Committer, groups: std::sync::mpsc::Receiver<Commit>) {
    let Committer { db, tree, index, pending, broken, head, snapshot } = shared;
    for Commit { writes, deltas, waiting, head: group_head } in groups {
        let Some(writes) = writes else {
            // A group that wrote nothing may report what an earlier group
            // wrote: after a failed group, that may never have been applied.
            let answer = if broken.load(Ordering::Acquire) {
                Err(Error::Unavailable("the store failed to apply an earlier write; restart the server".into()))
            } else {
                Ok(())
            };
            for done in waiting {
                done(answer.clone());
            }
            continue;
        };
        let applied = if broken.load(Ordering::Acquire) {
            Err(Error::Unavailable("the store failed to apply an earlier write; restart the server".into()))
        } else {
            index.write().map_err(|_| Error::Internal("index lock poisoned".into())).and_then(|mut index| {
                // A backup running keeps what this group overwrites.
                super::backup::save_before_images(snapshot, tree, writes.keys())?;
                crate::store::apply_batch(tree, batch_of(&writes))?;
                index.apply(deltas);
                Ok(())
            })
        };
        if let Ok(mut p) = pending.lock() {
            p.pop_front();
        }
        if let Err(e) = &applied {
            tracing::error!(error = %e, "a group could not be applied; the store takes no more writes");
            broken.store(true, Ordering::Release);
        }
        let flushing = std::time::Instant::now();
        let committed = applied.and_then(|()| {
            crate::store::flush(db)
                .map_err(|e| Error::Unavailable(format!("the store could not make the write durable: {e}")))
        });
        crate::metrics::observe_group(waiting.len(), flushing.elapsed());
        match &committed {
            Ok(()) => {
                head.send_replace(group_head);
            }
            Err(e) => tracing::error!(error = %e, jobs = waiting.len(), "group commit failed"),
        }
        for done in waiting {
            done(committed.clone());
        }
        drop(writes);
        reclaim();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, sled::Db, Kv) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let tree = Kv::Sled(db.open_tree("t").unwrap());
        (dir, db, tree)
    }

    #[test]
    fn jobs_see_earlier_jobs_of_their_group_and_failed_jobs_leave_nothing() {
        let (_dir, _db, tree) = open();
        let mut group = Group::default();
        let mut first = Txn::new(&tree, &[], &group, 1);
        first.put(b"a".to_vec(), b"1".to_vec());
        first.count(b"Mc".to_vec(), 2);
        let (w, c, i, next) = first.into_parts();
        group.absorb(w, c, i);
        assert_eq!(next, 1);

        let mut second = Txn::new(&tree, &[], &group, next);
        assert_eq!(second.get(b"a").unwrap(), Some(b"1".to_vec()), "sees the first job");
        second.put(b"b".to_vec(), b"2".to_vec());
        drop(second); // failed: never absorbed

        let mut third = Txn::new(&tree, &[], &group, next);
        assert_eq!(third.get(b"b").unwrap(), None, "a failed job's writes are gone");
        third.count(b"Mc".to_vec(), 1);
        let revision = third.log(Change { resource: "r".into(), ..Default::default() });
        let (w, c, i, next) = third.into_parts();
        group.absorb(w, c, i);
        assert_eq!((revision, next), (1, 2));

        tree.sled().unwrap().apply_batch(batch_of(&group.finish(&tree, &[], next).unwrap().0)).unwrap();
        assert_eq!(read_u64(&tree, b"Mc").unwrap(), 3);
        assert_eq!(read_u64(&tree, keys::META_REVISION).unwrap(), 2);
        assert!(tree.get(b"b").unwrap().is_none());
        assert!(tree.get(keys::log(1)).unwrap().is_some());
    }

    #[test]
    fn counters_that_reach_zero_are_removed() {
        let (_dir, _db, tree) = open();
        tree.insert(b"Mc", 1u64.to_be_bytes()).unwrap();
        let mut group = Group::default();
        group.absorb(Writes::new(), BTreeMap::from([(b"Mc".to_vec(), -1)]), Vec::new());
        tree.sled().unwrap().apply_batch(batch_of(&group.finish(&tree, &[], 1).unwrap().0)).unwrap();
        assert!(tree.get(b"Mc").unwrap().is_none());
    }
}
