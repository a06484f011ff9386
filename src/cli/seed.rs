//! `ladder seed`: fills a store whose firms are registered (e.g. by
//! `ladder generate` + `ladder sync`) with realistic cultivation,
//! supply–demand and investment-promotion data through the public API: last
//! year's figures, designations, alliance memberships, postings, target firms
//! with their contacts, and projects with their pipeline events and this
//! year's investment figures. For trying ladder out, demos and benchmarks.
//!
//! A re-run with the same seed replays its requests and writes nothing
//! new; the report says so, counting per kind what this run wrote and what
//! was already recorded (a record whose last change predates the run).

use std::process::ExitCode;

use crate::cli::client::{collect_pages, connect, fail, Intercepted};
use crate::cli::ClientArgs;
use crate::domain::time::Date;
use crate::pb::v1;
use crate::pb::v1::alliance_service_client::AllianceServiceClient;
use crate::pb::v1::change_service_client::ChangeServiceClient;
use crate::pb::v1::cultivation_service_client::CultivationServiceClient;
use crate::pb::v1::enterprise_service_client::EnterpriseServiceClient;
use crate::pb::v1::project_service_client::ProjectServiceClient;
use crate::pb::v1::supply_demand_service_client::SupplyDemandServiceClient;
use crate::sample::{self, Rng};

/// Arguments of `ladder seed`.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// Sample postings to add.
    #[arg(long, default_value_t = 300)]
    postings: usize,
    /// Sample investment-promotion projects to add (0: none).
    #[arg(long, default_value_t = 40)]
    projects: usize,
    /// Sample target firms (靶向招引) to add, with their contacts (0: none).
    #[arg(long, default_value_t = 15)]
    targets: usize,
    /// Seed the first this many registered firms (in credit-code order).
    #[arg(long, default_value_t = 100_000)]
    max_firms: usize,
    /// Random seed (same seed, same data).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    client: ClientArgs,
}

/// Requests in flight.
const IN_FLIGHT: usize = 32;

/// What one firm gets, written by one task.
struct FirmPlan {
    /// Prefix of the request ids: a re-run with the same seed replays
    /// instead of writing twice.
    request_id: String,
    firm: v1::Enterprise,
    indicators: v1::AnnualIndicators,
    designations: Vec<v1::Designation>,
    alliance: Option<&'static str>,
}

/// The clients a task writes with.
#[derive(Clone)]
struct Clients {
    cultivation: CultivationServiceClient<Intercepted>,
    alliances: AllianceServiceClient<Intercepted>,
    postings: SupplyDemandServiceClient<Intercepted>,
}

/// A record as the API answers it, with the change-log revision of its
/// last change.
trait Revisioned {
    fn revision(&self) -> u64;
}

macro_rules! revisioned {
    ($($t:ty),*) => {$(
        impl Revisioned for tonic::Response<$t> {
            fn revision(&self) -> u64 {
                self.get_ref().revision
            }
        }
    )*};
}
revisioned!(
    v1::AnnualIndicators,
    v1::Designation,
    v1::Membership,
    v1::Posting,
    v1::Project,
    v1::ProjectInvestment,
    v1::Target
);

/// The kinds of record a seed writes, in the report's order.
const KINDS: [&str; 9] = [
    "years of figures",
    "designations",
    "memberships",
    "postings",
    "targets",
    "target contacts",
    "projects",
    "project events",
    "investment figures",
];
/// Their keys in the JSON report.
const KIND_KEYS: [&str; 9] = [
    "indicators",
    "designations",
    "memberships",
    "postings",
    "targets",
    "target_contacts",
    "projects",
    "project_events",
    "investments",
];
const FIGURES: usize = 0;
const DESIGNATIONS: usize = 1;
const MEMBERSHIPS: usize = 2;
const POSTINGS: usize = 3;
const TARGETS: usize = 4;
const CONTACTS: usize = 5;
const PROJECTS: usize = 6;
const EVENTS: usize = 7;
const INVESTMENTS: usize = 8;

/// Counts of what this run wrote, what was already recorded and what failed.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    written: usize,
    existing: usize,
    failed: usize,
}

impl Tally {
    /// Counts one answer. `head` is the store's newest revision before the
    /// run: a record last changed at or before it was not written now (a
    /// replayed request id answers with the original record, and figures
    /// sent again unchanged are not rewritten).
    fn add(&mut self, r: Result<impl Revisioned, tonic::Status>, head: u64, first_error: &mut Option<String>) {
        match r {
            Ok(record) if record.revision() > head => self.written += 1,
            Ok(_) => self.existing += 1,
            // A re-run meets what the first run wrote.
            Err(s) if s.code() == tonic::Code::AlreadyExists => self.existing += 1,
            Err(s) => {
                self.failed += 1;
                first_error.get_or_insert_with(|| crate::cli::render::status_error(&s));
            }
        }
    }
}

/// Per kind (as [`KINDS`]) what a task wrote, and its first error.
type Outcome = ([Tally; KINDS.len()], Option<String>);

async fn seed_firm(mut c: Clients, plan: FirmPlan, head: u64) -> Outcome {
    let mut tallies = [Tally::default(); KINDS.len()];
    let mut first_error = None;
    let parent = format!("enterprises/{}", plan.firm.credit_code);
    let figures = v1::UpdateAnnualIndicatorsRequest { indicators: Some(plan.indicators), ..Default::default() };
    tallies[FIGURES].add(c.cultivation.update_annual_indicators(figures).await, head, &mut first_error);
    for (i, d) in plan.designations.into_iter().enumerate() {
        let request = v1::CreateDesignationRequest {
            parent: parent.clone(),
            designation: Some(d),
            request_id: format!("{}-d{i}", plan.request_id),
            ..Default::default()
        };
        tallies[DESIGNATIONS].add(c.cultivation.create_designation(request).await, head, &mut first_error);
    }
    if let Some(alliance) = plan.alliance {
        let request = v1::CreateMembershipRequest {
            parent: format!("alliances/{alliance}"),
            credit_code: plan.firm.credit_code.clone(),
            membership: Some(v1::Membership { role: v1::MembershipRole::Member as i32, ..Default::default() }),
            ..Default::default()
        };
        tallies[MEMBERSHIPS].add(c.alliances.create_membership(request).await, head, &mut first_error);
    }
    (tallies, first_error)
}

/// Runs `ladder seed`.
pub async fn seed(a: SeedArgs) -> ExitCode {
    let json = a.client.json;
    let channel = match connect(&a.client).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let enterprises = EnterpriseServiceClient::new(channel.clone());
    let pages = collect_pages(a.max_firms, |page_token| {
        let mut c = enterprises.clone();
        let request = v1::ListEnterprisesRequest { page_size: 1000, page_token, ..Default::default() };
        async move { c.list_enterprises(request).await.map(|r| r.into_inner()).map(|r| (r.enterprises, r.next_page_token)) }
    });
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!("reading the registered firms…");
    }
    let firms = match pages.await {
        Ok((firms, _)) => firms,
        Err(status) => return fail(json, &status),
    };
    if firms.is_empty() {
        eprintln!(
            "error: no firms registered: register some first, e.g. \
             `ladder generate --firms 500 > firms.csv && ladder sync firms.csv --source market-registry`"
        );
        return ExitCode::FAILURE;
    }
    // The newest revision before the run tells what it writes from what
    // was already there.
    let mut changes = ChangeServiceClient::new(channel.clone());
    let head = match changes.list_changes(v1::ListChangesRequest { page_size: 1, ..Default::default() }).await {
        Ok(r) => r.into_inner().head_revision,
        Err(status) => return fail(json, &status),
    };
    let clients = Clients {
        cultivation: CultivationServiceClient::new(channel.clone()),
        alliances: AllianceServiceClient::new(channel.clone()),
        postings: SupplyDemandServiceClient::new(channel.clone()),
    };
    let projects = ProjectServiceClient::new(channel);
    let mut rng = Rng::new(a.seed);
    let (year, _, _) = Date::today().ymd();
    let year = i32::try_from(year).unwrap_or(2026);
    let started = std::time::Instant::now();
    let mut tallies = [Tally::default(); KINDS.len()];
    let mut first_error: Option<String> = None;
    let mut tasks = tokio::task::JoinSet::new();
    let mut collect = |done: Option<Result<Outcome, tokio::task::JoinError>>| {
        if let Some(Ok((t, e))) = done {
            for (sum, one) in tallies.iter_mut().zip(t) {
                sum.written += one.written;
                sum.existing += one.existing;
                sum.failed += one.failed;
            }
            if first_error.is_none() {
                first_error = e;
            }
        }
    };
    let mut progress = crate::cli::progress::Progress::new("seeded", "firms", firms.len());
    let mut done = 0;
    for (n, firm) in firms.iter().enumerate() {
        let plan = FirmPlan {
            request_id: format!("seed-{}-{}", a.seed, firm.credit_code),
            indicators: sample::indicators(&mut rng, &firm.credit_code, year - 1),
            designations: sample::designations(&mut rng, n, year),
            alliance: sample::alliance_for(&firm.industry_code).filter(|_| rng.below(2) == 0),
            firm: firm.clone(),
        };
        tasks.spawn(seed_firm(clients.clone(), plan, head));
        if tasks.len() >= IN_FLIGHT {
            collect(tasks.join_next().await);
            done += 1;
            progress.tick(done);
        }
    }
    while !tasks.is_empty() {
        collect(tasks.join_next().await);
        done += 1;
        progress.tick(done);
    }
    progress.finish(done);
    for i in 0..a.postings {
        let firm = rng.pick(&firms);
        let p = sample::posting(&mut rng, &firm.credit_code, Some(&firm.industry_code));
        let mut c = clients.postings.clone();
        let request = v1::CreatePostingRequest {
            posting: Some(p),
            request_id: format!("seed-{}-p{i}", a.seed),
            ..Default::default()
        };
        tasks.spawn(async move {
            let mut t = [Tally::default(); KINDS.len()];
            let mut e = None;
            t[POSTINGS].add(c.create_posting(request).await, head, &mut e);
            (t, e)
        });
        if tasks.len() >= IN_FLIGHT {
            collect(tasks.join_next().await);
        }
    }
    while !tasks.is_empty() {
        collect(tasks.join_next().await);
    }
    // Targets first: the first projects come from them (and convert them).
    // Each target and project draws from its own generator, so what it
    // sends depends only on the seed, its number and the year: a re-run
    // (next month, say) replays the same requests. A new year's run dates
    // its histories from that year, under request ids of its own.
    let own = |kind: u64, i: usize| Rng::new(a.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (kind << 32) ^ i as u64);
    let mut target_names = Vec::new();
    for i in 0..a.targets {
        let plan = sample_target(&mut own(1, i), i, &format!("seed-{}-{year}-t{i}", a.seed), year);
        let (name, t, e) = seed_target(projects.clone(), plan, head).await;
        target_names.push(name);
        collect(Some(Ok((t, e))));
    }
    for i in 0..a.projects {
        // The first two come from targets (which become CONVERTED).
        let target = if i < 2 { target_names.get(i).cloned().flatten() } else { None };
        let request_id = format!("seed-{}-{year}-pr{i}", a.seed);
        let plan = sample_project(&mut own(2, i), i, &request_id, &firms, target, Date::today());
        tasks.spawn(seed_project(projects.clone(), plan, head));
        if tasks.len() >= IN_FLIGHT {
            collect(tasks.join_next().await);
        }
    }
    while !tasks.is_empty() {
        collect(tasks.join_next().await);
    }
    let failed: usize = tallies.iter().map(|t| t.failed).sum();
    let seconds = started.elapsed().as_secs_f64();
    if json {
        // The counts by kind are what this run wrote; `already_recorded`
        // what it found in place.
        let mut out = serde_json::Map::new();
        let mut existing = serde_json::Map::new();
        out.insert("firms".into(), firms.len().into());
        for (key, t) in KIND_KEYS.iter().zip(&tallies) {
            out.insert((*key).into(), t.written.into());
            existing.insert((*key).into(), t.existing.into());
        }
        out.insert("failed".into(), failed.into());
        out.insert("already_recorded".into(), existing.into());
        out.insert("seconds".into(), seconds.into());
        println!("{}", serde_json::Value::Object(out));
    } else {
        let kinds: Vec<(&str, Tally)> = KINDS.iter().copied().zip(tallies).collect();
        let written: usize = kinds.iter().map(|(_, t)| t.written).sum();
        let headline =
            if written == 0 && failed == 0 { "nothing new written (this seed was already applied)" } else { "done" };
        println!("seed {} over {} firms in {seconds:.1} s: {headline}", a.seed, firms.len());
        for (what, t) in kinds {
            let failures = if t.failed > 0 { format!(", {} failed", t.failed) } else { String::new() };
            println!("  {what}: {} new, {} already recorded{failures}", t.written, t.existing);
        }
    }
    if let Some(e) = first_error {
        eprintln!("{failed} writes failed; the first: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// A sample target firm with its contacts.
struct TargetPlan {
    request_id: String,
    target: v1::Target,
    contacts: Vec<v1::TargetContact>,
}

/// Target firm `i`: a firm elsewhere in China the zone would like, why, who
/// follows it, and one to three contacts dated last year (so a re-run any
/// day of the year sends the same requests).
fn sample_target(rng: &mut Rng, i: usize, request_id: &str, year: i32) -> TargetPlan {
    const PLACES: &[(&str, &str)] = &[
        ("深圳", "440300"),
        ("上海", "310000"),
        ("苏州", "320500"),
        ("杭州", "330100"),
        ("北京", "110000"),
        ("合肥", "340100"),
        ("成都", "510100"),
        ("武汉", "420100"),
    ];
    const WORDS: &[&str] = &["华芯", "中微", "星驰", "锐能", "天拓", "博航", "清源", "海创", "精测", "卓远"];
    const LINES: &[(&str, &str)] = &[
        ("C3562", "半导体装备股份有限公司"),
        ("C3841", "储能科技股份有限公司"),
        ("C3742", "航天科技有限公司"),
        ("C3963", "智能装备有限公司"),
        ("I6520", "微电子有限公司"),
        ("M7320", "检测技术有限公司"),
    ];
    const CHANNELS: &[&str] = &["上门拜访", "电话沟通", "视频会谈", "推介会", "来园考察"];
    const OUTCOMES: &[&str] = &[
        "对方有西北布局意向，约定下月再谈",
        "已介绍园区配套与政策，对方索要用地资料",
        "对方暂无扩产计划，保持联系",
        "对方关注人才政策和供应链配套，拟安排高层来访",
    ];
    let reasons = [
        v1::TargetReason::ChainLeader,
        v1::TargetReason::StateLevel,
        v1::TargetReason::LittleGiant,
        v1::TargetReason::LittleGiantPotential,
        v1::TargetReason::Gazelle,
        v1::TargetReason::Unicorn,
        v1::TargetReason::FillsChainGap,
    ];
    let (city, region) = *rng.pick(PLACES);
    let (industry, kind) = *rng.pick(LINES);
    let mut chosen = vec![*rng.pick(&reasons)];
    let second = *rng.pick(&reasons);
    if !chosen.contains(&second) {
        chosen.push(second);
    }
    // The equipment the zone cannot source locally is what 补链 goes after.
    if industry == "C3562" && !chosen.contains(&v1::TargetReason::FillsChainGap) {
        chosen.push(v1::TargetReason::FillsChainGap);
    }
    let gap = if chosen.contains(&v1::TargetReason::FillsChainGap) { industry } else { "" };
    let target = v1::Target {
        display_name: format!("{city}{}{kind}", rng.pick(WORDS)),
        region_code: region.into(),
        industry_code: industry.into(),
        reasons: chosen.into_iter().map(|r| r as i32).collect(),
        chain_gap: gap.into(),
        department: (*rng.pick(DEPARTMENTS)).into(),
        owner: (*rng.pick(PEOPLE)).into(),
        notes: if i % 3 == 0 { "产业链图谱重点招引企业".into() } else { String::new() },
        ..Default::default()
    };
    let last_year_end = year_start(year).add_days(-1);
    let count = 1 + rng.below(3);
    let contacts = (0..count)
        .map(|j| v1::TargetContact {
            date: last_year_end.add_days(-(((count - j) * 60) as i64) + rng.below(30) as i64).to_string(),
            channel: (*rng.pick(CHANNELS)).into(),
            person: format!("{}总", rng.pick(&["王", "李", "赵", "孙", "周"])),
            outcome: (*rng.pick(OUTCOMES)).into(),
            ..Default::default()
        })
        .collect();
    TargetPlan { request_id: request_id.into(), target, contacts }
}

/// Writes a target and its contacts; gives its name when it was written
/// (or found).
async fn seed_target(
    mut c: ProjectServiceClient<Intercepted>,
    plan: TargetPlan,
    head: u64,
) -> (Option<String>, [Tally; KINDS.len()], Option<String>) {
    let mut tallies = [Tally::default(); KINDS.len()];
    let mut first_error = None;
    let request = v1::CreateTargetRequest {
        target: Some(plan.target),
        request_id: plan.request_id.clone(),
        validate_only: false,
    };
    let created = c.create_target(request).await;
    let name = created.as_ref().ok().map(|t| t.get_ref().name.clone());
    tallies[TARGETS].add(created, head, &mut first_error);
    if let Some(name) = &name {
        for (j, contact) in plan.contacts.into_iter().enumerate() {
            let request = v1::RecordTargetContactRequest {
                name: name.clone(),
                contact: Some(contact),
                etag: String::new(),
                request_id: format!("{}-c{j}", plan.request_id),
            };
            tallies[CONTACTS].add(c.record_target_contact(request).await, head, &mut first_error);
        }
    }
    (name, tallies, first_error)
}

/// Departments that follow projects and targets (部门包抓).
const DEPARTMENTS: &[&str] = &["招商一局", "招商二局", "投资合作局", "产业促进局"];
/// People responsible (包抓领导 / 负责人 / 服务专员).
const PEOPLE: &[&str] = &["张伟", "王芳", "李强", "刘洋", "陈静", "杨帆", "赵磊"];

/// 1 January of `year`.
fn year_start(year: i32) -> Date {
    Date::parse(&format!("{year:04}-01-01")).unwrap_or_else(Date::today)
}

/// A sample project: created at 线索, then its events in date order, and
/// this year's plan and completed months for a key project.
struct ProjectPlan {
    request_id: String,
    project: v1::Project,
    events: Vec<v1::ProjectEvent>,
    /// The date approval procedures were completed, once due.
    approvals: Option<String>,
    /// The year, its plan (sent with a mask of what it sets) and its months.
    investment: Option<(i32, v1::ProjectInvestment, Vec<v1::MonthlyInvestment>)>,
}

/// Sample project `i`, for a registered firm of the zone: it sets the
/// project's zone and industry and is the project company when the project
/// reaches 注册落地. Stages run from 线索 to 入统; about one in ten is on
/// hold and one in ten lost; one in five is 市级, others 区级 or 省级 or not
/// key. Events are dated from the year's start back (the history is the
/// same whichever day the seed runs); those after `today` are left out, so
/// a later re-run adds the steps that have come due and replays the rest.
fn sample_project(
    rng: &mut Rng,
    i: usize,
    request_id: &str,
    firms: &[v1::Enterprise],
    target: Option<String>,
    today: Date,
) -> ProjectPlan {
    const INVESTORS: &[(&str, &str)] = &[
        ("比亚迪股份有限公司", "440300"),
        ("宁德时代新能源科技股份有限公司", "350900"),
        ("北方华创科技集团股份有限公司", "110000"),
        ("中科星图股份有限公司", "110000"),
        ("银河航天（北京）科技有限公司", "110000"),
        ("阳光电源股份有限公司", "340100"),
        ("亿纬锂能股份有限公司", "441300"),
        ("深圳市大疆创新科技有限公司", "440300"),
        ("上海微小卫星工程中心", "310000"),
        ("苏州长光华芯光电技术股份有限公司", "320500"),
        ("杭州海康威视数字技术股份有限公司", "330100"),
        ("成都国星宇航科技股份有限公司", "510100"),
    ];
    const SOURCES: &[v1::LeadSource] = &[
        v1::LeadSource::MemberFirm,
        v1::LeadSource::Chamber,
        v1::LeadSource::Association,
        v1::LeadSource::PromotionEvent,
        v1::LeadSource::ChainTargeting,
        v1::LeadSource::WalkIn,
    ];
    let firm = rng.pick(firms);
    let (investor, region) = *rng.pick(INVESTORS);
    let short = investor.trim_end_matches("股份有限公司").trim_end_matches("有限公司");
    let what = match firm.industry_code.get(..4).unwrap_or("") {
        "C384" => "储能电池生产基地",
        "C374" => "卫星研制与总装基地",
        "C396" => "工业无人机研发制造",
        "C382" => "光伏组件及逆变器生产线",
        "D441" => "分布式光伏电站",
        "I633" => "卫星通信运营中心",
        "I651" | "I657" => "遥感数据服务平台",
        "I652" => "芯片设计中心",
        "M732" => "检测认证中心",
        _ => "产业化基地",
    };
    let key_level = match i % 10 {
        0 | 5 => v1::KeyLevel::Municipal,
        1 | 6 => v1::KeyLevel::District,
        2 if i % 20 == 2 => v1::KeyLevel::Provincial,
        _ => v1::KeyLevel::None,
    };
    let key = key_level != v1::KeyLevel::None;
    let scale =
        if key { [20_000.0, 50_000.0, 120_000.0][rng.below(3)] } else { [2_000.0, 5_000.0, 10_000.0][rng.below(3)] };
    let planned = (scale * (0.6 + rng.below(80) as f64 / 100.0)).round();
    let source = *rng.pick(SOURCES);
    // Key projects are further along; the rest spread from 线索 on.
    let top = if key { 3 + rng.below(8) } else { 1 + rng.below(7) };
    let stages: Vec<v1::ProjectStage> = (2..=top as i32).filter_map(|n| v1::ProjectStage::try_from(n).ok()).collect();
    let lead_date = year_start(today.ymd().0 as i32).add_days(-(150 + rng.below(500) as i64));
    let project = v1::Project {
        display_name: format!("{short}{what}项目"),
        investor_name: investor.into(),
        industry_code: firm.industry_code.clone(),
        chain_segment: String::new(),
        planned_investment_wan: planned,
        planned_fixed_asset_wan: (planned * 0.7).round(),
        source_region_code: region.into(),
        promotion_zone: firm.promotion_zone.clone(),
        lead_source: source as i32,
        lead_credit_code: if source == v1::LeadSource::MemberFirm {
            rng.pick(firms).credit_code.clone()
        } else {
            String::new()
        },
        department: (*rng.pick(DEPARTMENTS)).into(),
        owner: (*rng.pick(PEOPLE)).into(),
        service_commissioner: (*rng.pick(PEOPLE)).into(),
        key_level: key_level as i32,
        tags: if key { vec!["重点项目".into()] } else { Vec::new() },
        lead_date: lead_date.to_string(),
        target: target.unwrap_or_default(),
        ..Default::default()
    };
    let mut date = lead_date;
    let mut events = Vec::new();
    let mut next_date = |rng: &mut Rng| {
        date = date.add_days(12 + rng.below(70) as i64);
        date.to_string()
    };
    for stage in &stages {
        let mut e = v1::ProjectEvent {
            kind: v1::ProjectEventKind::Step as i32,
            stage: *stage as i32,
            date: next_date(rng),
            ..Default::default()
        };
        match stage {
            v1::ProjectStage::Signed => e.amount_wan = (planned * (0.8 + rng.below(21) as f64 / 100.0)).round(),
            v1::ProjectStage::Registered => e.enterprise = format!("enterprises/{}", firm.credit_code),
            _ => {}
        }
        events.push(e);
    }
    let ending = match i % 10 {
        3 => Some(v1::ProjectEvent {
            kind: v1::ProjectEventKind::Hold as i32,
            reason: "投资方调整年度投资计划，暂缓推进".into(),
            date: next_date(rng),
            ..Default::default()
        }),
        7 if top < 5 => Some(v1::ProjectEvent {
            kind: v1::ProjectEventKind::Lose as i32,
            loss_reason: v1::LossReason::OtherLocation as i32,
            reason: "落户其他园区".into(),
            date: next_date(rng),
            ..Default::default()
        }),
        // One wrongly recorded step, corrected.
        8 if (3..=4).contains(&top) => Some(v1::ProjectEvent {
            kind: v1::ProjectEventKind::Correction as i32,
            stage: v1::ProjectStage::Contact as i32,
            reason: "考察记录有误，退回接洽".into(),
            date: next_date(rng),
            ..Default::default()
        }),
        _ => None,
    };
    events.extend(ending);
    // What has not happened yet by today waits for a later re-run.
    let due = events.iter().take_while(|e| Date::parse(&e.date).is_some_and(|d| d <= today)).count();
    events.truncate(due);
    // Approval procedures are done by the time the land is handed over
    // (most projects; a few lag, so the rate is not always 100 %). Sent as
    // an update once that step is due, so the creation never changes.
    let approvals = (i % 4 != 1)
        .then(|| {
            events
                .iter()
                .find(|e| e.kind == v1::ProjectEventKind::Step as i32 && e.stage == v1::ProjectStage::Land as i32)
        })
        .flatten()
        .map(|e| e.date.clone());
    let (year, month, _) = today.ymd();
    let year = year as i32;
    let investment = (key && top >= 5).then(|| {
        let plan_wan = (planned * (0.2 + rng.below(30) as f64 / 100.0)).round();
        let dated = |month: u32, day: u32| format!("{year:04}-{month:02}-{day:02}");
        let plan = v1::ProjectInvestment {
            name: String::new(),
            planned_wan: Some(plan_wan),
            planned_approvals_date: if top <= 7 { dated(3, 31) } else { String::new() },
            planned_construction_date: if (6..=8).contains(&top) { dated(6, 30) } else { String::new() },
            planned_statistics_date: if top >= 8 { dated(9, 30) } else { String::new() },
            source: "发改局月报".into(),
            ..Default::default()
        };
        let months = (1..month as i32)
            .map(|m| v1::MonthlyInvestment {
                month: m,
                completed_wan: Some((plan_wan / 12.0 * (0.5 + rng.below(80) as f64 / 100.0) * 10.0).round() / 10.0),
            })
            .collect();
        (year, plan, months)
    });
    ProjectPlan { request_id: request_id.into(), project, events, approvals, investment }
}

/// Writes a project, its events in order and its investment figures.
async fn seed_project(mut c: ProjectServiceClient<Intercepted>, plan: ProjectPlan, head: u64) -> Outcome {
    let mut tallies = [Tally::default(); KINDS.len()];
    let mut first_error = None;
    let request = v1::CreateProjectRequest {
        project: Some(plan.project),
        request_id: plan.request_id.clone(),
        validate_only: false,
    };
    let created = c.create_project(request).await;
    let name = created.as_ref().ok().map(|p| p.get_ref().name.clone());
    tallies[PROJECTS].add(created, head, &mut first_error);
    let Some(name) = name else {
        return (tallies, first_error);
    };
    for (j, event) in plan.events.into_iter().enumerate() {
        let request = v1::RecordProjectEventRequest {
            name: name.clone(),
            event: Some(event),
            request_id: format!("{}-e{j}", plan.request_id),
            ..Default::default()
        };
        let recorded = c.record_project_event(request).await;
        let failed = recorded.is_err();
        tallies[EVENTS].add(recorded, head, &mut first_error);
        if failed {
            // The later events build on this one.
            break;
        }
    }
    if let Some(date) = plan.approvals.filter(|_| first_error.is_none()) {
        let request = v1::UpdateProjectRequest {
            project: Some(v1::Project { name: name.clone(), approvals_date: date, ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["approvals_date".into()] }),
            request_id: format!("{}-approvals", plan.request_id),
            ..Default::default()
        };
        tallies[EVENTS].add(c.update_project(request).await, head, &mut first_error);
    }
    if let Some((year, mut investment, months)) = plan.investment {
        investment.name = format!("{name}/investments/{year}");
        let mut mask = vec!["planned_wan".to_string(), "source".into()];
        for (path, value) in [
            ("planned_approvals_date", &investment.planned_approvals_date),
            ("planned_construction_date", &investment.planned_construction_date),
            ("planned_statistics_date", &investment.planned_statistics_date),
        ] {
            if !value.is_empty() {
                mask.push(path.into());
            }
        }
        let request = v1::UpdateProjectInvestmentRequest {
            investment: Some(investment.clone()),
            update_mask: Some(prost_types::FieldMask { paths: mask }),
            request_id: format!("{}-plan{year}", plan.request_id),
            ..Default::default()
        };
        tallies[INVESTMENTS].add(c.update_project_investment(request).await, head, &mut first_error);
        // One write per month: next month's re-run adds the new month only.
        for month in months {
            let request = v1::UpdateProjectInvestmentRequest {
                investment: Some(v1::ProjectInvestment {
                    name: investment.name.clone(),
                    monthly: vec![month],
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask { paths: vec!["monthly".into()] }),
                request_id: format!("{}-inv{year}-m{}", plan.request_id, month.month),
                ..Default::default()
            };
            tallies[INVESTMENTS].add(c.update_project_investment(request).await, head, &mut first_error);
        }
    }
    (tallies, first_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn firms() -> Vec<v1::Enterprise> {
        let mut rng = Rng::new(7);
        (0..20).filter_map(|i| sample::firm(&mut rng, i)).collect()
    }

    #[test]
    fn sample_projects_are_the_same_for_a_seed_and_dated_in_order_up_to_today() {
        let firms = firms();
        let today = Date::parse("2026-05-20").unwrap();
        let plans = |seed| {
            let mut rng = Rng::new(seed);
            (0..40).map(|i| sample_project(&mut rng, i, &format!("seed-{i}"), &firms, None, today)).collect::<Vec<_>>()
        };
        let (a, b) = (plans(3), plans(3));
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.project, y.project);
            assert_eq!(x.events, y.events);
        }
        let mut stages = std::collections::BTreeSet::new();
        for plan in &a {
            let mut last = Date::parse(&plan.project.lead_date).unwrap();
            for e in &plan.events {
                let d = Date::parse(&e.date).unwrap();
                assert!(d > last && d <= today, "{} after {last}, not after {today}", e.date);
                last = d;
                stages.insert(e.stage);
                if e.stage == v1::ProjectStage::Signed as i32 && e.kind == v1::ProjectEventKind::Step as i32 {
                    assert!(e.amount_wan > 0.0);
                }
                if e.stage == v1::ProjectStage::Registered as i32 && e.kind == v1::ProjectEventKind::Step as i32 {
                    assert!(e.enterprise.starts_with("enterprises/"));
                }
            }
            if let Some((year, plan, months)) = &plan.investment {
                assert_eq!(*year, 2026);
                assert!(plan.planned_wan.unwrap() > 0.0);
                assert_eq!(months.len(), 4, "January to April, before May");
            }
        }
        assert!(a.iter().any(|p| p.project.key_level == v1::KeyLevel::Municipal as i32));
        assert!(a.iter().any(|p| p.investment.is_some()));
        assert!(stages.contains(&(v1::ProjectStage::Signed as i32)));
        let kinds: Vec<i32> = a.iter().filter_map(|p| p.events.last()).map(|e| e.kind).collect();
        assert!(kinds.contains(&(v1::ProjectEventKind::Hold as i32)));
        assert!(kinds.contains(&(v1::ProjectEventKind::Lose as i32)));
    }

    #[test]
    fn sample_targets_give_a_gap_with_fills_chain_gap_and_past_contacts() {
        let mut rng = Rng::new(5);
        for i in 0..15 {
            let plan = sample_target(&mut rng, i, "t", 2026);
            let fills = plan.target.reasons.contains(&(v1::TargetReason::FillsChainGap as i32));
            assert_eq!(fills, !plan.target.chain_gap.is_empty());
            assert!(!plan.contacts.is_empty());
            assert!(plan.contacts.iter().all(|c| c.date.as_str() < "2026-01-01"), "{:?}", plan.contacts);
        }
    }
}
