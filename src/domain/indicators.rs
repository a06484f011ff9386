//! Annual indicators (年度指标): the figures candidates are evaluated on,
//! one record per firm and year. Money in 万元, shares in percent; an unset
//! figure is unknown, not zero.

use crate::domain::enterprise::FieldChange;
use crate::domain::time::{Date, Micros};
use crate::domain::update;
use crate::error::{Error, FieldViolation, Result};

/// First year indicators may be recorded for.
pub const FIRST_YEAR: i32 = 1990;
/// Largest money figure, in 万元 (100 trillion yuan: above any firm's
/// revenue, assets or valuation). Bounded like postings' amounts, so sums
/// and ratios of figures stay finite and reports never print `NaN%`.
pub const MAX_FIGURE_WAN: f64 = 1e10;
/// Largest head count (above the largest employer's staff).
pub const MAX_PEOPLE: i64 = 10_000_000;

/// A firm's figures for one year, as stored.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnnualIndicators {
    /// The firm's credit code.
    #[prost(string, tag = "1")]
    pub credit_code: String,
    /// The year.
    #[prost(int32, tag = "2")]
    pub year: i32,
    /// 营业收入.
    #[prost(double, optional, tag = "3")]
    pub revenue: Option<f64>,
    /// 主营业务收入.
    #[prost(double, optional, tag = "4")]
    pub main_business_revenue: Option<f64>,
    /// 从业人员.
    #[prost(int64, optional, tag = "5")]
    pub employees: Option<i64>,
    /// 科技人员.
    #[prost(int64, optional, tag = "6")]
    pub tech_staff: Option<i64>,
    /// 研发费用.
    #[prost(double, optional, tag = "7")]
    pub rd_expense: Option<f64>,
    /// Share of R&D spent in China, percent.
    #[prost(double, optional, tag = "8")]
    pub rd_domestic_share: Option<f64>,
    /// 高新技术产品（服务）收入.
    #[prost(double, optional, tag = "9")]
    pub high_tech_revenue: Option<f64>,
    /// 资产总额.
    #[prost(double, optional, tag = "10")]
    pub total_assets: Option<f64>,
    /// 负债总额.
    #[prost(double, optional, tag = "11")]
    pub total_liabilities: Option<f64>,
    /// 股权融资.
    #[prost(double, optional, tag = "12")]
    pub equity_financing: Option<f64>,
    /// Valuation.
    #[prost(double, optional, tag = "13")]
    pub valuation: Option<f64>,
    /// Where the figures come from.
    #[prost(string, tag = "14")]
    pub source: String,
    /// Last change.
    #[prost(int64, tag = "15")]
    pub update_time: Micros,
    /// Change-log revision of the last change.
    #[prost(uint64, tag = "16")]
    pub revision: u64,
}

/// Fields an update may name.
pub const UPDATABLE: &[&str] = &[
    "revenue",
    "main_business_revenue",
    "employees",
    "tech_staff",
    "rd_expense",
    "rd_domestic_share",
    "high_tech_revenue",
    "total_assets",
    "total_liabilities",
    "equity_financing",
    "valuation",
    "source",
];
const READ_ONLY: &[&str] = &["name", "year", "etag", "revision", "update_time"];

/// `enterprises/{code}/indicators/{year}` → (normalised code, year).
pub fn parse_name(field: &str, name: &str) -> Result<(String, i32)> {
    let shape = "enterprises/{credit_code}/indicators/{year}";
    let (code, year) = update::split_name(field, name, "enterprises/", "/indicators/", shape)?;
    let code = crate::domain::credit_code::CreditCode::parse_unverified(code)
        .map_err(|e| Error::invalid_field(field, e.reason(), e.to_string()))?;
    let year: i32 = year
        .parse()
        .map_err(|_| Error::invalid_field(field, "INVALID_RESOURCE_NAME", format!("{year:?} is not a year")))?;
    Ok((code.as_str().to_string(), year))
}

/// `enterprises/{code}/indicators/{year}`.
pub fn indicators_name(credit_code: &str, year: i32) -> String {
    format!("enterprises/{credit_code}/indicators/{year}")
}

impl AnnualIndicators {
    /// Resource name.
    pub fn resource_name(&self) -> String {
        indicators_name(&self.credit_code, self.year)
    }

    /// Opaque etag.
    pub fn etag(&self) -> String {
        update::etag(self.revision)
    }

    fn rendered(&self) -> Vec<(&'static str, String)> {
        let money = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
        let people = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        vec![
            ("revenue", money(self.revenue)),
            ("main_business_revenue", money(self.main_business_revenue)),
            ("employees", people(self.employees)),
            ("tech_staff", people(self.tech_staff)),
            ("rd_expense", money(self.rd_expense)),
            ("rd_domestic_share", money(self.rd_domestic_share)),
            ("high_tech_revenue", money(self.high_tech_revenue)),
            ("total_assets", money(self.total_assets)),
            ("total_liabilities", money(self.total_liabilities)),
            ("equity_financing", money(self.equity_financing)),
            ("valuation", money(self.valuation)),
            ("source", self.source.clone()),
        ]
    }

    /// A field's value as the change log renders it.
    pub fn rendered_field(&self, field: &str) -> Option<String> {
        self.rendered().into_iter().find(|(f, _)| *f == field).map(|(_, v)| v)
    }

    /// Sets a field from its change-log rendering (empty = unknown), the
    /// inverse of [`AnnualIndicators::rendered_field`]; used to undo a change.
    pub fn set_rendered(&mut self, field: &str, value: &str) -> Result<()> {
        let bad = || Error::Internal(format!("change log holds {value:?} for indicators field {field}"));
        let money = |v: &str| if v.is_empty() { Ok(None) } else { v.parse::<f64>().map(Some).map_err(|_| bad()) };
        let people = |v: &str| if v.is_empty() { Ok(None) } else { v.parse::<i64>().map(Some).map_err(|_| bad()) };
        match field {
            "revenue" => self.revenue = money(value)?,
            "main_business_revenue" => self.main_business_revenue = money(value)?,
            "employees" => self.employees = people(value)?,
            "tech_staff" => self.tech_staff = people(value)?,
            "rd_expense" => self.rd_expense = money(value)?,
            "rd_domestic_share" => self.rd_domestic_share = money(value)?,
            "high_tech_revenue" => self.high_tech_revenue = money(value)?,
            "total_assets" => self.total_assets = money(value)?,
            "total_liabilities" => self.total_liabilities = money(value)?,
            "equity_financing" => self.equity_financing = money(value)?,
            "valuation" => self.valuation = money(value)?,
            "source" => self.source = value.to_string(),
            _ => return Err(bad()),
        }
        Ok(())
    }

    /// The fields that differ, rendered, for the change log.
    pub fn diff(old: &AnnualIndicators, new: &AnnualIndicators) -> Vec<FieldChange> {
        old.rendered()
            .into_iter()
            .zip(new.rendered())
            .filter(|((_, a), (_, b))| a != b)
            .map(|((field, old_value), (_, new_value))| FieldChange { field: field.to_string(), old_value, new_value })
            .collect()
    }

    /// The fields set in `self` (the implied mask of an update without one).
    pub fn populated_fields(&self) -> Vec<String> {
        self.rendered().into_iter().filter(|(_, v)| !v.is_empty()).map(|(f, _)| f.to_string()).collect()
    }

    /// Checks every figure: not negative, finite, shares within 0–100, parts
    /// not larger than their whole.
    pub fn validate(&self) -> Result<()> {
        let mut v = Vec::new();
        let this_year = Date::today().ymd().0;
        if i64::from(self.year) < i64::from(FIRST_YEAR) || i64::from(self.year) > this_year {
            v.push(FieldViolation::new(
                "year",
                "INVALID_YEAR",
                format!("{} is not between {FIRST_YEAR} and {this_year}", self.year),
            ));
        }
        let money = [
            ("revenue", self.revenue),
            ("main_business_revenue", self.main_business_revenue),
            ("rd_expense", self.rd_expense),
            ("high_tech_revenue", self.high_tech_revenue),
            ("total_assets", self.total_assets),
            ("total_liabilities", self.total_liabilities),
            ("equity_financing", self.equity_financing),
            ("valuation", self.valuation),
        ];
        for (field, value) in money {
            match value {
                Some(x) if !x.is_finite() || x < 0.0 => {
                    v.push(FieldViolation::new(field, "NEGATIVE_OR_INVALID", "must be a number of 万元, not negative"))
                }
                Some(x) if x > MAX_FIGURE_WAN => v.push(FieldViolation::new(
                    field,
                    "OUT_OF_RANGE",
                    format!("{x} 万元 is above the limit {MAX_FIGURE_WAN} 万元"),
                )),
                _ => {}
            }
        }
        for (field, value) in [("employees", self.employees), ("tech_staff", self.tech_staff)] {
            match value {
                Some(n) if n < 0 => v.push(FieldViolation::new(field, "NEGATIVE_COUNT", "must not be negative")),
                Some(n) if n > MAX_PEOPLE => v.push(FieldViolation::new(
                    field,
                    "OUT_OF_RANGE",
                    format!("{n} people is above the limit {MAX_PEOPLE}"),
                )),
                _ => {}
            }
        }
        if self.rd_domestic_share.is_some_and(|s| !(0.0..=100.0).contains(&s)) {
            v.push(FieldViolation::new(
                "rd_domestic_share",
                "SHARE_OUT_OF_RANGE",
                "a share is between 0 and 100 percent",
            ));
        }
        if let (Some(tech), Some(all)) = (self.tech_staff, self.employees) {
            if tech > all {
                v.push(FieldViolation::new(
                    "tech_staff",
                    "PART_EXCEEDS_WHOLE",
                    format!("{tech} tech staff among {all} employees"),
                ));
            }
        }
        for (field, part) in
            [("main_business_revenue", self.main_business_revenue), ("high_tech_revenue", self.high_tech_revenue)]
        {
            if let (Some(part), Some(all)) = (part, self.revenue) {
                if part > all {
                    v.push(FieldViolation::new(
                        field,
                        "PART_EXCEEDS_WHOLE",
                        format!("{part} is more than the revenue {all}"),
                    ));
                }
            }
        }
        if self.source.chars().count() > 200 {
            v.push(FieldViolation::new("source", "TOO_LONG", "at most 200 characters"));
        }
        if v.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid_fields(v))
        }
    }
}

/// Writes the masked fields of `patch` into the year's record (creating it).
pub fn upsert(
    current: Option<AnnualIndicators>,
    credit_code: &str,
    year: i32,
    patch: &AnnualIndicators,
    mask: &[String],
    etag: &str,
    now: Micros,
) -> Result<(crate::domain::change::ChangeKind, AnnualIndicators)> {
    let name = indicators_name(credit_code, year);
    if let Some(stored) = &current {
        update::check_etag(&name, etag, &stored.etag())?;
    }
    let kind = if current.is_some() {
        crate::domain::change::ChangeKind::Updated
    } else {
        crate::domain::change::ChangeKind::Created
    };
    let mut record = current.unwrap_or_else(|| AnnualIndicators {
        credit_code: credit_code.to_string(),
        year,
        ..Default::default()
    });
    for path in update::expand_mask(mask, UPDATABLE, READ_ONLY, "AnnualIndicators")? {
        match path {
            "revenue" => record.revenue = patch.revenue,
            "main_business_revenue" => record.main_business_revenue = patch.main_business_revenue,
            "employees" => record.employees = patch.employees,
            "tech_staff" => record.tech_staff = patch.tech_staff,
            "rd_expense" => record.rd_expense = patch.rd_expense,
            "rd_domestic_share" => record.rd_domestic_share = patch.rd_domestic_share,
            "high_tech_revenue" => record.high_tech_revenue = patch.high_tech_revenue,
            "total_assets" => record.total_assets = patch.total_assets,
            "total_liabilities" => record.total_liabilities = patch.total_liabilities,
            "equity_financing" => record.equity_financing = patch.equity_financing,
            "valuation" => record.valuation = patch.valuation,
            "source" => record.source = patch.source.trim().to_string(),
            _ => unreachable!("expand_mask only returns updatable fields"),
        }
    }
    record.validate().map_err(|e| e.in_field("indicators"))?;
    record.update_time = now;
    Ok((kind, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(i: &AnnualIndicators) -> Vec<&'static str> {
        match i.validate() {
            Err(Error::InvalidArgument { violations, .. }) => violations.into_iter().map(|v| v.reason).collect(),
            Ok(()) => vec![],
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn negative_counts_and_impossible_shares_are_refused() {
        let bad = AnnualIndicators {
            year: 2024,
            employees: Some(-1),
            rd_domestic_share: Some(120.0),
            revenue: Some(100.0),
            main_business_revenue: Some(150.0),
            ..Default::default()
        };
        assert_eq!(reasons(&bad), ["NEGATIVE_COUNT", "SHARE_OUT_OF_RANGE", "PART_EXCEEDS_WHOLE"]);
        let future = AnnualIndicators { year: 9999, ..Default::default() };
        assert_eq!(reasons(&future), ["INVALID_YEAR"]);
    }

    #[test]
    fn figures_are_bounded_like_postings_amounts() {
        let huge = AnnualIndicators {
            year: 2024,
            revenue: Some(1.7e308),
            employees: Some(i64::MAX),
            tech_staff: Some(1),
            valuation: Some(MAX_FIGURE_WAN * 1.5),
            ..Default::default()
        };
        assert_eq!(reasons(&huge), ["OUT_OF_RANGE", "OUT_OF_RANGE", "OUT_OF_RANGE"]);
        let largest = AnnualIndicators {
            year: 2024,
            revenue: Some(MAX_FIGURE_WAN),
            employees: Some(MAX_PEOPLE),
            ..Default::default()
        };
        assert_eq!(reasons(&largest), Vec::<&str>::new());
    }

    #[test]
    fn upsert_creates_then_patches_only_the_mask() {
        let patch = AnnualIndicators { revenue: Some(5000.0), employees: Some(80), ..Default::default() };
        let (kind, first) = upsert(None, "C", 2024, &patch, &patch.populated_fields(), "", 1).unwrap();
        assert_eq!(kind, crate::domain::change::ChangeKind::Created);
        let later = AnnualIndicators { employees: Some(90), revenue: None, ..Default::default() };
        let (_, second) = upsert(Some(first), "C", 2024, &later, &["employees".into()], "", 2).unwrap();
        assert_eq!((second.revenue, second.employees), (Some(5000.0), Some(90)));
    }
}
