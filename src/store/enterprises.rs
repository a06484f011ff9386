//! Enterprise records: the atomic mutation path (record + change log +
//! idempotency in one batch, the in-memory index moved with it) and
//! index-driven listing.
//!
//! A firm costs one sled key (`E{code}`) plus its change-log entry; every
//! secondary index and counter lives in the [`EnterpriseIndex`], which the
//! writer moves with each group. A listing turns its filter into a
//! candidate set ([`EnterpriseIndex::candidates`]), walks it in the
//! requested order from the page token's position, and reads only the
//! records it returns (plus, for conditions no index answers, the records
//! it checks).

use std::collections::HashMap;

use roaring::RoaringBitmap;

use crate::domain::change::WriteMeta;
use crate::domain::enterprise::{Enterprise, Outcome};
use crate::domain::filter::{Field, Filter};
use crate::domain::time::{Date, Micros};
use crate::error::{Error, Result};
use crate::store::index::{self, Candidates, EnterpriseIndex, Entry, SortKey, StageView};
use crate::store::records::{self, Record};
use crate::store::{blocking, codec, keys, Store, Txn};

pub use crate::store::index::OrderKey;

/// Most records one page request may read to check conditions no index
/// answers; a page that reaches it is returned short, with a token to
/// continue.
pub const SCAN_BUDGET: usize = 10_000;
/// When some condition is checked on records, `total_size` is counted
/// exactly by reading every candidate if there are at most this many;
/// beyond, it is estimated from the share of matches among the candidates
/// the page examined.
pub const COUNT_READS: u64 = 2_000;
/// Records read per round of a listing (the index lock is released between
/// rounds).
const ROUND: usize = 256;

/// One page request of `ListEnterprises`, already validated.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Conditions every result meets.
    pub filter: Filter,
    /// Sort key.
    pub order: OrderKey,
    /// Descending order.
    pub desc: bool,
    /// Include soft-deleted records.
    pub show_deleted: bool,
    /// Results wanted (1..=1000).
    pub page_size: usize,
    /// Position after which to continue (from a page token).
    pub after: Option<Vec<u8>>,
    /// Count all matches (first page only).
    pub count_total: bool,
    /// Most records this page may read to check conditions (default
    /// [`SCAN_BUDGET`]).
    pub scan_budget: Option<usize>,
    /// Most candidates whose records are read to count `total_size`
    /// exactly when a condition needs records (default [`COUNT_READS`]).
    pub count_reads: Option<u64>,
}

/// The page-token position of `e` in `order`: a page that ends with `e`
/// resumes after it (used when a page is shortened to fit a message).
pub fn position_of(e: &Enterprise, order: OrderKey) -> Result<Vec<u8>> {
    let code = index::code_of(&e.credit_code)?;
    Ok(match order {
        OrderKey::CreditCode => SortKey::Code(code),
        OrderKey::DisplayName => SortKey::Name(e.display_name.as_str().into(), code),
        OrderKey::CreateTime => SortKey::Created(e.create_time, code),
    }
    .encode())
}

/// One page of results.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// The matching records of this page.
    pub items: Vec<Enterprise>,
    /// Where the next page starts; `None` on the last page.
    pub resume: Option<Vec<u8>>,
    /// Number of all matches, when counted.
    pub total: Option<u64>,
    /// Whether `total` is exact (every condition answered by the index, or
    /// every candidate checked).
    pub exact_total: bool,
}

impl Store {
    /// Reads one enterprise (deleted or not).
    pub fn get_enterprise(&self, credit_code: &str) -> Result<Option<Enterprise>> {
        self.tree().get(keys::enterprise(credit_code))?.map(|bytes| codec::decode(&bytes)).transpose()
    }

    /// The records of `codes`, in their order: one read on PostgreSQL (the
    /// walks below read [`Kv::read_batch`] firms at a time).
    fn get_enterprises<'a>(&self, codes: impl Iterator<Item = &'a index::Code>) -> Result<Vec<Option<Enterprise>>> {
        let keys: Vec<Vec<u8>> = codes.map(|c| keys::enterprise(std::str::from_utf8(c).unwrap_or_default())).collect();
        let mut found: HashMap<Vec<u8>, crate::store::kv::Bytes> = self.tree().get_many(&keys)?.into_iter().collect();
        keys.iter().map(|k| found.remove(k).map(|bytes| codec::decode(&bytes)).transpose()).collect()
    }

    /// Applies a mutation rule to one enterprise atomically: the rule sees the
    /// stored record and the commit time and returns the new record; the
    /// store writes it with its index changes, a change-log entry and the
    /// idempotency record, and answers once durable. A request id already
    /// used for the same request returns the original answer unchanged; an
    /// update that changes nothing writes nothing.
    pub async fn mutate_enterprise<F>(
        &self,
        credit_code: String,
        meta: WriteMeta,
        dry_run: bool,
        rule: F,
    ) -> Result<Enterprise>
    where
        F: FnOnce(Option<Enterprise>, Micros) -> Result<Outcome> + Send + 'static,
    {
        self.write(dry_run, move |txn| apply_enterprise(txn, &credit_code, &meta, rule)).await
    }

    /// Serves one page of `ListEnterprises` from the in-memory index.
    pub async fn list_enterprises(&self, query: ListQuery) -> Result<ListPage> {
        let store = self.clone();
        blocking(move || store.list_blocking(&query)).await
    }

    /// Reads the index (shared with the writer, which holds it only to
    /// apply a group).
    pub(crate) fn index(&self) -> Result<std::sync::RwLockReadGuard<'_, EnterpriseIndex>> {
        self.inner.index.read().map_err(|_| Error::Internal("index lock poisoned".into()))
    }

    /// The index's write lock: the committer holds it while it applies a
    /// group, so holding it marks a moment between two groups.
    pub(crate) fn index_for_writes(&self) -> Result<std::sync::RwLockWriteGuard<'_, EnterpriseIndex>> {
        self.inner.index.write().map_err(|_| Error::Internal("index lock poisoned".into()))
    }

    /// How stage conditions are answered on `day`: from the index today
    /// (corrected by the records of the firms the sweeper has not moved
    /// yet), from records on any other day.
    fn stage_view(&self, filter: &Filter, day: Date) -> Result<StageView> {
        if day != Date::today() {
            return Ok(StageView::Records);
        }
        if !filter.conditions().iter().any(|c| c.field == Field::Stage) {
            return Ok(StageView::Today(HashMap::new()));
        }
        let pending: Vec<(u32, index::Code)> = {
            let index = self.index()?;
            let set = index.pending_stages(&day.to_string());
            set.iter().filter_map(|ord| index.code(ord).map(|c| (ord, *c))).collect()
        };
        let mut fixes = HashMap::with_capacity(pending.len());
        for chunk in pending.chunks(self.tree().read_batch()) {
            for ((ord, _), record) in chunk.iter().zip(self.get_enterprises(chunk.iter().map(|(_, c)| c))?) {
                if let Some(e) = record {
                    fixes.insert(*ord, e.stage_on(day) as i32);
                }
            }
        }
        Ok(StageView::Today(fixes))
    }

    /// The firms a filter can match on `day`, masked to the visible ones.
    fn candidate_set(&self, filter: &Filter, day: Date, show_deleted: bool) -> Result<(RoaringBitmap, bool)> {
        let view = self.stage_view(filter, day)?;
        let index = self.index()?;
        let Candidates { set, exact } = index.candidates(&filter.expr, &view);
        Ok((index.visible(set, show_deleted), exact))
    }

    fn list_blocking(&self, q: &ListQuery) -> Result<ListPage> {
        let invalid = || Error::invalid_field("page_token", "INVALID_PAGE_TOKEN", "is not a page token of this server");
        let mut after = match &q.after {
            Some(bytes) => Some(SortKey::decode(bytes, q.order).ok_or_else(invalid)?),
            None => None,
        };
        let show_deleted = q.show_deleted || q.filter.mentions_deleted();
        let (set, exact) = self.candidate_set(&q.filter, Date::today(), show_deleted)?;
        let accept = |e: &Enterprise| (show_deleted || !e.is_deleted()) && q.filter.matches(e);
        let mut page = ListPage::default();
        let first = q.after.is_none();
        if q.count_total && first {
            if exact {
                page.total = Some(set.len());
                page.exact_total = true;
            } else if set.len() <= q.count_reads.unwrap_or(COUNT_READS) {
                page.total = Some(self.count_matching(&set, &accept)?);
                page.exact_total = true;
            }
        }
        // Walk the candidates in order, reading each record: the page takes
        // those that (still) match, up to one past its size.
        let budget = q.scan_budget.unwrap_or(SCAN_BUDGET).max(1);
        let (mut examined, mut matched) = (0u64, 0u64);
        let mut last_returned: Option<SortKey> = None;
        loop {
            let want = if exact { q.page_size + 1 - page.items.len().min(q.page_size) } else { ROUND };
            let walk = self.index()?.walk(&set, q.order, q.desc, after.as_ref(), want);
            for chunk in walk.found.chunks(self.tree().read_batch()) {
                let records = self.get_enterprises(chunk.iter().map(|(_, code)| code))?;
                for ((key, _), record) in chunk.iter().zip(records) {
                    let Some(record) = record else { continue };
                    examined += 1;
                    if accept(&record) {
                        matched += 1;
                        if page.items.len() == q.page_size {
                            // One more match exists: this page is not the last.
                            page.resume = last_returned.map(|k| k.encode());
                            return self.finish(page, q, first, &set, examined, matched);
                        }
                        page.items.push(record);
                        last_returned = Some(key.clone());
                    }
                    if examined as usize >= budget {
                        // Out of budget: hand back what we have and where to go on.
                        page.resume = Some(key.encode());
                        return self.finish(page, q, first, &set, examined, matched);
                    }
                    after = Some(key.clone());
                }
            }
            if walk.done {
                return self.finish(page, q, first, &set, examined, matched);
            }
            after = walk.last.or(after);
        }
    }

    /// Completes a page's total when it was not known exactly up front: an
    /// estimate from the share of matches among the candidates examined.
    fn finish(
        &self,
        mut page: ListPage,
        q: &ListQuery,
        first: bool,
        set: &RoaringBitmap,
        examined: u64,
        matched: u64,
    ) -> Result<ListPage> {
        if q.count_total && first && page.total.is_none() {
            // A first page that is also the last has seen every candidate.
            page.exact_total = page.resume.is_none();
            page.total = Some(if page.resume.is_none() {
                matched
            } else {
                let estimate = u128::from(matched) * u128::from(set.len()) / u128::from(examined.max(1));
                u64::try_from(estimate).unwrap_or(u64::MAX).max(matched)
            });
        }
        Ok(page)
    }

    /// Counts the members of `set` whose records pass `accept`.
    fn count_matching(&self, set: &RoaringBitmap, accept: &impl Fn(&Enterprise) -> bool) -> Result<u64> {
        let mut count = 0;
        for chunk in self.codes_of(set)?.chunks(self.tree().read_batch()) {
            count += self.get_enterprises(chunk.iter())?.into_iter().flatten().filter(|e| accept(e)).count() as u64;
        }
        Ok(count)
    }

    /// The promotion zones that live firms name but `configured` does not
    /// list, with how many firms name each (none when nothing is
    /// configured: then any zone is accepted).
    pub fn zones_outside(&self, configured: &[String]) -> Result<Vec<(String, u64)>> {
        if configured.is_empty() {
            return Ok(Vec::new());
        }
        let index = self.index()?;
        Ok(index
            .values_of(index::id::ZONE)
            .filter(|zone| !configured.iter().any(|c| c.as_bytes() == *zone))
            .map(|zone| (String::from_utf8_lossy(zone).into_owned(), index.live_with(index::id::ZONE, zone)))
            .filter(|(_, firms)| *firms > 0)
            .collect())
    }

    /// The credit codes of a set of ordinals.
    fn codes_of(&self, set: &RoaringBitmap) -> Result<Vec<index::Code>> {
        let index = self.index()?;
        Ok(set.iter().filter_map(|ord| index.code(ord).copied()).collect())
    }

    /// Calls `visit` for every live enterprise matching `filter` (stages
    /// taken on `day`), and with `on_ladder` only for those with any stage
    /// span, reading only the records of the candidates the index gives
    /// (for reports; no page budget).
    pub(crate) fn for_each_matching(
        &self,
        filter: &Filter,
        day: Date,
        on_ladder: bool,
        mut visit: impl FnMut(Enterprise) -> Result<()>,
    ) -> Result<()> {
        let show_deleted = filter.mentions_deleted();
        let (mut set, _) = self.candidate_set(filter, day, show_deleted)?;
        if on_ladder {
            set &= self.index()?.set(index::id::LADDER, b"").cloned().unwrap_or_default();
        }
        for chunk in self.codes_of(&set)?.chunks(self.tree().read_batch()) {
            for e in self.get_enterprises(chunk.iter())?.into_iter().flatten() {
                if (show_deleted || !e.is_deleted()) && filter.matches_on(&e, day) {
                    visit(e)?;
                }
            }
        }
        Ok(())
    }

    /// The number of live firms matching `filter` (stages taken on `day`):
    /// the size of its set when the index answers it alone, else counted on
    /// the candidates' records.
    pub(crate) fn count_filter(&self, filter: &Filter, day: Date) -> Result<u64> {
        let show_deleted = filter.mentions_deleted();
        let (set, exact) = self.candidate_set(filter, day, show_deleted)?;
        if exact {
            return Ok(set.len());
        }
        self.count_matching(&set, &|e: &Enterprise| (show_deleted || !e.is_deleted()) && filter.matches_on(e, day))
    }
}

/// The enterprise mutation path inside a transaction.
pub(crate) fn apply_enterprise<F>(txn: &mut Txn<'_>, credit_code: &str, meta: &WriteMeta, rule: F) -> Result<Enterprise>
where
    F: FnOnce(Option<Enterprise>, Micros) -> Result<Outcome>,
{
    records::apply(txn, &keys::enterprise(credit_code), meta, rule)
}

impl Record for Enterprise {
    const CHAINED: bool = true;

    records::record_basics!();

    fn log_head(&self) -> u64 {
        self.log_head
    }

    fn set_log_head(&mut self, revision: u64) {
        self.log_head = revision;
    }

    fn put(txn: &mut Txn<'_>, old: Option<&Self>, new: &Self) -> Result<()> {
        put_enterprise(txn, old, new)
    }
}

/// Writes an enterprise record and records its index move from `old`'s
/// entry to `new`'s (applied when the group commits). Logs nothing:
/// callers log.
pub(crate) fn put_enterprise(txn: &mut Txn<'_>, old: Option<&Enterprise>, new: &Enterprise) -> Result<()> {
    let before = old.map(Entry::of).transpose()?;
    let after = Entry::of(new)?;
    txn.put(keys::enterprise(&new.credit_code), codec::encode(new));
    if before.as_ref() != Some(&after) {
        txn.reindex(crate::store::index::Delta::Firm(before, after));
    }
    Ok(())
}

/// Checks that the in-memory index equals one rebuilt from the records, and
/// that every record's projections and history agree with what they derive
/// from: the invariant the crash tests verify.
pub fn check_consistency(store: &Store) -> Result<Vec<String>> {
    // On PostgreSQL, first every commit of every server (the check is then
    // exact while no other server writes).
    store.catch_up()?;
    let tree = store.tree();
    let mut problems = Vec::new();
    let mut memberships = super::alliances::expected_projections(tree)?;
    let oldest_retained = store.oldest_retained()?;
    let head = store.next_revision()?.saturating_sub(1);
    // The index is compared with the records as of one moment: no group may
    // be applied between reading the records and reading the index.
    let index = store.index()?;
    let mut problems_of_records = Vec::new();
    let mut rebuilt = EnterpriseIndex::build(tree.scan_prefix([keys::ENTERPRISE]).map(|entry| {
        let (key, value) = entry?;
        let record: Enterprise = codec::decode(&value)?;
        let problems = &mut problems_of_records;
        if key[1..] != *record.credit_code.as_bytes() {
            problems.push(format!("record under {:?} holds {}", String::from_utf8_lossy(&key), record.credit_code));
        }
        if record.stage_spans != crate::domain::ladder::spans(&store.designations_of(&record.credit_code)?) {
            problems.push(format!("{} has stage spans its designations disagree with", record.resource_name()));
        }
        if record.memberships != memberships.remove(&record.credit_code).unwrap_or_default() {
            problems
                .push(format!("{} projects memberships its membership records disagree with", record.resource_name()));
        }
        problems.extend(check_history(store, &record, oldest_retained, head)?);
        Entry::of(&record)
    }))?;
    problems.extend(problems_of_records);
    problems.extend(index.differences(&rebuilt));
    rebuilt.projects = super::projects::ProjectIndex::load(tree)?;
    problems.extend(index.projects.differences(&rebuilt.projects));
    drop(index);
    problems.extend(super::supply_demand::check_postings(tree)?);
    problems.extend(super::projects::check_projects(tree)?);
    Ok(problems)
}

/// Checks that a firm's history is reachable: its newest change is logged
/// under its name, and every chained entry points to an older one of the
/// same resource.
fn check_history(store: &Store, record: &Enterprise, oldest_retained: u64, head: u64) -> Result<Vec<String>> {
    let name = record.resource_name();
    let mut problems = Vec::new();
    if record.log_head == 0 {
        // Written by an older layout and not changed since: its history is
        // in the per-resource index.
        if record.revision >= oldest_retained
            && store.tree().scan_prefix(keys::resource_log_prefix(&name)).next().is_none()
        {
            problems.push(format!("{name} has no change-log entry"));
        }
        return Ok(problems);
    }
    if record.log_head > head {
        problems.push(format!("{name} names change {} beyond the head {head}", record.log_head));
        return Ok(problems);
    }
    let mut at = record.log_head;
    while at >= oldest_retained && at != 0 {
        let Some(bytes) = store.tree().get(keys::log(at))? else {
            problems.push(format!("{name}'s history names change {at}, which the log does not hold"));
            break;
        };
        let change: crate::domain::change::Change = codec::decode(&bytes)?;
        if change.resource != name {
            problems.push(format!("{name}'s history names change {at}, which is of {}", change.resource));
            break;
        }
        if change.previous_revision >= at {
            problems.push(format!("{name}'s change {at} chains forward to {}", change.previous_revision));
            break;
        }
        at = change.previous_revision;
    }
    Ok(problems)
}
