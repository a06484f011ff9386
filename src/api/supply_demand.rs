//! `ladder.v1.SupplyDemandService`: postings, match suggestions, matches,
//! the map, chain gaps and the local sourcing rate.

use std::collections::{BTreeMap, HashMap};

use tonic::{Request, Response, Status};

use crate::api::convert::timestamp;
use crate::api::{enum_field, known_enum, optional_date, page_size, page_token, write_meta};
use crate::auth::{require, Permission};
use crate::domain::alliance::check_alliance_id;
use crate::domain::credit_code::CreditCode;
use crate::domain::filter::{filter_error, parse_terms, unknown_field, Op};
use crate::domain::industry::{IndustryCode, Level};
use crate::domain::matching::Factor;
use crate::domain::supply_demand::{
    self, match_name, new_id, parse_name, posting_name, Advance, Match, MatchCloseReason, MatchInput, MatchOrigin,
    MatchState, Posting, PostingCloseReason, PostingKind, PostingState, SourceList,
};
use crate::domain::time::{now_micros, Date};
use crate::error::{Error, Result};
use crate::pb::v1;
use crate::store::{GapQuery, MapQuery, MatchFilter, PostingFilter, Sourcing, Store};

/// Default postings or matches per page.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Most postings or matches per page.
pub const MAX_PAGE_SIZE: usize = 500;
/// Default suggestions.
pub const DEFAULT_SUGGESTIONS: usize = 10;
/// Most suggestions.
pub const MAX_SUGGESTIONS: usize = 50;
/// Default firms on the map.
pub const DEFAULT_MAP_FIRMS: usize = 100;
/// Most firms on the map.
pub const MAX_MAP_FIRMS: usize = 2000;

const POSTINGS: &str = "postings/";
const MATCHES: &str = "matches/";

/// Serves postings, matches and the map.
#[derive(Clone)]
pub struct SupplyDemandApi {
    store: Store,
}

type Reply<T> = Result<Response<T>, Status>;

impl SupplyDemandApi {
    /// A service over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    fn firm_name(&self, code: &str) -> Result<String> {
        Ok(self.store.get_enterprise(code)?.map(|e| e.display_name).unwrap_or_default())
    }

    fn posting_pb(&self, p: Posting, today: Date) -> Result<v1::Posting> {
        let name = self.firm_name(&p.credit_code)?;
        Ok(posting_to_pb(p, name, today))
    }

    fn match_pb(&self, m: Match) -> Result<v1::Match> {
        let supplier = self.firm_name(&m.supplier_credit_code)?;
        let demander = self.firm_name(&m.demander_credit_code)?;
        Ok(match_to_pb(m, supplier, demander))
    }
}

/// The domain posting of a request, and its `in_zone` (unset = the firm's).
fn posting_from_pb(p: v1::Posting) -> Result<(Posting, Option<bool>)> {
    let posting = Posting {
        credit_code: p.credit_code.trim().to_string(),
        kind: known_enum::<v1::PostingKind>("posting.kind", p.kind)?,
        title: p.title,
        description: p.description,
        industry_code: p.industry_code,
        product_tags: p.product_tags,
        chain_segment: p.chain_segment,
        quantity: p.quantity,
        unit: p.unit,
        amount_wan: p.amount_wan,
        region_code: p.region_code,
        valid_from: p.valid_from,
        valid_until: p.valid_until,
        visibility_alliance_id: p.visibility_alliance_id,
        source_list: known_enum::<v1::SourceList>("posting.source_list", p.source_list)?,
        ..Default::default()
    };
    Ok((posting, p.in_zone))
}

/// The API view of a posting, with its state as of `today`.
pub fn posting_to_pb(p: Posting, enterprise_display_name: String, today: Date) -> v1::Posting {
    v1::Posting {
        name: p.resource_name(),
        etag: p.etag(),
        state: p.state_on(today) as i32,
        create_time: timestamp(p.create_time),
        update_time: timestamp(p.update_time),
        close_time: timestamp(p.close_time),
        enterprise_display_name,
        credit_code: p.credit_code,
        kind: p.kind,
        title: p.title,
        description: p.description,
        industry_code: p.industry_code,
        product_tags: p.product_tags,
        chain_segment: p.chain_segment,
        quantity: p.quantity,
        unit: p.unit,
        amount_wan: p.amount_wan,
        region_code: p.region_code,
        in_zone: Some(p.in_zone),
        valid_from: p.valid_from,
        valid_until: p.valid_until,
        visibility_alliance_id: p.visibility_alliance_id,
        source_list: p.source_list,
        close_reason: p.close_reason,
        close_note: p.close_note,
        keywords: p.keywords,
        revision: p.revision,
    }
}

/// The API view of a match.
pub fn match_to_pb(m: Match, supplier_display_name: String, demander_display_name: String) -> v1::Match {
    v1::Match {
        name: m.resource_name(),
        etag: m.etag(),
        supply_posting: posting_name(&m.supply_posting_id),
        demand_posting: posting_name(&m.demand_posting_id),
        supplier_credit_code: m.supplier_credit_code,
        supplier_display_name,
        demander_credit_code: m.demander_credit_code,
        demander_display_name,
        state: m.state,
        close_reason: m.close_reason,
        amount_wan: m.amount_wan,
        signed_date: m.signed_date,
        broker: m.broker,
        notes: m.notes,
        origin: m.origin,
        score: m.score,
        reasons: m.reasons,
        supplier_in_zone: m.supplier_in_zone,
        events: m
            .events
            .into_iter()
            .map(|e| v1::MatchEvent {
                state: e.state,
                date: e.date,
                amount_wan: e.amount_wan,
                close_reason: e.close_reason,
                note: e.note,
                actor: e.actor,
                record_time: timestamp(e.record_time),
            })
            .collect(),
        revision: m.revision,
        create_time: timestamp(m.create_time),
        update_time: timestamp(m.update_time),
    }
}

fn factor_pb(f: Factor) -> v1::MatchFactor {
    match f {
        Factor::Industry => v1::MatchFactor::Industry,
        Factor::Keywords => v1::MatchFactor::Keywords,
        Factor::Alliance => v1::MatchFactor::Alliance,
        Factor::InZone => v1::MatchFactor::InZone,
        Factor::Region => v1::MatchFactor::Region,
        Factor::Quantity => v1::MatchFactor::Quantity,
        Factor::Freshness => v1::MatchFactor::Freshness,
        Factor::ChainSegment => v1::MatchFactor::ChainSegment,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn credit_code(field: &str, value: &str) -> Result<String> {
    CreditCode::parse_unverified(value)
        .map(|c| c.as_str().to_string())
        .map_err(|e| Error::invalid_field(field, e.reason(), e.to_string()))
}

fn industry_code(field: &str, value: &str) -> Result<Option<IndustryCode>> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    IndustryCode::parse(value).map(Some).map_err(|e| Error::invalid_field(field, e.reason(), e.to_string()))
}

fn parse_bool(field: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "是" => Ok(true),
        "false" | "0" | "no" | "否" => Ok(false),
        other => Err(filter_error(format!("{field}: {other:?} is not true or false"))),
    }
}

/// Parses the `ListPostings` filter.
fn parse_posting_filter(input: &str) -> Result<PostingFilter> {
    const FIELDS: [&str; 8] = [
        "kind",
        "state",
        "credit_code",
        "industry_code",
        "chain_segment",
        "in_zone",
        "visibility_alliance_id",
        "source_list",
    ];
    let mut f = PostingFilter::default();
    for term in parse_terms(input)? {
        if term.negated || term.op != Op::Eq {
            return Err(filter_error(format!("{}: only `field = value` conditions are supported here", term.field)));
        }
        let v = term.value.as_str();
        let bad = |what: &str| filter_error(format!("{}: {v:?} is not {what}", term.field));
        match term.field.as_str() {
            "kind" => f.kind = Some(PostingKind::parse(v).ok_or_else(|| bad("SUPPLY or DEMAND"))?),
            "state" => f.state = Some(PostingState::parse(v).ok_or_else(|| bad("OPEN, CLOSED or EXPIRED"))?),
            "credit_code" => {
                f.credit_code = Some(credit_code("filter", v).map_err(|_| bad("a credit code"))?);
            }
            "industry_code" => f.industry_code = industry_code("filter", v).map_err(|_| bad("an industry code"))?,
            "chain_segment" => f.chain_segment = Some(v.trim().to_string()),
            "in_zone" => f.in_zone = Some(parse_bool("in_zone", v)?),
            "visibility_alliance_id" => f.visibility_alliance_id = Some(v.trim().to_string()),
            "source_list" => f.source_list = Some(SourceList::parse(v).ok_or_else(|| bad("a source list"))?),
            other => return Err(unknown_field(other, FIELDS.into_iter())),
        }
    }
    Ok(f)
}

/// Parses the `ListMatches` filter.
fn parse_match_filter(input: &str) -> Result<MatchFilter> {
    let mut f = MatchFilter::default();
    for term in parse_terms(input)? {
        if term.negated || term.op != Op::Eq {
            return Err(filter_error(format!("{}: only `field = value` conditions are supported here", term.field)));
        }
        let v = term.value.as_str();
        match term.field.as_str() {
            "state" => {
                f.state =
                    Some(MatchState::parse(v).ok_or_else(|| {
                        filter_error(format!("state: {v:?} is not a match state (PROPOSED … CLOSED)"))
                    })?)
            }
            "posting" => f.posting_id = Some(parse_name("filter", v, POSTINGS)?.to_string()),
            "credit_code" => {
                f.credit_code = Some(credit_code("filter", v).map_err(|e| filter_error(format!("credit_code: {e}")))?)
            }
            "broker" => f.broker = Some(v.trim().to_string()),
            other => return Err(unknown_field(other, ["state", "posting", "credit_code", "broker"].into_iter())),
        }
    }
    Ok(f)
}

fn resume(store: &Store, digest: &[u8], token: &str) -> Result<Option<String>> {
    page_token::resume_id(store.token_key(), digest, token)
}

fn next_token(store: &Store, digest: &[u8], next: Option<String>) -> String {
    page_token::next_id_token(store.token_key(), digest, next)
}

fn sourcing_pb(s: &Sourcing) -> v1::SourcingFigures {
    v1::SourcingFigures {
        signed_deals: i32::try_from(s.signed_deals).unwrap_or(i32::MAX),
        signed_amount_wan: round2(s.signed_amount_wan),
        in_zone_amount_wan: round2(s.in_zone_amount_wan),
        rate: (s.rate() * 10_000.0).round() / 10_000.0,
    }
}

#[tonic::async_trait]
impl v1::supply_demand_service_server::SupplyDemandService for SupplyDemandApi {
    async fn create_posting(&self, request: Request<v1::CreatePostingRequest>) -> Reply<v1::Posting> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "CreatePosting", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let input = r.posting.ok_or_else(|| Error::invalid_field("posting", "REQUIRED", "is required"))?;
        let code = credit_code("posting.credit_code", &input.credit_code)?;
        let (mut record, in_zone) = posting_from_pb(input)?;
        record.credit_code.clone_from(&code);
        record.id = new_id(now_micros());
        let stored = self
            .store
            .mutate_posting(record.id.clone(), Some(code), meta, r.validate_only, move |current, defaults, now| {
                supply_demand::create_posting(current, record, in_zone, defaults, now)
            })
            .await?;
        Ok(Response::new(self.posting_pb(stored, Date::today())?))
    }

    async fn get_posting(&self, request: Request<v1::GetPostingRequest>) -> Reply<v1::Posting> {
        require(&request, Permission::Read)?;
        let id = parse_name("name", &request.get_ref().name, POSTINGS)?;
        let p = self.store.get_posting(id)?.ok_or_else(|| Error::NotFound { resource: posting_name(id) })?;
        Ok(Response::new(self.posting_pb(p, Date::today())?))
    }

    async fn update_posting(&self, request: Request<v1::UpdatePostingRequest>) -> Reply<v1::Posting> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "UpdatePosting", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let input = r.posting.ok_or_else(|| Error::invalid_field("posting", "REQUIRED", "is required"))?;
        let id = parse_name("posting.name", &input.name, POSTINGS)?.to_string();
        let name = posting_name(&id);
        let etag = if r.etag.is_empty() { input.etag.clone() } else { r.etag };
        let (patch, in_zone) = posting_from_pb(input)?;
        let mask = match r.update_mask {
            Some(mask) => mask.paths,
            None => {
                let mut implied: Vec<String> = Posting::diff(&Posting::default(), &patch)
                    .into_iter()
                    .map(|c| c.field)
                    .filter(|f| supply_demand::POSTING_UPDATABLE.contains(&f.as_str()) && f != "in_zone")
                    .collect();
                if in_zone.is_some() {
                    implied.push("in_zone".into());
                }
                implied
            }
        };
        let stored = self
            .store
            .mutate_posting(id, None, meta, r.validate_only, move |current, defaults, now| {
                supply_demand::update_posting(current, &name, &patch, in_zone, &mask, &etag, defaults, now)
            })
            .await?;
        Ok(Response::new(self.posting_pb(stored, Date::today())?))
    }

    async fn close_posting(&self, request: Request<v1::ClosePostingRequest>) -> Reply<v1::Posting> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "ClosePosting", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let id = parse_name("name", &r.name, POSTINGS)?.to_string();
        let reason: PostingCloseReason = enum_field("reason", r.reason)?;
        let name = posting_name(&id);
        let stored = self
            .store
            .mutate_posting(id, None, meta, false, move |current, _, now| {
                supply_demand::close_posting(current, &name, reason, &r.note, &r.etag, now)
            })
            .await?;
        Ok(Response::new(self.posting_pb(stored, Date::today())?))
    }

    async fn list_postings(&self, request: Request<v1::ListPostingsRequest>) -> Reply<v1::ListPostingsResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let size = page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let filter = parse_posting_filter(&r.filter)?;
        let digest = page_token::query_digest(&["ListPostings", r.filter.trim()]);
        let after = resume(&self.store, &digest, &r.page_token)?;
        let today = Date::today();
        let (postings, next) = self.store.list_postings(filter, after, size, today).await?;
        let postings = postings.into_iter().map(|p| self.posting_pb(p, today)).collect::<Result<_>>()?;
        Ok(Response::new(v1::ListPostingsResponse {
            postings,
            next_page_token: next_token(&self.store, &digest, next),
        }))
    }

    async fn suggest_matches(&self, request: Request<v1::SuggestMatchesRequest>) -> Reply<v1::SuggestMatchesResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let id = parse_name("posting", &r.posting, POSTINGS)?.to_string();
        let size = page_size(r.page_size, DEFAULT_SUGGESTIONS, MAX_SUGGESTIONS)?;
        if !r.min_score.is_finite() || !(0.0..=100.0).contains(&r.min_score) {
            return Err(Error::invalid_field("min_score", "OUT_OF_RANGE", "must be from 0 to 100").into());
        }
        let today = Date::today();
        let found = self.store.suggest(id, size, r.min_score, today).await?;
        let mut suggestions = Vec::with_capacity(found.suggestions.len());
        for s in found.suggestions {
            let reasons = s.scored.reasons();
            let factors = s
                .scored
                .factors
                .iter()
                .map(|f| v1::FactorScore {
                    factor: factor_pb(f.factor) as i32,
                    weight: f.factor.weight(),
                    value: round2(f.value),
                    points: round2(f.points()),
                    reason: f.reason.clone(),
                })
                .collect();
            suggestions.push(v1::Suggestion {
                posting: Some(self.posting_pb(s.posting, today)?),
                score: s.scored.score,
                factors,
                reasons,
                existing_match: s.existing_match.unwrap_or_default(),
            });
        }
        Ok(Response::new(v1::SuggestMatchesResponse {
            posting: Some(self.posting_pb(found.posting, today)?),
            suggestions,
            candidates_examined: i32::try_from(found.examined).unwrap_or(i32::MAX),
        }))
    }

    async fn create_match(&self, request: Request<v1::CreateMatchRequest>) -> Reply<v1::Match> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "CreateMatch", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let input = r.r#match.ok_or_else(|| Error::invalid_field("match", "REQUIRED", "is required"))?;
        let supply = parse_name("match.supply_posting", &input.supply_posting, POSTINGS)?.to_string();
        let demand = parse_name("match.demand_posting", &input.demand_posting, POSTINGS)?.to_string();
        let origin: MatchOrigin = enum_field("match.origin", input.origin)?;
        let score = match self.store.score_pair(supply.clone(), demand.clone(), Date::today()).await {
            Err(Error::NotFound { resource }) => {
                let field =
                    if resource == posting_name(&supply) { "match.supply_posting" } else { "match.demand_posting" };
                return Err(Error::invalid_field(field, "UNKNOWN_POSTING", format!("{resource} does not exist")).into());
            }
            other => other?,
        };
        let id = new_id(now_micros());
        let input = MatchInput { broker: input.broker, notes: input.notes, origin };
        let stored = self.store.create_match(id, supply, demand, input, score, meta, r.validate_only).await?;
        Ok(Response::new(self.match_pb(stored)?))
    }

    async fn get_match(&self, request: Request<v1::GetMatchRequest>) -> Reply<v1::Match> {
        require(&request, Permission::Read)?;
        let id = parse_name("name", &request.get_ref().name, MATCHES)?;
        let m = self.store.get_match(id)?.ok_or_else(|| Error::NotFound { resource: match_name(id) })?;
        Ok(Response::new(self.match_pb(m)?))
    }

    async fn advance_match(&self, request: Request<v1::AdvanceMatchRequest>) -> Reply<v1::Match> {
        let caller = require(&request, Permission::Write)?;
        let r = request.get_ref();
        let meta =
            write_meta(&self.store, &request, &caller, "AdvanceMatch", r, &r.request_id, |m| m.request_id.clear())?;
        let r = request.into_inner();
        let id = parse_name("name", &r.name, MATCHES)?.to_string();
        let advance = Advance {
            to: enum_field("state", r.state)?,
            amount_wan: r.amount_wan,
            close_reason: enum_field::<MatchCloseReason>("close_reason", r.close_reason)?,
            date: r.date,
            note: r.note,
        };
        let name = match_name(&id);
        let actor = caller.name.clone();
        let stored = self
            .store
            .mutate_match(id, meta, move |current, today, now| {
                let step = supply_demand::Step { actor: &actor, now, today };
                supply_demand::advance_match(current, &name, &advance, &r.etag, &step)
            })
            .await?;
        Ok(Response::new(self.match_pb(stored)?))
    }

    async fn list_matches(&self, request: Request<v1::ListMatchesRequest>) -> Reply<v1::ListMatchesResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let size = page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let filter = parse_match_filter(&r.filter)?;
        let digest = page_token::query_digest(&["ListMatches", r.filter.trim()]);
        let after = resume(&self.store, &digest, &r.page_token)?;
        let (matches, next) = self.store.list_matches(filter, after, size).await?;
        let matches = matches.into_iter().map(|m| self.match_pb(m)).collect::<Result<_>>()?;
        Ok(Response::new(v1::ListMatchesResponse { matches, next_page_token: next_token(&self.store, &digest, next) }))
    }

    async fn get_supply_demand_map(
        &self,
        request: Request<v1::GetSupplyDemandMapRequest>,
    ) -> Reply<v1::SupplyDemandMap> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let alliance_id = optional_alliance(&self.store, "alliance_id", &r.alliance_id)?;
        let max_firms = page_size(r.max_firms, DEFAULT_MAP_FIRMS, MAX_MAP_FIRMS)
            .map_err(|_| Error::invalid_field("max_firms", "NEGATIVE", "must not be negative"))?;
        let query = MapQuery {
            alliance_id,
            industry_code: industry_code("industry_code", &r.industry_code)?,
            in_zone: r.in_zone,
            state: enum_field("state", r.state)?,
            include_closed_matches: r.include_closed_matches,
            max_firms,
            level: match enum_field("level", r.level)? {
                v1::MapLevel::Unspecified | v1::MapLevel::Auto => crate::store::MapLevel::Auto,
                v1::MapLevel::Firm => crate::store::MapLevel::Firm,
                v1::MapLevel::Category => crate::store::MapLevel::Category,
            },
        };
        let today = Date::today();
        let data = self.store.supply_demand_map(query, today).await?;
        Ok(Response::new(map_pb(data, today)))
    }

    async fn list_chain_gaps(&self, request: Request<v1::ListChainGapsRequest>) -> Reply<v1::ListChainGapsResponse> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let level = match enum_field("level", r.level)? {
            v1::CategoryLevel::Division => Level::Division,
            v1::CategoryLevel::Group => Level::Group,
            v1::CategoryLevel::Class | v1::CategoryLevel::Unspecified => Level::Class,
        };
        let query = GapQuery {
            level,
            alliance_id: optional_alliance(&self.store, "alliance_id", &r.alliance_id)?,
            industry_code: industry_code("industry_code", &r.industry_code)?,
            include_covered: r.include_covered,
        };
        let gaps = self.store.chain_gaps(query, Date::today()).await?;
        let mut names: HashMap<String, String> = HashMap::new();
        let mut out = Vec::with_capacity(gaps.len());
        for g in gaps {
            let mut firms = Vec::new();
            for (code, postings) in g.demanding_firms {
                let display_name = match names.get(&code) {
                    Some(n) => n.clone(),
                    None => {
                        let n = self.firm_name(&code)?;
                        names.insert(code.clone(), n.clone());
                        n
                    }
                };
                firms.push(v1::DemandingFirm { credit_code: code, display_name, postings });
            }
            out.push(v1::ChainGap {
                industry_name: IndustryCode::parse(&g.industry_code)
                    .ok()
                    .and_then(|c| c.name())
                    .unwrap_or("")
                    .to_string(),
                industry_code: g.industry_code,
                open_demands: i32::try_from(g.open_demands).unwrap_or(i32::MAX),
                open_demand_amount_wan: round2(g.open_demand_amount_wan),
                in_zone_supplies: i32::try_from(g.in_zone_supplies).unwrap_or(i32::MAX),
                out_of_zone_supplies: i32::try_from(g.out_of_zone_supplies).unwrap_or(i32::MAX),
                chain_segments: g.chain_segments.into_iter().collect(),
                demanding_firms: firms,
            });
        }
        Ok(Response::new(v1::ListChainGapsResponse { gaps: out }))
    }

    async fn get_sourcing_rate(&self, request: Request<v1::GetSourcingRateRequest>) -> Reply<v1::SourcingRate> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let today = Date::today();
        let (year, _, _) = today.ymd();
        let jan1 = Date::parse(&format!("{year:04}-01-01")).unwrap_or(today);
        let start = optional_date("start_date", &r.start_date, jan1)?;
        let end = optional_date("end_date", &r.end_date, today)?;
        if end < start {
            return Err(Error::invalid_field("end_date", "INVALID_RANGE", format!("{end} is before {start}")).into());
        }
        let (zone, by_alliance) = self.store.sourcing_rate(start, end).await?;
        let mut alliances: Vec<v1::AllianceSourcing> = Vec::new();
        for (id, figures) in by_alliance {
            let display_name = self.store.get_alliance(&id)?.map(|a| a.display_name).unwrap_or_default();
            alliances.push(v1::AllianceSourcing {
                alliance_id: id,
                display_name,
                figures: Some(sourcing_pb(&figures)),
            });
        }
        alliances.sort_by(|a, b| {
            let value = |x: &v1::AllianceSourcing| x.figures.as_ref().map_or(0.0, |f| f.signed_amount_wan);
            value(b).total_cmp(&value(a)).then(a.alliance_id.cmp(&b.alliance_id))
        });
        Ok(Response::new(v1::SourcingRate {
            start_date: start.to_string(),
            end_date: end.to_string(),
            zone: Some(sourcing_pb(&zone)),
            alliances,
        }))
    }
}

/// An optional alliance id that, when given, must name an existing alliance.
fn optional_alliance(store: &Store, field: &str, id: &str) -> Result<Option<String>> {
    let id = id.trim();
    if id.is_empty() {
        return Ok(None);
    }
    check_alliance_id(field, id)?;
    if store.get_alliance(id)?.is_none() {
        return Err(Error::invalid_field(field, "UNKNOWN_ALLIANCE", format!("{id:?} is not an alliance")));
    }
    Ok(Some(id.to_string()))
}

/// A category node with its totals.
fn category_node(code: &str, c: &crate::store::MapCategory) -> v1::MapNode {
    let name = IndustryCode::parse(code).ok().and_then(|c| c.name()).unwrap_or("");
    v1::MapNode {
        id: format!("cat:{code}"),
        kind: v1::MapNodeKind::Category as i32,
        label: if name.is_empty() { code.to_string() } else { format!("{code} {name}") },
        industry_code: code.to_string(),
        supply_postings: count32(c.supply_postings),
        demand_postings: count32(c.demand_postings),
        supply_amount_wan: round2(c.supply_amount_wan),
        demand_amount_wan: round2(c.demand_amount_wan),
        signed_matches: count32(c.signed_matches),
        signed_amount_wan: round2(c.signed_amount_wan),
        firms: count32(c.firms),
        ..Default::default()
    }
}

fn count32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The map as nodes and edges. Firm level: firm nodes, category nodes (one
/// per posting category), a supply edge firm → category and a demand edge
/// category → firm per firm and category, and a match edge supplier →
/// demander per pair. Category level: the category nodes alone.
fn map_pb(data: crate::store::MapData, today: Date) -> v1::SupplyDemandMap {
    let level =
        if data.level == crate::store::MapLevel::Category { v1::MapLevel::Category } else { v1::MapLevel::Firm };
    let mut out = v1::SupplyDemandMap {
        truncated: data.truncated,
        postings_examined: count32(data.examined),
        level: level as i32,
        qualifying_firms: count32(data.qualifying_firms),
        ..Default::default()
    };
    if level == v1::MapLevel::Category {
        out.nodes = data.categories.iter().map(|(code, c)| category_node(code, c)).collect();
        return out;
    }
    // Signed deals per firm, among the matches drawn.
    let mut signed: HashMap<&str, (i32, f64)> = HashMap::new();
    for m in data.matches.iter().filter(|m| m.state().is_signed()) {
        for code in [&m.supplier_credit_code, &m.demander_credit_code] {
            let s = signed.entry(code.as_str()).or_default();
            s.0 += 1;
            s.1 += m.amount_wan;
        }
    }
    let mut nodes = Vec::new();
    let mut categories: BTreeMap<String, ()> = BTreeMap::new();
    let mut posting_edges: BTreeMap<(String, String, i32), (Vec<String>, f64)> = BTreeMap::new();
    for firm in &data.firms {
        let e = &firm.enterprise;
        let (deals, deal_amount) = signed.get(e.credit_code.as_str()).copied().unwrap_or_default();
        let mut node = v1::MapNode {
            id: e.credit_code.clone(),
            kind: v1::MapNodeKind::Firm as i32,
            label: e.display_name.clone(),
            stage: match e.stage_on(today) {
                crate::domain::ladder::Stage::Unspecified => String::new(),
                stage => stage.label_zh().to_string(),
            },
            alliances: e.memberships.iter().map(|m| m.alliance_id.clone()).collect(),
            industry_code: e.industry_code.clone(),
            in_zone: !e.promotion_zone.is_empty(),
            signed_matches: deals,
            signed_amount_wan: round2(deal_amount),
            ..Default::default()
        };
        for p in &firm.postings {
            let cat = format!("cat:{}", p.industry_code);
            categories.insert(p.industry_code.clone(), ());
            let (from, to, kind) = match p.kind() {
                PostingKind::Supply => {
                    node.supply_postings += 1;
                    node.supply_amount_wan += p.amount_wan;
                    (e.credit_code.clone(), cat, v1::MapEdgeKind::Supply)
                }
                _ => {
                    node.demand_postings += 1;
                    node.demand_amount_wan += p.amount_wan;
                    (cat, e.credit_code.clone(), v1::MapEdgeKind::Demand)
                }
            };
            let edge = posting_edges.entry((from, to, kind as i32)).or_default();
            edge.0.push(p.resource_name());
            edge.1 += p.amount_wan;
        }
        node.supply_amount_wan = round2(node.supply_amount_wan);
        node.demand_amount_wan = round2(node.demand_amount_wan);
        nodes.push(node);
    }
    let empty = crate::store::MapCategory::default();
    for code in categories.keys() {
        nodes.push(category_node(code, data.categories.get(code).unwrap_or(&empty)));
    }
    let mut edges: Vec<v1::MapEdge> = posting_edges
        .into_iter()
        .map(|((from, to, kind), (resources, amount))| v1::MapEdge {
            from,
            to,
            kind,
            resources,
            amount_wan: round2(amount),
            match_state: 0,
        })
        .collect();
    let mut pairs: BTreeMap<(String, String), (Vec<String>, f64, MatchState)> = BTreeMap::new();
    for m in &data.matches {
        let entry = pairs.entry((m.supplier_credit_code.clone(), m.demander_credit_code.clone())).or_insert((
            Vec::new(),
            0.0,
            MatchState::Unspecified,
        ));
        entry.0.push(m.resource_name());
        if m.state().is_signed() {
            entry.1 += m.amount_wan;
        }
        // CLOSED counts as the least advanced, so an edge shows its best deal.
        let rank = |s: MatchState| if s == MatchState::Closed { 0 } else { s as i32 };
        if rank(m.state()) > rank(entry.2) || entry.2 == MatchState::Unspecified {
            entry.2 = m.state();
        }
    }
    for ((from, to), (resources, amount, state)) in pairs {
        edges.push(v1::MapEdge {
            from,
            to,
            kind: v1::MapEdgeKind::Match as i32,
            resources,
            amount_wan: round2(amount),
            match_state: state as i32,
        });
    }
    out.nodes = nodes;
    out.edges = edges;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posting_filters_parse_every_field_and_refuse_unknown_ones() {
        let f = parse_posting_filter(
            "kind = DEMAND AND state = open AND industry_code = C38 AND in_zone = true AND source_list = 采购清单",
        )
        .unwrap();
        assert_eq!(f.kind, Some(PostingKind::Demand));
        assert_eq!(f.state, Some(PostingState::Open));
        assert_eq!(f.industry_code.unwrap().as_str(), "C38");
        assert_eq!(f.in_zone, Some(true));
        assert_eq!(f.source_list, Some(SourceList::Procurement));
        assert_eq!(parse_posting_filter("colour = red").unwrap_err().reason(), "UNKNOWN_FILTER_FIELD");
        assert_eq!(parse_posting_filter("kind = BOTH").unwrap_err().reason(), "INVALID_FILTER");
        assert_eq!(parse_match_filter("state = SIGNED").unwrap().state, Some(MatchState::Signed));
        assert_eq!(parse_match_filter("state = 洽谈中").unwrap().state, Some(MatchState::Negotiating));
    }
}
