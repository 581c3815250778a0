//! After a mixed sysbench run through the proxy (transactions on the master,
//! autocommit reads on the replicas, autocommit writes and inserts on the master)
//! the master and every replica hold exactly the same rows: nothing the proxy did
//! (routing, multiplexing, prepared statements, deadlock retries) made a write go
//! missing, run twice, or land anywhere but on the master.
//!
//! Needs sysbench (scripts/install-deps.sh installs the Debian package): without
//! it the test fails rather than passing silently.

mod common;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Proxy, MASTER_PORT, REPLICA_PORTS};
use mysql_async::prelude::*;
use mysql_async::{Conn, Opts};
use tokio::runtime::Runtime;

const TABLES: u32 = 2;
const TABLE_SIZE: u32 = 1000;
const RUN_SECS: u64 = 10;
/// InnoDB deadlocks: the workload's own (they happen directly too); sysbench
/// retries the transaction. Every other error fails the test.
const IGNORED_ERRORS: &str = "1213";
/// Seconds a replica may take to apply everything the master has.
const GTID_WAIT_SECS: u64 = 30;

fn server_url(port: u16, db: &str) -> String {
    format!("mysql://app:app@127.0.0.1:{port}/{db}?prefer_socket=false")
}

async fn conn(port: u16) -> Conn {
    common::connect(&server_url(port, "")).await
}

/// Drops the test's database when the test ends, whether it passed or not.
struct DropDatabase<'a> {
    rt: &'a Runtime,
    db: String,
}

impl Drop for DropDatabase<'_> {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS `{}`", self.db);
        let result = self.rt.block_on(async {
            let opts = Opts::from_url(&server_url(MASTER_PORT, "")).expect("url");
            let mut c = Conn::new(opts).await?;
            c.query_drop(&sql).await?;
            c.disconnect().await
        });
        if let Err(e) = result {
            eprintln!("could not drop database {}: {e}", self.db);
        }
    }
}

/// sysbench through the proxy, on the test's database.
fn sysbench<'a>(proxy: &Proxy, db: &'a str) -> common::Sysbench<'a> {
    common::Sysbench {
        port: proxy.port,
        db,
        tables: TABLES,
        table_size: TABLE_SIZE,
        seconds: RUN_SECS,
        ignore_errors: IGNORED_ERRORS,
    }
}

/// Com_select and Com_stmt_execute of one server (SHOW STATUS counts as
/// Com_show_status, so reading them does not move them).
async fn counters(port: u16) -> [u64; 2] {
    let mut c = conn(port).await;
    let rows: Vec<(String, String)> = c
        .query("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_select', 'Com_stmt_execute')")
        .await
        .expect("SHOW GLOBAL STATUS");
    let get = |name: &str| -> u64 {
        let (_, v) = rows.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).unwrap_or_else(|| panic!("no {name}"));
        v.parse().unwrap_or_else(|_| panic!("{name} on {port} = {v:?}"))
    };
    [get("Com_select"), get("Com_stmt_execute")]
}

async fn replica_counters() -> Vec<[u64; 2]> {
    let mut v = Vec::new();
    for port in REPLICA_PORTS {
        v.push(counters(port).await);
    }
    v
}

/// Table name -> (row count, CHECKSUM TABLE) of every table in `db` on one server.
async fn table_digests(port: u16, db: &str) -> BTreeMap<String, (u64, Option<u64>)> {
    let mut c = conn(port).await;
    let tables: Vec<String> = c
        .exec("SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name", (db,))
        .await
        .expect("list tables");
    let mut digests = BTreeMap::new();
    for t in tables {
        let count: Option<u64> = c.query_first(format!("SELECT COUNT(*) FROM `{db}`.`{t}`")).await.expect("COUNT(*)");
        let checksum: Option<(String, Option<u64>)> =
            c.query_first(format!("CHECKSUM TABLE `{db}`.`{t}`")).await.expect("CHECKSUM TABLE");
        let checksum = checksum.expect("CHECKSUM TABLE row").1;
        assert!(checksum.is_some(), "CHECKSUM TABLE {db}.{t} on {port} returned NULL (table missing?)");
        digests.insert(t, (count.expect("COUNT(*) row"), checksum));
    }
    digests
}

#[test]
fn master_and_replicas_hold_the_same_rows_after_a_mixed_sysbench_run() {
    common::require_sysbench();
    let mut proxy = Proxy::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").subsec_nanos();
    let db = format!("sbcheck_{}_{nanos}", std::process::id());
    rt.block_on(async {
        let mut c = conn(MASTER_PORT).await;
        c.query_drop(format!("CREATE DATABASE `{db}`")).await.expect("create database");
    });
    let _drop_db = DropDatabase { rt: &rt, db: db.clone() };

    // Tables and rows, written through the proxy.
    let bench = sysbench(&proxy, &db);
    let out = bench.run("prepare", bench.command("oltp_read_write", 1, &[], "prepare"));
    assert!(out.contains(&format!("Inserting {TABLE_SIZE} records")), "unexpected prepare output:\n{out}");

    let replicas_before = rt.block_on(replica_counters());

    // 8 client threads at once: read-write transactions (deletes and re-inserts
    // included) stay on the master; the same statements in autocommit spread
    // their reads over the replicas; single-row inserts grow the tables.
    let runs = [
        ("transactions", bench.command("oltp_read_write", 4, &["--delete_inserts=2"], "run")),
        // Autocommit DELETE + INSERT of one id by two threads could collide
        // (duplicate key) directly too: updates only.
        ("autocommit", bench.command("oltp_read_write", 3, &["--skip_trx=on", "--delete_inserts=0"], "run")),
        ("inserts", bench.command("oltp_insert", 1, &[], "run")),
    ];
    let outputs: Vec<(&str, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .into_iter()
            .map(|(name, cmd)| {
                (name, {
                    let bench = &bench;
                    s.spawn(move || bench.run(name, cmd))
                })
            })
            .collect();
        handles.into_iter().map(|(name, h)| (name, h.join().expect("sysbench thread panicked"))).collect()
    });

    let replicas_after = rt.block_on(replica_counters());
    let delta =
        |i: usize| -> Vec<u64> { replicas_after.iter().zip(&replicas_before).map(|(a, b)| a[i] - b[i]).collect() };
    let (replica_selects, replica_executes) = (delta(0), delta(1));
    let mut autocommit_reads = 0;
    for (name, out) in &outputs {
        let tx = common::report_number(out, "transactions").unwrap_or_else(|| panic!("no transaction count:\n{out}"));
        let reads = common::report_number(out, "read").unwrap_or(0);
        let writes = common::report_number(out, "write").unwrap_or(0);
        let ignored = common::report_number(out, "ignored errors").unwrap_or(0);
        println!("{name}: {tx} transactions, {reads} reads, {writes} writes, {ignored} ignored deadlock(s)");
        assert!(tx > 0, "sysbench {name} ran no transaction:\n{out}");
        if *name == "autocommit" {
            autocommit_reads = reads;
        }
    }
    println!(
        "replicas {REPLICA_PORTS:?} during the run: Com_stmt_execute {replica_executes:?}, Com_select {replica_selects:?}"
    );
    // Only the autocommit run's reads may go to replicas, as prepared statements
    // (--db-ps-mode=auto): count executions, since Com_select also counts the
    // proxy's own read-your-writes checks (SELECT MASTER_GTID_WAIT) there. The
    // counters are global (other clients of the cluster only add to them), so ask
    // for a clear share: with two replicas roundrobin most reads land on them.
    assert!(autocommit_reads > 0, "the autocommit run did no read");
    assert!(
        replica_executes.iter().sum::<u64>() * 4 >= autocommit_reads,
        "replicas executed {replica_executes:?} statements for {autocommit_reads} autocommit reads: reads were not split"
    );
    assert!(replica_executes.iter().all(|&n| n > 0), "a replica got no read: {replica_executes:?}");

    // Every replica applies all the master has, then holds the same rows.
    let (master, replicas) = rt.block_on(async {
        let mut m = conn(MASTER_PORT).await;
        let pos: String = m.query_first("SELECT @@gtid_binlog_pos").await.expect("gtid").expect("gtid row");
        println!("master GTID position {pos}");
        for port in REPLICA_PORTS {
            let mut r = conn(port).await;
            let waited: Option<i64> =
                r.exec_first("SELECT MASTER_GTID_WAIT(?, ?)", (&pos, GTID_WAIT_SECS)).await.expect("MASTER_GTID_WAIT");
            assert_eq!(waited, Some(0), "replica {port} did not reach GTID {pos} within {GTID_WAIT_SECS}s");
        }
        let master = table_digests(MASTER_PORT, &db).await;
        let mut replicas = Vec::new();
        for port in REPLICA_PORTS {
            replicas.push((port, table_digests(port, &db).await));
        }
        (master, replicas)
    });
    println!("master {MASTER_PORT}: {master:?}");
    assert_eq!(master.len(), TABLES as usize, "tables on the master: {master:?}");
    for (port, digests) in &replicas {
        println!("replica {port}: {digests:?}");
        assert_eq!(digests, &master, "replica {port} differs from the master (table -> (rows, checksum))");
    }

    assert!(proxy.log().lines().all(|l| !l.contains("panicked")), "rwsplit panicked:\n{}", proxy.log());
    assert!(proxy.is_running(), "rwsplit exited during the run:\n{}", proxy.log());
}
