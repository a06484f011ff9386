//! `ladder alliance …` and `ladder member …`: the alliance rosters for staff.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{json, Value};

use crate::cli::client::{collect_pages, connect, fail, Intercepted};
use crate::cli::{table, ClientArgs};
use crate::domain::alliance::{AllianceKind, EndReason, Role};
use crate::pb::v1;
use crate::pb::v1::alliance_service_client::AllianceServiceClient;

/// `ladder alliance …`
#[derive(Debug, Subcommand)]
pub enum AllianceCommand {
    /// List the alliances with their member counts.
    List {
        /// Include retired alliances.
        #[arg(long)]
        show_deleted: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one alliance: details, members by role, industry and zone, and
    /// this year's joins and departures.
    Show {
        /// Alliance id, e.g. commercial-space.
        id: String,
        /// Period start for joins/departures (default: 1 January this year).
        #[arg(long)]
        from: Option<String>,
        /// Period end (default: today).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create an alliance.
    Create {
        /// New id: lowercase letters, digits and '-', e.g. hydrogen.
        id: String,
        /// Chinese name.
        #[arg(long)]
        name: String,
        /// industry, finance, talent or other.
        #[arg(long, default_value = "industry")]
        kind: String,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
        /// Secretariat unit (秘书处).
        #[arg(long, default_value = "")]
        secretariat: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Retire an alliance (refused while it has active members, unless --force
    /// ends their memberships).
    Delete {
        /// Alliance id.
        id: String,
        /// End the active memberships too.
        #[arg(long)]
        force: bool,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Restore a retired alliance.
    Undelete {
        /// Alliance id.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change an alliance's name, kind, description or secretariat.
    Update {
        /// Alliance id.
        id: String,
        /// New Chinese name.
        #[arg(long)]
        name: Option<String>,
        /// New kind.
        #[arg(long)]
        kind: Option<String>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        /// New secretariat.
        #[arg(long)]
        secretariat: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `ladder member …`
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Import an alliance roster from XLSX or CSV (by credit code or company
    /// name, with 角色 and 入会日期 when given): a dry run by default,
    /// `--apply` adds the members.
    Import(crate::cli::import::RosterImportArgs),
    /// Add a registered firm to an alliance (or rejoin it).
    Add {
        /// Alliance id.
        alliance: String,
        /// The firm's credit code.
        credit_code: String,
        /// CHAIR, VICE_CHAIR, STANDING_DIRECTOR, DIRECTOR, MEMBER, SECRETARIAT (or 理事长单位…).
        #[arg(long, default_value = "MEMBER")]
        role: String,
        /// Join date YYYY-MM-DD (default today).
        #[arg(long, default_value = "")]
        date: String,
        /// Note.
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// End a membership.
    End {
        /// Alliance id.
        alliance: String,
        /// The firm's credit code.
        credit_code: String,
        /// WITHDREW, LAPSED, EXPELLED, ORGANISATION_DISSOLVED or OTHER (the
        /// reasons of forced deletes are recorded by the server only).
        #[arg(long)]
        reason: String,
        /// Last day YYYY-MM-DD (default today).
        #[arg(long, default_value = "")]
        date: String,
        /// Note (required for OTHER).
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change a member's role (kept as history).
    Role {
        /// Alliance id.
        alliance: String,
        /// The firm's credit code.
        credit_code: String,
        /// The new role.
        role: String,
        /// Effective date YYYY-MM-DD (default today).
        #[arg(long, default_value = "")]
        date: String,
        /// Hand-over: the role the current chair takes when this firm becomes chair.
        #[arg(long)]
        previous_chair_role: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List members of an alliance, or a firm's memberships everywhere.
    List {
        /// Alliance id (all alliances when omitted).
        alliance: Option<String>,
        /// Only this firm (credit code).
        #[arg(long)]
        firm: Option<String>,
        /// active or ended.
        #[arg(long)]
        state: Option<String>,
        /// Only this role.
        #[arg(long)]
        role: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one membership with its full history.
    Show {
        /// Alliance id.
        alliance: String,
        /// The firm's credit code.
        credit_code: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn role_label(v: i32) -> String {
    let role = Role::of(v);
    format!("{} {}", role.label_zh(), role.name())
}

fn kind_label(v: i32) -> &'static str {
    AllianceKind::try_from(v).unwrap_or(AllianceKind::Unspecified).label_zh()
}

fn alliance_json(a: &v1::Alliance) -> Value {
    json!({
        "name": a.name, "display_name": a.display_name,
        "kind": AllianceKind::try_from(a.kind).unwrap_or(AllianceKind::Unspecified).name(),
        "description": a.description, "secretariat": a.secretariat, "founding_date": a.founding_date,
        "seeded_default": a.seeded_default, "active_members": a.active_members, "etag": a.etag,
        "deleted": a.delete_time.is_some(),
    })
}

fn membership_json(m: &v1::Membership) -> Value {
    json!({
        "name": m.name, "enterprise": m.enterprise, "enterprise_display_name": m.enterprise_display_name,
        "alliance_display_name": m.alliance_display_name,
        "role": Role::of(m.role).name(),
        "state": if m.state == v1::MembershipState::Active as i32 { "ACTIVE" } else { "ENDED" },
        "join_date": m.join_date, "end_date": m.end_date,
        "end_reason": EndReason::try_from(m.end_reason).unwrap_or(EndReason::Unspecified).name(),
        "note": m.note, "etag": m.etag,
        "events": m.events.iter().map(|e| json!({
            "kind": v1::MembershipEventKind::try_from(e.kind).map(|k| k.as_str_name()).unwrap_or("UNSPECIFIED"),
            "date": e.date, "role": Role::of(e.role).name(),
            "end_reason": EndReason::try_from(e.end_reason).unwrap_or(EndReason::Unspecified).name(),
            "note": e.note, "actor": e.actor,
        })).collect::<Vec<_>>(),
    })
}

fn membership_text(m: &v1::Membership) -> String {
    let state = if m.state == v1::MembershipState::Active as i32 {
        format!("active since {}", m.join_date)
    } else {
        let reason = EndReason::try_from(m.end_reason).unwrap_or(EndReason::Unspecified);
        format!("ended {} ({})", m.end_date, reason.label_zh())
    };
    let mut out = table::render_pairs(&[
        ("成员资格 membership", m.name.clone()),
        ("成员 member", format!("{} {}", m.enterprise, m.enterprise_display_name)),
        ("角色 role", role_label(m.role)),
        ("状态 state", state),
        ("备注 note", m.note.clone()),
        ("版本 etag", m.etag.clone()),
    ]);
    let rows: Vec<Vec<String>> = m
        .events
        .iter()
        .map(|e| {
            let kind = v1::MembershipEventKind::try_from(e.kind).map(|k| k.as_str_name()).unwrap_or("");
            let detail = match EndReason::try_from(e.end_reason) {
                Ok(r) if r != EndReason::Unspecified => r.label_zh().to_string(),
                _ => role_label(e.role),
            };
            vec![
                e.date.clone(),
                kind.trim_start_matches("MEMBERSHIP_EVENT_KIND_").to_string(),
                detail,
                e.note.clone(),
                e.actor.clone(),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table::render(&["日期 DATE", "事件 EVENT", "角色/原因 ROLE/REASON", "备注 NOTE", "经办 BY"], &rows));
    out
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value).ok_or_else(|| {
        let known: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
        format!("{value:?} is not a role (use {})", known.join(", "))
    })
}

async fn client_for(args: &ClientArgs) -> Result<AllianceServiceClient<Intercepted>, ExitCode> {
    connect(args).await.map(AllianceServiceClient::new).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })
}

/// Runs `ladder alliance …`.
pub async fn alliance(cmd: AllianceCommand) -> ExitCode {
    let args = match &cmd {
        AllianceCommand::List { client, .. }
        | AllianceCommand::Show { client, .. }
        | AllianceCommand::Create { client, .. }
        | AllianceCommand::Update { client, .. }
        | AllianceCommand::Delete { client, .. }
        | AllianceCommand::Undelete { client, .. } => client.clone(),
    };
    let json_out = args.json;
    let mut client = match client_for(&args).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let show = |a: &v1::Alliance| {
        if json_out {
            println!("{}", alliance_json(a));
        } else {
            print!(
                "{}",
                table::render_pairs(&[
                    ("联盟 alliance", a.name.clone()),
                    ("名称 name", a.display_name.clone()),
                    ("类型 kind", kind_label(a.kind).to_string()),
                    ("简介 description", a.description.clone()),
                    ("秘书处 secretariat", a.secretariat.clone()),
                    ("成员 members", a.active_members.to_string()),
                    (
                        "默认 default",
                        if a.seeded_default { "yes: a shipped placeholder, edit it".into() } else { String::new() }
                    ),
                    (
                        "状态 state",
                        if a.delete_time.is_some() {
                            "retired (ladder alliance undelete restores it)".into()
                        } else {
                            String::new()
                        }
                    ),
                    ("版本 etag", a.etag.clone()),
                ])
            );
        }
    };
    let result = match cmd {
        AllianceCommand::List { show_deleted, .. } => {
            let pages = collect_pages(usize::MAX, |page_token| {
                let mut c = client.clone();
                let request = v1::ListAlliancesRequest { show_deleted, page_size: 1000, page_token };
                async move {
                    c.list_alliances(request).await.map(|r| r.into_inner()).map(|r| (r.alliances, r.next_page_token))
                }
            });
            let all = match pages.await {
                Ok((all, _)) => all,
                Err(status) => return fail(json_out, &status),
            };
            if json_out {
                println!("{}", json!({ "alliances": all.iter().map(alliance_json).collect::<Vec<_>>() }));
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|a| {
                        vec![
                            a.name.trim_start_matches("alliances/").to_string(),
                            a.display_name.clone(),
                            kind_label(a.kind).to_string(),
                            a.active_members.to_string(),
                            match (a.delete_time.is_some(), a.seeded_default) {
                                (true, _) => "retired".into(),
                                (false, true) => "default".into(),
                                _ => String::new(),
                            },
                        ]
                    })
                    .collect();
                print!("{}", table::render(&["编号 ID", "名称 NAME", "类型 KIND", "成员 MEMBERS", "备注 NOTE"], &rows));
            }
            Ok(())
        }
        AllianceCommand::Show { id, from, to, .. } => client
            .get_alliance_summary(v1::GetAllianceSummaryRequest {
                name: format!("alliances/{id}"),
                period_start: from.unwrap_or_default(),
                period_end: to.unwrap_or_default(),
            })
            .await
            .map(|r| {
                let s = r.into_inner();
                if json_out {
                    let counts = |c: &[v1::Count]| {
                        c.iter().map(|c| json!({"key": c.key, "label": c.label, "count": c.count})).collect::<Vec<_>>()
                    };
                    println!(
                        "{}",
                        json!({
                            "alliance": s.alliance.as_ref().map(alliance_json), "active_members": s.active_members,
                            "by_role": counts(&s.by_role), "by_industry_division": counts(&s.by_industry_division),
                            "by_zone": counts(&s.by_zone), "period_start": s.period_start, "period_end": s.period_end,
                            "joins": s.joins, "departures": s.departures,
                        })
                    );
                    return;
                }
                if let Some(a) = &s.alliance {
                    show(a);
                }
                let section = |title: &str, counts: &[v1::Count]| {
                    let rows: Vec<Vec<String>> =
                        counts.iter().map(|c| vec![c.key.clone(), c.label.clone(), c.count.to_string()]).collect();
                    format!("\n{title}\n{}", table::render(&["代码 KEY", "名称 LABEL", "数量 COUNT"], &rows))
                };
                print!("{}", section("按角色 by role", &s.by_role));
                print!("{}", section("按行业大类 by industry division", &s.by_industry_division));
                print!("{}", section("按片区 by zone", &s.by_zone));
                println!("\n{} – {}: {} joined, {} left", s.period_start, s.period_end, s.joins, s.departures);
            }),
        AllianceCommand::Create { id, name, kind, description, secretariat, .. } => {
            let Some(kind) = AllianceKind::parse(&kind) else {
                return crate::cli::render::usage_error(format!(
                    "--kind {kind:?}: use industry, finance, talent or other"
                ));
            };
            client
                .create_alliance(v1::CreateAllianceRequest {
                    alliance_id: id,
                    alliance: Some(v1::Alliance {
                        display_name: name,
                        kind: kind as i32,
                        description,
                        secretariat,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
                .map(|r| show(r.get_ref()))
        }
        AllianceCommand::Delete { id, force, reason, .. } => client
            .delete_alliance(v1::DeleteAllianceRequest {
                name: format!("alliances/{id}"),
                force,
                reason,
                ..Default::default()
            })
            .await
            .map(|r| show(r.get_ref())),
        AllianceCommand::Undelete { id, .. } => client
            .undelete_alliance(v1::UndeleteAllianceRequest { name: format!("alliances/{id}"), ..Default::default() })
            .await
            .map(|r| show(r.get_ref())),
        AllianceCommand::Update { id, name, kind, description, secretariat, .. } => {
            let mut a = v1::Alliance { name: format!("alliances/{id}"), ..Default::default() };
            let mut mask = Vec::new();
            if let Some(v) = name {
                a.display_name = v;
                mask.push("display_name".to_string());
            }
            if let Some(v) = kind {
                let Some(k) = AllianceKind::parse(&v) else {
                    return crate::cli::render::usage_error(format!(
                        "--kind {v:?}: use industry, finance, talent or other"
                    ));
                };
                a.kind = k as i32;
                mask.push("kind".to_string());
            }
            if let Some(v) = description {
                a.description = v;
                mask.push("description".to_string());
            }
            if let Some(v) = secretariat {
                a.secretariat = v;
                mask.push("secretariat".to_string());
            }
            if mask.is_empty() {
                return crate::cli::render::usage_error(
                    "nothing to update: give --name, --kind, --description or --secretariat".into(),
                );
            }
            client
                .update_alliance(v1::UpdateAllianceRequest {
                    alliance: Some(a),
                    update_mask: Some(prost_types::FieldMask { paths: mask }),
                    ..Default::default()
                })
                .await
                .map(|r| show(r.get_ref()))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(status) => fail(json_out, &status),
    }
}

/// Runs `ladder member …`.
pub async fn member(cmd: MemberCommand) -> ExitCode {
    let cmd = match cmd {
        MemberCommand::Import(args) => return crate::cli::import::import_roster(args).await,
        other => other,
    };
    let args = match &cmd {
        MemberCommand::Import(_) => unreachable!("imports are handled above"),
        MemberCommand::Add { client, .. }
        | MemberCommand::End { client, .. }
        | MemberCommand::Role { client, .. }
        | MemberCommand::List { client, .. }
        | MemberCommand::Show { client, .. } => client.clone(),
    };
    let json_out = args.json;
    let mut client = match client_for(&args).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let show = |m: &v1::Membership| {
        if json_out {
            println!("{}", membership_json(m));
        } else {
            print!("{}", membership_text(m));
        }
    };
    let name = |alliance: &str, code: &str| format!("alliances/{alliance}/memberships/{}", code.trim());
    let result = match cmd {
        MemberCommand::Import(_) => unreachable!("imports are handled above"),
        MemberCommand::Add { alliance, credit_code, role, date, note, .. } => {
            let role = match parse_role(&role) {
                Ok(r) => r,
                Err(e) => return crate::cli::render::usage_error(e),
            };
            client
                .create_membership(v1::CreateMembershipRequest {
                    parent: format!("alliances/{alliance}"),
                    credit_code,
                    membership: Some(v1::Membership { role: role as i32, join_date: date, note, ..Default::default() }),
                    ..Default::default()
                })
                .await
                .map(|r| show(r.get_ref()))
        }
        MemberCommand::End { alliance, credit_code, reason, date, note, .. } => {
            let Some(reason) = EndReason::parse(&reason) else {
                return crate::cli::render::usage_error(format!(
                    "--reason {reason:?}: use WITHDREW, LAPSED, EXPELLED, ORGANISATION_DISSOLVED or OTHER"
                ));
            };
            client
                .end_membership(v1::EndMembershipRequest {
                    name: name(&alliance, &credit_code),
                    end_date: date,
                    reason: reason as i32,
                    note,
                    ..Default::default()
                })
                .await
                .map(|r| show(r.get_ref()))
        }
        MemberCommand::Role { alliance, credit_code, role, date, previous_chair_role, .. } => {
            let role = match parse_role(&role) {
                Ok(r) => r,
                Err(e) => return crate::cli::render::usage_error(e),
            };
            let previous = match previous_chair_role.as_deref().map(parse_role).transpose() {
                Ok(p) => p.map_or(0, |r| r as i32),
                Err(e) => return crate::cli::render::usage_error(e),
            };
            client
                .update_membership(v1::UpdateMembershipRequest {
                    membership: Some(v1::Membership {
                        name: name(&alliance, &credit_code),
                        role: role as i32,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["role".into()] }),
                    effective_date: date,
                    previous_chair_role: previous,
                    ..Default::default()
                })
                .await
                .map(|r| show(r.get_ref()))
        }
        MemberCommand::Show { alliance, credit_code, .. } => client
            .get_membership(v1::GetMembershipRequest { name: name(&alliance, &credit_code) })
            .await
            .map(|r| show(r.get_ref())),
        MemberCommand::List { alliance, firm, state, role, .. } => {
            let mut conditions = Vec::new();
            if let Some(f) = firm {
                conditions.push(format!("credit_code = \"{}\"", f.trim()));
            }
            if let Some(s) = state {
                conditions.push(format!("state = {}", s.trim()));
            }
            if let Some(r) = role {
                conditions.push(format!("role = \"{}\"", r.trim()));
            }
            let request = v1::ListMembershipsRequest {
                parent: format!("alliances/{}", alliance.as_deref().unwrap_or("-")),
                filter: conditions.join(" AND "),
                page_size: 1000,
                ..Default::default()
            };
            let pages = collect_pages(usize::MAX, |page_token| {
                let mut c = client.clone();
                let request = v1::ListMembershipsRequest { page_token, ..request.clone() };
                async move {
                    c.list_memberships(request)
                        .await
                        .map(|r| r.into_inner())
                        .map(|r| (r.memberships, r.next_page_token))
                }
            });
            let all = match pages.await {
                Ok((all, _)) => all,
                Err(status) => return fail(json_out, &status),
            };
            if json_out {
                println!("{}", json!({ "memberships": all.iter().map(membership_json).collect::<Vec<_>>() }));
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|m| {
                        let alliance = match m.alliance_display_name.as_str() {
                            "" => m.name.trim_start_matches("alliances/").split('/').next().unwrap_or("").to_string(),
                            name => name.to_string(),
                        };
                        let state = if m.state == v1::MembershipState::Active as i32 {
                            "active".to_string()
                        } else {
                            format!("ended {}", m.end_date)
                        };
                        vec![
                            alliance,
                            m.enterprise.trim_start_matches("enterprises/").to_string(),
                            m.enterprise_display_name.clone(),
                            role_label(m.role),
                            m.join_date.clone(),
                            state,
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table::render(
                        &["联盟 ALLIANCE", "信用代码 CODE", "名称 NAME", "角色 ROLE", "加入 JOINED", "状态 STATE"],
                        &rows
                    )
                );
                eprintln!("{} memberships", all.len());
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(status) => fail(json_out, &status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_explained_when_unknown() {
        assert_eq!(parse_role("vice_chair"), Ok(Role::ViceChair));
        assert!(parse_role("boss").unwrap_err().contains("CHAIR, VICE_CHAIR"));
    }

    #[test]
    fn membership_history_is_a_table() {
        let m = v1::Membership {
            name: "alliances/drones/memberships/X".into(),
            role: Role::Member as i32,
            state: v1::MembershipState::Active as i32,
            join_date: "2024-01-01".into(),
            events: vec![v1::MembershipEvent {
                kind: 1,
                date: "2024-01-01".into(),
                role: 5,
                actor: "wang".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = membership_text(&m);
        assert!(text.contains("JOINED") && text.contains("会员单位 MEMBER") && text.contains("wang"), "{text}");
    }
}
