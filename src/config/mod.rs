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
    pub http: HttpConfig,
    pub tls: TlsConfig,
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
    /// Client connections at most; one more is refused with ERR 1040.
    pub max_connections: usize,
    /// A client silent this long between commands is disconnected (0: never),
    /// like the server's wait_timeout.
    #[serde(with = "duration")]
    pub client_idle_timeout: Duration,
    /// The authentication plugin the greeting names (MySQL's
    /// default_authentication_plugin): a client whose user has another is
    /// switched to it.
    pub default_auth_plugin: AuthPlugin,
}

/// Client-facing TLS, offered to every client (the SSLRequest upgrade).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct TlsConfig {
    /// Off: TLS is not offered and an SSLRequest is refused.
    pub enabled: bool,
    /// PEM certificate chain and private key; both empty: a self-signed
    /// certificate is generated at start (as MariaDB 11.4 does), so TLS is
    /// always on offer. Re-read on every reload.
    pub cert: String,
    pub key: String,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self { enabled: true, cert: String::new(), key: String::new() }
    }
}

/// TLS from the proxy to the servers, in the MySQL client's `--ssl-mode` terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendTlsMode {
    #[default]
    Disabled,
    /// TLS when the server offers it, plain otherwise.
    Preferred,
    /// TLS or no connection; the certificate is not checked.
    Required,
    /// The certificate must chain to `backend.tls_ca`.
    VerifyCa,
    /// And name the server's host (the address in `servers[].address`).
    VerifyIdentity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthPlugin {
    #[default]
    MysqlNativePassword,
    CachingSha2Password,
}

impl AuthPlugin {
    pub fn name(self) -> &'static str {
        match self {
            AuthPlugin::MysqlNativePassword => "mysql_native_password",
            AuthPlugin::CachingSha2Password => "caching_sha2_password",
        }
    }
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
    /// How long a session may keep the replica connection of its last read
    /// while silent (`frontend::lease`); zero gives it back after every
    /// statement.
    #[serde(with = "duration")]
    pub lease: Duration,
    /// TLS to the servers (monitor connections included).
    pub tls: BackendTlsMode,
    /// PEM CA bundle the servers' certificates are checked against
    /// (`verify_ca`, `verify_identity`).
    pub tls_ca: String,
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

/// The HTTP listener: `/stats` (HTML) and `/metrics` (Prometheus) behind basic
/// auth, `/health`, `/health/read` and `/health/write` open to load balancers.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Address of the HTTP listener; empty (the default) leaves it off.
    pub listen: String,
    /// Basic-auth account for `/stats` and `/metrics`.
    pub user: String,
    /// Plaintext, or `*` + 40 hex digits (`SELECT PASSWORD('...')`).
    pub password: String,
}

/// Health checks, in HAProxy's vocabulary.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MonitorConfig {
    pub user: String,
    pub password: String,
    /// Check interval while a server's state is stable and it is up.
    #[serde(with = "duration")]
    pub inter: Duration,
    /// Check interval while a state change is pending (between the first
    /// failure and `fall`, or the first success and `rise`).
    #[serde(with = "duration")]
    pub fastinter: Duration,
    /// Check interval while a server is down.
    #[serde(with = "duration")]
    pub downinter: Duration,
    /// Consecutive successful checks for a down server to come up.
    pub rise: u32,
    /// Consecutive failed checks for an up server to go down.
    pub fall: u32,
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Each check query must answer within this.
    #[serde(with = "duration")]
    pub query_timeout: Duration,
    /// A replica further behind than this takes no reads.
    #[serde(with = "duration")]
    pub max_replication_lag: Duration,
    /// While no master is known, writes wait this long for one to appear.
    #[serde(with = "duration")]
    pub failover_hold: Duration,
    /// Replicas of a master that is down keep serving reads (by default they
    /// are taken out with it: their data stopped at the master's failure).
    pub replicas_serve_without_master: bool,
    /// `replication` (one master, replicas) or `galera` (every node checked by
    /// `wsrep_local_state`; writes to one node at a time). `type` works too.
    #[serde(alias = "type")]
    pub cluster: ClusterType,
    /// Galera: a Donor/Desynced node (state 2) still takes work.
    pub available_when_donor: bool,
    /// `db.table` for a replication heartbeat (empty: off): the master gets a
    /// timestamp every `heartbeat_interval`, and a replica's lag is the age of
    /// the one it has applied, finer than Seconds_Behind_Master's whole seconds.
    /// The monitor account needs CREATE, INSERT, UPDATE and SELECT on `db`.
    pub heartbeat_table: String,
    #[serde(with = "duration")]
    pub heartbeat_interval: Duration,
    /// Off by default ("0s"): once no master has been seen for this long and
    /// the last master is down, promote the most advanced healthy replica and
    /// point the others at it. Needs `promote_user` (READ_ONLY ADMIN or SUPER,
    /// REPLICATION SLAVE ADMIN, RELOAD) and the replication account.
    #[serde(with = "duration")]
    pub auto_promote_after: Duration,
    pub promote_user: String,
    pub promote_password: String,
    pub replication_user: String,
    pub replication_password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterType {
    #[default]
    Replication,
    Galera,
}

/// The check settings in force for one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSettings {
    pub galera: bool,
    /// The heartbeat table and how often the master's beat is written.
    pub heartbeat: Option<(String, Duration)>,
    pub available_when_donor: bool,
    pub inter: Duration,
    pub fastinter: Duration,
    pub downinter: Duration,
    pub rise: u32,
    pub fall: u32,
    pub connect_timeout: Duration,
    pub query_timeout: Duration,
    pub max_replication_lag: Duration,
}

impl MonitorConfig {
    pub fn settings_for(&self, o: &ServerConfig) -> CheckSettings {
        CheckSettings {
            galera: self.cluster == ClusterType::Galera,
            heartbeat: (!self.heartbeat_table.is_empty())
                .then(|| (self.heartbeat_table.clone(), self.heartbeat_interval)),
            available_when_donor: self.available_when_donor,
            inter: o.inter.unwrap_or(self.inter),
            fastinter: o.fastinter.unwrap_or(self.fastinter),
            downinter: o.downinter.unwrap_or(self.downinter),
            rise: o.rise.unwrap_or(self.rise),
            fall: o.fall.unwrap_or(self.fall),
            connect_timeout: self.connect_timeout,
            query_timeout: self.query_timeout,
            max_replication_lag: o.max_replication_lag.unwrap_or(self.max_replication_lag),
        }
    }
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
    /// "session" (default): a session keeps reading from the replica its first
    /// read went to while that one is fit, so the balancer spreads sessions;
    /// "statement": every read is balanced on its own. Round robin only
    /// (leastconn, and Galera, balance every statement).
    pub read_affinity: ReadAffinity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadAffinity {
    Statement,
    #[default]
    Session,
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
            read_affinity: ReadAffinity::Session,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerState {
    #[default]
    Ready,
    Drain,
    Maint,
}

impl ServerState {
    pub fn is_ready(&self) -> bool {
        *self == ServerState::Ready
    }

    pub fn name(self) -> &'static str {
        match self {
            ServerState::Ready => "ready",
            ServerState::Drain => "drain",
            ServerState::Maint => "maint",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    /// The default: Galera nodes need no role.
    #[default]
    Replica,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ServerConfig {
    pub name: String,
    /// `host:port`.
    pub address: String,
    #[serde(default)]
    pub role: Role,
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// `ready`, `drain` (no new work; what runs finishes) or `maint` (the same,
    /// for maintenance). Set from the admin port, kept by SAVE CONFIG.
    #[serde(default, skip_serializing_if = "ServerState::is_ready")]
    pub state: ServerState,
    /// Galera: the writer is the usable node with the lowest priority (then
    /// the first listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    // Health-check settings for this server only (overriding `[monitor]`).
    #[serde(default, with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub inter: Option<Duration>,
    #[serde(default, with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub fastinter: Option<Duration>,
    #[serde(default, with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub downinter: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rise: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fall: Option<u32>,
    #[serde(default, with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub max_replication_lag: Option<Duration>,
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
    /// Sessions this user may have at once (ERR 1203 beyond); none: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Overrides `routing.read_your_writes` for this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_your_writes: Option<ReadYourWrites>,
    /// Refused (ERR 1045, as the server does for REQUIRE SSL) without TLS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_tls: bool,
    /// Source addresses the user may connect from: addresses or CIDR blocks
    /// (`127.0.0.1`, `10.0.0.0/8`, `::1`); empty: anywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// The user's authentication plugin; `proxy.default_auth_plugin` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_plugin: Option<AuthPlugin>,
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
            max_connections: 10_000,
            client_idle_timeout: Duration::from_secs(8 * 3600),
            default_auth_plugin: AuthPlugin::MysqlNativePassword,
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
            lease: Duration::from_millis(100),
            tls: BackendTlsMode::Disabled,
            tls_ca: String::new(),
        }
    }
}

impl Default for MonitorConfig {
    fn default() -> Self {
        // HAProxy's defaults for inter, rise and fall.
        Self {
            user: "monitor".into(),
            password: String::new(),
            inter: Duration::from_secs(2),
            fastinter: Duration::from_millis(500),
            downinter: Duration::from_secs(2),
            rise: 2,
            fall: 3,
            connect_timeout: Duration::from_secs(1),
            query_timeout: Duration::from_secs(1),
            max_replication_lag: Duration::from_secs(10),
            failover_hold: Duration::from_secs(10),
            replicas_serve_without_master: false,
            cluster: ClusterType::Replication,
            available_when_donor: false,
            heartbeat_table: String::new(),
            heartbeat_interval: Duration::from_millis(250),
            auto_promote_after: Duration::ZERO,
            promote_user: String::new(),
            promote_password: String::new(),
            replication_user: String::new(),
            replication_password: String::new(),
        }
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

    /// Validates a config built in memory (an admin edit).
    pub fn check(&self) -> Result<(), Vec<ConfigError>> {
        let errors = validate::validate(self);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The config as a file would hold it (comments are not kept).
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string_pretty(self).map_err(|e| e.to_string())
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

mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map(Some).map_err(|e| {
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
        assert_eq!(c.http.listen, "127.0.0.1:8080");
        assert_eq!(c.http.user, "admin");
    }

    #[test]
    fn http_is_off_by_default() {
        let text = "[backend]\nuser = \"app\"\n[[servers]]\nname = \"m\"\naddress = \"127.0.0.1:13306\"\nrole = \"master\"\n[[users]]\nname = \"app\"\n";
        let c = Config::parse(text).expect("valid");
        assert!(c.http.listen.is_empty());
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
