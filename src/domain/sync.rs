//! Bulk sync (批量同步): the record of a run and the rule for one row.
//!
//! A row creates the firm if it is new, or PATCHes the fields it names if the
//! firm exists, with the same validation as the single-record API; a row that
//! changes nothing writes nothing.

use crate::domain::change::ChangeKind;
use crate::domain::credit_code::CreditCode;
use crate::domain::enterprise::{self, Enterprise, Outcome, Rules};
use crate::domain::time::Micros;
use crate::error::{clip, Error, Result};

/// Most failures a run keeps in full (the count is always exact).
pub const MAX_KEPT_FAILURES: usize = 1000;
/// Most missing credit codes a run lists (the count is always exact).
pub const MAX_KEPT_MISSING: usize = 1000;
/// Longest credit code a failure keeps, in bytes: what a row sent is kept
/// only as far as it can be a code (18 characters), with room to see what
/// was wrong; longer values are cut (see [`crate::error::clip`]).
pub const MAX_FAILURE_CODE_BYTES: usize = 64;
/// Longest field list a failure keeps, in bytes.
pub const MAX_FAILURE_FIELD_BYTES: usize = 256;
/// Longest description a failure keeps, in bytes.
pub const MAX_FAILURE_DESCRIPTION_BYTES: usize = 600;
/// Upper bound of one stored failure, encoded: every failed row costs at
/// most this much on disk, and a run record with its [`MAX_KEPT_FAILURES`]
/// first failures and [`MAX_KEPT_MISSING`] codes stays near 1 MiB, far
/// under the 4 MiB message limit.
pub const MAX_FAILURE_BYTES: usize =
    MAX_FAILURE_CODE_BYTES + MAX_FAILURE_FIELD_BYTES + MAX_FAILURE_DESCRIPTION_BYTES + 64 + 32;

/// One failed row.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Failure {
    /// Row number.
    #[prost(int64, tag = "1")]
    pub row_number: i64,
    /// The credit code as sent.
    #[prost(string, tag = "2")]
    pub credit_code: String,
    /// The field at fault.
    #[prost(string, tag = "3")]
    pub field: String,
    /// Machine reason.
    #[prost(string, tag = "4")]
    pub reason: String,
    /// What is wrong.
    #[prost(string, tag = "5")]
    pub description: String,
}

impl Failure {
    /// The failure of a row from the error its rule returned.
    pub fn of(row_number: i64, credit_code: &str, error: &Error) -> Failure {
        let (field, description) = match error {
            Error::InvalidArgument { violations, .. } if !violations.is_empty() => {
                let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
                let text: Vec<String> = violations.iter().map(|v| format!("{}: {}", v.field, v.description)).collect();
                (fields.join(","), text.join("; "))
            }
            other => (String::new(), other.to_string()),
        };
        // A row's values are cut to sizes a valid row could have: a failed
        // row must not cost more to keep than a stored firm.
        Failure {
            row_number,
            credit_code: clip(credit_code, MAX_FAILURE_CODE_BYTES).into_owned(),
            field: clip(&field, MAX_FAILURE_FIELD_BYTES).into_owned(),
            reason: error.reason().to_string(),
            description: clip(&description, MAX_FAILURE_DESCRIPTION_BYTES).into_owned(),
        }
    }
}

/// A sync run, as stored under `syncRuns/{id}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SyncRun {
    /// Run id (time-ordered).
    #[prost(string, tag = "1")]
    pub id: String,
    /// Source system.
    #[prost(string, tag = "2")]
    pub source: String,
    /// 1 upsert, 2 full (as `ladder.v1.SyncMode`).
    #[prost(int32, tag = "3")]
    pub mode: i32,
    /// Nothing written.
    #[prost(bool, tag = "4")]
    pub dry_run: bool,
    /// 1 running, 2 succeeded, 3 interrupted (as `ladder.v1.SyncRunState`).
    #[prost(int32, tag = "5")]
    pub state: i32,
    /// Rows received.
    #[prost(int64, tag = "6")]
    pub rows: i64,
    /// Created.
    #[prost(int64, tag = "7")]
    pub created: i64,
    /// Updated.
    #[prost(int64, tag = "8")]
    pub updated: i64,
    /// Unchanged.
    #[prost(int64, tag = "9")]
    pub unchanged: i64,
    /// Failed.
    #[prost(int64, tag = "10")]
    pub failed: i64,
    /// Missing from the source (full mode).
    #[prost(int64, tag = "11")]
    pub missing: i64,
    /// The first failures.
    #[prost(message, repeated, tag = "12")]
    pub failures: Vec<Failure>,
    /// The first missing codes.
    #[prost(string, repeated, tag = "13")]
    pub missing_codes: Vec<String>,
    /// Who ran it.
    #[prost(string, tag = "14")]
    pub actor: String,
    /// Start.
    #[prost(int64, tag = "15")]
    pub start_time: Micros,
    /// End.
    #[prost(int64, tag = "16")]
    pub end_time: Micros,
    /// First revision the run could have written (the head + 1 at its start).
    #[prost(uint64, tag = "17")]
    pub first_revision: u64,
    /// Last revision when it ended.
    #[prost(uint64, tag = "18")]
    pub last_revision: u64,
    /// When it was reverted, 0 if not.
    #[prost(int64, tag = "19")]
    pub revert_time: Micros,
    /// A revert started and has not finished (it is running, or a restart
    /// cut it off; then reverting again resumes it).
    #[prost(bool, tag = "20")]
    pub reverting: bool,
}

impl SyncRun {
    /// `syncRuns/{id}`.
    pub fn resource_name(&self) -> String {
        format!("syncRuns/{}", self.id)
    }

    /// Adds a failure, keeping the first [`MAX_KEPT_FAILURES`].
    pub fn fail(&mut self, failure: Failure) {
        self.failed += 1;
        if self.failures.len() < MAX_KEPT_FAILURES {
            self.failures.push(failure);
        }
    }
}

/// Origins a sync source cannot be named after: the ones ladder records
/// itself, and the callers' own defaults.
pub const RESERVED_SOURCES: &[&str] = &["system", "seed", "revert", "stage-sweeper", "api", "cli", "web"];

/// Checks a source name: 1–50 letters, digits, `-` or `_`, and not one of
/// [`RESERVED_SOURCES`] (a source's name is the origin of its changes).
pub fn check_source(source: &str) -> Result<()> {
    let ok =
        (1..=50).contains(&source.len()) && source.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok && RESERVED_SOURCES.iter().any(|r| r.eq_ignore_ascii_case(source)) {
        return Err(Error::invalid_field(
            "header.source",
            "RESERVED_SOURCE",
            format!("{source:?} is an origin ladder records itself; name the source system"),
        ));
    }
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "header.source",
            "INVALID_SOURCE",
            format!("{source:?}: use 1–50 letters, digits, '-' or '_'"),
        ))
    }
}

/// The rule for one row: create the firm, or PATCH the named fields.
pub fn apply_row(
    current: Option<Enterprise>,
    row: Enterprise,
    fields: &[String],
    rules: &Rules,
    uid: [u8; 16],
    now: Micros,
) -> Result<Outcome> {
    let name = enterprise::resource_name(&row.credit_code);
    match current {
        Some(stored) if stored.is_deleted() => Err(Error::FailedPrecondition {
            reason: "ENTERPRISE_DELETED",
            message: format!("{name} is deleted in ladder: undelete it there before syncing it"),
        }),
        Some(stored) => {
            // The key is always sent; any other field named must be updatable.
            let mask: Vec<String> = fields.iter().filter(|f| *f != "credit_code").cloned().collect();
            if mask.is_empty() {
                return Ok((ChangeKind::Updated, stored));
            }
            enterprise::update(Some(stored), &name, &row, &mask, "", rules, now)
        }
        None => {
            let code = CreditCode::parse(&row.credit_code)
                .map_err(|e| Error::invalid_field("enterprise.credit_code", e.reason(), e.to_string()))?;
            let mut record = row;
            if record.region_code.trim().is_empty() {
                record.region_code = code.region_code().to_string();
            }
            record.normalise();
            record.validate(rules).map_err(|e| e.in_field("enterprise"))?;
            enterprise::create(None, record, uid, now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "91350100M000100Y43";

    fn row(name: &str) -> Enterprise {
        Enterprise { credit_code: CODE.into(), display_name: name.into(), ..Default::default() }
    }

    #[test]
    fn new_rows_create_and_known_rows_patch_only_their_fields() {
        let (kind, created) = apply_row(None, row("甲"), &[], &Rules::default(), [1; 16], 1).unwrap();
        assert_eq!((kind, created.region_code.as_str()), (ChangeKind::Created, "350100"));
        let mut stored = created.clone();
        stored.notes = "staff note".into();
        let patch = Enterprise { credit_code: CODE.into(), display_name: "乙".into(), ..Default::default() };
        let (_, updated) =
            apply_row(Some(stored), patch, &["display_name".into()], &Rules::default(), [1; 16], 2).unwrap();
        assert_eq!(
            (updated.display_name.as_str(), updated.notes.as_str()),
            ("乙", "staff note"),
            "absent fields are not touched"
        );
    }

    #[test]
    fn a_failure_keeps_its_values_cut_to_the_field_limits() {
        let huge = "9".repeat(1 << 20);
        let err = apply_row(None, row("甲").tap_code(&huge), &[], &Rules::default(), [1; 16], 1).unwrap_err();
        let failure = Failure::of(1, &huge, &err);
        assert!(
            prost::Message::encoded_len(&failure) <= MAX_FAILURE_BYTES,
            "{}",
            prost::Message::encoded_len(&failure)
        );
        assert!(failure.credit_code.starts_with("999"));
        // A run record with as many failures and missing codes as it keeps
        // stays far under the 4 MiB message limit.
        let mut run = SyncRun::default();
        for n in 0..5000 {
            run.fail(Failure::of(n, &huge, &err));
        }
        run.missing_codes = vec![huge[..MAX_FAILURE_CODE_BYTES].to_string(); MAX_KEPT_MISSING];
        assert_eq!(run.failed, 5000);
        assert!(prost::Message::encoded_len(&run) < 1536 * 1024, "{}", prost::Message::encoded_len(&run));
    }

    trait TapCode {
        fn tap_code(self, code: &str) -> Self;
    }

    impl TapCode for Enterprise {
        fn tap_code(mut self, code: &str) -> Self {
            self.credit_code = code.to_string();
            self
        }
    }

    #[test]
    fn bad_rows_fail_with_the_field() {
        let bad =
            Enterprise { credit_code: "91350100M000100Y4X".into(), display_name: "x".into(), ..Default::default() };
        let err = apply_row(None, bad, &[], &Rules::default(), [1; 16], 1).unwrap_err();
        let failure = Failure::of(7, "91350100M000100Y4X", &err);
        assert_eq!(
            (failure.field.as_str(), failure.reason.as_str()),
            ("enterprise.credit_code", "CHECK_CHARACTER_MISMATCH")
        );
        assert!(check_source("market registry").is_err());
        assert!(check_source("market-registry").is_ok());
        assert_eq!(check_source("revert").unwrap_err().reason(), "RESERVED_SOURCE");
        assert_eq!(check_source("System").unwrap_err().reason(), "RESERVED_SOURCE");
        // A row naming a field that does not exist fails instead of doing nothing.
        let (_, stored) = apply_row(None, row("甲"), &[], &Rules::default(), [1; 16], 1).unwrap();
        let fields = ["credit_code".to_string(), "colour".to_string()];
        let err = apply_row(Some(stored), row("乙"), &fields, &Rules::default(), [1; 16], 2).unwrap_err();
        assert_eq!(Failure::of(3, CODE, &err).reason, "UNKNOWN_FIELD");
    }
}
