//! `ladder bench projects`: the project reports at a library of N projects
//! (default 10,000): loads projects through the API (each stepped along
//! the pipeline, some held or lost, the key ones with this year's figures),
//! then times a filtered ListProjects page, the grouped funnel, the
//! investment report and the stalled list next to an empty RPC.

use std::sync::Arc;

use super::{connect, report, timed, Streamed, Target};
use crate::cli::ClientArgs;
use crate::pb::v1;
use crate::pb::v1::project_service_client::ProjectServiceClient;
use crate::sample::Rng;

const ZONES: [&str; 5] = ["east", "west", "south", "north", "central"];
const INDUSTRIES: [&str; 6] = ["C3841", "C3742", "C3963", "C3825", "I6513", "M7320"];

/// One sample project's creation, its steps (stage, date) and whether it
/// gets figures for this year.
struct Plan {
    project: v1::Project,
    steps: Vec<(v1::ProjectStage, String)>,
    figures: bool,
}

fn plan(rng: &mut Rng, i: usize, year: i64) -> Plan {
    let level =
        [v1::KeyLevel::None, v1::KeyLevel::District, v1::KeyLevel::Municipal, v1::KeyLevel::Provincial][rng.below(4)];
    let lead_month = 1 + rng.below(3);
    let project = v1::Project {
        display_name: format!("样例项目{i:05}"),
        investor_name: format!("样例投资方{}", rng.below(500)),
        industry_code: INDUSTRIES[rng.below(INDUSTRIES.len())].into(),
        planned_investment_wan: (1 + rng.below(200)) as f64 * 500.0,
        source_region_code: ["110105", "310115", "440305", "510107", "320505"][rng.below(5)].into(),
        promotion_zone: ZONES[rng.below(ZONES.len())].into(),
        key_level: level as i32,
        lead_source: 3 + rng.below(6) as i32,
        lead_date: format!("{}-{lead_month:02}-01", year - 1),
        ..Default::default()
    };
    let reach = rng.below(10);
    let steps = (1..=reach)
        .map(|k| {
            let stage = v1::ProjectStage::try_from(k as i32 + 1).unwrap_or(v1::ProjectStage::Contact);
            (stage, format!("{}-{:02}-{:02}", year - 1, lead_month + k.min(9), 1 + k))
        })
        .collect();
    Plan { figures: level != v1::KeyLevel::None && reach >= 4, project, steps }
}

/// Loads `n` projects, then times the reports.
pub(super) async fn projects(
    n: usize,
    queries: usize,
    concurrency: usize,
    external: bool,
    args: &ClientArgs,
) -> Result<(), String> {
    let target = Target::start(args, external).await?;
    let year = crate::domain::time::Date::today().ymd().0;
    let mut rng = Rng::new(15);
    let plans: Arc<Vec<Plan>> = Arc::new((0..n).map(|i| plan(&mut rng, i, year)).collect());
    eprintln!("loading {n} projects with their steps and figures …");
    let mut loaders = Vec::new();
    for _ in 0..4 {
        loaders.push(ProjectServiceClient::new(connect(&target.client).await?));
    }
    let started = std::time::Instant::now();
    let this_month = crate::domain::time::Date::today().ymd().1 as i32;
    let load = {
        let plans = plans.clone();
        timed(n, 128, false, move |i| {
            let mut c = loaders[i % loaders.len()].clone();
            let plans = plans.clone();
            async move {
                let plan = &plans[i];
                let created = c
                    .create_project(v1::CreateProjectRequest {
                        project: Some(plan.project.clone()),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                for (stage, date) in &plan.steps {
                    let mut event = v1::ProjectEvent {
                        kind: v1::ProjectEventKind::Step as i32,
                        stage: *stage as i32,
                        date: date.clone(),
                        ..Default::default()
                    };
                    if *stage == v1::ProjectStage::Signed {
                        event.amount_wan = plan.project.planned_investment_wan * 0.9;
                    }
                    if *stage == v1::ProjectStage::Registered {
                        // The sample has no registered firms: stop before the
                        // step that links one.
                        break;
                    }
                    c.record_project_event(v1::RecordProjectEventRequest {
                        name: created.name.clone(),
                        event: Some(event),
                        ..Default::default()
                    })
                    .await?;
                }
                if plan.figures {
                    let monthly = (1..this_month)
                        .map(|m| v1::MonthlyInvestment {
                            month: m,
                            completed_wan: Some(plan.project.planned_investment_wan / 24.0),
                        })
                        .collect();
                    c.update_project_investment(v1::UpdateProjectInvestmentRequest {
                        investment: Some(v1::ProjectInvestment {
                            name: format!("{}/investments/{year}", created.name),
                            planned_wan: Some(plan.project.planned_investment_wan / 2.0),
                            monthly,
                            planned_construction_date: format!("{year}-06-30"),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .await?;
                }
                Ok(())
            }
        })
        .await?
    };
    let loaded =
        Streamed { rows: n, created: n as i64, updated: 0, unchanged: 0, failed: 0, elapsed: started.elapsed() };

    eprintln!("timing {queries} calls of each report at concurrency {concurrency} …");
    let client = ProjectServiceClient::new(connect(&target.client).await?);
    let time = |call: fn(ProjectServiceClient<crate::cli::client::Intercepted>) -> futures_call::Call| {
        let client = client.clone();
        timed(queries, concurrency, true, move |_| call(client.clone()))
    };
    let list = time(futures_call::list).await?;
    let funnel = time(futures_call::funnel).await?;
    let investment = time(futures_call::investment).await?;
    let stalled = time(futures_call::stalled).await?;
    let floor = super::ping_floor(&target, queries, concurrency).await?;
    report(
        "projects",
        &target,
        &loaded,
        concurrency,
        &[
            ("project writes (load: create + steps + figures, durable)", load),
            ("ListProjects (zone + stage >= SIGNED, page of 50)", list),
            ("GetProjectFunnel (by zone)", funnel),
            ("GetInvestmentReport (key >= DISTRICT, by project)", investment),
            ("ListStalledProjects", stalled),
            ("Ping (floor)", floor),
        ],
        &[("projects", n as f64), ("funnel_p99_over_floor_p99", funnel.p99 / floor.p99.max(1e-9))],
        args.json,
    );
    Ok(())
}

/// The timed calls, as plain functions so one closure type serves them all.
mod futures_call {
    use crate::cli::client::Intercepted;
    use crate::pb::v1;
    use crate::pb::v1::project_service_client::ProjectServiceClient;

    /// A boxed report call.
    pub type Call = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), tonic::Status>> + Send>>;

    type Client = ProjectServiceClient<Intercepted>;

    pub fn list(mut c: Client) -> Call {
        Box::pin(async move {
            let r = v1::ListProjectsRequest { filter: "zone = east AND stage >= SIGNED".into(), ..Default::default() };
            c.list_projects(r).await.map(|_| ())
        })
    }

    pub fn funnel(mut c: Client) -> Call {
        Box::pin(async move {
            let r = v1::GetProjectFunnelRequest { group_by: v1::ProjectGroupBy::Zone as i32, ..Default::default() };
            c.get_project_funnel(r).await.map(|_| ())
        })
    }

    pub fn investment(mut c: Client) -> Call {
        Box::pin(async move {
            let r = v1::GetInvestmentReportRequest {
                filter: "key_level >= DISTRICT".into(),
                group_by: v1::ProjectGroupBy::Project as i32,
                ..Default::default()
            };
            c.get_investment_report(r).await.map(|_| ())
        })
    }

    pub fn stalled(mut c: Client) -> Call {
        Box::pin(async move { c.list_stalled_projects(v1::ListStalledProjectsRequest::default()).await.map(|_| ()) })
    }
}
