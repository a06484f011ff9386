//! The server's configuration file (TOML), every setting with a documented
//! default. Command-line flags and environment variables override the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::TokenEntry;
use crate::domain::alliance::{default_alliances, Alliance, AllianceSeed};
use crate::domain::policy::Policy;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Network, storage and limits.
    #[serde(default)]
    pub server: ServerConfig,
    /// Bearer tokens (stored as SHA-256 hashes only). None configured means
    /// local callers are admin and the server refuses non-loopback addresses.
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    /// Promotion zones (包片招商片区) that `promotion_zone` may name.
    #[serde(default)]
    pub zones: Vec<Zone>,
    /// Sync sources the zone expects to run regularly; `ListSources` and
    /// `ladder sources` report them late when no run completes in time.
    #[serde(default)]
    pub sources: Vec<SourceExpectation>,
    /// Alliances a new, empty store is seeded with on first start; when none
    /// are listed, the built-in defaults (seven industry alliances plus finance
    /// and talent) are used.
    #[serde(default)]
    pub alliances: Vec<AllianceSeed>,
    /// Investment-promotion projects.
    #[serde(default)]
    pub projects: ProjectsConfig,
    /// Where the store lives: sled in `server.data` (the default), or
    /// PostgreSQL.
    #[serde(default)]
    pub store: StoreConfig,
}

/// `[store]` settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// A PostgreSQL URL (`postgres://user:password@host:5432/ladder`, 15 or
    /// newer): the store lives in that database instead of `server.data`,
    /// and several ladder servers may share it. None (the default) keeps the
    /// embedded sled store. `--store` or `LADDER_STORE` override it.
    pub url: Option<String>,
}

/// `[projects]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectsConfig {
    /// Days without a step after which an active project counts as stalled
    /// in ListStalledProjects (default 30).
    pub stall_days: u32,
    /// Thresholds for particular stages, by stage name, e.g.
    /// `{ NEGOTIATION = 60, LAND = 90 }` (or 洽谈, 拿地).
    pub stall_days_by_stage: std::collections::BTreeMap<String, u32>,
}

impl Default for ProjectsConfig {
    fn default() -> Self {
        Self { stall_days: 30, stall_days_by_stage: Default::default() }
    }
}

impl ProjectsConfig {
    /// The stall thresholds (stage names already checked at load).
    pub fn stall_rule(&self) -> crate::domain::project::reports::StallRule {
        crate::domain::project::reports::StallRule {
            default_days: self.stall_days,
            by_stage: self
                .stall_days_by_stage
                .iter()
                .filter_map(|(name, days)| crate::domain::project::parse_stage(name).map(|s| (s, *days)))
                .collect(),
        }
    }
}

/// A sync source and how often it is expected to complete a run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceExpectation {
    /// The source's name, as its runs give it.
    pub name: String,
    /// Hours between completed runs (a daily feed: 24).
    pub expect_every_hours: u64,
}

/// A promotion zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Short id used in records and filters, e.g. `east`.
    pub id: String,
    /// Display name, e.g. 东区片区.
    #[serde(default)]
    pub name: String,
    /// Department owning the zone.
    #[serde(default)]
    pub department: String,
}

/// `[server]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:50051`).
    pub listen: String,
    /// Data directory of the sled store (default `./ladder-data`).
    pub data: PathBuf,
    /// sled page cache in MiB (default 256). sled uses memory beyond it that
    /// grows with the store: about 1.8 GiB peak at 1,000,000 firms with 256,
    /// about 1.0 GiB with 64 and 0.9 GiB with 32 (reads are then slower; see
    /// the README's Performance section).
    pub cache_mb: u64,
    /// Largest request or response message in bytes (default 4 MiB).
    pub max_message_bytes: usize,
    /// Longest a request may take before DEADLINE_EXCEEDED, in seconds (default 30).
    pub request_timeout_secs: u64,
    /// Concurrent requests per client connection (default 64).
    pub concurrency_per_connection: usize,
    /// Serve on a non-loopback address with no tokens configured. Everyone
    /// who can reach the port is then admin: for closed networks only.
    pub allow_unauthenticated: bool,
    /// Cultivation policy file (TOML) replacing the built-in thresholds.
    pub policy_file: Option<PathBuf>,
    /// Days of change log to keep; older entries are removed (hourly), and a
    /// request for a removed revision gets OUT_OF_RANGE naming the oldest
    /// retained one. 0 (the default) keeps the whole history.
    pub change_log_retention_days: u64,
    /// Days a request id is remembered (default 7): a retry within them
    /// gets the first answer back; after them the id is forgotten (hourly)
    /// and the same id writes again. 0 remembers them for ever.
    pub request_id_retention_days: u64,
    /// Address to serve Prometheus metrics on (`/metrics`, plain HTTP, no
    /// authentication: keep it on loopback or a monitoring network);
    /// none by default.
    pub metrics_listen: Option<String>,
    /// TLS certificate chain (PEM) to serve gRPC over TLS with; with
    /// `tls_key`. Without them ladder serves plain HTTP/2.
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Sync streams (`SyncEnterprises`) served at once, server-wide (default
    /// [`DEFAULT_MAX_SYNC_STREAMS`]). Each holds up to three chunks of rows
    /// (at most 500 rows or 4 MiB each); a stream beyond the limit is refused
    /// with RESOURCE_EXHAUSTED (`TOO_MANY_SYNC_STREAMS`) and may retry later.
    pub max_sync_streams: usize,
    /// Most open client connections (default 4096). Each holds a file
    /// descriptor; a connection past the limit is closed as it is accepted,
    /// and the refusals are logged (one line per 10 s).
    pub max_connections: usize,
    /// Most open connections from one IP address (default 512).
    pub max_connections_per_peer: usize,
    /// Seconds a new connection has to send the HTTP/2 preface before it is
    /// closed (default 5).
    pub handshake_timeout_secs: u64,
    /// Seconds a connection may stay open with no request in flight before it
    /// is closed (default 300; 0 never closes idle connections). Clients
    /// reconnect transparently.
    pub idle_timeout_secs: u64,
    /// Most open `WatchChanges` streams in all (default 256); past it a new
    /// watcher gets RESOURCE_EXHAUSTED TOO_MANY_WATCHERS.
    pub max_watchers: usize,
    /// Most open `WatchChanges` streams of one caller, by token name (default
    /// 16; with no tokens configured every local caller is the same one);
    /// past it RESOURCE_EXHAUSTED TOO_MANY_WATCHERS_PER_CALLER.
    pub max_watchers_per_caller: usize,
    /// Seconds between HTTP/2 keepalive pings the server sends (default 30).
    pub keepalive_interval_secs: u64,
    /// Seconds the server waits for a ping's answer before closing the
    /// connection as dead (default 20).
    pub keepalive_timeout_secs: u64,
}

/// Default of `server.max_sync_streams`.
pub const DEFAULT_MAX_SYNC_STREAMS: usize = 8;

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".into(),
            data: PathBuf::from("./ladder-data"),
            cache_mb: 256,
            max_message_bytes: 4 * 1024 * 1024,
            request_timeout_secs: 30,
            concurrency_per_connection: 64,
            allow_unauthenticated: false,
            policy_file: None,
            change_log_retention_days: 0,
            request_id_retention_days: 7,
            metrics_listen: None,
            tls_cert: None,
            tls_key: None,
            max_sync_streams: DEFAULT_MAX_SYNC_STREAMS,
            max_connections: 4096,
            max_connections_per_peer: 512,
            handshake_timeout_secs: 5,
            idle_timeout_secs: 300,
            max_watchers: 256,
            max_watchers_per_caller: 16,
            keepalive_interval_secs: 30,
            keepalive_timeout_secs: 20,
        }
    }
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text =
            std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))
    }

    /// Parses and checks configuration text.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let config: Config = toml::from_str(text)?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        let mut names = std::collections::HashSet::new();
        for token in &self.tokens {
            token.check()?;
            anyhow::ensure!(names.insert(&token.name), "token name {:?} appears twice", token.name);
        }
        let mut ids = std::collections::HashSet::new();
        for zone in &self.zones {
            anyhow::ensure!(
                !zone.id.is_empty() && zone.id.len() <= 50 && !zone.id.contains(char::is_whitespace),
                "zone id {:?} must be 1–50 characters without spaces",
                zone.id
            );
            anyhow::ensure!(ids.insert(&zone.id), "zone id {:?} appears twice", zone.id);
        }
        for name in self.projects.stall_days_by_stage.keys() {
            anyhow::ensure!(
                crate::domain::project::parse_stage(name).is_some(),
                "[projects] stall_days_by_stage: {name:?} is not a stage (LEAD … STATISTICS or 线索 … 入统)"
            );
        }
        let mut alliance_ids = std::collections::HashSet::new();
        for seed in &self.alliances {
            seed.to_alliance().map_err(|e| anyhow::anyhow!("alliance {:?}: {e}", seed.id))?;
            anyhow::ensure!(alliance_ids.insert(&seed.id), "alliance id {:?} appears twice", seed.id);
        }
        let s = &self.server;
        anyhow::ensure!(s.max_message_bytes >= 64 * 1024, "server.max_message_bytes must be at least 65536");
        anyhow::ensure!(s.request_timeout_secs >= 1, "server.request_timeout_secs must be at least 1");
        anyhow::ensure!(s.concurrency_per_connection >= 1, "server.concurrency_per_connection must be at least 1");
        anyhow::ensure!(s.cache_mb >= 8, "server.cache_mb must be at least 8");
        anyhow::ensure!(s.max_sync_streams >= 1, "server.max_sync_streams must be at least 1");
        anyhow::ensure!(s.max_connections >= 1, "server.max_connections must be at least 1");
        anyhow::ensure!(s.max_connections_per_peer >= 1, "server.max_connections_per_peer must be at least 1");
        anyhow::ensure!(s.handshake_timeout_secs >= 1, "server.handshake_timeout_secs must be at least 1");
        anyhow::ensure!(s.max_watchers >= 1, "server.max_watchers must be at least 1");
        anyhow::ensure!(s.max_watchers_per_caller >= 1, "server.max_watchers_per_caller must be at least 1");
        anyhow::ensure!(s.keepalive_interval_secs >= 1, "server.keepalive_interval_secs must be at least 1");
        anyhow::ensure!(s.keepalive_timeout_secs >= 1, "server.keepalive_timeout_secs must be at least 1");
        self.policy()?;
        Ok(())
    }

    /// The alliances to seed a new store with (checked by [`Config::parse`]).
    pub fn seed_alliances(&self) -> Vec<Alliance> {
        // Only the built-in placeholders are marked as defaults to edit; a
        // zone's own list is its real alliances.
        let (seeds, placeholders) =
            if self.alliances.is_empty() { (default_alliances(), true) } else { (self.alliances.clone(), false) };
        seeds
            .iter()
            .filter_map(|s| s.to_alliance().ok())
            .map(|mut a| {
                a.seeded_default = placeholders;
                a
            })
            .collect()
    }

    /// The cultivation policy: the configured file, or the built-in one.
    pub fn policy(&self) -> anyhow::Result<Policy> {
        match &self.server.policy_file {
            None => Ok(Policy::built_in()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read policy file {}: {e}", path.display()))?;
                Policy::parse(&text, &path.display().to_string()).map_err(|e| anyhow::anyhow!(e))
            }
        }
    }

    /// The connection limits of `[server]`.
    pub fn connection_limits(&self) -> crate::connections::ConnectionLimits {
        let s = &self.server;
        crate::connections::ConnectionLimits {
            max_connections: s.max_connections,
            max_per_peer: s.max_connections_per_peer,
            handshake_timeout: std::time::Duration::from_secs(s.handshake_timeout_secs),
            idle_timeout: (s.idle_timeout_secs > 0).then(|| std::time::Duration::from_secs(s.idle_timeout_secs)),
        }
    }

    /// Hours between completed runs the config expects, by source.
    pub fn expected_sources(&self) -> std::collections::BTreeMap<String, u64> {
        self.sources
            .iter()
            .filter(|s| s.expect_every_hours > 0)
            .map(|s| (s.name.clone(), s.expect_every_hours))
            .collect()
    }

    /// Ids of the configured zones.
    pub fn zone_ids(&self) -> Vec<String> {
        self.zones.iter().map(|z| z.id.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_documented_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:50051");
        assert_eq!(c.server.max_message_bytes, 4 * 1024 * 1024);
        assert_eq!(c.server.max_sync_streams, DEFAULT_MAX_SYNC_STREAMS);
        assert!(Config::parse("[server]\nmax_sync_streams = 0").is_err());
        assert_eq!(Config::parse("[server]\nmax_sync_streams = 2").unwrap().server.max_sync_streams, 2);
        assert!(c.tokens.is_empty() && c.zones.is_empty());
    }

    #[test]
    fn the_shipped_example_config_is_valid() {
        let c = Config::parse(include_str!("../ladder.example.toml")).unwrap();
        assert_eq!(c.zone_ids(), ["east", "west", "south", "north", "central"]);
        let stall = c.projects.stall_rule();
        assert_eq!(
            (stall.days(crate::pb::v1::ProjectStage::Lead), stall.days(crate::pb::v1::ProjectStage::Land)),
            (30, 90)
        );
        assert!(Config::parse("[projects]\nstall_days_by_stage = { DONE = 3 }").is_err(), "stage names are checked");
        assert_eq!(c.seed_alliances().len(), 9);
        assert_eq!(c.server.listen, ServerConfig::default().listen);
    }

    #[test]
    fn unknown_keys_and_duplicates_are_errors() {
        assert!(Config::parse("[server]\nlisten_on = \"x\"").is_err());
        assert!(Config::parse("[[zones]]\nid = \"east\"\n[[zones]]\nid = \"east\"").is_err());
        assert!(Config::parse("[server]\nrequest_timeout_secs = 0").is_err());
    }

    #[test]
    fn zones_and_tokens_parse() {
        let text = format!(
            "[[zones]]\nid = \"east\"\nname = \"东区\"\n[[tokens]]\nname = \"wang\"\nrole = \"editor\"\nsha256 = \"{}\"\n",
            "a".repeat(64)
        );
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.zone_ids(), vec!["east"]);
        assert_eq!(c.tokens[0].name, "wang");
    }
}
