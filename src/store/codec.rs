//! Versioned record encoding: one format byte, then the protobuf encoding of
//! the record type.
//!
//! Protobuf lets a later version add fields (new tags) and still decode every
//! record written before, with the new fields at their defaults. An older
//! binary can read newer records too, but prost drops the fields it does not
//! know when it re-encodes, so a rolled-back binary that rewrites a record
//! loses its newer fields: roll back only to a version that knows them. The
//! format byte leaves room for a different encoding later without guessing
//! from the bytes.

use crate::error::{Error, Result};

/// Current format byte: protobuf (prost) encoding.
pub const FORMAT_PROTOBUF: u8 = 1;

/// Encodes a record with its format byte.
pub fn encode<M: prost::Message>(record: &M) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + record.encoded_len());
    out.push(FORMAT_PROTOBUF);
    // Encoding into a Vec cannot run out of space.
    record.encode(&mut out).unwrap_or_default();
    out
}

/// Decodes a record written by [`encode`] (by this or an earlier version).
pub fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Result<M> {
    match bytes.split_first() {
        Some((&FORMAT_PROTOBUF, body)) => M::decode(body).map_err(|e| Error::Internal(format!("corrupt record: {e}"))),
        Some((other, _)) => Err(Error::Internal(format!("record in unknown format {other}"))),
        None => Err(Error::Internal("empty record".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::enterprise::Enterprise;
    use proptest::prelude::*;

    /// The enterprise record as the first release wrote it: only a few fields.
    /// A record written by it must still decode with today's type.
    #[derive(Clone, PartialEq, prost::Message)]
    struct EnterpriseV0 {
        #[prost(string, tag = "1")]
        credit_code: String,
        #[prost(string, tag = "3")]
        display_name: String,
        #[prost(string, tag = "5")]
        industry_code: String,
    }

    /// A future version with a field we do not know yet.
    #[derive(Clone, PartialEq, prost::Message)]
    struct EnterpriseNext {
        #[prost(string, tag = "1")]
        credit_code: String,
        #[prost(string, tag = "3")]
        display_name: String,
        #[prost(string, tag = "99")]
        added_later: String,
    }

    #[test]
    fn older_records_decode_with_new_fields_defaulted() {
        let old = EnterpriseV0 {
            credit_code: "91350100M000100Y43".into(),
            display_name: "旧记录".into(),
            industry_code: "C3742".into(),
        };
        let now: Enterprise = decode(&encode(&old)).unwrap();
        assert_eq!(now.credit_code, old.credit_code);
        assert_eq!(now.display_name, "旧记录");
        assert_eq!(now.industry_code, "C3742");
        assert!(now.tags.is_empty() && now.revision == 0 && now.credit_code_override.is_none());
    }

    #[test]
    fn newer_records_decode_ignoring_unknown_fields() {
        let next = EnterpriseNext {
            credit_code: "91350100M000100Y43".into(),
            display_name: "新记录".into(),
            added_later: "x".into(),
        };
        let now: Enterprise = decode(&encode(&next)).unwrap();
        assert_eq!(now.display_name, "新记录");
    }

    #[test]
    fn unknown_format_and_garbage_are_errors_not_panics() {
        assert!(decode::<Enterprise>(&[]).is_err());
        assert!(decode::<Enterprise>(&[9, 1, 2]).is_err());
        assert!(decode::<Enterprise>(&[FORMAT_PROTOBUF, 0xff, 0xff, 0xff]).is_err());
    }

    proptest! {
        #[test]
        fn enterprise_round_trips(
            code in "[0-9A-Y]{18}",
            name in "\\PC{0,40}",
            tags in proptest::collection::vec("\\PC{1,10}", 0..5),
            revision in any::<u64>(),
            create_time in any::<i64>(),
        ) {
            let e = Enterprise { credit_code: code, display_name: name, tags, revision, create_time, ..Default::default() };
            prop_assert_eq!(decode::<Enterprise>(&encode(&e)).unwrap(), e);
        }
    }
}
