//! gRPC services: one file per service, each handler thin (authorise →
//! validate → call the domain and the store → convert). Errors become
//! `tonic::Status` in one place, [`status`].

pub mod admin;
pub mod alliance;
pub mod change;
pub mod convert;
pub mod cultivation;
pub mod enterprise;
pub mod page_token;
pub mod project;
pub mod status;
pub mod supply_demand;
pub mod sync;

use prost::Message;
use sha2::{Digest, Sha256};
use tonic::Request;

use crate::auth::Caller;
use crate::domain::change::WriteMeta;
use crate::error::{Error, Result};
use crate::store::Store;

/// Room a list response keeps, beside its items, for the page token, the
/// totals and the framing.
pub const RESPONSE_RESERVE: usize = 16 * 1024;

/// How many of `items`, in order, fit as a repeated field of a response of at
/// most `limit` bytes (at least one). A page that would not fit is returned
/// shorter, with a token resuming after its last item, instead of failing the
/// whole call at the transport's message limit.
pub fn fitting<M: Message>(items: &[M], limit: usize) -> usize {
    let budget = limit.saturating_sub(RESPONSE_RESERVE);
    let mut used = 0usize;
    for (i, item) in items.iter().enumerate() {
        let len = item.encoded_len();
        // One byte of tag (field numbers below 16), the length, the item.
        used = used.saturating_add(1 + prost::length_delimiter_len(len) + len);
        if used > budget {
            return i.max(1);
        }
    }
    items.len()
}

/// Longest request id (AIP-155), in characters.
pub const MAX_REQUEST_ID_CHARS: usize = 100;
/// Longest origin header value, in characters.
pub const MAX_ORIGIN_CHARS: usize = 100;
/// Request header naming where a write comes from (e.g. `cli`, a script).
pub const ORIGIN_HEADER: &str = "x-ladder-origin";
/// Origins ladder records itself: seeding, the stage sweeper, reverts and
/// the system. A caller cannot claim them (PERMISSION_DENIED
/// `RESERVED_ORIGIN`), nor the name of a sync source: sync runs record
/// their source as the origin, and a watcher's `exclude_origin` must not be
/// able to hide someone else's edit.
pub const RESERVED_ORIGINS: &[&str] = &["system", "seed", "revert", "stage-sweeper"];

/// Refuses a caller-chosen origin that names a built-in origin or a sync
/// source that has sent firms to this store.
fn check_origin(store: &Store, origin: &str) -> Result<()> {
    let reserved = RESERVED_ORIGINS.iter().any(|r| r.eq_ignore_ascii_case(origin));
    // `api`, `cli` and `web` are every caller's own (no sync source may take them).
    if reserved || (!matches!(origin, "api" | "cli" | "web") && store.is_sync_source(origin)?) {
        let what = if reserved { "a built-in origin" } else { "the name of a sync source" };
        return Err(Error::PermissionDenied {
            reason: "RESERVED_ORIGIN",
            message: format!(
                "{ORIGIN_HEADER} {origin:?} is {what}: only ladder itself records it; name your script or tool instead"
            ),
        });
    }
    Ok(())
}

/// Who is writing, from where, with which request id; `request` is the whole
/// request message, hashed (without its request id) so that a reused id with
/// a different request is caught.
pub fn write_meta<T, M: Message + Clone>(
    store: &Store,
    request: &Request<T>,
    caller: &Caller,
    method: &str,
    message: &M,
    request_id: &str,
    clear_request_id: impl FnOnce(&mut M),
) -> Result<WriteMeta> {
    if request_id.chars().count() > MAX_REQUEST_ID_CHARS || request_id.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "request_id",
            "INVALID_REQUEST_ID",
            format!("must be at most {MAX_REQUEST_ID_CHARS} printable characters (a UUID is ideal)"),
        ));
    }
    let origin = request
        .metadata()
        .get(ORIGIN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .unwrap_or("api");
    if origin.chars().count() > MAX_ORIGIN_CHARS {
        return Err(Error::invalid_field(
            ORIGIN_HEADER,
            "INVALID_ORIGIN",
            format!("must be at most {MAX_ORIGIN_CHARS} characters"),
        ));
    }
    if request.metadata().contains_key(ORIGIN_HEADER) {
        check_origin(store, origin)?;
    }
    let mut unkeyed = message.clone();
    clear_request_id(&mut unkeyed);
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update([0]);
    hash.update(unkeyed.encode_to_vec());
    Ok(WriteMeta {
        actor: caller.name.clone(),
        origin: origin.to_string(),
        request_id: request_id.to_string(),
        fingerprint: hash.finalize().to_vec(),
        reason: String::new(),
    })
}

/// An enum field of a request as the generated enum `E`: a number the enum
/// does not define (prost keeps unknown numbers as they are) is
/// INVALID_ARGUMENT `INVALID_ENUM`, never stored nor read as the default.
/// Whether 0 (`…_UNSPECIFIED`) is acceptable is the caller's rule.
pub fn enum_field<E: TryFrom<i32>>(field: &str, value: i32) -> Result<E> {
    E::try_from(value).map_err(|_| {
        let type_name = std::any::type_name::<E>().rsplit("::").next().unwrap_or("enum");
        Error::invalid_field(field, "INVALID_ENUM", format!("{value} is not a {type_name} value"))
    })
}

/// [`enum_field`] for a value kept as its number (records store enums as
/// `i32`): the number itself once it is known to be one of `E`'s.
pub fn known_enum<E: TryFrom<i32>>(field: &str, value: i32) -> Result<i32> {
    enum_field::<E>(field, value).map(|_| value)
}

/// A date field `YYYY-MM-DD`, or `default` when empty.
pub fn optional_date(
    field: &str,
    value: &str,
    default: crate::domain::time::Date,
) -> Result<crate::domain::time::Date> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(default);
    }
    crate::domain::time::Date::parse(value)
        .ok_or_else(|| Error::invalid_field(field, "INVALID_DATE", format!("{value:?} is not a date YYYY-MM-DD")))
}

/// Checks a page size: negative is an error, 0 means `default`, above `max`
/// is lowered to `max` (AIP-158).
pub fn page_size(requested: i32, default: usize, max: usize) -> Result<usize> {
    match usize::try_from(requested) {
        Err(_) => Err(Error::invalid_field(
            "page_size",
            "NEGATIVE_PAGE_SIZE",
            format!("is {requested}; use 0 for the default ({default}) or up to {max}"),
        )),
        Ok(0) => Ok(default),
        Ok(n) => Ok(n.min(max)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_caps_and_rejects_negative() {
        assert_eq!(page_size(0, 50, 1000).unwrap(), 50);
        assert_eq!(page_size(7, 50, 1000).unwrap(), 7);
        assert_eq!(page_size(5000, 50, 1000).unwrap(), 1000);
        assert_eq!(page_size(-1, 50, 1000).unwrap_err().reason(), "NEGATIVE_PAGE_SIZE");
    }

    #[test]
    fn enum_fields_refuse_numbers_the_enum_does_not_define() {
        use crate::pb::v1::IssuingLevel;
        assert_eq!(enum_field::<IssuingLevel>("level", 1).unwrap(), IssuingLevel::try_from(1).unwrap());
        assert_eq!(known_enum::<IssuingLevel>("level", 0).unwrap(), 0);
        for bad in [999, -1, 12345] {
            let err = known_enum::<IssuingLevel>("designation.level", bad).unwrap_err();
            assert_eq!(err.reason(), "INVALID_ENUM");
            assert!(err.to_string().contains("IssuingLevel"), "{err}");
        }
    }
}
