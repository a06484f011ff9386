//! The cultivation ladder (梯度培育): 育小 → 登高 → 升规 → 晋位 → 上市.
//!
//! A firm's stage is never stored as a fact: it is derived from the official
//! designations it holds on a date. A designation counts on date `d` when it
//! was granted (status granted or under re-review, or revoked/lapsed after
//! `d`), `valid_from <= d`, `d <= valid_until` (if set) and `d` is before the
//! date it ended (if revoked or lapsed). The stage on `d` is the highest stage
//! of the designations that count. From that rule come the timeline
//! ([`timeline`]), the stage on any date, "since when", and a history whose
//! every step names its cause.

use crate::domain::enterprise::FieldChange;
use crate::domain::time::{Date, Micros};
use crate::domain::update;
use crate::error::{Error, FieldViolation, Result};

/// A rung of the ladder. Numbers match `ladder.v1.Stage` and order the rungs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Stage {
    /// Not on the ladder.
    Unspecified = 0,
    /// 育小: incubated / tech SME.
    Nurture = 1,
    /// 登高: high-tech enterprise.
    Climb = 2,
    /// 升规: above designated size.
    ScaleUp = 3,
    /// 晋位: elite lists (专精特新, 小巨人, 瞪羚, 独角兽…).
    Advance = 4,
    /// 上市: listed.
    Listed = 5,
}

impl Stage {
    /// Every rung, bottom to top.
    pub const RUNGS: [Stage; 5] = [Stage::Nurture, Stage::Climb, Stage::ScaleUp, Stage::Advance, Stage::Listed];

    /// Chinese name, e.g. 升规.
    pub fn label_zh(self) -> &'static str {
        match self {
            Stage::Unspecified => "未入梯",
            Stage::Nurture => "育小",
            Stage::Climb => "登高",
            Stage::ScaleUp => "升规",
            Stage::Advance => "晋位",
            Stage::Listed => "上市",
        }
    }

    /// Proto name, e.g. `STAGE_SCALE_UP`.
    pub fn proto_name(self) -> &'static str {
        match self {
            Stage::Unspecified => "STAGE_UNSPECIFIED",
            Stage::Nurture => "STAGE_NURTURE",
            Stage::Climb => "STAGE_CLIMB",
            Stage::ScaleUp => "STAGE_SCALE_UP",
            Stage::Advance => "STAGE_ADVANCE",
            Stage::Listed => "STAGE_LISTED",
        }
    }

    /// Parses `STAGE_SCALE_UP`, `SCALE_UP`, `scale_up` or 升规.
    pub fn parse(s: &str) -> Option<Stage> {
        let s = s.trim();
        let upper = s.to_ascii_uppercase();
        let bare = upper.strip_prefix("STAGE_").unwrap_or(&upper);
        [Stage::Unspecified]
            .into_iter()
            .chain(Stage::RUNGS)
            .find(|st| st.proto_name().trim_start_matches("STAGE_") == bare || st.label_zh() == s)
    }

    /// The stage with this number (unknown numbers are `Unspecified`).
    pub fn of(v: i32) -> Stage {
        Stage::try_from(v).unwrap_or(Stage::Unspecified)
    }
}

/// Kinds of official designation, each on one rung. Numbers match
/// `ladder.v1.DesignationKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DesignationKind {
    /// Not set.
    Unspecified = 0,
    /// 在孵企业 (in an incubator).
    Incubated = 1,
    /// 科技型中小企业 评价入库 (one year).
    TechSme = 2,
    /// 高新技术企业 认定 (three years).
    HighTech = 3,
    /// 规模以上工业 入统.
    AboveScaleIndustry = 4,
    /// 规模以上服务业 入统.
    AboveScaleServices = 5,
    /// 限额以上批发零售住宿餐饮 入统.
    AboveQuotaTrade = 6,
    /// 创新型中小企业.
    InnovativeSme = 7,
    /// 专精特新中小企业 (provincial).
    SpecialisedSme = 8,
    /// 专精特新"小巨人" (national).
    LittleGiant = 9,
    /// 制造业单项冠军.
    SingleChampion = 10,
    /// 瞪羚企业.
    Gazelle = 11,
    /// 潜在瞪羚企业.
    PotentialGazelle = 12,
    /// 独角兽企业.
    Unicorn = 13,
    /// 潜在独角兽企业.
    PotentialUnicorn = 14,
    /// 新三板挂牌 (基础层/创新层).
    NeeqListing = 15,
    /// 区域性股权市场挂牌.
    RegionalEquityListing = 16,
    /// 境内外交易所上市 (北交所, 科创板, 创业板, 主板, 境外).
    ExchangeListing = 17,
}

impl DesignationKind {
    /// Every kind.
    pub const ALL: [DesignationKind; 17] = [
        Self::Incubated,
        Self::TechSme,
        Self::HighTech,
        Self::AboveScaleIndustry,
        Self::AboveScaleServices,
        Self::AboveQuotaTrade,
        Self::InnovativeSme,
        Self::SpecialisedSme,
        Self::LittleGiant,
        Self::SingleChampion,
        Self::Gazelle,
        Self::PotentialGazelle,
        Self::Unicorn,
        Self::PotentialUnicorn,
        Self::NeeqListing,
        Self::RegionalEquityListing,
        Self::ExchangeListing,
    ];

    /// The rung this designation puts a firm on.
    pub fn stage(self) -> Stage {
        use DesignationKind::*;
        match self {
            Unspecified => Stage::Unspecified,
            Incubated | TechSme => Stage::Nurture,
            HighTech => Stage::Climb,
            AboveScaleIndustry | AboveScaleServices | AboveQuotaTrade => Stage::ScaleUp,
            InnovativeSme | SpecialisedSme | LittleGiant | SingleChampion | Gazelle | PotentialGazelle | Unicorn
            | PotentialUnicorn => Stage::Advance,
            NeeqListing | RegionalEquityListing | ExchangeListing => Stage::Listed,
        }
    }

    /// Chinese name.
    pub fn label_zh(self) -> &'static str {
        use DesignationKind::*;
        match self {
            Unspecified => "未指定",
            Incubated => "在孵企业",
            TechSme => "科技型中小企业",
            HighTech => "高新技术企业",
            AboveScaleIndustry => "规上工业企业",
            AboveScaleServices => "规上服务业企业",
            AboveQuotaTrade => "限上批零住餐企业",
            InnovativeSme => "创新型中小企业",
            SpecialisedSme => "专精特新中小企业",
            LittleGiant => "专精特新“小巨人”企业",
            SingleChampion => "制造业单项冠军",
            Gazelle => "瞪羚企业",
            PotentialGazelle => "潜在瞪羚企业",
            Unicorn => "独角兽企业",
            PotentialUnicorn => "潜在独角兽企业",
            NeeqListing => "新三板挂牌",
            RegionalEquityListing => "区域性股权市场挂牌",
            ExchangeListing => "交易所上市",
        }
    }

    /// Name without prefix, e.g. `HIGH_TECH`.
    pub fn name(self) -> &'static str {
        self.as_str_name().trim_start_matches("DESIGNATION_KIND_")
    }

    /// `DESIGNATION_KIND_HIGH_TECH` etc.
    pub fn as_str_name(self) -> &'static str {
        use DesignationKind::*;
        match self {
            Unspecified => "DESIGNATION_KIND_UNSPECIFIED",
            Incubated => "DESIGNATION_KIND_INCUBATED",
            TechSme => "DESIGNATION_KIND_TECH_SME",
            HighTech => "DESIGNATION_KIND_HIGH_TECH",
            AboveScaleIndustry => "DESIGNATION_KIND_ABOVE_SCALE_INDUSTRY",
            AboveScaleServices => "DESIGNATION_KIND_ABOVE_SCALE_SERVICES",
            AboveQuotaTrade => "DESIGNATION_KIND_ABOVE_QUOTA_TRADE",
            InnovativeSme => "DESIGNATION_KIND_INNOVATIVE_SME",
            SpecialisedSme => "DESIGNATION_KIND_SPECIALISED_SME",
            LittleGiant => "DESIGNATION_KIND_LITTLE_GIANT",
            SingleChampion => "DESIGNATION_KIND_SINGLE_CHAMPION",
            Gazelle => "DESIGNATION_KIND_GAZELLE",
            PotentialGazelle => "DESIGNATION_KIND_POTENTIAL_GAZELLE",
            Unicorn => "DESIGNATION_KIND_UNICORN",
            PotentialUnicorn => "DESIGNATION_KIND_POTENTIAL_UNICORN",
            NeeqListing => "DESIGNATION_KIND_NEEQ_LISTING",
            RegionalEquityListing => "DESIGNATION_KIND_REGIONAL_EQUITY_LISTING",
            ExchangeListing => "DESIGNATION_KIND_EXCHANGE_LISTING",
        }
    }

    /// The names official lists and staff use for this kind: the official
    /// name first (as published, e.g. 专精特新“小巨人”企业), then common short
    /// forms (小巨人). [`DesignationKind::parse`] accepts each of them, with or
    /// without quotes, a leading 国家级/省级/市级/区级 or a trailing 企业.
    pub fn names_zh(self) -> &'static [&'static str] {
        use DesignationKind::*;
        match self {
            Unspecified => &[],
            Incubated => &["在孵企业", "在孵", "孵化企业"],
            TechSme => &["科技型中小企业", "科小", "科技型中小", "科技中小企业"],
            HighTech => &["高新技术企业", "高企", "高新", "国家高新技术企业"],
            AboveScaleIndustry => &["规模以上工业企业", "规上工业", "规模以上工业", "规上工业企业"],
            AboveScaleServices => &["规模以上服务业企业", "规上服务业", "规模以上服务业", "规上服务业企业"],
            AboveQuotaTrade => &[
                "限额以上批发零售住宿餐饮企业",
                "限上",
                "限额以上",
                "限上批零住餐企业",
                "限额以上批零住餐企业",
                "限额以上批发和零售业、住宿和餐饮业企业",
            ],
            InnovativeSme => &["创新型中小企业", "创新型"],
            SpecialisedSme => &["专精特新中小企业", "专精特新", "专精特新企业"],
            LittleGiant => &["专精特新“小巨人”企业", "小巨人", "专精特新小巨人"],
            SingleChampion => &["制造业单项冠军企业", "单项冠军", "制造业单项冠军", "制造业单项冠军示范企业"],
            Gazelle => &["瞪羚企业", "瞪羚"],
            PotentialGazelle => &["潜在瞪羚企业", "潜在瞪羚"],
            Unicorn => &["独角兽企业", "独角兽"],
            PotentialUnicorn => &["潜在独角兽企业", "潜在独角兽"],
            NeeqListing => &["新三板挂牌企业", "新三板", "新三板挂牌", "全国中小企业股份转让系统挂牌"],
            RegionalEquityListing => &["区域性股权市场挂牌企业", "四板", "区域性股权市场挂牌", "区域股权市场挂牌"],
            ExchangeListing => &["上市公司", "上市", "交易所上市", "境内外交易所上市", "上市企业"],
        }
    }

    /// Every kind by its official Chinese name and most common short form,
    /// for help texts and errors: `在孵企业（在孵）、科技型中小企业（科小）…`.
    pub fn names_zh_listing() -> String {
        Self::ALL
            .iter()
            .map(|k| {
                let names = k.names_zh();
                // The most common short form, when it is more than the
                // official name without its decoration.
                let official = Self::comparable(names[0]);
                match names[1..].iter().find(|n| Self::comparable(n) != official && n.len() < names[0].len()) {
                    Some(short) => format!("{}（{short}）", names[0]),
                    None => names[0].to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("、")
    }

    /// Parses `HIGH_TECH`, `high_tech`, `DESIGNATION_KIND_HIGH_TECH`, an
    /// official Chinese name (高新技术企业, 国家级专精特新"小巨人"企业,
    /// 规模以上工业企业) or a short form staff use (高企, 小巨人, 规上工业).
    pub fn parse(s: &str) -> Option<DesignationKind> {
        let s = s.trim();
        let upper = s.to_ascii_uppercase();
        let bare = upper.strip_prefix("DESIGNATION_KIND_").unwrap_or(&upper);
        if let Some(k) = Self::ALL.into_iter().find(|k| k.name() == bare) {
            return Some(k);
        }
        let wanted = Self::comparable(s);
        if wanted.is_empty() {
            return None;
        }
        Self::ALL
            .into_iter()
            .find(|k| k.names_zh().iter().chain([&k.label_zh()]).any(|name| Self::comparable(name) == wanted))
    }

    /// A Chinese name reduced to what tells kinds apart: no spaces, quotes or
    /// list punctuation (full-width or not), no leading issuing level and no
    /// trailing 企业.
    fn comparable(name: &str) -> String {
        let kept: String = name
            .chars()
            .filter(|c| !c.is_whitespace() && !"\"'“”‘’「」『』《》〈〉、，,·・（）()".contains(*c))
            .collect();
        let mut rest = kept.as_str();
        for level in ["国家级", "省级", "市级", "区级", "区县级"] {
            if let Some(r) = rest.strip_prefix(level).filter(|r| !r.is_empty()) {
                rest = r;
                break;
            }
        }
        rest.strip_suffix("企业").filter(|r| !r.is_empty()).unwrap_or(rest).to_string()
    }

    /// The usual validity in years when the certificate does not say (tech
    /// SME entries last one year, 高企 and the elite lists three); `None`
    /// for statuses that hold until withdrawn.
    pub fn default_validity_years(self) -> Option<i64> {
        use DesignationKind::*;
        match self {
            TechSme | AboveScaleIndustry | AboveScaleServices | AboveQuotaTrade => Some(1),
            HighTech | InnovativeSme | SpecialisedSme | LittleGiant | SingleChampion => Some(3),
            _ => None,
        }
    }
}

/// Where a designation stands. Numbers match `ladder.v1.DesignationStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Status {
    /// Not set.
    Unspecified = 0,
    /// 申报中: applied, not granted.
    Applying = 1,
    /// 公示中: publicly noticed, not yet granted.
    PublicNotice = 2,
    /// 已认定: granted.
    Granted = 3,
    /// 复核中: under re-review; still held.
    UnderReview = 4,
    /// 已失效: lapsed (not renewed, re-evaluation failed); ended on `ended_date`.
    Lapsed = 5,
    /// 已撤销: revoked; ended on `ended_date`.
    Revoked = 6,
}

impl Status {
    /// Chinese label.
    pub fn label_zh(self) -> &'static str {
        match self {
            Status::Unspecified => "未指定",
            Status::Applying => "申报中",
            Status::PublicNotice => "公示中",
            Status::Granted => "已认定",
            Status::UnderReview => "复核中",
            Status::Lapsed => "已失效",
            Status::Revoked => "已撤销",
        }
    }

    /// Whether a designation with this status ever counted (it was granted).
    fn was_granted(self) -> bool {
        matches!(self, Status::Granted | Status::UnderReview | Status::Lapsed | Status::Revoked)
    }
}

/// Who issued a designation. Numbers match `ladder.v1.IssuingLevel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum IssuingLevel {
    /// Not set.
    Unspecified = 0,
    /// 国家级.
    National = 1,
    /// 省级.
    Provincial = 2,
    /// 市级.
    Municipal = 3,
    /// 区县级 / 园区.
    District = 4,
    /// Exchanges, incubators and other bodies.
    Other = 5,
}

/// An official designation (认定/入库/入统/挂牌), as stored.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Designation {
    /// The firm's credit code.
    #[prost(string, tag = "1")]
    pub credit_code: String,
    /// Short id, unique within the firm.
    #[prost(string, tag = "2")]
    pub id: String,
    /// Kind.
    #[prost(enumeration = "DesignationKind", tag = "3")]
    pub kind: i32,
    /// Issuing level.
    #[prost(enumeration = "IssuingLevel", tag = "4")]
    pub level: i32,
    /// Issuing authority, e.g. 陕西省科学技术厅.
    #[prost(string, tag = "5")]
    pub authority: String,
    /// Batch or year, e.g. 2023年第二批.
    #[prost(string, tag = "6")]
    pub batch: String,
    /// Certificate or registration number, e.g. GR202361000123.
    #[prost(string, tag = "7")]
    pub certificate_number: String,
    /// Issue date.
    #[prost(string, tag = "8")]
    pub issued_date: String,
    /// First day it counts.
    #[prost(string, tag = "9")]
    pub valid_from: String,
    /// Last day it counts (empty: until withdrawn).
    #[prost(string, tag = "10")]
    pub valid_until: String,
    /// Status.
    #[prost(enumeration = "Status", tag = "11")]
    pub status: i32,
    /// The first day it no longer counts, for revoked and lapsed ones.
    #[prost(string, tag = "12")]
    pub ended_date: String,
    /// Why it was revoked or lapsed.
    #[prost(string, tag = "13")]
    pub end_reason: String,
    /// Re-application barred until this date (e.g. five years after a 高企 revocation).
    #[prost(string, tag = "14")]
    pub barred_until: String,
    /// Evidence: document number, notice URL or file reference.
    #[prost(string, tag = "15")]
    pub evidence: String,
    /// The source list or system it came from.
    #[prost(string, tag = "16")]
    pub source: String,
    /// Who recorded it.
    #[prost(string, tag = "17")]
    pub recorded_by: String,
    /// Who ended it (revoked or lapsed), if anyone.
    #[prost(string, tag = "18")]
    pub ended_by: String,
    /// Whether its dates, kind or status were corrected after it was recorded.
    #[prost(bool, tag = "19")]
    pub corrected: bool,
    /// Creation time.
    #[prost(int64, tag = "20")]
    pub create_time: Micros,
    /// Last change.
    #[prost(int64, tag = "21")]
    pub update_time: Micros,
    /// Change-log revision of the last change.
    #[prost(uint64, tag = "22")]
    pub revision: u64,
}

/// Longest text field of a designation (authority, batch, evidence, reasons).
pub const MAX_DESIGNATION_TEXT: usize = 300;

impl Designation {
    /// `enterprises/{code}/designations/{id}`.
    pub fn resource_name(&self) -> String {
        designation_name(&self.credit_code, &self.id)
    }

    /// Opaque etag.
    pub fn etag(&self) -> String {
        update::etag(self.revision)
    }

    /// Its rung.
    pub fn stage(&self) -> Stage {
        self.kind().stage()
    }

    fn date(s: &str) -> Option<Date> {
        Date::parse(s)
    }

    /// Whether it counts on `d` (see the module documentation).
    pub fn counts_on(&self, d: Date) -> bool {
        if !self.status().was_granted() {
            return false;
        }
        let Some(from) = Self::date(&self.valid_from) else {
            return false;
        };
        let until_ok = Self::date(&self.valid_until).is_none_or(|until| d <= until);
        let not_ended = Self::date(&self.ended_date).is_none_or(|ended| d < ended);
        from <= d && until_ok && not_ended
    }

    /// The dates where its counting starts or stops: `valid_from`, the day
    /// after `valid_until`, and `ended_date`.
    fn boundaries(&self) -> Vec<Date> {
        let mut out = Vec::new();
        if !self.status().was_granted() {
            return out;
        }
        out.extend(Self::date(&self.valid_from));
        out.extend(Self::date(&self.valid_until).map(|d| d.add_days(1)));
        out.extend(Self::date(&self.ended_date));
        out
    }

    /// Trims text fields.
    pub fn normalise(&mut self) {
        for f in [
            &mut self.authority,
            &mut self.batch,
            &mut self.certificate_number,
            &mut self.issued_date,
            &mut self.valid_from,
            &mut self.valid_until,
            &mut self.ended_date,
            &mut self.end_reason,
            &mut self.barred_until,
            &mut self.evidence,
            &mut self.source,
        ] {
            *f = f.trim().to_string();
        }
        self.certificate_number = self.certificate_number.to_uppercase();
    }

    /// Checks every field, reporting all violations at once.
    pub fn validate(&self) -> Result<()> {
        let mut v = Vec::new();
        if self.kind() == DesignationKind::Unspecified {
            v.push(FieldViolation::new("kind", "REQUIRED", "is required (e.g. TECH_SME, HIGH_TECH, LITTLE_GIANT)"));
        }
        if self.status() == Status::Unspecified {
            v.push(FieldViolation::new("status", "REQUIRED", "is required (e.g. GRANTED)"));
        }
        for (field, value) in [
            ("authority", &self.authority),
            ("batch", &self.batch),
            ("certificate_number", &self.certificate_number),
            ("end_reason", &self.end_reason),
            ("evidence", &self.evidence),
            ("source", &self.source),
        ] {
            let chars = value.chars().count();
            if chars > MAX_DESIGNATION_TEXT {
                v.push(FieldViolation::new(
                    field,
                    "TOO_LONG",
                    format!("has {chars} characters, at most {MAX_DESIGNATION_TEXT} allowed"),
                ));
            } else if value.chars().any(char::is_control) {
                v.push(FieldViolation::new(field, "CONTROL_CHARACTER", "must not contain control characters"));
            }
        }
        let mut dates = Vec::new();
        for (field, value) in [
            ("issued_date", &self.issued_date),
            ("valid_from", &self.valid_from),
            ("valid_until", &self.valid_until),
            ("ended_date", &self.ended_date),
            ("barred_until", &self.barred_until),
        ] {
            match (value.is_empty(), Date::parse(value)) {
                (true, _) => dates.push(None),
                (false, Some(d)) => dates.push(Some(d)),
                (false, None) => {
                    v.push(FieldViolation::new(field, "INVALID_DATE", format!("{value:?} is not a date YYYY-MM-DD")));
                    dates.push(None);
                }
            }
        }
        let [_, from, until, ended, _] = [dates[0], dates[1], dates[2], dates[3], dates[4]];
        if self.status().was_granted() && self.valid_from.is_empty() {
            v.push(FieldViolation::new(
                "valid_from",
                "REQUIRED",
                "a granted designation needs the date it counts from",
            ));
        }
        if let (Some(from), Some(until)) = (from, until) {
            if until < from {
                v.push(FieldViolation::new(
                    "valid_until",
                    "UNTIL_BEFORE_FROM",
                    format!("{until} is before valid_from {from}"),
                ));
            }
        }
        match (self.status(), ended) {
            (Status::Revoked | Status::Lapsed, None) if self.ended_date.is_empty() => v.push(FieldViolation::new(
                "ended_date",
                "REQUIRED",
                "a revoked or lapsed designation needs the date it stopped counting",
            )),
            (Status::Revoked | Status::Lapsed, _) if self.end_reason.is_empty() => v.push(FieldViolation::new(
                "end_reason",
                "REQUIRED",
                "say why it was revoked or lapsed: a fall down the ladder always has a reason",
            )),
            (Status::Revoked | Status::Lapsed, _) => {}
            (_, Some(_)) => v.push(FieldViolation::new(
                "ended_date",
                "NOT_ENDED",
                "only a revoked or lapsed designation has an ended_date",
            )),
            _ => {}
        }
        if let (Some(from), Some(ended)) = (from, ended) {
            if ended < from {
                v.push(FieldViolation::new(
                    "ended_date",
                    "ENDED_BEFORE_FROM",
                    format!("{ended} is before valid_from {from}"),
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
    pub fn diff(old: &Designation, new: &Designation) -> Vec<FieldChange> {
        let render = |d: &Designation| {
            let kind = if d.kind == 0 { String::new() } else { d.kind().name().to_string() };
            let status = if d.status == 0 { String::new() } else { format!("{:?}", d.status()).to_uppercase() };
            let level = if d.level == 0 { String::new() } else { format!("{:?}", d.level()).to_uppercase() };
            [
                ("kind", kind),
                ("level", level),
                ("status", status),
                ("authority", d.authority.clone()),
                ("batch", d.batch.clone()),
                ("certificate_number", d.certificate_number.clone()),
                ("issued_date", d.issued_date.clone()),
                ("valid_from", d.valid_from.clone()),
                ("valid_until", d.valid_until.clone()),
                ("ended_date", d.ended_date.clone()),
                ("end_reason", d.end_reason.clone()),
                ("barred_until", d.barred_until.clone()),
                ("evidence", d.evidence.clone()),
                ("source", d.source.clone()),
            ]
        };
        render(old)
            .into_iter()
            .zip(render(new))
            .filter(|((_, a), (_, b))| a != b)
            .map(|((field, old_value), (_, new_value))| FieldChange { field: field.to_string(), old_value, new_value })
            .collect()
    }
}

/// `enterprises/{code}/designations/{id}`.
pub fn designation_name(credit_code: &str, id: &str) -> String {
    format!("enterprises/{credit_code}/designations/{id}")
}

/// Fields of a designation an update may name.
pub const DESIGNATION_UPDATABLE: &[&str] = &[
    "kind",
    "level",
    "authority",
    "batch",
    "certificate_number",
    "issued_date",
    "valid_from",
    "valid_until",
    "status",
    "ended_date",
    "end_reason",
    "barred_until",
    "evidence",
    "source",
];
const DESIGNATION_READ_ONLY: &[&str] =
    &["name", "stage", "recorded_by", "ended_by", "corrected", "etag", "revision", "create_time", "update_time"];
/// Changing one of these after recording re-dates when the designation
/// counts: a correction (status moves forward are not corrections).
const TIMELINE_FIELDS: &[&str] = &["kind", "valid_from", "valid_until"];

/// The order statuses normally move in; a move back is a correction.
fn status_rank(s: Status) -> u8 {
    match s {
        Status::Unspecified => 0,
        Status::Applying => 1,
        Status::PublicNotice => 2,
        Status::Granted | Status::UnderReview => 3,
        Status::Lapsed | Status::Revoked => 4,
    }
}

/// Records a new designation: fills the usual validity when left open, and
/// checks every field.
pub fn create_designation(
    current: Option<Designation>,
    mut d: Designation,
    actor: &str,
    now: Micros,
) -> Result<(crate::domain::change::ChangeKind, Designation)> {
    if let Some(existing) = current {
        return Err(Error::AlreadyExists { resource: existing.resource_name(), deleted: false });
    }
    d.normalise();
    if d.valid_until.is_empty() && d.ended_date.is_empty() {
        if let (Some(years), Some(from)) = (d.kind().default_validity_years(), Date::parse(&d.valid_from)) {
            d.valid_until = from.add_years(years).add_days(-1).to_string();
        }
    }
    d.validate().map_err(|e| e.in_field("designation"))?;
    d.recorded_by = actor.to_string();
    if matches!(d.status(), Status::Revoked | Status::Lapsed) {
        d.ended_by = actor.to_string();
    }
    d.corrected = false;
    d.create_time = now;
    d.update_time = now;
    Ok((crate::domain::change::ChangeKind::Created, d))
}

/// Corrects the masked fields of a designation.
pub fn update_designation(
    current: Option<Designation>,
    name: &str,
    patch: &Designation,
    mask: &[String],
    etag: &str,
    actor: &str,
    now: Micros,
) -> Result<(crate::domain::change::ChangeKind, Designation)> {
    let stored = update::existing(current, name, etag, Designation::etag)?;
    let paths = update::expand_mask(mask, DESIGNATION_UPDATABLE, DESIGNATION_READ_ONLY, "Designation")?;
    let mut d = stored.clone();
    for path in &paths {
        match *path {
            "kind" => d.kind = patch.kind,
            "level" => d.level = patch.level,
            "authority" => d.authority.clone_from(&patch.authority),
            "batch" => d.batch.clone_from(&patch.batch),
            "certificate_number" => d.certificate_number.clone_from(&patch.certificate_number),
            "issued_date" => d.issued_date.clone_from(&patch.issued_date),
            "valid_from" => d.valid_from.clone_from(&patch.valid_from),
            "valid_until" => d.valid_until.clone_from(&patch.valid_until),
            "status" => d.status = patch.status,
            "ended_date" => d.ended_date.clone_from(&patch.ended_date),
            "end_reason" => d.end_reason.clone_from(&patch.end_reason),
            "barred_until" => d.barred_until.clone_from(&patch.barred_until),
            "evidence" => d.evidence.clone_from(&patch.evidence),
            "source" => d.source.clone_from(&patch.source),
            _ => unreachable!("expand_mask only returns updatable fields"),
        }
    }
    d.normalise();
    d.validate().map_err(|e| e.in_field("designation"))?;
    let changes = Designation::diff(&stored, &d);
    let re_dated = changes.iter().any(|c| TIMELINE_FIELDS.contains(&c.field.as_str()))
        || (stored.status().was_granted() && stored.ended_date != d.ended_date && !stored.ended_date.is_empty());
    if re_dated || status_rank(d.status()) < status_rank(stored.status()) {
        d.corrected = true;
    }
    match d.status() {
        Status::Revoked | Status::Lapsed if stored.ended_by.is_empty() || stored.status() != d.status() => {
            d.ended_by = actor.to_string();
        }
        Status::Revoked | Status::Lapsed => {}
        // Back in force (or never ended): no end fields linger.
        _ => {
            d.ended_by.clear();
            d.end_reason.clear();
            d.barred_until.clear();
        }
    }
    if !changes.is_empty() {
        d.update_time = now;
    }
    Ok((crate::domain::change::ChangeKind::Updated, d))
}

/// Revokes a granted designation from `date`.
#[allow(clippy::too_many_arguments)]
pub fn revoke(
    current: Option<Designation>,
    name: &str,
    date: Date,
    reason: &str,
    barred_until: &str,
    etag: &str,
    actor: &str,
    now: Micros,
) -> Result<(crate::domain::change::ChangeKind, Designation)> {
    let mut d = update::existing(current, name, etag, Designation::etag)?;
    match d.status() {
        Status::Revoked => {
            return Err(Error::FailedPrecondition {
                reason: "ALREADY_REVOKED",
                message: format!("{name} was already revoked on {}", d.ended_date),
            })
        }
        Status::Applying | Status::PublicNotice | Status::Unspecified => {
            return Err(Error::FailedPrecondition {
                reason: "NOT_GRANTED",
                message: format!("{name} was never granted: correct its status instead of revoking it"),
            })
        }
        Status::Granted | Status::UnderReview | Status::Lapsed => {}
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid_field("reason", "REQUIRED", "say why it was revoked (e.g. 年报连续两年未报)"));
    }
    if Date::parse(&d.valid_from).is_some_and(|from| date < from) {
        return Err(Error::invalid_field(
            "ended_date",
            "ENDED_BEFORE_FROM",
            format!("{date} is before valid_from {}", d.valid_from),
        ));
    }
    // Revoking a lapsed designation cannot bring it back for the days between.
    let date = match Date::parse(&d.ended_date) {
        Some(ended) if ended < date => ended,
        _ => date,
    };
    d.status = Status::Revoked as i32;
    d.ended_date = date.to_string();
    d.end_reason = reason.to_string();
    d.barred_until = barred_until.trim().to_string();
    d.ended_by = actor.to_string();
    d.validate().map_err(|e| e.in_field("designation"))?;
    d.update_time = now;
    Ok((crate::domain::change::ChangeKind::Updated, d))
}

/// Why the stage changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum Cause {
    /// Not set.
    Unspecified = 0,
    /// A designation started counting (granted, or its validity began).
    Granted = 1,
    /// A designation was revoked.
    Revoked = 2,
    /// A designation's validity ran out (or it lapsed).
    Expired = 3,
    /// A designation was corrected after it was recorded.
    Corrected = 4,
}

/// One change of the derived stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageChange {
    /// The first day at the new stage.
    pub date: Date,
    /// Stage before.
    pub from: Stage,
    /// Stage from `date` on.
    pub to: Stage,
    /// Why.
    pub cause: Cause,
    /// The designation whose start or end made the change.
    pub designation: String,
    /// Its kind.
    pub kind: DesignationKind,
    /// Who recorded the grant, or ended it (`system` for an expiry).
    pub actor: String,
    /// The end reason for revocations and lapses.
    pub reason: String,
}

/// The stage on a date.
pub fn stage_on(designations: &[Designation], d: Date) -> Stage {
    designations.iter().filter(|x| x.counts_on(d)).map(Designation::stage).max().unwrap_or(Stage::Unspecified)
}

/// Every change of the derived stage up to and including `until`, oldest
/// first, each with its cause.
pub fn timeline(designations: &[Designation], until: Date) -> Vec<StageChange> {
    let mut dates: Vec<Date> = designations.iter().flat_map(Designation::boundaries).filter(|d| *d <= until).collect();
    dates.sort();
    dates.dedup();
    let mut out = Vec::new();
    let mut current = Stage::Unspecified;
    for d in dates {
        let next = stage_on(designations, d);
        if next == current {
            continue;
        }
        out.push(explain(designations, d, current, next));
        current = next;
    }
    out
}

/// The stage on `d` and the first day of the unbroken run at it (`None` when
/// not on the ladder).
pub fn stage_since(designations: &[Designation], d: Date) -> (Stage, Option<Date>) {
    let stage = stage_on(designations, d);
    if stage == Stage::Unspecified {
        return (stage, None);
    }
    let since = timeline(designations, d).last().map(|c| c.date);
    (stage, since)
}

/// Names the designation whose boundary on `d` moved the stage `from` → `to`.
fn explain(designations: &[Designation], d: Date, from: Stage, to: Stage) -> StageChange {
    let starts = |x: &&Designation| Designation::date(&x.valid_from) == Some(d);
    let ends_by_expiry = |x: &&Designation| Designation::date(&x.valid_until).map(|u| u.add_days(1)) == Some(d);
    let ends_by_status = |x: &&Designation| Designation::date(&x.ended_date) == Some(d);
    let change = |x: &Designation, cause: Cause, actor: &str, reason: &str| StageChange {
        date: d,
        from,
        to,
        cause: if x.corrected && cause != Cause::Revoked { Cause::Corrected } else { cause },
        designation: x.resource_name(),
        kind: x.kind(),
        actor: actor.to_string(),
        reason: reason.to_string(),
    };
    if to > from {
        if let Some(x) = designations.iter().filter(|x| x.counts_on(d) && x.stage() == to).find(starts) {
            return change(x, Cause::Granted, &x.recorded_by, "");
        }
    }
    // A fall (or a rise revealed by a higher one ending): name what stopped
    // counting on `d`, on the rung that was left.
    let yesterday = d.add_days(-1);
    let stopped = |x: &&Designation| x.counts_on(yesterday) && !x.counts_on(d);
    let ended = designations.iter().filter(stopped).filter(|x| x.stage() == from.max(to));
    if let Some(x) = ended.clone().find(ends_by_status) {
        let cause = if x.status() == Status::Revoked { Cause::Revoked } else { Cause::Expired };
        return change(x, cause, &x.ended_by, &x.end_reason);
    }
    if let Some(x) = designations.iter().filter(stopped).filter(|x| x.stage() == from).find(ends_by_expiry) {
        return change(x, Cause::Expired, "system", "validity ended");
    }
    if let Some(x) = designations.iter().filter(stopped).filter(|x| x.stage() == from).find(ends_by_status) {
        let cause = if x.status() == Status::Revoked { Cause::Revoked } else { Cause::Expired };
        return change(x, cause, &x.ended_by, &x.end_reason);
    }
    // A rise because a designation began counting again on a lower rung is
    // still a grant of that designation.
    match designations.iter().filter(|x| x.counts_on(d)).find(starts) {
        Some(x) => change(x, Cause::Granted, &x.recorded_by, ""),
        None => StageChange {
            date: d,
            from,
            to,
            cause: Cause::Corrected,
            designation: String::new(),
            kind: DesignationKind::Unspecified,
            actor: String::new(),
            reason: String::new(),
        },
    }
}

/// Time spent on one stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageSpell {
    /// The stage.
    pub stage: Stage,
    /// First day at it.
    pub entered: Date,
    /// First day no longer at it (`None` while still at it).
    pub exited: Option<Date>,
}

impl StageSpell {
    /// Days spent (up to `today` while still at it).
    pub fn days(&self, today: Date) -> i64 {
        self.exited.unwrap_or(today).days_since(self.entered)
    }
}

/// The spells of a timeline: each stage entered, when, and when left.
///
/// A change closes only the spell still open: after a fall off the ladder
/// (a change to `Unspecified`) the last spell has already ended, and the next
/// entry must not move its exit to the day of that entry.
pub fn spells(changes: &[StageChange]) -> Vec<StageSpell> {
    let mut out: Vec<StageSpell> = Vec::new();
    for c in changes {
        if let Some(open) = out.last_mut().filter(|s| s.exited.is_none()) {
            open.exited = Some(c.date);
        }
        if c.to != Stage::Unspecified {
            out.push(StageSpell { stage: c.to, entered: c.date, exited: None });
        }
    }
    out
}

/// A compact projection kept on the enterprise record: the date ranges of its
/// designations that ever counted, enough to derive its stage on any date
/// without reading the designations.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StageSpan {
    /// The rung.
    #[prost(enumeration = "Stage", tag = "1")]
    pub stage: i32,
    /// First day it counts.
    #[prost(string, tag = "2")]
    pub from: String,
    /// First day it no longer counts (empty: open-ended).
    #[prost(string, tag = "3")]
    pub until: String,
}

/// The spans of a firm's designations, for the enterprise projection.
pub fn spans(designations: &[Designation]) -> Vec<StageSpan> {
    let mut out: Vec<StageSpan> = designations
        .iter()
        .filter(|d| d.status().was_granted())
        .filter_map(|d| {
            let from = Designation::date(&d.valid_from)?;
            let ends = [Designation::date(&d.valid_until).map(|u| u.add_days(1)), Designation::date(&d.ended_date)];
            let until = ends.into_iter().flatten().min();
            (until.is_none_or(|u| u > from)).then(|| StageSpan {
                stage: d.stage() as i32,
                from: from.to_string(),
                until: until.map(|u| u.to_string()).unwrap_or_default(),
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.from, a.stage, &a.until).cmp(&(&b.from, b.stage, &b.until)));
    out
}

/// The stage on `d` from a projection.
pub fn stage_from_spans(spans: &[StageSpan], d: Date) -> Stage {
    spans
        .iter()
        .filter(|s| Date::parse(&s.from).is_some_and(|f| f <= d) && Date::parse(&s.until).is_none_or(|u| d < u))
        .map(|s| Stage::of(s.stage))
        .max()
        .unwrap_or(Stage::Unspecified)
}

/// The first day of the unbroken run at the stage on `d`, from a projection.
pub fn since_from_spans(spans: &[StageSpan], d: Date) -> Option<Date> {
    let stage = stage_from_spans(spans, d);
    if stage == Stage::Unspecified {
        return None;
    }
    let mut points: Vec<Date> = spans
        .iter()
        .flat_map(|s| [Date::parse(&s.from), Date::parse(&s.until)])
        .flatten()
        .filter(|p| *p <= d)
        .collect();
    points.sort();
    points.dedup();
    // Walk back from the latest boundary: the run started at the last
    // boundary where the stage became `stage`.
    let mut since = None;
    let mut previous = Stage::Unspecified;
    for p in points {
        let s = stage_from_spans(spans, p);
        if s != previous && s == stage {
            since = Some(p);
        }
        previous = s;
    }
    since
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn grant(id: &str, kind: DesignationKind, from: &str, until: &str) -> Designation {
        Designation {
            credit_code: "C".into(),
            id: id.into(),
            kind: kind as i32,
            status: Status::Granted as i32,
            valid_from: from.into(),
            valid_until: until.into(),
            recorded_by: "wang".into(),
            ..Default::default()
        }
    }

    #[test]
    fn tech_sme_then_high_tech_climbs_and_revocation_falls_back_with_reason() {
        let sme = grant("a", DesignationKind::TechSme, "2023-05-01", "");
        let mut gr = grant("b", DesignationKind::HighTech, "2024-01-01", "2026-12-31");
        let both = [sme.clone(), gr.clone()];
        assert_eq!(stage_on(&both, d("2023-06-01")), Stage::Nurture);
        assert_eq!(stage_on(&both, d("2024-06-01")), Stage::Climb);
        assert_eq!(stage_since(&both, d("2024-06-01")), (Stage::Climb, Some(d("2024-01-01"))));

        gr.status = Status::Revoked as i32;
        gr.ended_date = "2025-03-01".into();
        gr.end_reason = "年报连续两年未报".into();
        gr.ended_by = "li".into();
        let after = [sme, gr];
        assert_eq!(stage_on(&after, d("2025-03-01")), Stage::Nurture);
        let history = timeline(&after, d("2025-12-31"));
        let steps: Vec<(Stage, Stage, Cause)> = history.iter().map(|c| (c.from, c.to, c.cause)).collect();
        assert_eq!(
            steps,
            vec![
                (Stage::Unspecified, Stage::Nurture, Cause::Granted),
                (Stage::Nurture, Stage::Climb, Cause::Granted),
                (Stage::Climb, Stage::Nurture, Cause::Revoked),
            ]
        );
        let fall = &history[2];
        assert_eq!((fall.actor.as_str(), fall.reason.as_str(), fall.date), ("li", "年报连续两年未报", d("2025-03-01")));
    }

    #[test]
    fn expiry_needs_no_write_and_is_explained() {
        let gr = grant("b", DesignationKind::HighTech, "2021-01-01", "2023-12-31");
        assert_eq!(stage_on(std::slice::from_ref(&gr), d("2023-12-31")), Stage::Climb);
        assert_eq!(stage_on(std::slice::from_ref(&gr), d("2024-01-01")), Stage::Unspecified);
        let history = timeline(std::slice::from_ref(&gr), d("2024-06-01"));
        assert_eq!(
            history.last().map(|c| (c.cause, c.actor.as_str(), c.date)),
            Some((Cause::Expired, "system", d("2024-01-01")))
        );
    }

    #[test]
    fn applying_and_noticed_designations_do_not_count() {
        let mut x = grant("a", DesignationKind::LittleGiant, "2024-01-01", "");
        x.status = Status::PublicNotice as i32;
        assert_eq!(stage_on(&[x], d("2024-06-01")), Stage::Unspecified);
    }

    #[test]
    fn validation_names_every_bad_date() {
        let mut x = grant("a", DesignationKind::HighTech, "2024-01-01", "2023-01-01");
        x.issued_date = "2024-13-01".into();
        x.ended_date = "2024-05-01".into();
        let fields: Vec<String> = match x.validate() {
            Err(Error::InvalidArgument { violations, .. }) => violations.into_iter().map(|v| v.field).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(fields, ["issued_date", "valid_until", "ended_date"]);
        let mut revoked = grant("b", DesignationKind::HighTech, "2024-01-01", "");
        revoked.status = Status::Revoked as i32;
        assert_eq!(revoked.validate().unwrap_err().reason(), "REQUIRED");
        revoked.ended_date = "2024-06-01".into();
        assert_eq!(revoked.validate().unwrap_err().reason(), "REQUIRED", "a revocation needs its reason");
        revoked.end_reason = "弄虚作假".into();
        assert!(revoked.validate().is_ok());
        // Revoking a lapsed designation later keeps the earlier end.
        let mut lapsed = grant("c", DesignationKind::HighTech, "2024-01-01", "");
        lapsed.status = Status::Lapsed as i32;
        lapsed.ended_date = "2024-06-01".into();
        lapsed.end_reason = "未复核".into();
        let (_, r) = revoke(Some(lapsed), "n", d("2024-10-01"), "弄虚作假", "", "", "li", 1).unwrap();
        assert_eq!(r.ended_date, "2024-06-01");
    }

    #[test]
    fn create_fills_the_usual_validity_and_revoke_checks_state() {
        let input = Designation {
            kind: DesignationKind::HighTech as i32,
            status: Status::Granted as i32,
            valid_from: "2024-01-01".into(),
            ..Default::default()
        };
        let (_, created) = create_designation(None, input, "wang", 1).unwrap();
        assert_eq!(created.valid_until, "2026-12-31");
        assert_eq!(created.recorded_by, "wang");
        let (_, revoked) =
            revoke(Some(created.clone()), "n", d("2025-01-01"), "年报未报", "2030-01-01", "", "li", 2).unwrap();
        assert_eq!((revoked.status(), revoked.ended_by.as_str()), (Status::Revoked, "li"));
        assert_eq!(
            revoke(Some(revoked), "n", d("2025-01-02"), "x", "", "", "li", 3).unwrap_err().reason(),
            "ALREADY_REVOKED"
        );
        assert_eq!(
            revoke(Some(created.clone()), "n", d("2023-01-01"), "x", "", "", "li", 3).unwrap_err().reason(),
            "ENDED_BEFORE_FROM"
        );
        assert_eq!(revoke(Some(created), "n", d("2025-01-01"), " ", "", "", "li", 3).unwrap_err().reason(), "REQUIRED");
    }

    #[test]
    fn forward_status_moves_are_not_corrections() {
        let mut noticed = grant("a", DesignationKind::LittleGiant, "2024-01-01", "");
        noticed.status = Status::PublicNotice as i32;
        let patch =
            Designation { status: Status::Granted as i32, level: IssuingLevel::National as i32, ..Default::default() };
        let (_, granted) =
            update_designation(Some(noticed), "n", &patch, &["status".into(), "level".into()], "", "li", 5).unwrap();
        assert!(!granted.corrected);
        assert_eq!(granted.level(), IssuingLevel::National);
    }

    #[test]
    fn corrections_of_dates_are_marked() {
        let input = grant("a", DesignationKind::TechSme, "2024-01-01", "2024-12-31");
        let patch = Designation { valid_until: "2024-06-30".into(), evidence: "文号".into(), ..Default::default() };
        let (_, fixed) =
            update_designation(Some(input.clone()), "n", &patch, &["valid_until".into()], "", "li", 5).unwrap();
        assert!(fixed.corrected);
        let (_, noted) = update_designation(Some(input), "n", &patch, &["evidence".into()], "", "li", 5).unwrap();
        assert!(!noted.corrected, "evidence is not part of the timeline");
    }

    #[test]
    fn a_fall_off_the_ladder_ends_the_spell_on_that_day() {
        // 小巨人 2019-07-01..2022-06-30, then nothing, then a tech-SME entry.
        let giant = grant("a", DesignationKind::LittleGiant, "2019-07-01", "2022-06-30");
        let sme = grant("b", DesignationKind::TechSme, "2025-01-01", "");
        let history = timeline(&[giant, sme], d("2025-03-02"));
        let got = spells(&history);
        assert_eq!(
            got,
            vec![
                StageSpell { stage: Stage::Advance, entered: d("2019-07-01"), exited: Some(d("2022-07-01")) },
                StageSpell { stage: Stage::Nurture, entered: d("2025-01-01"), exited: None },
            ]
        );
        assert_eq!(got[0].days(d("2025-03-02")), 1096);
    }

    #[test]
    fn every_official_name_and_short_form_parses_to_its_kind() {
        use DesignationKind::*;
        let official = [
            ("专精特新小巨人企业", LittleGiant),
            ("专精特新“小巨人”企业", LittleGiant),
            ("国家级专精特新\"小巨人\"企业", LittleGiant),
            ("国家级专精特新“小巨人”企业", LittleGiant),
            ("小巨人", LittleGiant),
            ("小巨人企业", LittleGiant),
            ("规模以上工业企业", AboveScaleIndustry),
            ("规上工业", AboveScaleIndustry),
            ("规模以上服务业企业", AboveScaleServices),
            ("限额以上批发零售住宿餐饮企业", AboveQuotaTrade),
            ("限额以上批发和零售业、住宿和餐饮业企业", AboveQuotaTrade),
            ("高新技术企业", HighTech),
            ("国家高新技术企业", HighTech),
            ("高企", HighTech),
            ("专精特新中小企业", SpecialisedSme),
            ("省级专精特新中小企业", SpecialisedSme),
            ("专精特新", SpecialisedSme),
            ("科技型中小企业", TechSme),
            ("科小", TechSme),
            ("创新型中小企业", InnovativeSme),
            ("在孵企业", Incubated),
            ("制造业单项冠军企业", SingleChampion),
            ("制造业单项冠军", SingleChampion),
            ("瞪羚企业", Gazelle),
            ("潜在瞪羚企业", PotentialGazelle),
            ("独角兽企业", Unicorn),
            ("潜在独角兽企业", PotentialUnicorn),
            ("新三板挂牌企业", NeeqListing),
            ("区域性股权市场挂牌", RegionalEquityListing),
            ("上市公司", ExchangeListing),
            (" 高新技术企业 ", HighTech),
        ];
        for (name, kind) in official {
            assert_eq!(DesignationKind::parse(name), Some(kind), "{name}");
        }
        // Every name listed, and every display label, parses back to its own kind.
        for kind in DesignationKind::ALL {
            for name in kind.names_zh().iter().chain([&kind.label_zh()]) {
                assert_eq!(DesignationKind::parse(name), Some(kind), "{name}");
            }
        }
        // No name could mean two kinds.
        let mut seen = std::collections::HashMap::new();
        for kind in DesignationKind::ALL {
            for name in kind.names_zh().iter().chain([&kind.label_zh()]) {
                let previous = seen.insert(DesignationKind::comparable(name), kind);
                assert!(previous.is_none_or(|p| p == kind), "{name} means {previous:?} and {kind:?}");
            }
        }
        for refused in ["", "企业", "国家级", "小巨", "boss", "高新技术企业企业"] {
            assert_eq!(DesignationKind::parse(refused), None, "{refused:?}");
        }
        let listing = DesignationKind::names_zh_listing();
        for kind in DesignationKind::ALL {
            assert!(listing.contains(kind.names_zh()[0]), "{listing}");
        }
        assert!(listing.contains("专精特新“小巨人”企业（小巨人"), "{listing}");
    }

    #[test]
    fn kinds_map_to_rungs_and_parse() {
        assert_eq!(DesignationKind::LittleGiant.stage(), Stage::Advance);
        assert_eq!(DesignationKind::AboveScaleServices.stage(), Stage::ScaleUp);
        assert_eq!(DesignationKind::parse("high_tech"), Some(DesignationKind::HighTech));
        assert_eq!(DesignationKind::parse("科技型中小企业"), Some(DesignationKind::TechSme));
        assert_eq!(DesignationKind::parse("高企"), Some(DesignationKind::HighTech), "the short names staff use");
        assert_eq!(DesignationKind::parse("小巨人"), Some(DesignationKind::LittleGiant));
        assert_eq!(Stage::parse("STAGE_SCALE_UP"), Some(Stage::ScaleUp));
        assert_eq!(Stage::parse("晋位"), Some(Stage::Advance));
    }

    fn arb_designation() -> impl Strategy<Value = Designation> {
        (1usize..=17, 0i64..2000, proptest::option::of(0i64..1500), 1i32..=6, proptest::option::of(0i64..2500))
            .prop_map(|(kind, from, len, status, ended)| {
                let base = d("2018-01-01");
                let from_d = base.add_days(from);
                let status = Status::try_from(status).unwrap_or(Status::Granted);
                let (ended_date, end_reason) = match status {
                    Status::Revoked | Status::Lapsed => {
                        (from_d.add_days(ended.unwrap_or(30)).to_string(), "r".to_string())
                    }
                    _ => (String::new(), String::new()),
                };
                Designation {
                    credit_code: "C".into(),
                    id: format!("{kind}-{from}"),
                    kind: DesignationKind::ALL[kind - 1] as i32,
                    status: status as i32,
                    valid_from: from_d.to_string(),
                    valid_until: len.map(|l| from_d.add_days(l).to_string()).unwrap_or_default(),
                    ended_date,
                    end_reason,
                    ..Default::default()
                }
            })
    }

    proptest! {
        /// The derived stage always equals the highest designation valid on the date.
        #[test]
        fn stage_is_the_highest_valid_designation(ds in proptest::collection::vec(arb_designation(), 0..8), probe in 0i64..3000) {
            let day = d("2018-01-01").add_days(probe);
            let brute = ds.iter().filter(|x| {
                if matches!(x.status(), Status::Applying | Status::PublicNotice) {
                    return false;
                }
                let from = Date::parse(&x.valid_from).unwrap();
                let until_ok = Date::parse(&x.valid_until).is_none_or(|u| day <= u);
                let ended_ok = Date::parse(&x.ended_date).is_none_or(|e| day < e);
                from <= day && until_ok && ended_ok
            }).map(|x| x.stage()).max().unwrap_or(Stage::Unspecified);
            prop_assert_eq!(stage_on(&ds, day), brute);
            // The projection on the enterprise agrees with the designations.
            prop_assert_eq!(stage_from_spans(&spans(&ds), day), brute);
            // The timeline ends at the stage of the day.
            let last = timeline(&ds, day).last().map(|c| c.to).unwrap_or(Stage::Unspecified);
            prop_assert_eq!(last, brute);
            // Every change names a designation that really started or
            // stopped counting that day, on the rung concerned.
            for change in timeline(&ds, day) {
                let x = ds.iter().find(|x| x.resource_name() == change.designation);
                prop_assert!(x.is_some(), "{:?}", change);
                let x = x.unwrap();
                let (before, after) = (x.counts_on(change.date.add_days(-1)), x.counts_on(change.date));
                if change.to < change.from {
                    prop_assert!(change.cause != Cause::Granted, "{:?}", change);
                    prop_assert!(before && !after && x.stage() == change.from, "{:?} by {:?}", change, x);
                } else if change.cause == Cause::Granted {
                    prop_assert!(!before && after, "{:?} by {:?}", change, x);
                }
            }
            // "Since" is consistent between the designations and the projection.
            prop_assert_eq!(stage_since(&ds, day).1, since_from_spans(&spans(&ds), day));
            // The spells are the runs of one stage in a day-by-day walk
            // (every designation starts on or after the walk's first day).
            let mut walked: Vec<StageSpell> = Vec::new();
            let mut previous = Stage::Unspecified;
            let mut at = d("2018-01-01");
            while at <= day {
                let stage = stage_on(&ds, at);
                if stage != previous {
                    if let Some(open) = walked.last_mut().filter(|s| s.exited.is_none()) {
                        open.exited = Some(at);
                    }
                    if stage != Stage::Unspecified {
                        walked.push(StageSpell { stage, entered: at, exited: None });
                    }
                    previous = stage;
                }
                at = at.add_days(1);
            }
            prop_assert_eq!(spells(&timeline(&ds, day)), walked);
        }
    }
}
