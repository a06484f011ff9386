//! The one error type shared by the domain, the store and the API.
//!
//! Every variant maps to exactly one gRPC code in `api::status`; every error
//! carries a machine-readable `reason` (UPPER_SNAKE_CASE) that becomes
//! `google.rpc.ErrorInfo.reason`, and input errors carry field violations that
//! become `google.rpc.BadRequest`.

/// One wrong field of a request (`google.rpc.BadRequest.FieldViolation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, e.g. `enterprise.credit_code`.
    pub field: String,
    /// What is wrong, for a person.
    pub description: String,
    /// Machine-readable reason, UPPER_SNAKE_CASE.
    pub reason: &'static str,
}

impl FieldViolation {
    /// A violation of `field` with a reason and a description.
    pub fn new(field: impl Into<String>, reason: &'static str, description: impl Into<String>) -> Self {
        Self { field: field.into(), description: description.into(), reason }
    }
}

/// Errors of ladder, by what the caller can do about them.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The request is malformed; nothing was written.
    #[error("{message}")]
    InvalidArgument {
        /// Machine-readable reason.
        reason: &'static str,
        /// Summary for a person.
        message: String,
        /// The wrong fields.
        violations: Vec<FieldViolation>,
    },
    /// The named resource does not exist.
    #[error("{resource} not found")]
    NotFound {
        /// Resource name.
        resource: String,
    },
    /// The resource already exists.
    #[error("{resource} already exists{}", if *.deleted { " (soft-deleted: undelete it instead)" } else { "" })]
    AlreadyExists {
        /// Resource name.
        resource: String,
        /// Whether the existing one is soft-deleted.
        deleted: bool,
    },
    /// A concurrency precondition failed (stale etag); re-read and retry.
    #[error("{message}")]
    Aborted {
        /// Machine-readable reason.
        reason: &'static str,
        /// Summary for a person.
        message: String,
        /// Resource concerned.
        resource: String,
    },
    /// The system is not in the state the request needs (e.g. undelete of an
    /// active record).
    #[error("{message}")]
    FailedPrecondition {
        /// Machine-readable reason.
        reason: &'static str,
        /// Summary for a person.
        message: String,
    },
    /// A value is outside the range the server can serve.
    #[error("{message}")]
    OutOfRange {
        /// Machine-readable reason.
        reason: &'static str,
        /// Summary for a person.
        message: String,
        /// Machine-readable details (`ErrorInfo.metadata`), e.g. the oldest
        /// revision still retained.
        metadata: Vec<(&'static str, String)>,
    },
    /// A limit was reached (e.g. a watcher fell too far behind); retry later.
    #[error("{message}")]
    ResourceExhausted {
        /// Machine-readable reason.
        reason: &'static str,
        /// Summary for a person.
        message: String,
    },
    /// The caller is not authenticated.
    #[error("{message}")]
    Unauthenticated {
        /// Machine-readable reason.
        reason: &'static str,
        /// Summary for a person.
        message: String,
    },
    /// The caller's role does not allow this.
    #[error("{message}")]
    PermissionDenied {
        /// Machine-readable reason.
        reason: &'static str,
        /// Summary for a person.
        message: String,
    },
    /// The server is shutting down or the store is unavailable; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or a storage failure; details are logged.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Most field violations one error carries.
pub const MAX_VIOLATIONS: usize = 50;

impl Error {
    /// An input error with a single field violation.
    pub fn invalid_field(field: impl Into<String>, reason: &'static str, description: impl Into<String>) -> Self {
        let violation = FieldViolation::new(field, reason, description);
        Self::InvalidArgument {
            reason,
            message: format!("{}: {}", violation.field, violation.description),
            violations: vec![violation],
        }
    }

    /// An input error with several field violations (must not be empty).
    /// At most [`MAX_VIOLATIONS`] are kept (a request repeating one bad
    /// item a million times gets a bounded answer), the last saying how
    /// many more there were.
    pub fn invalid_fields(mut violations: Vec<FieldViolation>) -> Self {
        if violations.len() > MAX_VIOLATIONS {
            let more = violations.len() - (MAX_VIOLATIONS - 1);
            violations.truncate(MAX_VIOLATIONS - 1);
            let (field, reason) = violations.last().map(|v| (v.field.clone(), v.reason)).unwrap_or_default();
            violations.push(FieldViolation::new(field, reason, format!("…and {more} more problems like these")));
        }
        let reason = violations.first().map_or("INVALID_ARGUMENT", |v| v.reason);
        let message =
            violations.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; ");
        Self::InvalidArgument { reason, message, violations }
    }

    /// Prefixes every field path with `prefix.` (e.g. `enterprise.`), so a
    /// domain error names the field as it appears in the request.
    pub fn in_field(self, prefix: &str) -> Self {
        match self {
            Self::InvalidArgument { reason, violations, .. } => Self::invalid_fields_with_reason(
                reason,
                violations
                    .into_iter()
                    .map(|mut v| {
                        v.field = format!("{prefix}.{}", v.field);
                        v
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    fn invalid_fields_with_reason(reason: &'static str, violations: Vec<FieldViolation>) -> Self {
        match Self::invalid_fields(violations) {
            Self::InvalidArgument { message, violations, .. } => Self::InvalidArgument { reason, message, violations },
            other => other,
        }
    }

    /// The machine-readable reason (`google.rpc.ErrorInfo.reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidArgument { reason, .. }
            | Self::Aborted { reason, .. }
            | Self::FailedPrecondition { reason, .. }
            | Self::OutOfRange { reason, .. }
            | Self::ResourceExhausted { reason, .. }
            | Self::Unauthenticated { reason, .. }
            | Self::PermissionDenied { reason, .. } => reason,
            Self::NotFound { .. } => "RESOURCE_NOT_FOUND",
            Self::AlreadyExists { .. } => "RESOURCE_ALREADY_EXISTS",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }
}

/// `text` cut to at most `max_bytes` bytes (at a character boundary), with
/// `…` and the number of bytes left out when it is longer: for echoing an
/// input into an error or a stored failure without echoing all of it.
pub fn clip(text: &str, max_bytes: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max_bytes {
        return std::borrow::Cow::Borrowed(text);
    }
    // Room for the marker, which is at most 30 bytes.
    let mut end = max_bytes.saturating_sub(30);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…(+{} bytes)", &text[..end], text.len() - end))
}

/// Result with ladder's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_long_text_at_a_character_boundary() {
        assert_eq!(clip("短", 100), "短");
        let long = "名".repeat(1000);
        let cut = clip(&long, 100);
        assert!(cut.len() <= 100, "{}", cut.len());
        assert!(cut.starts_with("名名") && cut.ends_with("bytes)"), "{cut}");
    }
}
