//! Opaque, tamper-evident page tokens (AIP-158).
//!
//! A token is `base64url(body ‖ mac)`: the body (protobuf) holds where the next
//! page starts, a digest of the query it belongs to and the first page's total;
//! the mac is HMAC-SHA256 under the store's secret key, cut to 16 bytes. A
//! forged or edited token fails the mac; a token used with another filter,
//! order or resource fails the query digest. Both are INVALID_ARGUMENT.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use prost::Message as _;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const MAC_BYTES: usize = 16;
/// Longest token accepted, in characters.
const MAX_TOKEN_CHARS: usize = 2048;

#[derive(Clone, PartialEq, prost::Message)]
struct Body {
    #[prost(bytes = "vec", tag = "1")]
    query: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    position: Vec<u8>,
    #[prost(uint64, optional, tag = "3")]
    total: Option<u64>,
    /// The total is an estimate (older tokens: false).
    #[prost(bool, tag = "4")]
    estimated: bool,
}

/// Where the next page starts, recovered from a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// Position in the serving order.
    pub position: Vec<u8>,
    /// Total counted on the first page.
    pub total: Option<u64>,
    /// Whether that total is an estimate.
    pub estimated: bool,
}

/// Digest of everything that must stay the same across the pages of a query.
pub fn query_digest(parts: &[&str]) -> Vec<u8> {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize()[..16].to_vec()
}

/// Issues a token.
pub fn encode(key: &[u8], query: &[u8], position: Vec<u8>, total: Option<u64>) -> String {
    encode_estimated(key, query, position, total, false)
}

/// Issues a token whose total may be an estimate.
pub fn encode_estimated(key: &[u8], query: &[u8], position: Vec<u8>, total: Option<u64>, estimated: bool) -> String {
    let body = Body { query: query.to_vec(), position, total, estimated }.encode_to_vec();
    let mut out = body.clone();
    out.extend_from_slice(&mac(key, &body));
    URL_SAFE_NO_PAD.encode(out)
}

/// Checks and opens a token; the empty token means the first page.
pub fn decode(key: &[u8], query: &[u8], token: &str) -> Result<Option<Resume>> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = |why: &str| Error::invalid_field("page_token", "INVALID_PAGE_TOKEN", why.to_string());
    if token.len() > MAX_TOKEN_CHARS {
        return Err(invalid("is too long to be a page token of this server"));
    }
    let raw = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| invalid("is not a page token of this server"))?;
    let Some(split) = raw.len().checked_sub(MAC_BYTES) else {
        return Err(invalid("is not a page token of this server"));
    };
    let (body, tag) = raw.split_at(split);
    let mut check = Hmac::<Sha256>::new_from_slice(key).map_err(|e| Error::Internal(e.to_string()))?;
    check.update(body);
    check.verify_truncated_left(tag).map_err(|_| invalid("was not issued by this server or has been altered"))?;
    let body = Body::decode(body).map_err(|_| invalid("is not a page token of this server"))?;
    if body.query != query {
        return Err(invalid(
            "belongs to a different query: keep filter, order_by and the other list parameters the same across pages",
        ));
    }
    Ok(Some(Resume { position: body.position, total: body.total, estimated: body.estimated }))
}

fn mac(key: &[u8], body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    mac.finalize().into_bytes()[..MAC_BYTES].to_vec()
}

/// The id a page of id-ordered records (postings, matches, projects,
/// targets) resumes after, from its token.
pub fn resume_id(key: &[u8], query: &[u8], token: &str) -> Result<Option<String>> {
    decode(key, query, token)?
        .map(|r| String::from_utf8(r.position))
        .transpose()
        .map_err(|_| Error::invalid_field("page_token", "INVALID_PAGE_TOKEN", "is not a page token of this server"))
}

/// The token of the page after the id `next` (empty when there is none).
pub fn next_id_token(key: &[u8], query: &[u8], next: Option<String>) -> String {
    next.map(|id| encode(key, query, id.into_bytes(), None)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_estimated_total_travels_with_the_token() {
        let token = encode_estimated(b"k", b"q", b"pos".to_vec(), Some(921), true);
        let resume = decode(b"k", b"q", &token).unwrap().unwrap();
        assert_eq!((resume.total, resume.estimated), (Some(921), true));
        let plain = decode(b"k", b"q", &encode(b"k", b"q", b"pos".to_vec(), Some(5))).unwrap().unwrap();
        assert!(!plain.estimated);
    }
    use proptest::prelude::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_empty_token() {
        let q = query_digest(&["list", "zone = east"]);
        let token = encode(KEY, &q, b"Xz".to_vec(), Some(12));
        assert_eq!(
            decode(KEY, &q, &token).unwrap(),
            Some(Resume { position: b"Xz".to_vec(), total: Some(12), estimated: false })
        );
        assert_eq!(decode(KEY, &q, "").unwrap(), None);
    }

    #[test]
    fn foreign_key_other_query_and_garbage_are_rejected() {
        let q = query_digest(&["list", "zone = east"]);
        let token = encode(KEY, &q, b"pos".to_vec(), None);
        let reason = |r: Result<Option<Resume>>| r.unwrap_err().reason();
        assert_eq!(reason(decode(b"another key", &q, &token)), "INVALID_PAGE_TOKEN");
        assert_eq!(reason(decode(KEY, &query_digest(&["list", "zone = west"]), &token)), "INVALID_PAGE_TOKEN");
        assert_eq!(reason(decode(KEY, &q, "not base64 !!")), "INVALID_PAGE_TOKEN");
        assert_eq!(reason(decode(KEY, &q, "AAAA")), "INVALID_PAGE_TOKEN");
    }

    #[test]
    fn digest_separates_parts() {
        assert_ne!(query_digest(&["ab", "c"]), query_digest(&["a", "bc"]));
    }

    proptest! {
        #[test]
        fn any_single_byte_change_is_detected(position in proptest::collection::vec(any::<u8>(), 0..40), flip in any::<usize>()) {
            let q = query_digest(&["q"]);
            let token = encode(KEY, &q, position, None);
            let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
            let i = flip % raw.len();
            raw[i] ^= 0x01;
            prop_assert!(decode(KEY, &q, &URL_SAFE_NO_PAD.encode(raw)).is_err());
        }
    }
}
