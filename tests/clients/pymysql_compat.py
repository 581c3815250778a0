#!/usr/bin/env python3
"""PyMySQL compatibility check: the same scenarios against MariaDB directly and
through rwsplit, comparing canonical transcripts of what the application observes.

    pymysql_compat.py DIRECT_PORT PROXY_PORT [SCENARIO...]

Each run works in its own fresh database (py_direct_<rand> / py_proxy_<rand>,
dropped at the end); the name is normalised to <db> in the transcripts. A
transcript records, per statement: the return value, rowcount, lastrowid,
cursor.description, the rows (repr, so Python types are compared too), the OK
packet's message, warning_count, server_status and SHOW WARNINGS; exceptions as
class + args (errno, message). Prints PASS/FAIL per scenario with a unified diff
of the transcripts; exits 1 on any mismatch.

Debian's python3-pymysql lives in /usr/lib/python3/dist-packages; a `python3`
on PATH (pyenv) may not see it, so the script re-executes itself with
/usr/bin/python3 when the import fails.
"""

import os
import sys

try:
    import pymysql
except ImportError:
    if os.path.exists("/usr/bin/python3") and not os.environ.get("PYMYSQL_COMPAT_REEXEC"):
        os.environ["PYMYSQL_COMPAT_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.path.append("/usr/lib/python3/dist-packages")
    import pymysql

import difflib
import hashlib
import random
import re
import secrets
import tempfile
import threading
import time
import traceback
import warnings
import codecs

import pymysql.constants.CLIENT as CLIENT
import pymysql.cursors



def _binary_codec(name):
    # PyMySQL maps charset "binary" to a Python codec named "binary", which does
    # not exist. Aliasing it to latin-1 (a byte-transparent codec) lets PyMySQL
    # connect with collation 63 in the handshake, which the proxy must pass on.
    return codecs.lookup("latin-1") if name == "binary" else None


codecs.register(_binary_codec)

HOST = "127.0.0.1"
# Set from the command line: the master, also used to vet KILL targets.
DIRECT_PORT = None
USER = "app"
PASSWORD = "app"
# Every connection gets a read timeout, so that a hang through the proxy shows up
# as a recorded difference (OperationalError 2013) rather than a stuck script.
READ_TIMEOUT = 60
# The 20 MiB scenario needs more than PyMySQL's 16 MiB default (it only bounds
# LOAD DATA chunks and is sent to the server in the handshake).
MAX_PACKET = 64 * 1024 * 1024

# Shared input files: the same path for both runs, so the SQL text is identical.
WORKDIR = tempfile.mkdtemp(prefix="pymysql_compat_")
INFILE = os.path.join(WORKDIR, "people.csv")
BIG_INFILE = os.path.join(WORKDIR, "big.csv")


def write_infiles():
    with open(INFILE, "w", encoding="utf-8") as f:
        f.write("1,alice,Zürich\n2,bob,東京 🍣\n3,carol,\\N\n4,dave\n5,eve,x,extra\nnotanumber,frank,y\n")
    # ~6 MiB: many 16 KiB chunks from the client, and several physical packets.
    rnd = random.Random(42)
    with open(BIG_INFILE, "w", encoding="utf-8") as f:
        for i in range(60000):
            f.write("%d,%s\n" % (i, "".join(rnd.choice("abcdefghij") for _ in range(100))))


class Transcript:
    def __init__(self, db):
        self.db = db
        self.lines = []

    def norm(self, s):
        # The per-run database names are the one thing that must differ.
        return s.replace(self.db, "<db>")

    def log(self, *parts):
        self.lines.append(self.norm(" ".join(str(p) for p in parts)))

    def exc(self, e, normalise_host=False):
        args = repr(e.args)
        if normalise_host:
            # 1045's text names the client address as the server (or the proxy)
            # saw it; the address is the only part allowed to differ.
            args = re.sub(r"'(\w+)'@'[^']*'", r"'\1'@'<client>'", args)
        if e.args and e.args[0] == 2013:
            # "Lost connection": whether the socket error behind it reads as a
            # reset or an end of stream depends on TCP timing (did the peer's RST
            # arrive before the read?), directly as through the proxy.
            args = re.sub(r" \(\[Errno 104\] Connection reset by peer\)", "", args)
        self.log("EXC", "%s.%s" % (type(e).__module__, type(e).__name__), args)


def short(v):
    """repr of a value, with big values summarised by length and hash."""
    if isinstance(v, (bytes, bytearray)) and len(v) > 512:
        return "<bytes len=%d sha256=%s>" % (len(v), hashlib.sha256(v).hexdigest())
    if isinstance(v, str) and len(v) > 512:
        return "<str len=%d sha256=%s>" % (len(v), hashlib.sha256(v.encode("utf-8", "surrogatepass")).hexdigest())
    return repr(v)


def row_repr(row):
    if isinstance(row, dict):
        return "{" + ", ".join("%r: %s" % (k, short(v)) for k, v in row.items()) + "}"
    return "(" + ", ".join(short(v) for v in row) + ")"


class Env:
    def __init__(self, label, port, db, t):
        self.label = label
        self.port = port
        self.db = db
        self.db_b = db + "_b"
        self.t = t

    def connect(self, **kw):
        args = dict(host=HOST, port=self.port, user=USER, password=PASSWORD, database=self.db,
                    read_timeout=READ_TIMEOUT, write_timeout=READ_TIMEOUT, connect_timeout=10,
                    max_allowed_packet=MAX_PACKET)
        args.update(kw)
        return pymysql.connect(**args)

    # --- recording helpers ------------------------------------------------

    def result(self, cur, ret):
        """Records the current result of `cur` (fetching its rows)."""
        t = self.t
        t.log("  ret", ret, "rowcount", cur.rowcount, "lastrowid", cur.lastrowid)
        if cur.description is not None:
            t.log("  description", repr(cur.description))
        rows = cur.fetchall()
        if cur.description is not None:
            t.log("  rows", len(rows))
            for r in rows:
                t.log("   ", row_repr(r))
        res = cur._result
        if res is not None:
            t.log("  message", repr(res.message), "warning_count", res.warning_count,
                  "affected_rows", res.affected_rows, "insert_id", res.insert_id, "has_next", res.has_next)
        conn = cur.connection
        t.log("  server_status", hex(conn.server_status or 0))
        return res

    def q(self, cur, sql, args=None, many=False, warnings=True, shown=None):
        """Runs one statement, records its first result (or its exception), and
        SHOW WARNINGS when the statement produced warnings and nothing is pending."""
        t = self.t
        shown = shown or (sql if isinstance(sql, str) else repr(sql))
        if len(shown) > 400:
            shown = shown[:300] + "...[%d chars]" % len(shown)
        if args is None:
            argtxt = ""
        elif many:
            argtxt = "MANY %d sha256=%s" % (len(args), hashlib.sha256(repr(args).encode()).hexdigest())
        elif isinstance(args, (list, tuple)):
            argtxt = "ARGS " + row_repr(args)
        else:
            argtxt = "ARGS " + short(args)
        t.log("SQL", shown, argtxt)
        try:
            ret = cur.executemany(sql, args) if many else cur.execute(sql, args)
        except Exception as e:
            t.exc(e)
            return None
        res = self.result(cur, ret)
        if warnings and res is not None and res.warning_count and not res.has_next:
            self.show_warnings(cur.connection)
        return res

    def walk(self, cur):
        """Records every further result set of a multi-result reply."""
        n = 1
        while True:
            try:
                more = cur.nextset()
            except Exception as e:
                self.t.log(" nextset", n)
                self.t.exc(e)
                return
            if not more:
                self.t.log(" nextset", n, "-> None")
                return
            self.t.log(" nextset", n)
            self.result(cur, None)
            n += 1

    def show_warnings(self, conn):
        with conn.cursor() as c:
            c.execute("SHOW WARNINGS")
            self.t.log("  SHOW WARNINGS", repr(c.fetchall()))

    def alive(self, conn):
        """The connection still answers, with the session it had. Python warnings
        PyMySQL raises on the way (an abandoned unbuffered result) are recorded."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with conn.cursor() as c:
                    c.execute("SELECT 1, DATABASE(), @@autocommit")
                    self.t.log("  alive", repr(c.fetchall()))
            except Exception as e:
                self.t.exc(e)
        for w in caught:
            self.t.log("  python warning", w.category.__name__, str(w.message))


# --- scenarios -------------------------------------------------------------

TYPES_DDL = """CREATE TABLE types (
  id INT PRIMARY KEY AUTO_INCREMENT,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT, i INT, bi BIGINT, ubi BIGINT UNSIGNED,
  dec1 DECIMAL(30,10), dec2 DECIMAL(5,0), f FLOAT, d DOUBLE,
  vc VARCHAR(100) CHARACTER SET utf8mb4, ch CHAR(5), txt TEXT, bin VARBINARY(300), bl BLOB,
  dt DATE, dtm DATETIME(6), tm TIME(3), ts TIMESTAMP(6) NULL DEFAULT NULL, yr YEAR,
  js JSON, en ENUM('a','b','c'), st SET('x','y','z'), bt BIT(10), b1 BIT(1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""


def sc_types(e):
    import datetime
    import decimal
    conn = e.connect(charset="utf8mb4")
    cur = conn.cursor()
    e.q(cur, "SET time_zone = '+00:00'")
    e.q(cur, "DROP TABLE IF EXISTS nosuch")  # a note-level warning
    e.q(cur, TYPES_DDL)
    e.q(cur, "ALTER TABLE types ADD COLUMN extra INT DEFAULT 7, ADD INDEX (vc)")
    e.q(cur, "SHOW CREATE TABLE types")
    e.q(cur, "DESCRIBE types")
    cols = "ti,tu,si,mi,i,bi,ubi,dec1,dec2,f,d,vc,ch,txt,bin,bl,dt,dtm,tm,ts,yr,js,en,st,bt,b1"
    ph = ",".join(["%s"] * 26)
    extremes = (-128, 255, -32768, -8388608, -2147483648, -9223372036854775808, 18446744073709551615,
                decimal.Decimal("-12345678901234567890.0123456789"), decimal.Decimal("99999"), 3.5, -1.7976931348623157e308,
                "héllo wörld 🎉👍🏽 emoji", "ab", "text\n\t\\'\"with escapes", bytes(range(256)), b"\x00\xff" * 1000,
                datetime.date(1000, 1, 1), datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
                # (a negative timedelta would be mis-escaped by PyMySQL itself: a string)
                "-838:59:59.000", datetime.datetime(2038, 1, 19, 3, 14, 7, 999999),
                2155, '{"a": [1, 2.5, "x", null, true], "b": {"ü": "🎉"}}', "c", "x,z", b"\x03\xff", b"\x01")
    normal = (1, 2, 3, 4, 5, 6, 7, decimal.Decimal("1.5"), decimal.Decimal("-3"), 0.1, 2.0 / 3.0,
              "plain", "abcde", "", b"", b"blob", datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 12, 0, 0, 123456),
              datetime.timedelta(hours=25, seconds=1, microseconds=500000), datetime.datetime(1970, 1, 1, 0, 0, 1),
              1901, "[]", "a", "", b"\x00\x00", b"\x00")
    e.q(cur, "INSERT INTO types (%s) VALUES (%s)" % (cols, ph), extremes)
    e.q(cur, "INSERT INTO types (%s) VALUES (%s)" % (cols, ph), normal)
    e.q(cur, "INSERT INTO types () VALUES ()")  # all NULL but id and extra
    e.q(cur, "INSERT INTO types (vc, en) VALUES ('lit 🍣', 'b'), (NULL, NULL)")
    e.q(cur, "SELECT * FROM types ORDER BY id")
    e.q(cur, "SELECT id, HEX(bt), bt + 0, LENGTH(bl), JSON_EXTRACT(js, '$.b') FROM types ORDER BY id")
    e.q(cur, "SELECT 18446744073709551615, -9223372036854775808, 1.5, 1e300, -0.0, 'x', NULL, "
             "CAST(1 AS UNSIGNED), CAST('2020-01-01' AS DATE), X'00FF', b'101', 0x41, _latin1'é', "
             "CAST(3.14159 AS DECIMAL(10,3)), TIME('-01:02:03.5'), CONVERT('€' USING utf16)")
    e.q(cur, "UPDATE types SET ti = ti + 1 WHERE id <= 2")
    e.q(cur, "UPDATE types SET ti = ti WHERE id <= 2")  # matched 2, changed 0
    e.q(cur, "DELETE FROM types WHERE id = 3")
    with conn.cursor(pymysql.cursors.DictCursor) as dc:
        e.q(dc, "SELECT id, vc, dtm, ubi FROM types ORDER BY id")
    e.q(cur, "TRUNCATE TABLE types")
    e.q(cur, "DROP TABLE types")
    conn.close()


def sc_executemany(e):
    conn = e.connect(autocommit=True)
    cur = conn.cursor()
    e.q(cur, "CREATE TABLE em (id INT PRIMARY KEY AUTO_INCREMENT, a INT, b VARCHAR(250), c DOUBLE)")
    rows = [(i, "row %d ✓" % i, i / 7.0) for i in range(1000)]
    # Rewritten by PyMySQL into one multi-row INSERT (split at max_allowed_packet).
    e.q(cur, "INSERT INTO em (a, b, c) VALUES (%s, %s, %s)", rows, many=True)
    e.q(cur, "INSERT INTO em (a, b, c) VALUES (%s, %s, %s) ON DUPLICATE KEY UPDATE b = VALUES(b)", rows[:3], many=True)
    e.q(cur, "INSERT INTO em (id, a, b, c) VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE b = 'dup'",
        [(1, 0, "x", 0.0), (2000, 1, "y", 1.0)], many=True)
    # Not an INSERT: executed once per row.
    e.q(cur, "UPDATE em SET a = a + %s WHERE id = %s", [(100, 1), (100, 2), (100, 99999)], many=True)
    e.q(cur, "REPLACE INTO em (id, a, b, c) VALUES (%s, %s, %s, %s)", [(5, 5, "r", 5.0), (6, 6, "r", 6.0)], many=True)
    e.q(cur, "INSERT INTO em (id, a, b, c) VALUES (%s, %s, %s, %s)", [(7, 0, "dup", 0.0)], many=True)
    # A batch of 20,000 rows with 200-byte strings: about 4.5 MB of SQL.
    big = [(i, "z" * 200, float(i)) for i in range(20000)]
    e.q(cur, "INSERT INTO em (a, b, c) VALUES (%s, %s, %s)", big, many=True)
    e.q(cur, "SELECT COUNT(*), SUM(a), MAX(id), SUM(LENGTH(b)), SUM(c) FROM em")
    e.q(cur, "SELECT * FROM em WHERE id <= 8 OR id = 2000 ORDER BY id")
    conn.close()


def sc_multi_statements(e):
    conn = e.connect(client_flag=CLIENT.MULTI_STATEMENTS, autocommit=True)
    cur = conn.cursor()
    e.q(cur, "CREATE TABLE ms (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO ms VALUES (1, 'a'), (2, 'b')")
    e.walk(cur)
    e.q(cur, "SELECT 1 AS one; SELECT 'a' AS x, 'b' AS y; INSERT INTO ms VALUES (3, 'c'); "
             "UPDATE ms SET v = 'B' WHERE id = 2; SELECT * FROM ms ORDER BY id; SET @x = 5; SELECT @x, 1/0")
    e.walk(cur)
    e.show_warnings(conn)
    # An error in the middle: the results before it arrive, the rest never run.
    e.q(cur, "SELECT 10; SELECT * FROM no_such_table; SELECT 30")
    e.walk(cur)
    e.alive(conn)
    e.q(cur, "INSERT INTO ms VALUES (4, 'd'); INSERT INTO ms VALUES (4, 'dup'); INSERT INTO ms VALUES (5, 'e')")
    e.walk(cur)
    e.q(cur, "SELECT * FROM ms ORDER BY id")
    # Syntax error in the second statement.
    e.q(cur, "SELECT 1; SELEC 2")
    e.walk(cur)
    # Empty results and a trailing semicolon.
    e.q(cur, "SELECT * FROM ms WHERE id > 100; DO 1;")
    e.walk(cur)
    # Many small result sets in one reply.
    e.q(cur, "; ".join("SELECT %d AS n, REPEAT('x', %d) AS s" % (i, i) for i in range(50)))
    e.walk(cur)
    # Unread results: closing the cursor drains them, the connection goes on.
    cur.execute("SELECT 1; SELECT 2; SELECT 3")
    cur.close()
    cur = conn.cursor()
    e.alive(conn)
    # A multi-statement through an unbuffered cursor.
    with conn.cursor(pymysql.cursors.SSCursor) as ss:
        ss.execute("SELECT seq FROM seq_1_to_1000; SELECT 'second'")
        e.t.log("  ss first", ss.fetchone(), ss.fetchone())
        ss.nextset()
        e.t.log("  ss second", repr(ss.fetchall()))
    e.alive(conn)
    conn.close()
    # Without the capability the server refuses a multi-statement.
    conn = e.connect()
    cur = conn.cursor()
    e.q(cur, "SELECT 1; SELECT 2")
    e.alive(conn)
    conn.close()


def sc_callproc(e):
    conn = e.connect(autocommit=True)
    cur = conn.cursor()
    e.q(cur, "CREATE TABLE pt (id INT PRIMARY KEY, name VARCHAR(20))")
    e.q(cur, "INSERT INTO pt VALUES (1, 'one'), (2, 'two'), (3, 'three')")
    e.q(cur, """CREATE PROCEDURE two_sets(IN x INT, INOUT y INT)
BEGIN
  SELECT id, name FROM pt WHERE id <= x ORDER BY id;
  SELECT x * 2 AS doubled, 'second' AS label, NOW() IS NOT NULL AS ok;
  SET y = x + y;
END""")
    e.q(cur, """CREATE PROCEDURE no_sets()
BEGIN
  UPDATE pt SET name = UPPER(name) WHERE id = 1;
END""")
    e.q(cur, """CREATE PROCEDURE fails()
BEGIN
  SELECT 'before';
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'custom failure', MYSQL_ERRNO = 1644;
END""")
    t = e.t
    try:
        ret = cur.callproc("two_sets", (2, 40))
        t.log("callproc two_sets ->", repr(ret))
        e.result(cur, None)
        e.walk(cur)
    except Exception as ex:
        t.exc(ex)
    e.q(cur, "SELECT @_two_sets_0, @_two_sets_1")
    e.q(cur, "CALL two_sets(3, @out)")
    e.walk(cur)
    e.q(cur, "CALL no_sets()")
    e.walk(cur)
    e.q(cur, "CALL fails()")
    e.walk(cur)
    e.alive(conn)
    e.q(cur, "CALL no_such_proc()")
    e.alive(conn)
    conn.close()


def sc_transactions(e):
    t = e.t
    conn = e.connect(autocommit=False)
    other = e.connect(autocommit=True)
    cur = conn.cursor()
    ocur = other.cursor()
    t.log("get_autocommit", conn.get_autocommit(), other.get_autocommit())
    e.q(cur, "CREATE TABLE tx (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
    e.q(cur, "INSERT INTO tx VALUES (1, 10)")
    t.log("in_trans status", hex(conn.server_status))
    e.q(ocur, "SELECT COUNT(*) FROM tx")  # not committed yet
    conn.rollback()
    t.log("after rollback", hex(conn.server_status))
    e.q(cur, "SELECT COUNT(*) FROM tx")
    e.q(cur, "INSERT INTO tx VALUES (1, 11), (2, 22)")
    conn.commit()
    t.log("after commit", hex(conn.server_status))
    e.q(ocur, "SELECT * FROM tx ORDER BY id")
    conn.autocommit(True)
    t.log("autocommit on", conn.get_autocommit(), hex(conn.server_status))
    conn.begin()
    e.q(cur, "UPDATE tx SET v = v + 1")
    e.q(cur, "SELECT * FROM tx WHERE id = 1 FOR UPDATE")
    e.q(cur, "SAVEPOINT sp1")
    e.q(cur, "DELETE FROM tx WHERE id = 2")
    e.q(cur, "ROLLBACK TO SAVEPOINT sp1")
    e.q(cur, "SELECT * FROM tx ORDER BY id")
    conn.rollback()
    e.q(cur, "SELECT * FROM tx ORDER BY id")
    e.q(cur, "START TRANSACTION READ ONLY")
    e.q(cur, "INSERT INTO tx VALUES (3, 33)")  # 1792: read-only transaction
    e.q(cur, "COMMIT")
    e.q(cur, "SET autocommit = 0")
    t.log("get_autocommit after SET", conn.get_autocommit())
    e.q(cur, "INSERT INTO tx VALUES (3, 33)")
    e.q(cur, "SELECT @@in_transaction, @@autocommit")
    # An implicit commit by DDL.
    e.q(cur, "CREATE TABLE tx2 (id INT)")
    e.q(ocur, "SELECT * FROM tx ORDER BY id")
    e.q(cur, "SET autocommit = 1")
    other.close()
    conn.close()


def sc_load_data(e):
    t = e.t
    conn = e.connect(local_infile=True, autocommit=True)
    cur = conn.cursor()
    e.q(cur, "CREATE TABLE ld (id INT PRIMARY KEY, name VARCHAR(20), city VARCHAR(20)) DEFAULT CHARSET=utf8mb4")
    e.q(cur, "LOAD DATA LOCAL INFILE '%s' INTO TABLE ld CHARACTER SET utf8mb4 FIELDS TERMINATED BY ','" % INFILE)
    e.q(cur, "SELECT * FROM ld ORDER BY id")
    # Again: duplicates are skipped with warnings (LOCAL implies IGNORE).
    e.q(cur, "LOAD DATA LOCAL INFILE '%s' INTO TABLE ld CHARACTER SET utf8mb4 FIELDS TERMINATED BY ','" % INFILE)
    e.q(cur, "CREATE TABLE ldbig (id INT PRIMARY KEY, s VARCHAR(200))")
    e.q(cur, "LOAD DATA LOCAL INFILE '%s' INTO TABLE ldbig FIELDS TERMINATED BY ','" % BIG_INFILE)
    e.q(cur, "SELECT COUNT(*), SUM(id), MD5(GROUP_CONCAT(s ORDER BY id SEPARATOR '')) FROM ldbig")
    # A file the client cannot open: PyMySQL sends an empty file and raises.
    e.q(cur, "LOAD DATA LOCAL INFILE '%s' INTO TABLE ld" % os.path.join(WORKDIR, "missing.csv"))
    e.alive(conn)
    e.q(cur, "LOAD DATA LOCAL INFILE '%s' INTO TABLE no_such_table" % INFILE)
    e.alive(conn)
    conn.close()
    # Without local_infile the server refuses LOAD DATA LOCAL.
    conn = e.connect(local_infile=False)
    cur = conn.cursor()
    e.q(cur, "LOAD DATA LOCAL INFILE '%s' INTO TABLE ld" % INFILE)
    e.alive(conn)
    conn.close()
    t.log("done")


def sc_charsets(e):
    t = e.t
    conn = e.connect(charset="utf8mb4", autocommit=True)
    cur = conn.cursor()
    e.q(cur, "CREATE TABLE cs (id INT PRIMARY KEY, u VARCHAR(50) CHARACTER SET utf8mb4, l VARCHAR(50) CHARACTER SET latin1, b VARBINARY(50))")
    e.q(cur, "INSERT INTO cs VALUES (1, %s, %s, %s)", ("naïve café 🎉", "naïve café", b"\xc3\xa9\x00\xff"))
    conn.close()
    variables = ("SELECT @@character_set_client, @@character_set_connection, @@character_set_results, "
                 "@@collation_connection")
    for charset in ("utf8mb4", "latin1", "utf8", "binary"):
        t.log("== charset", charset)
        try:
            conn = e.connect(charset=charset, autocommit=True)
        except Exception as ex:
            t.exc(ex)
            continue
        t.log("  conn.charset", conn.charset, "encoding", conn.encoding)
        cur = conn.cursor()
        for sql in (variables, "SELECT id, u, l, b, CHAR_LENGTH(u), LENGTH(u) FROM cs ORDER BY id",
                    "SELECT 'é' AS lit, CONVERT(X'F09F8E89' USING utf8mb4) AS emoji, HEX('é') AS hex"):
            e.q(cur, sql)
        if charset == "latin1":
            e.q(cur, "INSERT INTO cs VALUES (2, %s, %s, NULL)", ("über", "über"))
        e.q(cur, "SELECT id, u, l FROM cs ORDER BY id")
        conn.close()
    # Switching with SET NAMES on a live connection.
    conn = e.connect(charset="utf8mb4", autocommit=True)
    cur = conn.cursor()
    conn.set_charset("latin1")
    e.q(cur, variables)
    e.q(cur, "SELECT u, l FROM cs WHERE id = 1")
    conn.close()
    # The binary character set reached with SET NAMES instead of the handshake:
    # every string column then arrives as bytes.
    conn = e.connect(charset="utf8mb4", autocommit=True)
    cur = conn.cursor()
    e.q(cur, "SET NAMES binary")
    e.q(cur, variables)
    e.q(cur, "SELECT id, u, l, b, 'é' AS lit FROM cs ORDER BY id")
    e.q(cur, "INSERT INTO cs (id, b) VALUES (3, %s)", (b"\x00\x01\xfe\xff",))
    e.q(cur, "SELECT id, b, HEX(b) FROM cs WHERE id = 3")
    conn.close()


def sc_select_db(e):
    t = e.t
    conn = e.connect(autocommit=True)
    cur = conn.cursor()
    e.q(cur, "CREATE DATABASE %s" % e.db_b)
    e.q(cur, "CREATE TABLE in_a (x INT)")
    conn.select_db(e.db_b)
    t.log("select_db ok", hex(conn.server_status))
    e.q(cur, "SELECT DATABASE()")
    e.q(cur, "CREATE TABLE in_b (y INT)")
    e.q(cur, "INSERT INTO in_b VALUES (1), (2)")
    e.q(cur, "SELECT * FROM in_b")
    e.q(cur, "SELECT * FROM in_a")  # 1146: it is in the other database
    e.q(cur, "SHOW TABLES")
    try:
        conn.select_db("py_no_such_database_x")
        t.log("select_db unknown: no error")
    except Exception as ex:
        t.exc(ex)
    e.q(cur, "SELECT DATABASE()")
    conn.select_db(e.db)
    e.q(cur, "SELECT DATABASE()")
    e.q(cur, "SHOW TABLES")
    e.q(cur, "USE %s" % e.db_b)
    e.q(cur, "SELECT DATABASE()")
    e.q(cur, "DROP DATABASE %s" % e.db_b)
    e.q(cur, "SELECT DATABASE()")  # NULL after dropping the current database
    conn.close()
    # Connecting without a database.
    conn = e.connect(database=None)
    cur = conn.cursor()
    e.q(cur, "SELECT DATABASE()")
    e.q(cur, "SELECT * FROM in_a")  # 1046: no database selected
    conn.select_db(e.db)
    e.q(cur, "SELECT * FROM in_a")
    conn.close()


def sc_ping(e):
    t = e.t
    conn = e.connect()
    t.log("ping", repr(conn.ping(reconnect=False)), hex(conn.server_status))
    e.q(conn.cursor(), "SELECT 1")
    for _ in range(20):
        conn.ping(reconnect=False)
    t.log("pinged 20 times", hex(conn.server_status))
    conn.begin()
    conn.ping(reconnect=False)
    t.log("ping in transaction", hex(conn.server_status))
    conn.rollback()
    conn.close()
    try:
        conn.ping(reconnect=False)
        t.log("ping on closed connection: no error")
    except Exception as ex:
        t.exc(ex)


def sc_errors(e):
    t = e.t
    conn = e.connect(autocommit=True)
    cur = conn.cursor()
    e.q(cur, "CREATE TABLE er (id INT PRIMARY KEY, v VARCHAR(5) NOT NULL, g INT)")
    e.q(cur, "INSERT INTO er VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)")
    cases = [
        ("INSERT INTO er VALUES (1, 'dup', 1)", None),                      # IntegrityError 1062
        ("INSERT INTO er VALUES (9, NULL, 1)", None),                       # IntegrityError 1048
        ("SELEC 1", None),                                                  # ProgrammingError 1064
        ("SELECT * FROM no_such_table", None),                              # ProgrammingError 1146
        ("SELECT no_such_column FROM er", None),                            # OperationalError 1054
        ("INSERT INTO er VALUES (10, 'too long value', 1)", None),          # DataError 1406
        ("SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'boom ☠', MYSQL_ERRNO = 3000", None),
        ("SET STATEMENT max_statement_time=0.05 FOR SELECT SLEEP(2)", None),  # interrupted
        ("SELECT SLEEP(0.01), 'ok'", None),
        ("KILL 999999999", None),                                           # 1094 unknown thread
        ("DROP TABLE no_such_table", None),                                 # 1051
        ("SELECT %s", ("bad ' quote \\ and \x00 nul",)),
    ]
    for sql, args in cases:
        e.q(cur, sql, args)
        e.alive(conn)
    # An error after some rows were sent: the subquery returns two rows only for id 3.
    e.q(cur, "CREATE TABLE er2 (g INT)")
    e.q(cur, "INSERT INTO er2 VALUES (1), (2), (3), (3)")
    e.q(cur, "SELECT id, (SELECT g FROM er2 WHERE er2.g = er.id) FROM er ORDER BY id")
    e.alive(conn)
    with conn.cursor(pymysql.cursors.SSCursor) as ss:
        try:
            ss.execute("SELECT id, (SELECT g FROM er2 WHERE er2.g = er.id) FROM er ORDER BY id")
            t.log("  ss rows", repr(ss.fetchall()))
        except Exception as ex:
            t.exc(ex)
    e.alive(conn)
    # In a transaction, errors leave it open.
    conn.begin()
    e.q(cur, "INSERT INTO er VALUES (20, 'x', 1)")
    e.q(cur, "INSERT INTO er VALUES (20, 'x', 1)")
    t.log("  status in trans after error", hex(conn.server_status))
    conn.rollback()
    e.q(cur, "SELECT COUNT(*) FROM er")
    conn.close()


def sc_sscursor(e):
    t = e.t
    conn = e.connect(autocommit=True, cursorclass=pymysql.cursors.SSCursor)
    sql = "SELECT seq, CONCAT('row-', seq), REPEAT('x', 100 + seq % 50) FROM seq_1_to_20000"
    cur = conn.cursor()
    cur.execute(sql)
    t.log("  description", repr(cur.description), "rowcount", cur.rowcount)
    for _ in range(3):
        t.log("  row", repr(cur.fetchone()))
    t.log("  fetchmany", repr(cur.fetchmany(2)))
    cur.close()  # reads and discards the remaining 19,995 rows
    t.log("  closed after 5 rows", hex(conn.server_status))
    e.alive(conn)
    with conn.cursor() as cur:
        cur.execute(sql)
        h = hashlib.sha256()
        n = 0
        while True:
            rows = cur.fetchmany(997)
            if not rows:
                break
            for r in rows:
                h.update(repr(r).encode())
                n += 1
        t.log("  streamed all", n, h.hexdigest(), "rowcount", cur.rowcount)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM seq_1_to_20000")
        t.log("  count", repr(cur.fetchall()))
    # Iterating, then an error-free query right after breaking out.
    with conn.cursor() as cur:
        cur.execute(sql)
        for i, r in enumerate(cur):
            if i == 10:
                break
    e.alive(conn)
    # A connection closed in the middle of a stream; new connections work.
    c2 = e.connect(cursorclass=pymysql.cursors.SSCursor)
    cur = c2.cursor()
    cur.execute("SELECT seq, REPEAT('y', 1000) FROM seq_1_to_200000")
    t.log("  c2 first", repr(cur.fetchone()[0]))
    pending = c2._result
    c2.close()
    # The abandoned result would otherwise try to drain a closed socket when
    # garbage-collected (a noisy "Exception ignored" from PyMySQL).
    pending.unbuffered_active = False
    for _ in range(3):
        c3 = e.connect()
        e.alive(c3)
        c3.close()
    conn.close()


def sc_big_value(e):
    t = e.t
    conn = e.connect(autocommit=True)
    cur = conn.cursor()
    e.q(cur, "CREATE TABLE big (id INT PRIMARY KEY, v LONGBLOB, s LONGTEXT)")
    rnd = random.Random(20)
    blob = rnd.randbytes(20 * 1024 * 1024) if hasattr(rnd, "randbytes") else bytes(rnd.getrandbits(8) for _ in range(20 * 1024 * 1024))
    text = ("0123456789abcdef🎉" * (20 * 1024 * 1024 // 20))[: 20 * 1024 * 1024 // 2]
    t.log("  blob", short(blob), "text", short(text))
    e.q(cur, "INSERT INTO big (id, v) VALUES (1, %s)", (blob,))
    e.q(cur, "INSERT INTO big (id, s) VALUES (2, %s)", (text,))
    e.q(cur, "SELECT id, LENGTH(v), SHA2(v, 256), CHAR_LENGTH(s), SHA2(s, 256) FROM big ORDER BY id")
    e.q(cur, "SELECT id, v, s FROM big ORDER BY id")
    with conn.cursor(pymysql.cursors.SSCursor) as ss:
        ss.execute("SELECT v FROM big WHERE id = 1")
        got = ss.fetchone()[0]
        t.log("  streamed back equal", got == blob, short(got))
        ss.fetchall()
    # Packets at the 16 MiB boundary: a row of exactly 0xFFFFFF bytes (a 4-byte
    # length prefix + 16777211 bytes), which must be followed by an empty packet.
    for n in (16777210, 16777211, 16777212):
        e.q(cur, "SELECT REPEAT('a', %d) AS r" % n)
    # A client command of exactly 0xFFFFFF bytes (1 command byte + the SQL).
    prefix = "SELECT LENGTH('"
    suffix = "') AS n"
    sql = prefix + "b" * (0xFFFFFF - 1 - len(prefix) - len(suffix)) + suffix
    e.q(cur, sql)
    e.alive(conn)
    conn.close()


def sc_warnings(e):
    t = e.t
    conn = e.connect(autocommit=True)
    cur = conn.cursor()
    e.q(cur, "SET SESSION sql_mode = ''")
    e.q(cur, "CREATE TABLE w (a TINYINT, b VARCHAR(3), c INT NOT NULL)")
    e.q(cur, "SELECT 1/0, CAST('abc' AS INT), CAST('12x' AS DECIMAL)")
    t.log("  show_warnings", repr(conn.show_warnings()))
    e.q(cur, "INSERT INTO w VALUES (300, 'abcdef', NULL), (-300, 'x', 1)")
    t.log("  show_warnings", repr(conn.show_warnings()))
    e.q(cur, "SHOW COUNT(*) WARNINGS")
    e.q(cur, "SELECT @@warning_count, @@error_count")
    e.q(cur, "SELECT 1")
    t.log("  show_warnings after clean statement", repr(conn.show_warnings()))
    e.q(cur, "SELEC 1")
    e.q(cur, "SHOW ERRORS")
    e.q(cur, "SET SESSION max_error_count = 2")
    e.q(cur, "SELECT CAST('a' AS INT), CAST('b' AS INT), CAST('c' AS INT)")
    t.log("  show_warnings limited", repr(conn.show_warnings()))
    conn.close()


def sc_connect_errors(e):
    t = e.t
    for kw in ({"password": "wrong"}, {"password": ""}, {"user": "nosuchuser", "password": "x"}):
        try:
            c = e.connect(**kw)
            t.log("connect", kw, "succeeded")
            c.close()
        except Exception as ex:
            t.log("connect", sorted(kw))
            t.exc(ex, normalise_host=True)
    for db in ("py_no_such_database_x", "`weird`"):
        start = time.monotonic()
        try:
            c = e.connect(database=db)
            t.log("connect db", db, "succeeded")
            c.close()
        except Exception as ex:
            t.log("connect db", db)
            t.exc(ex)
        # The server refuses at once (about 10 ms here); a refusal that takes a
        # second is a difference an application feels. The bound is generous.
        t.log("  answered within 0.8s:", time.monotonic() - start < 0.8)
    # A failed login leaves nothing behind: the next one works.
    c = e.connect()
    e.alive(c)
    c.close()


def sc_many_connections(e):
    t = e.t
    # Session state must not leak from one connection to the next (the proxy
    # pools backend connections and resets them between clients).
    setup = e.connect(autocommit=True)
    e.q(setup.cursor(), "CREATE TABLE conns (i INT)")
    setup.close()
    charsets = ("utf8mb4", "latin1", "utf8", "binary")
    for i in range(100):
        kw = {"charset": charsets[i % 4], "autocommit": bool(i % 3 == 0)}
        if i % 10 == 5:
            kw["database"] = None
        try:
            c = e.connect(**kw)
            cur = c.cursor()
            cur.execute("SELECT @v, DATABASE(), @@autocommit, @@character_set_client, @@collation_connection, "
                        "@@session.sql_mode = @@global.sql_mode, @@session.time_zone, @@in_transaction")
            t.log(i, repr(cur.fetchall()), hex(c.server_status))
            try:
                # A temporary table of an earlier connection must not be visible.
                cur.execute("SELECT COUNT(*) FROM %s.tmp_conn" % e.db)
                t.log("  tmp_conn visible", repr(cur.fetchall()))
            except pymysql.err.ProgrammingError as ex:
                t.log("  no tmp_conn", ex.args[0])
            cur.execute("SET @v = %s, time_zone = '+05:00', sql_mode = 'ANSI_QUOTES'", (i,))
            cur.execute("CREATE TEMPORARY TABLE %s.tmp_conn (x INT)" % e.db)
            if kw["autocommit"]:
                cur.execute("INSERT INTO %s.conns VALUES (%%s)" % e.db, (i,))
            else:
                # Left uncommitted: closing must roll it back.
                cur.execute("INSERT INTO %s.conns VALUES (%%s)" % e.db, (-i,))
            c.close()
        except Exception as ex:
            t.log(i)
            t.exc(ex)
    time.sleep(0.2)  # a closed client's rollback happens after its COM_QUIT
    c = e.connect()
    cur = c.cursor()
    cur.execute("SELECT COUNT(*), SUM(i), MIN(i) FROM conns")
    t.log("committed", repr(cur.fetchall()))
    c.close()


def _connection_id(conn):
    with conn.cursor() as c:
        c.execute("SELECT CONNECTION_ID()")
        return c.fetchone()[0]


def _safe_victim(e):
    """A connection whose handshake thread id (conn.thread_id()) may be KILLed
    without risk to anything else. Directly it equals CONNECTION_ID(). Through a
    proxy it is the proxy's own session id; a proxy that forwarded `KILL <that id>`
    unmapped would reach whatever server thread has that number (app has
    CONNECTION ADMIN: replication's binlog dump threads included). So unless the id
    is the connection's own, only an id that no thread on the master (where every
    session's backend connection is) currently has is used; server thread ids only
    grow, so a number below the newest id is never handed out again."""
    probe = pymysql.connect(host=HOST, port=DIRECT_PORT, user=USER, password=PASSWORD, read_timeout=READ_TIMEOUT)
    try:
        for _ in range(50):
            conn = e.connect(autocommit=True)
            tid = conn.thread_id()
            if tid == _connection_id(conn):
                return conn
            with probe.cursor() as c:
                c.execute("SELECT COUNT(*), (SELECT MAX(ID) FROM information_schema.PROCESSLIST) "
                          "FROM information_schema.PROCESSLIST WHERE ID = %s", (tid,))
                taken, newest = c.fetchone()
            if not taken and tid < newest:
                return conn
            conn.close()
        raise RuntimeError("no connection with a thread id that is safe to KILL")
    finally:
        probe.close()


def sc_kill_thread_id(e):
    t = e.t
    b = e.connect(autocommit=True)
    # conn.kill(other.thread_id()): COM_PROCESS_KILL with the id from the greeting.
    a = _safe_victim(e)
    try:
        ok = b.kill(a.thread_id())
        t.log("kill(thread_id()) ->", type(ok).__name__, "affected_rows", getattr(ok, "affected_rows", None))
    except Exception as ex:
        t.exc(ex)
    time.sleep(0.2)
    try:
        with a.cursor() as c:
            c.execute("SELECT 'victim still alive'")
            t.log("  victim", repr(c.fetchall()), "open", a.open)
    except Exception as ex:
        t.exc(ex)
        t.log("  victim open", a.open)
    a.close() if a.open else None
    # Cancelling a running statement: KILL QUERY <thread_id()> from another connection.
    a = _safe_victim(e)
    outcome = []

    def sleeper():
        try:
            with a.cursor() as c:
                c.execute("SELECT SLEEP(5) AS s")
                outcome.append(("rows", c.fetchall()))
        except Exception as ex:
            outcome.append(("exc", type(ex).__name__, ex.args))

    th = threading.Thread(target=sleeper)
    start = time.monotonic()
    th.start()
    time.sleep(0.5)
    # (thread ids differ from run to run: the SQL is shown with a placeholder)
    e.q(b.cursor(), "KILL QUERY %d" % a.thread_id(), shown="KILL QUERY <a.thread_id()>")
    th.join(30)
    t.log("  sleeper", repr(outcome), "cancelled within 3s", time.monotonic() - start < 3)
    e.alive(a)
    a.close()
    # KILL with the server's own id (CONNECTION_ID()) from another connection.
    a = e.connect(autocommit=True)
    e.q(b.cursor(), "KILL %d" % _connection_id(a), shown="KILL <CONNECTION_ID() of a>")
    time.sleep(0.2)
    try:
        a.ping(reconnect=False)
        t.log("  ping after KILL: no error")
    except Exception as ex:
        t.exc(ex)
    b.close()


def sc_server_gone(e):
    t = e.t

    def attempt(label, fn, conn):
        try:
            t.log(label, repr(fn()), "open", conn.open)
        except Exception as ex:
            t.log(label)
            t.exc(ex)
            t.log("  open", conn.open)

    # The server kills the connection (KILL from another client).
    a = e.connect(autocommit=True)
    b = e.connect(autocommit=True)
    e.q(b.cursor(), "KILL CONNECTION %d" % _connection_id(a), shown="KILL CONNECTION <CONNECTION_ID() of a>")
    b.close()
    time.sleep(0.2)
    attempt("ping(reconnect=False) after KILL", lambda: a.ping(reconnect=False), a)
    attempt("ping(reconnect=False) again", lambda: a.ping(reconnect=False), a)
    attempt("ping(reconnect=True)", lambda: a.ping(reconnect=True), a)
    e.alive(a)
    a.close()
    # The server closes an idle connection (wait_timeout).
    d = e.connect(autocommit=True)
    e.q(d.cursor(), "SET SESSION wait_timeout = 1")
    time.sleep(2.5)
    attempt("query after wait_timeout", lambda: d.cursor().execute("SELECT 1"), d)
    attempt("query again", lambda: d.cursor().execute("SELECT 1"), d)
    attempt("ping(reconnect=False)", lambda: d.ping(reconnect=False), d)
    # A connection that kills itself.
    k = e.connect(autocommit=True)
    attempt("KILL CONNECTION_ID()", lambda: k.cursor().execute("KILL CONNECTION_ID()"), k)
    attempt("query after killing itself", lambda: k.cursor().execute("SELECT 1"), k)
    attempt("query again", lambda: k.cursor().execute("SELECT 1"), k)


SCENARIOS = [
    ("types", sc_types),
    ("executemany", sc_executemany),
    ("multi_statements", sc_multi_statements),
    ("callproc", sc_callproc),
    ("transactions", sc_transactions),
    ("load_data_local", sc_load_data),
    ("charsets", sc_charsets),
    ("select_db", sc_select_db),
    ("ping", sc_ping),
    ("errors", sc_errors),
    ("sscursor_20000", sc_sscursor),
    ("big_value_20mib", sc_big_value),
    ("show_warnings", sc_warnings),
    ("connect_errors", sc_connect_errors),
    ("100_connections", sc_many_connections),
    ("kill_thread_id", sc_kill_thread_id),
    ("server_gone", sc_server_gone),
]


def admin(port, sql):
    c = pymysql.connect(host=HOST, port=port, user=USER, password=PASSWORD, read_timeout=READ_TIMEOUT, autocommit=True)
    try:
        with c.cursor() as cur:
            cur.execute(sql)
    finally:
        c.close()


def run_all(label, port, suffix, names):
    db = "py_%s_%s" % (label, suffix)
    admin(port, "CREATE DATABASE %s CHARACTER SET utf8mb4" % db)
    transcripts = {}
    timings = {}
    try:
        for name, fn in SCENARIOS:
            if names and name not in names:
                continue
            t = Transcript(db)
            env = Env(label, port, db, t)
            start = time.monotonic()
            try:
                fn(env)
            except Exception as ex:
                # Anything a scenario did not expect is part of the transcript too.
                t.log("UNCAUGHT", "%s.%s" % (type(ex).__module__, type(ex).__name__), repr(ex.args)[:500])
                t.log("  at", t.norm(traceback.format_exc().strip().splitlines()[-3].strip()))
            timings[name] = time.monotonic() - start
            transcripts[name] = t.lines
    finally:
        for d in (db, db + "_b"):
            try:
                admin(port, "DROP DATABASE IF EXISTS %s" % d)
            except Exception as ex:
                print("warning: could not drop %s on port %d: %r" % (d, port, ex))
    return transcripts, timings


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    global DIRECT_PORT
    direct_port, proxy_port = int(sys.argv[1]), int(sys.argv[2])
    DIRECT_PORT = direct_port
    names = set(sys.argv[3:])
    unknown = names - {n for n, _ in SCENARIOS}
    if unknown:
        print("unknown scenarios:", sorted(unknown))
        sys.exit(2)
    print("pymysql %s, python %s" % (pymysql.__version__, sys.version.split()[0]))
    write_infiles()
    suffix = secrets.token_hex(4)
    direct, dt = run_all("direct", direct_port, suffix, names)
    proxy, pt = run_all("proxy", proxy_port, suffix, names)
    failed = []
    for name, _ in SCENARIOS:
        if name not in direct:
            continue
        a, b = direct[name], proxy[name]
        if a == b:
            print("PASS %-18s (%d transcript lines; direct %.2fs, proxy %.2fs)" % (name, len(a), dt[name], pt[name]))
        else:
            failed.append(name)
            print("FAIL %-18s (direct %.2fs, proxy %.2fs)" % (name, dt[name], pt[name]))
            diff = list(difflib.unified_diff(a, b, "direct", "proxy", lineterm="", n=3))
            for line in diff[:200]:
                print("    " + (line if len(line) < 600 else line[:600] + "..."))
            if len(diff) > 200:
                print("    ... %d more diff lines" % (len(diff) - 200))
    if os.environ.get("PYMYSQL_COMPAT_DUMP"):
        for name in direct:
            print("---- transcript (direct) %s" % name)
            for line in direct[name]:
                print("  " + (line if len(line) < 300 else line[:300] + "..."))
    print("%d scenarios, %d failed%s" % (len(direct), len(failed), (": " + ", ".join(failed)) if failed else ""))
    for f in (INFILE, BIG_INFILE):
        os.unlink(f)
    os.rmdir(WORKDIR)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
