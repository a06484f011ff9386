//! Request ids (AIP-155): the first answer to a request id is stored with a
//! digest of the request, in the same batch as the write itself; a retry with
//! the same id and request gets that answer back without writing again.

use crate::domain::change::WriteMeta;
use crate::domain::time::Micros;
use crate::error::{Error, Result};
use crate::store::{codec, keys, Txn};

/// Stored under `Q{request_id}`.
#[derive(Clone, PartialEq, prost::Message)]
struct RequestRecord {
    /// Digest of the original request.
    #[prost(bytes = "vec", tag = "1")]
    fingerprint: Vec<u8>,
    /// The encoded response record of the original request.
    #[prost(bytes = "vec", tag = "2")]
    response: Vec<u8>,
    /// When the original request committed.
    #[prost(int64, tag = "3")]
    time: Micros,
}

/// The stored answer of a request id already used, if any; a reuse with a
/// different request is refused.
pub fn replay<M: prost::Message + Default>(txn: &Txn<'_>, meta: &WriteMeta) -> Result<Option<M>> {
    if meta.request_id.is_empty() {
        return Ok(None);
    }
    let Some(record) = txn.get_record::<RequestRecord>(&keys::request(&meta.request_id))? else {
        return Ok(None);
    };
    if record.fingerprint != meta.fingerprint {
        return Err(Error::invalid_field(
            "request_id",
            "REQUEST_ID_REUSED",
            format!("{:?} was already used for a different request", meta.request_id),
        ));
    }
    codec::decode(&record.response).map(Some)
}

/// Remembers the answer to this request's id (if it has one).
pub fn remember(txn: &mut Txn<'_>, meta: &WriteMeta, response: Vec<u8>) {
    if meta.request_id.is_empty() {
        return;
    }
    let record = RequestRecord { fingerprint: meta.fingerprint.clone(), response, time: txn.now() };
    txn.put(keys::request(&meta.request_id), codec::encode(&record));
}

impl crate::store::Store {
    /// Forgets up to [`crate::store::COMPACT_BATCH`] request ids first used
    /// before `cutoff`, in one durable write; returns how many (fewer than
    /// the batch: none older is left). The ids are found by a read of the
    /// `Q` keys outside the writer, so writes wait only for the removal.
    pub async fn expire_request_ids(&self, cutoff: Micros) -> Result<usize> {
        let store = self.clone();
        let old: Vec<Vec<u8>> = crate::store::blocking(move || {
            let mut old = Vec::new();
            for entry in store.tree().scan_prefix([keys::REQUEST]) {
                let (key, value) = entry?;
                if codec::decode::<RequestRecord>(&value)?.time < cutoff {
                    old.push(key.to_vec());
                    if old.len() == crate::store::COMPACT_BATCH {
                        break;
                    }
                }
            }
            Ok(old)
        })
        .await?;
        if old.is_empty() {
            return Ok(0);
        }
        self.write(false, move |txn| {
            let mut removed = 0;
            for key in old {
                // Checked again in the writer: ids are written once, but
                // the check costs nothing.
                if txn.get_record::<RequestRecord>(&key)?.is_some_and(|r| r.time < cutoff) {
                    txn.remove(key);
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoreOptions};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn request_ids_older_than_the_cutoff_are_forgotten_and_newer_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions::new(dir.path())).unwrap();
        let meta = |id: &str| WriteMeta { request_id: id.into(), fingerprint: vec![1], ..Default::default() };
        for id in ["a", "b"] {
            let m = meta(id);
            store
                .write(false, move |txn| {
                    remember(txn, &m, vec![]);
                    Ok(())
                })
                .await
                .unwrap();
        }
        let now = crate::domain::time::now_micros();
        assert_eq!(store.expire_request_ids(now - 86_400_000_000).await.unwrap(), 0, "a day ago: both are newer");
        assert_eq!(store.expire_request_ids(now + 1_000_000).await.unwrap(), 2);
        assert!(store.tree().get(keys::request("a")).unwrap().is_none());
        assert_eq!(store.expire_request_ids(now + 1_000_000).await.unwrap(), 0);
        store.close();
    }
}
