//! The in-memory index of enterprises: every secondary index and counter of
//! the firms, kept as compressed bitmaps over dense ordinals.
//!
//! sled holds only the records (`E{code}`); this index is built from them
//! when the store opens and moved by the writer with every group, right
//! after the group's batch is applied (so readers see it together with the
//! records). It is never written to disk: it is a pure function of the
//! records, and `check_consistency` proves it equals one rebuilt from them.
//!
//! - Each firm gets an ordinal (a `u32`) the first time the index sees it;
//!   ordinals are dense, never reused, and not stable across restarts (page
//!   tokens therefore carry sort keys and credit codes, never ordinals).
//! - Each index value (industry code at every level, region at 2/4/6 digits,
//!   zone, organisation type, tag, commissioner, alliance, stage, sync source)
//!   has a `RoaringBitmap` of the ordinals of the firms with it, deleted ones
//!   included; `live` and `deleted` split them.
//! - Three sorted sets give the orders: by credit code, by name, by creation.
//! - `due` maps the next date a firm's stage may change to its firms, for the
//!   expiry sweeper.
//!
//! A filter becomes set algebra ([`EnterpriseIndex::candidates`]): every
//! indexed condition is an exact set, `AND`/`OR`/`NOT` are intersection,
//! union and complement, and a condition no index answers (a name substring,
//! an update time) makes the result a superset whose members are checked on
//! their records.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use roaring::RoaringBitmap;

use crate::domain::enterprise::Enterprise;
use crate::domain::filter::{Condition, Expr, Field, Op, Value};
use crate::domain::industry::IndustryCode;
use crate::error::{Error, Result};

/// A credit code as the index keeps it (always 18 ASCII characters).
pub(crate) type Code = [u8; 18];

/// Index ids of the value sets (one byte each).
pub(crate) mod id {
    /// Every level of the industry code.
    pub const INDUSTRY: u8 = b'i';
    /// 2-, 4- and 6-digit region prefixes.
    pub const REGION: u8 = b'r';
    /// Promotion zone.
    pub const ZONE: u8 = b'z';
    /// Organisation type (credit-code positions 1–2).
    pub const ORG_TYPE: u8 = b'o';
    /// Each tag.
    pub const TAG: u8 = b't';
    /// Service commissioner.
    pub const COMMISSIONER: u8 = b'c';
    /// Active alliance memberships (value: alliance id).
    pub const ALLIANCE: u8 = b'a';
    /// The stage as of the last write or sweep (value: rung number).
    pub const STAGE: u8 = b's';
    /// The sync sources that have sent the firm.
    pub const SOURCE: u8 = b'S';
    /// Firms with any stage span (value: empty): those reports of stage
    /// history need to read.
    pub const LADDER: u8 = b'h';
}

/// The credit code of a record as the index keys it.
pub(crate) fn code_of(credit_code: &str) -> Result<Code> {
    credit_code
        .as_bytes()
        .try_into()
        .map_err(|_| Error::Internal(format!("credit code {credit_code:?} is not 18 bytes long")))
}

/// What one record contributes to the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    code: Code,
    deleted: bool,
    name: Box<str>,
    created: i64,
    /// `index id ‖ value` of every set the firm is in.
    values: Vec<Vec<u8>>,
    /// The next date its stage may change (`YYYY-MM-DD`), if any.
    due: Option<Box<str>>,
}

/// What the index reads of a firm: implemented by the full record and by
/// [`IndexedFields`], the part of it that opening a store decodes.
pub(crate) trait Indexed {
    fn credit_code(&self) -> &str;
    fn display_name(&self) -> &str;
    fn industry_code(&self) -> &str;
    fn region_code(&self) -> &str;
    fn promotion_zone(&self) -> &str;
    fn service_commissioner(&self) -> &str;
    fn tags(&self) -> &[String];
    fn alliances(&self) -> impl Iterator<Item = &str>;
    fn on_ladder(&self) -> bool;
    fn indexed_stage(&self) -> i32;
    fn next_stage_check(&self) -> &str;
    fn synced_by(&self) -> &[String];
    fn create_time(&self) -> i64;
    fn deleted(&self) -> bool;
}

macro_rules! indexed_fields {
    () => {
        fn credit_code(&self) -> &str {
            &self.credit_code
        }
        fn display_name(&self) -> &str {
            &self.display_name
        }
        fn industry_code(&self) -> &str {
            &self.industry_code
        }
        fn region_code(&self) -> &str {
            &self.region_code
        }
        fn promotion_zone(&self) -> &str {
            &self.promotion_zone
        }
        fn service_commissioner(&self) -> &str {
            &self.service_commissioner
        }
        fn tags(&self) -> &[String] {
            &self.tags
        }
        fn alliances(&self) -> impl Iterator<Item = &str> {
            self.memberships.iter().map(|m| m.alliance_id.as_str())
        }
        fn on_ladder(&self) -> bool {
            !self.stage_spans.is_empty()
        }
        fn indexed_stage(&self) -> i32 {
            self.indexed_stage
        }
        fn next_stage_check(&self) -> &str {
            &self.next_stage_check
        }
        fn synced_by(&self) -> &[String] {
            &self.synced_by
        }
        fn create_time(&self) -> i64 {
            self.create_time
        }
        fn deleted(&self) -> bool {
            self.delete_time != 0
        }
    };
}

impl Indexed for Enterprise {
    indexed_fields!();
}

impl Indexed for IndexedFields {
    indexed_fields!();
}

/// The fields of a stored enterprise record the index needs, under the
/// record's own tags: decoding only these (prost skips the rest) makes
/// opening a store several times cheaper than decoding whole records.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct IndexedFields {
    #[prost(string, tag = "1")]
    credit_code: String,
    #[prost(string, tag = "3")]
    display_name: String,
    #[prost(string, tag = "5")]
    industry_code: String,
    #[prost(string, tag = "6")]
    region_code: String,
    #[prost(string, tag = "10")]
    promotion_zone: String,
    #[prost(string, tag = "11")]
    service_commissioner: String,
    #[prost(string, repeated, tag = "13")]
    tags: Vec<String>,
    #[prost(int64, tag = "17")]
    create_time: i64,
    #[prost(int64, tag = "19")]
    delete_time: i64,
    #[prost(message, repeated, tag = "22")]
    memberships: Vec<AllianceOf>,
    /// Only counted: the spans themselves are not needed.
    #[prost(bytes = "vec", repeated, tag = "23")]
    stage_spans: Vec<Vec<u8>>,
    #[prost(int32, tag = "24")]
    indexed_stage: i32,
    #[prost(string, tag = "25")]
    next_stage_check: String,
    #[prost(string, repeated, tag = "26")]
    synced_by: Vec<String>,
}

/// The alliance of an active membership (the projection's tag 1).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AllianceOf {
    #[prost(string, tag = "1")]
    alliance_id: String,
}

impl Entry {
    /// The firm's credit code.
    pub(crate) fn code(&self) -> &Code {
        &self.code
    }

    /// The index entry of a record (whole or [`IndexedFields`]).
    pub(crate) fn of(e: &impl Indexed) -> Result<Entry> {
        let mut values = Vec::with_capacity(16);
        let mut push = |index: u8, value: &[u8]| {
            let mut v = Vec::with_capacity(1 + value.len());
            v.push(index);
            v.extend_from_slice(value);
            values.push(v);
        };
        if let Ok(industry) = IndustryCode::parse(e.industry_code()) {
            for level in industry.prefixes() {
                push(id::INDUSTRY, level.as_str().as_bytes());
            }
        }
        for len in [2, 4, 6] {
            if let Some(prefix) = e.region_code().get(..len) {
                push(id::REGION, prefix.as_bytes());
            }
        }
        if !e.promotion_zone().is_empty() {
            push(id::ZONE, e.promotion_zone().as_bytes());
        }
        if let Some(org_type) = e.credit_code().get(0..2) {
            push(id::ORG_TYPE, org_type.as_bytes());
        }
        for tag in e.tags() {
            push(id::TAG, tag.as_bytes());
        }
        if !e.service_commissioner().is_empty() {
            push(id::COMMISSIONER, e.service_commissioner().as_bytes());
        }
        for alliance in e.alliances() {
            push(id::ALLIANCE, alliance.as_bytes());
        }
        if e.indexed_stage() != 0 {
            push(id::STAGE, e.indexed_stage().to_string().as_bytes());
        }
        if e.on_ladder() {
            push(id::LADDER, b"");
        }
        for source in e.synced_by() {
            push(id::SOURCE, source.as_bytes());
        }
        values.sort();
        values.dedup();
        Ok(Entry {
            code: code_of(e.credit_code())?,
            deleted: e.deleted(),
            name: e.display_name().into(),
            created: e.create_time(),
            values,
            due: (!e.next_stage_check().is_empty()).then(|| e.next_stage_check().into()),
        })
    }
}

/// A move of the in-memory indexes, applied by the committer with its
/// group's batch.
#[derive(Debug)]
pub(crate) enum Delta {
    /// A firm's entry moves from the old one (none for a new firm).
    Firm(Option<Entry>, Entry),
    /// A project's new state.
    Project(Box<crate::domain::project::Project>),
    /// A project's new figures for a year.
    Investment(Box<crate::domain::project::ProjectInvestment>),
}

/// Encodes a group's index moves for the other servers on one PostgreSQL
/// store (`ladder_commits.deltas`), which apply them in commit order
/// ([`decode_deltas`]).
pub(crate) fn encode_deltas(deltas: &[Delta]) -> Vec<u8> {
    fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(b);
    }
    fn entry(out: &mut Vec<u8>, e: &Entry) {
        out.extend_from_slice(&e.code);
        out.push(u8::from(e.deleted));
        out.extend_from_slice(&e.created.to_be_bytes());
        bytes(out, e.name.as_bytes());
        match &e.due {
            Some(due) => bytes(out, due.as_bytes()),
            None => out.extend_from_slice(&u32::MAX.to_be_bytes()),
        }
        out.extend_from_slice(&(e.values.len() as u32).to_be_bytes());
        for value in &e.values {
            bytes(out, value);
        }
    }
    let mut out = Vec::new();
    for delta in deltas {
        match delta {
            Delta::Firm(old, new) => {
                out.push(1);
                out.push(u8::from(old.is_some()));
                if let Some(old) = old {
                    entry(&mut out, old);
                }
                entry(&mut out, new);
            }
            Delta::Project(p) => {
                out.push(2);
                bytes(&mut out, &super::codec::encode(&**p));
            }
            Delta::Investment(i) => {
                out.push(3);
                bytes(&mut out, &super::codec::encode(&**i));
            }
        }
    }
    out
}

/// Decodes what [`encode_deltas`] wrote.
pub(crate) fn decode_deltas(mut input: &[u8]) -> Result<Vec<Delta>> {
    fn corrupt() -> Error {
        Error::Internal("a commit's index moves do not decode".into())
    }
    fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
        if input.len() < n {
            return Err(corrupt());
        }
        let (head, rest) = input.split_at(n);
        *input = rest;
        Ok(head)
    }
    fn len(input: &mut &[u8]) -> Result<u32> {
        Ok(u32::from_be_bytes(take(input, 4)?.try_into().map_err(|_| corrupt())?))
    }
    fn bytes<'a>(input: &mut &'a [u8]) -> Result<&'a [u8]> {
        let n = len(input)? as usize;
        take(input, n)
    }
    fn text(input: &mut &[u8]) -> Result<Box<str>> {
        Ok(std::str::from_utf8(bytes(input)?).map_err(|_| corrupt())?.into())
    }
    fn entry(input: &mut &[u8]) -> Result<Entry> {
        let code: Code = take(input, 18)?.try_into().map_err(|_| corrupt())?;
        let deleted = take(input, 1)?[0] != 0;
        let created = i64::from_be_bytes(take(input, 8)?.try_into().map_err(|_| corrupt())?);
        let name = text(input)?;
        let due = match u32::from_be_bytes(input.get(..4).ok_or_else(corrupt)?.try_into().map_err(|_| corrupt())?) {
            u32::MAX => {
                take(input, 4)?;
                None
            }
            _ => Some(text(input)?),
        };
        let count = len(input)? as usize;
        let mut values = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            values.push(bytes(input)?.to_vec());
        }
        Ok(Entry { code, deleted, name, created, values, due })
    }
    let mut deltas = Vec::new();
    while let Some((&tag, rest)) = input.split_first() {
        input = rest;
        deltas.push(match tag {
            1 => {
                let old = if take(&mut input, 1)?[0] != 0 { Some(entry(&mut input)?) } else { None };
                Delta::Firm(old, entry(&mut input)?)
            }
            2 => Delta::Project(Box::new(super::codec::decode(bytes(&mut input)?)?)),
            3 => Delta::Investment(Box::new(super::codec::decode(bytes(&mut input)?)?)),
            _ => return Err(corrupt()),
        });
    }
    Ok(deltas)
}

/// The sort orders a listing can walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderKey {
    /// By credit code (the default).
    #[default]
    CreditCode,
    /// By legal name (then credit code).
    DisplayName,
    /// By registration time in ladder (then credit code).
    CreateTime,
}

/// A position in a sort order: the sort key of a firm (unique, since it
/// ends with the credit code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    /// Credit-code order.
    Code(Code),
    /// Name order.
    Name(Box<str>, Code),
    /// Creation order.
    Created(i64, Code),
}

impl SortKey {
    /// Encodes the key for a page token: `kind ‖ payload`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        match self {
            SortKey::Code(code) => {
                out.push(b'c');
                out.extend_from_slice(code);
            }
            SortKey::Name(name, code) => {
                out.push(b'n');
                out.extend_from_slice(code);
                out.extend_from_slice(name.as_bytes());
            }
            SortKey::Created(time, code) => {
                out.push(b't');
                out.extend_from_slice(code);
                out.extend_from_slice(&time.to_be_bytes());
            }
        }
        out
    }

    /// Decodes a key of `order` from a page token.
    pub fn decode(bytes: &[u8], order: OrderKey) -> Option<SortKey> {
        let (kind, rest) = bytes.split_first()?;
        let (code, payload) = rest.split_first_chunk::<18>()?;
        match (kind, order) {
            (b'c', OrderKey::CreditCode) if payload.is_empty() => Some(SortKey::Code(*code)),
            (b'n', OrderKey::DisplayName) => Some(SortKey::Name(std::str::from_utf8(payload).ok()?.into(), *code)),
            (b't', OrderKey::CreateTime) => Some(SortKey::Created(i64::from_be_bytes(payload.try_into().ok()?), *code)),
            _ => None,
        }
    }
}

/// The firms a filter can match: a set, and whether every member matches
/// (`exact`) or the members must still be checked on their records.
#[derive(Debug, Clone)]
pub(crate) struct Candidates {
    /// `None`: every firm.
    pub set: Option<RoaringBitmap>,
    /// Every member matches the filter.
    pub exact: bool,
}

/// How stage conditions are answered.
#[derive(Debug, Clone, Default)]
pub(crate) enum StageView {
    /// Not from the index (a report on another day): checked on records.
    #[default]
    Records,
    /// From the index, with the stages of the firms the sweeper has not
    /// moved yet taken from their records (ordinal → rung today).
    Today(HashMap<u32, i32>),
}

/// One batch of a walk in some order.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// The firms found, in order, with their sort keys.
    pub found: Vec<(SortKey, Code)>,
    /// The key of the last entry examined (to continue from).
    pub last: Option<SortKey>,
    /// The order has no further entry.
    pub done: bool,
}

/// Most entries one [`EnterpriseIndex::walk`] examines (it holds the read
/// lock meanwhile; the caller continues from `last`).
pub(crate) const WALK_STEPS: usize = 65_536;
/// Candidate sets at most this large are walked by sorting their members
/// instead of stepping through the whole order.
const MATERIALISE: u64 = 8_192;

/// The index itself (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct EnterpriseIndex {
    codes: Vec<Code>,
    created: Vec<i64>,
    by_code: BTreeMap<Code, u32>,
    by_name: BTreeSet<(Box<str>, Code, u32)>,
    by_created: BTreeSet<(i64, Code, u32)>,
    sets: HashMap<Vec<u8>, RoaringBitmap>,
    live: RoaringBitmap,
    deleted: RoaringBitmap,
    due: BTreeMap<Box<str>, RoaringBitmap>,
    /// The projects and their figures (`store::projects`): they ride the
    /// same lock, so a group's records and both indexes move together.
    pub(crate) projects: super::projects::ProjectIndex,
}

impl PartialEq for EnterpriseIndex {
    /// Equal when they index the same firms the same way (ordinals may differ).
    fn eq(&self, other: &Self) -> bool {
        self.describe() == other.describe()
    }
}

impl EnterpriseIndex {
    /// An index built from entries (for opening the store and for checks);
    /// the first error stops it.
    pub(crate) fn build(entries: impl IntoIterator<Item = Result<Entry>>) -> Result<EnterpriseIndex> {
        let mut index = EnterpriseIndex::default();
        let mut names = Vec::new();
        let mut created = Vec::new();
        let mut codes = Vec::new();
        for entry in entries {
            let entry = entry?;
            let ord = index.codes.len() as u32;
            index.codes.push(entry.code);
            index.created.push(entry.created);
            codes.push((entry.code, ord));
            names.push((entry.name.clone(), entry.code, ord));
            created.push((entry.created, entry.code, ord));
            index.add(ord, &entry, false);
        }
        codes.sort_unstable();
        names.sort_unstable();
        created.sort_unstable();
        index.by_code = codes.into_iter().collect();
        index.by_name = names.into_iter().collect();
        index.by_created = created.into_iter().collect();
        Ok(index)
    }

    /// Live (not deleted) firms.
    pub(crate) fn live_count(&self) -> u64 {
        self.live.len()
    }

    /// Firms indexed (live and deleted).
    pub(crate) fn len(&self) -> usize {
        self.codes.len()
    }

    /// Applies the deltas of a committed group, in order.
    pub(crate) fn apply(&mut self, deltas: Vec<Delta>) {
        for delta in deltas {
            let (old, new) = match delta {
                Delta::Firm(old, new) => (old, new),
                other => {
                    self.projects.apply(other);
                    continue;
                }
            };
            let ord = match self.by_code.get(&new.code) {
                Some(ord) => *ord,
                None => {
                    let ord = self.codes.len() as u32;
                    self.codes.push(new.code);
                    self.created.push(new.created);
                    self.by_code.insert(new.code, ord);
                    ord
                }
            };
            if let Some(old) = old {
                self.remove(ord, &old);
            }
            self.created[ord as usize] = new.created;
            self.add(ord, &new, true);
        }
    }

    fn add(&mut self, ord: u32, e: &Entry, sorted_sets: bool) {
        for value in &e.values {
            match self.sets.get_mut(value.as_slice()) {
                Some(set) => {
                    set.insert(ord);
                }
                None => {
                    self.sets.insert(value.clone(), RoaringBitmap::from_iter([ord]));
                }
            }
        }
        if e.deleted {
            self.deleted.insert(ord);
        } else {
            self.live.insert(ord);
        }
        if let Some(due) = &e.due {
            self.due.entry(due.clone()).or_default().insert(ord);
        }
        if sorted_sets {
            self.by_name.insert((e.name.clone(), e.code, ord));
            self.by_created.insert((e.created, e.code, ord));
        }
    }

    fn remove(&mut self, ord: u32, e: &Entry) {
        for value in &e.values {
            if let Some(set) = self.sets.get_mut(value.as_slice()) {
                set.remove(ord);
                if set.is_empty() {
                    self.sets.remove(value.as_slice());
                }
            }
        }
        self.live.remove(ord);
        self.deleted.remove(ord);
        if let Some(due) = &e.due {
            if let Some(set) = self.due.get_mut(due) {
                set.remove(ord);
                if set.is_empty() {
                    self.due.remove(due);
                }
            }
        }
        self.by_name.remove(&(e.name.clone(), e.code, ord));
        self.by_created.remove(&(e.created, e.code, ord));
    }

    /// Live firms with `value` in the index `index`.
    pub(crate) fn live_with(&self, index: u8, value: &[u8]) -> u64 {
        self.set(index, value).map_or(0, |set| set.intersection_len(&self.live))
    }

    /// Every value the index `index` holds a set for, in sorted order.
    pub(crate) fn values_of(&self, index: u8) -> impl Iterator<Item = &[u8]> {
        let mut values: Vec<&[u8]> = self.sets.keys().filter(|k| k.first() == Some(&index)).map(|k| &k[1..]).collect();
        values.sort_unstable();
        values.into_iter()
    }

    /// Live firms with `value` in the index `index`, as a set.
    pub(crate) fn live_set(&self, index: u8, value: &[u8]) -> RoaringBitmap {
        self.set(index, value).map_or_else(RoaringBitmap::new, |set| set & &self.live)
    }

    pub(crate) fn set(&self, index: u8, value: &[u8]) -> Option<&RoaringBitmap> {
        let mut key = Vec::with_capacity(1 + value.len());
        key.push(index);
        key.extend_from_slice(value);
        self.sets.get(key.as_slice())
    }

    /// The credit code of an ordinal.
    pub(crate) fn code(&self, ord: u32) -> Option<&Code> {
        self.codes.get(ord as usize)
    }

    /// The ordinal of a credit code.
    pub(crate) fn ordinal(&self, code: &Code) -> Option<u32> {
        self.by_code.get(code).copied()
    }

    /// Whether the firm with this credit code is registered and not deleted.
    pub(crate) fn is_live(&self, code: &str) -> bool {
        <Code>::try_from(code.as_bytes()).ok().and_then(|c| self.ordinal(&c)).is_some_and(|o| self.live.contains(o))
    }

    /// Up to `limit` firms whose stage may have changed by `day` (`YYYY-MM-DD`).
    pub(crate) fn due_by(&self, day: &str, limit: usize) -> Vec<Code> {
        self.due
            .range::<str, _>((Bound::Unbounded, Bound::Included(day)))
            .flat_map(|(_, set)| set.iter())
            .take(limit)
            .filter_map(|ord| self.code(ord).copied())
            .collect()
    }

    /// Every firm whose stage may have changed by `day`, with the stage its
    /// index entry holds (to correct the stage sets before the sweep).
    pub(crate) fn pending_stages(&self, day: &str) -> RoaringBitmap {
        self.due.range::<str, _>((Bound::Unbounded, Bound::Included(day))).map(|(_, set)| set).fold(
            RoaringBitmap::new(),
            |mut acc, set| {
                acc |= set;
                acc
            },
        )
    }

    /// Every firm, live or deleted.
    fn universe(&self) -> RoaringBitmap {
        &self.live | &self.deleted
    }

    /// The candidate set of a filter expression (deleted firms included;
    /// the caller masks them with [`Self::visible`]).
    pub(crate) fn candidates(&self, expr: &Expr, stage: &StageView) -> Candidates {
        match expr {
            Expr::Cond(c) => match self.condition(c, stage) {
                Some(set) => Candidates { set: Some(set), exact: true },
                None => Candidates { set: None, exact: false },
            },
            Expr::And(parts) => {
                let mut out = Candidates { set: None, exact: true };
                for part in parts {
                    let c = self.candidates(part, stage);
                    out.exact &= c.exact;
                    out.set = match (out.set, c.set) {
                        (None, s) | (s, None) => s,
                        (Some(a), Some(b)) => Some(a & b),
                    };
                }
                out
            }
            Expr::Or(parts) => {
                let mut out = Candidates { set: Some(RoaringBitmap::new()), exact: true };
                for part in parts {
                    let c = self.candidates(part, stage);
                    out.exact &= c.exact;
                    out.set = match (out.set, c.set) {
                        (Some(a), Some(b)) => Some(a | b),
                        _ => None,
                    };
                }
                out
            }
            Expr::Not(inner) => {
                let c = self.candidates(inner, stage);
                match (c.exact, c.set) {
                    (true, Some(set)) => Candidates { set: Some(self.universe() - set), exact: true },
                    (true, None) => Candidates { set: Some(RoaringBitmap::new()), exact: true },
                    (false, _) => Candidates { set: None, exact: false },
                }
            }
        }
    }

    /// Masks a candidate set to the firms a listing shows.
    pub(crate) fn visible(&self, set: Option<RoaringBitmap>, show_deleted: bool) -> RoaringBitmap {
        match (set, show_deleted) {
            (Some(set), true) => set,
            (Some(set), false) => set & &self.live,
            (None, true) => self.universe(),
            (None, false) => self.live.clone(),
        }
    }

    /// The exact set of firms meeting one condition, when an index answers it.
    fn condition(&self, c: &Condition, stage: &StageView) -> Option<RoaringBitmap> {
        let text = match &c.value {
            Value::Text(t) => t.as_str(),
            _ => "",
        };
        let named = |index: u8| self.set(index, text.as_bytes()).cloned().unwrap_or_default();
        // The set of firms for which the field *equals* the value; `!=` and
        // negation complement it.
        let positive = match c.field {
            Field::IndustryCode => named(id::INDUSTRY),
            Field::Region => named(id::REGION),
            Field::Zone => named(id::ZONE),
            Field::OrganisationType => named(id::ORG_TYPE),
            Field::Tags => named(id::TAG),
            Field::ServiceCommissioner => named(id::COMMISSIONER),
            Field::Alliance => named(id::ALLIANCE),
            Field::CreditCode => {
                let mut set = RoaringBitmap::new();
                if let Some(ord) = code_of(text).ok().and_then(|code| self.ordinal(&code)) {
                    set.insert(ord);
                }
                set
            }
            Field::Deleted => match c.value {
                Value::Bool(true) => self.deleted.clone(),
                _ => self.live.clone(),
            },
            Field::DisplayName if c.op != Op::Has => {
                let from = (Box::<str>::from(text), [0u8; 18], 0);
                let to = (Box::<str>::from(text), [u8::MAX; 18], u32::MAX);
                self.by_name.range(from..=to).map(|(_, _, ord)| *ord).collect()
            }
            Field::Stage => {
                let StageView::Today(fixes) = stage else { return None };
                let want: i32 = text.parse().unwrap_or(0);
                // Ordered conditions on the stage are unions of rungs.
                let mut set = RoaringBitmap::new();
                let mut on_ladder = RoaringBitmap::new();
                for rung in 1..=5 {
                    let members = self.set(id::STAGE, rung.to_string().as_bytes()).cloned().unwrap_or_default();
                    if c.compares(rung.cmp(&want)) {
                        set |= &members;
                    }
                    on_ladder |= members;
                }
                if c.compares(0.cmp(&want)) {
                    set |= self.universe() - on_ladder;
                }
                for (ord, rung) in fixes {
                    if c.compares(rung.cmp(&want)) {
                        set.insert(*ord);
                    } else {
                        set.remove(*ord);
                    }
                }
                return Some(if c.negated { self.universe() - set } else { set });
            }
            Field::CreateTime => {
                let Value::Time(t) = c.value else { return None };
                let (lo, hi) = ((t, [0u8; 18], 0), (t, [u8::MAX; 18], u32::MAX));
                let range: Box<dyn Iterator<Item = &(i64, Code, u32)>> = match c.op {
                    Op::Lt => Box::new(self.by_created.range(..lo)),
                    Op::Le => Box::new(self.by_created.range(..=hi)),
                    Op::Gt => Box::new(self.by_created.range((Bound::Excluded(hi), Bound::Unbounded))),
                    Op::Ge => Box::new(self.by_created.range(lo..)),
                    Op::Eq | Op::Ne => Box::new(self.by_created.range(lo..=hi)),
                    Op::Has => return None,
                };
                let set: RoaringBitmap = range.map(|(_, _, ord)| *ord).collect();
                let complement = c.negated != (c.op == Op::Ne);
                return Some(if complement { self.universe() - set } else { set });
            }
            Field::DisplayName | Field::UpdateTime | Field::FoundingDate => return None,
        };
        let complement = c.negated != (c.op == Op::Ne);
        Some(if complement { self.universe() - positive } else { positive })
    }

    /// The next firms of `set` (every firm when `None`) in `order` after
    /// `after`, at most `limit` of them, examining at most [`WALK_STEPS`]
    /// entries.
    pub(crate) fn walk(
        &self,
        set: &RoaringBitmap,
        order: OrderKey,
        desc: bool,
        after: Option<&SortKey>,
        limit: usize,
    ) -> Walk {
        let mut walk = Walk::default();
        if set.len() <= MATERIALISE && order != OrderKey::DisplayName {
            // Few candidates: sort them instead of stepping through the order.
            let mut keys: Vec<SortKey> = set.iter().filter_map(|ord| self.sort_key(ord, order)).collect();
            keys.sort_unstable_by(cmp_keys);
            if desc {
                keys.reverse();
            }
            let start = match after {
                None => 0,
                Some(after) => keys.partition_point(|k| {
                    let ord = cmp_keys(k, after);
                    if desc {
                        ord.is_ge()
                    } else {
                        ord.is_le()
                    }
                }),
            };
            let rest = &keys[start.min(keys.len())..];
            for key in rest.iter().take(limit) {
                walk.found.push((key.clone(), *key_code(key)));
            }
            walk.last = walk.found.last().map(|(k, _)| k.clone());
            walk.done = rest.len() <= limit;
            return walk;
        }
        let mut steps = 0;
        let mut visit = |key: SortKey, ord: u32, walk: &mut Walk| -> bool {
            steps += 1;
            if set.contains(ord) {
                let code = *key_code(&key);
                walk.found.push((key.clone(), code));
            }
            walk.last = Some(key);
            walk.found.len() < limit && steps < WALK_STEPS
        };
        let finished = match order {
            OrderKey::CreditCode => {
                let bounds = match (after, desc) {
                    (Some(SortKey::Code(code)), false) => (Bound::Excluded(*code), Bound::Unbounded),
                    (Some(SortKey::Code(code)), true) => (Bound::Unbounded, Bound::Excluded(*code)),
                    _ => (Bound::Unbounded, Bound::Unbounded),
                };
                let range = self.by_code.range(bounds);
                let mut it: Box<dyn Iterator<Item = (&Code, &u32)>> =
                    if desc { Box::new(range.rev()) } else { Box::new(range) };
                it.all(|(code, ord)| visit(SortKey::Code(*code), *ord, &mut walk))
            }
            OrderKey::DisplayName => {
                let bounds = match (after, desc) {
                    (Some(SortKey::Name(n, c)), false) => {
                        (Bound::Excluded((n.clone(), *c, u32::MAX)), Bound::Unbounded)
                    }
                    (Some(SortKey::Name(n, c)), true) => (Bound::Unbounded, Bound::Excluded((n.clone(), *c, 0))),
                    _ => (Bound::Unbounded, Bound::Unbounded),
                };
                let range = self.by_name.range(bounds);
                let mut it: Box<dyn Iterator<Item = &(Box<str>, Code, u32)>> =
                    if desc { Box::new(range.rev()) } else { Box::new(range) };
                it.all(|(n, c, ord)| visit(SortKey::Name(n.clone(), *c), *ord, &mut walk))
            }
            OrderKey::CreateTime => {
                let bounds = match (after, desc) {
                    (Some(SortKey::Created(t, c)), false) => (Bound::Excluded((*t, *c, u32::MAX)), Bound::Unbounded),
                    (Some(SortKey::Created(t, c)), true) => (Bound::Unbounded, Bound::Excluded((*t, *c, 0))),
                    _ => (Bound::Unbounded, Bound::Unbounded),
                };
                let range = self.by_created.range(bounds);
                let mut it: Box<dyn Iterator<Item = &(i64, Code, u32)>> =
                    if desc { Box::new(range.rev()) } else { Box::new(range) };
                it.all(|(t, c, ord)| visit(SortKey::Created(*t, *c), *ord, &mut walk))
            }
        };
        walk.done = finished;
        walk
    }

    fn sort_key(&self, ord: u32, order: OrderKey) -> Option<SortKey> {
        let code = *self.code(ord)?;
        Some(match order {
            OrderKey::CreditCode => SortKey::Code(code),
            OrderKey::CreateTime => SortKey::Created(*self.created.get(ord as usize)?, code),
            // Names are not kept per ordinal; name order is always walked.
            OrderKey::DisplayName => return None,
        })
    }

    /// A canonical description (sets by credit codes, orders as lists) to
    /// compare two indexes whose ordinals differ.
    fn describe(&self) -> impl PartialEq + '_ {
        let codes =
            |set: &RoaringBitmap| -> BTreeSet<Code> { set.iter().filter_map(|o| self.code(o).copied()).collect() };
        let sets: BTreeMap<&[u8], BTreeSet<Code>> =
            self.sets.iter().map(|(k, v)| (k.as_slice(), codes(v))).filter(|(_, v)| !v.is_empty()).collect();
        let due: BTreeMap<&str, BTreeSet<Code>> = self.due.iter().map(|(k, v)| (&**k, codes(v))).collect();
        let names: Vec<(&str, Code)> = self.by_name.iter().map(|(n, c, _)| (&**n, *c)).collect();
        let created: Vec<(i64, Code)> = self.by_created.iter().map(|(t, c, _)| (*t, *c)).collect();
        let consistent = self.by_code.iter().all(|(c, o)| self.code(*o) == Some(c));
        (sets, due, names, created, codes(&self.live), codes(&self.deleted), consistent)
    }

    /// What differs between this index and `expected` (empty when equal).
    pub(crate) fn differences(&self, expected: &EnterpriseIndex) -> Vec<String> {
        let mut out = Vec::new();
        if self.live.len() != expected.live.len() || self.deleted.len() != expected.deleted.len() {
            out.push(format!(
                "index counts {} live and {} deleted firms, records say {} and {}",
                self.live.len(),
                self.deleted.len(),
                expected.live.len(),
                expected.deleted.len()
            ));
        }
        let show = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
        for (key, set) in &expected.sets {
            let have = self.set(key[0], &key[1..]).map_or(0, RoaringBitmap::len);
            if have != set.len() {
                out.push(format!("index set {:?} has {have} firms, records say {}", show(key), set.len()));
            }
        }
        for key in self.sets.keys().filter(|k| !expected.sets.contains_key(*k)) {
            out.push(format!("index set {:?} has no records", show(key)));
        }
        if out.is_empty() && self != expected {
            out.push("the index holds other firms or orders than the records say".into());
        }
        out
    }
}

fn key_code(key: &SortKey) -> &Code {
    match key {
        SortKey::Code(c) | SortKey::Name(_, c) | SortKey::Created(_, c) => c,
    }
}

fn cmp_keys(a: &SortKey, b: &SortKey) -> std::cmp::Ordering {
    match (a, b) {
        (SortKey::Code(x), SortKey::Code(y)) => x.cmp(y),
        (SortKey::Name(n, x), SortKey::Name(m, y)) => (n, x).cmp(&(m, y)),
        (SortKey::Created(t, x), SortKey::Created(u, y)) => (t, x).cmp(&(u, y)),
        _ => std::cmp::Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::filter::Filter;

    fn firm(code: &str, name: &str, industry: &str, zone: &str, created: i64) -> Enterprise {
        Enterprise {
            credit_code: code.into(),
            display_name: name.into(),
            industry_code: industry.into(),
            region_code: "610116".into(),
            promotion_zone: zone.into(),
            create_time: created,
            ..Default::default()
        }
    }

    fn codes(index: &EnterpriseIndex, filter: &str) -> (Vec<String>, bool) {
        let f = Filter::parse(filter).unwrap();
        let c = index.candidates(&f.expr, &StageView::Today(HashMap::new()));
        let set = index.visible(c.set, false);
        let walk = index.walk(&set, OrderKey::CreditCode, false, None, 100);
        (walk.found.iter().map(|(_, c)| String::from_utf8_lossy(c).into_owned()).collect(), c.exact)
    }

    fn sample() -> (Vec<Enterprise>, EnterpriseIndex) {
        let firms = vec![
            firm("91610116MA6U000001", "乙", "C3742", "east", 3),
            firm("91610116MA6U000002", "甲", "C3841", "east", 1),
            firm("91610116MA6U000003", "丙", "C3742", "west", 2),
            firm("92610116MA6U000004", "丁", "I6513", "west", 4),
        ];
        let index = EnterpriseIndex::build(firms.iter().map(Entry::of)).unwrap();
        (firms, index)
    }

    #[test]
    fn boolean_filters_are_set_algebra_and_agree_with_records() {
        let (firms, index) = sample();
        for filter in [
            "industry_code = C37",
            "industry_code = C37 OR industry_code = C38",
            "zone = east AND NOT industry_code = C38",
            "NOT (zone = east OR organisation_type = 92)",
            "-zone = west industry_code != I",
            "create_time > 1970-01-01T00:00:00.000002Z",
            "display_name = 甲 OR credit_code = 92610116MA6U000004",
            "stage = STAGE_UNSPECIFIED",
            "stage >= STAGE_NURTURE",
        ] {
            let (got, exact) = codes(&index, filter);
            let f = Filter::parse(filter).unwrap();
            let want: Vec<String> = firms.iter().filter(|e| f.matches(e)).map(|e| e.credit_code.clone()).collect();
            assert_eq!(got, want, "{filter}");
            assert!(exact, "{filter} is answered by the index alone");
        }
        let (_, exact) = codes(&index, r#"display_name:"甲""#);
        assert!(!exact, "a substring is checked on records");
    }

    #[test]
    fn deltas_move_a_firm_between_sets_and_orders() {
        let (firms, mut index) = sample();
        let old = Entry::of(&firms[0]).unwrap();
        let mut moved = firms[0].clone();
        moved.promotion_zone = "west".into();
        moved.display_name = "戊".into();
        moved.delete_time = 9;
        index.apply(vec![Delta::Firm(Some(old), Entry::of(&moved).unwrap())]);
        assert_eq!(index.live_with(id::ZONE, b"east"), 1);
        assert_eq!(index.deleted.len(), 1);
        let mut all = firms.clone();
        all[0] = moved;
        assert_eq!(index, EnterpriseIndex::build(all.iter().map(Entry::of)).unwrap());
        assert!(index.differences(&EnterpriseIndex::build(all.iter().map(Entry::of)).unwrap()).is_empty());
        let before = EnterpriseIndex::build(firms.iter().map(Entry::of)).unwrap();
        assert!(!index.differences(&before).is_empty(), "a stale index is told apart");
    }

    #[test]
    fn stage_sets_take_the_unswept_firms_from_their_records() {
        let (mut firms, _) = sample();
        firms[0].indexed_stage = 3;
        firms[0].next_stage_check = "2020-01-01".into();
        firms[1].indexed_stage = 3;
        let index = EnterpriseIndex::build(firms.iter().map(Entry::of)).unwrap();
        let pending = index.pending_stages("2024-06-01");
        assert_eq!(pending.len(), 1, "firm 0's stage may have changed since 2020");
        let ord = pending.iter().next().unwrap();
        let stage = |filter: &str, fixes: &[(u32, i32)]| {
            let f = Filter::parse(filter).unwrap();
            let view = StageView::Today(fixes.iter().copied().collect());
            let c = index.candidates(&f.expr, &view);
            index.visible(c.set, false).len()
        };
        assert_eq!(stage("stage = STAGE_SCALE_UP", &[]), 2);
        // Its record says it left the ladder: it moves to the other set.
        assert_eq!(stage("stage = STAGE_SCALE_UP", &[(ord, 0)]), 1);
        assert_eq!(stage("stage = STAGE_UNSPECIFIED", &[(ord, 0)]), 3);
        assert_eq!(stage("stage > STAGE_CLIMB", &[(ord, 5)]), 2);
        let records = StageView::Records;
        let c = index.candidates(&Filter::parse("stage = STAGE_SCALE_UP").unwrap().expr, &records);
        assert!(!c.exact && c.set.is_none(), "another day's stage is checked on records");
    }

    #[test]
    fn the_fields_decoded_at_open_index_a_record_as_the_whole_record_does() {
        let (mut firms, _) = sample();
        let e = &mut firms[0];
        e.tags = vec!["储能".into(), "在孵".into()];
        e.service_commissioner = "王敏".into();
        e.memberships =
            vec![crate::domain::alliance::ActiveMembership { alliance_id: "aero".into(), ..Default::default() }];
        e.stage_spans =
            vec![crate::domain::ladder::StageSpan { stage: 2, from: "2024-01-01".into(), until: String::new() }];
        e.indexed_stage = 2;
        e.next_stage_check = "2027-01-01".into();
        e.synced_by = vec!["erp".into()];
        e.delete_time = 5;
        e.notes = "不进索引".into();
        let bytes = crate::store::codec::encode(&*e);
        let fields: IndexedFields = crate::store::codec::decode(&bytes).unwrap();
        assert_eq!(Entry::of(&fields).unwrap(), Entry::of(&*e).unwrap());
    }

    #[test]
    fn walks_resume_after_a_key_in_every_order() {
        let (_, index) = sample();
        let set = index.visible(None, false);
        for order in [OrderKey::CreditCode, OrderKey::DisplayName, OrderKey::CreateTime] {
            for desc in [false, true] {
                let all: Vec<Code> =
                    index.walk(&set, order, desc, None, 10).found.into_iter().map(|(_, c)| c).collect();
                assert_eq!(all.len(), 4);
                let first = index.walk(&set, order, desc, None, 2);
                let rest = index.walk(&set, order, desc, first.last.as_ref(), 10);
                let joined: Vec<Code> = first.found.iter().chain(rest.found.iter()).map(|(_, c)| *c).collect();
                assert_eq!(joined, all, "{order:?} desc={desc}");
                let key = first.last.unwrap();
                assert_eq!(SortKey::decode(&key.encode(), order), Some(key));
            }
        }
    }
}
