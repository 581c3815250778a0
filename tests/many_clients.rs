//! 5,000 client connections at once on one proxy: 4,936 logged in and idle
//! (no transaction, no statement running), 64 running sysbench point selects.
//! Idle clients hold no backend connection, so the servers (max_connections
//! = 500 in tests/cluster/cluster.sh) never see more than the active clients'
//! share; sysbench sees no error; every idle client still answers afterwards.
//! Prints the proxy's resident memory per idle client.
//!
//! Needs sysbench (scripts/install-deps.sh installs the Debian package) and an
//! open-files limit of a few thousand above 5,000 (the test raises its soft
//! limit to the hard one, as rwsplit does at start).

mod common;

use std::time::{Duration, Instant};

use common::raw::{RawClient, MODERN};
use common::{Proxy, MASTER_PORT};
use rwsplit::protocol::command::{ResponseKind, COM_PING, COM_QUERY};

/// Client connections at once, idle and active together.
const CLIENTS: usize = 5_000;
/// sysbench threads (client connections running statements).
const ACTIVE: usize = 64;
const IDLE: usize = CLIENTS - ACTIVE;
/// Threads opening (and at the end, checking) the idle connections, each one
/// connection at a time.
const OPENERS: usize = 8;
const RUN_SECS: u64 = 10;
/// The test's own database (other tests use sbtest, sbcons, sbcheck_*).
const DB: &str = "sbmany";
const TABLES: u32 = 2;
const TABLE_SIZE: u32 = 10_000;
/// A generous bound: an idle session is a task, a small read buffer and its
/// state. Not a performance target, a guard against a session holding
/// something large (a backend connection, a result) while idle.
const MAX_RSS_PER_IDLE_CLIENT: u64 = 64 * 1024;

/// VmRSS of a process, in bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kb * 1024
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

fn master_sql(sql: &str) {
    use mysql_async::prelude::Queryable;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut c = common::connect(&common::direct_url("")).await;
        c.query_drop(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = c.disconnect().await;
    });
}

/// Drops the test's database when the test ends, passed or not.
struct DropDatabase;

impl Drop for DropDatabase {
    fn drop(&mut self) {
        master_sql(&format!("DROP DATABASE IF EXISTS {DB}"));
    }
}

fn sysbench(proxy: &Proxy) -> common::Sysbench<'static> {
    common::Sysbench {
        port: proxy.port,
        db: DB,
        tables: TABLES,
        table_size: TABLE_SIZE,
        seconds: RUN_SECS,
        ignore_errors: "none",
    }
}

/// Logs `n` clients in over `OPENERS` threads; none may fail.
fn open_idle_clients(addr: &str, n: usize) -> Vec<RawClient> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..OPENERS)
            .map(|t| {
                let count = n / OPENERS + usize::from(t < n % OPENERS);
                s.spawn(move || {
                    (0..count)
                        .map(|_| {
                            let (c, ok) = RawClient::connect(addr, "app", "app", Some(DB), MODERN);
                            assert_eq!(ok.first(), Some(&0x00), "login refused: {}", String::from_utf8_lossy(&ok));
                            c
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("opener thread panicked")).collect()
    })
}

/// Every client answers COM_PING and `SELECT 1` (which runs on a server).
fn check_all_answer(clients: &mut [RawClient]) {
    let chunk = clients.len().div_ceil(OPENERS);
    std::thread::scope(|s| {
        for part in clients.chunks_mut(chunk) {
            s.spawn(move || {
                for c in part {
                    let ping = c.request(&[COM_PING], ResponseKind::Single);
                    assert_eq!(ping[0].1.first(), Some(&0x00), "COM_PING: {ping:?}");
                    let mut query = vec![COM_QUERY];
                    query.extend_from_slice(b"SELECT 1");
                    let reply = c.request(&query, ResponseKind::Results { cursor: false });
                    assert_ne!(reply[0].1.first(), Some(&0xFF), "SELECT 1: {}", String::from_utf8_lossy(&reply[0].1));
                    // Column count, column definition, [EOF], the row "1", EOF/OK.
                    assert!(reply.iter().any(|(_, p)| p == &[1, b'1']), "SELECT 1 returned {reply:?}");
                }
            });
        }
    });
}

fn status_value(proxy: &Proxy, name: &str) -> u64 {
    let rows = common::admin(proxy, "SHOW STATUS").expect("SHOW STATUS");
    common::num(common::row(&rows, "variable", name), "value")
}

#[test]
fn five_thousand_clients_mostly_idle_hold_no_backend_connection_and_all_keep_working() {
    common::require_sysbench();
    let limit = rwsplit::limits::raise_nofile_limit().expect("raise RLIMIT_NOFILE");
    // This process holds the idle clients' sockets; the proxy (which inherits
    // the limit and raises its own) twice that plus its pools.
    let needed = (CLIENTS + 1_000) as u64;
    assert!(
        limit.after >= needed,
        "open files limit {} (hard {}) is below {needed}: raise the hard limit (ulimit -Hn)",
        limit.after,
        limit.hard
    );
    let proxy =
        Proxy::builder().replace("[proxy]\n", &format!("[proxy]\nmax_connections = {}\n", CLIENTS + 100)).spawn();
    let pid = proxy.pid();

    master_sql(&format!("DROP DATABASE IF EXISTS {DB}"));
    master_sql(&format!("CREATE DATABASE {DB}"));
    let _drop_db = DropDatabase;
    // Through the proxy: its pools, classifier cache and allocator are warm
    // before the baseline is taken.
    let bench = sysbench(&proxy);
    bench.run("prepare", bench.command("oltp_point_select", 1, &[], "prepare"));

    let (rss_before, fds_before) = (rss_bytes(pid), open_fds(pid));
    let started = Instant::now();
    let mut idle = open_idle_clients(&proxy.addr(), IDLE);
    let opened_in = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let (rss_idle, fds_idle) = (rss_bytes(pid), open_fds(pid));
    let per_client = rss_idle.saturating_sub(rss_before) / IDLE as u64;
    println!(
        "{IDLE} idle clients logged in in {opened_in:.1?}; proxy RSS {} KiB -> {} KiB: {:.1} KiB per idle client; \
         open files {fds_before} -> {fds_idle}",
        rss_before / 1024,
        rss_idle / 1024,
        per_client as f64 / 1024.0
    );
    assert_eq!(status_value(&proxy, "clients_connected"), IDLE as u64);

    // 64 more clients, all busy, while the idle ones wait.
    let out = bench.run("run", bench.command("oltp_point_select", ACTIVE, &[], "run"));
    let queries = common::report_number(&out, "queries").unwrap_or(0);
    let ignored = common::report_number(&out, "ignored errors");
    let reconnects = common::report_number(&out, "reconnects");
    println!("sysbench {ACTIVE} threads beside {IDLE} idle clients: {queries} queries in {RUN_SECS} s");
    assert!(queries > 0, "sysbench ran no query:\n{out}");
    assert_eq!((ignored, reconnects), (Some(0), Some(0)), "sysbench errors or reconnects:\n{out}");

    // Backends see the busy clients' share, never the idle ones.
    let pools = common::admin(&proxy, "SHOW POOLS").expect("SHOW POOLS");
    let threads = {
        use mysql_async::prelude::Queryable;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let mut c = common::connect(&common::direct_url("")).await;
            let v: Option<(String, u64)> =
                c.query_first("SHOW GLOBAL STATUS LIKE 'Threads_connected'").await.expect("Threads_connected");
            v.expect("row").1
        })
    };
    println!("master {MASTER_PORT} Threads_connected {threads} (all clients of the shared cluster); pools {pools:?}");
    for p in &pools {
        let (open, connects) = (common::num(p, "used") + common::num(p, "idle"), common::num(p, "connects"));
        let bound = (ACTIVE + OPENERS + 16) as u64;
        assert!(
            open <= bound && connects <= bound,
            "{} pool: {open} open, {connects} opened in all, more than the {ACTIVE} active + {OPENERS} logging-in \
             clients could need: idle clients hold backend connections?",
            p["server"]
        );
    }

    check_all_answer(&mut idle);
    println!("all {IDLE} idle clients answered COM_PING and SELECT 1");
    assert_eq!(status_value(&proxy, "clients_connected"), IDLE as u64);

    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_value(&proxy, "clients_connected") > 0 {
        assert!(Instant::now() < deadline, "sessions still open 20 s after their clients closed");
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("after the clients closed: proxy RSS {} KiB, open files {}", rss_bytes(pid) / 1024, open_fds(pid));

    assert!(
        per_client < MAX_RSS_PER_IDLE_CLIENT,
        "{per_client} bytes of RSS per idle client (bound {MAX_RSS_PER_IDLE_CLIENT})"
    );
    assert!(proxy.log().lines().all(|l| !l.contains("panicked")), "rwsplit panicked");
}
