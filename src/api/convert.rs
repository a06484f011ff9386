//! Conversions between the domain records and the `ladder.v1` messages.

use prost_types::Timestamp;

use crate::domain::alliance::{alliance_name, Alliance, Membership};
use crate::domain::change::{Change, ChangeKind};
use crate::domain::credit_code::{region_name, OrganisationType};
use crate::domain::enterprise::{resource_name, Contact, Enterprise};
use crate::domain::industry::IndustryCode;
use crate::domain::time::Micros;
use crate::error::Result;
use crate::pb::v1;

/// A timestamp from microseconds; `None` for 0 (unset).
pub fn timestamp(micros: Micros) -> Option<Timestamp> {
    (micros != 0).then(|| Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0),
    })
}

/// The API view of a stored enterprise, with derived output-only fields.
pub fn enterprise_to_pb(e: Enterprise) -> v1::Enterprise {
    let org_type = OrganisationType::from_code(e.credit_code.get(0..2).unwrap_or(""));
    let registration_region = e.credit_code.get(2..8).unwrap_or("").to_string();
    let industry_name = IndustryCode::parse(&e.industry_code).ok().and_then(|c| c.name()).unwrap_or("").to_string();
    let today = crate::domain::time::Date::today();
    let stage = e.stage_on(today) as i32;
    let stage_since =
        crate::domain::ladder::since_from_spans(&e.stage_spans, today).map(|d| d.to_string()).unwrap_or_default();
    v1::Enterprise {
        stage,
        stage_since,
        name: e.resource_name(),
        uid: uuid::Uuid::from_slice(&e.uid).map(|u| u.to_string()).unwrap_or_default(),
        etag: e.etag(),
        organisation_type: org_type.code,
        organisation_type_label: org_type.label_zh.to_string(),
        region_name: region_name(&e.region_code).unwrap_or("").to_string(),
        registration_region_code: registration_region,
        industry_name,
        former_names: e
            .former_names
            .into_iter()
            .map(|f| v1::FormerName { display_name: f.display_name, change_time: timestamp(f.change_time) })
            .collect(),
        contacts: e
            .contacts
            .into_iter()
            .map(|c| v1::Contact { name: c.name, title: c.title, phone: c.phone, email: c.email })
            .collect(),
        credit_code_override: e.credit_code_override.map(|o| v1::CreditCodeOverride {
            reason: o.reason,
            actor: o.actor,
            time: timestamp(o.time),
            problems: o.problems,
        }),
        create_time: timestamp(e.create_time),
        update_time: timestamp(e.update_time),
        delete_time: timestamp(e.delete_time),
        credit_code: e.credit_code,
        display_name: e.display_name,
        industry_code: e.industry_code,
        region_code: e.region_code,
        founding_date: e.founding_date,
        address: e.address,
        legal_representative: e.legal_representative,
        promotion_zone: e.promotion_zone,
        service_commissioner: e.service_commissioner,
        tags: e.tags,
        website: e.website,
        notes: e.notes,
        delete_reason: e.delete_reason,
        revision: e.revision,
        memberships: e
            .memberships
            .into_iter()
            .map(|m| v1::ActiveMembership {
                alliance: alliance_name(&m.alliance_id),
                alliance_display_name: String::new(),
                role: m.role,
                join_date: m.join_date,
            })
            .collect(),
    }
}

/// The staff-editable fields of a request's enterprise; output-only fields
/// are ignored (AIP-203).
pub fn enterprise_from_pb(e: v1::Enterprise) -> Enterprise {
    Enterprise {
        credit_code: e.credit_code,
        display_name: e.display_name,
        industry_code: e.industry_code,
        region_code: e.region_code,
        founding_date: e.founding_date,
        address: e.address,
        legal_representative: e.legal_representative,
        promotion_zone: e.promotion_zone,
        service_commissioner: e.service_commissioner,
        contacts: e
            .contacts
            .into_iter()
            .map(|c| Contact { name: c.name, title: c.title, phone: c.phone, email: c.email })
            .collect(),
        tags: e.tags,
        website: e.website,
        notes: e.notes,
        ..Default::default()
    }
}

/// The API view of a change-log entry.
pub fn change_to_pb(c: Change) -> v1::Change {
    let kind = match ChangeKind::try_from(c.kind).unwrap_or(ChangeKind::Unspecified) {
        ChangeKind::Unspecified => v1::ChangeKind::Unspecified,
        ChangeKind::Created => v1::ChangeKind::Created,
        ChangeKind::Updated => v1::ChangeKind::Updated,
        ChangeKind::Deleted => v1::ChangeKind::Deleted,
        ChangeKind::Undeleted => v1::ChangeKind::Undeleted,
    };
    v1::Change {
        revision: c.revision,
        resource: c.resource,
        kind: kind as i32,
        field_changes: c
            .field_changes
            .into_iter()
            .map(|f| v1::FieldChange { field: f.field, old_value: f.old_value, new_value: f.new_value })
            .collect(),
        actor: c.actor,
        origin: c.origin,
        request_id: c.request_id,
        time: timestamp(c.time),
        reason: c.reason,
    }
}

/// The API view of an alliance.
pub fn alliance_to_pb(a: Alliance, active_members: u64) -> v1::Alliance {
    v1::Alliance {
        name: a.resource_name(),
        etag: a.etag(),
        display_name: a.display_name,
        kind: a.kind,
        description: a.description,
        secretariat: a.secretariat,
        founding_date: a.founding_date,
        seeded_default: a.seeded_default,
        active_members: i32::try_from(active_members).unwrap_or(i32::MAX),
        revision: a.revision,
        create_time: timestamp(a.create_time),
        update_time: timestamp(a.update_time),
        delete_time: timestamp(a.delete_time),
    }
}

/// The editable fields of a request's alliance.
pub fn alliance_from_pb(id: &str, a: v1::Alliance) -> Result<Alliance> {
    Ok(Alliance {
        id: id.to_string(),
        display_name: a.display_name,
        kind: crate::api::known_enum::<v1::AllianceKind>("alliance.kind", a.kind)?,
        description: a.description,
        secretariat: a.secretariat,
        founding_date: a.founding_date,
        ..Default::default()
    })
}

/// The API view of a membership.
pub fn membership_to_pb(
    m: Membership,
    enterprise_display_name: String,
    alliance_display_name: String,
) -> v1::Membership {
    v1::Membership {
        alliance_display_name,
        name: m.resource_name(),
        enterprise: resource_name(&m.credit_code),
        enterprise_display_name,
        etag: m.etag(),
        role: m.role,
        state: m.state,
        join_date: m.join_date,
        end_date: m.end_date,
        end_reason: m.end_reason,
        note: m.note,
        events: m
            .events
            .into_iter()
            .map(|e| v1::MembershipEvent {
                kind: e.kind,
                date: e.date,
                role: e.role,
                end_reason: e.end_reason,
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
