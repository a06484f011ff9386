//! `ladder posting …`, `ladder match …`, `ladder map`, `ladder gaps` and
//! `ladder sourcing`: the supply–demand work of staff from the terminal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use serde_json::{json, Value};

use crate::cli::client::{collect_pages, fail, Intercepted};
use crate::cli::{map, render, table, ClientArgs};
use crate::domain::supply_demand::{MatchCloseReason, MatchState, PostingCloseReason, PostingKind, SourceList};
use crate::pb::v1;
use crate::pb::v1::supply_demand_service_client::SupplyDemandServiceClient;

/// `ladder posting …`
#[derive(Debug, Subcommand)]
pub enum PostingCommand {
    /// Post a registered firm's supply or demand.
    Add(Box<AddPosting>),
    /// Show one posting.
    Show {
        /// Posting id or `postings/{id}`.
        posting: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List postings, newest first.
    List {
        /// Filter, e.g. 'kind = DEMAND AND state = OPEN AND industry_code = C38'.
        #[arg(long, default_value = "")]
        filter: String,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Close a posting with a reason.
    Close {
        /// Posting id or `postings/{id}`.
        posting: String,
        /// FULFILLED, WITHDRAWN, MISTAKE or OTHER.
        #[arg(long)]
        reason: String,
        /// Note (required for OTHER).
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Arguments of `ladder posting add`.
#[derive(Debug, clap::Args)]
pub struct AddPosting {
    /// The firm's credit code.
    #[arg(long)]
    credit_code: String,
    /// supply (供给) or demand (需求).
    #[arg(long)]
    kind: String,
    /// Title, e.g. 采购储能电芯.
    #[arg(long)]
    title: String,
    /// Description.
    #[arg(long, default_value = "")]
    description: String,
    /// GB/T 4754 category, e.g. C3841.
    #[arg(long)]
    industry: String,
    /// Product tag (repeat for several), e.g. --tag 电芯 --tag 储能.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Chain segment, e.g. 卫星制造, 测运控, 储能.
    #[arg(long, default_value = "")]
    segment: String,
    /// Quantity (with --unit).
    #[arg(long, default_value_t = 0.0)]
    quantity: f64,
    /// Unit of the quantity, e.g. 套.
    #[arg(long, default_value = "")]
    unit: String,
    /// Amount in 万元.
    #[arg(long, default_value_t = 0.0)]
    amount: f64,
    /// 6-digit region (default the firm's).
    #[arg(long, default_value = "")]
    region: String,
    /// In the zone: true or false (default: whether the firm has a zone).
    #[arg(long)]
    in_zone: Option<bool>,
    /// First valid day YYYY-MM-DD (default today).
    #[arg(long, default_value = "")]
    from: String,
    /// Last valid day YYYY-MM-DD (default none).
    #[arg(long, default_value = "")]
    until: String,
    /// Visible only to this alliance (id).
    #[arg(long, default_value = "")]
    alliance: String,
    /// Source list: 需求清单, 供给清单, 采购清单, 协作机会清单 (or DEMAND, SUPPLY, PROCUREMENT, COLLABORATION).
    #[arg(long, default_value = "")]
    list: String,
    #[command(flatten)]
    client: ClientArgs,
}

/// `ladder match …`
#[derive(Debug, Subcommand)]
pub enum MatchCommand {
    /// Who could serve this posting? Ranked, with reasons.
    Suggest {
        /// Posting id or `postings/{id}`.
        posting: String,
        /// At most this many.
        #[arg(long, default_value_t = 10)]
        limit: i32,
        /// Leave out scores below this (0–100).
        #[arg(long, default_value_t = 0.0)]
        min_score: f64,
        /// Show every factor's points.
        #[arg(long)]
        explain: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Record an introduction between a supply and a demand.
    Create {
        /// The supply posting (id or `postings/{id}`).
        #[arg(long)]
        supply: String,
        /// The demand posting (id or `postings/{id}`).
        #[arg(long)]
        demand: String,
        /// Who brokered it.
        #[arg(long, default_value = "")]
        broker: String,
        /// Notes.
        #[arg(long, default_value = "")]
        notes: String,
        /// It came from `ladder match suggest`.
        #[arg(long)]
        suggested: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Move a match forward (contacted, negotiating, signed, delivered) or close it.
    Advance {
        /// Match id or `matches/{id}`.
        r#match: String,
        /// CONTACTED, NEGOTIATING, SIGNED, DELIVERED or CLOSED (or 已对接, 洽谈中…).
        #[arg(long)]
        to: String,
        /// Signed amount in 万元 (with SIGNED).
        #[arg(long, default_value_t = 0.0)]
        amount: f64,
        /// NO_FIT, EXPIRED or WITHDRAWN (with CLOSED).
        #[arg(long, default_value = "")]
        reason: String,
        /// Effective date YYYY-MM-DD (default today).
        #[arg(long, default_value = "")]
        date: String,
        /// Note.
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one match with its history.
    Show {
        /// Match id or `matches/{id}`.
        r#match: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List matches, newest first.
    List {
        /// Filter, e.g. 'state = SIGNED' or 'credit_code = 9161…'.
        #[arg(long, default_value = "")]
        filter: String,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Output format of `ladder map`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MapFormat {
    /// A picture to open in a browser.
    Svg,
    /// Graphviz DOT.
    Dot,
    /// JSON nodes and edges.
    Json,
}

/// Arguments of `ladder map`.
#[derive(Debug, clap::Args)]
pub struct MapArgs {
    /// svg, dot or json.
    #[arg(long, value_enum, default_value = "svg")]
    format: MapFormat,
    /// Write to this file (default standard output).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Only members of this alliance (id).
    #[arg(long, default_value = "")]
    alliance: String,
    /// Only this category or under it, e.g. C37.
    #[arg(long, default_value = "")]
    industry: String,
    /// Only in-zone (true) or out-of-zone (false) postings.
    #[arg(long)]
    in_zone: Option<bool>,
    /// Postings in this state: OPEN (default), CLOSED or EXPIRED.
    #[arg(long, default_value = "OPEN")]
    state: String,
    /// Also draw closed matches.
    #[arg(long)]
    closed_matches: bool,
    /// Most firms on a firm-level map.
    #[arg(long, default_value_t = 100)]
    max_firms: i32,
    /// auto (firms when they fit in --max-firms, else the category
    /// overview), firm or category.
    #[arg(long, value_enum, default_value = "auto")]
    level: MapLevelArg,
    #[command(flatten)]
    client: ClientArgs,
}

/// `--level` of `ladder map`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MapLevelArg {
    /// Firms when they fit, else categories.
    Auto,
    /// Firms, their postings and matches.
    Firm,
    /// Categories with counts and amounts.
    Category,
}

/// Arguments of `ladder gaps`.
#[derive(Debug, clap::Args)]
pub struct GapsArgs {
    /// class (小类, default), group (中类) or division (大类).
    #[arg(long, default_value = "class")]
    level: String,
    /// Only demand from members of this alliance (id).
    #[arg(long, default_value = "")]
    alliance: String,
    /// Only categories under this code.
    #[arg(long, default_value = "")]
    industry: String,
    /// Also categories that have in-zone supply.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    client: ClientArgs,
}

fn posting_name(s: &str) -> String {
    let s = s.trim();
    if s.starts_with("postings/") {
        s.to_string()
    } else {
        format!("postings/{s}")
    }
}

fn match_name(s: &str) -> String {
    let s = s.trim();
    if s.starts_with("matches/") {
        s.to_string()
    } else {
        format!("matches/{s}")
    }
}

async fn client_for(args: &ClientArgs) -> Result<SupplyDemandServiceClient<Intercepted>, ExitCode> {
    crate::cli::client::connect_or_exit(args).await.map(SupplyDemandServiceClient::new)
}

fn kind_label(kind: i32) -> &'static str {
    PostingKind::of(kind).label_zh()
}

fn posting_state(state: i32) -> &'static str {
    match v1::PostingState::try_from(state) {
        Ok(v1::PostingState::Open) => "OPEN",
        Ok(v1::PostingState::Closed) => "CLOSED",
        Ok(v1::PostingState::Expired) => "EXPIRED",
        _ => "",
    }
}

fn match_state(state: i32) -> MatchState {
    MatchState::try_from(state).unwrap_or(MatchState::Unspecified)
}

fn how_much(p: &v1::Posting) -> String {
    let mut parts = Vec::new();
    if p.quantity > 0.0 {
        parts.push(format!("{} {}", p.quantity, p.unit));
    }
    if p.amount_wan > 0.0 {
        parts.push(format!("{} 万元", p.amount_wan));
    }
    parts.join(" / ")
}

fn posting_json(p: &v1::Posting) -> Value {
    json!({
        "name": p.name, "credit_code": p.credit_code, "enterprise_display_name": p.enterprise_display_name,
        "kind": PostingKind::of(p.kind).name(), "title": p.title, "description": p.description,
        "industry_code": p.industry_code, "product_tags": p.product_tags, "chain_segment": p.chain_segment,
        "quantity": p.quantity, "unit": p.unit, "amount_wan": p.amount_wan, "region_code": p.region_code,
        "in_zone": p.in_zone, "valid_from": p.valid_from, "valid_until": p.valid_until,
        "visibility_alliance_id": p.visibility_alliance_id,
        "source_list": SourceList::try_from(p.source_list).unwrap_or(SourceList::Unspecified).name(),
        "state": posting_state(p.state),
        "close_reason": PostingCloseReason::try_from(p.close_reason).unwrap_or(PostingCloseReason::Unspecified).name(),
        "close_note": p.close_note, "keywords": p.keywords, "etag": p.etag,
    })
}

fn posting_text(p: &v1::Posting) -> String {
    table::render_pairs(&[
        ("供需 posting", p.name.clone()),
        ("类型 kind", kind_label(p.kind).to_string()),
        ("企业 firm", format!("{} {}", p.credit_code, p.enterprise_display_name)),
        ("标题 title", p.title.clone()),
        ("描述 description", p.description.clone()),
        ("行业 industry", p.industry_code.clone()),
        ("标签 tags", p.product_tags.join("、")),
        ("环节 segment", p.chain_segment.clone()),
        ("数量/金额 amount", how_much(p)),
        ("地区 region", p.region_code.clone()),
        ("园区内 in zone", if p.in_zone == Some(true) { "是".into() } else { "否".into() }),
        ("有效期 valid", format!("{} – {}", p.valid_from, p.valid_until)),
        (
            "可见范围 visibility",
            if p.visibility_alliance_id.is_empty() { "全园区".into() } else { p.visibility_alliance_id.clone() },
        ),
        ("状态 state", posting_state(p.state).to_string()),
        ("关键词 keywords", p.keywords.join(" ")),
        ("版本 etag", p.etag.clone()),
    ])
}

fn posting_rows(items: &[v1::Posting]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|p| {
            vec![
                p.name.trim_start_matches("postings/").to_string(),
                kind_label(p.kind).to_string(),
                p.title.clone(),
                p.enterprise_display_name.clone(),
                p.industry_code.clone(),
                how_much(p),
                posting_state(p.state).to_string(),
            ]
        })
        .collect();
    table::render(
        &["编号 ID", "类型 KIND", "标题 TITLE", "企业 FIRM", "行业 IND.", "数量/金额 QTY/AMOUNT", "状态 STATE"],
        &rows,
    )
}

fn match_json(m: &v1::Match) -> Value {
    json!({
        "name": m.name, "supply_posting": m.supply_posting, "demand_posting": m.demand_posting,
        "supplier_credit_code": m.supplier_credit_code, "supplier_display_name": m.supplier_display_name,
        "demander_credit_code": m.demander_credit_code, "demander_display_name": m.demander_display_name,
        "state": match_state(m.state).name(),
        "close_reason": MatchCloseReason::try_from(m.close_reason).unwrap_or(MatchCloseReason::Unspecified).name(),
        "amount_wan": m.amount_wan, "signed_date": m.signed_date, "broker": m.broker, "notes": m.notes,
        "score": m.score, "reasons": m.reasons, "supplier_in_zone": m.supplier_in_zone, "etag": m.etag,
        "events": m.events.iter().map(|e| json!({
            "state": match_state(e.state).name(), "date": e.date, "amount_wan": e.amount_wan,
            "close_reason": MatchCloseReason::try_from(e.close_reason).unwrap_or(MatchCloseReason::Unspecified).name(),
            "note": e.note, "actor": e.actor,
        })).collect::<Vec<_>>(),
    })
}

fn match_text(m: &v1::Match) -> String {
    let state = match_state(m.state);
    let mut out = table::render_pairs(&[
        ("对接 match", m.name.clone()),
        ("供方 supplier", format!("{} {}", m.supplier_credit_code, m.supplier_display_name)),
        ("需方 demander", format!("{} {}", m.demander_credit_code, m.demander_display_name)),
        ("供给 supply", m.supply_posting.clone()),
        ("需求 demand", m.demand_posting.clone()),
        ("状态 state", format!("{} {}", state.name(), state.label_zh())),
        (
            "签约 signed",
            if m.amount_wan > 0.0 { format!("{} 万元，{}", m.amount_wan, m.signed_date) } else { String::new() },
        ),
        ("经办 broker", m.broker.clone()),
        ("评分 score", format!("{:.1}  {}", m.score, m.reasons.join("；"))),
        ("备注 notes", m.notes.clone()),
        ("版本 etag", m.etag.clone()),
    ]);
    let rows: Vec<Vec<String>> = m
        .events
        .iter()
        .map(|e| {
            let s = match_state(e.state);
            let detail = match MatchCloseReason::try_from(e.close_reason) {
                Ok(r) if r != MatchCloseReason::Unspecified => r.name().to_string(),
                _ if e.amount_wan > 0.0 => format!("{} 万元", e.amount_wan),
                _ => String::new(),
            };
            vec![e.date.clone(), format!("{} {}", s.name(), s.label_zh()), detail, e.note.clone(), e.actor.clone()]
        })
        .collect();
    out.push('\n');
    out.push_str(&table::render(
        &["日期 DATE", "状态 STATE", "金额/原因 AMOUNT/REASON", "备注 NOTE", "经办 BY"],
        &rows,
    ));
    out
}

/// Runs `ladder posting …`.
pub async fn posting(cmd: PostingCommand) -> ExitCode {
    let args = match &cmd {
        PostingCommand::Add(a) => a.client.clone(),
        PostingCommand::Show { client, .. }
        | PostingCommand::List { client, .. }
        | PostingCommand::Close { client, .. } => client.clone(),
    };
    let json_out = args.json;
    let mut client = match client_for(&args).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let show = |p: &v1::Posting| {
        if json_out {
            println!("{}", posting_json(p));
        } else {
            print!("{}", posting_text(p));
        }
    };
    let result = match cmd {
        PostingCommand::Add(a) => {
            let AddPosting {
                credit_code,
                kind,
                title,
                description,
                industry,
                tags,
                segment,
                quantity,
                unit,
                amount,
                region,
                in_zone,
                from,
                until,
                alliance,
                list,
                ..
            } = *a;
            let Some(kind) = PostingKind::parse(&kind) else {
                return crate::cli::render::usage_error(format!("--kind {kind:?}: use supply (供给) or demand (需求)"));
            };
            let source_list = if list.trim().is_empty() {
                SourceList::Unspecified
            } else {
                match SourceList::parse(&list) {
                    Some(l) => l,
                    None => {
                        return crate::cli::render::usage_error(format!(
                            "--list {list:?}: use 需求清单, 供给清单, 采购清单 or 协作机会清单"
                        ))
                    }
                }
            };
            let p = v1::Posting {
                credit_code,
                kind: kind as i32,
                title,
                description,
                industry_code: industry,
                product_tags: tags,
                chain_segment: segment,
                quantity,
                unit,
                amount_wan: amount,
                region_code: region,
                in_zone,
                valid_from: from,
                valid_until: until,
                visibility_alliance_id: alliance,
                source_list: source_list as i32,
                ..Default::default()
            };
            client
                .create_posting(v1::CreatePostingRequest { posting: Some(p), ..Default::default() })
                .await
                .map(|r| show(r.get_ref()))
        }
        PostingCommand::Show { posting, .. } => {
            client.get_posting(v1::GetPostingRequest { name: posting_name(&posting) }).await.map(|r| show(r.get_ref()))
        }
        PostingCommand::Close { posting, reason, note, .. } => {
            let Some(reason) = PostingCloseReason::parse(&reason) else {
                return crate::cli::render::usage_error(format!(
                    "--reason {reason:?}: use FULFILLED, WITHDRAWN, MISTAKE or OTHER"
                ));
            };
            client
                .close_posting(v1::ClosePostingRequest {
                    name: posting_name(&posting),
                    reason: reason as i32,
                    note,
                    ..Default::default()
                })
                .await
                .map(|r| show(r.get_ref()))
        }
        PostingCommand::List { filter, limit, .. } => {
            let pages = collect_pages(limit, |page_token| {
                let mut c = client.clone();
                let request =
                    v1::ListPostingsRequest { filter: filter.clone(), page_size: limit.min(500) as i32, page_token };
                async move {
                    c.list_postings(request).await.map(|r| r.into_inner()).map(|r| (r.postings, r.next_page_token))
                }
            });
            let (all, more) = match pages.await {
                Ok(found) => found,
                Err(status) => return fail(json_out, &status),
            };
            if more {
                eprintln!("(the first {limit} shown; there are more: raise --limit or narrow --filter)");
            }
            if json_out {
                println!("{}", json!({ "postings": all.iter().map(posting_json).collect::<Vec<_>>() }));
            } else {
                print!("{}", posting_rows(&all));
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(status) => fail(json_out, &status),
    }
}

/// Runs `ladder match …`.
pub async fn matches(cmd: MatchCommand) -> ExitCode {
    let args = match &cmd {
        MatchCommand::Suggest { client, .. }
        | MatchCommand::Create { client, .. }
        | MatchCommand::Advance { client, .. }
        | MatchCommand::Show { client, .. }
        | MatchCommand::List { client, .. } => client.clone(),
    };
    let json_out = args.json;
    let mut client = match client_for(&args).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let show = |m: &v1::Match| {
        if json_out {
            println!("{}", match_json(m));
        } else {
            print!("{}", match_text(m));
        }
    };
    let result = match cmd {
        MatchCommand::Suggest { posting, limit, min_score, explain, .. } => client
            .suggest_matches(v1::SuggestMatchesRequest { posting: posting_name(&posting), page_size: limit, min_score })
            .await
            .map(|r| print_suggestions(&r.into_inner(), json_out, explain)),
        MatchCommand::Create { supply, demand, broker, notes, suggested, .. } => client
            .create_match(v1::CreateMatchRequest {
                r#match: Some(v1::Match {
                    supply_posting: posting_name(&supply),
                    demand_posting: posting_name(&demand),
                    broker,
                    notes,
                    origin: if suggested { v1::MatchOrigin::Suggested } else { v1::MatchOrigin::Manual } as i32,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .map(|r| show(r.get_ref())),
        MatchCommand::Advance { r#match, to, amount, reason, date, note, .. } => {
            let Some(state) = MatchState::parse(&to) else {
                return crate::cli::render::usage_error(format!(
                    "--to {to:?}: use CONTACTED, NEGOTIATING, SIGNED, DELIVERED or CLOSED"
                ));
            };
            let close_reason = if reason.trim().is_empty() {
                MatchCloseReason::Unspecified
            } else {
                match MatchCloseReason::parse(&reason) {
                    Some(r) => r,
                    None => {
                        return crate::cli::render::usage_error(format!(
                            "--reason {reason:?}: use NO_FIT, EXPIRED or WITHDRAWN"
                        ))
                    }
                }
            };
            client
                .advance_match(v1::AdvanceMatchRequest {
                    name: match_name(&r#match),
                    state: state as i32,
                    amount_wan: amount,
                    close_reason: close_reason as i32,
                    date,
                    note,
                    ..Default::default()
                })
                .await
                .map(|r| show(r.get_ref()))
        }
        MatchCommand::Show { r#match, .. } => {
            client.get_match(v1::GetMatchRequest { name: match_name(&r#match) }).await.map(|r| show(r.get_ref()))
        }
        MatchCommand::List { filter, limit, .. } => {
            let pages = collect_pages(limit, |page_token| {
                let mut c = client.clone();
                let request =
                    v1::ListMatchesRequest { filter: filter.clone(), page_size: limit.min(500) as i32, page_token };
                async move { c.list_matches(request).await.map(|r| r.into_inner()).map(|r| (r.matches, r.next_page_token)) }
            });
            let (all, more) = match pages.await {
                Ok(found) => found,
                Err(status) => return fail(json_out, &status),
            };
            if more {
                eprintln!("(the first {limit} shown; there are more: raise --limit or narrow --filter)");
            }
            if json_out {
                println!("{}", json!({ "matches": all.iter().map(match_json).collect::<Vec<_>>() }));
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|m| {
                        let s = match_state(m.state);
                        vec![
                            m.name.trim_start_matches("matches/").to_string(),
                            format!("{} {}", s.name(), s.label_zh()),
                            m.supplier_display_name.clone(),
                            m.demander_display_name.clone(),
                            if m.amount_wan > 0.0 { format!("{} 万元", m.amount_wan) } else { String::new() },
                            m.broker.clone(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table::render(
                        &["编号 ID", "状态 STATE", "供方 SUPPLIER", "需方 DEMANDER", "签约额 AMOUNT", "经办 BROKER"],
                        &rows
                    )
                );
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(status) => fail(json_out, &status),
    }
}

/// `INDUSTRY`, `KEYWORDS`, … for a `MatchFactor` number.
fn factor_name(f: i32) -> &'static str {
    v1::MatchFactor::try_from(f).map(|f| f.as_str_name().trim_start_matches("MATCH_FACTOR_")).unwrap_or("")
}

fn print_suggestions(r: &v1::SuggestMatchesResponse, json_out: bool, explain: bool) {
    if json_out {
        println!(
            "{}",
            json!({
                "posting": r.posting.as_ref().map(posting_json),
                "candidates_examined": r.candidates_examined,
                "suggestions": r.suggestions.iter().map(|s| json!({
                    "posting": s.posting.as_ref().map(posting_json), "score": s.score, "reasons": s.reasons,
                    "existing_match": s.existing_match,
                    "factors": s.factors.iter().map(|f| json!({
                        "factor": factor_name(f.factor), "weight": f.weight, "value": f.value,
                        "points": f.points, "reason": f.reason,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        );
        return;
    }
    if let Some(p) = &r.posting {
        println!("{} {}：{}（{}）\n", kind_label(p.kind), p.name, p.title, p.enterprise_display_name);
    }
    let rows: Vec<Vec<String>> = r
        .suggestions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let p = s.posting.clone().unwrap_or_default();
            let mut reasons = s.reasons.join("；");
            if !s.existing_match.is_empty() {
                reasons = format!("[已有对接 {}] {reasons}", s.existing_match);
            }
            vec![
                (i + 1).to_string(),
                format!("{:.1}", s.score),
                p.name.trim_start_matches("postings/").to_string(),
                p.enterprise_display_name.clone(),
                p.title.clone(),
                reasons,
            ]
        })
        .collect();
    print!("{}", table::render(&["序 #", "得分 SCORE", "供需 POSTING", "企业 FIRM", "标题 TITLE", "理由 WHY"], &rows));
    if explain {
        for (i, s) in r.suggestions.iter().enumerate() {
            println!("\n#{} {:.1}", i + 1, s.score);
            let rows: Vec<Vec<String>> = s
                .factors
                .iter()
                .map(|f| {
                    let name = factor_name(f.factor).to_string();
                    vec![
                        name,
                        format!("{:.0}", f.weight),
                        format!("{:.2}", f.value),
                        format!("{:.1}", f.points),
                        f.reason.clone(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table::render(&["因素 FACTOR", "权重 WEIGHT", "取值 VALUE", "得分 POINTS", "理由 REASON"], &rows)
            );
        }
    }
    println!("\n{} candidates examined", r.candidates_examined);
}

/// Runs `ladder map`.
pub async fn draw_map(a: MapArgs) -> ExitCode {
    let mut client = match client_for(&a.client).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let state = match a.state.trim().to_ascii_uppercase().as_str() {
        "OPEN" => v1::PostingState::Open,
        "CLOSED" => v1::PostingState::Closed,
        "EXPIRED" => v1::PostingState::Expired,
        other => return crate::cli::render::usage_error(format!("--state {other:?}: use OPEN, CLOSED or EXPIRED")),
    };
    let request = v1::GetSupplyDemandMapRequest {
        alliance_id: a.alliance.clone(),
        industry_code: a.industry.clone(),
        in_zone: a.in_zone,
        state: state as i32,
        include_closed_matches: a.closed_matches,
        max_firms: a.max_firms,
        level: match a.level {
            MapLevelArg::Auto => v1::MapLevel::Auto,
            MapLevelArg::Firm => v1::MapLevel::Firm,
            MapLevelArg::Category => v1::MapLevel::Category,
        } as i32,
    };
    let graph = match client.get_supply_demand_map(request).await {
        Ok(r) => r.into_inner(),
        Err(status) => return fail(a.client.json, &status),
    };
    let mut title = String::from("供需图谱");
    for (label, value) in [("联盟", &a.alliance), ("行业", &a.industry)] {
        if !value.is_empty() {
            title.push_str(&format!(" · {label} {value}"));
        }
    }
    // The global --json means JSON here too.
    let format = if a.client.json { MapFormat::Json } else { a.format };
    let text = match format {
        MapFormat::Svg => map::to_svg(&graph, &title),
        MapFormat::Dot => map::to_dot(&graph, &title),
        MapFormat::Json => format!("{}\n", map::to_json(&graph)),
    };
    match &a.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            let firms = graph.nodes.iter().filter(|n| n.kind == v1::MapNodeKind::Firm as i32).count();
            if graph.level == v1::MapLevel::Category as i32 {
                eprintln!(
                    "wrote {} (category overview: {} categories, {} firms{})",
                    path.display(),
                    graph.nodes.len(),
                    graph.qualifying_firms,
                    if matches!(a.level, MapLevelArg::Auto) {
                        format!(
                            "; more than {} firms for a firm-level map: narrow it with --alliance or --industry, \
                             or ask for --level firm",
                            a.max_firms
                        )
                    } else {
                        String::new()
                    }
                );
            } else {
                eprintln!(
                    "wrote {} ({firms} firms, {} nodes, {} edges{})",
                    path.display(),
                    graph.nodes.len(),
                    graph.edges.len(),
                    if graph.truncated { ", truncated: narrow it with --alliance or --industry" } else { "" }
                );
            }
        }
        None => {
            use std::io::Write as _;
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
    }
    ExitCode::SUCCESS
}

/// Runs `ladder gaps`.
pub async fn gaps(a: GapsArgs) -> ExitCode {
    let level = match a.level.trim().to_ascii_lowercase().as_str() {
        "class" | "小类" => v1::CategoryLevel::Class,
        "group" | "中类" => v1::CategoryLevel::Group,
        "division" | "大类" => v1::CategoryLevel::Division,
        other => return crate::cli::render::usage_error(format!("--level {other:?}: use class, group or division")),
    };
    let mut client = match client_for(&a.client).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let request = v1::ListChainGapsRequest {
        level: level as i32,
        alliance_id: a.alliance,
        industry_code: a.industry,
        include_covered: a.all,
    };
    let gaps = match client.list_chain_gaps(request).await {
        Ok(r) => r.into_inner().gaps,
        Err(status) => return fail(a.client.json, &status),
    };
    if a.client.json {
        let items: Vec<Value> = gaps
            .iter()
            .map(|g| {
                json!({
                    "industry_code": g.industry_code, "industry_name": g.industry_name,
                    "open_demands": g.open_demands, "open_demand_amount_wan": g.open_demand_amount_wan,
                    "in_zone_supplies": g.in_zone_supplies, "out_of_zone_supplies": g.out_of_zone_supplies,
                    "chain_segments": g.chain_segments,
                    "demanding_firms": g.demanding_firms.iter().map(|f| json!({
                        "credit_code": f.credit_code, "display_name": f.display_name, "postings": f.postings,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", json!({ "gaps": items }));
        return ExitCode::SUCCESS;
    }
    let rows: Vec<Vec<String>> = gaps
        .iter()
        .map(|g| {
            vec![
                if g.in_zone_supplies == 0 { "缺链".into() } else { String::new() },
                format!("{} {}", g.industry_code, g.industry_name),
                g.open_demands.to_string(),
                if g.open_demand_amount_wan > 0.0 { format!("{}", g.open_demand_amount_wan) } else { String::new() },
                g.in_zone_supplies.to_string(),
                g.out_of_zone_supplies.to_string(),
                g.chain_segments.join("、"),
                render::names_cell(g.demanding_firms.iter().map(|f| f.display_name.as_str())),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "缺链 GAP",
                "类别 CATEGORY",
                "需求数 DEMANDS",
                "需求额(万元) AMOUNT",
                "园区内供给 IN-ZONE",
                "园区外供给 OUTSIDE",
                "环节 SEGMENT",
                "需求企业 FIRMS"
            ],
            &rows
        )
    );
    if gaps.is_empty() {
        println!("no chain gaps: every category with open demand has in-zone supply");
    }
    ExitCode::SUCCESS
}

/// Runs `ladder sourcing`.
pub async fn sourcing(from: String, to: String, args: ClientArgs) -> ExitCode {
    let mut client = match client_for(&args).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let r = match client.get_sourcing_rate(v1::GetSourcingRateRequest { start_date: from, end_date: to }).await {
        Ok(r) => r.into_inner(),
        Err(status) => return fail(args.json, &status),
    };
    let figures = |f: Option<&v1::SourcingFigures>| {
        let f = f.cloned().unwrap_or_default();
        json!({ "signed_deals": f.signed_deals, "signed_amount_wan": f.signed_amount_wan,
                "in_zone_amount_wan": f.in_zone_amount_wan, "rate": f.rate })
    };
    if args.json {
        println!(
            "{}",
            json!({
                "start_date": r.start_date, "end_date": r.end_date, "zone": figures(r.zone.as_ref()),
                "alliances": r.alliances.iter().map(|a| json!({
                    "alliance_id": a.alliance_id, "display_name": a.display_name, "figures": figures(a.figures.as_ref()),
                })).collect::<Vec<_>>(),
            })
        );
        return ExitCode::SUCCESS;
    }
    let row = |label: String, f: Option<&v1::SourcingFigures>| {
        let f = f.cloned().unwrap_or_default();
        vec![
            label,
            f.signed_deals.to_string(),
            format!("{}", f.signed_amount_wan),
            format!("{}", f.in_zone_amount_wan),
            format!("{:.1}%", f.rate * 100.0),
        ]
    };
    let mut rows = vec![row("全园区 zone".into(), r.zone.as_ref())];
    rows.extend(r.alliances.iter().map(|a| row(a.display_name.clone(), a.figures.as_ref())));
    println!("本地配套率 local sourcing rate, {} – {}", r.start_date, r.end_date);
    print!(
        "{}",
        table::render(
            &["范围 SCOPE", "签约数 DEALS", "签约额(万元) AMOUNT", "园区内供给(万元) IN-ZONE", "本地配套率 LOCAL RATE"],
            &rows
        )
    );
    ExitCode::SUCCESS
}
