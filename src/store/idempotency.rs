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
