//! Bulk sync in the store: chunks of rows applied as one write job (so one
//! atomic batch and one flush per chunk), the firms each source has sent
//! (`S{source}\0{code}` → the last run that sent it), and run records
//! (`G{run_id}`, time-ordered ids).

use std::sync::Arc;

use crate::domain::change::WriteMeta;
use crate::domain::credit_code::CreditCode;
use crate::domain::enterprise::{Enterprise, Rules};
use crate::domain::sync::{self, Failure, SyncRun, MAX_KEPT_MISSING};
use crate::error::{Error, Result};
use crate::store::enterprises::apply_enterprise;
use crate::store::{blocking, codec, keys, Store};

/// Rows per chunk: one atomic batch and one flush each.
pub const CHUNK_ROWS: usize = 500;

/// One row of a sync stream.
#[derive(Debug, Clone)]
pub struct SyncRow {
    /// Row number in the source.
    pub row_number: i64,
    /// The fields sent.
    pub enterprise: Enterprise,
    /// The fields this row sets (empty: every non-empty one).
    pub fields: Vec<String>,
}

/// What a chunk did.
#[derive(Debug, Clone, Default)]
pub struct ChunkResult {
    /// Firms created.
    pub created: i64,
    /// Firms updated.
    pub updated: i64,
    /// Rows that changed nothing.
    pub unchanged: i64,
    /// Rows that failed.
    pub failures: Vec<Failure>,
}

fn run_key(id: &str) -> Vec<u8> {
    let mut k = vec![keys::SYNC_RUN];
    k.extend_from_slice(id.as_bytes());
    k
}

fn seen_prefix(source: &str) -> Vec<u8> {
    let mut k = vec![keys::SEEN];
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k
}

impl Store {
    /// Applies one chunk of rows in one write job. Each row succeeds or fails
    /// on its own; the successful ones commit together, durably.
    pub async fn sync_chunk(
        &self,
        run_id: String,
        source: String,
        actor: String,
        rows: Vec<SyncRow>,
        rules: Arc<Rules>,
        dry_run: bool,
    ) -> Result<ChunkResult> {
        self.write(dry_run, move |txn| {
            let mut result = ChunkResult::default();
            let meta =
                WriteMeta { actor, origin: source.clone(), reason: format!("syncRuns/{run_id}"), ..Default::default() };
            for row in rows {
                let sent = row.enterprise.credit_code.clone();
                let code = match CreditCode::parse_unverified(&sent) {
                    Ok(code) => code.as_str().to_string(),
                    Err(e) => {
                        let error = Error::invalid_field("enterprise.credit_code", e.reason(), e.to_string());
                        result.failures.push(Failure::of(row.row_number, &sent, &error));
                        continue;
                    }
                };
                let before: Option<Enterprise> = txn.get_record(&keys::enterprise(&code))?;
                let mut input = row.enterprise;
                input.credit_code = code.clone();
                let fields = if row.fields.is_empty() { input.populated_fields() } else { row.fields };
                let uid = *uuid::Uuid::new_v4().as_bytes();
                let rules = Arc::clone(&rules);
                match apply_enterprise(txn, &code, &meta, move |current, now| {
                    sync::apply_row(current, input, &fields, &rules, uid, now)
                }) {
                    Ok(after) => {
                        match &before {
                            None => result.created += 1,
                            Some(b) if b.revision != after.revision => result.updated += 1,
                            Some(_) => result.unchanged += 1,
                        }
                        let mut seen = seen_prefix(&source);
                        seen.extend_from_slice(code.as_bytes());
                        txn.put(seen, run_id.clone().into_bytes());
                    }
                    Err(e @ Error::Internal(_)) => return Err(e),
                    Err(e) => result.failures.push(Failure::of(row.row_number, &sent, &e)),
                }
            }
            Ok(result)
        })
        .await
    }

    /// Records a finished (or interrupted) run; in full mode first counts the
    /// firms this source sent before but not in this run.
    pub async fn finish_sync_run(&self, mut run: SyncRun, full: bool) -> Result<SyncRun> {
        if full && !run.dry_run {
            let store = self.clone();
            let (source, id) = (run.source.clone(), run.id.clone());
            let (count, codes) = blocking(move || {
                let prefix = seen_prefix(&source);
                let mut count = 0i64;
                let mut codes = Vec::new();
                for entry in store.tree().scan_prefix(&prefix) {
                    let (key, value) = entry?;
                    if value.as_ref() != id.as_bytes() {
                        count += 1;
                        if codes.len() < MAX_KEPT_MISSING {
                            codes.push(String::from_utf8_lossy(&key[prefix.len()..]).to_string());
                        }
                    }
                }
                Ok((count, codes))
            })
            .await?;
            run.missing = count;
            run.missing_codes = codes;
        }
        self.write(false, move |txn| {
            run.end_time = txn.now();
            txn.put(run_key(&run.id), codec::encode(&run));
            Ok(run)
        })
        .await
    }

    /// Reads a run.
    pub fn get_sync_run(&self, id: &str) -> Result<Option<SyncRun>> {
        self.tree().get(run_key(id))?.map(|b| codec::decode(&b)).transpose()
    }

    /// The newest runs (optionally of one source), without their failures.
    pub fn list_sync_runs(&self, source: Option<&str>, limit: usize) -> Result<Vec<SyncRun>> {
        let mut out = Vec::new();
        for entry in self.tree().scan_prefix([keys::SYNC_RUN]).rev() {
            let (_, value) = entry?;
            let mut run: SyncRun = codec::decode(&value)?;
            if source.is_some_and(|s| s != run.source) {
                continue;
            }
            run.failures.clear();
            run.missing_codes.clear();
            out.push(run);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }
}
