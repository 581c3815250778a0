//! Operating a running proxy: admin edits through the mysql CLI, SIGHUP
//! reloads under sysbench load (weights, a broken file, a removed replica), and
//! SIGTERM letting open transactions finish.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{admin, connect, num, row, Proxy, Rows};
use mysql_async::prelude::*;

async fn read_ports(proxy: &Proxy, n: usize) -> std::collections::BTreeMap<u16, usize> {
    let mut c = connect(&proxy.url("test")).await;
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..n {
        let p: Option<u16> = c.query_first("SELECT @@port").await.expect("read");
        *seen.entry(p.unwrap_or(0)).or_default() += 1;
    }
    seen
}

fn signal(proxy: &Proxy, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(proxy.pid().to_string()).status().expect("kill");
    assert!(ok.success());
}

/// Waits until `server` has `column` = `value` on SHOW SERVERS.
fn wait_server(proxy: &Proxy, server: &str, column: &str, value: &str) -> Rows {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = admin(proxy, "SHOW SERVERS").expect("show servers");
        if rows.iter().any(|r| r["name"] == server && r[column] == value) {
            return rows;
        }
        assert!(Instant::now() < deadline, "{server}.{column} never became {value}: {rows:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_edits_apply_whole_or_not_at_all() {
    let proxy = Proxy::per_statement_reads();
    wait_server(&proxy, "replica2", "reads", "yes");

    admin(&proxy, "SET SERVER replica2 WEIGHT 3").expect("weight");
    assert_eq!(read_ports(&proxy, 40).await, [(13307, 10), (13308, 30)].into());

    admin(&proxy, "SET SERVER replica1 DRAIN").expect("drain");
    let rows = wait_server(&proxy, "replica1", "state", "DRAIN");
    assert_eq!(row(&rows, "name", "replica1")["reads"], "no");
    assert_eq!(read_ports(&proxy, 8).await, [(13308, 8)].into());
    admin(&proxy, "SET SERVER replica1 MAINT").expect("maint");
    wait_server(&proxy, "replica1", "state", "MAINT");
    assert_eq!(read_ports(&proxy, 4).await, [(13308, 4)].into());
    admin(&proxy, "SET SERVER replica1 READY").expect("ready");
    wait_server(&proxy, "replica1", "reads", "yes");

    let closed = common::free_port();
    admin(&proxy, &format!("ADD SERVER replica3 127.0.0.1:{closed} REPLICA WEIGHT 2")).expect("add");
    let rows = wait_server(&proxy, "replica3", "state", "DOWN");
    assert!(row(&rows, "name", "replica3")["reason"].contains("refused"), "{rows:#?}");
    admin(&proxy, "REMOVE SERVER replica3").expect("remove");
    assert!(!admin(&proxy, "SHOW SERVERS").expect("show").iter().any(|r| r["name"] == "replica3"));

    // Refused edits change nothing.
    let err = admin(&proxy, "REMOVE SERVER master").expect_err("the only master");
    assert!(err.contains("ERROR 1105") && err.contains("no server has role = \"master\""), "{err}");
    let err = admin(&proxy, "ADD SERVER bad 127.0.0.1:0 REPLICA").expect_err("port 0");
    assert!(err.contains("servers[3].address"), "{err}");
    let err = admin(&proxy, "SET SERVER nope WEIGHT 1").expect_err("unknown");
    assert!(err.contains("no server named 'nope'"), "{err}");
    assert_eq!(admin(&proxy, "SHOW SERVERS").expect("show").len(), 3);

    // SAVE CONFIG writes what runs; the previous file is kept.
    let before = std::fs::read_to_string(&proxy.config_path).expect("config");
    admin(&proxy, "SAVE CONFIG").expect("save");
    let saved = std::fs::read_to_string(&proxy.config_path).expect("saved");
    assert!(saved.contains("weight = 3"), "{saved}");
    let prev = proxy.config_path.with_extension("toml.prev");
    assert_eq!(std::fs::read_to_string(prev).expect("prev"), before);
    let check = Command::new(env!("CARGO_BIN_EXE_rwsplit"))
        .args(["--check", "--config"])
        .arg(&proxy.config_path)
        .output()
        .expect("check");
    assert!(check.status.success(), "the saved file is valid: {}", String::from_utf8_lossy(&check.stderr));

    // RELOAD of a broken file: refused with the reason, the running config stays.
    std::fs::write(&proxy.config_path, format!("{saved}\n[proxy]\nlisten = 5\n")).expect("break");
    let err = admin(&proxy, "RELOAD").expect_err("broken file");
    assert!(err.contains("ERROR 1105") && err.contains("reload rejected"), "{err}");
    assert_eq!(read_ports(&proxy, 4).await, [(13307, 1), (13308, 3)].into());
    let status: Rows = admin(&proxy, "SHOW STATUS").expect("status");
    assert!(num(row(&status, "variable", "reloads_failed"), "value") >= 1);
}

/// A sysbench read load through the proxy in the background; returns its report.
fn sysbench_reads(proxy: &Proxy, db: &str, secs: u64) -> std::thread::JoinHandle<(bool, String, String)> {
    let mut cmd = Command::new("sysbench");
    cmd.arg("oltp_read_only").args([
        "--db-driver=mysql",
        "--mysql-host=127.0.0.1",
        &format!("--mysql-port={}", proxy.port),
        "--mysql-user=app",
        "--mysql-password=app",
        &format!("--mysql-db={db}"),
        "--tables=1",
        "--table-size=1000",
        "--threads=16",
        "--skip_trx=on",
        &format!("--time={secs}"),
        "--mysql-ignore-errors=none",
        "--report-interval=0",
        "run",
    ]);
    std::thread::spawn(move || common::run_with_timeout(&mut cmd, Duration::from_secs(secs + 60)))
}

fn replica_queries(proxy: &Proxy) -> (u64, u64) {
    let rows = admin(proxy, "SHOW SERVERS").expect("show servers");
    let q = |name: &str| rows.iter().find(|r| r["name"] == name).map_or(0, |r| num(r, "queries"));
    (q("replica1"), q("replica2"))
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_under_load_changes_weights_rejects_a_broken_file_and_drains_a_removed_replica() {
    common::require_sysbench();
    let proxy = Proxy::per_statement_reads();
    let db = format!("ops_{}", std::process::id());
    let mut m = connect(&format!("mysql://app:app@127.0.0.1:{}/?prefer_socket=false", common::MASTER_PORT)).await;
    m.query_drop(format!("DROP DATABASE IF EXISTS {db}")).await.expect("drop");
    m.query_drop(format!("CREATE DATABASE {db}")).await.expect("create");
    let mut prepare = Command::new("sysbench");
    prepare.arg("oltp_read_only").args([
        "--db-driver=mysql",
        "--mysql-host=127.0.0.1",
        &format!("--mysql-port={}", common::MASTER_PORT),
        "--mysql-user=app",
        "--mysql-password=app",
        &format!("--mysql-db={db}"),
        "--tables=1",
        "--table-size=1000",
        "prepare",
    ]);
    let (ok, _, err) = common::run_with_timeout(&mut prepare, Duration::from_secs(60));
    assert!(ok, "prepare: {err}");
    let pos: Option<String> = m.query_first("SELECT @@gtid_binlog_pos").await.expect("pos");
    for port in common::REPLICA_PORTS {
        let mut r = connect(&format!("mysql://app:app@127.0.0.1:{port}/?prefer_socket=false")).await;
        let waited: Option<i64> = r
            .query_first(format!("SELECT MASTER_GTID_WAIT('{}', 30)", pos.clone().unwrap_or_default()))
            .await
            .expect("wait");
        assert_eq!(waited, Some(0));
    }
    wait_server(&proxy, "replica2", "reads", "yes");
    let original = std::fs::read_to_string(&proxy.config_path).expect("config");

    let load = sysbench_reads(&proxy, &db, 12);
    std::thread::sleep(Duration::from_secs(2));
    // 1. Weights 1:3.
    let weighted = original.replacen(
        "name = \"replica2\"\naddress = \"127.0.0.1:13308\"\nrole = \"replica\"",
        "name = \"replica2\"\naddress = \"127.0.0.1:13308\"\nrole = \"replica\"\nweight = 3",
        1,
    );
    assert_ne!(weighted, original);
    std::fs::write(&proxy.config_path, &weighted).expect("write");
    signal(&proxy, "HUP");
    wait_server(&proxy, "replica2", "weight", "3");
    let (a1, b1) = replica_queries(&proxy);
    std::thread::sleep(Duration::from_secs(2));
    let (a2, b2) = replica_queries(&proxy);
    let ratio = (b2 - b1) as f64 / (a2 - a1).max(1) as f64;
    eprintln!("after the weight reload: replica1 +{} replica2 +{} (ratio {ratio:.2})", a2 - a1, b2 - b1);
    assert!((2.4..3.6).contains(&ratio), "replica2/replica1 = {ratio:.2}, want about 3");

    // 2. A broken file: logged, counted, the running config keeps serving.
    std::fs::write(&proxy.config_path, weighted.replace("[routing]", "[routing]\ndigest_cache_size = 1"))
        .expect("write");
    signal(&proxy, "HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !proxy.log().contains("routing.digest_cache_size: must be between") {
        assert!(Instant::now() < deadline, "the rejected reload was not logged:\n{}", proxy.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(proxy.log().contains("rejected; the running config keeps serving"));

    // 3. replica1 removed from the file: it drains, nothing fails.
    let removed = weighted.replacen(
        "[[servers]]\nname = \"replica1\"\naddress = \"127.0.0.1:13307\"\nrole = \"replica\"\n",
        "",
        1,
    );
    assert_ne!(removed, weighted);
    std::fs::write(&proxy.config_path, &removed).expect("write");
    signal(&proxy, "HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while admin(&proxy, "SHOW SERVERS").expect("show").iter().any(|r| r["name"] == "replica1") {
        assert!(Instant::now() < deadline, "replica1 still listed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, b3) = replica_queries(&proxy);
    std::thread::sleep(Duration::from_secs(1));
    let (_, b4) = replica_queries(&proxy);
    assert!(b4 > b3, "replica2 carries the reads now");

    let (ok, out, err) = load.join().expect("sysbench thread");
    eprintln!(
        "{}",
        out.lines().filter(|l| l.contains("queries:") || l.contains("errors:")).collect::<Vec<_>>().join("\n")
    );
    assert!(ok && !out.contains("FATAL") && !err.contains("FATAL"), "sysbench saw errors:\n{out}\n{err}");
    assert_eq!(common::report_number(&out, "ignored errors"), Some(0), "{out}");
    m.query_drop(format!("DROP DATABASE {db}")).await.expect("drop");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_open_transaction_commit_then_exits_zero() {
    let mut proxy = Proxy::start();
    let mut c = connect(&proxy.url("test")).await;
    c.query_drop("CREATE TABLE IF NOT EXISTS ops_term (id INT PRIMARY KEY)").await.expect("create");
    c.query_drop("DELETE FROM ops_term").await.expect("clean");
    c.query_drop("BEGIN").await.expect("begin");
    c.query_drop("INSERT INTO ops_term VALUES (1)").await.expect("insert");
    signal(&proxy, "TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(proxy.is_running(), "waits for the transaction");
    assert!(
        mysql_async::Conn::new(mysql_async::Opts::from_url(&proxy.url("test")).expect("url")).await.is_err(),
        "no new connections while draining"
    );
    c.query_drop("INSERT INTO ops_term VALUES (2)").await.expect("the transaction goes on");
    c.query_drop("COMMIT").await.expect("commit");
    drop(c);
    let status = proxy.terminate(Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "{status:?}");
    let mut m = connect(&common::direct_url("test")).await;
    let n: Option<u64> = m.query_first("SELECT COUNT(*) FROM ops_term").await.expect("count");
    assert_eq!(n, Some(2));
}

/// Kills a process (the upgraded proxy) when the test ends, however it ends.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-KILL").arg(self.0.to_string()).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_upgrade_under_load_refuses_no_connection() {
    let mut proxy = Proxy::start();
    let url = proxy.url("test");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (stop, url) = (stop.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let attempt = async {
                    let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&url)?).await?;
                    let _: Option<u16> = c.query_first("SELECT @@port").await?;
                    c.disconnect().await
                };
                match attempt.await {
                    Ok(()) => ok += 1,
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(&proxy, "USR2");
    // The new process logs into the same file: its pid, then its readiness.
    let deadline = Instant::now() + Duration::from_secs(10);
    let new_pid = loop {
        let log = proxy.log();
        let pid = log
            .lines()
            .find(|l| l.contains("upgrade: new process started"))
            .and_then(|l| l.split("pid=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if log.matches("rwsplit ready").count() >= 2 {
                break pid;
            }
        }
        assert!(Instant::now() < deadline, "the new process did not start:\n{log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _cleanup = KillOnDrop(new_pid);
    assert!(proxy.log().contains("using the proxy socket handed over by the previous process"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = proxy.terminate(Duration::from_secs(15)).expect("the old process exits");
    assert!(status.success(), "{status:?}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for t in tasks {
        let (o, f) = t.await.expect("task");
        ok += o;
        failed.extend(f);
    }
    eprintln!("binary upgrade: {ok} connections served, {} failed", failed.len());
    assert!(failed.is_empty(), "failed connections: {failed:?}");
    assert!(ok > 50, "the load ran ({ok})");
    // The new process serves on the same address.
    let mut c = connect(&url).await;
    let _: Option<u16> = c.query_first("SELECT @@port").await.expect("served by the new process");
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_moves_the_listener_and_sessions_on_the_old_one_go_on() {
    let proxy = Proxy::start();
    let mut old_session = connect(&proxy.url("test")).await;
    let new_port = common::free_port();
    let config = std::fs::read_to_string(&proxy.config_path).expect("config");
    let moved = config.replacen(
        &format!("listen = \"127.0.0.1:{}\"", proxy.port),
        &format!("listen = \"127.0.0.1:{new_port}\""),
        1,
    );
    assert_ne!(moved, config);
    std::fs::write(&proxy.config_path, moved).expect("write");
    admin(&proxy, "RELOAD").expect("reload");
    let mut fresh = connect(&format!("mysql://app:app@127.0.0.1:{new_port}/test?prefer_socket=false")).await;
    let _: Option<u16> = fresh.query_first("SELECT @@port").await.expect("the new address serves");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", proxy.port)).is_err(),
        "the old address is released once the new one is bound"
    );
    let _: Option<u16> =
        old_session.query_first("SELECT @@port").await.expect("a session from the old address goes on");

    // A listen address that cannot be bound rejects the whole reload.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let blocked = std::fs::read_to_string(&proxy.config_path).expect("config").replacen(
        &format!("listen = \"127.0.0.1:{new_port}\""),
        &format!("listen = \"{}\"", taken.local_addr().expect("addr")),
        1,
    );
    std::fs::write(&proxy.config_path, blocked).expect("write");
    let err = admin(&proxy, "RELOAD").expect_err("address in use");
    assert!(err.contains("proxy.listen: cannot listen on"), "{err}");
    let _: Option<u16> = fresh.query_first("SELECT @@port").await.expect("still serving");
    let mut again = connect(&format!("mysql://app:app@127.0.0.1:{new_port}/test?prefer_socket=false")).await;
    let _: Option<u16> = again.query_first("SELECT 1").await.expect("the running address still accepts");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line() {
    let proxy = Proxy::builder().arg("--log-format").arg("json").spawn();
    let mut c = connect(&proxy.url("test")).await;
    let _: Option<u16> = c.query_first("SELECT @@port").await.expect("read");
    drop(c);
    let log = proxy.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 3, "{log}");
    for line in &lines {
        assert!(
            line.starts_with('{')
                && line.ends_with('}')
                && line.contains("\"level\":")
                && line.contains("\"timestamp\":"),
            "not a JSON log line: {line}"
        );
    }
    assert!(log.contains("\"message\":\"rwsplit ready\""), "{log}");
    // Each client connection has its span.
    assert!(log.contains("\"span\":{") && log.contains("\"name\":\"client\""), "{log}");
}
