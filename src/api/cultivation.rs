//! `ladder.v1.CultivationService`: designations and derived stages.

use tonic::{Request, Response, Status};

use crate::api::convert::timestamp;
use crate::api::{page_size, page_token, write_meta};
use crate::auth::{require, Permission};
use crate::domain::credit_code::CreditCode;
use crate::domain::enterprise::{parse_resource_name, resource_name, validate_reason};
use crate::domain::filter::{filter_error, parse_terms, unknown_field, Op};
use crate::domain::ladder::{self, Designation, DesignationKind, Stage, Status as DStatus};
use crate::domain::time::Date;
use crate::error::{Error, Result};
use crate::pb::v1;
use crate::store::{DesignationFilter, Store};

/// Default designations per page.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Most designations per page.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Serves designations and stages.
#[derive(Clone)]
pub struct CultivationApi {
    store: Store,
}

impl CultivationApi {
    /// A service over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
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

/// The editable fields of a request's designation.
fn designation_from_pb(credit_code: &str, id: &str, d: v1::Designation) -> Designation {
    Designation {
        credit_code: credit_code.to_string(),
        id: id.to_string(),
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
        ..Default::default()
    }
}

/// `enterprises/{code}/designations/{id}` → (code, id).
fn parse_designation_name(field: &str, name: &str) -> Result<(String, String)> {
    let bad = || {
        Error::invalid_field(
            field,
            "INVALID_RESOURCE_NAME",
            format!("{name:?} is not of the form enterprises/{{credit_code}}/designations/{{designation_id}}"),
        )
    };
    let rest = name.trim().strip_prefix("enterprises/").ok_or_else(bad)?;
    let (code, id) = rest.split_once("/designations/").ok_or_else(bad)?;
    let code =
        CreditCode::parse_unverified(code).map_err(|e| Error::invalid_field(field, e.reason(), e.to_string()))?;
    let id_ok = (1..=40).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !id_ok {
        return Err(bad());
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

fn optional_date(field: &str, value: &str, default: Date) -> Result<Date> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(default);
    }
    Date::parse(value)
        .ok_or_else(|| Error::invalid_field(field, "INVALID_DATE", format!("{value:?} is not a date YYYY-MM-DD")))
}

#[tonic::async_trait]
impl v1::cultivation_service_server::CultivationService for CultivationApi {
    async fn create_designation(&self, request: Request<v1::CreateDesignationRequest>) -> Reply<v1::Designation> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta = write_meta(&request, &caller, "CreateDesignation", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let code = parse_resource_name("parent", &r.parent)?;
        let input = r.designation.ok_or_else(|| Error::invalid_field("designation", "REQUIRED", "is required"))?;
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let record = designation_from_pb(&code, &id, input);
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
        let meta = write_meta(&request, &caller, "UpdateDesignation", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let input = r.designation.ok_or_else(|| Error::invalid_field("designation", "REQUIRED", "is required"))?;
        let (code, id) = parse_designation_name("designation.name", &input.name)?;
        let name = ladder::designation_name(&code, &id);
        let etag = if r.etag.is_empty() { input.etag.clone() } else { r.etag };
        let patch = designation_from_pb(&code, &id, input);
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
        let mut meta = write_meta(&request, &caller, "DeleteDesignation", r, &r.request_id, |m| m.request_id.clear())?;
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
        let meta = write_meta(&request, &caller, "RevokeDesignation", r, &r.request_id, |m| m.request_id.clear())?;
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
            history: history
                .into_iter()
                .map(|c| v1::StageChange {
                    date: c.date.to_string(),
                    from_stage: c.from as i32,
                    to_stage: c.to as i32,
                    cause: c.cause as i32,
                    designation: c.designation,
                    designation_kind: c.kind as i32,
                    actor: c.actor,
                    reason: c.reason,
                })
                .collect(),
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
