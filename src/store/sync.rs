//! Bulk sync in the store: chunks of rows applied as one write job (so one
//! atomic batch and one flush per chunk), the firms each source has sent
//! (the record's `synced_by`, indexed in memory), the firms a run has
//! handled (in memory, for the run's life) and run records (`G{run_id}`,
//! time-ordered ids).

use std::sync::Arc;

use crate::domain::change::WriteMeta;
use crate::domain::credit_code::CreditCode;
use crate::domain::enterprise::{Enterprise, Rules};
use crate::domain::indicators::{self, AnnualIndicators};
use crate::domain::sync::{self, Failure, SyncRun, MAX_KEPT_MISSING};
use crate::domain::time::Micros;
use crate::error::{Error, Result};
use crate::store::enterprises::{apply_enterprise, put_enterprise};
use crate::store::index;
use crate::store::ladder::indicators_key;
use crate::store::records;
use crate::store::{blocking, codec, keys, writer, Store, Txn};

/// Rows per chunk: one atomic batch and one flush each.
pub const CHUNK_ROWS: usize = 500;
/// Bytes of rows per chunk (as received): a chunk of heavy rows is written
/// before it has [`CHUNK_ROWS`] rows, so a stream holds at most about three
/// times this much (two chunks in the writer, one being received).
pub const CHUNK_BYTES: usize = 4 << 20;

/// One row of a sync stream.
#[derive(Debug, Clone)]
pub struct SyncRow {
    /// Row number in the source.
    pub row_number: i64,
    /// The fields sent.
    pub enterprise: Enterprise,
    /// The fields this row sets (empty: every non-empty one).
    pub fields: Vec<String>,
    /// The year's figures sent with the row, if any: their resource name and
    /// the figures set.
    pub indicators: Option<(String, AnnualIndicators)>,
    /// Why the row was refused as it arrived (a field beyond its limit): it
    /// then carries only its credit code (cut) and fails with this error in
    /// its place in the run, like any row the rules refuse.
    pub rejected: Option<Error>,
}

/// A run's record as its chunks are applied (shared by the stream handler
/// and the chunks in the writer, which update it in order).
pub type RunProgress = Arc<std::sync::Mutex<SyncRun>>;

/// The firms a run has handled so far (credit codes): a later row for one of
/// them is a repeat, and in full mode the firms its source sent before but
/// not in this run are the missing ones. Held for the run's life only (a
/// run cut off by a crash is not continued, but run again).
pub type RunSeen = Arc<std::sync::Mutex<std::collections::HashSet<index::Code>>>;

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

impl ChunkResult {
    /// Adds the chunk's counts and failures to its run.
    pub fn add_to(&self, run: &mut SyncRun) {
        run.created += self.created;
        run.updated += self.updated;
        run.unchanged += self.unchanged;
        for failure in &self.failures {
            run.fail(failure.clone());
        }
    }
}

pub(super) fn run_key(id: &str) -> Vec<u8> {
    let mut k = vec![keys::SYNC_RUN];
    k.extend_from_slice(id.as_bytes());
    k
}

fn failures_prefix(run_id: &str) -> Vec<u8> {
    let mut k = vec![keys::SYNC_FAILURE];
    k.extend_from_slice(run_id.as_bytes());
    k.push(0);
    k
}

fn failure_key(run_id: &str, ordinal: u64) -> Vec<u8> {
    let mut k = failures_prefix(run_id);
    k.extend_from_slice(&ordinal.to_be_bytes());
    k
}

impl Store {
    /// Applies one chunk of rows in one write job. Each row succeeds or fails
    /// on its own; the successful ones commit together, durably, with the
    /// run's record (`run` as it was before the chunk, plus the chunk), so a
    /// crash never leaves applied chunks without their run.
    pub async fn sync_chunk(
        &self,
        progress: RunProgress,
        received: i64,
        rows: Vec<SyncRow>,
        rules: Arc<Rules>,
        seen: RunSeen,
    ) -> Result<ChunkResult> {
        let run = progress.lock().map_err(|_| Error::Internal("run progress poisoned".into()))?.clone();
        self.write(run.dry_run, move |txn| {
            // A chunk that fails whole (an internal error) ends its run, so
            // the codes it adds need no undoing.
            let mut seen = seen.lock().map_err(|_| Error::Internal("run set poisoned".into()))?;
            let (run_id, source) = (run.id.clone(), run.source.clone());
            let actor = run.actor.clone();
            let mut result = ChunkResult::default();
            let meta =
                WriteMeta { actor, origin: source.clone(), reason: format!("syncRuns/{run_id}"), ..Default::default() };
            // The chunk's firms in one read (on PostgreSQL).
            txn.prefetch(rows.iter().filter_map(|row| {
                let code = CreditCode::parse_unverified(&row.enterprise.credit_code).ok()?;
                Some(keys::enterprise(code.as_str()))
            }))?;
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
                let key = index::code_of(&code)?;
                // One row per firm and run: a later row for a firm this run
                // already handled fails, so re-running a file is stable.
                if seen.contains(&key) {
                    let error = Error::invalid_field(
                        "enterprise.credit_code",
                        "DUPLICATE_IN_STREAM",
                        format!("{code} was already sent earlier in this run"),
                    );
                    result.failures.push(Failure::of(row.row_number, &sent, &error));
                    continue;
                }
                // A firm in the file is not "missing from the source" in full
                // mode, even when its row fails.
                if before.is_some() {
                    seen.insert(key);
                }
                if let Some(error) = &row.rejected {
                    result.failures.push(Failure::of(row.row_number, &sent, error));
                    continue;
                }
                // Figures are checked before the firm is touched: a row with
                // bad figures fails whole.
                let figures = match &row.indicators {
                    None => None,
                    Some((name, patch)) => match plan_indicators(txn, &code, name, patch) {
                        Ok(plan) => Some(plan),
                        Err(e) => {
                            result.failures.push(Failure::of(row.row_number, &sent, &e));
                            continue;
                        }
                    },
                };
                let mut input = row.enterprise;
                input.credit_code = code.clone();
                // A firm this row creates records its source with it.
                input.synced_by = vec![source.clone()];
                // Implicitly, every updatable field sent; explicitly, exactly
                // the fields named (an unknown name fails the row).
                let fields = if row.fields.is_empty() {
                    let updatable = crate::domain::enterprise::UPDATABLE_FIELDS;
                    input.populated_fields().into_iter().filter(|f| updatable.contains(&f.as_str())).collect()
                } else {
                    row.fields
                };
                let uid = *uuid::Uuid::new_v4().as_bytes();
                let rules = Arc::clone(&rules);
                match records::apply_to(txn, before.clone(), &meta, move |current, now| {
                    sync::apply_row(current, input, &fields, &rules, uid, now)
                }) {
                    Ok(after) => {
                        let figures_changed = match figures {
                            Some((year, patch, mask)) => {
                                let key = indicators_key(&code, year);
                                let previous: Option<AnnualIndicators> = txn.get_record(&key)?;
                                let code = code.clone();
                                let stored = records::apply(txn, &key, &meta, move |current, now| {
                                    indicators::upsert(current, &code, year, &patch, &mask, "", now)
                                })?;
                                previous.as_ref() != Some(&stored)
                            }
                            None => false,
                        };
                        match &before {
                            None => result.created += 1,
                            // Compared whole: a dry run keeps the revision it would move.
                            Some(b) if *b != after || figures_changed => result.updated += 1,
                            Some(_) => result.unchanged += 1,
                        }
                        if !after.synced_by.contains(&source) {
                            // First sent by this source: the record notes it,
                            // without a change of its own.
                            let mut noted = after.clone();
                            noted.synced_by.push(source.clone());
                            put_enterprise(txn, Some(&after), &noted)?;
                        }
                        if before.is_none() {
                            seen.insert(key);
                        }
                    }
                    Err(e @ Error::Internal(_)) => return Err(e),
                    Err(e) => result.failures.push(Failure::of(row.row_number, &sent, &e)),
                }
            }
            // The run as of this chunk: chunks run in the writer one after
            // another, so the counts are those of every chunk up to this one.
            let mut progress = progress.lock().map_err(|_| Error::Internal("run progress poisoned".into()))?;
            progress.rows = progress.rows.max(received);
            // Every failure is kept under the run, numbered in order; the run
            // record itself carries only the first ones.
            let first = u64::try_from(progress.failed).unwrap_or(0);
            for (i, failure) in result.failures.iter().enumerate() {
                txn.put(failure_key(&progress.id, first + i as u64), codec::encode(failure));
            }
            result.add_to(&mut progress);
            txn.put(run_key(&progress.id), codec::encode(&*progress));
            Ok(result)
        })
        .await
    }

    /// Marks runs a crash left RUNNING as INTERRUPTED (at open, before any
    /// new run can start): their applied chunks stay and can be reverted.
    /// Run ids start with their start time, so only the runs started since
    /// the previous opening are read.
    /// Claims a sync run (or its revert) for this server while it works on
    /// it: on PostgreSQL a session lock that ends with the server, so the
    /// others can tell a cut-off run from a live one. `None`: another
    /// server holds it. On sled (one server per store) always granted.
    pub fn claim_run(&self, id: &str) -> Result<Option<RunClaim>> {
        let crate::store::kv::Kv::Pg(pg) = self.tree() else {
            return Ok(Some(RunClaim { pg: None, key: 0 }));
        };
        let key = run_lock(id);
        Ok(pg.pg().claim(key)?.then(|| RunClaim { pg: Some(std::sync::Arc::clone(pg.pg())), key }))
    }

    /// On PostgreSQL: marks INTERRUPTED the runs left RUNNING by a server
    /// that died (nobody holds their claim). Written directly, before the
    /// writer starts: no live server works on such a run.
    pub(crate) fn interrupt_abandoned_runs(tree: &crate::store::kv::Kv, head: u64) -> Result<usize> {
        let crate::store::kv::Kv::Pg(pg) = tree else { return Ok(0) };
        let mut fixed = 0;
        for entry in tree.scan_prefix([keys::SYNC_RUN]) {
            let (key, value) = entry?;
            let mut run: SyncRun = codec::decode(&value)?;
            if run.state != crate::pb::v1::SyncRunState::Running as i32 {
                continue;
            }
            let lock = run_lock(&run.id);
            if pg.pg().claim(lock)? {
                run.state = crate::pb::v1::SyncRunState::Interrupted as i32;
                run.last_revision = head;
                tree.insert(&key, codec::encode(&run))?;
                pg.pg().release(lock);
                fixed += 1;
            }
        }
        Ok(fixed)
    }

    pub(crate) fn interrupt_leftover_runs(tree: &crate::store::kv::Kv, head: u64) -> Result<usize> {
        // A minute of slack for a clock that stepped back.
        let since = crate::store::writer::read_u64(tree, keys::META_OPENED)?.saturating_sub(60_000_000);
        tree.insert(keys::META_OPENED, crate::domain::time::now_micros().to_be_bytes())?;
        let mut fixed = 0;
        for entry in tree.range(run_key(&format!("{since:016x}"))..[keys::SYNC_RUN + 1].to_vec()) {
            let (key, value) = entry?;
            let mut run: SyncRun = codec::decode(&value)?;
            if run.state == crate::pb::v1::SyncRunState::Running as i32 {
                run.state = crate::pb::v1::SyncRunState::Interrupted as i32;
                run.last_revision = head;
                tree.insert(key, codec::encode(&run))?;
                fixed += 1;
            }
        }
        Ok(fixed)
    }

    /// Records a finished (or interrupted) run; in full mode first counts the
    /// live firms this source sent before but not in this run (`seen`), in a
    /// dry run too (it reports what the run would find).
    pub async fn finish_sync_run(&self, mut run: SyncRun, full: bool, seen: RunSeen) -> Result<SyncRun> {
        // Every change the run made is at or below the head now.
        run.last_revision = self.next_revision()? - 1;
        if full {
            let store = self.clone();
            let source = run.source.clone();
            let (count, codes) = blocking(move || {
                let seen = seen.lock().map_err(|_| Error::Internal("run set poisoned".into()))?;
                let index = store.index()?;
                let sent = index.live_set(index::id::SOURCE, source.as_bytes());
                let mut count = 0i64;
                let mut codes = Vec::new();
                for code in sent.iter().filter_map(|ord| index.code(ord)).filter(|code| !seen.contains(*code)) {
                    count += 1;
                    if codes.len() < MAX_KEPT_MISSING {
                        let code = String::from_utf8_lossy(code);
                        codes.push(crate::error::clip(&code, sync::MAX_FAILURE_CODE_BYTES).into_owned());
                    }
                }
                codes.sort();
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

    /// Whether `name` is a sync source that has sent firms to this store.
    pub fn is_sync_source(&self, name: &str) -> Result<bool> {
        Ok(self.index()?.set(index::id::SOURCE, name.as_bytes()).is_some_and(|firms| !firms.is_empty()))
    }

    /// Who ran the first run of `source` (runs removed by nothing, so a
    /// source keeps its first caller), if it has run.
    pub fn sync_source_owner(&self, source: &str) -> Result<Option<String>> {
        for entry in self.tree().scan_prefix([keys::SYNC_RUN]) {
            let (_, value) = entry?;
            let run: SyncRun = codec::decode(&value)?;
            if run.source == source {
                return Ok(Some(run.actor));
            }
        }
        Ok(None)
    }

    /// Reads a run.
    pub fn get_sync_run(&self, id: &str) -> Result<Option<SyncRun>> {
        self.tree().get(run_key(id))?.map(|b| codec::decode(&b)).transpose()
    }

    /// A page of a run's failed rows from ordinal `from`, and the ordinal the
    /// next page starts at. A run without stored failures (a dry run) serves
    /// the ones its record keeps.
    pub async fn sync_failures(&self, run: SyncRun, from: u64, limit: usize) -> Result<(Vec<Failure>, Option<u64>)> {
        let store = self.clone();
        blocking(move || {
            let prefix = failures_prefix(&run.id);
            let mut stored = store.tree().range(failure_key(&run.id, from)..keys::prefix_end(&prefix)).peekable();
            if from == 0 && stored.peek().is_none() {
                let kept: Vec<Failure> = run.failures.into_iter().take(limit).collect();
                return Ok((kept, None));
            }
            let mut out = Vec::new();
            for entry in stored {
                let (key, value) = entry?;
                let ordinal = key.get(prefix.len()..).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
                if out.len() == limit {
                    return Ok((out, ordinal));
                }
                out.push(codec::decode(&value)?);
            }
            Ok((out, None))
        })
        .await
    }

    /// The newest runs (optionally of one source), without their failures.
    pub fn list_sync_runs(
        &self,
        source: Option<&str>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<SyncRun>, Option<String>, u64)> {
        let mut out = Vec::new();
        let mut next = None;
        let mut total = 0u64;
        for entry in self.tree().scan_prefix([keys::SYNC_RUN]).rev() {
            let (key, value) = entry?;
            let mut run: SyncRun = codec::decode(&value)?;
            if source.is_some_and(|s| s != run.source) {
                continue;
            }
            total += 1;
            // Newest first: a page resumes below the last id it showed.
            if before.is_some_and(|b| key.as_ref() >= run_key(b).as_slice()) {
                continue;
            }
            if out.len() == limit {
                next.get_or_insert_with(|| out.last().map(|r: &SyncRun| r.id.clone()).unwrap_or_default());
                continue;
            }
            run.failures.clear();
            run.missing_codes.clear();
            out.push(run);
        }
        Ok((out, next, total))
    }
}

/// Checks a row's figures against the stored year: the year and the mask
/// to write, or the reason the row fails.
fn plan_indicators(
    txn: &Txn<'_>,
    code: &str,
    name: &str,
    patch: &AnnualIndicators,
) -> Result<(i32, AnnualIndicators, Vec<String>)> {
    let (named_code, year) = indicators::parse_name("indicators.name", name)?;
    if named_code != code {
        return Err(Error::invalid_field(
            "indicators.name",
            "OTHER_FIRM",
            format!("{name:?} names another firm than this row's {code}"),
        ));
    }
    let mask = patch.populated_fields();
    if mask.is_empty() {
        return Err(Error::invalid_field("indicators", "EMPTY", "sends no figure"));
    }
    let current: Option<AnnualIndicators> = txn.get_record(&indicators_key(code, year))?;
    // The same rule as the write, run once here to fail the row before
    // anything of it is written.
    indicators::upsert(current, code, year, patch, &mask, "", 0)?;
    Ok((year, patch.clone(), mask))
}

/// What staff did under a firm after `since` (a revision), if anything: a
/// designation, figures, a membership or a posting recorded or changed, a
/// stage change, or an investment project linked to it. A firm a sync run created and someone worked on since is
/// kept when the run is reverted.
fn worked_on_since(txn: &Txn<'_>, code: &str, since: u64) -> Result<Option<String>> {
    fn prefix(tag: u8, code: &str) -> Vec<u8> {
        let mut k = vec![tag];
        k.extend_from_slice(code.as_bytes());
        k.push(0);
        k
    }
    let later = |revision: Option<u64>, what: &str| {
        revision.filter(|r| *r > since).map(|r| format!("{what} since the run (revision {r})"))
    };
    let firm: Option<Enterprise> = txn.get_record(&keys::enterprise(code))?;
    if let Some(head) = firm.map(|f| f.log_head).filter(|head| *head > since) {
        return Ok(Some(format!("changed since the run (revision {head})")));
    }
    for (_, value) in txn.scan_prefix(&prefix(keys::DESIGNATION, code))? {
        let d: crate::domain::ladder::Designation = codec::decode(&value)?;
        if let Some(work) = later(Some(d.revision), "a designation") {
            return Ok(Some(work));
        }
    }
    for (_, value) in txn.scan_prefix(&prefix(keys::INDICATORS, code))? {
        let figures: AnnualIndicators = codec::decode(&value)?;
        if let Some(work) = later(Some(figures.revision), "figures") {
            return Ok(Some(work));
        }
    }
    for (key, _) in txn.scan_prefix(&prefix(keys::MEMBER_OF, code))? {
        let alliance = String::from_utf8_lossy(&key[code.len() + 2..]).into_owned();
        let m: Option<crate::domain::alliance::Membership> = txn.get_record(&keys::membership(&alliance, code))?;
        if let Some(work) = later(m.map(|m| m.revision), "a membership") {
            return Ok(Some(work));
        }
    }
    if let Some(p) = super::projects::projects_linking(txn, code)?.first() {
        return Ok(Some(format!("linked to {} since the run", p.name)));
    }
    for (key, _) in txn.scan_prefix(&prefix(keys::FIRM_POSTINGS, code))? {
        let mut posting = vec![keys::POSTING];
        posting.extend_from_slice(&key[code.len() + 2..]);
        let p: Option<crate::domain::supply_demand::Posting> = txn.get_record(&posting)?;
        if let Some(work) = later(p.map(|p| p.revision), "a posting") {
            return Ok(Some(work));
        }
    }
    Ok(None)
}

/// A field a revert left alone because it changed after the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevertConflict {
    /// The resource.
    pub resource: String,
    /// The field (empty when the whole firm could not be reverted).
    pub field: String,
    /// What the run wrote.
    pub run_value: String,
    /// What is there now (kept).
    pub current_value: String,
}

/// What a revert did.
#[derive(Debug, Clone, Default)]
pub struct RevertOutcome {
    /// The run, marked reverted.
    pub run: SyncRun,
    /// Firms soft-deleted.
    pub deleted: i64,
    /// Firms with fields restored.
    pub restored: i64,
    /// The first conflicts.
    pub conflicts: Vec<RevertConflict>,
    /// All conflicts.
    pub conflict_count: i64,
}

/// What a run did to one firm: whether it created it, and each field's value
/// before the run's first change and after its last.
#[derive(Debug, Clone, Default)]
struct RunEffect {
    created: bool,
    /// Revision of the run's last change to the resource.
    last_revision: u64,
    fields: std::collections::BTreeMap<String, (String, String)>,
}

impl Store {
    /// Undoes a run: soft-deletes the firms it created and restores the
    /// fields it updated, except where they changed since (conflicts).
    pub async fn revert_sync_run(
        &self,
        id: String,
        actor: String,
        rules: Arc<Rules>,
        dry_run: bool,
    ) -> Result<RevertOutcome> {
        let name = format!("syncRuns/{id}");
        // This server's claim on the revert while it runs. On PostgreSQL a
        // claim held by another server means that one is reverting it now;
        // a free one on a run marked reverting means its server died.
        let claim = if dry_run { None } else { self.claim_run(&id)? };
        let claimed_elsewhere = !dry_run && claim.is_none();
        let shared = matches!(self.tree(), crate::store::kv::Kv::Pg(_));
        // Check and mark in one write job: of two concurrent reverts, one
        // wins and the other is refused. A dry run checks and marks nothing.
        let (run, resumed) = {
            let name = name.clone();
            self.write(dry_run, move |txn| {
                let mut run: SyncRun =
                    txn.get_record(&run_key(&id))?.ok_or_else(|| Error::NotFound { resource: name.clone() })?;
                // A revert cut off by a restart (started before this opening)
                // is resumed; one still running is not started twice.
                let opened = txn.get(keys::META_OPENED)?.map_or(0, |b| writer::decode_u64(&b));
                let opened = i64::try_from(opened).unwrap_or(i64::MAX);
                if run.revert_time != 0 && !run.reverting {
                    return Err(Error::FailedPrecondition {
                        reason: "ALREADY_REVERTED",
                        message: format!("{name} was already reverted"),
                    });
                }
                let running = if shared { claimed_elsewhere } else { run.revert_time >= opened };
                if run.reverting && running {
                    return Err(Error::FailedPrecondition {
                        reason: "REVERT_IN_PROGRESS",
                        message: format!("{name} is being reverted now"),
                    });
                }
                if run.dry_run {
                    return Err(Error::FailedPrecondition {
                        reason: "DRY_RUN",
                        message: format!("{name} was a dry run: it wrote nothing"),
                    });
                }
                if run.state == crate::pb::v1::SyncRunState::Running as i32 {
                    return Err(Error::FailedPrecondition {
                        reason: "RUN_IN_PROGRESS",
                        message: format!("{name} is still running"),
                    });
                }
                let oldest = txn.get(keys::META_LOG_START)?.map_or(1, |b| writer::decode_u64(&b)).max(1);
                if run.first_revision != 0 && run.first_revision < oldest {
                    return Err(Error::FailedPrecondition {
                        reason: "RUN_COMPACTED",
                        message: format!(
                            "{name}'s changes are older than the change log keeps (from revision {oldest}): \
                             it can no longer be reverted"
                        ),
                    });
                }
                let resumed = run.reverting;
                run.revert_time = txn.now();
                run.reverting = true;
                txn.put(run_key(&run.id), codec::encode(&run));
                Ok((run, resumed))
            })
            .await?
        };
        // The run's changes lie within its revision range, marked with its
        // name as the reason and its source as the origin.
        let mut effects: std::collections::BTreeMap<String, RunEffect> = std::collections::BTreeMap::new();
        let mut start = run.first_revision.max(1);
        loop {
            let query = crate::store::ChangeQuery { resource: None, start, end: run.last_revision, page_size: 1000 };
            let page = self.list_changes(query).await?;
            for change in page.changes.into_iter().filter(|c| c.reason == name && c.origin == run.source) {
                let effect = effects.entry(change.resource).or_default();
                effect.created |= change.kind == crate::domain::change::ChangeKind::Created as i32;
                effect.last_revision = change.revision;
                for f in change.field_changes {
                    let entry = effect.fields.entry(f.field).or_insert((f.old_value, String::new()));
                    entry.1 = f.new_value;
                }
            }
            match page.next_start {
                Some(next) => start = next,
                None => break,
            }
        }
        // An earlier attempt cut off by a restart has reverted some resources
        // already: its changes carry the same reason; those are skipped.
        let reason = format!("revert of {name}");
        let mut start = Some(run.last_revision + 1).filter(|_| resumed);
        while let Some(from) = start {
            let query = crate::store::ChangeQuery { resource: None, start: from, end: u64::MAX, page_size: 1000 };
            let page = self.list_changes(query).await?;
            for change in page.changes.iter().filter(|c| c.reason == reason && c.origin == "revert") {
                effects.remove(&change.resource);
            }
            start = page.next_start;
        }
        let mut outcome = RevertOutcome::default();
        let meta = WriteMeta { actor, origin: "revert".into(), reason, ..Default::default() };
        let effects: Vec<(String, RunEffect)> = effects.into_iter().collect();
        for chunk in effects.chunks(CHUNK_ROWS) {
            let chunk = chunk.to_vec();
            let (meta, rules) = (meta.clone(), Arc::clone(&rules));
            let last_revision = run.last_revision;
            let (deleted, restored, conflicts) = self
                .write(dry_run, move |txn| {
                    let (mut deleted, mut restored, mut conflicts) = (0i64, 0i64, Vec::new());
                    for (resource, effect) in chunk {
                        let code = resource.trim_start_matches("enterprises/").to_string();
                        if let Some((code, year)) = code.split_once("/indicators/") {
                            // Figures sent with rows: each field still holding
                            // the run's value gets its old value back.
                            let year: i32 =
                                year.parse().map_err(|_| Error::Internal(format!("bad resource {resource}")))?;
                            let key = indicators_key(code, year);
                            let Some(current) = txn.get_record::<AnnualIndicators>(&key)? else { continue };
                            let mut restored_figures = current.clone();
                            for (field, (before, after)) in &effect.fields {
                                let now_value = current.rendered_field(field).unwrap_or_default();
                                if &now_value == after {
                                    restored_figures.set_rendered(field, before)?;
                                } else {
                                    conflicts.push(RevertConflict {
                                        resource: resource.clone(),
                                        field: field.clone(),
                                        run_value: after.clone(),
                                        current_value: now_value,
                                    });
                                }
                            }
                            if restored_figures != current {
                                restored_figures.update_time = txn.now();
                                records::commit(
                                    txn,
                                    Some(&current),
                                    restored_figures,
                                    crate::domain::change::ChangeKind::Updated,
                                    &meta,
                                )?;
                                restored += 1;
                            }
                            continue;
                        }
                        let current: Option<Enterprise> = txn.get_record(&keys::enterprise(&code))?;
                        let Some(current) = current else { continue };
                        let since = if current.revision != effect.last_revision {
                            Some(format!("edited since the run (revision {})", current.revision))
                        } else {
                            worked_on_since(txn, &code, last_revision)?
                        };
                        if let (true, Some(work)) = (effect.created, since) {
                            // Someone worked on the firm since: keep it.
                            conflicts.push(RevertConflict {
                                resource: resource.clone(),
                                field: String::new(),
                                run_value: "created".into(),
                                current_value: format!("kept: {work}"),
                            });
                            continue;
                        }
                        if effect.created {
                            let reason = meta.reason.clone();
                            let rule = |cur, now| crate::domain::enterprise::delete(cur, &resource, "", &reason, now);
                            match apply_enterprise(txn, &code, &meta, rule) {
                                Ok(_) => deleted += 1,
                                Err(e) => conflicts.push(RevertConflict {
                                    resource: resource.clone(),
                                    field: String::new(),
                                    run_value: "created".into(),
                                    current_value: e.to_string(),
                                }),
                            }
                            continue;
                        }
                        let mut patch = Enterprise::default();
                        let mut mask = Vec::new();
                        // Derived fields (former names) follow the fields they derive from.
                        let updatable = effect
                            .fields
                            .iter()
                            .filter(|(field, _)| crate::domain::enterprise::UPDATABLE_FIELDS.contains(&field.as_str()));
                        for (field, (before, after)) in updatable {
                            let now_value = current.rendered(field).unwrap_or_default();
                            if &now_value != after {
                                conflicts.push(RevertConflict {
                                    resource: resource.clone(),
                                    field: field.clone(),
                                    run_value: after.clone(),
                                    current_value: now_value,
                                });
                            } else {
                                patch.set_rendered(field, before)?;
                                mask.push(field.clone());
                            }
                        }
                        if mask.is_empty() {
                            continue;
                        }
                        let rules = Arc::clone(&rules);
                        // A rename the run made never happened: neither it nor
                        // its undo leaves a former name behind.
                        let undone_rename =
                            effect.fields.get("display_name").filter(|_| mask.iter().any(|f| f == "display_name"));
                        let rule = |cur, now| {
                            let (kind, mut record) =
                                crate::domain::enterprise::update(cur, &resource, &patch, &mask, "", &rules, now)?;
                            if let Some((before, after)) = undone_rename {
                                for name in [after, before] {
                                    if let Some(i) = record.former_names.iter().rposition(|f| &f.display_name == name) {
                                        record.former_names.remove(i);
                                    }
                                }
                            }
                            Ok((kind, record))
                        };
                        match apply_enterprise(txn, &code, &meta, rule) {
                            Ok(_) => restored += 1,
                            Err(e) => conflicts.push(RevertConflict {
                                resource: resource.clone(),
                                field: mask.join(","),
                                run_value: String::new(),
                                current_value: e.to_string(),
                            }),
                        }
                    }
                    Ok((deleted, restored, conflicts))
                })
                .await?;
            outcome.deleted += deleted;
            outcome.restored += restored;
            outcome.conflict_count += i64::try_from(conflicts.len()).unwrap_or(i64::MAX);
            let room = sync::MAX_KEPT_FAILURES.saturating_sub(outcome.conflicts.len());
            outcome.conflicts.extend(conflicts.into_iter().take(room));
        }
        if dry_run {
            outcome.run = run;
            outcome.run.reverting = false;
            outcome.run.revert_time = 0;
            return Ok(outcome);
        }
        let id = run.id.clone();
        outcome.run = self
            .write(false, move |txn| {
                let mut run: SyncRun = txn.get_record(&run_key(&id))?.ok_or(Error::NotFound { resource: id })?;
                run.reverting = false;
                txn.put(run_key(&run.id), codec::encode(&run));
                Ok(run)
            })
            .await?;
        Ok(outcome)
    }
}

/// What the store knows of one sync source.
#[derive(Debug, Clone)]
pub struct SourceStats {
    /// The source's name.
    pub source: String,
    /// Runs it has made (dry runs included).
    pub runs: u64,
    /// Its newest run (without its failed rows).
    pub last_run: SyncRun,
    /// When its newest run that wrote and completed ended (0: none has).
    pub last_success: Micros,
    /// Who ran its first run.
    pub owner: String,
    /// Live firms it has sent.
    pub firms: u64,
}

impl Store {
    /// Every source that has run, by name, with its runs and the firms it
    /// has sent (one read of the run records).
    pub fn sync_sources(&self) -> Result<Vec<SourceStats>> {
        let mut by_source: std::collections::BTreeMap<String, SourceStats> = std::collections::BTreeMap::new();
        for entry in self.tree().scan_prefix([keys::SYNC_RUN]) {
            let (_, value) = entry?;
            let mut run: SyncRun = codec::decode(&value)?;
            run.failures.clear();
            run.missing_codes.clear();
            let succeeded = !run.dry_run && run.state == 2 && run.revert_time == 0;
            // Runs are stored oldest first (time-ordered ids).
            let stats = by_source.entry(run.source.clone()).or_insert_with(|| SourceStats {
                source: run.source.clone(),
                runs: 0,
                last_run: run.clone(),
                last_success: 0,
                owner: run.actor.clone(),
                firms: 0,
            });
            stats.runs += 1;
            if succeeded {
                stats.last_success = stats.last_success.max(run.end_time);
            }
            stats.last_run = run;
        }
        let index = self.index()?;
        for stats in by_source.values_mut() {
            stats.firms = index.live_with(index::id::SOURCE, stats.source.as_bytes());
        }
        Ok(by_source.into_values().collect())
    }
}

/// A sync run (or revert) this server works on; released when dropped.
pub struct RunClaim {
    pg: Option<std::sync::Arc<crate::store::pg::Pg>>,
    key: i64,
}

impl Drop for RunClaim {
    fn drop(&mut self) {
        if let Some(pg) = &self.pg {
            pg.release(self.key);
        }
    }
}

/// The advisory-lock key of a run's claim.
fn run_lock(id: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("ladder-run:{id}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().unwrap_or_default())
}
