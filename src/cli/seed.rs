//! `ladder seed`: fills a store whose firms are registered (e.g. by
//! `ladder generate` + `ladder sync`) with realistic cultivation and
//! supply–demand data through the public API: last year's figures,
//! designations, alliance memberships and postings. For trying ladder out,
//! demos and benchmarks.
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
revisioned!(v1::AnnualIndicators, v1::Designation, v1::Membership, v1::Posting);

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

/// Per kind (figures, designations, memberships, postings) what a task
/// wrote, and its first error.
type Outcome = ([Tally; 4], Option<String>);

async fn seed_firm(mut c: Clients, plan: FirmPlan, head: u64) -> Outcome {
    let mut tallies = [Tally::default(); 4];
    let mut first_error = None;
    let parent = format!("enterprises/{}", plan.firm.credit_code);
    let figures = v1::UpdateAnnualIndicatorsRequest { indicators: Some(plan.indicators), ..Default::default() };
    tallies[0].add(c.cultivation.update_annual_indicators(figures).await, head, &mut first_error);
    for (i, d) in plan.designations.into_iter().enumerate() {
        let request = v1::CreateDesignationRequest {
            parent: parent.clone(),
            designation: Some(d),
            request_id: format!("{}-d{i}", plan.request_id),
            ..Default::default()
        };
        tallies[1].add(c.cultivation.create_designation(request).await, head, &mut first_error);
    }
    if let Some(alliance) = plan.alliance {
        let request = v1::CreateMembershipRequest {
            parent: format!("alliances/{alliance}"),
            credit_code: plan.firm.credit_code.clone(),
            membership: Some(v1::Membership { role: v1::MembershipRole::Member as i32, ..Default::default() }),
            ..Default::default()
        };
        tallies[2].add(c.alliances.create_membership(request).await, head, &mut first_error);
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
            let mut t = [Tally::default(); 4];
            let mut e = None;
            t[3].add(c.create_posting(request).await, head, &mut e);
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
    let seconds = started.elapsed().as_secs_f64();
    if json {
        // The counts by kind are what this run wrote; `already_recorded`
        // what it found in place.
        println!(
            "{}",
            serde_json::json!({
                "firms": firms.len(), "indicators": figures.written, "designations": designations.written,
                "memberships": memberships.written, "postings": postings.written, "failed": failed,
                "already_recorded": {
                    "indicators": figures.existing, "designations": designations.existing,
                    "memberships": memberships.existing, "postings": postings.existing,
                },
                "seconds": seconds,
            })
        );
    } else {
        let kinds = [
            ("years of figures", figures),
            ("designations", designations),
            ("memberships", memberships),
            ("postings", postings),
        ];
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
