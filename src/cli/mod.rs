//! The command line: `ladder serve`, `ladder token mint`, and the staff client
//! commands (`ladder enterprise …`, `ladder changes`, `ladder alliance …`,
//! `ladder member …`, `ladder designation …`, `ladder stage`, `ladder indicators …`,
//! `ladder funnel`, `ladder candidates`, `ladder expiring`, `ladder sync`, `ladder run …`,
//! `ladder generate`, `ladder posting …`, `ladder match …`, `ladder map`, `ladder gaps`,
//! `ladder sourcing`, `ladder project …`, `ladder target …`).

mod admin;
mod alliance;
mod bench;
mod client;
pub(crate) mod export;
mod import;
mod ladder;
pub(crate) mod map;
mod progress;
mod project;
mod render;
mod seed;
mod supply_demand;
pub(crate) mod sync;
mod table;
mod target;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::auth::{hash_token, mint_token, Role};
use crate::config::Config;

/// ladder — the zone's enterprise-cultivation registry (梯度培育).
#[derive(Debug, Parser)]
#[command(name = "ladder", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC server on an embedded sled store.
    Serve(ServeArgs),
    /// Manage access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Register, read, correct, list, retire and restore enterprises.
    #[command(subcommand, alias = "ent")]
    Enterprise(Box<client::EnterpriseCommand>),
    /// Show the change log (who changed what, when).
    Changes(client::ChangesArgs),
    /// List, show, create and edit alliances (产业联盟).
    #[command(subcommand)]
    Alliance(alliance::AllianceCommand),
    /// Add, end and change alliance memberships; list rosters.
    #[command(subcommand)]
    Member(alliance::MemberCommand),
    /// Record, list and revoke designations (认定/入库/入统/挂牌).
    #[command(subcommand)]
    Designation(ladder::DesignationCommand),
    /// A firm's cultivation stage, since when, and its history.
    Stage {
        /// The firm's credit code.
        credit_code: String,
        /// Evaluate on this date (default today).
        #[arg(long, default_value = "")]
        as_of: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Fill the registered firms with realistic sample data: last year's
    /// figures, designations, alliance memberships and postings.
    Seed(seed::SeedArgs),
    /// Post, list and close supply and demand postings (供需信息).
    #[command(subcommand)]
    Posting(supply_demand::PostingCommand),
    /// Suggest, record and follow matches (对接) between supply and demand.
    #[command(subcommand)]
    Match(supply_demand::MatchCommand),
    /// Draw the supply–demand map (供需图谱) as SVG, DOT or JSON.
    Map(supply_demand::MapArgs),
    /// Chain gaps (缺链): categories with open demand and no in-zone supply.
    Gaps(supply_demand::GapsArgs),
    /// Investment-promotion projects (招商项目库): record, step through the
    /// pipeline, track investment against the annual plan, report.
    Project(project::ProjectArgs),
    /// The targeted-promotion list (靶向招引): firms outside the zone to go
    /// after, with their contact attempts.
    Target(target::TargetArgs),
    /// The local sourcing rate (本地配套率) of the deals signed in a period.
    Sourcing {
        /// First day YYYY-MM-DD (default 1 January this year).
        #[arg(long, default_value = "")]
        from: String,
        /// Last day YYYY-MM-DD (default today).
        #[arg(long, default_value = "")]
        to: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Measure ladder on this machine: latency percentiles, throughput,
    /// peak server memory and disk use, next to the floor of the same run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Write or show a firm's annual figures.
    #[command(subcommand)]
    Indicators(ladder::IndicatorsCommand),
    /// Firms per stage and per designation kind.
    Funnel {
        /// On this date (default today).
        #[arg(long, default_value = "")]
        as_of: String,
        /// A ListEnterprises filter, e.g. 'zone = east'.
        #[arg(long, default_value = "")]
        filter: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Firms to push towards a designation, with every criterion explained.
    Candidates {
        /// The designation to reach: 科技型中小企业, 高新技术企业, 规模以上工业企业,
        /// 规模以上服务业企业, 限额以上批发零售住宿餐饮企业, 专精特新中小企业,
        /// 专精特新“小巨人”企业, 瞪羚企业 or 独角兽企业 (or a short form: 科小, 高企,
        /// 规上工业, 小巨人…; or the code: TECH_SME, HIGH_TECH, LITTLE_GIANT…).
        #[arg(long)]
        target: String,
        /// Indicator year (default last year).
        #[arg(long, default_value_t = 0)]
        year: i32,
        /// A ListEnterprises filter.
        #[arg(long, default_value = "")]
        filter: String,
        /// Also list firms that miss a criterion.
        #[arg(long)]
        include_missed: bool,
        /// At most this many firms.
        #[arg(long, default_value_t = 100)]
        limit: i32,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Sync an XLSX or CSV file (UTF-8 or GBK, Chinese or English headers) into ladder.
    Sync {
        /// The XLSX workbook (first sheet) or CSV file.
        file: PathBuf,
        /// The source system, e.g. market-registry.
        #[arg(long)]
        source: String,
        /// Check and count everything, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also report firms this source sent before and not now.
        #[arg(long)]
        full: bool,
        /// Write the failed rows with their reasons to this CSV file.
        #[arg(long)]
        errors: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List, show and revert past sync runs.
    #[command(subcommand)]
    Run(sync::RunCommand),
    /// The feeds: each sync source's last run, last completed run, firms
    /// sent, and whether it is late (exit status 1 when one is).
    Sources {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Write N realistic sample firms as CSV to stdout (for trying ladder out).
    Generate {
        /// How many firms.
        #[arg(long, default_value_t = 1000)]
        firms: u64,
        /// Random seed (the same seed gives the same file).
        #[arg(long, default_value_t = 4754)]
        seed: u64,
    },
    /// Back up a running server, consistently, into a new folder (admin).
    Backup {
        /// The folder to write (new or empty): ladder.backup and manifest.json.
        dir: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Build a new store from a backup folder, then check it.
    Restore {
        /// The backup folder (or its ladder.backup file).
        dir: PathBuf,
        /// The new store's data folder (must not exist or be empty).
        #[arg(long)]
        data: PathBuf,
    },
    /// Copy a whole store into an empty one, between sled folders and
    /// PostgreSQL databases (either way), then check the copy. No server may
    /// be using a sled source; a PostgreSQL source is read as one snapshot.
    Migrate {
        /// The store to copy: a data folder or a postgres:// URL.
        #[arg(long)]
        from: String,
        /// The new store: an empty (or absent) data folder, or a postgres://
        /// URL whose database (or schema) holds no store yet.
        #[arg(long)]
        to: String,
    },
    /// Check a store no server is using: records, index, projections,
    /// histories, posting indexes and the change log.
    Check {
        /// The data folder.
        #[arg(long, env = "LADDER_DATA", default_value = "ladder-data")]
        data: PathBuf,
        /// Check the store in this PostgreSQL database instead (servers may
        /// keep writing meanwhile).
        #[arg(long, env = "LADDER_STORE")]
        store: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Designations whose validity ends (or re-review falls due) soon.
    Expiring {
        /// Within this many days.
        #[arg(long, default_value_t = 90)]
        days: i32,
        #[arg(long, help = ladder::kind_help("只列此类 only this kind"))]
        kind: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:50051, or the config file's].
    #[arg(long, env = "LADDER_LISTEN")]
    listen: Option<String>,
    /// Data directory of the store [default: ./ladder-data, or the config file's].
    #[arg(long, env = "LADDER_DATA")]
    data: Option<PathBuf>,
    /// Keep the store in PostgreSQL instead of the data directory, e.g.
    /// postgres://ladder@127.0.0.1:5432/ladder; several servers may share
    /// one database [default: the config file's [store] url, else sled].
    #[arg(long, env = "LADDER_STORE")]
    store: Option<String>,
    /// Configuration file (TOML): tokens, zones, limits.
    #[arg(long, env = "LADDER_CONFIG")]
    config: Option<PathBuf>,
    /// Allow serving on a non-loopback address with no tokens configured.
    #[arg(long)]
    allow_unauthenticated: bool,
    /// Serve Prometheus metrics on this address, e.g. 127.0.0.1:9464
    /// (path /metrics) [default: none, or the config file's].
    #[arg(long, env = "LADDER_METRICS")]
    metrics: Option<String>,
    /// Serve gRPC over TLS with this certificate chain (PEM) [default: the
    /// config file's, or plain HTTP/2].
    #[arg(long, env = "LADDER_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, env = "LADDER_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token: prints it once and adds its hash to the config file.
    Mint {
        /// Holder's name, recorded as the actor of their changes.
        #[arg(long)]
        name: String,
        /// viewer, editor, sync or admin.
        #[arg(long)]
        role: String,
        /// Config file to append the hashed entry to (created if missing);
        /// without it the entry is printed for you to add.
        #[arg(long, env = "LADDER_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// Options every client command takes.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Server address (`https://…` for a server with TLS).
    #[arg(long, env = "LADDER_SERVER", default_value = "http://127.0.0.1:50051", global = true)]
    pub server: String,
    /// CA certificate (PEM) to trust for an `https://` server, e.g. the
    /// zone's own CA [default: the system's trusted roots].
    #[arg(long, env = "LADDER_CA", global = true, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Bearer token (see `ladder token mint`).
    #[arg(long, env = "LADDER_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Show times in UTC instead of China Standard Time (UTC+8). JSON
    /// always carries RFC 3339 times in UTC.
    #[arg(long, global = true)]
    pub utc: bool,
    /// Write the tables to this Excel workbook instead of printing them
    /// (Chinese headers, real dates and numbers, a frozen header row and
    /// filters, the query and export time on a last sheet).
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "csv")]
    pub xlsx: Option<PathBuf>,
    /// Write the tables to this CSV file (UTF-8 with BOM, for Excel) instead
    /// of printing them.
    #[arg(long, global = true, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = run_command(cli.command, &runtime);
    match export::finish(code == ExitCode::SUCCESS) {
        Ok(Some(message)) => eprintln!("{message}"),
        Ok(None) => {}
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    code
}

fn run_command(command: Command, runtime: &tokio::runtime::Runtime) -> ExitCode {
    match command {
        Command::Serve(args) => {
            init_logging();
            match runtime.block_on(serve(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    // Once, on stderr (where the log goes too).
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Token(TokenCommand::Mint { name, role, config }) => match mint(&name, &role, config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Enterprise(cmd) => runtime.block_on(client::enterprise(*cmd)),
        Command::Changes(args) => runtime.block_on(client::changes(args)),
        Command::Alliance(cmd) => runtime.block_on(alliance::alliance(cmd)),
        Command::Member(cmd) => runtime.block_on(alliance::member(cmd)),
        Command::Designation(cmd) => runtime.block_on(ladder::designation(cmd)),
        Command::Stage { credit_code, as_of, client } => runtime.block_on(ladder::stage(credit_code, as_of, client)),
        Command::Indicators(cmd) => runtime.block_on(ladder::indicators(cmd)),
        Command::Funnel { as_of, filter, client } => runtime.block_on(ladder::funnel(as_of, filter, client)),
        Command::Candidates { target, year, filter, include_missed, limit, client } => {
            runtime.block_on(ladder::candidates(target, year, filter, include_missed, limit, client))
        }
        Command::Expiring { days, kind, client } => runtime.block_on(ladder::expiring(days, kind, client)),
        Command::Sync { file, source, dry_run, full, errors, client } => {
            runtime.block_on(sync::sync(file, source, dry_run, full, errors, client))
        }
        Command::Generate { firms, seed } => sync::generate(firms, seed),
        Command::Run(cmd) => runtime.block_on(sync::run(cmd)),
        Command::Sources { client } => runtime.block_on(sync::sources(client)),
        Command::Bench(cmd) => runtime.block_on(bench::bench(cmd)),
        Command::Seed(args) => runtime.block_on(seed::seed(args)),
        Command::Posting(cmd) => runtime.block_on(supply_demand::posting(cmd)),
        Command::Match(cmd) => runtime.block_on(supply_demand::matches(cmd)),
        Command::Map(args) => runtime.block_on(supply_demand::draw_map(args)),
        Command::Gaps(args) => runtime.block_on(supply_demand::gaps(args)),
        Command::Project(args) => runtime.block_on(project::project(args)),
        Command::Target(args) => runtime.block_on(target::target(args)),
        Command::Sourcing { from, to, client } => runtime.block_on(supply_demand::sourcing(from, to, client)),
        Command::Backup { dir, client } => runtime.block_on(admin::backup(dir, client)),
        Command::Restore { dir, data } => admin::restore(&dir, &data),
        Command::Migrate { from, to } => admin::migrate(&from, &to),
        Command::Check { data, store, json } => admin::check(&data, store, json),
    }
}

/// Output piped into a program that stops reading (`ladder … | head`) ends
/// the command quietly, as for other Unix tools, instead of a panic message.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LADDER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(data) = args.data {
        config.server.data = data;
    }
    if let Some(url) = args.store {
        config.store.url = Some(url);
    }
    config.server.allow_unauthenticated |= args.allow_unauthenticated;
    if let Some(metrics) = args.metrics {
        config.server.metrics_listen = Some(metrics);
    }
    if args.tls_cert.is_some() {
        config.server.tls_cert = args.tls_cert;
        config.server.tls_key = args.tls_key;
    }
    crate::server::run(config).await
}

fn mint(name: &str, role: &str, config: Option<PathBuf>) -> anyhow::Result<()> {
    let role =
        Role::parse(role).ok_or_else(|| anyhow::anyhow!("--role {role:?}: use viewer, editor, sync or admin"))?;
    let token = mint_token();
    let entry = format!(
        "\n[[tokens]]\nname = {}\nrole = \"{}\"\nsha256 = \"{}\"\n",
        toml::Value::String(name.to_string()),
        role.name(),
        hash_token(&token)
    );
    match config {
        Some(path) => {
            let existing = std::fs::read_to_string(&path).unwrap_or_default();
            let updated = format!("{existing}{entry}");
            // Refuse to write a file the server would then reject.
            Config::parse(&updated).map_err(|e| anyhow::anyhow!("{} would become invalid: {e:#}", path.display()))?;
            std::fs::write(&path, updated).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            eprintln!("added token {name:?} ({}) to {}; restart the server to use it", role.name(), path.display());
        }
        None => eprintln!("add this to the server's config file:{entry}"),
    }
    println!("{token}");
    eprintln!("the token is shown only now: keep it secret (LADDER_TOKEN or --token)");
    Ok(())
}
