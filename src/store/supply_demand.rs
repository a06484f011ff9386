//! Postings and matches in the store, and the reads built on them: match
//! suggestions, the map, chain gaps and the local sourcing rate.
//!
//! A posting write puts, in one batch: the record (`P{id}`), the firm's entry
//! (`I{code}\0{id}`) and, while the posting is stored OPEN, its category entry
//! (`C{kind}{industry_code}\0{id}`), one keyword entry per keyword
//! (`K{kind}{keyword}\0{id}`), the keyword counters (`W{kind}{keyword}`) and
//! the open count (`V{kind}`). Closing removes the open-only entries. An
//! expired posting keeps them (expiry is derived by date) and is skipped on
//! read. A match puts its record (`H{id}`) and one entry per posting
//! (`J{posting}\0{match}`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::domain::alliance::{Membership, MembershipState};
use crate::domain::change::{ChangeKind, WriteMeta};
use crate::domain::enterprise::Enterprise;
use crate::domain::industry::{IndustryCode, Level};
use crate::domain::matching::{self, Context, KeywordStats, Scored};
use crate::domain::supply_demand::{
    self, posting_name, Match, MatchInput, MatchState, Posting, PostingDefaults, PostingKind, PostingState, SourceList,
    Step,
};
use crate::domain::time::{Date, Micros};
use crate::error::{Error, Result};
use crate::store::records::{self, Record};
use crate::store::{blocking, codec, idempotency, keys, writer, Store, Txn};

/// Most counterpart postings scored from the category index per suggestion.
pub const CATEGORY_CANDIDATES: usize = 1000;
/// Most category entries read per suggestion (expired and hidden ones
/// included).
pub const CATEGORY_SCAN: usize = 10_000;
/// How many of the asker's keywords (the rarest) are looked up.
pub const KEYWORDS_SCANNED: usize = 4;
/// Most entries read from one keyword's index per suggestion.
pub const KEYWORD_CANDIDATES: usize = 500;
/// Most postings of other categories read because they share keywords.
pub const KEYWORD_FETCHES: usize = 200;
/// Most postings a listing page examines before it returns what it has.
pub const LIST_SCAN_BUDGET: usize = 10_000;
/// Most postings the map, chain gaps or a listing read in one request.
pub const REPORT_POSTING_BUDGET: usize = 200_000;

fn posting_key(id: &str) -> Vec<u8> {
    let mut k = vec![keys::POSTING];
    k.extend_from_slice(id.as_bytes());
    k
}

fn firm_postings_prefix(code: &str) -> Vec<u8> {
    let mut k = vec![keys::FIRM_POSTINGS];
    k.extend_from_slice(code.as_bytes());
    k.push(0);
    k
}

fn category_prefix(kind: PostingKind, code: &str) -> Vec<u8> {
    let mut k = vec![keys::POSTING_CATEGORY, kind as u8];
    k.extend_from_slice(code.as_bytes());
    k
}

fn keyword_prefix(kind: PostingKind, word: &str) -> Vec<u8> {
    let mut k = vec![keys::POSTING_KEYWORD, kind as u8];
    k.extend_from_slice(word.as_bytes());
    k.push(0);
    k
}

fn keyword_count(kind: PostingKind, word: &str) -> Vec<u8> {
    let mut k = vec![keys::KEYWORD_COUNT, kind as u8];
    k.extend_from_slice(word.as_bytes());
    k
}

fn open_count(kind: PostingKind) -> Vec<u8> {
    vec![keys::OPEN_POSTINGS, kind as u8]
}

fn match_key(id: &str) -> Vec<u8> {
    let mut k = vec![keys::MATCH];
    k.extend_from_slice(id.as_bytes());
    k
}

fn posting_matches_prefix(posting_id: &str) -> Vec<u8> {
    let mut k = vec![keys::POSTING_MATCHES];
    k.extend_from_slice(posting_id.as_bytes());
    k.push(0);
    k
}

/// The id after the last `0x00` of an index key.
fn id_of_entry(key: &[u8]) -> Option<String> {
    keys::code_of_index_entry(key).map(str::to_string)
}

/// An id with every hex digit complemented (`0` ↔ `f`): in the category and
/// keyword indexes ids are stored this way, so that a forward scan (fast in
/// sled, unlike a reverse one) meets the newest postings first. Its own
/// inverse.
fn newest_first(id: &str) -> String {
    id.chars().map(|c| c.to_digit(16).and_then(|v| char::from_digit(15 - v, 16)).unwrap_or(c)).collect()
}

/// The posting id of a category or keyword entry.
fn id_of_open_entry(key: &[u8]) -> Option<String> {
    keys::code_of_index_entry(key).map(newest_first)
}

/// The category entry of an open posting.
fn category_entry(p: &Posting) -> Option<Vec<u8>> {
    (p.state() == PostingState::Open).then(|| {
        let mut cat = category_prefix(p.kind(), &p.industry_code);
        cat.push(0);
        cat.extend_from_slice(newest_first(&p.id).as_bytes());
        cat
    })
}

/// What a category entry carries: the posting without the text only a
/// person reads, which is everything scoring needs, so that the candidates
/// of a category are scored from one range scan instead of a read each.
fn summary(p: &Posting) -> Posting {
    Posting {
        title: String::new(),
        description: String::new(),
        product_tags: Vec::new(),
        close_note: String::new(),
        ..p.clone()
    }
}

/// The open-only index entries of a posting (none unless stored OPEN).
fn open_entries(p: &Posting) -> BTreeSet<Vec<u8>> {
    let mut out = BTreeSet::new();
    let Some(cat) = category_entry(p) else {
        return out;
    };
    out.insert(cat);
    let key_id = newest_first(&p.id);
    for word in &p.keywords {
        let mut k = keyword_prefix(p.kind(), word);
        k.extend_from_slice(key_id.as_bytes());
        out.insert(k);
    }
    out
}

/// The counters an open posting adds to.
fn open_counters(p: &Posting) -> Vec<Vec<u8>> {
    if p.state() != PostingState::Open {
        return Vec::new();
    }
    let mut out = vec![open_count(p.kind())];
    out.extend(p.keywords.iter().map(|w| keyword_count(p.kind(), w)));
    out
}

/// A posting writes its firm entry, and its category and keyword entries and
/// counters while it is open.
impl Record for Posting {
    records::record_basics!();

    fn put(txn: &mut Txn<'_>, old: Option<&Self>, new: &Self) -> Result<()> {
        let before = old.map(open_entries).unwrap_or_default();
        let after = open_entries(new);
        for gone in before.difference(&after) {
            txn.remove(gone.clone());
        }
        for added in after.difference(&before) {
            txn.put(added.clone(), Vec::new());
        }
        // The category entry carries the scoring summary, rewritten on every
        // change of an open posting.
        if let Some(key) = category_entry(new) {
            txn.put(key, codec::encode(&summary(new)));
        }
        for key in old.map(open_counters).unwrap_or_default() {
            txn.count(key, -1);
        }
        for key in open_counters(new) {
            txn.count(key, 1);
        }
        if old.is_none() {
            // A posting's firm never changes: its entry is written once.
            let mut firm = firm_postings_prefix(&new.credit_code);
            firm.extend_from_slice(new.id.as_bytes());
            txn.put(firm, Vec::new());
        }
        txn.put(posting_key(&new.id), codec::encode(new));
        Ok(())
    }
}

/// A match writes its record and the entries that find it from each posting.
impl Record for Match {
    records::record_basics!();

    fn put(txn: &mut Txn<'_>, _old: Option<&Self>, new: &Self) -> Result<()> {
        for posting in [&new.supply_posting_id, &new.demand_posting_id] {
            let mut k = posting_matches_prefix(posting);
            k.extend_from_slice(new.id.as_bytes());
            txn.put(k, Vec::new());
        }
        txn.put(match_key(&new.id), codec::encode(new));
        Ok(())
    }
}

/// What `ListPostings` keeps.
#[derive(Debug, Clone, Default)]
pub struct PostingFilter {
    /// Only this kind.
    pub kind: Option<PostingKind>,
    /// Only this state (as of today).
    pub state: Option<PostingState>,
    /// Only this firm's.
    pub credit_code: Option<String>,
    /// Only this category or under it.
    pub industry_code: Option<IndustryCode>,
    /// Only this chain segment.
    pub chain_segment: Option<String>,
    /// Only in-zone (true) or out-of-zone (false).
    pub in_zone: Option<bool>,
    /// Only visible to this alliance (`""` = the whole zone).
    pub visibility_alliance_id: Option<String>,
    /// Only from this list.
    pub source_list: Option<SourceList>,
}

impl PostingFilter {
    /// Whether `p` passes on `today`.
    pub fn matches(&self, p: &Posting, today: Date) -> bool {
        self.kind.is_none_or(|k| p.kind() == k)
            && self.state.is_none_or(|s| p.state_on(today) == s)
            && self.credit_code.as_ref().is_none_or(|c| &p.credit_code == c)
            && self.industry_code.as_ref().is_none_or(|c| p.industry_code.starts_with(c.as_str()))
            && self.chain_segment.as_ref().is_none_or(|s| &p.chain_segment == s)
            && self.in_zone.is_none_or(|z| p.in_zone == z)
            && self.visibility_alliance_id.as_ref().is_none_or(|a| &p.visibility_alliance_id == a)
            && self.source_list.is_none_or(|l| p.source_list() == l)
    }
}

/// What `ListMatches` keeps.
#[derive(Debug, Clone, Default)]
pub struct MatchFilter {
    /// Only this state.
    pub state: Option<MatchState>,
    /// Only matches of this posting (either side).
    pub posting_id: Option<String>,
    /// Only matches of this firm (either side).
    pub credit_code: Option<String>,
    /// Only this broker.
    pub broker: Option<String>,
}

impl MatchFilter {
    fn matches(&self, m: &Match) -> bool {
        self.state.is_none_or(|s| m.state() == s)
            && self.posting_id.as_ref().is_none_or(|p| &m.supply_posting_id == p || &m.demand_posting_id == p)
            && self.credit_code.as_ref().is_none_or(|c| &m.supplier_credit_code == c || &m.demander_credit_code == c)
            && self.broker.as_ref().is_none_or(|b| &m.broker == b)
    }
}

/// One ranked counterpart.
#[derive(Debug, Clone)]
pub struct Suggestion {
    /// The counterpart posting.
    pub posting: Posting,
    /// Its score and factors.
    pub scored: Scored,
    /// The live match of the pair, if any.
    pub existing_match: Option<String>,
}

/// The answer of a suggestion request.
#[derive(Debug, Clone)]
pub struct Suggestions {
    /// The posting served.
    pub posting: Posting,
    /// Best first.
    pub suggestions: Vec<Suggestion>,
    /// Counterparts scored.
    pub examined: usize,
}

/// A firm on the map.
#[derive(Debug, Clone)]
pub struct MapFirm {
    /// The firm.
    pub enterprise: Enterprise,
    /// Its postings on the map.
    pub postings: Vec<Posting>,
}

/// The map's content before conversion: firms with their postings and the
/// matches between them (firm level), or the categories with their totals
/// (category level).
#[derive(Debug, Clone, Default)]
pub struct MapData {
    /// Which level was gathered.
    pub level: MapLevel,
    /// Firms, most postings first (firm level).
    pub firms: Vec<MapFirm>,
    /// Matches among the postings shown (firm level).
    pub matches: Vec<Match>,
    /// Every category of the postings that passed, with its totals, by code
    /// (both levels: the firm level draws its category nodes from them).
    pub categories: BTreeMap<String, MapCategory>,
    /// Not everything fit.
    pub truncated: bool,
    /// Postings read.
    pub examined: usize,
    /// Live firms with at least one posting that passed the filters.
    pub qualifying_firms: usize,
}

/// Which map to draw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MapLevel {
    /// Firms when they all fit in `max_firms`, else categories.
    #[default]
    Auto,
    /// Firms and their postings and matches, cut at `max_firms`.
    Firm,
    /// Categories with their counts and amounts: every posting counted.
    Category,
}

/// Most categories an overview shows before it rolls up a level.
pub const MAX_OVERVIEW_CATEGORIES: usize = 60;

/// Each category's totals, with posting codes grouped at `level` (codes
/// less precise than it stay as they are).
fn map_categories(
    by_firm: &BTreeMap<String, Vec<Posting>>,
    level: Level,
    signed: &HashMap<&str, (usize, f64)>,
) -> BTreeMap<String, MapCategory> {
    let mut out: BTreeMap<String, MapCategory> = BTreeMap::new();
    for ps in by_firm.values() {
        let mut counted: HashSet<String> = HashSet::new();
        for p in ps {
            let code = group_code(&p.industry_code, level);
            let c = out.entry(code.clone()).or_default();
            if counted.insert(code) {
                c.firms += 1;
            }
            if p.kind() == PostingKind::Supply {
                c.supply_postings += 1;
                c.supply_amount_wan += p.amount_wan;
            } else {
                c.demand_postings += 1;
                c.demand_amount_wan += p.amount_wan;
                if let Some((n, amount)) = signed.get(p.id.as_str()) {
                    c.signed_matches += n;
                    c.signed_amount_wan += amount;
                }
            }
        }
    }
    out
}

/// The totals of one category on the map (postings of live firms that
/// passed the filters).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MapCategory {
    /// Supply postings.
    pub supply_postings: usize,
    /// Demand postings.
    pub demand_postings: usize,
    /// Sum of the supply postings' amounts, 万元.
    pub supply_amount_wan: f64,
    /// Sum of the demand postings' amounts, 万元.
    pub demand_amount_wan: f64,
    /// Firms with a posting in it.
    pub firms: usize,
    /// Matches on its demand postings that were signed (SIGNED or DELIVERED).
    pub signed_matches: usize,
    /// Their signed amounts, 万元.
    pub signed_amount_wan: f64,
}

/// What the map shows.
#[derive(Debug, Clone, Default)]
pub struct MapQuery {
    /// Only active members of this alliance.
    pub alliance_id: Option<String>,
    /// Only postings under this category.
    pub industry_code: Option<IndustryCode>,
    /// Only in-zone or out-of-zone postings.
    pub in_zone: Option<bool>,
    /// Postings in this state (OPEN by default).
    pub state: PostingState,
    /// Also closed matches.
    pub include_closed_matches: bool,
    /// Most firms.
    pub max_firms: usize,
    /// Firms, categories, or whichever fits.
    pub level: MapLevel,
}

/// A category with open demand.
#[derive(Debug, Clone, Default)]
pub struct ChainGap {
    /// Category at the requested level.
    pub industry_code: String,
    /// Open demands.
    pub open_demands: u32,
    /// Their amounts.
    pub open_demand_amount_wan: f64,
    /// Open in-zone supplies in the category.
    pub in_zone_supplies: u32,
    /// Open out-of-zone supplies.
    pub out_of_zone_supplies: u32,
    /// Chain segments named by the demands.
    pub chain_segments: BTreeSet<String>,
    /// Demanding firms → their demand postings.
    pub demanding_firms: BTreeMap<String, Vec<String>>,
}

/// What chain gaps cover.
#[derive(Debug, Clone)]
pub struct GapQuery {
    /// Grouping level.
    pub level: Level,
    /// Only demand from members of this alliance.
    pub alliance_id: Option<String>,
    /// Only categories under this code.
    pub industry_code: Option<IndustryCode>,
    /// Also categories with in-zone supply.
    pub include_covered: bool,
}

/// Signed value and its in-zone part.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sourcing {
    /// Deals signed.
    pub signed_deals: u32,
    /// Their value, 万元.
    pub signed_amount_wan: f64,
    /// With an in-zone supplier, 万元.
    pub in_zone_amount_wan: f64,
}

impl Sourcing {
    fn add(&mut self, m: &Match) {
        self.signed_deals += 1;
        self.signed_amount_wan += m.amount_wan;
        if m.supplier_in_zone {
            self.in_zone_amount_wan += m.amount_wan;
        }
    }

    /// The local sourcing rate (0 when nothing was signed).
    pub fn rate(&self) -> f64 {
        if self.signed_amount_wan > 0.0 {
            self.in_zone_amount_wan / self.signed_amount_wan
        } else {
            0.0
        }
    }
}

/// The firm a posting needs: registered and not deleted (for a new posting).
fn posting_firm(txn: &Txn<'_>, code: &str, creating: bool) -> Result<Enterprise> {
    let firm: Option<Enterprise> = txn.get_record(&keys::enterprise(code))?;
    match firm {
        None => Err(Error::invalid_field(
            "posting.credit_code",
            "UNKNOWN_ENTERPRISE",
            format!("{} is not registered: register the firm first", crate::domain::enterprise::resource_name(code)),
        )),
        Some(f) if creating && f.is_deleted() => Err(Error::FailedPrecondition {
            reason: "ENTERPRISE_DELETED",
            message: format!("{} is deleted: undelete it before posting for it", f.resource_name()),
        }),
        Some(f) => Ok(f),
    }
}

/// NOT an active alliance → an error naming the field.
fn check_visibility(txn: &Txn<'_>, p: &Posting) -> Result<()> {
    if p.visibility_alliance_id.is_empty() {
        return Ok(());
    }
    let alliance: Option<crate::domain::alliance::Alliance> =
        txn.get_record(&keys::alliance(&p.visibility_alliance_id))?;
    match alliance {
        Some(a) if !a.is_deleted() => Ok(()),
        _ => Err(Error::invalid_field(
            "posting.visibility_alliance_id",
            "UNKNOWN_ALLIANCE",
            format!("{:?} is not an active alliance", p.visibility_alliance_id),
        )),
    }
}

impl Store {
    /// Reads one posting.
    pub fn get_posting(&self, id: &str) -> Result<Option<Posting>> {
        self.tree().get(posting_key(id))?.map(|b| codec::decode(&b)).transpose()
    }

    /// Reads one posting or answers NOT_FOUND.
    fn posting(&self, id: &str) -> Result<Posting> {
        self.get_posting(id)?.ok_or_else(|| Error::NotFound { resource: posting_name(id) })
    }

    /// Applies a posting rule atomically. The rule gets the firm's defaults;
    /// a new posting needs a registered, non-deleted firm (`credit_code`), and
    /// a visibility alliance must be an active alliance.
    pub async fn mutate_posting<F>(
        &self,
        id: String,
        credit_code: Option<String>,
        meta: WriteMeta,
        dry_run: bool,
        rule: F,
    ) -> Result<Posting>
    where
        F: FnOnce(Option<Posting>, &PostingDefaults, Micros) -> Result<(ChangeKind, Posting)> + Send + 'static,
    {
        self.write(dry_run, move |txn| {
            if let Some(replayed) = idempotency::replay(txn, &meta)? {
                return Ok(replayed);
            }
            let key = posting_key(&id);
            let current: Option<Posting> = txn.get_record(&key)?;
            let code = match (&current, credit_code) {
                (Some(p), _) => p.credit_code.clone(),
                (None, Some(code)) => code,
                (None, None) => return Err(Error::NotFound { resource: posting_name(&id) }),
            };
            let firm = posting_firm(txn, &code, current.is_none())?;
            let defaults = PostingDefaults::of(&firm, Date::china(txn.now()));
            let (kind, next) = rule(current.clone(), &defaults, txn.now())?;
            if current.as_ref().is_none_or(|c| c.visibility_alliance_id != next.visibility_alliance_id) {
                check_visibility(txn, &next)?;
            }
            let stored = records::commit(txn, current.as_ref(), next, kind, &meta)?;
            records::answer(txn, &meta, &stored);
            Ok(stored)
        })
        .await
    }

    /// Lists postings newest first, after the id `after` (exclusive). A page
    /// stops after [`LIST_SCAN_BUDGET`] examined postings; the returned
    /// position says where the next page starts (`None` at the end).
    pub async fn list_postings(
        &self,
        filter: PostingFilter,
        after: Option<String>,
        page_size: usize,
        today: Date,
    ) -> Result<(Vec<Posting>, Option<String>)> {
        let store = self.clone();
        blocking(move || {
            let ids = match &filter.credit_code {
                Some(code) => store.ids_under(&firm_postings_prefix(code), after.as_deref())?,
                None => store.ids_newest_first(keys::POSTING, after.as_deref()),
            };
            page_newest_first(ids, |id| store.get_posting(id), |p| filter.matches(p, today), page_size)
        })
        .await
    }

    /// The ids at the end of the index keys under `prefix`, newest first,
    /// before `after`.
    fn ids_under(&self, prefix: &[u8], after: Option<&str>) -> Result<IdIter> {
        let mut ids: Vec<String> = self
            .tree()
            .scan_prefix(prefix)
            .keys()
            .filter_map(|k| k.map(|k| id_of_entry(&k)).transpose())
            .collect::<Result<_>>()?;
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.retain(|id| after.is_none_or(|a| id.as_str() < a));
        Ok(Box::new(ids.into_iter().map(Ok)))
    }

    /// The ids of the records under a one-byte prefix, newest first, before
    /// `after`.
    fn ids_newest_first(&self, prefix: u8, after: Option<&str>) -> IdIter {
        let end = match after {
            Some(id) => {
                let mut k = vec![prefix];
                k.extend_from_slice(id.as_bytes());
                k
            }
            None => keys::prefix_end(&[prefix]),
        };
        Box::new(self.tree().range(vec![prefix]..end).rev().map(|e| {
            let (k, _) = e?;
            Ok(String::from_utf8_lossy(&k[1..]).to_string())
        }))
    }

    /// The firms and alliances a scorer needs: a firm's active alliances.
    fn alliances_of(&self, code: &str) -> Result<Option<(Enterprise, Vec<String>)>> {
        Ok(self.get_enterprise(code)?.map(|e| {
            let ids = e.memberships.iter().map(|m| m.alliance_id.clone()).collect();
            (e, ids)
        }))
    }

    /// The display names of the alliances two firms share.
    fn shared_alliance_names(&self, a: &[String], b: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for id in a.iter().filter(|id| b.contains(id)) {
            let name = self.get_alliance(id)?.map(|al| al.display_name).unwrap_or_else(|| id.clone());
            out.push(name);
        }
        Ok(out)
    }

    /// The active members of the given alliances → the names of those
    /// alliances they are in.
    fn allies(&self, alliance_ids: &[String]) -> Result<HashMap<String, Vec<String>>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for id in alliance_ids {
            let name = self.get_alliance(id)?.map(|a| a.display_name).unwrap_or_else(|| id.clone());
            for entry in self.tree().scan_prefix(keys::memberships_of_alliance(id)) {
                let (_, v) = entry?;
                let m: Membership = codec::decode(&v)?;
                if m.state() == MembershipState::Active {
                    out.entry(m.credit_code).or_default().push(name.clone());
                }
            }
        }
        Ok(out)
    }

    /// How rare the query's keywords are among open postings of `kind`.
    fn keyword_stats(&self, kind: PostingKind, words: &[String]) -> Result<KeywordStats> {
        let tree = self.tree();
        let mut stats = KeywordStats { postings: writer::read_u64(tree, &open_count(kind))?, ..Default::default() };
        for w in words {
            stats.frequency.insert(w.clone(), writer::read_u64(tree, &keyword_count(kind, w))?);
        }
        Ok(stats)
    }

    /// Scores a supply–demand pair as of `today`, for a match's snapshot.
    pub async fn score_pair(&self, supply_id: String, demand_id: String, today: Date) -> Result<(f64, Vec<String>)> {
        let store = self.clone();
        blocking(move || {
            let supply = store.posting(&supply_id)?;
            let demand = store.posting(&demand_id)?;
            let stats = store.keyword_stats(PostingKind::Supply, &demand.keywords)?;
            let a = store.alliances_of(&demand.credit_code)?.map(|x| x.1).unwrap_or_default();
            let b = store.alliances_of(&supply.credit_code)?.map(|x| x.1).unwrap_or_default();
            let shared = store.shared_alliance_names(&a, &b)?;
            let ctx = Context { stats: &stats, shared_alliances: &shared, today, explain: true };
            let scored = matching::score(&demand, &supply, &ctx);
            Ok((scored.score, scored.reasons()))
        })
        .await
    }

    /// Ranks the open counterparts of an open posting. Candidates come from
    /// the category index (the posting's class, then group, then division)
    /// and the keyword index (rarest keywords first), never from a scan of
    /// all postings; each is scored, the best are checked against their
    /// firms (deleted firms and postings not visible to the asker drop out,
    /// shared alliances add points) until the page is certain.
    pub async fn suggest(&self, id: String, limit: usize, min_score: f64, today: Date) -> Result<Suggestions> {
        let store = self.clone();
        blocking(move || {
            let query = store.posting(&id)?;
            let state = query.state_on(today);
            if state != PostingState::Open {
                return Err(Error::FailedPrecondition {
                    reason: "POSTING_NOT_OPEN",
                    message: format!(
                        "{} is {}: suggestions are for open postings",
                        query.resource_name(),
                        state.name()
                    ),
                });
            }
            let kind = query.kind().counterpart();
            let tree = store.tree();
            let Some((_, asker_alliances)) = store.alliances_of(&query.credit_code)? else {
                return Err(Error::NotFound { resource: crate::domain::enterprise::resource_name(&query.credit_code) });
            };
            // Which firms share an alliance with the asker, read once from
            // the rosters, so that every candidate is scored in full here.
            let allies = store.allies(&asker_alliances)?;
            let stats = store.keyword_stats(kind, &query.keywords)?;
            let ctx = Context { stats: &stats, shared_alliances: &[], today, explain: false };
            // A posting visible to one alliance is served only by its members.
            let audience = match query.visibility_alliance_id.as_str() {
                "" => None,
                id => Some(store.allies(&[id.to_string()])?),
            };
            let mut seen: HashSet<String> = HashSet::new();
            let mut ranked: Vec<(Posting, f64)> = Vec::new();
            // Whether a candidate may be offered at all (open, another firm,
            // visible both ways); if so it is scored.
            let consider = |p: Posting, ranked: &mut Vec<(Posting, f64)>| -> bool {
                let hidden =
                    !p.visibility_alliance_id.is_empty() && !asker_alliances.contains(&p.visibility_alliance_id);
                let outside = audience.as_ref().is_some_and(|members| !members.contains_key(&p.credit_code));
                if hidden || outside || !p.is_open_on(today) || p.credit_code == query.credit_code {
                    return false;
                }
                let shared = allies.get(&p.credit_code).map(Vec::as_slice).unwrap_or(&[]);
                let score = matching::score(&query, &p, &Context { shared_alliances: shared, ..ctx.clone() }).score;
                if score >= min_score {
                    ranked.push((p, score));
                }
                true
            };

            // 1. The same class, then group, then division, newest first,
            //    scored from the summaries the category entries carry.
            //    Expired and hidden entries are skipped without counting
            //    against the candidates, up to a bound on entries read.
            let (mut eligible, mut scanned) = (0, 0);
            if let Some(code) = query.category() {
                'levels: for lookup in matching::category_lookups(&code) {
                    for entry in tree.scan_prefix(category_prefix(kind, lookup.as_str())) {
                        if eligible >= CATEGORY_CANDIDATES || scanned >= CATEGORY_SCAN {
                            break 'levels;
                        }
                        let (key, value) = entry?;
                        let Some(id) = id_of_open_entry(&key) else { continue };
                        if id != query.id && seen.insert(id) {
                            scanned += 1;
                            eligible += usize::from(consider(codec::decode(&value)?, &mut ranked));
                        }
                    }
                }
            }

            // 2. Other categories sharing keywords: the entries (keys only) of
            //    the asker's rarest keywords say which postings share the most
            //    keyword weight; only the best of those are read. Common
            //    words say little and would cost a long scan each.
            let mut rarest: Vec<&String> = query.keywords.iter().collect();
            rarest.sort_by_key(|w| (stats.frequency.get(*w).copied().unwrap_or(0), *w));
            let mut weight: HashMap<String, f64> = HashMap::new();
            for w in rarest.into_iter().take(KEYWORDS_SCANNED) {
                let idf = stats.idf(w);
                for key in tree.scan_prefix(keyword_prefix(kind, w)).keys().take(KEYWORD_CANDIDATES) {
                    if let Some(id) = id_of_open_entry(&key?).filter(|id| *id != query.id && !seen.contains(id)) {
                        *weight.entry(id).or_default() += idf;
                    }
                }
            }
            let mut by_weight: Vec<(String, f64)> = weight.into_iter().collect();
            by_weight.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
            for (id, _) in by_weight.into_iter().take(KEYWORD_FETCHES) {
                if let Some(p) = store.get_posting(&id)? {
                    seen.insert(id);
                    consider(summary(&p), &mut ranked);
                }
            }
            let examined = seen.len();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.id.cmp(&a.0.id)));

            // The best, skipping firms deleted since they posted, with reasons.
            let live = store.live_matches_of(&query.id)?;
            let mut out: Vec<Suggestion> = Vec::with_capacity(limit);
            for (candidate, _) in ranked {
                if out.len() == limit {
                    break;
                }
                if store.get_enterprise(&candidate.credit_code)?.is_none_or(|f| f.is_deleted()) {
                    continue;
                }
                let Some(p) = store.get_posting(&candidate.id)? else { continue };
                let shared = allies.get(&p.credit_code).map(Vec::as_slice).unwrap_or(&[]);
                let scored =
                    matching::score(&query, &p, &Context { shared_alliances: shared, explain: true, ..ctx.clone() });
                let existing_match = live.get(&p.id).cloned();
                out.push(Suggestion { posting: p, scored, existing_match });
            }
            Ok(Suggestions { posting: query, suggestions: out, examined })
        })
        .await
    }

    /// Counterpart posting id → name of the live (not CLOSED) match with it.
    fn live_matches_of(&self, posting_id: &str) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for m in self.matches_of(posting_id)? {
            if m.state() != MatchState::Closed {
                let other = if m.supply_posting_id == posting_id { &m.demand_posting_id } else { &m.supply_posting_id };
                out.insert(other.clone(), m.resource_name());
            }
        }
        Ok(out)
    }

    /// Every match of a posting.
    fn matches_of(&self, posting_id: &str) -> Result<Vec<Match>> {
        let mut out = Vec::new();
        for key in self.tree().scan_prefix(posting_matches_prefix(posting_id)).keys() {
            if let Some(id) = id_of_entry(&key?) {
                if let Some(m) = self.get_match(&id)? {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// Reads one match.
    pub fn get_match(&self, id: &str) -> Result<Option<Match>> {
        self.tree().get(match_key(id))?.map(|b| codec::decode(&b)).transpose()
    }

    /// Records a new match between two postings, checked in the writer: both
    /// exist and are open, one supply and one demand of two registered,
    /// non-deleted firms, and no live match for the pair yet.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_match(
        &self,
        id: String,
        supply_id: String,
        demand_id: String,
        input: MatchInput,
        score: (f64, Vec<String>),
        meta: WriteMeta,
        dry_run: bool,
    ) -> Result<Match> {
        self.write(dry_run, move |txn| {
            if let Some(replayed) = idempotency::replay(txn, &meta)? {
                return Ok(replayed);
            }
            let supply = txn_posting(txn, "match.supply_posting", &supply_id)?;
            let demand = txn_posting(txn, "match.demand_posting", &demand_id)?;
            let mut firms = Vec::with_capacity(2);
            for p in [&supply, &demand] {
                let firm: Option<Enterprise> = txn.get_record(&keys::enterprise(&p.credit_code))?;
                match firm {
                    Some(f) if !f.is_deleted() => firms.push(f),
                    _ => {
                        return Err(Error::FailedPrecondition {
                            reason: "ENTERPRISE_DELETED",
                            message: format!("the firm of {} is deleted", p.resource_name()),
                        })
                    }
                }
            }
            // A posting visible to one alliance is matched only with its members.
            for (p, other, field) in
                [(&supply, &firms[1], "match.supply_posting"), (&demand, &firms[0], "match.demand_posting")]
            {
                let audience = &p.visibility_alliance_id;
                if !audience.is_empty() && !other.memberships.iter().any(|m| &m.alliance_id == audience) {
                    return Err(Error::invalid_field(
                        field,
                        "NOT_VISIBLE",
                        format!(
                            "{} is visible only to the alliance {audience:?}, and {} is not a member",
                            p.resource_name(),
                            other.display_name
                        ),
                    ));
                }
            }
            let step = Step { actor: &meta.actor, now: txn.now(), today: Date::china(txn.now()) };
            let record = supply_demand::create_match(id, &supply, &demand, input, score, &step)?;
            for (key, _) in txn.scan_prefix(&posting_matches_prefix(&supply_id))? {
                let Some(mid) = id_of_entry(&key) else { continue };
                let existing: Option<Match> = txn.get_record(&match_key(&mid))?;
                if let Some(m) =
                    existing.filter(|m| m.demand_posting_id == demand_id && m.state() != MatchState::Closed)
                {
                    return Err(Error::AlreadyExists { resource: m.resource_name(), deleted: false });
                }
            }
            let stored = records::commit(txn, None, record, ChangeKind::Created, &meta)?;
            records::answer(txn, &meta, &stored);
            Ok(stored)
        })
        .await
    }

    /// Applies a match rule (a step) atomically.
    pub async fn mutate_match<F>(&self, id: String, meta: WriteMeta, rule: F) -> Result<Match>
    where
        F: FnOnce(Option<Match>, Date, Micros) -> Result<(ChangeKind, Match)> + Send + 'static,
    {
        self.write(false, move |txn| {
            let today = Date::china(txn.now());
            records::apply(txn, &match_key(&id), &meta, |current, now| rule(current, today, now))
        })
        .await
    }

    /// Lists matches newest first, after the id `after` (exclusive), like
    /// [`Store::list_postings`].
    pub async fn list_matches(
        &self,
        filter: MatchFilter,
        after: Option<String>,
        page_size: usize,
    ) -> Result<(Vec<Match>, Option<String>)> {
        let store = self.clone();
        blocking(move || {
            let ids = match &filter.posting_id {
                Some(p) => store.ids_under(&posting_matches_prefix(p), after.as_deref())?,
                None => store.ids_newest_first(keys::MATCH, after.as_deref()),
            };
            page_newest_first(ids, |id| store.get_match(id), |m| filter.matches(m), page_size)
        })
        .await
    }

    /// Gathers the map: the postings that pass, their firms (most postings
    /// first, at most `max_firms`) and the matches among them.
    pub async fn supply_demand_map(&self, q: MapQuery, today: Date) -> Result<MapData> {
        let store = self.clone();
        blocking(move || {
            let tree = store.tree();
            let mut data = MapData::default();
            let mut postings: Vec<Posting> = Vec::new();
            let mut consider = |p: Posting, data: &mut MapData| {
                data.examined += 1;
                let state = p.state_on(today);
                let wanted = if q.state == PostingState::Unspecified { PostingState::Open } else { q.state };
                if state == wanted
                    && q.industry_code.as_ref().is_none_or(|c| p.industry_code.starts_with(c.as_str()))
                    && q.in_zone.is_none_or(|z| p.in_zone == z)
                {
                    postings.push(p);
                }
            };
            if let Some(alliance) = &q.alliance_id {
                for entry in tree.scan_prefix(keys::memberships_of_alliance(alliance)) {
                    let (_, v) = entry?;
                    let m: Membership = codec::decode(&v)?;
                    if m.state() != MembershipState::Active {
                        continue;
                    }
                    for key in tree.scan_prefix(firm_postings_prefix(&m.credit_code)).keys() {
                        if data.examined >= REPORT_POSTING_BUDGET {
                            data.truncated = true;
                            break;
                        }
                        if let Some(p) = id_of_entry(&key?).map(|id| store.get_posting(&id)).transpose()?.flatten() {
                            consider(p, &mut data);
                        }
                    }
                }
            } else {
                for entry in tree.scan_prefix([keys::POSTING]) {
                    if data.examined >= REPORT_POSTING_BUDGET {
                        data.truncated = true;
                        break;
                    }
                    let (_, v) = entry?;
                    consider(codec::decode(&v)?, &mut data);
                }
            }
            // Postings of deleted firms are not on the map, at either level.
            let mut by_firm: BTreeMap<String, Vec<Posting>> = BTreeMap::new();
            {
                let index = store.index()?;
                for p in postings {
                    if index.is_live(&p.credit_code) {
                        by_firm.entry(p.credit_code.clone()).or_default().push(p);
                    }
                }
            }
            data.qualifying_firms = by_firm.len();
            data.level = match q.level {
                MapLevel::Auto if by_firm.len() > q.max_firms => MapLevel::Category,
                MapLevel::Auto => MapLevel::Firm,
                level => level,
            };
            // Signed deals on each demand posting, read once.
            let mut signed: HashMap<&str, (usize, f64)> = HashMap::new();
            for p in by_firm.values().flatten().filter(|p| p.kind() == PostingKind::Demand) {
                for m in store.matches_of(&p.id)?.into_iter().filter(|m| m.state().is_signed()) {
                    let s = signed.entry(p.id.as_str()).or_default();
                    s.0 += 1;
                    s.1 += m.amount_wan;
                }
            }
            // The firm level names each posting's own class; the overview
            // rolls up to groups (中类) or divisions (大类) when classes are
            // too many to read.
            let levels: &[Level] = if data.level == MapLevel::Category {
                &[Level::Class, Level::Group, Level::Division]
            } else {
                &[Level::Class]
            };
            for (i, &level) in levels.iter().enumerate() {
                data.categories = map_categories(&by_firm, level, &signed);
                if data.categories.len() <= MAX_OVERVIEW_CATEGORIES || i + 1 == levels.len() {
                    break;
                }
            }
            if data.level == MapLevel::Category {
                return Ok(data);
            }
            let mut firms: Vec<(String, Vec<Posting>)> = by_firm.into_iter().collect();
            firms.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
            let mut shown: HashSet<String> = HashSet::new();
            for (code, ps) in firms {
                if data.firms.len() >= q.max_firms {
                    data.truncated = true;
                    break;
                }
                let Some(e) = store.get_enterprise(&code)? else { continue };
                shown.extend(ps.iter().map(|p| p.id.clone()));
                data.firms.push(MapFirm { enterprise: e, postings: ps });
            }
            let mut seen = HashSet::new();
            for firm in &data.firms {
                for p in &firm.postings {
                    for m in store.matches_of(&p.id)? {
                        let both = shown.contains(&m.supply_posting_id) && shown.contains(&m.demand_posting_id);
                        let closed_ok = q.include_closed_matches || m.state() != MatchState::Closed;
                        if both && closed_ok && seen.insert(m.id.clone()) {
                            data.matches.push(m);
                        }
                    }
                }
            }
            Ok(data)
        })
        .await
    }

    /// Categories with open demand and the in-zone supply posted for them.
    pub async fn chain_gaps(&self, q: GapQuery, today: Date) -> Result<Vec<ChainGap>> {
        let store = self.clone();
        blocking(move || {
            let tree = store.tree();
            let mut gaps: BTreeMap<String, ChainGap> = BTreeMap::new();
            let mut firms = LiveFirms::new(&store);
            let root = category_prefix(PostingKind::Demand, q.industry_code.as_ref().map_or("", |c| c.as_str()));
            for (n, entry) in tree.scan_prefix(&root).enumerate() {
                if n >= REPORT_POSTING_BUDGET {
                    break;
                }
                let (_, value) = entry?;
                let p: Posting = codec::decode(&value)?;
                if !p.is_open_on(today) {
                    continue;
                }
                // Demand of deleted firms, or of firms outside the alliance, does not count.
                let Some(alliances) = firms.live(&p.credit_code)? else { continue };
                if q.alliance_id.as_ref().is_some_and(|a| !alliances.contains(a)) {
                    continue;
                }
                let category = group_code(&p.industry_code, q.level);
                let gap = gaps
                    .entry(category.clone())
                    .or_insert_with(|| ChainGap { industry_code: category, ..Default::default() });
                gap.open_demands += 1;
                gap.open_demand_amount_wan += p.amount_wan;
                if !p.chain_segment.is_empty() {
                    gap.chain_segments.insert(p.chain_segment.clone());
                }
                gap.demanding_firms.entry(p.credit_code.clone()).or_default().push(p.resource_name());
            }
            let mut out = Vec::new();
            for (code, mut gap) in gaps {
                for entry in tree.scan_prefix(category_prefix(PostingKind::Supply, &code)) {
                    let (_, value) = entry?;
                    let p: Posting = codec::decode(&value)?;
                    if p.is_open_on(today) && firms.live(&p.credit_code)?.is_some() {
                        if p.in_zone {
                            gap.in_zone_supplies += 1;
                        } else {
                            gap.out_of_zone_supplies += 1;
                        }
                    }
                }
                if q.include_covered || gap.in_zone_supplies == 0 {
                    out.push(gap);
                }
            }
            out.sort_by(|a, b| {
                (a.in_zone_supplies > 0)
                    .cmp(&(b.in_zone_supplies > 0))
                    .then(b.open_demand_amount_wan.total_cmp(&a.open_demand_amount_wan))
                    .then(b.open_demands.cmp(&a.open_demands))
                    .then(a.industry_code.cmp(&b.industry_code))
            });
            Ok(out)
        })
        .await
    }

    /// The local sourcing rate of the deals signed from `start` to `end`
    /// (inclusive): zone-wide, and per alliance of the demanding firm.
    pub async fn sourcing_rate(&self, start: Date, end: Date) -> Result<(Sourcing, BTreeMap<String, Sourcing>)> {
        let store = self.clone();
        blocking(move || {
            let mut zone = Sourcing::default();
            let mut alliances: BTreeMap<String, Sourcing> = BTreeMap::new();
            for entry in store.tree().scan_prefix([keys::MATCH]) {
                let (_, v) = entry?;
                let m: Match = codec::decode(&v)?;
                let signed = Date::parse(&m.signed_date);
                if !m.state().is_signed() || signed.is_none_or(|d| d < start || d > end) {
                    continue;
                }
                zone.add(&m);
                if let Some(e) = store.get_enterprise(&m.demander_credit_code)? {
                    for membership in &e.memberships {
                        alliances.entry(membership.alliance_id.clone()).or_default().add(&m);
                    }
                }
            }
            Ok((zone, alliances))
        })
        .await
    }
}

type IdIter = Box<dyn Iterator<Item = Result<String>>>;

/// One page of records from ids in serving order: stops when the page is
/// full and another id follows, or after [`LIST_SCAN_BUDGET`] ids, and then
/// returns the last id examined as the next page's position.
fn page_newest_first<T>(
    ids: IdIter,
    fetch: impl Fn(&str) -> Result<Option<T>>,
    keep: impl Fn(&T) -> bool,
    page_size: usize,
) -> Result<(Vec<T>, Option<String>)> {
    let mut out = Vec::new();
    let mut last = None;
    for (examined, id) in ids.enumerate() {
        let id = id?;
        if examined == LIST_SCAN_BUDGET || out.len() == page_size {
            return Ok((out, last));
        }
        if let Some(record) = fetch(&id)? {
            if keep(&record) {
                out.push(record);
            }
        }
        last = Some(id);
    }
    Ok((out, None))
}

/// The active alliances of live (registered, not deleted) firms, each firm
/// read once per report.
struct LiveFirms<'a> {
    store: &'a Store,
    seen: HashMap<String, Option<Vec<String>>>,
}

impl<'a> LiveFirms<'a> {
    fn new(store: &'a Store) -> Self {
        Self { store, seen: HashMap::new() }
    }

    /// The firm's active alliances, or `None` when it is deleted or unknown.
    fn live(&mut self, code: &str) -> Result<Option<&[String]>> {
        if !self.seen.contains_key(code) {
            let alliances = self
                .store
                .get_enterprise(code)?
                .filter(|e| !e.is_deleted())
                .map(|e| e.memberships.iter().map(|m| m.alliance_id.clone()).collect());
            self.seen.insert(code.to_string(), alliances);
        }
        Ok(self.seen.get(code).and_then(|a| a.as_deref()))
    }
}

/// A posting read inside a write, NOT_FOUND naming the request field.
fn txn_posting(txn: &Txn<'_>, field: &str, id: &str) -> Result<Posting> {
    txn.get_record(&posting_key(id))?
        .ok_or_else(|| Error::invalid_field(field, "UNKNOWN_POSTING", format!("{} does not exist", posting_name(id))))
}

/// The code of a posting's category at `level` (its own code when coarser).
pub fn group_code(code: &str, level: Level) -> String {
    match IndustryCode::parse(code) {
        Ok(c) if c.level() > level => {
            c.prefixes().into_iter().find(|p| p.level() == level).map(|p| p.as_str().to_string()).unwrap_or_default()
        }
        _ => code.to_string(),
    }
}

/// Checks that every posting has exactly its open-only index entries and
/// counters, and every match its posting entries; the problems found.
pub(crate) fn check_postings(tree: &crate::store::kv::Kv) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut expected: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for entry in tree.scan_prefix([keys::POSTING]) {
        let (_, v) = entry?;
        let p: Posting = codec::decode(&v)?;
        expected.extend(open_entries(&p));
        if let Some(key) = category_entry(&p) {
            let carried: Option<Posting> = tree.get(&key)?.map(|v| codec::decode(&v)).transpose()?;
            if carried.is_some_and(|c| c != summary(&p)) {
                problems.push(format!("{} has a stale category summary", p.resource_name()));
            }
        }
        let mut firm = firm_postings_prefix(&p.credit_code);
        firm.extend_from_slice(p.id.as_bytes());
        expected.insert(firm);
        for key in open_counters(&p) {
            *counts.entry(key).or_default() += 1;
        }
    }
    for entry in tree.scan_prefix([keys::MATCH]) {
        let (_, v) = entry?;
        let m: Match = codec::decode(&v)?;
        for posting in [&m.supply_posting_id, &m.demand_posting_id] {
            let mut k = posting_matches_prefix(posting);
            k.extend_from_slice(m.id.as_bytes());
            expected.insert(k);
        }
    }
    let mut actual = BTreeSet::new();
    for prefix in [keys::POSTING_CATEGORY, keys::POSTING_KEYWORD, keys::FIRM_POSTINGS, keys::POSTING_MATCHES] {
        for key in tree.scan_prefix([prefix]).keys() {
            actual.insert(key?.to_vec());
        }
    }
    for missing in expected.difference(&actual) {
        problems.push(format!("missing posting entry {:?}", String::from_utf8_lossy(missing)));
    }
    for extra in actual.difference(&expected) {
        problems.push(format!("posting entry without record {:?}", String::from_utf8_lossy(extra)));
    }
    let mut stored = BTreeMap::new();
    for prefix in [keys::KEYWORD_COUNT, keys::OPEN_POSTINGS] {
        for key in tree.scan_prefix([prefix]).keys() {
            let key = key?.to_vec();
            stored.insert(key.clone(), writer::read_u64(tree, &key)?);
        }
    }
    if stored != counts {
        problems.push(format!(
            "posting counters disagree with the records ({} stored, {} expected)",
            stored.len(),
            counts.len()
        ));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_ids_are_complemented_so_newer_sorts_first() {
        let (old, new) = ("18c0a0000000000abc", "18c0a0000000100def");
        assert!(newest_first(new) < newest_first(old));
        assert_eq!(newest_first(&newest_first(old)), old);
        let mut key = keyword_prefix(PostingKind::Supply, "电芯");
        key.extend_from_slice(newest_first(new).as_bytes());
        assert_eq!(id_of_open_entry(&key).as_deref(), Some(new));
    }

    #[test]
    fn categories_group_at_the_level_or_their_own_code() {
        assert_eq!(group_code("C3841", Level::Group), "C384");
        assert_eq!(group_code("C3841", Level::Class), "C3841");
        assert_eq!(group_code("C38", Level::Class), "C38");
        assert_eq!(group_code("C3841", Level::Division), "C38");
    }

    #[test]
    fn open_postings_have_entries_and_closed_ones_none() {
        let mut p = Posting {
            id: "abc".into(),
            kind: PostingKind::Supply as i32,
            industry_code: "C3841".into(),
            keywords: vec!["电芯".into()],
            state: PostingState::Open as i32,
            ..Default::default()
        };
        assert_eq!(open_entries(&p).len(), 2);
        assert_eq!(open_counters(&p).len(), 2);
        p.state = PostingState::Closed as i32;
        assert!(open_entries(&p).is_empty());
        assert!(open_counters(&p).is_empty());
    }
}
