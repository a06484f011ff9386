//! How the client commands show results: tables and label lists for people,
//! JSON for scripts, and one clear line per error.

use prost_types::Timestamp;
use serde_json::{json, Value};
use tonic_types::StatusExt;

use crate::cli::table;
use crate::pb::v1;

/// Whether times are shown in UTC (`--utc`) instead of China Standard Time.
static UTC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Shows times in UTC from now on (`--utc`, for scripts that want UTC).
pub fn set_utc(utc: bool) {
    UTC.store(utc, std::sync::atomic::Ordering::Relaxed);
}

/// The zone the CLI shows times in: `UTC+8` (China Standard Time, the
/// default) or `UTC`.
pub fn zone() -> &'static str {
    if UTC.load(std::sync::atomic::Ordering::Relaxed) {
        "UTC"
    } else {
        "UTC+8"
    }
}

/// A column header for times, naming the zone: `时间 TIME (UTC+8)`.
pub fn time_header(label: &str) -> String {
    format!("{label} ({})", zone())
}

/// `2024-05-01 16:30:00` in China Standard Time (UTC with `--utc`), or
/// empty. The zone is named by the column header ([`time_header`]) or
/// by [`stamp`].
pub fn time(ts: Option<&Timestamp>) -> String {
    let shift = if zone() == "UTC" { 0 } else { crate::domain::time::CHINA_OFFSET_MICROS / 1_000_000 };
    ts.map(|t| {
        let s = Timestamp { seconds: t.seconds.saturating_add(shift), nanos: 0 }.to_string();
        s.trim_end_matches('Z').replacen('T', " ", 1)
    })
    .unwrap_or_default()
}

/// A time with its zone, for label lists: `2024-05-01 16:30:00 UTC+8`.
pub fn stamp(ts: Option<&Timestamp>) -> String {
    match time(ts) {
        t if t.is_empty() => t,
        t => format!("{t} {}", zone()),
    }
}

fn time_json(ts: Option<&Timestamp>) -> Value {
    ts.map_or(Value::Null, |t| Value::String(t.to_string()))
}

/// An enterprise as JSON, every field named as in the proto.
pub fn enterprise_json(e: &v1::Enterprise) -> Value {
    json!({
        "name": e.name,
        "uid": e.uid,
        "credit_code": e.credit_code,
        "display_name": e.display_name,
        "former_names": e.former_names.iter().map(|f| json!({"display_name": f.display_name, "change_time": time_json(f.change_time.as_ref())})).collect::<Vec<_>>(),
        "industry_code": e.industry_code,
        "industry_name": e.industry_name,
        "organisation_type": e.organisation_type,
        "organisation_type_label": e.organisation_type_label,
        "registration_region_code": e.registration_region_code,
        "region_code": e.region_code,
        "region_name": e.region_name,
        "founding_date": e.founding_date,
        "address": e.address,
        "legal_representative": e.legal_representative,
        "promotion_zone": e.promotion_zone,
        "service_commissioner": e.service_commissioner,
        "contacts": e.contacts.iter().map(|c| json!({"name": c.name, "title": c.title, "phone": c.phone, "email": c.email})).collect::<Vec<_>>(),
        "tags": e.tags,
        "website": e.website,
        "notes": e.notes,
        "credit_code_override": e.credit_code_override.as_ref().map(|o| json!({"reason": o.reason, "actor": o.actor, "time": time_json(o.time.as_ref()), "problems": o.problems})),
        "etag": e.etag,
        "revision": e.revision,
        "create_time": time_json(e.create_time.as_ref()),
        "update_time": time_json(e.update_time.as_ref()),
        "delete_time": time_json(e.delete_time.as_ref()),
        "delete_reason": e.delete_reason,
        "stage": crate::domain::ladder::Stage::of(e.stage).proto_name(),
        "stage_since": e.stage_since,
        "memberships": e.memberships.iter().map(|m| json!({
            "alliance": m.alliance, "alliance_display_name": m.alliance_display_name,
            "role": crate::domain::alliance::Role::of(m.role).name(), "join_date": m.join_date,
        })).collect::<Vec<_>>(),
    })
}

/// An enterprise as a label list for a person.
pub fn enterprise_text(e: &v1::Enterprise) -> String {
    let with_name = |code: &str, name: &str| {
        if name.is_empty() {
            code.to_string()
        } else {
            format!("{code} {name}")
        }
    };
    let mut pairs = vec![
        ("名称 name", e.display_name.clone()),
        ("信用代码 credit code", e.credit_code.clone()),
        ("曾用名 former names", e.former_names.iter().map(|f| f.display_name.as_str()).collect::<Vec<_>>().join("、")),
        ("梯度 stage", stage_text(e)),
        ("类型 type", with_name(&e.organisation_type, &e.organisation_type_label)),
        ("行业 industry", with_name(&e.industry_code, &e.industry_name)),
        ("注册地 region", with_name(&e.region_code, &e.region_name)),
        ("成立日期 founded", e.founding_date.clone()),
        ("地址 address", e.address.clone()),
        ("法定代表人 legal rep.", e.legal_representative.clone()),
        ("片区 zone", e.promotion_zone.clone()),
        ("服务专员 commissioner", e.service_commissioner.clone()),
        ("标签 tags", e.tags.join(", ")),
        ("网站 website", e.website.clone()),
        ("备注 notes", e.notes.clone()),
    ];
    for c in &e.contacts {
        let parts: Vec<&str> = [c.name.as_str(), c.title.as_str(), c.phone.as_str(), c.email.as_str()]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        pairs.push(("联系人 contact", parts.join(" / ")));
    }
    for m in &e.memberships {
        let role = crate::domain::alliance::Role::of(m.role).label_zh();
        pairs.push((
            "联盟 alliance",
            format!("{} {} {role} (since {})", m.alliance, m.alliance_display_name, m.join_date),
        ));
    }
    if let Some(o) = &e.credit_code_override {
        pairs.push(("代码核验 override", format!("{} (by {}; {})", o.reason, o.actor, o.problems.join("; "))));
    }
    pairs.extend([
        (
            "状态 state",
            if e.delete_time.is_some() {
                format!("deleted {} {}", stamp(e.delete_time.as_ref()), e.delete_reason)
            } else {
                "active".into()
            },
        ),
        ("登记 created", stamp(e.create_time.as_ref())),
        ("更新 updated", stamp(e.update_time.as_ref())),
        ("版本 etag", e.etag.clone()),
    ]);
    table::render_pairs(&pairs)
}

/// The stage as 育小 (since 2024-03-01).
fn stage_text(e: &v1::Enterprise) -> String {
    let stage = crate::domain::ladder::Stage::of(e.stage);
    match e.stage_since.as_str() {
        "" => stage.label_zh().to_string(),
        since => format!("{} {} (since {since})", stage.label_zh(), stage.proto_name()),
    }
}

/// An alliance a firm belongs to, by its name (its id when the name is
/// not known).
fn alliance_name(m: &v1::ActiveMembership) -> &str {
    match m.alliance_display_name.as_str() {
        "" => m.alliance.trim_start_matches("alliances/"),
        name => name,
    }
}

/// Names for one table cell: all of them when few, else how many and the
/// first few (`12 家：甲、乙、丙…`).
pub fn names_cell<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    const SHOWN: usize = 3;
    let total = names.len();
    let first: Vec<&str> = names.take(SHOWN).collect();
    if total <= SHOWN {
        first.join("、")
    } else {
        format!("{total} 家：{}…", first.join("、"))
    }
}

/// Enterprises as a table.
pub fn enterprise_table(items: &[v1::Enterprise]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|e| {
            vec![
                e.credit_code.clone(),
                e.display_name.clone(),
                e.industry_code.clone(),
                crate::domain::ladder::Stage::of(e.stage).label_zh().to_string(),
                e.region_name.clone(),
                e.promotion_zone.clone(),
                e.tags.join(","),
                e.memberships.iter().map(alliance_name).collect::<Vec<_>>().join(","),
                if e.delete_time.is_some() { "deleted".into() } else { String::new() },
            ]
        })
        .collect();
    table::render(
        &[
            "信用代码 CODE",
            "名称 NAME",
            "行业 IND.",
            "梯度 STAGE",
            "注册地 REGION",
            "片区 ZONE",
            "标签 TAGS",
            "联盟 ALLIANCES",
            "状态 STATE",
        ],
        &rows,
    )
}

/// The English name of a change kind, e.g. `updated`.
pub fn change_kind(kind: i32) -> &'static str {
    match v1::ChangeKind::try_from(kind).unwrap_or(v1::ChangeKind::Unspecified) {
        v1::ChangeKind::Created => "created",
        v1::ChangeKind::Updated => "updated",
        v1::ChangeKind::Deleted => "deleted",
        v1::ChangeKind::Undeleted => "undeleted",
        v1::ChangeKind::Unspecified => "unspecified",
    }
}

/// A change as JSON.
pub fn change_json(c: &v1::Change) -> Value {
    json!({
        "revision": c.revision,
        "resource": c.resource,
        "kind": change_kind(c.kind),
        "field_changes": c.field_changes.iter().map(|f| json!({"field": f.field, "old_value": f.old_value, "new_value": f.new_value})).collect::<Vec<_>>(),
        "actor": c.actor,
        "origin": c.origin,
        "request_id": c.request_id,
        "time": time_json(c.time.as_ref()),
        "reason": c.reason,
    })
}

/// Changes as a table, one row per changed field.
pub fn change_table(changes: &[v1::Change]) -> String {
    let mut rows = Vec::new();
    for c in changes {
        let head = vec![
            c.revision.to_string(),
            time(c.time.as_ref()),
            c.resource.clone(),
            change_kind(c.kind).to_string(),
            format!("{} ({})", c.actor, c.origin),
        ];
        if c.field_changes.is_empty() {
            rows.push([head.clone(), vec![String::new(), c.reason.clone()]].concat());
        }
        for (i, f) in c.field_changes.iter().enumerate() {
            let lead = if i == 0 { head.clone() } else { vec![String::new(); 5] };
            let change = match (f.old_value.is_empty(), f.new_value.is_empty()) {
                (true, _) => f.new_value.clone(),
                (false, true) => format!("{} → (cleared)", f.old_value),
                (false, false) => format!("{} → {}", f.old_value, f.new_value),
            };
            rows.push([lead, vec![f.field.clone(), change]].concat());
        }
    }
    let when = time_header("时间 TIME");
    table::render(
        &["修订 REV", &when, "资源 RESOURCE", "类型 KIND", "经办(来源) ACTOR (ORIGIN)", "字段 FIELD", "变更 CHANGE"],
        &rows,
    )
}

/// A mistake on the command line: one clipped line on stderr, exit status 2.
pub fn usage_error(message: String) -> std::process::ExitCode {
    eprintln!("error: {}", clipped(&message));
    std::process::ExitCode::from(2)
}

/// Longest error text the CLI prints, in bytes: an error echoing a huge
/// input (a 50 MB header cell) is cut, not printed whole.
pub const MAX_ERROR_BYTES: usize = 2000;

/// An error message cut to [`MAX_ERROR_BYTES`]: every error the CLI prints
/// goes through here or [`status_error`].
pub fn clipped(message: &str) -> std::borrow::Cow<'_, str> {
    crate::error::clip(message, MAX_ERROR_BYTES)
}

/// One line (or a few) describing a failed call: code, reason, and each
/// wrong field with what is wrong (each part cut to [`MAX_ERROR_BYTES`]).
pub fn status_error(status: &tonic::Status) -> String {
    let details = status.get_error_details();
    let reason = details.error_info().map(|i| format!(" {}", i.reason)).unwrap_or_default();
    let mut out = format!("error: {:?}{reason}: {}", status.code(), clipped(status.message()));
    if let Some(bad) = details.bad_request() {
        if bad.field_violations.len() > 1 {
            for v in bad.field_violations.iter().take(50) {
                out.push_str(&format!("\n  {}: {}", clipped(&v.field), clipped(&v.description)));
            }
        }
    }
    out
}

/// A failed call as JSON (for `--json`).
pub fn status_json(status: &tonic::Status) -> Value {
    let details = status.get_error_details();
    json!({
        "error": {
            "code": format!("{:?}", status.code()),
            "message": status.message(),
            "reason": details.error_info().map(|i| i.reason.clone()),
            "field_violations": details.bad_request().map(|b| b.field_violations.iter().map(|v| json!({"field": v.field, "description": v.description, "reason": v.reason})).collect::<Vec<_>>()),
        }
    })
}

/// A failed sync row as JSON.
pub fn sync_failure_json(f: &v1::SyncFailure) -> Value {
    json!({"row": f.row_number, "credit_code": f.credit_code, "field": f.field, "reason": f.reason, "description": f.description})
}

/// A sync run as JSON, every field named as in the proto (failed rows as
/// [`sync_failure_json`]; enums by their names without prefix).
pub fn sync_run_json(r: &v1::SyncRun) -> Value {
    let mode = v1::SyncMode::try_from(r.mode).unwrap_or(v1::SyncMode::Unspecified).as_str_name();
    let state = v1::SyncRunState::try_from(r.state).unwrap_or(v1::SyncRunState::Unspecified).as_str_name();
    json!({
        "name": r.name,
        "source": r.source,
        "mode": mode.trim_start_matches("SYNC_MODE_"),
        "dry_run": r.dry_run,
        "state": state.trim_start_matches("SYNC_RUN_STATE_"),
        "rows": r.rows,
        "created": r.created,
        "updated": r.updated,
        "unchanged": r.unchanged,
        "failed": r.failed,
        "missing_from_source": r.missing_from_source,
        "failures": r.failures.iter().map(sync_failure_json).collect::<Vec<_>>(),
        "missing_credit_codes": r.missing_credit_codes,
        "actor": r.actor,
        "start_time": time_json(r.start_time.as_ref()),
        "end_time": time_json(r.end_time.as_ref()),
        "revert_time": time_json(r.revert_time.as_ref()),
        "reverting": r.reverting,
    })
}

/// The answer to a revert as JSON: the run as it now stands, the counts and
/// every conflict kept.
pub fn revert_json(r: &v1::RevertSyncRunResponse) -> Value {
    json!({
        "run": r.run.as_ref().map_or(Value::Null, sync_run_json),
        "deleted": r.deleted,
        "restored": r.restored,
        "conflict_count": r.conflict_count,
        "conflicts": r.conflicts.iter().map(|c| json!({
            "resource": c.resource, "field": c.field, "run_value": c.run_value, "current_value": c.current_value,
        })).collect::<Vec<_>>(),
    })
}
