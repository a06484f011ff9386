//! The command line: `ladder serve`, `ladder token mint`, and the staff client
//! commands (`ladder enterprise …`, `ladder changes`, `ladder alliance …`,
//! `ladder member …`).

mod alliance;
mod client;
mod render;
mod table;

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
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:50051, or the config file's].
    #[arg(long, env = "LADDER_LISTEN")]
    listen: Option<String>,
    /// Data directory of the store [default: ./ladder-data, or the config file's].
    #[arg(long, env = "LADDER_DATA")]
    data: Option<PathBuf>,
    /// Configuration file (TOML): tokens, zones, limits.
    #[arg(long, env = "LADDER_CONFIG")]
    config: Option<PathBuf>,
    /// Allow serving on a non-loopback address with no tokens configured.
    #[arg(long)]
    allow_unauthenticated: bool,
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
    /// Server address.
    #[arg(long, env = "LADDER_SERVER", default_value = "http://127.0.0.1:50051", global = true)]
    pub server: String,
    /// Bearer token (see `ladder token mint`).
    #[arg(long, env = "LADDER_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve(args) => {
            init_logging();
            match runtime.block_on(serve(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
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
    }
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
    config.server.allow_unauthenticated |= args.allow_unauthenticated;
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
