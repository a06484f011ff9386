//! `ladder.v1.SyncService`: bulk sync for batch scripts.

use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};

use crate::api::convert::{self, timestamp};
use crate::api::{page_size, page_token};
use crate::auth::{require, Permission};
use crate::domain::enterprise::Rules;
use crate::domain::sync::{check_source, SyncRun};
use crate::domain::time::now_micros;
use crate::error::{Error, Result};
use crate::pb::v1;
use crate::store::{DrySeen, Store, SyncRow, CHUNK_ROWS};

/// Serves bulk sync.
#[derive(Clone)]
pub struct SyncApi {
    store: Store,
    rules: Arc<Rules>,
}

impl SyncApi {
    /// A service over `store`, validating rows with `rules`.
    pub fn new(store: Store, rules: Rules) -> Self {
        Self { store, rules: Arc::new(rules) }
    }

    /// Applies the buffered rows as one chunk and adds its counts to the run.
    async fn flush(&self, run: &mut SyncRun, chunk: &mut Vec<SyncRow>, dry_seen: &Option<DrySeen>) -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(chunk);
        let done = self.store.sync_chunk(run.clone(), rows, Arc::clone(&self.rules), dry_seen.clone()).await?;
        done.add_to(run);
        Ok(())
    }

    /// Records the run as interrupted and passes the error on.
    async fn interrupted(&self, mut run: SyncRun, error: Status) -> Status {
        run.state = v1::SyncRunState::Interrupted as i32;
        if let Err(e) = self.store.finish_sync_run(run, false).await {
            tracing::error!(error = %e, "could not record an interrupted sync run");
        }
        error
    }
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
        missing_credit_codes: r.missing_codes,
        actor: r.actor,
        start_time: timestamp(r.start_time),
        end_time: timestamp(r.end_time),
        revert_time: timestamp(r.revert_time),
        reverting: r.reverting,
    }
}

type Reply<T> = Result<Response<T>, Status>;

/// The id of `syncRuns/{run_id}`.
fn failure_pb(f: crate::domain::sync::Failure) -> v1::SyncFailure {
    v1::SyncFailure {
        row_number: f.row_number,
        credit_code: f.credit_code,
        field: f.field,
        reason: f.reason,
        description: f.description,
    }
}

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
        let full = header.mode == v1::SyncMode::Full as i32;
        let now = now_micros();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        // A dry run writes nothing its later chunks could see, so the firms
        // it has handled are remembered here (a code each) to find repeats.
        let dry_seen: Option<DrySeen> = header.dry_run.then(DrySeen::default);
        let mut run = SyncRun {
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
        let mut chunk: Vec<SyncRow> = Vec::with_capacity(CHUNK_ROWS);
        loop {
            match stream.message().await {
                Ok(Some(v1::SyncEnterprisesRequest { message: Some(Message::Row(row)) })) => {
                    run.rows += 1;
                    let enterprise = convert::enterprise_from_pb(row.enterprise.unwrap_or_default());
                    let row_number = if row.row_number > 0 { row.row_number } else { run.rows };
                    let indicators =
                        row.indicators.map(|i| (i.name.clone(), crate::api::cultivation::indicators_from_pb(i)));
                    chunk.push(SyncRow { row_number, enterprise, fields: row.fields, indicators });
                    if chunk.len() == CHUNK_ROWS {
                        if let Err(e) = self.flush(&mut run, &mut chunk, &dry_seen).await {
                            return Err(self.interrupted(run, e.into()).await);
                        }
                    }
                }
                Ok(Some(_)) => {
                    // The rows before it were sent whole: apply them, so every
                    // counted row has an outcome.
                    let _ = self.flush(&mut run, &mut chunk, &dry_seen).await;
                    let error =
                        Error::invalid_field("header", "HEADER_REPEATED", "only the first message may be a header");
                    return Err(self.interrupted(run, error.into()).await);
                }
                Ok(None) => break,
                Err(status) => {
                    // Rows received whole before the break are applied; the
                    // run is recorded as interrupted, and a re-run completes it.
                    let _ = self.flush(&mut run, &mut chunk, &dry_seen).await;
                    tracing::warn!(run = %run.resource_name(), error = %status, "sync stream broke off");
                    return Err(self.interrupted(run, status).await);
                }
            }
        }
        if let Err(e) = self.flush(&mut run, &mut chunk, &dry_seen).await {
            return Err(self.interrupted(run, e.into()).await);
        }
        run.state = v1::SyncRunState::Succeeded as i32;
        let run = self.store.finish_sync_run(run, full).await?;
        tracing::info!(run = %run.resource_name(), rows = run.rows, created = run.created, updated = run.updated, failed = run.failed, "sync run finished");
        Ok(Response::new(sync_run_to_pb(run)))
    }

    async fn revert_sync_run(&self, request: Request<v1::RevertSyncRunRequest>) -> Reply<v1::RevertSyncRunResponse> {
        let caller = require(&request, Permission::Revert)?;
        let id = parse_run_name("name", &request.get_ref().name)?;
        // The revert runs to its end even if the caller goes away: a half
        // reverted run would be marked reverted all the same.
        let (store, rules) = (self.store.clone(), Arc::clone(&self.rules));
        let outcome = tokio::spawn(async move { store.revert_sync_run(id, caller.name, rules).await })
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

    async fn list_sync_runs(&self, request: Request<v1::ListSyncRunsRequest>) -> Reply<v1::ListSyncRunsResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let limit = page_size(r.page_size, 50, 1000)?;
        let source = Some(r.source.trim()).filter(|s| !s.is_empty());
        let runs = self.store.list_sync_runs(source, limit)?;
        Ok(Response::new(v1::ListSyncRunsResponse { runs: runs.into_iter().map(sync_run_to_pb).collect() }))
    }
}
