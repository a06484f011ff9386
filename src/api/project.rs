//! `ladder.v1.ProjectService`: investment-promotion projects, their yearly
//! figures, the project reports and the targeted firms.

use std::collections::BTreeMap;

use prost::Message;
use tonic::{Request, Response, Status};

use crate::api::convert::timestamp;
use crate::api::{enum_field, optional_date, page_size, page_token, write_meta};
use crate::auth::{require, Permission};
use crate::config::Config;
use crate::domain::credit_code::region_name;
use crate::domain::filter::{filter_error, parse_terms, unknown_field, Op};
use crate::domain::industry::{IndustryCode, Level};
use crate::domain::project::reports::StallRule;
use crate::domain::project::{
    self, bare, enterprise_code, parse_stage, project_name, reports, target_name, Context, GroupBy, KeyLevel,
    LeadSource, Project, ProjectEvent, ProjectInvestment, Status as ProjectStatus, Target, TargetContact, TargetReason,
    TargetStatus, PROJECTS, STAGES, TARGETS,
};
use crate::domain::supply_demand::{new_id, parse_name};
use crate::domain::time::{now_micros, Date};
use crate::error::{Error, Result};
use crate::pb::v1;
use crate::store::{GapQuery, ProjectCondition, ProjectFilter, Store};

/// Default projects or targets per page.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Most projects or targets per page.
pub const MAX_PAGE_SIZE: usize = 500;
/// Default stalled projects listed.
pub const DEFAULT_STALLED: usize = 100;
/// Most stalled projects listed.
pub const MAX_STALLED: usize = 1000;
/// Most periods a pipeline report covers.
pub const MAX_PERIODS: usize = 600;

/// Serves projects and targets.
#[derive(Clone)]
pub struct ProjectApi {
    store: Store,
    zones: BTreeMap<String, String>,
    zone_names: BTreeMap<String, String>,
    stall: StallRule,
}

type Reply<T> = Result<Response<T>, Status>;

impl ProjectApi {
    /// A service over `store` with the zones and stall thresholds of `config`.
    pub fn new(store: Store, config: &Config) -> Self {
        Self {
            store,
            zones: config.zones.iter().map(|z| (z.id.clone(), z.department.clone())).collect(),
            zone_names: config.zones.iter().map(|z| (z.id.clone(), z.name.clone())).collect(),
            stall: config.projects.stall_rule(),
        }
    }

    fn context(&self, actor: &str) -> Context {
        let now = now_micros();
        Context { today: Date::china(now), now, actor: actor.to_string(), zones: self.zones.clone() }
    }

    /// The id of the zone `value` names: an id, or a zone's Chinese name
    /// (东区片区, or 东区 without 片区), as staff write it.
    fn zone_id(&self, value: &str) -> String {
        let value = value.trim();
        self.zone_names
            .iter()
            .find(|(_, name)| !name.is_empty() && (name.as_str() == value || name.trim_end_matches("片区") == value))
            .map_or_else(|| value.to_string(), |(id, _)| id.clone())
    }

    /// The project filter of a request, zone names read as their ids.
    fn filter(&self, input: &str, show_deleted: bool) -> Result<ProjectFilter> {
        let mut filter = parse_project_filter(input, show_deleted)?;
        for c in &mut filter.conditions {
            let (ProjectCondition::AnyOf(keys) | ProjectCondition::NoneOf(keys)) = c else { continue };
            for key in keys.iter_mut() {
                if let Some(zone) = key.strip_prefix("zone:") {
                    *key = format!("zone:{}", self.zone_id(zone));
                }
            }
        }
        Ok(filter)
    }

    fn firm_name(&self, name: &str) -> Result<String> {
        let code = enterprise_code(name);
        if code.is_empty() {
            return Ok(String::new());
        }
        Ok(self.store.get_enterprise(code)?.map(|e| e.display_name).unwrap_or_default())
    }

    fn project_pb(&self, p: Project) -> Result<v1::Project> {
        let investor = self.firm_name(&p.investor_enterprise)?;
        let company = self.firm_name(&p.enterprise)?;
        Ok(project_to_pb(p, investor, company))
    }
}

/// Re-encodes a record as the API message that shares its field numbers.
fn reencode<A: Message, B: Message + Default>(a: &A) -> B {
    // Both sides are generated from the same numbers (the domain tests
    // check it), so the bytes always decode.
    B::decode(a.encode_to_vec().as_slice()).unwrap_or_default()
}

/// The API view of a project.
pub fn project_to_pb(p: Project, investor_display_name: String, company_display_name: String) -> v1::Project {
    let mut out: v1::Project = reencode(&p);
    out.industry_name = IndustryCode::parse(&p.industry_code).ok().and_then(|c| c.name()).unwrap_or("").to_string();
    out.source_region_name = region_name(&p.source_region_code).unwrap_or("").to_string();
    out.etag = p.etag();
    out.create_time = timestamp(p.create_time);
    out.update_time = timestamp(p.update_time);
    out.delete_time = timestamp(p.delete_time);
    for (e, stored) in out.events.iter_mut().zip(&p.events) {
        e.record_time = timestamp(stored.record_time);
    }
    out.investor_enterprise_display_name = investor_display_name;
    out.enterprise_display_name = company_display_name;
    out
}

/// The API view of a year's figures.
pub fn investment_to_pb(i: ProjectInvestment) -> v1::ProjectInvestment {
    let mut out: v1::ProjectInvestment = reencode(&i);
    out.etag = i.etag();
    out.update_time = timestamp(i.update_time);
    out
}

/// The API view of a target.
pub fn target_to_pb(t: Target) -> v1::Target {
    let mut out: v1::Target = reencode(&t);
    out.region_name = region_name(&t.region_code).unwrap_or("").to_string();
    out.industry_name = IndustryCode::parse(&t.industry_code).ok().and_then(|c| c.name()).unwrap_or("").to_string();
    out.etag = t.etag();
    out.create_time = timestamp(t.create_time);
    out.update_time = timestamp(t.update_time);
    out.delete_time = timestamp(t.delete_time);
    for (c, stored) in out.contacts.iter_mut().zip(&t.contacts) {
        c.record_time = timestamp(stored.record_time);
    }
    out
}

fn group_by(field: &str, value: i32) -> Result<GroupBy> {
    enum_field::<GroupBy>(field, value)
}

/// Parses the project filter into conditions on the index's set keys.
pub fn parse_project_filter(input: &str, show_deleted: bool) -> Result<ProjectFilter> {
    const FIELDS: [&str; 13] = [
        "display_name",
        "zone",
        "department",
        "owner",
        "stage",
        "status",
        "industry_code",
        "key_level",
        "source_region",
        "lead_source",
        "credit_code",
        "chain_gap",
        "tag",
    ];
    let mut filter = ProjectFilter { conditions: Vec::new(), show_deleted };
    for term in parse_terms(input)? {
        let v = term.value.trim();
        let bad = |what: &str| filter_error(format!("{}: {v:?} is not {what}", term.field));
        if term.field == "display_name" {
            // `display_name:"航天"`: the project's or the investor's name contains it.
            if term.op != Op::Has || v.is_empty() {
                return Err(filter_error(
                    "display_name: write display_name:\"text\" (the project's or investor's name contains it)".into(),
                ));
            }
            filter.conditions.push(ProjectCondition::NameContains { text: v.to_string(), negated: term.negated });
            continue;
        }
        let ordered = matches!(term.field.as_str(), "stage" | "key_level");
        if term.op == Op::Has || (!ordered && !matches!(term.op, Op::Eq | Op::Ne)) {
            return Err(filter_error(format!("{}: only = and != are supported on this field", term.field)));
        }
        let keys: Vec<String> = match term.field.as_str() {
            "stage" => {
                let stage = parse_stage(v).ok_or_else(|| bad("a stage (LEAD … STATISTICS or 线索 … 入统)"))?;
                STAGES
                    .into_iter()
                    .filter(|s| compare(term.op, *s as i32, stage as i32))
                    .map(|s| format!("stage:{}", bare(s.as_str_name())))
                    .collect()
            }
            "key_level" => {
                let upper = v.to_ascii_uppercase();
                let level = KeyLevel::from_str_name(&format!("KEY_LEVEL_{}", bare(&upper)))
                    .filter(|l| *l != KeyLevel::Unspecified)
                    .ok_or_else(|| bad("a key level (NONE, DISTRICT, MUNICIPAL, PROVINCIAL, NATIONAL)"))?;
                [KeyLevel::None, KeyLevel::District, KeyLevel::Municipal, KeyLevel::Provincial, KeyLevel::National]
                    .into_iter()
                    .filter(|l| compare(term.op, *l as i32, level as i32))
                    .map(|l| format!("key_level:{}", bare(l.as_str_name())))
                    .collect()
            }
            "status" => {
                let upper = v.to_ascii_uppercase();
                let s = ProjectStatus::from_str_name(&format!("PROJECT_STATUS_{}", bare(&upper)))
                    .filter(|s| *s != ProjectStatus::Unspecified)
                    .ok_or_else(|| bad("ACTIVE, ON_HOLD or LOST"))?;
                vec![format!("status:{}", bare(s.as_str_name()))]
            }
            "lead_source" => {
                let upper = v.to_ascii_uppercase();
                let s = LeadSource::from_str_name(&format!("LEAD_SOURCE_{}", bare(&upper)))
                    .filter(|s| *s != LeadSource::Unspecified)
                    .ok_or_else(|| bad("a lead source (ALLIANCE, MEMBER_FIRM, CHAMBER, …)"))?;
                vec![format!("lead_source:{}", bare(s.as_str_name()))]
            }
            "industry_code" | "chain_gap" => {
                let code = IndustryCode::parse(v).map_err(|_| bad("an industry code"))?;
                vec![format!("{}:{}", term.field, code.as_str())]
            }
            "source_region" => {
                if v.is_empty() || v.len() > 6 || !v.bytes().all(|b| b.is_ascii_digit()) || v.len() % 2 == 1 {
                    return Err(bad("a region code or its leading 2 or 4 digits"));
                }
                vec![format!("source_region:{v}")]
            }
            "credit_code" => vec![format!("credit_code:{}", v.to_ascii_uppercase())],
            field @ ("zone" | "department" | "owner" | "tag") => vec![format!("{field}:{v}")],
            other => return Err(unknown_field(other, FIELDS.into_iter())),
        };
        let negated = term.negated ^ (term.op == Op::Ne);
        filter.conditions.push(if negated { ProjectCondition::NoneOf(keys) } else { ProjectCondition::AnyOf(keys) });
    }
    Ok(filter)
}

/// Whether `a op b` holds (`!=` is handled by negation: it compares `=`).
fn compare(op: Op, a: i32, b: i32) -> bool {
    match op {
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        _ => a == b,
    }
}

fn resume(store: &Store, digest: &[u8], token: &str) -> Result<Option<String>> {
    page_token::resume_id(store.token_key(), digest, token)
}

fn next_token(store: &Store, digest: &[u8], next: Option<String>) -> String {
    page_token::next_id_token(store.token_key(), digest, next)
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn funnel_pb(line: reports::FunnelLine, label: String) -> v1::FunnelLine {
    v1::FunnelLine {
        stages: STAGES
            .iter()
            .enumerate()
            .map(|(i, s)| v1::ProjectStageCount {
                stage: *s as i32,
                count: count(line.standing[i]),
                reached: count(line.reached[i]),
            })
            .collect(),
        key: line.key,
        label,
        on_hold: count(line.on_hold),
        lost: count(line.lost),
        total: count(line.total),
    }
}

fn investment_line_pb(line: &reports::InvestmentLine, label: String) -> v1::InvestmentLine {
    v1::InvestmentLine {
        key: line.key.clone(),
        label,
        projects: count(line.projects),
        planned_wan: round2(line.planned_wan),
        completed_wan: round2(line.completed_wan),
        completed_yi: round2(line.completed_wan / 10_000.0),
        completion_percent: line.percent(),
        overrun: count(line.overrun),
    }
}

fn rate_pb(r: reports::Rate) -> v1::StepRate {
    v1::StepRate {
        planned: count(r.planned),
        reached: count(r.reached),
        percent: reports::percent(f64::from(r.reached), f64::from(r.planned)),
    }
}

/// A target of a request, with the output-only fields dropped.
fn target_from_pb(t: v1::Target) -> Target {
    let mut t: Target = reencode(&t);
    t.project.clear();
    t.contacts.clear();
    t.revision = 0;
    t.delete_reason.clear();
    t
}

#[tonic::async_trait]
impl v1::project_service_server::ProjectService for ProjectApi {
    async fn create_project(&self, request: Request<v1::CreateProjectRequest>) -> Reply<v1::Project> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "CreateProject", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let input = r.project.ok_or_else(|| Error::invalid_field("project", "REQUIRED", "is required"))?;
        let mut record: Project = reencode(&input);
        record.promotion_zone = self.zone_id(&record.promotion_zone);
        let id = new_id(now_micros());
        record.name = project_name(&id);
        if !record.target.trim().is_empty() {
            let target_id = project::check_target_name("project.target", &record.target)?;
            record.target = target_name(&target_id);
            // What the target list knows fills what the request leaves
            // empty (the store converts the target in the project's write).
            if let Some(t) = self.store.get_target(&target_id)? {
                project::fill_from_target(&mut record, &t);
            }
        }
        let ctx = self.context(&caller.name);
        let stored = self
            .store
            .mutate_project(id, meta, r.validate_only, move |current, _| project::create(current, record, &ctx))
            .await?;
        Ok(Response::new(self.project_pb(stored)?))
    }

    async fn get_project(&self, request: Request<v1::GetProjectRequest>) -> Reply<v1::Project> {
        require(&request, Permission::Read)?;
        let id = parse_name("name", &request.get_ref().name, PROJECTS)?;
        let p = self.store.get_project(id)?.ok_or_else(|| Error::NotFound { resource: project_name(id) })?;
        Ok(Response::new(self.project_pb(p)?))
    }

    async fn update_project(&self, request: Request<v1::UpdateProjectRequest>) -> Reply<v1::Project> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "UpdateProject", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let input = r.project.ok_or_else(|| Error::invalid_field("project", "REQUIRED", "is required"))?;
        let id = parse_name("project.name", &input.name, PROJECTS)?.to_string();
        let etag = if r.etag.is_empty() { input.etag.clone() } else { r.etag };
        let mut patch: Project = reencode(&input);
        patch.name = project_name(&id);
        patch.promotion_zone = self.zone_id(&patch.promotion_zone);
        let mask = match r.update_mask {
            Some(mask) => mask.paths,
            None => Project::diff(&Project::default(), &patch)
                .into_iter()
                .map(|c| c.field)
                .filter(|f| project::PROJECT_UPDATABLE.contains(&f.as_str()))
                .collect(),
        };
        let ctx = self.context(&caller.name);
        let stored = self
            .store
            .mutate_project(id, meta, r.validate_only, move |current, _| {
                project::update(current, &patch, &mask, &etag, &ctx)
            })
            .await?;
        Ok(Response::new(self.project_pb(stored)?))
    }

    async fn delete_project(&self, request: Request<v1::DeleteProjectRequest>) -> Reply<v1::Project> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let mut meta =
            write_meta(&self.store, &request, &caller, "DeleteProject", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let id = parse_name("name", &r.name, PROJECTS)?.to_string();
        let mut v = Vec::new();
        crate::domain::update::check_text(&mut v, "reason", r.reason.trim(), 0, project::MAX_REASON_CHARS);
        if !v.is_empty() {
            return Err(Error::invalid_fields(v).into());
        }
        meta.reason = r.reason.trim().to_string();
        let name = project_name(&id);
        let stored = self
            .store
            .mutate_project(id, meta, false, move |current, now| {
                project::delete(current, &name, &r.etag, &r.reason, now)
            })
            .await?;
        Ok(Response::new(self.project_pb(stored)?))
    }

    async fn undelete_project(&self, request: Request<v1::UndeleteProjectRequest>) -> Reply<v1::Project> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "UndeleteProject", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let id = parse_name("name", &r.name, PROJECTS)?.to_string();
        let name = project_name(&id);
        let stored = self
            .store
            .mutate_project(id, meta, false, move |current, now| project::undelete(current, &name, &r.etag, now))
            .await?;
        Ok(Response::new(self.project_pb(stored)?))
    }

    async fn list_projects(&self, request: Request<v1::ListProjectsRequest>) -> Reply<v1::ListProjectsResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let size = page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let filter = self.filter(&r.filter, r.show_deleted)?;
        let digest =
            page_token::query_digest(&["ListProjects", r.filter.trim(), if r.show_deleted { "1" } else { "0" }]);
        let after = resume(&self.store, &digest, &r.page_token)?;
        let (page, next, total) = self.store.list_projects(&filter, after.as_deref(), size)?;
        // A list leaves out each project's history (GetProject has it), so
        // a page stays small whatever the projects went through.
        let projects: Vec<v1::Project> = page
            .into_iter()
            .map(|mut p| {
                p.events.clear();
                self.project_pb(p)
            })
            .collect::<Result<_>>()?;
        Ok(Response::new(v1::ListProjectsResponse {
            projects,
            next_page_token: next_token(&self.store, &digest, next),
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    async fn record_project_event(&self, request: Request<v1::RecordProjectEventRequest>) -> Reply<v1::Project> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta = write_meta(&self.store, &request, &caller, "RecordProjectEvent", r, &r.request_id, |m| {
            m.request_id.clear()
        })?;
        let r = request.into_inner();
        let id = parse_name("name", &r.name, PROJECTS)?.to_string();
        let input = r.event.ok_or_else(|| Error::invalid_field("event", "REQUIRED", "is required"))?;
        let event: ProjectEvent = reencode(&input);
        let name = project_name(&id);
        let ctx = self.context(&caller.name);
        let stored = self
            .store
            .mutate_project(id, meta, r.validate_only, move |current, _| {
                project::record_event(current, &name, &event, &r.etag, &ctx)
            })
            .await?;
        Ok(Response::new(self.project_pb(stored)?))
    }

    async fn update_project_investment(
        &self,
        request: Request<v1::UpdateProjectInvestmentRequest>,
    ) -> Reply<v1::ProjectInvestment> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta = write_meta(&self.store, &request, &caller, "UpdateProjectInvestment", r, &r.request_id, |m| {
            m.request_id.clear()
        })?;
        let r = request.into_inner();
        let input = r.investment.ok_or_else(|| Error::invalid_field("investment", "REQUIRED", "is required"))?;
        let (id, year) = project::parse_investment_name("investment.name", &input.name)?;
        let patch: ProjectInvestment = reencode(&input);
        let mask = match r.update_mask {
            Some(mask) => mask.paths,
            None => patch.populated_fields(),
        };
        let ctx = self.context(&caller.name);
        let pid = id.clone();
        let stored = self
            .store
            .mutate_project_investment(id, year, meta, r.validate_only, move |current, _| {
                project::upsert_investment(current, (&pid, year), &patch, &mask, &r.etag, &ctx)
            })
            .await?;
        Ok(Response::new(investment_to_pb(stored)))
    }

    async fn get_project_investment(
        &self,
        request: Request<v1::GetProjectInvestmentRequest>,
    ) -> Reply<v1::ProjectInvestment> {
        require(&request, Permission::Read)?;
        let (id, year) = project::parse_investment_name("name", &request.get_ref().name)?;
        let i = self
            .store
            .get_project_investment(&id, year)?
            .ok_or_else(|| Error::NotFound { resource: project::investment_name(&id, year) })?;
        Ok(Response::new(investment_to_pb(i)))
    }

    async fn list_project_investments(
        &self,
        request: Request<v1::ListProjectInvestmentsRequest>,
    ) -> Reply<v1::ListProjectInvestmentsResponse> {
        require(&request, Permission::Read)?;
        let id = parse_name("parent", &request.get_ref().parent, PROJECTS)?.to_string();
        if self.store.get_project(&id)?.is_none() {
            return Err(Error::NotFound { resource: project_name(&id) }.into());
        }
        let investments = self.store.list_project_investments(id).await?.into_iter().map(investment_to_pb).collect();
        Ok(Response::new(v1::ListProjectInvestmentsResponse { investments }))
    }

    async fn get_project_funnel(&self, request: Request<v1::GetProjectFunnelRequest>) -> Reply<v1::ProjectFunnel> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let today = Date::today();
        let day = optional_date("as_of", &r.as_of, today)?;
        if day > today {
            return Err(Error::invalid_field("as_of", "DATE_IN_FUTURE", format!("{day} is in the future")).into());
        }
        let by = group_by("group_by", r.group_by)?;
        let filter = self.filter(&r.filter, false)?;
        let projects = self.store.select_projects(&filter)?;
        let (overall, groups) = reports::funnel(projects.iter().map(|p| &**p), day, by);
        Ok(Response::new(v1::ProjectFunnel {
            as_of: day.to_string(),
            overall: Some(funnel_pb(overall, String::new())),
            groups: groups
                .into_iter()
                .map(|g| {
                    let label = reports::group_label(by, &g.key, &self.zone_names);
                    funnel_pb(g, label)
                })
                .collect(),
        }))
    }

    async fn get_investment_report(
        &self,
        request: Request<v1::GetInvestmentReportRequest>,
    ) -> Reply<v1::InvestmentReport> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let today = Date::today();
        let this_year = i32::try_from(today.ymd().0).unwrap_or(project::LAST_YEAR);
        let year = if r.year == 0 { this_year } else { r.year };
        project::check_year("year", year)?;
        if year > this_year {
            return Err(Error::invalid_field(
                "year",
                "INVALID_YEAR",
                format!("{year} has not begun: the report covers this year and earlier ones"),
            )
            .into());
        }
        let year_end = Date::parse(&format!("{year:04}-12-31")).unwrap_or(today);
        let day = optional_date("as_of", &r.as_of, year_end.min(today))?;
        if day > today {
            return Err(Error::invalid_field("as_of", "DATE_IN_FUTURE", format!("{day} is in the future")).into());
        }
        if day.ymd().0 != i64::from(year) {
            return Err(Error::invalid_field("as_of", "DATE_OUTSIDE_YEAR", format!("{day} is not in {year}")).into());
        }
        let by = group_by("group_by", r.group_by)?;
        let filter = self.filter(&r.filter, false)?;
        let items = self.store.projects_with_figures(&filter, year)?;
        let report = reports::investment(items.iter().map(|(p, i)| (&**p, &**i)), day, by);
        let display_names: std::collections::HashMap<&str, &str> =
            items.iter().map(|(p, _)| (p.name.as_str(), p.display_name.as_str())).collect();
        let label = |key: &str| match by {
            GroupBy::Project => display_names.get(key).map(|n| n.to_string()).unwrap_or_default(),
            _ => reports::group_label(by, key, &self.zone_names),
        };
        Ok(Response::new(v1::InvestmentReport {
            year,
            as_of: day.to_string(),
            summary: reports::summary(&report.overall),
            overall: Some(investment_line_pb(&report.overall, String::new())),
            groups: report.groups.iter().map(|g| investment_line_pb(g, label(&g.key))).collect(),
            approvals_rate: Some(rate_pb(report.approvals)),
            construction_rate: Some(rate_pb(report.construction)),
            statistics_rate: Some(rate_pb(report.statistics)),
            behind_plan: report
                .behind
                .into_iter()
                .map(|b| v1::BehindPlan {
                    completion_percent: reports::percent(b.completed_wan, b.planned_wan),
                    project: b.project,
                    display_name: b.display_name,
                    planned_wan: round2(b.planned_wan),
                    completed_wan: round2(b.completed_wan),
                    expected_wan: b.expected_wan,
                })
                .collect(),
        }))
    }

    async fn get_pipeline_report(&self, request: Request<v1::GetPipelineReportRequest>) -> Reply<v1::PipelineReport> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let today = Date::today();
        let jan1 = Date::parse(&format!("{:04}-01-01", today.ymd().0)).unwrap_or(today);
        let start = optional_date("start_date", &r.start_date, jan1)?;
        let end = optional_date("end_date", &r.end_date, today)?;
        if end < start {
            return Err(Error::invalid_field("end_date", "INVALID_RANGE", format!("{end} is before {start}")).into());
        }
        let period = enum_field::<v1::ReportPeriod>("period", r.period)?;
        if reports::period_keys(start, end, period).len() > MAX_PERIODS {
            return Err(Error::invalid_field(
                "end_date",
                "INVALID_RANGE",
                format!("the range has more than {MAX_PERIODS} periods: choose a longer period or a shorter range"),
            )
            .into());
        }
        let filter = self.filter(&r.filter, false)?;
        let projects = self.store.select_projects(&filter)?;
        let report = reports::pipeline(projects.iter().map(|p| &**p), start, end, period);
        let signed_count: u32 = report.signings.iter().map(|s| s.1).sum();
        let signed_amount: f64 = report.signings.iter().map(|s| s.2).sum();
        Ok(Response::new(v1::PipelineReport {
            start_date: start.to_string(),
            end_date: end.to_string(),
            signings: report
                .signings
                .into_iter()
                .map(|(period, n, amount)| v1::PeriodSignings { period, count: count(n), amount_wan: round2(amount) })
                .collect(),
            signed_count: count(signed_count),
            signed_amount_wan: round2(signed_amount),
            durations: report
                .durations
                .into_iter()
                .map(|(stage, steps, median)| v1::StageDuration {
                    stage: stage as i32,
                    steps: count(steps),
                    median_days: median,
                })
                .collect(),
            losses: report
                .losses
                .into_iter()
                .map(|(reason, n)| v1::LossCount { reason: reason as i32, count: count(n) })
                .collect(),
        }))
    }

    async fn list_stalled_projects(
        &self,
        request: Request<v1::ListStalledProjectsRequest>,
    ) -> Reply<v1::ListStalledProjectsResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        if r.days < 0 {
            return Err(Error::invalid_field(
                "days",
                "NEGATIVE",
                format!("is {}; 0 uses the configured thresholds", r.days),
            )
            .into());
        }
        let size = page_size(r.page_size, DEFAULT_STALLED, MAX_STALLED)?;
        let filter = self.filter(&r.filter, false)?;
        let today = Date::today();
        let selected = self.store.select_projects(&filter)?;
        let rule = if r.days > 0 { StallRule::every(r.days.unsigned_abs()) } else { self.stall.clone() };
        let stalled = reports::stalled(selected.iter().map(|p| &**p), today, &rule);
        let total = stalled.len();
        let projects = stalled
            .into_iter()
            .take(size)
            .map(|(idle, threshold, p)| {
                let mut p = p.clone();
                p.events.clear();
                Ok(v1::StalledProject {
                    project: Some(self.project_pb(p)?),
                    days_idle: i32::try_from(idle).unwrap_or(i32::MAX),
                    threshold_days: i32::try_from(threshold).unwrap_or(i32::MAX),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Response::new(v1::ListStalledProjectsResponse {
            projects,
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    async fn get_chain_gap_coverage(
        &self,
        request: Request<v1::GetChainGapCoverageRequest>,
    ) -> Reply<v1::ChainGapCoverage> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let level = match enum_field("level", r.level)? {
            v1::CategoryLevel::Division => Level::Division,
            v1::CategoryLevel::Group => Level::Group,
            v1::CategoryLevel::Class | v1::CategoryLevel::Unspecified => Level::Class,
        };
        let industry_code = if r.industry_code.trim().is_empty() {
            None
        } else {
            Some(
                IndustryCode::parse(&r.industry_code)
                    .map_err(|e| Error::invalid_field("industry_code", e.reason(), e.to_string()))?,
            )
        };
        let gaps = self
            .store
            .chain_gaps(GapQuery { level, alliance_id: None, industry_code, include_covered: false }, Date::today())
            .await?;
        // One snapshot of the projects aimed at a gap, grouped at the gaps' level.
        let aimed = ProjectFilter {
            conditions: vec![ProjectCondition::NoneOf(vec!["status:LOST".into()])],
            show_deleted: false,
        };
        let mut by_gap: BTreeMap<String, Vec<std::sync::Arc<Project>>> = BTreeMap::new();
        for p in self.store.select_projects(&aimed)?.into_iter().filter(|p| !p.chain_gap.is_empty()) {
            by_gap.entry(crate::store::group_code(&p.chain_gap, level)).or_default().push(p);
        }
        let mut out = v1::ChainGapCoverage::default();
        for g in gaps {
            let projects = by_gap.remove(&g.industry_code).unwrap_or_default();
            let coverage = v1::GapCoverage {
                industry_name: IndustryCode::parse(&g.industry_code)
                    .ok()
                    .and_then(|c| c.name())
                    .unwrap_or("")
                    .to_string(),
                industry_code: g.industry_code,
                open_demands: count(g.open_demands),
                open_demand_amount_wan: round2(g.open_demand_amount_wan),
                planned_investment_wan: round2(projects.iter().map(|p| p.planned_investment_wan).sum()),
                projects: projects.iter().map(|p| p.name.clone()).collect(),
            };
            if coverage.projects.is_empty() {
                out.uncovered.push(coverage);
            } else {
                out.covered.push(coverage);
            }
        }
        Ok(Response::new(out))
    }

    async fn create_target(&self, request: Request<v1::CreateTargetRequest>) -> Reply<v1::Target> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "CreateTarget", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let input = r.target.ok_or_else(|| Error::invalid_field("target", "REQUIRED", "is required"))?;
        let mut record = target_from_pb(input);
        let id = new_id(now_micros());
        record.name = target_name(&id);
        let stored = self
            .store
            .mutate_target(id, meta, r.validate_only, move |current, now| project::create_target(current, record, now))
            .await?;
        Ok(Response::new(target_to_pb(stored)))
    }

    async fn get_target(&self, request: Request<v1::GetTargetRequest>) -> Reply<v1::Target> {
        require(&request, Permission::Read)?;
        let id = parse_name("name", &request.get_ref().name, TARGETS)?;
        let t = self.store.get_target(id)?.ok_or_else(|| Error::NotFound { resource: target_name(id) })?;
        Ok(Response::new(target_to_pb(t)))
    }

    async fn update_target(&self, request: Request<v1::UpdateTargetRequest>) -> Reply<v1::Target> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "UpdateTarget", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let input = r.target.ok_or_else(|| Error::invalid_field("target", "REQUIRED", "is required"))?;
        let id = parse_name("target.name", &input.name, TARGETS)?.to_string();
        let etag = if r.etag.is_empty() { input.etag.clone() } else { r.etag };
        let mut patch = target_from_pb(input);
        patch.name = target_name(&id);
        let mask = match r.update_mask {
            Some(mask) => mask.paths,
            None => Target::diff(&Target::default(), &patch)
                .into_iter()
                .map(|c| c.field)
                .filter(|f| project::TARGET_UPDATABLE.contains(&f.as_str()))
                .collect(),
        };
        let stored = self
            .store
            .mutate_target(id, meta, r.validate_only, move |current, now| {
                project::update_target(current, &patch, &mask, &etag, now)
            })
            .await?;
        Ok(Response::new(target_to_pb(stored)))
    }

    async fn delete_target(&self, request: Request<v1::DeleteTargetRequest>) -> Reply<v1::Target> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let mut meta =
            write_meta(&self.store, &request, &caller, "DeleteTarget", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let id = parse_name("name", &r.name, TARGETS)?.to_string();
        let mut v = Vec::new();
        crate::domain::update::check_text(&mut v, "reason", r.reason.trim(), 0, project::MAX_REASON_CHARS);
        if !v.is_empty() {
            return Err(Error::invalid_fields(v).into());
        }
        meta.reason = r.reason.trim().to_string();
        let name = target_name(&id);
        let stored = self
            .store
            .mutate_target(id, meta, false, move |current, now| {
                project::delete(current, &name, &r.etag, &r.reason, now)
            })
            .await?;
        Ok(Response::new(target_to_pb(stored)))
    }

    async fn list_targets(&self, request: Request<v1::ListTargetsRequest>) -> Reply<v1::ListTargetsResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let size = page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let keep = parse_target_filter(&r.filter, r.show_deleted)?;
        let digest =
            page_token::query_digest(&["ListTargets", r.filter.trim(), if r.show_deleted { "1" } else { "0" }]);
        let after = resume(&self.store, &digest, &r.page_token)?;
        let (page, next) = self.store.list_targets(keep, after, size).await?;
        Ok(Response::new(v1::ListTargetsResponse {
            targets: page.into_iter().map(target_to_pb).collect(),
            next_page_token: next_token(&self.store, &digest, next),
        }))
    }

    async fn record_target_contact(&self, request: Request<v1::RecordTargetContactRequest>) -> Reply<v1::Target> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta = write_meta(&self.store, &request, &caller, "RecordTargetContact", r, &r.request_id, |m| {
            m.request_id.clear()
        })?;
        let r = request.into_inner();
        let id = parse_name("name", &r.name, TARGETS)?.to_string();
        let input = r.contact.ok_or_else(|| Error::invalid_field("contact", "REQUIRED", "is required"))?;
        let contact: TargetContact = reencode(&input);
        let name = target_name(&id);
        let ctx = self.context(&caller.name);
        let stored = self
            .store
            .mutate_target(id, meta, false, move |current, _| {
                project::record_contact(current, &name, &contact, &r.etag, &ctx)
            })
            .await?;
        Ok(Response::new(target_to_pb(stored)))
    }
}

/// Parses the `ListTargets` filter into a predicate.
fn parse_target_filter(input: &str, show_deleted: bool) -> Result<impl Fn(&Target) -> bool + Send + 'static> {
    const FIELDS: [&str; 6] = ["status", "reason", "industry_code", "region", "department", "owner"];
    type Check = Box<dyn Fn(&Target) -> bool + Send + Sync>;
    let mut checks: Vec<Check> = Vec::new();
    for term in parse_terms(input)? {
        if term.negated || term.op != Op::Eq {
            return Err(filter_error(format!("{}: only `field = value` conditions are supported here", term.field)));
        }
        let v = term.value.trim().to_string();
        let bad = |what: &str| filter_error(format!("{}: {v:?} is not {what}", term.field));
        let upper = v.to_ascii_uppercase();
        checks.push(match term.field.as_str() {
            "status" => {
                let s = TargetStatus::from_str_name(&format!("TARGET_STATUS_{}", bare(&upper)))
                    .filter(|s| *s != TargetStatus::Unspecified)
                    .ok_or_else(|| bad("OPEN, CONVERTED or DROPPED"))?;
                Box::new(move |t: &Target| t.status() == s)
            }
            "reason" => {
                let r = TargetReason::from_str_name(&format!("TARGET_REASON_{}", bare(&upper)))
                    .filter(|r| *r != TargetReason::Unspecified)
                    .ok_or_else(|| bad("a target reason (CHAIN_LEADER, STATE_LEVEL, …)"))?;
                Box::new(move |t: &Target| t.reasons.contains(&(r as i32)))
            }
            "industry_code" => {
                let code = IndustryCode::parse(&v).map_err(|_| bad("an industry code"))?;
                Box::new(move |t: &Target| {
                    IndustryCode::parse(&t.industry_code).is_ok_and(|c| c.prefixes().contains(&code))
                })
            }
            "region" => Box::new(move |t: &Target| !v.is_empty() && t.region_code.starts_with(&v)),
            "department" => Box::new(move |t: &Target| t.department == v),
            "owner" => Box::new(move |t: &Target| t.owner == v),
            other => return Err(unknown_field(other, FIELDS.into_iter())),
        });
    }
    Ok(move |t: &Target| (show_deleted || !t.is_deleted()) && checks.iter().all(|c| c(t)))
}
