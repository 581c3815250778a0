//! TLS and authentication with real clients: TLS offered to every client (a
//! generated certificate, or files reloaded on SIGHUP), `require_tls`,
//! caching_sha2_password's fast and full paths, `allowed_hosts`, and TLS from
//! the proxy to the servers in each verification mode.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{admin, num, row, Proxy, REPLICA_PORTS};

/// One login through tests/clients/tls_login.py, as JSON.
fn py_login(port: u16, user: &str, password: &str, extra: &[&str]) -> serde_json::Value {
    let script = common::repo_root().join("tests/clients/tls_login.py");
    let (ok, out, err) = common::run_with_timeout(
        Command::new(common::system_python())
            .arg(&script)
            .args(["--port", &port.to_string(), "--user", user, "--password", password])
            .args(extra),
        Duration::from_secs(30),
    );
    assert!(ok, "tls_login.py failed: {out}\n{err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("tls_login.py printed {out:?}: {e}"))
}

fn assert_ok(v: &serde_json::Value, what: &str) {
    assert_eq!(v["ok"], true, "{what}: {v}");
}

fn assert_denied(v: &serde_json::Value, what: &str) {
    assert_eq!(v["ok"], false, "{what} must be refused: {v}");
    assert_eq!(v["code"], 1045, "{what}: {v}");
}

/// The admin port's counter `name`.
fn status(proxy: &Proxy, name: &str) -> u64 {
    let rows = admin(proxy, "SHOW STATUS").expect("SHOW STATUS");
    num(row(&rows, "variable", name), "value")
}

fn mysql_cli(proxy: &Proxy, user: &str, password: &str, tls: &str, sql: &str) -> (bool, String, String) {
    common::run_with_timeout(
        Command::new("mysql")
            .args(["--no-defaults", "-h127.0.0.1", "--batch", tls])
            .arg(format!("-P{}", proxy.port))
            .arg(format!("-u{user}"))
            .arg(format!("-p{password}"))
            .args(["-e", sql, "test"]),
        Duration::from_secs(20),
    )
}

const SECURE_USER: &str = r#"
[[users]]
name = "secure"
password = "secure-pw"
require_tls = true
backend_user = "app"
backend_password = "app"
"#;

#[test]
fn every_client_gets_tls_with_the_generated_certificate() {
    let proxy = Proxy::builder().append(SECURE_USER).spawn();
    assert!(proxy.log().contains("self-signed certificate"), "the generated certificate is logged");

    // PyMySQL, encryption without verification (the certificate is self-signed).
    let v = py_login(proxy.port, "app", "app", &["--tls"]);
    assert_ok(&v, "PyMySQL over TLS");
    assert!(v["tls"].as_str().is_some_and(|t| t.starts_with("TLSv1.")), "{v}");
    let plain = py_login(proxy.port, "app", "app", &[]);
    assert_ok(&plain, "PyMySQL without TLS");
    assert!(plain["tls"].is_null(), "{plain}");

    // The mysql command-line client.
    let (ok, out, err) = mysql_cli(&proxy, "app", "app", "--ssl", "\\s");
    assert!(ok, "mysql --ssl: {err}");
    assert!(out.contains("Cipher in use is"), "mysql --ssl reports no cipher:\n{out}");

    // Connector/J with useSSL=true.
    let java = common::compile_java(&common::repo_root().join("tests/clients/jdbc/JdbcTls.java"));
    let tls_before = status(&proxy, "logins_tls");
    let (ok, out, err) = common::run_with_timeout(
        Command::new("java")
            .args(["-cp", &java.classpath, "JdbcTls", &proxy.addr(), "app", "app"])
            .arg("&useSSL=true&trustServerCertificate=true"),
        Duration::from_secs(60),
    );
    assert!(ok && out.starts_with("OK "), "Connector/J over TLS: {out}\n{err}");
    assert_eq!(status(&proxy, "logins_tls"), tls_before + 1, "the JDBC login went over TLS");

    // require_tls: refused on plain TCP with the server's own error, fine over TLS.
    assert_denied(&py_login(proxy.port, "secure", "secure-pw", &[]), "require_tls user on plain TCP");
    assert_ok(&py_login(proxy.port, "secure", "secure-pw", &["--tls"]), "require_tls user over TLS");
    let (ok, _, err) = mysql_cli(&proxy, "secure", "secure-pw", "--skip-ssl", "SELECT 1");
    assert!(!ok && err.contains("ERROR 1045"), "mysql --skip-ssl as a require_tls user: {err}");
    let (ok, out, err) = common::run_with_timeout(
        Command::new("java").args(["-cp", &java.classpath, "JdbcTls", &proxy.addr(), "secure", "secure-pw", ""]),
        Duration::from_secs(60),
    );
    assert!(ok && out.starts_with("ERR 1045"), "Connector/J without TLS as a require_tls user: {out}\n{err}");
    // A wrong password over TLS is still a wrong password.
    assert_denied(&py_login(proxy.port, "secure", "nope", &["--tls"]), "wrong password over TLS");
    assert!(status(&proxy, "logins_denied") >= 4);
}

/// A PEM certificate and key for 127.0.0.1 made by openssl in `dir`.
fn make_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let (ok, _, err) = common::run_with_timeout(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
        Duration::from_secs(30),
    );
    assert!(ok, "openssl: {err}");
    (cert, key)
}

fn sha256_of_pem(path: &Path) -> String {
    let (ok, out, err) = common::run_with_timeout(
        Command::new("openssl").args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(path),
        Duration::from_secs(10),
    );
    assert!(ok, "openssl x509: {err}");
    out.trim().rsplit('=').next().unwrap_or_default().replace(':', "").to_lowercase()
}

fn reload(proxy: &Proxy, counter: &str) {
    let before = status(proxy, counter);
    let _ = Command::new("kill").arg("-HUP").arg(proxy.pid().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(proxy, counter) == before {
        assert!(Instant::now() < deadline, "no {counter} after SIGHUP:\n{}", proxy.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn certificate_files_are_verified_by_clients_and_reloaded_on_sighup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert_a, key_a) = make_cert(dir.path(), "a");
    let (cert_b, key_b) = make_cert(dir.path(), "b");
    let tls = |cert: &Path, key: &Path| format!("[tls]\ncert = {:?}\nkey = {:?}\n", cert, key);
    let proxy = Proxy::builder().append(&tls(&cert_a, &key_a)).spawn();

    // A client verifying the certificate (chain and name) against it as its CA.
    let ca_a = cert_a.to_str().expect("utf-8 path");
    let v = py_login(proxy.port, "app", "app", &["--tls", "--ca", ca_a]);
    assert_ok(&v, "verified TLS with certificate A");
    assert_eq!(v["peer_sha256"], sha256_of_pem(&cert_a), "{v}");
    let wrong_ca = py_login(proxy.port, "app", "app", &["--tls", "--ca", cert_b.to_str().expect("utf-8")]);
    assert_eq!(wrong_ca["ok"], false, "a client trusting only B must refuse A: {wrong_ca}");

    // New files, SIGHUP: new connections get B; the connection count is unaffected.
    let config = std::fs::read_to_string(&proxy.config_path).expect("config");
    std::fs::write(&proxy.config_path, config.replace(&tls(&cert_a, &key_a), &tls(&cert_b, &key_b))).expect("write");
    reload(&proxy, "reloads");
    let v = py_login(proxy.port, "app", "app", &["--tls", "--ca", cert_b.to_str().expect("utf-8")]);
    assert_ok(&v, "verified TLS with certificate B after the reload");
    assert_eq!(v["peer_sha256"], sha256_of_pem(&cert_b), "{v}");

    // A key that does not exist: the reload is refused, B keeps being served.
    let config = std::fs::read_to_string(&proxy.config_path).expect("config");
    let missing = dir.path().join("missing-key.pem");
    std::fs::write(&proxy.config_path, config.replace(&tls(&cert_b, &key_b), &tls(&cert_b, &missing))).expect("write");
    reload(&proxy, "reloads_failed");
    assert!(proxy.log().contains("tls.key"), "the refused reload names the key:\n{}", proxy.log());
    let v = py_login(proxy.port, "app", "app", &["--tls"]);
    assert_eq!(v["peer_sha256"], sha256_of_pem(&cert_b), "{v}");

    // --check reads the files too.
    let (ok, _, err) = common::run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_rwsplit")).arg("--config").arg(&proxy.config_path).arg("--check"),
        Duration::from_secs(10),
    );
    assert!(!ok && err.contains("tls.key"), "--check must report the missing key: {err}");
}

#[test]
fn tls_switched_off_is_not_offered() {
    let proxy = Proxy::builder().append("[tls]\nenabled = false\n").spawn();
    let v = py_login(proxy.port, "app", "app", &["--tls"]);
    // PyMySQL falls back to plain TCP when the server does not offer TLS.
    assert_ok(&v, "login without TLS on offer");
    assert!(v["tls"].is_null(), "{v}");
    // The greeting does not offer it, and a client insisting gets a clear error.
    use std::io::{Read, Write};
    let mut sock = std::net::TcpStream::connect(proxy.addr()).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let read_packet = |sock: &mut std::net::TcpStream| {
        let mut header = [0u8; 4];
        sock.read_exact(&mut header).expect("header");
        let mut payload =
            vec![0u8; usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16];
        sock.read_exact(&mut payload).expect("payload");
        payload
    };
    let greeting = read_packet(&mut sock);
    let version_end = greeting.iter().skip(1).position(|b| *b == 0).expect("version") + 1;
    let caps_at = version_end + 1 + 4 + 8 + 1;
    let caps = u16::from_le_bytes([greeting[caps_at], greeting[caps_at + 1]]);
    assert_eq!(caps & 0x0800, 0, "CLIENT_SSL must not be offered");
    let mut request = vec![32, 0, 0, 1];
    request.extend_from_slice(&(0x0800u32 | 0x0200 | 0x8000).to_le_bytes());
    request.extend_from_slice(&(1u32 << 24).to_le_bytes());
    request.push(45);
    request.extend_from_slice(&[0u8; 23]);
    sock.write_all(&request).expect("write");
    let reply = read_packet(&mut sock);
    assert_eq!(reply[0], 0xFF, "an SSLRequest must get an ERR: {reply:?}");
    assert_eq!(u16::from_le_bytes([reply[1], reply[2]]), 1043, "ER_HANDSHAKE_ERROR");
    assert!(String::from_utf8_lossy(&reply).contains("TLS is not enabled"), "{reply:?}");
}

const SHA2_USERS: &str = r#"
[[users]]
name = "sha"
password = "sha-pw"
auth_plugin = "caching_sha2_password"
backend_user = "app"
backend_password = "app"

# Only the native hash of "hash-pw" (SELECT PASSWORD('hash-pw')).
[[users]]
name = "shahash"
password = "*B1BFE0B6F8AF50D04DF0E8B4C3B7C6E7F6F1F8F5"
auth_plugin = "caching_sha2_password"
backend_user = "app"
backend_password = "app"
"#;

fn native_hash(password: &str) -> String {
    use sha1::{Digest, Sha1};
    format!("*{}", hex::encode_upper(Sha1::digest(Sha1::digest(password.as_bytes()))))
}

#[test]
fn caching_sha2_password_fast_and_full_paths() {
    let users = SHA2_USERS.replace("*B1BFE0B6F8AF50D04DF0E8B4C3B7C6E7F6F1F8F5", &native_hash("hash-pw"));
    let proxy = Proxy::builder().append(&users).spawn();
    let counters = |p: &Proxy| ["logins_native_password", "logins_sha2_fast", "logins_sha2_full"].map(|c| status(p, c));
    let step = |before: &mut [u64; 3], what: &str, v: serde_json::Value, expect: [u64; 3]| {
        assert_ok(&v, what);
        let now = counters(&proxy);
        let delta = [now[0] - before[0], now[1] - before[1], now[2] - before[2]];
        assert_eq!(delta, expect, "{what}: (native, sha2 fast, sha2 full) logins");
        *before = now;
    };
    let mut b = counters(&proxy);
    // A plaintext password in the config gives the fast path at once (PyMySQL
    // starts with mysql_native_password and is switched).
    step(&mut b, "sha, plain TCP", py_login(proxy.port, "sha", "sha-pw", &[]), [0, 1, 0]);
    step(&mut b, "sha, TLS", py_login(proxy.port, "sha", "sha-pw", &["--tls"]), [0, 1, 0]);
    assert_denied(&py_login(proxy.port, "sha", "wrong", &[]), "sha with a wrong password");
    assert_denied(&py_login(proxy.port, "sha", "wrong", &["--tls"]), "sha with a wrong password over TLS");
    let mut b = counters(&proxy);
    // Only a native hash: on plain TCP, before any full login, native it is.
    step(&mut b, "shahash, plain, nothing cached", py_login(proxy.port, "shahash", "hash-pw", &[]), [1, 0, 0]);
    // Over TLS the full path: the password itself, checked against the hash.
    step(&mut b, "shahash, TLS", py_login(proxy.port, "shahash", "hash-pw", &["--tls"]), [0, 0, 1]);
    // Cached now, as the server caches it: the fast path, even on plain TCP.
    step(&mut b, "shahash, plain, cached", py_login(proxy.port, "shahash", "hash-pw", &[]), [0, 1, 0]);
    assert_denied(&py_login(proxy.port, "shahash", "wrong", &["--tls"]), "shahash with a wrong password over TLS");

    // With caching_sha2_password in the greeting, clients start with it.
    let sha_default = Proxy::builder()
        .replace("worker_threads = 1", "worker_threads = 1\ndefault_auth_plugin = \"caching_sha2_password\"")
        .spawn();
    assert_ok(&py_login(sha_default.port, "app", "app", &[]), "PyMySQL, greeting with caching_sha2_password");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        use mysql_async::prelude::Queryable;
        let mut conn = common::connect(&sha_default.url("test")).await;
        let one: Option<u32> = conn.query_first("SELECT 1").await.expect("query");
        assert_eq!(one, Some(1));
        conn.disconnect().await.expect("disconnect");
    });
    assert_eq!(status(&sha_default, "logins_sha2_fast"), 2, "both clients took the fast path");
    assert_eq!(status(&sha_default, "logins_native_password"), 0);
}

#[test]
fn allowed_hosts_limit_where_a_user_logs_in_from() {
    let proxy = Proxy::builder()
        .append(
            r#"
[[users]]
name = "local2"
password = "pw"
allowed_hosts = ["127.0.0.2", "127.0.1.0/24"]
backend_user = "app"
backend_password = "app"
"#,
        )
        .spawn();
    assert_denied(&py_login(proxy.port, "local2", "pw", &["--bind", "127.0.0.1"]), "local2 from 127.0.0.1");
    assert_ok(&py_login(proxy.port, "local2", "pw", &["--bind", "127.0.0.2"]), "local2 from 127.0.0.2");
    assert_ok(&py_login(proxy.port, "local2", "pw", &["--bind", "127.0.1.200"]), "local2 from 127.0.1.200");
    assert_denied(&py_login(proxy.port, "local2", "pw", &["--bind", "127.0.2.1"]), "local2 from 127.0.2.1");
    // Users without a list log in from anywhere.
    assert_ok(&py_login(proxy.port, "app", "app", &["--bind", "127.0.2.1"]), "app from 127.0.2.1");
    assert!(proxy.log().contains("not in the user's allowed_hosts"), "the refusal says why in the log");
    // A bad pattern is a config error with its key path.
    let bad = Proxy::builder().append("[[users]]\nname = \"x\"\nallowed_hosts = [\"10.0.0.1/8\"]\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, bad.config_text()).expect("write");
    let (ok, _, err) = common::run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_rwsplit")).arg("--config").arg(&path).arg("--check"),
        Duration::from_secs(10),
    );
    assert!(!ok && err.contains("users[1].allowed_hosts[0]"), "{err}");
}

/// The cluster's own CA (tests/cluster/cluster.sh makes one per cluster).
fn cluster_ca() -> PathBuf {
    let ca = common::cluster_dir().join("tls/ca.pem");
    assert!(
        ca.exists(),
        "{} is missing: the cluster predates TLS; restart it (tests/cluster/cluster.sh stop && start)",
        ca.display()
    );
    ca
}

/// (Ssl_version of the session's replica connection, of its master connection).
async fn backend_tls_versions(proxy: &Proxy) -> Result<(String, String), mysql_async::Error> {
    use mysql_async::prelude::Queryable;
    let opts = mysql_async::Opts::from_url(&proxy.url("test")).expect("url");
    let mut conn = mysql_async::Conn::new(opts).await?;
    let read: Option<(String, String)> = conn.query_first("SHOW SESSION STATUS LIKE 'Ssl_version'").await?;
    let port: Option<u16> = conn.query_first("SELECT @@port").await?;
    assert!(port.is_some_and(|p| REPLICA_PORTS.contains(&p)), "reads go to replicas");
    conn.query_drop("BEGIN").await?;
    let write: Option<(String, String)> = conn.query_first("SHOW SESSION STATUS LIKE 'Ssl_version'").await?;
    conn.query_drop("COMMIT").await?;
    conn.disconnect().await?;
    Ok((read.map(|r| r.1).unwrap_or_default(), write.map(|r| r.1).unwrap_or_default()))
}

#[test]
fn backend_tls_in_every_verification_mode() {
    common::cluster();
    let ca = cluster_ca();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let backend = |mode: &str, ca: &Path| {
        Proxy::builder()
            .replace("idle_timeout = \"5m\"", &format!("idle_timeout = \"5m\"\ntls = \"{mode}\"\ntls_ca = {ca:?}"))
            .spawn()
    };
    // Plain by default: the servers' sessions have no TLS.
    let plain = Proxy::start();
    let (r, w) = rt.block_on(backend_tls_versions(&plain)).expect("plain");
    assert_eq!((r.as_str(), w.as_str()), ("", ""), "backend.tls defaults to disabled");
    drop(plain);
    for mode in ["required", "verify_ca", "verify_identity"] {
        let proxy = backend(mode, &ca);
        let (r, w) = rt.block_on(backend_tls_versions(&proxy)).unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert!(r.starts_with("TLSv1.") && w.starts_with("TLSv1."), "{mode}: replica {r:?}, master {w:?}");
        // The health checks connect the same way: every server is up.
        let servers = admin(&proxy, "SHOW SERVERS").expect("SHOW SERVERS");
        assert!(servers.iter().all(|s| s["state"].starts_with("UP")), "{mode}: {servers:#?}");
    }
    // A CA that did not sign the servers' certificates: nothing is connected to,
    // and the client is told why.
    let dir = tempfile::tempdir().expect("tempdir");
    let (other_ca, _) = make_cert(dir.path(), "other-ca");
    let proxy = backend("verify_ca", &other_ca);
    let err = rt.block_on(backend_tls_versions(&proxy)).expect_err("an unknown CA must fail");
    let (code, _, message) = common::server_error(err);
    assert!(message.contains("TLS to server") && message.contains("certificate"), "{code} {message}");
    let servers = admin(&proxy, "SHOW SERVERS").expect("SHOW SERVERS");
    assert!(servers.iter().all(|s| !s["state"].starts_with("UP")), "{servers:#?}");
}
