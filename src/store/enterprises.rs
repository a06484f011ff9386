//! Enterprise records: the atomic mutation path (record + indexes + change log
//! + idempotency in one batch) and index-driven listing.
//!
//! Secondary indexes (`X` keys, see [`keys`]), one byte per index:
//!
//! | id  | value                                   | serves                     |
//! |-----|-----------------------------------------|----------------------------|
//! | `i` | every level of the industry code        | `industry_code = "C37"`    |
//! | `r` | 2-, 4- and 6-digit region prefixes      | `region = "6101"`          |
//! | `z` | promotion zone                          | `zone = "east"`            |
//! | `o` | organisation type (code positions 1–2)  | `organisation_type = "91"` |
//! | `t` | each tag                                | `tags:"x"`                 |
//! | `c` | service commissioner                    | `service_commissioner = …` |
//! | `n` | display name                            | `order_by display_name`    |
//! | `k` | create time                             | `order_by create_time`     |
//!
//! Soft-deleted records keep their index entries (they are filtered out when
//! read), so delete and undelete touch only the record.

use std::collections::BTreeSet;
use std::ops::Bound;

use crate::domain::change::WriteMeta;
use crate::domain::enterprise::{Enterprise, Outcome};
use crate::domain::filter::{Field, Filter};
use crate::domain::industry::IndustryCode;
use crate::domain::time::{Date, Micros};
use crate::error::{Error, Result};
use crate::store::records::{self, Record};
use crate::store::{blocking, codec, keys, writer, Store, Txn};

/// Most index or record entries one page request may examine; a page that
/// hits the budget is returned short, with a token to continue.
pub const SCAN_BUDGET: usize = 10_000;
/// Most entries a first page examines in all (its own and, once it is
/// full, further ones only counted) to count `total_size` exactly; beyond
/// it, or after [`COUNT_READS`] further records, the total is estimated
/// from the share of matches among the entries examined.
pub const COUNT_SAMPLE: u64 = 5_000;
/// Most records a first page reads only to count, once it is full (an
/// entry's index keys are checked first, so only candidates are read).
pub const COUNT_READS: u64 = 250;

const IDX_INDUSTRY: u8 = b'i';
const IDX_REGION: u8 = b'r';
const IDX_ZONE: u8 = b'z';
const IDX_ORG_TYPE: u8 = b'o';
const IDX_TAG: u8 = b't';
const IDX_COMMISSIONER: u8 = b'c';
const IDX_NAME: u8 = b'n';
const IDX_CREATED: u8 = b'k';
/// Index of active alliance memberships (value: alliance id).
pub(crate) const IDX_ALLIANCE: u8 = b'a';
/// Index of the stage as of the last designation change or sweep (value: rung number).
const IDX_STAGE: u8 = b's';
/// Index of the next date a firm's stage may change (value: `YYYY-MM-DD`), for the sweeper.
pub(crate) const IDX_STAGE_DUE: u8 = b'T';
/// Indexes whose values are counted (the equality indexes filters use).
const COUNTED: &[u8] =
    &[IDX_INDUSTRY, IDX_REGION, IDX_ZONE, IDX_ORG_TYPE, IDX_TAG, IDX_COMMISSIONER, IDX_ALLIANCE, IDX_STAGE];

/// The sort order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderKey {
    /// By credit code (the default).
    #[default]
    CreditCode,
    /// By legal name.
    DisplayName,
    /// By registration time in ladder.
    CreateTime,
}

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
    /// Most entries this page may examine (default [`SCAN_BUDGET`]).
    pub scan_budget: Option<usize>,
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
}

impl Store {
    /// Reads one enterprise (deleted or not).
    pub fn get_enterprise(&self, credit_code: &str) -> Result<Option<Enterprise>> {
        self.tree().get(keys::enterprise(credit_code))?.map(|bytes| codec::decode(&bytes)).transpose()
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

    /// Serves one page of `ListEnterprises` from the best index.
    pub async fn list_enterprises(&self, query: ListQuery) -> Result<ListPage> {
        let store = self.clone();
        blocking(move || store.list_blocking(&query)).await
    }

    fn list_blocking(&self, q: &ListQuery) -> Result<ListPage> {
        let tree = self.tree();
        // A later page continues on the range the first page chose, even if
        // writes in between changed which index is smallest.
        let (driver, after) = match &q.after {
            Some(bytes) => {
                let position = Position::decode(bytes)?;
                let mut driver = Driver::resumed(position.prefix);
                let ranges = self.indexed_ranges(&q.filter)?;
                driver.checks = key_checks(ranges.into_iter().filter(|(_, p)| *p != driver.prefix));
                (driver, Some(position.key))
            }
            None => (self.choose_driver(q)?, None),
        };
        let show_deleted = q.show_deleted || q.filter.mentions_deleted();
        let accept = |e: &Enterprise| (show_deleted || !e.is_deleted()) && q.filter.matches(e);

        let mut page = ListPage::default();
        // The total is counted on the first page: from the counters when
        // they know it, else by the same scan, which goes on counting past
        // a full page (reading a record only when its keys pass the checks).
        let mut counting = false;
        if q.count_total && after.is_none() {
            match self.counted_total(q)? {
                Some(total) => page.total = Some(total),
                None => counting = true,
            }
        }
        let lower = match (&after, q.desc) {
            (Some(after), false) => Bound::Excluded(after.clone()),
            _ => Bound::Included(driver.prefix.clone()),
        };
        let upper = match (&after, q.desc) {
            (Some(after), true) => Bound::Excluded(after.clone()),
            _ => Bound::Excluded(keys::prefix_end(&driver.prefix)),
        };
        let range = tree.range::<Vec<u8>, _>((lower, upper));
        let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            if q.desc { Box::new(range.rev()) } else { Box::new(range) };

        let budget = q.scan_budget.unwrap_or(SCAN_BUDGET).max(1);
        let resume_after =
            |key: Option<Vec<u8>>| key.map(|key| Position { prefix: driver.prefix.clone(), key }.encode());
        let mut last_key: Option<Vec<u8>> = None;
        let (mut examined, mut matched, mut counted_reads) = (0u64, 0u64, 0u64);
        let mut full = false;
        for entry in entries {
            if full && !counting {
                return Ok(page);
            }
            if full && (examined >= COUNT_SAMPLE || examined as usize >= budget || counted_reads >= COUNT_READS) {
                // Counted enough: estimate over the rest of the range.
                page.total = Some(self.estimate(q, &driver, examined, matched)?);
                return Ok(page);
            }
            if !full && examined as usize == budget {
                // Out of budget: hand back what we have and where to go on.
                page.resume = resume_after(last_key);
                if counting {
                    page.total = Some(self.estimate(q, &driver, examined, matched)?);
                }
                return Ok(page);
            }
            let (key, value) = entry?;
            examined += 1;
            let candidate = driver.load(tree, &key, &value)?;
            counted_reads += u64::from(full && candidate.is_some());
            if let Some(record) = candidate.filter(|e| accept(e)) {
                matched += 1;
                if page.items.len() == q.page_size {
                    // A further match exists: the page is full and not the
                    // last; the next page starts right after the last key
                    // examined before this match.
                    if !full {
                        page.resume = resume_after(last_key.take());
                        full = true;
                    }
                } else {
                    page.items.push(record);
                }
            }
            if !full {
                last_key = Some(key.to_vec());
            }
        }
        if counting {
            // The range ended: every match was seen.
            page.total = Some(matched);
        }
        Ok(page)
    }

    /// Calls `visit` for every live enterprise matching `filter` (stages
    /// taken on `day`), walking the smallest index the filter can use (for
    /// reports; no page budget).
    pub(crate) fn for_each_matching(
        &self,
        filter: &Filter,
        day: Date,
        mut visit: impl FnMut(Enterprise) -> Result<()>,
    ) -> Result<()> {
        // The stage index reflects today: a report on another day walks the
        // other indexes (or the records) and checks the stage on that day.
        let mut indexable = filter.clone();
        if day != Date::today() {
            indexable.conditions.retain(|c| c.field != Field::Stage);
        }
        let q = ListQuery { filter: indexable, ..Default::default() };
        let driver = self.choose_driver(&q)?;
        let show_deleted = filter.mentions_deleted();
        for entry in self.tree().scan_prefix(&driver.prefix) {
            let (key, value) = entry?;
            if let Some(e) = driver.load(self.tree(), &key, &value)? {
                if (show_deleted || !e.is_deleted()) && filter.matches_on(&e, day) {
                    visit(e)?;
                }
            }
        }
        Ok(())
    }

    /// The total from the counters, when they know it: with no condition,
    /// or with a single indexed one (deleted firms not shown).
    fn counted_total(&self, q: &ListQuery) -> Result<Option<u64>> {
        let tree = self.tree();
        let show_deleted = q.show_deleted || q.filter.mentions_deleted();
        if q.filter.conditions.is_empty() {
            let deleted = if show_deleted { writer::read_u64(tree, keys::META_DELETED)? } else { 0 };
            return Ok(Some(writer::read_u64(tree, keys::META_LIVE)? + deleted));
        }
        if let ([only], false) = (q.filter.conditions.as_slice(), show_deleted) {
            if let Some((field, value)) = only.index_lookup() {
                return Ok(Some(writer::read_u64(tree, &keys::index_count(index_of(field), value.as_bytes()))?));
            }
        }
        Ok(None)
    }

    /// Extrapolates `matched` of `examined` entries over the driving range
    /// (its live entries, plus the deleted ones when they are shown).
    fn estimate(&self, q: &ListQuery, driver: &Driver, examined: u64, matched: u64) -> Result<u64> {
        let tree = self.tree();
        let show_deleted = q.show_deleted || q.filter.mentions_deleted();
        let deleted = if show_deleted { writer::read_u64(tree, keys::META_DELETED)? } else { 0 };
        let range = match driver.size {
            Some(size) => size,
            None => writer::read_u64(tree, keys::META_LIVE)?,
        }
        .saturating_add(deleted);
        let estimate = u128::from(matched) * u128::from(range.max(examined)) / u128::from(examined.max(1));
        Ok(u64::try_from(estimate).unwrap_or(u64::MAX))
    }

    /// The index ranges of the filter's indexed conditions with their live
    /// sizes (from the counters), smallest first.
    fn indexed_ranges(&self, filter: &Filter) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut ranges = Vec::new();
        for (field, value) in filter.conditions.iter().filter_map(|c| c.index_lookup()) {
            let index = index_of(field);
            let size = writer::read_u64(self.tree(), &keys::index_count(index, value.as_bytes()))?;
            let prefix = keys::index_prefix(index, value.as_bytes());
            if !ranges.iter().any(|(_, p)| *p == prefix) {
                ranges.push((size, prefix));
            }
        }
        ranges.sort_by_key(|(size, _)| *size);
        Ok(ranges)
    }

    /// Picks the key range that drives the scan: the order index for a
    /// non-default order, else the smallest index a condition can use, else
    /// the records themselves. The other indexed conditions become key
    /// checks, tried before any record is read.
    fn choose_driver(&self, q: &ListQuery) -> Result<Driver> {
        let mut ranges = self.indexed_ranges(&q.filter)?;
        let mut driver = match q.order {
            OrderKey::DisplayName => Driver::index(keys::index_root(IDX_NAME)),
            OrderKey::CreateTime => Driver::index(keys::index_root(IDX_CREATED)),
            OrderKey::CreditCode if !ranges.is_empty() => {
                let (size, prefix) = ranges.remove(0);
                Driver { prefix, is_index: true, size: Some(size), checks: Vec::new() }
            }
            OrderKey::CreditCode => {
                Driver { prefix: vec![keys::ENTERPRISE], is_index: false, size: None, checks: Vec::new() }
            }
        };
        driver.checks = key_checks(ranges.into_iter());
        Ok(driver)
    }
}

/// The key checks of the indexed ranges that do not drive the scan. A stage
/// range is left out: the stage index reflects the last sweep, and a firm
/// whose stage changed since is found by the check on its record (only a
/// driving stage range may miss it, invariant 9).
fn key_checks(ranges: impl Iterator<Item = (u64, Vec<u8>)>) -> Vec<Vec<u8>> {
    ranges.map(|(_, prefix)| prefix).filter(|prefix| prefix.get(1) != Some(&IDX_STAGE)).collect()
}

/// Where a listing stopped: the driving range and the last key examined.
/// Encoded as `prefix length (u16 BE) ‖ prefix ‖ key` inside the signed page token.
struct Position {
    prefix: Vec<u8>,
    key: Vec<u8>,
}

impl Position {
    fn encode(&self) -> Vec<u8> {
        let len = u16::try_from(self.prefix.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(2 + self.prefix.len() + self.key.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(&self.key);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Position> {
        let invalid = || Error::invalid_field("page_token", "INVALID_PAGE_TOKEN", "is not a page token of this server");
        let (len, rest) = bytes.split_first_chunk::<2>().ok_or_else(invalid)?;
        let len = usize::from(u16::from_be_bytes(*len));
        if rest.len() < len {
            return Err(invalid());
        }
        let (prefix, key) = rest.split_at(len);
        let known = matches!(prefix.first(), Some(&keys::INDEX | &keys::ENTERPRISE));
        if !known || !key.starts_with(prefix) {
            return Err(invalid());
        }
        Ok(Position { prefix: prefix.to_vec(), key: key.to_vec() })
    }
}

/// The key range a listing walks.
struct Driver {
    prefix: Vec<u8>,
    is_index: bool,
    /// Live entries in the range, when a counter knows it.
    size: Option<u64>,
    /// Index prefixes (`X{index}{value}\0`) the firm must also have an entry
    /// under: the filter's other indexed conditions but stage, most selective
    /// first.
    /// Checking a key is far cheaper than reading and decoding the record,
    /// so a selective combination of conditions reads few records.
    checks: Vec<Vec<u8>>,
}

impl Driver {
    fn index(prefix: Vec<u8>) -> Self {
        Self { prefix, is_index: true, size: None, checks: Vec::new() }
    }

    /// The driver a page token's position was taken on.
    fn resumed(prefix: Vec<u8>) -> Self {
        let is_index = prefix.first() == Some(&keys::INDEX);
        Self { prefix, is_index, size: None, checks: Vec::new() }
    }

    /// The record an entry of the range stands for, if it has an entry
    /// under every check (`None` otherwise, without reading the record).
    fn load(&self, tree: &sled::Tree, key: &[u8], value: &[u8]) -> Result<Option<Enterprise>> {
        let code = if self.is_index { keys::code_of_index_entry(key) } else { std::str::from_utf8(&key[1..]).ok() };
        let Some(code) = code else {
            return Ok(None);
        };
        let mut probe = Vec::new();
        for prefix in &self.checks {
            probe.clear();
            probe.extend_from_slice(prefix);
            probe.extend_from_slice(code.as_bytes());
            if !tree.contains_key(&probe)? {
                return Ok(None);
            }
        }
        if !self.is_index {
            return codec::decode(value).map(Some);
        }
        tree.get(keys::enterprise(code))?.map(|bytes| codec::decode(&bytes)).transpose()
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
    records::record_basics!();

    fn put(txn: &mut Txn<'_>, old: Option<&Self>, new: &Self) -> Result<()> {
        put_enterprise(txn, old, new);
        Ok(())
    }
}

/// Writes an enterprise record with its index entries and counters moved from
/// `old`'s to `new`'s. Logs nothing: callers log.
pub(crate) fn put_enterprise(txn: &mut Txn<'_>, old: Option<&Enterprise>, new: &Enterprise) {
    reindex(txn, old, new);
    recount(txn, old, new);
    txn.put(keys::enterprise(&new.credit_code), codec::encode(new));
}

fn index_of(field: Field) -> u8 {
    match field {
        Field::IndustryCode => IDX_INDUSTRY,
        Field::Region => IDX_REGION,
        Field::Zone => IDX_ZONE,
        Field::OrganisationType => IDX_ORG_TYPE,
        Field::Tags => IDX_TAG,
        Field::ServiceCommissioner => IDX_COMMISSIONER,
        Field::Alliance => IDX_ALLIANCE,
        Field::Stage => IDX_STAGE,
        // Only the fields above are returned by `Condition::index_lookup`.
        _ => IDX_NAME,
    }
}

/// Every (index, value) pair of a record.
fn index_values(e: &Enterprise) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::with_capacity(16);
    if let Ok(industry) = IndustryCode::parse(&e.industry_code) {
        for level in industry.prefixes() {
            out.push((IDX_INDUSTRY, level.as_str().as_bytes().to_vec()));
        }
    }
    for len in [2, 4, 6] {
        if let Some(prefix) = e.region_code.get(..len) {
            out.push((IDX_REGION, prefix.as_bytes().to_vec()));
        }
    }
    if !e.promotion_zone.is_empty() {
        out.push((IDX_ZONE, e.promotion_zone.as_bytes().to_vec()));
    }
    if let Some(org_type) = e.credit_code.get(0..2) {
        out.push((IDX_ORG_TYPE, org_type.as_bytes().to_vec()));
    }
    for tag in &e.tags {
        out.push((IDX_TAG, tag.as_bytes().to_vec()));
    }
    if !e.service_commissioner.is_empty() {
        out.push((IDX_COMMISSIONER, e.service_commissioner.as_bytes().to_vec()));
    }
    for m in &e.memberships {
        out.push((IDX_ALLIANCE, m.alliance_id.as_bytes().to_vec()));
    }
    if e.indexed_stage != 0 {
        out.push((IDX_STAGE, e.indexed_stage.to_string().into_bytes()));
    }
    if !e.next_stage_check.is_empty() {
        out.push((IDX_STAGE_DUE, e.next_stage_check.as_bytes().to_vec()));
    }
    out.push((IDX_NAME, e.display_name.as_bytes().to_vec()));
    out.push((IDX_CREATED, keys::ordered_i64(e.create_time).to_vec()));
    out
}

/// Every index entry of a record.
pub(super) fn index_entries(e: &Enterprise) -> BTreeSet<Vec<u8>> {
    index_values(e).into_iter().map(|(index, value)| keys::index_entry(index, &value, &e.credit_code)).collect()
}

/// The counters a record contributes to: the live or deleted total and, while
/// live, one per counted index value.
pub(super) fn counters_of(e: &Enterprise) -> Vec<Vec<u8>> {
    if e.is_deleted() {
        return vec![keys::META_DELETED.to_vec()];
    }
    let mut out = vec![keys::META_LIVE.to_vec()];
    out.extend(
        index_values(e)
            .into_iter()
            .filter(|(index, _)| COUNTED.contains(index))
            .map(|(index, value)| keys::index_count(index, &value)),
    );
    out
}

/// Moves the counters from `old`'s contribution to `new`'s.
fn recount(txn: &mut Txn<'_>, old: Option<&Enterprise>, new: &Enterprise) {
    for key in old.map(counters_of).unwrap_or_default() {
        txn.count(key, -1);
    }
    for key in counters_of(new) {
        txn.count(key, 1);
    }
}

/// Writes the index entries `new` gains and removes those it loses.
fn reindex(txn: &mut Txn<'_>, old: Option<&Enterprise>, new: &Enterprise) {
    let before = old.map(index_entries).unwrap_or_default();
    let after = index_entries(new);
    for gone in before.difference(&after) {
        txn.remove(gone.clone());
    }
    for added in after.difference(&before) {
        txn.put(added.clone(), Vec::new());
    }
}

/// Checks that every record has exactly its index entries and that the
/// counters match the records: the invariant the crash tests verify.
pub fn check_consistency(store: &Store) -> Result<Vec<String>> {
    let tree = store.tree();
    let mut problems = Vec::new();
    let mut memberships = super::alliances::expected_projections(tree)?;
    let oldest_retained = store.oldest_retained()?;
    let mut expected = BTreeSet::new();
    let mut expected_counts: std::collections::BTreeMap<Vec<u8>, u64> = std::collections::BTreeMap::new();
    for entry in tree.scan_prefix([keys::ENTERPRISE]) {
        let (key, value) = entry?;
        let record: Enterprise = codec::decode(&value)?;
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
        for key in counters_of(&record) {
            *expected_counts.entry(key).or_default() += 1;
        }
        let compacted = record.revision < oldest_retained;
        if !compacted && tree.scan_prefix(keys::resource_log_prefix(&record.resource_name())).next().is_none() {
            problems.push(format!("{} has no change-log entry", record.resource_name()));
        }
        expected.extend(index_entries(&record));
    }
    let actual: BTreeSet<Vec<u8>> =
        tree.scan_prefix([keys::INDEX]).keys().map(|k| k.map(|k| k.to_vec())).collect::<sled::Result<_>>()?;
    for missing in expected.difference(&actual) {
        problems.push(format!("missing index entry {:?}", String::from_utf8_lossy(missing)));
    }
    for extra in actual.difference(&expected) {
        problems.push(format!("index entry without record {:?}", String::from_utf8_lossy(extra)));
    }
    let mut stored_counts = std::collections::BTreeMap::new();
    for entry in tree.scan_prefix([keys::COUNT]) {
        let (key, _) = entry?;
        stored_counts.insert(key.to_vec(), writer::read_u64(tree, &key)?);
    }
    for key in [keys::META_LIVE, keys::META_DELETED] {
        stored_counts.insert(key.to_vec(), writer::read_u64(tree, key)?);
        expected_counts.entry(key.to_vec()).or_default();
    }
    for (key, want) in &expected_counts {
        let have = stored_counts.get(key).copied().unwrap_or(0);
        if have != *want {
            problems.push(format!("counter {:?} is {have}, records say {want}", String::from_utf8_lossy(key)));
        }
    }
    for key in stored_counts.keys().filter(|k| !expected_counts.contains_key(*k)) {
        problems.push(format!("counter {:?} has no records", String::from_utf8_lossy(key)));
    }
    problems.extend(super::supply_demand::check_postings(tree)?);
    Ok(problems)
}
