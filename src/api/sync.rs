//! `ladder.v1.SyncService`: bulk sync for batch scripts.

use std::collections::VecDeque;
use std::sync::Arc;

use prost::Message as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Request, Response, Status, Streaming};

use crate::api::convert::{self, timestamp};
use crate::api::{page_size, page_token};
use crate::auth::{require, Permission};
use crate::config::DEFAULT_MAX_SYNC_STREAMS;
use crate::domain::enterprise::{Enterprise, Rules};
use crate::domain::sync::{check_source, SyncRun, MAX_FAILURE_CODE_BYTES};
use crate::domain::time::now_micros;
use crate::error::{clip, Error, FieldViolation, Result};
use crate::pb::v1;
use crate::store::{ChunkResult, RunProgress, RunSeen, Store, SyncRow, CHUNK_BYTES, CHUNK_ROWS};

/// Serves bulk sync.
#[derive(Clone)]
pub struct SyncApi {
    store: Store,
    rules: Arc<Rules>,
    /// Hours the config expects between completed runs, by source.
    expected: Arc<std::collections::BTreeMap<String, u64>>,
    /// One permit per sync stream served at once, server-wide.
    streams: Arc<Semaphore>,
    max_streams: usize,
}

impl SyncApi {
    /// A service over `store`, validating rows with `rules`, serving at most
    /// [`DEFAULT_MAX_SYNC_STREAMS`] streams at once.
    pub fn new(store: Store, rules: Rules) -> Self {
        Self::with_max_streams(store, rules, DEFAULT_MAX_SYNC_STREAMS)
    }

    /// A service serving at most `max_streams` sync streams at once
    /// (`server.max_sync_streams`).
    pub fn with_max_streams(store: Store, rules: Rules, max_streams: usize) -> Self {
        let max_streams = max_streams.max(1);
        Self {
            store,
            rules: Arc::new(rules),
            expected: Arc::default(),
            streams: Arc::new(Semaphore::new(max_streams)),
            max_streams,
        }
    }

    /// This service, reporting a source late when no run of it completes
    /// within its expected hours.
    pub fn with_expected_sources(mut self, expected: std::collections::BTreeMap<String, u64>) -> Self {
        self.expected = Arc::new(expected);
        self
    }

    /// A permit for one more stream, or RESOURCE_EXHAUSTED.
    fn admit_stream(&self) -> Result<OwnedSemaphorePermit> {
        Arc::clone(&self.streams).try_acquire_owned().map_err(|_| Error::ResourceExhausted {
            reason: "TOO_MANY_SYNC_STREAMS",
            message: format!(
                "{} sync streams are running (server.max_sync_streams); retry when one has finished",
                self.max_streams
            ),
        })
    }
}

/// Most entries of a row's `fields` list, and the longest entry.
const MAX_ROW_FIELDS: usize = 32;
const MAX_ROW_FIELD_CHARS: usize = 64;
/// Longest indicators name (`enterprises/{code}/indicators/{year}`).
const MAX_INDICATORS_NAME_CHARS: usize = 100;
/// Longest indicators source, in characters.
const MAX_INDICATORS_SOURCE_CHARS: usize = 200;

/// A row as it arrives: converted, and its sizes checked at once
/// ([`Enterprise::check_sizes`]), so an oversized row is never held until
/// its chunk is written: it keeps only its (cut) credit code and fails in
/// its place in the run.
fn admit_row(row: v1::SyncRow, row_number: i64) -> SyncRow {
    let enterprise = convert::enterprise_from_pb(row.enterprise.unwrap_or_default());
    let mut violations = match enterprise.check_sizes().map_err(|e| e.in_field("enterprise")) {
        Err(Error::InvalidArgument { violations, .. }) => violations,
        _ => Vec::new(),
    };
    if row.fields.len() > MAX_ROW_FIELDS || row.fields.iter().any(|f| f.chars().count() > MAX_ROW_FIELD_CHARS) {
        violations.push(FieldViolation::new(
            "fields",
            "TOO_LONG",
            format!("at most {MAX_ROW_FIELDS} field names of at most {MAX_ROW_FIELD_CHARS} characters"),
        ));
    }
    if let Some(i) = &row.indicators {
        if i.name.chars().count() > MAX_INDICATORS_NAME_CHARS {
            violations.push(FieldViolation::new(
                "indicators.name",
                "TOO_LONG",
                format!("at most {MAX_INDICATORS_NAME_CHARS} characters"),
            ));
        }
        if i.source.chars().count() > MAX_INDICATORS_SOURCE_CHARS {
            violations.push(FieldViolation::new(
                "indicators.source",
                "TOO_LONG",
                format!("at most {MAX_INDICATORS_SOURCE_CHARS} characters"),
            ));
        }
    }
    if !violations.is_empty() {
        let code = clip(&enterprise.credit_code, MAX_FAILURE_CODE_BYTES).into_owned();
        return SyncRow {
            row_number,
            enterprise: Enterprise { credit_code: code, ..Default::default() },
            fields: Vec::new(),
            indicators: None,
            rejected: Some(Error::invalid_fields(violations)),
        };
    }
    let indicators = row.indicators.map(|i| (i.name.clone(), crate::api::cultivation::indicators_from_pb(i)));
    SyncRow { row_number, enterprise, fields: row.fields, indicators, rejected: None }
}

/// A run being received: up to [`IN_FLIGHT`] chunks are in the writer (one
/// executing while the one before it commits) while the next is read and
/// converted; the run's record follows every chunk. If the handler is
/// dropped before [`Pipeline::finish`] (the client cancelled or went away,
/// the connection broke), the run is still settled and marked INTERRUPTED
/// by a task of its own, so it never stays RUNNING.
struct Pipeline {
    store: Store,
    rules: Arc<Rules>,
    /// Rows received.
    rows: i64,
    progress: RunProgress,
    seen: RunSeen,
    inflight: VecDeque<tokio::task::JoinHandle<Result<ChunkResult>>>,
    finished: bool,
    /// The stream's place among the streams served at once: released when
    /// the run is settled, not when the handler returns.
    permit: Option<OwnedSemaphorePermit>,
    /// This server's claim on the run while it streams (on PostgreSQL, how
    /// the other servers tell it from a run cut off by a server's death).
    _claim: Option<crate::store::RunClaim>,
}

/// Chunks of one stream in the writer at once (a dry run's chunks run one
/// at a time: they do not go through the writer's queue).
const IN_FLIGHT: usize = 2;

impl Pipeline {
    fn new(api: &SyncApi, run: SyncRun, permit: OwnedSemaphorePermit, claim: Option<crate::store::RunClaim>) -> Self {
        Pipeline {
            _claim: claim,
            store: api.store.clone(),
            rules: Arc::clone(&api.rules),
            rows: 0,
            progress: Arc::new(std::sync::Mutex::new(run)),
            seen: RunSeen::default(),
            inflight: VecDeque::new(),
            finished: false,
            permit: Some(permit),
        }
    }

    /// The run as recorded so far.
    fn run(&self) -> SyncRun {
        self.progress.lock().map(|run| run.clone()).unwrap_or_default()
    }

    /// Waits until fewer than `limit` chunks are in the writer.
    async fn settle(&mut self, limit: usize) -> Result<()> {
        while self.inflight.len() >= limit.max(1) {
            let Some(chunk) = self.inflight.pop_front() else { break };
            chunk.await.map_err(|e| Error::Internal(format!("a sync chunk task failed: {e}")))??;
        }
        Ok(())
    }

    /// Hands the rows to the store as the next chunk.
    async fn submit(&mut self, rows: Vec<SyncRow>) -> Result<()> {
        let dry_run = self.run().dry_run;
        self.settle(if dry_run { 1 } else { IN_FLIGHT }).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let (store, rules, seen, progress) =
            (self.store.clone(), Arc::clone(&self.rules), Arc::clone(&self.seen), Arc::clone(&self.progress));
        let received = self.rows;
        self.inflight
            .push_back(tokio::spawn(async move { store.sync_chunk(progress, received, rows, rules, seen).await }));
        Ok(())
    }

    /// Settles every chunk and records the run as `state`. The work runs in
    /// a task of its own, so it completes even if the handler is dropped
    /// while it waits.
    async fn finish(mut self, state: v1::SyncRunState, full: bool) -> Result<SyncRun> {
        let rest = self.detach();
        tokio::spawn(rest.complete(state, full))
            .await
            .map_err(|e| Error::Internal(format!("the task recording a sync run failed: {e}")))?
    }

    /// Moves the run out of this handle, which then has nothing left to do
    /// when dropped.
    fn detach(&mut self) -> Pipeline {
        self.finished = true;
        Pipeline {
            store: self.store.clone(),
            rules: Arc::clone(&self.rules),
            rows: self.rows,
            progress: Arc::clone(&self.progress),
            seen: Arc::clone(&self.seen),
            inflight: std::mem::take(&mut self.inflight),
            finished: true,
            permit: self.permit.take(),
            _claim: self._claim.take(),
        }
    }

    async fn complete(mut self, state: v1::SyncRunState, full: bool) -> Result<SyncRun> {
        let settled = self.settle(1).await;
        let mut run = self.run();
        run.rows = run.rows.max(self.rows);
        run.state = if settled.is_ok() { state as i32 } else { v1::SyncRunState::Interrupted as i32 };
        let full = full && settled.is_ok() && state == v1::SyncRunState::Succeeded;
        let run = self.store.finish_sync_run(run, full, Arc::clone(&self.seen)).await?;
        settled.map(|()| run)
    }

    /// Records the run as interrupted and passes the error on.
    async fn interrupted(self, error: Status) -> Status {
        if let Err(e) = self.finish(v1::SyncRunState::Interrupted, false).await {
            tracing::error!(error = %e, "could not record an interrupted sync run");
        }
        error
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        // If this task never runs (the runtime is shutting down), the next
        // open marks the run.
        let rest = self.detach();
        runtime.spawn(async move {
            let name = rest.run().resource_name();
            tracing::warn!(run = %name, "sync stream abandoned by its client; the run is recorded as interrupted");
            if let Err(e) = rest.complete(v1::SyncRunState::Interrupted, false).await {
                tracing::error!(run = %name, error = %e, "could not record an abandoned sync run");
            }
        });
    }
}

/// Every source that has run or is expected, with its health at `now`:
/// late ones first, then by name.
pub fn source_health(
    store: &Store,
    expected: &std::collections::BTreeMap<String, u64>,
    now: crate::domain::time::Micros,
) -> Result<Vec<v1::SyncSource>> {
    const HOUR: i64 = 3_600_000_000;
    let mut out: Vec<v1::SyncSource> = Vec::new();
    let mut stats: std::collections::BTreeMap<String, crate::store::SourceStats> =
        store.sync_sources()?.into_iter().map(|s| (s.source.clone(), s)).collect();
    let names: std::collections::BTreeSet<String> = stats.keys().chain(expected.keys()).cloned().collect();
    for name in names {
        let hours = expected.get(&name).copied().unwrap_or(0);
        let s = stats.remove(&name);
        let last_success = s.as_ref().map_or(0, |s| s.last_success);
        let due = (hours > 0 && last_success > 0)
            .then(|| last_success.saturating_add(i64::try_from(hours).unwrap_or(i64::MAX / HOUR).saturating_mul(HOUR)));
        out.push(v1::SyncSource {
            source: name,
            runs: s.as_ref().map_or(0, |s| i64::try_from(s.runs).unwrap_or(i64::MAX)),
            last_run: s.as_ref().map(|s| sync_run_to_pb(s.last_run.clone())),
            last_success_time: (last_success > 0).then(|| timestamp(last_success)).flatten(),
            firms: s.as_ref().map_or(0, |s| i64::try_from(s.firms).unwrap_or(i64::MAX)),
            expected_interval_hours: i64::try_from(hours).unwrap_or(i64::MAX),
            due_time: due.and_then(timestamp),
            late: hours > 0 && due.is_none_or(|d| d < now),
            owner: s.map(|s| s.owner).unwrap_or_default(),
        });
    }
    out.sort_by(|a, b| b.late.cmp(&a.late).then(a.source.cmp(&b.source)));
    Ok(out)
}

/// The API view of a run.
pub fn sync_run_to_pb(r: SyncRun) -> v1::SyncRun {
    v1::SyncRun {
        name: r.resource_name(),
        source: r.source,
        mode: r.mode,
        dry_run: r.dry_run,
        state: r.state,
        rows: r.rows,
        created: r.created,
        updated: r.updated,
        unchanged: r.unchanged,
        failed: r.failed,
        missing_from_source: r.missing,
        failures: r.failures.into_iter().map(failure_pb).collect(),
        missing_credit_codes: r
            .missing_codes
            .into_iter()
            .map(|c| clip(&c, crate::domain::sync::MAX_FAILURE_CODE_BYTES).into_owned())
            .collect(),
        actor: r.actor,
        start_time: timestamp(r.start_time),
        end_time: timestamp(r.end_time),
        revert_time: timestamp(r.revert_time),
        reverting: r.reverting,
    }
}

type Reply<T> = Result<Response<T>, Status>;

/// The size of a row, as the protobuf it arrived as (close to what it holds
/// in memory).
fn row_bytes(row: &SyncRow) -> usize {
    row.enterprise.encoded_len()
        + row.fields.iter().map(String::len).sum::<usize>()
        + row.indicators.as_ref().map_or(0, |(name, figures)| name.len() + figures.encoded_len())
}

/// The API view of a failed row, cut to the sizes failures are stored at
/// (runs recorded before failures were cut could not be read otherwise).
fn failure_pb(f: crate::domain::sync::Failure) -> v1::SyncFailure {
    use crate::domain::sync::{MAX_FAILURE_CODE_BYTES, MAX_FAILURE_DESCRIPTION_BYTES, MAX_FAILURE_FIELD_BYTES};
    let cut = |text: String, max: usize| match clip(&text, max) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(cut) => cut,
    };
    v1::SyncFailure {
        row_number: f.row_number,
        credit_code: cut(f.credit_code, MAX_FAILURE_CODE_BYTES),
        field: cut(f.field, MAX_FAILURE_FIELD_BYTES),
        reason: f.reason,
        description: cut(f.description, MAX_FAILURE_DESCRIPTION_BYTES),
    }
}

/// The id of `syncRuns/{run_id}`.
fn parse_run_name(field: &str, name: &str) -> Result<String> {
    name.trim()
        .strip_prefix("syncRuns/")
        .filter(|id| !id.is_empty() && id.len() <= 40 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
        .ok_or_else(|| {
            Error::invalid_field(
                field,
                "INVALID_RESOURCE_NAME",
                format!("{name:?} is not of the form syncRuns/{{run_id}}"),
            )
        })
}

#[tonic::async_trait]
impl v1::sync_service_server::SyncService for SyncApi {
    async fn sync_enterprises(&self, request: Request<Streaming<v1::SyncEnterprisesRequest>>) -> Reply<v1::SyncRun> {
        use v1::sync_enterprises_request::Message;
        let caller = require(&request, Permission::Sync)?;
        let mut stream = request.into_inner();
        let header = match stream.message().await? {
            Some(v1::SyncEnterprisesRequest { message: Some(Message::Header(h)) }) => h,
            _ => {
                return Err(Error::invalid_field(
                    "header",
                    "HEADER_FIRST",
                    "the first message of a sync stream must be its header",
                )
                .into())
            }
        };
        check_source(&header.source)?;
        // A source's changes carry its name as their origin: once a caller has
        // synced as a source, only that caller (or an admin) may sync as it.
        if !caller.role.allows(Permission::Admin) {
            let (store, source) = (self.store.clone(), header.source.clone());
            let owner = crate::store::blocking(move || store.sync_source_owner(&source)).await?;
            if let Some(owner) = owner.filter(|owner| *owner != caller.name) {
                return Err(Error::PermissionDenied {
                    reason: "SOURCE_OF_ANOTHER_CALLER",
                    message: format!(
                        "source {:?} is synced by {owner:?}; sync under a source name of your own, or ask an admin",
                        header.source
                    ),
                }
                .into());
            }
        }
        let permit = self.admit_stream()?;
        // UNSPECIFIED means UPSERT; a number SyncMode does not define is refused.
        let full = crate::api::enum_field::<v1::SyncMode>("header.mode", header.mode)? == v1::SyncMode::Full;
        let now = now_micros();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let run = SyncRun {
            id: format!("{now:016x}{}", &suffix[..4]),
            source: header.source,
            mode: if full { v1::SyncMode::Full as i32 } else { v1::SyncMode::Upsert as i32 },
            dry_run: header.dry_run,
            state: v1::SyncRunState::Running as i32,
            actor: caller.name,
            start_time: now,
            first_revision: self.store.next_revision()?,
            ..Default::default()
        };
        let claim = if run.dry_run { None } else { self.store.claim_run(&run.id).map_err(Status::from)? };
        let mut pipeline = Pipeline::new(self, run, permit, claim);
        let mut chunk: Vec<SyncRow> = Vec::with_capacity(CHUNK_ROWS);
        // Bytes of the rows in `chunk`, as received.
        let mut chunk_bytes = 0;
        loop {
            match stream.message().await {
                Ok(Some(v1::SyncEnterprisesRequest { message: Some(Message::Row(row)) })) => {
                    pipeline.rows += 1;
                    crate::metrics::add_sync_rows(1);
                    let row_number = if row.row_number > 0 { row.row_number } else { pipeline.rows };
                    let row = admit_row(row, row_number);
                    if row.rejected.is_none() {
                        chunk_bytes += row_bytes(&row);
                    }
                    chunk.push(row);
                    if chunk.len() == CHUNK_ROWS || chunk_bytes >= CHUNK_BYTES {
                        chunk_bytes = 0;
                        let rows = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS));
                        if let Err(e) = pipeline.submit(rows).await {
                            return Err(pipeline.interrupted(e.into()).await);
                        }
                    }
                }
                Ok(Some(_)) => {
                    // The rows before it were sent whole: apply them, so every
                    // counted row has an outcome.
                    let _ = pipeline.submit(chunk).await;
                    let error =
                        Error::invalid_field("header", "HEADER_REPEATED", "only the first message may be a header");
                    return Err(pipeline.interrupted(error.into()).await);
                }
                Ok(None) => break,
                Err(status) => {
                    // Rows received whole before the break are applied; the
                    // run is recorded as interrupted, and a re-run completes it.
                    let _ = pipeline.submit(chunk).await;
                    tracing::warn!(run = %pipeline.run().resource_name(), error = %status, "sync stream broke off");
                    return Err(pipeline.interrupted(status).await);
                }
            }
        }
        if let Err(e) = pipeline.submit(chunk).await {
            return Err(pipeline.interrupted(e.into()).await);
        }
        let run = pipeline.finish(v1::SyncRunState::Succeeded, full).await?;
        tracing::info!(run = %run.resource_name(), rows = run.rows, created = run.created, updated = run.updated, failed = run.failed, "sync run finished");
        Ok(Response::new(sync_run_to_pb(run)))
    }

    async fn revert_sync_run(&self, request: Request<v1::RevertSyncRunRequest>) -> Reply<v1::RevertSyncRunResponse> {
        let caller = require(&request, Permission::Revert)?;
        let id = parse_run_name("name", &request.get_ref().name)?;
        // The revert runs to its end even if the caller goes away: a half
        // reverted run would be marked reverted all the same.
        let (store, rules) = (self.store.clone(), Arc::clone(&self.rules));
        let dry_run = request.get_ref().validate_only;
        let outcome = tokio::spawn(async move { store.revert_sync_run(id, caller.name, rules, dry_run).await })
            .await
            .map_err(|e| Error::Internal(format!("the revert task failed: {e}")))??;
        Ok(Response::new(v1::RevertSyncRunResponse {
            run: Some(sync_run_to_pb(outcome.run)),
            deleted: outcome.deleted,
            restored: outcome.restored,
            conflict_count: outcome.conflict_count,
            conflicts: outcome
                .conflicts
                .into_iter()
                .map(|c| v1::RevertConflict {
                    resource: c.resource,
                    field: c.field,
                    run_value: c.run_value,
                    current_value: c.current_value,
                })
                .collect(),
        }))
    }

    async fn get_sync_run(&self, request: Request<v1::GetSyncRunRequest>) -> Reply<v1::SyncRun> {
        require(&request, Permission::Read)?;
        let name = request.get_ref().name.trim().to_string();
        let id = parse_run_name("name", &name)?;
        let run = self.store.get_sync_run(&id)?.ok_or_else(|| Error::NotFound { resource: name.clone() })?;
        Ok(Response::new(sync_run_to_pb(run)))
    }

    async fn list_sync_failures(
        &self,
        request: Request<v1::ListSyncFailuresRequest>,
    ) -> Reply<v1::ListSyncFailuresResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let name = r.parent.trim().to_string();
        let id = parse_run_name("parent", &name)?;
        let size = page_size(r.page_size, 1000, 10_000)?;
        let run = self.store.get_sync_run(&id)?.ok_or_else(|| Error::NotFound { resource: name.clone() })?;
        let digest = page_token::query_digest(&["ListSyncFailures", &name]);
        let key = self.store.token_key().to_vec();
        let from = match page_token::decode(&key, &digest, &r.page_token)? {
            Some(resume) => resume.position.as_slice().try_into().map(u64::from_be_bytes).map_err(|_| {
                Error::invalid_field("page_token", "INVALID_PAGE_TOKEN", "is not a page token of this server")
            })?,
            None => 0,
        };
        let total_size = run.failed;
        let (failures, next) = self.store.sync_failures(run, from, size).await?;
        Ok(Response::new(v1::ListSyncFailuresResponse {
            failures: failures.into_iter().map(failure_pb).collect(),
            next_page_token: next
                .map(|n| page_token::encode(&key, &digest, n.to_be_bytes().to_vec(), None))
                .unwrap_or_default(),
            total_size,
        }))
    }

    async fn list_sources(&self, request: Request<v1::ListSourcesRequest>) -> Reply<v1::ListSourcesResponse> {
        require(&request, Permission::Read)?;
        let (store, expected) = (self.store.clone(), Arc::clone(&self.expected));
        let sources = crate::store::blocking(move || source_health(&store, &expected, now_micros())).await?;
        Ok(Response::new(v1::ListSourcesResponse { sources }))
    }

    async fn list_sync_runs(&self, request: Request<v1::ListSyncRunsRequest>) -> Reply<v1::ListSyncRunsResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let limit = page_size(r.page_size, 50, 1000)?;
        let source = Some(r.source.trim()).filter(|s| !s.is_empty());
        let digest = page_token::query_digest(&["ListSyncRuns", source.unwrap_or("")]);
        let key = self.store.token_key().to_vec();
        let after = page_token::resume_id(&key, &digest, &r.page_token)?;
        let (runs, next, total) = self.store.list_sync_runs(source, after.as_deref(), limit)?;
        Ok(Response::new(v1::ListSyncRunsResponse {
            runs: runs.into_iter().map(sync_run_to_pb).collect(),
            next_page_token: page_token::next_id_token(&key, &digest, next),
            total_size: i64::try_from(total).unwrap_or(i64::MAX),
        }))
    }
}
