//! `ladder.v1.EnterpriseService`: the enterprise registry.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::api::{convert, fitting, page_size, page_token, write_meta};
use crate::auth::{require, Permission};
use crate::domain::credit_code::{normalise, region_name, CreditCode, OrganisationType};
use crate::domain::enterprise::{self, parse_resource_name, resource_name, validate_reason, CreditCodeOverride, Rules};
use crate::domain::filter::Filter;
use crate::error::{Error, Result};
use crate::pb::v1;

use crate::store::{position_of, ListQuery, OrderKey, Store};

/// Default enterprises per page.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Most enterprises per page.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Serves the enterprise registry.
#[derive(Clone)]
pub struct EnterpriseApi {
    store: Store,
    rules: Arc<Rules>,
    response_limit: usize,
    site: Arc<Site>,
}

/// What `WhoAmI` tells about the server beyond the caller.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// Whether the server checks tokens (false: everyone is the local admin).
    pub tokens_required: bool,
    /// The configured promotion zones.
    pub zones: Vec<crate::config::Zone>,
}

impl EnterpriseApi {
    /// A service over `store`, validating with `rules`.
    pub fn new(store: Store, rules: Rules) -> Self {
        let response_limit = crate::config::ServerConfig::default().max_message_bytes;
        Self { store, rules: Arc::new(rules), response_limit, site: Arc::default() }
    }

    /// Tells `WhoAmI` callers about the server's zones and whether it checks tokens.
    pub fn with_site(mut self, site: Site) -> Self {
        self.site = Arc::new(site);
        self
    }

    /// Lists return pages of at most `bytes` (the server's message limit).
    pub fn with_response_limit(mut self, bytes: usize) -> Self {
        self.response_limit = bytes;
        self
    }
}

impl EnterpriseApi {
    /// The API view of a record, with its alliances' names filled in.
    fn view(&self, e: crate::domain::enterprise::Enterprise) -> Result<v1::Enterprise> {
        let mut pb = convert::enterprise_to_pb(e);
        for m in &mut pb.memberships {
            let id = m.alliance.trim_start_matches("alliances/");
            m.alliance_display_name = self.store.get_alliance(id)?.map(|a| a.display_name).unwrap_or_default();
        }
        Ok(pb)
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl v1::enterprise_service_server::EnterpriseService for EnterpriseApi {
    async fn create_enterprise(&self, request: Request<v1::CreateEnterpriseRequest>) -> Reply<v1::Enterprise> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "CreateEnterprise", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let input = r.enterprise.ok_or_else(|| Error::invalid_field("enterprise", "REQUIRED", "is required"))?;
        let override_reason = r.credit_code_override_reason.trim().to_string();
        let (code, code_override) = match CreditCode::parse(&input.credit_code) {
            Ok(code) if override_reason.is_empty() => (code, None),
            Ok(_) => {
                return Err(Error::invalid_field(
                    "credit_code_override_reason",
                    "OVERRIDE_NOT_NEEDED",
                    "the credit code passes its checks: leave the override reason empty",
                )
                .into())
            }
            Err(e) if e.is_check_mismatch() && !override_reason.is_empty() => {
                if !caller.role.allows(Permission::Admin) {
                    return Err(Error::PermissionDenied {
                        reason: "OVERRIDE_NEEDS_ADMIN",
                        message: format!("only an admin may register a code that fails its checks ({e})"),
                    }
                    .into());
                }
                validate_reason("credit_code_override_reason", &override_reason, true)?;
                let code = CreditCode::parse_unverified(&input.credit_code)
                    .map_err(|e| Error::invalid_field("enterprise.credit_code", e.reason(), e.to_string()))?;
                let problems = code.verify().iter().map(ToString::to_string).collect();
                let record = CreditCodeOverride {
                    reason: override_reason.clone(),
                    actor: caller.name.clone(),
                    time: 0,
                    problems,
                };
                (code, Some(record))
            }
            Err(e) => {
                let hint = if e.is_check_mismatch() {
                    " (if staff verified this code on the national registry, an admin can register it with credit_code_override_reason)"
                } else {
                    ""
                };
                return Err(Error::invalid_field("enterprise.credit_code", e.reason(), format!("{e}{hint}")).into());
            }
        };
        let mut record = convert::enterprise_from_pb(input);
        record.credit_code = code.as_str().to_string();
        if record.region_code.trim().is_empty() {
            record.region_code = code.region_code().to_string();
        }
        record.normalise();
        record.validate(&self.rules).map_err(|e| e.in_field("enterprise"))?;
        record.credit_code_override = code_override;
        let uid = *uuid::Uuid::new_v4().as_bytes();
        let mut meta = meta;
        meta.reason = override_reason;
        let stored = self
            .store
            .mutate_enterprise(code.as_str().to_string(), meta, r.validate_only, move |current, now| {
                if let Some(o) = record.credit_code_override.as_mut() {
                    o.time = now;
                }
                enterprise::create(current, record, uid, now)
            })
            .await?;
        Ok(Response::new(self.view(stored)?))
    }

    async fn get_enterprise(&self, request: Request<v1::GetEnterpriseRequest>) -> Reply<v1::Enterprise> {
        require(&request, Permission::Read)?;
        let code = parse_resource_name("name", &request.get_ref().name)?;
        let record =
            self.store.get_enterprise(&code)?.ok_or_else(|| Error::NotFound { resource: resource_name(&code) })?;
        Ok(Response::new(self.view(record)?))
    }

    async fn update_enterprise(&self, request: Request<v1::UpdateEnterpriseRequest>) -> Reply<v1::Enterprise> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "UpdateEnterprise", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let input = r.enterprise.ok_or_else(|| Error::invalid_field("enterprise", "REQUIRED", "is required"))?;
        let code = parse_resource_name("enterprise.name", &input.name)?;
        let name = resource_name(&code);
        let etag = if r.etag.is_empty() { input.etag.clone() } else { r.etag };
        let patch = convert::enterprise_from_pb(input);
        let mask = match r.update_mask {
            Some(mask) => mask.paths,
            None => patch.populated_fields(),
        };
        let rules = Arc::clone(&self.rules);
        let stored = self
            .store
            .mutate_enterprise(code, meta, r.validate_only, move |current, now| {
                enterprise::update(current, &name, &patch, &mask, &etag, &rules, now)
            })
            .await?;
        Ok(Response::new(self.view(stored)?))
    }

    async fn delete_enterprise(&self, request: Request<v1::DeleteEnterpriseRequest>) -> Reply<v1::Enterprise> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let mut meta =
            write_meta(&self.store, &request, &caller, "DeleteEnterprise", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let code = parse_resource_name("name", &r.name)?;
        validate_reason("reason", &r.reason, false)?;
        meta.reason = r.reason.trim().to_string();
        let name = resource_name(&code);
        let rule = move |current, now| enterprise::delete(current, &name, &r.etag, &r.reason, now);
        let stored = self.store.delete_enterprise(code, meta, r.validate_only, r.force, rule).await?;
        Ok(Response::new(self.view(stored)?))
    }

    async fn undelete_enterprise(&self, request: Request<v1::UndeleteEnterpriseRequest>) -> Reply<v1::Enterprise> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta = write_meta(&self.store, &request, &caller, "UndeleteEnterprise", r, &r.request_id, |m| {
            m.request_id.clear()
        })?;
        let r = request.into_inner();
        let code = parse_resource_name("name", &r.name)?;
        let name = resource_name(&code);
        let stored = self
            .store
            .mutate_enterprise(code, meta, r.validate_only, move |current, now| {
                enterprise::undelete(current, &name, &r.etag, now)
            })
            .await?;
        Ok(Response::new(self.view(stored)?))
    }

    async fn list_enterprises(
        &self,
        request: Request<v1::ListEnterprisesRequest>,
    ) -> Reply<v1::ListEnterprisesResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let size = page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let filter = Filter::parse(&r.filter)?;
        let (order, desc) = parse_order_by(&r.order_by)?;
        let digest = page_token::query_digest(&[
            "ListEnterprises",
            r.filter.trim(),
            r.order_by.trim(),
            if r.show_deleted { "deleted" } else { "" },
        ]);
        let key = self.store.token_key().to_vec();
        let resume = page_token::decode(&key, &digest, &r.page_token)?;
        let (after, known_total, known_estimated) = match resume {
            Some(resume) => (Some(resume.position), resume.total, resume.estimated),
            None => (None, None, false),
        };
        let page = self
            .store
            .list_enterprises(ListQuery {
                filter,
                order,
                desc,
                show_deleted: r.show_deleted,
                page_size: size,
                after,
                count_total: known_total.is_none(),
                scan_budget: None,
                count_reads: None,
            })
            .await?;
        let total = known_total.or(page.total).unwrap_or(0);
        let estimated = if known_total.is_some() { known_estimated } else { page.total.is_some() && !page.exact_total };
        let mut positions = Vec::with_capacity(page.items.len());
        let mut enterprises = Vec::with_capacity(page.items.len());
        for e in page.items {
            positions.push(position_of(&e, order)?);
            enterprises.push(self.view(e)?);
        }
        // A page of long records may not fit one message: shorten it and
        // resume after its last firm.
        let fit = fitting(&enterprises, self.response_limit);
        let resume = if fit < enterprises.len() {
            tracing::debug!(size, fit, "ListEnterprises page shortened to fit the message limit");
            enterprises.truncate(fit);
            positions.into_iter().nth(fit - 1)
        } else {
            page.resume
        };
        Ok(Response::new(v1::ListEnterprisesResponse {
            enterprises,
            next_page_token: resume
                .map(|position| page_token::encode_estimated(&key, &digest, position, Some(total), estimated))
                .unwrap_or_default(),
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
            total_size_estimated: estimated,
        }))
    }

    async fn validate_credit_code(
        &self,
        request: Request<v1::ValidateCreditCodeRequest>,
    ) -> Reply<v1::ValidateCreditCodeResponse> {
        require(&request, Permission::Read)?;
        let input = request.into_inner().credit_code;
        let normalised = normalise(&input);
        let mut response = v1::ValidateCreditCodeResponse { credit_code: normalised.clone(), ..Default::default() };
        match CreditCode::parse_unverified(&normalised) {
            Ok(code) => {
                let problems = code.verify();
                response.valid = problems.is_empty();
                response.problems = problems.iter().map(ToString::to_string).collect();
                let org_type = OrganisationType::from_code(&code.as_str()[0..2]);
                response.organisation_type = org_type.code;
                response.organisation_type_label = org_type.label_zh.to_string();
                response.registration_region_code = code.region_code().to_string();
                response.region_name = region_name(code.region_code()).unwrap_or("").to_string();
                if self.store.get_enterprise(code.as_str())?.is_some() {
                    response.registered_as = resource_name(code.as_str());
                }
            }
            Err(e) => response.problems = vec![e.to_string()],
        }
        Ok(Response::new(response))
    }

    async fn ping(&self, request: Request<()>) -> Reply<()> {
        require(&request, Permission::Read)?;
        Ok(Response::new(()))
    }

    async fn who_am_i(&self, request: Request<v1::WhoAmIRequest>) -> Reply<v1::WhoAmIResponse> {
        let caller = require(&request, Permission::Read)?;
        let role = caller.role;
        Ok(Response::new(v1::WhoAmIResponse {
            name: caller.name,
            role: role.name().into(),
            tokens_required: self.site.tokens_required,
            may_write: role.allows(Permission::Write),
            may_sync: role.allows(Permission::Sync),
            may_revert: role.allows(Permission::Revert),
            may_admin: role.allows(Permission::Admin),
            zones: self
                .site
                .zones
                .iter()
                .map(|z| v1::ZoneInfo {
                    id: z.id.clone(),
                    display_name: z.name.clone(),
                    department: z.department.clone(),
                })
                .collect(),
        }))
    }
}

/// Parses `order_by`: one of `credit_code`, `display_name`, `create_time`,
/// optionally followed by `desc` (or `asc`).
fn parse_order_by(order_by: &str) -> Result<(OrderKey, bool)> {
    let words: Vec<&str> = order_by.split_whitespace().collect();
    let bad = || {
        Error::invalid_field(
            "order_by",
            "INVALID_ORDER_BY",
            format!("{order_by:?} is not supported: use credit_code, display_name or create_time, optionally followed by desc"),
        )
    };
    let key = match words.first().copied() {
        None | Some("credit_code") => OrderKey::CreditCode,
        Some("display_name") => OrderKey::DisplayName,
        Some("create_time") => OrderKey::CreateTime,
        Some(_) => return Err(bad()),
    };
    let direction: Vec<String> = words.iter().skip(1).map(|w| w.to_ascii_lowercase()).collect();
    let desc = match direction.as_slice() {
        [] => false,
        [d] if d == "asc" => false,
        [d] if d == "desc" => true,
        _ => return Err(bad()),
    };
    Ok((key, desc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_by_accepts_the_documented_forms_only() {
        assert_eq!(parse_order_by("").unwrap(), (OrderKey::CreditCode, false));
        assert_eq!(parse_order_by("display_name desc").unwrap(), (OrderKey::DisplayName, true));
        assert_eq!(parse_order_by(" create_time  asc ").unwrap(), (OrderKey::CreateTime, false));
        assert_eq!(parse_order_by("create_time DESC").unwrap(), (OrderKey::CreateTime, true));
        for bad in ["colour", "display_name sideways", "credit_code desc extra"] {
            assert_eq!(parse_order_by(bad).unwrap_err().reason(), "INVALID_ORDER_BY");
        }
    }
}
