//! The enterprise record (企业档案): what ladder stores for every organisation
//! with a credit code, its input rules, field-mask updates and change diffs.
//!
//! The record derives `prost::Message`, which is also its storage encoding:
//! fields are numbered, so a later version can add fields (new tags) and still
//! read every record written before (see `store::codec`).

use serde::Serialize;

use crate::domain::alliance::ActiveMembership;
use crate::domain::change::ChangeKind;
use crate::domain::credit_code::CreditCode;
use crate::domain::industry::IndustryCode;
use crate::domain::ladder::{self, Stage, StageSpan};
use crate::domain::time::{Date, Micros};
use crate::domain::update::{self, check_multiline, check_text};
use crate::error::{Error, FieldViolation, Result};

/// Longest legal name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest address, in characters.
pub const MAX_ADDRESS_CHARS: usize = 500;
/// Longest promotion-zone id.
pub const MAX_ZONE_CHARS: usize = 50;
/// Longest person name (legal representative, commissioner, contact).
pub const MAX_PERSON_CHARS: usize = 100;
/// Most contacts per enterprise.
pub const MAX_CONTACTS: usize = 20;
/// Most tags per enterprise.
pub const MAX_TAGS: usize = 50;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 50;
/// Longest website.
pub const MAX_WEBSITE_CHARS: usize = 300;
/// Longest notes.
pub const MAX_NOTES_CHARS: usize = 4000;
/// Longest free-text reason (delete, override).
pub const MAX_REASON_CHARS: usize = 500;
/// Longest contact phone, in characters.
pub const MAX_PHONE_CHARS: usize = 30;
/// Longest contact e-mail, in characters.
pub const MAX_EMAIL_CHARS: usize = 200;
/// Longest value accepted where a code or a date is expected (credit,
/// industry and region codes, dates): longer input cannot be one.
pub const MAX_CODE_INPUT_CHARS: usize = 40;

/// An organisation with a Unified Social Credit Code. Times are microseconds
/// since the Unix epoch; 0 means unset.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Enterprise {
    /// Normalised 18-character credit code (the natural key).
    #[prost(string, tag = "1")]
    pub credit_code: String,
    /// UUID v4 bytes, assigned on registration.
    #[prost(bytes = "vec", tag = "2")]
    pub uid: Vec<u8>,
    /// Legal name (企业名称).
    #[prost(string, tag = "3")]
    pub display_name: String,
    /// Earlier legal names (曾用名), oldest first.
    #[prost(message, repeated, tag = "4")]
    pub former_names: Vec<FormerName>,
    /// Canonical GB/T 4754 code, e.g. `C3742`, or empty.
    #[prost(string, tag = "5")]
    pub industry_code: String,
    /// Registered region (注册地), 6-digit GB/T 2260 code.
    #[prost(string, tag = "6")]
    pub region_code: String,
    /// Founding date `YYYY-MM-DD`, or empty.
    #[prost(string, tag = "7")]
    pub founding_date: String,
    /// Registered address.
    #[prost(string, tag = "8")]
    pub address: String,
    /// Legal representative (法定代表人).
    #[prost(string, tag = "9")]
    pub legal_representative: String,
    /// Promotion zone id (包片招商片区).
    #[prost(string, tag = "10")]
    pub promotion_zone: String,
    /// Service commissioner (服务专员).
    #[prost(string, tag = "11")]
    pub service_commissioner: String,
    /// Contact people.
    #[prost(message, repeated, tag = "12")]
    pub contacts: Vec<Contact>,
    /// Free tags, trimmed and de-duplicated.
    #[prost(string, repeated, tag = "13")]
    pub tags: Vec<String>,
    /// Website.
    #[prost(string, tag = "14")]
    pub website: String,
    /// Staff notes.
    #[prost(string, tag = "15")]
    pub notes: String,
    /// Set when an admin accepted a code that fails its check characters.
    #[prost(message, optional, tag = "16")]
    pub credit_code_override: Option<CreditCodeOverride>,
    /// Registration time in ladder.
    #[prost(int64, tag = "17")]
    pub create_time: Micros,
    /// Last change time.
    #[prost(int64, tag = "18")]
    pub update_time: Micros,
    /// Soft-delete time, 0 while active.
    #[prost(int64, tag = "19")]
    pub delete_time: Micros,
    /// Reason given on soft delete.
    #[prost(string, tag = "20")]
    pub delete_reason: String,
    /// Change-log revision of the last change.
    #[prost(uint64, tag = "21")]
    pub revision: u64,
    /// Active alliance memberships: a projection of the membership records,
    /// rewritten in the same batch as every membership change.
    #[prost(message, repeated, tag = "22")]
    pub memberships: Vec<ActiveMembership>,
    /// The date ranges of its designations that ever counted: enough to
    /// derive its stage on any date. Rewritten with every designation change.
    #[prost(message, repeated, tag = "23")]
    pub stage_spans: Vec<StageSpan>,
    /// The stage its `stage` index entry reflects (as of the last designation
    /// change or expiry sweep); reads always derive the stage afresh.
    #[prost(enumeration = "Stage", tag = "24")]
    pub indexed_stage: i32,
    /// The next date its derived stage may change (a span starts or ends);
    /// the expiry sweeper visits it then. Empty when nothing is pending.
    #[prost(string, tag = "25")]
    pub next_stage_check: String,
    /// The sync sources that have sent this firm (for full-mode syncs, which
    /// report the firms a source sent before but not in its latest run).
    /// Internal; not part of diffs or the API.
    #[prost(string, repeated, tag = "26")]
    pub synced_by: Vec<String>,
    /// Revision of the newest change-log entry under this firm's resource
    /// name (its etag revision, or a later stage sweep): the head of its
    /// history, which each entry chains to the one before.
    #[prost(uint64, tag = "27")]
    pub log_head: u64,
}

/// An earlier legal name (曾用名).
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize)]
pub struct FormerName {
    /// The earlier name.
    #[prost(string, tag = "1")]
    pub display_name: String,
    /// When the name was changed away from.
    #[prost(int64, tag = "2")]
    pub change_time: Micros,
}

/// A contact person (联系人).
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, serde::Deserialize)]
pub struct Contact {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Position, e.g. 总经理.
    #[prost(string, tag = "2")]
    pub title: String,
    /// Telephone.
    #[prost(string, tag = "3")]
    pub phone: String,
    /// E-mail.
    #[prost(string, tag = "4")]
    pub email: String,
}

/// Audit record of an accepted non-conforming credit code.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CreditCodeOverride {
    /// Why it was accepted.
    #[prost(string, tag = "1")]
    pub reason: String,
    /// Admin who accepted it.
    #[prost(string, tag = "2")]
    pub actor: String,
    /// When.
    #[prost(int64, tag = "3")]
    pub time: Micros,
    /// What the checks found wrong.
    #[prost(string, repeated, tag = "4")]
    pub problems: Vec<String>,
}

/// What validation needs to know about the deployment.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Ids of the configured promotion zones; empty means any id is accepted.
    pub zones: Vec<String>,
}

impl Rules {
    /// These rules, also accepting `zone` (a record's stored zone, which an
    /// edit that does not change it must not be refused for).
    pub fn keeping(&self, zone: &str) -> std::borrow::Cow<'_, Rules> {
        if self.zones.is_empty() || zone.is_empty() || self.zones.iter().any(|z| z == zone) {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut zones = self.zones.clone();
        zones.push(zone.to_string());
        std::borrow::Cow::Owned(Rules { zones })
    }
}

/// The fields an update mask may name.
pub const UPDATABLE_FIELDS: &[&str] = &[
    "display_name",
    "industry_code",
    "region_code",
    "founding_date",
    "address",
    "legal_representative",
    "promotion_zone",
    "service_commissioner",
    "contacts",
    "tags",
    "website",
    "notes",
];

/// Fields that exist but cannot be changed through an update mask.
const READ_ONLY_FIELDS: &[&str] = &[
    "name",
    "uid",
    "credit_code",
    "former_names",
    "industry_name",
    "organisation_type",
    "organisation_type_label",
    "registration_region_code",
    "region_name",
    "credit_code_override",
    "etag",
    "revision",
    "create_time",
    "update_time",
    "delete_time",
    "delete_reason",
    "memberships",
    "stage",
    "stage_since",
];

impl Enterprise {
    /// Whether the record is soft-deleted.
    pub fn is_deleted(&self) -> bool {
        self.delete_time != 0
    }

    /// Resource name `enterprises/{credit_code}`.
    pub fn resource_name(&self) -> String {
        resource_name(&self.credit_code)
    }

    /// The stage on `d`, derived from the projection of its designations.
    pub fn stage_on(&self, d: Date) -> Stage {
        ladder::stage_from_spans(&self.stage_spans, d)
    }

    /// Sets the stage projection from its spans as of `today`: the stage the
    /// index reflects and the next date the stage may change. Returns whether
    /// the indexed stage changed.
    pub fn reproject_stage(&mut self, spans: Vec<StageSpan>, today: Date) -> bool {
        self.stage_spans = spans;
        let stage = ladder::stage_from_spans(&self.stage_spans, today) as i32;
        let changed = stage != self.indexed_stage;
        self.indexed_stage = stage;
        self.next_stage_check = self
            .stage_spans
            .iter()
            .flat_map(|s| [Date::parse(&s.from), Date::parse(&s.until)])
            .flatten()
            .filter(|d| *d > today)
            .min()
            .map(|d| d.to_string())
            .unwrap_or_default();
        changed
    }

    /// Opaque etag of the stored state (AIP-154).
    pub fn etag(&self) -> String {
        update::etag(self.revision)
    }

    /// Cleans input in place: trims text, canonicalises the industry code,
    /// de-duplicates tags. Leaves values it cannot canonicalise for
    /// [`Enterprise::validate`] to report.
    pub fn normalise(&mut self) {
        for field in [
            &mut self.display_name,
            &mut self.region_code,
            &mut self.founding_date,
            &mut self.address,
            &mut self.legal_representative,
            &mut self.promotion_zone,
            &mut self.service_commissioner,
            &mut self.website,
        ] {
            trim_in_place(field);
        }
        trim_in_place(&mut self.industry_code);
        if let Ok(code) = IndustryCode::parse(&self.industry_code) {
            self.industry_code = code.as_str().to_string();
        }
        let notes = self.notes.trim_end().to_string();
        self.notes = notes;
        for contact in &mut self.contacts {
            for field in [&mut contact.name, &mut contact.title, &mut contact.phone, &mut contact.email] {
                trim_in_place(field);
            }
        }
        let mut seen = std::collections::HashSet::new();
        let tags = std::mem::take(&mut self.tags);
        self.tags = tags.into_iter().map(|t| t.trim().to_string()).filter(|t| seen.insert(t.clone())).collect();
    }

    /// Checks every staff-editable field, reporting all violations at once.
    /// Field paths are relative to the enterprise (`display_name`, `tags[2]`).
    pub fn validate(&self, rules: &Rules) -> Result<()> {
        let mut v = Vec::new();
        check_text(&mut v, "display_name", &self.display_name, 1, MAX_NAME_CHARS);
        if !self.industry_code.is_empty() {
            if let Err(e) = IndustryCode::parse(&self.industry_code) {
                v.push(FieldViolation::new("industry_code", e.reason(), e.to_string()));
            }
        }
        if self.region_code.len() != 6 || !self.region_code.bytes().all(|b| b.is_ascii_digit()) {
            v.push(FieldViolation::new(
                "region_code",
                "INVALID_REGION_CODE",
                format!("{:?} is not a 6-digit GB/T 2260 division code", self.region_code),
            ));
        }
        if !self.founding_date.is_empty() {
            match Date::parse(&self.founding_date) {
                None => v.push(FieldViolation::new(
                    "founding_date",
                    "INVALID_DATE",
                    format!("{:?} is not a date of the form YYYY-MM-DD", self.founding_date),
                )),
                Some(d) if d > Date::today() => {
                    v.push(FieldViolation::new("founding_date", "DATE_IN_FUTURE", format!("{d} is in the future")))
                }
                Some(_) => {}
            }
        }
        check_text(&mut v, "address", &self.address, 0, MAX_ADDRESS_CHARS);
        check_text(&mut v, "legal_representative", &self.legal_representative, 0, MAX_PERSON_CHARS);
        check_text(&mut v, "service_commissioner", &self.service_commissioner, 0, MAX_PERSON_CHARS);
        check_text(&mut v, "promotion_zone", &self.promotion_zone, 0, MAX_ZONE_CHARS);
        if self.promotion_zone.contains(char::is_whitespace) {
            v.push(FieldViolation::new("promotion_zone", "INVALID_ZONE", "a zone id has no spaces"));
        } else if !self.promotion_zone.is_empty()
            && !rules.zones.is_empty()
            && !rules.zones.contains(&self.promotion_zone)
        {
            v.push(FieldViolation::new(
                "promotion_zone",
                "UNKNOWN_ZONE",
                format!("{:?} is not a configured zone (known: {})", self.promotion_zone, rules.zones.join(", ")),
            ));
        }
        check_text(&mut v, "website", &self.website, 0, MAX_WEBSITE_CHARS);
        if !self.website.is_empty() && !is_web_address(&self.website) {
            v.push(FieldViolation::new(
                "website",
                "INVALID_WEBSITE",
                "use an http:// or https:// address or a bare host name (e.g. www.example.com.cn)",
            ));
        }
        check_multiline(&mut v, "notes", &self.notes, MAX_NOTES_CHARS);
        if self.contacts.len() > MAX_CONTACTS {
            v.push(FieldViolation::new(
                "contacts",
                "TOO_MANY",
                format!("{} contacts, at most {MAX_CONTACTS} allowed", self.contacts.len()),
            ));
        }
        for (i, c) in self.contacts.iter().enumerate() {
            check_text(&mut v, &format!("contacts[{i}].name"), &c.name, 1, MAX_PERSON_CHARS);
            check_text(&mut v, &format!("contacts[{i}].title"), &c.title, 0, MAX_PERSON_CHARS);
            let phone_ok = c.phone.chars().count() <= MAX_PHONE_CHARS
                && c.phone.chars().all(|ch| ch.is_ascii_digit() || " +-()".contains(ch));
            if !phone_ok {
                v.push(FieldViolation::new(
                    format!("contacts[{i}].phone"),
                    "INVALID_PHONE",
                    "use digits, spaces, +, -, ( and ), at most 30 characters",
                ));
            }
            let email_ok = c.email.is_empty()
                || (c.email.chars().count() <= MAX_EMAIL_CHARS
                    && c.email.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
                    && !c.email.chars().any(char::is_whitespace));
            if !email_ok {
                v.push(FieldViolation::new(
                    format!("contacts[{i}].email"),
                    "INVALID_EMAIL",
                    format!("{:?} is not an e-mail address", c.email),
                ));
            }
        }
        if self.tags.len() > MAX_TAGS {
            v.push(FieldViolation::new(
                "tags",
                "TOO_MANY",
                format!("{} tags, at most {MAX_TAGS} allowed", self.tags.len()),
            ));
        }
        for (i, tag) in self.tags.iter().enumerate() {
            let field = format!("tags[{i}]");
            check_text(&mut v, &field, tag, 1, MAX_TAG_CHARS);
            if tag.contains([',', '，']) {
                v.push(FieldViolation::new(field, "INVALID_TAG", "a tag must not contain a comma"));
            }
        }
        if v.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid_fields(v))
        }
    }

    /// Checks only what no patch or merge can make valid: each field within
    /// its length limit (trimmed, as [`Enterprise::normalise`] would), lists
    /// within their counts, the credit code within [`MAX_CODE_INPUT_CHARS`].
    /// Bulk sync runs it on every row as it arrives, so an oversized row is
    /// refused at once instead of being held until its chunk is written;
    /// [`Enterprise::validate`] still checks the whole record later.
    pub fn check_sizes(&self) -> Result<()> {
        let mut v = Vec::new();
        let mut bound = |field: String, value: &str, max: usize| {
            let chars = value.trim().chars().take(max + 1).count();
            if chars > max {
                v.push(FieldViolation::new(
                    field,
                    "TOO_LONG",
                    format!("has {} characters, at most {max} allowed", value.trim().chars().count()),
                ));
            }
        };
        bound("credit_code".into(), &self.credit_code, MAX_CODE_INPUT_CHARS);
        for (field, value, max) in [
            ("display_name", &self.display_name, MAX_NAME_CHARS),
            ("industry_code", &self.industry_code, MAX_CODE_INPUT_CHARS),
            ("region_code", &self.region_code, MAX_CODE_INPUT_CHARS),
            ("founding_date", &self.founding_date, MAX_CODE_INPUT_CHARS),
            ("address", &self.address, MAX_ADDRESS_CHARS),
            ("legal_representative", &self.legal_representative, MAX_PERSON_CHARS),
            ("promotion_zone", &self.promotion_zone, MAX_ZONE_CHARS),
            ("service_commissioner", &self.service_commissioner, MAX_PERSON_CHARS),
            ("website", &self.website, MAX_WEBSITE_CHARS),
            ("notes", &self.notes, MAX_NOTES_CHARS),
        ] {
            bound(field.into(), value, max);
        }
        for (i, c) in self.contacts.iter().enumerate().take(MAX_CONTACTS) {
            bound(format!("contacts[{i}].name"), &c.name, MAX_PERSON_CHARS);
            bound(format!("contacts[{i}].title"), &c.title, MAX_PERSON_CHARS);
            bound(format!("contacts[{i}].phone"), &c.phone, MAX_PHONE_CHARS);
            bound(format!("contacts[{i}].email"), &c.email, MAX_EMAIL_CHARS);
        }
        for (i, tag) in self.tags.iter().enumerate().take(MAX_TAGS) {
            bound(format!("tags[{i}]"), tag, MAX_TAG_CHARS);
        }
        for (field, count, max) in
            [("contacts", self.contacts.len(), MAX_CONTACTS), ("tags", self.tags.len(), MAX_TAGS)]
        {
            if count > max {
                v.push(FieldViolation::new(field, "TOO_MANY", format!("{count} given, at most {max} allowed")));
            }
        }
        if v.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid_fields(v))
        }
    }

    /// Copies the masked fields of `patch` into `self`. `paths` must name only
    /// [`UPDATABLE_FIELDS`] (`*` names all of them). A change of
    /// `display_name` records the old name in `former_names` at `now`.
    pub fn apply_mask(&mut self, patch: &Enterprise, paths: &[String], now: Micros) -> Result<()> {
        let paths = update::expand_mask(paths, UPDATABLE_FIELDS, READ_ONLY_FIELDS, "Enterprise")?;
        for path in paths {
            match path {
                "display_name" => {
                    if self.display_name != patch.display_name {
                        let old = std::mem::replace(&mut self.display_name, patch.display_name.clone());
                        self.former_names.push(FormerName { display_name: old, change_time: now });
                    }
                }
                "industry_code" => self.industry_code.clone_from(&patch.industry_code),
                "region_code" => self.region_code.clone_from(&patch.region_code),
                "founding_date" => self.founding_date.clone_from(&patch.founding_date),
                "address" => self.address.clone_from(&patch.address),
                "legal_representative" => self.legal_representative.clone_from(&patch.legal_representative),
                "promotion_zone" => self.promotion_zone.clone_from(&patch.promotion_zone),
                "service_commissioner" => self.service_commissioner.clone_from(&patch.service_commissioner),
                "contacts" => self.contacts.clone_from(&patch.contacts),
                "tags" => self.tags.clone_from(&patch.tags),
                "website" => self.website.clone_from(&patch.website),
                "notes" => self.notes.clone_from(&patch.notes),
                _ => unreachable!("expand_mask only returns updatable fields"),
            }
        }
        Ok(())
    }

    /// The implied mask of an update without one (AIP-134): every updatable
    /// field set to a non-default value in `self`.
    pub fn populated_fields(&self) -> Vec<String> {
        render_fields(self)
            .into_iter()
            .filter(|(name, value)| UPDATABLE_FIELDS.contains(name) && !value.is_empty())
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// Sets an updatable field from its change-log rendering (text, or JSON
    /// for lists): the inverse of what [`Enterprise::diff`] records.
    pub fn set_rendered(&mut self, field: &str, value: &str) -> Result<()> {
        let list = |v: &str| -> Result<Vec<String>> {
            if v.is_empty() {
                return Ok(Vec::new());
            }
            serde_json::from_str(v).map_err(|e| Error::Internal(format!("change-log value of {field}: {e}")))
        };
        match field {
            "display_name" => self.display_name = value.into(),
            "industry_code" => self.industry_code = value.into(),
            "region_code" => self.region_code = value.into(),
            "founding_date" => self.founding_date = value.into(),
            "address" => self.address = value.into(),
            "legal_representative" => self.legal_representative = value.into(),
            "promotion_zone" => self.promotion_zone = value.into(),
            "service_commissioner" => self.service_commissioner = value.into(),
            "website" => self.website = value.into(),
            "notes" => self.notes = value.into(),
            "tags" => self.tags = list(value)?,
            "contacts" => {
                self.contacts = if value.is_empty() {
                    Vec::new()
                } else {
                    serde_json::from_str(value)
                        .map_err(|e| Error::Internal(format!("change-log value of contacts: {e}")))?
                }
            }
            other => return Err(Error::Internal(format!("{other} cannot be restored"))),
        }
        Ok(())
    }

    /// The rendered value of one audited field (as in the change log).
    pub fn rendered(&self, field: &str) -> Option<String> {
        render_fields(self).into_iter().find(|(f, _)| *f == field).map(|(_, v)| v)
    }

    /// The fields that differ between `old` and `new`, with rendered values.
    pub fn diff(old: &Enterprise, new: &Enterprise) -> Vec<FieldChange> {
        render_fields(old)
            .into_iter()
            .zip(render_fields(new))
            .filter(|((_, a), (_, b))| a != b)
            .map(|((field, old_value), (_, new_value))| FieldChange { field: field.to_string(), old_value, new_value })
            .collect()
    }
}

/// A change of one field, values rendered as text (lists as JSON).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct FieldChange {
    /// Field path.
    #[prost(string, tag = "1")]
    pub field: String,
    /// Old value.
    #[prost(string, tag = "2")]
    pub old_value: String,
    /// New value.
    #[prost(string, tag = "3")]
    pub new_value: String,
}

/// Resource name of the enterprise with this (normalised) code.
pub fn resource_name(credit_code: &str) -> String {
    format!("enterprises/{credit_code}")
}

/// Extracts and normalises the credit code of `enterprises/{credit_code}`.
/// Only the shape is checked (an existing record may carry an overridden code).
pub fn parse_resource_name(field: &str, name: &str) -> Result<String> {
    let Some(code) = name.strip_prefix("enterprises/") else {
        return Err(Error::invalid_field(
            field,
            "INVALID_RESOURCE_NAME",
            format!("{name:?} is not of the form enterprises/{{credit_code}}"),
        ));
    };
    CreditCode::parse_unverified(code)
        .map(|c| c.as_str().to_string())
        .map_err(|e| Error::invalid_field(field, e.reason(), e.to_string()))
}

/// The outcome of a mutation rule: what happened and the resulting record.
pub type Outcome = (ChangeKind, Enterprise);

/// Registers `input` (already normalised and validated) unless the code is taken.
pub fn create(current: Option<Enterprise>, mut input: Enterprise, uid: [u8; 16], now: Micros) -> Result<Outcome> {
    if let Some(existing) = current {
        return Err(Error::AlreadyExists { resource: existing.resource_name(), deleted: existing.is_deleted() });
    }
    input.uid = uid.to_vec();
    input.create_time = now;
    input.update_time = now;
    input.delete_time = 0;
    input.delete_reason.clear();
    input.former_names.clear();
    Ok((ChangeKind::Created, input))
}

/// Applies a field-mask update to the stored record.
pub fn update(
    current: Option<Enterprise>,
    name: &str,
    patch: &Enterprise,
    mask: &[String],
    etag: &str,
    rules: &Rules,
    now: Micros,
) -> Result<Outcome> {
    let mut record = existing(current, name, etag)?;
    if record.is_deleted() {
        return Err(Error::FailedPrecondition {
            reason: "DELETED",
            message: format!("{name} is deleted: undelete it before changing it"),
        });
    }
    // Normalise the patch first, so "  名称 " is the same name, not a rename.
    let mut patch = patch.clone();
    patch.normalise();
    let zone_before = record.promotion_zone.clone();
    record.apply_mask(&patch, mask, now)?;
    record.normalise();
    // A zone the config no longer lists is kept by edits that leave it be
    // (the server warns about such firms at start-up); setting one is refused.
    let rules = rules.keeping(&zone_before);
    record.validate(&rules).map_err(|e| e.in_field("enterprise"))?;
    record.update_time = now;
    Ok((ChangeKind::Updated, record))
}

/// Soft-deletes the stored record.
pub fn delete(current: Option<Enterprise>, name: &str, etag: &str, reason: &str, now: Micros) -> Result<Outcome> {
    let mut record = existing(current, name, etag)?;
    if record.is_deleted() {
        return Err(Error::FailedPrecondition {
            reason: "ALREADY_DELETED",
            message: format!("{name} is already deleted"),
        });
    }
    if !record.memberships.is_empty() {
        let alliances: Vec<&str> = record.memberships.iter().map(|m| m.alliance_id.as_str()).collect();
        return Err(Error::FailedPrecondition {
            reason: "ACTIVE_MEMBERSHIPS",
            message: format!(
                "{name} is an active member of {}: end those memberships first, or delete with force to end them",
                alliances.join(", ")
            ),
        });
    }
    record.delete_time = now;
    record.delete_reason = reason.trim().to_string();
    record.update_time = now;
    Ok((ChangeKind::Deleted, record))
}

/// Restores a soft-deleted record.
pub fn undelete(current: Option<Enterprise>, name: &str, etag: &str, now: Micros) -> Result<Outcome> {
    let mut record = existing(current, name, etag)?;
    if !record.is_deleted() {
        return Err(Error::FailedPrecondition { reason: "NOT_DELETED", message: format!("{name} is not deleted") });
    }
    record.delete_time = 0;
    record.delete_reason.clear();
    record.update_time = now;
    Ok((ChangeKind::Undeleted, record))
}

/// The stored record, if it exists and matches `etag` (when one is given).
fn existing(current: Option<Enterprise>, name: &str, etag: &str) -> Result<Enterprise> {
    update::existing(current, name, etag, Enterprise::etag)
}

/// Every audited field with its value rendered as text, in a fixed order.
fn render_fields(e: &Enterprise) -> Vec<(&'static str, String)> {
    fn json<T: Serialize>(items: &[T]) -> String {
        if items.is_empty() {
            String::new()
        } else {
            serde_json::to_string(items).unwrap_or_default()
        }
    }
    vec![
        ("credit_code", e.credit_code.clone()),
        ("display_name", e.display_name.clone()),
        ("former_names", json(&e.former_names)),
        ("industry_code", e.industry_code.clone()),
        ("region_code", e.region_code.clone()),
        ("founding_date", e.founding_date.clone()),
        ("address", e.address.clone()),
        ("legal_representative", e.legal_representative.clone()),
        ("promotion_zone", e.promotion_zone.clone()),
        ("service_commissioner", e.service_commissioner.clone()),
        ("contacts", json(&e.contacts)),
        ("tags", json(&e.tags)),
        ("website", e.website.clone()),
        ("notes", e.notes.clone()),
        ("credit_code_override", e.credit_code_override.as_ref().map(|o| o.reason.clone()).unwrap_or_default()),
        ("delete_reason", e.delete_reason.clone()),
    ]
}

/// Whether `website` is a web address staff can safely open: `http://` or
/// `https://` with a host, or a bare host with an optional port and path.
/// Any other scheme (`javascript:`, `data:`, `file:`…) is refused.
fn is_web_address(website: &str) -> bool {
    let lower = website.to_ascii_lowercase();
    let rest = match lower.split_once("://") {
        Some(("http" | "https", rest)) => rest,
        Some(_) => return false,
        None => &lower,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // A scheme without `//` (`javascript:alert(1)`, `data:text/html,…`)
    // reads as a host with a port that is not a number.
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        && host.contains('.')
        && !host.starts_with('.')
        && host.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && !website.chars().any(char::is_whitespace)
}

fn trim_in_place(s: &mut String) {
    let trimmed = s.trim();
    if trimmed.len() != s.len() {
        *s = trimmed.to_string();
    }
}

/// Single-line text of `min..=max` characters without control characters.
/// Checks a free-text reason (delete, override): at most
/// [`MAX_REASON_CHARS`], required when `required`.
pub fn validate_reason(field: &str, reason: &str, required: bool) -> Result<()> {
    let mut v = Vec::new();
    check_text(&mut v, field, reason.trim(), usize::from(required), MAX_REASON_CHARS);
    match v.is_empty() {
        true => Ok(()),
        false => Err(Error::invalid_fields(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Enterprise {
        Enterprise {
            credit_code: "91350100M000100Y43".into(),
            display_name: "西安航天动力有限公司".into(),
            industry_code: "C3742".into(),
            region_code: "610116".into(),
            tags: vec!["专精特新".into()],
            ..Default::default()
        }
    }

    fn violations(result: Result<()>) -> Vec<(String, &'static str)> {
        match result {
            Err(Error::InvalidArgument { violations, .. }) => {
                violations.into_iter().map(|v| (v.field, v.reason)).collect()
            }
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn valid_sample_passes() {
        assert!(sample().validate(&Rules::default()).is_ok());
    }

    #[test]
    fn empty_and_oversized_names_are_rejected() {
        let mut e = sample();
        e.display_name = String::new();
        assert_eq!(violations(e.validate(&Rules::default())), vec![("display_name".to_string(), "REQUIRED")]);
        e.display_name = "名".repeat(10_000);
        assert_eq!(violations(e.validate(&Rules::default())), vec![("display_name".to_string(), "TOO_LONG")]);
        e.display_name = "a\nb".into();
        assert_eq!(violations(e.validate(&Rules::default())), vec![("display_name".to_string(), "CONTROL_CHARACTER")]);
    }

    #[test]
    fn reports_every_violation_at_once() {
        let mut e = sample();
        e.industry_code = "D37".into();
        e.region_code = "61011".into();
        e.founding_date = "2023-02-30".into();
        e.tags = vec!["a,b".into()];
        e.contacts = vec![Contact { name: String::new(), email: "nobody".into(), ..Default::default() }];
        let fields: Vec<String> = violations(e.validate(&Rules::default())).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            ["industry_code", "region_code", "founding_date", "contacts[0].name", "contacts[0].email", "tags[0]"]
        );
    }

    #[test]
    fn invisible_names_bidi_overrides_and_script_websites_are_refused() {
        let mut e = sample();
        e.display_name = "\u{200B}\u{200D}\u{FEFF}".into();
        assert_eq!(violations(e.validate(&Rules::default())), vec![("display_name".to_string(), "REQUIRED")]);
        e.display_name = "西安\u{202E}司公限有".into();
        assert_eq!(violations(e.validate(&Rules::default())), vec![("display_name".to_string(), "BIDI_CONTROL")]);
        e.display_name = sample().display_name;
        for bad in ["javascript:alert(1)", "JavaScript://x.cn/%0aalert(1)", "data:text/html,x", "file:///etc/passwd"] {
            e.website = bad.into();
            assert_eq!(
                violations(e.validate(&Rules::default())),
                vec![("website".to_string(), "INVALID_WEBSITE")],
                "{bad}"
            );
        }
        for good in ["https://www.casc.com.cn", "http://例子.中国/关于", "www.xaht.cn", "xaht.cn:8080/a?b=1"] {
            e.website = good.into();
            assert!(e.validate(&Rules::default()).is_ok(), "{good}");
        }
    }

    #[test]
    fn sizes_are_checked_before_anything_else() {
        let mut e = sample();
        assert!(e.check_sizes().is_ok());
        e.notes = "注".repeat(MAX_NOTES_CHARS);
        assert!(e.check_sizes().is_ok(), "the limit itself is allowed");
        e.notes = "x".repeat(4 << 20);
        e.credit_code = "9".repeat(1 << 20);
        e.tags = vec!["t".into(); MAX_TAGS + 1];
        assert_eq!(
            violations(e.check_sizes()),
            vec![
                ("credit_code".to_string(), "TOO_LONG"),
                ("notes".to_string(), "TOO_LONG"),
                ("tags".to_string(), "TOO_MANY")
            ]
        );
    }

    #[test]
    fn zone_must_be_configured_when_zones_exist() {
        let mut e = sample();
        e.promotion_zone = "north".into();
        assert!(e.validate(&Rules::default()).is_ok());
        let rules = Rules { zones: vec!["east".into()] };
        assert_eq!(violations(e.validate(&rules)), vec![("promotion_zone".to_string(), "UNKNOWN_ZONE")]);
    }

    #[test]
    fn normalise_trims_canonicalises_and_dedupes() {
        let mut e = sample();
        e.display_name = "  西安航天  ".into();
        e.industry_code = " 3742 ".into();
        e.tags = vec![" 储能 ".into(), "储能".into(), "电芯".into()];
        e.normalise();
        assert_eq!(e.display_name, "西安航天");
        assert_eq!(e.industry_code, "C3742");
        assert_eq!(e.tags, vec!["储能", "电芯"]);
    }

    #[test]
    fn mask_update_keeps_former_name_and_diff_names_fields() {
        let old = sample();
        let mut new = old.clone();
        let patch = Enterprise {
            display_name: "西安航天新名有限公司".into(),
            notes: "ignored: not in mask".into(),
            ..Default::default()
        };
        new.apply_mask(&patch, &["display_name".into()], 42).unwrap();
        assert_eq!(new.display_name, "西安航天新名有限公司");
        assert_eq!(new.notes, "");
        assert_eq!(new.former_names, vec![FormerName { display_name: old.display_name.clone(), change_time: 42 }]);
        let fields: Vec<String> = Enterprise::diff(&old, &new).into_iter().map(|c| c.field).collect();
        assert_eq!(fields, ["display_name", "former_names"]);
    }

    #[test]
    fn mask_rejects_unknown_read_only_and_empty_paths() {
        let mut e = sample();
        let patch = sample();
        let reasons = |paths: &[&str], e: &mut Enterprise| match e.apply_mask(
            &patch,
            &paths.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            0,
        ) {
            Err(Error::InvalidArgument { violations, .. }) => {
                violations.into_iter().map(|v| v.reason).collect::<Vec<_>>()
            }
            other => panic!("expected error, got {other:?}"),
        };
        assert_eq!(reasons(&["colour"], &mut e), vec!["UNKNOWN_FIELD"]);
        assert_eq!(reasons(&["credit_code", "etag"], &mut e), vec!["FIELD_NOT_UPDATABLE", "FIELD_NOT_UPDATABLE"]);
        assert_eq!(reasons(&[], &mut e), vec!["EMPTY_UPDATE_MASK"]);
        assert_eq!(e, sample(), "a rejected mask changes nothing");
    }

    #[test]
    fn populated_fields_is_the_implied_mask() {
        let patch =
            Enterprise {
                address: "西安市长安区航天大道1号".into(), tags: vec!["x".into()], ..Default::default()
            };
        assert_eq!(patch.populated_fields(), ["address", "tags"]);
    }

    #[test]
    fn resource_names_parse_and_normalise() {
        assert_eq!(parse_resource_name("name", "enterprises/91350100m000100y43").unwrap(), "91350100M000100Y43");
        assert!(parse_resource_name("name", "companies/91350100M000100Y43").is_err());
        assert!(parse_resource_name("name", "enterprises/123").is_err());
    }

    #[test]
    fn create_refuses_a_taken_code_and_says_if_deleted() {
        let mut deleted = sample();
        deleted.delete_time = 5;
        match create(Some(deleted), sample(), [0; 16], 1) {
            Err(Error::AlreadyExists { deleted: true, .. }) => {}
            other => panic!("expected AlreadyExists(deleted), got {other:?}"),
        }
        let (kind, created) = create(None, sample(), [7; 16], 9).unwrap();
        assert_eq!(kind, ChangeKind::Created);
        assert_eq!((created.create_time, created.update_time, created.uid.len()), (9, 9, 16));
    }

    #[test]
    fn stale_etag_aborts_and_matching_etag_passes() {
        let mut stored = sample();
        stored.revision = 3;
        let patch = Enterprise { notes: "n".into(), ..Default::default() };
        let mask = vec!["notes".to_string()];
        let err =
            update(Some(stored.clone()), "enterprises/x", &patch, &mask, "0000000000000002", &Rules::default(), 1)
                .unwrap_err();
        assert_eq!(err.reason(), "ETAG_MISMATCH");
        let (_, updated) =
            update(Some(stored.clone()), "enterprises/x", &patch, &mask, &stored.etag(), &Rules::default(), 1).unwrap();
        assert_eq!(updated.notes, "n");
    }

    #[test]
    fn update_validates_the_result_with_request_paths() {
        let patch = Enterprise { industry_code: "Z99".into(), ..Default::default() };
        let err = update(Some(sample()), "enterprises/x", &patch, &["industry_code".into()], "", &Rules::default(), 1)
            .unwrap_err();
        match err {
            Error::InvalidArgument { violations, .. } => {
                assert_eq!(violations[0].field, "enterprise.industry_code")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn delete_and_undelete_follow_the_state() {
        let (_, deleted) = delete(Some(sample()), "n", "", "注销", 5).unwrap();
        assert!(deleted.is_deleted());
        assert_eq!(deleted.delete_reason, "注销");
        assert_eq!(delete(Some(deleted.clone()), "n", "", "", 6).unwrap_err().reason(), "ALREADY_DELETED");
        let (kind, restored) = undelete(Some(deleted), "n", "", 7).unwrap();
        assert_eq!(kind, ChangeKind::Undeleted);
        assert!(!restored.is_deleted() && restored.delete_reason.is_empty());
        assert_eq!(undelete(Some(restored), "n", "", 8).unwrap_err().reason(), "NOT_DELETED");
        assert!(matches!(undelete(None, "n", "", 8), Err(Error::NotFound { .. })));
    }

    #[test]
    fn a_padded_name_is_not_a_rename() {
        let stored = sample();
        let patch = Enterprise { display_name: format!("  {}  ", stored.display_name), ..Default::default() };
        let (_, updated) =
            update(Some(stored.clone()), "n", &patch, &["display_name".into()], "", &Rules::default(), 1).unwrap();
        assert!(updated.former_names.is_empty());
        assert!(Enterprise::diff(&stored, &updated).is_empty());
    }

    #[test]
    fn deleted_records_cannot_be_updated() {
        let (_, deleted) = delete(Some(sample()), "n", "", "", 1).unwrap();
        let patch = Enterprise { notes: "x".into(), ..Default::default() };
        let err = update(Some(deleted), "n", &patch, &["notes".into()], "", &Rules::default(), 2).unwrap_err();
        assert_eq!(err.reason(), "DELETED");
    }

    #[test]
    fn zone_ids_are_checked_even_without_configured_zones() {
        let mut e = sample();
        e.promotion_zone = "a\u{0}b".into();
        assert_eq!(
            violations(e.validate(&Rules::default())),
            vec![("promotion_zone".to_string(), "CONTROL_CHARACTER")]
        );
        e.promotion_zone = "z".repeat(MAX_ZONE_CHARS + 1);
        assert_eq!(violations(e.validate(&Rules::default())), vec![("promotion_zone".to_string(), "TOO_LONG")]);
        e.promotion_zone = "east zone".into();
        assert_eq!(violations(e.validate(&Rules::default())), vec![("promotion_zone".to_string(), "INVALID_ZONE")]);
    }
}
