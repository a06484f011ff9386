//! Rules every resource's standard methods share: etags (AIP-154) and field
//! masks (AIP-134).

use crate::domain::enterprise::FieldChange;
use crate::error::{Error, FieldViolation, Result};

/// Whether `c` is a bidirectional embedding, override or isolate control
/// (U+202A–U+202E, U+2066–U+2069, and the implicit marks U+200E, U+200F,
/// U+061C): they reorder the text around them on screen, so a stored
/// value could display as something other than what it is.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Whether `c` shows nothing on its own: whitespace and the zero-width
/// characters (spaces, joiners, word joiner, byte-order mark, soft hyphen).
/// Such characters may appear inside text (a joiner in an emoji) but cannot
/// make up a value by themselves.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || is_bidi_control(c)
        || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}')
}

/// Checks a single-line text field: at least `min` and at most `max`
/// characters, no control characters, no bidi controls, and a required
/// value must show something (not only zero-width characters).
pub fn check_text(v: &mut Vec<FieldViolation>, field: &str, value: &str, min: usize, max: usize) {
    let chars = value.chars().count();
    if chars < min {
        let what = if min <= 1 { "is required".to_string() } else { format!("needs at least {min} characters") };
        v.push(FieldViolation::new(field, "REQUIRED", what));
    } else if chars > max {
        v.push(FieldViolation::new(field, "TOO_LONG", format!("has {chars} characters, at most {max} allowed")));
    } else if value.chars().any(char::is_control) {
        v.push(FieldViolation::new(field, "CONTROL_CHARACTER", "must not contain control characters or line breaks"));
    } else if value.chars().any(is_bidi_control) {
        v.push(bidi_violation(field));
    } else if min >= 1 && value.chars().all(is_invisible) {
        v.push(FieldViolation::new(field, "REQUIRED", "is required: it has only invisible (zero-width) characters"));
    }
}

/// Checks multi-line text: at most `max` characters; line breaks and tabs
/// allowed, other control characters and bidi controls not.
pub fn check_multiline(v: &mut Vec<FieldViolation>, field: &str, value: &str, max: usize) {
    let chars = value.chars().count();
    if chars > max {
        v.push(FieldViolation::new(field, "TOO_LONG", format!("has {chars} characters, at most {max} allowed")));
    } else if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        v.push(FieldViolation::new(field, "CONTROL_CHARACTER", "must not contain control characters"));
    } else if value.chars().any(is_bidi_control) {
        v.push(bidi_violation(field));
    }
}

fn bidi_violation(field: &str) -> FieldViolation {
    FieldViolation::new(
        field,
        "BIDI_CONTROL",
        "must not contain bidirectional override, embedding or isolate characters (U+202A–U+202E, U+2066–U+2069)",
    )
}

/// The fields whose rendered values differ between two renderings of a
/// record, for the change log.
pub fn diff_rendered<const N: usize>(
    old: [(&'static str, String); N],
    new: [(&'static str, String); N],
) -> Vec<FieldChange> {
    old.into_iter()
        .zip(new)
        .filter(|((_, a), (_, b))| a != b)
        .map(|((field, old_value), (_, new_value))| FieldChange { field: field.to_string(), old_value, new_value })
        .collect()
}

/// The opaque etag of a record at a revision.
pub fn etag(revision: u64) -> String {
    format!("{revision:016x}")
}

/// The stored record, if it exists and matches `etag` (when one is given):
/// NOT_FOUND or ABORTED otherwise.
pub fn existing<R>(current: Option<R>, name: &str, etag: &str, etag_of: impl Fn(&R) -> String) -> Result<R> {
    let record = current.ok_or_else(|| Error::NotFound { resource: name.to_string() })?;
    check_etag(name, etag, &etag_of(&record))?;
    Ok(record)
}

/// Splits a sub-resource name `{parent}{parent_id}{collection}{child_id}`,
/// e.g. `enterprises/X/designations/Y` with `("enterprises/", "/designations/")`;
/// `shape` names the expected form in the error.
pub fn split_name<'a>(
    field: &str,
    name: &'a str,
    parent: &str,
    collection: &str,
    shape: &str,
) -> Result<(&'a str, &'a str)> {
    name.trim()
        .strip_prefix(parent)
        .and_then(|rest| rest.split_once(collection))
        .filter(|(id, child)| !id.is_empty() && !child.is_empty())
        .ok_or_else(|| {
            Error::invalid_field(field, "INVALID_RESOURCE_NAME", format!("{name:?} is not of the form {shape}"))
        })
}

/// ABORTED if the caller sent an etag and it is not the current one.
pub fn check_etag(name: &str, given: &str, current: &str) -> Result<()> {
    if given.is_empty() || given == current {
        return Ok(());
    }
    Err(Error::Aborted {
        reason: "ETAG_MISMATCH",
        message: format!(
            "{name} changed since it was read (etag {given} is stale, current is {current}); re-read and retry"
        ),
        resource: name.to_string(),
    })
}

/// Resolves an update mask against a resource's fields: `*` means every
/// updatable field; read-only and unknown paths are reported together; the
/// result is sorted and de-duplicated, and never empty.
pub fn expand_mask(
    paths: &[String],
    updatable: &'static [&'static str],
    read_only: &[&str],
    resource: &str,
) -> Result<Vec<&'static str>> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut violations = Vec::new();
    for path in paths.iter().map(|p| p.trim()) {
        if path == "*" {
            out.extend_from_slice(updatable);
        } else if let Some(known) = updatable.iter().find(|f| **f == path) {
            out.push(known);
        } else if read_only.contains(&path) {
            violations.push(FieldViolation::new(
                "update_mask",
                "FIELD_NOT_UPDATABLE",
                format!("{path:?} cannot be changed by an update"),
            ));
        } else {
            violations.push(FieldViolation::new(
                "update_mask",
                "UNKNOWN_FIELD",
                format!("{path:?} is not a field of {resource} (updatable: {})", updatable.join(", ")),
            ));
        }
    }
    if !violations.is_empty() {
        return Err(Error::invalid_fields(violations));
    }
    if out.is_empty() {
        return Err(Error::invalid_field("update_mask", "EMPTY_UPDATE_MASK", "names no field to update"));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPDATABLE: &[&str] = &["b", "a"];

    fn paths(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn masks_expand_sort_and_dedupe() {
        assert_eq!(expand_mask(&paths(&["*"]), UPDATABLE, &[], "R").unwrap(), ["a", "b"]);
        assert_eq!(expand_mask(&paths(&[" b ", "b"]), UPDATABLE, &[], "R").unwrap(), ["b"]);
    }

    #[test]
    fn masks_report_every_bad_path() {
        let err = expand_mask(&paths(&["x", "etag"]), UPDATABLE, &["etag"], "R").unwrap_err();
        match err {
            Error::InvalidArgument { violations, .. } => {
                let reasons: Vec<&str> = violations.iter().map(|v| v.reason).collect();
                assert_eq!(reasons, ["UNKNOWN_FIELD", "FIELD_NOT_UPDATABLE"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(expand_mask(&[], UPDATABLE, &[], "R").unwrap_err().reason(), "EMPTY_UPDATE_MASK");
    }

    #[test]
    fn text_must_show_what_it_is() {
        let reasons = |value: &str, min: usize| {
            let mut v = Vec::new();
            check_text(&mut v, "f", value, min, 100);
            v.into_iter().map(|v| v.reason).collect::<Vec<_>>()
        };
        assert_eq!(reasons("\u{200B}\u{200C}\u{200D}\u{FEFF}", 1), ["REQUIRED"]);
        assert_eq!(reasons("\u{2060}", 0), Vec::<&str>::new(), "an optional field may be blank");
        assert_eq!(reasons("西安\u{202E}司公限有", 1), ["BIDI_CONTROL"]);
        assert_eq!(reasons("a\u{2066}b\u{2069}", 1), ["BIDI_CONTROL"]);
        assert_eq!(reasons("👩\u{200D}💻 studio", 1), Vec::<&str>::new(), "a joiner inside text is fine");
        let mut v = Vec::new();
        check_multiline(&mut v, "notes", "line\n\u{202D}x", 100);
        assert_eq!(v[0].reason, "BIDI_CONTROL");
    }

    #[test]
    fn etags_are_checked_only_when_given() {
        assert!(check_etag("r", "", &etag(3)).is_ok());
        assert!(check_etag("r", &etag(3), &etag(3)).is_ok());
        assert_eq!(check_etag("r", &etag(2), &etag(3)).unwrap_err().reason(), "ETAG_MISMATCH");
    }
}
