//! Investment-promotion projects, their yearly figures and the targeted
//! firms: the mutation paths (through [`records`]), the in-memory project
//! index, listings and the data the reports read.
//!
//! Projects are few (a zone records hundreds a year; 10,000 is a large
//! library), so the whole record of every project and its yearly figures
//! live in memory in [`ProjectIndex`], beside a roaring set per filter
//! value. The committer moves the index with each group, under the same
//! lock as the enterprise index, so a reader sees records and index of the
//! same groups; lists and reports never read sled. The index is rebuilt
//! from the records when the store opens and `check_consistency` compares
//! the two.
//!
//! Each project link to a registered firm also has a sled key
//! (`p{code}\0{project_id}`), so a delete of that firm, inside its write,
//! finds the projects through the transaction (which sees earlier writes of
//! the same group) instead of through the index (which does not yet).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::domain::change::{ChangeKind, WriteMeta};
use crate::domain::enterprise::Enterprise;
use crate::domain::industry::IndustryCode;
use crate::domain::project::{self, bare, enterprise_code, project_name, Project, ProjectInvestment, Target};
use crate::domain::time::Micros;
use crate::error::{Error, Result};
use crate::store::index::Delta;
use crate::store::records::{self, Record};
use crate::store::{blocking, codec, idempotency, keys, Store, Txn};

/// Most targets a list page examines before it returns short.
pub const TARGET_SCAN_BUDGET: usize = 10_000;

fn project_key(id: &str) -> Vec<u8> {
    let mut k = vec![keys::PROJECT];
    k.extend_from_slice(id.as_bytes());
    k
}

fn investment_key(id: &str, year: i32) -> Vec<u8> {
    let mut k = investments_prefix(id);
    k.extend_from_slice(&u32::try_from(year).unwrap_or(0).to_be_bytes());
    k
}

fn investments_prefix(id: &str) -> Vec<u8> {
    let mut k = vec![keys::PROJECT_YEAR];
    k.extend_from_slice(id.as_bytes());
    k.push(0);
    k
}

fn firm_projects_prefix(code: &str) -> Vec<u8> {
    let mut k = vec![keys::FIRM_PROJECTS];
    k.extend_from_slice(code.as_bytes());
    k.push(0);
    k
}

fn firm_project_key(code: &str, id: &str) -> Vec<u8> {
    let mut k = firm_projects_prefix(code);
    k.extend_from_slice(id.as_bytes());
    k
}

fn target_key(id: &str) -> Vec<u8> {
    let mut k = vec![keys::TARGET];
    k.extend_from_slice(id.as_bytes());
    k
}

/// A project writes its record, its firm-link keys and its index move.
impl Record for Project {
    fn resource_name(&self) -> String {
        self.name.clone()
    }

    fn diff(old: &Self, new: &Self) -> Vec<crate::domain::enterprise::FieldChange> {
        Project::diff(old, new)
    }

    fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    fn revision(&self) -> u64 {
        self.revision
    }

    fn put(txn: &mut Txn<'_>, old: Option<&Self>, new: &Self) -> Result<()> {
        let before: BTreeSet<String> = old.map(Project::linked_enterprises).unwrap_or_default().into_iter().collect();
        let after: BTreeSet<String> = new.linked_enterprises().into_iter().collect();
        for gone in before.difference(&after) {
            txn.remove(firm_project_key(gone, new.id()));
        }
        for added in after.difference(&before) {
            txn.put(firm_project_key(added, new.id()), Vec::new());
        }
        txn.put(project_key(new.id()), codec::encode(new));
        txn.reindex(Delta::Project(Box::new(new.clone())));
        Ok(())
    }
}

/// A year's figures write their record and their index move.
impl Record for ProjectInvestment {
    fn resource_name(&self) -> String {
        self.name.clone()
    }

    fn diff(old: &Self, new: &Self) -> Vec<crate::domain::enterprise::FieldChange> {
        ProjectInvestment::diff(old, new)
    }

    fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    fn revision(&self) -> u64 {
        self.revision
    }

    fn put(txn: &mut Txn<'_>, _old: Option<&Self>, new: &Self) -> Result<()> {
        txn.put(investment_key(new.project_id(), new.year), codec::encode(new));
        txn.reindex(Delta::Investment(Box::new(new.clone())));
        Ok(())
    }
}

/// A target writes its record.
impl Record for Target {
    fn resource_name(&self) -> String {
        self.name.clone()
    }

    fn diff(old: &Self, new: &Self) -> Vec<crate::domain::enterprise::FieldChange> {
        Target::diff(old, new)
    }

    fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    fn revision(&self) -> u64 {
        self.revision
    }

    fn put(txn: &mut Txn<'_>, _old: Option<&Self>, new: &Self) -> Result<()> {
        let id = new.name.strip_prefix(project::TARGETS).unwrap_or(&new.name);
        txn.put(target_key(id), codec::encode(new));
        Ok(())
    }
}

/// One condition of a project filter, on the index's set keys.
#[derive(Debug, Clone, PartialEq)]
pub enum ProjectCondition {
    /// In any of the sets.
    AnyOf(Vec<String>),
    /// In none of the sets.
    NoneOf(Vec<String>),
    /// The project's name or its investor's name contains the text (or,
    /// when `negated`, neither does). Checked on the records in memory.
    NameContains {
        /// The text looked for.
        text: String,
        /// NOT.
        negated: bool,
    },
}

/// A project filter: its conditions joined by AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectFilter {
    /// The conditions.
    pub conditions: Vec<ProjectCondition>,
    /// Keep deleted projects.
    pub show_deleted: bool,
}

/// The set keys a project is indexed under: `field:value` for each filter
/// field (industry, chain gap and source region at every level).
pub fn set_keys(p: &Project) -> Vec<String> {
    let mut keys = vec![
        format!("zone:{}", p.promotion_zone),
        format!("department:{}", p.department),
        format!("owner:{}", p.owner),
        format!("stage:{}", bare(p.stage().as_str_name())),
        format!("status:{}", bare(p.status().as_str_name())),
        format!("key_level:{}", bare(p.key_level().as_str_name())),
        format!("lead_source:{}", bare(p.lead_source().as_str_name())),
    ];
    for (field, code) in [("industry_code", &p.industry_code), ("chain_gap", &p.chain_gap)] {
        if let Ok(c) = IndustryCode::parse(code) {
            keys.extend(c.prefixes().into_iter().map(|pr| format!("{field}:{}", pr.as_str())));
        }
    }
    let region = &p.source_region_code;
    for len in [2, 4, 6] {
        if let Some(prefix) = region.get(0..len) {
            keys.push(format!("source_region:{prefix}"));
        }
    }
    keys.extend(p.linked_codes().into_iter().map(|c| format!("credit_code:{c}")));
    keys.extend(p.tags.iter().map(|t| format!("tag:{t}")));
    keys.sort();
    keys.dedup();
    keys
}

/// Every project and its yearly figures, with a roaring set of projects per
/// set key (see the module documentation).
#[derive(Debug, Default, Clone)]
pub(crate) struct ProjectIndex {
    ords: BTreeMap<String, u32>,
    rows: Vec<Arc<Project>>,
    keys: Vec<Vec<String>>,
    sets: HashMap<String, RoaringBitmap>,
    deleted: RoaringBitmap,
    investments: BTreeMap<(u32, i32), Arc<ProjectInvestment>>,
}

impl ProjectIndex {
    /// Reads every project and figure record.
    pub(crate) fn load(tree: &crate::store::kv::Kv) -> Result<ProjectIndex> {
        let mut index = ProjectIndex::default();
        for entry in tree.scan_prefix([keys::PROJECT]) {
            let (key, value) = entry?;
            let p: Project = codec::decode(&value).map_err(|e| {
                Error::Internal(format!("project record {:?} does not decode: {e}", String::from_utf8_lossy(&key)))
            })?;
            index.put(p);
        }
        for entry in tree.scan_prefix([keys::PROJECT_YEAR]) {
            let (_, value) = entry?;
            index.put_investment(codec::decode(&value)?);
        }
        Ok(index)
    }

    /// Applies one move of the writer.
    pub(crate) fn apply(&mut self, delta: Delta) {
        match delta {
            Delta::Project(p) => self.put(*p),
            Delta::Investment(i) => self.put_investment(*i),
            Delta::Firm(..) => {}
        }
    }

    fn put(&mut self, p: Project) {
        let ord = match self.ords.get(p.id()) {
            Some(ord) => *ord,
            None => {
                let ord = self.rows.len() as u32;
                self.ords.insert(p.id().to_string(), ord);
                self.rows.push(Arc::default());
                self.keys.push(Vec::new());
                ord
            }
        };
        for key in std::mem::take(&mut self.keys[ord as usize]) {
            if let Some(set) = self.sets.get_mut(&key) {
                set.remove(ord);
                if set.is_empty() {
                    self.sets.remove(&key);
                }
            }
        }
        let keys = set_keys(&p);
        for key in &keys {
            self.sets.entry(key.clone()).or_default().insert(ord);
        }
        if p.is_deleted() {
            self.deleted.insert(ord);
        } else {
            self.deleted.remove(ord);
        }
        self.keys[ord as usize] = keys;
        self.rows[ord as usize] = Arc::new(p);
    }

    fn put_investment(&mut self, i: ProjectInvestment) {
        if let Some(ord) = self.ords.get(i.project_id()) {
            self.investments.insert((*ord, i.year), Arc::new(i));
        }
    }

    /// The projects passing `filter`.
    fn matching(&self, filter: &ProjectFilter) -> RoaringBitmap {
        let all = RoaringBitmap::from_iter(0..self.rows.len() as u32);
        let mut out = if filter.show_deleted { all.clone() } else { &all - &self.deleted };
        let set = |key: &str| self.sets.get(key).cloned().unwrap_or_default();
        // Set conditions first: the name checks then read fewer records.
        let mut texts = Vec::new();
        for c in &filter.conditions {
            let (ProjectCondition::AnyOf(keys) | ProjectCondition::NoneOf(keys)) = c else {
                texts.push(c);
                continue;
            };
            let mut any = RoaringBitmap::new();
            for key in keys {
                any |= set(key);
            }
            match c {
                ProjectCondition::AnyOf(_) => out &= any,
                _ => out -= any,
            }
        }
        for c in texts {
            if let ProjectCondition::NameContains { text, negated } = c {
                out = out
                    .iter()
                    .filter(|ord| {
                        let p = &self.rows[*ord as usize];
                        (p.display_name.contains(text.as_str()) || p.investor_name.contains(text.as_str())) != *negated
                    })
                    .collect();
            }
        }
        out
    }

    /// The projects passing `filter`, newest first (shared, not copied).
    pub(crate) fn select(&self, filter: &ProjectFilter) -> Vec<Arc<Project>> {
        let set = self.matching(filter);
        self.ords
            .values()
            .rev()
            .filter(|ord| set.contains(**ord))
            .map(|ord| Arc::clone(&self.rows[*ord as usize]))
            .collect()
    }

    /// The projects passing `filter` with their figures for `year`.
    pub(crate) fn with_figures(
        &self,
        filter: &ProjectFilter,
        year: i32,
    ) -> Vec<(Arc<Project>, Arc<ProjectInvestment>)> {
        let set = self.matching(filter);
        self.investments
            .iter()
            .filter(|((ord, y), _)| *y == year && set.contains(*ord))
            .map(|((ord, _), i)| (Arc::clone(&self.rows[*ord as usize]), Arc::clone(i)))
            .collect()
    }

    /// One page newest first after the id `after`, the next position, and
    /// the total passing the filter.
    fn page(&self, filter: &ProjectFilter, after: Option<&str>, size: usize) -> (Vec<Project>, Option<String>, u64) {
        let set = self.matching(filter);
        let mut out = Vec::new();
        let ids = match after {
            Some(a) => self.ords.range::<str, _>((std::ops::Bound::Unbounded, std::ops::Bound::Excluded(a))),
            None => self.ords.range::<str, _>(..),
        };
        for (_, ord) in ids.rev().filter(|(_, ord)| set.contains(**ord)) {
            if out.len() == size {
                let next = out.last().map(|p: &Project| p.id().to_string());
                return (out, next, set.len());
            }
            out.push(Project::clone(&self.rows[*ord as usize]));
        }
        (out, None, set.len())
    }

    /// What differs from `expected` (an index rebuilt from the records).
    pub(crate) fn differences(&self, expected: &ProjectIndex) -> Vec<String> {
        let mut out = Vec::new();
        let rows = |ix: &ProjectIndex| {
            ix.ords.iter().map(|(id, ord)| (id.clone(), ix.rows[*ord as usize].clone())).collect::<BTreeMap<_, _>>()
        };
        if rows(self) != rows(expected) {
            out.push("the project index holds other projects than the records".into());
        }
        let figures = |ix: &ProjectIndex| {
            ix.investments
                .iter()
                .map(|((_, y), i)| ((i.project_id().to_string(), *y), i.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        if figures(self) != figures(expected) {
            out.push("the project index holds other yearly figures than the records".into());
        }
        let sets = |ix: &ProjectIndex| {
            let id_of: HashMap<u32, &String> = ix.ords.iter().map(|(id, ord)| (*ord, id)).collect();
            ix.sets
                .iter()
                .map(|(k, set)| {
                    (k.clone(), set.iter().filter_map(|o| id_of.get(&o).map(|s| (*s).clone())).collect::<BTreeSet<_>>())
                })
                .collect::<BTreeMap<_, _>>()
        };
        if sets(self) != sets(expected) {
            out.push("the project index sets disagree with the records".into());
        }
        out
    }
}

/// The firm a link names: registered, and not deleted when newly linked.
fn linked_firm(txn: &Txn<'_>, field: &str, code: &str, newly: bool) -> Result<()> {
    let firm: Option<Enterprise> = txn.get_record(&keys::enterprise(code))?;
    match firm {
        None => Err(Error::invalid_field(
            field,
            "UNKNOWN_ENTERPRISE",
            format!("{} is not registered", crate::domain::enterprise::resource_name(code)),
        )),
        Some(f) if newly && f.is_deleted() => Err(Error::FailedPrecondition {
            reason: "ENTERPRISE_DELETED",
            message: format!("{} is deleted: undelete it before linking a project to it", f.resource_name()),
        }),
        Some(_) => Ok(()),
    }
}

/// Checks the links a project's new state adds (every link, when it comes
/// back to life): registered, live firms and an active alliance.
fn check_links(txn: &Txn<'_>, old: Option<&Project>, new: &Project) -> Result<()> {
    // A project that becomes active again (undeleted, or back from a loss)
    // checks every link anew: a firm deleted meanwhile is refused.
    let revived = old.is_some_and(|o| !o.is_active()) && new.is_active();
    let changed = |f: fn(&Project) -> &str| (revived || old.is_none_or(|o| f(o) != f(new))) && !f(new).is_empty();
    if changed(|p| enterprise_code(&p.investor_enterprise)) {
        linked_firm(txn, "project.investor_enterprise", enterprise_code(&new.investor_enterprise), true)?;
    }
    if changed(|p| &p.lead_credit_code) {
        linked_firm(txn, "project.lead_credit_code", &new.lead_credit_code, true)?;
    }
    if changed(|p| enterprise_code(&p.enterprise)) {
        linked_firm(txn, "event.enterprise", enterprise_code(&new.enterprise), true)?;
    }
    if changed(|p| &p.lead_alliance_id) {
        let alliance: Option<crate::domain::alliance::Alliance> =
            txn.get_record(&keys::alliance(&new.lead_alliance_id))?;
        if alliance.is_none_or(|a| a.is_deleted()) {
            return Err(Error::invalid_field(
                "project.lead_alliance_id",
                "UNKNOWN_ALLIANCE",
                format!("{:?} is not an active alliance", new.lead_alliance_id),
            ));
        }
    }
    Ok(())
}

impl Store {
    /// Reads one project.
    pub fn get_project(&self, id: &str) -> Result<Option<Project>> {
        self.tree().get(project_key(id))?.map(|b| codec::decode(&b)).transpose()
    }

    /// Applies a project rule atomically, checking the links the new state
    /// adds. A new project naming a target converts the target in the same
    /// write.
    pub async fn mutate_project<F>(&self, id: String, meta: WriteMeta, dry_run: bool, rule: F) -> Result<Project>
    where
        F: FnOnce(Option<Project>, Micros) -> Result<(ChangeKind, Project)> + Send + 'static,
    {
        self.write(dry_run, move |txn| {
            if let Some(replayed) = idempotency::replay(txn, &meta)? {
                return Ok(replayed);
            }
            let current: Option<Project> = txn.get_record(&project_key(&id))?;
            let (kind, next) = rule(current.clone(), txn.now())?;
            check_links(txn, current.as_ref(), &next)?;
            if current.is_none() && !next.target.is_empty() {
                let target_id = project::check_target_name("project.target", &next.target)?;
                let target: Option<Target> = txn.get_record(&target_key(&target_id))?;
                // A target whose project was deleted (a duplicate, a mistake)
                // may become a project again.
                let earlier = target.as_ref().map(|t| t.project.trim_start_matches(project::PROJECTS)).unwrap_or("");
                let free = earlier.is_empty()
                    || txn.get_record::<Project>(&project_key(earlier))?.is_none_or(|p| p.is_deleted());
                let name = project::target_name(&target_id);
                let (kind, converted) = project::convert_target(target.clone(), &name, &next.name, free, txn.now())?;
                records::commit(txn, target.as_ref(), converted, kind, &meta)?;
            }
            let stored = records::commit(txn, current.as_ref(), next, kind, &meta)?;
            records::answer(txn, &meta, &stored);
            Ok(stored)
        })
        .await
    }

    /// One page of projects newest first (after the id `after`), the next
    /// position, and the exact total passing the filter.
    pub fn list_projects(
        &self,
        filter: &ProjectFilter,
        after: Option<&str>,
        size: usize,
    ) -> Result<(Vec<Project>, Option<String>, u64)> {
        Ok(self.index()?.projects.page(filter, after, size))
    }

    /// The projects passing `filter`, newest first (for reports; shared
    /// with the index, which replaces a project's entry when it changes).
    pub fn select_projects(&self, filter: &ProjectFilter) -> Result<Vec<Arc<Project>>> {
        Ok(self.index()?.projects.select(filter))
    }

    /// The projects passing `filter` that have figures for `year`, with them.
    pub fn projects_with_figures(
        &self,
        filter: &ProjectFilter,
        year: i32,
    ) -> Result<Vec<(Arc<Project>, Arc<ProjectInvestment>)>> {
        Ok(self.index()?.projects.with_figures(filter, year))
    }

    /// Reads a project's figures for one year.
    pub fn get_project_investment(&self, id: &str, year: i32) -> Result<Option<ProjectInvestment>> {
        self.tree().get(investment_key(id, year))?.map(|b| codec::decode(&b)).transpose()
    }

    /// A project's figures, newest year first.
    pub async fn list_project_investments(&self, id: String) -> Result<Vec<ProjectInvestment>> {
        let store = self.clone();
        blocking(move || {
            let mut out: Vec<ProjectInvestment> = store
                .tree()
                .scan_prefix(investments_prefix(&id))
                .values()
                .map(|v| codec::decode(&v?))
                .collect::<Result<_>>()?;
            out.reverse();
            Ok(out)
        })
        .await
    }

    /// Upserts a live project's figures for one year.
    pub async fn mutate_project_investment<F>(
        &self,
        id: String,
        year: i32,
        meta: WriteMeta,
        dry_run: bool,
        rule: F,
    ) -> Result<ProjectInvestment>
    where
        F: FnOnce(Option<ProjectInvestment>, Micros) -> Result<(ChangeKind, ProjectInvestment)> + Send + 'static,
    {
        self.write(dry_run, move |txn| {
            if let Some(replayed) = idempotency::replay(txn, &meta)? {
                return Ok(replayed);
            }
            let project: Option<Project> = txn.get_record(&project_key(&id))?;
            project::live(&project.ok_or_else(|| Error::NotFound { resource: project_name(&id) })?)?;
            let current: Option<ProjectInvestment> = txn.get_record(&investment_key(&id, year))?;
            records::apply_to(txn, current, &meta, rule)
        })
        .await
    }

    /// Reads one target.
    pub fn get_target(&self, id: &str) -> Result<Option<Target>> {
        self.tree().get(target_key(id))?.map(|b| codec::decode(&b)).transpose()
    }

    /// Applies a target rule atomically.
    pub async fn mutate_target<F>(&self, id: String, meta: WriteMeta, dry_run: bool, rule: F) -> Result<Target>
    where
        F: FnOnce(Option<Target>, Micros) -> Result<(ChangeKind, Target)> + Send + 'static,
    {
        self.write(dry_run, move |txn| records::apply(txn, &target_key(&id), &meta, rule)).await
    }

    /// Lists targets newest first after the id `after`, keeping those `keep`
    /// accepts; at most [`TARGET_SCAN_BUDGET`] examined per page.
    pub async fn list_targets(
        &self,
        keep: impl Fn(&Target) -> bool + Send + 'static,
        after: Option<String>,
        size: usize,
    ) -> Result<(Vec<Target>, Option<String>)> {
        let store = self.clone();
        blocking(move || {
            let end = match &after {
                Some(id) => target_key(id),
                None => keys::prefix_end(&[keys::TARGET]),
            };
            let mut out = Vec::new();
            let mut last = None;
            for (examined, entry) in store.tree().range(vec![keys::TARGET]..end).rev().enumerate() {
                let (key, value) = entry?;
                let id = String::from_utf8_lossy(&key[1..]).to_string();
                if examined == TARGET_SCAN_BUDGET || out.len() == size {
                    return Ok((out, last));
                }
                let t: Target = codec::decode(&value)?;
                if keep(&t) {
                    out.push(t);
                }
                last = Some(id);
            }
            Ok((out, None))
        })
        .await
    }

    /// Soft-deletes an enterprise unless a live project that is not lost
    /// links to it (ACTIVE_PROJECTS); `force` skips the project check (the
    /// projects keep their links). The rule is the enterprise's own.
    pub async fn delete_enterprise<F>(
        &self,
        code: String,
        meta: WriteMeta,
        dry_run: bool,
        force: bool,
        rule: F,
    ) -> Result<Enterprise>
    where
        F: FnOnce(Option<Enterprise>, Micros) -> Result<crate::domain::enterprise::Outcome> + Send + 'static,
    {
        if force {
            return self.force_delete_enterprise(code, meta, dry_run, rule).await;
        }
        self.write(dry_run, move |txn| {
            let deleted = crate::store::enterprises::apply_enterprise(txn, &code, &meta, rule)?;
            let active: Vec<String> =
                projects_linking(txn, &code)?.into_iter().filter(Project::is_active).map(|p| p.name).collect();
            if !active.is_empty() {
                // Returning the error discards what the rule buffered.
                return Err(Error::FailedPrecondition {
                    reason: "ACTIVE_PROJECTS",
                    message: format!(
                        "{} is linked to active projects ({}): finish, lose or delete them first, or delete with force (the projects keep their links)",
                        deleted.resource_name(),
                        active.join(", ")
                    ),
                });
            }
            Ok(deleted)
        })
        .await
    }
}

/// The projects that link to a firm (as investor, referrer or project
/// company), read inside a write: it sees the writes of earlier jobs of
/// the same group.
pub(crate) fn projects_linking(txn: &Txn<'_>, code: &str) -> Result<Vec<Project>> {
    let mut out = Vec::new();
    for (key, _) in txn.scan_prefix(&firm_projects_prefix(code))? {
        let id = String::from_utf8_lossy(&key[code.len() + 2..]).to_string();
        out.extend(txn.get_record::<Project>(&project_key(&id))?);
    }
    Ok(out)
}

/// Checks that every project's firm-link keys are exactly the firms it
/// links to; the problems found.
pub(crate) fn check_projects(tree: &crate::store::kv::Kv) -> Result<Vec<String>> {
    let mut expected = BTreeSet::new();
    for entry in tree.scan_prefix([keys::PROJECT]) {
        let (_, v) = entry?;
        let p: Project = codec::decode(&v)?;
        for code in p.linked_enterprises() {
            expected.insert(firm_project_key(&code, p.id()));
        }
    }
    let actual: BTreeSet<Vec<u8>> =
        tree.scan_prefix([keys::FIRM_PROJECTS]).keys().map(|k| k.map(|k| k.to_vec())).collect::<Result<_>>()?;
    let show = |k: &Vec<u8>| String::from_utf8_lossy(k).into_owned();
    let mut orphans = Vec::new();
    for entry in tree.scan_prefix([keys::PROJECT_YEAR]) {
        let (_, v) = entry?;
        let i: ProjectInvestment = codec::decode(&v)?;
        if tree.get(project_key(i.project_id()))?.is_none() {
            orphans.push(format!("{} has no project", i.name));
        }
    }
    for entry in tree.scan_prefix([keys::TARGET]) {
        let (_, v) = entry?;
        let t: Target = codec::decode(&v)?;
        if t.status() == project::TargetStatus::Converted {
            let id = t.project.trim_start_matches(project::PROJECTS);
            let p: Option<Project> = tree.get(project_key(id))?.map(|v| codec::decode(&v)).transpose()?;
            if p.is_none_or(|p| p.target != t.name) {
                orphans.push(format!("{} names {}, which does not name it back", t.name, t.project));
            }
        }
    }
    let mut problems: Vec<String> = orphans;
    problems.extend(expected.difference(&actual).map(|k| format!("missing project link {:?}", show(k))));
    problems.extend(actual.difference(&expected).map(|k| format!("project link without a project {:?}", show(k))));
    Ok(problems)
}
