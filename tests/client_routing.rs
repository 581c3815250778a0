//! Where each statement runs, through real clients: MariaDB Connector/J
//! (tests/clients/jdbc/JdbcRouting.java), PyMySQL (tests/clients/pymysql_routing.py)
//! and the mysql command-line client (the sessions below). tests/routing.rs does
//! the same with mysql_async.
//!
//! Every client reports one line per observation: `CASE <name> <target> <port>`,
//! the port coming from the server itself (`@@port` in a read's result, or stored
//! by a write and read back), and `CHECK <name> ok|FAIL <why>` for what the
//! application must see (a user variable's value, an error code compared with
//! what the master gives directly...). The expected target is part of each
//! client's case table; this file judges every line the same way and fails
//! listing every mismatch, so a proxy that sent everything to the master (or
//! everything to a replica) fails here.
//!
//! Read-your-writes is on (global): a read goes to a replica only once it has
//! applied this proxy's writes, so cases expecting replicas first wait for both
//! replicas to answer ("settle").

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Proxy, MASTER_PORT};

const REPLICA1: u16 = 13307;
const REPLICA2: u16 = 13308;

/// Cases whose expectation the proxy does not meet yet: (client, case, why).
/// Their mismatches are printed but do not fail the test.
const KNOWN_BUGS: &[(&str, &str, &str)] = &[];

/// What a client observed for one case.
#[derive(Default)]
struct Case {
    expect: String,
    ports: Vec<u16>,
    failed_checks: Vec<String>,
    checks: usize,
}

/// Why `ports` do not meet `expect`, if they do not.
fn mismatch(expect: &str, ports: &[u16]) -> Option<String> {
    let replica = |p: &u16| *p == REPLICA1 || *p == REPLICA2;
    let ok = match expect {
        "master" => ports.iter().all(|p| *p == MASTER_PORT),
        "replica" => ports.iter().all(replica),
        // Reads spread: never the master, and both replicas when there are enough.
        "replicas" => ports.iter().all(replica) && (ports.len() < 4 || ports.windows(2).any(|w| w[0] != w[1])),
        "one-replica" => ports.iter().all(replica) && ports.windows(2).all(|w| w[0] == w[1]),
        "replica1" => ports.iter().all(|p| *p == REPLICA1),
        "replica2" => ports.iter().all(|p| *p == REPLICA2),
        "any" => true,
        other => return Some(format!("unknown target {other:?}")),
    };
    (!ok).then(|| format!("expected {expect}, ran on {ports:?}"))
}

/// Judges a client's report; panics listing every mismatch.
fn verify(client: &str, exited_ok: bool, stdout: &str, stderr: &str, min_cases: usize) {
    let mut cases: BTreeMap<String, Case> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut done = false;
    for line in stdout.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("CASE"), Some(name), Some(expect)) => {
                let case = cases.entry(name.to_string()).or_default();
                if !case.expect.is_empty() && case.expect != expect {
                    problems.push(format!("{name}: expected both {} and {expect}", case.expect));
                }
                case.expect = expect.to_string();
                match words.next().and_then(|p| p.parse().ok()) {
                    Some(port) => case.ports.push(port),
                    None => problems.push(format!("{name}: no port in {line:?}")),
                }
            }
            (Some("CHECK"), Some(name), Some(verdict)) => {
                let case = cases.entry(name.to_string()).or_default();
                case.checks += 1;
                if verdict != "ok" {
                    let why: Vec<&str> = words.collect();
                    case.failed_checks.push(why.join(" "));
                }
            }
            (Some("DONE"), None, None) => done = true,
            _ => {}
        }
    }
    println!("{client}: {} cases", cases.len());
    let mut known = Vec::new();
    for (name, case) in &cases {
        let mut wrong: Vec<String> = case.failed_checks.clone();
        if !case.ports.is_empty() {
            wrong.extend(mismatch(&case.expect, &case.ports));
        }
        let known_bug = KNOWN_BUGS.iter().find(|(c, n, _)| *c == client && n == name);
        let verdict = match (wrong.is_empty(), known_bug) {
            (true, _) => "ok",
            (false, Some(_)) => "KNOWN",
            (false, None) => "MISMATCH",
        };
        let ports: Vec<String> = case.ports.iter().map(u16::to_string).collect();
        println!("  {verdict:8} {name:45} {:12} {:30} checks={}", case.expect, ports.join(","), case.checks);
        if wrong.is_empty() {
            if let Some((_, _, why)) = known_bug {
                println!("  note: {name} is listed as a known bug ({why}) but passed: remove it from KNOWN_BUGS");
            }
            continue;
        }
        match known_bug {
            Some((_, _, why)) => known.push(format!("{name}: {} [known bug: {why}]", wrong.join("; "))),
            None => problems.push(format!("{name}: {}", wrong.join("; "))),
        }
    }
    for k in &known {
        println!("  KNOWN BUG {k}");
    }
    if !exited_ok {
        problems.push(format!("the {client} client exited with an error; stderr:\n{stderr}"));
    }
    if !done {
        problems.push(format!("the {client} client did not finish (no DONE line)"));
    }
    if cases.len() < min_cases {
        problems.push(format!("only {} cases reported, expected at least {min_cases}", cases.len()));
    }
    assert!(problems.is_empty(), "{client}: {} problem(s):\n  {}", problems.len(), problems.join("\n  "));
}

#[test]
fn jdbc_statements_run_where_they_must() {
    let java = common::compile_java(&common::repo_root().join("tests/clients/jdbc/JdbcRouting.java"));
    let proxy = Proxy::per_statement_reads();
    let start = Instant::now();
    let (ok, stdout, stderr) = common::run_with_timeout(
        Command::new("java")
            .arg("-cp")
            .arg(&java.classpath)
            .arg("JdbcRouting")
            .arg(format!("127.0.0.1:{MASTER_PORT}"))
            .arg(proxy.addr()),
        Duration::from_secs(300),
    );
    println!("JdbcRouting took {:.1?}", start.elapsed());
    verify("jdbc", ok, &stdout, &stderr, 90);
}

#[test]
fn pymysql_statements_run_where_they_must() {
    let proxy = Proxy::per_statement_reads();
    let script = common::repo_root().join("tests/clients/pymysql_routing.py");
    let start = Instant::now();
    let (ok, stdout, stderr) = common::run_with_timeout(
        Command::new(common::system_python()).arg(&script).arg(MASTER_PORT.to_string()).arg(proxy.port.to_string()),
        Duration::from_secs(300),
    );
    println!("pymysql_routing.py took {:.1?}", start.elapsed());
    verify("pymysql", ok, &stdout, &stderr, 60);
}

// ---------------------------------------------------------------- the mysql client

/// One mysql client session: SQL fed on stdin (`--batch --force --comments`),
/// printing `CASE`/`CHECK` rows itself. `{db}` is replaced by the database.
struct CliSession {
    name: &'static str,
    /// Wait for both replicas to apply the writes so far first.
    settle: bool,
    /// The errors the session's statements must give, in order.
    errors: &'static [u16],
    sql: &'static str,
}

const CLI_SESSIONS: &[CliSession] = &[
    CliSession {
        name: "setup",
        settle: false,
        errors: &[],
        sql: "
CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, p INT, v INT);
CREATE PROCEDURE p_ins(x INT) INSERT INTO t (p, v) VALUES (@@port, x);
CREATE PROCEDURE p_tz() SET time_zone = '+01:00';
DELIMITER //
CREATE PROCEDURE p_two()
BEGIN
  INSERT INTO t (p, v) VALUES (@@port, 20);
  SELECT 'CASE', 'procedure_result', 'master', @@port;
END//
DELIMITER ;
",
    },
    CliSession {
        name: "reads",
        settle: true,
        errors: &[],
        sql: "
SELECT 'CASE', 'select_constant', 'replicas', @@port;
SELECT 'CASE', 'select_constant', 'replicas', @@port;
SELECT 'CASE', 'select_constant', 'replicas', @@port;
SELECT 'CASE', 'select_constant', 'replicas', @@port;
SELECT 'CASE', 'select_table', 'replicas', @@port, COUNT(*) FROM t;
SELECT 'CASE', 'select_table', 'replicas', @@port, COUNT(*) FROM t;
SELECT 'CASE', 'select_table', 'replicas', @@port, COUNT(*) FROM t;
SELECT 'CASE', 'select_table', 'replicas', @@port, COUNT(*) FROM t;
WITH x AS (SELECT @@port AS p) SELECT 'CASE', 'select_cte', 'replicas', p FROM x;
WITH x AS (SELECT @@port AS p) SELECT 'CASE', 'select_cte', 'replicas', p FROM x;
WITH x AS (SELECT @@port AS p) SELECT 'CASE', 'select_cte', 'replicas', p FROM x;
WITH x AS (SELECT @@port AS p) SELECT 'CASE', 'select_cte', 'replicas', p FROM x;
SELECT 'CASE', 'select_nondeterministic', 'replicas', @@port, RAND(), UUID(), NOW(6);
SELECT 'CASE', 'select_nondeterministic', 'replicas', @@port, RAND(), UUID(), NOW(6);
SELECT 'CASE', 'select_nondeterministic', 'replicas', @@port, RAND(), UUID(), NOW(6);
SELECT 'CASE', 'select_nondeterministic', 'replicas', @@port, RAND(), UUID(), NOW(6);
SHOW VARIABLES LIKE 'port';
SHOW VARIABLES LIKE 'port';
SHOW VARIABLES LIKE 'port';
SHOW VARIABLES LIKE 'port';
SELECT 'CASE', 'select_for_update', 'master', @@port FOR UPDATE;
SELECT 'CASE', 'select_for_update', 'master', @@port FOR UPDATE;
SELECT 'CASE', 'select_lock_in_share_mode', 'master', @@port FROM DUAL LOCK IN SHARE MODE;
SELECT 'CASE', 'select_lock_in_share_mode', 'master', @@port FROM DUAL LOCK IN SHARE MODE;
",
    },
    CliSession {
        name: "writes",
        settle: false,
        errors: &[],
        sql: "
INSERT INTO t (p, v) VALUES (@@port, 1);
SELECT 'CASE', 'insert', 'master', p FROM t WHERE v = 1;
INSERT INTO t (p, v) VALUES (0, 2);
UPDATE t SET p = @@port WHERE v = 2;
SELECT 'CASE', 'update', 'master', p FROM t WHERE v = 2;
INSERT INTO t (p, v) SELECT @@port, 3;
SELECT 'CASE', 'insert_select', 'master', p FROM t WHERE v = 3;
REPLACE INTO t (id, p, v) VALUES (1000000, @@port, 4);
SELECT 'CASE', 'replace', 'master', p FROM t WHERE id = 1000000;
DELETE FROM t WHERE id = 1000000;
SELECT 'CHECK', 'delete', IF(ROW_COUNT() = 1, 'ok', CONCAT('FAIL ROW_COUNT() ', ROW_COUNT()));
CREATE TABLE t_ddl AS SELECT @@port AS p;
SELECT 'CASE', 'create_table_select', 'master', p FROM t_ddl;
CALL p_ins(5);
SELECT 'CASE', 'call', 'master', p FROM t WHERE v = 5;
CALL p_two();
SELECT 'CASE', 'procedure_insert', 'master', p FROM t WHERE v = 20;
INSERT INTO t (p, v) VALUES (@@port, 6);
SELECT 'CASE', 'last_insert_id', 'master', @@port, LAST_INSERT_ID();
SELECT 'CHECK', 'last_insert_id', IF(LAST_INSERT_ID() = (SELECT MAX(id) FROM t), 'ok', 'FAIL not the last id');
SELECT SQL_CALC_FOUND_ROWS 'CASE', 'found_rows', 'master', @@port FROM seq_1_to_50 LIMIT 1;
SELECT 'CHECK', 'found_rows', IF(FOUND_ROWS() = 50, 'ok', CONCAT('FAIL FOUND_ROWS() ', FOUND_ROWS()));
SELECT 'CASE', 'stored_function', 'master', @@port, sys.version_major();
INSERT INTO t (p, v) VALUES (@@port, 7);
SELECT 'CHECK', 'read_your_writes', IF(COUNT(*) = 1, 'ok', 'FAIL not visible'), @@port FROM t WHERE v = 7;
INSERT INTO t (p, v) VALUES (@@port, 8);
SELECT 'CHECK', 'read_your_writes', IF(COUNT(*) = 1, 'ok', 'FAIL not visible'), @@port FROM t WHERE v = 8;
INSERT INTO t (p, v) VALUES (@@port, 9);
SELECT 'CHECK', 'read_your_writes', IF(COUNT(*) = 1, 'ok', 'FAIL not visible'), @@port FROM t WHERE v = 9;
",
    },
    CliSession {
        name: "insert_alone",
        settle: false,
        errors: &[],
        sql: "INSERT INTO t (p, v) VALUES (@@port, 22);\n",
    },
    CliSession {
        // A new session has inserted nothing: LAST_INSERT_ID() is 0 (on the
        // master directly too), whoever used the pooled connection before.
        name: "last_insert_id_new_session",
        settle: false,
        errors: &[],
        sql: "
SELECT 'CHECK', 'last_insert_id_new_session',
  IF(LAST_INSERT_ID() = 0, 'ok', CONCAT('FAIL LAST_INSERT_ID() ', LAST_INSERT_ID(), ' in a new session'));
",
    },
    CliSession {
        name: "stored_function_user_variable",
        settle: false,
        errors: &[],
        sql: "
SELECT sys.format_statement('SELECT 1');
SELECT 'CASE', 'stored_function_user_variable', 'master', @@port;
SELECT 'CHECK', 'stored_function_user_variable',
  IF(@sys.statement_truncate_len = 64, 'ok', CONCAT('FAIL @sys.statement_truncate_len ', IFNULL(@sys.statement_truncate_len, 'NULL'), ' on ', @@port));
",
    },
    CliSession {
        name: "session_state",
        settle: true,
        errors: &[],
        sql: "
SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE;
SET time_zone = '+02:00';
USE mysql;
USE {db};
SELECT 'CASE', 'session_state', 'replicas', @@port;
SELECT 'CASE', 'session_state', 'replicas', @@port;
SELECT 'CASE', 'session_state', 'replicas', @@port;
SELECT 'CASE', 'session_state', 'replicas', @@port;
SELECT 'CHECK', 'session_state', IF(@@tx_isolation = 'SERIALIZABLE' AND @@time_zone = '+02:00' AND DATABASE() = '{db}', 'ok', CONCAT('FAIL on ', @@port));
SELECT 'CHECK', 'session_state', IF(@@tx_isolation = 'SERIALIZABLE' AND @@time_zone = '+02:00' AND DATABASE() = '{db}', 'ok', CONCAT('FAIL on ', @@port));
",
    },
    CliSession {
        name: "multi_statement",
        settle: true,
        errors: &[],
        sql: "
DELIMITER //
SELECT 'CASE', 'multi_statement_reads0', 'one-replica', @@port; SELECT 'CASE', 'multi_statement_reads0', 'one-replica', @@port//
SELECT 'CASE', 'multi_statement_reads1', 'one-replica', @@port; SELECT 'CASE', 'multi_statement_reads1', 'one-replica', @@port//
SELECT 'CASE', 'multi_statement_with_write', 'master', @@port; INSERT INTO t (p, v) VALUES (@@port, 10)//
DELIMITER ;
SELECT 'CASE', 'multi_statement_with_write', 'master', p FROM t WHERE v = 10;
",
    },
    CliSession {
        name: "hints",
        settle: true,
        errors: &[1290],
        sql: "
/* rwsplit:master */ SELECT 'CASE', 'hint_master', 'master', @@port;
/* rwsplit:master */ SELECT 'CASE', 'hint_master', 'master', @@port;
/* rwsplit:replica */ SELECT 'CASE', 'hint_replica', 'replica', @@port;
/* rwsplit:replica */ SELECT 'CASE', 'hint_replica', 'replica', @@port;
/* rwsplit:server=replica1 */ SELECT 'CASE', 'hint_server_replica1', 'replica1', @@port;
/* rwsplit:server=replica1 */ SELECT 'CASE', 'hint_server_replica1', 'replica1', @@port;
/* rwsplit:server=replica1 */ SELECT 'CASE', 'hint_server_replica1', 'replica1', @@port;
SELECT /* rwsplit:server=replica2 */ 'CASE', 'hint_server_replica2', 'replica2', @@port;
SELECT /* rwsplit:server=replica2 */ 'CASE', 'hint_server_replica2', 'replica2', @@port;
SELECT /* rwsplit:server=replica2 */ 'CASE', 'hint_server_replica2', 'replica2', @@port;
/* rwsplit:server=master */ SELECT 'CASE', 'hint_server_master', 'master', @@port;
SELECT 'CASE', 'hint_maxscale_master', 'master', @@port -- maxscale route to master
;
SELECT 'CASE', 'hint_maxscale_slave', 'replica', @@port -- maxscale route to slave
;
SELECT 'CASE', 'hint_maxscale_server', 'replica2', @@port -- maxscale route to server replica2
;
SELECT 'CASE', 'hint_maxscale_server', 'replica2', @@port -- maxscale route to server replica2
;
/* rwsplit:replica */ INSERT INTO t (p, v) VALUES (@@port, 11);
BEGIN;
/* rwsplit:server=replica2 */ SELECT 'CASE', 'hint_in_transaction', 'master', @@port;
/* rwsplit:server=replica2 */ SELECT 'CASE', 'hint_in_transaction', 'master', @@port;
COMMIT;
SET @pin = 1;
/* rwsplit:server=replica2 */ SELECT 'CASE', 'hint_while_pinned', 'master', @@port;
/* rwsplit:server=replica2 */ SELECT 'CASE', 'hint_while_pinned', 'master', @@port;
",
    },
    CliSession {
        name: "transactions",
        settle: true,
        errors: &[1792],
        sql: "
BEGIN;
SELECT 'CASE', 'begin', 'master', @@port, COUNT(*) FROM t;
SELECT 'CASE', 'begin', 'master', @@port;
SELECT 'CASE', 'begin', 'master', @@port;
COMMIT;
SELECT 'CASE', 'after_commit', 'replicas', @@port;
SELECT 'CASE', 'after_commit', 'replicas', @@port;
SELECT 'CASE', 'after_commit', 'replicas', @@port;
SELECT 'CASE', 'after_commit', 'replicas', @@port;
START TRANSACTION;
SELECT 'CASE', 'start_transaction', 'master', @@port;
SELECT 'CASE', 'start_transaction', 'master', @@port;
ROLLBACK;
START TRANSACTION READ ONLY;
SELECT 'CASE', 'read_only_transaction', 'one-replica', @@port, COUNT(*) FROM t;
SELECT 'CASE', 'read_only_transaction', 'one-replica', @@port;
SELECT 'CASE', 'read_only_transaction', 'one-replica', @@port;
INSERT INTO t (p, v) VALUES (@@port, 12);
SELECT 'CASE', 'read_only_transaction', 'one-replica', @@port;
COMMIT;
SET autocommit = 0;
SELECT 'CASE', 'autocommit_off', 'master', @@port;
SELECT 'CASE', 'autocommit_off', 'master', @@port;
SELECT 'CASE', 'autocommit_off', 'master', @@port;
COMMIT;
SELECT 'CASE', 'autocommit_off_after_commit', 'master', @@port;
SELECT 'CASE', 'autocommit_off_after_commit', 'master', @@port;
SET autocommit = 1;
SELECT 'CASE', 'autocommit_on_again', 'replicas', @@port;
SELECT 'CASE', 'autocommit_on_again', 'replicas', @@port;
SELECT 'CASE', 'autocommit_on_again', 'replicas', @@port;
SELECT 'CASE', 'autocommit_on_again', 'replicas', @@port;
",
    },
    CliSession {
        name: "transactions_writing",
        settle: false,
        errors: &[1792],
        sql: "
START TRANSACTION READ WRITE;
SELECT 'CASE', 'start_transaction_read_write', 'master', @@port;
INSERT INTO t (p, v) VALUES (@@port, 13);
COMMIT;
SELECT 'CASE', 'start_transaction_read_write', 'master', p FROM t WHERE v = 13;
SET autocommit = 0;
INSERT INTO t (p, v) VALUES (@@port, 14);
COMMIT;
SET autocommit = 1;
SELECT 'CASE', 'autocommit_off_write', 'master', p FROM t WHERE v = 14;
BEGIN;
INSERT INTO t (p, v) VALUES (@@port, 15);
ROLLBACK;
SELECT 'CHECK', 'rollback', IF(COUNT(*) = 0, 'ok', 'FAIL rolled-back row visible') FROM t WHERE v = 15;
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;
START TRANSACTION;
SELECT 'CASE', 'set_transaction_next', 'master', @@port;
INSERT INTO t (p, v) VALUES (@@port, 16);
COMMIT;
SELECT 'CASE', 'set_transaction_next', 'master', p FROM t WHERE v = 16;
SET TRANSACTION READ ONLY;
START TRANSACTION;
INSERT INTO t (p, v) VALUES (@@port, 17);
COMMIT;
",
    },
    CliSession {
        name: "session_read_only",
        settle: true,
        errors: &[1792],
        sql: "
SET SESSION TRANSACTION READ ONLY;
SELECT 'CASE', 'session_read_only', 'replicas', @@port;
SELECT 'CASE', 'session_read_only', 'replicas', @@port;
SELECT 'CASE', 'session_read_only', 'replicas', @@port;
SELECT 'CASE', 'session_read_only', 'replicas', @@port;
SELECT 'CHECK', 'session_read_only', IF(@@tx_read_only = 1, 'ok', CONCAT('FAIL read-write on ', @@port));
SELECT 'CHECK', 'session_read_only', IF(@@tx_read_only = 1, 'ok', CONCAT('FAIL read-write on ', @@port));
INSERT INTO t (p, v) VALUES (@@port, 18);
SET SESSION TRANSACTION READ WRITE;
INSERT INTO t (p, v) VALUES (@@port, 19);
SELECT 'CASE', 'session_read_write', 'master', p FROM t WHERE v = 19;
",
    },
    CliSession {
        name: "user_variable",
        settle: false,
        errors: &[],
        sql: "
SET @v = 7;
SELECT 'CASE', 'user_variable', 'master', @@port;
SELECT 'CHECK', 'user_variable', IF(@v = 7, 'ok', 'FAIL @v lost');
SELECT 'CASE', 'user_variable', 'master', @@port;
SELECT @@port INTO @p;
SELECT 'CASE', 'select_into_variable', 'master', @p;
SELECT 'CASE', 'select_into_variable', 'master', @@port;
",
    },
    CliSession {
        name: "assign_variable",
        settle: false,
        errors: &[],
        sql: "
SELECT 'CASE', 'assign_variable', 'master', @x := @@port;
SELECT 'CASE', 'assign_variable', 'master', @x;
SELECT 'CASE', 'assign_variable', 'master', @@port;
",
    },
    CliSession {
        name: "temporary_table",
        settle: true,
        errors: &[],
        sql: "
CREATE TEMPORARY TABLE tmp (p INT);
INSERT INTO tmp VALUES (@@port);
SELECT 'CASE', 'temporary_table', 'master', p FROM tmp;
SELECT 'CASE', 'temporary_table', 'master', @@port FROM tmp;
DROP TEMPORARY TABLE tmp;
SELECT 'CASE', 'temporary_table_dropped', 'replicas', @@port;
SELECT 'CASE', 'temporary_table_dropped', 'replicas', @@port;
SELECT 'CASE', 'temporary_table_dropped', 'replicas', @@port;
SELECT 'CASE', 'temporary_table_dropped', 'replicas', @@port;
",
    },
    CliSession {
        name: "lock_tables",
        settle: true,
        errors: &[],
        sql: "
LOCK TABLES t READ;
SELECT 'CASE', 'lock_tables', 'master', @@port, COUNT(*) FROM t;
SELECT 'CASE', 'lock_tables', 'master', @@port;
UNLOCK TABLES;
SELECT 'CASE', 'unlock_tables', 'replicas', @@port;
SELECT 'CASE', 'unlock_tables', 'replicas', @@port;
SELECT 'CASE', 'unlock_tables', 'replicas', @@port;
SELECT 'CASE', 'unlock_tables', 'replicas', @@port;
",
    },
    CliSession {
        name: "user_lock",
        settle: false,
        errors: &[],
        sql: "
SELECT 'CASE', 'user_lock', 'master', @@port, GET_LOCK('{db}', 5);
SELECT 'CASE', 'user_lock', 'master', @@port;
SELECT 'CHECK', 'user_lock', IF(IS_USED_LOCK('{db}') = CONNECTION_ID(), 'ok', 'FAIL the lock is not this session''s');
SELECT 'CASE', 'user_lock', 'master', @@port, RELEASE_LOCK('{db}');
",
    },
    CliSession {
        name: "sql_prepare",
        settle: false,
        errors: &[],
        sql: "
PREPARE s FROM 'SELECT ''CASE'', ''sql_prepare'', ''master'', @@port';
EXECUTE s;
EXECUTE s;
SELECT 'CASE', 'sql_prepare', 'master', @@port;
DEALLOCATE PREPARE s;
",
    },
    CliSession {
        name: "xa",
        settle: false,
        errors: &[],
        sql: "
XA START '{db}';
INSERT INTO t (p, v) VALUES (@@port, 21);
SELECT 'CASE', 'xa', 'master', @@port;
XA END '{db}';
XA PREPARE '{db}';
XA COMMIT '{db}';
SELECT 'CASE', 'xa', 'master', @@port;
SELECT 'CASE', 'xa', 'master', p FROM t WHERE v = 21;
",
    },
    CliSession {
        name: "connection_id",
        settle: false,
        errors: &[],
        sql: "
SELECT 'CASE', 'connection_id', 'master', @@port, CONNECTION_ID();
SELECT 'CASE', 'connection_id', 'master', @@port, CONNECTION_ID();
SELECT 'CASE', 'connection_id', 'master', @@port;
",
    },
    CliSession {
        name: "session_timeout",
        settle: false,
        errors: &[],
        sql: "
SET SESSION wait_timeout = 600;
SELECT 'CASE', 'session_timeout', 'master', @@port;
SELECT 'CHECK', 'session_timeout', IF(@@wait_timeout = 600, 'ok', CONCAT('FAIL wait_timeout ', @@wait_timeout));
SELECT 'CASE', 'session_timeout', 'master', @@port;
",
    },
    CliSession {
        name: "warnings",
        settle: true,
        errors: &[],
        sql: "
SELECT 'CASE', 'warnings', 'one-replica', @@port, CAST(CONCAT('x', @@port) AS INT);
SHOW WARNINGS;
SELECT 'CASE', 'warnings_released', 'replicas', @@port;
SELECT 'CASE', 'warnings_released', 'replicas', @@port;
SELECT 'CASE', 'warnings_released', 'replicas', @@port;
SELECT 'CASE', 'warnings_released', 'replicas', @@port;
",
    },
    CliSession {
        name: "untracked_state",
        settle: false,
        errors: &[],
        sql: "
CALL p_tz();
SELECT 'CASE', 'untracked_state', 'master', @@port;
SELECT 'CHECK', 'untracked_state', IF(@@time_zone = '+01:00', 'ok', CONCAT('FAIL time_zone ', @@time_zone));
SELECT 'CASE', 'untracked_state', 'master', @@port;
",
    },
];

/// `mysql` reading `sql` on stdin; (exit ok, stdout, stderr).
fn mysql(port: u16, db: &str, sql: &str, dir: &Path) -> (bool, String, String) {
    let file = dir.join("session.sql");
    std::fs::write(&file, sql).expect("write sql");
    let stdin = std::fs::File::open(&file).expect("open sql");
    common::run_with_timeout(
        Command::new("mysql")
            .args(["--no-defaults", "-h127.0.0.1", "-uapp", "-papp", "--batch", "--skip-column-names"])
            // Keep going after an error; send comments (hints) to the server.
            .args(["--force", "--comments"])
            .arg(format!("-P{port}"))
            .arg(db)
            .stdin(Stdio::from(stdin)),
        Duration::from_secs(60),
    )
}

/// Waits until two reads in a row are answered by the two replicas: both have
/// applied this proxy's writes so far. Says why not after 30 s.
fn settle(port: u16, db: &str, dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, out, err) = mysql(port, db, "SELECT @@port;\nSELECT @@port;\n", dir);
        let ports: Vec<u16> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if ok && ports.len() == 2 && ports[0] != ports[1] && !ports.contains(&MASTER_PORT) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the replicas did not catch up within 30 s: last reads {ports:?} {}", err.trim()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn mysql_client_statements_run_where_they_must() {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").subsec_nanos();
    let db = format!("cr_cli_{:08x}", std::process::id() ^ nanos);
    // Dropped after the proxy (declared before it): nothing of the proxy's holds it then.
    let _drop = DropDatabase(db.clone());
    let proxy = Proxy::per_statement_reads();
    let dir = tempfile::tempdir().expect("tempdir");
    let start = Instant::now();
    let (ok, _, err) = mysql(proxy.port, "", &format!("CREATE DATABASE {db};\n"), dir.path());
    assert!(ok, "create database: {err}");
    let mut report = String::new();
    let mut all_ok = true;
    let mut stderr_all = String::new();
    for s in CLI_SESSIONS {
        if s.settle {
            // Reported, and the session goes on to show where its reads went.
            if let Err(why) = settle(proxy.port, &db, dir.path()) {
                report.push_str(&format!("CHECK settle FAIL {}\n", why.replace('\n', " ")));
            }
        }
        let (ok, out, err) = mysql(proxy.port, &db, &s.sql.replace("{db}", &db), dir.path());
        // With --force, mysql goes past errors (and exits 0): they are compared below.
        all_ok &= ok;
        for line in out.lines() {
            let words: Vec<&str> = line.split('\t').collect();
            match words.as_slice() {
                ["CASE" | "CHECK", ..] => report.push_str(&words.join(" ")),
                // SHOW VARIABLES LIKE 'port': where the SHOW ran.
                ["port", p] => report.push_str(&format!("CASE show_variables replicas {p}")),
                // SHOW WARNINGS: the warning names the port of the statement's server.
                ["Warning", "1292", message] => {
                    let p = message.rsplit_once("'x").map_or("?", |(_, p)| p.trim_end_matches('\''));
                    report.push_str(&format!("CASE warnings one-replica {p}"));
                }
                _ => continue,
            }
            report.push('\n');
        }
        let codes: Vec<u16> =
            err.lines().filter_map(|l| l.strip_prefix("ERROR ")?.split_whitespace().next()?.parse().ok()).collect();
        if codes != s.errors {
            report.push_str(&format!(
                "CHECK {}_errors FAIL errors {codes:?}, expected {:?}: {}\n",
                s.name,
                s.errors,
                err.replace('\n', " ")
            ));
        }
        stderr_all.push_str(&err);
    }
    report.push_str("DONE\n");
    println!("mysql sessions took {:.1?}", start.elapsed());
    verify("cli", all_ok, &report, &stderr_all, 55);
}

/// Drops the test's database on the master directly, however the test ends.
struct DropDatabase(String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (ok, _, err) = common::run_with_timeout(
            Command::new("mysql")
                .args(["--no-defaults", "-h127.0.0.1", "-uapp", "-papp"])
                .arg(format!("-P{MASTER_PORT}"))
                .arg("-e")
                .arg(format!("DROP DATABASE IF EXISTS {}", self.0)),
            Duration::from_secs(60),
        );
        if !ok {
            eprintln!("drop database {}: {err}", self.0);
        }
    }
}
