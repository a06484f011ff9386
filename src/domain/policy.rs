//! The cultivation policy: dated, versioned thresholds (TOML) and the
//! evaluation of a firm against a target designation, criterion by criterion.
//!
//! Missing data is always "unknown", never "met". Every evaluation says which
//! policy version it used.

use serde::{Deserialize, Serialize};

use crate::domain::enterprise::Enterprise;
use crate::domain::indicators::AnnualIndicators;
use crate::domain::ladder::DesignationKind;
use crate::domain::time::Date;

/// The built-in policy, shipped with the binary.
pub const BUILT_IN: &str = include_str!("../../policy/cultivation.toml");

/// A policy file: its versions in date order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The versions.
    #[serde(rename = "version")]
    pub versions: Vec<PolicyVersion>,
    /// Where it came from (`built-in` or a path).
    #[serde(skip)]
    pub source: String,
}

/// One dated version of the thresholds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyVersion {
    /// Version id, e.g. `2024`.
    pub id: String,
    /// First day it applies.
    pub effective_from: String,
    /// Last day it applies; empty while open-ended.
    #[serde(default)]
    pub effective_until: String,
    /// 科技型中小企业.
    pub tech_sme: TechSme,
    /// 高新技术企业.
    pub high_tech: HighTech,
    /// 规上 / 限上.
    pub above_scale: AboveScale,
    /// 专精特新中小企业.
    pub specialised_sme: SpecialisedSme,
    /// 小巨人.
    pub little_giant: LittleGiant,
    /// 瞪羚.
    pub gazelle: Gazelle,
    /// 独角兽.
    pub unicorn: Unicorn,
}

/// 科技型中小企业 limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TechSme {
    /// Most employees.
    pub max_employees: i64,
    /// Most revenue, 万元.
    pub max_revenue: f64,
    /// Most total assets, 万元.
    pub max_total_assets: f64,
}

/// A band of a revenue-dependent threshold.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Upper bound of revenue (万元) for this band; absent for the last band.
    #[serde(default)]
    pub up_to_revenue: Option<f64>,
    /// The minimum, percent.
    pub min: f64,
}

/// 高新技术企业 thresholds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HighTech {
    /// Years since founding.
    pub min_years_registered: i64,
    /// Tech staff / employees, percent.
    pub min_tech_staff_share: f64,
    /// R&D spent in China, percent.
    pub min_rd_domestic_share: f64,
    /// High-tech revenue / revenue, percent.
    pub min_high_tech_revenue_share: f64,
    /// R&D / revenue by revenue band.
    pub rd_intensity: Vec<Band>,
}

/// 规上 / 限上 thresholds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AboveScale {
    /// Minimum for industries not listed, 万元.
    pub default_min_revenue: f64,
    /// Minimum main-business revenue by industry-code prefix, 万元.
    pub min_revenue_by_industry: std::collections::BTreeMap<String, f64>,
}

/// 专精特新中小企业 thresholds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialisedSme {
    /// R&D expense, 万元.
    pub min_rd_expense: f64,
    /// R&D / revenue, percent.
    pub min_rd_intensity: f64,
    /// Revenue, 万元.
    pub min_revenue: f64,
    /// Or: equity financing, 万元.
    pub alt_min_equity_financing: f64,
}

/// 小巨人 thresholds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LittleGiant {
    /// Main business / revenue, percent.
    pub min_main_business_share: f64,
    /// Liabilities / assets, percent.
    pub max_debt_ratio: f64,
    /// Main-business revenue growth over two years, percent.
    pub min_main_business_growth_2y: f64,
    /// R&D / revenue by revenue band.
    pub rd_intensity: Vec<Band>,
}

/// 瞪羚 thresholds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Gazelle {
    /// R&D / revenue, percent (strictly above).
    pub min_rd_intensity: f64,
    /// Years since founding.
    pub max_age_years: i64,
    /// Revenue compound annual growth over four years, percent.
    pub min_revenue_cagr_4y: f64,
}

/// 独角兽 thresholds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Unicorn {
    /// Years since founding.
    pub max_age_years: i64,
    /// Valuation, 万元.
    pub min_valuation: f64,
}

impl Policy {
    /// Parses and checks a policy: dates valid, versions ordered without gaps
    /// or overlaps, only the last open-ended, thresholds non-negative.
    pub fn parse(text: &str, source: &str) -> Result<Policy, String> {
        let mut policy: Policy = toml::from_str(text).map_err(|e| format!("policy {source}: {e}"))?;
        policy.source = source.to_string();
        if policy.versions.is_empty() {
            return Err(format!("policy {source}: no [[version]]"));
        }
        let mut previous_until: Option<Option<Date>> = None;
        for (i, v) in policy.versions.iter().enumerate() {
            let from = Date::parse(&v.effective_from).ok_or_else(|| {
                format!("policy {source}: version {:?}: effective_from {:?} is not YYYY-MM-DD", v.id, v.effective_from)
            })?;
            let until = match v.effective_until.as_str() {
                "" => None,
                s => Some(Date::parse(s).ok_or_else(|| {
                    format!("policy {source}: version {:?}: effective_until {s:?} is not YYYY-MM-DD", v.id)
                })?),
            };
            if until.is_some_and(|u| u < from) {
                return Err(format!("policy {source}: version {:?} ends before it starts", v.id));
            }
            match previous_until {
                None => {}
                Some(None) => return Err(format!("policy {source}: version {:?} follows an open-ended version", v.id)),
                Some(Some(prev)) if prev.add_days(1) < from => {
                    return Err(format!(
                        "policy {source}: a gap before version {:?} ({} to {})",
                        v.id,
                        prev.add_days(1),
                        from.add_days(-1)
                    ))
                }
                Some(Some(prev)) if prev.add_days(1) > from => {
                    return Err(format!(
                        "policy {source}: version {:?} overlaps the previous one (from {from}, previous until {prev})",
                        v.id
                    ))
                }
                Some(Some(_)) => {}
            }
            previous_until = Some(until);
            if policy.versions[..i].iter().any(|other| other.id == v.id) {
                return Err(format!("policy {source}: version id {:?} appears twice", v.id));
            }
            v.check().map_err(|e| format!("policy {source}: version {:?}: {e}", v.id))?;
        }
        Ok(policy)
    }

    /// The built-in policy.
    pub fn built_in() -> Policy {
        Policy::parse(BUILT_IN, "built-in")
            .unwrap_or_else(|e| unreachable!("the built-in policy is checked by tests: {e}"))
    }

    /// The version in force on `d` (the first one if `d` precedes them all).
    pub fn in_force(&self, d: Date) -> &PolicyVersion {
        self.versions
            .iter()
            .rev()
            .find(|v| Date::parse(&v.effective_from).is_some_and(|from| from <= d))
            .unwrap_or(&self.versions[0])
    }
}

impl PolicyVersion {
    fn check(&self) -> Result<(), String> {
        let non_negative = [
            self.tech_sme.max_revenue,
            self.tech_sme.max_total_assets,
            self.high_tech.min_tech_staff_share,
            self.high_tech.min_rd_domestic_share,
            self.high_tech.min_high_tech_revenue_share,
            self.above_scale.default_min_revenue,
            self.specialised_sme.min_rd_expense,
            self.specialised_sme.min_rd_intensity,
            self.specialised_sme.min_revenue,
            self.specialised_sme.alt_min_equity_financing,
            self.little_giant.min_main_business_share,
            self.little_giant.max_debt_ratio,
            self.gazelle.min_rd_intensity,
            self.unicorn.min_valuation,
        ];
        if non_negative
            .iter()
            .chain(self.above_scale.min_revenue_by_industry.values())
            .any(|v| !v.is_finite() || *v < 0.0)
        {
            return Err("thresholds must be finite and not negative".into());
        }
        for bands in [&self.high_tech.rd_intensity, &self.little_giant.rd_intensity] {
            if bands.last().is_none_or(|b| b.up_to_revenue.is_some()) {
                return Err("a banded threshold needs a last band without up_to_revenue".into());
            }
        }
        Ok(())
    }

    /// This version as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

/// Whether a criterion holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Met.
    Met,
    /// Missed.
    Missed,
    /// Data missing.
    Unknown,
}

/// One evaluated criterion.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    /// Machine name.
    pub key: &'static str,
    /// What it means (Chinese).
    pub description: &'static str,
    /// The firm's value, with unit; empty when unknown.
    pub value: String,
    /// The threshold, with unit.
    pub threshold: String,
    /// The verdict.
    pub verdict: Verdict,
}

/// What an evaluation knows about a firm.
pub struct Facts<'a> {
    /// The firm.
    pub firm: &'a Enterprise,
    /// Indicators of the evaluated year.
    pub year: Option<&'a AnnualIndicators>,
    /// Indicators two years before (for two-year growth).
    pub two_years_before: Option<&'a AnnualIndicators>,
    /// Indicators four years before (for four-year growth).
    pub four_years_before: Option<&'a AnnualIndicators>,
    /// Whether it holds a valid 高企 certificate today.
    pub holds_high_tech: bool,
    /// Whether it is listed today.
    pub listed: bool,
    /// The last day of the evaluated year (for ages).
    pub at: Date,
}

fn pct(v: f64) -> String {
    format!("{v:.1}%")
}

fn wan(v: f64) -> String {
    format!("{v:.0}万元")
}

fn ratio(num: Option<f64>, den: Option<f64>) -> Option<f64> {
    match (num, den) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d * 100.0),
        _ => None,
    }
}

fn band(bands: &[Band], revenue: Option<f64>) -> Option<f64> {
    let revenue = revenue?;
    bands.iter().find(|b| b.up_to_revenue.is_none_or(|up| revenue <= up)).map(|b| b.min)
}

fn at_least(
    key: &'static str,
    description: &'static str,
    value: Option<f64>,
    min: Option<f64>,
    show: fn(f64) -> String,
) -> Criterion {
    let verdict = match (value, min) {
        (Some(v), Some(m)) if v >= m => Verdict::Met,
        (Some(_), Some(_)) => Verdict::Missed,
        _ => Verdict::Unknown,
    };
    Criterion {
        key,
        description,
        value: value.map(show).unwrap_or_default(),
        threshold: min.map(|m| format!("≥ {}", show(m))).unwrap_or_else(|| "≥ (needs revenue)".into()),
        verdict,
    }
}

fn at_most(
    key: &'static str,
    description: &'static str,
    value: Option<f64>,
    max: f64,
    show: fn(f64) -> String,
) -> Criterion {
    let verdict = match value {
        Some(v) if v <= max => Verdict::Met,
        Some(_) => Verdict::Missed,
        None => Verdict::Unknown,
    };
    Criterion {
        key,
        description,
        value: value.map(show).unwrap_or_default(),
        threshold: format!("≤ {}", show(max)),
        verdict,
    }
}

fn fact(key: &'static str, description: &'static str, holds: bool, value: &str, threshold: &str) -> Criterion {
    Criterion {
        key,
        description,
        value: value.to_string(),
        threshold: threshold.to_string(),
        verdict: if holds { Verdict::Met } else { Verdict::Missed },
    }
}

fn years(v: f64) -> String {
    format!("{v:.0}年")
}

fn count(v: f64) -> String {
    format!("{v:.0}人")
}

/// Years from the firm's founding to `at`, when known.
fn age(facts: &Facts<'_>) -> Option<f64> {
    Date::parse(&facts.firm.founding_date).map(|f| facts.at.days_since(f) as f64 / 365.25)
}

fn growth(now: Option<f64>, before: Option<f64>) -> Option<f64> {
    match (now, before) {
        (Some(n), Some(b)) if b > 0.0 => Some((n / b - 1.0) * 100.0),
        _ => None,
    }
}

/// The targets candidates can be listed for.
pub const TARGETS: &[DesignationKind] = &[
    DesignationKind::TechSme,
    DesignationKind::HighTech,
    DesignationKind::AboveScaleIndustry,
    DesignationKind::AboveScaleServices,
    DesignationKind::AboveQuotaTrade,
    DesignationKind::SpecialisedSme,
    DesignationKind::LittleGiant,
    DesignationKind::Gazelle,
    DesignationKind::Unicorn,
];

/// Evaluates a firm against a target; `None` for a target without criteria.
pub fn evaluate(policy: &PolicyVersion, target: DesignationKind, facts: &Facts<'_>) -> Option<Vec<Criterion>> {
    let y = facts.year;
    let revenue = y.and_then(|i| i.revenue);
    let rd = y.and_then(|i| i.rd_expense);
    let criteria = match target {
        DesignationKind::TechSme => {
            let p = &policy.tech_sme;
            vec![
                at_most(
                    "employees",
                    "从业人员",
                    y.and_then(|i| i.employees).map(|e| e as f64),
                    p.max_employees as f64,
                    count,
                ),
                at_most("revenue", "营业收入", revenue, p.max_revenue, wan),
                at_most("total_assets", "资产总额", y.and_then(|i| i.total_assets), p.max_total_assets, wan),
            ]
        }
        DesignationKind::HighTech => {
            let p = &policy.high_tech;
            let tech_share =
                ratio(y.and_then(|i| i.tech_staff).map(|v| v as f64), y.and_then(|i| i.employees).map(|v| v as f64));
            vec![
                at_least("years_registered", "注册成立年限", age(facts), Some(p.min_years_registered as f64), years),
                at_least("tech_staff_share", "科技人员占职工总数比例", tech_share, Some(p.min_tech_staff_share), pct),
                at_least(
                    "rd_intensity",
                    "研发费用占营业收入比例",
                    ratio(rd, revenue),
                    band(&p.rd_intensity, revenue),
                    pct,
                ),
                at_least(
                    "rd_domestic_share",
                    "境内研发费用占比",
                    y.and_then(|i| i.rd_domestic_share),
                    Some(p.min_rd_domestic_share),
                    pct,
                ),
                at_least(
                    "high_tech_revenue_share",
                    "高新技术产品（服务）收入占比",
                    ratio(y.and_then(|i| i.high_tech_revenue), revenue),
                    Some(p.min_high_tech_revenue_share),
                    pct,
                ),
            ]
        }
        DesignationKind::AboveScaleIndustry
        | DesignationKind::AboveScaleServices
        | DesignationKind::AboveQuotaTrade => {
            let p = &policy.above_scale;
            let code = &facts.firm.industry_code;
            let min = p
                .min_revenue_by_industry
                .iter()
                .filter(|(prefix, _)| code.starts_with(prefix.as_str()))
                .max_by_key(|(prefix, _)| prefix.len())
                .map_or(p.default_min_revenue, |(_, min)| *min);
            let main = y.and_then(|i| i.main_business_revenue).or(revenue);
            vec![at_least("main_business_revenue", "主营业务收入（按行业门槛）", main, Some(min), wan)]
        }
        DesignationKind::SpecialisedSme => {
            let p = &policy.specialised_sme;
            let financing = y.and_then(|i| i.equity_financing);
            let mut scale = at_least("revenue", "营业收入", revenue, Some(p.min_revenue), wan);
            if scale.verdict != Verdict::Met && financing.is_some_and(|f| f >= p.alt_min_equity_financing) {
                scale.verdict = Verdict::Met;
                scale.threshold =
                    format!("≥ {} (或股权融资 ≥ {})", wan(p.min_revenue), wan(p.alt_min_equity_financing));
            }
            vec![
                at_least("rd_expense", "研发费用", rd, Some(p.min_rd_expense), wan),
                at_least("rd_intensity", "研发费用占营业收入比例", ratio(rd, revenue), Some(p.min_rd_intensity), pct),
                scale,
            ]
        }
        DesignationKind::LittleGiant => {
            let p = &policy.little_giant;
            let main = y.and_then(|i| i.main_business_revenue);
            let debt = ratio(y.and_then(|i| i.total_liabilities), y.and_then(|i| i.total_assets));
            let growth2 = growth(main, facts.two_years_before.and_then(|i| i.main_business_revenue));
            vec![
                at_least(
                    "main_business_share",
                    "主营业务收入占营业收入比例",
                    ratio(main, revenue),
                    Some(p.min_main_business_share),
                    pct,
                ),
                at_most("debt_ratio", "资产负债率", debt, p.max_debt_ratio, pct),
                at_least(
                    "main_business_growth_2y",
                    "近两年主营业务收入增长率",
                    growth2,
                    Some(p.min_main_business_growth_2y),
                    pct,
                ),
                at_least(
                    "rd_intensity",
                    "研发费用占营业收入比例",
                    ratio(rd, revenue),
                    band(&p.rd_intensity, revenue),
                    pct,
                ),
            ]
        }
        DesignationKind::Gazelle => {
            let p = &policy.gazelle;
            let cagr = match (revenue, facts.four_years_before.and_then(|i| i.revenue)) {
                (Some(now), Some(before)) if before > 0.0 => Some(((now / before).powf(0.25) - 1.0) * 100.0),
                _ => None,
            };
            vec![
                fact(
                    "holds_high_tech",
                    "持有有效高新技术企业证书",
                    facts.holds_high_tech,
                    if facts.holds_high_tech { "是" } else { "否" },
                    "是",
                ),
                at_least("rd_intensity", "研发费用占营业收入比例", ratio(rd, revenue), Some(p.min_rd_intensity), pct),
                at_most("age", "成立年限", age(facts), p.max_age_years as f64, years),
                at_least("revenue_cagr_4y", "近四年营业收入年均复合增长率", cagr, Some(p.min_revenue_cagr_4y), pct),
            ]
        }
        DesignationKind::Unicorn => {
            let p = &policy.unicorn;
            vec![
                at_most("age", "成立年限", age(facts), p.max_age_years as f64, years),
                fact("unlisted", "未上市", !facts.listed, if facts.listed { "已上市" } else { "未上市" }, "未上市"),
                at_least("valuation", "估值", y.and_then(|i| i.valuation), Some(p.min_valuation), wan),
            ]
        }
        _ => return None,
    };
    Some(criteria)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_policy_is_valid() {
        let p = Policy::built_in();
        assert_eq!(p.in_force(Date::parse("2024-06-01").unwrap()).id, "2022");
        assert!(p.in_force(Date::parse("2024-06-01").unwrap()).to_toml().contains("max_employees"));
    }

    #[test]
    fn gaps_overlaps_and_open_middles_are_refused() {
        let version = |id: &str, from: &str, until: &str| {
            BUILT_IN
                .replace("id = \"2022\"", &format!("id = \"{id}\""))
                .replace("effective_from = \"2022-01-01\"", &format!("effective_from = \"{from}\""))
                .replace("effective_until = \"\"", &format!("effective_until = \"{until}\""))
        };
        let two = |a: String, b: String| format!("{a}\n{b}");
        assert!(
            Policy::parse(&two(version("a", "2020-01-01", "2021-12-31"), version("b", "2022-01-01", "")), "t").is_ok()
        );
        let gap = Policy::parse(&two(version("a", "2020-01-01", "2021-06-30"), version("b", "2022-01-01", "")), "t")
            .unwrap_err();
        assert!(gap.contains("a gap"), "{gap}");
        let overlap =
            Policy::parse(&two(version("a", "2020-01-01", "2022-06-30"), version("b", "2022-01-01", "")), "t")
                .unwrap_err();
        assert!(overlap.contains("overlaps"), "{overlap}");
        let open =
            Policy::parse(&two(version("a", "2020-01-01", ""), version("b", "2022-01-01", "")), "t").unwrap_err();
        assert!(open.contains("open-ended"), "{open}");
        assert!(Policy::parse("[[version]]\nid = \"x\"", "t").is_err());
    }

    fn firm() -> Enterprise {
        Enterprise { founding_date: "2015-03-01".into(), industry_code: "C3742".into(), ..Default::default() }
    }

    #[test]
    fn missing_data_is_unknown_never_met() {
        let p = Policy::built_in();
        let f = firm();
        let facts = Facts {
            firm: &f,
            year: None,
            two_years_before: None,
            four_years_before: None,
            holds_high_tech: false,
            listed: false,
            at: Date::parse("2024-12-31").unwrap(),
        };
        let criteria = evaluate(&p.versions[0], DesignationKind::HighTech, &facts).unwrap();
        assert_eq!(criteria[0].verdict, Verdict::Met, "age is known from the founding date");
        assert!(criteria[1..].iter().all(|c| c.verdict == Verdict::Unknown), "{criteria:?}");
    }

    #[test]
    fn high_tech_uses_the_revenue_band_and_above_scale_the_industry() {
        let p = Policy::built_in();
        let f = firm();
        let y = AnnualIndicators {
            revenue: Some(8000.0),
            main_business_revenue: Some(2500.0),
            employees: Some(100),
            tech_staff: Some(12),
            rd_expense: Some(360.0),
            rd_domestic_share: Some(100.0),
            high_tech_revenue: Some(6000.0),
            ..Default::default()
        };
        let facts = Facts {
            firm: &f,
            year: Some(&y),
            two_years_before: None,
            four_years_before: None,
            holds_high_tech: false,
            listed: false,
            at: Date::parse("2024-12-31").unwrap(),
        };
        let criteria = evaluate(&p.versions[0], DesignationKind::HighTech, &facts).unwrap();
        let rd = criteria.iter().find(|c| c.key == "rd_intensity").unwrap();
        assert_eq!((rd.value.as_str(), rd.threshold.as_str(), rd.verdict), ("4.5%", "≥ 4.0%", Verdict::Met));
        assert!(criteria.iter().all(|c| c.verdict == Verdict::Met), "{criteria:?}");
        let scale = evaluate(&p.versions[0], DesignationKind::AboveScaleIndustry, &facts).unwrap();
        assert_eq!((scale[0].threshold.as_str(), scale[0].verdict), ("≥ 2000万元", Verdict::Met));
        let mut retail = firm();
        retail.industry_code = "F5211".into();
        let facts = Facts { firm: &retail, ..facts };
        assert_eq!(
            evaluate(&p.versions[0], DesignationKind::AboveQuotaTrade, &facts).unwrap()[0].threshold,
            "≥ 500万元"
        );
    }
}
