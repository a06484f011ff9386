//! Investment-promotion projects (招商项目): the stored records, their
//! validation and the pipeline rules.
//!
//! A project moves 线索 → 接洽 → 考察 → 洽谈 → 签约 → 注册落地 → 拿地 → 开工 →
//! 投产 → 入统 through dated, attributed [`ProjectEvent`]s that are only ever
//! appended: a STEP forward (skipping allowed), HOLD and RESUME, LOSE, and a
//! CORRECTION back to an earlier stage, which marks the steps it undoes
//! `voided` instead of removing them. Everything else on the record that
//! describes the pipeline (stage, status, the dates reached, the contracted
//! amount, the project company) is derived from the standing events by
//! [`derive`], and [`state_on`] derives the same as of any date.
//!
//! The records reuse the field numbers of their `ladder.v1` messages for
//! every field the two share (times, which the API sends as `Timestamp`,
//! take numbers from 100 up), so the API layer converts by re-encoding and
//! only fills the fields it derives; `tests::records_keep_the_api_numbers`
//! guards the correspondence. The enums are the generated `ladder.v1` ones
//! (plain prost enums: their names come from one place), with the Chinese
//! labels staff read kept here.

use std::collections::BTreeMap;

use crate::domain::change::ChangeKind;
use crate::domain::enterprise::FieldChange;
use crate::domain::industry::IndustryCode;
use crate::domain::time::{Date, Micros};
use crate::domain::update::{self, check_multiline, check_text, diff_rendered};
use crate::error::{Error, FieldViolation, Result};
pub use crate::pb::v1::{
    KeyLevel, LeadSource, LossReason, ProjectEventKind as EventKind, ProjectGroupBy as GroupBy, ProjectStage as Stage,
    ProjectStatus as Status, TargetReason, TargetStatus,
};

/// Shortest project or target name, in characters.
pub const MIN_NAME_CHARS: usize = 2;
/// Longest project, investor or target name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest notes, in characters.
pub const MAX_NOTES_CHARS: usize = 2000;
/// Longest reason, note or contact outcome, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest department, owner, commissioner, chain segment or source, in characters.
pub const MAX_SHORT_CHARS: usize = 50;
/// Longest contact channel, in characters.
pub const MAX_CHANNEL_CHARS: usize = 20;
/// Most tags on a project.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 20;
/// Largest amount, in 万元 (one trillion yuan).
pub const MAX_AMOUNT_WAN: f64 = 1e8;
/// Most events a project keeps (far beyond any real pipeline; bounds the record).
pub const MAX_EVENTS: usize = 500;
/// Most contact attempts a target keeps.
pub const MAX_CONTACTS: usize = 200;
/// Earliest year of investment figures.
pub const FIRST_YEAR: i32 = 2000;
/// Latest year of investment figures.
pub const LAST_YEAR: i32 = 2100;

/// Collection prefix of project names.
pub const PROJECTS: &str = "projects/";
/// Collection prefix of target names.
pub const TARGETS: &str = "targets/";
/// Collection prefix of enterprise names.
const ENTERPRISES: &str = "enterprises/";

/// The pipeline stages in order.
pub const STAGES: [Stage; 10] = [
    Stage::Lead,
    Stage::Contact,
    Stage::Visit,
    Stage::Negotiation,
    Stage::Signed,
    Stage::Registered,
    Stage::Land,
    Stage::Construction,
    Stage::Production,
    Stage::Statistics,
];

/// 线索, 接洽, … for a stage.
pub fn stage_label(s: Stage) -> &'static str {
    match s {
        Stage::Unspecified => "未指定",
        Stage::Lead => "线索",
        Stage::Contact => "接洽",
        Stage::Visit => "考察",
        Stage::Negotiation => "洽谈",
        Stage::Signed => "签约",
        Stage::Registered => "注册落地",
        Stage::Land => "拿地",
        Stage::Construction => "开工",
        Stage::Production => "投产",
        Stage::Statistics => "入统",
    }
}

/// The bare name of a generated enum value (`PROJECT_STAGE_SIGNED` → `SIGNED`).
pub fn bare(full: &str) -> &str {
    const PREFIXES: [&str; 9] = [
        "PROJECT_STAGE_",
        "PROJECT_STATUS_",
        "LEAD_SOURCE_",
        "KEY_LEVEL_",
        "PROJECT_EVENT_KIND_",
        "LOSS_REASON_",
        "TARGET_REASON_",
        "TARGET_STATUS_",
        "PROJECT_GROUP_BY_",
    ];
    PREFIXES.iter().find_map(|p| full.strip_prefix(p)).unwrap_or(full)
}

/// Parses a stage: `SIGNED`, `PROJECT_STAGE_SIGNED`, `signed` or 签约.
pub fn parse_stage(s: &str) -> Option<Stage> {
    let s = s.trim();
    let upper = s.to_ascii_uppercase();
    STAGES.into_iter().find(|st| bare(st.as_str_name()) == bare(&upper) || stage_label(*st) == s)
}

/// 推进中, 暂缓, 流失.
pub fn status_label(s: Status) -> &'static str {
    match s {
        Status::Unspecified => "未指定",
        Status::Active => "推进中",
        Status::OnHold => "暂缓",
        Status::Lost => "流失",
    }
}

/// Chinese label of a lead source.
pub fn lead_source_label(s: LeadSource) -> &'static str {
    match s {
        LeadSource::Unspecified => "未指定",
        LeadSource::Alliance => "以商招商（联盟）",
        LeadSource::MemberFirm => "以商招商（企业）",
        LeadSource::Chamber => "商会",
        LeadSource::Association => "协会",
        LeadSource::PromotionEvent => "推介活动",
        LeadSource::ChainTargeting => "产业链招商",
        LeadSource::WalkIn => "自主上门",
        LeadSource::Other => "其他",
    }
}

/// Chinese label of a key-project level.
pub fn key_level_label(l: KeyLevel) -> &'static str {
    match l {
        KeyLevel::Unspecified | KeyLevel::None => "非重点",
        KeyLevel::District => "区级",
        KeyLevel::Municipal => "市级",
        KeyLevel::Provincial => "省级",
        KeyLevel::National => "国家级",
    }
}

/// Chinese label of a loss reason.
pub fn loss_reason_label(r: LossReason) -> &'static str {
    match r {
        LossReason::Unspecified => "未指定",
        LossReason::OtherLocation => "落户他处",
        LossReason::InvestorWithdrew => "投资方放弃",
        LossReason::Factors => "要素保障不足",
        LossReason::Terms => "条件未谈拢",
        LossReason::Other => "其他",
    }
}

/// One event of a project's pipeline, as stored (numbers as in
/// `ladder.v1.ProjectEvent`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProjectEvent {
    /// What happened.
    #[prost(enumeration = "EventKind", tag = "1")]
    pub kind: i32,
    /// Stage entered (STEP), returned to (CORRECTION) or held at.
    #[prost(enumeration = "Stage", tag = "2")]
    pub stage: i32,
    /// Effective date.
    #[prost(string, tag = "3")]
    pub date: String,
    /// Contracted amount (STEP to SIGNED).
    #[prost(double, tag = "4")]
    pub amount_wan: f64,
    /// `enterprises/{code}` of the project company (STEP to REGISTERED).
    #[prost(string, tag = "5")]
    pub enterprise: String,
    /// Why it was lost (LOSE).
    #[prost(enumeration = "LossReason", tag = "6")]
    pub loss_reason: i32,
    /// Why (HOLD, LOSE, CORRECTION).
    #[prost(string, tag = "7")]
    pub reason: String,
    /// Note.
    #[prost(string, tag = "8")]
    pub note: String,
    /// Who recorded it.
    #[prost(string, tag = "9")]
    pub actor: String,
    /// A later correction undid it.
    #[prost(bool, tag = "11")]
    pub voided: bool,
    /// When it was recorded.
    #[prost(int64, tag = "100")]
    pub record_time: Micros,
}

impl ProjectEvent {
    fn date(&self) -> Option<Date> {
        Date::parse(&self.date)
    }

    /// A step, hold, resume or loss that no correction undid.
    fn standing(&self) -> bool {
        !self.voided && self.kind() != EventKind::Correction
    }
}

/// An investment-promotion project, as stored (numbers as in
/// `ladder.v1.Project`; the derived fields are kept so readers need not
/// derive them).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Project {
    /// `projects/{id}`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Project name.
    #[prost(string, tag = "2")]
    pub display_name: String,
    /// Investor's name.
    #[prost(string, tag = "3")]
    pub investor_name: String,
    /// Investor's credit code, when known.
    #[prost(string, tag = "4")]
    pub investor_credit_code: String,
    /// `enterprises/{code}` of a registered investor.
    #[prost(string, tag = "5")]
    pub investor_enterprise: String,
    /// `enterprises/{code}` of the project company (derived).
    #[prost(string, tag = "6")]
    pub enterprise: String,
    /// GB/T 4754 code.
    #[prost(string, tag = "7")]
    pub industry_code: String,
    /// Chain segment.
    #[prost(string, tag = "9")]
    pub chain_segment: String,
    /// Chain gap category it fills.
    #[prost(string, tag = "10")]
    pub chain_gap: String,
    /// Planned total investment, 万元.
    #[prost(double, tag = "11")]
    pub planned_investment_wan: f64,
    /// Planned fixed-asset investment, 万元.
    #[prost(double, tag = "12")]
    pub planned_fixed_asset_wan: f64,
    /// Investor's home region (6 digits).
    #[prost(string, tag = "13")]
    pub source_region_code: String,
    /// Promotion zone id.
    #[prost(string, tag = "15")]
    pub promotion_zone: String,
    /// Lead source.
    #[prost(enumeration = "LeadSource", tag = "16")]
    pub lead_source: i32,
    /// Alliance that brought it.
    #[prost(string, tag = "17")]
    pub lead_alliance_id: String,
    /// Member firm that brought it.
    #[prost(string, tag = "18")]
    pub lead_credit_code: String,
    /// Responsible department.
    #[prost(string, tag = "19")]
    pub department: String,
    /// Responsible person.
    #[prost(string, tag = "20")]
    pub owner: String,
    /// Service commissioner.
    #[prost(string, tag = "21")]
    pub service_commissioner: String,
    /// Key-project level.
    #[prost(enumeration = "KeyLevel", tag = "22")]
    pub key_level: i32,
    /// Tags.
    #[prost(string, repeated, tag = "23")]
    pub tags: Vec<String>,
    /// Notes.
    #[prost(string, tag = "24")]
    pub notes: String,
    /// Date of the lead.
    #[prost(string, tag = "25")]
    pub lead_date: String,
    /// 手续办结 date.
    #[prost(string, tag = "26")]
    pub approvals_date: String,
    /// `targets/{id}` it came from.
    #[prost(string, tag = "27")]
    pub target: String,
    /// Current stage (derived).
    #[prost(enumeration = "Stage", tag = "28")]
    pub stage: i32,
    /// Date the stage was reached (derived).
    #[prost(string, tag = "29")]
    pub stage_date: String,
    /// Status (derived).
    #[prost(enumeration = "Status", tag = "30")]
    pub status: i32,
    /// 签约 date (derived).
    #[prost(string, tag = "31")]
    pub signed_date: String,
    /// Contracted amount (derived).
    #[prost(double, tag = "32")]
    pub contracted_amount_wan: f64,
    /// 注册落地 date (derived).
    #[prost(string, tag = "33")]
    pub registered_date: String,
    /// 拿地 date (derived).
    #[prost(string, tag = "34")]
    pub land_date: String,
    /// 开工 date (derived).
    #[prost(string, tag = "35")]
    pub construction_date: String,
    /// 投产 date (derived).
    #[prost(string, tag = "36")]
    pub production_date: String,
    /// 入统 date (derived).
    #[prost(string, tag = "37")]
    pub statistics_date: String,
    /// Why it was lost (derived).
    #[prost(enumeration = "LossReason", tag = "38")]
    pub loss_reason: i32,
    /// Every event, oldest first.
    #[prost(message, repeated, tag = "39")]
    pub events: Vec<ProjectEvent>,
    /// Change-log revision of the last change.
    #[prost(uint64, tag = "41")]
    pub revision: u64,
    /// Why it was deleted.
    #[prost(string, tag = "45")]
    pub delete_reason: String,
    /// Creation time.
    #[prost(int64, tag = "101")]
    pub create_time: Micros,
    /// Last change.
    #[prost(int64, tag = "102")]
    pub update_time: Micros,
    /// Soft-delete time (0 = live).
    #[prost(int64, tag = "103")]
    pub delete_time: Micros,
}

/// Fields UpdateProject may change.
pub const PROJECT_UPDATABLE: &[&str] = &[
    "display_name",
    "investor_name",
    "investor_credit_code",
    "investor_enterprise",
    "industry_code",
    "chain_segment",
    "chain_gap",
    "planned_investment_wan",
    "planned_fixed_asset_wan",
    "source_region_code",
    "promotion_zone",
    "lead_source",
    "lead_alliance_id",
    "lead_credit_code",
    "department",
    "owner",
    "service_commissioner",
    "key_level",
    "tags",
    "notes",
    "approvals_date",
];

/// Fields UpdateProject refuses (FIELD_NOT_UPDATABLE).
pub const PROJECT_READ_ONLY: &[&str] = &[
    "name",
    "enterprise",
    "industry_name",
    "source_region_name",
    "lead_date",
    "target",
    "stage",
    "stage_date",
    "status",
    "signed_date",
    "contracted_amount_wan",
    "registered_date",
    "land_date",
    "construction_date",
    "production_date",
    "statistics_date",
    "loss_reason",
    "events",
    "etag",
    "revision",
    "create_time",
    "update_time",
    "delete_time",
    "delete_reason",
];

/// `projects/{id}`.
pub fn project_name(id: &str) -> String {
    format!("{PROJECTS}{id}")
}

/// `targets/{id}`.
pub fn target_name(id: &str) -> String {
    format!("{TARGETS}{id}")
}

/// `projects/{id}/investments/{year}`.
pub fn investment_name(project_id: &str, year: i32) -> String {
    format!("{PROJECTS}{project_id}/investments/{year}")
}

/// The credit code of an `enterprises/{code}` name (or of a bare code).
pub fn enterprise_code(name: &str) -> &str {
    let name = name.trim();
    name.strip_prefix(ENTERPRISES).unwrap_or(name)
}

/// Parses `projects/{id}/investments/{year}` into the id and the year.
pub fn parse_investment_name(field: &str, name: &str) -> Result<(String, i32)> {
    let bad = || {
        Error::invalid_field(
            field,
            "INVALID_RESOURCE_NAME",
            format!("{name:?} is not projects/{{id}}/investments/{{year}}"),
        )
    };
    let rest = name.trim().strip_prefix(PROJECTS).ok_or_else(bad)?;
    let (id, year) = rest.split_once("/investments/").ok_or_else(bad)?;
    crate::domain::supply_demand::check_id(field, id)?;
    let year: i32 = year.parse().map_err(|_| bad())?;
    check_year(field, year)?;
    Ok((id.to_string(), year))
}

/// The id of `targets/{id}` (or of a bare id).
pub fn check_target_name(field: &str, name: &str) -> Result<String> {
    let name = name.trim();
    let id = name.strip_prefix(TARGETS).unwrap_or(name);
    crate::domain::supply_demand::check_id(field, id)?;
    Ok(id.to_string())
}

/// INVALID_YEAR outside [`FIRST_YEAR`]–[`LAST_YEAR`].
pub fn check_year(field: &str, year: i32) -> Result<()> {
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
        return Err(Error::invalid_field(
            field,
            "INVALID_YEAR",
            format!("{year} is not a year {FIRST_YEAR}–{LAST_YEAR}"),
        ));
    }
    Ok(())
}

fn round_wan(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn amount(v: &mut Vec<FieldViolation>, field: &str, value: f64) {
    if !value.is_finite() || value < 0.0 {
        v.push(FieldViolation::new(field, "INVALID_NUMBER", format!("{value} must be a number ≥ 0")));
    } else if value > MAX_AMOUNT_WAN {
        v.push(FieldViolation::new(field, "OUT_OF_RANGE", format!("{value} 万元 is above the limit {MAX_AMOUNT_WAN}")));
    }
}

fn past_date(v: &mut Vec<FieldViolation>, field: &str, value: &str, today: Date) -> Option<Date> {
    if value.is_empty() {
        return None;
    }
    match Date::parse(value) {
        None => {
            v.push(FieldViolation::new(field, "INVALID_DATE", format!("{value:?} is not a real date YYYY-MM-DD")));
            None
        }
        Some(d) if d > today => {
            v.push(FieldViolation::new(field, "DATE_IN_FUTURE", format!("{d} is in the future")));
            None
        }
        Some(d) => Some(d),
    }
}

fn credit_code_shape(v: &mut Vec<FieldViolation>, field: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    if let Err(e) = crate::domain::credit_code::CreditCode::parse_unverified(value) {
        v.push(FieldViolation::new(field, e.reason(), e.to_string()));
    }
}

fn industry(v: &mut Vec<FieldViolation>, field: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    if let Err(e) = IndustryCode::parse(value) {
        v.push(FieldViolation::new(field, e.reason(), e.to_string()));
    }
}

fn region(v: &mut Vec<FieldViolation>, field: &str, value: &str) {
    if !value.is_empty() && (value.len() != 6 || !value.bytes().all(|b| b.is_ascii_digit())) {
        v.push(FieldViolation::new(
            field,
            "INVALID_REGION_CODE",
            format!("{value:?} is not a 6-digit GB/T 2260 division code"),
        ));
    }
}

fn known<E: TryFrom<i32>>(v: &mut Vec<FieldViolation>, field: &str, value: i32) {
    if E::try_from(value).is_err() {
        v.push(FieldViolation::new(field, "INVALID_ENUM", format!("{value} is not a known value")));
    }
}

fn canonical_industry(code: &mut String) {
    if let Ok(c) = IndustryCode::parse(code) {
        *code = c.as_str().to_string();
    }
}

fn canonical_enterprise(name: &mut String) {
    let code = enterprise_code(name).to_ascii_uppercase();
    *name = if code.is_empty() { String::new() } else { format!("{ENTERPRISES}{code}") };
}

/// The non-empty codes, sorted, each once.
fn codes<const N: usize>(parts: [&str; N]) -> Vec<String> {
    let mut codes: Vec<String> = parts.into_iter().filter(|c| !c.is_empty()).map(str::to_string).collect();
    codes.sort();
    codes.dedup();
    codes
}

/// What a project's rules need to know beyond the record.
#[derive(Debug, Clone)]
pub struct Context {
    /// Today (China time).
    pub today: Date,
    /// Now.
    pub now: Micros,
    /// Who writes.
    pub actor: String,
    /// Configured zone ids and their departments (empty: any zone id).
    pub zones: BTreeMap<String, String>,
}

impl Project {
    /// The id part of its name.
    pub fn id(&self) -> &str {
        self.name.strip_prefix(PROJECTS).unwrap_or(&self.name)
    }

    /// Opaque etag.
    pub fn etag(&self) -> String {
        update::etag(self.revision)
    }

    /// Whether it is soft-deleted.
    pub fn is_deleted(&self) -> bool {
        self.delete_time != 0
    }

    /// Every credit code it is linked to: the registered firms of
    /// [`Project::linked_enterprises`] and the investor's code, registered
    /// or not.
    pub fn linked_codes(&self) -> Vec<String> {
        codes([
            &self.investor_credit_code,
            enterprise_code(&self.investor_enterprise),
            &self.lead_credit_code,
            enterprise_code(&self.enterprise),
        ])
    }

    /// The registered firms it links to (their deletion is guarded).
    pub fn linked_enterprises(&self) -> Vec<String> {
        codes([enterprise_code(&self.investor_enterprise), &self.lead_credit_code, enterprise_code(&self.enterprise)])
    }

    /// Whether it is still being pursued or built (not lost, not deleted).
    pub fn is_active(&self) -> bool {
        !self.is_deleted() && self.status() != Status::Lost
    }

    fn normalise(&mut self) {
        for f in [
            &mut self.display_name,
            &mut self.investor_name,
            &mut self.investor_credit_code,
            &mut self.industry_code,
            &mut self.chain_segment,
            &mut self.chain_gap,
            &mut self.source_region_code,
            &mut self.promotion_zone,
            &mut self.lead_alliance_id,
            &mut self.lead_credit_code,
            &mut self.department,
            &mut self.owner,
            &mut self.service_commissioner,
            &mut self.notes,
            &mut self.lead_date,
            &mut self.approvals_date,
        ] {
            *f = f.trim().to_string();
        }
        self.investor_credit_code.make_ascii_uppercase();
        self.lead_credit_code.make_ascii_uppercase();
        canonical_enterprise(&mut self.investor_enterprise);
        canonical_industry(&mut self.industry_code);
        canonical_industry(&mut self.chain_gap);
        let mut tags: Vec<String> = Vec::new();
        for t in self.tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
            if !tags.iter().any(|seen| seen == t) {
                tags.push(t.to_string());
            }
        }
        self.tags = tags;
        for a in [&mut self.planned_investment_wan, &mut self.planned_fixed_asset_wan] {
            if a.is_finite() {
                *a = round_wan(*a);
            }
        }
        if self.key_level == KeyLevel::Unspecified as i32 {
            self.key_level = KeyLevel::None as i32;
        }
    }

    /// Checks every field a person sets (the links to other records are
    /// checked by the store), reporting all violations at once; field paths
    /// are relative to the project.
    pub fn validate(&self, ctx: &Context) -> Result<()> {
        let mut v = Vec::new();
        check_text(&mut v, "display_name", &self.display_name, MIN_NAME_CHARS, MAX_NAME_CHARS);
        check_text(&mut v, "investor_name", &self.investor_name, 1, MAX_NAME_CHARS);
        credit_code_shape(&mut v, "investor_credit_code", &self.investor_credit_code);
        credit_code_shape(&mut v, "investor_enterprise", enterprise_code(&self.investor_enterprise));
        credit_code_shape(&mut v, "lead_credit_code", &self.lead_credit_code);
        industry(&mut v, "industry_code", &self.industry_code);
        industry(&mut v, "chain_gap", &self.chain_gap);
        check_text(&mut v, "chain_segment", &self.chain_segment, 0, MAX_SHORT_CHARS);
        amount(&mut v, "planned_investment_wan", self.planned_investment_wan);
        amount(&mut v, "planned_fixed_asset_wan", self.planned_fixed_asset_wan);
        if self.planned_fixed_asset_wan > self.planned_investment_wan && self.planned_investment_wan > 0.0 {
            v.push(FieldViolation::new(
                "planned_fixed_asset_wan",
                "PART_EXCEEDS_WHOLE",
                format!(
                    "fixed-asset investment {} 万元 exceeds the planned total {} 万元",
                    self.planned_fixed_asset_wan, self.planned_investment_wan
                ),
            ));
        }
        region(&mut v, "source_region_code", &self.source_region_code);
        if self.promotion_zone.contains(char::is_whitespace) || self.promotion_zone.len() > 50 {
            v.push(FieldViolation::new(
                "promotion_zone",
                "INVALID_ZONE",
                "a zone id has at most 50 characters, no spaces",
            ));
        } else if !self.promotion_zone.is_empty()
            && !ctx.zones.is_empty()
            && !ctx.zones.contains_key(&self.promotion_zone)
        {
            let known: Vec<&str> = ctx.zones.keys().map(String::as_str).collect();
            v.push(FieldViolation::new(
                "promotion_zone",
                "UNKNOWN_ZONE",
                format!("{:?} is not a configured zone (known: {})", self.promotion_zone, known.join(", ")),
            ));
        }
        known::<LeadSource>(&mut v, "lead_source", self.lead_source);
        known::<KeyLevel>(&mut v, "key_level", self.key_level);
        let source = self.lead_source();
        if !self.lead_alliance_id.is_empty() && source != LeadSource::Alliance {
            v.push(FieldViolation::new(
                "lead_alliance_id",
                "LINK_NOT_ALLOWED",
                "an alliance is named only with lead_source ALLIANCE",
            ));
        }
        if !self.lead_credit_code.is_empty() && source != LeadSource::MemberFirm {
            v.push(FieldViolation::new(
                "lead_credit_code",
                "LINK_NOT_ALLOWED",
                "a referring firm is named only with lead_source MEMBER_FIRM",
            ));
        }
        for (field, value) in [
            ("department", &self.department),
            ("owner", &self.owner),
            ("service_commissioner", &self.service_commissioner),
        ] {
            check_text(&mut v, field, value, 0, MAX_SHORT_CHARS);
        }
        if self.tags.len() > MAX_TAGS {
            v.push(FieldViolation::new("tags", "TOO_MANY", format!("{} tags, at most {MAX_TAGS}", self.tags.len())));
        } else {
            for t in &self.tags {
                check_text(&mut v, "tags", t, 1, MAX_TAG_CHARS);
            }
        }
        check_multiline(&mut v, "notes", &self.notes, MAX_NOTES_CHARS);
        past_date(&mut v, "lead_date", &self.lead_date, ctx.today);
        if let (Some(approved), Some(lead)) =
            (past_date(&mut v, "approvals_date", &self.approvals_date, ctx.today), Date::parse(&self.lead_date))
        {
            if approved < lead {
                v.push(FieldViolation::new(
                    "approvals_date",
                    "DATE_OUT_OF_ORDER",
                    format!("{approved} is before the lead ({lead})"),
                ));
            }
        }
        if v.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid_fields(v))
        }
    }

    /// The fields that differ, rendered, for the change log.
    pub fn diff(old: &Project, new: &Project) -> Vec<FieldChange> {
        let money = |x: f64| if x == 0.0 { String::new() } else { format!("{x}") };
        let named =
            |v: i32, f: fn(i32) -> Option<&'static str>| if v == 0 { String::new() } else { f(v).unwrap_or("").into() };
        let render = |p: &Project| {
            [
                ("display_name", p.display_name.clone()),
                ("investor_name", p.investor_name.clone()),
                ("investor_credit_code", p.investor_credit_code.clone()),
                ("investor_enterprise", p.investor_enterprise.clone()),
                ("enterprise", p.enterprise.clone()),
                ("industry_code", p.industry_code.clone()),
                ("chain_segment", p.chain_segment.clone()),
                ("chain_gap", p.chain_gap.clone()),
                ("planned_investment_wan", money(p.planned_investment_wan)),
                ("planned_fixed_asset_wan", money(p.planned_fixed_asset_wan)),
                ("source_region_code", p.source_region_code.clone()),
                ("promotion_zone", p.promotion_zone.clone()),
                ("lead_source", named(p.lead_source, |v| LeadSource::try_from(v).ok().map(|s| bare(s.as_str_name())))),
                ("lead_alliance_id", p.lead_alliance_id.clone()),
                ("lead_credit_code", p.lead_credit_code.clone()),
                ("department", p.department.clone()),
                ("owner", p.owner.clone()),
                ("service_commissioner", p.service_commissioner.clone()),
                ("key_level", named(p.key_level, |v| KeyLevel::try_from(v).ok().map(|s| bare(s.as_str_name())))),
                ("tags", if p.tags.is_empty() { String::new() } else { format!("{:?}", p.tags) }),
                ("notes", p.notes.clone()),
                ("lead_date", p.lead_date.clone()),
                ("approvals_date", p.approvals_date.clone()),
                ("target", p.target.clone()),
                ("stage", named(p.stage, |v| Stage::try_from(v).ok().map(|s| bare(s.as_str_name())))),
                ("status", named(p.status, |v| Status::try_from(v).ok().map(|s| bare(s.as_str_name())))),
                ("contracted_amount_wan", money(p.contracted_amount_wan)),
                ("events", if p.events.is_empty() { String::new() } else { p.events.len().to_string() }),
                ("delete_reason", p.delete_reason.clone()),
            ]
        };
        diff_rendered(render(old), render(new))
    }
}

/// What the standing events say as of a date: the stage reached, the
/// status, and the date of each stage reached.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineState {
    /// Highest stage reached.
    pub stage: Stage,
    /// Active, on hold or lost.
    pub status: Status,
    /// The date each reached stage was stepped to.
    pub reached: BTreeMap<Stage, Date>,
    /// The date of the last step or resume (for stalls).
    pub last_move: Option<Date>,
}

/// The pipeline as of `day` (every standing event dated on or before it),
/// or `None` if the project did not exist yet.
pub fn state_on(p: &Project, day: Option<Date>) -> Option<PipelineState> {
    let mut state =
        PipelineState { stage: Stage::Unspecified, status: Status::Active, reached: BTreeMap::new(), last_move: None };
    for e in p.events.iter().filter(|e| e.standing()) {
        let Some(date) = e.date() else { continue };
        if day.is_some_and(|d| date > d) {
            continue;
        }
        match e.kind() {
            EventKind::Step => {
                state.reached.insert(e.stage(), date);
                state.stage = state.stage.max(e.stage());
                state.last_move = Some(date);
            }
            EventKind::Hold => state.status = Status::OnHold,
            EventKind::Resume => {
                state.status = Status::Active;
                state.last_move = Some(date);
            }
            EventKind::Lose => state.status = Status::Lost,
            EventKind::Correction | EventKind::Unspecified => {}
        }
    }
    (state.stage != Stage::Unspecified).then_some(state)
}

/// Rewrites the derived fields of a project from its events.
pub fn derive(p: &mut Project) {
    let state = state_on(p, None);
    let date_of =
        |s: Stage| state.as_ref().and_then(|st| st.reached.get(&s)).map(|d| d.to_string()).unwrap_or_default();
    p.signed_date = date_of(Stage::Signed);
    p.registered_date = date_of(Stage::Registered);
    p.land_date = date_of(Stage::Land);
    p.construction_date = date_of(Stage::Construction);
    p.production_date = date_of(Stage::Production);
    p.statistics_date = date_of(Stage::Statistics);
    let standing = |kind: EventKind, stage: Option<Stage>| {
        p.events
            .iter()
            .rev()
            .find(|e| e.standing() && e.kind() == kind && stage.is_none_or(|s| e.stage() == s))
            .cloned()
    };
    let signed = standing(EventKind::Step, Some(Stage::Signed));
    p.contracted_amount_wan = signed.map_or(0.0, |e| e.amount_wan);
    p.enterprise = standing(EventKind::Step, Some(Stage::Registered)).map(|e| e.enterprise).unwrap_or_default();
    p.stage = state.as_ref().map_or(0, |s| s.stage as i32);
    p.stage_date = date_of(state.as_ref().map_or(Stage::Unspecified, |s| s.stage));
    p.status = state.as_ref().map_or(Status::Active, |s| s.status) as i32;
    p.loss_reason =
        if p.status() == Status::Lost { standing(EventKind::Lose, None).map_or(0, |e| e.loss_reason) } else { 0 };
}

/// Records a new project at LEAD: fills the defaults, validates, and
/// starts the history with the LEAD step.
pub fn create(current: Option<Project>, mut p: Project, ctx: &Context) -> Result<(ChangeKind, Project)> {
    if let Some(existing) = current {
        return Err(Error::AlreadyExists { resource: existing.name, deleted: existing.delete_time != 0 });
    }
    let name = std::mem::take(&mut p.name);
    let target = std::mem::take(&mut p.target);
    // Output-only fields a client may have echoed are ignored (AIP-203).
    let mut p = Project {
        name,
        target,
        events: Vec::new(),
        revision: 0,
        delete_reason: String::new(),
        delete_time: 0,
        enterprise: String::new(),
        ..p
    };
    if p.lead_date.trim().is_empty() {
        p.lead_date = ctx.today.to_string();
    }
    p.normalise();
    if p.department.is_empty() {
        p.department = ctx.zones.get(&p.promotion_zone).cloned().unwrap_or_default();
    }
    p.validate(ctx).map_err(|e| e.in_field("project"))?;
    p.events = vec![ProjectEvent {
        kind: EventKind::Step as i32,
        stage: Stage::Lead as i32,
        date: p.lead_date.clone(),
        actor: ctx.actor.clone(),
        record_time: ctx.now,
        ..Default::default()
    }];
    derive(&mut p);
    p.create_time = ctx.now;
    p.update_time = ctx.now;
    Ok((ChangeKind::Created, p))
}

/// Applies a field-mask update to a live project.
pub fn update(
    current: Option<Project>,
    patch: &Project,
    mask: &[String],
    etag: &str,
    ctx: &Context,
) -> Result<(ChangeKind, Project)> {
    let name = patch.name.clone();
    let mut p = update::existing(current, &name, etag, Project::etag)?;
    live(&p)?;
    let paths = update::expand_mask(mask, PROJECT_UPDATABLE, PROJECT_READ_ONLY, "Project")?;
    let before = p.clone();
    for path in paths {
        match path {
            "display_name" => p.display_name.clone_from(&patch.display_name),
            "investor_name" => p.investor_name.clone_from(&patch.investor_name),
            "investor_credit_code" => p.investor_credit_code.clone_from(&patch.investor_credit_code),
            "investor_enterprise" => p.investor_enterprise.clone_from(&patch.investor_enterprise),
            "industry_code" => p.industry_code.clone_from(&patch.industry_code),
            "chain_segment" => p.chain_segment.clone_from(&patch.chain_segment),
            "chain_gap" => p.chain_gap.clone_from(&patch.chain_gap),
            "planned_investment_wan" => p.planned_investment_wan = patch.planned_investment_wan,
            "planned_fixed_asset_wan" => p.planned_fixed_asset_wan = patch.planned_fixed_asset_wan,
            "source_region_code" => p.source_region_code.clone_from(&patch.source_region_code),
            "promotion_zone" => p.promotion_zone.clone_from(&patch.promotion_zone),
            "lead_source" => p.lead_source = patch.lead_source,
            "lead_alliance_id" => p.lead_alliance_id.clone_from(&patch.lead_alliance_id),
            "lead_credit_code" => p.lead_credit_code.clone_from(&patch.lead_credit_code),
            "department" => p.department.clone_from(&patch.department),
            "owner" => p.owner.clone_from(&patch.owner),
            "service_commissioner" => p.service_commissioner.clone_from(&patch.service_commissioner),
            "key_level" => p.key_level = patch.key_level,
            "tags" => p.tags.clone_from(&patch.tags),
            "notes" => p.notes.clone_from(&patch.notes),
            "approvals_date" => p.approvals_date.clone_from(&patch.approvals_date),
            _ => unreachable!("expand_mask only returns updatable fields"),
        }
    }
    p.normalise();
    // A zone since dropped from the configuration may stay on the record.
    let mut rules = ctx.clone();
    if !rules.zones.is_empty() && !before.promotion_zone.is_empty() {
        rules.zones.entry(before.promotion_zone.clone()).or_default();
    }
    p.validate(&rules).map_err(|e| e.in_field("project"))?;
    if Project::diff(&before, &p).is_empty() {
        return Ok((ChangeKind::Updated, before));
    }
    p.update_time = ctx.now;
    Ok((ChangeKind::Updated, p))
}

/// FAILED_PRECONDITION `PROJECT_DELETED` for a soft-deleted project.
pub fn live(p: &Project) -> Result<()> {
    if p.is_deleted() {
        return Err(Error::FailedPrecondition {
            reason: "PROJECT_DELETED",
            message: format!("{} is deleted: undelete it first", p.name),
        });
    }
    Ok(())
}

/// A record that soft-deletes: a project or a target.
pub trait SoftDeleted {
    /// Its etag.
    fn etag(&self) -> String;
    /// Its delete time, delete reason and update time, to set.
    fn deletion(&mut self) -> (&mut Micros, &mut String, &mut Micros);
}

impl SoftDeleted for Project {
    fn etag(&self) -> String {
        Project::etag(self)
    }

    fn deletion(&mut self) -> (&mut Micros, &mut String, &mut Micros) {
        (&mut self.delete_time, &mut self.delete_reason, &mut self.update_time)
    }
}

impl SoftDeleted for Target {
    fn etag(&self) -> String {
        Target::etag(self)
    }

    fn deletion(&mut self) -> (&mut Micros, &mut String, &mut Micros) {
        (&mut self.delete_time, &mut self.delete_reason, &mut self.update_time)
    }
}

/// Soft-deletes a project or a target.
pub fn delete<R: SoftDeleted>(
    current: Option<R>,
    name: &str,
    etag: &str,
    reason: &str,
    now: Micros,
) -> Result<(ChangeKind, R)> {
    let mut r = update::existing(current, name, etag, R::etag)?;
    let (deleted, why, updated) = r.deletion();
    if *deleted != 0 {
        return Err(Error::FailedPrecondition {
            reason: "ALREADY_DELETED",
            message: format!("{name} is already deleted"),
        });
    }
    *deleted = now;
    *why = reason.trim().to_string();
    *updated = now;
    Ok((ChangeKind::Deleted, r))
}

/// Restores a soft-deleted project.
pub fn undelete(current: Option<Project>, name: &str, etag: &str, now: Micros) -> Result<(ChangeKind, Project)> {
    let mut p = update::existing(current, name, etag, Project::etag)?;
    if !p.is_deleted() {
        return Err(Error::FailedPrecondition { reason: "NOT_DELETED", message: format!("{name} is not deleted") });
    }
    p.delete_time = 0;
    p.delete_reason.clear();
    p.update_time = now;
    Ok((ChangeKind::Undeleted, p))
}

/// Appends an event to a project's pipeline (see the module doc). The
/// store checks that a REGISTERED step's enterprise is registered.
pub fn record_event(
    current: Option<Project>,
    name: &str,
    input: &ProjectEvent,
    etag: &str,
    ctx: &Context,
) -> Result<(ChangeKind, Project)> {
    let mut p = update::existing(current, name, etag, Project::etag)?;
    live(&p)?;
    let kind = EventKind::try_from(input.kind);
    let mut v = Vec::new();
    let stage = Stage::try_from(input.stage);
    match kind {
        Err(_) => {
            v.push(FieldViolation::new("event.kind", "INVALID_ENUM", format!("{} is not an event kind", input.kind)))
        }
        Ok(EventKind::Unspecified) => {
            v.push(FieldViolation::new("event.kind", "REQUIRED", "is required: STEP, HOLD, RESUME, LOSE or CORRECTION"))
        }
        Ok(_) => {}
    }
    let kind = kind.unwrap_or(EventKind::Unspecified);
    let takes_stage = matches!(kind, EventKind::Step | EventKind::Correction);
    match stage {
        Err(_) => v.push(FieldViolation::new("event.stage", "INVALID_ENUM", format!("{} is not a stage", input.stage))),
        Ok(Stage::Unspecified) if takes_stage => v.push(FieldViolation::new(
            "event.stage",
            "REQUIRED",
            format!("a {} names its stage", bare(kind.as_str_name())),
        )),
        Ok(s) if s != Stage::Unspecified && !takes_stage && kind != EventKind::Unspecified => {
            v.push(FieldViolation::new(
                "event.stage",
                "FIELD_NOT_ALLOWED",
                format!("a {} takes no stage", bare(kind.as_str_name())),
            ))
        }
        Ok(_) => {}
    }
    let stage = stage.unwrap_or(Stage::Unspecified);
    let step_to = |s: Stage| kind == EventKind::Step && stage == s;
    amount(&mut v, "event.amount_wan", input.amount_wan);
    if step_to(Stage::Signed) && input.amount_wan == 0.0 {
        v.push(FieldViolation::new(
            "event.amount_wan",
            "AMOUNT_REQUIRED",
            "a step to SIGNED records the contracted amount in 万元, above 0 (--amount-wan)",
        ));
    } else if !step_to(Stage::Signed) && input.amount_wan != 0.0 {
        v.push(FieldViolation::new(
            "event.amount_wan",
            "AMOUNT_NOT_ALLOWED",
            "a contracted amount is recorded only by the step to SIGNED",
        ));
    }
    let enterprise = enterprise_code(&input.enterprise).to_ascii_uppercase();
    if step_to(Stage::Registered) && enterprise.is_empty() {
        v.push(FieldViolation::new(
            "event.enterprise",
            "REQUIRED",
            "a step to REGISTERED links the project company (enterprises/{code}); register it first",
        ));
    } else if !step_to(Stage::Registered) && !enterprise.is_empty() {
        v.push(FieldViolation::new(
            "event.enterprise",
            "FIELD_NOT_ALLOWED",
            "only the step to REGISTERED links an enterprise",
        ));
    } else if !enterprise.is_empty() {
        credit_code_shape(&mut v, "event.enterprise", &enterprise);
    }
    let loss = LossReason::try_from(input.loss_reason);
    match (kind, loss) {
        (_, Err(_)) => v.push(FieldViolation::new("event.loss_reason", "INVALID_ENUM", "is not a loss reason")),
        (EventKind::Lose, Ok(LossReason::Unspecified)) => v.push(FieldViolation::new(
            "event.loss_reason",
            "REQUIRED",
            "say why it was lost: OTHER_LOCATION, INVESTOR_WITHDREW, FACTORS, TERMS or OTHER",
        )),
        (k, Ok(r)) if k != EventKind::Lose && r != LossReason::Unspecified => {
            v.push(FieldViolation::new("event.loss_reason", "FIELD_NOT_ALLOWED", "only LOSE takes a loss reason"))
        }
        _ => {}
    }
    let reason = input.reason.trim();
    let needs_reason = matches!(kind, EventKind::Hold | EventKind::Lose | EventKind::Correction);
    check_text(&mut v, "event.reason", reason, usize::from(needs_reason), MAX_REASON_CHARS);
    check_text(&mut v, "event.note", input.note.trim(), 0, MAX_REASON_CHARS);
    let date = if input.date.trim().is_empty() {
        Some(ctx.today)
    } else {
        past_date(&mut v, "event.date", input.date.trim(), ctx.today)
    };
    let last = p.events.iter().filter(|e| e.standing()).filter_map(ProjectEvent::date).max();
    if let (Some(d), Some(last)) = (date, last) {
        if d < last && kind != EventKind::Correction {
            v.push(FieldViolation::new(
                "event.date",
                "DATE_OUT_OF_ORDER",
                format!("{d} is before the project's latest event ({last})"),
            ));
        }
    }
    if !v.is_empty() {
        return Err(Error::invalid_fields(v));
    }
    if p.events.len() >= MAX_EVENTS {
        return Err(Error::FailedPrecondition {
            reason: "TOO_MANY_EVENTS",
            message: format!("{name} has {MAX_EVENTS} events, the most kept"),
        });
    }
    let illegal = |why: String| Error::FailedPrecondition { reason: "ILLEGAL_TRANSITION", message: why };
    let (from, status) = (p.stage(), p.status());
    let lost = || {
        Error::FailedPrecondition {
        reason: "PROJECT_LOST",
        message: format!(
            "{name} is lost: RESUME it if the investor came back (ladder project resume), or CORRECT it if the loss was recorded in error"
        ),
    }
    };
    match kind {
        EventKind::Step => {
            match status {
                Status::Lost => return Err(lost()),
                Status::OnHold => {
                    return Err(Error::FailedPrecondition {
                        reason: "PROJECT_ON_HOLD",
                        message: format!(
                            "{name} is on hold: RESUME it before stepping forward (ladder project resume)"
                        ),
                    })
                }
                _ => {}
            }
            if stage <= from {
                return Err(illegal(format!(
                    "{name} is at {} ({}): a step moves forward only (a CORRECTION goes back: ladder project correct)",
                    bare(from.as_str_name()),
                    stage_label(from)
                )));
            }
            // 签约 records the contracted amount and 注册落地 the project
            // company: those two steps are never skipped.
            if let Some(kept) = [Stage::Signed, Stage::Registered].into_iter().find(|s| from < *s && *s < stage) {
                return Err(illegal(format!(
                    "{name} is at {}: step to {} ({}) first, which records {}",
                    bare(from.as_str_name()),
                    bare(kept.as_str_name()),
                    stage_label(kept),
                    if kept == Stage::Signed { "the contracted amount" } else { "the registered project company" }
                )));
            }
        }
        EventKind::Hold if status == Status::OnHold => {
            return Err(Error::FailedPrecondition {
                reason: "ALREADY_ON_HOLD",
                message: format!("{name} is already on hold"),
            })
        }
        EventKind::Hold | EventKind::Lose if status == Status::Lost => return Err(lost()),
        EventKind::Resume if status == Status::Active => {
            return Err(Error::FailedPrecondition { reason: "NOT_ON_HOLD", message: format!("{name} is not on hold") })
        }
        EventKind::Correction => {
            let standing_at =
                p.events.iter().any(|e| e.standing() && e.kind() == EventKind::Step && e.stage() == stage);
            let moves_back = stage < from || (stage == from && status != Status::Active);
            if !moves_back || !standing_at {
                let reached: Vec<&str> = p
                    .events
                    .iter()
                    .filter(|e| {
                        e.standing() && e.kind() == EventKind::Step && (e.stage() < from || status != Status::Active)
                    })
                    .map(|e| bare(e.stage().as_str_name()))
                    .collect();
                return Err(illegal(format!(
                    "{name} is at {}: a correction goes back to a stage it stepped to (here: {})",
                    bare(from.as_str_name()),
                    if reached.is_empty() { "none".to_string() } else { reached.join(", ") }
                )));
            }
            // Undone: the steps above the stage, and the holds, resumes and
            // losses recorded after the step to it (what came before stays).
            let at = p
                .events
                .iter()
                .rposition(|e| e.standing() && e.kind() == EventKind::Step && e.stage() == stage)
                .unwrap_or(0);
            for (i, e) in p.events.iter_mut().enumerate().filter(|(_, e)| e.standing()) {
                let undone = match e.kind() {
                    EventKind::Step => e.stage() > stage,
                    EventKind::Hold | EventKind::Resume | EventKind::Lose => i > at,
                    _ => false,
                };
                e.voided |= undone;
            }
        }
        _ => {}
    }
    let date = date.unwrap_or(ctx.today).to_string();
    p.events.push(ProjectEvent {
        kind: kind as i32,
        stage: if takes_stage { stage as i32 } else { from as i32 },
        date,
        amount_wan: round_wan(input.amount_wan),
        enterprise: if enterprise.is_empty() { String::new() } else { format!("{ENTERPRISES}{enterprise}") },
        loss_reason: input.loss_reason,
        reason: reason.to_string(),
        note: input.note.trim().to_string(),
        actor: ctx.actor.clone(),
        voided: false,
        record_time: ctx.now,
    });
    derive(&mut p);
    p.update_time = ctx.now;
    Ok((ChangeKind::Updated, p))
}

/// Completed investment in one month, as stored (numbers as in
/// `ladder.v1.MonthlyInvestment`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MonthlyInvestment {
    /// Month 1–12.
    #[prost(int32, tag = "1")]
    pub month: i32,
    /// 万元 (unset in an update: clear the month).
    #[prost(double, optional, tag = "2")]
    pub completed_wan: Option<f64>,
}

/// A project's investment figures for one year, as stored (numbers as in
/// `ladder.v1.ProjectInvestment`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProjectInvestment {
    /// `projects/{id}/investments/{year}`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The year.
    #[prost(int32, tag = "2")]
    pub year: i32,
    /// Annual plan, 万元.
    #[prost(double, optional, tag = "3")]
    pub planned_wan: Option<f64>,
    /// Completed per month, by month.
    #[prost(message, repeated, tag = "4")]
    pub monthly: Vec<MonthlyInvestment>,
    /// Sum of the months.
    #[prost(double, tag = "5")]
    pub completed_wan: f64,
    /// Planned 手续办结 date.
    #[prost(string, tag = "6")]
    pub planned_approvals_date: String,
    /// Planned 开工 date.
    #[prost(string, tag = "7")]
    pub planned_construction_date: String,
    /// Planned 入统 date.
    #[prost(string, tag = "8")]
    pub planned_statistics_date: String,
    /// Where the figures come from.
    #[prost(string, tag = "9")]
    pub source: String,
    /// Change-log revision of the last change.
    #[prost(uint64, tag = "11")]
    pub revision: u64,
    /// Last change.
    #[prost(int64, tag = "100")]
    pub update_time: Micros,
}

/// Fields UpdateProjectInvestment may change.
pub const INVESTMENT_UPDATABLE: &[&str] = &[
    "monthly",
    "planned_approvals_date",
    "planned_construction_date",
    "planned_statistics_date",
    "planned_wan",
    "source",
];

impl ProjectInvestment {
    /// Opaque etag.
    pub fn etag(&self) -> String {
        update::etag(self.revision)
    }

    /// The project's id.
    pub fn project_id(&self) -> &str {
        self.name.strip_prefix(PROJECTS).and_then(|r| r.split('/').next()).unwrap_or("")
    }

    /// Completed in the months up to `month` (inclusive).
    pub fn completed_through(&self, month: u32) -> f64 {
        round_wan(
            self.monthly
                .iter()
                .filter(|m| u32::try_from(m.month).is_ok_and(|mm| mm <= month))
                .filter_map(|m| m.completed_wan)
                .sum(),
        )
    }

    /// The fields set in a request (the implied mask).
    pub fn populated_fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.planned_wan.is_some() {
            out.push("planned_wan");
        }
        if !self.monthly.is_empty() {
            out.push("monthly");
        }
        for (field, value) in [
            ("planned_approvals_date", &self.planned_approvals_date),
            ("planned_construction_date", &self.planned_construction_date),
            ("planned_statistics_date", &self.planned_statistics_date),
            ("source", &self.source),
        ] {
            if !value.is_empty() {
                out.push(field);
            }
        }
        out.into_iter().map(String::from).collect()
    }

    /// The fields that differ, rendered, for the change log.
    pub fn diff(old: &ProjectInvestment, new: &ProjectInvestment) -> Vec<FieldChange> {
        let render = |i: &ProjectInvestment| {
            let months: Vec<String> =
                i.monthly.iter().filter_map(|m| m.completed_wan.map(|c| format!("{}:{c}", m.month))).collect();
            [
                ("planned_wan", i.planned_wan.map(|x| x.to_string()).unwrap_or_default()),
                ("monthly", months.join(" ")),
                ("planned_approvals_date", i.planned_approvals_date.clone()),
                ("planned_construction_date", i.planned_construction_date.clone()),
                ("planned_statistics_date", i.planned_statistics_date.clone()),
                ("source", i.source.clone()),
            ]
        };
        diff_rendered(render(old), render(new))
    }
}

/// Upserts a project's figures for one year (`name` already parsed into
/// `project_id` and `year`). Months after the current one (in the current
/// year) are refused; listed months replace those months.
pub fn upsert_investment(
    current: Option<ProjectInvestment>,
    (project_id, year): (&str, i32),
    patch: &ProjectInvestment,
    mask: &[String],
    etag: &str,
    ctx: &Context,
) -> Result<(ChangeKind, ProjectInvestment)> {
    let name = investment_name(project_id, year);
    let created = current.is_none();
    let mut inv = match current {
        Some(c) => {
            update::check_etag(&name, etag, &c.etag())?;
            c
        }
        None => ProjectInvestment { name: name.clone(), year, ..Default::default() },
    };
    let paths = update::expand_mask(
        mask,
        INVESTMENT_UPDATABLE,
        &["name", "year", "completed_wan", "etag", "revision", "update_time"],
        "ProjectInvestment",
    )?;
    let before = inv.clone();
    let mut v = Vec::new();
    let (this_year, this_month, _) = ctx.today.ymd();
    let mut seen = std::collections::BTreeSet::new();
    for path in paths {
        match path {
            "planned_wan" => {
                if let Some(x) = patch.planned_wan {
                    amount(&mut v, "investment.planned_wan", x);
                }
                inv.planned_wan = patch.planned_wan.map(round_wan);
            }
            "monthly" if patch.monthly.len() > 12 => v.push(FieldViolation::new(
                "investment.monthly",
                "TOO_MANY",
                format!("{} months listed, a year has 12", patch.monthly.len()),
            )),
            "monthly" => {
                for m in &patch.monthly {
                    let field = "investment.monthly";
                    if !(1..=12).contains(&m.month) {
                        v.push(FieldViolation::new(field, "INVALID_MONTH", format!("{} is not a month 1–12", m.month)));
                        continue;
                    }
                    if !seen.insert(m.month) {
                        v.push(FieldViolation::new(
                            field,
                            "DUPLICATE_MONTH",
                            format!("month {} is listed twice", m.month),
                        ));
                        continue;
                    }
                    if i64::from(year) > this_year || (i64::from(year) == this_year && m.month as u32 > this_month) {
                        v.push(FieldViolation::new(
                            field,
                            "MONTH_IN_FUTURE",
                            format!(
                                "{year}-{:02} has not begun: completed investment is reported after the fact",
                                m.month
                            ),
                        ));
                        continue;
                    }
                    if let Some(x) = m.completed_wan {
                        amount(&mut v, field, x);
                    }
                    inv.monthly.retain(|old| old.month != m.month);
                    if let Some(x) = m.completed_wan {
                        inv.monthly.push(MonthlyInvestment { month: m.month, completed_wan: Some(round_wan(x)) });
                    }
                }
                inv.monthly.sort_by_key(|m| m.month);
            }
            "source" => {
                check_text(&mut v, "investment.source", patch.source.trim(), 0, MAX_SHORT_CHARS * 2);
                inv.source = patch.source.trim().to_string();
            }
            dated => {
                let value = match dated {
                    "planned_approvals_date" => &patch.planned_approvals_date,
                    "planned_construction_date" => &patch.planned_construction_date,
                    _ => &patch.planned_statistics_date,
                };
                let value = value.trim().to_string();
                let field = format!("investment.{dated}");
                if !value.is_empty() {
                    match Date::parse(&value) {
                        None => v.push(FieldViolation::new(
                            &field,
                            "INVALID_DATE",
                            format!("{value:?} is not a real date YYYY-MM-DD"),
                        )),
                        Some(d) if d.ymd().0 != i64::from(year) => v.push(FieldViolation::new(
                            &field,
                            "DATE_OUTSIDE_YEAR",
                            format!("{d} is not in {year}: a year's plan names dates in that year"),
                        )),
                        Some(_) => {}
                    }
                }
                match dated {
                    "planned_approvals_date" => inv.planned_approvals_date = value,
                    "planned_construction_date" => inv.planned_construction_date = value,
                    _ => inv.planned_statistics_date = value,
                }
            }
        }
    }
    if !v.is_empty() {
        return Err(Error::invalid_fields(v));
    }
    inv.completed_wan = inv.completed_through(12);
    if !created && ProjectInvestment::diff(&before, &inv).is_empty() {
        return Ok((ChangeKind::Updated, before));
    }
    inv.update_time = ctx.now;
    Ok((if created { ChangeKind::Created } else { ChangeKind::Updated }, inv))
}

/// One contact attempt with a target, as stored (numbers as in
/// `ladder.v1.TargetContact`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TargetContact {
    /// Date.
    #[prost(string, tag = "1")]
    pub date: String,
    /// Channel.
    #[prost(string, tag = "2")]
    pub channel: String,
    /// Person contacted.
    #[prost(string, tag = "3")]
    pub person: String,
    /// Outcome.
    #[prost(string, tag = "4")]
    pub outcome: String,
    /// Who recorded it.
    #[prost(string, tag = "5")]
    pub actor: String,
    /// When it was recorded.
    #[prost(int64, tag = "100")]
    pub record_time: Micros,
}

/// A targeted firm (靶向招引), as stored (numbers as in `ladder.v1.Target`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Target {
    /// `targets/{id}`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Firm name.
    #[prost(string, tag = "2")]
    pub display_name: String,
    /// Credit code, when known.
    #[prost(string, tag = "3")]
    pub credit_code: String,
    /// Region code.
    #[prost(string, tag = "4")]
    pub region_code: String,
    /// Industry code.
    #[prost(string, tag = "6")]
    pub industry_code: String,
    /// Why targeted.
    #[prost(enumeration = "TargetReason", repeated, tag = "8")]
    pub reasons: Vec<i32>,
    /// Chain gap it would fill.
    #[prost(string, tag = "9")]
    pub chain_gap: String,
    /// Department.
    #[prost(string, tag = "10")]
    pub department: String,
    /// Owner.
    #[prost(string, tag = "11")]
    pub owner: String,
    /// Notes.
    #[prost(string, tag = "12")]
    pub notes: String,
    /// Status.
    #[prost(enumeration = "TargetStatus", tag = "13")]
    pub status: i32,
    /// `projects/{id}` it became.
    #[prost(string, tag = "14")]
    pub project: String,
    /// Contact attempts, oldest first.
    #[prost(message, repeated, tag = "15")]
    pub contacts: Vec<TargetContact>,
    /// Change-log revision of the last change.
    #[prost(uint64, tag = "17")]
    pub revision: u64,
    /// Why it was deleted.
    #[prost(string, tag = "21")]
    pub delete_reason: String,
    /// Creation time.
    #[prost(int64, tag = "101")]
    pub create_time: Micros,
    /// Last change.
    #[prost(int64, tag = "102")]
    pub update_time: Micros,
    /// Soft-delete time.
    #[prost(int64, tag = "103")]
    pub delete_time: Micros,
}

/// Fields UpdateTarget may change.
pub const TARGET_UPDATABLE: &[&str] = &[
    "chain_gap",
    "credit_code",
    "department",
    "display_name",
    "industry_code",
    "notes",
    "owner",
    "reasons",
    "region_code",
    "status",
];

impl Target {
    /// Opaque etag.
    pub fn etag(&self) -> String {
        update::etag(self.revision)
    }

    /// Whether it is soft-deleted.
    pub fn is_deleted(&self) -> bool {
        self.delete_time != 0
    }

    fn normalise(&mut self) {
        for f in [
            &mut self.display_name,
            &mut self.credit_code,
            &mut self.region_code,
            &mut self.industry_code,
            &mut self.chain_gap,
            &mut self.department,
            &mut self.owner,
            &mut self.notes,
        ] {
            *f = f.trim().to_string();
        }
        self.credit_code.make_ascii_uppercase();
        canonical_industry(&mut self.industry_code);
        canonical_industry(&mut self.chain_gap);
    }

    fn validate(&self) -> Result<()> {
        let mut v = Vec::new();
        check_text(&mut v, "target.display_name", &self.display_name, MIN_NAME_CHARS, MAX_NAME_CHARS);
        credit_code_shape(&mut v, "target.credit_code", &self.credit_code);
        region(&mut v, "target.region_code", &self.region_code);
        industry(&mut v, "target.industry_code", &self.industry_code);
        industry(&mut v, "target.chain_gap", &self.chain_gap);
        if self.reasons.is_empty() {
            v.push(FieldViolation::new("target.reasons", "REQUIRED", "say why the firm is targeted"));
        }
        if self.reasons.len() > 7 {
            v.push(FieldViolation::new("target.reasons", "TOO_MANY", "at most 7 reasons"));
        }
        let mut seen = Vec::new();
        for r in self.reasons.iter().take(7) {
            match TargetReason::try_from(*r) {
                Ok(TargetReason::Unspecified) | Err(_) => {
                    v.push(FieldViolation::new("target.reasons", "INVALID_ENUM", format!("{r} is not a target reason")))
                }
                Ok(_) if seen.contains(r) => {
                    v.push(FieldViolation::new("target.reasons", "DUPLICATE", format!("reason {r} is listed twice")))
                }
                Ok(_) => seen.push(*r),
            }
        }
        if self.reasons.contains(&(TargetReason::FillsChainGap as i32)) && self.chain_gap.is_empty() {
            v.push(FieldViolation::new(
                "target.chain_gap",
                "REQUIRED",
                "FILLS_CHAIN_GAP names the gap's industry code",
            ));
        }
        for (field, value) in [("target.department", &self.department), ("target.owner", &self.owner)] {
            check_text(&mut v, field, value, 0, MAX_SHORT_CHARS);
        }
        check_multiline(&mut v, "target.notes", &self.notes, MAX_NOTES_CHARS);
        if v.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid_fields(v))
        }
    }

    /// The fields that differ, rendered, for the change log.
    pub fn diff(old: &Target, new: &Target) -> Vec<FieldChange> {
        let render = |t: &Target| {
            let reasons: Vec<&str> = t
                .reasons
                .iter()
                .filter_map(|r| TargetReason::try_from(*r).ok())
                .map(|r| bare(r.as_str_name()))
                .collect();
            [
                ("display_name", t.display_name.clone()),
                ("credit_code", t.credit_code.clone()),
                ("region_code", t.region_code.clone()),
                ("industry_code", t.industry_code.clone()),
                ("reasons", reasons.join(", ")),
                ("chain_gap", t.chain_gap.clone()),
                ("department", t.department.clone()),
                ("owner", t.owner.clone()),
                ("notes", t.notes.clone()),
                ("status", if t.status == 0 { String::new() } else { bare(t.status().as_str_name()).to_string() }),
                ("project", t.project.clone()),
                ("contacts", if t.contacts.is_empty() { String::new() } else { t.contacts.len().to_string() }),
                ("delete_reason", t.delete_reason.clone()),
            ]
        };
        diff_rendered(render(old), render(new))
    }
}

/// Adds a target, OPEN.
pub fn create_target(current: Option<Target>, input: Target, now: Micros) -> Result<(ChangeKind, Target)> {
    if let Some(existing) = current {
        return Err(Error::AlreadyExists { deleted: existing.is_deleted(), resource: existing.name });
    }
    let mut t = Target {
        name: input.name,
        display_name: input.display_name,
        credit_code: input.credit_code,
        region_code: input.region_code,
        industry_code: input.industry_code,
        reasons: input.reasons,
        chain_gap: input.chain_gap,
        department: input.department,
        owner: input.owner,
        notes: input.notes,
        status: TargetStatus::Open as i32,
        create_time: now,
        update_time: now,
        ..Default::default()
    };
    t.normalise();
    t.validate()?;
    Ok((ChangeKind::Created, t))
}

/// Applies a field-mask update to a live target.
pub fn update_target(
    current: Option<Target>,
    patch: &Target,
    mask: &[String],
    etag: &str,
    now: Micros,
) -> Result<(ChangeKind, Target)> {
    let name = patch.name.clone();
    let mut t = update::existing(current, &name, etag, Target::etag)?;
    live_target(&t)?;
    let paths = update::expand_mask(
        mask,
        TARGET_UPDATABLE,
        &[
            "name",
            "region_name",
            "industry_name",
            "project",
            "contacts",
            "etag",
            "revision",
            "create_time",
            "update_time",
            "delete_time",
            "delete_reason",
        ],
        "Target",
    )?;
    let before = t.clone();
    for path in paths {
        match path {
            "display_name" => t.display_name.clone_from(&patch.display_name),
            "credit_code" => t.credit_code.clone_from(&patch.credit_code),
            "region_code" => t.region_code.clone_from(&patch.region_code),
            "industry_code" => t.industry_code.clone_from(&patch.industry_code),
            "reasons" => t.reasons.clone_from(&patch.reasons),
            "chain_gap" => t.chain_gap.clone_from(&patch.chain_gap),
            "department" => t.department.clone_from(&patch.department),
            "owner" => t.owner.clone_from(&patch.owner),
            "notes" => t.notes.clone_from(&patch.notes),
            "status" if patch.status == t.status => {}
            "status" => {
                let to = TargetStatus::try_from(patch.status);
                if t.status() == TargetStatus::Converted {
                    return Err(Error::FailedPrecondition {
                        reason: "TARGET_CONVERTED",
                        message: format!("{name} became {}: its status stays CONVERTED", t.project),
                    });
                }
                match to {
                    Ok(s @ (TargetStatus::Open | TargetStatus::Dropped)) => t.status = s as i32,
                    _ => {
                        return Err(Error::invalid_field(
                            "target.status",
                            "INVALID_ENUM",
                            "a target's status is set to OPEN or DROPPED (CONVERTED comes with CreateProject)",
                        ))
                    }
                }
            }
            _ => unreachable!("expand_mask only returns updatable fields"),
        }
    }
    t.normalise();
    t.validate()?;
    if Target::diff(&before, &t).is_empty() {
        return Ok((ChangeKind::Updated, before));
    }
    t.update_time = now;
    Ok((ChangeKind::Updated, t))
}

fn live_target(t: &Target) -> Result<()> {
    if t.is_deleted() {
        return Err(Error::FailedPrecondition { reason: "TARGET_DELETED", message: format!("{} is deleted", t.name) });
    }
    Ok(())
}

/// Appends a contact attempt.
pub fn record_contact(
    current: Option<Target>,
    name: &str,
    contact: &TargetContact,
    etag: &str,
    ctx: &Context,
) -> Result<(ChangeKind, Target)> {
    let mut t = update::existing(current, name, etag, Target::etag)?;
    live_target(&t)?;
    let mut v = Vec::new();
    let date = if contact.date.trim().is_empty() {
        Some(ctx.today)
    } else {
        past_date(&mut v, "contact.date", contact.date.trim(), ctx.today)
    };
    check_text(&mut v, "contact.channel", contact.channel.trim(), 1, MAX_CHANNEL_CHARS);
    check_text(&mut v, "contact.person", contact.person.trim(), 0, MAX_NAME_CHARS);
    check_multiline(&mut v, "contact.outcome", contact.outcome.trim(), MAX_REASON_CHARS);
    if !v.is_empty() {
        return Err(Error::invalid_fields(v));
    }
    if t.contacts.len() >= MAX_CONTACTS {
        return Err(Error::invalid_field(
            "contact",
            "TOO_MANY",
            format!("{name} keeps {MAX_CONTACTS} contact attempts, the most allowed"),
        ));
    }
    t.contacts.push(TargetContact {
        date: date.unwrap_or(ctx.today).to_string(),
        channel: contact.channel.trim().to_string(),
        person: contact.person.trim().to_string(),
        outcome: contact.outcome.trim().to_string(),
        actor: ctx.actor.clone(),
        record_time: ctx.now,
    });
    t.contacts.sort_by(|a, b| a.date.cmp(&b.date));
    t.update_time = ctx.now;
    Ok((ChangeKind::Updated, t))
}

/// Fills the fields a new project leaves empty from the target it comes
/// from: the investor (its name and credit code), the industry, the chain
/// gap, the source region, the department and owner, and the lead source
/// (chain targeting).
pub fn fill_from_target(p: &mut Project, t: &Target) {
    let fill = |field: &mut String, value: &str| {
        if field.trim().is_empty() {
            *field = value.to_string();
        }
    };
    fill(&mut p.investor_name, &t.display_name);
    fill(&mut p.investor_credit_code, &t.credit_code);
    fill(&mut p.industry_code, &t.industry_code);
    fill(&mut p.chain_gap, &t.chain_gap);
    fill(&mut p.source_region_code, &t.region_code);
    fill(&mut p.department, &t.department);
    fill(&mut p.owner, &t.owner);
    if p.lead_source == LeadSource::Unspecified as i32 {
        p.lead_source = LeadSource::ChainTargeting as i32;
    }
}

/// Marks a target CONVERTED to `project` (in the project's creation).
/// `free` says the project it became earlier, if any, is deleted: the target
/// may then become a project again.
pub fn convert_target(
    current: Option<Target>,
    name: &str,
    project: &str,
    free: bool,
    now: Micros,
) -> Result<(ChangeKind, Target)> {
    let mut t = current
        .ok_or_else(|| Error::invalid_field("project.target", "UNKNOWN_TARGET", format!("{name} does not exist")))?;
    if t.is_deleted() {
        return Err(Error::invalid_field("project.target", "UNKNOWN_TARGET", format!("{name} is deleted")));
    }
    if t.status() == TargetStatus::Converted && !free {
        return Err(Error::FailedPrecondition {
            reason: "TARGET_CONVERTED",
            message: format!("{name} already became {}", t.project),
        });
    }
    t.status = TargetStatus::Converted as i32;
    t.project = project.to_string();
    t.update_time = now;
    Ok((ChangeKind::Updated, t))
}

pub mod reports;

#[cfg(test)]
mod tests;
