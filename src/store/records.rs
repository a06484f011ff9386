//! The one mutation path every record type shares: idempotent replay, the
//! domain rule, the change-log entry, the record with whatever derives from
//! it, and the idempotency record, all in the caller's transaction.
//!
//! A request that writes several records (a forced delete ending
//! memberships, a chair hand-over) checks its request id once, commits the
//! secondary records with [`commit`], and remembers only its final answer.

use crate::domain::change::{Change, ChangeKind, WriteMeta};
use crate::domain::enterprise::FieldChange;
use crate::domain::time::Micros;
use crate::error::Result;
use crate::store::{codec, idempotency, Txn};

/// A record type stored under one key and audited in the change log.
pub(crate) trait Record: prost::Message + Default + Clone {
    /// Whether its history is chained through the record (`log_head` and
    /// each entry's `previous_revision`) instead of per-resource index keys.
    const CHAINED: bool = false;
    /// Its resource name, e.g. `enterprises/…`.
    fn resource_name(&self) -> String;
    /// The fields that differ, rendered for the change log.
    fn diff(old: &Self, new: &Self) -> Vec<FieldChange>;
    /// Sets the revision of its last change.
    fn set_revision(&mut self, revision: u64);
    /// The revision of its last change (its etag).
    fn revision(&self) -> u64;
    /// The revision of its newest change, for chained records.
    fn log_head(&self) -> u64 {
        0
    }
    /// Records the revision of its newest change, for chained records.
    fn set_log_head(&mut self, _revision: u64) {}
    /// Writes the record and everything derived from it (indexes, counters,
    /// projections).
    fn put(txn: &mut Txn<'_>, old: Option<&Self>, new: &Self) -> Result<()>;
}

/// Implements the parts of [`Record`] that only delegate to the record's own
/// `resource_name`, `diff` and `revision`; the caller writes `put`.
macro_rules! record_basics {
    () => {
        fn resource_name(&self) -> String {
            Self::resource_name(self)
        }

        fn diff(old: &Self, new: &Self) -> Vec<crate::domain::enterprise::FieldChange> {
            Self::diff(old, new)
        }

        fn set_revision(&mut self, revision: u64) {
            self.revision = revision;
        }

        fn revision(&self) -> u64 {
            self.revision
        }
    };
}
pub(crate) use record_basics;

/// Applies `rule` to the record stored under `key` as a whole request: a
/// request id already used for the same request returns the original answer
/// without writing; otherwise the answer is remembered under it.
pub(crate) fn apply<R, F>(txn: &mut Txn<'_>, key: &[u8], meta: &WriteMeta, rule: F) -> Result<R>
where
    R: Record,
    F: FnOnce(Option<R>, Micros) -> Result<(ChangeKind, R)>,
{
    if let Some(replayed) = idempotency::replay(txn, meta)? {
        return Ok(replayed);
    }
    let current: Option<R> = txn.get_record(key)?;
    apply_to(txn, current, meta, rule)
}

/// [`apply`] on a record the caller has already read from `txn` (`current`),
/// for a request without a request id (a sync row), which has nothing to
/// replay.
pub(crate) fn apply_to<R, F>(txn: &mut Txn<'_>, current: Option<R>, meta: &WriteMeta, rule: F) -> Result<R>
where
    R: Record,
    F: FnOnce(Option<R>, Micros) -> Result<(ChangeKind, R)>,
{
    let (kind, next) = rule(current.clone(), txn.now())?;
    let stored = commit(txn, current.as_ref(), next, kind, meta)?;
    answer(txn, meta, &stored);
    Ok(stored)
}

/// Logs and writes a new state of a record (without remembering an answer).
/// An update that changes no field writes nothing and returns the stored
/// record.
pub(crate) fn commit<R: Record>(
    txn: &mut Txn<'_>,
    old: Option<&R>,
    mut next: R,
    kind: ChangeKind,
    meta: &WriteMeta,
) -> Result<R> {
    let field_changes = R::diff(&old.cloned().unwrap_or_default(), &next);
    if let (ChangeKind::Updated, true, Some(old)) = (kind, field_changes.is_empty(), old) {
        return Ok(old.clone());
    }
    let entry = change(next.resource_name(), kind, field_changes, meta);
    let revision = if R::CHAINED { txn.log_chained(entry, old.map_or(0, R::log_head)) } else { txn.log(entry) };
    // A validate_only answer shows the record as it would be, but with the
    // revision (and so the etag) it has now: no change was written.
    next.set_revision(if txn.is_dry_run() { old.map_or(0, R::revision) } else { revision });
    next.set_log_head(revision);
    R::put(txn, old, &next)?;
    Ok(next)
}

/// The change-log entry of one change to `resource` by the writer `meta`
/// describes (the revision and time are set when it is logged).
pub(crate) fn change(resource: String, kind: ChangeKind, field_changes: Vec<FieldChange>, meta: &WriteMeta) -> Change {
    Change {
        resource,
        kind: kind as i32,
        field_changes,
        actor: meta.actor.clone(),
        origin: meta.origin.clone(),
        request_id: meta.request_id.clone(),
        reason: meta.reason.clone(),
        ..Default::default()
    }
}

/// Remembers a request's final answer under its request id.
pub(crate) fn answer<M: prost::Message>(txn: &mut Txn<'_>, meta: &WriteMeta, response: &M) {
    idempotency::remember(txn, meta, codec::encode(response));
}
