//! gRPC services: one file per service, each handler thin (authorise →
//! validate → call the domain and the store → convert). Errors become
//! `tonic::Status` in one place, [`status`].

pub mod alliance;
pub mod change;
pub mod convert;
pub mod cultivation;
pub mod enterprise;
pub mod page_token;
pub mod status;
pub mod supply_demand;
pub mod sync;

use prost::Message;
use sha2::{Digest, Sha256};
use tonic::Request;

use crate::auth::Caller;
use crate::domain::change::WriteMeta;
use crate::error::{Error, Result};

/// Longest request id (AIP-155), in characters.
pub const MAX_REQUEST_ID_CHARS: usize = 100;
/// Longest origin header value, in characters.
pub const MAX_ORIGIN_CHARS: usize = 100;
/// Request header naming where a write comes from (e.g. `cli`, a sync source).
pub const ORIGIN_HEADER: &str = "x-ladder-origin";

/// Who is writing, from where, with which request id; `request` is the whole
/// request message, hashed (without its request id) so that a reused id with
/// a different request is caught.
pub fn write_meta<T, M: Message + Clone>(
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
}
