//! Designations in the store, and the enterprise stage projection.
//!
//! A designation change writes, in one batch: the designation (`D{code}\0{id}`),
//! its certificate-number claim (`Z{kind}{number}`), its change-log entry,
//! and the enterprise record's stage projection (the spans of its designations,
//! the stage its index reflects, and the next date the stage may change).
//! The expiry sweeper visits firms whose next date has come, moves their
//! stage index, and logs the change as `system` "when it happens"; reads
//! never wait for it, because the stage is always derived afresh.

use crate::domain::change::{Change, ChangeKind, WriteMeta};
use crate::domain::enterprise::{resource_name, Enterprise, FieldChange};
use crate::domain::filter::Filter;
use crate::domain::indicators::AnnualIndicators;
use crate::domain::ladder::{self, Designation, DesignationKind, Stage, Status};
use crate::domain::time::{Date, Micros};
use crate::error::{Error, Result};
use crate::store::enterprises::put_enterprise;
use crate::store::records::{self, Record};
use crate::store::{blocking, codec, keys, Store, Txn};

/// Most firms one sweep job visits; a sweep runs jobs until none is due.
pub const SWEEP_BATCH: usize = 2_000;

/// What `ListDesignations` keeps.
#[derive(Debug, Clone, Default)]
pub struct DesignationFilter {
    /// Only this kind.
    pub kind: Option<DesignationKind>,
    /// Only this status.
    pub status: Option<Status>,
    /// Only kinds on this rung.
    pub stage: Option<Stage>,
}

impl DesignationFilter {
    fn matches(&self, d: &Designation) -> bool {
        self.kind.is_none_or(|k| d.kind() == k)
            && self.status.is_none_or(|s| d.status() == s)
            && self.stage.is_none_or(|s| d.stage() == s)
    }
}

fn designation_key(credit_code: &str, id: &str) -> Vec<u8> {
    let mut k = designations_prefix(credit_code);
    k.extend_from_slice(id.as_bytes());
    k
}

fn designations_prefix(credit_code: &str) -> Vec<u8> {
    let mut k = vec![keys::DESIGNATION];
    k.extend_from_slice(credit_code.as_bytes());
    k.push(0);
    k
}

fn certificate_key(kind: i32, number: &str) -> Vec<u8> {
    let mut k = vec![keys::CERTIFICATE];
    k.extend_from_slice(&kind.to_be_bytes());
    k.extend_from_slice(number.as_bytes());
    k
}

fn today(txn: &Txn<'_>) -> Date {
    Date::china(txn.now())
}

impl Store {
    /// Reads one designation.
    pub fn get_designation(&self, credit_code: &str, id: &str) -> Result<Option<Designation>> {
        self.tree().get(designation_key(credit_code, id))?.map(|b| codec::decode(&b)).transpose()
    }

    /// Every designation of a firm, in id order.
    pub fn designations_of(&self, credit_code: &str) -> Result<Vec<Designation>> {
        self.tree()
            .scan_prefix(designations_prefix(credit_code))
            .map(|entry| entry.and_then(|(_, v)| codec::decode(&v)))
            .collect()
    }

    /// Applies a designation rule atomically. A new designation needs a
    /// registered, non-deleted firm.
    pub async fn mutate_designation<F>(
        &self,
        credit_code: String,
        id: String,
        meta: WriteMeta,
        dry_run: bool,
        rule: F,
    ) -> Result<Designation>
    where
        F: FnOnce(Option<Designation>, Micros) -> Result<(ChangeKind, Designation)> + Send + 'static,
    {
        self.write(dry_run, move |txn| {
            if let Some(replayed) = crate::store::idempotency::replay(txn, &meta)? {
                return Ok(replayed);
            }
            let key = designation_key(&credit_code, &id);
            if txn.get(&key)?.is_none() {
                let firm: Option<Enterprise> = txn.get_record(&keys::enterprise(&credit_code))?;
                match firm {
                    None => {
                        return Err(Error::NotFound { resource: resource_name(&credit_code) });
                    }
                    Some(f) if f.is_deleted() => {
                        return Err(Error::FailedPrecondition {
                            reason: "ENTERPRISE_DELETED",
                            message: format!(
                                "{} is deleted: undelete it before recording designations",
                                f.resource_name()
                            ),
                        })
                    }
                    Some(_) => {}
                }
            }
            records::apply(txn, &key, &meta, rule)
        })
        .await
    }

    /// Removes a designation recorded by mistake.
    pub async fn delete_designation(
        &self,
        credit_code: String,
        id: String,
        etag: String,
        meta: WriteMeta,
    ) -> Result<Designation> {
        self.write(false, move |txn| {
            if let Some(replayed) = crate::store::idempotency::replay(txn, &meta)? {
                return Ok(replayed);
            }
            let key = designation_key(&credit_code, &id);
            let name = ladder::designation_name(&credit_code, &id);
            let current: Designation =
                txn.get_record(&key)?.ok_or_else(|| Error::NotFound { resource: name.clone() })?;
            crate::domain::update::check_etag(&name, &etag, &current.etag())?;
            let field_changes = Designation::diff(&current, &Designation::default());
            txn.log(crate::store::records::change(name, ChangeKind::Deleted, field_changes, &meta));
            txn.remove(key);
            if !current.certificate_number.is_empty() {
                txn.remove(certificate_key(current.kind, &current.certificate_number));
            }
            reproject(txn, &credit_code)?;
            records::answer(txn, &meta, &current);
            Ok(current)
        })
        .await
    }

    /// Lists designations of one firm (or all), in (firm, id) order, after the
    /// key `after`; returns the page and the key to resume after.
    pub async fn list_designations(
        &self,
        credit_code: Option<String>,
        filter: DesignationFilter,
        after: Option<Vec<u8>>,
        page_size: usize,
    ) -> Result<(Vec<Designation>, Option<Vec<u8>>)> {
        let store = self.clone();
        blocking(move || {
            let prefix = credit_code.as_deref().map_or(vec![keys::DESIGNATION], designations_prefix);
            let lower = after.map_or(std::ops::Bound::Included(prefix.clone()), std::ops::Bound::Excluded);
            let upper = std::ops::Bound::Excluded(keys::prefix_end(&prefix));
            let mut out = Vec::new();
            let mut last: Option<Vec<u8>> = None;
            for entry in store.tree().range::<Vec<u8>, _>((lower, upper)) {
                let (key, value) = entry?;
                let d: Designation = codec::decode(&value)?;
                if filter.matches(&d) {
                    if out.len() == page_size {
                        return Ok((out, last));
                    }
                    out.push(d);
                }
                last = Some(key.to_vec());
            }
            Ok((out, None))
        })
        .await
    }

    /// Moves the stage index of every firm whose stage may have changed by
    /// `today` (a designation's validity started or ended) and logs each
    /// change as `system`. Returns how many firms changed stage.
    pub async fn sweep_stages(&self, today: Date) -> Result<usize> {
        let mut total = 0;
        loop {
            let store = self.clone();
            let (changed, more) = self
                .write(false, move |txn| {
                    let due = due_firms(&store, today)?;
                    let more = due.len() == SWEEP_BATCH;
                    let mut changed = 0;
                    for credit_code in due {
                        let firm: Option<Enterprise> = txn.get_record(&keys::enterprise(&credit_code))?;
                        let Some(firm) = firm else { continue };
                        let mut next = firm.clone();
                        let moved = next.reproject_stage(firm.stage_spans.clone(), today);
                        if next == firm {
                            continue;
                        }
                        if moved {
                            changed += 1;
                            let render =
                                |v: i32| if v == 0 { String::new() } else { Stage::of(v).proto_name().to_string() };
                            let change = Change {
                                resource: firm.resource_name(),
                                kind: ChangeKind::Updated as i32,
                                field_changes: vec![FieldChange {
                                    field: "stage".into(),
                                    old_value: render(firm.indexed_stage),
                                    new_value: render(next.indexed_stage),
                                }],
                                actor: "system".into(),
                                origin: "stage-sweeper".into(),
                                reason: format!("a designation's validity started or ended by {today}"),
                                ..Default::default()
                            };
                            // Logged under the firm without moving its etag:
                            // the etag guards the fields staff edit.
                            next.log_head = txn.log_chained(change, firm.log_head);
                        }
                        put_enterprise(txn, Some(&firm), &next)?;
                    }
                    Ok((changed, more))
                })
                .await?;
            total += changed;
            if !more {
                return Ok(total);
            }
        }
    }
}

/// Firms whose next stage check is due by `today` (at most [`SWEEP_BATCH`]).
fn due_firms(store: &Store, today: Date) -> Result<Vec<String>> {
    let due = store.index()?.due_by(&today.to_string(), SWEEP_BATCH);
    Ok(due.iter().map(|code| String::from_utf8_lossy(code).into_owned()).collect())
}

/// Rewrites a firm's stage projection from its designations (as buffered).
fn reproject(txn: &mut Txn<'_>, credit_code: &str) -> Result<()> {
    let firm: Option<Enterprise> = txn.get_record(&keys::enterprise(credit_code))?;
    let Some(firm) = firm else { return Ok(()) };
    let designations: Vec<Designation> = txn
        .scan_prefix(&designations_prefix(credit_code))?
        .into_iter()
        .map(|(_, v)| codec::decode(&v))
        .collect::<Result<_>>()?;
    let mut next = firm.clone();
    next.reproject_stage(ladder::spans(&designations), today(txn));
    if next != firm {
        put_enterprise(txn, Some(&firm), &next)?;
    }
    Ok(())
}

/// A designation claims its certificate number (per kind) and rewrites its
/// firm's stage projection.
impl Record for Designation {
    records::record_basics!();

    fn put(txn: &mut Txn<'_>, old: Option<&Self>, new: &Self) -> Result<()> {
        if let Some(old) = old.filter(|o| !o.certificate_number.is_empty()) {
            if (old.kind, &old.certificate_number) != (new.kind, &new.certificate_number) {
                txn.remove(certificate_key(old.kind, &old.certificate_number));
            }
        }
        if !new.certificate_number.is_empty() {
            let claim = certificate_key(new.kind, &new.certificate_number);
            if let Some(holder) = txn.get(&claim)? {
                let holder = String::from_utf8_lossy(&holder).to_string();
                if holder != new.resource_name() {
                    return Err(Error::invalid_field(
                        "designation.certificate_number",
                        "DUPLICATE_CERTIFICATE",
                        format!(
                            "{} ({}) is already recorded as {holder}",
                            new.certificate_number,
                            new.kind().label_zh()
                        ),
                    ));
                }
            }
            txn.put(claim, new.resource_name().into_bytes());
        }
        txn.put(designation_key(&new.credit_code, &new.id), codec::encode(new));
        reproject(txn, &new.credit_code)
    }
}

pub(crate) fn indicators_key(credit_code: &str, year: i32) -> Vec<u8> {
    let mut k = vec![keys::INDICATORS];
    k.extend_from_slice(credit_code.as_bytes());
    k.push(0);
    k.extend_from_slice(&u32::try_from(year).unwrap_or(0).to_be_bytes());
    k
}

impl Record for AnnualIndicators {
    records::record_basics!();

    fn put(txn: &mut Txn<'_>, _old: Option<&Self>, new: &Self) -> Result<()> {
        txn.put(indicators_key(&new.credit_code, new.year), codec::encode(new));
        Ok(())
    }
}

/// One firm's change of stage in a period, for the movement report.
#[derive(Debug, Clone)]
pub struct Movement {
    /// The firm.
    pub credit_code: String,
    /// Its name.
    pub display_name: String,
    /// The change.
    pub change: ladder::StageChange,
}

/// One firm of a cohort.
#[derive(Debug, Clone)]
pub struct CohortMember {
    /// The firm.
    pub credit_code: String,
    /// The day it entered the stage.
    pub entered: Date,
    /// The day it first reached a higher stage.
    pub advanced: Option<Date>,
}

/// Counts of the funnel.
#[derive(Debug, Clone, Default)]
pub struct FunnelCounts {
    /// Firms matching.
    pub firms: u64,
    /// Firms per stage.
    pub by_stage: std::collections::BTreeMap<Stage, u64>,
    /// Firms holding each kind.
    pub by_kind: std::collections::BTreeMap<DesignationKind, u64>,
}

/// A firm evaluated against a target.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The firm.
    pub firm: Enterprise,
    /// Its criteria.
    pub criteria: Vec<crate::domain::policy::Criterion>,
}

impl Store {
    /// Reads a firm's indicators for a year.
    pub fn get_indicators(&self, credit_code: &str, year: i32) -> Result<Option<AnnualIndicators>> {
        self.tree().get(indicators_key(credit_code, year))?.map(|b| codec::decode(&b)).transpose()
    }

    /// Every year of a firm's indicators, oldest first.
    pub fn indicators_of(&self, credit_code: &str) -> Result<Vec<AnnualIndicators>> {
        let mut prefix = vec![keys::INDICATORS];
        prefix.extend_from_slice(credit_code.as_bytes());
        prefix.push(0);
        self.tree().scan_prefix(prefix).map(|e| e.and_then(|(_, v)| codec::decode(&v))).collect()
    }

    /// Writes a firm's indicators for one year (the firm must be registered).
    pub async fn mutate_indicators<F>(
        &self,
        credit_code: String,
        year: i32,
        meta: WriteMeta,
        dry_run: bool,
        rule: F,
    ) -> Result<AnnualIndicators>
    where
        F: FnOnce(Option<AnnualIndicators>, Micros) -> Result<(ChangeKind, AnnualIndicators)> + Send + 'static,
    {
        self.write(dry_run, move |txn| {
            if let Some(replayed) = crate::store::idempotency::replay(txn, &meta)? {
                return Ok(replayed);
            }
            let firm: Option<Enterprise> = txn.get_record(&keys::enterprise(&credit_code))?;
            match firm {
                None => return Err(Error::NotFound { resource: resource_name(&credit_code) }),
                Some(f) if f.is_deleted() => {
                    return Err(Error::FailedPrecondition {
                        reason: "ENTERPRISE_DELETED",
                        message: format!("{} is deleted: undelete it before recording its figures", f.resource_name()),
                    })
                }
                Some(_) => {}
            }
            records::apply(txn, &indicators_key(&credit_code, year), &meta, rule)
        })
        .await
    }

    /// Firms per stage and per designation kind on `as_of`.
    pub async fn funnel(&self, filter: Filter, as_of: Date) -> Result<FunnelCounts> {
        let store = self.clone();
        blocking(move || {
            let mut counts = FunnelCounts::default();
            // Firms off the ladder need no reading: they are the rest.
            let firms = store.count_filter(&filter, as_of)?;
            store.for_each_matching(&filter, as_of, true, |e| {
                counts.firms += 1;
                *counts.by_stage.entry(e.stage_on(as_of)).or_default() += 1;
                if !e.stage_spans.is_empty() {
                    let mut kinds: Vec<DesignationKind> = store
                        .designations_of(&e.credit_code)?
                        .iter()
                        .filter(|d| d.counts_on(as_of))
                        .map(|d| d.kind())
                        .collect();
                    kinds.sort();
                    kinds.dedup();
                    for kind in kinds {
                        *counts.by_kind.entry(kind).or_default() += 1;
                    }
                }
                Ok(())
            })?;
            let on_ladder: u64 =
                counts.by_stage.iter().filter(|(s, _)| **s != Stage::Unspecified).map(|(_, n)| *n).sum();
            counts.by_stage.insert(Stage::Unspecified, firms.saturating_sub(on_ladder));
            if counts.by_stage.get(&Stage::Unspecified) == Some(&0) {
                counts.by_stage.remove(&Stage::Unspecified);
            }
            counts.firms = firms;
            Ok(counts)
        })
        .await
    }

    /// Every stage change dated within `[start, end]` of the matching firms.
    pub async fn movements(&self, filter: Filter, start: Date, end: Date) -> Result<Vec<Movement>> {
        let store = self.clone();
        blocking(move || {
            let mut out = Vec::new();
            store.for_each_matching(&filter, end, true, |e| {
                if e.stage_spans.is_empty() {
                    return Ok(());
                }
                let designations = store.designations_of(&e.credit_code)?;
                for change in ladder::timeline(&designations, end).into_iter().filter(|c| c.date >= start) {
                    out.push(Movement {
                        credit_code: e.credit_code.clone(),
                        display_name: e.display_name.clone(),
                        change,
                    });
                }
                Ok(())
            })?;
            out.sort_by(|a, b| (a.change.date, &a.credit_code).cmp(&(b.change.date, &b.credit_code)));
            Ok(out)
        })
        .await
    }

    /// Firms that first entered `stage` in `year`, and when each first
    /// reached a higher stage afterwards (as of `today`).
    pub async fn cohort(&self, filter: Filter, stage: Stage, year: i64, today: Date) -> Result<Vec<CohortMember>> {
        let store = self.clone();
        blocking(move || {
            let mut out = Vec::new();
            store.for_each_matching(&filter, today, true, |e| {
                if e.stage_spans.is_empty() {
                    return Ok(());
                }
                let history = ladder::timeline(&store.designations_of(&e.credit_code)?, today);
                let Some(entry) = history.iter().find(|c| c.to == stage && c.from < stage) else { return Ok(()) };
                if entry.date.ymd().0 != year {
                    return Ok(());
                }
                let advanced = history.iter().find(|c| c.date > entry.date && c.to > stage).map(|c| c.date);
                out.push(CohortMember { credit_code: e.credit_code.clone(), entered: entry.date, advanced });
                Ok(())
            })?;
            Ok(out)
        })
        .await
    }

    /// Matching firms not holding `target` today, evaluated against the
    /// policy version on the evaluated year's indicators.
    pub async fn candidates(
        &self,
        filter: Filter,
        target: DesignationKind,
        year: i32,
        policy: std::sync::Arc<crate::domain::policy::PolicyVersion>,
        today: Date,
    ) -> Result<Vec<Evaluated>> {
        let store = self.clone();
        blocking(move || {
            let mut out = Vec::new();
            let at = Date::parse(&format!("{year:04}-12-31")).unwrap_or(today);
            store.for_each_matching(&filter, today, false, |firm| {
                let designations = store.designations_of(&firm.credit_code)?;
                let valid: Vec<&Designation> = designations.iter().filter(|d| d.counts_on(today)).collect();
                let barred = designations
                    .iter()
                    .any(|d| d.kind() == target && Date::parse(&d.barred_until).is_some_and(|b| b > today));
                if barred || valid.iter().any(|d| d.kind() == target) {
                    return Ok(());
                }
                let by_year = store.indicators_of(&firm.credit_code)?;
                let find = |y: i32| by_year.iter().find(|i| i.year == y);
                let facts = crate::domain::policy::Facts {
                    firm: &firm,
                    year: find(year),
                    previous_year: find(year - 1),
                    two_years_before: find(year - 2),
                    four_years_before: find(year - 4),
                    holds_high_tech: valid.iter().any(|d| d.kind() == DesignationKind::HighTech),
                    listed: firm.stage_on(today) == Stage::Listed,
                    at,
                };
                if let Some(criteria) = crate::domain::policy::evaluate(&policy, target, &facts) {
                    out.push(Evaluated { firm: firm.clone(), criteria });
                }
                Ok(())
            })?;
            Ok(out)
        })
        .await
    }

    /// Granted designations whose validity ends between `today` and `until`
    /// (inclusive), soonest first.
    pub async fn expiring(&self, today: Date, until: Date, kind: Option<DesignationKind>) -> Result<Vec<Designation>> {
        let store = self.clone();
        blocking(move || {
            let mut out = Vec::new();
            for entry in store.tree().scan_prefix([keys::DESIGNATION]) {
                let (_, value) = entry?;
                let d: Designation = codec::decode(&value)?;
                let ends = Date::parse(&d.valid_until);
                let held = matches!(d.status(), Status::Granted | Status::UnderReview) && d.ended_date.is_empty();
                if held && ends.is_some_and(|e| e >= today && e <= until) && kind.is_none_or(|k| d.kind() == k) {
                    let live = store.get_enterprise(&d.credit_code)?.is_some_and(|e| !e.is_deleted());
                    if live {
                        out.push(d);
                    }
                }
            }
            out.sort_by(|a, b| (&a.valid_until, &a.credit_code).cmp(&(&b.valid_until, &b.credit_code)));
            Ok(out)
        })
        .await
    }
}
