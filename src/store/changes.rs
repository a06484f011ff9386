//! Reading the change log: all changes or one resource's, by revision range.

use crate::domain::change::Change;
use crate::error::Result;
use crate::store::{blocking, codec, keys, Store};

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

    fn list_changes_blocking(&self, q: &ChangeQuery) -> Result<ChangePage> {
        let tree = self.tree();
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
            Some(resource) => {
                let from = keys::resource_log(resource, q.start);
                let to = keys::resource_log(resource, end);
                tree.range(from..=to)
                    .keys()
                    .take(q.page_size + 1)
                    .map(|k| k.map(|k| keys::revision_of_resource_log(&k).unwrap_or(0)))
                    .collect::<sled::Result<_>>()?
            }
            None => tree
                .range(keys::log(q.start)..=keys::log(end))
                .keys()
                .take(q.page_size + 1)
                .map(|k| k.map(|k| keys::revision_of_log(&k).unwrap_or(0)))
                .collect::<sled::Result<_>>()?,
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
