//! The one table from [`Error`] to `tonic::Status`, with `google.rpc.ErrorInfo`
//! (reason and domain) on every error and `google.rpc.BadRequest` field
//! violations on input errors, so any client (grpcurl, Python, the CLI) can
//! see which field was wrong and why.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::{clip, Error};

/// `google.rpc.ErrorInfo.domain` of every ladder error.
pub const ERROR_DOMAIN: &str = "ladder";
/// Longest error message (and field violation) sent, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        let mut metadata = HashMap::new();
        let code = match &error {
            Error::InvalidArgument { .. } => Code::InvalidArgument,
            Error::NotFound { resource } => {
                metadata.insert("resource".to_string(), resource.clone());
                Code::NotFound
            }
            Error::AlreadyExists { resource, deleted } => {
                metadata.insert("resource".to_string(), resource.clone());
                metadata.insert("deleted".to_string(), deleted.to_string());
                Code::AlreadyExists
            }
            Error::Aborted { resource, .. } => {
                metadata.insert("resource".to_string(), resource.clone());
                Code::Aborted
            }
            Error::FailedPrecondition { .. } => Code::FailedPrecondition,
            Error::OutOfRange { metadata: extra, .. } => {
                metadata.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
                Code::OutOfRange
            }
            Error::ResourceExhausted { .. } => Code::ResourceExhausted,
            Error::Unauthenticated { .. } => Code::Unauthenticated,
            Error::PermissionDenied { .. } => Code::PermissionDenied,
            Error::Unavailable(_) => Code::Unavailable,
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Code::Internal
            }
        };
        let mut details = ErrorDetails::new();
        details.set_error_info(error.reason(), ERROR_DOMAIN, metadata);
        if let Error::InvalidArgument { violations, .. } = &error {
            let violations: Vec<tonic_types::FieldViolation> = violations
                .iter()
                .map(|v| tonic_types::FieldViolation {
                    field: clip(&v.field, MAX_MESSAGE_BYTES).into_owned(),
                    description: clip(&v.description, MAX_MESSAGE_BYTES).into_owned(),
                    reason: v.reason.to_string(),
                    localized_message: None,
                })
                .collect();
            details.set_bad_request(violations);
        }
        // An error may echo an input; a client gets at most a few KB of it.
        let message = match &error {
            Error::Internal(_) => "internal error (logged on the server)".to_string(),
            other => clip(&other.to_string(), MAX_MESSAGE_BYTES).into_owned(),
        };
        Status::with_error_details(code, message, details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_error_info_and_field_violations() {
        let status =
            Status::from(Error::invalid_field("enterprise.credit_code", "CHECK_CHARACTER_MISMATCH", "should be '3'"));
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let info = details.error_info().expect("ErrorInfo");
        assert_eq!((info.reason.as_str(), info.domain.as_str()), ("CHECK_CHARACTER_MISMATCH", ERROR_DOMAIN));
        let bad = details.bad_request().expect("BadRequest");
        assert_eq!(bad.field_violations[0].field, "enterprise.credit_code");
        assert_eq!(bad.field_violations[0].reason, "CHECK_CHARACTER_MISMATCH");
    }

    #[test]
    fn messages_echoing_huge_inputs_are_cut() {
        let huge = "x".repeat(50 << 20);
        let status =
            Status::from(Error::invalid_field("enterprise.notes", "TOO_LONG", format!("{huge:?} is too long")));
        assert!(status.message().len() <= MAX_MESSAGE_BYTES);
        let bad = status.get_error_details().bad_request().expect("BadRequest").clone();
        assert!(bad.field_violations[0].description.len() <= MAX_MESSAGE_BYTES);
    }

    #[test]
    fn each_error_kind_has_its_code() {
        let cases = [
            (Error::NotFound { resource: "r".into() }, Code::NotFound),
            (Error::AlreadyExists { resource: "r".into(), deleted: false }, Code::AlreadyExists),
            (Error::Aborted { reason: "ETAG_MISMATCH", message: "m".into(), resource: "r".into() }, Code::Aborted),
            (Error::FailedPrecondition { reason: "X", message: "m".into() }, Code::FailedPrecondition),
            (Error::Unauthenticated { reason: "X", message: "m".into() }, Code::Unauthenticated),
            (Error::PermissionDenied { reason: "X", message: "m".into() }, Code::PermissionDenied),
            (Error::Unavailable("m".into()), Code::Unavailable),
            (Error::Internal("secret detail".into()), Code::Internal),
        ];
        for (error, code) in cases {
            let status = Status::from(error);
            assert_eq!(status.code(), code);
            assert!(status.get_error_details().error_info().is_some());
            assert!(!status.message().contains("secret detail"));
        }
    }
}
