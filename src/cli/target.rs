//! `ladder target …`: the targeted-promotion list (靶向招引): firms outside
//! the zone that promotion staff go after, with their contact attempts.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::cli::client::{collect_pages, fail};
use crate::cli::project::{
    and_filter, choice_name, choices, client_for, label, note_dry_run, parse_flag, parse_optional, resource_name,
    short_id, short_name, time_json, with_name, Client, Mask, WriteOptions,
};
use crate::cli::{render, table, ClientArgs};
use crate::pb::v1;

/// `ladder target …` with the client options.
#[derive(Debug, Args)]
pub struct TargetArgs {
    #[command(subcommand)]
    command: TargetCommand,
    #[command(flatten)]
    client: ClientArgs,
}

/// `ladder target …`
#[derive(Debug, Subcommand)]
enum TargetCommand {
    /// Add a firm outside the zone to the list.
    Add(Box<AddTarget>),
    /// List targets, newest first.
    List {
        /// Filter, e.g. 'reason = LITTLE_GIANT AND region = 44'.
        #[arg(long, default_value = "")]
        filter: String,
        /// Only this status: open (跟进中), converted (已转化) or dropped (已放弃).
        #[arg(long)]
        status: Option<String>,
        /// Include deleted targets.
        #[arg(long)]
        deleted: bool,
        /// Fetch every page.
        #[arg(long)]
        all: bool,
        /// Targets per page (at most 500).
        #[arg(long, default_value_t = 50)]
        page_size: i32,
    },
    /// Show one target with its contact attempts.
    Show {
        /// Target id or `targets/{id}`.
        target: String,
    },
    /// Record a contact attempt (visit, call, meeting…).
    Contact {
        /// Target id or `targets/{id}`.
        target: String,
        /// Date YYYY-MM-DD (default today).
        #[arg(long, default_value = "")]
        date: String,
        /// How: 上门拜访, 电话, 会谈, 推介会…
        #[arg(long)]
        channel: String,
        /// Who was contacted.
        #[arg(long, default_value = "")]
        person: String,
        /// What came of it.
        #[arg(long)]
        outcome: String,
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Change the fields given.
    Edit(Box<EditTarget>),
    /// Give a target up (status 已放弃 DROPPED).
    Drop {
        /// Target id or `targets/{id}`.
        target: String,
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Soft-delete a target.
    Delete {
        /// Target id or `targets/{id}`.
        target: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: WriteOptions,
    },
}

fn reason_help() -> String {
    format!("Why it is targeted (repeatable): {}", choices::<v1::TargetReason>())
}

/// The target fields staff set, besides the name.
#[derive(Debug, Default, Args)]
struct TargetFields {
    /// Credit code, when known.
    #[arg(long)]
    code: Option<String>,
    /// Where it is: a 6-digit region code, e.g. 440300.
    #[arg(long)]
    region: Option<String>,
    /// GB/T 4754 industry code.
    #[arg(long)]
    industry: Option<String>,
    #[arg(long = "reason", help = reason_help())]
    reasons: Vec<String>,
    /// The chain gap it would fill (with --reason fills-chain-gap).
    #[arg(long)]
    gap: Option<String>,
    /// Responsible department.
    #[arg(long)]
    department: Option<String>,
    /// Responsible person.
    #[arg(long)]
    owner: Option<String>,
    /// Notes.
    #[arg(long)]
    notes: Option<String>,
}

impl TargetFields {
    /// Sets the fields given on `t` and names them in `mask`.
    fn apply(self, t: &mut v1::Target, mask: &mut Mask) -> Result<(), String> {
        let reasons = self
            .reasons
            .iter()
            .map(|r| parse_flag::<v1::TargetReason>("--reason", r).map(i32::from))
            .collect::<Result<Vec<_>, _>>()?;
        mask.text("credit_code", self.code, &mut t.credit_code);
        mask.text("region_code", self.region, &mut t.region_code);
        mask.text("industry_code", self.industry, &mut t.industry_code);
        mask.list("reasons", reasons, &mut t.reasons);
        mask.text("chain_gap", self.gap, &mut t.chain_gap);
        mask.text("department", self.department, &mut t.department);
        mask.text("owner", self.owner, &mut t.owner);
        mask.text("notes", self.notes, &mut t.notes);
        Ok(())
    }
}

/// Arguments of `ladder target add`.
#[derive(Debug, Args)]
struct AddTarget {
    /// Firm name.
    #[arg(long)]
    name: String,
    #[command(flatten)]
    fields: TargetFields,
    /// Idempotency key: a retry with the same key is not applied twice.
    #[arg(long, default_value = "")]
    request_id: String,
    /// Check everything, write nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Arguments of `ladder target edit`.
#[derive(Debug, Args)]
struct EditTarget {
    /// Target id or `targets/{id}`.
    target: String,
    /// New firm name.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    fields: TargetFields,
    /// open or dropped.
    #[arg(long)]
    status: Option<String>,
    /// Clear a field (repeatable), e.g. --clear chain_gap.
    #[arg(long, value_name = "FIELD")]
    clear: Vec<String>,
    #[command(flatten)]
    write: WriteOptions,
}

impl EditTarget {
    /// The target with the fields given, and the mask naming exactly them.
    fn into_update(self) -> Result<(v1::Target, prost_types::FieldMask), String> {
        let status = parse_optional::<v1::TargetStatus>("--status", self.status.as_deref())?;
        let mut t = v1::Target { name: resource_name("targets", &self.target), ..Default::default() };
        let mut mask = Mask::default();
        mask.text("display_name", self.name, &mut t.display_name);
        self.fields.apply(&mut t, &mut mask)?;
        mask.choice("status", status, &mut t.status);
        mask.0.extend(self.clear);
        Ok((t, mask.into_field_mask()?))
    }
}

/// A target as JSON, every field named as in the proto.
fn target_json(t: &v1::Target) -> Value {
    json!({
        "name": t.name, "display_name": t.display_name, "credit_code": t.credit_code,
        "region_code": t.region_code, "region_name": t.region_name, "industry_code": t.industry_code,
        "industry_name": t.industry_name,
        "reasons": t.reasons.iter().map(|r| choice_name::<v1::TargetReason>(*r)).collect::<Vec<_>>(),
        "chain_gap": t.chain_gap, "department": t.department, "owner": t.owner, "notes": t.notes,
        "status": choice_name::<v1::TargetStatus>(t.status), "project": t.project,
        "contacts": t.contacts.iter().map(|c| json!({
            "date": c.date, "channel": c.channel, "person": c.person, "outcome": c.outcome, "actor": c.actor,
            "record_time": time_json(c.record_time.as_ref()),
        })).collect::<Vec<_>>(),
        "etag": t.etag, "revision": t.revision, "create_time": time_json(t.create_time.as_ref()),
        "update_time": time_json(t.update_time.as_ref()), "delete_time": time_json(t.delete_time.as_ref()),
    })
}

/// The reasons in Chinese: `链主、补链`.
fn reasons_text(t: &v1::Target) -> String {
    t.reasons.iter().map(|r| label::<v1::TargetReason>(*r)).collect::<Vec<_>>().join("、")
}

/// A target as a label list, then its contact attempts.
fn target_text(t: &v1::Target) -> String {
    let status = format!("{} {}", label::<v1::TargetStatus>(t.status), choice_name::<v1::TargetStatus>(t.status));
    let mut out = table::render_pairs(&[
        ("目标 target", t.name.clone()),
        ("名称 name", t.display_name.clone()),
        ("信用代码 credit code", t.credit_code.clone()),
        ("所在地 region", with_name(&t.region_code, &t.region_name)),
        ("行业 industry", with_name(&t.industry_code, &t.industry_name)),
        ("理由 reasons", reasons_text(t)),
        ("补链 chain gap", t.chain_gap.clone()),
        ("部门 department", t.department.clone()),
        ("负责人 owner", t.owner.clone()),
        ("备注 notes", t.notes.clone()),
        ("状态 status", status.trim().to_string()),
        ("项目 project", t.project.clone()),
        ("已删除 deleted", render::stamp(t.delete_time.as_ref())),
        ("登记 created", render::stamp(t.create_time.as_ref())),
        ("更新 updated", render::stamp(t.update_time.as_ref())),
        ("版本 etag", t.etag.clone()),
    ]);
    let rows: Vec<Vec<String>> = t
        .contacts
        .iter()
        .map(|c| {
            vec![
                c.date.clone(),
                c.channel.clone(),
                c.person.clone(),
                c.outcome.clone(),
                c.actor.clone(),
                render::time(c.record_time.as_ref()),
            ]
        })
        .collect();
    let recorded = render::time_header("记录时间 RECORDED");
    out.push_str("\n接触记录 contacts\n");
    out.push_str(&table::render(
        &["日期 DATE", "方式 CHANNEL", "对象 PERSON", "结果 OUTCOME", "经办 BY", &recorded],
        &rows,
    ));
    out
}

fn targets_table(items: &[v1::Target]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|t| {
            let mut status = label::<v1::TargetStatus>(t.status).to_string();
            if t.delete_time.is_some() {
                status.push_str("（已删除）");
            }
            vec![
                short_id(&t.name).to_string(),
                t.display_name.clone(),
                reasons_text(t),
                with_name(&t.region_code, &t.region_name),
                t.industry_code.clone(),
                status,
                t.owner.clone(),
                t.contacts.len().to_string(),
                short_id(&t.project).to_string(),
            ]
        })
        .collect();
    table::render(
        &[
            "目标 TARGET",
            "名称 NAME",
            "理由 REASONS",
            "所在地 REGION",
            "行业 IND.",
            "状态 STATUS",
            "负责人 OWNER",
            "接触数 CONTACTS",
            "项目 PROJECT",
        ],
        &rows,
    )
}

/// Runs `ladder target …`.
pub async fn target(args: TargetArgs) -> ExitCode {
    let TargetArgs { command, client: client_args } = args;
    let json_out = client_args.json;
    let mut client = match client_for(&client_args).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let show = |t: &v1::Target| {
        if json_out {
            println!("{}", target_json(t));
        } else {
            print!("{}", target_text(t));
        }
    };
    let result = match command {
        TargetCommand::Add(a) => {
            let AddTarget { name, fields, request_id, dry_run } = *a;
            let mut t = v1::Target { display_name: name, ..Default::default() };
            if let Err(e) = fields.apply(&mut t, &mut Mask::default()) {
                return render::usage_error(e);
            }
            let request = v1::CreateTargetRequest { target: Some(t), request_id, validate_only: dry_run };
            client.create_target(request).await.map(|r| {
                show(r.get_ref());
                note_dry_run(dry_run);
            })
        }
        TargetCommand::Edit(e) => {
            let write = e.write.clone();
            let (t, mask) = match e.into_update() {
                Ok(update) => update,
                Err(e) => return render::usage_error(e),
            };
            update(&mut client, t, mask, write).await.map(|t| show(&t))
        }
        TargetCommand::Drop { target, write } => {
            let t = v1::Target {
                name: resource_name("targets", &target),
                status: v1::TargetStatus::Dropped as i32,
                ..Default::default()
            };
            let mask = prost_types::FieldMask { paths: vec!["status".into()] };
            update(&mut client, t, mask, write).await.map(|t| show(&t))
        }
        TargetCommand::Show { target } => client
            .get_target(v1::GetTargetRequest { name: resource_name("targets", &target) })
            .await
            .map(|r| show(r.get_ref())),
        TargetCommand::Contact { target, date, channel, person, outcome, write } => client
            .record_target_contact(v1::RecordTargetContactRequest {
                name: resource_name("targets", &target),
                contact: Some(v1::TargetContact { date, channel, person, outcome, ..Default::default() }),
                etag: write.etag,
                request_id: write.request_id,
            })
            .await
            .map(|r| show(r.get_ref())),
        TargetCommand::Delete { target, reason, write } => client
            .delete_target(v1::DeleteTargetRequest {
                name: resource_name("targets", &target),
                reason,
                etag: write.etag,
                request_id: write.request_id,
            })
            .await
            .map(|r| show(r.get_ref())),
        TargetCommand::List { filter, status, deleted, all, page_size } => {
            let filter = match parse_optional::<v1::TargetStatus>("--status", status.as_deref()) {
                Ok(s) => and_filter(&filter, &[("status", s.map(|s| short_name(s).to_string()))]),
                Err(e) => return render::usage_error(e),
            };
            let limit = if all { usize::MAX } else { usize::try_from(page_size.max(1)).unwrap_or(50) };
            let pages = collect_pages(limit, |page_token| {
                let mut c = client.clone();
                let request =
                    v1::ListTargetsRequest { filter: filter.clone(), page_size, page_token, show_deleted: deleted };
                async move { c.list_targets(request).await.map(|r| r.into_inner()).map(|r| (r.targets, r.next_page_token)) }
            });
            let (items, more) = match pages.await {
                Ok(found) => found,
                Err(status) => return fail(json_out, &status),
            };
            if json_out {
                println!("{}", json!({ "targets": items.iter().map(target_json).collect::<Vec<_>>() }));
            } else {
                print!("{}", targets_table(&items));
                if more {
                    eprintln!("(the first {} shown; there are more: --all, or narrow --filter)", items.len());
                }
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(status) => fail(json_out, &status),
    }
}

/// Sends an update of the fields in `mask`.
async fn update(
    client: &mut Client,
    target: v1::Target,
    mask: prost_types::FieldMask,
    write: WriteOptions,
) -> Result<v1::Target, tonic::Status> {
    let request = v1::UpdateTargetRequest {
        target: Some(target),
        update_mask: Some(mask),
        etag: write.etag,
        request_id: write.request_id,
        validate_only: write.dry_run,
    };
    let t = client.update_target(request).await?.into_inner();
    note_dry_run(write.dry_run);
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit_of(fields: TargetFields) -> EditTarget {
        EditTarget {
            target: "t1".into(),
            name: None,
            fields,
            status: None,
            clear: vec![],
            write: WriteOptions::default(),
        }
    }

    #[test]
    fn reasons_read_in_chinese_and_english() {
        let mut t = v1::Target::default();
        let mut mask = Mask::default();
        let fields = TargetFields {
            reasons: vec!["链主".into(), "fills-chain-gap".into(), "GAZELLE".into()],
            ..Default::default()
        };
        fields.apply(&mut t, &mut mask).unwrap();
        assert_eq!(
            t.reasons,
            [
                v1::TargetReason::ChainLeader as i32,
                v1::TargetReason::FillsChainGap as i32,
                v1::TargetReason::Gazelle as i32
            ]
        );
        assert_eq!(reasons_text(&t), "链主、补链、瞪羚");
        assert_eq!(mask.0, ["reasons"]);
        let bad = TargetFields { reasons: vec!["big".into()], ..Default::default() };
        assert!(bad.apply(&mut t, &mut Mask::default()).unwrap_err().starts_with("--reason \"big\": use chain-leader"));
    }

    #[test]
    fn the_edit_mask_names_exactly_the_flags_given() {
        let edit = EditTarget {
            status: Some("dropped".into()),
            clear: vec!["notes".into()],
            ..edit_of(TargetFields {
                owner: Some("王五".into()), region: Some("440300".into()), ..Default::default()
            })
        };
        let (t, mask) = edit.into_update().unwrap();
        assert_eq!(mask.paths, ["region_code", "owner", "status", "notes"]);
        assert_eq!(t.name, "targets/t1");
        assert_eq!(t.status, v1::TargetStatus::Dropped as i32);
        assert!(edit_of(TargetFields::default()).into_update().is_err());
        let wrong = EditTarget { status: Some("won".into()), ..edit_of(TargetFields::default()) };
        assert!(wrong.into_update().is_err());
    }

    #[test]
    fn status_choices_read_their_labels() {
        assert_eq!(crate::cli::project::parse_choice::<v1::TargetStatus>("已放弃"), Some(v1::TargetStatus::Dropped));
        assert_eq!(short_name(v1::TargetStatus::Open), "OPEN");
    }

    #[test]
    fn the_target_tables_are_bilingual() {
        let t = v1::Target {
            name: "targets/t1".into(),
            display_name: "深圳华芯半导体装备股份有限公司".into(),
            reasons: vec![v1::TargetReason::FillsChainGap as i32],
            status: v1::TargetStatus::Open as i32,
            contacts: vec![v1::TargetContact { channel: "上门拜访".into(), ..Default::default() }],
            ..Default::default()
        };
        assert!(target_text(&t).contains("跟进中 OPEN"));
        assert!(targets_table(&[t]).contains("t1  "));
    }
}
