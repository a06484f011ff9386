//! The cultivation ladder for staff: `ladder designation …`, `ladder stage`,
//! `ladder indicators …`, `ladder funnel`, `ladder candidates`, `ladder expiring`.
//! Stage and kind names are shown in Chinese; `--json` gives the English names.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{json, Value};

use crate::cli::client::{fail, Intercepted};
use crate::cli::{table, ClientArgs};
use crate::domain::ladder::{DesignationKind, Stage};
use crate::pb::v1;
use crate::pb::v1::cultivation_service_client::CultivationServiceClient;

/// `ladder designation …`
#[derive(Debug, Subcommand)]
pub enum DesignationCommand {
    /// Record a designation a firm holds.
    Add {
        /// The firm's credit code.
        credit_code: String,
        #[arg(long, help = kind_help("认定类型 kind"))]
        kind: String,
        /// First day it counts, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day it counts (default: the kind's usual validity).
        #[arg(long, default_value = "")]
        until: String,
        /// APPLYING, PUBLIC_NOTICE, GRANTED, UNDER_REVIEW.
        #[arg(long, default_value = "GRANTED")]
        status: String,
        /// Certificate or registration number.
        #[arg(long, default_value = "")]
        certificate: String,
        /// Issuing authority.
        #[arg(long, default_value = "")]
        authority: String,
        /// Batch or year, e.g. 2024年第一批.
        #[arg(long, default_value = "")]
        batch: String,
        /// national, provincial, municipal, district or other.
        #[arg(long, default_value = "")]
        level: String,
        /// Evidence: document number or link.
        #[arg(long, default_value = "")]
        evidence: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List designations of a firm (or of every firm).
    List {
        /// The firm's credit code (all firms when omitted).
        credit_code: Option<String>,
        #[arg(long, help = kind_help("只列此类 only this kind"))]
        kind: Option<String>,
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revoke a designation (撤销).
    Revoke {
        /// The firm's credit code.
        credit_code: String,
        /// The designation id (from `designation list`).
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// First day it no longer counts (default today).
        #[arg(long, default_value = "")]
        date: String,
        /// Re-application barred until this date.
        #[arg(long, default_value = "")]
        barred_until: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Import an official list (XLSX or CSV, by credit code or company
    /// name): a dry run by default, `--apply` records the matched rows.
    Import(crate::cli::import::ImportArgs),
}

/// `ladder indicators …`
#[derive(Debug, Subcommand)]
pub enum IndicatorsCommand {
    /// Import a year's figures for many firms from XLSX or CSV (by credit
    /// code or company name): a dry run by default, `--apply` writes.
    Import(crate::cli::import::IndicatorsImportArgs),
    /// Write a firm's figures for a year (万元, people, percent); only the
    /// figures given change.
    Set {
        /// The firm's credit code.
        credit_code: String,
        /// The year.
        year: i32,
        /// 营业收入, 万元.
        #[arg(long)]
        revenue: Option<f64>,
        /// 主营业务收入, 万元.
        #[arg(long)]
        main_revenue: Option<f64>,
        /// 从业人员.
        #[arg(long)]
        employees: Option<i64>,
        /// 科技人员.
        #[arg(long)]
        tech_staff: Option<i64>,
        /// 研发费用, 万元.
        #[arg(long)]
        rd: Option<f64>,
        /// 境内研发费用占比, percent.
        #[arg(long)]
        rd_domestic_share: Option<f64>,
        /// 高新技术产品收入, 万元.
        #[arg(long)]
        high_tech_revenue: Option<f64>,
        /// 资产总额, 万元.
        #[arg(long)]
        assets: Option<f64>,
        /// 负债总额, 万元.
        #[arg(long)]
        liabilities: Option<f64>,
        /// 股权融资, 万元.
        #[arg(long)]
        financing: Option<f64>,
        /// 估值, 万元.
        #[arg(long)]
        valuation: Option<f64>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a firm's figures, newest year first.
    List {
        /// The firm's credit code.
        credit_code: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn stage_label(v: i32) -> String {
    let stage = Stage::of(v);
    stage.label_zh().to_string()
}

fn kind_label(v: i32) -> &'static str {
    DesignationKind::try_from(v).unwrap_or(DesignationKind::Unspecified).label_zh()
}

fn kind_name(v: i32) -> &'static str {
    DesignationKind::try_from(v).unwrap_or(DesignationKind::Unspecified).name()
}

fn status_name(v: i32) -> &'static str {
    v1::DesignationStatus::try_from(v).map(|s| s.as_str_name()).unwrap_or("").trim_start_matches("DESIGNATION_STATUS_")
}

fn designation_json(d: &v1::Designation) -> Value {
    json!({
        "name": d.name, "kind": kind_name(d.kind), "stage": Stage::of(d.stage).proto_name(),
        "status": status_name(d.status), "certificate_number": d.certificate_number, "authority": d.authority,
        "batch": d.batch, "issued_date": d.issued_date, "valid_from": d.valid_from, "valid_until": d.valid_until,
        "ended_date": d.ended_date, "end_reason": d.end_reason, "barred_until": d.barred_until,
        "evidence": d.evidence, "source": d.source, "recorded_by": d.recorded_by, "ended_by": d.ended_by,
        "corrected": d.corrected, "etag": d.etag,
        "level": v1::IssuingLevel::try_from(d.level).map(|l| l.as_str_name()).unwrap_or("").trim_start_matches("ISSUING_LEVEL_"),
    })
}

fn designation_rows(items: &[v1::Designation]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|d| {
            vec![
                d.name.rsplit('/').next().unwrap_or("").to_string(),
                d.name.trim_start_matches("enterprises/").split('/').next().unwrap_or("").to_string(),
                kind_label(d.kind).to_string(),
                stage_label(d.stage),
                status_name(d.status).to_string(),
                d.valid_from.clone(),
                if d.ended_date.is_empty() { d.valid_until.clone() } else { format!("ended {}", d.ended_date) },
                d.certificate_number.clone(),
            ]
        })
        .collect();
    table::render(
        &[
            "编号 ID",
            "信用代码 CODE",
            "类型 KIND",
            "梯度 STAGE",
            "状态 STATUS",
            "起 FROM",
            "止 UNTIL",
            "证书 CERTIFICATE",
        ],
        &rows,
    )
}

async fn client_for(args: &ClientArgs) -> Result<CultivationServiceClient<Intercepted>, ExitCode> {
    crate::cli::client::connect_or_exit(args).await.map(CultivationServiceClient::new)
}

/// The `--help` text of a designation-kind option: the official Chinese
/// names with their short forms, then the English codes.
pub fn kind_help(what: &str) -> String {
    format!(
        "{what}: 官方名称或简称 (official name or short form): {}; or the code: {}",
        DesignationKind::names_zh_listing(),
        english_kinds()
    )
}

fn english_kinds() -> String {
    DesignationKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
}

pub(crate) fn parse_kind(value: &str) -> Result<DesignationKind, String> {
    DesignationKind::parse(value).ok_or_else(|| {
        format!(
            "{value:?} is not a designation kind. 认定类型 (official name or short form): {}; or the code: {}",
            DesignationKind::names_zh_listing(),
            english_kinds()
        )
    })
}

fn parse_status(value: &str) -> Result<i32, String> {
    let upper = value.trim().to_ascii_uppercase();
    let full = if upper.starts_with("DESIGNATION_STATUS_") { upper } else { format!("DESIGNATION_STATUS_{upper}") };
    v1::DesignationStatus::from_str_name(&full).map(|s| s as i32).ok_or_else(|| {
        format!("{value:?} is not a status (APPLYING, PUBLIC_NOTICE, GRANTED, UNDER_REVIEW, LAPSED, REVOKED)")
    })
}

/// Runs `ladder designation …`.
pub async fn designation(cmd: DesignationCommand) -> ExitCode {
    let cmd = match cmd {
        DesignationCommand::Import(args) => return crate::cli::import::import(args).await,
        other => other,
    };
    let args = match &cmd {
        DesignationCommand::Add { client, .. }
        | DesignationCommand::List { client, .. }
        | DesignationCommand::Revoke { client, .. } => client.clone(),
        DesignationCommand::Import(_) => unreachable!("imports are handled above"),
    };
    let json_out = args.json;
    let mut client = match client_for(&args).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let show = |d: &v1::Designation| {
        if json_out {
            println!("{}", designation_json(d));
        } else {
            print!("{}", designation_rows(std::slice::from_ref(d)));
        }
    };
    let result = match cmd {
        DesignationCommand::Import(_) => unreachable!("imports are handled above"),
        DesignationCommand::Add {
            credit_code,
            kind,
            from,
            until,
            status,
            certificate,
            authority,
            batch,
            level,
            evidence,
            ..
        } => {
            let kind = match parse_kind(&kind) {
                Ok(k) => k,
                Err(e) => return crate::cli::render::usage_error(e),
            };
            let status = match parse_status(&status) {
                Ok(s) => s,
                Err(e) => return crate::cli::render::usage_error(e),
            };
            let level = match crate::cli::import::issuing_level(&level) {
                Ok(l) => l,
                Err(e) => return crate::cli::render::usage_error(e),
            };
            client
                .create_designation(v1::CreateDesignationRequest {
                    parent: format!("enterprises/{}", credit_code.trim()),
                    designation: Some(v1::Designation {
                        kind: kind as i32,
                        status,
                        valid_from: from,
                        valid_until: until,
                        certificate_number: certificate,
                        authority,
                        batch,
                        level,
                        evidence,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
                .map(|r| show(r.get_ref()))
        }
        DesignationCommand::List { credit_code, kind, status, .. } => {
            let mut conditions = Vec::new();
            if let Some(k) = kind {
                match parse_kind(&k) {
                    Ok(k) => conditions.push(format!("kind = {}", k.name())),
                    Err(e) => return crate::cli::render::usage_error(e),
                }
            }
            if let Some(s) = status {
                conditions.push(format!("status = {}", s.trim()));
            }
            let mut request = v1::ListDesignationsRequest {
                parent: format!("enterprises/{}", credit_code.as_deref().map_or("-", str::trim)),
                filter: conditions.join(" AND "),
                page_size: 1000,
                page_token: String::new(),
            };
            let mut all = Vec::new();
            loop {
                match client.list_designations(request.clone()).await {
                    Ok(r) => {
                        let r = r.into_inner();
                        all.extend(r.designations);
                        if r.next_page_token.is_empty() {
                            break;
                        }
                        request.page_token = r.next_page_token;
                    }
                    Err(status) => return fail(json_out, &status),
                }
            }
            if json_out {
                println!("{}", json!({ "designations": all.iter().map(designation_json).collect::<Vec<_>>() }));
            } else {
                print!("{}", designation_rows(&all));
            }
            Ok(())
        }
        DesignationCommand::Revoke { credit_code, id, reason, date, barred_until, .. } => client
            .revoke_designation(v1::RevokeDesignationRequest {
                name: format!("enterprises/{}/designations/{}", credit_code.trim(), id.trim()),
                ended_date: date,
                reason,
                barred_until,
                ..Default::default()
            })
            .await
            .map(|r| show(r.get_ref())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(status) => fail(json_out, &status),
    }
}

/// Runs `ladder stage CODE`.
pub async fn stage(credit_code: String, as_of: String, args: ClientArgs) -> ExitCode {
    let mut client = match client_for(&args).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let request = v1::GetEnterpriseStageRequest { name: format!("enterprises/{}", credit_code.trim()), as_of };
    let s = match client.get_enterprise_stage(request).await {
        Ok(r) => r.into_inner(),
        Err(status) => return fail(args.json, &status),
    };
    let cause = |c: i32| {
        v1::StageChangeCause::try_from(c)
            .map(|c| c.as_str_name())
            .unwrap_or("")
            .trim_start_matches("STAGE_CHANGE_CAUSE_")
    };
    if args.json {
        let history: Vec<Value> = s
            .history
            .iter()
            .map(|c| {
                json!({"date": c.date, "from": Stage::of(c.from_stage).proto_name(), "to": Stage::of(c.to_stage).proto_name(),
                       "cause": cause(c.cause), "designation": c.designation, "kind": kind_name(c.designation_kind),
                       "actor": c.actor, "reason": c.reason})
            })
            .collect();
        let spells: Vec<Value> = s
            .spells
            .iter()
            .map(|p| json!({"stage": Stage::of(p.stage).proto_name(), "entered": p.entered, "exited": p.exited, "days": p.days}))
            .collect();
        println!(
            "{}",
            json!({"enterprise": s.enterprise, "as_of": s.as_of, "stage": Stage::of(s.stage).proto_name(), "stage_since": s.stage_since,
                   "valid_designations": s.valid_designations.iter().map(designation_json).collect::<Vec<_>>(),
                   "history": history, "spells": spells})
        );
        return ExitCode::SUCCESS;
    }
    let since = if s.stage_since.is_empty() { String::new() } else { format!(" since {}", s.stage_since) };
    println!("{} on {}: {} {}{since}", s.enterprise, s.as_of, stage_label(s.stage), Stage::of(s.stage).proto_name());
    if !s.valid_designations.is_empty() {
        println!("\n有效认定 valid designations");
        print!("{}", designation_rows(&s.valid_designations));
    }
    let rows: Vec<Vec<String>> = s
        .history
        .iter()
        .map(|c| {
            vec![
                c.date.clone(),
                format!("{} → {}", stage_label(c.from_stage), stage_label(c.to_stage)),
                cause(c.cause).to_string(),
                kind_label(c.designation_kind).to_string(),
                c.actor.clone(),
                c.reason.clone(),
            ]
        })
        .collect();
    println!("\n梯度变化 history");
    print!(
        "{}",
        table::render(&["日期 DATE", "梯度 STAGE", "起因 CAUSE", "认定 DESIGNATION", "经办 BY", "说明 REASON"], &rows)
    );
    let spells: Vec<Vec<String>> = s
        .spells
        .iter()
        .map(|p| vec![stage_label(p.stage), p.entered.clone(), p.exited.clone(), p.days.to_string()])
        .collect();
    println!("\n各阶段用时 time per stage");
    print!("{}", table::render(&["梯度 STAGE", "进入 ENTERED", "离开 EXITED", "天数 DAYS"], &spells));
    ExitCode::SUCCESS
}

/// Runs `ladder indicators …`.
pub async fn indicators(cmd: IndicatorsCommand) -> ExitCode {
    let cmd = match cmd {
        IndicatorsCommand::Import(args) => return crate::cli::import::import_indicators(args).await,
        other => other,
    };
    let args = match &cmd {
        IndicatorsCommand::Set { client, .. } | IndicatorsCommand::List { client, .. } => client.clone(),
        IndicatorsCommand::Import(_) => unreachable!("imports are handled above"),
    };
    let mut client = match client_for(&args).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let result = match cmd {
        IndicatorsCommand::Import(_) => unreachable!("imports are handled above"),
        IndicatorsCommand::Set {
            credit_code,
            year,
            revenue,
            main_revenue,
            employees,
            tech_staff,
            rd,
            rd_domestic_share,
            high_tech_revenue,
            assets,
            liabilities,
            financing,
            valuation,
            ..
        } => {
            let figures = v1::AnnualIndicators {
                name: format!("enterprises/{}/indicators/{year}", credit_code.trim()),
                revenue,
                main_business_revenue: main_revenue,
                employees,
                tech_staff,
                rd_expense: rd,
                rd_domestic_share,
                high_tech_revenue,
                total_assets: assets,
                total_liabilities: liabilities,
                equity_financing: financing,
                valuation,
                ..Default::default()
            };
            client
                .update_annual_indicators(v1::UpdateAnnualIndicatorsRequest {
                    indicators: Some(figures),
                    ..Default::default()
                })
                .await
                .map(|r| vec![r.into_inner()])
        }
        IndicatorsCommand::List { credit_code, .. } => client
            .list_annual_indicators(v1::ListAnnualIndicatorsRequest {
                parent: format!("enterprises/{}", credit_code.trim()),
            })
            .await
            .map(|r| r.into_inner().indicators),
    };
    let years = match result {
        Ok(y) => y,
        Err(status) => return fail(args.json, &status),
    };
    let f = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
    let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    if args.json {
        let out: Vec<Value> = years
            .iter()
            .map(|i| {
                json!({"name": i.name, "year": i.year, "revenue": i.revenue, "main_business_revenue": i.main_business_revenue,
                       "employees": i.employees, "tech_staff": i.tech_staff, "rd_expense": i.rd_expense,
                       "rd_domestic_share": i.rd_domestic_share, "high_tech_revenue": i.high_tech_revenue,
                       "total_assets": i.total_assets, "total_liabilities": i.total_liabilities,
                       "equity_financing": i.equity_financing, "valuation": i.valuation, "etag": i.etag})
            })
            .collect();
        println!("{}", json!({ "indicators": out }));
    } else {
        let rows: Vec<Vec<String>> = years
            .iter()
            .map(|i| {
                vec![
                    i.year.to_string(),
                    f(i.revenue),
                    f(i.main_business_revenue),
                    n(i.employees),
                    n(i.tech_staff),
                    f(i.rd_expense),
                    f(i.high_tech_revenue),
                    f(i.total_assets),
                    f(i.total_liabilities),
                ]
            })
            .collect();
        print!(
            "{}",
            table::render(
                &[
                    "年度 YEAR",
                    "营收 REVENUE",
                    "主营 MAIN",
                    "人员 STAFF",
                    "科技 TECH",
                    "研发 R&D",
                    "高新 HT REV",
                    "资产 ASSETS",
                    "负债 DEBT"
                ],
                &rows
            )
        );
    }
    ExitCode::SUCCESS
}

/// Runs `ladder funnel`.
pub async fn funnel(as_of: String, filter: String, args: ClientArgs) -> ExitCode {
    let mut client = match client_for(&args).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let f = match client.get_funnel(v1::GetFunnelRequest { as_of, filter }).await {
        Ok(r) => r.into_inner(),
        Err(status) => return fail(args.json, &status),
    };
    if args.json {
        println!(
            "{}",
            json!({"as_of": f.as_of, "firms": f.firms,
                   "by_stage": f.by_stage.iter().map(|c| json!({"stage": Stage::of(c.stage).proto_name(), "count": c.count})).collect::<Vec<_>>(),
                   "by_kind": f.by_kind.iter().map(|c| json!({"kind": kind_name(c.kind), "count": c.count})).collect::<Vec<_>>()})
        );
        return ExitCode::SUCCESS;
    }
    println!("{} firms on {}", f.firms, f.as_of);
    let rows: Vec<Vec<String>> = f
        .by_stage
        .iter()
        .rev()
        .map(|c| vec![c.label.clone(), c.count.to_string(), "█".repeat(bar(c.count, f.firms))])
        .collect();
    print!("{}", table::render(&["梯度 STAGE", "企业数 FIRMS", "分布 SHARE"], &rows));
    let kinds: Vec<Vec<String>> =
        f.by_kind.iter().filter(|c| c.count > 0).map(|c| vec![c.label.clone(), c.count.to_string()]).collect();
    println!();
    print!("{}", table::render(&["认定 DESIGNATION", "企业数 FIRMS"], &kinds));
    ExitCode::SUCCESS
}

fn bar(count: i32, total: i32) -> usize {
    if total <= 0 {
        return 0;
    }
    usize::try_from(i64::from(count) * 40 / i64::from(total)).unwrap_or(0)
}

/// Runs `ladder candidates`.
pub async fn candidates(
    target: String,
    year: i32,
    filter: String,
    include_missed: bool,
    limit: i32,
    args: ClientArgs,
) -> ExitCode {
    let target = match parse_kind(&target) {
        Ok(k) => k,
        Err(e) => return crate::cli::render::usage_error(e),
    };
    let mut client = match client_for(&args).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let request = v1::ListCandidatesRequest { target: target as i32, year, filter, include_missed, page_size: limit };
    let r = match client.list_candidates(request).await {
        Ok(r) => r.into_inner(),
        Err(status) => return fail(args.json, &status),
    };
    let verdict = |s: i32| match v1::CriterionStatus::try_from(s) {
        Ok(v1::CriterionStatus::Met) => "met",
        Ok(v1::CriterionStatus::Missed) => "missed",
        _ => "unknown",
    };
    if args.json {
        let out: Vec<Value> = r
            .candidates
            .iter()
            .map(|c| {
                json!({"enterprise": c.enterprise, "display_name": c.display_name, "stage": Stage::of(c.stage).proto_name(),
                       "met": c.met, "missed": c.missed, "unknown": c.unknown,
                       "criteria": c.criteria.iter().map(|k| json!({"key": k.key, "description": k.description, "value": k.value,
                                   "threshold": k.threshold, "status": verdict(k.status)})).collect::<Vec<_>>()})
            })
            .collect();
        println!(
            "{}",
            json!({"target": kind_name(r.target), "year": r.year, "policy_version": r.policy_version, "candidates": out})
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "{} candidates for {} on {} figures (policy {})",
        r.candidates.len(),
        kind_label(r.target),
        r.year,
        r.policy_version
    );
    if crate::cli::export::active() {
        // In a workbook, one sheet: a row per firm and criterion, with the
        // firm on every row so it can be filtered and sorted.
        let rows: Vec<Vec<String>> = r
            .candidates
            .iter()
            .flat_map(|c| {
                c.criteria.iter().map(move |k| {
                    vec![
                        c.enterprise.trim_start_matches("enterprises/").to_string(),
                        c.display_name.clone(),
                        stage_label(c.stage).to_string(),
                        format!("{}/{}/{}", c.met, c.missed, c.unknown),
                        k.description.clone(),
                        k.value.clone(),
                        k.threshold.clone(),
                        match verdict(k.status) {
                            "met" => "达标 met",
                            "missed" => "未达标 missed",
                            _ => "待补数据 unknown",
                        }
                        .to_string(),
                    ]
                })
            })
            .collect();
        let header = [
            "信用代码 CODE",
            "名称 NAME",
            "梯度 STAGE",
            "达标/未达/未知 MET/MISSED/UNKNOWN",
            "条件 CRITERION",
            "数值 VALUE",
            "门槛 THRESHOLD",
            "结论 STATUS",
        ];
        print!("{}", table::render(&header, &rows));
        return ExitCode::SUCCESS;
    }
    for c in &r.candidates {
        println!(
            "\n{} {} ({}): {} met, {} missed, {} unknown",
            c.enterprise,
            c.display_name,
            stage_label(c.stage),
            c.met,
            c.missed,
            c.unknown
        );
        let rows: Vec<Vec<String>> = c
            .criteria
            .iter()
            .map(|k| vec![k.description.clone(), k.value.clone(), k.threshold.clone(), verdict(k.status).to_string()])
            .collect();
        print!("{}", table::render(&["条件 CRITERION", "数值 VALUE", "门槛 THRESHOLD", "结论 STATUS"], &rows));
    }
    ExitCode::SUCCESS
}

/// Runs `ladder expiring`.
pub async fn expiring(days: i32, kind: Option<String>, args: ClientArgs) -> ExitCode {
    let kind = match kind.as_deref().map(parse_kind).transpose() {
        Ok(k) => k.map_or(0, |k| k as i32),
        Err(e) => return crate::cli::render::usage_error(e),
    };
    let mut client = match client_for(&args).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let r = match client
        .list_expiring_designations(v1::ListExpiringDesignationsRequest { within_days: days, kind })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(status) => return fail(args.json, &status),
    };
    if args.json {
        let out: Vec<Value> = r
            .designations
            .iter()
            .zip(&r.display_names)
            .map(|(d, name)| {
                let mut v = designation_json(d);
                v["display_name"] = json!(name);
                v
            })
            .collect();
        println!("{}", json!({ "designations": out }));
        return ExitCode::SUCCESS;
    }
    let rows: Vec<Vec<String>> = r
        .designations
        .iter()
        .zip(&r.display_names)
        .map(|(d, name)| {
            vec![
                d.valid_until.clone(),
                name.clone(),
                kind_label(d.kind).to_string(),
                d.certificate_number.clone(),
                d.name.trim_start_matches("enterprises/").split('/').next().unwrap_or("").to_string(),
                d.name.rsplit('/').next().unwrap_or("").to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(&["到期 ENDS", "名称 NAME", "类型 KIND", "证书 CERTIFICATE", "信用代码 CODE", "编号 ID"], &rows)
    );
    ExitCode::SUCCESS
}
