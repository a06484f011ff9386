//! Alliances (产业联盟) and memberships: the records, their rules and the
//! default alliances a new store is seeded with.
//!
//! A membership is one record per (alliance, firm) across all its periods:
//! joining, role changes, leaving and rejoining append [`MembershipEvent`]s,
//! so history is never overwritten.

use crate::domain::change::ChangeKind;
use crate::domain::enterprise::FieldChange;
use crate::domain::time::{Date, Micros};
use crate::domain::update::{self, check_text, diff_rendered};
use crate::error::{Error, FieldViolation, Result};

/// Longest alliance name.
pub const MAX_ALLIANCE_NAME_CHARS: usize = 100;
/// Longest alliance description.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Longest secretariat text.
pub const MAX_SECRETARIAT_CHARS: usize = 200;
/// Longest membership note.
pub const MAX_NOTE_CHARS: usize = 500;

/// What an alliance is about. Numbers match `ladder.v1.AllianceKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AllianceKind {
    /// Not set.
    Unspecified = 0,
    /// 产业联盟.
    Industry = 1,
    /// 金融联盟.
    Finance = 2,
    /// 人才联盟.
    Talent = 3,
    /// Other.
    Other = 4,
}

impl AllianceKind {
    /// Lower-case name used in configuration and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Industry => "industry",
            Self::Finance => "finance",
            Self::Talent => "talent",
            Self::Other => "other",
        }
    }

    /// Parses a lower-case name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Industry, Self::Finance, Self::Talent, Self::Other].into_iter().find(|k| k.name() == s)
    }

    /// Chinese label.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Unspecified => "未指定",
            Self::Industry => "产业联盟",
            Self::Finance => "金融联盟",
            Self::Talent => "人才联盟",
            Self::Other => "其他",
        }
    }
}

/// A member's role, from the top. Numbers match `ladder.v1.MembershipRole`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Role {
    /// Not set.
    Unspecified = 0,
    /// 理事长单位.
    Chair = 1,
    /// 副理事长单位.
    ViceChair = 2,
    /// 常务理事单位.
    StandingDirector = 3,
    /// 理事单位.
    Director = 4,
    /// 会员单位.
    Member = 5,
    /// 秘书处.
    Secretariat = 6,
}

impl Role {
    /// Every role, from the top.
    pub const ALL: [Role; 6] =
        [Role::Chair, Role::ViceChair, Role::StandingDirector, Role::Director, Role::Member, Role::Secretariat];

    /// Name without prefix, as in filters and the CLI: `CHAIR`, `MEMBER`…
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::Chair => "CHAIR",
            Self::ViceChair => "VICE_CHAIR",
            Self::StandingDirector => "STANDING_DIRECTOR",
            Self::Director => "DIRECTOR",
            Self::Member => "MEMBER",
            Self::Secretariat => "SECRETARIAT",
        }
    }

    /// Chinese label, e.g. 理事长单位.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Unspecified => "未指定",
            Self::Chair => "理事长单位",
            Self::ViceChair => "副理事长单位",
            Self::StandingDirector => "常务理事单位",
            Self::Director => "理事单位",
            Self::Member => "会员单位",
            Self::Secretariat => "秘书处",
        }
    }

    /// Parses `CHAIR`, `chair`, `MEMBERSHIP_ROLE_CHAIR` or the Chinese label.
    pub fn parse(s: &str) -> Option<Role> {
        let s = s.trim();
        let upper = s.to_ascii_uppercase();
        let bare = upper.strip_prefix("MEMBERSHIP_ROLE_").unwrap_or(&upper);
        Self::ALL.into_iter().find(|r| r.name() == bare || r.label_zh() == s)
    }

    /// The role with this number (unknown numbers are `Unspecified`).
    pub fn of(v: i32) -> Role {
        Role::try_from(v).unwrap_or(Role::Unspecified)
    }
}

/// Why a membership ended. Numbers match `ladder.v1.EndReason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EndReason {
    /// Not set.
    Unspecified = 0,
    /// 主动退出.
    Withdrew = 1,
    /// 逾期未缴费 / 未年检.
    Lapsed = 2,
    /// 除名.
    Expelled = 3,
    /// 注销 / 关闭.
    OrganisationDissolved = 4,
    /// The alliance was retired.
    AllianceDissolved = 5,
    /// The enterprise was removed from the registry.
    EnterpriseDeleted = 6,
    /// Other, see the note.
    Other = 7,
}

impl EndReason {
    /// Name without prefix: `WITHDREW`, `LAPSED`…
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::Withdrew => "WITHDREW",
            Self::Lapsed => "LAPSED",
            Self::Expelled => "EXPELLED",
            Self::OrganisationDissolved => "ORGANISATION_DISSOLVED",
            Self::AllianceDissolved => "ALLIANCE_DISSOLVED",
            Self::EnterpriseDeleted => "ENTERPRISE_DELETED",
            Self::Other => "OTHER",
        }
    }

    /// Chinese label.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Unspecified => "未指定",
            Self::Withdrew => "主动退出",
            Self::Lapsed => "逾期未缴费/未年检",
            Self::Expelled => "除名",
            Self::OrganisationDissolved => "单位注销",
            Self::AllianceDissolved => "联盟解散",
            Self::EnterpriseDeleted => "企业档案删除",
            Self::Other => "其他",
        }
    }

    /// Parses a name with or without the `END_REASON_` prefix, any case.
    pub fn parse(s: &str) -> Option<EndReason> {
        let upper = s.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("END_REASON_").unwrap_or(&upper);
        [
            Self::Withdrew,
            Self::Lapsed,
            Self::Expelled,
            Self::OrganisationDissolved,
            Self::AllianceDissolved,
            Self::EnterpriseDeleted,
            Self::Other,
        ]
        .into_iter()
        .find(|r| {
            r.name() == bare
                || r.label_zh() == s.trim()
                || (r.label_zh().starts_with(s.trim()) && !s.trim().is_empty() && s.trim().chars().count() >= 2)
        })
    }
}

/// Whether a membership is current. Numbers match `ladder.v1.MembershipState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MembershipState {
    /// Not set.
    Unspecified = 0,
    /// Current member.
    Active = 1,
    /// Left.
    Ended = 2,
}

/// What happened to a membership. Numbers match `ladder.v1.MembershipEventKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EventKind {
    /// Not set.
    Unspecified = 0,
    /// First joined.
    Joined = 1,
    /// Changed role.
    RoleChanged = 2,
    /// Left.
    Ended = 3,
    /// Joined again.
    Rejoined = 4,
}

/// An alliance (联盟), as stored.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Alliance {
    /// Slug id.
    #[prost(string, tag = "1")]
    pub id: String,
    /// Chinese name.
    #[prost(string, tag = "2")]
    pub display_name: String,
    /// Kind.
    #[prost(enumeration = "AllianceKind", tag = "3")]
    pub kind: i32,
    /// Description.
    #[prost(string, tag = "4")]
    pub description: String,
    /// Secretariat (秘书处).
    #[prost(string, tag = "5")]
    pub secretariat: String,
    /// Founding date `YYYY-MM-DD`, or empty.
    #[prost(string, tag = "6")]
    pub founding_date: String,
    /// Seeded from the shipped defaults and not edited since.
    #[prost(bool, tag = "7")]
    pub seeded_default: bool,
    /// Creation time.
    #[prost(int64, tag = "8")]
    pub create_time: Micros,
    /// Last change.
    #[prost(int64, tag = "9")]
    pub update_time: Micros,
    /// Retirement time, 0 while active.
    #[prost(int64, tag = "10")]
    pub delete_time: Micros,
    /// Change-log revision of the last change.
    #[prost(uint64, tag = "11")]
    pub revision: u64,
}

/// One step of a membership's history.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MembershipEvent {
    /// What happened.
    #[prost(enumeration = "EventKind", tag = "1")]
    pub kind: i32,
    /// Effective date `YYYY-MM-DD`.
    #[prost(string, tag = "2")]
    pub date: String,
    /// Role from this event on.
    #[prost(enumeration = "Role", tag = "3")]
    pub role: i32,
    /// Why it ended.
    #[prost(enumeration = "EndReason", tag = "4")]
    pub end_reason: i32,
    /// Note.
    #[prost(string, tag = "5")]
    pub note: String,
    /// Who recorded it.
    #[prost(string, tag = "6")]
    pub actor: String,
    /// When it was recorded.
    #[prost(int64, tag = "7")]
    pub record_time: Micros,
}

/// A firm's membership of an alliance, across all its periods.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Membership {
    /// The alliance's slug id.
    #[prost(string, tag = "1")]
    pub alliance_id: String,
    /// The member's credit code.
    #[prost(string, tag = "2")]
    pub credit_code: String,
    /// Current (or last) role.
    #[prost(enumeration = "Role", tag = "3")]
    pub role: i32,
    /// Active or ended.
    #[prost(enumeration = "MembershipState", tag = "4")]
    pub state: i32,
    /// Start of the current (or last) period.
    #[prost(string, tag = "5")]
    pub join_date: String,
    /// End of the last period, when ended.
    #[prost(string, tag = "6")]
    pub end_date: String,
    /// Why the last period ended.
    #[prost(enumeration = "EndReason", tag = "7")]
    pub end_reason: i32,
    /// Staff note.
    #[prost(string, tag = "8")]
    pub note: String,
    /// Every event, oldest first.
    #[prost(message, repeated, tag = "9")]
    pub events: Vec<MembershipEvent>,
    /// First recorded.
    #[prost(int64, tag = "10")]
    pub create_time: Micros,
    /// Last change.
    #[prost(int64, tag = "11")]
    pub update_time: Micros,
    /// Change-log revision of the last change.
    #[prost(uint64, tag = "12")]
    pub revision: u64,
}

/// An active membership as projected onto the enterprise record.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ActiveMembership {
    /// Alliance id.
    #[prost(string, tag = "1")]
    pub alliance_id: String,
    /// Role.
    #[prost(enumeration = "Role", tag = "2")]
    pub role: i32,
    /// Start of the current period.
    #[prost(string, tag = "3")]
    pub join_date: String,
}

/// Resource name of an alliance.
pub fn alliance_name(id: &str) -> String {
    format!("alliances/{id}")
}

/// Resource name of a membership.
pub fn membership_name(alliance_id: &str, credit_code: &str) -> String {
    format!("alliances/{alliance_id}/memberships/{credit_code}")
}

/// Checks an alliance id: a lowercase slug of 2–40 letters, digits and `-`,
/// starting with a letter and not ending with `-`.
pub fn check_alliance_id(field: &str, id: &str) -> Result<()> {
    let ok = (2..=40).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_field(
            field,
            "INVALID_ALLIANCE_ID",
            format!("{id:?} is not an alliance id: use 2–40 lowercase letters, digits and '-', starting with a letter"),
        ))
    }
}

/// The alliance id of `alliances/{id}`.
pub fn parse_alliance_name(field: &str, name: &str) -> Result<String> {
    let id = name.trim().strip_prefix("alliances/").ok_or_else(|| {
        Error::invalid_field(
            field,
            "INVALID_RESOURCE_NAME",
            format!("{name:?} is not of the form alliances/{{alliance_id}}"),
        )
    })?;
    check_alliance_id(field, id)?;
    Ok(id.to_string())
}

impl Alliance {
    /// Whether the alliance is retired.
    pub fn is_deleted(&self) -> bool {
        self.delete_time != 0
    }

    /// Resource name.
    pub fn resource_name(&self) -> String {
        alliance_name(&self.id)
    }

    /// Opaque etag.
    pub fn etag(&self) -> String {
        update::etag(self.revision)
    }

    /// Trims text fields.
    pub fn normalise(&mut self) {
        for f in [&mut self.display_name, &mut self.secretariat, &mut self.founding_date] {
            *f = f.trim().to_string();
        }
        self.description = self.description.trim_end().to_string();
    }

    /// Checks every editable field, reporting all violations at once.
    pub fn validate(&self) -> Result<()> {
        let mut v = Vec::new();
        check_text(&mut v, "display_name", &self.display_name, 1, MAX_ALLIANCE_NAME_CHARS);
        check_text(&mut v, "secretariat", &self.secretariat, 0, MAX_SECRETARIAT_CHARS);
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            v.push(FieldViolation::new(
                "description",
                "TOO_LONG",
                format!("at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        if self.kind() == AllianceKind::Unspecified {
            v.push(FieldViolation::new("kind", "REQUIRED", "is required (industry, finance, talent or other)"));
        }
        match Date::parse(&self.founding_date) {
            None if !self.founding_date.is_empty() => {
                v.push(FieldViolation::new("founding_date", "INVALID_DATE", "use YYYY-MM-DD"))
            }
            Some(d) if d > Date::today() => {
                v.push(FieldViolation::new("founding_date", "DATE_IN_FUTURE", format!("{d} is in the future")))
            }
            _ => {}
        }
        if v.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid_fields(v))
        }
    }

    /// The fields that differ, rendered, for the change log.
    pub fn diff(old: &Alliance, new: &Alliance) -> Vec<FieldChange> {
        let render = |a: &Alliance| {
            [
                ("display_name", a.display_name.clone()),
                ("kind", if a.kind == 0 { String::new() } else { a.kind().name().to_string() }),
                ("description", a.description.clone()),
                ("secretariat", a.secretariat.clone()),
                ("founding_date", a.founding_date.clone()),
            ]
        };
        diff_rendered(render(old), render(new))
    }
}

/// Fields of an alliance an update may name.
pub const ALLIANCE_UPDATABLE: &[&str] = &["display_name", "kind", "description", "secretariat", "founding_date"];
/// Fields of an alliance that exist but are output only.
const ALLIANCE_READ_ONLY: &[&str] =
    &["name", "seeded_default", "active_members", "etag", "revision", "create_time", "update_time", "delete_time"];

/// Registers a new alliance.
pub fn create_alliance(current: Option<Alliance>, mut input: Alliance, now: Micros) -> Result<(ChangeKind, Alliance)> {
    if let Some(existing) = current {
        return Err(Error::AlreadyExists { resource: existing.resource_name(), deleted: existing.is_deleted() });
    }
    input.normalise();
    input.validate().map_err(|e| e.in_field("alliance"))?;
    input.create_time = now;
    input.update_time = now;
    input.delete_time = 0;
    Ok((ChangeKind::Created, input))
}

/// Applies a field-mask update; an edited seeded alliance is no longer a default.
pub fn update_alliance(
    current: Option<Alliance>,
    name: &str,
    patch: &Alliance,
    mask: &[String],
    etag: &str,
    now: Micros,
) -> Result<(ChangeKind, Alliance)> {
    let mut a = existing_alliance(current, name, etag)?;
    if a.is_deleted() {
        return Err(Error::FailedPrecondition {
            reason: "DELETED",
            message: format!("{name} is deleted: undelete it before changing it"),
        });
    }
    let paths = update::expand_mask(mask, ALLIANCE_UPDATABLE, ALLIANCE_READ_ONLY, "Alliance")?;
    let before = a.clone();
    for path in paths {
        match path {
            "display_name" => a.display_name.clone_from(&patch.display_name),
            "kind" => a.kind = patch.kind,
            "description" => a.description.clone_from(&patch.description),
            "secretariat" => a.secretariat.clone_from(&patch.secretariat),
            "founding_date" => a.founding_date.clone_from(&patch.founding_date),
            _ => unreachable!("expand_mask only returns updatable fields"),
        }
    }
    a.normalise();
    a.validate().map_err(|e| e.in_field("alliance"))?;
    if Alliance::diff(&before, &a).is_empty() {
        return Ok((ChangeKind::Updated, before));
    }
    a.seeded_default = false;
    a.update_time = now;
    Ok((ChangeKind::Updated, a))
}

/// Retires an alliance (its active memberships must have been ended first).
pub fn delete_alliance(
    current: Option<Alliance>,
    name: &str,
    etag: &str,
    now: Micros,
) -> Result<(ChangeKind, Alliance)> {
    let mut a = existing_alliance(current, name, etag)?;
    if a.is_deleted() {
        return Err(Error::FailedPrecondition {
            reason: "ALREADY_DELETED",
            message: format!("{name} is already deleted"),
        });
    }
    a.delete_time = now;
    a.update_time = now;
    Ok((ChangeKind::Deleted, a))
}

/// Restores a retired alliance.
pub fn undelete_alliance(current: Option<Alliance>, name: &str, now: Micros) -> Result<(ChangeKind, Alliance)> {
    let mut a = existing_alliance(current, name, "")?;
    if !a.is_deleted() {
        return Err(Error::FailedPrecondition { reason: "NOT_DELETED", message: format!("{name} is not deleted") });
    }
    a.delete_time = 0;
    a.update_time = now;
    Ok((ChangeKind::Undeleted, a))
}

fn existing_alliance(current: Option<Alliance>, name: &str, etag: &str) -> Result<Alliance> {
    update::existing(current, name, etag, Alliance::etag)
}

impl Membership {
    /// Resource name.
    pub fn resource_name(&self) -> String {
        membership_name(&self.alliance_id, &self.credit_code)
    }

    /// Whether the firm is a current member.
    pub fn is_active(&self) -> bool {
        self.state == MembershipState::Active as i32
    }

    /// Opaque etag.
    pub fn etag(&self) -> String {
        update::etag(self.revision)
    }

    /// The projection kept on the enterprise while active.
    pub fn projection(&self) -> ActiveMembership {
        ActiveMembership { alliance_id: self.alliance_id.clone(), role: self.role, join_date: self.join_date.clone() }
    }

    /// The fields that differ, rendered, for the change log.
    pub fn diff(old: &Membership, new: &Membership) -> Vec<FieldChange> {
        let render = |m: &Membership| {
            let named = |v: i32, f: fn(i32) -> &'static str| if v == 0 { String::new() } else { f(v).to_string() };
            [
                ("role", named(m.role, |v| Role::of(v).name())),
                (
                    "state",
                    named(m.state, |v| match MembershipState::try_from(v) {
                        Ok(MembershipState::Active) => "ACTIVE",
                        Ok(MembershipState::Ended) => "ENDED",
                        _ => "UNSPECIFIED",
                    }),
                ),
                ("join_date", m.join_date.clone()),
                ("end_date", m.end_date.clone()),
                (
                    "end_reason",
                    named(m.end_reason, |v| EndReason::try_from(v).unwrap_or(EndReason::Unspecified).name()),
                ),
                ("note", m.note.clone()),
            ]
        };
        diff_rendered(render(old), render(new))
    }
}

/// Who records a membership change, and when.
#[derive(Debug, Clone)]
pub struct Recorded<'a> {
    /// Actor name.
    pub actor: &'a str,
    /// Commit time.
    pub now: Micros,
    /// Today in China time, for defaults and checks.
    pub today: Date,
}

/// Parses an optional effective date: empty means today; never in the future.
pub fn effective_date(field: &str, input: &str, today: Date) -> Result<Date> {
    let input = input.trim();
    if input.is_empty() {
        return Ok(today);
    }
    let date = Date::parse(input)
        .ok_or_else(|| Error::invalid_field(field, "INVALID_DATE", format!("{input:?} is not a date YYYY-MM-DD")))?;
    if date > today {
        return Err(Error::invalid_field(field, "DATE_IN_FUTURE", format!("{date} is in the future")));
    }
    Ok(date)
}

/// Joins (or rejoins) a firm to an alliance.
pub fn join(
    current: Option<Membership>,
    alliance_id: &str,
    credit_code: &str,
    role: Role,
    date: Date,
    note: &str,
    by: &Recorded<'_>,
) -> Result<(ChangeKind, Membership)> {
    if role == Role::Unspecified {
        return Err(Error::invalid_field("membership.role", "REQUIRED", "is required (e.g. MEMBER, DIRECTOR, CHAIR)"));
    }
    check_note("membership.note", note)?;
    let event = |kind: EventKind| MembershipEvent {
        kind: kind as i32,
        date: date.to_string(),
        role: role as i32,
        note: note.trim().to_string(),
        actor: by.actor.to_string(),
        record_time: by.now,
        ..Default::default()
    };
    match current {
        Some(m) if m.is_active() => Err(Error::AlreadyExists { resource: m.resource_name(), deleted: false }),
        Some(mut m) => {
            // A rejoin may fall on the day the previous period ended (both
            // default to today): only a date before that end is refused.
            if Date::parse(&m.end_date).is_some_and(|ended| date < ended) {
                return Err(Error::invalid_field(
                    "membership.join_date",
                    "REJOIN_BEFORE_END",
                    format!("{date} is before the previous period's end ({})", m.end_date),
                ));
            }
            m.state = MembershipState::Active as i32;
            m.role = role as i32;
            m.join_date = date.to_string();
            m.end_date.clear();
            m.end_reason = 0;
            m.note = note.trim().to_string();
            m.events.push(event(EventKind::Rejoined));
            m.update_time = by.now;
            Ok((ChangeKind::Updated, m))
        }
        None => Ok((
            ChangeKind::Created,
            Membership {
                alliance_id: alliance_id.to_string(),
                credit_code: credit_code.to_string(),
                role: role as i32,
                state: MembershipState::Active as i32,
                join_date: date.to_string(),
                note: note.trim().to_string(),
                events: vec![event(EventKind::Joined)],
                create_time: by.now,
                update_time: by.now,
                ..Default::default()
            },
        )),
    }
}

/// Refuses an event dated before the membership's latest event, so the
/// history stays in date order and the current state is the latest one.
fn check_in_order(m: &Membership, field: &str, date: Date) -> Result<()> {
    match m.events.iter().filter_map(|e| Date::parse(&e.date)).max() {
        Some(last) if date < last => Err(Error::invalid_field(
            field,
            "DATE_OUT_OF_ORDER",
            format!("{date} is before the latest event of {} ({last})", m.resource_name()),
        )),
        _ => Ok(()),
    }
}

/// Changes the role of an active membership, as a dated event.
pub fn change_role(mut m: Membership, role: Role, date: Date, by: &Recorded<'_>) -> Result<Membership> {
    if role == Role::Unspecified {
        return Err(Error::invalid_field("membership.role", "REQUIRED", "is required"));
    }
    if !m.is_active() {
        return Err(Error::FailedPrecondition {
            reason: "MEMBERSHIP_ENDED",
            message: format!("{} has ended: rejoin it (CreateMembership) to give it a role", m.resource_name()),
        });
    }
    if Date::parse(&m.join_date).is_some_and(|joined| date < joined) {
        return Err(Error::invalid_field(
            "effective_date",
            "DATE_BEFORE_JOIN",
            format!("{date} is before the member joined ({})", m.join_date),
        ));
    }
    check_in_order(&m, "effective_date", date)?;
    if m.role == role as i32 {
        return Ok(m);
    }
    m.role = role as i32;
    m.events.push(MembershipEvent {
        kind: EventKind::RoleChanged as i32,
        date: date.to_string(),
        role: role as i32,
        actor: by.actor.to_string(),
        record_time: by.now,
        ..Default::default()
    });
    m.update_time = by.now;
    Ok(m)
}

/// Ends an active membership.
pub fn end(mut m: Membership, date: Date, reason: EndReason, note: &str, by: &Recorded<'_>) -> Result<Membership> {
    if !m.is_active() {
        return Err(Error::FailedPrecondition {
            reason: "MEMBERSHIP_ENDED",
            message: format!("{} already ended on {}", m.resource_name(), m.end_date),
        });
    }
    if reason == EndReason::Unspecified {
        return Err(Error::invalid_field("reason", "REQUIRED", "is required (e.g. WITHDREW, LAPSED, EXPELLED)"));
    }
    check_note("note", note)?;
    if reason == EndReason::Other && note.trim().is_empty() {
        return Err(Error::invalid_field("note", "REQUIRED", "explain an OTHER reason in the note"));
    }
    if Date::parse(&m.join_date).is_some_and(|joined| date < joined) {
        return Err(Error::invalid_field(
            "end_date",
            "DATE_BEFORE_JOIN",
            format!("{date} is before the member joined ({})", m.join_date),
        ));
    }
    check_in_order(&m, "end_date", date)?;
    m.state = MembershipState::Ended as i32;
    m.end_date = date.to_string();
    m.end_reason = reason as i32;
    m.events.push(MembershipEvent {
        kind: EventKind::Ended as i32,
        date: date.to_string(),
        role: m.role,
        end_reason: reason as i32,
        note: note.trim().to_string(),
        actor: by.actor.to_string(),
        record_time: by.now,
    });
    m.update_time = by.now;
    Ok(m)
}

/// Checks a free-text note.
pub fn check_note(field: &str, note: &str) -> Result<()> {
    let mut v = Vec::new();
    check_text(&mut v, field, note.trim(), 0, MAX_NOTE_CHARS);
    if v.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid_fields(v))
    }
}

/// One alliance of the seed list.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllianceSeed {
    /// Slug id.
    pub id: String,
    /// Chinese name.
    pub display_name: String,
    /// industry, finance, talent or other.
    pub kind: String,
    /// Description.
    #[serde(default)]
    pub description: String,
}

impl AllianceSeed {
    /// The alliance record this seed creates (not marked as a default: the
    /// caller marks the built-in placeholders).
    pub fn to_alliance(&self) -> Result<Alliance> {
        check_alliance_id("alliances.id", &self.id)?;
        let kind = AllianceKind::parse(&self.kind).ok_or_else(|| {
            Error::invalid_field(
                "alliances.kind",
                "INVALID_KIND",
                format!("{:?}: use industry, finance, talent or other", self.kind),
            )
        })?;
        let a = Alliance {
            id: self.id.clone(),
            display_name: self.display_name.clone(),
            kind: kind as i32,
            description: self.description.clone(),
            ..Default::default()
        };
        a.validate()?;
        Ok(a)
    }
}

/// The alliances a new store starts with when the configuration lists none:
/// seven industry alliances for an aerospace base's industries, plus finance
/// and talent. They are placeholders (the zone's own names are not public):
/// each is marked `seeded_default` until staff edit it.
pub fn default_alliances() -> Vec<AllianceSeed> {
    let seed = |id: &str, name: &str, kind: &str, description: &str| AllianceSeed {
        id: id.into(),
        display_name: name.into(),
        kind: kind.into(),
        description: description.into(),
    };
    vec![
        seed("commercial-space", "商业航天产业联盟", "industry", "航天器及运载火箭制造、航天相关设备制造（C374）"),
        seed("satellite-apps", "卫星应用产业联盟", "industry", "卫星传输、导航与遥感信息服务（I6339、I6571）"),
        seed("drones", "无人机产业联盟", "industry", "智能无人飞行器制造与应用（C3963）"),
        seed("photovoltaics", "光伏产业联盟", "industry", "光伏设备及元器件制造、太阳能发电（C3825、D4416）"),
        seed("energy-storage", "新能源与储能产业联盟", "industry", "锂离子电池制造与储能（C3841）"),
        seed("software-ic", "软件和集成电路产业联盟", "industry", "应用软件开发、集成电路设计（I6513、I6520）"),
        seed("rd-services", "研发与科技服务产业联盟", "industry", "工程和技术研究和试验发展（M7320）"),
        seed("finance", "金融联盟", "finance", "银行、基金、保险与融资服务机构"),
        seed("talent", "人才联盟", "talent", "高校、科研院所与人力资源服务机构"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by() -> Recorded<'static> {
        Recorded { actor: "wang", now: 1, today: Date::parse("2025-06-30").unwrap() }
    }

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn alliance_ids_are_slugs() {
        for ok in ["aerospace", "satellite-apps", "a1"] {
            assert!(check_alliance_id("id", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "Aerospace", "1abc", "space_x", "abc-", "航天", &"a".repeat(41)] {
            assert_eq!(check_alliance_id("id", bad).unwrap_err().reason(), "INVALID_ALLIANCE_ID", "{bad}");
        }
    }

    #[test]
    fn defaults_are_nine_valid_marked_alliances() {
        let seeds = default_alliances();
        assert_eq!(seeds.len(), 9);
        let alliances: Vec<Alliance> = seeds.iter().map(|s| s.to_alliance().unwrap()).collect();
        assert_eq!(alliances.iter().filter(|a| a.kind() == AllianceKind::Industry).count(), 7);
    }

    #[test]
    fn join_leave_rejoin_keeps_every_period() {
        let (kind, m) = join(None, "drones", "X", Role::Member, d("2024-01-10"), "", &by()).unwrap();
        assert_eq!(kind, ChangeKind::Created);
        let m = change_role(m, Role::Director, d("2024-06-01"), &by()).unwrap();
        let m = end(m, d("2025-01-01"), EndReason::Lapsed, "未缴会费", &by()).unwrap();
        assert!(!m.is_active());
        assert_eq!(
            end(m.clone(), d("2025-02-01"), EndReason::Withdrew, "", &by()).unwrap_err().reason(),
            "MEMBERSHIP_ENDED"
        );
        let err = join(Some(m.clone()), "drones", "X", Role::Member, d("2024-12-31"), "", &by()).unwrap_err();
        assert_eq!(err.reason(), "REJOIN_BEFORE_END");
        // Ended and rejoined on the same day (both default to today).
        let (_, same_day) = join(Some(m.clone()), "drones", "X", Role::Member, d("2025-01-01"), "", &by()).unwrap();
        assert!(same_day.is_active());
        let (kind, m) = join(Some(m), "drones", "X", Role::Member, d("2025-03-01"), "", &by()).unwrap();
        assert_eq!(kind, ChangeKind::Updated);
        let kinds: Vec<i32> = m.events.iter().map(|e| e.kind).collect();
        use EventKind::*;
        assert_eq!(kinds, vec![Joined as i32, RoleChanged as i32, Ended as i32, Rejoined as i32]);
        assert_eq!((m.join_date.as_str(), m.end_date.as_str()), ("2025-03-01", ""));
    }

    #[test]
    fn bad_membership_input_is_precise() {
        let (_, m) = join(None, "drones", "X", Role::Member, d("2024-01-10"), "", &by()).unwrap();
        assert_eq!(
            join(Some(m.clone()), "drones", "X", Role::Member, d("2024-02-01"), "", &by()).unwrap_err().reason(),
            "RESOURCE_ALREADY_EXISTS"
        );
        assert_eq!(
            end(m.clone(), d("2023-12-31"), EndReason::Withdrew, "", &by()).unwrap_err().reason(),
            "DATE_BEFORE_JOIN"
        );
        assert_eq!(
            end(m.clone(), d("2024-12-31"), EndReason::Unspecified, "", &by()).unwrap_err().reason(),
            "REQUIRED"
        );
        assert_eq!(end(m.clone(), d("2024-12-31"), EndReason::Other, " ", &by()).unwrap_err().reason(), "REQUIRED");
        assert_eq!(change_role(m, Role::Chair, d("2023-01-01"), &by()).unwrap_err().reason(), "DATE_BEFORE_JOIN");
        assert_eq!(
            join(None, "drones", "X", Role::Unspecified, d("2024-01-10"), "", &by()).unwrap_err().reason(),
            "REQUIRED"
        );
        assert_eq!(effective_date("d", "2025-07-01", by().today).unwrap_err().reason(), "DATE_IN_FUTURE");
    }

    #[test]
    fn events_stay_in_date_order() {
        let (_, m) = join(None, "drones", "X", Role::Member, d("2024-01-01"), "", &by()).unwrap();
        let m = change_role(m, Role::Director, d("2025-06-01"), &by()).unwrap();
        assert_eq!(
            change_role(m.clone(), Role::ViceChair, d("2024-06-01"), &by()).unwrap_err().reason(),
            "DATE_OUT_OF_ORDER"
        );
        assert_eq!(
            end(m.clone(), d("2024-03-01"), EndReason::Withdrew, "", &by()).unwrap_err().reason(),
            "DATE_OUT_OF_ORDER"
        );
        let ended = end(m, d("2025-06-10"), EndReason::Withdrew, "", &by()).unwrap();
        let err = join(Some(ended.clone()), "drones", "X", Role::Member, d("2025-06-09"), "", &by()).unwrap_err();
        assert_eq!(err.reason(), "REJOIN_BEFORE_END", "a rejoin before the old period ended");
        assert!(join(Some(ended), "drones", "X", Role::Member, d("2025-06-10"), "", &by()).is_ok(), "same day");
    }

    #[test]
    fn roles_parse_in_every_spelling() {
        assert_eq!(Role::parse("chair"), Some(Role::Chair));
        assert_eq!(Role::parse("MEMBERSHIP_ROLE_VICE_CHAIR"), Some(Role::ViceChair));
        assert_eq!(Role::parse("常务理事单位"), Some(Role::StandingDirector));
        assert_eq!(Role::parse("boss"), None);
        assert_eq!(EndReason::parse("end_reason_lapsed"), Some(EndReason::Lapsed));
        assert_eq!(EndReason::parse("主动退出"), Some(EndReason::Withdrew));
    }

    #[test]
    fn editing_a_seeded_alliance_clears_the_default_mark() {
        let mut a = default_alliances()[0].to_alliance().unwrap();
        a.seeded_default = true;
        a.revision = 1;
        let patch = Alliance { display_name: "西安商业航天产业联盟".into(), ..Default::default() };
        let (_, updated) =
            update_alliance(Some(a), "alliances/commercial-space", &patch, &["display_name".into()], "", 5).unwrap();
        assert!(!updated.seeded_default);
        assert_eq!(updated.display_name, "西安商业航天产业联盟");
    }
}
