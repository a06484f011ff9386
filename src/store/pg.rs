//! The PostgreSQL backend: the only module that speaks SQL.
//!
//! The store's ordered key–value space ([`super::kv`]) is one table,
//! `ladder_kv (key bytea PRIMARY KEY, value bytea)`: a point read is a
//! primary-key lookup, a prefix or range scan is an index range scan read in
//! pages (keyset paging on the key), and `bytea` compares like sled (raw
//! bytes). Two more tables make several ladder servers one store:
//!
//! - `ladder_head (seq)`: one row. Every write group locks it first
//!   (`SELECT … FOR UPDATE`), so groups from all servers commit one at a
//!   time, each on top of every earlier one: the global revision counter (the
//!   `Mrevision` entry, read after the lock) stays gap-free and ordered, and a
//!   check-then-write (etag, uniqueness, one chair, request id) never races a
//!   write from another server.
//! - `ladder_commits (seq, head, deltas)`: every group's moves of the
//!   in-memory indexes. Another server applies them in `seq` order
//!   ([`Follower`]), woken by `LISTEN ladder` (and by polling, should a
//!   notification be missed), and every request first catches up
//!   ([`super::Store::refresh`]), so a read through any server sees every
//!   write acknowledged before it arrived.
//!
//! Schema changes are versioned in `ladder_schema` and applied at open under
//! an advisory lock, so servers starting together apply each once.
//!
//! The driver is tokio-postgres on a runtime of its own (`ladder-pg`): the
//! store's callers are synchronous (the writer thread, the blocking pool,
//! request tasks doing point reads), so each call is sent to that runtime
//! and waited for.

use std::collections::VecDeque;
use std::future::Future;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

use crate::error::{Error, Result};

/// Schema versions, applied in order at open; never edit one once released.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE ladder_kv (key bytea PRIMARY KEY, value bytea NOT NULL);
     CREATE TABLE ladder_head (id int PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL);
     INSERT INTO ladder_head VALUES (1, 0);
     CREATE TABLE ladder_commits (seq bigint PRIMARY KEY, head bigint NOT NULL, deltas bytea NOT NULL,
                                  time timestamptz NOT NULL DEFAULT now());",
)];

/// The newest commit's sequence number.
const HEAD_SEQ: &str = "SELECT seq FROM ladder_head WHERE id = 1";

/// The advisory lock that serialises schema migrations between servers.
const MIGRATION_LOCK: i64 = 0x6c61_6464_6572; // "ladder"

/// Pooled connections for reads (tokio-postgres pipelines the queries of
/// concurrent callers on each).
const READERS: usize = 4;
/// Rows a scan reads first; each further page is larger, up to [`PAGE_MAX`].
const PAGE_FIRST: i64 = 128;
/// Largest page of a scan.
const PAGE_MAX: i64 = 4096;
/// Longest a single statement may take before the call is UNAVAILABLE.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Commit rows kept for servers catching up; one further behind rebuilds
/// its indexes from the records.
pub(crate) const COMMITS_KEPT: u64 = 100_000;

/// The statements every connection prepares once.
struct Statements {
    get: Statement,
    get_many: Statement,
    forward: Statement,
    forward_open: Statement,
    back: Statement,
    back_open: Statement,
}

/// One connection with its prepared statements.
pub(crate) struct Conn {
    client: Client,
    st: Statements,
}

/// What every handle of one PostgreSQL store shares.
pub(crate) struct Pg {
    /// The driver's runtime (taken when the last handle drops, and shut
    /// down without waiting: the drop may happen on an async thread).
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    config: tokio_postgres::Config,
    /// The URL without its password, for messages.
    shown: String,
    pool: Vec<Mutex<Option<Arc<Conn>>>>,
    next: AtomicUsize,
    stopping: Arc<AtomicBool>,
    /// The connection holding this server's claims (session advisory locks
    /// on the sync runs and reverts it works on): PostgreSQL frees them
    /// when the server dies, so others can tell a cut-off run from a live one.
    lease: Mutex<Option<Arc<Client>>>,
}

/// A handle for reads: pooled connections, or one pinned connection that
/// holds a snapshot transaction ([`Pg::snapshot`]).
#[derive(Clone)]
pub struct PgKv {
    pg: Arc<Pg>,
    pinned: Option<Arc<Conn>>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("PostgreSQL {what}: {e}"))
}

/// The driver's error with the server's own message, when it sent one.
fn detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// A driver error as the store's error: a lost or refused connection (or a
/// server shutting down) is UNAVAILABLE; anything else is INTERNAL.
fn pg_error(what: &str, e: tokio_postgres::Error) -> Error {
    let transient = match e.code() {
        None => true,
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("57") || c.starts_with("53") || c == "40001" || c == "40P01"
        }
    };
    if transient {
        unavailable(what, detail(&e))
    } else {
        Error::Internal(format!("PostgreSQL {what}: {}", detail(&e)))
    }
}

/// The URL with its password replaced.
pub(crate) fn shown(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Pg {
    /// Connects, applies the schema migrations and returns the shared part.
    pub(crate) fn open(url: &str) -> Result<Arc<Pg>> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| Error::Unavailable(format!("the store URL {} is not valid: {e}", shown(url))))?;
        config.connect_timeout(Duration::from_secs(10));
        config.application_name("ladder");
        config.keepalives_idle(Duration::from_secs(30));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ladder-pg")
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start the PostgreSQL runtime: {e}")))?;
        let pg = Arc::new(Pg {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            config,
            shown: shown(url),
            pool: (0..READERS).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            stopping: Arc::new(AtomicBool::new(false)),
            lease: Mutex::new(None),
        });
        pg.migrate()?;
        Ok(pg)
    }

    /// Runs `fut` on the driver's runtime and waits for it (at most
    /// [`CALL_TIMEOUT`]). Never call from the `ladder-pg` threads.
    fn block<T: Send + 'static>(&self, fut: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
        let (send, receive) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let answer = match tokio::time::timeout(CALL_TIMEOUT, fut).await {
                Ok(answer) => answer,
                Err(_) => Err(Error::Unavailable(format!("PostgreSQL did not answer within {CALL_TIMEOUT:?}"))),
            };
            let _ = send.send(answer);
        });
        let wait =
            || receive.recv().map_err(|_| Error::Unavailable("the PostgreSQL connection is shutting down".into()));
        // On a worker of a multi-threaded runtime (a request's point read),
        // the worker's other tasks move to another thread meanwhile: with
        // two workers, two waiting reads would otherwise stall the server.
        let on_worker = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if on_worker {
            tokio::task::block_in_place(wait)?
        } else {
            wait()?
        }
    }

    /// A new connection with its statements prepared.
    fn connect(&self) -> Result<Arc<Conn>> {
        let client = self.connect_raw()?;
        self.block(async move {
            let conn = prepare_statements(client).await.map_err(|e| pg_error("prepare", e))?;
            Ok(Arc::new(conn))
        })
    }

    /// A new connection, nothing prepared.
    fn connect_raw(&self) -> Result<Client> {
        let config = self.config.clone();
        let shown = self.shown.clone();
        self.block(async move {
            let (client, connection) =
                config.connect(NoTls).await.map_err(|e| unavailable(&format!("at {shown}"), detail(&e)))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "a PostgreSQL connection ended");
                }
            });
            Ok(client)
        })
    }

    /// A pooled connection (connecting again if it was lost).
    fn pooled(&self) -> Result<Arc<Conn>> {
        let slot = &self.pool[self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len()];
        let mut slot = slot.lock().map_err(|_| Error::Internal("connection pool poisoned".into()))?;
        if let Some(conn) = slot.as_ref().filter(|c| !c.client.is_closed()) {
            return Ok(Arc::clone(conn));
        }
        let conn = self.connect()?;
        *slot = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// A read handle over the pool.
    pub(crate) fn kv(self: &Arc<Self>) -> PgKv {
        PgKv { pg: Arc::clone(self), pinned: None }
    }

    /// A read handle on one connection holding a `REPEATABLE READ` snapshot,
    /// and the commit sequence number that snapshot includes: everything it
    /// reads is the store exactly after that commit. The snapshot ends when
    /// the last clone of the handle is dropped.
    pub(crate) fn snapshot(self: &Arc<Self>) -> Result<(PgKv, u64)> {
        let conn = self.connect()?;
        let held = Arc::clone(&conn);
        let seq = self.block(async move {
            held.client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await
                .map_err(|e| pg_error("snapshot", e))?;
            let row = held.client.query_one(HEAD_SEQ, &[]).await.map_err(|e| pg_error("snapshot", e))?;
            Ok(row.get::<_, i64>(0) as u64)
        })?;
        Ok((PgKv { pg: Arc::clone(self), pinned: Some(conn) }, seq))
    }

    /// Writes `value` under a metadata `key` unless it is there already.
    pub(crate) fn init_meta(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let conn = self.pooled()?;
        let (key, value) = (key.to_vec(), value.to_vec());
        self.block(async move {
            conn.client
                .execute(
                    "INSERT INTO ladder_kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                    &[&key, &value],
                )
                .await
                .map_err(|e| pg_error("write", e))?;
            Ok(())
        })
    }

    /// The one bigint a query without parameters answers.
    fn query_i64(&self, sql: &'static str) -> Result<i64> {
        let conn = self.pooled()?;
        self.block(async move {
            let row = conn.client.query_one(sql, &[]).await.map_err(|e| pg_error("read", e))?;
            Ok(row.get::<_, i64>(0))
        })
    }

    /// The sequence number of the newest commit.
    pub(crate) fn head_seq(&self) -> Result<u64> {
        Ok(self.query_i64(HEAD_SEQ)? as u64)
    }

    /// [`Pg::head_seq`] for async callers: awaits the driver's runtime
    /// instead of holding a thread.
    async fn head_seq_async(&self) -> Result<u64> {
        let conn = self.pooled()?;
        let query = self.handle.spawn(async move {
            let row = conn.client.query_one(HEAD_SEQ, &[]).await.map_err(|e| pg_error("read", e))?;
            Ok(row.get::<_, i64>(0) as u64)
        });
        match tokio::time::timeout(CALL_TIMEOUT, query).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(Error::Unavailable("the PostgreSQL connection is shutting down".into())),
            Err(_) => Err(Error::Unavailable(format!("PostgreSQL did not answer within {CALL_TIMEOUT:?}"))),
        }
    }

    /// Up to `limit` commits after `seq`, oldest first: `(seq, head, deltas)`.
    pub(crate) fn commits_after(&self, seq: u64, limit: i64) -> Result<Vec<(u64, u64, Vec<u8>)>> {
        let conn = self.pooled()?;
        self.block(async move {
            let rows = conn
                .client
                .query(
                    "SELECT seq, head, deltas FROM ladder_commits WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&(seq as i64), &limit],
                )
                .await
                .map_err(|e| pg_error("read", e))?;
            Ok(rows.iter().map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64, r.get(2))).collect())
        })
    }

    /// Bytes the store's tables occupy (with their indexes and TOAST).
    pub(crate) fn size(&self) -> Result<u64> {
        let conn = self.pooled()?;
        self.block(async move {
            let row = conn
                .client
                .query_one("SELECT pg_total_relation_size('ladder_kv') + pg_total_relation_size('ladder_commits')", &[])
                .await
                .map_err(|e| pg_error("read", e))?;
            Ok(row.get::<_, i64>(0).max(0) as u64)
        })
    }

    /// Applies the missing schema versions, one transaction each, under an
    /// advisory lock; refuses a database a newer ladder has migrated.
    fn migrate(self: &Arc<Self>) -> Result<()> {
        let client = self.connect_raw()?;
        self.block(async move {
            let c = &client;
            let fail = |e| pg_error("schema migration", e);
            c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(fail)?;
            // The tables go into the first schema of the search path
            // (`?options=-csearch_path%3Dzone_a` in the URL), made if
            // missing: one database can hold several stores.
            let path: String = c.query_one("SHOW search_path", &[]).await.map_err(fail)?.get(0);
            let first = path.split(',').next().unwrap_or("").trim().trim_matches('"').to_string();
            if !first.is_empty() && first != "$user" && first != "public" {
                let quoted = format!("\"{}\"", first.replace('"', "\"\""));
                c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {quoted}")).await.map_err(fail)?;
            }
            c.batch_execute(
                "CREATE TABLE IF NOT EXISTS ladder_schema (version int PRIMARY KEY, \
                 applied timestamptz NOT NULL DEFAULT now())",
            )
            .await
            .map_err(fail)?;
            let current: i32 =
                c.query_one("SELECT coalesce(max(version), 0) FROM ladder_schema", &[]).await.map_err(fail)?.get(0);
            let known = MIGRATIONS.last().map_or(0, |m| m.0);
            if current > known {
                return Err(Error::Unavailable(format!(
                    "the database has ladder schema {current}; this ladder knows up to {known}: upgrade ladder"
                )));
            }
            for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
                c.batch_execute(&format!(
                    "BEGIN; {sql}; INSERT INTO ladder_schema (version) VALUES ({version}); COMMIT;"
                ))
                .await
                .map_err(fail)?;
                tracing::info!(version, "PostgreSQL schema migrated");
            }
            c.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await.map_err(fail)?;
            Ok(())
        })
    }

    /// Wakes `wake` whenever any server commits (`LISTEN ladder`), from a
    /// connection of its own that reconnects after a loss.
    pub(crate) fn listen(&self, wake: std::sync::mpsc::SyncSender<()>) {
        let config = self.config.clone();
        let stopping = Arc::clone(&self.stopping);
        self.handle.spawn(async move {
            while !stopping.load(Ordering::Acquire) {
                match config.connect(NoTls).await {
                    Ok((client, mut connection)) => {
                        let (notes, mut noted) = tokio::sync::mpsc::unbounded_channel();
                        let driver = tokio::spawn(async move {
                            while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                                if let tokio_postgres::AsyncMessage::Notification(_) = message {
                                    let _ = notes.send(());
                                }
                            }
                        });
                        if client.batch_execute("LISTEN ladder").await.is_ok() {
                            // A missed commit is found by the follower's poll.
                            let _ = wake.try_send(());
                            while noted.recv().await.is_some() {
                                if stopping.load(Ordering::Acquire) {
                                    break;
                                }
                                let _ = wake.try_send(());
                            }
                        }
                        driver.abort();
                    }
                    Err(e) => tracing::debug!(error = %e, "LISTEN connection failed; retrying"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    /// Runs `sql` (one bigint parameter, one bool answer) on the lease
    /// connection.
    fn on_lease(&self, sql: &'static str, key: i64) -> Result<bool> {
        let mut lease = self.lease.lock().map_err(|_| Error::Internal("lease poisoned".into()))?;
        let client = match lease.as_ref().filter(|c| !c.is_closed()) {
            Some(client) => Arc::clone(client),
            None => {
                let client = Arc::new(self.connect_raw()?);
                *lease = Some(Arc::clone(&client));
                client
            }
        };
        let answer = self.block(async move {
            let row = client.query_one(sql, &[&key]).await.map_err(|e| pg_error("lease", e))?;
            Ok(row.get::<_, bool>(0))
        });
        if answer.is_err() {
            *lease = None;
        }
        answer
    }

    /// Claims `key` for this server (until [`Pg::release`] or its death);
    /// false when another server holds it.
    pub(crate) fn claim(&self, key: i64) -> Result<bool> {
        self.on_lease("SELECT pg_try_advisory_lock($1)", key)
    }

    /// Gives up a claim.
    pub(crate) fn release(&self, key: i64) {
        if let Err(e) = self.on_lease("SELECT pg_advisory_unlock($1)", key) {
            tracing::warn!(error = %e, "could not release a claim (it ends with the connection)");
        }
    }

    /// Stops the listener.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }
}

async fn prepare_statements(client: Client) -> std::result::Result<Conn, tokio_postgres::Error> {
    let st = Statements {
        get: client.prepare("SELECT value FROM ladder_kv WHERE key = $1").await?,
        get_many: client.prepare("SELECT key, value FROM ladder_kv WHERE key = ANY($1)").await?,
        forward: client
            .prepare("SELECT key, value FROM ladder_kv WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3")
            .await?,
        forward_open: client.prepare("SELECT key, value FROM ladder_kv WHERE key >= $1 ORDER BY key LIMIT $2").await?,
        back: client
            .prepare("SELECT key, value FROM ladder_kv WHERE key >= $1 AND key < $2 ORDER BY key DESC LIMIT $3")
            .await?,
        back_open: client
            .prepare("SELECT key, value FROM ladder_kv WHERE key >= $1 ORDER BY key DESC LIMIT $2")
            .await?,
    };
    Ok(Conn { client, st })
}

impl PgKv {
    fn conn(&self) -> Result<Arc<Conn>> {
        match &self.pinned {
            Some(conn) => Ok(Arc::clone(conn)),
            None => self.pg.pooled(),
        }
    }

    /// The shared part.
    pub(crate) fn pg(&self) -> &Arc<Pg> {
        &self.pg
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let conn = self.conn()?;
        let key = key.to_vec();
        self.pg.block(async move {
            let row = conn.client.query_opt(&conn.st.get, &[&key]).await.map_err(|e| pg_error("read", e))?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    pub(crate) fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.conn()?;
        let keys = keys.to_vec();
        self.pg.block(async move {
            let rows = conn.client.query(&conn.st.get_many, &[&keys]).await.map_err(|e| pg_error("read", e))?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    pub(crate) fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put_many(vec![(key.to_vec(), value.to_vec())])
    }

    pub(crate) fn put_many(&self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<()> {
        let conn = self.conn()?;
        let (keys, values): (Vec<Vec<u8>>, Vec<Vec<u8>>) = entries.into_iter().unzip();
        self.pg.block(async move {
            conn.client
                .execute(
                    "INSERT INTO ladder_kv (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[&keys, &values],
                )
                .await
                .map_err(|e| pg_error("write", e))?;
            Ok(())
        })
    }

    /// A lazy scan of `[lower, upper)` (bounds as given), read in pages.
    pub(crate) fn scan(&self, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) -> Scan {
        let after = |mut k: Vec<u8>| {
            k.push(0);
            k
        };
        let lower = match lower {
            Bound::Included(k) => k,
            Bound::Excluded(k) => after(k),
            Bound::Unbounded => Vec::new(),
        };
        let upper = match upper {
            Bound::Included(k) => Some(after(k)),
            Bound::Excluded(k) => Some(k),
            Bound::Unbounded => None,
        };
        let empty = upper.as_ref().is_some_and(|u| *u <= lower);
        Scan { kv: self.clone(), lower, upper, buffer: VecDeque::new(), back: None, done: empty, page: PAGE_FIRST }
    }

    /// One page of `[lower, upper)`, forward or backward.
    fn page(&self, lower: &[u8], upper: Option<&[u8]>, back: bool, limit: i64) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let conn = self.conn()?;
        let (lower, upper) = (lower.to_vec(), upper.map(<[u8]>::to_vec));
        self.pg.block(async move {
            let st = &conn.st;
            let rows = match (&upper, back) {
                (Some(u), false) => conn.client.query(&st.forward, &[&lower, u, &limit]).await,
                (Some(u), true) => conn.client.query(&st.back, &[&lower, u, &limit]).await,
                (None, false) => conn.client.query(&st.forward_open, &[&lower, &limit]).await,
                (None, true) => conn.client.query(&st.back_open, &[&lower, &limit]).await,
            }
            .map_err(|e| pg_error("scan", e))?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}

/// A scan over `ladder_kv`, read a page at a time in one direction (fixed
/// by its first step).
pub struct Scan {
    kv: PgKv,
    /// Inclusive lower bound of what is left.
    lower: Vec<u8>,
    /// Exclusive upper bound of what is left (`None`: none).
    upper: Option<Vec<u8>>,
    buffer: VecDeque<(Vec<u8>, Vec<u8>)>,
    back: Option<bool>,
    done: bool,
    page: i64,
}

impl Scan {
    /// The next entry going forward (`back == false`) or backward.
    pub(crate) fn step(&mut self, back: bool) -> Option<Result<(Vec<u8>, Vec<u8>)>> {
        match self.back {
            None => self.back = Some(back),
            Some(direction) if direction != back => {
                return Some(Err(Error::Internal("a PostgreSQL scan cannot change direction".into())))
            }
            Some(_) => {}
        }
        if let Some(entry) = self.buffer.pop_front() {
            return Some(Ok(entry));
        }
        if self.done {
            return None;
        }
        let rows = match self.kv.page(&self.lower, self.upper.as_deref(), back, self.page) {
            Ok(rows) => rows,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        if (rows.len() as i64) < self.page {
            self.done = true;
        }
        if let Some((last, _)) = rows.last() {
            if back {
                self.upper = Some(last.clone());
            } else {
                let mut next = last.clone();
                next.push(0);
                self.lower = next;
            }
        }
        self.page = (self.page * 4).min(PAGE_MAX);
        self.buffer.extend(rows);
        self.buffer.pop_front().map(Ok)
    }
}

/// The writer's connection: one transaction per write group.
pub(crate) struct PgWriter {
    pg: Arc<Pg>,
    conn: Option<Arc<Conn>>,
}

impl PgWriter {
    pub(crate) fn new(pg: Arc<Pg>) -> PgWriter {
        PgWriter { pg, conn: None }
    }

    /// Begins a group's transaction and takes the global write lock; returns
    /// the newest commit's sequence number (every commit up to it is
    /// visible to reads from now on, and no other can happen until this
    /// transaction ends).
    pub(crate) fn begin(&mut self) -> Result<u64> {
        let conn = match self.conn.as_ref().filter(|c| !c.client.is_closed()) {
            Some(conn) => Arc::clone(conn),
            None => {
                let conn = self.pg.connect()?;
                self.conn = Some(Arc::clone(&conn));
                conn
            }
        };
        let answer = self.pg.block(async move {
            conn.client.batch_execute("SET synchronous_commit = on; BEGIN").await.map_err(|e| pg_error("begin", e))?;
            let row = conn
                .client
                .query_one("SELECT seq FROM ladder_head WHERE id = 1 FOR UPDATE", &[])
                .await
                .map_err(|e| pg_error("lock", e))?;
            Ok(row.get::<_, i64>(0) as u64)
        });
        if answer.is_err() {
            self.rollback();
        }
        answer
    }

    /// Ends the transaction without writing.
    pub(crate) fn rollback(&mut self) {
        let Some(conn) = self.conn.clone() else { return };
        let ended = self
            .pg
            .block(async move { conn.client.batch_execute("ROLLBACK").await.map_err(|e| pg_error("rollback", e)) });
        if ended.is_err() {
            self.conn = None;
        }
    }

    /// Writes a group and commits it as commit `seq` (with the head
    /// revision `head` and the index moves `deltas` for the other servers).
    /// Returns once PostgreSQL has made it durable. On an error the outcome
    /// is unknown (the connection may have died after the commit reached
    /// the server): the caller answers UNAVAILABLE and the follower finds
    /// the commit if it happened.
    pub(crate) fn commit(
        &mut self,
        writes: &std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        seq: u64,
        head: u64,
        deltas: Vec<u8>,
    ) -> Result<()> {
        let Some(conn) = self.conn.clone() else {
            return Err(Error::Unavailable("the PostgreSQL connection was lost".into()));
        };
        let mut put_keys = Vec::new();
        let mut put_values = Vec::new();
        let mut removed = Vec::new();
        for (key, value) in writes {
            match value {
                Some(v) => {
                    put_keys.push(key.clone());
                    put_values.push(v.clone());
                }
                None => removed.push(key.clone()),
            }
        }
        let answer = self.pg.block(async move {
            let c = &conn.client;
            let fail = |e| pg_error("commit", e);
            if !put_keys.is_empty() {
                c.execute(
                    "INSERT INTO ladder_kv (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[&put_keys, &put_values],
                )
                .await
                .map_err(fail)?;
            }
            if !removed.is_empty() {
                c.execute("DELETE FROM ladder_kv WHERE key = ANY($1)", &[&removed]).await.map_err(fail)?;
            }
            let (seq, head) = (seq as i64, head as i64);
            let params: [&(dyn ToSql + Sync); 3] = [&seq, &head, &deltas];
            c.execute("INSERT INTO ladder_commits (seq, head, deltas) VALUES ($1, $2, $3)", &params)
                .await
                .map_err(fail)?;
            c.execute("UPDATE ladder_head SET seq = $1 WHERE id = 1", &[&seq]).await.map_err(fail)?;
            if seq as u64 % 1024 == 0 {
                c.execute("DELETE FROM ladder_commits WHERE seq <= $1", &[&(seq - COMMITS_KEPT as i64)])
                    .await
                    .map_err(fail)?;
            }
            c.batch_execute("NOTIFY ladder; COMMIT").await.map_err(fail)?;
            Ok(())
        });
        if answer.is_err() {
            self.rollback();
            self.conn = None;
        }
        answer
    }
}

/// Keeps this server's in-memory indexes and head revision moving with the
/// commits of every server: applies `ladder_commits` rows in `seq` order.
pub(crate) struct Follower {
    pg: Arc<Pg>,
    index: Arc<RwLock<super::index::EnterpriseIndex>>,
    head: tokio::sync::watch::Sender<u64>,
    /// The newest commit applied to the index; its lock orders every move.
    applied: Mutex<u64>,
    /// One request-triggered look at the head at a time ([`Follower::refresh`]).
    refreshing: tokio::sync::Mutex<()>,
    /// When the newest completed refresh began: a request that arrived
    /// before then is served by it.
    fresh_as_of: Mutex<Option<std::time::Instant>>,
}

impl Follower {
    pub(crate) fn new(
        pg: Arc<Pg>,
        index: Arc<RwLock<super::index::EnterpriseIndex>>,
        head: tokio::sync::watch::Sender<u64>,
        applied: u64,
    ) -> Follower {
        Follower {
            pg,
            index,
            head,
            applied: Mutex::new(applied),
            refreshing: tokio::sync::Mutex::new(()),
            fresh_as_of: Mutex::new(None),
        }
    }

    /// Makes the indexes hold every commit made before `arrived` (a
    /// request's arrival). Requests share the look at the head: while one
    /// is on its way the others wait for it, and any refresh that began
    /// after a request arrived serves that request too, so a burst of
    /// requests costs about one round trip, not one each.
    pub(crate) async fn refresh(self: &Arc<Self>, arrived: std::time::Instant) -> Result<()> {
        let fresh = || self.fresh_as_of.lock().is_ok_and(|f| f.is_some_and(|f| f >= arrived));
        if fresh() {
            return Ok(());
        }
        let _one = self.refreshing.lock().await;
        if fresh() {
            return Ok(());
        }
        let began = std::time::Instant::now();
        let target = self.pg.head_seq_async().await?;
        if target > *self.applied.lock().map_err(|_| Error::Internal("follower poisoned".into()))? {
            let follower = Arc::clone(self);
            super::blocking(move || follower.catch_up_to(target)).await?;
        }
        if let Ok(mut f) = self.fresh_as_of.lock() {
            *f = Some(f.map_or(began, |f| f.max(began)));
        }
        Ok(())
    }

    /// Applies every commit up to the newest one.
    pub(crate) fn catch_up(&self) -> Result<()> {
        let target = self.pg.head_seq()?;
        self.catch_up_to(target)
    }

    /// Applies every commit up to `target` (at least).
    pub(crate) fn catch_up_to(&self, target: u64) -> Result<()> {
        let mut applied = self.applied.lock().map_err(|_| Error::Internal("follower poisoned".into()))?;
        while *applied < target {
            let rows = self.pg.commits_after(*applied, 256)?;
            let gap = rows.first().is_none_or(|(seq, _, _)| *seq != *applied + 1);
            if gap {
                // Pruned before this server read them: rebuild from a snapshot.
                tracing::warn!(applied = *applied, "this server fell behind the kept commits; rebuilding its indexes");
                let (snapshot, seq) = self.pg.snapshot()?;
                let (rebuilt, head) = super::load_indexes(&super::kv::Kv::Pg(snapshot), &self.pg.shown)?;
                *self.index.write().map_err(|_| Error::Internal("index lock poisoned".into()))? = rebuilt;
                *applied = seq;
                self.advance(head);
                continue;
            }
            let mut index = self.index.write().map_err(|_| Error::Internal("index lock poisoned".into()))?;
            for (seq, head, deltas) in rows {
                index.apply(super::index::decode_deltas(&deltas)?);
                *applied = seq;
                self.advance(head);
            }
        }
        Ok(())
    }

    /// Moves the published head revision forward to `head` (never back).
    fn advance(&self, head: u64) {
        self.head.send_if_modified(|h| std::mem::replace(h, head.max(*h)) < head);
    }

    /// Applies this server's own commit `seq` unless the follower already
    /// has (it may read the row before the writer gets here).
    pub(crate) fn own(&self, seq: u64, head: u64, deltas: Vec<super::index::Delta>) -> Result<()> {
        let mut applied = self.applied.lock().map_err(|_| Error::Internal("follower poisoned".into()))?;
        if *applied + 1 == seq {
            self.index.write().map_err(|_| Error::Internal("index lock poisoned".into()))?.apply(deltas);
            *applied = seq;
        } else if *applied < seq {
            drop(applied);
            self.catch_up_to(seq)?;
        }
        self.advance(head);
        Ok(())
    }

    /// Follows the other servers until `stop`: woken by LISTEN, and polling
    /// every second in case a notification was lost.
    pub(crate) fn run(self: Arc<Self>, stop: Arc<AtomicBool>) -> Result<std::thread::JoinHandle<()>> {
        let (wake, woken) = std::sync::mpsc::sync_channel(1);
        self.pg.listen(wake);
        std::thread::Builder::new()
            .name("ladder-follow".into())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let _ = woken.recv_timeout(Duration::from_secs(1));
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    if let Err(e) = self.catch_up() {
                        tracing::warn!(error = %e, "cannot follow the other servers' commits; retrying");
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
            })
            .map_err(|e| Error::Internal(format!("cannot start the follower thread: {e}")))
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
