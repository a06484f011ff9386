//! Key layout of the single sled tree. Every key starts with a one-byte type
//! prefix, so records, indexes, the change log and metadata live side by side
//! and one `apply_batch` covers them all atomically.
//!
//! | prefix | key                                         | value                     |
//! |--------|---------------------------------------------|---------------------------|
//! | `M`    | `M` name                                    | metadata (revision, keys) |
//! | `E`    | `E` credit_code                             | enterprise record         |
//! | `L`    | `L` revision (u64 BE)                       | change record             |
//! | `R`    | `R` resource `0x00` revision (u64 BE)       | empty (not for firms)     |
//! | `Q`    | `Q` request_id                              | idempotency record        |
//! | `A`    | `A` alliance_id                             | alliance record           |
//! | `B`    | `B` alliance_id `0x00` credit_code          | membership record         |
//! | `F`    | `F` credit_code `0x00` alliance_id          | empty (firm → alliances)  |
//! | `D`    | `D` credit_code `0x00` designation_id       | designation record        |
//! | `Z`    | `Z` kind (i32 BE) certificate_number        | designation name (claim)  |
//! | `Y`    | `Y` credit_code `0x00` year (u32 BE)        | annual indicators         |
//! | `G`    | `G` run_id (time-ordered)                   | sync run record           |
//! | `U`    | `U` run_id `0x00` ordinal (u64 BE)          | failed row of a run       |
//! | `P`    | `P` posting_id (time-ordered)               | posting record            |
//! | `I`    | `I` credit_code `0x00` posting_id           | empty (firm → postings)   |
//! | `C`    | `C` kind industry_code `0x00` posting_id    | empty (open postings)     |
//! | `K`    | `K` kind keyword `0x00` posting_id          | empty (open postings)     |
//! | `W`    | `W` kind keyword                            | open postings with it     |
//! | `V`    | `V` kind                                    | open postings of the kind |
//! | `H`    | `H` match_id (time-ordered)                 | match record              |
//! | `J`    | `J` posting_id `0x00` match_id              | empty (posting → matches) |
//! | `O`    | `O` project_id (time-ordered)               | project record            |
//! | `o`    | `o` project_id `0x00` year (u32 BE)         | a project's yearly figures|
//! | `p`    | `p` credit_code `0x00` project_id           | empty (firm → projects)   |
//! | `T`    | `T` target_id (time-ordered)                | target record             |
//!
//! Enterprises have no secondary keys: their indexes and counters live in
//! memory ([`super::index`]), and their history is chained through the
//! record's `log_head` and each entry's `previous_revision` instead of `R`
//! keys. Layout 2 also had `X` (index entries), `N` (counters) and `S`
//! (seen by source); opening such a store migrates it (`store::migrate`).
//! Values in keys never contain `0x00` (they are validated text), so the
//! separator keeps `C C37 0x00 …` from colliding with `C C374 …`.

/// Metadata: next revision to assign.
pub const META_REVISION: &[u8] = b"Mrevision";
/// Metadata: secret key that signs page tokens.
pub const META_TOKEN_KEY: &[u8] = b"Mtoken-key";
/// Metadata: layout version of the whole store.
pub const META_LAYOUT: &[u8] = b"Mlayout";

/// Prefix of enterprise records.
pub const ENTERPRISE: u8 = b'E';
/// Prefix of change-log entries.
pub const LOG: u8 = b'L';
/// Prefix of the per-resource change index.
pub const RESOURCE_LOG: u8 = b'R';
/// Prefix of idempotency records.
pub const REQUEST: u8 = b'Q';
/// Prefix of alliance records.
pub const ALLIANCE: u8 = b'A';
/// Prefix of membership records.
pub const MEMBERSHIP: u8 = b'B';
/// Prefix of the firm → alliances membership index.
pub const MEMBER_OF: u8 = b'F';
/// Prefix of designation records.
pub const DESIGNATION: u8 = b'D';
/// Prefix of certificate-number claims.
pub const CERTIFICATE: u8 = b'Z';
/// Prefix of annual indicators.
pub const INDICATORS: u8 = b'Y';
/// Prefix of sync run records.
pub const SYNC_RUN: u8 = b'G';
/// Prefix of every failed row of the sync runs.
pub const SYNC_FAILURE: u8 = b'U';
/// Prefix of posting records.
pub const POSTING: u8 = b'P';
/// Prefix of the firm → postings index.
pub const FIRM_POSTINGS: u8 = b'I';
/// Prefix of the category index of open postings.
pub const POSTING_CATEGORY: u8 = b'C';
/// Prefix of the keyword index of open postings.
pub const POSTING_KEYWORD: u8 = b'K';
/// Prefix of the per-keyword counts of open postings.
pub const KEYWORD_COUNT: u8 = b'W';
/// Prefix of the per-kind counts of open postings.
pub const OPEN_POSTINGS: u8 = b'V';
/// Prefix of match records.
pub const MATCH: u8 = b'H';
/// Prefix of the posting → matches index.
pub const POSTING_MATCHES: u8 = b'J';
/// Prefix of project records.
pub const PROJECT: u8 = b'O';
/// Prefix of projects' yearly investment figures.
pub const PROJECT_YEAR: u8 = b'o';
/// Prefix of the firm → projects link index.
pub const FIRM_PROJECTS: u8 = b'p';
/// Prefix of target records.
pub const TARGET: u8 = b'T';
/// Metadata: the oldest change-log revision still retained (absent = 1:
/// nothing was ever compacted).
pub const META_LOG_START: &[u8] = b"Mlog-start";
/// Metadata: the alliances were seeded (never seed twice).
pub const META_SEEDED: &[u8] = b"Mseeded-alliances";
/// When the store was last opened (µs): runs started before then were
/// already checked for a crash at that opening.
pub const META_OPENED: &[u8] = b"Mopened";

/// Key of an alliance record.
pub fn alliance(id: &str) -> Vec<u8> {
    let mut k = vec![ALLIANCE];
    k.extend_from_slice(id.as_bytes());
    k
}

/// Prefix of one alliance's memberships: `B id 0x00`.
pub fn memberships_of_alliance(id: &str) -> Vec<u8> {
    let mut k = vec![MEMBERSHIP];
    k.extend_from_slice(id.as_bytes());
    k.push(0);
    k
}

/// Key of a membership record.
pub fn membership(alliance_id: &str, credit_code: &str) -> Vec<u8> {
    let mut k = memberships_of_alliance(alliance_id);
    k.extend_from_slice(credit_code.as_bytes());
    k
}

/// Prefix of one firm's memberships: `F code 0x00`.
pub fn alliances_of_firm(credit_code: &str) -> Vec<u8> {
    let mut k = vec![MEMBER_OF];
    k.extend_from_slice(credit_code.as_bytes());
    k.push(0);
    k
}

/// Entry of the firm → alliances index.
pub fn member_of(credit_code: &str, alliance_id: &str) -> Vec<u8> {
    let mut k = alliances_of_firm(credit_code);
    k.extend_from_slice(alliance_id.as_bytes());
    k
}

/// Key of an enterprise record.
pub fn enterprise(credit_code: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + credit_code.len());
    k.push(ENTERPRISE);
    k.extend_from_slice(credit_code.as_bytes());
    k
}

/// The id at the end of an index entry (after the last `0x00`).
pub fn code_of_index_entry(key: &[u8]) -> Option<&str> {
    let sep = key.iter().rposition(|b| *b == 0)?;
    std::str::from_utf8(&key[sep + 1..]).ok()
}

/// Key of a change-log entry.
pub fn log(revision: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(LOG);
    k.extend_from_slice(&revision.to_be_bytes());
    k
}

/// Revision of a change-log key.
pub fn revision_of_log(key: &[u8]) -> Option<u64> {
    key.get(1..9).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
}

/// Prefix of one resource's change index: `R resource 0x00`.
pub fn resource_log_prefix(resource: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + resource.len() + 8);
    k.push(RESOURCE_LOG);
    k.extend_from_slice(resource.as_bytes());
    k.push(0);
    k
}

/// Entry of a resource's change index.
pub fn resource_log(resource: &str, revision: u64) -> Vec<u8> {
    let mut k = resource_log_prefix(resource);
    k.extend_from_slice(&revision.to_be_bytes());
    k
}

/// Revision at the end of a resource change-index key.
pub fn revision_of_resource_log(key: &[u8]) -> Option<u64> {
    let start = key.len().checked_sub(8)?;
    key[start..].try_into().ok().map(u64::from_be_bytes)
}

/// Key of an idempotency record.
pub fn request(request_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + request_id.len());
    k.push(REQUEST);
    k.extend_from_slice(request_id.as_bytes());
    k
}

/// The smallest key greater than every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![u8::MAX; prefix.len() + 1]
}

/// Order-preserving bytes of a signed time (sign bit flipped, big-endian).
pub fn ordered_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_revisions_round_trip() {
        let mut e = b"Kd\xe7\x94\xb5\x00".to_vec();
        e.extend_from_slice(b"91350100M000100Y43");
        assert_eq!(code_of_index_entry(&e), Some("91350100M000100Y43"));
        assert_eq!(revision_of_log(&log(77)), Some(77));
        assert_eq!(revision_of_resource_log(&resource_log("enterprises/x", 9)), Some(9));
    }

    #[test]
    fn log_keys_sort_by_revision_and_times_by_value() {
        assert!(log(255) < log(256));
        assert!(ordered_i64(-5) < ordered_i64(3));
        assert!(ordered_i64(i64::MIN) < ordered_i64(i64::MAX));
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(b"ab"), b"ac".to_vec());
        assert_eq!(prefix_end(&[1, 255]), vec![2]);
        assert!(prefix_end(b"X") > b"X\xff\xff".to_vec());
    }
}
