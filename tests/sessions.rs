//! Session-level behaviour through the proxy with a real Rust client (mysql_async):
//! COM_CHANGE_USER, COM_RESET_CONNECTION, LOAD DATA LOCAL, pooled connections that
//! never leak one session's state into the next, and clear errors when a backend
//! is unreachable.

mod common;

use std::time::{Duration, Instant};

use common::{connect, server_error, Proxy};
use mysql_async::prelude::*;
use mysql_async::{ChangeUserOpts, Conn, Opts, OptsBuilder, WhiteListFsHandler};

#[tokio::test]
async fn change_user_resets_session_and_switches_database() {
    let proxy = Proxy::builder()
        .append("[[users]]\nname = \"reporter\"\npassword = \"*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3\"\n")
        .spawn();
    let mut c = connect(&proxy.url("test")).await;
    c.query_drop("SET @v = 42").await.expect("set");
    c.change_user(
        ChangeUserOpts::default()
            .with_user(Some("reporter".into()))
            .with_pass(Some("app".into()))
            .with_db_name(Some("mysql".into())),
    )
    .await
    .expect("change user");
    let (db, v): (Option<String>, Option<i64>) = c.query_first("SELECT DATABASE(), @v").await.expect("q").expect("row");
    assert_eq!(db.as_deref(), Some("mysql"));
    assert_eq!(v, None, "COM_CHANGE_USER resets user variables");
    let bad = c
        .change_user(ChangeUserOpts::default().with_user(Some("reporter".into())).with_pass(Some("wrong".into())))
        .await
        .expect_err("wrong password");
    assert!(format!("{bad}").contains("1045"), "{bad}");
}

#[tokio::test]
async fn reset_connection_clears_state() {
    let proxy = Proxy::start();
    let mut c = connect(&proxy.url("test")).await;
    c.query_drop("SET @v = 1").await.expect("set");
    c.query_drop("CREATE TEMPORARY TABLE reset_tmp (i INT)").await.expect("temp");
    assert!(c.reset().await.expect("reset"));
    let v: Option<Option<i64>> = c.query_first("SELECT @v").await.expect("q");
    assert_eq!(v, Some(None));
    let e = c.query_drop("SELECT * FROM reset_tmp").await.expect_err("temp table is gone");
    assert_eq!(server_error(e).0, 1146);
}

#[tokio::test]
async fn load_data_local_infile_is_relayed() {
    let proxy = Proxy::start();
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("rows.csv");
    let body: String = (0..20_000).map(|i| format!("{i},row {i}\n")).collect();
    std::fs::write(&path, body).expect("write csv");
    let opts = OptsBuilder::from_opts(Opts::from_url(&proxy.url("test")).expect("url"))
        .local_infile_handler(Some(WhiteListFsHandler::new(&[path.clone()][..])));
    let mut c = Conn::new(opts).await.expect("connect");
    c.query_drop("CREATE TEMPORARY TABLE infile_t (id INT PRIMARY KEY, v VARCHAR(20))").await.expect("create");
    c.query_drop(format!("LOAD DATA LOCAL INFILE '{}' INTO TABLE infile_t FIELDS TERMINATED BY ','", path.display()))
        .await
        .expect("load data");
    let (n, s): (i64, i64) = c.query_first("SELECT COUNT(*), SUM(id) FROM infile_t").await.expect("q").expect("row");
    assert_eq!((n, s), (20_000, (0..20_000i64).sum()));
    // The same file again: with LOCAL every duplicate key becomes a warning (the
    // server cannot stop the client's stream), relayed after the whole file.
    c.query_drop(format!("LOAD DATA LOCAL INFILE '{}' INTO TABLE infile_t FIELDS TERMINATED BY ','", path.display()))
        .await
        .expect("duplicates are skipped");
    let warnings: Option<i64> = c.query_first("SELECT @@warning_count").await.expect("q");
    assert_eq!(warnings, Some(20_000), "one duplicate-key warning per row");
    let one: Option<i64> = c.query_first("SELECT 1").await.expect("still usable");
    assert_eq!(one, Some(1));
}

#[tokio::test]
async fn pooled_connection_carries_no_state_into_the_next_session() {
    let proxy = Proxy::start();
    let mut a = connect(&proxy.url("test")).await;
    let id_a: u64 = a.query_first("SELECT CONNECTION_ID()").await.expect("q").expect("row");
    a.query_drop("SET @leak = 'a'").await.expect("set");
    a.query_drop("SET SESSION sql_mode = 'ANSI'").await.expect("sql_mode");
    a.query_drop("CREATE TEMPORARY TABLE leak_tmp (i INT)").await.expect("temp");
    a.query_drop("BEGIN").await.expect("begin");
    a.disconnect().await.expect("quit");

    // The connection goes back to the pool once the server has reset it, in the
    // background: poll until a new session lands on it.
    // Sessions that got another connection stay open, so theirs cannot come back
    // to the pool ahead of the one under test.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut others = Vec::new();
    let mut b = loop {
        let mut b = connect(&proxy.url("")).await;
        let id_b: u64 = b.query_first("SELECT CONNECTION_ID()").await.expect("q").expect("row");
        if id_b == id_a {
            break b;
        }
        assert!(Instant::now() < deadline, "backend connection {id_a} was never reused");
        others.push(b);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (leak, mode, db, trx): (Option<String>, String, Option<String>, i64) =
        b.query_first("SELECT @leak, @@sql_mode, DATABASE(), @@in_transaction").await.expect("q").expect("row");
    assert_eq!(leak, None);
    assert_ne!(mode, "ANSI,REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE");
    assert_eq!(db, None, "a client without a database gets none, not the last session's");
    assert_eq!(trx, 0);
    assert_eq!(server_error(b.query_drop("SELECT * FROM test.leak_tmp").await.expect_err("gone")).0, 1146);
}

#[tokio::test]
async fn client_vanishing_mid_result_does_not_poison_the_pool() {
    let proxy = Proxy::start();
    let (mut raw, _) = common::raw::RawClient::connect(&proxy.addr(), "app", "app", Some("test"), common::raw::MODERN);
    raw.write_packet(
        0,
        b"\x03SELECT REPEAT('z', 1000) FROM information_schema.columns a, information_schema.columns b LIMIT 200000",
    );
    drop(raw);
    // The next sessions work and see clean replies.
    for _ in 0..5 {
        let mut c = connect(&proxy.url("test")).await;
        let n: Option<i64> = c.query_first("SELECT 17").await.expect("q");
        assert_eq!(n, Some(17));
    }
}

#[tokio::test]
async fn unreachable_backend_is_a_clear_error_within_connect_timeout() {
    let closed = common::free_port();
    let proxy = Proxy::builder()
        .replace("address = \"127.0.0.1:13306\"", &format!("address = \"127.0.0.1:{closed}\""))
        .replace("connect_timeout = \"3s\"", "connect_timeout = \"1s\"")
        // A login with no server to serve it waits for a master this long.
        .replace("[monitor]\n", "[monitor]\nfailover_hold = \"1s\"\n")
        .spawn();
    let start = Instant::now();
    let e = Conn::new(Opts::from_url(&proxy.url("test")).expect("url")).await.expect_err("no master");
    let (code, state, msg) = server_error(e);
    assert_eq!(code, 1429);
    assert_eq!(state, "08S01");
    assert!(msg.contains("master") && msg.contains(&closed.to_string()), "{msg}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn silent_backend_times_out_and_others_are_unaffected() {
    // A server that accepts and never greets.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = blackhole.local_addr().expect("addr").port();
    let proxy = Proxy::builder()
        .replace("address = \"127.0.0.1:13306\"", &format!("address = \"127.0.0.1:{port}\""))
        .replace("connect_timeout = \"3s\"", "connect_timeout = \"1s\"")
        // A login with no server to serve it waits for a master this long.
        .replace("[monitor]\n", "[monitor]\nfailover_hold = \"1s\"\n")
        .spawn();
    let start = Instant::now();
    let attempts: Vec<_> = (0..3).map(|_| Conn::new(Opts::from_url(&proxy.url("test")).expect("url"))).collect();
    for r in futures_join(attempts).await {
        let (code, _, msg) = server_error(r.expect_err("silent master"));
        assert_eq!(code, 1429);
        assert!(msg.contains("did not answer"), "{msg}");
    }
    assert!(start.elapsed() < Duration::from_secs(4), "all three fail within the timeout, in parallel");
    drop(blackhole);
}

async fn futures_join<F>(fs: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("join"));
    }
    out
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_denied() {
    let proxy = Proxy::start();
    for url in [
        format!("mysql://app:nope@127.0.0.1:{}/test?prefer_socket=false", proxy.port),
        format!("mysql://ghost:app@127.0.0.1:{}/test?prefer_socket=false", proxy.port),
    ] {
        let e = Conn::new(Opts::from_url(&url).expect("url")).await.expect_err("denied");
        let (code, state, msg) = server_error(e);
        assert_eq!((code, state.as_str()), (1045, "28000"));
        assert!(
            msg.starts_with("Access denied for user '") && msg.ends_with("'@'127.0.0.1' (using password: YES)"),
            "{msg}"
        );
    }
    let e = Conn::new(Opts::from_url(&proxy.url("no_such_db")).expect("url")).await.expect_err("unknown db");
    assert_eq!(server_error(e).0, 1049);
}

#[tokio::test]
async fn many_concurrent_clients() {
    let proxy = Proxy::start();
    let url = proxy.url("test");
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let url = url.clone();
            async move {
                let mut c = connect(&url).await;
                for j in 0..50 {
                    let v: Option<i64> = c.query_first(format!("SELECT {i} * 1000 + {j}")).await.expect("q");
                    assert_eq!(v, Some(i * 1000 + j));
                }
                c.disconnect().await.expect("quit");
            }
        })
        .collect();
    futures_join(tasks).await;
}

#[tokio::test]
async fn killed_backend_connection_gives_the_client_an_error_and_the_proxy_goes_on() {
    let proxy = Proxy::start();
    let mut victim = connect(&proxy.url("test")).await;
    // In a transaction the session's state lives on one backend connection.
    victim.query_drop("BEGIN").await.expect("begin");
    let id: u64 = victim.query_first("SELECT CONNECTION_ID()").await.expect("q").expect("row");
    let mut admin = connect(&common::direct_url("test")).await;
    admin.query_drop(format!("KILL {id}")).await.expect("kill");
    // As with the server itself, the client sees its connection drop (which its
    // library reports as "lost connection"), not an error packet.
    let e = victim.query_drop("SELECT 1").await.expect_err("backend is gone");
    assert!(matches!(e, mysql_async::Error::Io(_)), "{e:?}");
    assert!(proxy.log().contains("backend master"), "{}", proxy.log());
    let mut other = connect(&proxy.url("test")).await;
    let v: Option<i64> = other.query_first("SELECT 5").await.expect("q");
    assert_eq!(v, Some(5));
}

#[tokio::test]
async fn killed_idle_pooled_connection_is_replaced_without_the_client_noticing() {
    let proxy = Proxy::start();
    let mut c = connect(&proxy.url("test")).await;
    c.query_drop("BEGIN").await.expect("begin");
    let id: u64 = c.query_first("SELECT CONNECTION_ID()").await.expect("q").expect("row");
    c.query_drop("COMMIT").await.expect("commit");
    // Reading CONNECTION_ID() pins the session (the id must stay its own); a
    // reset releases it, and the connection goes back to the pool, where it is
    // killed while the session holds nothing.
    assert!(c.reset().await.expect("reset"));
    c.query_drop("SET SESSION sql_mode = 'ANSI'").await.expect("set");
    let mut admin = connect(&common::direct_url("test")).await;
    admin.query_drop(format!("KILL {id}")).await.expect("kill");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mode: Option<String> = c.query_first("SELECT @@sql_mode").await.expect("works on a new connection");
    assert_eq!(mode.as_deref(), Some("REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI"));
    let n: Option<i64> = c.query_first("SELECT 1 FROM DUAL WHERE 1 FOR UPDATE").await.expect("master too");
    assert_eq!(n, Some(1));
}

#[tokio::test]
async fn sigterm_drains_idle_sessions_and_exits_zero() {
    let mut proxy = Proxy::start();
    let mut c = connect(&proxy.url("test")).await;
    c.query_drop("SELECT 1").await.expect("q");
    let status = proxy.terminate(Duration::from_secs(10)).expect("exits within 10s");
    assert!(status.success(), "{status}");
    assert!(c.query_drop("SELECT 1").await.is_err(), "idle session was closed");
    assert!(proxy.log().contains("all sessions drained"), "{}", proxy.log());
}

#[tokio::test]
async fn silent_client_is_dropped_after_handshake_timeout() {
    use tokio::io::AsyncReadExt;
    let proxy = Proxy::builder().replace("handshake_timeout = \"10s\"", "handshake_timeout = \"1s\"").spawn();
    let mut s = tokio::net::TcpStream::connect(proxy.addr()).await.expect("connect");
    let start = Instant::now();
    let mut buf = vec![0u8; 1024];
    // The greeting arrives, then nothing until the proxy closes.
    let mut total = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => total += n,
            Err(_) => panic!("still open after 5s"),
        }
    }
    assert!(total > 0, "greeting was sent");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn idle_backend_connections_are_closed_after_idle_timeout() {
    let proxy = Proxy::builder().replace("idle_timeout = \"5m\"", "idle_timeout = \"1s\"").spawn();
    let mut c = connect(&proxy.url("test")).await;
    // In a transaction, so that the thread id is the master connection's.
    c.query_drop("BEGIN").await.expect("begin");
    let id: u64 = c.query_first("SELECT CONNECTION_ID()").await.expect("q").expect("row");
    c.query_drop("COMMIT").await.expect("commit");
    c.disconnect().await.expect("quit");
    let mut direct = connect(&common::direct_url("test")).await;
    let alive = format!("SELECT COUNT(*) FROM information_schema.processlist WHERE id = {id}");
    let n: Option<i64> = direct.query_first(&alive).await.expect("q");
    assert_eq!(n, Some(1), "pooled while idle_timeout has not passed");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: Option<i64> = direct.query_first(&alive).await.expect("q");
        if n == Some(0) {
            break;
        }
        assert!(Instant::now() < deadline, "idle connection {id} still open after 10s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn full_pool_makes_new_clients_wait_then_fail_clearly() {
    let proxy = Proxy::builder()
        .replace("pool_max = 256", "pool_max = 2")
        .replace("connect_timeout = \"3s\"", "connect_timeout = \"1s\"")
        .spawn();
    // Sessions in a transaction keep their master connection; two fill the pool.
    let mut a = connect(&proxy.url("test")).await;
    a.query_drop("BEGIN").await.expect("begin");
    let mut b = connect(&proxy.url("test")).await;
    b.query_drop("BEGIN").await.expect("begin");
    let start = Instant::now();
    let e = Conn::new(Opts::from_url(&proxy.url("test")).expect("url")).await.expect_err("pool is full");
    let (code, state, msg) = server_error(e);
    assert_eq!((code, state.as_str()), (1040, "08004"));
    assert!(msg.contains("master") && msg.contains("pool_max (2)"), "{msg}");
    assert!(start.elapsed() >= Duration::from_millis(900), "waited for a slot first");
    // A slot frees up when a client leaves, and the next client gets it.
    drop(a);
    let waiter = tokio::spawn({
        let url = proxy.url("test");
        async move { connect(&url).await }
    });
    let mut c = waiter.await.expect("join");
    let one: Option<i64> = c.query_first("SELECT 1").await.expect("q");
    assert_eq!(one, Some(1));
    drop(b);
}

#[tokio::test]
async fn a_waiting_statement_gets_the_connection_given_back() {
    // One master connection: a write waits while another session's
    // transaction holds it, and runs as soon as that one commits (the pool
    // wakes it), well within connect_timeout.
    let proxy = Proxy::builder().replace("pool_max = 256", "pool_max = 1").spawn();
    let mut a = connect(&proxy.url("test")).await;
    let mut b = connect(&proxy.url("test")).await;
    a.query_drop("CREATE TABLE IF NOT EXISTS pool_wake (i INT)").await.expect("create");
    a.query_drop("BEGIN").await.expect("begin");
    a.query_drop("INSERT INTO pool_wake VALUES (1)").await.expect("insert");
    let start = Instant::now();
    let waiter =
        tokio::spawn(async move { b.query_drop("INSERT INTO pool_wake VALUES (2)").await.map(|_| Instant::now()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the second write did not wait for the connection");
    a.query_drop("COMMIT").await.expect("commit");
    let committed = Instant::now();
    let ran = waiter.await.expect("join").expect("the waiting write ran");
    assert!(ran.duration_since(committed) < Duration::from_secs(1), "woken late: {:?}", ran - committed);
    assert!(ran.duration_since(start) < Duration::from_secs(3), "not within connect_timeout");
    a.query_drop("DROP TABLE pool_wake").await.expect("drop");
}

#[tokio::test]
async fn connection_limits_refuse_with_the_servers_errors() {
    let proxy = Proxy::builder()
        .replace("handshake_timeout = \"10s\"", "handshake_timeout = \"10s\"\nmax_connections = 3")
        .append("[[users]]\nname = \"limited\"\npassword = \"limited\"\nbackend_user = \"app\"\nbackend_password = \"app\"\nmax_connections = 1\n")
        .spawn();
    let limited = format!("mysql://limited:limited@127.0.0.1:{}/test?prefer_socket=false", proxy.port);
    let first = connect(&limited).await;
    let e = Conn::new(Opts::from_url(&limited).expect("url")).await.expect_err("one per user");
    let (code, state, msg) = server_error(e);
    assert_eq!((code, state.as_str()), (1203, "42000"), "{msg}");
    assert!(msg.contains("User limited already has more than 'max_user_connections'"), "{msg}");
    let a = connect(&proxy.url("test")).await;
    let b = connect(&proxy.url("test")).await;
    let e = Conn::new(Opts::from_url(&proxy.url("test")).expect("url")).await.expect_err("proxy full");
    let (code, state, msg) = server_error(e);
    // What the server itself sends: no SQLSTATE before the handshake.
    assert_eq!((code, state.as_str(), msg.as_str()), (1040, "HY000", "Too many connections"));
    drop((first, a, b));
    // Slots free up as clients leave.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match Conn::new(Opts::from_url(&proxy.url("test")).expect("url")).await {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "still refused: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn idle_clients_are_disconnected_after_client_idle_timeout() {
    let proxy = Proxy::builder()
        .replace("handshake_timeout = \"10s\"", "handshake_timeout = \"10s\"\nclient_idle_timeout = \"1s\"")
        .spawn();
    let mut busy = connect(&proxy.url("test")).await;
    let mut idle = connect(&proxy.url("test")).await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        busy.query_drop("SELECT 1").await.expect("an active client stays");
    }
    assert!(idle.query_drop("SELECT 1").await.is_err(), "the idle client was disconnected");
    assert!(proxy.log().contains("idle longer than proxy.client_idle_timeout"), "{}", proxy.log());
}
