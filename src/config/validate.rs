//! Semantic checks on a parsed config, each problem with its key path.

use std::collections::HashSet;
use std::fmt;

use super::{BackendTlsMode, Config, Role};
use crate::protocol::auth::StoredPassword;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path (`servers[1].address`); empty for the file as a whole.
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }

    pub(super) fn unknown_key(path: &str) -> Self {
        Self::new(path, "unknown key")
    }

    pub(super) fn from_toml(e: &toml::de::Error) -> Self {
        // toml's message has the line and a caret; the key path is in the text.
        Self::new("", e.to_string().trim_end().to_string())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

pub(super) fn validate(c: &Config) -> Vec<ConfigError> {
    let mut errs = Vec::new();
    let mut err = |path: String, msg: String| errs.push(ConfigError::new(path, msg));

    if let Err(e) = check_address(&c.proxy.listen) {
        err("proxy.listen".into(), e);
    }
    if !(1024..=1 << 30).contains(&c.proxy.max_allowed_packet) {
        err("proxy.max_allowed_packet".into(), "must be between 1024 and 1073741824 bytes".into());
    }
    if c.proxy.handshake_timeout.is_zero() {
        err("proxy.handshake_timeout".into(), "must be more than 0".into());
    }
    if c.proxy.max_connections == 0 {
        err("proxy.max_connections".into(), "must be at least 1".into());
    }
    if c.proxy.shutdown_timeout.is_zero() {
        err("proxy.shutdown_timeout".into(), "must be more than 0".into());
    }
    if !c.proxy.server_version.is_ascii() || c.proxy.server_version.contains('\0') {
        err("proxy.server_version".into(), "must be ASCII without NUL".into());
    }
    if !c.admin.listen.is_empty() {
        if let Err(e) = check_address(&c.admin.listen) {
            err("admin.listen".into(), e);
        } else if c.admin.listen == c.proxy.listen {
            err("admin.listen".into(), "must differ from proxy.listen".into());
        }
        if c.admin.user.is_empty() {
            err("admin.user".into(), "must be set when admin.listen is".into());
        }
        if let Err(e) = StoredPassword::from_config(&c.admin.password) {
            err("admin.password".into(), e.to_string());
        }
    }
    if !c.http.listen.is_empty() {
        if let Err(e) = check_address(&c.http.listen) {
            err("http.listen".into(), e);
        } else if c.http.listen == c.proxy.listen {
            err("http.listen".into(), "must differ from proxy.listen".into());
        } else if c.http.listen == c.admin.listen {
            err("http.listen".into(), "must differ from admin.listen".into());
        }
        if c.http.user.is_empty() {
            err("http.user".into(), "must be set when http.listen is (basic auth for /stats and /metrics)".into());
        } else if c.http.user.contains(':') {
            err("http.user".into(), "must not contain ':' (basic auth separates user and password with it)".into());
        }
        if let Err(e) = StoredPassword::from_config(&c.http.password) {
            err("http.password".into(), e.to_string());
        }
    }
    // Stats and control ports open to the network need a password.
    for (key, listen, password) in
        [("admin", &c.admin.listen, &c.admin.password), ("http", &c.http.listen, &c.http.password)]
    {
        if check_address(listen).is_ok() && password.is_empty() && !is_loopback(listen) {
            err(format!("{key}.password"), format!("must be set: {key}.listen {listen} is not a loopback address"));
        }
    }
    if c.backend.user.is_empty() {
        err("backend.user".into(), "is required".into());
    }
    if c.backend.connect_timeout.is_zero() {
        err("backend.connect_timeout".into(), "must be more than 0".into());
    }
    if c.backend.pool_max == 0 {
        err("backend.pool_max".into(), "must be at least 1".into());
    }
    if c.backend.pool_min > c.backend.pool_max {
        err(
            "backend.pool_min".into(),
            format!("{} is more than backend.pool_max ({})", c.backend.pool_min, c.backend.pool_max),
        );
    }

    if c.tls.cert.is_empty() != c.tls.key.is_empty() {
        let (key, other) = if c.tls.cert.is_empty() { ("tls.cert", "tls.key") } else { ("tls.key", "tls.cert") };
        err(key.into(), format!("must be set with {other} (both empty: a self-signed certificate)"));
    }
    if matches!(c.backend.tls, BackendTlsMode::VerifyCa | BackendTlsMode::VerifyIdentity) && c.backend.tls_ca.is_empty()
    {
        err("backend.tls_ca".into(), "must name a PEM CA file when backend.tls verifies certificates".into());
    }

    if !(16..=10_000_000).contains(&c.routing.digest_cache_size) {
        err("routing.digest_cache_size".into(), "must be between 16 and 10000000".into());
    }
    if !(1..=65_536).contains(&c.routing.max_prepared_per_connection) {
        err("routing.max_prepared_per_connection".into(), "must be between 1 and 65536".into());
    }
    let m = &c.monitor;
    for (key, d) in [
        ("inter", m.inter),
        ("fastinter", m.fastinter),
        ("downinter", m.downinter),
        ("connect_timeout", m.connect_timeout),
        ("query_timeout", m.query_timeout),
    ] {
        if d < std::time::Duration::from_millis(10) {
            err(format!("monitor.{key}"), "must be at least 10ms".into());
        }
    }
    for (key, n) in [("rise", m.rise), ("fall", m.fall)] {
        if n == 0 {
            err(format!("monitor.{key}"), "must be at least 1".into());
        }
    }
    if !m.auto_promote_after.is_zero() {
        if m.cluster == super::ClusterType::Galera {
            err("monitor.auto_promote_after".into(), "does not apply to Galera clusters".into());
        }
        for (key, v) in [("promote_user", &m.promote_user), ("replication_user", &m.replication_user)] {
            if v.is_empty() {
                err(format!("monitor.{key}"), "must be set when auto_promote_after is".into());
            }
        }
    }
    if !m.heartbeat_table.is_empty() {
        let ident = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match m.heartbeat_table.split_once('.') {
            Some((db, table)) if ident(db) && ident(table) => {}
            _ => err("monitor.heartbeat_table".into(), "must be db.table (letters, digits, '_')".into()),
        }
        if m.heartbeat_interval < std::time::Duration::from_millis(10) {
            err("monitor.heartbeat_interval".into(), "must be at least 10ms".into());
        }
    }
    if c.servers.is_empty() {
        err("servers".into(), "at least one server is required".into());
    }
    let mut names = HashSet::new();
    let mut addresses = HashSet::new();
    for (i, s) in c.servers.iter().enumerate() {
        if s.name.is_empty() || !s.name.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) {
            err(
                format!("servers[{i}].name"),
                format!("{:?} must be non-empty letters, digits, '-', '_' or '.'", s.name),
            );
        }
        if !names.insert(s.name.as_str()) {
            err(format!("servers[{i}].name"), format!("duplicate server name {:?}", s.name));
        }
        let o = s;
        for (key, d) in [("inter", o.inter), ("fastinter", o.fastinter), ("downinter", o.downinter)] {
            if d.is_some_and(|d| d < std::time::Duration::from_millis(10)) {
                err(format!("servers[{i}].{key}"), "must be at least 10ms".into());
            }
        }
        for (key, n) in [("rise", o.rise), ("fall", o.fall)] {
            if n == Some(0) {
                err(format!("servers[{i}].{key}"), "must be at least 1".into());
            }
        }
        match check_address(&s.address) {
            Err(e) => err(format!("servers[{i}].address"), e),
            Ok(()) => {
                if !addresses.insert(s.address.as_str()) {
                    err(format!("servers[{i}].address"), format!("{} is listed twice", s.address));
                }
            }
        }
    }
    // Galera nodes are all alike; a replication setup names its master.
    if c.monitor.cluster == super::ClusterType::Replication
        && !c.servers.is_empty()
        && !c.servers.iter().any(|s| s.role == Role::Master)
    {
        err("servers".into(), "no server has role = \"master\"".into());
    }

    if c.users.is_empty() {
        err("users".into(), "at least one user is required".into());
    }
    let mut users = HashSet::new();
    for (i, u) in c.users.iter().enumerate() {
        if u.name.is_empty() {
            err(format!("users[{i}].name"), "is required".into());
        }
        if !users.insert(u.name.as_str()) {
            err(format!("users[{i}].name"), format!("duplicate user {:?}", u.name));
        }
        if let Err(e) = StoredPassword::from_config(&u.password) {
            err(format!("users[{i}].password"), e.to_string());
        }
        if u.backend_password.is_some() && u.backend_user.is_none() {
            err(format!("users[{i}].backend_password"), "set without backend_user".into());
        }
        for (j, h) in u.allowed_hosts.iter().enumerate() {
            if let Err(e) = crate::access::HostPattern::parse(h) {
                err(format!("users[{i}].allowed_hosts[{j}]"), e);
            }
        }
        if u.require_tls && !c.tls.enabled {
            err(format!("users[{i}].require_tls"), "needs tls.enabled: such a user could never log in".into());
        }
    }
    errs
}

/// `host:port` with a port in range; the host is resolved when connecting.
/// `127.x.x.x`, `[::1]` or `localhost`.
fn is_loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn check_address(addr: &str) -> Result<(), String> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(format!("{addr:?} is not host:port"));
    };
    if host.is_empty() {
        return Err(format!("{addr:?} has no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("{addr:?} has no valid port")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    #[test]
    fn network_facing_admin_and_http_need_passwords() {
        let demo = include_str!("../../config/rwsplit.toml");
        let open = demo.replacen(
            "listen = \"127.0.0.1:6032\"\nuser = \"admin\"\npassword = \"admin\"",
            "listen = \"0.0.0.0:6032\"\nuser = \"admin\"",
            1,
        );
        assert_ne!(open, demo);
        let errs = Config::parse(&open).expect_err("no password on 0.0.0.0");
        assert!(errs.iter().any(|e| e.path == "admin.password"), "{errs:?}");
        let local = demo.replacen(
            "listen = \"127.0.0.1:6032\"\nuser = \"admin\"\npassword = \"admin\"",
            "listen = \"127.0.0.1:6032\"\nuser = \"admin\"",
            1,
        );
        assert!(Config::parse(&local).is_ok(), "loopback without a password is allowed");
        assert!(
            super::is_loopback("[::1]:8080") && super::is_loopback("localhost:1") && !super::is_loopback("10.0.0.1:1")
        );
    }

    #[test]
    fn collects_every_problem() {
        let text = r#"
[proxy]
listen = "nowhere"
[backend]
user = ""
pool_min = 10
pool_max = 2
[[servers]]
name = "a"
address = "127.0.0.1:0"
role = "replica"
[[servers]]
name = "a"
address = "127.0.0.1:1"
role = "replica"
[[users]]
name = "u"
password = "*0123456789012345678901234567890123456789ZZ"
"#;
        let errs = Config::parse(text).expect_err("invalid");
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        for want in
            ["proxy.listen", "backend.user", "backend.pool_min", "servers[0].address", "servers[1].name", "servers"]
        {
            assert!(paths.contains(&want), "missing {want} in {errs:?}");
        }
    }

    const MINIMAL: &str =
        "[proxy]\nlisten = \"127.0.0.1:6033\"\n[admin]\nlisten = \"127.0.0.1:6032\"\nuser = \"admin\"\n\
        [backend]\nuser = \"app\"\n[[servers]]\nname = \"m\"\naddress = \"127.0.0.1:13306\"\nrole = \"master\"\n\
        [[users]]\nname = \"app\"\n";

    fn http_errors(http: &str) -> Vec<String> {
        match Config::parse(&format!("{MINIMAL}[http]\n{http}")) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn http_section_is_checked() {
        assert_eq!(
            http_errors("listen = \"127.0.0.1:8080\"\nuser = \"admin\"\npassword = \"admin\"\n"),
            Vec::<String>::new()
        );
        assert_eq!(http_errors("listen = \"\"\n"), Vec::<String>::new(), "off needs no account");
        assert_eq!(http_errors("listen = \"8080\"\nuser = \"a\"\n"), ["http.listen: \"8080\" is not host:port"]);
        assert_eq!(
            http_errors("listen = \"127.0.0.1:6033\"\nuser = \"a\"\n"),
            ["http.listen: must differ from proxy.listen"]
        );
        assert_eq!(
            http_errors("listen = \"127.0.0.1:6032\"\nuser = \"a\"\n"),
            ["http.listen: must differ from admin.listen"]
        );
        let errs = http_errors("listen = \"127.0.0.1:8080\"\n");
        assert!(errs.len() == 1 && errs[0].starts_with("http.user: must be set"), "{errs:?}");
        let errs = http_errors("listen = \"127.0.0.1:8080\"\nuser = \"a:b\"\npassword = \"*00\"\n");
        assert_eq!(errs.len(), 1, "{errs:?}: a short '*...' is a plaintext password");
        assert!(errs[0].starts_with("http.user: must not contain ':'"), "{errs:?}");
        let errs = http_errors(
            "listen = \"127.0.0.1:8080\"\nuser = \"a\"\npassword = \"*01234567890123456789012345678901234567ZZ\"\nport = 1\n",
        );
        assert!(errs.contains(&"http.port: unknown key".to_string()), "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("http.password: ")), "{errs:?}");
    }
}
