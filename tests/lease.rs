//! Leases (`backend.lease`): a session reading on from its replica keeps that
//! connection between statements, gives it back before anything else and
//! when it falls silent, never holds more than half a pool, and survives the
//! server closing it.

mod common;

use std::time::Duration;

use common::{connect, Proxy};
use mysql_async::prelude::*;
use mysql_async::Conn;

/// (port, backend thread id) of a plain read.
async fn where_read(c: &mut Conn) -> (u16, u64) {
    c.query_first("SELECT @@port, @@pseudo_thread_id").await.expect("read").expect("a row")
}

fn replica_name(port: u16) -> &'static str {
    match port {
        13307 => "replica1",
        13308 => "replica2",
        other => panic!("a plain read ran on {other}, not a replica"),
    }
}

/// `used` and `leased` of `server` in SHOW POOLS.
fn pool_use(proxy: &Proxy, server: &str) -> (u64, u64) {
    let pools = common::admin(proxy, "SHOW POOLS").expect("SHOW POOLS");
    let row = common::row(&pools, "server", server);
    (common::num(row, "used"), common::num(row, "leased"))
}

fn with_lease(lease: &str) -> common::ProxyBuilder {
    Proxy::builder().replace("lease = \"100ms\"", &format!("lease = \"{lease}\""))
}

#[tokio::test]
async fn a_reading_session_keeps_its_connection_until_silent_or_elsewhere() {
    let proxy = with_lease("3s").spawn();
    let mut c = connect(&proxy.url("test")).await;
    let (port, thread) = where_read(&mut c).await;
    let replica = replica_name(port);
    assert_eq!(pool_use(&proxy, replica), (1, 1), "the read's connection is kept");
    for _ in 0..5 {
        assert_eq!(where_read(&mut c).await, (port, thread), "reads go on on the leased connection");
    }
    // A statement for the master gives the lease back first.
    let on: u16 = c.query_first("SELECT @@port FOR UPDATE").await.expect("locking read").expect("row");
    assert_eq!(on, 13306);
    assert_eq!(pool_use(&proxy, replica), (0, 0), "given back before the master's statement");
    // Reading again leases again; silence longer than `lease` gives it back.
    assert_eq!(where_read(&mut c).await.0, port);
    assert_eq!(pool_use(&proxy, replica), (1, 1));
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(pool_use(&proxy, replica), (0, 0), "an idle session holds no connection");
    let clients = common::admin(&proxy, "SHOW CLIENTS").expect("SHOW CLIENTS");
    assert!(clients.iter().all(|r| r["server"] == "NULL"), "no session shows a backend: {clients:?}");
    // The connection went back to the pool, and the session gets it again.
    assert_eq!(where_read(&mut c).await, (port, thread));
}

#[tokio::test]
async fn no_lease_when_switched_off() {
    let proxy = with_lease("0s").spawn();
    let mut c = connect(&proxy.url("test")).await;
    let (port, _) = where_read(&mut c).await;
    assert_eq!(pool_use(&proxy, replica_name(port)), (0, 0));
}

#[tokio::test]
async fn at_most_half_a_pool_is_leased_and_nobody_waits_for_leases() {
    // pool_max = 2: one lease per replica at most, so that sessions without
    // one always find a connection.
    let proxy = with_lease("10s").replace("pool_max = 256", "pool_max = 2").spawn();
    let mut sessions = Vec::new();
    for _ in 0..6 {
        let mut c = connect(&proxy.url("test")).await;
        where_read(&mut c).await;
        sessions.push(c);
    }
    for replica in ["replica1", "replica2"] {
        let (used, leased) = pool_use(&proxy, replica);
        assert!(leased <= 1 && used <= 2, "{replica}: used {used}, leased {leased}");
    }
    // All six read at once, many times; a pool of two per replica serves
    // them without a wait as long as `connect_timeout`.
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                for _ in 0..50 {
                    let port = where_read(&mut c).await.0;
                    replica_name(port);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("reads through a small pool");
    }
}

#[tokio::test]
async fn a_leased_connection_the_server_closed_is_replaced_without_an_error() {
    let proxy = with_lease("10s").spawn();
    let mut c = connect(&proxy.url("test")).await;
    let (port, thread) = where_read(&mut c).await;
    // The backend connections log in as `app`, which may kill its own threads.
    let mut direct = connect(&format!("mysql://app:app@127.0.0.1:{port}/test?prefer_socket=false")).await;
    direct.query_drop(format!("KILL {thread}")).await.expect("kill the leased connection");
    let (again, other) = where_read(&mut c).await;
    assert_eq!(again, port, "still the session's replica");
    assert_ne!(other, thread, "on a new connection");
    let log = proxy.log();
    assert!(!log.contains("session closed"), "the session went on: {log}");
}
