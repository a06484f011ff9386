//! The storage boundary: an ordered key–value space of byte strings, on sled
//! (the embedded default) or on PostgreSQL (one table, `store::pg`).
//!
//! Everything above this module (records, the writer, the indexes, the
//! reports) sees only [`Kv`]: point reads, ordered scans in either
//! direction, and (through the writer) atomic groups of puts and removes.
//! Keys compare as raw bytes on both backends (sled's order, and `bytea`'s
//! `memcmp` order in PostgreSQL), so the key layout of [`super::keys`] and
//! every prefix scan mean the same on both.

use std::ops::{Bound, Deref, RangeBounds};

use crate::error::{Error, Result};

use super::pg;

/// A stored key or value: sled's shared buffer, or bytes read from
/// PostgreSQL. Reads as `&[u8]`.
#[derive(Clone, Debug)]
pub enum Bytes {
    /// sled's reference-counted buffer (no copy).
    Sled(sled::IVec),
    /// Owned bytes.
    Owned(Vec<u8>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Sled(v) => v,
            Bytes::Owned(v) => v,
        }
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// The ordered key–value space a store lives in.
#[derive(Clone)]
pub enum Kv {
    /// The embedded sled tree.
    Sled(sled::Tree),
    /// PostgreSQL's `ladder_kv` table (pooled connections, or one
    /// connection holding a snapshot transaction).
    Pg(pg::PgKv),
}

impl Kv {
    /// The value under `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        match self {
            Kv::Sled(tree) => Ok(tree.get(key)?.map(Bytes::Sled)),
            Kv::Pg(pg) => Ok(pg.get(key.as_ref())?.map(Bytes::Owned)),
        }
    }

    /// The values of many keys (missing ones are absent from the answer),
    /// in one round trip on PostgreSQL.
    pub fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<(Vec<u8>, Bytes)>> {
        match self {
            Kv::Sled(tree) => {
                let mut found = Vec::with_capacity(keys.len());
                for key in keys {
                    if let Some(value) = tree.get(key)? {
                        found.push((key.clone(), Bytes::Sled(value)));
                    }
                }
                Ok(found)
            }
            Kv::Pg(pg) => Ok(pg.get_many(keys)?.into_iter().map(|(k, v)| (k, Bytes::Owned(v))).collect()),
        }
    }

    /// How many records a walk should read at once: one on sled (a read is
    /// a lookup in memory or the page cache, and a walk may stop after any
    /// record), a page on PostgreSQL (a read is a round trip).
    pub fn read_batch(&self) -> usize {
        match self {
            Kv::Sled(_) => 1,
            Kv::Pg(_) => 128,
        }
    }

    /// Every entry whose key starts with `prefix`, in key order (`.rev()`
    /// for the reverse).
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        let prefix = prefix.as_ref();
        match self {
            Kv::Sled(tree) => Iter::Sled(tree.scan_prefix(prefix)),
            Kv::Pg(pg) => {
                let end = super::keys::prefix_end(prefix);
                let upper = if end.is_empty() { Bound::Unbounded } else { Bound::Excluded(end) };
                Iter::Pg(pg.scan(Bound::Included(prefix.to_vec()), upper))
            }
        }
    }

    /// Every entry in `range`, in key order (`.rev()` for the reverse).
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        match self {
            Kv::Sled(tree) => Iter::Sled(tree.range(range)),
            Kv::Pg(pg) => {
                let own = |b: Bound<&K>| match b {
                    Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
                    Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
                    Bound::Unbounded => Bound::Unbounded,
                };
                Iter::Pg(pg.scan(own(range.start_bound()), own(range.end_bound())))
            }
        }
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> Iter {
        match self {
            Kv::Sled(tree) => Iter::Sled(tree.iter()),
            Kv::Pg(pg) => Iter::Pg(pg.scan(Bound::Unbounded, Bound::Unbounded)),
        }
    }

    /// Whether the space holds no entry at all.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.iter().next().transpose()?.is_none())
    }

    /// Writes one entry outside the writer: only while a store opens
    /// (before its writer starts) or in tools that own the store.
    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        match self {
            Kv::Sled(tree) => {
                tree.insert(key.as_ref(), value.as_ref())?;
                Ok(())
            }
            Kv::Pg(pg) => pg.insert(key.as_ref(), value.as_ref()),
        }
    }

    /// Writes many entries at once, durably, outside the writer: only for
    /// tools that own the store (`ladder migrate` filling an empty one).
    pub fn put_many(&self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<()> {
        match self {
            Kv::Sled(tree) => {
                let mut batch = sled::Batch::default();
                for (key, value) in entries {
                    batch.insert(key, value);
                }
                super::apply_batch(tree, batch)?;
                let _one = super::SLED_COMMITS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                tree.flush()?;
                Ok(())
            }
            Kv::Pg(pg) => pg.put_many(entries),
        }
    }

    /// The sled tree, for the sled-only parts (the layout-2 migration, the
    /// backup's before images, the raw floor).
    pub fn sled(&self) -> Option<&sled::Tree> {
        match self {
            Kv::Sled(tree) => Some(tree),
            Kv::Pg(_) => None,
        }
    }
}

/// An ordered scan; yields `(key, value)`.
pub enum Iter {
    /// sled's iterator.
    Sled(sled::Iter),
    /// Pages read from PostgreSQL as the scan goes.
    Pg(pg::Scan),
}

impl Iter {
    /// Only the values.
    pub fn values(self) -> impl DoubleEndedIterator<Item = Result<Bytes>> {
        self.map(|entry| entry.map(|(_, v)| v))
    }

    /// Only the keys.
    pub fn keys(self) -> impl DoubleEndedIterator<Item = Result<Bytes>> {
        self.map(|entry| entry.map(|(k, _)| k))
    }
}

impl Iterator for Iter {
    type Item = Result<(Bytes, Bytes)>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Sled(it) => it.next().map(|e| e.map(|(k, v)| (Bytes::Sled(k), Bytes::Sled(v))).map_err(Error::from)),
            Iter::Pg(scan) => scan.step(false).map(|e| e.map(|(k, v)| (Bytes::Owned(k), Bytes::Owned(v)))),
        }
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Sled(it) => {
                it.next_back().map(|e| e.map(|(k, v)| (Bytes::Sled(k), Bytes::Sled(v))).map_err(Error::from))
            }
            Iter::Pg(scan) => scan.step(true).map(|e| e.map(|(k, v)| (Bytes::Owned(k), Bytes::Owned(v)))),
        }
    }
}
