//! `ladder.v1.CultivationService`: designations and derived stages.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::api::convert::timestamp;
use crate::api::{enum_field, known_enum, optional_date, page_size, page_token, write_meta};
use crate::auth::{require, Permission};
use crate::domain::credit_code::CreditCode;
use crate::domain::enterprise::{parse_resource_name, resource_name, validate_reason};
use crate::domain::filter::Filter;
use crate::domain::filter::{filter_error, parse_terms, unknown_field, Op};
use crate::domain::indicators::{self, AnnualIndicators};
use crate::domain::ladder::{self, Designation, DesignationKind, Stage, Status as DStatus};
use crate::domain::policy::{self, Policy, Verdict};
use crate::domain::time::Date;
use crate::domain::update::split_name;
use crate::error::{Error, Result};
use crate::pb::v1;
use crate::store::{DesignationFilter, Store};

/// Default designations per page.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Most designations per page.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Serves designations, stages, indicators and the ladder's reports.
#[derive(Clone)]
pub struct CultivationApi {
    store: Store,
    policy: Arc<Policy>,
}

impl CultivationApi {
    /// A service over `store`, evaluating candidates with `policy`.
    pub fn new(store: Store, policy: Policy) -> Self {
        Self { store, policy: Arc::new(policy) }
    }

    fn display_name(&self, credit_code: &str) -> Result<String> {
        Ok(self.store.get_enterprise(credit_code)?.map(|e| e.display_name).unwrap_or_default())
    }
}

type Reply<T> = Result<Response<T>, Status>;

/// The API view of a designation.
pub fn designation_to_pb(d: Designation) -> v1::Designation {
    v1::Designation {
        name: d.resource_name(),
        etag: d.etag(),
        stage: d.stage() as i32,
        create_time: timestamp(d.create_time),
        update_time: timestamp(d.update_time),
        kind: d.kind,
        level: d.level,
        authority: d.authority,
        batch: d.batch,
        certificate_number: d.certificate_number,
        issued_date: d.issued_date,
        valid_from: d.valid_from,
        valid_until: d.valid_until,
        status: d.status,
        ended_date: d.ended_date,
        end_reason: d.end_reason,
        barred_until: d.barred_until,
        evidence: d.evidence,
        source: d.source,
        recorded_by: d.recorded_by,
        ended_by: d.ended_by,
        corrected: d.corrected,
        revision: d.revision,
    }
}

/// The editable fields of a request's designation; an enum number the
/// contract does not define is refused.
fn designation_from_pb(credit_code: &str, id: &str, d: v1::Designation) -> Result<Designation> {
    Ok(Designation {
        credit_code: credit_code.to_string(),
        id: id.to_string(),
        kind: known_enum::<v1::DesignationKind>("designation.kind", d.kind)?,
        level: known_enum::<v1::IssuingLevel>("designation.level", d.level)?,
        authority: d.authority,
        batch: d.batch,
        certificate_number: d.certificate_number,
        issued_date: d.issued_date,
        valid_from: d.valid_from,
        valid_until: d.valid_until,
        status: known_enum::<v1::DesignationStatus>("designation.status", d.status)?,
        ended_date: d.ended_date,
        end_reason: d.end_reason,
        barred_until: d.barred_until,
        evidence: d.evidence,
        source: d.source,
        ..Default::default()
    })
}

/// `enterprises/{code}/designations/{id}` → (code, id).
fn parse_designation_name(field: &str, name: &str) -> Result<(String, String)> {
    let shape = "enterprises/{credit_code}/designations/{designation_id}";
    let (code, id) = split_name(field, name, "enterprises/", "/designations/", shape)?;
    let code =
        CreditCode::parse_unverified(code).map_err(|e| Error::invalid_field(field, e.reason(), e.to_string()))?;
    let id_ok = (1..=40).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !id_ok {
        return Err(Error::invalid_field(field, "INVALID_RESOURCE_NAME", format!("{id:?} is not a designation id")));
    }
    Ok((code.as_str().to_string(), id.to_string()))
}

/// Parses the `ListDesignations` filter: `kind`, `status`, `stage`, ANDed.
fn parse_designation_filter(input: &str) -> Result<DesignationFilter> {
    let mut filter = DesignationFilter::default();
    for term in parse_terms(input)? {
        if term.negated || term.op != Op::Eq {
            return Err(filter_error(format!("{}: only `field = value` conditions are supported here", term.field)));
        }
        match term.field.as_str() {
            "kind" => {
                filter.kind = Some(
                    DesignationKind::parse(&term.value)
                        .ok_or_else(|| filter_error(format!("kind: {:?} is not a designation kind", term.value)))?,
                )
            }
            "status" => {
                let upper = term.value.to_ascii_uppercase();
                let bare = upper.trim_start_matches("DESIGNATION_STATUS_");
                filter.status = Some(match bare {
                    "APPLYING" => DStatus::Applying,
                    "PUBLIC_NOTICE" => DStatus::PublicNotice,
                    "GRANTED" => DStatus::Granted,
                    "UNDER_REVIEW" => DStatus::UnderReview,
                    "LAPSED" => DStatus::Lapsed,
                    "REVOKED" => DStatus::Revoked,
                    other => return Err(filter_error(format!("status: {other:?} is not a designation status"))),
                })
            }
            "stage" => {
                filter.stage = Some(
                    Stage::parse(&term.value)
                        .ok_or_else(|| filter_error(format!("stage: {:?} is not a stage", term.value)))?,
                )
            }
            other => return Err(unknown_field(other, ["kind", "status", "stage"].into_iter())),
        }
    }
    Ok(filter)
}

/// 1 January of `d`'s year.
fn first_of_year(d: Date) -> Date {
    Date::parse(&format!("{:04}-01-01", d.ymd().0)).unwrap_or(d)
}

/// `enterprises/{code}/indicators/{year}` → (code, year).
fn parse_indicators_name(field: &str, name: &str) -> Result<(String, i32)> {
    indicators::parse_name(field, name)
}

/// The figures of a request (the name is parsed separately).
pub fn indicators_from_pb(i: v1::AnnualIndicators) -> AnnualIndicators {
    AnnualIndicators {
        revenue: i.revenue,
        main_business_revenue: i.main_business_revenue,
        employees: i.employees,
        tech_staff: i.tech_staff,
        rd_expense: i.rd_expense,
        rd_domestic_share: i.rd_domestic_share,
        high_tech_revenue: i.high_tech_revenue,
        total_assets: i.total_assets,
        total_liabilities: i.total_liabilities,
        equity_financing: i.equity_financing,
        valuation: i.valuation,
        source: i.source,
        ..Default::default()
    }
}

fn indicators_to_pb(i: AnnualIndicators) -> v1::AnnualIndicators {
    v1::AnnualIndicators {
        name: i.resource_name(),
        etag: i.etag(),
        year: i.year,
        update_time: timestamp(i.update_time),
        revision: i.revision,
        revenue: i.revenue,
        main_business_revenue: i.main_business_revenue,
        employees: i.employees,
        tech_staff: i.tech_staff,
        rd_expense: i.rd_expense,
        rd_domestic_share: i.rd_domestic_share,
        high_tech_revenue: i.high_tech_revenue,
        total_assets: i.total_assets,
        total_liabilities: i.total_liabilities,
        equity_financing: i.equity_financing,
        valuation: i.valuation,
        source: i.source,
    }
}

fn change_to_pb(c: ladder::StageChange) -> v1::StageChange {
    v1::StageChange {
        date: c.date.to_string(),
        from_stage: c.from as i32,
        to_stage: c.to as i32,
        cause: c.cause as i32,
        designation: c.designation,
        designation_kind: c.kind as i32,
        actor: c.actor,
        reason: c.reason,
    }
}

#[tonic::async_trait]
impl v1::cultivation_service_server::CultivationService for CultivationApi {
    async fn create_designation(&self, request: Request<v1::CreateDesignationRequest>) -> Reply<v1::Designation> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta = write_meta(&self.store, &request, &caller, "CreateDesignation", r, &r.request_id, |m| {
            m.request_id.clear()
        })?;
        let r = request.into_inner();
        let code = parse_resource_name("parent", &r.parent)?;
        let input = r.designation.ok_or_else(|| Error::invalid_field("designation", "REQUIRED", "is required"))?;
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let record = designation_from_pb(&code, &id, input)?;
        let actor = caller.name.clone();
        let stored = self
            .store
            .mutate_designation(code, id, meta, r.validate_only, move |current, now| {
                ladder::create_designation(current, record, &actor, now)
            })
            .await?;
        Ok(Response::new(designation_to_pb(stored)))
    }

    async fn get_designation(&self, request: Request<v1::GetDesignationRequest>) -> Reply<v1::Designation> {
        require(&request, Permission::Read)?;
        let (code, id) = parse_designation_name("name", &request.get_ref().name)?;
        let d = self
            .store
            .get_designation(&code, &id)?
            .ok_or_else(|| Error::NotFound { resource: ladder::designation_name(&code, &id) })?;
        Ok(Response::new(designation_to_pb(d)))
    }

    async fn update_designation(&self, request: Request<v1::UpdateDesignationRequest>) -> Reply<v1::Designation> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta = write_meta(&self.store, &request, &caller, "UpdateDesignation", r, &r.request_id, |m| {
            m.request_id.clear()
        })?;
        let r = request.into_inner();
        let input = r.designation.ok_or_else(|| Error::invalid_field("designation", "REQUIRED", "is required"))?;
        let (code, id) = parse_designation_name("designation.name", &input.name)?;
        let name = ladder::designation_name(&code, &id);
        let etag = if r.etag.is_empty() { input.etag.clone() } else { r.etag };
        let patch = designation_from_pb(&code, &id, input)?;
        let mask = match r.update_mask {
            Some(mask) => mask.paths,
            None => Designation::diff(&Designation::default(), &patch).into_iter().map(|c| c.field).collect(),
        };
        let actor = caller.name.clone();
        let stored = self
            .store
            .mutate_designation(code, id, meta, r.validate_only, move |current, now| {
                ladder::update_designation(current, &name, &patch, &mask, &etag, &actor, now)
            })
            .await?;
        Ok(Response::new(designation_to_pb(stored)))
    }

    async fn delete_designation(&self, request: Request<v1::DeleteDesignationRequest>) -> Reply<v1::Designation> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let mut meta = write_meta(&self.store, &request, &caller, "DeleteDesignation", r, &r.request_id, |m| {
            m.request_id.clear()
        })?;
        let r = request.into_inner();
        let (code, id) = parse_designation_name("name", &r.name)?;
        validate_reason("reason", &r.reason, false)?;
        meta.reason = r.reason.trim().to_string();
        let removed = self.store.delete_designation(code, id, r.etag, meta).await?;
        Ok(Response::new(designation_to_pb(removed)))
    }

    async fn list_designations(
        &self,
        request: Request<v1::ListDesignationsRequest>,
    ) -> Reply<v1::ListDesignationsResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let size = page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let code = match r.parent.trim() {
            "enterprises/-" => None,
            parent => Some(parse_resource_name("parent", parent)?),
        };
        let filter = parse_designation_filter(&r.filter)?;
        let digest = page_token::query_digest(&["ListDesignations", r.parent.trim(), r.filter.trim()]);
        let key = self.store.token_key().to_vec();
        let after = page_token::decode(&key, &digest, &r.page_token)?.map(|resume| resume.position);
        let (items, resume) = self.store.list_designations(code, filter, after, size).await?;
        Ok(Response::new(v1::ListDesignationsResponse {
            designations: items.into_iter().map(designation_to_pb).collect(),
            next_page_token: resume.map(|p| page_token::encode(&key, &digest, p, None)).unwrap_or_default(),
        }))
    }

    async fn revoke_designation(&self, request: Request<v1::RevokeDesignationRequest>) -> Reply<v1::Designation> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta = write_meta(&self.store, &request, &caller, "RevokeDesignation", r, &r.request_id, |m| {
            m.request_id.clear()
        })?;
        let r = request.into_inner();
        let (code, id) = parse_designation_name("name", &r.name)?;
        let name = ladder::designation_name(&code, &id);
        let date = optional_date("ended_date", &r.ended_date, Date::today())?;
        if !r.barred_until.trim().is_empty() {
            optional_date("barred_until", &r.barred_until, date)?;
        }
        let actor = caller.name.clone();
        let stored = self
            .store
            .mutate_designation(code, id, meta, false, move |current, now| {
                ladder::revoke(current, &name, date, &r.reason, &r.barred_until, &r.etag, &actor, now)
            })
            .await?;
        Ok(Response::new(designation_to_pb(stored)))
    }

    async fn get_enterprise_stage(
        &self,
        request: Request<v1::GetEnterpriseStageRequest>,
    ) -> Reply<v1::EnterpriseStage> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let code = parse_resource_name("name", &r.name)?;
        self.store.get_enterprise(&code)?.ok_or_else(|| Error::NotFound { resource: resource_name(&code) })?;
        let as_of = optional_date("as_of", &r.as_of, Date::today())?;
        let designations = self.store.designations_of(&code)?;
        let (stage, since) = ladder::stage_since(&designations, as_of);
        let history = ladder::timeline(&designations, as_of);
        let spells = ladder::spells(&history);
        Ok(Response::new(v1::EnterpriseStage {
            enterprise: resource_name(&code),
            as_of: as_of.to_string(),
            stage: stage as i32,
            stage_since: since.map(|d| d.to_string()).unwrap_or_default(),
            valid_designations: designations
                .iter()
                .filter(|d| d.counts_on(as_of))
                .cloned()
                .map(designation_to_pb)
                .collect(),
            history: history.into_iter().map(change_to_pb).collect(),
            spells: spells
                .into_iter()
                .map(|s| v1::StageSpell {
                    stage: s.stage as i32,
                    entered: s.entered.to_string(),
                    exited: s.exited.map(|d| d.to_string()).unwrap_or_default(),
                    days: s.days(as_of),
                })
                .collect(),
        }))
    }

    async fn update_annual_indicators(
        &self,
        request: Request<v1::UpdateAnnualIndicatorsRequest>,
    ) -> Reply<v1::AnnualIndicators> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta = write_meta(&self.store, &request, &caller, "UpdateAnnualIndicators", r, &r.request_id, |m| {
            m.request_id.clear()
        })?;
        let r = request.into_inner();
        let input = r.indicators.ok_or_else(|| Error::invalid_field("indicators", "REQUIRED", "is required"))?;
        let (code, year) = parse_indicators_name("indicators.name", &input.name)?;
        let etag = if r.etag.is_empty() { input.etag.clone() } else { r.etag };
        let patch = indicators_from_pb(input);
        let mask = r.update_mask.map(|m| m.paths).unwrap_or_else(|| patch.populated_fields());
        let stored = self
            .store
            .mutate_indicators(code.clone(), year, meta, r.validate_only, move |current, now| {
                indicators::upsert(current, &code, year, &patch, &mask, &etag, now)
            })
            .await?;
        Ok(Response::new(indicators_to_pb(stored)))
    }

    async fn get_annual_indicators(
        &self,
        request: Request<v1::GetAnnualIndicatorsRequest>,
    ) -> Reply<v1::AnnualIndicators> {
        require(&request, Permission::Read)?;
        let (code, year) = parse_indicators_name("name", &request.get_ref().name)?;
        let found = self
            .store
            .get_indicators(&code, year)?
            .ok_or_else(|| Error::NotFound { resource: indicators::indicators_name(&code, year) })?;
        Ok(Response::new(indicators_to_pb(found)))
    }

    async fn list_annual_indicators(
        &self,
        request: Request<v1::ListAnnualIndicatorsRequest>,
    ) -> Reply<v1::ListAnnualIndicatorsResponse> {
        require(&request, Permission::Read)?;
        let code = parse_resource_name("parent", &request.get_ref().parent)?;
        let mut all = self.store.indicators_of(&code)?;
        all.reverse();
        Ok(Response::new(v1::ListAnnualIndicatorsResponse {
            indicators: all.into_iter().map(indicators_to_pb).collect(),
        }))
    }

    async fn get_policy(&self, request: Request<v1::GetPolicyRequest>) -> Reply<v1::Policy> {
        require(&request, Permission::Read)?;
        let as_of = optional_date("as_of", &request.get_ref().as_of, Date::today())?;
        let version = self.policy.in_force(as_of);
        Ok(Response::new(v1::Policy {
            version: version.id.clone(),
            effective_from: version.effective_from.clone(),
            effective_until: version.effective_until.clone(),
            source: self.policy.source.clone(),
            text: version.to_toml(),
        }))
    }

    async fn get_funnel(&self, request: Request<v1::GetFunnelRequest>) -> Reply<v1::Funnel> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let as_of = optional_date("as_of", &r.as_of, Date::today())?;
        let counts = self.store.funnel(Filter::parse(&r.filter)?, as_of).await?;
        let n = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
        Ok(Response::new(v1::Funnel {
            as_of: as_of.to_string(),
            firms: n(counts.firms),
            by_stage: std::iter::once(Stage::Unspecified)
                .chain(Stage::RUNGS)
                .map(|st| v1::StageCount {
                    stage: st as i32,
                    label: st.label_zh().into(),
                    count: n(counts.by_stage.get(&st).copied().unwrap_or(0)),
                })
                .collect(),
            by_kind: DesignationKind::ALL
                .into_iter()
                .map(|k| v1::KindCount {
                    kind: k as i32,
                    label: k.label_zh().into(),
                    count: n(counts.by_kind.get(&k).copied().unwrap_or(0)),
                })
                .collect(),
        }))
    }

    async fn list_stage_movements(&self, request: Request<v1::ListStageMovementsRequest>) -> Reply<v1::StageMovements> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let today = Date::today();
        let start = optional_date("period_start", &r.period_start, first_of_year(today))?;
        let end = optional_date("period_end", &r.period_end, today)?;
        if end < start {
            return Err(Error::invalid_field(
                "period_end",
                "INVALID_RANGE",
                format!("{end} is before period_start {start}"),
            )
            .into());
        }
        let movements = self.store.movements(Filter::parse(&r.filter)?, start, end).await?;
        let mut promotions = std::collections::BTreeMap::new();
        let mut regressions = std::collections::BTreeMap::new();
        for m in &movements {
            if m.change.to > m.change.from {
                *promotions.entry(m.change.to).or_insert(0) += 1;
            } else {
                *regressions.entry(m.change.from).or_insert(0) += 1;
            }
        }
        let counts = |map: &std::collections::BTreeMap<Stage, i32>| {
            Stage::RUNGS
                .iter()
                .map(|st| v1::StageCount {
                    stage: *st as i32,
                    label: st.label_zh().into(),
                    count: map.get(st).copied().unwrap_or(0),
                })
                .collect()
        };
        Ok(Response::new(v1::StageMovements {
            period_start: start.to_string(),
            period_end: end.to_string(),
            promotions: counts(&promotions),
            regressions: counts(&regressions),
            movements: movements
                .into_iter()
                .map(|m| v1::Movement {
                    enterprise: resource_name(&m.credit_code),
                    display_name: m.display_name,
                    change: Some(change_to_pb(m.change)),
                })
                .collect(),
        }))
    }

    async fn get_cohort_velocity(&self, request: Request<v1::GetCohortVelocityRequest>) -> Reply<v1::CohortVelocity> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let stage = Stage::try_from(r.stage)
            .ok()
            .filter(|s| *s != Stage::Unspecified && *s != Stage::Listed)
            .ok_or_else(|| {
                Error::invalid_field(
                    "stage",
                    "INVALID_STAGE",
                    "choose a stage below STAGE_LISTED to follow firms up from",
                )
            })?;
        let today = Date::today();
        if r.year < indicators::FIRST_YEAR || i64::from(r.year) > today.ymd().0 {
            return Err(Error::invalid_field(
                "year",
                "INVALID_YEAR",
                format!("{} is not a past or current year", r.year),
            )
            .into());
        }
        let members = self.store.cohort(Filter::parse(&r.filter)?, stage, i64::from(r.year), today).await?;
        let mut days: Vec<i64> = members.iter().filter_map(|m| m.advanced.map(|a| a.days_since(m.entered))).collect();
        days.sort_unstable();
        let median = match days.len() {
            0 => 0,
            n if n % 2 == 1 => days[n / 2],
            n => (days[n / 2 - 1] + days[n / 2]) / 2,
        };
        Ok(Response::new(v1::CohortVelocity {
            stage: stage as i32,
            year: r.year,
            cohort: i32::try_from(members.len()).unwrap_or(i32::MAX),
            advanced: i32::try_from(days.len()).unwrap_or(i32::MAX),
            median_days: median,
            members: members
                .into_iter()
                .map(|m| v1::CohortMember {
                    enterprise: resource_name(&m.credit_code),
                    entered: m.entered.to_string(),
                    advanced: m.advanced.map(|d| d.to_string()).unwrap_or_default(),
                    days: m.advanced.map_or(0, |a| a.days_since(m.entered)),
                })
                .collect(),
        }))
    }

    async fn list_candidates(&self, request: Request<v1::ListCandidatesRequest>) -> Reply<v1::ListCandidatesResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let target = enum_field::<DesignationKind>("target", r.target)?;
        let target = Some(target).filter(|k| policy::TARGETS.contains(k)).ok_or_else(|| {
            let names: Vec<&str> = policy::TARGETS.iter().map(|k| k.name()).collect();
            Error::invalid_field(
                "target",
                "UNSUPPORTED_TARGET",
                format!("candidates can be listed for {}", names.join(", ")),
            )
        })?;
        let today = Date::today();
        let year = if r.year == 0 { i32::try_from(today.ymd().0 - 1).unwrap_or(0) } else { r.year };
        if year < indicators::FIRST_YEAR || i64::from(year) > today.ymd().0 {
            return Err(
                Error::invalid_field("year", "INVALID_YEAR", format!("{year} is not a past or current year")).into()
            );
        }
        let size = page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let version = Arc::new(self.policy.in_force(today).clone());
        let mut evaluated =
            self.store.candidates(Filter::parse(&r.filter)?, target, year, Arc::clone(&version), today).await?;
        let tally = |c: &[policy::Criterion], v: Verdict| c.iter().filter(|x| x.verdict == v).count();
        evaluated.retain(|e| r.include_missed || tally(&e.criteria, Verdict::Missed) == 0);
        evaluated.sort_by(|a, b| {
            (
                tally(&a.criteria, Verdict::Missed),
                std::cmp::Reverse(tally(&a.criteria, Verdict::Met)),
                &a.firm.credit_code,
            )
                .cmp(&(
                    tally(&b.criteria, Verdict::Missed),
                    std::cmp::Reverse(tally(&b.criteria, Verdict::Met)),
                    &b.firm.credit_code,
                ))
        });
        evaluated.truncate(size);
        let n = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
        Ok(Response::new(v1::ListCandidatesResponse {
            target: target as i32,
            year,
            policy_version: version.id.clone(),
            candidates: evaluated
                .into_iter()
                .map(|e| v1::Candidate {
                    enterprise: e.firm.resource_name(),
                    display_name: e.firm.display_name.clone(),
                    stage: e.firm.stage_on(today) as i32,
                    met: n(tally(&e.criteria, Verdict::Met)),
                    missed: n(tally(&e.criteria, Verdict::Missed)),
                    unknown: n(tally(&e.criteria, Verdict::Unknown)),
                    criteria: e
                        .criteria
                        .into_iter()
                        .map(|c| v1::Criterion {
                            key: c.key.into(),
                            description: c.description.into(),
                            value: c.value,
                            threshold: c.threshold,
                            status: match c.verdict {
                                Verdict::Met => v1::CriterionStatus::Met,
                                Verdict::Missed => v1::CriterionStatus::Missed,
                                Verdict::Unknown => v1::CriterionStatus::Unknown,
                            } as i32,
                        })
                        .collect(),
                })
                .collect(),
        }))
    }

    async fn list_expiring_designations(
        &self,
        request: Request<v1::ListExpiringDesignationsRequest>,
    ) -> Reply<v1::ListExpiringDesignationsResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let within = match r.within_days {
            0 => 90,
            d if (1..=3660).contains(&d) => d,
            d => {
                return Err(
                    Error::invalid_field("within_days", "OUT_OF_RANGE", format!("{d}: use 1 to 3660 days")).into()
                )
            }
        };
        let kind = match enum_field::<DesignationKind>("kind", r.kind)? {
            DesignationKind::Unspecified => None,
            k => Some(k),
        };
        let today = Date::today();
        let found = self.store.expiring(today, today.add_days(i64::from(within)), kind).await?;
        let names = found.iter().map(|d| self.display_name(&d.credit_code)).collect::<Result<Vec<_>>>()?;
        Ok(Response::new(v1::ListExpiringDesignationsResponse {
            designations: found.into_iter().map(designation_to_pb).collect(),
            display_names: names,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn designation_names_and_filters_parse() {
        let (code, id) = parse_designation_name("name", "enterprises/91350100m000100y43/designations/ab12").unwrap();
        assert_eq!((code.as_str(), id.as_str()), ("91350100M000100Y43", "ab12"));
        assert!(parse_designation_name("name", "enterprises/91350100M000100Y43/designations/a b").is_err());
        let f = parse_designation_filter("kind = high_tech status = GRANTED").unwrap();
        assert_eq!((f.kind, f.status), (Some(DesignationKind::HighTech), Some(DStatus::Granted)));
        assert_eq!(parse_designation_filter("colour = red").unwrap_err().reason(), "UNKNOWN_FILTER_FIELD");
    }
}
