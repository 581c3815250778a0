#!/usr/bin/env python3
"""Where each statement runs through rwsplit, with PyMySQL.

    pymysql_routing.py DIRECT_PORT PROXY_PORT

Prints one line per observation, checked by tests/client_routing.rs:

    CASE <name> <expected target> <port the statement ran on>
    CHECK <name> ok | CHECK <name> FAIL <why>
    DONE

Targets: master, replica (any replica), replicas (every replica, none of them the
master), one-replica (the same replica every time), replica1, replica2, any.
Ports come from the servers themselves: @@port in a read's result, or @@port
stored by a write and read back. Everything runs in a fresh database
(cr_py_<random>), created through the proxy and dropped directly at the end.
DIRECT_PORT (the master) answers what MariaDB itself does, to compare.

PyMySQL has no server-side prepared statements: its %s parameters are
substituted client-side, so every statement here is COM_QUERY.
"""

import os
import sys

try:
    import pymysql
except ImportError:
    # Debian's python3-pymysql is installed for /usr/bin/python3 only.
    if os.path.exists("/usr/bin/python3") and not os.environ.get("PYMYSQL_ROUTING_REEXEC"):
        os.environ["PYMYSQL_ROUTING_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

import re
import secrets
import time
import traceback

from pymysql.constants import CLIENT

MASTER = 13306
HOST = "127.0.0.1"
DIRECT_PORT = int(sys.argv[1])
PROXY_PORT = int(sys.argv[2])
DB = "cr_py_" + secrets.token_hex(4)


def ran(name, expect, port):
    print("CASE %s %s %s" % (name, expect, int(port)), flush=True)


def check(name, ok, why=""):
    print("CHECK %s %s" % (name, "ok" if ok else "FAIL " + str(why).replace("\n", " ")), flush=True)


def scenario(fn):
    """Runs a scenario; an exception it did not expect is a failure."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported
        check(fn.__name__, False, "unexpected %r at %s" % (e, traceback.format_exc().strip().splitlines()[-3]))
    return fn


def connect(port=PROXY_PORT, db=None, autocommit=True, **kw):
    args = dict(host=HOST, port=port, user="app", password="app", database=DB if db is None else db,
                read_timeout=60, charset="utf8mb4")
    if autocommit is not None:
        args["autocommit"] = autocommit
    args.update(kw)
    return pymysql.connect(**args)


def row(c, sql, args=None):
    with c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def execute(c, sql, args=None):
    with c.cursor() as cur:
        return cur.execute(sql, args)


def reads(name, expect, c, sql, n, args=None):
    """`n` reads of `sql`, whose first column is @@port."""
    for _ in range(n):
        ran(name, expect, row(c, sql, args)[0])


def error_code(c, sql):
    """The error code of a statement, 0 if it succeeded."""
    try:
        execute(c, sql)
        return 0
    except pymysql.err.MySQLError as e:
        return e.args[0]


# Reads on this connection wait for the replicas to apply the writes so far.
PROBE = None


def stored(name, sql):
    """Where a write ran: the @@port it stored, read back through the proxy (which
    must see it: read-your-writes)."""
    with PROBE.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
    if not rows:
        check(name, False, "the write is not visible through the proxy: " + sql)
    for r in rows:
        ran(name, "master", r[0])


def settle():
    """Waits until both replicas have applied this proxy's writes so far (global
    read-your-writes sends reads to the master until then): two reads in a row
    answered by the two replicas."""
    deadline = time.monotonic() + 30
    previous = MASTER
    while True:
        p = row(PROBE, "SELECT @@port")[0]
        if p != MASTER and previous != MASTER and p != previous:
            return
        if time.monotonic() > deadline:
            # Reported, and the cases go on to show where their reads went.
            check("settle", False, "the replicas did not catch up within 30 s")
            return
        if p == MASTER:
            time.sleep(0.05)
        previous = p


# ---------------------------------------------------------------- statement classes


def classes():
    c = connect()

    @scenario
    def select_constant():
        settle()
        reads("select_constant", "replicas", c, "SELECT @@port", 4)

    @scenario
    def select_table():
        reads("select_table", "replicas", c, "SELECT @@port, COUNT(*) FROM t WHERE v > %s", 4, (0,))

    @scenario
    def select_cte():
        reads("select_cte", "replicas", c, "WITH x AS (SELECT @@port AS p) SELECT p FROM x", 4)

    @scenario
    def select_nondeterministic():
        reads("select_nondeterministic", "replicas", c, "SELECT @@port, NOW(6), RAND(), UUID()", 4)

    @scenario
    def show_variables():
        for _ in range(4):
            ran("show_variables", "replicas", row(c, "SHOW VARIABLES LIKE 'port'")[1])

    @scenario
    def select_for_update():
        reads("select_for_update", "master", c, "SELECT @@port FOR UPDATE", 2)

    @scenario
    def select_lock_in_share_mode():
        reads("select_lock_in_share_mode", "master", c, "SELECT @@port FROM DUAL LOCK IN SHARE MODE", 2)

    @scenario
    def insert():
        with c.cursor() as cur:
            cur.execute("INSERT INTO t (p, v) VALUES (@@port, %s)", (1,))
            id_ = cur.lastrowid
        stored("insert", "SELECT p FROM t WHERE id = %d" % id_)
        execute(c, "UPDATE t SET v = @@port WHERE id = %s", (id_,))
        stored("update", "SELECT v FROM t WHERE id = %d" % id_)

    @scenario
    def insert_select():
        execute(c, "INSERT INTO t (p, v) SELECT @@port, 2")
        stored("insert_select", "SELECT p FROM t WHERE v = 2")

    @scenario
    def replace():
        execute(c, "REPLACE INTO t (id, p, v) VALUES (1000000, @@port, 3)")
        stored("replace", "SELECT p FROM t WHERE id = 1000000")

    @scenario
    def delete():
        n = execute(c, "DELETE FROM t WHERE id = 1000000")
        check("delete", n == 1, "DELETE affected %s rows" % n)

    @scenario
    def create_table_select():
        execute(c, "CREATE TABLE t_ddl AS SELECT @@port AS p")
        stored("create_table_select", "SELECT p FROM t_ddl")

    @scenario
    def call():
        execute(c, "CALL p_ins(4)")
        stored("call", "SELECT p FROM t WHERE v = 4")

    @scenario
    def last_insert_id():
        with c.cursor() as cur:
            cur.execute("INSERT INTO t (p, v) VALUES (@@port, 5)")
            id_ = cur.lastrowid
        port, lid = row(c, "SELECT @@port, LAST_INSERT_ID()")
        ran("last_insert_id", "master", port)
        check("last_insert_id", lid == id_, "LAST_INSERT_ID() %s, inserted %s" % (lid, id_))

    @scenario
    def found_rows():
        ran("found_rows", "master", row(c, "SELECT SQL_CALC_FOUND_ROWS @@port FROM seq_1_to_50 LIMIT 5")[0])
        port, n = row(c, "SELECT @@port, FOUND_ROWS()")
        ran("found_rows", "master", port)
        check("found_rows", n == 50, "FOUND_ROWS() %s" % n)

    @scenario
    def executemany():
        # PyMySQL rewrites an INSERT ... VALUES into one multi-row INSERT.
        with c.cursor() as cur:
            cur.executemany("INSERT INTO t (p, v) VALUES (@@port, %s)", [(31,), (32,), (33,)])
            # Anything else runs once per parameter set.
            cur.executemany("UPDATE t SET p = @@port + 0 WHERE v = %s", [(31,), (32,)])
        stored("executemany", "SELECT p FROM t WHERE v BETWEEN 31 AND 33")
        n = row(PROBE, "SELECT COUNT(*) FROM t WHERE v BETWEEN 31 AND 33")[0]
        check("executemany", n == 3, "%s rows" % n)

    @scenario
    def session_state():
        settle()
        execute(c, "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        execute(c, "SET time_zone = '+02:00'")
        for _ in range(4):
            r = row(c, "SELECT @@port, @@tx_isolation, @@time_zone, DATABASE()")
            ran("session_state", "replicas", r[0])
            check("session_state", r[1:] == ("SERIALIZABLE", "+02:00", DB), repr(r))

    c.close()

    @scenario
    def use_database():
        c = connect(db="")
        c.select_db(DB)  # COM_INIT_DB
        for _ in range(2):
            r = row(c, "SELECT @@port, DATABASE(), COUNT(*) FROM t")
            ran("use_database", "replicas", r[0])
            check("use_database", r[1] == DB, "DATABASE() %r" % r[1])
        execute(c, "USE mysql")
        execute(c, "USE " + DB)
        for _ in range(2):
            r = row(c, "SELECT @@port, DATABASE()")
            ran("use_database", "replicas", r[0])
            check("use_database", r[1] == DB, "DATABASE() %r" % r[1])
        c.close()

    @scenario
    def multi_statement():
        settle()
        c = connect(client_flag=CLIENT.MULTI_STATEMENTS)
        for i in range(2):
            with c.cursor() as cur:
                cur.execute("SELECT @@port; SELECT @@port")
                while True:
                    ran("multi_statement_reads%d" % i, "one-replica", cur.fetchone()[0])
                    if not cur.nextset():
                        break
        with c.cursor() as cur:
            cur.execute("SELECT @@port; INSERT INTO t (p, v) VALUES (@@port, 6)")
            ran("multi_statement_with_write", "master", cur.fetchone()[0])
            while cur.nextset():
                pass
        stored("multi_statement_with_write", "SELECT p FROM t WHERE v = 6")
        c.close()

    @scenario
    def read_your_writes():
        writer, reader = connect(), connect()
        for i in range(10):
            execute(writer, "INSERT INTO t (p, v) VALUES (@@port, %s)", (100 + i,))
            port, n = row(reader, "SELECT @@port, COUNT(*) FROM t WHERE v = %s", (100 + i,))
            ran("read_your_writes", "any", port)
            check("read_your_writes", n == 1, "a read right after the INSERT saw %s rows" % n)
        writer.close()
        reader.close()

    @scenario
    def stored_function():
        c = connect()
        reads("stored_function", "master", c, "SELECT @@port, sys.version_major()", 2)
        c.close()

    @scenario
    def stored_function_user_variable():
        # sys.format_statement() sets @sys.statement_truncate_len in the session:
        # later statements must see it, so they run where the function did.
        c = connect()
        row(c, "SELECT sys.format_statement('SELECT 1')")
        for _ in range(2):
            port, v = row(c, "SELECT @@port, @sys.statement_truncate_len")
            ran("stored_function_user_variable", "master", port)
            check("stored_function_user_variable", str(v) == "64", "@sys.statement_truncate_len %r on %s" % (v, port))
        c.close()


# ---------------------------------------------------------------- hints


def hints():
    c = connect()
    settle()

    @scenario
    def hint_master():
        reads("hint_master", "master", c, "/* rwsplit:master */ SELECT @@port", 2)

    @scenario
    def hint_replica():
        reads("hint_replica", "replica", c, "/* rwsplit:replica */ SELECT @@port", 2)

    @scenario
    def hint_server_replica1():
        reads("hint_server_replica1", "replica1", c, "/* rwsplit:server=replica1 */ SELECT @@port", 3)

    @scenario
    def hint_server_replica2():
        reads("hint_server_replica2", "replica2", c, "SELECT /* rwsplit:server=replica2 */ @@port", 3)

    @scenario
    def hint_server_master():
        reads("hint_server_master", "master", c, "/* rwsplit:server=master */ SELECT @@port", 2)

    @scenario
    def hint_maxscale():
        reads("hint_maxscale_master", "master", c, "SELECT @@port -- maxscale route to master", 2)
        reads("hint_maxscale_slave", "replica", c, "SELECT @@port -- maxscale route to slave", 2)
        reads("hint_maxscale_server", "replica2", c, "SELECT @@port -- maxscale route to server replica2", 2)

    @scenario
    def hint_replica_write():
        # Even a write goes where the hint says: a replica refuses it (1290).
        code = error_code(c, "/* rwsplit:replica */ INSERT INTO t (p, v) VALUES (@@port, 7)")
        check("hint_replica_write", code == 1290, "error %s, expected 1290 from a read_only replica" % code)

    @scenario
    def hint_in_transaction():
        c.begin()
        reads("hint_in_transaction", "master", c, "/* rwsplit:server=replica2 */ SELECT @@port", 2)
        c.commit()

    c.close()

    @scenario
    def hint_while_pinned():
        c = connect()
        execute(c, "SET @pin = 1")
        reads("hint_while_pinned", "master", c, "/* rwsplit:server=replica2 */ SELECT @@port", 2)
        c.close()


# ---------------------------------------------------------------- transactions


def same_as_direct(name, setup, sql):
    """`sql` after `setup` fails (or not) through the proxy exactly as directly."""
    codes = []
    for port in (DIRECT_PORT, PROXY_PORT):
        c = connect(port)
        for s in setup:
            execute(c, s)
        codes.append(error_code(c, sql))
        c.rollback()
        c.close()
    check(name, codes[0] == codes[1], "error %s directly, %s through the proxy" % tuple(codes))
    return codes


def transactions():
    c = connect()

    @scenario
    def begin():
        execute(c, "BEGIN")
        reads("begin", "master", c, "SELECT @@port, COUNT(*) FROM t", 3)
        execute(c, "COMMIT")
        settle()
        reads("after_commit", "replicas", c, "SELECT @@port", 4)

    @scenario
    def connection_begin():
        c.begin()  # BEGIN
        reads("connection_begin", "master", c, "SELECT @@port", 2)
        execute(c, "INSERT INTO t (p, v) VALUES (@@port, 9)")
        c.commit()  # COMMIT
        stored("connection_begin", "SELECT p FROM t WHERE v = 9")

    @scenario
    def start_transaction():
        execute(c, "START TRANSACTION")
        reads("start_transaction", "master", c, "SELECT @@port", 3)
        c.rollback()  # ROLLBACK

    @scenario
    def start_transaction_read_write():
        execute(c, "START TRANSACTION READ WRITE")
        reads("start_transaction_read_write", "master", c, "SELECT @@port", 2)
        execute(c, "INSERT INTO t (p, v) VALUES (@@port, 10)")
        execute(c, "COMMIT")
        stored("start_transaction_read_write", "SELECT p FROM t WHERE v = 10")

    @scenario
    def read_only_transaction():
        settle()
        execute(c, "START TRANSACTION READ ONLY")
        reads("read_only_transaction", "one-replica", c, "SELECT @@port, COUNT(*) FROM t", 3)
        via_proxy = error_code(c, "INSERT INTO t (p, v) VALUES (@@port, 11)")
        reads("read_only_transaction", "one-replica", c, "SELECT @@port", 1)
        execute(c, "COMMIT")
        d = connect(DIRECT_PORT)
        execute(d, "START TRANSACTION READ ONLY")
        via_direct = error_code(d, "INSERT INTO t (p, v) VALUES (@@port, 11)")
        execute(d, "COMMIT")
        d.close()
        check("read_only_transaction_write", via_proxy == via_direct == 1792,
              "a write in START TRANSACTION READ ONLY: error %s through the proxy, %s directly" % (via_proxy, via_direct))

    @scenario
    def autocommit_false():
        c.autocommit(False)  # SET AUTOCOMMIT = 0
        reads("autocommit_false", "master", c, "SELECT @@port", 3)
        execute(c, "INSERT INTO t (p, v) VALUES (@@port, 12)")
        c.commit()
        stored("autocommit_false", "SELECT p FROM t WHERE v = 12")
        # Still autocommit=0: every statement may open a transaction.
        reads("autocommit_false_after_commit", "master", c, "SELECT @@port", 2)
        c.autocommit(True)
        settle()
        reads("autocommit_true_again", "replicas", c, "SELECT @@port", 4)

    @scenario
    def rollback():
        c.autocommit(False)
        execute(c, "INSERT INTO t (p, v) VALUES (@@port, 13)")
        c.rollback()
        c.autocommit(True)
        n = row(PROBE, "SELECT COUNT(*) FROM t WHERE v = 13")[0]
        check("rollback", n == 0, "%s rolled-back rows visible" % n)

    @scenario
    def set_transaction_next():
        execute(c, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        execute(c, "START TRANSACTION")
        reads("set_transaction_next", "master", c, "SELECT @@port", 2)
        execute(c, "INSERT INTO t (p, v) VALUES (@@port, 14)")
        execute(c, "COMMIT")
        stored("set_transaction_next", "SELECT p FROM t WHERE v = 14")
        settle()
        reads("set_transaction_next_done", "replicas", c, "SELECT @@port", 4)

    c.close()

    @scenario
    def default_autocommit_off():
        # PyMySQL's default is autocommit=False (it sends SET AUTOCOMMIT = 0):
        # everything stays on the master, as in a transaction.
        c = connect(autocommit=None)
        reads("default_autocommit_off", "master", c, "SELECT @@port", 3)
        c.close()

    @scenario
    def set_transaction_read_only_next():
        same_as_direct("set_transaction_read_only_next", ["SET TRANSACTION READ ONLY", "START TRANSACTION"],
                       "INSERT INTO t (p, v) VALUES (@@port, 15)")

    @scenario
    def session_read_only():
        settle()
        c = connect()
        execute(c, "SET SESSION TRANSACTION READ ONLY")
        for _ in range(4):
            port, ro = row(c, "SELECT @@port, @@tx_read_only")
            ran("session_read_only", "replicas", port)
            check("session_read_only", ro == 1, "@@tx_read_only %s on %s" % (ro, port))
        codes = same_as_direct("session_read_only_write", ["SET SESSION TRANSACTION READ ONLY"],
                               "INSERT INTO t (p, v) VALUES (@@port, 16)")
        check("session_read_only_write", codes[0] == 1792, "error %s directly" % codes[0])
        execute(c, "SET SESSION TRANSACTION READ WRITE")
        execute(c, "INSERT INTO t (p, v) VALUES (@@port, 17)")
        stored("session_read_write", "SELECT p FROM t WHERE v = 17")
        c.close()


# ---------------------------------------------------------------- pins


def pins():
    @scenario
    def user_variable():
        c = connect()
        execute(c, "SET @v = 7")
        for _ in range(3):
            port, v = row(c, "SELECT @@port, @v")
            ran("user_variable", "master", port)
            check("user_variable", v == 7, "@v = %r" % v)
        c.close()

    @scenario
    def select_into_variable():
        c = connect()
        execute(c, "SELECT @@port INTO @p")
        for _ in range(2):
            port, p = row(c, "SELECT @@port, @p")
            ran("select_into_variable", "master", port)
            check("select_into_variable", port == p, "@p = %r read on %s" % (p, port))
        c.close()

    @scenario
    def assign_variable():
        c = connect()
        ran("assign_variable", "master", row(c, "SELECT @x := @@port")[0])
        reads("assign_variable", "master", c, "SELECT @x", 2)
        c.close()

    @scenario
    def temporary_table():
        c = connect()
        execute(c, "CREATE TEMPORARY TABLE tmp (p INT)")
        execute(c, "INSERT INTO tmp VALUES (@@port)")
        for _ in range(2):
            for port in row(c, "SELECT @@port, p FROM tmp"):
                ran("temporary_table", "master", port)
        execute(c, "DROP TEMPORARY TABLE tmp")
        settle()
        reads("temporary_table_dropped", "replicas", c, "SELECT @@port", 4)
        c.close()

    @scenario
    def lock_tables():
        c = connect()
        execute(c, "LOCK TABLES t READ")
        reads("lock_tables", "master", c, "SELECT @@port, COUNT(*) FROM t", 2)
        execute(c, "UNLOCK TABLES")
        settle()
        reads("unlock_tables", "replicas", c, "SELECT @@port", 4)
        c.close()

    @scenario
    def user_lock():
        c = connect()
        port, got = row(c, "SELECT @@port, GET_LOCK(%s, 5)", (DB,))
        ran("user_lock", "master", port)
        check("user_lock", got == 1, "GET_LOCK() %r" % got)
        reads("user_lock", "master", c, "SELECT @@port, IS_USED_LOCK('%s')" % DB, 2)
        reads("user_lock", "master", c, "SELECT @@port, RELEASE_LOCK('%s')" % DB, 1)
        c.close()

    @scenario
    def sql_prepare():
        c = connect()
        execute(c, "PREPARE s FROM 'SELECT @@port'")
        reads("sql_prepare", "master", c, "EXECUTE s", 2)
        reads("sql_prepare", "master", c, "SELECT @@port", 2)
        execute(c, "DEALLOCATE PREPARE s")
        c.close()

    @scenario
    def xa():
        c = connect()
        xid = "'%s'" % DB
        execute(c, "XA START " + xid)
        execute(c, "INSERT INTO t (p, v) VALUES (@@port, 18)")
        reads("xa", "master", c, "SELECT @@port", 2)
        for s in ("XA END ", "XA PREPARE ", "XA COMMIT "):
            execute(c, s + xid)
        reads("xa", "master", c, "SELECT @@port", 2)
        stored("xa", "SELECT p FROM t WHERE v = 18")
        c.close()

    @scenario
    def connection_id():
        c = connect()
        ids = set()
        for _ in range(3):
            port, id_ = row(c, "SELECT @@port, CONNECTION_ID()")
            ran("connection_id", "master", port)
            ids.add(id_)
        check("connection_id", len(ids) == 1, "CONNECTION_ID() %s" % sorted(ids))
        c.close()

    @scenario
    def session_timeout():
        c = connect()
        execute(c, "SET SESSION wait_timeout = 600")
        for _ in range(2):
            port, t = row(c, "SELECT @@port, @@wait_timeout")
            ran("session_timeout", "master", port)
            check("session_timeout", t == 600, "@@wait_timeout %r" % t)
        c.close()

    @scenario
    def warnings():
        c = connect()
        settle()
        # The warning names the port of the server that ran the statement.
        ran("warnings", "one-replica", row(c, "SELECT @@port, CAST(CONCAT('x', @@port) AS INT)")[0])
        shown = c.show_warnings()  # SHOW WARNINGS
        m = re.search(r"'x(\d+)'", str(shown))
        check("warnings", m is not None, "SHOW WARNINGS: %r" % (shown,))
        if m:
            ran("warnings", "one-replica", m.group(1))
        reads("warnings_released", "replicas", c, "SELECT @@port", 4)
        c.close()

    @scenario
    def untracked_state():
        c = connect()
        execute(c, "CALL p_tz()")
        for _ in range(2):
            port, tz = row(c, "SELECT @@port, @@time_zone")
            ran("untracked_state", "master", port)
            check("untracked_state", tz == "+01:00", "@@time_zone %r" % tz)
        c.close()


def main():
    global PROBE
    print("pymysql_routing: database", DB, flush=True)
    try:
        c = connect(db="")
        execute(c, "CREATE DATABASE " + DB)
        c.close()
        PROBE = connect()
        execute(PROBE, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, p INT, v INT)")
        execute(PROBE, "CREATE PROCEDURE p_ins(x INT) INSERT INTO t (p, v) VALUES (@@port, x)")
        execute(PROBE, "CREATE PROCEDURE p_tz() SET time_zone = '+01:00'")
        classes()
        hints()
        transactions()
        pins()
        PROBE.close()
    finally:
        d = connect(DIRECT_PORT, db="")
        execute(d, "DROP DATABASE IF EXISTS " + DB)
        d.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
