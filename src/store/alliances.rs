//! Alliances and memberships in the store.
//!
//! A membership change writes, in one batch: the membership record
//! (`B{alliance}\0{code}`), the firm → alliance entry (`F{code}\0{alliance}`),
//! its change-log entry, and the enterprise record's projection of its active
//! memberships, whose `alliance` index entries and counters serve
//! `ListEnterprises` filters and the alliances' member counts.

use std::collections::BTreeMap;

use crate::domain::alliance::{
    self, ActiveMembership, Alliance, EndReason, EventKind, Membership, MembershipState, Recorded, Role,
};
use crate::domain::change::{ChangeKind, WriteMeta};
use crate::domain::enterprise::Enterprise;
use crate::domain::industry::IndustryCode;
use crate::domain::time::{Date, Micros};
use crate::error::{Error, Result};
use crate::store::enterprises::{apply_enterprise, put_enterprise};
use crate::store::index;
use crate::store::records::{self, Record};
use crate::store::{blocking, codec, idempotency, keys, Store, Txn};

/// The outcome of an alliance rule.
pub type AllianceOutcome = (ChangeKind, Alliance);

/// What `ListMemberships` keeps.
#[derive(Debug, Clone, Default)]
pub struct MembershipFilter {
    /// Only this state.
    pub state: Option<MembershipState>,
    /// Only this role.
    pub role: Option<Role>,
    /// Only this firm.
    pub credit_code: Option<String>,
}

impl MembershipFilter {
    fn matches(&self, m: &Membership) -> bool {
        self.state.is_none_or(|s| m.state == s as i32)
            && self.role.is_none_or(|r| m.role == r as i32)
            && self.credit_code.as_ref().is_none_or(|c| &m.credit_code == c)
    }
}

/// Counts of an alliance's active members and movements.
#[derive(Debug, Clone, Default)]
pub struct AllianceSummary {
    /// Active members.
    pub active_members: u64,
    /// Active members per role, from the top (roles with none left out).
    pub by_role: Vec<(Role, u64)>,
    /// Active members per industry division (`C37`, `-` unknown), largest first.
    pub by_division: Vec<(String, u64)>,
    /// Active members per promotion zone (`-` none), largest first.
    pub by_zone: Vec<(String, u64)>,
    /// Joins and rejoins dated in the period.
    pub joins: u64,
    /// Departures dated in the period.
    pub departures: u64,
}

/// A requested change of a membership.
#[derive(Debug, Clone)]
pub struct MembershipUpdate {
    /// New role, if changing.
    pub role: Option<Role>,
    /// New note, if changing.
    pub note: Option<String>,
    /// Effective date of a role change.
    pub date: Date,
    /// Role the outgoing chair takes in a hand-over.
    pub previous_chair_role: Option<Role>,
    /// Required etag, if any.
    pub etag: String,
}

impl Store {
    /// Reads one alliance (also a retired one).
    pub fn get_alliance(&self, id: &str) -> Result<Option<Alliance>> {
        self.tree().get(keys::alliance(id))?.map(|b| codec::decode(&b)).transpose()
    }

    /// Active members of an alliance that are live firms (from the
    /// enterprise index).
    pub fn active_members(&self, id: &str) -> Result<u64> {
        Ok(self.index()?.live_with(index::id::ALLIANCE, id.as_bytes()))
    }

    /// Applies an alliance rule atomically, logged and durable.
    pub async fn mutate_alliance<F>(&self, id: String, meta: WriteMeta, dry_run: bool, rule: F) -> Result<Alliance>
    where
        F: FnOnce(Option<Alliance>, Micros) -> Result<AllianceOutcome> + Send + 'static,
    {
        self.write(dry_run, move |txn| apply_alliance(txn, &id, &meta, rule)).await
    }

    /// Retires an alliance. With `force`, its active memberships are ended
    /// (reason ALLIANCE_DISSOLVED) in the same batch; without, they refuse it.
    pub async fn delete_alliance<F>(&self, id: String, meta: WriteMeta, force: bool, rule: F) -> Result<Alliance>
    where
        F: FnOnce(Option<Alliance>, Micros) -> Result<AllianceOutcome> + Send + 'static,
    {
        self.write(false, move |txn| {
            if let Some(replayed) = idempotency::replay(txn, &meta)? {
                return Ok(replayed);
            }
            let active: Vec<Membership> = memberships_in(txn, &keys::memberships_of_alliance(&id))?
                .into_iter()
                .filter(Membership::is_active)
                .collect();
            if !active.is_empty() && !force {
                return Err(Error::FailedPrecondition {
                    reason: "ACTIVE_MEMBERS",
                    message: format!(
                        "{} has {} active members: end them first, or delete with force (CLI: --force) to end them all",
                        alliance::alliance_name(&id),
                        active.len()
                    ),
                });
            }
            let by = recorded(txn, &meta);
            for m in active {
                let ended = alliance::end(m.clone(), by.today, EndReason::AllianceDissolved, "", &by)?;
                records::commit(txn, Some(&m), ended, ChangeKind::Updated, &meta)?;
            }
            apply_alliance(txn, &id, &meta, rule)
        })
        .await
    }

    /// Lists alliances in id order, after `after` (exclusive).
    pub async fn list_alliances(
        &self,
        show_deleted: bool,
        after: Option<String>,
        page_size: usize,
    ) -> Result<(Vec<Alliance>, bool)> {
        let store = self.clone();
        blocking(move || {
            let start = match &after {
                Some(id) => {
                    let mut k = keys::alliance(id);
                    k.push(0);
                    k
                }
                None => vec![keys::ALLIANCE],
            };
            let mut out = Vec::new();
            for entry in store.tree().range(start..keys::prefix_end(&[keys::ALLIANCE])) {
                let (_, value) = entry?;
                let a: Alliance = codec::decode(&value)?;
                if a.is_deleted() && !show_deleted {
                    continue;
                }
                if out.len() == page_size {
                    return Ok((out, true));
                }
                out.push(a);
            }
            Ok((out, false))
        })
        .await
    }

    /// Seeds the alliances of a new store, once: only if it was never seeded
    /// and holds no alliance. Returns how many were created.
    pub async fn seed_alliances(&self, seeds: Vec<Alliance>) -> Result<usize> {
        let meta = WriteMeta { actor: "system".into(), origin: "seed".into(), ..Default::default() };
        self.write(false, move |txn| {
            let seeded = txn.get(keys::META_SEEDED)?.is_some();
            if seeded || !txn.scan_prefix(&[keys::ALLIANCE])?.is_empty() {
                return Ok(0);
            }
            for seed in &seeds {
                let seed = seed.clone();
                apply_alliance(txn, &seed.id.clone(), &meta, move |current, now| {
                    alliance::create_alliance(current, seed, now)
                })?;
            }
            txn.put(keys::META_SEEDED.to_vec(), vec![1]);
            Ok(seeds.len())
        })
        .await
    }

    /// Reads one membership.
    pub fn get_membership(&self, alliance_id: &str, credit_code: &str) -> Result<Option<Membership>> {
        self.tree().get(keys::membership(alliance_id, credit_code))?.map(|b| codec::decode(&b)).transpose()
    }

    /// Joins (or rejoins) a registered, active firm to an active alliance.
    #[allow(clippy::too_many_arguments)]
    pub async fn join_alliance(
        &self,
        alliance_id: String,
        credit_code: String,
        role: Role,
        date: String,
        note: String,
        meta: WriteMeta,
        dry_run: bool,
    ) -> Result<Membership> {
        self.write(dry_run, move |txn| {
            if let Some(replayed) = idempotency::replay(txn, &meta)? {
                return Ok(replayed);
            }
            active_alliance(txn, &alliance_id)?;
            let firm: Option<Enterprise> = txn.get_record(&keys::enterprise(&credit_code))?;
            match firm {
                None => {
                    return Err(Error::invalid_field(
                        "credit_code",
                        "UNKNOWN_ENTERPRISE",
                        format!("enterprises/{credit_code} is not registered: register it first"),
                    ))
                }
                Some(e) if e.is_deleted() => {
                    return Err(Error::FailedPrecondition {
                        reason: "ENTERPRISE_DELETED",
                        message: format!("enterprises/{credit_code} is deleted: undelete it before it can join"),
                    })
                }
                Some(_) => {}
            }
            let by = recorded(txn, &meta);
            let date = alliance::effective_date("membership.join_date", &date, by.today)?;
            let key = keys::membership(&alliance_id, &credit_code);
            let current: Option<Membership> = txn.get_record(&key)?;
            let (kind, next) = alliance::join(current.clone(), &alliance_id, &credit_code, role, date, &note, &by)?;
            if role == Role::Chair {
                if let Some(chair) = chair_of(txn, &alliance_id)?.filter(|c| c.credit_code != credit_code) {
                    return Err(chair_taken(
                        &chair,
                        "add the firm with another role, then hand the chair over \
                         (UpdateMembership with previous_chair_role; CLI: ladder member role … CHAIR --previous-chair-role ROLE)",
                    ));
                }
            }
            let stored = records::commit(txn, current.as_ref(), next, kind, &meta)?;
            records::answer(txn, &meta, &stored);
            Ok(stored)
        })
        .await
    }

    /// Changes a membership's role (as history) and/or note; a hand-over of
    /// the chair changes both chairs in one batch.
    pub async fn update_membership(
        &self,
        alliance_id: String,
        credit_code: String,
        update: MembershipUpdate,
        meta: WriteMeta,
        dry_run: bool,
    ) -> Result<Membership> {
        self.write(dry_run, move |txn| {
            if let Some(replayed) = idempotency::replay(txn, &meta)? {
                return Ok(replayed);
            }
            let current = existing_membership(txn, &alliance_id, &credit_code, &update.etag)?;
            let by = recorded(txn, &meta);
            let mut next = current.clone();
            if let Some(outgoing) = update.previous_chair_role {
                if matches!(outgoing, Role::Chair | Role::Unspecified) {
                    return Err(Error::invalid_field(
                        "previous_chair_role",
                        "INVALID_ROLE",
                        "the outgoing chair needs a role other than CHAIR",
                    ));
                }
            }
            if let Some(role) = update.role {
                if role == Role::Chair && current.role != Role::Chair as i32 && current.is_active() {
                    match (chair_of(txn, &alliance_id)?, update.previous_chair_role) {
                        (Some(chair), Some(outgoing)) if chair.credit_code != credit_code => {
                            let stepped_down = alliance::change_role(chair.clone(), outgoing, update.date, &by)
                                .map_err(|e| Error::FailedPrecondition {
                                    reason: "HANDOVER_REFUSED",
                                    message: format!(
                                        "the outgoing chair {} cannot step down: {e}",
                                        chair.resource_name()
                                    ),
                                })?;
                            records::commit(txn, Some(&chair), stepped_down, ChangeKind::Updated, &meta)?;
                        }
                        (Some(chair), None) if chair.credit_code != credit_code => {
                            return Err(chair_taken(
                                &chair,
                                "hand it over by also setting previous_chair_role (CLI: --previous-chair-role ROLE)",
                            ));
                        }
                        _ => {}
                    }
                }
                next = alliance::change_role(next, role, update.date, &by)?;
            }
            if let Some(note) = &update.note {
                alliance::check_note("membership.note", note)?;
                next.note = note.trim().to_string();
            }
            if Membership::diff(&current, &next).is_empty() {
                return Ok(current);
            }
            next.update_time = by.now;
            let stored = records::commit(txn, Some(&current), next, ChangeKind::Updated, &meta)?;
            records::answer(txn, &meta, &stored);
            Ok(stored)
        })
        .await
    }

    /// Ends an active membership.
    #[allow(clippy::too_many_arguments)]
    pub async fn end_membership(
        &self,
        alliance_id: String,
        credit_code: String,
        date: String,
        reason: EndReason,
        note: String,
        etag: String,
        meta: WriteMeta,
    ) -> Result<Membership> {
        self.write(false, move |txn| {
            if let Some(replayed) = idempotency::replay(txn, &meta)? {
                return Ok(replayed);
            }
            let current = existing_membership(txn, &alliance_id, &credit_code, &etag)?;
            let by = recorded(txn, &meta);
            let date = alliance::effective_date("end_date", &date, by.today)?;
            let next = alliance::end(current.clone(), date, reason, &note, &by)?;
            let stored = records::commit(txn, Some(&current), next, ChangeKind::Updated, &meta)?;
            records::answer(txn, &meta, &stored);
            Ok(stored)
        })
        .await
    }

    /// Soft-deletes an enterprise that may still be an alliance member: its
    /// active memberships end (reason ENTERPRISE_DELETED) in the same batch.
    pub async fn force_delete_enterprise<F>(
        &self,
        credit_code: String,
        meta: WriteMeta,
        dry_run: bool,
        rule: F,
    ) -> Result<Enterprise>
    where
        F: FnOnce(Option<Enterprise>, Micros) -> Result<crate::domain::enterprise::Outcome> + Send + 'static,
    {
        self.write(dry_run, move |txn| {
            if let Some(replayed) = idempotency::replay(txn, &meta)? {
                return Ok(replayed);
            }
            let firm: Option<Enterprise> = txn.get_record(&keys::enterprise(&credit_code))?;
            let by = recorded(txn, &meta);
            for projection in firm.map(|e| e.memberships).unwrap_or_default() {
                let m: Option<Membership> = txn.get_record(&keys::membership(&projection.alliance_id, &credit_code))?;
                if let Some(m) = m.filter(Membership::is_active) {
                    let ended = alliance::end(m.clone(), by.today, EndReason::EnterpriseDeleted, "", &by)?;
                    records::commit(txn, Some(&m), ended, ChangeKind::Updated, &meta)?;
                }
            }
            apply_enterprise(txn, &credit_code, &meta, rule)
        })
        .await
    }

    /// Lists memberships of one alliance (or all), in (alliance, code) order,
    /// after the key `after`; returns the page and the key to resume after.
    pub async fn list_memberships(
        &self,
        alliance_id: Option<String>,
        filter: MembershipFilter,
        after: Option<Vec<u8>>,
        page_size: usize,
    ) -> Result<(Vec<Membership>, Option<Vec<u8>>)> {
        let store = self.clone();
        blocking(move || {
            let tree = store.tree();
            // One firm across alliances: walk its F entries instead of every membership.
            if let (None, Some(code)) = (&alliance_id, &filter.credit_code) {
                let mut out: Vec<Membership> = Vec::new();
                for entry in tree.scan_prefix(keys::alliances_of_firm(code)) {
                    let (key, _) = entry?;
                    let alliance = String::from_utf8_lossy(&key[code.len() + 2..]).to_string();
                    let member_key = keys::membership(&alliance, code);
                    if after.as_ref().is_some_and(|a| &member_key <= a) {
                        continue;
                    }
                    if let Some(m) = store.get_membership(&alliance, code)?.filter(|m| filter.matches(m)) {
                        if let (true, Some(last)) = (out.len() == page_size, out.last()) {
                            let resume = keys::membership(&last.alliance_id, code);
                            return Ok((out, Some(resume)));
                        }
                        out.push(m);
                    }
                }
                return Ok((out, None));
            }
            let prefix = alliance_id.as_deref().map_or(vec![keys::MEMBERSHIP], keys::memberships_of_alliance);
            let lower = after.map_or(std::ops::Bound::Included(prefix.clone()), std::ops::Bound::Excluded);
            let upper = std::ops::Bound::Excluded(keys::prefix_end(&prefix));
            let mut out = Vec::new();
            let mut last: Option<Vec<u8>> = None;
            for entry in tree.range::<Vec<u8>, _>((lower, upper)) {
                let (key, value) = entry?;
                let m: Membership = codec::decode(&value)?;
                if filter.matches(&m) {
                    if out.len() == page_size {
                        return Ok((out, last));
                    }
                    out.push(m);
                }
                last = Some(key.to_vec());
            }
            Ok((out, None))
        })
        .await
    }

    /// Counts an alliance's active members and its movements over a period.
    pub async fn alliance_summary(&self, alliance_id: String, start: Date, end: Date) -> Result<AllianceSummary> {
        let store = self.clone();
        blocking(move || {
            let tree = store.tree();
            let mut summary = AllianceSummary::default();
            let mut roles: BTreeMap<Role, u64> = BTreeMap::new();
            let mut divisions: BTreeMap<String, u64> = BTreeMap::new();
            let mut zones: BTreeMap<String, u64> = BTreeMap::new();
            for entry in tree.scan_prefix(keys::memberships_of_alliance(&alliance_id)) {
                let (_, value) = entry?;
                let m: Membership = codec::decode(&value)?;
                for event in &m.events {
                    let in_period = Date::parse(&event.date).is_some_and(|d| d >= start && d <= end);
                    match EventKind::try_from(event.kind) {
                        Ok(EventKind::Joined | EventKind::Rejoined) if in_period => summary.joins += 1,
                        Ok(EventKind::Ended) if in_period => summary.departures += 1,
                        _ => {}
                    }
                }
                if !m.is_active() {
                    continue;
                }
                summary.active_members += 1;
                *roles.entry(m.role()).or_default() += 1;
                let firm = store.get_enterprise(&m.credit_code)?;
                let division = firm
                    .as_ref()
                    .and_then(|e| IndustryCode::parse(&e.industry_code).ok())
                    .and_then(|c| c.prefixes().into_iter().nth(1))
                    .map_or("-".to_string(), |d| d.as_str().to_string());
                *divisions.entry(division).or_default() += 1;
                let zone = firm.map(|e| e.promotion_zone).filter(|z| !z.is_empty()).unwrap_or_else(|| "-".into());
                *zones.entry(zone).or_default() += 1;
            }
            summary.by_role = roles.into_iter().collect();
            summary.by_division = largest_first(divisions);
            summary.by_zone = largest_first(zones);
            Ok(summary)
        })
        .await
    }
}

fn largest_first(counts: BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Who is recording, and today's date in China time.
fn recorded<'a>(txn: &Txn<'_>, meta: &'a WriteMeta) -> Recorded<'a> {
    let now = txn.now();
    Recorded { actor: &meta.actor, now, today: Date::china(now) }
}

/// The alliance mutation path inside a transaction.
fn apply_alliance<F>(txn: &mut Txn<'_>, id: &str, meta: &WriteMeta, rule: F) -> Result<Alliance>
where
    F: FnOnce(Option<Alliance>, Micros) -> Result<AllianceOutcome>,
{
    records::apply(txn, &keys::alliance(id), meta, rule)
}

impl Record for Alliance {
    records::record_basics!();

    fn put(txn: &mut Txn<'_>, _old: Option<&Self>, new: &Self) -> Result<()> {
        txn.put(keys::alliance(&new.id), codec::encode(new));
        Ok(())
    }
}

/// A membership writes its firm → alliance entry and rewrites the member's
/// enterprise projection (index entries and counters included).
impl Record for Membership {
    records::record_basics!();

    fn put(txn: &mut Txn<'_>, _old: Option<&Self>, new: &Self) -> Result<()> {
        txn.put(keys::membership(&new.alliance_id, &new.credit_code), codec::encode(new));
        txn.put(keys::member_of(&new.credit_code, &new.alliance_id), Vec::new());
        let firm: Option<Enterprise> = txn.get_record(&keys::enterprise(&new.credit_code))?;
        if let Some(firm) = firm {
            let mut projected = firm.clone();
            projected.memberships.retain(|p| p.alliance_id != new.alliance_id);
            if new.is_active() {
                projected.memberships.push(new.projection());
                projected.memberships.sort_by(|a, b| a.alliance_id.cmp(&b.alliance_id));
            }
            if projected.memberships != firm.memberships {
                put_enterprise(txn, Some(&firm), &projected)?;
            }
        }
        Ok(())
    }
}

/// Every membership under `prefix`, seeing the group's buffered writes.
fn memberships_in(txn: &Txn<'_>, prefix: &[u8]) -> Result<Vec<Membership>> {
    txn.scan_prefix(prefix)?.into_iter().map(|(_, v)| codec::decode(&v)).collect()
}

/// The alliance, if it exists and is not retired.
fn active_alliance(txn: &Txn<'_>, id: &str) -> Result<Alliance> {
    let name = alliance::alliance_name(id);
    match txn.get_record::<Alliance>(&keys::alliance(id))? {
        None => Err(Error::NotFound { resource: name }),
        Some(a) if a.is_deleted() => Err(Error::FailedPrecondition {
            reason: "ALLIANCE_DELETED",
            message: format!("{name} is retired: undelete it first"),
        }),
        Some(a) => Ok(a),
    }
}

/// The membership, if it exists and matches `etag` (when given).
fn existing_membership(txn: &Txn<'_>, alliance_id: &str, credit_code: &str, etag: &str) -> Result<Membership> {
    let name = alliance::membership_name(alliance_id, credit_code);
    let stored = txn.get_record(&keys::membership(alliance_id, credit_code))?;
    crate::domain::update::existing(stored, &name, etag, Membership::etag)
}

/// The alliance's active chair, if any.
fn chair_of(txn: &Txn<'_>, alliance_id: &str) -> Result<Option<Membership>> {
    Ok(memberships_in(txn, &keys::memberships_of_alliance(alliance_id))?
        .into_iter()
        .find(|m| m.is_active() && m.role == Role::Chair as i32))
}

fn chair_taken(chair: &Membership, advice: &str) -> Error {
    Error::FailedPrecondition {
        reason: "CHAIR_TAKEN",
        message: format!(
            "alliances/{} already has a chair (enterprises/{}): {advice}",
            chair.alliance_id, chair.credit_code
        ),
    }
}

/// The projection every firm's active memberships should have, from the
/// membership records (for the consistency check of Enterprise.memberships).
pub(crate) fn expected_projections(tree: &crate::store::kv::Kv) -> Result<BTreeMap<String, Vec<ActiveMembership>>> {
    let mut out: BTreeMap<String, Vec<ActiveMembership>> = BTreeMap::new();
    for entry in tree.scan_prefix([keys::MEMBERSHIP]) {
        let (_, value) = entry?;
        let m: Membership = codec::decode(&value)?;
        if m.is_active() {
            out.entry(m.credit_code.clone()).or_default().push(m.projection());
        }
    }
    for projections in out.values_mut() {
        projections.sort_by(|a, b| a.alliance_id.cmp(&b.alliance_id));
    }
    Ok(out)
}
