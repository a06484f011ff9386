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
    /// Evaluation score (科技型中小企业评价得分).
    pub min_score: f64,
}

/// A band of a revenue-dependent threshold.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Inclusive upper bound of revenue (万元) for this band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to_revenue: Option<f64>,
    /// Exclusive upper bound of revenue (万元) for this band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below_revenue: Option<f64>,
    /// The minimum, percent.
    pub min: f64,
}

impl Band {
    fn covers(&self, revenue: f64) -> bool {
        self.up_to_revenue.is_none_or(|up| revenue <= up) && self.below_revenue.is_none_or(|below| revenue < below)
    }

    fn bound(&self) -> Option<f64> {
        self.up_to_revenue.or(self.below_revenue)
    }
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
    /// Sections whose firms count as industry (judged on main-business revenue).
    pub industry_sections: Vec<String>,
    /// Sections of wholesale, retail, accommodation and catering (限上).
    pub trade_sections: Vec<String>,
    /// Minimum revenue by industry-code prefix, 万元 (longest prefix wins).
    pub min_revenue_by_industry: std::collections::BTreeMap<String, f64>,
}

/// 专精特新中小企业 thresholds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialisedSme {
    /// Years in its niche market.
    pub min_years_in_niche: f64,
    /// Evaluation score.
    pub min_score: f64,
    /// R&D expense, 万元.
    pub min_rd_expense: f64,
    /// R&D / revenue, percent.
    pub min_rd_intensity: f64,
    /// Revenue, 万元.
    pub min_revenue: f64,
    /// Or: equity financing over the last two years, 万元.
    pub alt_min_equity_financing: f64,
}

/// 小巨人 thresholds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LittleGiant {
    /// Years in its niche market.
    pub min_years_in_niche: f64,
    /// National market share of its main product, percent.
    pub min_niche_share: f64,
    /// Main business / revenue, percent.
    pub min_main_business_share: f64,
    /// Liabilities / assets, percent.
    pub max_debt_ratio: f64,
    /// Average annual main-business revenue growth over two years, percent.
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
        if previous_until.flatten().is_some() {
            return Err(format!("policy {source}: the last version must be open-ended (effective_until = \"\")"));
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
        let whole = [
            self.tech_sme.max_employees,
            self.high_tech.min_years_registered,
            self.gazelle.max_age_years,
            self.unicorn.max_age_years,
        ];
        if whole.iter().any(|v| *v < 0) {
            return Err("counts, years and ages must not be negative".into());
        }
        let non_negative = [
            self.tech_sme.max_revenue,
            self.tech_sme.max_total_assets,
            self.tech_sme.min_score,
            self.high_tech.min_tech_staff_share,
            self.high_tech.min_rd_domestic_share,
            self.high_tech.min_high_tech_revenue_share,
            self.specialised_sme.min_years_in_niche,
            self.specialised_sme.min_score,
            self.specialised_sme.min_rd_expense,
            self.specialised_sme.min_rd_intensity,
            self.specialised_sme.min_revenue,
            self.specialised_sme.alt_min_equity_financing,
            self.little_giant.min_years_in_niche,
            self.little_giant.min_niche_share,
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
            if bands.last().is_none_or(|b| b.bound().is_some()) {
                return Err("a banded threshold needs a last band without an upper bound".into());
            }
            if bands
                .iter()
                .any(|b| !b.min.is_finite() || b.min < 0.0 || (b.up_to_revenue.is_some() && b.below_revenue.is_some()))
            {
                return Err("each band has one bound at most and a minimum that is not negative".into());
            }
            let bounds: Vec<f64> = bands.iter().filter_map(Band::bound).collect();
            if bounds.windows(2).any(|w| w[0] >= w[1]) {
                return Err("bands must be in increasing order of revenue".into());
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
    /// Indicators of the year before (for two- and three-year sums).
    pub previous_year: Option<&'a AnnualIndicators>,
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
    bands.iter().find(|b| b.covers(revenue)).map(|b| b.min)
}

/// A figure with no data source in ladder yet: always unknown, so the report
/// shows it as still to be checked.
fn not_recorded(key: &'static str, description: &'static str, threshold: String) -> Criterion {
    Criterion { key, description, value: String::new(), threshold, verdict: Verdict::Unknown }
}

fn above(
    key: &'static str,
    description: &'static str,
    value: Option<f64>,
    min: f64,
    show: fn(f64) -> String,
) -> Criterion {
    let verdict = match value {
        Some(v) if v > min => Verdict::Met,
        Some(_) => Verdict::Missed,
        None => Verdict::Unknown,
    };
    Criterion {
        key,
        description,
        value: value.map(show).unwrap_or_default(),
        threshold: format!("> {}", show(min)),
        verdict,
    }
}

/// The sum of a figure over consecutive years; unknown if any year is.
fn sum<'a>(
    years: impl IntoIterator<Item = Option<&'a AnnualIndicators>>,
    figure: fn(&AnnualIndicators) -> Option<f64>,
) -> Option<f64> {
    years.into_iter().map(|y| y.and_then(figure)).sum()
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
    let rd_share = ratio(rd, revenue);
    let criteria = match target {
        DesignationKind::TechSme if facts.holds_high_tech => {
            vec![fact("holds_high_tech", "持有有效高新技术企业证书（直接符合）", true, "是", "是")]
        }
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
                not_recorded(
                    "score",
                    "评价得分（科技人员、研发投入、知识产权；科技人员指标不得为0）",
                    format!("≥ {}分", p.min_score),
                ),
            ]
        }
        DesignationKind::HighTech => {
            let p = &policy.high_tech;
            let tech_share =
                ratio(y.and_then(|i| i.tech_staff).map(|v| v as f64), y.and_then(|i| i.employees).map(|v| v as f64));
            let three = [y, facts.previous_year, facts.two_years_before];
            let rd_3y = ratio(sum(three, |i| i.rd_expense), sum(three, |i| i.revenue));
            let high_tech_share = ratio(y.and_then(|i| i.high_tech_revenue), revenue);
            vec![
                at_least("years_registered", "注册成立年限", age(facts), Some(p.min_years_registered as f64), years),
                at_least("tech_staff_share", "科技人员占职工总数比例", tech_share, Some(p.min_tech_staff_share), pct),
                {
                    let description = "近三年研发费用占同期营业收入比例";
                    let mut c = at_least("rd_intensity_3y", description, rd_3y, band(&p.rd_intensity, revenue), pct);
                    if c.verdict == Verdict::Unknown {
                        c.value = "需近三年的营业收入和研发费用".into();
                    }
                    c
                },
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
                    high_tech_share,
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
            let section = code.get(0..1).unwrap_or("");
            let is_industry = p.industry_sections.iter().any(|s| s == section);
            let is_trade = p.trade_sections.iter().any(|s| s == section);
            let fits = match target {
                DesignationKind::AboveScaleIndustry => is_industry,
                DesignationKind::AboveQuotaTrade => is_trade,
                _ => !is_industry && !is_trade,
            };
            let category = if is_industry {
                "工业"
            } else if is_trade {
                "批零住餐"
            } else {
                "服务业"
            };
            let industry = if code.is_empty() {
                not_recorded("industry", "行业（决定统计口径与门槛）", "需填写行业代码".into())
            } else {
                fact("industry", "行业属于该统计口径", fits, &format!("{code} {category}"), target.label_zh())
            };
            let min = p
                .min_revenue_by_industry
                .iter()
                .filter(|(prefix, _)| !code.is_empty() && code.starts_with(prefix.as_str()))
                .max_by_key(|(prefix, _)| prefix.len())
                .map(|(_, min)| *min);
            // Industry is judged on main-business revenue, services and trade on 营业收入.
            let (figure, label) = if is_industry {
                (y.and_then(|i| i.main_business_revenue), "主营业务收入")
            } else {
                (revenue, "营业收入")
            };
            vec![industry, at_least("revenue_threshold", label, figure, min, wan)]
        }
        DesignationKind::SpecialisedSme => {
            let p = &policy.specialised_sme;
            let financing = sum([y, facts.previous_year], |i| i.equity_financing);
            let mut scale = at_least("revenue", "营业收入", revenue, Some(p.min_revenue), wan);
            if scale.verdict != Verdict::Met && financing.is_some_and(|f| f >= p.alt_min_equity_financing) {
                scale.verdict = Verdict::Met;
                scale.threshold =
                    format!("≥ {} (或近两年股权融资 ≥ {})", wan(p.min_revenue), wan(p.alt_min_equity_financing));
            }
            vec![
                not_recorded("years_in_niche", "从事特定细分市场年限", format!("≥ {}年", p.min_years_in_niche)),
                at_least("rd_expense", "研发费用", rd, Some(p.min_rd_expense), wan),
                at_least("rd_intensity", "研发费用占营业收入比例", rd_share, Some(p.min_rd_intensity), pct),
                scale,
                not_recorded("score", "专精特新评价得分", format!("≥ {}分", p.min_score)),
            ]
        }
        DesignationKind::LittleGiant => {
            let p = &policy.little_giant;
            let main = y.and_then(|i| i.main_business_revenue);
            let debt = ratio(y.and_then(|i| i.total_liabilities), y.and_then(|i| i.total_assets));
            let growth2 = match (main, facts.two_years_before.and_then(|i| i.main_business_revenue)) {
                (Some(now), Some(before)) if before > 0.0 => Some(((now / before).sqrt() - 1.0) * 100.0),
                _ => None,
            };
            vec![
                not_recorded("years_in_niche", "从事特定细分市场年限", format!("≥ {}年", p.min_years_in_niche)),
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
                    "近两年主营业务收入平均增长率",
                    growth2,
                    Some(p.min_main_business_growth_2y),
                    pct,
                ),
                not_recorded("niche_share", "主导产品全国细分市场占有率", format!("≥ {}%", p.min_niche_share)),
                at_least("rd_intensity", "研发费用占营业收入比例", rd_share, band(&p.rd_intensity, revenue), pct),
            ]
        }
        DesignationKind::Gazelle => {
            let p = &policy.gazelle;
            let cagr = match (revenue, facts.four_years_before.and_then(|i| i.revenue)) {
                (Some(now), Some(before)) if before > 0.0 => Some(((now / before).powf(0.25) - 1.0) * 100.0),
                _ => None,
            };
            let holds = facts.holds_high_tech;
            vec![
                fact("holds_high_tech", "持有有效高新技术企业证书", holds, if holds { "是" } else { "否" }, "是"),
                above("rd_intensity", "研发费用占营业收入比例", rd_share, p.min_rd_intensity, pct),
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

    fn facts<'a>(f: &'a Enterprise, years: [Option<&'a AnnualIndicators>; 3]) -> Facts<'a> {
        Facts {
            firm: f,
            year: years[0],
            previous_year: years[1],
            two_years_before: years[2],
            four_years_before: None,
            holds_high_tech: false,
            listed: false,
            at: Date::parse("2024-12-31").unwrap(),
        }
    }

    fn criterion<'a>(c: &'a [Criterion], key: &str) -> &'a Criterion {
        c.iter().find(|x| x.key == key).unwrap_or_else(|| panic!("no {key} in {c:?}"))
    }

    #[test]
    fn missing_data_is_unknown_never_met() {
        let p = Policy::built_in();
        let f = firm();
        let criteria = evaluate(&p.versions[0], DesignationKind::HighTech, &facts(&f, [None, None, None])).unwrap();
        assert_eq!(criteria[0].verdict, Verdict::Met, "age is known from the founding date");
        assert!(criteria[1..].iter().all(|c| c.verdict == Verdict::Unknown), "{criteria:?}");
        let sme = evaluate(&p.versions[0], DesignationKind::SpecialisedSme, &facts(&f, [None, None, None])).unwrap();
        assert_eq!(
            criterion(&sme, "years_in_niche").verdict,
            Verdict::Unknown,
            "criteria without data are shown, unknown"
        );
    }

    #[test]
    fn high_tech_uses_three_years_and_the_revenue_band() {
        let p = Policy::built_in();
        let f = firm();
        let year = |revenue: f64, rd: f64| AnnualIndicators {
            revenue: Some(revenue),
            main_business_revenue: Some(2500.0),
            employees: Some(100),
            tech_staff: Some(12),
            rd_expense: Some(rd),
            rd_domestic_share: Some(100.0),
            high_tech_revenue: Some(revenue * 0.75),
            ..Default::default()
        };
        let (y0, y1, y2) = (year(8000.0, 360.0), year(7000.0, 300.0), year(6000.0, 240.0));
        let criteria =
            evaluate(&p.versions[0], DesignationKind::HighTech, &facts(&f, [Some(&y0), Some(&y1), Some(&y2)])).unwrap();
        let rd = criterion(&criteria, "rd_intensity_3y");
        assert_eq!((rd.value.as_str(), rd.threshold.as_str(), rd.verdict), ("4.3%", "≥ 4.0%", Verdict::Met));
        assert!(criteria.iter().all(|c| c.verdict == Verdict::Met), "{criteria:?}");
        let partial = evaluate(&p.versions[0], DesignationKind::HighTech, &facts(&f, [Some(&y0), None, None])).unwrap();
        assert_eq!(criterion(&partial, "rd_intensity_3y").verdict, Verdict::Unknown, "three years are needed");
    }

    #[test]
    fn above_scale_follows_the_industry_and_the_target() {
        let p = Policy::built_in();
        let f = firm();
        let y = AnnualIndicators { revenue: Some(9000.0), main_business_revenue: Some(2500.0), ..Default::default() };
        let industry =
            evaluate(&p.versions[0], DesignationKind::AboveScaleIndustry, &facts(&f, [Some(&y), None, None])).unwrap();
        let t = criterion(&industry, "revenue_threshold");
        assert_eq!((t.description, t.threshold.as_str(), t.verdict), ("主营业务收入", "≥ 2000万元", Verdict::Met));
        assert_eq!(criterion(&industry, "industry").verdict, Verdict::Met);
        let services =
            evaluate(&p.versions[0], DesignationKind::AboveScaleServices, &facts(&f, [Some(&y), None, None])).unwrap();
        assert_eq!(
            criterion(&services, "industry").verdict,
            Verdict::Missed,
            "a manufacturer is not a services candidate"
        );
        let no_main = AnnualIndicators { revenue: Some(9000.0), ..Default::default() };
        let unknown =
            evaluate(&p.versions[0], DesignationKind::AboveScaleIndustry, &facts(&f, [Some(&no_main), None, None]))
                .unwrap();
        assert_eq!(
            criterion(&unknown, "revenue_threshold").verdict,
            Verdict::Unknown,
            "revenue does not stand in for main business"
        );
        let mut retail = firm();
        retail.industry_code = "F5211".into();
        let trade = evaluate(&p.versions[0], DesignationKind::AboveQuotaTrade, &facts(&retail, [Some(&y), None, None]))
            .unwrap();
        assert_eq!(criterion(&trade, "revenue_threshold").threshold, "≥ 500万元");
        let mut unlisted = firm();
        unlisted.industry_code = "S9221".into();
        let none =
            evaluate(&p.versions[0], DesignationKind::AboveScaleServices, &facts(&unlisted, [Some(&y), None, None]))
                .unwrap();
        assert_eq!(
            criterion(&none, "revenue_threshold").verdict,
            Verdict::Unknown,
            "no threshold for public administration"
        );
    }

    #[test]
    fn band_bounds_and_strict_thresholds() {
        let p = Policy::built_in();
        let f = firm();
        let y = AnnualIndicators {
            revenue: Some(10000.0),
            rd_expense: Some(300.0),
            main_business_revenue: Some(9000.0),
            ..Default::default()
        };
        let giant = evaluate(&p.versions[0], DesignationKind::LittleGiant, &facts(&f, [Some(&y), None, None])).unwrap();
        assert_eq!(criterion(&giant, "rd_intensity").threshold, "≥ 3.0%", "exactly 1亿 is in the ≥ 1亿 band");
        let edge = AnnualIndicators { revenue: Some(1000.0), rd_expense: Some(25.0), ..Default::default() };
        let gazelle =
            evaluate(&p.versions[0], DesignationKind::Gazelle, &facts(&f, [Some(&edge), None, None])).unwrap();
        assert_eq!(criterion(&gazelle, "rd_intensity").verdict, Verdict::Missed, "2.5% is not above 2.5%");
    }

    #[test]
    fn policy_files_with_bad_thresholds_are_refused() {
        let bad_band =
            BUILT_IN.replace("{ below_revenue = 10000, min = 6.0 }", "{ below_revenue = 10000, min = -6.0 }");
        assert!(Policy::parse(&bad_band, "t").unwrap_err().contains("not negative"));
        let negative = BUILT_IN.replace("max_employees = 500", "max_employees = -1");
        assert!(Policy::parse(&negative, "t").is_err());
        let ended = BUILT_IN.replace("effective_until = \"\"", "effective_until = \"2023-12-31\"");
        assert!(Policy::parse(&ended, "t").unwrap_err().contains("open-ended"));
    }
}
