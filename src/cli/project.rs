//! `ladder project …`: the investment-promotion project library (招商项目库)
//! from the terminal: projects and their pipeline events, yearly investment
//! figures, and the reports sent upward (funnel, key-project investment,
//! pipeline, stalled projects, chain-gap coverage).
//!
//! Also home of what `ladder project` and `ladder target` share: reading the
//! service's enums from flags (short names, proto names and Chinese, one
//! mechanism for all: [`Choice`]), their Chinese labels, amounts in 万元 and
//! update masks built from the flags given.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::cli::client::{collect_pages, fail, Intercepted};
use crate::cli::{render, table, ClientArgs};
use crate::pb::v1;
use crate::pb::v1::project_service_client::ProjectServiceClient;

// ---------------------------------------------------------------------------
// Enums: one way to read them from a flag and show them in Chinese.

/// A proto enum of the service as the CLI reads and shows it: the generated
/// names (`PROJECT_STAGE_SIGNED`, or `SIGNED` without the prefix), short
/// flag words (`signed`, `member-firm`) and Chinese labels (签约).
pub(crate) trait Choice: Copy + PartialEq + 'static {
    /// Prefix of the generated names, e.g. `PROJECT_STAGE_`.
    const PREFIX: &'static str;
    /// Every value but UNSPECIFIED, in order: the Chinese label, then
    /// further words accepted for it (the first ASCII one is the flag word
    /// shown in help and errors; without one it is the proto name in
    /// lower-case with dashes).
    const TABLE: &'static [(Self, &'static str, &'static [&'static str])];
    /// The generated `from_str_name`.
    fn from_name(name: &str) -> Option<Self>;
    /// The generated `as_str_name`.
    fn proto_name(self) -> &'static str;
    /// The value of an enum field.
    fn from_number(v: i32) -> Option<Self>;
}

/// Implements [`Choice`] for a generated enum from its label table.
macro_rules! choice {
    ($t:ident, $prefix:literal, { $($v:ident => $zh:literal $([$($alias:literal),*])?),* $(,)? }) => {
        impl Choice for v1::$t {
            const PREFIX: &'static str = $prefix;
            const TABLE: &'static [(Self, &'static str, &'static [&'static str])] =
                &[$((v1::$t::$v, $zh, &[$($($alias),*)?])),*];
            fn from_name(name: &str) -> Option<Self> {
                v1::$t::from_str_name(name)
            }
            fn proto_name(self) -> &'static str {
                self.as_str_name()
            }
            fn from_number(v: i32) -> Option<Self> {
                v1::$t::try_from(v).ok()
            }
        }
    };
}

// The Chinese labels of every enum the project commands show: here only.
choice!(ProjectStage, "PROJECT_STAGE_", {
    Lead => "线索", Contact => "接洽", Visit => "考察", Negotiation => "洽谈", Signed => "签约",
    Registered => "注册落地" ["registered", "注册", "落地"], Land => "拿地" ["land", "供地"],
    Construction => "开工", Production => "投产", Statistics => "入统" ["statistics", "入库"],
});
choice!(ProjectStatus, "PROJECT_STATUS_", { Active => "推进中", OnHold => "暂缓" ["on-hold", "hold"], Lost => "流失" });
choice!(LeadSource, "LEAD_SOURCE_", {
    Alliance => "联盟以商招商" ["alliance", "联盟"], MemberFirm => "企业以商招商" ["member-firm", "会员企业"],
    Chamber => "商会", Association => "协会", PromotionEvent => "推介活动" ["event", "活动"],
    ChainTargeting => "产业链招商" ["chain", "靶向招引"], WalkIn => "自主上门" ["walk-in"], Other => "其他",
});
choice!(KeyLevel, "KEY_LEVEL_", {
    None => "非重点" ["none", "无"], District => "区级", Municipal => "市级", Provincial => "省级", National => "国家级",
});
choice!(ProjectEventKind, "PROJECT_EVENT_KIND_", {
    Step => "推进", Hold => "暂缓", Resume => "恢复", Lose => "流失", Correction => "更正",
});
choice!(LossReason, "LOSS_REASON_", {
    OtherLocation => "落户他处" ["other-location"], InvestorWithdrew => "投资方放弃" ["investor-withdrew"],
    Factors => "要素保障不足" ["factors", "要素"], Terms => "条件未谈拢" ["terms", "政策条件"], Other => "其他",
});
choice!(TargetReason, "TARGET_REASON_", {
    ChainLeader => "链主" ["chain-leader", "头部企业"], StateLevel => "国字号" ["state-level"],
    LittleGiant => "小巨人" ["little-giant"], LittleGiantPotential => "小巨人潜在" ["little-giant-potential"],
    Gazelle => "瞪羚", Unicorn => "独角兽", FillsChainGap => "补链" ["fills-chain-gap"],
});
choice!(TargetStatus, "TARGET_STATUS_", { Open => "跟进中" ["open"], Converted => "已转化", Dropped => "已放弃" });
choice!(ProjectGroupBy, "PROJECT_GROUP_BY_", {
    Zone => "片区", Department => "部门", Industry => "行业", SourceRegion => "来源地" ["source-region"],
    LeadSource => "线索来源" ["lead-source"], KeyLevel => "级别" ["key-level"], Project => "项目",
});
choice!(ReportPeriod, "REPORT_PERIOD_", { Month => "月", Quarter => "季度" ["quarter", "季"], Year => "年" });
choice!(CategoryLevel, "CATEGORY_LEVEL_", { Class => "小类", Group => "中类", Division => "大类" });

/// `-`, `_` and spaces alike, upper case: how flag words are compared.
fn normal(word: &str) -> String {
    word.trim().to_uppercase().replace(['-', ' '], "_")
}

/// Reads a value: its proto name with or without the prefix, its flag word,
/// its Chinese label or another accepted word. UNSPECIFIED is never read.
pub(crate) fn parse_choice<E: Choice>(value: &str) -> Option<E> {
    let word = normal(value);
    let known = |e: &E| E::TABLE.iter().any(|(v, ..)| v == e);
    E::from_name(&word).or_else(|| E::from_name(&format!("{}{word}", E::PREFIX))).filter(known).or_else(|| {
        E::TABLE
            .iter()
            .find(|(_, zh, words)| std::iter::once(zh).chain(words.iter()).any(|w| normal(w) == word))
            .map(|(v, ..)| *v)
    })
}

/// The proto name without its prefix (`SIGNED`), as JSON and filters carry it.
pub(crate) fn short_name<E: Choice>(e: E) -> &'static str {
    e.proto_name().trim_start_matches(E::PREFIX)
}

/// The short name of an enum field's value; empty for UNSPECIFIED or an
/// unknown number.
pub(crate) fn choice_name<E: Choice>(v: i32) -> &'static str {
    E::from_number(v).filter(|e| E::TABLE.iter().any(|(x, ..)| x == e)).map_or("", short_name)
}

/// The Chinese label (签约); empty for UNSPECIFIED or an unknown number.
pub(crate) fn label<E: Choice>(v: i32) -> &'static str {
    E::TABLE.iter().find(|(e, ..)| E::from_number(v) == Some(*e)).map_or("", |(_, zh, _)| zh)
}

/// The word a flag takes for a value (`member-firm`).
fn flag_word<E: Choice>(e: E) -> String {
    let entry = E::TABLE.iter().find(|(v, ..)| *v == e);
    match entry.and_then(|(_, _, words)| words.iter().find(|w| w.is_ascii())) {
        Some(word) => (*word).to_string(),
        None => short_name(e).to_ascii_lowercase().replace('_', "-"),
    }
}

/// Every value a flag takes, for help and errors: `lead (线索), contact (接洽), …`.
pub(crate) fn choices<E: Choice>() -> String {
    E::TABLE.iter().map(|(e, zh, _)| format!("{} ({zh})", flag_word(*e))).collect::<Vec<_>>().join(", ")
}

/// Reads `flag`'s value, or says what it takes.
pub(crate) fn parse_flag<E: Choice>(flag: &str, value: &str) -> Result<E, String> {
    parse_choice(value).ok_or_else(|| format!("{flag} {value:?}: use {}", choices::<E>()))
}

/// Reads an optional flag.
pub(crate) fn parse_optional<E: Choice>(flag: &str, value: Option<&str>) -> Result<Option<E>, String> {
    value.map(|v| parse_flag(flag, v)).transpose()
}

/// `签约 SIGNED`, or empty.
fn both<E: Choice>(v: i32) -> String {
    match (label::<E>(v), choice_name::<E>(v)) {
        ("", _) => String::new(),
        (zh, name) => format!("{zh} {name}"),
    }
}

// ---------------------------------------------------------------------------
// Shared helpers of the project and target commands.

/// An amount in 万元 with up to two decimals: `1200`, `85.5`.
pub(crate) fn wan(amount: f64) -> String {
    let text = format!("{amount:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// An amount cell: empty for none.
fn wan_cell(amount: f64) -> String {
    if amount == 0.0 {
        String::new()
    } else {
        wan(amount)
    }
}

/// `{collection}/{id}` from a bare id or the full name.
pub(crate) fn resource_name(collection: &str, value: &str) -> String {
    let value = value.trim();
    let prefix = format!("{collection}/");
    if value.starts_with(&prefix) || value.is_empty() {
        value.to_string()
    } else {
        format!("{prefix}{value}")
    }
}

/// The id of a resource name (`projects/abc` → `abc`).
pub(crate) fn short_id(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, id)| id)
}

/// A time as JSON: RFC 3339 in UTC, or null.
pub(crate) fn time_json(ts: Option<&prost_types::Timestamp>) -> Value {
    ts.map_or(Value::Null, |t| Value::String(t.to_string()))
}

/// The fields an update changes: each flag given sets its field and names
/// it in the mask.
#[derive(Debug, Default)]
pub(crate) struct Mask(pub(crate) Vec<String>);

impl Mask {
    /// A text field.
    pub(crate) fn text(&mut self, path: &str, value: Option<String>, slot: &mut String) {
        if let Some(v) = value {
            *slot = v;
            self.0.push(path.into());
        }
    }

    /// A number field.
    pub(crate) fn number(&mut self, path: &str, value: Option<f64>, slot: &mut f64) {
        if let Some(v) = value {
            *slot = v;
            self.0.push(path.into());
        }
    }

    /// An enum field.
    pub(crate) fn choice<E: Choice + Into<i32>>(&mut self, path: &str, value: Option<E>, slot: &mut i32) {
        if let Some(v) = value {
            *slot = v.into();
            self.0.push(path.into());
        }
    }

    /// A repeated field: given values replace the old ones.
    pub(crate) fn list<T>(&mut self, path: &str, values: Vec<T>, slot: &mut Vec<T>) {
        if !values.is_empty() {
            *slot = values;
            self.0.push(path.into());
        }
    }

    /// The mask to send; a usage error when no flag named a field.
    pub(crate) fn into_field_mask(self) -> Result<prost_types::FieldMask, String> {
        if self.0.is_empty() {
            return Err("nothing to change: give at least one field (e.g. --owner) or --clear FIELD".into());
        }
        Ok(prost_types::FieldMask { paths: self.0 })
    }
}

/// `AND`s the convenience flags (`field = "value"`) into a filter.
pub(crate) fn and_filter(filter: &str, conditions: &[(&str, Option<String>)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !filter.trim().is_empty() {
        parts.push(filter.trim().to_string());
    }
    for (field, value) in conditions {
        if let Some(v) = value {
            let quoted = v.replace('\\', "\\\\").replace('"', "\\\"");
            parts.push(format!("{field} = \"{quoted}\""));
        }
    }
    parts.join(" AND ")
}

/// `code name`, or whichever is known.
pub(crate) fn with_name(code: &str, name: &str) -> String {
    format!("{code} {name}").trim().to_string()
}

/// Options of every write: the etag guard, the idempotency key and a dry run.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct WriteOptions {
    /// Refuse unless the record is unchanged since this etag was read.
    #[arg(long, default_value = "")]
    pub(crate) etag: String,
    /// Idempotency key: a retry with the same key is not applied twice.
    #[arg(long, default_value = "")]
    pub(crate) request_id: String,
    /// Check everything, write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// Says that a dry run wrote nothing.
pub(crate) fn note_dry_run(dry_run: bool) {
    if dry_run {
        eprintln!("(dry run: checked, nothing written)");
    }
}

// ---------------------------------------------------------------------------
// The command tree.

/// `ladder project …` with the client options.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    #[command(subcommand)]
    command: ProjectCommand,
    #[command(flatten)]
    client: ClientArgs,
}

/// `ladder project …`
#[derive(Debug, Subcommand)]
enum ProjectCommand {
    /// Record a new project at 线索 (LEAD).
    Add(Box<AddProject>),
    /// List projects, newest first, with the exact total.
    List(ListProjects),
    /// Show one project: every field, its event history and its investment years.
    Show {
        /// Project id or `projects/{id}`.
        project: String,
    },
    /// Step a project forward to a stage (skipping stages is allowed).
    Step {
        /// Project id or `projects/{id}`.
        project: String,
        #[arg(help = stage_help())]
        stage: String,
        /// The amount contracted, 万元 (required when stepping to 签约 SIGNED).
        #[arg(long)]
        amount_wan: Option<f64>,
        /// The registered project company's credit code (required when
        /// stepping to 注册落地 REGISTERED).
        #[arg(long, default_value = "")]
        enterprise: String,
        /// Note.
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        event: EventOptions,
    },
    /// Put a project on hold (暂缓).
    Hold {
        /// Project id or `projects/{id}`.
        project: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        event: EventOptions,
    },
    /// Resume a project on hold, or one that was lost and came back (the loss stays in its history).
    Resume {
        /// Project id or `projects/{id}`.
        project: String,
        /// Note.
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        event: EventOptions,
    },
    /// Record a project as lost (流失).
    Lose {
        /// Project id or `projects/{id}`.
        project: String,
        #[arg(long, help = format!("Why it was lost: {}", choices::<v1::LossReason>()))]
        loss_reason: String,
        /// What happened, in words.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        event: EventOptions,
    },
    /// Correct a mistake: back to a stage the project stepped to (or, at its
    /// stage, undo a hold or loss recorded in error); what is undone stays
    /// in the history, marked as corrected.
    Correct {
        /// Project id or `projects/{id}`.
        project: String,
        #[arg(help = stage_help())]
        stage: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        event: EventOptions,
    },
    /// Change the fields given (the pipeline changes only through events).
    Edit(Box<EditProject>),
    /// Soft-delete a project (a duplicate or a mistake); undelete restores it.
    Delete {
        /// Project id or `projects/{id}`.
        project: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Restore a deleted project.
    Undelete {
        /// Project id or `projects/{id}`.
        project: String,
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Write a project's plan for a year: planned investment, planned dates, source.
    Plan {
        /// Project id or `projects/{id}`.
        project: String,
        /// The year, e.g. 2026.
        year: i32,
        /// Annual planned investment (年度计划投资), 万元.
        #[arg(long)]
        planned_wan: Option<f64>,
        /// Planned date of 手续办结 this year.
        #[arg(long)]
        approvals_by: Option<String>,
        /// Planned date of 开工 this year.
        #[arg(long)]
        construction_by: Option<String>,
        /// Planned date of 入统 this year.
        #[arg(long)]
        statistics_by: Option<String>,
        /// Where the figures come from, e.g. 发改局月报.
        #[arg(long)]
        source: Option<String>,
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Write the investment completed in one month (万元; `-` or `clear` clears the month).
    Invest {
        /// Project id or `projects/{id}`.
        project: String,
        /// The year.
        year: i32,
        /// The month, 1–12.
        month: i32,
        /// Completed in the month, 万元; `-` or `clear` clears it.
        #[arg(allow_hyphen_values = true)]
        amount_wan: String,
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Reports sent upward: the funnel, key-project investment, the pipeline.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Active projects with no progress for longer than their stage's threshold.
    Stalled {
        /// Stalled after this many days at any stage (default: the server's thresholds).
        #[arg(long, default_value_t = 0)]
        days: i32,
        /// A project filter (as `project list --filter`).
        #[arg(long, default_value = "")]
        filter: String,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i32,
    },
    /// Chain gaps (缺链) with the projects aimed at them, and those no project targets.
    Gaps {
        #[arg(long, default_value = "class", help = format!("Gap level: {}", choices::<v1::CategoryLevel>()))]
        level: String,
        /// Only gaps under this industry code.
        #[arg(long, default_value = "")]
        industry: String,
    },
}

fn stage_help() -> String {
    format!("The stage: {}; or the proto name (SIGNED)", choices::<v1::ProjectStage>())
}

fn group_help() -> String {
    format!("Groups besides the overall line: {}", choices::<v1::ProjectGroupBy>())
}

/// `ladder project report …`
#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Projects per stage as of a date (on hold and lost apart), overall and per group.
    Funnel {
        /// As of this date (default today).
        #[arg(long, default_value = "")]
        as_of: String,
        #[arg(long, help = group_help())]
        by: Option<String>,
        /// A project filter (as `project list --filter`).
        #[arg(long, default_value = "")]
        filter: String,
    },
    /// Key-project investment against the annual plan, the 手续办结率, 开工率
    /// and 入统率, and the projects behind plan.
    Investment {
        /// The year (default this year).
        #[arg(long, default_value_t = 0)]
        year: i32,
        /// As of this date within the year.
        #[arg(long, default_value = "")]
        as_of: String,
        #[arg(long, help = group_help())]
        by: Option<String>,
        /// A project filter, e.g. 'key_level >= MUNICIPAL'.
        #[arg(long, default_value = "")]
        filter: String,
    },
    /// Signings per period, losses per reason and the median days per stage.
    Pipeline {
        /// First day (default 1 January this year).
        #[arg(long, default_value = "")]
        from: String,
        /// Last day (default today).
        #[arg(long, default_value = "")]
        to: String,
        #[arg(long, help = format!("Period of the signings: {}", choices::<v1::ReportPeriod>()))]
        period: Option<String>,
        /// A project filter (as `project list --filter`).
        #[arg(long, default_value = "")]
        filter: String,
    },
}

/// Options of a pipeline event.
#[derive(Debug, Args)]
struct EventOptions {
    /// Effective date YYYY-MM-DD (default today).
    #[arg(long, default_value = "")]
    date: String,
    #[command(flatten)]
    write: WriteOptions,
}

/// The project fields staff set, besides the name and the investor.
#[derive(Debug, Default, Args)]
struct ProjectFields {
    /// Investor's credit code, when known.
    #[arg(long)]
    investor_code: Option<String>,
    /// The investor as a registered firm: its credit code.
    #[arg(long)]
    investor_enterprise: Option<String>,
    /// GB/T 4754 industry code, e.g. C3841.
    #[arg(long)]
    industry: Option<String>,
    /// Chain segment (产业链环节), e.g. 储能.
    #[arg(long)]
    segment: Option<String>,
    /// The chain gap it fills: an industry code as `ladder gaps` lists it.
    #[arg(long)]
    gap: Option<String>,
    /// Planned total investment, 万元.
    #[arg(long)]
    planned_wan: Option<f64>,
    /// Planned fixed-asset investment, 万元.
    #[arg(long)]
    fixed_asset_wan: Option<f64>,
    /// Where the investor comes from: a region code, e.g. 110000.
    #[arg(long)]
    source_region: Option<String>,
    /// Promotion zone id (包片招商片区).
    #[arg(long)]
    zone: Option<String>,
    #[arg(long, help = format!("Where the lead came from: {}", choices::<v1::LeadSource>()))]
    lead_source: Option<String>,
    /// The alliance that brought it (with --lead-source alliance).
    #[arg(long)]
    lead_alliance: Option<String>,
    /// The member firm that brought it: its credit code (with --lead-source member-firm).
    #[arg(long)]
    lead_firm: Option<String>,
    /// Responsible department (部门包抓).
    #[arg(long)]
    department: Option<String>,
    /// Responsible person (包抓领导 / 负责人).
    #[arg(long)]
    owner: Option<String>,
    /// Service commissioner (项目包联服务专员).
    #[arg(long)]
    commissioner: Option<String>,
    #[arg(long, help = format!("Key-project level: {}", choices::<v1::KeyLevel>()))]
    key_level: Option<String>,
    /// Tag (repeatable); on edit the tags given replace the old ones.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Notes.
    #[arg(long)]
    notes: Option<String>,
}

impl ProjectFields {
    /// Sets the fields given on `p` and names them in `mask`.
    fn apply(self, p: &mut v1::Project, mask: &mut Mask) -> Result<(), String> {
        let lead_source = parse_optional::<v1::LeadSource>("--lead-source", self.lead_source.as_deref())?;
        let key_level = parse_optional::<v1::KeyLevel>("--key-level", self.key_level.as_deref())?;
        let firm = |code: Option<String>| code.map(|c| resource_name("enterprises", &c));
        mask.text("investor_credit_code", self.investor_code, &mut p.investor_credit_code);
        mask.text("investor_enterprise", firm(self.investor_enterprise), &mut p.investor_enterprise);
        mask.text("industry_code", self.industry, &mut p.industry_code);
        mask.text("chain_segment", self.segment, &mut p.chain_segment);
        mask.text("chain_gap", self.gap, &mut p.chain_gap);
        mask.number("planned_investment_wan", self.planned_wan, &mut p.planned_investment_wan);
        mask.number("planned_fixed_asset_wan", self.fixed_asset_wan, &mut p.planned_fixed_asset_wan);
        mask.text("source_region_code", self.source_region, &mut p.source_region_code);
        mask.text("promotion_zone", self.zone, &mut p.promotion_zone);
        mask.choice("lead_source", lead_source, &mut p.lead_source);
        mask.text("lead_alliance_id", self.lead_alliance, &mut p.lead_alliance_id);
        mask.text("lead_credit_code", self.lead_firm, &mut p.lead_credit_code);
        mask.text("department", self.department, &mut p.department);
        mask.text("owner", self.owner, &mut p.owner);
        mask.text("service_commissioner", self.commissioner, &mut p.service_commissioner);
        mask.choice("key_level", key_level, &mut p.key_level);
        mask.list("tags", self.tags, &mut p.tags);
        mask.text("notes", self.notes, &mut p.notes);
        Ok(())
    }
}

/// Arguments of `ladder project add`.
#[derive(Debug, Args)]
struct AddProject {
    /// Project name (项目名称), 2–100 characters.
    #[arg(long)]
    name: String,
    /// Investor's name (投资方).
    #[arg(long)]
    investor: String,
    #[command(flatten)]
    fields: ProjectFields,
    /// Date of the lead YYYY-MM-DD (default today).
    #[arg(long, default_value = "")]
    lead_date: String,
    /// The targeted firm it came from: `targets/{id}` or the id (marked converted).
    #[arg(long, default_value = "")]
    target: String,
    /// Idempotency key: a retry with the same key is not applied twice.
    #[arg(long, default_value = "")]
    request_id: String,
    /// Check everything, write nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Arguments of `ladder project edit`.
#[derive(Debug, Args)]
struct EditProject {
    /// Project id or `projects/{id}`.
    project: String,
    /// New project name.
    #[arg(long)]
    name: Option<String>,
    /// New investor's name.
    #[arg(long)]
    investor: Option<String>,
    #[command(flatten)]
    fields: ProjectFields,
    /// Date approval procedures were completed (手续办结), YYYY-MM-DD.
    #[arg(long)]
    approvals_date: Option<String>,
    /// Clear a field (repeatable), e.g. --clear chain_gap.
    #[arg(long, value_name = "FIELD")]
    clear: Vec<String>,
    #[command(flatten)]
    write: WriteOptions,
}

impl EditProject {
    /// The project with the fields given, and the mask naming exactly them.
    fn into_update(self) -> Result<(v1::Project, prost_types::FieldMask), String> {
        let mut p = v1::Project { name: resource_name("projects", &self.project), ..Default::default() };
        let mut mask = Mask::default();
        mask.text("display_name", self.name, &mut p.display_name);
        mask.text("investor_name", self.investor, &mut p.investor_name);
        self.fields.apply(&mut p, &mut mask)?;
        mask.text("approvals_date", self.approvals_date, &mut p.approvals_date);
        mask.0.extend(self.clear);
        Ok((p, mask.into_field_mask()?))
    }
}

/// Arguments of `ladder project list`.
#[derive(Debug, Args)]
struct ListProjects {
    /// Project filter, e.g. 'zone = east AND stage >= SIGNED AND key_level = MUNICIPAL'.
    #[arg(long, default_value = "")]
    filter: String,
    /// Only this promotion zone.
    #[arg(long)]
    zone: Option<String>,
    /// Only at this stage (签约, signed, SIGNED…).
    #[arg(long)]
    stage: Option<String>,
    /// Only active, on-hold or lost (推进中, 暂缓, 流失).
    #[arg(long)]
    status: Option<String>,
    /// Only this key-project level (区级, municipal…).
    #[arg(long)]
    key_level: Option<String>,
    /// Only this responsible department.
    #[arg(long)]
    department: Option<String>,
    /// Only this industry code or under it.
    #[arg(long)]
    industry: Option<String>,
    /// Only investors from this region code or under it (11: Beijing).
    #[arg(long)]
    source_region: Option<String>,
    /// Include deleted projects.
    #[arg(long)]
    deleted: bool,
    /// Fetch every page.
    #[arg(long)]
    all: bool,
    /// Projects per page (at most 500).
    #[arg(long, default_value_t = 50)]
    page_size: i32,
}

impl ListProjects {
    /// The filter with the convenience flags ANDed in (enums by their proto names).
    fn filter(&self) -> Result<String, String> {
        let stage = parse_optional::<v1::ProjectStage>("--stage", self.stage.as_deref())?;
        let status = parse_optional::<v1::ProjectStatus>("--status", self.status.as_deref())?;
        let key_level = parse_optional::<v1::KeyLevel>("--key-level", self.key_level.as_deref())?;
        Ok(and_filter(
            &self.filter,
            &[
                ("zone", self.zone.clone()),
                ("stage", stage.map(|s| short_name(s).to_string())),
                ("status", status.map(|s| short_name(s).to_string())),
                ("key_level", key_level.map(|k| short_name(k).to_string())),
                ("department", self.department.clone()),
                ("industry_code", self.industry.clone()),
                ("source_region", self.source_region.clone()),
            ],
        ))
    }
}

// ---------------------------------------------------------------------------
// Showing projects.

fn event_json(e: &v1::ProjectEvent) -> Value {
    json!({
        "kind": choice_name::<v1::ProjectEventKind>(e.kind), "stage": choice_name::<v1::ProjectStage>(e.stage),
        "date": e.date, "amount_wan": e.amount_wan, "enterprise": e.enterprise,
        "loss_reason": choice_name::<v1::LossReason>(e.loss_reason), "reason": e.reason, "note": e.note,
        "actor": e.actor, "record_time": time_json(e.record_time.as_ref()), "voided": e.voided,
    })
}

/// A project as JSON, every field named as in the proto, enums by their
/// names without prefix.
pub(crate) fn project_json(p: &v1::Project) -> Value {
    // In parts: one `json!` of every field is past the macro's recursion limit.
    let parts = [
        json!({
            "name": p.name, "display_name": p.display_name, "investor_name": p.investor_name,
            "investor_credit_code": p.investor_credit_code, "investor_enterprise": p.investor_enterprise,
            "investor_enterprise_display_name": p.investor_enterprise_display_name,
            "enterprise": p.enterprise, "enterprise_display_name": p.enterprise_display_name,
            "industry_code": p.industry_code, "industry_name": p.industry_name, "chain_segment": p.chain_segment,
            "chain_gap": p.chain_gap, "planned_investment_wan": p.planned_investment_wan,
            "planned_fixed_asset_wan": p.planned_fixed_asset_wan, "source_region_code": p.source_region_code,
            "source_region_name": p.source_region_name, "promotion_zone": p.promotion_zone,
        }),
        json!({
            "lead_source": choice_name::<v1::LeadSource>(p.lead_source), "lead_alliance_id": p.lead_alliance_id,
            "lead_credit_code": p.lead_credit_code, "department": p.department, "owner": p.owner,
            "service_commissioner": p.service_commissioner, "key_level": choice_name::<v1::KeyLevel>(p.key_level),
            "tags": p.tags, "notes": p.notes, "lead_date": p.lead_date, "approvals_date": p.approvals_date,
            "target": p.target, "stage": choice_name::<v1::ProjectStage>(p.stage), "stage_date": p.stage_date,
            "status": choice_name::<v1::ProjectStatus>(p.status), "signed_date": p.signed_date,
        }),
        json!({
            "contracted_amount_wan": p.contracted_amount_wan, "registered_date": p.registered_date,
            "land_date": p.land_date, "construction_date": p.construction_date,
            "production_date": p.production_date, "statistics_date": p.statistics_date,
            "loss_reason": choice_name::<v1::LossReason>(p.loss_reason),
            "events": p.events.iter().map(event_json).collect::<Vec<_>>(), "etag": p.etag, "revision": p.revision,
            "create_time": time_json(p.create_time.as_ref()), "update_time": time_json(p.update_time.as_ref()),
            "delete_time": time_json(p.delete_time.as_ref()), "delete_reason": p.delete_reason,
        }),
    ];
    let mut all = serde_json::Map::new();
    for part in parts {
        if let Value::Object(fields) = part {
            all.extend(fields);
        }
    }
    Value::Object(all)
}

/// A linked firm: `enterprises/… 名称`.
fn firm_text(name: &str, display_name: &str) -> String {
    with_name(name, display_name)
}

/// A project as a label list.
fn project_pairs(p: &v1::Project) -> String {
    let investor = [
        p.investor_name.clone(),
        p.investor_credit_code.clone(),
        firm_text(&p.investor_enterprise, &p.investor_enterprise_display_name),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join("  ");
    let planned = match (p.planned_investment_wan, p.planned_fixed_asset_wan) {
        (0.0, 0.0) => String::new(),
        (total, 0.0) => format!("{} 万元", wan(total)),
        (total, fixed) => format!("{} 万元（固定资产 {} 万元）", wan(total), wan(fixed)),
    };
    let lead = [label::<v1::LeadSource>(p.lead_source), &p.lead_alliance_id, &p.lead_credit_code]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let stage = match p.stage_date.as_str() {
        "" => both::<v1::ProjectStage>(p.stage),
        since => format!("{} (since {since})", both::<v1::ProjectStage>(p.stage)),
    };
    let status = match label::<v1::LossReason>(p.loss_reason) {
        "" => both::<v1::ProjectStatus>(p.status),
        why => format!("{}：{why}", both::<v1::ProjectStatus>(p.status)),
    };
    let signed = if p.signed_date.is_empty() {
        String::new()
    } else {
        format!("{}，{} 万元", p.signed_date, wan(p.contracted_amount_wan))
    };
    let deleted = if p.delete_time.is_some() {
        format!("{} {}", render::stamp(p.delete_time.as_ref()), p.delete_reason)
    } else {
        String::new()
    };
    table::render_pairs(&[
        ("项目 project", p.name.clone()),
        ("名称 name", p.display_name.clone()),
        ("投资方 investor", investor),
        ("行业 industry", with_name(&p.industry_code, &p.industry_name)),
        ("环节 segment", p.chain_segment.clone()),
        ("补链 chain gap", p.chain_gap.clone()),
        ("计划投资 planned", planned),
        ("来源地 source region", with_name(&p.source_region_code, &p.source_region_name)),
        ("片区 zone", p.promotion_zone.clone()),
        ("线索来源 lead source", lead),
        ("部门 department", p.department.clone()),
        ("负责人 owner", p.owner.clone()),
        ("服务专员 commissioner", p.service_commissioner.clone()),
        ("级别 key level", both::<v1::KeyLevel>(p.key_level)),
        ("标签 tags", p.tags.join("、")),
        ("备注 notes", p.notes.clone()),
        ("阶段 stage", stage),
        ("状态 status", status),
        ("线索日期 lead date", p.lead_date.clone()),
        ("手续办结 approvals", p.approvals_date.clone()),
        ("签约 signed", signed),
        ("注册落地 registered", p.registered_date.clone()),
        ("项目公司 company", firm_text(&p.enterprise, &p.enterprise_display_name)),
        ("拿地 land", p.land_date.clone()),
        ("开工 construction", p.construction_date.clone()),
        ("投产 production", p.production_date.clone()),
        ("入统 statistics", p.statistics_date.clone()),
        ("靶向目标 target", p.target.clone()),
        ("已删除 deleted", deleted),
        ("登记 created", render::stamp(p.create_time.as_ref())),
        ("更新 updated", render::stamp(p.update_time.as_ref())),
        ("版本 etag", p.etag.clone()),
    ])
}

/// A project's events as a table, corrected steps marked.
fn events_table(events: &[v1::ProjectEvent]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let mut kind = label::<v1::ProjectEventKind>(e.kind).to_string();
            if e.voided {
                kind.push_str("（已更正）");
            }
            let why = [label::<v1::LossReason>(e.loss_reason), &e.reason, &e.note]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("：");
            vec![
                e.date.clone(),
                kind,
                label::<v1::ProjectStage>(e.stage).to_string(),
                wan_cell(e.amount_wan),
                e.enterprise.trim_start_matches("enterprises/").to_string(),
                why,
                e.actor.clone(),
                render::time(e.record_time.as_ref()),
            ]
        })
        .collect();
    let recorded = render::time_header("记录时间 RECORDED");
    table::render(
        &[
            "日期 DATE",
            "事件 EVENT",
            "阶段 STAGE",
            "金额(万元) AMOUNT",
            "企业 ENTERPRISE",
            "原因/备注 REASON/NOTE",
            "经办 BY",
            &recorded,
        ],
        &rows,
    )
}

/// Projects as a table.
fn projects_table(items: &[v1::Project]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|p| {
            let mut status = label::<v1::ProjectStatus>(p.status).to_string();
            if p.delete_time.is_some() {
                status.push_str("（已删除）");
            }
            vec![
                short_id(&p.name).to_string(),
                p.display_name.clone(),
                label::<v1::ProjectStage>(p.stage).to_string(),
                status,
                p.promotion_zone.clone(),
                label::<v1::KeyLevel>(p.key_level).to_string(),
                wan_cell(p.planned_investment_wan),
                wan_cell(p.contracted_amount_wan),
                p.stage_date.clone(),
            ]
        })
        .collect();
    table::render(
        &[
            "项目 PROJECT",
            "名称 NAME",
            "阶段 STAGE",
            "状态 STATUS",
            "片区 ZONE",
            "级别 KEY LEVEL",
            "计划投资(万元) PLANNED",
            "签约额(万元) CONTRACTED",
            "阶段日期 STAGE DATE",
        ],
        &rows,
    )
}

fn investment_json(i: &v1::ProjectInvestment) -> Value {
    json!({
        "name": i.name, "year": i.year, "planned_wan": i.planned_wan,
        "monthly": i.monthly.iter().map(|m| json!({"month": m.month, "completed_wan": m.completed_wan})).collect::<Vec<_>>(),
        "completed_wan": i.completed_wan, "planned_approvals_date": i.planned_approvals_date,
        "planned_construction_date": i.planned_construction_date,
        "planned_statistics_date": i.planned_statistics_date, "source": i.source, "etag": i.etag,
        "revision": i.revision, "update_time": time_json(i.update_time.as_ref()),
    })
}

/// The months with figures: `1月 120；2月 85.5`.
fn months_text(i: &v1::ProjectInvestment) -> String {
    i.monthly
        .iter()
        .filter_map(|m| m.completed_wan.map(|w| format!("{}月 {}", m.month, wan(w))))
        .collect::<Vec<_>>()
        .join("；")
}

/// completed / planned as `88.43%`, or empty without a plan.
fn percent_of(completed: f64, planned: f64) -> String {
    if planned > 0.0 {
        format!("{:.2}%", completed / planned * 100.0)
    } else {
        String::new()
    }
}

/// A project's investment years as a table.
fn investments_table(items: &[v1::ProjectInvestment]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            let planned = i.planned_wan.unwrap_or_default();
            vec![
                i.year.to_string(),
                i.planned_wan.map(wan).unwrap_or_default(),
                wan(i.completed_wan),
                percent_of(i.completed_wan, planned),
                i.planned_approvals_date.clone(),
                i.planned_construction_date.clone(),
                i.planned_statistics_date.clone(),
                i.source.clone(),
                months_text(i),
            ]
        })
        .collect();
    table::render(
        &[
            "年度 YEAR",
            "年计划(万元) PLANNED",
            "已完成(万元) COMPLETED",
            "完成率 RATE",
            "计划办结日期 APPROVALS DATE",
            "计划开工日期 CONSTRUCTION DATE",
            "计划入统日期 STATISTICS DATE",
            "来源 SOURCE",
            "月度完成 MONTHLY",
        ],
        &rows,
    )
}

fn investment_pairs(i: &v1::ProjectInvestment) -> String {
    table::render_pairs(&[
        ("投资 investment", i.name.clone()),
        ("年度 year", i.year.to_string()),
        ("年计划 planned", i.planned_wan.map(|w| format!("{} 万元", wan(w))).unwrap_or_default()),
        (
            "已完成 completed",
            format!("{} 万元 {}", wan(i.completed_wan), percent_of(i.completed_wan, i.planned_wan.unwrap_or_default()))
                .trim()
                .to_string(),
        ),
        ("月度 monthly", months_text(i)),
        ("计划办结 approvals by", i.planned_approvals_date.clone()),
        ("计划开工 construction by", i.planned_construction_date.clone()),
        ("计划入统 statistics by", i.planned_statistics_date.clone()),
        ("来源 source", i.source.clone()),
        ("更新 updated", render::stamp(i.update_time.as_ref())),
        ("版本 etag", i.etag.clone()),
    ])
}

// ---------------------------------------------------------------------------
// Running the commands.

/// A client of the project service.
pub(crate) type Client = ProjectServiceClient<Intercepted>;

/// Connects to the project service, or says why not.
pub(crate) async fn client_for(args: &ClientArgs) -> Result<Client, ExitCode> {
    crate::cli::client::connect_or_exit(args).await.map(ProjectServiceClient::new)
}

/// A pipeline event of `kind` with its stage and date.
fn event(kind: v1::ProjectEventKind, stage: Option<v1::ProjectStage>, date: String) -> v1::ProjectEvent {
    v1::ProjectEvent { kind: kind as i32, stage: stage.map_or(0, |s| s as i32), date, ..Default::default() }
}

/// The year's investment figures of a project, with the fields given and the mask naming them.
fn investment(project: &str, year: i32) -> v1::ProjectInvestment {
    v1::ProjectInvestment {
        name: format!("{}/investments/{year}", resource_name("projects", project)),
        ..Default::default()
    }
}

/// One month's figure: `-` or `clear` clears it.
fn month_amount(value: &str) -> Result<Option<f64>, String> {
    match value.trim() {
        "-" | "clear" | "清除" => Ok(None),
        v => v
            .parse::<f64>()
            .map(Some)
            .map_err(|_| format!("amount {value:?}: give 万元 as a number, or - (or clear) to clear the month")),
    }
}

/// Runs `ladder project …`.
pub async fn project(args: ProjectArgs) -> ExitCode {
    let ProjectArgs { command, client: client_args } = args;
    let json_out = client_args.json;
    let mut client = match client_for(&client_args).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let show = |p: &v1::Project| {
        if json_out {
            println!("{}", project_json(p));
        } else {
            print!("{}", project_pairs(p));
        }
    };
    let show_investment = |i: &v1::ProjectInvestment| {
        if json_out {
            println!("{}", investment_json(i));
        } else {
            print!("{}", investment_pairs(i));
        }
    };
    let result = match command {
        ProjectCommand::Add(a) => {
            let AddProject { name, investor, fields, lead_date, target, request_id, dry_run } = *a;
            let mut p = v1::Project {
                display_name: name,
                investor_name: investor,
                lead_date,
                target: resource_name("targets", &target),
                ..Default::default()
            };
            if let Err(e) = fields.apply(&mut p, &mut Mask::default()) {
                return render::usage_error(e);
            }
            let request = v1::CreateProjectRequest { project: Some(p), request_id, validate_only: dry_run };
            client.create_project(request).await.map(|r| {
                show(r.get_ref());
                note_dry_run(dry_run);
            })
        }
        ProjectCommand::Edit(e) => {
            let write = e.write.clone();
            let (p, mask) = match e.into_update() {
                Ok(update) => update,
                Err(e) => return render::usage_error(e),
            };
            let request = v1::UpdateProjectRequest {
                project: Some(p),
                update_mask: Some(mask),
                etag: write.etag,
                request_id: write.request_id,
                validate_only: write.dry_run,
            };
            client.update_project(request).await.map(|r| {
                show(r.get_ref());
                note_dry_run(write.dry_run);
            })
        }
        ProjectCommand::Show { project } => {
            let name = resource_name("projects", &project);
            let p = match client.get_project(v1::GetProjectRequest { name: name.clone() }).await {
                Ok(r) => r.into_inner(),
                Err(status) => return fail(json_out, &status),
            };
            client.list_project_investments(v1::ListProjectInvestmentsRequest { parent: name }).await.map(|r| {
                let investments = r.into_inner().investments;
                if json_out {
                    println!(
                        "{}",
                        json!({
                            "project": project_json(&p),
                            "investments": investments.iter().map(investment_json).collect::<Vec<_>>(),
                        })
                    );
                } else {
                    print!("{}", project_pairs(&p));
                    println!("\n项目进程 history");
                    print!("{}", events_table(&p.events));
                    println!("\n投资完成 investment");
                    print!("{}", investments_table(&investments));
                }
            })
        }
        ProjectCommand::List(list) => return list_projects(&mut client, list, json_out).await,
        ProjectCommand::Step { project, stage, amount_wan, enterprise, note, event: o } => {
            let stage = match parse_flag::<v1::ProjectStage>("STAGE", &stage) {
                Ok(s) => s,
                Err(e) => return render::usage_error(e),
            };
            let mut e = event(v1::ProjectEventKind::Step, Some(stage), o.date);
            e.amount_wan = amount_wan.unwrap_or_default();
            e.enterprise = resource_name("enterprises", &enterprise);
            e.note = note;
            record(&mut client, &project, e, o.write).await.map(|p| show(&p))
        }
        ProjectCommand::Hold { project, reason, event: o } => {
            let mut e = event(v1::ProjectEventKind::Hold, None, o.date);
            e.reason = reason;
            record(&mut client, &project, e, o.write).await.map(|p| show(&p))
        }
        ProjectCommand::Resume { project, note, event: o } => {
            let mut e = event(v1::ProjectEventKind::Resume, None, o.date);
            e.note = note;
            record(&mut client, &project, e, o.write).await.map(|p| show(&p))
        }
        ProjectCommand::Lose { project, loss_reason, reason, event: o } => {
            let loss = match parse_flag::<v1::LossReason>("--loss-reason", &loss_reason) {
                Ok(l) => l,
                Err(e) => return render::usage_error(e),
            };
            let mut e = event(v1::ProjectEventKind::Lose, None, o.date);
            e.loss_reason = loss as i32;
            e.reason = reason;
            record(&mut client, &project, e, o.write).await.map(|p| show(&p))
        }
        ProjectCommand::Correct { project, stage, reason, event: o } => {
            let stage = match parse_flag::<v1::ProjectStage>("STAGE", &stage) {
                Ok(s) => s,
                Err(e) => return render::usage_error(e),
            };
            let mut e = event(v1::ProjectEventKind::Correction, Some(stage), o.date);
            e.reason = reason;
            record(&mut client, &project, e, o.write).await.map(|p| show(&p))
        }
        ProjectCommand::Delete { project, reason, write } => client
            .delete_project(v1::DeleteProjectRequest {
                name: resource_name("projects", &project),
                reason,
                etag: write.etag,
                request_id: write.request_id,
            })
            .await
            .map(|r| show(r.get_ref())),
        ProjectCommand::Undelete { project, write } => client
            .undelete_project(v1::UndeleteProjectRequest {
                name: resource_name("projects", &project),
                etag: write.etag,
                request_id: write.request_id,
            })
            .await
            .map(|r| show(r.get_ref())),
        ProjectCommand::Plan {
            project,
            year,
            planned_wan,
            approvals_by,
            construction_by,
            statistics_by,
            source,
            write,
        } => {
            let mut i = investment(&project, year);
            let mut mask = Mask::default();
            if let Some(w) = planned_wan {
                i.planned_wan = Some(w);
                mask.0.push("planned_wan".into());
            }
            mask.text("planned_approvals_date", approvals_by, &mut i.planned_approvals_date);
            mask.text("planned_construction_date", construction_by, &mut i.planned_construction_date);
            mask.text("planned_statistics_date", statistics_by, &mut i.planned_statistics_date);
            mask.text("source", source, &mut i.source);
            let mask = match mask.into_field_mask() {
                Ok(m) => m,
                Err(_) => {
                    return render::usage_error(
                        "nothing to change: give --planned-wan, --approvals-by, --construction-by, \
                         --statistics-by or --source"
                            .into(),
                    )
                }
            };
            write_investment(&mut client, i, mask, write).await.map(|i| show_investment(&i))
        }
        ProjectCommand::Invest { project, year, month, amount_wan, write } => {
            let completed_wan = match month_amount(&amount_wan) {
                Ok(a) => a,
                Err(e) => return render::usage_error(e),
            };
            let mut i = investment(&project, year);
            i.monthly = vec![v1::MonthlyInvestment { month, completed_wan }];
            let mask = prost_types::FieldMask { paths: vec!["monthly".into()] };
            write_investment(&mut client, i, mask, write).await.map(|i| show_investment(&i))
        }
        ProjectCommand::Report(report) => return run_report(&mut client, report, json_out).await,
        ProjectCommand::Stalled { days, filter, limit } => {
            let request = v1::ListStalledProjectsRequest { days, filter, page_size: limit };
            client.list_stalled_projects(request).await.map(|r| print_stalled(&r.into_inner(), json_out))
        }
        ProjectCommand::Gaps { level, industry } => {
            let level = match parse_flag::<v1::CategoryLevel>("--level", &level) {
                Ok(l) => l,
                Err(e) => return render::usage_error(e),
            };
            let request = v1::GetChainGapCoverageRequest { level: level as i32, industry_code: industry };
            client.get_chain_gap_coverage(request).await.map(|r| print_gap_coverage(&r.into_inner(), json_out))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(status) => fail(json_out, &status),
    }
}

/// Records one pipeline event.
async fn record(
    client: &mut Client,
    project: &str,
    event: v1::ProjectEvent,
    write: WriteOptions,
) -> Result<v1::Project, tonic::Status> {
    let request = v1::RecordProjectEventRequest {
        name: resource_name("projects", project),
        event: Some(event),
        etag: write.etag,
        request_id: write.request_id,
        validate_only: write.dry_run,
    };
    let p = client.record_project_event(request).await?.into_inner();
    note_dry_run(write.dry_run);
    Ok(p)
}

/// Writes a year's investment figures.
async fn write_investment(
    client: &mut Client,
    investment: v1::ProjectInvestment,
    mask: prost_types::FieldMask,
    write: WriteOptions,
) -> Result<v1::ProjectInvestment, tonic::Status> {
    let request = v1::UpdateProjectInvestmentRequest {
        investment: Some(investment),
        update_mask: Some(mask),
        etag: write.etag,
        request_id: write.request_id,
        validate_only: write.dry_run,
    };
    let i = client.update_project_investment(request).await?.into_inner();
    note_dry_run(write.dry_run);
    Ok(i)
}

/// Runs `ladder project list`.
async fn list_projects(client: &mut Client, list: ListProjects, json_out: bool) -> ExitCode {
    let filter = match list.filter() {
        Ok(f) => f,
        Err(e) => return render::usage_error(e),
    };
    let total = std::cell::Cell::new(0);
    let limit = if list.all { usize::MAX } else { usize::try_from(list.page_size.max(1)).unwrap_or(50) };
    let pages = collect_pages(limit, |page_token| {
        let mut c = client.clone();
        let request = v1::ListProjectsRequest {
            filter: filter.clone(),
            page_size: list.page_size,
            page_token,
            show_deleted: list.deleted,
        };
        let total = &total;
        async move {
            let r = c.list_projects(request).await?.into_inner();
            total.set(r.total_size);
            Ok((r.projects, r.next_page_token))
        }
    });
    let (items, more) = match pages.await {
        Ok(found) => found,
        Err(status) => return fail(json_out, &status),
    };
    if json_out {
        println!(
            "{}",
            json!({ "projects": items.iter().map(project_json).collect::<Vec<_>>(), "total_size": total.get() })
        );
    } else {
        print!("{}", projects_table(&items));
        eprintln!("{} shown of {}", items.len(), total.get());
        if more {
            eprintln!("more: --all, or narrow --filter");
        }
    }
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------
// Reports.

async fn run_report(client: &mut Client, report: ReportCommand, json_out: bool) -> ExitCode {
    let group = |by: Option<String>| parse_optional::<v1::ProjectGroupBy>("--by", by.as_deref());
    let result = match report {
        ReportCommand::Funnel { as_of, by, filter } => {
            let group_by = match group(by) {
                Ok(g) => g.map_or(0, |g| g as i32),
                Err(e) => return render::usage_error(e),
            };
            let request = v1::GetProjectFunnelRequest { as_of, filter, group_by };
            client.get_project_funnel(request).await.map(|r| print_funnel(&r.into_inner(), json_out))
        }
        ReportCommand::Investment { year, as_of, by, filter } => {
            let group_by = match group(by) {
                Ok(g) => g.map_or(0, |g| g as i32),
                Err(e) => return render::usage_error(e),
            };
            let request = v1::GetInvestmentReportRequest { year, as_of, filter, group_by };
            client.get_investment_report(request).await.map(|r| print_investment_report(&r.into_inner(), json_out))
        }
        ReportCommand::Pipeline { from, to, period, filter } => {
            let period = match parse_optional::<v1::ReportPeriod>("--period", period.as_deref()) {
                Ok(p) => p.map_or(0, |p| p as i32),
                Err(e) => return render::usage_error(e),
            };
            let request = v1::GetPipelineReportRequest { start_date: from, end_date: to, period, filter };
            client.get_pipeline_report(request).await.map(|r| print_pipeline(&r.into_inner(), json_out))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(status) => fail(json_out, &status),
    }
}

/// A group's name: its label, else its key, else 未填 for projects without a value.
fn group_name(key: &str, label: &str) -> String {
    match (key, label) {
        ("", "") => "（未填）".into(),
        (key, "") => key.into(),
        (_, label) => label.into(),
    }
}

fn funnel_line_json(l: &v1::FunnelLine) -> Value {
    json!({
        "key": l.key, "label": l.label, "on_hold": l.on_hold, "lost": l.lost, "total": l.total,
        "stages": l.stages.iter().map(|s| json!({
            "stage": choice_name::<v1::ProjectStage>(s.stage), "count": s.count, "reached": s.reached,
        })).collect::<Vec<_>>(),
    })
}

fn print_funnel(f: &v1::ProjectFunnel, json_out: bool) {
    if json_out {
        println!(
            "{}",
            json!({
                "as_of": f.as_of,
                "overall": f.overall.as_ref().map(funnel_line_json),
                "groups": f.groups.iter().map(funnel_line_json).collect::<Vec<_>>(),
            })
        );
        return;
    }
    let overall = f.overall.clone().unwrap_or_default();
    println!("项目漏斗 project funnel, as of {}", f.as_of);
    let rows: Vec<Vec<String>> = overall
        .stages
        .iter()
        .map(|s| vec![both::<v1::ProjectStage>(s.stage), s.count.to_string(), s.reached.to_string()])
        .collect();
    print!("{}", table::render(&["阶段 STAGE", "当前数 AT STAGE", "累计到达数 REACHED"], &rows));
    println!("暂缓 on hold {}，流失 lost {}，合计 total {}", overall.on_hold, overall.lost, overall.total);
    if f.groups.is_empty() {
        return;
    }
    // Per group: how many reached each stage (the funnel), then the rest.
    let stages: Vec<String> = overall
        .stages
        .iter()
        .map(|s| format!("{} {}", label::<v1::ProjectStage>(s.stage), choice_name::<v1::ProjectStage>(s.stage)))
        .collect();
    let mut header: Vec<&str> = vec!["分组 GROUP"];
    header.extend(stages.iter().map(String::as_str));
    header.extend(["暂缓数 ON HOLD", "流失数 LOST", "合计数 TOTAL"]);
    let rows: Vec<Vec<String>> = f
        .groups
        .iter()
        .map(|g| {
            let mut row = vec![group_name(&g.key, &g.label)];
            row.extend(
                overall
                    .stages
                    .iter()
                    .map(|o| g.stages.iter().find(|s| s.stage == o.stage).map_or(0, |s| s.reached).to_string()),
            );
            row.extend([g.on_hold.to_string(), g.lost.to_string(), g.total.to_string()]);
            row
        })
        .collect();
    println!("\n各组累计到达 reached per group");
    print!("{}", table::render(&header, &rows));
}

fn investment_line_json(l: &v1::InvestmentLine) -> Value {
    json!({
        "key": l.key, "label": l.label, "projects": l.projects, "planned_wan": l.planned_wan,
        "completed_wan": l.completed_wan, "completed_yi": l.completed_yi,
        "completion_percent": l.completion_percent, "overrun": l.overrun,
    })
}

fn rate_json(r: Option<&v1::StepRate>) -> Value {
    let r = r.cloned().unwrap_or_default();
    json!({ "planned": r.planned, "reached": r.reached, "percent": r.percent })
}

/// `reached/planned = x%`.
fn print_investment_report(r: &v1::InvestmentReport, json_out: bool) {
    if json_out {
        println!(
            "{}",
            json!({
                "year": r.year, "as_of": r.as_of, "overall": r.overall.as_ref().map(investment_line_json),
                "groups": r.groups.iter().map(investment_line_json).collect::<Vec<_>>(),
                "approvals_rate": rate_json(r.approvals_rate.as_ref()),
                "construction_rate": rate_json(r.construction_rate.as_ref()),
                "statistics_rate": rate_json(r.statistics_rate.as_ref()),
                "behind_plan": r.behind_plan.iter().map(|b| json!({
                    "project": b.project, "display_name": b.display_name, "planned_wan": b.planned_wan,
                    "completed_wan": b.completed_wan, "expected_wan": b.expected_wan,
                    "completion_percent": b.completion_percent,
                })).collect::<Vec<_>>(),
                "summary": r.summary,
            })
        );
        return;
    }
    let o = r.overall.clone().unwrap_or_default();
    println!("{}年项目投资完成情况 project investment, as of {}", r.year, r.as_of);
    println!("{}", r.summary);
    // The overall line heads the groups, so an export carries it too.
    let line = |key: String, g: &v1::InvestmentLine| {
        vec![
            key,
            g.projects.to_string(),
            wan(g.planned_wan),
            wan(g.completed_wan),
            format!("{:.2}", g.completed_yi),
            format!("{:.2}%", g.completion_percent),
            g.overrun.to_string(),
        ]
    };
    let mut rows = vec![line("合计 TOTAL".into(), &o)];
    rows.extend(r.groups.iter().map(|g| line(group_name(&g.key, &g.label), g)));
    println!();
    print!(
        "{}",
        table::render(
            &[
                "分组 GROUP",
                "项目数 PROJECTS",
                "年计划(万元) PLANNED",
                "累计完成(万元) COMPLETED",
                "累计完成(亿元) AMOUNT YI",
                "完成率 RATE",
                "超计划数 OVERRUN"
            ],
            &rows
        )
    );
    let rate = |name: &str, r: Option<&v1::StepRate>| {
        let r = r.cloned().unwrap_or_default();
        let percent = if r.planned == 0 { "—".to_string() } else { format!("{:.2}%", r.percent) };
        vec![name.to_string(), r.planned.to_string(), r.reached.to_string(), percent]
    };
    println!();
    print!(
        "{}",
        table::render(
            &["比率 RATE", "计划数 PLANNED", "完成数 REACHED", "比率 PERCENT"],
            &[
                rate("手续办结率 approvals", r.approvals_rate.as_ref()),
                rate("项目开工率 construction", r.construction_rate.as_ref()),
                rate("统计入库率 statistics", r.statistics_rate.as_ref()),
            ]
        )
    );
    if r.behind_plan.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = r
        .behind_plan
        .iter()
        .map(|b| {
            vec![
                short_id(&b.project).to_string(),
                b.display_name.clone(),
                wan(b.planned_wan),
                wan(b.completed_wan),
                wan(b.expected_wan),
                wan(((b.expected_wan - b.completed_wan) * 100.0).round() / 100.0),
                format!("{:.2}%", b.completion_percent),
            ]
        })
        .collect();
    println!("\n滞后于计划 behind plan (linear schedule: plan × complete months / 12)");
    print!(
        "{}",
        table::render(
            &[
                "项目 PROJECT",
                "名称 NAME",
                "年计划(万元) PLANNED",
                "累计完成(万元) COMPLETED",
                "应完成(万元) EXPECTED",
                "差额(万元) SHORTFALL",
                "完成率 RATE"
            ],
            &rows
        )
    );
}

fn print_pipeline(r: &v1::PipelineReport, json_out: bool) {
    if json_out {
        println!(
            "{}",
            json!({
                "start_date": r.start_date, "end_date": r.end_date,
                "signings": r.signings.iter().map(|s| json!({
                    "period": s.period, "count": s.count, "amount_wan": s.amount_wan,
                })).collect::<Vec<_>>(),
                "signed_count": r.signed_count, "signed_amount_wan": r.signed_amount_wan,
                "durations": r.durations.iter().map(|d| json!({
                    "stage": choice_name::<v1::ProjectStage>(d.stage), "steps": d.steps, "median_days": d.median_days,
                })).collect::<Vec<_>>(),
                "losses": r.losses.iter().map(|l| json!({
                    "reason": choice_name::<v1::LossReason>(l.reason), "count": l.count,
                })).collect::<Vec<_>>(),
            })
        );
        return;
    }
    println!(
        "招商进展 pipeline, {} – {}：签约 {} 个，{} 万元",
        r.start_date,
        r.end_date,
        r.signed_count,
        wan(r.signed_amount_wan)
    );
    let rows: Vec<Vec<String>> =
        r.signings.iter().map(|s| vec![s.period.clone(), s.count.to_string(), wan(s.amount_wan)]).collect();
    print!("{}", table::render(&["期间 PERIOD", "签约数 COUNT", "签约额(万元) AMOUNT"], &rows));
    let rows: Vec<Vec<String>> = r
        .durations
        .iter()
        .map(|d| vec![both::<v1::ProjectStage>(d.stage), d.steps.to_string(), format!("{:.1}", d.median_days)])
        .collect();
    println!("\n各阶段用时 days to reach each stage");
    print!("{}", table::render(&["阶段 STAGE", "步数 STEPS COUNT", "中位天数 MEDIAN DAYS"], &rows));
    let rows: Vec<Vec<String>> =
        r.losses.iter().map(|l| vec![both::<v1::LossReason>(l.reason), l.count.to_string()]).collect();
    println!("\n流失原因 losses");
    print!("{}", table::render(&["原因 REASON", "项目数 COUNT"], &rows));
}

fn print_stalled(r: &v1::ListStalledProjectsResponse, json_out: bool) {
    if json_out {
        println!(
            "{}",
            json!({
                "projects": r.projects.iter().map(|s| json!({
                    "project": s.project.as_ref().map(project_json), "days_idle": s.days_idle,
                    "threshold_days": s.threshold_days,
                })).collect::<Vec<_>>(),
                "total_size": r.total_size,
            })
        );
        return;
    }
    let rows: Vec<Vec<String>> = r
        .projects
        .iter()
        .map(|s| {
            let p = s.project.clone().unwrap_or_default();
            vec![
                short_id(&p.name).to_string(),
                p.display_name.clone(),
                label::<v1::ProjectStage>(p.stage).to_string(),
                p.stage_date.clone(),
                s.days_idle.to_string(),
                s.threshold_days.to_string(),
                p.department.clone(),
                p.owner.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "项目 PROJECT",
                "名称 NAME",
                "阶段 STAGE",
                "阶段日期 STAGE DATE",
                "停滞天数 IDLE DAYS",
                "阈值天数 THRESHOLD DAYS",
                "部门 DEPARTMENT",
                "负责人 OWNER"
            ],
            &rows
        )
    );
    eprintln!("{} shown of {} stalled", r.projects.len(), r.total_size);
}

fn gap_json(g: &v1::GapCoverage) -> Value {
    json!({
        "industry_code": g.industry_code, "industry_name": g.industry_name, "open_demands": g.open_demands,
        "open_demand_amount_wan": g.open_demand_amount_wan, "projects": g.projects,
        "planned_investment_wan": g.planned_investment_wan,
    })
}

fn print_gap_coverage(c: &v1::ChainGapCoverage, json_out: bool) {
    if json_out {
        println!(
            "{}",
            json!({
                "covered": c.covered.iter().map(gap_json).collect::<Vec<_>>(),
                "uncovered": c.uncovered.iter().map(gap_json).collect::<Vec<_>>(),
            })
        );
        return;
    }
    let row = |g: &v1::GapCoverage| {
        vec![
            with_name(&g.industry_code, &g.industry_name),
            g.open_demands.to_string(),
            wan_cell(g.open_demand_amount_wan),
            wan_cell(g.planned_investment_wan),
            g.projects.iter().map(|p| short_id(p)).collect::<Vec<_>>().join("、"),
        ]
    };
    println!("已有项目的缺链 gaps with projects");
    print!(
        "{}",
        table::render(
            &["类别 CATEGORY", "需求数 DEMANDS", "需求额(万元) AMOUNT", "计划投资(万元) PLANNED", "项目 PROJECTS"],
            &c.covered.iter().map(row).collect::<Vec<_>>()
        )
    );
    let rows: Vec<Vec<String>> = c
        .uncovered
        .iter()
        .map(|g| {
            vec![
                with_name(&g.industry_code, &g.industry_name),
                g.open_demands.to_string(),
                wan_cell(g.open_demand_amount_wan),
            ]
        })
        .collect();
    println!("\n尚无项目的缺链 gaps no project targets");
    print!("{}", table::render(&["类别 CATEGORY", "需求数 DEMANDS", "需求额(万元) AMOUNT"], &rows));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_read_in_english_proto_names_and_chinese() {
        for (word, stage) in [
            ("signed", v1::ProjectStage::Signed),
            ("SIGNED", v1::ProjectStage::Signed),
            ("PROJECT_STAGE_SIGNED", v1::ProjectStage::Signed),
            ("签约", v1::ProjectStage::Signed),
            ("注册落地", v1::ProjectStage::Registered),
            ("registered", v1::ProjectStage::Registered),
            (" Statistics ", v1::ProjectStage::Statistics),
            ("入统", v1::ProjectStage::Statistics),
            ("线索", v1::ProjectStage::Lead),
        ] {
            assert_eq!(parse_choice::<v1::ProjectStage>(word), Some(stage), "{word}");
        }
        assert_eq!(parse_choice::<v1::ProjectStage>("unspecified"), None);
        assert_eq!(parse_choice::<v1::ProjectStage>("PROJECT_STAGE_UNSPECIFIED"), None);
        assert_eq!(parse_choice::<v1::ProjectStage>("done"), None);
        assert_eq!(parse_choice::<v1::ProjectStage>(""), None);
    }

    #[test]
    fn every_enum_reads_its_flag_words_and_labels() {
        assert_eq!(parse_choice::<v1::LeadSource>("member-firm"), Some(v1::LeadSource::MemberFirm));
        assert_eq!(parse_choice::<v1::LeadSource>("event"), Some(v1::LeadSource::PromotionEvent));
        assert_eq!(parse_choice::<v1::LeadSource>("chain"), Some(v1::LeadSource::ChainTargeting));
        assert_eq!(parse_choice::<v1::LeadSource>("walk_in"), Some(v1::LeadSource::WalkIn));
        assert_eq!(parse_choice::<v1::LeadSource>("LEAD_SOURCE_CHAMBER"), Some(v1::LeadSource::Chamber));
        assert_eq!(parse_choice::<v1::KeyLevel>("市级"), Some(v1::KeyLevel::Municipal));
        assert_eq!(parse_choice::<v1::KeyLevel>("national"), Some(v1::KeyLevel::National));
        assert_eq!(parse_choice::<v1::KeyLevel>("none"), Some(v1::KeyLevel::None));
        assert_eq!(parse_choice::<v1::LossReason>("other-location"), Some(v1::LossReason::OtherLocation));
        assert_eq!(parse_choice::<v1::LossReason>("factors"), Some(v1::LossReason::Factors));
        assert_eq!(parse_choice::<v1::ProjectStatus>("on-hold"), Some(v1::ProjectStatus::OnHold));
        assert_eq!(parse_choice::<v1::ProjectStatus>("流失"), Some(v1::ProjectStatus::Lost));
        assert_eq!(parse_choice::<v1::TargetReason>("小巨人"), Some(v1::TargetReason::LittleGiant));
        assert_eq!(parse_choice::<v1::TargetReason>("小巨人潜在"), Some(v1::TargetReason::LittleGiantPotential));
        assert_eq!(parse_choice::<v1::TargetReason>("补链"), Some(v1::TargetReason::FillsChainGap));
        assert_eq!(parse_choice::<v1::TargetReason>("state-level"), Some(v1::TargetReason::StateLevel));
        assert_eq!(parse_choice::<v1::ProjectGroupBy>("source-region"), Some(v1::ProjectGroupBy::SourceRegion));
        assert_eq!(parse_choice::<v1::CategoryLevel>("class"), Some(v1::CategoryLevel::Class));
        // Every value of every table reads back from its flag word and its label.
        fn round_trips<E: Choice + std::fmt::Debug>() {
            for (e, zh, _) in E::TABLE {
                assert_eq!(parse_choice::<E>(&flag_word(*e)), Some(*e), "{}", flag_word(*e));
                assert_eq!(parse_choice::<E>(zh), Some(*e), "{zh}");
            }
        }
        round_trips::<v1::ProjectStage>();
        round_trips::<v1::ProjectStatus>();
        round_trips::<v1::LeadSource>();
        round_trips::<v1::KeyLevel>();
        round_trips::<v1::ProjectEventKind>();
        round_trips::<v1::LossReason>();
        round_trips::<v1::TargetReason>();
        round_trips::<v1::TargetStatus>();
        round_trips::<v1::ProjectGroupBy>();
        round_trips::<v1::ReportPeriod>();
        round_trips::<v1::CategoryLevel>();
    }

    #[test]
    fn names_and_labels_come_from_one_table() {
        assert_eq!(choice_name::<v1::ProjectStage>(5), "SIGNED");
        assert_eq!(label::<v1::ProjectStage>(5), "签约");
        assert_eq!(label::<v1::ProjectStage>(0), "");
        assert_eq!(choice_name::<v1::ProjectStage>(0), "");
        assert_eq!(label::<v1::ProjectStage>(99), "");
        assert_eq!(both::<v1::KeyLevel>(3), "市级 MUNICIPAL");
        assert!(choices::<v1::LeadSource>().starts_with("alliance (联盟以商招商), member-firm (企业以商招商)"));
        let err = parse_flag::<v1::LossReason>("--loss-reason", "moved").unwrap_err();
        assert!(err.starts_with("--loss-reason \"moved\": use other-location (落户他处)"), "{err}");
    }

    #[test]
    fn amounts_show_up_to_two_decimals() {
        assert_eq!(wan(1200.0), "1200");
        assert_eq!(wan(85.5), "85.5");
        assert_eq!(wan(0.126), "0.13");
        assert_eq!(wan(0.0), "0");
        assert_eq!(wan(-0.001), "0");
        assert_eq!(wan_cell(0.0), "");
        assert_eq!(percent_of(50.0, 200.0), "25.00%");
        assert_eq!(percent_of(50.0, 0.0), "");
    }

    #[test]
    fn names_take_bare_ids() {
        assert_eq!(resource_name("projects", "abc"), "projects/abc");
        assert_eq!(resource_name("projects", " projects/abc "), "projects/abc");
        assert_eq!(resource_name("targets", ""), "");
        assert_eq!(short_id("projects/abc"), "abc");
        assert_eq!(investment("abc", 2026).name, "projects/abc/investments/2026");
    }

    #[test]
    fn month_amounts_clear_with_a_dash() {
        assert_eq!(month_amount("-"), Ok(None));
        assert_eq!(month_amount("clear"), Ok(None));
        assert_eq!(month_amount("120.5"), Ok(Some(120.5)));
        assert!(month_amount("abc").is_err());
    }

    fn edit_of(fields: ProjectFields) -> EditProject {
        EditProject {
            project: "p1".into(),
            name: None,
            investor: None,
            fields,
            approvals_date: None,
            clear: vec![],
            write: WriteOptions::default(),
        }
    }

    #[test]
    fn the_edit_mask_names_exactly_the_flags_given() {
        let edit = EditProject {
            investor: Some("比亚迪".into()),
            approvals_date: Some("2026-03-01".into()),
            clear: vec!["chain_gap".into()],
            ..edit_of(ProjectFields {
                planned_wan: Some(5000.0),
                key_level: Some("市级".into()),
                tags: vec!["储能".into()],
                investor_enterprise: Some("91610113MA10000095".into()),
                ..Default::default()
            })
        };
        let (p, mask) = edit.into_update().unwrap();
        assert_eq!(
            mask.paths,
            [
                "investor_name",
                "investor_enterprise",
                "planned_investment_wan",
                "key_level",
                "tags",
                "approvals_date",
                "chain_gap"
            ]
        );
        assert_eq!(p.name, "projects/p1");
        assert_eq!(p.key_level, v1::KeyLevel::Municipal as i32);
        assert_eq!(p.investor_enterprise, "enterprises/91610113MA10000095");
        assert!(edit_of(ProjectFields::default()).into_update().is_err());
        let bad = edit_of(ProjectFields { lead_source: Some("friends".into()), ..Default::default() });
        assert!(bad.into_update().unwrap_err().starts_with("--lead-source \"friends\""));
    }

    #[test]
    fn list_flags_are_anded_into_the_filter() {
        let list = ListProjects {
            filter: "key_level >= MUNICIPAL".into(),
            zone: Some("east".into()),
            stage: Some("签约".into()),
            status: Some("active".into()),
            key_level: None,
            department: Some("招商\"一\"局".into()),
            industry: None,
            source_region: None,
            deleted: false,
            all: false,
            page_size: 50,
        };
        assert_eq!(
            list.filter().unwrap(),
            "key_level >= MUNICIPAL AND zone = \"east\" AND stage = \"SIGNED\" AND status = \"ACTIVE\" \
             AND department = \"招商\\\"一\\\"局\""
        );
        assert_eq!(and_filter("", &[("zone", None)]), "");
    }

    #[test]
    fn every_table_and_label_list_is_bilingual() {
        // The header rule is a debug assertion: rendering each once checks it.
        let event = v1::ProjectEvent {
            kind: v1::ProjectEventKind::Step as i32,
            stage: v1::ProjectStage::Signed as i32,
            date: "2026-03-01".into(),
            amount_wan: 4800.0,
            voided: true,
            ..Default::default()
        };
        let p = v1::Project {
            name: "projects/p1".into(),
            display_name: "储能电池生产基地项目".into(),
            stage: v1::ProjectStage::Signed as i32,
            status: v1::ProjectStatus::Lost as i32,
            loss_reason: v1::LossReason::Terms as i32,
            planned_investment_wan: 5000.0,
            planned_fixed_asset_wan: 3500.0,
            signed_date: "2026-03-01".into(),
            contracted_amount_wan: 4800.0,
            events: vec![event],
            ..Default::default()
        };
        let text = project_pairs(&p);
        assert!(text.contains("签约 SIGNED") && text.contains("5000 万元（固定资产 3500 万元）"), "{text}");
        assert!(text.contains("流失 LOST：条件未谈拢"), "{text}");
        assert!(events_table(&p.events).contains("推进（已更正）"));
        assert!(projects_table(std::slice::from_ref(&p)).contains("p1  "));
        let i = v1::ProjectInvestment {
            name: "projects/p1/investments/2026".into(),
            year: 2026,
            planned_wan: Some(1200.0),
            monthly: vec![v1::MonthlyInvestment { month: 1, completed_wan: Some(100.5) }],
            completed_wan: 100.5,
            ..Default::default()
        };
        assert!(investments_table(std::slice::from_ref(&i)).contains("1月 100.5"));
        assert!(investment_pairs(&i).contains("100.5 万元 8.38%"));
        let line = v1::FunnelLine {
            stages: vec![v1::ProjectStageCount { stage: v1::ProjectStage::Lead as i32, count: 3, reached: 5 }],
            ..Default::default()
        };
        print_funnel(
            &v1::ProjectFunnel { as_of: "2026-05-01".into(), overall: Some(line.clone()), groups: vec![line] },
            false,
        );
        let rate = v1::StepRate { planned: 4, reached: 3, percent: 75.0 };
        print_investment_report(
            &v1::InvestmentReport {
                groups: vec![v1::InvestmentLine::default()],
                behind_plan: vec![v1::BehindPlan::default()],
                approvals_rate: Some(rate),
                ..Default::default()
            },
            false,
        );
        print_pipeline(
            &v1::PipelineReport {
                signings: vec![v1::PeriodSignings::default()],
                durations: vec![v1::StageDuration::default()],
                losses: vec![v1::LossCount::default()],
                ..Default::default()
            },
            false,
        );
        print_stalled(
            &v1::ListStalledProjectsResponse { projects: vec![v1::StalledProject::default()], total_size: 1 },
            false,
        );
        let gap = v1::GapCoverage { industry_code: "C3562".into(), ..Default::default() };
        print_gap_coverage(&v1::ChainGapCoverage { covered: vec![gap.clone()], uncovered: vec![gap] }, false);
        assert_eq!(group_name("", ""), "（未填）");
        assert_eq!(group_name("east", ""), "east");
    }
}
