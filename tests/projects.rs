//! The project library (招商项目库) through a real server: ten projects across
//! the pipeline, a year's plan and figures, and every report checked against
//! a hand count; the bad paths (each refused with its reason, nothing
//! written); targets; the enterprise-delete guard; the index after a restart.

mod common;

use common::{code, create, expect_error, firm, TestServer};
use ladder::config::{Config, Zone};
use ladder::pb::v1;
use ladder::pb::v1::project_service_client::ProjectServiceClient;
use ladder::pb::v1::supply_demand_service_client::SupplyDemandServiceClient;
use tonic::transport::Channel;
use tonic::Code;

use v1::{ProjectEventKind as K, ProjectStage as S};

type Client = ProjectServiceClient<Channel>;

fn config() -> Config {
    let zone = |id: &str, name: &str, department: &str| Zone {
        id: id.into(),
        name: name.into(),
        department: department.into(),
    };
    let mut config = Config {
        zones: vec![zone("east", "东区片区", "招商一局"), zone("west", "西区片区", "招商二局")],
        ..Default::default()
    };
    config.projects.stall_days_by_stage.insert("投产".into(), 100_000);
    config
}

fn today() -> String {
    ladder::domain::time::Date::today().to_string()
}

async fn client(server: &TestServer) -> Client {
    ProjectServiceClient::new(server.channel().await)
}

fn project(name: &str, zone: &str, level: v1::KeyLevel, lead_date: &str) -> v1::Project {
    v1::Project {
        display_name: name.into(),
        investor_name: format!("{name}投资方"),
        industry_code: "C3841".into(),
        planned_investment_wan: 100_000.0,
        source_region_code: "110105".into(),
        promotion_zone: zone.into(),
        key_level: level as i32,
        lead_source: v1::LeadSource::PromotionEvent as i32,
        lead_date: lead_date.into(),
        ..Default::default()
    }
}

async fn add(c: &mut Client, p: v1::Project) -> Result<v1::Project, tonic::Status> {
    c.create_project(v1::CreateProjectRequest { project: Some(p), ..Default::default() }).await.map(|r| r.into_inner())
}

fn ev(kind: K, stage: S, date: &str) -> v1::ProjectEvent {
    v1::ProjectEvent { kind: kind as i32, stage: stage as i32, date: date.into(), ..Default::default() }
}

async fn record(c: &mut Client, name: &str, event: v1::ProjectEvent) -> Result<v1::Project, tonic::Status> {
    c.record_project_event(v1::RecordProjectEventRequest {
        name: name.into(),
        event: Some(event),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

/// Steps through `steps` (stage, date); SIGNED takes `amount`, REGISTERED
/// links firm 2.
async fn steps(c: &mut Client, name: &str, steps: &[(S, &str)], amount: f64) -> v1::Project {
    let mut last = None;
    for (stage, date) in steps {
        let mut e = ev(K::Step, *stage, date);
        if *stage == S::Signed {
            e.amount_wan = amount;
        }
        if *stage == S::Registered {
            e.enterprise = format!("enterprises/{}", code(2));
        }
        last = Some(record(c, name, e).await.unwrap_or_else(|s| panic!("{name} {stage:?}: {s:?}")));
    }
    last.expect("steps")
}

async fn figures(c: &mut Client, name: &str, plan: f64, months: &[(i32, f64)], dates: [&str; 3]) {
    c.update_project_investment(v1::UpdateProjectInvestmentRequest {
        investment: Some(v1::ProjectInvestment {
            name: format!("{name}/investments/2025"),
            planned_wan: Some(plan),
            monthly: months.iter().map(|(m, x)| v1::MonthlyInvestment { month: *m, completed_wan: Some(*x) }).collect(),
            planned_approvals_date: dates[0].into(),
            planned_construction_date: dates[1].into(),
            planned_statistics_date: dates[2].into(),
            source: "发改局月报".into(),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|s| panic!("{name}: {s:?}"));
}

async fn head(server: &TestServer) -> u64 {
    server.store.next_revision().unwrap()
}

/// Firms 1–4, two open demands (C3841 and C3562) with no in-zone supply,
/// and the ten projects of the module's hand count (see each comment).
async fn library() -> (TestServer, Client, Vec<String>) {
    let server = TestServer::with_config(config()).await;
    for (n, name) in [(1, "秦川机床"), (2, "陕西储能电芯有限公司"), (3, "西安航天动力"), (4, "西安某储能集成商")]
    {
        let mut f = firm(n, name);
        f.promotion_zone = "east".into();
        server.enterprises().await.create_enterprise(create(f)).await.unwrap();
    }
    let mut sd = SupplyDemandServiceClient::new(server.channel().await);
    for industry in ["C3841", "C3562"] {
        sd.create_posting(v1::CreatePostingRequest {
            posting: Some(v1::Posting {
                credit_code: code(4),
                kind: v1::PostingKind::Demand as i32,
                title: format!("采购{industry}配套"),
                industry_code: industry.into(),
                amount_wan: 500.0,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let mut c = client(&server).await;
    use v1::KeyLevel::{District, Municipal, None as NoLevel, Provincial};
    let mut names = Vec::new();
    let specs = [
        ("P1 电池芯", "east", Municipal, "2025-01-10"),
        ("P2 储能系统", "east", Municipal, "2025-01-10"),
        ("P3 动力总成", "west", Municipal, "2025-01-10"),
        ("P4 材料", "west", District, "2025-01-10"),
        ("P5 线索", "east", NoLevel, "2025-01-05"),
        ("P6 流失", "west", Provincial, "2025-01-10"),
        ("P7 入统", "east", Municipal, "2025-01-10"),
        ("P8 接洽", "west", NoLevel, "2025-01-10"),
        ("P9 今日考察", "east", NoLevel, "2025-01-10"),
    ];
    for (name, zone, level, lead) in specs {
        let mut p = project(name, zone, level, lead);
        if name.starts_with("P1") {
            p.chain_gap = "C3841".into();
            p.approvals_date = "2025-07-15".into();
            p.investor_enterprise = format!("enterprises/{}", code(1));
        }
        if name.starts_with("P7") {
            p.approvals_date = "2025-03-20".into();
        }
        names.push(add(&mut c, p).await.unwrap().name);
    }
    // P10 comes through the energy-storage alliance, today.
    let mut p10 = project("P10 联盟引荐", "west", NoLevel, "");
    p10.lead_source = v1::LeadSource::Alliance as i32;
    p10.lead_alliance_id = "energy-storage".into();
    names.push(add(&mut c, p10).await.unwrap().name);

    let n = names.clone();
    use S::*;
    // P1: … → construction 08-01.
    steps(
        &mut c,
        &n[0],
        &[
            (Contact, "2025-02-01"),
            (Visit, "2025-03-01"),
            (Negotiation, "2025-04-01"),
            (Signed, "2025-05-01"),
            (Registered, "2025-06-01"),
            (Land, "2025-07-01"),
            (Construction, "2025-08-01"),
        ],
        120_000.0,
    )
    .await;
    // P2: signed 03-15, registered 04-01, construction 09-01, production 11-01.
    steps(
        &mut c,
        &n[1],
        &[(Signed, "2025-03-15"), (Registered, "2025-04-01"), (Construction, "2025-09-01"), (Production, "2025-11-01")],
        80_000.0,
    )
    .await;
    // P3: signed 06-10.
    steps(&mut c, &n[2], &[(Signed, "2025-06-10")], 50_000.0).await;
    // P4: negotiation 04-10, on hold 05-01.
    steps(&mut c, &n[3], &[(Negotiation, "2025-04-10")], 0.0).await;
    let mut hold = ev(K::Hold, Unspecified, "2025-05-01");
    hold.reason = "投资方资金调整".into();
    record(&mut c, &n[3], hold).await.unwrap();
    // P6: visit 03-01, lost 06-01 (factors).
    steps(&mut c, &n[5], &[(Visit, "2025-03-01")], 0.0).await;
    let mut lose = ev(K::Lose, Unspecified, "2025-06-01");
    lose.reason = "用地指标不足".into();
    lose.loss_reason = v1::LossReason::Factors as i32;
    record(&mut c, &n[5], lose).await.unwrap();
    // P7: all the way to the statistics on 12-01.
    steps(
        &mut c,
        &n[6],
        &[
            (Signed, "2025-02-01"),
            (Registered, "2025-03-01"),
            (Land, "2025-03-15"),
            (Construction, "2025-04-01"),
            (Production, "2025-10-01"),
            (Statistics, "2025-12-01"),
        ],
        200_000.0,
    )
    .await;
    // P8: contact 02-15. P9: contact 02-15, visit today.
    steps(&mut c, &n[7], &[(Contact, "2025-02-15")], 0.0).await;
    steps(&mut c, &n[8], &[(Contact, "2025-02-15"), (Visit, &today())], 0.0).await;

    // 2025 figures of the four municipal projects.
    figures(
        &mut c,
        &n[0],
        60_000.0,
        &[(8, 10_000.0), (9, 10_000.0), (10, 15_000.0), (11, 10_000.0), (12, 10_000.0)],
        ["2025-07-31", "2025-08-01", ""],
    )
    .await;
    let p2: Vec<(i32, f64)> = (3..=12).map(|m| (m, 4_500.0)).collect();
    figures(&mut c, &n[1], 40_000.0, &p2, ["", "2025-09-30", ""]).await;
    figures(&mut c, &n[2], 30_000.0, &[(7, 5_000.0)], ["", "2025-10-01", ""]).await;
    let p7: Vec<(i32, f64)> = (1..=12).map(|m| (m, 1_500.0)).collect();
    figures(&mut c, &n[6], 20_000.0, &p7, ["2025-03-31", "", "2025-12-01"]).await;
    (server, c, names)
}

#[tokio::test]
async fn ten_projects_give_the_hand_counted_reports() {
    let (server, mut c, n) = library().await;

    // The pipeline fields are derived from the events.
    let p1 = c.get_project(v1::GetProjectRequest { name: n[0].clone() }).await.unwrap().into_inner();
    assert_eq!((p1.stage, p1.stage_date.as_str()), (S::Construction as i32, "2025-08-01"));
    assert_eq!((p1.signed_date.as_str(), p1.contracted_amount_wan), ("2025-05-01", 120_000.0));
    assert_eq!(p1.enterprise, format!("enterprises/{}", code(2)));
    assert_eq!(p1.enterprise_display_name, "陕西储能电芯有限公司");
    assert_eq!(p1.investor_enterprise_display_name, "秦川机床");
    assert_eq!(p1.department, "招商一局", "the zone's department");
    assert_eq!(p1.industry_name, "锂离子电池制造");
    assert_eq!(p1.events.len(), 8);
    assert!(p1.events.iter().all(|e| e.actor == "local-admin" && e.record_time.is_some()), "{:?}", p1.events);

    // The funnel as of the year's end (P10 did not exist yet).
    let funnel = c
        .get_project_funnel(v1::GetProjectFunnelRequest {
            as_of: "2025-12-31".into(),
            group_by: v1::ProjectGroupBy::Zone as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let overall = funnel.overall.unwrap();
    let standing: Vec<i32> = overall.stages.iter().map(|s| s.count).collect();
    let reached: Vec<i32> = overall.stages.iter().map(|s| s.reached).collect();
    assert_eq!(standing, [1, 2, 0, 0, 1, 0, 0, 1, 1, 1]);
    assert_eq!(reached, [9, 8, 6, 5, 4, 3, 3, 3, 2, 1]);
    assert_eq!((overall.on_hold, overall.lost, overall.total), (1, 1, 9));
    let zones: Vec<(&str, &str, i32)> =
        funnel.groups.iter().map(|g| (g.key.as_str(), g.label.as_str(), g.total)).collect();
    assert_eq!(zones, [("east", "东区片区", 5), ("west", "西区片区", 4)]);
    // Today P10 exists and P9 has reached VISIT.
    let now = c.get_project_funnel(v1::GetProjectFunnelRequest::default()).await.unwrap().into_inner();
    let now = now.overall.unwrap();
    assert_eq!((now.total, now.stages[0].count, now.stages[2].count), (10, 2, 1));

    // Completion of the municipal key projects against the 2025 plan.
    let report = c
        .get_investment_report(v1::GetInvestmentReportRequest {
            year: 2025,
            filter: "key_level = MUNICIPAL".into(),
            group_by: v1::ProjectGroupBy::Project as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.as_of, "2025-12-31");
    let all = report.overall.unwrap();
    assert_eq!((all.projects, all.planned_wan, all.completed_wan), (4, 150_000.0, 123_000.0));
    assert_eq!((all.completed_yi, all.completion_percent, all.overrun), (12.3, 82.0, 1));
    assert_eq!(report.summary, "4个项目累计完成投资12.30亿元，占年计划的82.00%");
    let rate = |r: Option<v1::StepRate>| r.map(|r| (r.planned, r.reached, r.percent)).unwrap();
    assert_eq!(rate(report.approvals_rate), (2, 2, 100.0));
    assert_eq!(rate(report.construction_rate), (3, 2, 66.67));
    assert_eq!(rate(report.statistics_rate), (1, 1, 100.0));
    let behind: Vec<&str> = report.behind_plan.iter().map(|b| b.display_name.as_str()).collect();
    assert_eq!(behind, ["P3 动力总成", "P1 电池芯", "P7 入统"]);
    assert_eq!(report.groups.len(), 4);
    assert_eq!(report.groups[0].label, "P1 电池芯", "largest plan first");
    // As of the end of June: months after it do not count.
    let june = c
        .get_investment_report(v1::GetInvestmentReportRequest {
            year: 2025,
            as_of: "2025-06-30".into(),
            filter: "key_level = MUNICIPAL".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // P2 4,500 × 4 (March–June), P7 1,500 × 6.
    assert_eq!(june.overall.unwrap().completed_wan, 27_000.0);

    // Signings per quarter, the median days to each stage, losses.
    let pipeline = c
        .get_pipeline_report(v1::GetPipelineReportRequest {
            start_date: "2025-01-01".into(),
            end_date: "2025-12-31".into(),
            period: v1::ReportPeriod::Quarter as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let quarters: Vec<(&str, i32, f64)> =
        pipeline.signings.iter().map(|s| (s.period.as_str(), s.count, s.amount_wan)).collect();
    assert_eq!(
        quarters,
        [("2025-Q1", 2, 280_000.0), ("2025-Q2", 2, 170_000.0), ("2025-Q3", 0, 0.0), ("2025-Q4", 0, 0.0)]
    );
    assert_eq!((pipeline.signed_count, pipeline.signed_amount_wan), (4, 450_000.0));
    let signed = pipeline.durations.iter().find(|d| d.stage == S::Signed as i32).unwrap();
    // P7 22 days, P1 30, P2 64, P3 151.
    assert_eq!((signed.steps, signed.median_days), (4, 47.0));
    assert_eq!(pipeline.losses.len(), 1);
    assert_eq!((pipeline.losses[0].reason, pipeline.losses[0].count), (v1::LossReason::Factors as i32, 1));

    // Stalled: P5, P8, P3, P1 (P2 is in production, whose threshold is
    // configured far off; P4 held, P6 lost, P7 done, P9 and P10 moved today).
    let stalled = c.list_stalled_projects(v1::ListStalledProjectsRequest::default()).await.unwrap().into_inner();
    let names: Vec<&str> = stalled.projects.iter().map(|s| s.project.as_ref().unwrap().display_name.as_str()).collect();
    assert_eq!(names, ["P5 线索", "P8 接洽", "P3 动力总成", "P1 电池芯"]);
    assert_eq!(stalled.total_size, 4);
    assert_eq!(stalled.projects[0].threshold_days, 30);
    let everyone = c
        .list_stalled_projects(v1::ListStalledProjectsRequest { days: 1, filter: "zone = east".into(), page_size: 2 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((everyone.total_size, everyone.projects.len()), (3, 2), "P5, P1, P2 in the east; two listed");

    // Chain gaps: C3841 has P1 aimed at it, C3562 nothing.
    let gaps = c.get_chain_gap_coverage(v1::GetChainGapCoverageRequest::default()).await.unwrap().into_inner();
    let covered: Vec<(&str, Vec<String>)> =
        gaps.covered.iter().map(|g| (g.industry_code.as_str(), g.projects.clone())).collect();
    assert_eq!(covered, [("C3841", vec![n[0].clone()])]);
    let uncovered: Vec<&str> = gaps.uncovered.iter().map(|g| g.industry_code.as_str()).collect();
    assert_eq!(uncovered, ["C3562"]);

    // Lists use the index: exact totals, filters, paging.
    let list = |filter: &str, size: i32, token: String| v1::ListProjectsRequest {
        filter: filter.into(),
        page_size: size,
        page_token: token,
        show_deleted: false,
    };
    let signed = c.list_projects(list("stage >= SIGNED AND zone = east", 0, String::new())).await.unwrap().into_inner();
    let got: Vec<&str> = signed.projects.iter().map(|p| p.display_name.as_str()).collect();
    assert_eq!(got, ["P7 入统", "P2 储能系统", "P1 电池芯"], "newest first");
    assert_eq!(signed.total_size, 3);
    let by_name = c.list_projects(list("zone = 东区片区", 0, String::new())).await.unwrap().into_inner();
    assert_eq!(by_name.total_size, 5, "a zone's Chinese name reads as its id");
    let not_east = c.list_projects(list("NOT zone = east", 0, String::new())).await.unwrap().into_inner();
    assert_eq!(not_east.total_size, 5);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = c.list_projects(list("", 3, token)).await.unwrap().into_inner();
        assert_eq!(page.total_size, 10);
        seen.extend(page.projects.into_iter().map(|p| p.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut expected = n.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    for (filter, total) in [
        ("status = ON_HOLD", 1),
        ("status = LOST", 1),
        ("key_level >= MUNICIPAL", 5),
        ("source_region = 11", 10),
        ("source_region = 31", 0),
        ("industry_code = C38", 10),
        ("lead_source = ALLIANCE", 1),
        (&format!("credit_code = {}", code(2)), 3),
        ("stage = 签约", 1),
        ("department = 招商二局", 5),
        (r#"display_name:"储能""#, 1),
        (r#"display_name:"储能系统投资方""#, 1),
        (r#"NOT display_name:"储能" AND zone = east"#, 4),
    ] {
        let got = c.list_projects(list(filter, 1, String::new())).await.unwrap().into_inner();
        assert_eq!(got.total_size, total, "{filter}");
    }
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());

    // The index is rebuilt from the records at the next open.
    let dir = server.stop().await;
    let server = TestServer::on_dir(config(), dir).await;
    let mut c = client(&server).await;
    let again = c.list_projects(list("stage >= SIGNED AND zone = east", 0, String::new())).await.unwrap().into_inner();
    assert_eq!(again.total_size, 3);
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn bad_projects_events_and_figures_are_refused_and_write_nothing() {
    let (server, mut c, n) = library().await;
    let before = head(&server).await;
    let reasons = |s: &tonic::Status| -> Vec<String> {
        tonic_types::StatusExt::get_error_details(s)
            .bad_request()
            .map(|b| b.field_violations.iter().map(|v| v.field.clone() + " " + &v.reason).collect())
            .unwrap_or_default()
    };

    let err = c.create_project(v1::CreateProjectRequest::default()).await.unwrap_err();
    expect_error(&err, Code::InvalidArgument, "REQUIRED");
    let mut bad = project("x", "nowhere", v1::KeyLevel::Municipal, "2025-01-01");
    bad.planned_investment_wan = 10.0;
    bad.planned_fixed_asset_wan = 20.0;
    bad.lead_credit_code = code(3);
    let err = add(&mut c, bad).await.unwrap_err();
    assert_eq!(
        reasons(&err),
        [
            "project.display_name REQUIRED",
            "project.planned_fixed_asset_wan PART_EXCEEDS_WHOLE",
            "project.promotion_zone UNKNOWN_ZONE",
            "project.lead_credit_code LINK_NOT_ALLOWED",
        ]
    );
    let mut negative = project("负数项目", "east", v1::KeyLevel::None, "");
    negative.planned_investment_wan = -5.0;
    expect_error(&add(&mut c, negative).await.unwrap_err(), Code::InvalidArgument, "INVALID_NUMBER");
    let mut huge = project("超大项目", "east", v1::KeyLevel::None, "");
    huge.planned_investment_wan = 1e9;
    expect_error(&add(&mut c, huge).await.unwrap_err(), Code::InvalidArgument, "OUT_OF_RANGE");
    let mut unknown = project("未注册投资方", "east", v1::KeyLevel::None, "");
    unknown.investor_enterprise = format!("enterprises/{}", code(99));
    expect_error(&add(&mut c, unknown).await.unwrap_err(), Code::InvalidArgument, "UNKNOWN_ENTERPRISE");
    let mut alliance = project("未知联盟", "east", v1::KeyLevel::None, "");
    alliance.lead_source = v1::LeadSource::Alliance as i32;
    alliance.lead_alliance_id = "no-such".into();
    expect_error(&add(&mut c, alliance).await.unwrap_err(), Code::InvalidArgument, "UNKNOWN_ALLIANCE");
    let mut level = project("坏级别", "east", v1::KeyLevel::None, "");
    level.key_level = 42;
    expect_error(&add(&mut c, level).await.unwrap_err(), Code::InvalidArgument, "INVALID_ENUM");

    // Events: each refusal names its reason.
    let p5 = &n[4];
    let mut early = ev(K::Step, S::Negotiation, "2025-03-01");
    early.amount_wan = 100.0;
    expect_error(&record(&mut c, p5, early).await.unwrap_err(), Code::InvalidArgument, "AMOUNT_NOT_ALLOWED");
    let no_amount = ev(K::Step, S::Signed, "2025-03-01");
    expect_error(&record(&mut c, p5, no_amount).await.unwrap_err(), Code::InvalidArgument, "AMOUNT_REQUIRED");
    let out_of_order = ev(K::Step, S::Contact, "2025-01-01");
    expect_error(&record(&mut c, p5, out_of_order).await.unwrap_err(), Code::InvalidArgument, "DATE_OUT_OF_ORDER");
    let back = ev(K::Step, S::Visit, "2025-12-20");
    expect_error(&record(&mut c, &n[0], back).await.unwrap_err(), Code::FailedPrecondition, "ILLEGAL_TRANSITION");
    let mut unregistered = ev(K::Step, S::Registered, "2025-12-20");
    unregistered.enterprise = format!("enterprises/{}", code(98));
    let err = record(&mut c, &n[2], unregistered).await.unwrap_err();
    assert_eq!(expect_error(&err, Code::InvalidArgument, "UNKNOWN_ENTERPRISE")[0].0, "event.enterprise");
    let mut on_hold = ev(K::Step, S::Signed, "2025-12-20");
    on_hold.amount_wan = 10.0;
    expect_error(&record(&mut c, &n[3], on_hold).await.unwrap_err(), Code::FailedPrecondition, "PROJECT_ON_HOLD");
    let lost = ev(K::Step, S::Negotiation, "2025-12-20");
    expect_error(&record(&mut c, &n[5], lost).await.unwrap_err(), Code::FailedPrecondition, "PROJECT_LOST");
    let future = ev(K::Step, S::Contact, "2999-01-01");
    expect_error(&record(&mut c, p5, future).await.unwrap_err(), Code::InvalidArgument, "DATE_IN_FUTURE");
    let stale = c
        .record_project_event(v1::RecordProjectEventRequest {
            name: p5.clone(),
            event: Some(ev(K::Step, S::Contact, "2025-03-01")),
            etag: "0000000000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&stale, Code::Aborted, "ETAG_MISMATCH");

    // Figures.
    let inv = |name: String, months: Vec<(i32, f64)>, planned: &str| v1::UpdateProjectInvestmentRequest {
        investment: Some(v1::ProjectInvestment {
            name,
            monthly: months
                .into_iter()
                .map(|(m, x)| v1::MonthlyInvestment { month: m, completed_wan: Some(x) })
                .collect(),
            planned_construction_date: planned.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let next_year = ladder::domain::time::Date::today().ymd().0 + 1;
    let err = c
        .update_project_investment(inv(format!("{}/investments/{next_year}", n[0]), vec![(1, 1.0)], ""))
        .await
        .unwrap_err();
    expect_error(&err, Code::InvalidArgument, "MONTH_IN_FUTURE");
    let err =
        c.update_project_investment(inv(format!("{}/investments/2025", n[0]), vec![(1, -1.0)], "")).await.unwrap_err();
    expect_error(&err, Code::InvalidArgument, "INVALID_NUMBER");
    let err =
        c.update_project_investment(inv(format!("{}/investments/2025", n[0]), vec![], "2024-05-01")).await.unwrap_err();
    expect_error(&err, Code::InvalidArgument, "DATE_OUTSIDE_YEAR");
    let err =
        c.update_project_investment(inv("projects/0ff/investments/2025".into(), vec![(1, 1.0)], "")).await.unwrap_err();
    expect_error(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    let err =
        c.update_project_investment(inv(format!("{}/investments/1800", n[0]), vec![(1, 1.0)], "")).await.unwrap_err();
    expect_error(&err, Code::InvalidArgument, "INVALID_YEAR");

    // Filters.
    let err = c
        .list_projects(v1::ListProjectsRequest { filter: "stage = DONE".into(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&err, Code::InvalidArgument, "INVALID_FILTER");
    let err = c
        .list_projects(v1::ListProjectsRequest { filter: "colour = red".into(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&err, Code::InvalidArgument, "UNKNOWN_FILTER_FIELD");
    let err = c
        .list_projects(v1::ListProjectsRequest { filter: r#"display_name = "P1""#.into(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&err, Code::InvalidArgument, "INVALID_FILTER");
    let err = c
        .get_project_funnel(v1::GetProjectFunnelRequest { as_of: "2999-01-01".into(), ..Default::default() })
        .await
        .unwrap_err();
    expect_error(&err, Code::InvalidArgument, "DATE_IN_FUTURE");
    let err = c
        .get_pipeline_report(v1::GetPipelineReportRequest {
            start_date: "2025-06-01".into(),
            end_date: "2025-01-01".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&err, Code::InvalidArgument, "INVALID_RANGE");
    let err =
        c.list_stalled_projects(v1::ListStalledProjectsRequest { days: -1, ..Default::default() }).await.unwrap_err();
    expect_error(&err, Code::InvalidArgument, "NEGATIVE");

    assert_eq!(head(&server).await, before, "no refusal wrote anything");
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn corrections_deletes_replays_and_the_enterprise_guard() {
    let (server, mut c, n) = library().await;
    // A correction takes P3 back from SIGNED to LEAD: the step stays, voided.
    let mut fix = ev(K::Correction, S::Lead, "");
    fix.reason = "签约信息录入错误".into();
    let p3 = record(&mut c, &n[2], fix).await.unwrap();
    assert_eq!((p3.stage, p3.contracted_amount_wan, p3.signed_date.as_str()), (S::Lead as i32, 0.0, ""));
    assert_eq!(p3.events.iter().filter(|e| e.voided).count(), 1);
    assert_eq!(p3.events.len(), 3);

    // Deleting firm 2 (P1's and P7's project company) is refused while those
    // projects are active; nothing is written.
    let before = head(&server).await;
    let delete =
        |force| v1::DeleteEnterpriseRequest { name: format!("enterprises/{}", code(2)), force, ..Default::default() };
    let err = server.enterprises().await.delete_enterprise(delete(false)).await.unwrap_err();
    expect_error(&err, Code::FailedPrecondition, "ACTIVE_PROJECTS");
    assert!(err.message().contains(&n[0]), "{}", err.message());
    assert_eq!(head(&server).await, before);
    // Linking a new project to a deleted firm is refused; forced, the delete goes through.
    server.enterprises().await.delete_enterprise(delete(true)).await.unwrap();
    let mut late = project("晚到项目", "east", v1::KeyLevel::None, "");
    late.investor_enterprise = format!("enterprises/{}", code(2));
    expect_error(&add(&mut c, late).await.unwrap_err(), Code::FailedPrecondition, "ENTERPRISE_DELETED");

    // P6 was lost; firm 3 is deleted meanwhile (P6 is not active, so no
    // force is needed). When the investor comes back, P6 resumes, but not
    // while it names a deleted firm.
    let mut p6 = c.get_project(v1::GetProjectRequest { name: n[5].clone() }).await.unwrap().into_inner();
    p6.lead_source = v1::LeadSource::MemberFirm as i32;
    p6.lead_credit_code = code(3);
    let mask = prost_types::FieldMask { paths: vec!["lead_source".into(), "lead_credit_code".into()] };
    c.update_project(v1::UpdateProjectRequest { project: Some(p6), update_mask: Some(mask), ..Default::default() })
        .await
        .unwrap();
    let firm3 = v1::DeleteEnterpriseRequest { name: format!("enterprises/{}", code(3)), ..Default::default() };
    server.enterprises().await.delete_enterprise(firm3).await.unwrap();
    let back = ev(K::Resume, S::Unspecified, "");
    expect_error(
        &record(&mut c, &n[5], back.clone()).await.unwrap_err(),
        Code::FailedPrecondition,
        "ENTERPRISE_DELETED",
    );
    let undelete = v1::UndeleteEnterpriseRequest { name: format!("enterprises/{}", code(3)), ..Default::default() };
    server.enterprises().await.undelete_enterprise(undelete).await.unwrap();
    let revived = record(&mut c, &n[5], back).await.unwrap();
    assert_eq!((revived.status, revived.stage), (v1::ProjectStatus::Active as i32, S::Visit as i32));
    let june = c
        .get_project_funnel(v1::GetProjectFunnelRequest { as_of: "2025-07-01".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(june.overall.unwrap().lost, 1, "the loss stays in the past");

    // Soft delete and undelete: out of lists and reports, then back.
    let deleted = c
        .delete_project(v1::DeleteProjectRequest {
            name: n[4].clone(),
            reason: "重复录入".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.delete_time.is_some());
    let total = |show_deleted| v1::ListProjectsRequest { show_deleted, ..Default::default() };
    assert_eq!(c.list_projects(total(false)).await.unwrap().into_inner().total_size, 9);
    assert_eq!(c.list_projects(total(true)).await.unwrap().into_inner().total_size, 10);
    let err = record(&mut c, &n[4], ev(K::Step, S::Contact, "")).await.unwrap_err();
    expect_error(&err, Code::FailedPrecondition, "PROJECT_DELETED");
    let figures = v1::UpdateProjectInvestmentRequest {
        investment: Some(v1::ProjectInvestment {
            name: format!("{}/investments/2025", n[4]),
            planned_wan: Some(10.0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = c.update_project_investment(figures).await.unwrap_err();
    expect_error(&err, Code::FailedPrecondition, "PROJECT_DELETED");
    let again =
        c.delete_project(v1::DeleteProjectRequest { name: n[4].clone(), ..Default::default() }).await.unwrap_err();
    expect_error(&again, Code::FailedPrecondition, "ALREADY_DELETED");
    c.undelete_project(v1::UndeleteProjectRequest { name: n[4].clone(), ..Default::default() }).await.unwrap();
    assert_eq!(c.list_projects(total(false)).await.unwrap().into_inner().total_size, 10);

    // A request id replays the first answer.
    let request = v1::CreateProjectRequest {
        project: Some(project("重放项目", "east", v1::KeyLevel::None, "")),
        request_id: "7d1c7a1e-0000-4000-8000-000000000001".into(),
        validate_only: false,
    };
    let first = c.create_project(request.clone()).await.unwrap().into_inner();
    let second = c.create_project(request).await.unwrap().into_inner();
    assert_eq!(first.name, second.name);
    assert_eq!(c.list_projects(total(false)).await.unwrap().into_inner().total_size, 11);

    // Update with a mask, then an etag conflict.
    let updated = c
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project { name: first.name.clone(), owner: "张处长".into(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["owner".into()] }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((updated.owner.as_str(), updated.display_name.as_str()), ("张处长", "重放项目"));
    let err = c
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project { name: first.name.clone(), owner: "李".into(), ..Default::default() }),
            etag: first.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&err, Code::Aborted, "ETAG_MISMATCH");
    let err = c
        .update_project(v1::UpdateProjectRequest {
            project: Some(v1::Project { name: first.name.clone(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["stage".into()] }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    expect_error(&err, Code::InvalidArgument, "FIELD_NOT_UPDATABLE");

    // The change feed carries project changes with their actor.
    let changes = server
        .changes()
        .await
        .list_changes(v1::ListChangesRequest { resource: n[2].clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(changes.changes.len() >= 3, "{:?}", changes.changes.len());
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn reverting_a_sync_keeps_a_firm_a_project_links_to() {
    use ladder::pb::v1::sync_enterprises_request::Message;
    use ladder::pb::v1::sync_service_client::SyncServiceClient;
    let server = TestServer::with_config(config()).await;
    let messages = vec![
        v1::SyncEnterprisesRequest {
            message: Some(Message::Header(v1::SyncHeader {
                source: "market-registry".into(),
                mode: v1::SyncMode::Upsert as i32,
                dry_run: false,
            })),
        },
        v1::SyncEnterprisesRequest {
            message: Some(Message::Row(v1::SyncRow {
                enterprise: Some(firm(5, "新注册项目公司")),
                ..Default::default()
            })),
        },
    ];
    let mut sync = SyncServiceClient::new(server.channel().await);
    let run = sync.sync_enterprises(tokio_stream::iter(messages)).await.unwrap().into_inner();
    let mut c = client(&server).await;
    let p = add(&mut c, project("落地项目", "east", v1::KeyLevel::None, "2025-01-10")).await.unwrap();
    steps(&mut c, &p.name, &[(S::Signed, "2025-02-01")], 1_000.0).await;
    let mut registered = ev(K::Step, S::Registered, "2025-03-01");
    registered.enterprise = format!("enterprises/{}", code(5));
    record(&mut c, &p.name, registered).await.unwrap();
    let reverted = sync
        .revert_sync_run(v1::RevertSyncRunRequest { name: run.name.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reverted.deleted, reverted.conflict_count), (0, 1), "{reverted:?}");
    let firm5 = server
        .enterprises()
        .await
        .get_enterprise(v1::GetEnterpriseRequest { name: format!("enterprises/{}", code(5)) })
        .await;
    assert!(firm5.unwrap().into_inner().delete_time.is_none(), "the project company stays");
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}

#[tokio::test]
async fn targets_are_contacted_and_become_projects() {
    let server = TestServer::with_config(config()).await;
    let mut c = client(&server).await;
    let target = c
        .create_target(v1::CreateTargetRequest {
            target: Some(v1::Target {
                display_name: "宁德时代新能源".into(),
                region_code: "350902".into(),
                industry_code: "C3841".into(),
                reasons: vec![v1::TargetReason::ChainLeader as i32, v1::TargetReason::FillsChainGap as i32],
                chain_gap: "C3841".into(),
                department: "招商一局".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(target.status, v1::TargetStatus::Open as i32);
    assert!(target.region_name.starts_with("福建省"), "{}", target.region_name);
    let err = c
        .create_target(v1::CreateTargetRequest {
            target: Some(v1::Target {
                display_name: "缺理由".into(),
                reasons: vec![v1::TargetReason::FillsChainGap as i32],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(expect_error(&err, Code::InvalidArgument, "REQUIRED")[0].0, "target.chain_gap");
    let contacted = c
        .record_target_contact(v1::RecordTargetContactRequest {
            name: target.name.clone(),
            contact: Some(v1::TargetContact {
                date: "2025-03-01".into(),
                channel: "上门拜访".into(),
                person: "王经理".into(),
                outcome: "有意向，约考察".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(contacted.contacts.len(), 1);
    assert_eq!(contacted.contacts[0].actor, "local-admin");
    // It bites: the project records the target, and the target the project.
    let mut p = project("宁德时代西安基地", "东区", v1::KeyLevel::Provincial, "2025-04-01");
    p.target = target.name.clone();
    p.source_region_code.clear();
    p.lead_source = v1::LeadSource::ChainTargeting as i32;
    let created = add(&mut c, p.clone()).await.unwrap();
    assert_eq!(
        (created.chain_gap.as_str(), created.source_region_code.as_str()),
        ("C3841", "350902"),
        "from the target"
    );
    assert_eq!((created.department.as_str(), created.promotion_zone.as_str()), ("招商一局", "east"));
    let converted = c.get_target(v1::GetTargetRequest { name: target.name.clone() }).await.unwrap().into_inner();
    assert_eq!(
        (converted.status, converted.project.as_str()),
        (v1::TargetStatus::Converted as i32, created.name.as_str())
    );
    let before = head(&server).await;
    expect_error(&add(&mut c, p).await.unwrap_err(), Code::FailedPrecondition, "TARGET_CONVERTED");
    assert_eq!(head(&server).await, before, "the refused project was not written either");
    let mistake = v1::Target {
        display_name: "误录目标".into(),
        reasons: vec![v1::TargetReason::StateLevel as i32],
        ..Default::default()
    };
    let mistake = c
        .create_target(v1::CreateTargetRequest { target: Some(mistake), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let delete = v1::DeleteTargetRequest { name: mistake.name.clone(), reason: "重复".into(), ..Default::default() };
    c.delete_target(delete).await.unwrap();
    let contact = v1::RecordTargetContactRequest {
        name: mistake.name.clone(),
        contact: Some(v1::TargetContact { channel: "电话".into(), ..Default::default() }),
        ..Default::default()
    };
    expect_error(&c.record_target_contact(contact).await.unwrap_err(), Code::FailedPrecondition, "TARGET_DELETED");
    let open = c
        .list_targets(v1::ListTargetsRequest { filter: "status = OPEN".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(open.targets.is_empty());
    let leaders = c
        .list_targets(v1::ListTargetsRequest {
            filter: "reason = CHAIN_LEADER AND region = 35".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leaders.targets.len(), 1);
    assert!(ladder::store::check_consistency(&server.store).unwrap().is_empty());
}
