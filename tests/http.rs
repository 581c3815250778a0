//! The HTTP listener against a real proxy and cluster: `/health*` for load
//! balancers, `/metrics` for Prometheus, `/stats` in a real headless browser
//! (Debian's chromium), each behind basic auth where it should be.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use common::{connect, Proxy};
use http_body_util::{BodyExt, Empty};
use hyper::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use mysql_async::prelude::*;

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: String,
}

/// One request over a fresh HTTP/1.1 connection (hyper's client).
async fn request(port: u16, method: Method, path: &str, credentials: Option<&str>) -> Reply {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect to the HTTP port");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::builder().method(method).uri(path).header("host", format!("127.0.0.1:{port}"));
    if let Some(c) = credentials {
        req = req.header(AUTHORIZATION, format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(c)));
    }
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        sender.send_request(req.body(Empty::<Bytes>::new()).expect("request")),
    )
    .await
    .unwrap_or_else(|_| panic!("{path}: no answer within 10s"))
    .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = reply.status().as_u16();
    let headers = reply.headers().clone();
    let body = reply.into_body().collect().await.expect("body").to_bytes();
    Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

async fn get(port: u16, path: &str, credentials: Option<&str>) -> Reply {
    request(port, Method::GET, path, credentials).await
}

/// Polls `path` until it answers `status` (health checks run every few hundred
/// milliseconds; the first one decides at once).
async fn wait_for_status(port: u16, path: &str, status: u16) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = get(port, path, None).await;
        if r.status == status || Instant::now() > deadline {
            assert_eq!(r.status, status, "{path} answered {}: {}", r.status, r.body);
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of one series in an exposition (`name{labels}` exactly as printed).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no series {series} in\n{metrics}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{series}: {e}"))
}

#[tokio::test]
async fn health_is_200_on_the_healthy_cluster() {
    let proxy = Proxy::start();
    let port = proxy.http_port;
    let r = wait_for_status(port, "/health", 200).await;
    assert_eq!(r.body, "OK: writes go to master; reads go to replica1, replica2\n");
    assert!(r.headers[CONTENT_TYPE].to_str().expect("ascii").starts_with("text/plain"));
    let r = get(port, "/health/write", None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "OK: writes go to master\n"));
    let r = get(port, "/health/read", None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "OK: reads go to replica1, replica2\n"));
    // HAProxy's `option httpchk` sends OPTIONS unless told otherwise; HEAD is
    // what some monitors use.
    assert_eq!(request(port, Method::OPTIONS, "/health", None).await.status, 200);
    assert_eq!(request(port, Method::HEAD, "/health/write", None).await.status, 200);
    assert_eq!(get(port, "/nowhere", None).await.status, 404);
}

#[tokio::test]
async fn health_write_is_503_without_a_reachable_master() {
    let closed = common::free_port();
    let proxy = Proxy::builder()
        .replace("address = \"127.0.0.1:13306\"", &format!("address = \"127.0.0.1:{closed}\""))
        .replace("connect_timeout = \"3s\"", "connect_timeout = \"1s\"")
        .spawn();
    let port = proxy.http_port;
    let r = wait_for_status(port, "/health/write", 503).await;
    assert!(r.body.starts_with("DOWN: writes cannot be served: no writable master (master (127.0.0.1:"), "{}", r.body);
    let r = get(port, "/health", None).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("no writable master"), "{}", r.body);
    // The replicas replicate from a server the proxy does not know (13306 is
    // not in its config any more): no reads either, and the reason says why.
    let r = wait_for_status(port, "/health/read", 503).await;
    assert!(r.body.contains("replica1 UP: replicates from server_id"), "{}", r.body);
}

#[tokio::test]
async fn health_read_follows_the_replicas_and_the_fallback() {
    let (closed1, closed2) = (common::free_port(), common::free_port());
    let without_replicas = |fallback: bool| {
        Proxy::builder()
            .replace("address = \"127.0.0.1:13307\"", &format!("address = \"127.0.0.1:{closed1}\""))
            .replace("address = \"127.0.0.1:13308\"", &format!("address = \"127.0.0.1:{closed2}\""))
            .replace("reads_fall_back_to_master = true", &format!("reads_fall_back_to_master = {fallback}"))
            .spawn()
    };
    let proxy = without_replicas(true);
    let r = wait_for_status(proxy.http_port, "/health/read", 200).await;
    assert_eq!(r.body, "OK: reads go to the master master (no replica fit)\n");
    let proxy = without_replicas(false);
    let r = wait_for_status(proxy.http_port, "/health/read", 503).await;
    assert!(r.body.contains("replica1 DOWN: ") && r.body.contains("reads_fall_back_to_master is off"), "{}", r.body);
    assert_eq!(get(proxy.http_port, "/health/write", None).await.status, 200);
    assert_eq!(get(proxy.http_port, "/health", None).await.status, 503);
}

#[tokio::test]
async fn metrics_count_what_runs_through_the_proxy() {
    let proxy = Proxy::start();
    let port = proxy.http_port;
    let r = get(port, "/metrics", None).await;
    assert_eq!(r.status, 401, "/metrics needs the [http] account");
    assert_eq!(get(port, "/metrics", Some("admin:nope")).await.status, 401);

    let before = get(port, "/metrics", Some("admin:admin")).await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert!(before.headers[CONTENT_TYPE].to_str().expect("ascii").starts_with("application/openmetrics-text"));
    let m = &before.body;
    for series in [
        "rwsplit_server_up{server=\"master\",role=\"master\"}",
        "rwsplit_server_is_master{server=\"master\",role=\"master\"}",
        "rwsplit_server_readable{server=\"replica1\",role=\"replica\"}",
        "rwsplit_server_connections_in_use{server=\"replica2\",role=\"replica\"}",
        "rwsplit_server_connections_idle{server=\"replica2\",role=\"replica\"}",
        "rwsplit_server_queries_total{server=\"replica1\",role=\"replica\"}",
        "rwsplit_server_errors_total{server=\"master\",role=\"master\"}",
        "rwsplit_server_connects_total{server=\"master\",role=\"master\"}",
        "rwsplit_server_connect_errors_total{server=\"master\",role=\"master\"}",
        "rwsplit_server_health_checks_total{server=\"replica2\",role=\"replica\"}",
        "rwsplit_server_health_checks_failed_total{server=\"replica2\",role=\"replica\"}",
        "rwsplit_pins_taken_total{reason=\"user_variable\"}",
        "rwsplit_pinned_sessions{reason=\"transaction\"}",
        "rwsplit_clients_connected",
        "rwsplit_digest_cache_hits_total",
        "rwsplit_digest_cache_misses_total",
        "rwsplit_unparsed_statements_total",
        "rwsplit_uptime_seconds",
        "rwsplit_writes_available",
        "rwsplit_reads_available",
    ] {
        sample(m, series);
    }
    assert!(m.contains("# TYPE rwsplit_server_queries counter\n"), "{m}");
    assert!(m.contains("rwsplit_build_info{version=\""), "{m}");
    assert!(m.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    let reads = |m: &str| {
        sample(m, "rwsplit_server_queries_total{server=\"replica1\",role=\"replica\"}")
            + sample(m, "rwsplit_server_queries_total{server=\"replica2\",role=\"replica\"}")
    };
    let writes = |m: &str| sample(m, "rwsplit_server_queries_total{server=\"master\",role=\"master\"}");
    let pins = |m: &str| sample(m, "rwsplit_pins_taken_total{reason=\"user_variable\"}");

    let mut c = connect(&proxy.url("test")).await;
    for i in 0..10 {
        let v: Option<u32> = c.query_first(format!("SELECT {i}")).await.expect("read");
        assert_eq!(v, Some(i));
    }
    c.query_drop("CREATE TABLE IF NOT EXISTS http_metrics (i INT)").await.expect("create");
    c.query_drop("INSERT INTO http_metrics VALUES (1)").await.expect("insert");
    c.query_drop("SET @pinned = 1").await.expect("a user variable pins the session");

    let after = get(port, "/metrics", Some("admin:admin")).await;
    let a = &after.body;
    assert!(reads(a) >= reads(m) + 10.0, "10 reads on the replicas: {} then {}", reads(m), reads(a));
    assert!(writes(a) >= writes(m) + 2.0, "2 writes on the master: {} then {}", writes(m), writes(a));
    assert_eq!(pins(a), pins(m) + 1.0, "one user_variable pin");
    assert_eq!(sample(a, "rwsplit_clients_connected"), 1.0);
    assert_eq!(sample(a, "rwsplit_pinned_sessions{reason=\"user_variable\"}"), 1.0);
    assert!(sample(a, "rwsplit_digest_cache_hits_total") >= 9.0, "SELECT ? repeated");
    let sessions = sample(a, "rwsplit_server_sessions{server=\"master\",role=\"master\"}")
        + sample(a, "rwsplit_server_sessions{server=\"replica1\",role=\"replica\"}")
        + sample(a, "rwsplit_server_sessions{server=\"replica2\",role=\"replica\"}");
    assert_eq!(sessions, 1.0, "the pinned session holds one connection");
    drop(c);
}

#[tokio::test]
async fn stats_needs_credentials_and_escapes_sql() {
    let proxy = Proxy::start();
    let port = proxy.http_port;
    let r = get(port, "/stats", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.headers[WWW_AUTHENTICATE], "Basic realm=\"rwsplit\"");
    assert!(!r.body.contains("<table"), "{}", r.body);
    let r = get(port, "/stats", Some("admin:wrong")).await;
    assert_eq!(r.status, 401);
    assert_eq!(get(port, "/stats", Some("root:admin")).await.status, 401);

    // An alias is kept in the digest as written: markup in it must stay text.
    let mut c = connect(&proxy.url("test")).await;
    let _: Option<u32> = c.query_first("SELECT 1 AS `<script>alert(1)</script>`").await.expect("select");
    let r = get(port, "/stats?refresh=10", Some("admin:admin")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.headers[CONTENT_TYPE].to_str().expect("ascii").starts_with("text/html"));
    assert!(r.body.contains("<table id=\"servers\">"), "{}", r.body);
    assert!(r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{}", r.body);
    assert!(!r.body.contains("<script>"), "{}", r.body);
    assert!(r.body.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
    let r = get(port, "/", None).await;
    assert_eq!((r.status, r.headers["location"].to_str().expect("ascii")), (303, "/stats"));
}

/// Debian's chromium, or a failure saying how to get it: the browser test
/// must not pass by being skipped.
fn chromium() -> &'static str {
    let version = Command::new("chromium").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "chromium is not available ({:?}): install it (scripts/install-deps.sh installs Debian's chromium)",
        version.err()
    );
    "chromium"
}

/// The DOM chromium built from `url`, and its stderr.
fn dump_dom(url: &str) -> (String, String) {
    let profile = tempfile::tempdir().expect("tempdir");
    let (ok, dom, err) = common::run_with_timeout(
        Command::new(chromium())
            .arg("--headless")
            .arg("--disable-gpu")
            .arg("--no-sandbox")
            .arg("--no-first-run")
            .arg("--disable-dev-shm-usage")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--dump-dom")
            .arg(url),
        Duration::from_secs(90),
    );
    assert!(ok, "chromium --dump-dom {url} failed:\n{err}");
    (dom, err)
}

#[tokio::test]
async fn stats_page_renders_in_a_headless_browser() {
    let proxy = Proxy::start();
    let port = proxy.http_port;
    wait_for_status(port, "/health", 200).await;
    let mut c = connect(&proxy.url("test")).await;
    let _: Option<u16> = c.query_first("SELECT @@port").await.expect("select");

    let (dom, err) =
        tokio::task::spawn_blocking(move || dump_dom(&format!("http://admin:admin@127.0.0.1:{port}/stats")))
            .await
            .expect("join");
    assert!(dom.contains("<title>rwsplit stats</title>"), "no page in the DOM:\n{dom}\n{err}");
    assert!(dom.contains("<table id=\"servers\">"), "no servers table:\n{dom}");
    for name in ["master", "replica1", "replica2"] {
        assert!(dom.contains(&format!("<td>{name}</td>")), "{name} missing:\n{dom}");
    }
    assert!(dom.contains("<tr class=\"up\"><td>replica1</td>"), "replica1 is UP (green):\n{dom}");
    assert!(dom.contains("<table id=\"pins\">") && dom.contains("<table id=\"digests\">"), "{dom}");
    assert!(dom.contains("SELECT @@port"), "the statement is listed:\n{dom}");

    for url in [format!("http://127.0.0.1:{port}/stats"), format!("http://admin:wrong@127.0.0.1:{port}/stats")] {
        let (dom, err) = tokio::task::spawn_blocking({
            let url = url.clone();
            move || dump_dom(&url)
        })
        .await
        .expect("join");
        assert!(!dom.contains("<table"), "{url} showed the stats without the right credentials:\n{dom}");
        assert!(!dom.contains("replica1"), "{url}:\n{dom}\n{err}");
    }
    // The browser did reach the listener and was refused (not just failed to connect).
    let log = proxy.log();
    assert!(log.contains("HTTP: wrong credentials"), "{log}");
}

#[tokio::test]
async fn health_is_503_while_sessions_drain_on_shutdown() {
    let mut proxy = Proxy::start();
    let port = proxy.http_port;
    wait_for_status(port, "/health", 200).await;
    let mut c = connect(&proxy.url("test")).await;
    c.query_drop("CREATE TABLE IF NOT EXISTS http_drain (i INT)").await.expect("create");
    // A session in a transaction keeps the proxy draining until it ends.
    c.query_drop("BEGIN").await.expect("begin");
    c.query_drop("INSERT INTO http_drain VALUES (1)").await.expect("insert");
    let status = Command::new("kill").arg("-TERM").arg(proxy.pid().to_string()).status().expect("kill");
    assert!(status.success());
    let r = wait_for_status(port, "/health", 503).await;
    assert_eq!(r.body, "DOWN: shutting down: not accepting new clients\n");
    assert_eq!(get(port, "/health/read", None).await.status, 503);
    c.query_drop("COMMIT").await.expect("the transaction finishes during the drain");
    assert!(proxy.terminate(Duration::from_secs(10)).is_some_and(|s| s.success()), "rwsplit exits once drained");
}
