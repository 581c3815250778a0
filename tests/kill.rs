//! KILL through the proxy reaches the right server thread, whichever id the client
//! uses (the greeting's, as JDBC's cancel does, or CONNECTION_ID()), and never an
//! unrelated one.

mod common;

use std::time::{Duration, Instant};

use common::{connect, Proxy};
use mysql_async::prelude::*;
use mysql_async::Conn;

fn code(e: mysql_async::Error) -> u16 {
    common::server_error(e).0
}

/// Starts `SELECT SLEEP(20)` on `victim`, kills it with `kill_sql` from another
/// session, and returns how long the sleep lasted and the error code it got.
async fn interrupted_sleep(proxy: &Proxy, kill_sql: impl Fn(&Conn, u64) -> String) -> (Duration, u16) {
    let mut victim = connect(&proxy.url("test")).await;
    // In a transaction the session keeps one backend connection, so the thread id
    // it reads is the one that will run the sleep (between transactions each
    // statement may run on another connection).
    victim.query_drop("BEGIN").await.expect("begin");
    let backend_id: u64 = victim.query_first("SELECT CONNECTION_ID()").await.expect("q").expect("row");
    let sql = kill_sql(&victim, backend_id);
    let start = Instant::now();
    let sleeper = tokio::spawn(async move {
        let e = victim.query_drop("SELECT SLEEP(20)").await.expect_err("interrupted");
        let took = start.elapsed();
        // The victim's session goes on after its query was killed.
        let one: Option<i64> = victim.query_first("SELECT 1").await.expect("victim still connected");
        assert_eq!(one, Some(1));
        victim.query_drop("ROLLBACK").await.expect("rollback");
        (took, code(e))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut killer = connect(&proxy.url("test")).await;
    killer.query_drop(sql).await.expect("kill");
    sleeper.await.expect("join")
}

#[tokio::test]
async fn kill_query_by_greeting_id_interrupts_that_session() {
    let proxy = Proxy::start();
    let (took, r) = interrupted_sleep(&proxy, |victim, _| format!("KILL QUERY {}", victim.id())).await;
    assert_eq!(r, 1317, "ER_QUERY_INTERRUPTED");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test]
async fn kill_query_by_backend_thread_id_works_too() {
    let proxy = Proxy::start();
    let (took, r) = interrupted_sleep(&proxy, |_, backend_id| format!("KILL QUERY {backend_id}")).await;
    assert_eq!(r, 1317);
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test]
async fn kill_connection_closes_the_victim_and_spares_everyone_else() {
    let proxy = Proxy::start();
    let mut victim = connect(&proxy.url("test")).await;
    let mut bystander = connect(&proxy.url("test")).await;
    let mut killer = connect(&proxy.url("test")).await;
    killer.query_drop(format!("KILL {}", victim.id())).await.expect("kill");
    assert!(victim.query_drop("SELECT 1").await.is_err(), "victim's connection is closed");
    let one: Option<i64> = bystander.query_first("SELECT 1").await.expect("bystander unaffected");
    assert_eq!(one, Some(1));
    let one: Option<i64> = killer.query_first("SELECT 1").await.expect("killer unaffected");
    assert_eq!(one, Some(1));
}

#[tokio::test]
async fn kill_errors_match_the_server() {
    let proxy = Proxy::builder().append("[[users]]\nname = \"other\"\npassword = \"app\"\n").spawn();
    let mut c = connect(&proxy.url("test")).await;
    assert_eq!(code(c.query_drop("KILL 4000000000").await.expect_err("no such thread")), 1094);
    assert_eq!(code(c.query_drop("KILL USER app").await.expect_err("refused")), 1235);
    let mut other = connect(&format!("mysql://other:app@127.0.0.1:{}/test?prefer_socket=false", proxy.port)).await;
    assert_eq!(code(other.query_drop(format!("KILL QUERY {}", c.id())).await.expect_err("not owner")), 1095);
    let one: Option<i64> = c.query_first("SELECT 1").await.expect("still fine");
    assert_eq!(one, Some(1));
}

#[tokio::test]
async fn com_process_kill_is_handled_like_kill() {
    let proxy = Proxy::start();
    let victim = connect(&proxy.url("test")).await;
    let (mut raw, _) = common::raw::RawClient::connect(&proxy.addr(), "app", "app", None, common::raw::MODERN);
    let mut cmd = vec![rwsplit::protocol::command::COM_PROCESS_KILL];
    cmd.extend_from_slice(&victim.id().to_le_bytes());
    let reply = raw.command(&cmd, rwsplit::protocol::command::ResponseKind::Single);
    assert_eq!(reply[0].1[0], 0x00, "OK");
    let mut victim = victim;
    assert!(victim.query_drop("SELECT 1").await.is_err());
}
