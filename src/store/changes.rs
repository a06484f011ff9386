//! Reading the change log (all changes or one resource's, by revision range)
//! and compacting it: entries older than the retention are removed from the
//! oldest end, and the oldest revision still retained is recorded, so that a
//! request for a compacted revision gets OUT_OF_RANGE naming it.

use crate::domain::change::Change;
use crate::domain::time::Micros;
use crate::error::{Error, Result};
use crate::store::{blocking, codec, keys, writer, Store};

/// The credit code of a resource whose history is chained through its
/// record (`enterprises/{code}`), if it is one.
fn chained_code(resource: &str) -> Option<&str> {
    resource.strip_prefix("enterprises/").filter(|code| !code.is_empty() && !code.contains('/'))
}

/// Most change-log entries removed in one write job.
pub const COMPACT_BATCH: usize = 10_000;

/// One page request of `ListChanges`, already validated.
#[derive(Debug, Clone, Default)]
pub struct ChangeQuery {
    /// Only this resource's changes, when set.
    pub resource: Option<String>,
    /// First revision (inclusive).
    pub start: u64,
    /// Last revision (inclusive); `u64::MAX` for no bound.
    pub end: u64,
    /// Changes wanted.
    pub page_size: usize,
}

/// One page of changes.
#[derive(Debug, Clone, Default)]
pub struct ChangePage {
    /// Changes in increasing revision order.
    pub changes: Vec<Change>,
    /// Revision the next page starts at; `None` on the last page.
    pub next_start: Option<u64>,
    /// Newest revision in the store.
    pub head: u64,
}

impl Store {
    /// Serves one page of the change log.
    pub async fn list_changes(&self, query: ChangeQuery) -> Result<ChangePage> {
        let store = self.clone();
        blocking(move || store.list_changes_blocking(&query)).await
    }

    /// The oldest revision the change log still holds (1 until compacted).
    pub fn oldest_retained(&self) -> Result<u64> {
        Ok(writer::read_u64(self.tree(), keys::META_LOG_START)?.max(1))
    }

    /// Removes, in one durable write, up to [`COMPACT_BATCH`] of the oldest
    /// change-log entries recorded before `cutoff`, with their per-resource
    /// entries, and moves the retained start past them. Returns how many were
    /// removed (fewer than the batch: nothing older is left).
    pub async fn compact_log(&self, cutoff: Micros) -> Result<usize> {
        self.write(false, move |txn| {
            let start = txn.get(keys::META_LOG_START)?.map(|b| writer::decode_u64(&b)).unwrap_or(1).max(1);
            let mut next = start;
            let mut removed = 0;
            while removed < COMPACT_BATCH {
                let Some(bytes) = txn.get(&keys::log(next))? else { break };
                let change: Change = codec::decode(&bytes)?;
                if change.time >= cutoff {
                    break;
                }
                txn.remove(keys::log(next));
                txn.remove(keys::resource_log(&change.resource, next));
                removed += 1;
                next += 1;
            }
            if next != start {
                txn.put(keys::META_LOG_START.to_vec(), next.to_be_bytes().to_vec());
            }
            Ok(removed)
        })
        .await
    }

    /// The revisions of a chained resource's changes within `[start, end]`,
    /// oldest first: its record names the newest, each entry the one before;
    /// changes logged before the chain began (an older layout) are found in
    /// the per-resource index below the chain's oldest entry.
    fn chained_revisions(&self, resource: &str, start: u64, end: u64) -> Result<Vec<u64>> {
        let tree = self.tree();
        let code = chained_code(resource).unwrap_or_default();
        let head = match tree.get(keys::enterprise(code))? {
            Some(bytes) => codec::decode::<crate::domain::enterprise::Enterprise>(&bytes)?.log_head,
            None => 0,
        };
        let mut out = Vec::new();
        let (mut at, mut below) = (head, u64::MAX);
        while at != 0 && at >= start {
            let Some(bytes) = tree.get(keys::log(at))? else { break };
            let change: Change = codec::decode(&bytes)?;
            if at <= end {
                out.push(at);
            }
            below = at;
            at = change.previous_revision;
        }
        if at == 0 && below > start {
            let from = keys::resource_log(resource, start);
            let to = keys::resource_log(resource, end.min(below - 1));
            for key in tree.range(from..=to).keys() {
                out.push(keys::revision_of_resource_log(&key?).unwrap_or(0));
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn list_changes_blocking(&self, q: &ChangeQuery) -> Result<ChangePage> {
        let tree = self.tree();
        let oldest = self.oldest_retained()?;
        if q.start != 0 && q.start < oldest {
            return Err(Error::OutOfRange {
                reason: "REVISION_COMPACTED",
                message: format!(
                    "revision {} is no longer retained (the change log keeps revisions from {oldest}); \
                     start again from {oldest}",
                    q.start
                ),
                metadata: vec![("oldest_retained_revision", oldest.to_string())],
            });
        }
        // Only durable changes: the head is published after each flush (and
        // before the writes of that group are answered).
        let head = *self.inner.head.borrow();
        let mut page = ChangePage { head, ..Default::default() };
        let end = q.end.min(head);
        if q.start > end {
            return Ok(page);
        }
        // Revisions of the wanted changes, in order, one past the page size so
        // we know whether another page follows.
        let revisions: Vec<u64> = match &q.resource {
            Some(resource) if chained_code(resource).is_some() => {
                let mut all = self.chained_revisions(resource, q.start.max(oldest), end)?;
                all.truncate(q.page_size + 1);
                all
            }
            Some(resource) => {
                let from = keys::resource_log(resource, q.start);
                let to = keys::resource_log(resource, end);
                tree.range(from..=to)
                    .keys()
                    .take(q.page_size + 1)
                    .map(|k| k.map(|k| keys::revision_of_resource_log(&k).unwrap_or(0)))
                    .collect::<Result<_>>()?
            }
            None => tree
                .range(keys::log(q.start)..=keys::log(end))
                .keys()
                .take(q.page_size + 1)
                .map(|k| k.map(|k| keys::revision_of_log(&k).unwrap_or(0)))
                .collect::<Result<_>>()?,
        };
        for revision in revisions {
            if page.changes.len() == q.page_size {
                page.next_start = Some(revision);
                break;
            }
            if let Some(bytes) = tree.get(keys::log(revision))? {
                page.changes.push(codec::decode(&bytes)?);
            }
        }
        Ok(page)
    }
}
