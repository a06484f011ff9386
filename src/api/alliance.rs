//! `ladder.v1.AllianceService`: alliances and their rosters.

use tonic::{Request, Response, Status};

use crate::api::{convert, page_size, page_token, write_meta};
use crate::auth::{require, Permission};
use crate::domain::alliance::{
    self, check_alliance_id, membership_name, parse_alliance_name, EndReason, MembershipState, Role,
};
use crate::domain::credit_code::CreditCode;
use crate::domain::enterprise::validate_reason;
use crate::domain::filter::{filter_error, parse_terms, unknown_field, Op};
use crate::domain::time::Date;
use crate::domain::update::split_name;
use crate::error::{Error, Result};
use crate::pb::v1;
use crate::store::{MembershipFilter, MembershipUpdate, Store};

/// Default alliances or memberships per page.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Most alliances or memberships per page.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Serves alliances and memberships.
#[derive(Clone)]
pub struct AllianceApi {
    store: Store,
}

impl AllianceApi {
    /// A service over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    fn alliance_pb(&self, a: alliance::Alliance) -> Result<v1::Alliance> {
        let members = self.store.active_members(&a.id)?;
        Ok(convert::alliance_to_pb(a, members))
    }

    fn membership_pb(&self, m: alliance::Membership) -> Result<v1::Membership> {
        let name = self.store.get_enterprise(&m.credit_code)?.map(|e| e.display_name).unwrap_or_default();
        let alliance = self.store.get_alliance(&m.alliance_id)?.map(|a| a.display_name).unwrap_or_default();
        Ok(convert::membership_to_pb(m, name, alliance))
    }
}

type Reply<T> = Result<Response<T>, Status>;

/// `alliances/{id}/memberships/{code}` → (id, normalised code).
fn parse_membership_name(field: &str, name: &str) -> Result<(String, String)> {
    let shape = "alliances/{alliance_id}/memberships/{credit_code}";
    let (id, code) = split_name(field, name, "alliances/", "/memberships/", shape)?;
    check_alliance_id(field, id)?;
    let code =
        CreditCode::parse_unverified(code).map_err(|e| Error::invalid_field(field, e.reason(), e.to_string()))?;
    Ok((id.to_string(), code.as_str().to_string()))
}

fn role_of(field: &str, value: i32) -> Result<Role> {
    crate::api::enum_field(field, value)
}

/// The end reason of a request; the reasons the system records on forced
/// deletes cannot be given by hand.
fn end_reason_of(value: i32) -> Result<EndReason> {
    match crate::api::enum_field::<EndReason>("reason", value) {
        Ok(EndReason::AllianceDissolved | EndReason::EnterpriseDeleted) => Err(Error::invalid_field(
            "reason",
            "SYSTEM_REASON",
            "ALLIANCE_DISSOLVED and ENTERPRISE_DELETED are recorded by forced deletes; \
             use WITHDREW, LAPSED, EXPELLED, ORGANISATION_DISSOLVED or OTHER",
        )),
        Ok(reason) => Ok(reason),
        Err(e) => Err(e),
    }
}

/// Parses the `ListMemberships` filter: `state`, `role`, `credit_code`, ANDed.
fn parse_membership_filter(input: &str) -> Result<MembershipFilter> {
    let mut filter = MembershipFilter::default();
    for term in parse_terms(input)? {
        if term.negated || term.op != Op::Eq {
            return Err(filter_error(format!("{}: only `field = value` conditions are supported here", term.field)));
        }
        match term.field.as_str() {
            "state" => {
                filter.state = Some(match term.value.to_ascii_uppercase().trim_start_matches("MEMBERSHIP_STATE_") {
                    "ACTIVE" => MembershipState::Active,
                    "ENDED" => MembershipState::Ended,
                    other => return Err(filter_error(format!("state: {other:?} is not ACTIVE or ENDED"))),
                })
            }
            "role" => {
                filter.role = Some(
                    Role::parse(&term.value)
                        .ok_or_else(|| filter_error(format!("role: {:?} is not a membership role", term.value)))?,
                )
            }
            "credit_code" => {
                let code =
                    CreditCode::parse_unverified(&term.value).map_err(|e| filter_error(format!("credit_code: {e}")))?;
                filter.credit_code = Some(code.as_str().to_string());
            }
            other => return Err(unknown_field(other, ["state", "role", "credit_code"].into_iter())),
        }
    }
    Ok(filter)
}

#[tonic::async_trait]
impl v1::alliance_service_server::AllianceService for AllianceApi {
    async fn create_alliance(&self, request: Request<v1::CreateAllianceRequest>) -> Reply<v1::Alliance> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "CreateAlliance", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let id = r.alliance_id.trim().to_string();
        check_alliance_id("alliance_id", &id)?;
        let input = r.alliance.ok_or_else(|| Error::invalid_field("alliance", "REQUIRED", "is required"))?;
        let record = convert::alliance_from_pb(&id, input)?;
        let stored = self
            .store
            .mutate_alliance(id, meta, r.validate_only, move |current, now| {
                alliance::create_alliance(current, record, now)
            })
            .await?;
        Ok(Response::new(self.alliance_pb(stored)?))
    }

    async fn get_alliance(&self, request: Request<v1::GetAllianceRequest>) -> Reply<v1::Alliance> {
        require(&request, Permission::Read)?;
        let id = parse_alliance_name("name", &request.get_ref().name)?;
        let a =
            self.store.get_alliance(&id)?.ok_or_else(|| Error::NotFound { resource: alliance::alliance_name(&id) })?;
        Ok(Response::new(self.alliance_pb(a)?))
    }

    async fn update_alliance(&self, request: Request<v1::UpdateAllianceRequest>) -> Reply<v1::Alliance> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "UpdateAlliance", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let input = r.alliance.ok_or_else(|| Error::invalid_field("alliance", "REQUIRED", "is required"))?;
        let id = parse_alliance_name("alliance.name", &input.name)?;
        let name = alliance::alliance_name(&id);
        let etag = if r.etag.is_empty() { input.etag.clone() } else { r.etag };
        let patch = convert::alliance_from_pb(&id, input)?;
        let mask = match r.update_mask {
            Some(mask) => mask.paths,
            None => {
                let mut implied = Vec::new();
                for (field, set) in [
                    ("display_name", !patch.display_name.is_empty()),
                    ("kind", patch.kind != 0),
                    ("description", !patch.description.is_empty()),
                    ("secretariat", !patch.secretariat.is_empty()),
                    ("founding_date", !patch.founding_date.is_empty()),
                ] {
                    if set {
                        implied.push(field.to_string());
                    }
                }
                implied
            }
        };
        let stored = self
            .store
            .mutate_alliance(id, meta, r.validate_only, move |current, now| {
                alliance::update_alliance(current, &name, &patch, &mask, &etag, now)
            })
            .await?;
        Ok(Response::new(self.alliance_pb(stored)?))
    }

    async fn delete_alliance(&self, request: Request<v1::DeleteAllianceRequest>) -> Reply<v1::Alliance> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let mut meta =
            write_meta(&self.store, &request, &caller, "DeleteAlliance", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let id = parse_alliance_name("name", &r.name)?;
        validate_reason("reason", &r.reason, false)?;
        meta.reason = r.reason.trim().to_string();
        let name = alliance::alliance_name(&id);
        let stored = self
            .store
            .delete_alliance(id, meta, r.force, move |current, now| {
                alliance::delete_alliance(current, &name, &r.etag, now)
            })
            .await?;
        Ok(Response::new(self.alliance_pb(stored)?))
    }

    async fn undelete_alliance(&self, request: Request<v1::UndeleteAllianceRequest>) -> Reply<v1::Alliance> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "UndeleteAlliance", r, &r.request_id, |m| m.request_id.clear())?;
        let id = parse_alliance_name("name", &request.get_ref().name)?;
        let name = alliance::alliance_name(&id);
        let stored = self
            .store
            .mutate_alliance(id, meta, false, move |current, now| alliance::undelete_alliance(current, &name, now))
            .await?;
        Ok(Response::new(self.alliance_pb(stored)?))
    }

    async fn list_alliances(&self, request: Request<v1::ListAlliancesRequest>) -> Reply<v1::ListAlliancesResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let size = page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let digest = page_token::query_digest(&["ListAlliances", if r.show_deleted { "deleted" } else { "" }]);
        let key = self.store.token_key().to_vec();
        let after = page_token::decode(&key, &digest, &r.page_token)?
            .map(|resume| String::from_utf8(resume.position))
            .transpose()
            .map_err(|_| {
                Error::invalid_field("page_token", "INVALID_PAGE_TOKEN", "is not a page token of this server")
            })?;
        let (alliances, more) = self.store.list_alliances(r.show_deleted, after, size).await?;
        let next = match (more, alliances.last()) {
            (true, Some(last)) => page_token::encode(&key, &digest, last.id.clone().into_bytes(), None),
            _ => String::new(),
        };
        let alliances = alliances.into_iter().map(|a| self.alliance_pb(a)).collect::<Result<_>>()?;
        Ok(Response::new(v1::ListAlliancesResponse { alliances, next_page_token: next }))
    }

    async fn get_alliance_summary(
        &self,
        request: Request<v1::GetAllianceSummaryRequest>,
    ) -> Reply<v1::AllianceSummary> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let id = parse_alliance_name("name", &r.name)?;
        let a =
            self.store.get_alliance(&id)?.ok_or_else(|| Error::NotFound { resource: alliance::alliance_name(&id) })?;
        let today = Date::today();
        let date = |field: &str, value: &str, default: Date| -> Result<Date> {
            if value.trim().is_empty() {
                return Ok(default);
            }
            Date::parse(value.trim())
                .ok_or_else(|| Error::invalid_field(field, "INVALID_DATE", format!("{value:?} is not YYYY-MM-DD")))
        };
        let (year, _, _) = today.ymd();
        let jan1 = Date::parse(&format!("{year:04}-01-01")).unwrap_or(today);
        let start = date("period_start", &r.period_start, jan1)?;
        let end = date("period_end", &r.period_end, today)?;
        if end < start {
            return Err(Error::invalid_field(
                "period_end",
                "INVALID_RANGE",
                format!("{end} is before period_start {start}"),
            )
            .into());
        }
        let s = self.store.alliance_summary(id, start, end).await?;
        let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        let division_label = |d: &str| {
            crate::domain::industry::IndustryCode::parse(d)
                .ok()
                .and_then(|c| c.name())
                .unwrap_or("未填行业")
                .to_string()
        };
        Ok(Response::new(v1::AllianceSummary {
            alliance: Some(self.alliance_pb(a)?),
            active_members: count(s.active_members),
            by_role: s
                .by_role
                .into_iter()
                .map(|(role, n)| v1::Count { key: role.name().into(), label: role.label_zh().into(), count: count(n) })
                .collect(),
            by_industry_division: s
                .by_division
                .into_iter()
                .map(|(d, n)| v1::Count { label: division_label(&d), key: d, count: count(n) })
                .collect(),
            by_zone: s
                .by_zone
                .into_iter()
                .map(|(z, n)| v1::Count { label: z.clone(), key: z, count: count(n) })
                .collect(),
            period_start: start.to_string(),
            period_end: end.to_string(),
            joins: count(s.joins),
            departures: count(s.departures),
        }))
    }

    async fn create_membership(&self, request: Request<v1::CreateMembershipRequest>) -> Reply<v1::Membership> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "CreateMembership", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let alliance_id = parse_alliance_name("parent", &r.parent)?;
        let code = CreditCode::parse_unverified(&r.credit_code)
            .map_err(|e| Error::invalid_field("credit_code", e.reason(), e.to_string()))?;
        let input = r.membership.unwrap_or_default();
        let role = role_of("membership.role", input.role)?;
        let stored = self
            .store
            .join_alliance(
                alliance_id,
                code.as_str().to_string(),
                role,
                input.join_date,
                input.note,
                meta,
                r.validate_only,
            )
            .await?;
        Ok(Response::new(self.membership_pb(stored)?))
    }

    async fn get_membership(&self, request: Request<v1::GetMembershipRequest>) -> Reply<v1::Membership> {
        require(&request, Permission::Read)?;
        let (id, code) = parse_membership_name("name", &request.get_ref().name)?;
        let m = self
            .store
            .get_membership(&id, &code)?
            .ok_or_else(|| Error::NotFound { resource: membership_name(&id, &code) })?;
        Ok(Response::new(self.membership_pb(m)?))
    }

    async fn update_membership(&self, request: Request<v1::UpdateMembershipRequest>) -> Reply<v1::Membership> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "UpdateMembership", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let input = r.membership.ok_or_else(|| Error::invalid_field("membership", "REQUIRED", "is required"))?;
        let (id, code) = parse_membership_name("membership.name", &input.name)?;
        let paths = match r.update_mask {
            Some(mask) => mask.paths,
            None => [("role", input.role != 0), ("note", !input.note.is_empty())]
                .into_iter()
                .filter(|(_, set)| *set)
                .map(|(f, _)| f.to_string())
                .collect(),
        };
        let mut update = MembershipUpdate {
            role: None,
            note: None,
            date: alliance::effective_date("effective_date", &r.effective_date, Date::today())?,
            previous_chair_role: match r.previous_chair_role {
                0 => None,
                v => Some(role_of("previous_chair_role", v)?),
            },
            etag: if r.etag.is_empty() { input.etag.clone() } else { r.etag },
        };
        for path in paths.iter().map(|p| p.trim()) {
            match path {
                "role" => update.role = Some(role_of("membership.role", input.role)?),
                "note" => update.note = Some(input.note.clone()),
                other => {
                    return Err(Error::invalid_field(
                        "update_mask",
                        "UNKNOWN_FIELD",
                        format!(
                            "{other:?} cannot be updated (updatable: role, note; end a membership with EndMembership)"
                        ),
                    )
                    .into())
                }
            }
        }
        if update.role.is_none() && update.note.is_none() {
            return Err(Error::invalid_field("update_mask", "EMPTY_UPDATE_MASK", "names no field to update").into());
        }
        let stored = self.store.update_membership(id, code, update, meta, r.validate_only).await?;
        Ok(Response::new(self.membership_pb(stored)?))
    }

    async fn end_membership(&self, request: Request<v1::EndMembershipRequest>) -> Reply<v1::Membership> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "EndMembership", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let (id, code) = parse_membership_name("name", &r.name)?;
        let reason = end_reason_of(r.reason)?;
        let stored = self.store.end_membership(id, code, r.end_date, reason, r.note, r.etag, meta).await?;
        Ok(Response::new(self.membership_pb(stored)?))
    }

    async fn list_memberships(
        &self,
        request: Request<v1::ListMembershipsRequest>,
    ) -> Reply<v1::ListMembershipsResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let size = page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let alliance_id = match r.parent.trim() {
            "alliances/-" => None,
            parent => Some(parse_alliance_name("parent", parent)?),
        };
        if let Some(id) = &alliance_id {
            self.store.get_alliance(id)?.ok_or_else(|| Error::NotFound { resource: alliance::alliance_name(id) })?;
        }
        let filter = parse_membership_filter(&r.filter)?;
        let digest = page_token::query_digest(&["ListMemberships", r.parent.trim(), r.filter.trim()]);
        let key = self.store.token_key().to_vec();
        let after = page_token::decode(&key, &digest, &r.page_token)?.map(|resume| resume.position);
        let (items, resume) = self.store.list_memberships(alliance_id, filter, after, size).await?;
        let memberships = items.into_iter().map(|m| self.membership_pb(m)).collect::<Result<_>>()?;
        Ok(Response::new(v1::ListMembershipsResponse {
            memberships,
            next_page_token: resume.map(|p| page_token::encode(&key, &digest, p, None)).unwrap_or_default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_names_parse_and_normalise() {
        let (id, code) = parse_membership_name("name", "alliances/drones/memberships/91350100m000100y43").unwrap();
        assert_eq!((id.as_str(), code.as_str()), ("drones", "91350100M000100Y43"));
        for bad in ["alliances/drones/91350100M000100Y43", "alliances/Drones/memberships/91350100M000100Y43", "x"] {
            assert!(parse_membership_name("name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn membership_filters_accept_state_role_and_code_only() {
        let f = parse_membership_filter(r#"state = ACTIVE role = "chair""#).unwrap();
        assert_eq!((f.state, f.role), (Some(MembershipState::Active), Some(Role::Chair)));
        assert_eq!(parse_membership_filter("colour = red").unwrap_err().reason(), "UNKNOWN_FILTER_FIELD");
        assert_eq!(parse_membership_filter("state = GONE").unwrap_err().reason(), "INVALID_FILTER");
        assert_eq!(parse_membership_filter("NOT state = ACTIVE").unwrap_err().reason(), "INVALID_FILTER");
    }
}
