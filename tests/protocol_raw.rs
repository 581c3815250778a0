//! Byte-level comparison: the same commands sent directly to the master and
//! through rwsplit, with and without CLIENT_DEPRECATE_EOF, must get the same
//! packets back (statement ids and per-connection counters aside).

mod common;

use common::raw::{RawClient, CLIENT_DEPRECATE_EOF, MODERN};
use common::Proxy;
use rwsplit::protocol::command::*;

type Reply = Vec<(u8, Vec<u8>)>;

/// Runs `script` on a fresh connection to `addr` and returns every reply.
fn transcript(addr: &str, caps: u32, script: &dyn Fn(&mut RawClient) -> Vec<Reply>) -> Vec<Reply> {
    let (mut c, ok) = RawClient::connect(addr, "app", "app", Some("test"), caps);
    assert_eq!(ok.first(), Some(&0x00), "login failed: {}", String::from_utf8_lossy(&ok));
    script(&mut c)
}

fn compare(proxy: &Proxy, script: &dyn Fn(&mut RawClient) -> Vec<Reply>) {
    const SESSION_TRACK: u32 = 0x0080_0000;
    for caps in [
        MODERN,
        MODERN & !CLIENT_DEPRECATE_EOF,
        MODERN & !SESSION_TRACK,
        MODERN & !CLIENT_DEPRECATE_EOF & !SESSION_TRACK,
    ] {
        let direct = transcript("127.0.0.1:13306", caps, script);
        let through = transcript(&proxy.addr(), caps, script);
        assert_eq!(direct.len(), through.len());
        for (i, (d, p)) in direct.iter().zip(&through).enumerate() {
            assert_eq!(d, p, "reply {i} differs (caps {caps:#x})\ndirect: {d:?}\nproxy:  {p:?}");
        }
    }
}

fn query(c: &mut RawClient, sql: &str) -> Reply {
    let mut p = vec![COM_QUERY];
    p.extend_from_slice(sql.as_bytes());
    c.command(&p, ResponseKind::Results { cursor: false })
}

/// Shared fixtures, created once per test binary (tests run in parallel).
fn setup() -> Proxy {
    static FIXTURES: std::sync::Once = std::sync::Once::new();
    let proxy = Proxy::start();
    FIXTURES.call_once(create_fixtures);
    proxy
}

fn create_fixtures() {
    let (mut c, _) = RawClient::connect("127.0.0.1:13306", "app", "app", Some("test"), MODERN);
    query(&mut c, "CREATE TABLE IF NOT EXISTS raw_t (id INT PRIMARY KEY, v VARCHAR(20), d DATETIME(3))");
    query(&mut c, "REPLACE INTO raw_t VALUES (1,'one','2024-01-01 10:00:00.123'),(2,NULL,NULL),(3,'three','2025-12-31 23:59:59.999'),(4,'four',NULL),(5,'five','2001-02-03 04:05:06')");
    query(&mut c, "DROP PROCEDURE IF EXISTS raw_two_results");
    query(&mut c, "CREATE PROCEDURE raw_two_results() BEGIN SELECT 1 AS a; SELECT 'x' AS b, 2 AS c; END");
}

#[test]
fn text_queries_and_errors_match() {
    let proxy = setup();
    compare(&proxy, &|c| {
        vec![
            query(c, "SELECT 1, 'a', NULL, 2.5, CAST('2020-01-01' AS DATE)"),
            query(c, "SELECT id, v FROM raw_t WHERE id <= 4 ORDER BY id"),
            query(c, "SELECT * FROM no_such_table"),
            query(c, "SELEC 1"),
            query(c, "SELECT 1; SELECT 2, 3; DO 1"),
            query(c, "CALL raw_two_results()"),
            query(c, "SET @x = 5"),
            query(c, "SELECT @x"),
            query(c, "SHOW WARNINGS"),
            query(c, "SET sql_mode = 'ANSI'"),
            query(c, "SET sql_mode = DEFAULT"),
            query(c, "SET time_zone = '+01:00'"),
            query(c, "USE mysql"),
            query(c, "USE test"),
            query(c, "SET autocommit = 0"),
            query(c, "SET autocommit = 1"),
            query(c, "CREATE TEMPORARY TABLE raw_tmp (i INT)"),
            query(c, "DROP TEMPORARY TABLE raw_tmp"),
            query(c, "UPDATE raw_t SET v = v WHERE id = 1"),
        ]
    });
}

#[test]
fn simple_commands_match() {
    let proxy = setup();
    compare(&proxy, &|c| {
        vec![
            c.command(&[COM_PING], ResponseKind::Single),
            c.command(b"\x02test", ResponseKind::Single),
            c.command(b"\x02no_such_db", ResponseKind::Single),
            c.command(b"\x04raw_t\x00", ResponseKind::FieldList),
            c.command(b"\x04no_such_table\x00", ResponseKind::FieldList),
            c.command(&[COM_SET_OPTION, 1, 0], ResponseKind::Single),
            c.command(&[COM_SET_OPTION, 0, 0], ResponseKind::Single),
            // A command byte the server does not know: its own error, not a fake OK.
            c.command(&[0x99], ResponseKind::Single),
            c.command(&[COM_SLEEP], ResponseKind::Single),
            c.command(&[COM_RESET_CONNECTION], ResponseKind::Single),
            query(c, "SELECT DATABASE()"),
        ]
    });
}

#[test]
fn statistics_is_relayed() {
    let proxy = setup();
    let (mut c, _) = RawClient::connect(&proxy.addr(), "app", "app", None, MODERN);
    let r = c.command(&[COM_STATISTICS], ResponseKind::Single);
    assert_eq!(r.len(), 1);
    assert!(String::from_utf8_lossy(&r[0].1).starts_with("Uptime:"), "{r:?}");
}

fn prepare(c: &mut RawClient, sql: &str) -> (u32, Reply) {
    let mut p = vec![COM_STMT_PREPARE];
    p.extend_from_slice(sql.as_bytes());
    let mut r = c.command(&p, ResponseKind::Prepare);
    let id = u32::from_le_bytes([r[0].1[1], r[0].1[2], r[0].1[3], r[0].1[4]]);
    // Statement ids are per connection; the transcript keeps the rest.
    r[0].1[1..5].copy_from_slice(&[0; 4]);
    (id, r)
}

/// "Unknown prepared statement handler (N)": N is the connection's own statement
/// id, which a pooled backend connection does not restart at 1.
fn mask_statement_id_in_error(r: &mut Reply) {
    let p = &mut r[0].1;
    let text = String::from_utf8_lossy(p).into_owned();
    if let (Some(open), Some(close)) = (text.find("handler ("), text.find(") given")) {
        *p = format!("{}handler (N{}", &text[..open], &text[close..]).into_bytes();
    }
}

fn execute(id: u32, flags: u8, params: &[u8]) -> Vec<u8> {
    let mut p = vec![COM_STMT_EXECUTE];
    p.extend_from_slice(&id.to_le_bytes());
    p.push(flags);
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(params);
    p
}

#[test]
fn prepared_statements_and_cursors_match() {
    let proxy = setup();
    compare(&proxy, &|c| {
        let mut out = Vec::new();
        // Each run inserts row 9 below; start every run without it. (Its own reply
        // is left out: how many rows it deleted depends on the previous run.)
        query(c, "DELETE FROM raw_t WHERE id = 9");
        let (id, r) = prepare(c, "SELECT id, v, d FROM raw_t WHERE id >= ? ORDER BY id");
        out.push(r);
        // One INT parameter = 2: null bitmap 0, new-params-bound 1, type LONG, value.
        let params = [0u8, 1, 3, 0, 2, 0, 0, 0];
        out.push(c.command(&execute(id, 0, &params), ResponseKind::Results { cursor: false }));
        out.push(c.command(&execute(id, CURSOR_TYPE_READ_ONLY, &params), ResponseKind::Results { cursor: true }));
        for _ in 0..3 {
            let mut fetch = vec![COM_STMT_FETCH];
            fetch.extend_from_slice(&id.to_le_bytes());
            fetch.extend_from_slice(&2u32.to_le_bytes());
            out.push(c.command(&fetch, ResponseKind::Fetch));
        }
        let mut reset = vec![COM_STMT_RESET];
        reset.extend_from_slice(&id.to_le_bytes());
        out.push(c.command(&reset, ResponseKind::Single));
        let mut long_data = vec![COM_STMT_SEND_LONG_DATA];
        long_data.extend_from_slice(&id.to_le_bytes());
        long_data.extend_from_slice(&0u16.to_le_bytes());
        long_data.extend_from_slice(b"\x03\x00\x00\x00");
        out.push(c.command(&long_data, ResponseKind::None));
        let mut close = vec![COM_STMT_CLOSE];
        close.extend_from_slice(&id.to_le_bytes());
        out.push(c.command(&close, ResponseKind::None));
        let mut r = c.command(&execute(id, 0, &params), ResponseKind::Results { cursor: false });
        mask_statement_id_in_error(&mut r);
        out.push(r);
        let (_, r) = prepare(c, "SELECT nonsense FROM");
        out.push(r);
        let (id2, r) = prepare(c, "INSERT INTO raw_t VALUES (?, 'p', NULL) ON DUPLICATE KEY UPDATE v = 'p'");
        out.push(r);
        out.push(c.command(&execute(id2, 0, &[0u8, 1, 3, 0, 9, 0, 0, 0]), ResponseKind::Results { cursor: false }));
        out
    });
}

#[test]
fn packets_over_16mib_both_ways() {
    let proxy = setup();
    let (mut c, _) = RawClient::connect(&proxy.addr(), "app", "app", Some("test"), MODERN);
    let big = "x".repeat(20 * 1024 * 1024);
    let r = query(&mut c, &format!("SELECT LENGTH('{big}'), MD5('{big}') = MD5(REPEAT('x', {}))", big.len()));
    // Column count, 2 definitions, one row, terminator.
    let row = &r[3].1;
    assert!(String::from_utf8_lossy(row).contains(&big.len().to_string()), "{:?}", String::from_utf8_lossy(row));
    assert!(row.ends_with(b"\x011"), "MD5 comparison is true");
    let r = query(&mut c, &format!("SELECT REPEAT('y', {})", 17 * 1024 * 1024));
    // A length of 16 MiB or more takes the 9-byte lenenc form (0xFE + u64): the
    // row starts with 0xFE yet is no terminator, being longer than 0xFFFFFF.
    assert_eq!(r[2].1.len(), 9 + 17 * 1024 * 1024, "row: lenenc prefix + 17 MiB");
    assert_eq!(r[2].1[0], 0xFE);
    assert!(r[2].1[9..].iter().all(|b| *b == b'y'));
    // The connection is still in step afterwards.
    let r = query(&mut c, "SELECT 42");
    assert_eq!(r[2].1, b"\x0242");
}

#[test]
fn packet_over_max_allowed_packet_is_refused_and_others_keep_working() {
    let proxy = Proxy::builder().replace("max_allowed_packet = 67108864", "max_allowed_packet = 1048576").spawn();
    let (mut c, _) = RawClient::connect(&proxy.addr(), "app", "app", Some("test"), MODERN);
    // Only the header of a 2 MiB packet: the proxy must refuse it without waiting
    // for (or buffering) the body.
    c.raw_write(&[0x00, 0x00, 0x20, 0x00, COM_QUERY]);
    let (_, err) = c.read_packet();
    assert_eq!(&err[..3], &[0xFF, 0x81, 0x04], "ER_NET_PACKET_TOO_LARGE (1153): {:?}", String::from_utf8_lossy(&err));
    assert!(c.is_closed());
    let (mut other, _) = RawClient::connect(&proxy.addr(), "app", "app", Some("test"), MODERN);
    assert_eq!(query(&mut other, "SELECT 7")[2].1, b"\x017");
}

#[test]
fn binlog_dump_is_refused_cleanly() {
    let proxy = setup();
    let (mut c, _) = RawClient::connect(&proxy.addr(), "app", "app", None, MODERN);
    let r = c.command(&[COM_BINLOG_DUMP, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0], ResponseKind::Single);
    assert_eq!(r[0].1[0], 0xFF);
    assert_eq!(query(&mut c, "SELECT 1")[2].1, b"\x011");
}

#[test]
fn caching_sha2_client_is_switched_to_native_password() {
    let proxy = setup();
    let (mut c, ok, switched) =
        RawClient::connect_with_plugin(&proxy.addr(), "app", "app", Some("test"), MODERN, "caching_sha2_password");
    assert!(switched, "the proxy asked for mysql_native_password");
    assert_eq!(ok[0], 0x00, "{:?}", String::from_utf8_lossy(&ok));
    assert_eq!(query(&mut c, "SELECT 3")[2].1, b"\x013");
    let (_, denied, _) =
        RawClient::connect_with_plugin(&proxy.addr(), "app", "bad", Some("test"), MODERN, "caching_sha2_password");
    assert_eq!(&denied[..3], &[0xFF, 0x15, 0x04], "ERR 1045");
}

#[test]
fn clients_with_different_capabilities_share_nothing_they_should_not() {
    // Alternate logins with and without DEPRECATE_EOF and MULTI_STATEMENTS on one
    // proxy: each must get replies framed for its own capabilities, whatever
    // pooled connection it lands on.
    let proxy = setup();
    for round in 0..6 {
        let caps = match round % 3 {
            0 => MODERN,
            1 => MODERN & !CLIENT_DEPRECATE_EOF,
            _ => MODERN & !CLIENT_DEPRECATE_EOF & !0x0001_0000,
        };
        let (mut c, _) = RawClient::connect(&proxy.addr(), "app", "app", Some("test"), caps);
        let r = query(&mut c, "SELECT 1");
        let expected_packets = if caps & CLIENT_DEPRECATE_EOF != 0 { 4 } else { 5 };
        assert_eq!(r.len(), expected_packets, "round {round}: {r:?}");
        let multi = query(&mut c, "SELECT 1; SELECT 2");
        if caps & 0x0001_0000 == 0 {
            assert_eq!(multi[0].1[0], 0xFF, "multi-statements refused without the capability");
        } else {
            assert!(multi.len() > expected_packets);
        }
    }
}

#[test]
fn rewritten_ok_packets_inside_multi_results_keep_the_reply_in_step() {
    // Each SET reports a state change the client did not ask to see, so each OK
    // in the middle of the multi-statement reply is rewritten.
    let proxy = setup();
    compare(&proxy, &|c| {
        vec![
            query(c, "SET @a = 1; SET sql_mode = 'ANSI'; SELECT 1; SET time_zone = '+02:00'; SELECT @@time_zone"),
            query(c, "SELECT @a, @@sql_mode"),
        ]
    });
}

/// An execution that leaves its parameter types out (new-params-bound 0, as
/// Connector/C does after the first) is forwarded as is to a backend
/// statement that has them, and gets them put back where the statement has
/// none or another session's. Master only and one backend connection: both
/// sessions run on the same server statement.
#[test]
fn parameter_types_left_out_reach_the_server_statement_that_lacks_them() {
    let mut builder = Proxy::builder().replace("pool_max = 256", "pool_max = 1");
    for replica in ["replica1\"\naddress = \"127.0.0.1:13307", "replica2\"\naddress = \"127.0.0.1:13308"] {
        builder = builder.replace(&format!("[[servers]]\nname = \"{replica}\"\nrole = \"replica\"\n"), "");
    }
    assert!(!builder.config_text().contains("role = \"replica\""), "replicas left in the config");
    let proxy = builder.spawn();
    let sql = "SELECT CONCAT('<', ?, '>')";
    let value = |r: &Reply| -> Vec<u8> {
        // Binary row: header 0x00, null bitmap, length, text.
        let row = &r.get(2).expect("a row").1;
        assert_eq!(row[0], 0x00, "binary row: {r:?}");
        row[3..].to_vec()
    };
    let long = |n: u8, bound: bool| -> Vec<u8> {
        if bound {
            vec![0, 1, 3, 0, n, 0, 0, 0]
        } else {
            vec![0, 0, n, 0, 0, 0]
        }
    };
    let results = ResponseKind::Results { cursor: false };
    let (mut a, _) = RawClient::connect(&proxy.addr(), "app", "app", Some("test"), MODERN);
    let (mut b, _) = RawClient::connect(&proxy.addr(), "app", "app", Some("test"), MODERN);
    let (ida, _) = prepare(&mut a, sql);
    assert_eq!(value(&a.command(&execute(ida, 0, &long(7, true)), results)), b"<7>");
    // The server statement has A's types: left out, as A left them out.
    assert_eq!(value(&a.command(&execute(ida, 0, &long(8, false)), results)), b"<8>");
    // B binds a string on the same server statement (SQL text shared)...
    let (idb, _) = prepare(&mut b, sql);
    let mut string = vec![0u8, 1, 253, 0, 2];
    string.extend_from_slice(b"hi");
    assert_eq!(value(&b.command(&execute(idb, 0, &string), results)), b"<hi>");
    // ... so A's next execution without types must bring its own back: read
    // with B's (a string), A's four value bytes would be taken for a length.
    assert_eq!(value(&a.command(&execute(ida, 0, &long(9, false)), results)), b"<9>");
    assert_eq!(value(&b.command(&execute(idb, 0, &[0, 0, 2, b'o', b'k']), results)), b"<ok>");
    assert_eq!(value(&a.command(&execute(ida, 0, &long(10, false)), results)), b"<10>");
}
