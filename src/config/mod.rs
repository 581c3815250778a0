//! The configuration file: schema, loading and validation. Every problem is
//! reported with its key path, all of them at once, and unknown keys are errors.

mod validate;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::balance::Balance;
use crate::session::ReadYourWrites;

pub use validate::ConfigError;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    pub proxy: ProxyConfig,
    pub backend: BackendConfig,
    pub monitor: MonitorConfig,
    pub routing: RoutingConfig,
    pub admin: AdminConfig,
    pub servers: Vec<ServerConfig>,
    pub users: Vec<UserConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ProxyConfig {
    /// Address clients connect to.
    pub listen: String,
    /// Largest packet accepted from a client (bytes), like the server's variable.
    pub max_allowed_packet: usize,
    /// Tokio worker threads; 0 means one per core.
    pub worker_threads: usize,
    /// How long SIGTERM waits for running sessions before closing them.
    #[serde(with = "duration")]
    pub shutdown_timeout: Duration,
    /// Server version sent to clients before any backend has been reached.
    pub server_version: String,
    /// A client must finish logging in within this.
    #[serde(with = "duration")]
    pub handshake_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct BackendConfig {
    /// Account the proxy logs into backends with, unless a user names its own.
    pub user: String,
    pub password: String,
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Connections kept open per server even when idle.
    pub pool_min: usize,
    /// Most connections per server, in use and idle together.
    pub pool_max: usize,
    /// Idle connections above `pool_min` are closed after this long.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
}

/// The admin port: MySQL protocol, its own account.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct AdminConfig {
    /// Address of the admin port; empty (the default) leaves it off.
    pub listen: String,
    pub user: String,
    /// Plaintext, or `*` + 40 hex digits.
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MonitorConfig {
    pub user: String,
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RoutingConfig {
    /// How reads are spread over replicas: "roundrobin" (weighted) or "leastconn".
    pub balance: Balance,
    /// Reads see earlier writes: a read goes to a replica only once that replica
    /// has applied them (waiting up to `read_your_writes_timeout`), else to the
    /// master. "global": every write acknowledged to any client of the proxy
    /// (the split is invisible even across connections); "session": the
    /// session's own writes; "off".
    pub read_your_writes: ReadYourWrites,
    #[serde(with = "duration")]
    pub read_your_writes_timeout: Duration,
    /// Reads go to the master when no replica is usable.
    pub reads_fall_back_to_master: bool,
    /// The master's share of reads next to the replicas' weights (0: none).
    pub master_read_weight: u32,
    /// Calls of functions the classifier does not know (stored functions) are
    /// treated as reads; by default they go to the master.
    pub unknown_functions_are_reads: bool,
    /// Distinct statement shapes whose classification is cached.
    pub digest_cache_size: usize,
    /// Server-side prepared statements kept per backend connection; the least
    /// recently used beyond this are closed.
    pub max_prepared_per_connection: usize,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            balance: Balance::Roundrobin,
            read_your_writes: ReadYourWrites::Global,
            // Do not wait: a replica that has not applied the writes yet leaves
            // the read to the master, which answers at once.
            read_your_writes_timeout: Duration::ZERO,
            reads_fall_back_to_master: true,
            master_read_weight: 0,
            unknown_functions_are_reads: false,
            digest_cache_size: 10_000,
            max_prepared_per_connection: 256,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    Replica,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ServerConfig {
    pub name: String,
    /// `host:port`.
    pub address: String,
    pub role: Role,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UserConfig {
    pub name: String,
    /// Plaintext, or `*` + 40 hex digits: the hash `SELECT PASSWORD('...')` prints.
    #[serde(default)]
    pub password: String,
    /// Backend account for this user; `[backend]`'s when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_password: Option<String>,
    /// Overrides `routing.read_your_writes` for this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_your_writes: Option<ReadYourWrites>,
}

fn default_weight() -> u32 {
    1
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:6033".into(),
            max_allowed_packet: 64 * 1024 * 1024,
            worker_threads: 0,
            shutdown_timeout: Duration::from_secs(30),
            server_version: "5.5.5-10.11.0-MariaDB-rwsplit".into(),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            user: String::new(),
            password: String::new(),
            connect_timeout: Duration::from_secs(3),
            pool_min: 0,
            pool_max: 256,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self { user: "monitor".into(), password: String::new() }
    }
}

impl Config {
    /// Reads, parses and validates a config file; every problem found is returned.
    pub fn load(path: &Path) -> Result<Self, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![ConfigError::new("", format!("cannot read {}: {e}", path.display()))])?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, Vec<ConfigError>> {
        let mut unknown = Vec::new();
        let de = toml::Deserializer::parse(text).map_err(|e| vec![ConfigError::from_toml(&e)])?;
        let parsed: Result<Config, _> = serde_ignored::deserialize(de, |path| unknown.push(path.to_string()));
        let config = match parsed {
            Ok(c) => c,
            Err(e) => {
                let mut errs: Vec<ConfigError> = unknown.iter().map(|k| ConfigError::unknown_key(k)).collect();
                errs.push(ConfigError::from_toml(&e));
                return Err(errs);
            }
        };
        let mut errors: Vec<ConfigError> = unknown.iter().map(|k| ConfigError::unknown_key(k)).collect();
        errors.extend(validate::validate(&config));
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    pub fn user(&self, name: &str) -> Option<&UserConfig> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn master(&self) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.role == Role::Master)
    }
}

/// Durations as humantime strings ("3s", "500ms", "5m").
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!("invalid duration {text:?}: {e} (write e.g. \"3s\", \"500ms\")"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../config/rwsplit.toml");

    #[test]
    fn shipped_config_is_valid() {
        let c = Config::parse(DEMO).expect("config/rwsplit.toml is valid");
        assert_eq!(c.proxy.listen, "127.0.0.1:6033");
        assert_eq!(c.master().map(|m| m.address.as_str()), Some("127.0.0.1:13306"));
        assert_eq!(c.servers.iter().filter(|s| s.role == Role::Replica).count(), 2);
        assert!(c.user("app").is_some());
    }

    #[test]
    fn unknown_keys_are_all_reported() {
        let text = format!("{DEMO}\n[extra]\nx = 1\n");
        let text = text.replacen("[proxy]\n", "[proxy]\nlisten_typo = \"x\"\n", 1);
        let errs = Config::parse(&text).expect_err("unknown keys");
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"proxy.listen_typo"), "{paths:?}");
        assert!(paths.contains(&"extra"), "{paths:?}");
    }

    #[test]
    fn bad_duration_names_the_key() {
        let text = DEMO.replacen("connect_timeout = \"3s\"", "connect_timeout = \"soon\"", 1);
        let errs = Config::parse(&text).expect_err("bad duration");
        assert!(errs[0].to_string().contains("connect_timeout"), "{}", errs[0]);
    }
}
