//! The project reports, as pure functions over the projects (and their
//! figures for a year) that pass a report's filter: the stage funnel as of
//! a date, investment completion against the annual plan with the step
//! rates, signings and step durations over a range, and stalls.

use std::collections::BTreeMap;

use super::{bare, key_level_label, lead_source_label, state_on, Project, ProjectInvestment, STAGES};
use crate::domain::credit_code::region_name;
use crate::domain::industry::{section_name_of, IndustryCode};
use crate::domain::time::Date;
use crate::pb::v1::{
    LossReason, ProjectGroupBy as GroupBy, ProjectStage as Stage, ProjectStatus as Status, ReportPeriod,
};

/// The group a project falls in: its key (empty when it has no value).
pub fn group_key(p: &Project, by: GroupBy) -> String {
    match by {
        GroupBy::Unspecified => String::new(),
        GroupBy::Zone => p.promotion_zone.clone(),
        GroupBy::Department => p.department.clone(),
        GroupBy::Industry => IndustryCode::parse(&p.industry_code).map(|c| c.section().to_string()).unwrap_or_default(),
        GroupBy::SourceRegion => p.source_region_code.get(0..2).map(|pr| format!("{pr}0000")).unwrap_or_default(),
        GroupBy::LeadSource => {
            if p.lead_source == 0 {
                String::new()
            } else {
                bare(p.lead_source().as_str_name()).to_string()
            }
        }
        GroupBy::KeyLevel => bare(p.key_level().as_str_name()).to_string(),
        GroupBy::Project => p.name.clone(),
    }
}

/// A group's label in Chinese (zone names come from the configuration).
pub fn group_label(by: GroupBy, key: &str, zone_names: &BTreeMap<String, String>) -> String {
    let label = match by {
        GroupBy::Zone => zone_names.get(key).cloned(),
        GroupBy::Industry => key.chars().next().and_then(section_name_of).map(str::to_string),
        GroupBy::SourceRegion => region_name(key).map(str::to_string),
        GroupBy::LeadSource => crate::pb::v1::LeadSource::from_str_name(&format!("LEAD_SOURCE_{key}"))
            .map(|s| lead_source_label(s).to_string()),
        GroupBy::KeyLevel => {
            crate::pb::v1::KeyLevel::from_str_name(&format!("KEY_LEVEL_{key}")).map(|l| key_level_label(l).to_string())
        }
        _ => None,
    };
    label.unwrap_or_default()
}

/// One line of the funnel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunnelLine {
    /// Group key.
    pub key: String,
    /// Per stage (in [`STAGES`] order): active projects standing at it.
    pub standing: [u32; 10],
    /// Per stage: projects (any status) that reached it or beyond.
    pub reached: [u32; 10],
    /// On hold.
    pub on_hold: u32,
    /// Lost.
    pub lost: u32,
    /// Every project that existed.
    pub total: u32,
}

impl FunnelLine {
    fn add(&mut self, stage: Stage, status: Status) {
        self.total += 1;
        let at = STAGES.iter().position(|s| *s == stage).unwrap_or(0);
        match status {
            Status::OnHold => self.on_hold += 1,
            Status::Lost => self.lost += 1,
            _ => self.standing[at] += 1,
        }
        for r in &mut self.reached[..=at] {
            *r += 1;
        }
    }
}

/// The funnel as of `day`: the overall line and one per group (largest
/// first, then by key).
pub fn funnel<'a>(
    projects: impl IntoIterator<Item = &'a Project>,
    day: Date,
    by: GroupBy,
) -> (FunnelLine, Vec<FunnelLine>) {
    let mut overall = FunnelLine::default();
    let mut groups: BTreeMap<String, FunnelLine> = BTreeMap::new();
    for p in projects {
        let Some(state) = state_on(p, Some(day)) else { continue };
        overall.add(state.stage, state.status);
        if by != GroupBy::Unspecified {
            let key = group_key(p, by);
            groups
                .entry(key.clone())
                .or_insert_with(|| FunnelLine { key, ..Default::default() })
                .add(state.stage, state.status);
        }
    }
    let mut groups: Vec<FunnelLine> = groups.into_values().collect();
    groups.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.key.cmp(&b.key)));
    (overall, groups)
}

/// Planned against completed for a set of projects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvestmentLine {
    /// Group key.
    pub key: String,
    /// Projects with a plan for the year.
    pub projects: u32,
    /// Planned, 万元.
    pub planned_wan: f64,
    /// Completed by the date, 万元.
    pub completed_wan: f64,
    /// Projects past their plan.
    pub overrun: u32,
}

impl InvestmentLine {
    /// completed / planned in percent, two decimals (0 without a plan).
    pub fn percent(&self) -> f64 {
        percent(self.completed_wan, self.planned_wan)
    }
}

/// `part / whole` in percent, rounded to two decimals; 0 when `whole` is 0.
pub fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        (part / whole * 10_000.0).round() / 100.0
    } else {
        0.0
    }
}

/// Projects planned to reach a step, and those that did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rate {
    /// Planned to reach it by the date.
    pub planned: u32,
    /// Of those, reached by the date.
    pub reached: u32,
}

/// A project behind its linear schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Behind {
    /// `projects/{id}`.
    pub project: String,
    /// Its name.
    pub display_name: String,
    /// Plan.
    pub planned_wan: f64,
    /// Completed.
    pub completed_wan: f64,
    /// Expected by now.
    pub expected_wan: f64,
}

/// The investment report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Investment {
    /// Every project with a plan.
    pub overall: InvestmentLine,
    /// Per group.
    pub groups: Vec<InvestmentLine>,
    /// 手续办结率.
    pub approvals: Rate,
    /// 开工率.
    pub construction: Rate,
    /// 入统率.
    pub statistics: Rate,
    /// Behind plan, furthest behind first.
    pub behind: Vec<Behind>,
}

/// Complete months by `day`: its month if `day` is the month's last day,
/// else the month before.
pub fn months_elapsed(day: Date) -> u32 {
    let (_, month, _) = day.ymd();
    if day.add_days(1).ymd().1 != month {
        month
    } else {
        month - 1
    }
}

/// The investment report as of `day` over projects and their figures for
/// `day`'s year. A project counts in the completion lines when its figures
/// have a plan; in a rate when its plan has that step due by `day`.
pub fn investment<'a>(
    items: impl IntoIterator<Item = (&'a Project, &'a ProjectInvestment)>,
    day: Date,
    by: GroupBy,
) -> Investment {
    let mut report = Investment::default();
    let mut groups: BTreeMap<String, InvestmentLine> = BTreeMap::new();
    let (_, month, _) = day.ymd();
    let elapsed = months_elapsed(day);
    for (p, inv) in items {
        let due = |planned: &str| Date::parse(planned).is_some_and(|d| d <= day);
        // A stage counts as reached by `day` when the project stepped to it
        // or beyond by then (construction may be skipped on the way to
        // production).
        let state = state_on(p, Some(day));
        let reached = |stage: Stage| state.as_ref().is_some_and(|s| s.reached.keys().any(|r| *r >= stage));
        let approved = Date::parse(&p.approvals_date).is_some_and(|d| d <= day);
        for (rate, planned, done) in [
            (&mut report.approvals, &inv.planned_approvals_date, approved),
            (&mut report.construction, &inv.planned_construction_date, reached(Stage::Construction)),
            (&mut report.statistics, &inv.planned_statistics_date, reached(Stage::Statistics)),
        ] {
            if due(planned) {
                rate.planned += 1;
                rate.reached += u32::from(done);
            }
        }
        let Some(planned) = inv.planned_wan else { continue };
        let completed = inv.completed_through(month);
        let add = |line: &mut InvestmentLine| {
            line.projects += 1;
            line.planned_wan += planned;
            line.completed_wan += completed;
            line.overrun += u32::from(completed > planned);
        };
        add(&mut report.overall);
        if by != GroupBy::Unspecified {
            let key = group_key(p, by);
            add(groups.entry(key.clone()).or_insert_with(|| InvestmentLine { key, ..Default::default() }));
        }
        let expected = planned * f64::from(elapsed) / 12.0;
        if completed < expected {
            report.behind.push(Behind {
                project: p.name.clone(),
                display_name: p.display_name.clone(),
                planned_wan: planned,
                completed_wan: completed,
                expected_wan: (expected * 100.0).round() / 100.0,
            });
        }
    }
    let round = |line: &mut InvestmentLine| {
        line.planned_wan = (line.planned_wan * 10_000.0).round() / 10_000.0;
        line.completed_wan = (line.completed_wan * 10_000.0).round() / 10_000.0;
    };
    round(&mut report.overall);
    report.groups = groups.into_values().collect();
    report.groups.iter_mut().for_each(round);
    report.groups.sort_by(|a, b| b.planned_wan.total_cmp(&a.planned_wan).then_with(|| a.key.cmp(&b.key)));
    report.behind.sort_by(|a, b| {
        let gap = |x: &Behind| x.expected_wan - x.completed_wan;
        gap(b).total_cmp(&gap(a)).then_with(|| a.project.cmp(&b.project))
    });
    report
}

/// The line staff quote: "33个项目累计完成投资144.14亿元，占年计划的88.43%".
pub fn summary(line: &InvestmentLine) -> String {
    format!(
        "{}个项目累计完成投资{:.2}亿元，占年计划的{:.2}%",
        line.projects,
        line.completed_wan / 10_000.0,
        line.percent()
    )
}

/// The key of the period `day` falls in.
pub fn period_key(day: Date, period: ReportPeriod) -> String {
    let (y, m, _) = day.ymd();
    match period {
        ReportPeriod::Quarter => format!("{y}-Q{}", (m - 1) / 3 + 1),
        ReportPeriod::Year => format!("{y}"),
        _ => format!("{y}-{m:02}"),
    }
}

/// Every period key from `start` to `end`, oldest first.
pub fn period_keys(start: Date, end: Date, period: ReportPeriod) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let (mut y, mut m, _) = start.ymd();
    let (ey, em, _) = end.ymd();
    while (y, m) <= (ey, em) {
        let key = period_key(Date::parse(&format!("{y:04}-{m:02}-01")).unwrap_or(start), period);
        if keys.last() != Some(&key) {
            keys.push(key);
        }
        m += 1;
        if m == 13 {
            m = 1;
            y += 1;
        }
    }
    keys
}

/// The pipeline report over a date range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pipeline {
    /// (period, signings, contracted 万元), oldest first.
    pub signings: Vec<(String, u32, f64)>,
    /// (stage, steps, median days from the step before).
    pub durations: Vec<(Stage, u32, f64)>,
    /// (reason, projects lost).
    pub losses: Vec<(LossReason, u32)>,
}

/// The median of `values` (0 for none).
pub fn median(mut values: Vec<i64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2] as f64
    } else {
        (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0
    }
}

/// Signings per period, step durations and losses over the standing events
/// dated from `start` to `end`.
pub fn pipeline<'a>(
    projects: impl IntoIterator<Item = &'a Project>,
    start: Date,
    end: Date,
    period: ReportPeriod,
) -> Pipeline {
    let mut signings: BTreeMap<String, (u32, f64)> =
        period_keys(start, end, period).into_iter().map(|k| (k, (0, 0.0))).collect();
    let mut durations: BTreeMap<Stage, Vec<i64>> = BTreeMap::new();
    let mut losses: BTreeMap<LossReason, u32> = BTreeMap::new();
    let in_range = |d: Date| start <= d && d <= end;
    for p in projects {
        let mut previous: Option<Date> = None;
        for e in p.events.iter().filter(|e| e.standing()) {
            let Some(date) = e.date() else { continue };
            match e.kind() {
                super::EventKind::Step => {
                    if in_range(date) {
                        if e.stage() == Stage::Signed {
                            let slot = signings.entry(period_key(date, period)).or_default();
                            slot.0 += 1;
                            slot.1 += e.amount_wan;
                        }
                        if let Some(before) = previous {
                            durations.entry(e.stage()).or_default().push(date.days_since(before));
                        }
                    }
                    previous = Some(date);
                }
                super::EventKind::Lose if in_range(date) => {
                    *losses.entry(LossReason::try_from(e.loss_reason).unwrap_or(LossReason::Other)).or_default() += 1;
                }
                _ => {}
            }
        }
    }
    Pipeline {
        signings: signings.into_iter().map(|(k, (n, amount))| (k, n, (amount * 10_000.0).round() / 10_000.0)).collect(),
        durations: durations.into_iter().map(|(s, days)| (s, days.len() as u32, median(days))).collect(),
        losses: losses.into_iter().collect(),
    }
}

/// When an active project counts as stalled, per stage (`[projects]` in
/// the configuration).
#[derive(Debug, Clone)]
pub struct StallRule {
    /// Days for every stage not listed.
    pub default_days: u32,
    /// Days per stage.
    pub by_stage: BTreeMap<Stage, u32>,
}

impl StallRule {
    /// `days` for every stage.
    pub fn every(days: u32) -> StallRule {
        StallRule { default_days: days, by_stage: BTreeMap::new() }
    }

    /// The threshold of `stage`.
    pub fn days(&self, stage: Stage) -> u32 {
        self.by_stage.get(&stage).copied().unwrap_or(self.default_days)
    }
}

/// Days an active project has gone without a step, resume or correction
/// as of `today`, or `None` when it is on hold, lost, deleted or finished
/// (入统).
pub fn idle_days(p: &Project, today: Date) -> Option<i64> {
    if p.is_deleted() || p.status() != Status::Active || p.stage() == Stage::Statistics {
        return None;
    }
    let state = state_on(p, None)?;
    let corrected =
        p.events.iter().filter(|e| e.kind() == super::EventKind::Correction).filter_map(|e| Date::parse(&e.date)).max();
    state.last_move.max(corrected).map(|d| today.days_since(d))
}

/// The stalled projects among `projects` as of `today` under `rule`, with
/// their idle days and the threshold that applied, longest idle first.
pub fn stalled<'a>(
    projects: impl IntoIterator<Item = &'a Project>,
    today: Date,
    rule: &StallRule,
) -> Vec<(i64, u32, &'a Project)> {
    let mut out: Vec<(i64, u32, &Project)> = projects
        .into_iter()
        .filter_map(|p| {
            let idle = idle_days(p, today)?;
            let threshold = rule.days(p.stage());
            (idle > i64::from(threshold)).then_some((idle, threshold, p))
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.name.cmp(&b.2.name)));
    out
}
