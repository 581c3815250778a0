//! Where each statement runs, proven by the servers themselves (`@@port`, their
//! Com_* counters): reads spread over replicas, writes and everything that must
//! stay together on the master, and no change visible to the application.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{connect, Proxy};
use mysql_async::prelude::*;
use mysql_async::Conn;

const MASTER: u16 = 13306;

async fn port(c: &mut Conn, sql: &str) -> u16 {
    c.query_first(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")).expect("a row")
}

async fn ports(c: &mut Conn, sql: &str, n: usize) -> BTreeMap<u16, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        *seen.entry(port(c, sql).await).or_insert(0) += 1;
    }
    seen
}

fn code(e: mysql_async::Error) -> u16 {
    common::server_error(e).0
}

#[tokio::test]
async fn reads_go_to_the_replicas_and_writes_to_the_master() {
    let proxy = Proxy::per_statement_reads();
    let mut c = connect(&proxy.url("test")).await;
    let seen = ports(&mut c, "SELECT @@port", 8).await;
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), vec![13307, 13308], "{seen:?}");
    assert_eq!(port(&mut c, "SELECT @@port FOR UPDATE").await, MASTER);
    assert_eq!(port(&mut c, "SELECT @@port FROM DUAL LOCK IN SHARE MODE").await, MASTER);
    // A write that reached a replica would fail there (app has no READ ONLY
    // ADMIN: error 1290); these succeed, and the master has them.
    c.query_drop("CREATE TABLE IF NOT EXISTS routing_w (i INT)").await.expect("create");
    c.query_drop("TRUNCATE routing_w").await.expect("truncate");
    for i in 0..10 {
        c.query_drop(format!("INSERT INTO routing_w VALUES ({i})")).await.expect("insert");
    }
    let mut master = connect(&common::direct_url("test")).await;
    let n: Option<i64> = master.query_first("SELECT COUNT(*) FROM routing_w").await.expect("q");
    assert_eq!(n, Some(10));
}

#[tokio::test]
async fn a_session_keeps_its_replica_and_sessions_are_spread() {
    // read_affinity = "session" (the shipped config): one replica per session
    // while it is fit, each new session going to the replica with the fewest.
    let proxy = Proxy::start();
    let mut homes = BTreeMap::new();
    let mut sessions = Vec::new();
    for _ in 0..6 {
        let mut c = connect(&proxy.url("test")).await;
        let seen = ports(&mut c, "SELECT @@port", 6).await;
        assert_eq!(seen.len(), 1, "one session, one replica: {seen:?}");
        let home = *seen.keys().next().expect("a port");
        assert_ne!(home, MASTER);
        *homes.entry(home).or_insert(0) += 1;
        sessions.push((c, home));
    }
    assert_eq!(homes, BTreeMap::from([(13307, 3), (13308, 3)]), "sessions spread evenly: {homes:?}");
    // A replica taken out: its sessions move to the other one, and stay there.
    let (mut c, home) = sessions.pop().expect("a session");
    let name = if home == 13307 { "replica1" } else { "replica2" };
    common::admin(&proxy, &format!("SET SERVER {name} MAINT")).expect("maint");
    let seen = ports(&mut c, "SELECT @@port", 4).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(!seen.contains_key(&home) && !seen.contains_key(&MASTER), "moved off the drained replica: {seen:?}");
    common::admin(&proxy, &format!("SET SERVER {name} READY")).expect("ready");
    // Back in service with 2 sessions against the other's 4: the next two
    // sessions go to it.
    for _ in 0..2 {
        let mut c = connect(&proxy.url("test")).await;
        let seen = ports(&mut c, "SELECT @@port", 2).await;
        assert_eq!(seen.keys().copied().collect::<Vec<_>>(), vec![home], "to the replica with fewer sessions");
        sessions.push((c, home));
    }
}

#[tokio::test]
async fn a_session_gets_back_its_own_server_connection() {
    // Two sessions on one replica, taking turns: each runs on the server
    // thread it had, as behind an L4 proxy, rather than on whichever pooled
    // connection came back last.
    let proxy = Proxy::start();
    let mut by_home: BTreeMap<u16, Vec<Conn>> = BTreeMap::new();
    while !by_home.values().any(|v| v.len() == 2) {
        let mut c = connect(&proxy.url("test")).await;
        let home = port(&mut c, "SELECT @@port").await;
        by_home.entry(home).or_default().push(c);
    }
    let (_, mut pair) = by_home.into_iter().find(|(_, v)| v.len() == 2).expect("two sessions on one replica");
    // Both at once: the replica's pool has two connections from here on.
    let (a, b) = pair.split_at_mut(1);
    let slow = "SELECT SLEEP(0.3), @@port";
    let (ra, rb) = tokio::join!(a[0].query_drop(slow), b[0].query_drop(slow));
    ra.and(rb).expect(slow);
    let sql = "SELECT @@port, @@pseudo_thread_id";
    let mut threads = [BTreeMap::new(), BTreeMap::new()];
    for round in 0..6 {
        for (i, c) in pair.iter_mut().enumerate() {
            let (p, thread): (u16, u64) = c.query_first(sql).await.expect(sql).expect("a row");
            assert_ne!(p, MASTER, "round {round}");
            *threads[i].entry(thread).or_insert(0) += 1;
        }
    }
    assert_eq!(threads[0].len(), 1, "session 1 changed server threads: {threads:?}");
    assert_eq!(threads[1].len(), 1, "session 2 changed server threads: {threads:?}");
    assert_ne!(threads[0].keys().next(), threads[1].keys().next(), "{threads:?}");
}

#[tokio::test]
async fn transactions_and_autocommit_off_stay_on_the_master() {
    let proxy = Proxy::start();
    let mut c = connect(&proxy.url("test")).await;
    c.query_drop("BEGIN").await.expect("begin");
    assert_eq!(ports(&mut c, "SELECT @@port", 4).await, BTreeMap::from([(MASTER, 4)]));
    c.query_drop("COMMIT").await.expect("commit");
    assert!(!ports(&mut c, "SELECT @@port", 4).await.contains_key(&MASTER));
    c.query_drop("SET autocommit = 0").await.expect("autocommit off");
    assert_eq!(ports(&mut c, "SELECT @@port", 4).await, BTreeMap::from([(MASTER, 4)]));
    c.query_drop("COMMIT").await.expect("commit");
    assert_eq!(port(&mut c, "SELECT @@port").await, MASTER, "autocommit is still off");
    c.query_drop("SET autocommit = 1").await.expect("autocommit on");
    assert!(!ports(&mut c, "SELECT @@port", 4).await.contains_key(&MASTER));
}

#[tokio::test]
async fn idle_sessions_with_autocommit_off_hold_no_connection() {
    // PyMySQL and others turn autocommit off at connect: between transactions
    // such a session must cost the master nothing, or they scale to pool_max.
    let proxy = Proxy::start();
    let mut sessions = Vec::new();
    for _ in 0..20 {
        let mut c = connect(&proxy.url("test")).await;
        c.query_drop("SET autocommit = 0").await.expect("autocommit off");
        assert_eq!(port(&mut c, "SELECT @@port").await, MASTER);
        c.query_drop("COMMIT").await.expect("commit");
        sessions.push(c);
    }
    let pools = common::admin(&proxy, "SHOW POOLS").expect("SHOW POOLS");
    let master = common::row(&pools, "server", "master");
    assert_eq!(common::num(master, "used"), 0, "idle autocommit-off sessions hold master connections: {pools:?}");
    // A transaction still pins, and what it did stays its own until COMMIT.
    let mut a = sessions.pop().expect("a session");
    a.query_drop("CREATE TABLE IF NOT EXISTS routing_ac (i INT PRIMARY KEY)").await.expect("create");
    a.query_drop("DELETE FROM routing_ac").await.expect("delete");
    a.query_drop("COMMIT").await.expect("commit");
    a.query_drop("INSERT INTO routing_ac VALUES (1)").await.expect("insert");
    let pools = common::admin(&proxy, "SHOW POOLS").expect("SHOW POOLS");
    assert_eq!(common::num(common::row(&pools, "server", "master"), "used"), 1, "the open transaction pins");
    let mut b = sessions.pop().expect("another session");
    let n: Option<i64> = b.query_first("SELECT COUNT(*) FROM routing_ac").await.expect("count");
    assert_eq!(n, Some(0), "another session must not see an uncommitted insert");
    b.query_drop("COMMIT").await.expect("commit");
    a.query_drop("ROLLBACK").await.expect("rollback");
    let n: Option<i64> = a.query_first("SELECT COUNT(*) FROM routing_ac").await.expect("count");
    assert_eq!(n, Some(0), "the rolled-back insert is gone");
}

#[tokio::test]
async fn read_only_transaction_runs_on_one_replica() {
    let proxy = Proxy::start();
    let mut c = connect(&proxy.url("test")).await;
    c.query_drop("CREATE TABLE IF NOT EXISTS routing_ro (i INT)").await.expect("create");
    // Until a replica has applied that CREATE, read-your-writes keeps reads (and
    // so a read-only transaction) on the master; replicas catch up in moments.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while port(&mut c, "SELECT @@port").await == MASTER {
        assert!(std::time::Instant::now() < deadline, "no replica caught up with the CREATE TABLE");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.query_drop("START TRANSACTION READ ONLY").await.expect("begin");
    let seen = ports(&mut c, "SELECT @@port", 5).await;
    assert_eq!(seen.len(), 1, "one replica for the whole transaction: {seen:?}");
    assert!(!seen.contains_key(&MASTER));
    // The error the master would give, not the replica's read_only one.
    assert_eq!(code(c.query_drop("INSERT INTO routing_ro VALUES (1)").await.expect_err("read only")), 1792);
    c.query_drop("COMMIT").await.expect("commit");
}

#[tokio::test]
async fn temporary_tables_and_user_variables_keep_the_session_where_they_live() {
    let proxy = Proxy::start();
    let mut c = connect(&proxy.url("test")).await;
    c.query_drop("CREATE TEMPORARY TABLE routing_tmp (i INT)").await.expect("create temp");
    c.query_drop("INSERT INTO routing_tmp VALUES (1), (2)").await.expect("insert");
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM routing_tmp").await.expect("read the temp table");
    assert_eq!(n, Some(2));
    assert_eq!(port(&mut c, "SELECT @@port").await, MASTER, "pinned while the temporary table exists");
    c.query_drop("DROP TEMPORARY TABLE routing_tmp").await.expect("drop");
    // Unpinned: reads go to the replicas again once one has applied the DROP
    // (read-your-writes sends them to the master until then).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while port(&mut c, "SELECT @@port").await == MASTER {
        assert!(std::time::Instant::now() < deadline, "still on the master: not unpinned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut v = connect(&proxy.url("test")).await;
    v.query_drop("SET @answer := 42").await.expect("set");
    for _ in 0..4 {
        let x: Option<i64> = v.query_first("SELECT @answer").await.expect("q");
        assert_eq!(x, Some(42));
    }
}

#[tokio::test]
async fn session_variables_and_database_follow_the_session_to_every_server() {
    let proxy = Proxy::start();
    let mut c = connect(&proxy.url("test")).await;
    c.query_drop("SET time_zone = '+05:30', sql_mode = 'ANSI_QUOTES'").await.expect("set");
    c.query_drop("USE mysql").await.expect("use");
    for _ in 0..6 {
        let (tz, mode, db, p): (String, String, Option<String>, u16) =
            c.query_first("SELECT @@time_zone, @@sql_mode, DATABASE(), @@port").await.expect("q").expect("row");
        assert_eq!((tz.as_str(), mode.as_str(), db.as_deref()), ("+05:30", "ANSI_QUOTES", Some("mysql")), "on {p}");
    }
}

#[tokio::test]
async fn reads_see_writes_from_any_connection() {
    let proxy = Proxy::start();
    let mut writer = connect(&proxy.url("test")).await;
    writer
        .query_drop("CREATE TABLE IF NOT EXISTS routing_ryw (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")
        .await
        .expect("create");
    writer.query_drop("TRUNCATE routing_ryw").await.expect("truncate");
    let mut reader = connect(&proxy.url("test")).await;
    for i in 1..=30i64 {
        writer.query_drop(format!("INSERT INTO routing_ryw (v) VALUES ({i})")).await.expect("insert");
        let n: Option<i64> = reader.query_first("SELECT COUNT(*) FROM routing_ryw").await.expect("read");
        assert_eq!(n, Some(i), "a read right after a write on another connection sees it");
    }
    let id: Option<u64> = writer.query_first("SELECT LAST_INSERT_ID()").await.expect("q");
    let max: Option<u64> = writer.query_first("SELECT MAX(id) FROM routing_ryw").await.expect("q");
    assert_eq!(id, max, "LAST_INSERT_ID() is the session's");
}

#[tokio::test]
async fn found_rows_follows_its_query() {
    let proxy = Proxy::start();
    let mut c = connect(&proxy.url("test")).await;
    let _: Vec<u64> = c.query("SELECT SQL_CALC_FOUND_ROWS seq FROM seq_1_to_50 LIMIT 5").await.expect("q");
    let n: Option<u64> = c.query_first("SELECT FOUND_ROWS()").await.expect("q");
    assert_eq!(n, Some(50));
}

#[tokio::test]
async fn hints_pick_the_server() {
    let proxy = Proxy::start();
    let mut c = connect(&proxy.url("test")).await;
    assert_eq!(port(&mut c, "/* rwsplit:master */ SELECT @@port").await, MASTER);
    assert_eq!(port(&mut c, "/* rwsplit:server=replica2 */ SELECT @@port").await, 13308);
    assert_eq!(port(&mut c, "SELECT /* rwsplit:server=replica1 */ @@port").await, 13307);
}

#[tokio::test]
async fn weights_split_reads() {
    let proxy = Proxy::builder()
        .replace(
            "name = \"replica2\"\naddress = \"127.0.0.1:13308\"\nrole = \"replica\"",
            "name = \"replica2\"\naddress = \"127.0.0.1:13308\"\nrole = \"replica\"\nweight = 2",
        )
        .replace("read_affinity = \"session\"", "read_affinity = \"statement\"")
        .spawn();
    let mut c = connect(&proxy.url("test")).await;
    let seen = ports(&mut c, "SELECT @@port", 30).await;
    assert_eq!(seen, BTreeMap::from([(13307, 10), (13308, 20)]));
}

#[tokio::test]
async fn reads_avoid_an_unreachable_replica_then_fall_back_to_the_master() {
    let closed = common::free_port();
    let proxy = Proxy::builder()
        .replace("address = \"127.0.0.1:13307\"", &format!("address = \"127.0.0.1:{closed}\""))
        .replace("connect_timeout = \"3s\"", "connect_timeout = \"1s\"")
        .spawn();
    let mut c = connect(&proxy.url("test")).await;
    assert_eq!(ports(&mut c, "SELECT @@port", 6).await, BTreeMap::from([(13308, 6)]));
    let both = common::free_port();
    let proxy = Proxy::builder()
        .replace("address = \"127.0.0.1:13307\"", &format!("address = \"127.0.0.1:{closed}\""))
        .replace("address = \"127.0.0.1:13308\"", &format!("address = \"127.0.0.1:{both}\""))
        .replace("connect_timeout = \"3s\"", "connect_timeout = \"1s\"")
        .spawn();
    let mut c = connect(&proxy.url("test")).await;
    assert_eq!(ports(&mut c, "SELECT @@port", 3).await, BTreeMap::from([(MASTER, 3)]));
}

#[tokio::test]
async fn five_hundred_clients_share_a_pool_of_twenty() {
    let proxy = Proxy::builder().replace("pool_max = 256", "pool_max = 20").spawn();
    let mut clients = Vec::new();
    for _ in 0..500 {
        clients.push(connect(&proxy.url("test")).await);
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            tokio::spawn(async move {
                for j in 0..5u64 {
                    let v: Option<u64> = c.query_first(format!("SELECT {i} + {j}")).await.expect("q");
                    assert_eq!(v, Some(i as u64 + j));
                }
                c
            })
        })
        .collect();
    let mut done = Vec::new();
    for t in tasks {
        done.push(tokio::time::timeout(Duration::from_secs(120), t).await.expect("in time").expect("join"));
    }
    assert_eq!(done.len(), 500);
}

#[tokio::test]
async fn prepared_statements_split_like_text_ones() {
    let proxy = Proxy::per_statement_reads();
    let mut c = connect(&proxy.url("test")).await;
    // mysql_async prepares every statement it executes with parameters or via exec.
    let mut seen = BTreeMap::new();
    for _ in 0..8 {
        let p: u16 = c.exec_first("SELECT @@port", ()).await.expect("exec").expect("row");
        *seen.entry(p).or_insert(0) += 1;
    }
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), vec![13307, 13308], "{seen:?}");
    c.query_drop("CREATE TABLE IF NOT EXISTS routing_ps (i INT)").await.expect("create");
    for i in 0..5 {
        c.exec_drop("INSERT INTO routing_ps VALUES (?)", (i,)).await.expect("a prepared write reaches the master");
    }
    let p: u16 = c.exec_first("SELECT @@port FOR UPDATE", ()).await.expect("exec").expect("row");
    assert_eq!(p, MASTER);
    // In a transaction the same prepared statement follows the session to the master.
    c.query_drop("BEGIN").await.expect("begin");
    let p: u16 = c.exec_first("SELECT @@port", ()).await.expect("exec").expect("row");
    assert_eq!(p, MASTER);
    c.query_drop("COMMIT").await.expect("commit");
}

#[tokio::test]
async fn many_distinct_prepared_statements_do_not_leak_on_the_servers() {
    let proxy = Proxy::builder().replace("[routing]\n", "[routing]\nmax_prepared_per_connection = 32\n").spawn();
    let mut c = connect(&format!("{}&stmt_cache_size=0", proxy.url("test"))).await;
    for i in 0..600 {
        let v: Option<i64> = c.exec_first(format!("SELECT {i} + ?"), (1,)).await.expect("exec");
        assert_eq!(v, Some(i + 1));
    }
    // The client closed each statement; the proxy keeps each backend
    // connection's at most max_prepared_per_connection (32), closing the least
    // recently used: the 600 reads (300 per replica) leave far fewer behind.
    for port in [13307, 13308] {
        let mut replica = connect(&format!("mysql://app:app@127.0.0.1:{port}/test?prefer_socket=false")).await;
        let count: (String, u64) =
            replica.query_first("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'").await.expect("q").expect("row");
        assert!(count.1 < 200, "Prepared_stmt_count on {port}: {}", count.1);
    }
}
