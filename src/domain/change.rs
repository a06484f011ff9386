//! The change log entry (审计记录): what changed, when, by whom, from where.

use crate::domain::enterprise::FieldChange;
use crate::domain::time::Micros;

/// What a change did to its resource. Numbers match `ladder.v1.ChangeKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ChangeKind {
    /// Never stored.
    Unspecified = 0,
    /// Created.
    Created = 1,
    /// Fields changed.
    Updated = 2,
    /// Soft-deleted.
    Deleted = 3,
    /// Restored from soft delete.
    Undeleted = 4,
}

/// One entry of the change log, as stored.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Change {
    /// Global revision, unique and increasing.
    #[prost(uint64, tag = "1")]
    pub revision: u64,
    /// Resource name.
    #[prost(string, tag = "2")]
    pub resource: String,
    /// What happened.
    #[prost(enumeration = "ChangeKind", tag = "3")]
    pub kind: i32,
    /// Changed fields with old and new values.
    #[prost(message, repeated, tag = "4")]
    pub field_changes: Vec<FieldChange>,
    /// Who.
    #[prost(string, tag = "5")]
    pub actor: String,
    /// Where from (`api`, `cli`, a sync source).
    #[prost(string, tag = "6")]
    pub origin: String,
    /// Caller's request id.
    #[prost(string, tag = "7")]
    pub request_id: String,
    /// Commit time.
    #[prost(int64, tag = "8")]
    pub time: Micros,
    /// Caller's reason, if any.
    #[prost(string, tag = "9")]
    pub reason: String,
    /// For a resource whose history is chained (enterprises), the revision
    /// of its previous change (0: none, or only in the per-resource log index
    /// of an older layout). Internal: not part of the API's change message.
    #[prost(uint64, tag = "10")]
    pub previous_revision: u64,
}

/// Who is writing and why: attached to every change a request makes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteMeta {
    /// Token name of the caller.
    pub actor: String,
    /// Origin of the write.
    pub origin: String,
    /// Idempotency key (empty for none).
    pub request_id: String,
    /// Digest of the request, so a reused request id with a different request is caught.
    pub fingerprint: Vec<u8>,
    /// Free-text reason recorded in the change.
    pub reason: String,
}
