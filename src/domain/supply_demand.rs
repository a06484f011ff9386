//! Supply–demand postings (供需信息) and matches (对接): the records, their
//! validation and their rules.
//!
//! A posting is a firm's supply or demand. It is OPEN or CLOSED in storage;
//! EXPIRED is derived on read from `valid_until`, so expiry needs no write. A
//! match links one supply and one demand of two different firms and moves
//! forward through [`MatchState`], each step recorded as a [`MatchEvent`].

use crate::domain::change::ChangeKind;
use crate::domain::enterprise::{Enterprise, FieldChange};
use crate::domain::industry::IndustryCode;
use crate::domain::time::{Date, Micros};
use crate::domain::update::{self, check_multiline, check_text, diff_rendered};
use crate::error::{Error, FieldViolation, Result};

/// Shortest posting title, in characters.
pub const MIN_TITLE_CHARS: usize = 2;
/// Longest posting title, in characters.
pub const MAX_TITLE_CHARS: usize = 100;
/// Longest posting description or match notes, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Most product tags on a posting.
pub const MAX_TAGS: usize = 20;
/// Longest product tag, in characters.
pub const MAX_TAG_CHARS: usize = 20;
/// Longest chain segment, in characters.
pub const MAX_SEGMENT_CHARS: usize = 50;
/// Longest unit, in characters.
pub const MAX_UNIT_CHARS: usize = 10;
/// Largest quantity.
pub const MAX_QUANTITY: f64 = 1e12;
/// Largest amount in 万元 (one trillion yuan).
pub const MAX_AMOUNT_WAN: f64 = 1e8;
/// Longest close note or match step note, in characters.
pub const MAX_NOTE_CHARS: usize = 500;
/// Longest broker name, in characters.
pub const MAX_BROKER_CHARS: usize = 100;

/// Supply or demand. Numbers match `ladder.v1.PostingKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PostingKind {
    /// Not set.
    Unspecified = 0,
    /// 供给.
    Supply = 1,
    /// 需求.
    Demand = 2,
}

impl PostingKind {
    /// The kind that serves this one (supply ↔ demand).
    pub fn counterpart(self) -> PostingKind {
        match self {
            Self::Supply => Self::Demand,
            Self::Demand => Self::Supply,
            Self::Unspecified => Self::Unspecified,
        }
    }

    /// `SUPPLY` or `DEMAND`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::Supply => "SUPPLY",
            Self::Demand => "DEMAND",
        }
    }

    /// 供给 or 需求.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Unspecified => "未指定",
            Self::Supply => "供给",
            Self::Demand => "需求",
        }
    }

    /// Parses `SUPPLY`, `supply`, `POSTING_KIND_SUPPLY`, 供给/供应 (and the same for demand).
    pub fn parse(s: &str) -> Option<PostingKind> {
        let s = s.trim();
        let upper = s.to_ascii_uppercase();
        match upper.strip_prefix("POSTING_KIND_").unwrap_or(&upper) {
            "SUPPLY" | "供给" | "供应" => Some(Self::Supply),
            "DEMAND" | "需求" => Some(Self::Demand),
            _ => None,
        }
    }

    /// The kind with this number (unknown numbers are `Unspecified`).
    pub fn of(v: i32) -> PostingKind {
        PostingKind::try_from(v).unwrap_or(PostingKind::Unspecified)
    }
}

/// Open, closed, or (derived) expired. Numbers match `ladder.v1.PostingState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PostingState {
    /// Not set.
    Unspecified = 0,
    /// Open.
    Open = 1,
    /// Closed by staff.
    Closed = 2,
    /// Past its validity window; never stored.
    Expired = 3,
}

impl PostingState {
    /// `OPEN`, `CLOSED` or `EXPIRED`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::Open => "OPEN",
            Self::Closed => "CLOSED",
            Self::Expired => "EXPIRED",
        }
    }

    /// Parses a name, with or without the `POSTING_STATE_` prefix.
    pub fn parse(s: &str) -> Option<PostingState> {
        let upper = s.trim().to_ascii_uppercase();
        [Self::Open, Self::Closed, Self::Expired]
            .into_iter()
            .find(|k| k.name() == upper.strip_prefix("POSTING_STATE_").unwrap_or(&upper))
    }
}

/// Why a posting was closed. Numbers match `ladder.v1.PostingCloseReason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PostingCloseReason {
    /// Not set.
    Unspecified = 0,
    /// 已满足.
    Fulfilled = 1,
    /// 撤回.
    Withdrawn = 2,
    /// 误录.
    Mistake = 3,
    /// Other (say what in the note).
    Other = 4,
}

impl PostingCloseReason {
    /// Every reason a person can give.
    pub const ALL: [PostingCloseReason; 4] = [Self::Fulfilled, Self::Withdrawn, Self::Mistake, Self::Other];

    /// `FULFILLED`, `WITHDRAWN`, …
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::Fulfilled => "FULFILLED",
            Self::Withdrawn => "WITHDRAWN",
            Self::Mistake => "MISTAKE",
            Self::Other => "OTHER",
        }
    }

    /// Parses a name, with or without the `POSTING_CLOSE_REASON_` prefix.
    pub fn parse(s: &str) -> Option<PostingCloseReason> {
        let upper = s.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("POSTING_CLOSE_REASON_").unwrap_or(&upper);
        Self::ALL.into_iter().find(|r| r.name() == bare)
    }
}

/// The list a posting was collected in. Numbers match `ladder.v1.SourceList`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SourceList {
    /// Not set.
    Unspecified = 0,
    /// 需求清单.
    Demand = 1,
    /// 供给清单.
    Supply = 2,
    /// 采购清单.
    Procurement = 3,
    /// 协作机会清单.
    Collaboration = 4,
}

impl SourceList {
    /// Every list.
    pub const ALL: [SourceList; 4] = [Self::Demand, Self::Supply, Self::Procurement, Self::Collaboration];

    /// `DEMAND`, `SUPPLY`, `PROCUREMENT`, `COLLABORATION`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::Demand => "DEMAND",
            Self::Supply => "SUPPLY",
            Self::Procurement => "PROCUREMENT",
            Self::Collaboration => "COLLABORATION",
        }
    }

    /// Chinese label, e.g. 采购清单.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Unspecified => "",
            Self::Demand => "需求清单",
            Self::Supply => "供给清单",
            Self::Procurement => "采购清单",
            Self::Collaboration => "协作机会清单",
        }
    }

    /// Parses a name (with or without `SOURCE_LIST_`) or the Chinese label.
    pub fn parse(s: &str) -> Option<SourceList> {
        let s = s.trim();
        let upper = s.to_ascii_uppercase();
        let bare = upper.strip_prefix("SOURCE_LIST_").unwrap_or(&upper);
        Self::ALL.into_iter().find(|l| l.name() == bare || l.label_zh() == s)
    }
}

/// A firm's supply or demand, as stored.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Posting {
    /// Server-assigned id (time-ordered hex).
    #[prost(string, tag = "1")]
    pub id: String,
    /// The posting firm.
    #[prost(string, tag = "2")]
    pub credit_code: String,
    /// Supply or demand.
    #[prost(enumeration = "PostingKind", tag = "3")]
    pub kind: i32,
    /// Title.
    #[prost(string, tag = "4")]
    pub title: String,
    /// Description.
    #[prost(string, tag = "5")]
    pub description: String,
    /// GB/T 4754 code, canonical.
    #[prost(string, tag = "6")]
    pub industry_code: String,
    /// Product tags.
    #[prost(string, repeated, tag = "7")]
    pub product_tags: Vec<String>,
    /// Chain segment.
    #[prost(string, tag = "8")]
    pub chain_segment: String,
    /// Quantity (0 = none).
    #[prost(double, tag = "9")]
    pub quantity: f64,
    /// Unit of the quantity.
    #[prost(string, tag = "10")]
    pub unit: String,
    /// Amount in 万元 (0 = none).
    #[prost(double, tag = "11")]
    pub amount_wan: f64,
    /// 6-digit region.
    #[prost(string, tag = "12")]
    pub region_code: String,
    /// Counts as in the zone.
    #[prost(bool, tag = "13")]
    pub in_zone: bool,
    /// First valid day.
    #[prost(string, tag = "14")]
    pub valid_from: String,
    /// Last valid day, or empty.
    #[prost(string, tag = "15")]
    pub valid_until: String,
    /// Alliance it is visible to, or empty for the whole zone.
    #[prost(string, tag = "16")]
    pub visibility_alliance_id: String,
    /// Source list.
    #[prost(enumeration = "SourceList", tag = "17")]
    pub source_list: i32,
    /// OPEN or CLOSED (EXPIRED is derived).
    #[prost(enumeration = "PostingState", tag = "18")]
    pub state: i32,
    /// Why it was closed.
    #[prost(enumeration = "PostingCloseReason", tag = "19")]
    pub close_reason: i32,
    /// Close note.
    #[prost(string, tag = "20")]
    pub close_note: String,
    /// Segmented keywords (derived from title, description and tags).
    #[prost(string, repeated, tag = "21")]
    pub keywords: Vec<String>,
    /// Creation time.
    #[prost(int64, tag = "22")]
    pub create_time: Micros,
    /// Last change.
    #[prost(int64, tag = "23")]
    pub update_time: Micros,
    /// When it was closed.
    #[prost(int64, tag = "24")]
    pub close_time: Micros,
    /// Change-log revision of the last change.
    #[prost(uint64, tag = "25")]
    pub revision: u64,
}

/// Resource name of a posting.
pub fn posting_name(id: &str) -> String {
    format!("postings/{id}")
}

/// Resource name of a match.
pub fn match_name(id: &str) -> String {
    format!("matches/{id}")
}

/// A new time-ordered id: microseconds since 1970 (13 hex digits) and 5
/// random hex digits, so ids sort by creation time and two writes would
/// have to share a microsecond and 20 random bits to collide.
pub fn new_id(now: Micros) -> String {
    let micros = u64::try_from(now).unwrap_or(0);
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{micros:013x}{}", &random[..5])
}

/// Checks the id part of a resource name: 1–32 lower-case hex digits.
pub fn check_id(field: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(Error::invalid_field(field, "INVALID_RESOURCE_NAME", format!("{id:?} is not an id (hex digits)")));
    }
    Ok(())
}

/// `{collection}{id}` → the checked id.
pub fn parse_name<'a>(field: &str, name: &'a str, collection: &str) -> Result<&'a str> {
    let id = name.trim().strip_prefix(collection).ok_or_else(|| {
        Error::invalid_field(field, "INVALID_RESOURCE_NAME", format!("{name:?} is not of the form {collection}{{id}}"))
    })?;
    check_id(field, id)?;
    Ok(id)
}

impl Posting {
    /// Resource name.
    pub fn resource_name(&self) -> String {
        posting_name(&self.id)
    }

    /// Opaque etag.
    pub fn etag(&self) -> String {
        update::etag(self.revision)
    }

    /// Its state on `today`: a stored OPEN posting past `valid_until` is EXPIRED.
    pub fn state_on(&self, today: Date) -> PostingState {
        match self.state() {
            PostingState::Open if self.expired_on(today) => PostingState::Expired,
            s => s,
        }
    }

    /// Whether `valid_until` is before `today`.
    pub fn expired_on(&self, today: Date) -> bool {
        Date::parse(&self.valid_until).is_some_and(|until| until < today)
    }

    /// Whether it is stored OPEN and not past its window on `today`.
    pub fn is_open_on(&self, today: Date) -> bool {
        self.state_on(today) == PostingState::Open
    }

    /// The parsed category (stored codes are always valid).
    pub fn category(&self) -> Option<IndustryCode> {
        IndustryCode::parse(&self.industry_code).ok()
    }

    /// Trims text, cleans tags (trimmed, de-duplicated, order kept) and
    /// rounds the amount to 4 decimals (one yuan).
    pub fn normalise(&mut self) {
        for f in [&mut self.title, &mut self.chain_segment, &mut self.unit, &mut self.region_code] {
            *f = f.trim().to_string();
        }
        for f in [&mut self.valid_from, &mut self.valid_until, &mut self.visibility_alliance_id] {
            *f = f.trim().to_string();
        }
        self.description = self.description.trim().to_string();
        if let Ok(code) = IndustryCode::parse(&self.industry_code) {
            self.industry_code = code.as_str().to_string();
        }
        let mut tags: Vec<String> = Vec::new();
        for t in self.product_tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
            if !tags.iter().any(|seen| seen == t) {
                tags.push(t.to_string());
            }
        }
        self.product_tags = tags;
        if self.amount_wan.is_finite() {
            self.amount_wan = round_wan(self.amount_wan);
        }
    }

    /// Checks every field a person sets, reporting all violations at once.
    pub fn validate(&self) -> Result<()> {
        let mut v = Vec::new();
        match PostingKind::try_from(self.kind) {
            Ok(PostingKind::Unspecified) => {
                v.push(FieldViolation::new("kind", "REQUIRED", "is required (SUPPLY or DEMAND)"))
            }
            Err(_) => {
                v.push(FieldViolation::new("kind", "INVALID_ENUM", format!("{} is not a PostingKind", self.kind)))
            }
            Ok(_) => {}
        }
        if SourceList::try_from(self.source_list).is_err() {
            v.push(FieldViolation::new(
                "source_list",
                "INVALID_ENUM",
                format!("{} is not a SourceList", self.source_list),
            ));
        }
        check_text(&mut v, "title", &self.title, MIN_TITLE_CHARS, MAX_TITLE_CHARS);
        check_multiline(&mut v, "description", &self.description, MAX_DESCRIPTION_CHARS);
        if self.industry_code.is_empty() {
            v.push(FieldViolation::new("industry_code", "REQUIRED", "is required (a GB/T 4754 code such as C3841)"));
        } else if let Err(e) = IndustryCode::parse(&self.industry_code) {
            v.push(FieldViolation::new("industry_code", e.reason(), e.to_string()));
        }
        if self.product_tags.len() > MAX_TAGS {
            v.push(FieldViolation::new("product_tags", "TOO_MANY", format!("at most {MAX_TAGS} tags")));
        }
        for (i, tag) in self.product_tags.iter().enumerate() {
            check_text(&mut v, &format!("product_tags[{i}]"), tag, 1, MAX_TAG_CHARS);
        }
        check_text(&mut v, "chain_segment", &self.chain_segment, 0, MAX_SEGMENT_CHARS);
        check_text(&mut v, "unit", &self.unit, 0, MAX_UNIT_CHARS);
        number(&mut v, "quantity", self.quantity, MAX_QUANTITY);
        number(&mut v, "amount_wan", self.amount_wan, MAX_AMOUNT_WAN);
        if self.quantity > 0.0 && self.unit.is_empty() {
            v.push(FieldViolation::new("unit", "REQUIRED", "is required with a quantity (e.g. 套, 吨, 件)"));
        }
        if self.quantity == 0.0 && !self.unit.is_empty() {
            v.push(FieldViolation::new("quantity", "REQUIRED", format!("a unit ({}) needs a quantity", self.unit)));
        }
        if self.kind() == PostingKind::Demand && self.quantity == 0.0 && self.amount_wan == 0.0 {
            v.push(FieldViolation::new(
                "quantity",
                "QUANTITY_OR_AMOUNT_REQUIRED",
                "a demand needs a quantity (with unit) or an amount_wan",
            ));
        }
        if self.region_code.len() != 6 || !self.region_code.bytes().all(|b| b.is_ascii_digit()) {
            v.push(FieldViolation::new(
                "region_code",
                "INVALID_REGION_CODE",
                format!("{:?} is not a 6-digit GB/T 2260 division code", self.region_code),
            ));
        }
        let from = Date::parse(&self.valid_from);
        if from.is_none() {
            v.push(FieldViolation::new(
                "valid_from",
                "INVALID_DATE",
                format!("{:?} is not a real date YYYY-MM-DD", self.valid_from),
            ));
        }
        if !self.valid_until.is_empty() {
            match (from, Date::parse(&self.valid_until)) {
                (_, None) => v.push(FieldViolation::new(
                    "valid_until",
                    "INVALID_DATE",
                    format!("{:?} is not a real date YYYY-MM-DD", self.valid_until),
                )),
                (Some(from), Some(until)) if until < from => v.push(FieldViolation::new(
                    "valid_until",
                    "UNTIL_BEFORE_FROM",
                    format!("{until} is before valid_from {from}"),
                )),
                _ => {}
            }
        }
        if v.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid_fields(v))
        }
    }

    /// The fields that differ, rendered, for the change log.
    pub fn diff(old: &Posting, new: &Posting) -> Vec<FieldChange> {
        let render = |p: &Posting| {
            let num = |x: f64| if x == 0.0 { String::new() } else { format!("{x}") };
            [
                ("credit_code", p.credit_code.clone()),
                ("kind", if p.kind == 0 { String::new() } else { p.kind().name().to_string() }),
                ("title", p.title.clone()),
                ("description", p.description.clone()),
                ("industry_code", p.industry_code.clone()),
                ("product_tags", p.product_tags.join(", ")),
                ("chain_segment", p.chain_segment.clone()),
                ("quantity", num(p.quantity)),
                ("unit", p.unit.clone()),
                ("amount_wan", num(p.amount_wan)),
                ("region_code", p.region_code.clone()),
                ("in_zone", p.in_zone.to_string()),
                ("valid_from", p.valid_from.clone()),
                ("valid_until", p.valid_until.clone()),
                ("visibility_alliance_id", p.visibility_alliance_id.clone()),
                ("source_list", p.source_list().name().to_string()),
                ("state", p.state().name().to_string()),
                ("close_reason", if p.close_reason == 0 { String::new() } else { p.close_reason().name().to_string() }),
                ("close_note", p.close_note.clone()),
            ]
        };
        diff_rendered(render(old), render(new))
    }
}

/// Fields of a posting an update may name.
pub const POSTING_UPDATABLE: &[&str] = &[
    "title",
    "description",
    "industry_code",
    "product_tags",
    "chain_segment",
    "quantity",
    "unit",
    "amount_wan",
    "region_code",
    "in_zone",
    "valid_from",
    "valid_until",
    "visibility_alliance_id",
    "source_list",
];
/// Fields of a posting that exist but an update cannot change.
const POSTING_READ_ONLY: &[&str] = &[
    "name",
    "credit_code",
    "enterprise_display_name",
    "kind",
    "state",
    "close_reason",
    "close_note",
    "keywords",
    "etag",
    "revision",
    "create_time",
    "update_time",
    "close_time",
];

/// A posting's defaults that come from its firm and the day.
#[derive(Debug, Clone)]
pub struct PostingDefaults {
    /// The firm's registered region.
    pub region_code: String,
    /// Whether the firm has a promotion zone.
    pub in_zone: bool,
    /// Today (China time).
    pub today: Date,
}

impl PostingDefaults {
    /// The defaults of a posting by `firm` on `today`.
    pub fn of(firm: &Enterprise, today: Date) -> PostingDefaults {
        PostingDefaults { region_code: firm.region_code.clone(), in_zone: !firm.promotion_zone.is_empty(), today }
    }
}

/// Posts a supply or demand: fills the defaults (`in_zone` = `None` takes
/// the firm's), validates, and derives the keywords.
pub fn create_posting(
    current: Option<Posting>,
    mut input: Posting,
    in_zone: Option<bool>,
    defaults: &PostingDefaults,
    now: Micros,
) -> Result<(ChangeKind, Posting)> {
    if let Some(existing) = current {
        return Err(Error::AlreadyExists { resource: existing.resource_name(), deleted: false });
    }
    if input.region_code.trim().is_empty() {
        input.region_code.clone_from(&defaults.region_code);
    }
    if input.valid_from.trim().is_empty() {
        input.valid_from = defaults.today.to_string();
    }
    input.in_zone = in_zone.unwrap_or(defaults.in_zone);
    input.normalise();
    input.validate().map_err(|e| e.in_field("posting"))?;
    if input.expired_on(defaults.today) {
        return Err(Error::invalid_field(
            "posting.valid_until",
            "VALIDITY_PAST",
            format!("{} is already past: a new posting must still be valid today", input.valid_until),
        ));
    }
    input.keywords = crate::domain::matching::keywords(&input.title, &input.description, &input.product_tags);
    input.state = PostingState::Open as i32;
    input.close_reason = 0;
    input.close_note.clear();
    input.create_time = now;
    input.update_time = now;
    input.close_time = 0;
    Ok((ChangeKind::Created, input))
}

/// Applies a field-mask update to an open (or expired) posting.
#[allow(clippy::too_many_arguments)]
pub fn update_posting(
    current: Option<Posting>,
    name: &str,
    patch: &Posting,
    in_zone: Option<bool>,
    mask: &[String],
    etag: &str,
    defaults: &PostingDefaults,
    now: Micros,
) -> Result<(ChangeKind, Posting)> {
    let mut p = update::existing(current, name, etag, Posting::etag)?;
    if p.state() == PostingState::Closed {
        return Err(Error::FailedPrecondition {
            reason: "POSTING_CLOSED",
            message: format!("{name} is closed: post a new one instead"),
        });
    }
    let paths = update::expand_mask(mask, POSTING_UPDATABLE, POSTING_READ_ONLY, "Posting")?;
    let before = p.clone();
    for path in paths {
        match path {
            "title" => p.title.clone_from(&patch.title),
            "description" => p.description.clone_from(&patch.description),
            "industry_code" => p.industry_code.clone_from(&patch.industry_code),
            "product_tags" => p.product_tags.clone_from(&patch.product_tags),
            "chain_segment" => p.chain_segment.clone_from(&patch.chain_segment),
            "quantity" => p.quantity = patch.quantity,
            "unit" => p.unit.clone_from(&patch.unit),
            "amount_wan" => p.amount_wan = patch.amount_wan,
            "region_code" => {
                p.region_code = if patch.region_code.trim().is_empty() {
                    defaults.region_code.clone()
                } else {
                    patch.region_code.clone()
                }
            }
            "in_zone" => p.in_zone = in_zone.unwrap_or(defaults.in_zone),
            "valid_from" => {
                p.valid_from = if patch.valid_from.trim().is_empty() {
                    Date::china(p.create_time).to_string()
                } else {
                    patch.valid_from.clone()
                }
            }
            "valid_until" => p.valid_until.clone_from(&patch.valid_until),
            "visibility_alliance_id" => p.visibility_alliance_id.clone_from(&patch.visibility_alliance_id),
            "source_list" => p.source_list = patch.source_list,
            _ => unreachable!("expand_mask only returns updatable fields"),
        }
    }
    p.normalise();
    p.validate().map_err(|e| e.in_field("posting"))?;
    if Posting::diff(&before, &p).is_empty() {
        return Ok((ChangeKind::Updated, before));
    }
    p.keywords = crate::domain::matching::keywords(&p.title, &p.description, &p.product_tags);
    p.update_time = now;
    Ok((ChangeKind::Updated, p))
}

/// Closes an open or expired posting with a reason.
pub fn close_posting(
    current: Option<Posting>,
    name: &str,
    reason: PostingCloseReason,
    note: &str,
    etag: &str,
    now: Micros,
) -> Result<(ChangeKind, Posting)> {
    let mut p = update::existing(current, name, etag, Posting::etag)?;
    let note = note.trim();
    let mut v = Vec::new();
    if reason == PostingCloseReason::Unspecified {
        v.push(FieldViolation::new("reason", "REQUIRED", "is required (FULFILLED, WITHDRAWN, MISTAKE or OTHER)"));
    }
    if reason == PostingCloseReason::Other && note.is_empty() {
        v.push(FieldViolation::new("note", "REQUIRED", "say why when the reason is OTHER"));
    }
    check_text(&mut v, "note", note, 0, MAX_NOTE_CHARS);
    if !v.is_empty() {
        return Err(Error::invalid_fields(v));
    }
    if p.state() == PostingState::Closed {
        return Err(Error::FailedPrecondition {
            reason: "ALREADY_CLOSED",
            message: format!("{name} is already closed ({})", p.close_reason().name()),
        });
    }
    p.state = PostingState::Closed as i32;
    p.close_reason = reason as i32;
    p.close_note = note.to_string();
    p.close_time = now;
    p.update_time = now;
    Ok((ChangeKind::Updated, p))
}

/// Where a match is. Numbers match `ladder.v1.MatchState`; the order of the
/// open states is the order of progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MatchState {
    /// Not set.
    Unspecified = 0,
    /// 已推荐.
    Proposed = 1,
    /// 已对接.
    Contacted = 2,
    /// 洽谈中.
    Negotiating = 3,
    /// 已签约.
    Signed = 4,
    /// 已交付.
    Delivered = 5,
    /// 已关闭.
    Closed = 6,
}

impl MatchState {
    /// Every state, in order of progress (CLOSED last).
    pub const ALL: [MatchState; 6] =
        [Self::Proposed, Self::Contacted, Self::Negotiating, Self::Signed, Self::Delivered, Self::Closed];

    /// `PROPOSED`, `CONTACTED`, …
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::Proposed => "PROPOSED",
            Self::Contacted => "CONTACTED",
            Self::Negotiating => "NEGOTIATING",
            Self::Signed => "SIGNED",
            Self::Delivered => "DELIVERED",
            Self::Closed => "CLOSED",
        }
    }

    /// Chinese label, e.g. 洽谈中.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Unspecified => "未指定",
            Self::Proposed => "已推荐",
            Self::Contacted => "已对接",
            Self::Negotiating => "洽谈中",
            Self::Signed => "已签约",
            Self::Delivered => "已交付",
            Self::Closed => "已关闭",
        }
    }

    /// Parses a name (with or without `MATCH_STATE_`) or the Chinese label.
    pub fn parse(s: &str) -> Option<MatchState> {
        let s = s.trim();
        let upper = s.to_ascii_uppercase();
        let bare = upper.strip_prefix("MATCH_STATE_").unwrap_or(&upper);
        Self::ALL.into_iter().find(|st| st.name() == bare || st.label_zh() == s)
    }

    /// Whether nothing can follow it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Closed)
    }

    /// Whether a deal was signed (SIGNED or DELIVERED).
    pub fn is_signed(self) -> bool {
        matches!(self, Self::Signed | Self::Delivered)
    }
}

/// Why a match closed. Numbers match `ladder.v1.MatchCloseReason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MatchCloseReason {
    /// Not set.
    Unspecified = 0,
    /// 不匹配.
    NoFit = 1,
    /// 已过期.
    Expired = 2,
    /// 撤回.
    Withdrawn = 3,
}

impl MatchCloseReason {
    /// `NO_FIT`, `EXPIRED`, `WITHDRAWN`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::NoFit => "NO_FIT",
            Self::Expired => "EXPIRED",
            Self::Withdrawn => "WITHDRAWN",
        }
    }

    /// Parses a name, with or without `MATCH_CLOSE_REASON_`.
    pub fn parse(s: &str) -> Option<MatchCloseReason> {
        let upper = s.trim().to_ascii_uppercase().replace('-', "_");
        let bare = upper.strip_prefix("MATCH_CLOSE_REASON_").unwrap_or(&upper);
        [Self::NoFit, Self::Expired, Self::Withdrawn].into_iter().find(|r| r.name() == bare)
    }
}

/// How a match came about. Numbers match `ladder.v1.MatchOrigin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MatchOrigin {
    /// Not set.
    Unspecified = 0,
    /// From a suggestion.
    Suggested = 1,
    /// By hand.
    Manual = 2,
}

/// One step of a match.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MatchEvent {
    /// State entered.
    #[prost(enumeration = "MatchState", tag = "1")]
    pub state: i32,
    /// Effective date.
    #[prost(string, tag = "2")]
    pub date: String,
    /// Signed amount (SIGNED).
    #[prost(double, tag = "3")]
    pub amount_wan: f64,
    /// Close reason (CLOSED).
    #[prost(enumeration = "MatchCloseReason", tag = "4")]
    pub close_reason: i32,
    /// Note.
    #[prost(string, tag = "5")]
    pub note: String,
    /// Who recorded it.
    #[prost(string, tag = "6")]
    pub actor: String,
    /// When it was recorded.
    #[prost(int64, tag = "7")]
    pub record_time: Micros,
}

/// A brokered introduction (对接), as stored.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Match {
    /// Server-assigned id.
    #[prost(string, tag = "1")]
    pub id: String,
    /// Supply posting id.
    #[prost(string, tag = "2")]
    pub supply_posting_id: String,
    /// Demand posting id.
    #[prost(string, tag = "3")]
    pub demand_posting_id: String,
    /// Supplier.
    #[prost(string, tag = "4")]
    pub supplier_credit_code: String,
    /// Demanding firm.
    #[prost(string, tag = "5")]
    pub demander_credit_code: String,
    /// Current state.
    #[prost(enumeration = "MatchState", tag = "6")]
    pub state: i32,
    /// Why it closed.
    #[prost(enumeration = "MatchCloseReason", tag = "7")]
    pub close_reason: i32,
    /// Signed amount.
    #[prost(double, tag = "8")]
    pub amount_wan: f64,
    /// Signing date.
    #[prost(string, tag = "9")]
    pub signed_date: String,
    /// Broker.
    #[prost(string, tag = "10")]
    pub broker: String,
    /// Notes.
    #[prost(string, tag = "11")]
    pub notes: String,
    /// Origin.
    #[prost(enumeration = "MatchOrigin", tag = "12")]
    pub origin: i32,
    /// Score when created.
    #[prost(double, tag = "13")]
    pub score: f64,
    /// Reasons of that score.
    #[prost(string, repeated, tag = "14")]
    pub reasons: Vec<String>,
    /// Whether the supply was in the zone when created.
    #[prost(bool, tag = "15")]
    pub supplier_in_zone: bool,
    /// Every step, oldest first.
    #[prost(message, repeated, tag = "16")]
    pub events: Vec<MatchEvent>,
    /// Creation time.
    #[prost(int64, tag = "17")]
    pub create_time: Micros,
    /// Last change.
    #[prost(int64, tag = "18")]
    pub update_time: Micros,
    /// Change-log revision of the last change.
    #[prost(uint64, tag = "19")]
    pub revision: u64,
}

impl Match {
    /// Resource name.
    pub fn resource_name(&self) -> String {
        match_name(&self.id)
    }

    /// Opaque etag.
    pub fn etag(&self) -> String {
        update::etag(self.revision)
    }

    /// The fields that differ, rendered, for the change log.
    pub fn diff(old: &Match, new: &Match) -> Vec<FieldChange> {
        let render = |m: &Match| {
            [
                (
                    "supply_posting",
                    if m.supply_posting_id.is_empty() { String::new() } else { posting_name(&m.supply_posting_id) },
                ),
                (
                    "demand_posting",
                    if m.demand_posting_id.is_empty() { String::new() } else { posting_name(&m.demand_posting_id) },
                ),
                ("state", if m.state == 0 { String::new() } else { m.state().name().to_string() }),
                ("close_reason", if m.close_reason == 0 { String::new() } else { m.close_reason().name().to_string() }),
                ("amount_wan", if m.amount_wan == 0.0 { String::new() } else { format!("{}", m.amount_wan) }),
                ("signed_date", m.signed_date.clone()),
                ("broker", m.broker.clone()),
                ("notes", m.notes.clone()),
            ]
        };
        diff_rendered(render(old), render(new))
    }

    /// The date of its last step.
    fn last_date(&self) -> Option<Date> {
        self.events.last().and_then(|e| Date::parse(&e.date))
    }
}

/// Who records a match step, and when.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    /// The actor.
    pub actor: &'a str,
    /// Record time.
    pub now: Micros,
    /// Today (China time).
    pub today: Date,
}

/// What a new match starts from: the two postings and the pair's score.
#[derive(Debug, Clone)]
pub struct MatchInput {
    /// Broker.
    pub broker: String,
    /// Notes.
    pub notes: String,
    /// Origin (unspecified = manual).
    pub origin: MatchOrigin,
}

/// Records a match between a supply and a demand, checking that the pair can
/// be matched: one of each kind, two different firms, both open today.
pub fn create_match(
    id: String,
    supply: &Posting,
    demand: &Posting,
    input: MatchInput,
    score: (f64, Vec<String>),
    step: &Step<'_>,
) -> Result<Match> {
    let mut v = Vec::new();
    if supply.kind() != PostingKind::Supply {
        v.push(FieldViolation::new(
            "match.supply_posting",
            "KIND_MISMATCH",
            format!("{} is a {} posting, not a supply", supply.resource_name(), supply.kind().name()),
        ));
    }
    if demand.kind() != PostingKind::Demand {
        v.push(FieldViolation::new(
            "match.demand_posting",
            "KIND_MISMATCH",
            format!("{} is a {} posting, not a demand", demand.resource_name(), demand.kind().name()),
        ));
    }
    if v.is_empty() && supply.credit_code == demand.credit_code {
        v.push(FieldViolation::new(
            "match.demand_posting",
            "SAME_FIRM",
            format!("both postings are by {}: a match needs two different firms", supply.credit_code),
        ));
    }
    check_text(&mut v, "match.broker", &input.broker, 0, MAX_BROKER_CHARS);
    check_multiline(&mut v, "match.notes", &input.notes, MAX_DESCRIPTION_CHARS);
    if !v.is_empty() {
        return Err(Error::invalid_fields(v));
    }
    for p in [supply, demand] {
        match p.state_on(step.today) {
            PostingState::Open => {}
            state => {
                return Err(Error::FailedPrecondition {
                    reason: if state == PostingState::Expired { "POSTING_EXPIRED" } else { "POSTING_CLOSED" },
                    message: format!("{} is {}: only open postings can be matched", p.resource_name(), state.name()),
                })
            }
        }
    }
    let origin = if input.origin == MatchOrigin::Unspecified { MatchOrigin::Manual } else { input.origin };
    Ok(Match {
        id,
        supply_posting_id: supply.id.clone(),
        demand_posting_id: demand.id.clone(),
        supplier_credit_code: supply.credit_code.clone(),
        demander_credit_code: demand.credit_code.clone(),
        state: MatchState::Proposed as i32,
        broker: input.broker.trim().to_string(),
        notes: input.notes.trim().to_string(),
        origin: origin as i32,
        score: score.0,
        reasons: score.1,
        supplier_in_zone: supply.in_zone,
        events: vec![MatchEvent {
            state: MatchState::Proposed as i32,
            date: step.today.to_string(),
            actor: step.actor.to_string(),
            record_time: step.now,
            ..Default::default()
        }],
        create_time: step.now,
        update_time: step.now,
        ..Default::default()
    })
}

/// A requested step of a match.
#[derive(Debug, Clone)]
pub struct Advance {
    /// State to enter.
    pub to: MatchState,
    /// Signed amount (SIGNED only).
    pub amount_wan: f64,
    /// Close reason (CLOSED only).
    pub close_reason: MatchCloseReason,
    /// Effective date, or empty for today.
    pub date: String,
    /// Note.
    pub note: String,
}

/// Moves a match forward, or closes it. Forward moves may skip steps;
/// DELIVERED needs SIGNED first; nothing leaves DELIVERED or CLOSED.
pub fn advance_match(
    current: Option<Match>,
    name: &str,
    a: &Advance,
    etag: &str,
    step: &Step<'_>,
) -> Result<(ChangeKind, Match)> {
    let mut m = update::existing(current, name, etag, Match::etag)?;
    let from = m.state();
    let illegal = |why: String| Error::FailedPrecondition { reason: "ILLEGAL_TRANSITION", message: why };
    if from.is_final() {
        return Err(illegal(format!("{name} is {}: nothing can follow it", from.name())));
    }
    let mut v = Vec::new();
    let to = a.to;
    // A missing target is a malformed request; a target the state machine
    // does not allow from here (PROPOSED included: nothing moves back to
    // it) is ILLEGAL_TRANSITION like every other refused move, so a script
    // branches on one reason.
    if to == MatchState::Unspecified {
        v.push(FieldViolation::new(
            "state",
            "REQUIRED",
            "name the state to enter: CONTACTED, NEGOTIATING, SIGNED, DELIVERED or CLOSED",
        ));
    }
    number(&mut v, "amount_wan", a.amount_wan, MAX_AMOUNT_WAN);
    let amount = round_wan(a.amount_wan);
    if to == MatchState::Signed && (amount.is_nan() || amount <= 0.0) {
        v.push(FieldViolation::new("amount_wan", "AMOUNT_REQUIRED", "a signed match needs its amount in 万元"));
    }
    if to != MatchState::Signed && a.amount_wan != 0.0 {
        v.push(FieldViolation::new(
            "amount_wan",
            "AMOUNT_NOT_ALLOWED",
            format!("an amount is recorded only when SIGNED, not {}", to.name()),
        ));
    }
    if to == MatchState::Closed && a.close_reason == MatchCloseReason::Unspecified {
        v.push(FieldViolation::new("close_reason", "REQUIRED", "closing needs a reason: NO_FIT, EXPIRED or WITHDRAWN"));
    }
    if to != MatchState::Closed && a.close_reason != MatchCloseReason::Unspecified {
        v.push(FieldViolation::new(
            "close_reason",
            "CLOSE_REASON_NOT_ALLOWED",
            format!("a close reason goes only with CLOSED, not {}", to.name()),
        ));
    }
    check_text(&mut v, "note", a.note.trim(), 0, MAX_NOTE_CHARS);
    let date = if a.date.trim().is_empty() {
        Some(step.today)
    } else {
        let d = Date::parse(a.date.trim());
        if d.is_none() {
            v.push(FieldViolation::new("date", "INVALID_DATE", format!("{:?} is not a real date YYYY-MM-DD", a.date)));
        }
        d
    };
    if let Some(d) = date {
        if d > step.today {
            v.push(FieldViolation::new("date", "DATE_IN_FUTURE", format!("{d} is in the future")));
        } else if let Some(last) = m.last_date().filter(|last| d < *last) {
            v.push(FieldViolation::new(
                "date",
                "DATE_OUT_OF_ORDER",
                format!("{d} is before the previous step ({last})"),
            ));
        }
    }
    if !v.is_empty() {
        return Err(Error::invalid_fields(v));
    }
    if to == MatchState::Delivered && from != MatchState::Signed {
        return Err(illegal(format!("{name} is {}: it must be SIGNED before DELIVERED", from.name())));
    }
    if to != MatchState::Closed && to <= from {
        return Err(illegal(format!("{name} is {}: it cannot move back or stay at {}", from.name(), to.name())));
    }
    let date = date.unwrap_or(step.today).to_string();
    m.state = to as i32;
    if to == MatchState::Signed {
        m.amount_wan = amount;
        m.signed_date.clone_from(&date);
    }
    if to == MatchState::Closed {
        m.close_reason = a.close_reason as i32;
    }
    m.events.push(MatchEvent {
        state: to as i32,
        date,
        amount_wan: if to == MatchState::Signed { m.amount_wan } else { 0.0 },
        close_reason: if to == MatchState::Closed { a.close_reason as i32 } else { 0 },
        note: a.note.trim().to_string(),
        actor: step.actor.to_string(),
        record_time: step.now,
    });
    m.update_time = step.now;
    Ok((ChangeKind::Updated, m))
}

/// An amount in 万元 rounded to 4 decimals (one yuan).
fn round_wan(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn number(v: &mut Vec<FieldViolation>, field: &str, value: f64, max: f64) {
    if !value.is_finite() || value < 0.0 {
        v.push(FieldViolation::new(field, "INVALID_NUMBER", format!("{value} must be a number ≥ 0")));
    } else if value > max {
        v.push(FieldViolation::new(field, "OUT_OF_RANGE", format!("{value} is above the limit {max}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::parse("2026-11-27").unwrap()
    }

    fn defaults() -> PostingDefaults {
        PostingDefaults { region_code: "610116".into(), in_zone: true, today: today() }
    }

    pub(crate) fn demand() -> Posting {
        Posting {
            credit_code: "91610131MA6TXXXX0A".into(),
            kind: PostingKind::Demand as i32,
            title: " 采购储能电芯 ".into(),
            description: "需要高能量密度锂离子电芯，用于储能系统".into(),
            industry_code: "c3841".into(),
            product_tags: vec!["电芯".into(), " 电芯".into(), "储能".into()],
            quantity: 2000.0,
            unit: "套".into(),
            ..Default::default()
        }
    }

    fn step() -> Step<'static> {
        Step { actor: "staff", now: 1, today: today() }
    }

    #[test]
    fn ids_sort_by_time_and_are_valid_names() {
        let (a, b) = (new_id(1_795_797_418_000_000), new_id(1_795_797_418_000_001));
        assert_eq!(a.len(), 18);
        assert!(a < b, "{a} < {b}");
        assert!(check_id("name", &a).is_ok());
        assert_eq!(parse_name("name", &format!("postings/{a}"), "postings/").unwrap(), a);
        assert!(parse_name("name", "postings/XYZ", "postings/").is_err());
    }

    #[test]
    fn a_new_posting_takes_the_firms_defaults_and_is_cleaned() {
        let (kind, p) = create_posting(None, demand(), None, &defaults(), 5).unwrap();
        assert_eq!(kind, ChangeKind::Created);
        assert_eq!(p.title, "采购储能电芯");
        assert_eq!(p.industry_code, "C3841");
        assert_eq!(p.product_tags, vec!["电芯", "储能"]);
        assert_eq!(p.region_code, "610116");
        assert!(p.in_zone);
        assert_eq!(p.valid_from, "2026-11-27");
        assert_eq!(p.state(), PostingState::Open);
        assert!(p.keywords.contains(&"电芯".to_string()), "{:?}", p.keywords);
        let (_, out_of_zone) = create_posting(None, demand(), Some(false), &defaults(), 5).unwrap();
        assert!(!out_of_zone.in_zone);
    }

    #[test]
    fn bad_postings_name_every_wrong_field() {
        let mut p = demand();
        p.quantity = 0.0;
        p.unit.clear();
        p.valid_from = "2026-12-01".into();
        p.valid_until = "2026-11-01".into();
        p.industry_code = "C99999".into();
        p.title = "x".into();
        let err = create_posting(None, p, None, &defaults(), 5).unwrap_err();
        let Error::InvalidArgument { violations, .. } = err else { panic!("{err:?}") };
        let got: Vec<(&str, &str)> = violations.iter().map(|v| (v.field.as_str(), v.reason)).collect();
        assert!(got.contains(&("posting.quantity", "QUANTITY_OR_AMOUNT_REQUIRED")), "{got:?}");
        assert!(got.contains(&("posting.valid_until", "UNTIL_BEFORE_FROM")), "{got:?}");
        assert!(got.contains(&("posting.title", "REQUIRED")), "{got:?}");
        assert!(got.iter().any(|(f, _)| *f == "posting.industry_code"), "{got:?}");

        let mut supply = demand();
        supply.kind = PostingKind::Supply as i32;
        supply.quantity = 0.0;
        supply.unit.clear();
        assert!(create_posting(None, supply, None, &defaults(), 5).is_ok(), "a supply may omit quantity");

        let mut unit_only = demand();
        unit_only.quantity = 0.0;
        unit_only.amount_wan = 10.0;
        let err = create_posting(None, unit_only, None, &defaults(), 5).unwrap_err();
        assert_eq!(err.reason(), "REQUIRED");
        let mut negative = demand();
        negative.amount_wan = f64::NAN;
        assert_eq!(create_posting(None, negative, None, &defaults(), 5).unwrap_err().reason(), "INVALID_NUMBER");
    }

    #[test]
    fn postings_expire_by_date_without_a_write() {
        let (_, mut p) = create_posting(None, demand(), None, &defaults(), 5).unwrap();
        p.valid_until = "2026-11-30".into();
        assert_eq!(p.state_on(today()), PostingState::Open);
        assert_eq!(p.state_on(today().add_days(3)), PostingState::Open);
        assert_eq!(p.state_on(today().add_days(4)), PostingState::Expired);
        let (_, closed) =
            close_posting(Some(p.clone()), "postings/x", PostingCloseReason::Fulfilled, "", "", 9).unwrap();
        assert_eq!(closed.state_on(today().add_days(10)), PostingState::Closed);
        let again = close_posting(Some(closed), "postings/x", PostingCloseReason::Fulfilled, "", "", 9).unwrap_err();
        assert_eq!(again.reason(), "ALREADY_CLOSED");
        let other = close_posting(Some(p), "postings/x", PostingCloseReason::Other, "", "", 9).unwrap_err();
        assert_eq!(other.reason(), "REQUIRED");
    }

    #[test]
    fn an_update_changes_only_masked_fields_and_refreshes_keywords() {
        let (_, mut p) = create_posting(None, demand(), None, &defaults(), 5).unwrap();
        p.id = "abc".into();
        p.revision = 7;
        let patch = Posting { title: "采购卫星天线".into(), quantity: 1.0, ..Default::default() };
        let (_, q) =
            update_posting(Some(p.clone()), "postings/abc", &patch, None, &["title".into()], "", &defaults(), 9)
                .unwrap();
        assert_eq!(q.title, "采购卫星天线");
        assert_eq!(q.quantity, 2000.0);
        assert!(q.keywords.contains(&"天线".to_string()), "{:?}", q.keywords);
        let stale =
            update_posting(Some(p.clone()), "postings/abc", &patch, None, &["title".into()], "x", &defaults(), 9);
        assert_eq!(stale.unwrap_err().reason(), "ETAG_MISMATCH");
        let kind = update_posting(Some(p), "postings/abc", &patch, None, &["kind".into()], "", &defaults(), 9);
        assert_eq!(kind.unwrap_err().reason(), "FIELD_NOT_UPDATABLE");
    }

    fn pair() -> (Posting, Posting) {
        let (_, mut d) = create_posting(None, demand(), None, &defaults(), 5).unwrap();
        d.id = "d1".into();
        let mut s = d.clone();
        s.id = "51".into();
        s.kind = PostingKind::Supply as i32;
        s.credit_code = "91610131MA6TYYYY0B".into();
        (s, d)
    }

    fn input() -> MatchInput {
        MatchInput { broker: "王主任".into(), notes: String::new(), origin: MatchOrigin::Unspecified }
    }

    #[test]
    fn matches_need_one_supply_one_demand_of_two_open_firms() {
        let (s, d) = pair();
        let m = create_match("m1".into(), &s, &d, input(), (80.0, vec![]), &step()).unwrap();
        assert_eq!(m.state(), MatchState::Proposed);
        assert_eq!(m.origin(), MatchOrigin::Manual);
        assert_eq!(m.events.len(), 1);

        let err = create_match("m".into(), &d, &d, input(), (0.0, vec![]), &step()).unwrap_err();
        assert_eq!(err.reason(), "KIND_MISMATCH");
        let mut same = s.clone();
        same.credit_code.clone_from(&d.credit_code);
        assert_eq!(
            create_match("m".into(), &same, &d, input(), (0.0, vec![]), &step()).unwrap_err().reason(),
            "SAME_FIRM"
        );
        let mut expired = d.clone();
        expired.valid_until = "2026-01-01".into();
        assert_eq!(
            create_match("m".into(), &s, &expired, input(), (0.0, vec![]), &step()).unwrap_err().reason(),
            "POSTING_EXPIRED"
        );
    }

    fn adv(to: MatchState, amount: f64) -> Advance {
        Advance {
            to,
            amount_wan: amount,
            close_reason: MatchCloseReason::Unspecified,
            date: String::new(),
            note: String::new(),
        }
    }

    #[test]
    fn a_match_goes_forward_to_delivered_with_its_history() {
        let (s, d) = pair();
        let mut m = create_match("m1".into(), &s, &d, input(), (80.0, vec![]), &step()).unwrap();
        for (to, amount) in [(MatchState::Contacted, 0.0), (MatchState::Negotiating, 0.0), (MatchState::Signed, 350.5)]
        {
            m = advance_match(Some(m), "matches/m1", &adv(to, amount), "", &step()).unwrap().1;
        }
        assert_eq!(m.amount_wan, 350.5);
        assert_eq!(m.signed_date, "2026-11-27");
        m = advance_match(Some(m), "matches/m1", &adv(MatchState::Delivered, 0.0), "", &step()).unwrap().1;
        let states: Vec<MatchState> = m.events.iter().map(|e| e.state()).collect();
        assert_eq!(states, MatchState::ALL[..5].to_vec());
        let after = advance_match(Some(m), "matches/m1", &adv(MatchState::Closed, 0.0), "", &step());
        assert_eq!(after.unwrap_err().reason(), "ILLEGAL_TRANSITION", "a final match says so first");
    }

    #[test]
    fn illegal_transitions_and_misplaced_amounts_are_refused() {
        let (s, d) = pair();
        let m = create_match("m1".into(), &s, &d, input(), (80.0, vec![]), &step()).unwrap();
        let early = advance_match(Some(m.clone()), "matches/m1", &adv(MatchState::Delivered, 0.0), "", &step());
        assert_eq!(early.unwrap_err().reason(), "ILLEGAL_TRANSITION");
        let amount = advance_match(Some(m.clone()), "matches/m1", &adv(MatchState::Contacted, 5.0), "", &step());
        assert_eq!(amount.unwrap_err().reason(), "AMOUNT_NOT_ALLOWED");
        let no_amount = advance_match(Some(m.clone()), "matches/m1", &adv(MatchState::Signed, 0.0), "", &step());
        assert_eq!(no_amount.unwrap_err().reason(), "AMOUNT_REQUIRED");
        let dust = advance_match(Some(m.clone()), "matches/m1", &adv(MatchState::Signed, 0.00001), "", &step());
        assert_eq!(dust.unwrap_err().reason(), "AMOUNT_REQUIRED", "an amount that rounds to 0 yuan");
        let skip =
            advance_match(Some(m.clone()), "matches/m1", &adv(MatchState::Negotiating, 0.0), "", &step()).unwrap().1;
        let back = advance_match(Some(skip.clone()), "matches/m1", &adv(MatchState::Contacted, 0.0), "", &step());
        assert_eq!(back.unwrap_err().reason(), "ILLEGAL_TRANSITION");
        let mut close = adv(MatchState::Closed, 0.0);
        close.close_reason = MatchCloseReason::NoFit;
        let closed = advance_match(Some(skip), "matches/m1", &close, "", &step()).unwrap().1;
        assert_eq!(closed.close_reason(), MatchCloseReason::NoFit);
        let reopen = advance_match(Some(closed), "matches/m1", &adv(MatchState::Contacted, 0.0), "", &step());
        assert_eq!(reopen.unwrap_err().reason(), "ILLEGAL_TRANSITION");
        // Back to PROPOSED is refused like any backward move, with the same
        // code and reason; a missing target is a missing field.
        let proposed = advance_match(Some(m.clone()), "matches/m1", &adv(MatchState::Proposed, 0.0), "", &step());
        let err = proposed.unwrap_err();
        assert!(matches!(err, Error::FailedPrecondition { reason: "ILLEGAL_TRANSITION", .. }), "{err:?}");
        let none = advance_match(Some(m.clone()), "matches/m1", &adv(MatchState::Unspecified, 0.0), "", &step());
        assert!(matches!(none.unwrap_err(), Error::InvalidArgument { reason: "REQUIRED", .. }));
        let mut future = adv(MatchState::Contacted, 0.0);
        future.date = "2027-01-01".into();
        assert_eq!(advance_match(Some(m), "matches/m1", &future, "", &step()).unwrap_err().reason(), "DATE_IN_FUTURE");
    }
}
