//! `ladder seed`: fills a store whose firms are registered (e.g. by
//! `ladder generate` + `ladder sync`) with realistic cultivation and
//! supply–demand data through the public API: last year's figures,
//! designations, alliance memberships and postings. For trying ladder out,
//! demos and benchmarks.

use std::process::ExitCode;

use crate::cli::client::{collect_pages, connect, fail, Intercepted};
use crate::cli::ClientArgs;
use crate::domain::time::Date;
use crate::pb::v1;
use crate::pb::v1::alliance_service_client::AllianceServiceClient;
use crate::pb::v1::cultivation_service_client::CultivationServiceClient;
use crate::pb::v1::enterprise_service_client::EnterpriseServiceClient;
use crate::pb::v1::supply_demand_service_client::SupplyDemandServiceClient;
use crate::sample::{self, Rng};

/// Arguments of `ladder seed`.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// Sample postings to add.
    #[arg(long, default_value_t = 300)]
    postings: usize,
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

/// Counts of what was written and what failed.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    written: usize,
    failed: usize,
}

impl Tally {
    fn add<T>(&mut self, r: Result<T, tonic::Status>, first_error: &mut Option<String>) {
        match r {
            Ok(_) => self.written += 1,
            // A re-run meets what the first run wrote.
            Err(s) if s.code() == tonic::Code::AlreadyExists => {}
            Err(s) => {
                self.failed += 1;
                first_error.get_or_insert_with(|| crate::cli::render::status_error(&s));
            }
        }
    }
}

/// Per kind (figures, designations, memberships, postings) what a task
/// wrote, and its first error.
type Outcome = ([Tally; 4], Option<String>);

async fn seed_firm(mut c: Clients, plan: FirmPlan) -> Outcome {
    let mut tallies = [Tally::default(); 4];
    let mut first_error = None;
    let parent = format!("enterprises/{}", plan.firm.credit_code);
    let figures = v1::UpdateAnnualIndicatorsRequest { indicators: Some(plan.indicators), ..Default::default() };
    tallies[0].add(c.cultivation.update_annual_indicators(figures).await, &mut first_error);
    for (i, d) in plan.designations.into_iter().enumerate() {
        let request = v1::CreateDesignationRequest {
            parent: parent.clone(),
            designation: Some(d),
            request_id: format!("{}-d{i}", plan.request_id),
            ..Default::default()
        };
        tallies[1].add(c.cultivation.create_designation(request).await, &mut first_error);
    }
    if let Some(alliance) = plan.alliance {
        let request = v1::CreateMembershipRequest {
            parent: format!("alliances/{alliance}"),
            credit_code: plan.firm.credit_code.clone(),
            membership: Some(v1::Membership { role: v1::MembershipRole::Member as i32, ..Default::default() }),
            ..Default::default()
        };
        tallies[2].add(c.alliances.create_membership(request).await, &mut first_error);
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
    let clients = Clients {
        cultivation: CultivationServiceClient::new(channel.clone()),
        alliances: AllianceServiceClient::new(channel.clone()),
        postings: SupplyDemandServiceClient::new(channel),
    };
    let mut rng = Rng::new(a.seed);
    let (year, _, _) = Date::today().ymd();
    let year = i32::try_from(year).unwrap_or(2026);
    let started = std::time::Instant::now();
    let mut tallies = [Tally::default(); 4];
    let mut first_error: Option<String> = None;
    let mut tasks = tokio::task::JoinSet::new();
    let mut collect = |done: Option<Result<Outcome, tokio::task::JoinError>>| {
        if let Some(Ok((t, e))) = done {
            for (sum, one) in tallies.iter_mut().zip(t) {
                sum.written += one.written;
                sum.failed += one.failed;
            }
            if first_error.is_none() {
                first_error = e;
            }
        }
    };
    for (n, firm) in firms.iter().enumerate() {
        let plan = FirmPlan {
            request_id: format!("seed-{}-{}", a.seed, firm.credit_code),
            indicators: sample::indicators(&mut rng, &firm.credit_code, year - 1),
            designations: sample::designations(&mut rng, n, year),
            alliance: sample::alliance_for(&firm.industry_code).filter(|_| rng.below(2) == 0),
            firm: firm.clone(),
        };
        tasks.spawn(seed_firm(clients.clone(), plan));
        if tasks.len() >= IN_FLIGHT {
            collect(tasks.join_next().await);
        }
    }
    while !tasks.is_empty() {
        collect(tasks.join_next().await);
    }
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
            let mut t = [Tally::default(); 4];
            let mut e = None;
            t[3].add(c.create_posting(request).await, &mut e);
            (t, e)
        });
        if tasks.len() >= IN_FLIGHT {
            collect(tasks.join_next().await);
        }
    }
    while !tasks.is_empty() {
        collect(tasks.join_next().await);
    }
    let [figures, designations, memberships, postings] = tallies;
    let failed = figures.failed + designations.failed + memberships.failed + postings.failed;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "firms": firms.len(), "indicators": figures.written, "designations": designations.written,
                "memberships": memberships.written, "postings": postings.written, "failed": failed,
                "seconds": started.elapsed().as_secs_f64(),
            })
        );
    } else {
        println!(
            "seeded {} firms in {:.1} s: {} years of figures, {} designations, {} memberships, {} postings",
            firms.len(),
            started.elapsed().as_secs_f64(),
            figures.written,
            designations.written,
            memberships.written,
            postings.written
        );
    }
    if let Some(e) = first_error {
        eprintln!("{failed} writes failed; the first: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
