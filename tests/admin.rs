//! The admin port through the real mysql command-line client (and mysql_async):
//! what it shows follows what clients do through the proxy.

mod common;

use common::{admin, admin_as, connect, num, row, Proxy, Rows};
use mysql_async::prelude::*;

#[test]
fn wrong_password_and_unknown_commands_get_mysql_errors() {
    let proxy = Proxy::start();
    let err = admin_as(&proxy, "admin", "nope", "SHOW SERVERS").unwrap_err();
    assert!(err.contains("ERROR 1045") && err.contains("Access denied for user 'admin'"), "{err}");
    let err = admin_as(&proxy, "app", "app", "SHOW SERVERS").unwrap_err();
    assert!(err.contains("ERROR 1045"), "data-path users are not admins: {err}");
    let err = admin(&proxy, "DROP TABLE t").unwrap_err();
    assert!(err.contains("ERROR 1064") && err.contains("unknown admin command 'DROP TABLE t'"), "{err}");
    let err = admin(&proxy, "SHOW DIGESTS LIMIT many").unwrap_err();
    assert!(err.contains("LIMIT wants a number"), "{err}");
    // The proxy goes on serving admin and clients alike.
    assert_eq!(admin(&proxy, "SHOW SERVERS").expect("show servers").len(), 3);
    let commands = admin(&proxy, "show commands;").expect("show commands");
    assert!(commands.iter().any(|r| r["command"] == "SHOW DIGESTS [LIMIT n]"));
}

#[tokio::test(flavor = "multi_thread")]
async fn servers_and_pools_count_where_statements_ran() {
    let proxy = Proxy::start();
    // mysql_async reads a few variables as it connects: count from after that.
    let mut c = connect(&proxy.url("test")).await;
    let before = admin(&proxy, "SHOW SERVERS").expect("show servers");
    let names: Vec<&str> = before.iter().map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["master", "replica1", "replica2"]);
    assert_eq!(row(&before, "name", "replica1")["address"], "127.0.0.1:13307");
    assert_eq!(row(&before, "name", "master")["role"], "master");
    assert_eq!(row(&before, "name", "replica2")["state"], "UP");

    for _ in 0..10 {
        let _: Option<u16> = c.query_first("SELECT @@port").await.expect("read");
    }
    c.query_drop("/* rwsplit:master */ SELECT 1").await.expect("hinted to the master");
    drop(c);
    let after = admin(&proxy, "SHOW SERVERS").expect("show servers");
    let reads =
        |rows: &Rows| num(row(rows, "name", "replica1"), "queries") + num(row(rows, "name", "replica2"), "queries");
    assert_eq!(reads(&after) - reads(&before), 10, "{after:#?}");
    assert!(num(row(&after, "name", "master"), "queries") > num(row(&before, "name", "master"), "queries"));

    let pools = admin(&proxy, "SHOW POOLS").expect("show pools");
    assert!(num(row(&pools, "server", "replica1"), "connects") >= 1, "{pools:#?}");
    assert_eq!(num(row(&pools, "server", "replica1"), "connect_errors"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn pins_and_clients_show_why_a_session_holds_its_connection() {
    let proxy = Proxy::start();
    let taken = |rows: &Rows, reason: &str| num(row(rows, "reason", reason), "taken");
    let before = admin(&proxy, "SHOW PINS").expect("show pins");
    assert_eq!(before.len(), rwsplit::session::Pin::ALL.len());

    let mut c = connect(&proxy.url("test")).await;
    c.query_drop("CREATE TEMPORARY TABLE admin_pin_t (i INT)").await.expect("temp table");
    c.query_drop("SET @admin_pin_v = 1").await.expect("user variable");
    let _: Option<u64> = c.query_first("SELECT @admin_pin_v").await.expect("read variable");
    let id: u32 = c.id();

    let pins = admin(&proxy, "SHOW PINS").expect("show pins");
    assert_eq!(taken(&pins, "temporary_table"), taken(&before, "temporary_table") + 1, "{pins:#?}");
    assert_eq!(num(row(&pins, "reason", "temporary_table"), "sessions_now"), 1);
    let clients = admin(&proxy, "SHOW CLIENTS").expect("show clients");
    let me = row(&clients, "id", &id.to_string());
    assert_eq!(me["user"], "app");
    assert_eq!(me["server"], "master");
    assert!(me["pins"].split(',').any(|p| p == "temporary_table"), "{me:?}");
    assert!(num(me, "commands") >= 3);

    // COM_RESET_CONNECTION unpins; the stats follow.
    c.reset().await.expect("reset");
    let _: Option<u16> = c.query_first("SELECT @@port").await.expect("read");
    let clients = admin(&proxy, "SHOW CLIENTS").expect("show clients");
    let me = row(&clients, "id", &id.to_string());
    assert_eq!(me["pins"], "", "{me:?}");
    // Unpinned: nothing on the master; a read on the session's replica may
    // leave that connection leased (backend.lease) until it falls silent.
    assert!(me["server"] == "NULL" || me["server"].starts_with("replica"), "{me:?}");
    let pins = admin(&proxy, "SHOW PINS").expect("show pins");
    assert_eq!(num(row(&pins, "reason", "temporary_table"), "sessions_now"), 0);
    drop(c);
}

#[tokio::test(flavor = "multi_thread")]
async fn digests_and_unparsed_statements_are_visible() {
    let proxy = Proxy::start();
    let mut c = connect(&proxy.url("test")).await;
    for i in 0..5 {
        let _: Option<u64> = c.query_first(format!("SELECT {i} + 1000 AS admin_digest_probe")).await.expect("read");
    }
    // Valid MariaDB the parser does not handle: it goes to the master, and shows.
    c.query_drop("CREATE TABLE IF NOT EXISTS admin_lock_t (id INT PRIMARY KEY)").await.expect("create");
    for id in [1, 2] {
        let _: Option<u64> = c
            .query_first(format!("SELECT id FROM admin_lock_t WHERE id = {id} LOCK IN SHARE MODE"))
            .await
            .expect("lock");
    }
    drop(c);

    let digests = admin(&proxy, "SHOW DIGESTS").expect("show digests");
    let probe = row(&digests, "digest", "SELECT ? + ? AS admin_digest_probe");
    assert_eq!(num(probe, "count"), 5, "{probe:?}");
    assert_eq!(num(probe, "rows"), 5);
    assert_eq!(num(probe, "on_replica"), 5);
    assert_eq!(num(probe, "on_master"), 0);
    let lock = row(&digests, "digest", "SELECT id FROM admin_lock_t WHERE id = ? LOCK IN SHARE MODE");
    assert_eq!((num(lock, "count"), num(lock, "on_master")), (2, 2));
    assert_eq!(admin(&proxy, "SHOW DIGESTS LIMIT 2").expect("limit").len(), 2);

    let unparsed = admin(&proxy, "SHOW UNPARSED").expect("show unparsed");
    let lock = row(&unparsed, "digest", "SELECT id FROM admin_lock_t WHERE id = ? LOCK IN SHARE MODE");
    assert_eq!(num(lock, "count"), 2);

    admin(&proxy, "RESET DIGESTS").expect("reset");
    assert!(admin(&proxy, "SHOW DIGESTS").expect("show digests").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn config_and_status_are_shown_without_secrets() {
    let proxy = Proxy::start();
    let config = admin(&proxy, "SHOW CONFIG").expect("show config");
    assert_eq!(row(&config, "key", "servers[1].address")["value"], "\"127.0.0.1:13307\"");
    assert_eq!(row(&config, "key", "backend.password")["value"], "'***'");
    assert!(!config.iter().any(|r| r["key"].ends_with("password") && r["value"].contains("app")));
    let status = admin(&proxy, "SHOW STATUS").expect("show status");
    assert_eq!(num(row(&status, "variable", "servers"), "value"), 3);

    // A library client: mysql_async reads variables at connect.
    let mut a = connect(&proxy.admin_url()).await;
    let servers: Vec<mysql_async::Row> = a.query("SHOW SERVERS").await.expect("show servers via mysql_async");
    assert_eq!(servers.len(), 3);
    a.ping().await.expect("ping");
    a.disconnect().await.expect("quit");
}
