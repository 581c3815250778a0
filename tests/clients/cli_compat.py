#!/usr/bin/env python3
"""The MariaDB command-line tools through rwsplit see the same as against the
master directly.

    cli_compat.py DIRECT_PORT PROXY_PORT [CASE...]

Runs the same SQL scripts and tools (mysql in --batch, --table, --column-type-info
and interactive mode on a pty, mysqladmin, mysqlshow, mysqldump, mysqlimport,
mysqlcheck) against both ports, each run in its own fresh databases
(cli_d_<rand> directly, cli_p_<rand> through the proxy: the same length, so that
--table column widths agree), and diffs exit codes, stdout and stderr after
normalising the database names to <db>. Prints PASS/FAIL per case with a unified
diff; exits 1 on any difference. Only the standard library is used.

Cases run in order and build on the tables earlier ones create (naming a single
case runs it against fresh databases, where it may only see errors).
CLI_COMPAT_DUMP=1 prints the direct transcripts too.
"""

import difflib
import hashlib
import os
import pty
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time

HOST = "127.0.0.1"
# The master, from the command line: also used to vet KILL targets.
DIRECT_PORT = None
USER = "app"
PASSWORD = "app"
# Per command; a hang (say in COM_FIELD_LIST during auto-rehash) is a failure, not
# a stuck test.
TIMEOUT = 60

WORK = tempfile.mkdtemp(prefix="cli_compat_")
# The tools read no option files (--no-defaults) and keep no history.
ENV = dict(os.environ, HOME=WORK, MYSQL_HISTFILE="/dev/null", TERM="dumb", LC_ALL="C.UTF-8")
for var in ("MYSQL_PWD", "MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_UNIX_PORT"):
    ENV.pop(var, None)

TIMING = re.compile(r"\((\d+ min )?\d+\.\d+ sec\)")


def tool(name):
    """mariadb-* names first (10.11 ships both; the mysql* ones are symlinks)."""
    alt = {"mysql": "mariadb", "mysqladmin": "mariadb-admin", "mysqlshow": "mariadb-show",
           "mysqldump": "mariadb-dump", "mysqlimport": "mariadb-import", "mysqlcheck": "mariadb-check"}
    for n in (alt.get(name), name):
        if n and shutil.which(n):
            return n
    raise SystemExit("%s not found" % name)


def summarise(line):
    if len(line) > 400:
        return "<line len=%d md5=%s head=%r>" % (len(line), hashlib.md5(line.encode("utf-8", "surrogateescape")).hexdigest(), line[:40])
    return line


class Run:
    def __init__(self, label, port, suffix):
        self.label = label
        self.port = port
        self.db = "cli_%s_%s" % (label[0], suffix)
        self.other = self.db + "_o"
        self.restored = self.db + "_r"
        self.lines = []

    def conn_args(self):
        # utf8mb4 explicitly: the client's default follows the locale (utf8mb3).
        return ["--no-defaults", "-h" + HOST, "-P%d" % self.port, "-u" + USER, "-p" + PASSWORD,
                "--default-character-set=utf8mb4"]

    def norm(self, text):
        return text.replace(self.db, "<db>")

    def log(self, *parts):
        self.lines.append(self.norm(" ".join(str(p) for p in parts)))

    def sql(self, text):
        """Script text with the placeholders for this run's databases filled in."""
        return text.replace("{db}", self.db).replace("{other}", self.other).replace("{work}", WORK)

    def exec(self, prog, args, stdin=None, conn=True, show=None, filt=None, view=None):
        """Runs a tool; records its arguments (without the connection options),
        exit code, stdout and stderr (`filt` applied to what is returned and
        recorded, `view` only to what is recorded). Returns (rc, stdout, stderr)."""
        argv = [tool(prog)] + (self.conn_args() if conn else []) + list(args)
        self.log("$", prog, show if show is not None else " ".join(args), "<<stdin" if stdin is not None else "")
        start = time.monotonic()
        try:
            p = subprocess.run(argv, input=stdin.encode() if isinstance(stdin, str) else stdin,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT, env=ENV, cwd=WORK)
            rc, out, err = p.returncode, p.stdout.decode("utf-8", "surrogateescape"), p.stderr.decode("utf-8", "surrogateescape")
        except subprocess.TimeoutExpired as e:
            rc, out, err = "TIMEOUT after %ds" % TIMEOUT, (e.stdout or b"").decode("utf-8", "replace"), (e.stderr or b"").decode("utf-8", "replace")
        self.elapsed = time.monotonic() - start
        if filt:
            out, err = filt(out), filt(err)
        self.log("exit", rc)
        for name, text in (("stdout", out), ("stderr", err)):
            text = view(text) if view else text
            if text:
                self.log(name + ":")
                for line in text.split("\n"):
                    self.log("  |" + summarise(line))
        return rc, out, err

    def exec_quiet(self, prog, args):
        """Runs a tool without recording anything (for values that differ by run)."""
        argv = [tool(prog)] + self.conn_args() + list(args)
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT, env=ENV, cwd=WORK)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

    def mysql(self, args, script, **kw):
        return self.exec("mysql", args, stdin=self.sql(script), **kw)

    def admin_sql(self, statement):
        """Setup statements; their failure would make every comparison moot."""
        argv = [tool("mysql")] + self.conn_args() + ["--batch", "-e", statement]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT, env=ENV)
        if p.returncode != 0:
            raise RuntimeError("%s on port %d: %s" % (statement, self.port, p.stderr.decode(errors="replace")))

    def interactive(self, args, lines, database=None, timeout=TIMEOUT, during=None, attempts=1):
        """The mysql CLI on a pseudo-terminal, as a person would use it: without
        --batch, so it builds its completion hash (auto-rehash) at startup. Each
        line is typed after the prompt appears. Terminal echo is off: whether the
        tty or the line editor echoes typed input depends on timing.

        `during` maps a line's index to fn(process, banner_connection_id), called
        once that line is typed, before waiting for the prompt; if it returns
        False the whole session is discarded and started again (up to `attempts`)."""
        argv = [tool("mysql")] + self.conn_args() + list(args) + ([database] if database else [])
        self.log("$ mysql (pty)", " ".join(args), database or "")
        for attempt in range(attempts):
            result = self._pty_session(argv, lines, timeout, during or {})
            if result is not None:
                break
        else:
            self.log("GAVE UP after %d attempts" % attempts)
            return
        rc, text = result
        text = text.replace("\r\n", "\n")
        # The server's thread id and statement timings differ between any two runs.
        text = re.sub(r"(Your MariaDB connection id is )\d+", r"\1<id>", text)
        text = re.sub(r"(Connection id: +)\d+", r"\1<id>", text)
        text = TIMING.sub("(<t> sec)", text)
        self.log("exit", rc)
        for line in text.split("\n"):
            self.log("  |" + summarise(line))

    def _pty_session(self, argv, lines, timeout, during):
        master, slave = pty.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        # A session of its own: libedit passes signals on with kill(0, ...), which
        # must not reach this script.
        p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=ENV, cwd=WORK, close_fds=True,
                             start_new_session=True)
        os.close(slave)
        buf = b""
        deadline = time.monotonic() + timeout

        def read_until(marker):
            """Reads until the output since the last line typed ends with a prompt
            (marker None: until the CLI exits)."""
            nonlocal buf
            since = len(buf)
            while time.monotonic() < deadline:
                if marker is not None and len(buf) > since and buf.rstrip().endswith(marker):
                    return True
                r, _, _ = select.select([master], [], [], 0.1)
                if r:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:
                        return marker is None
                    if not chunk:
                        return marker is None
                    buf += chunk
                elif marker is None and p.poll() is not None:
                    return True
            return False

        ok = read_until(b">")
        m = re.search(rb"connection id is (\d+)", buf)
        banner_id = int(m.group(1)) if m else None
        hung = None
        for i, line in enumerate(lines):
            if not ok:
                hung = hung or "startup"
                break
            os.write(master, (self.sql(line) + "\n").encode())
            if i in during and not during[i](p, banner_id):
                p.kill()
                p.wait()
                os.close(master)
                return None
            ok = read_until(b">" if line.strip() not in ("quit", "exit", "\\q") else None)
            if not ok:
                hung = line
        if hung:
            buf += ("\nHUNG: no prompt within %ds (after %r)" % (timeout, hung)).encode()
            p.kill()
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "killed"
        os.close(master)
        return rc, buf.decode("utf-8", "surrogateescape")


def probe(sql):
    """A query run directly on the master (DIRECT_PORT), outside any run."""
    argv = [tool("mysql"), "--no-defaults", "-h" + HOST, "-P%d" % DIRECT_PORT, "-u" + USER, "-p" + PASSWORD,
            "--batch", "--skip-column-names", "-e", sql]
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT, env=ENV).stdout.decode().split()


# --- cases ----------------------------------------------------------------

MAIN_SCRIPT = r"""
CREATE TABLE people (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(50) NOT NULL, city VARCHAR(50),
  born DATE, score DECIMAL(6,2), data BLOB, note TEXT) DEFAULT CHARSET=utf8mb4;
INSERT INTO people (name, city, born, score, data, note) VALUES
  ('Ada', 'London', '1815-12-10', 99.50, X'00FF10', 'tab\there'),
  ('Blaise', 'Clermont', '1623-06-19', NULL, NULL, 'new\nline and \\ backslash'),
  ('Zoë', 'Zürich 🎉', NULL, -1.25, '', NULL);
SELECT * FROM people ORDER BY id;
UPDATE people SET score = score + 1 WHERE score IS NOT NULL;
SELECT ROW_COUNT(), LAST_INSERT_ID();
DELETE FROM people WHERE name = 'nobody';
SELECT id, name, LENGTH(city), HEX(data) FROM people WHERE id > 1 ORDER BY id DESC;
SELECT COUNT(*), SUM(score), AVG(score), MIN(born), MAX(name) FROM people;
SELECT 1+1 AS two, NULL AS nothing, 'quote''s' AS q, 18446744073709551615 AS big, -9223372036854775808 AS small,
  1e-10 AS tiny, CAST('2024-02-29 12:34:56.789' AS DATETIME(3)) AS dt, TIME('-838:59:59') AS t, b'101' + 0 AS bits;
SELECT * FROM people WHERE 1 = 0;
CREATE INDEX idx_city ON people (city);
ALTER TABLE people ADD COLUMN extra JSON;
UPDATE people SET extra = JSON_OBJECT('k', id, 'name', name);
SELECT id, extra, JSON_EXTRACT(extra, '$.k') FROM people ORDER BY id;
SHOW CREATE TABLE people;
DESCRIBE people;
CREATE VIEW v_people AS SELECT id, UPPER(name) AS up FROM people;
SELECT * FROM v_people ORDER BY id;
CREATE TABLE kinds (t TINYINT UNSIGNED, e ENUM('x','y'), s SET('a','b'), f FLOAT, d DOUBLE, y YEAR, bt BIT(8), vb VARBINARY(8));
INSERT INTO kinds VALUES (255, 'y', 'a,b', 1.5, -2.25e100, 2024, b'10100101', 0x00ff00);
SELECT * FROM kinds;
SELECT 1/0, CAST('x' AS INT);
SHOW WARNINGS;
SELECT @@character_set_client, @@character_set_results, @@collation_connection, @@autocommit, DATABASE();
"""


def case_batch(r):
    r.mysql(["--batch", r.db], MAIN_SCRIPT)
    r.mysql(["--batch", "--skip-column-names", "--raw", r.db], "SELECT name, note, data FROM people ORDER BY id;")


def case_table(r):
    # The same statements on a fresh copy of the tables, printed as boxed tables.
    r.mysql(["--batch", r.db], "DROP VIEW v_people; DROP TABLE people, kinds;")
    r.mysql(["--table", r.db], MAIN_SCRIPT)


def case_column_type_info(r):
    # Verbose like an interactive session (statements echoed, "N rows in set",
    # timings normalised) and with each column's metadata printed.
    r.mysql(["--table", "--column-type-info", "-vvv", r.db],
            "SELECT * FROM people ORDER BY id;\nSELECT * FROM kinds;\nSELECT COUNT(*) AS n, 'x' AS lit, NULL AS nul FROM people;\n"
            "UPDATE people SET score = score WHERE id = 1;\nSHOW WARNINGS;\n",
            filt=lambda s: TIMING.sub("(<t> sec)", s))


def case_force_errors(r):
    script = ("CREATE TABLE f (id INT PRIMARY KEY, v VARCHAR(3) NOT NULL);\nINSERT INTO f VALUES (1, 'a');\n"
              "INSERT INTO f VALUES (1, 'dup');\nSELECT * FROM no_such_table;\nSELEC 1;\nINSERT INTO f VALUES (2, 'too long');\n"
              "INSERT INTO f VALUES (3, NULL);\nSIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'custom ☠', MYSQL_ERRNO = 3001;\n"
              "INSERT INTO f VALUES (4, 'd');\nSELECT * FROM f ORDER BY id;\n")
    r.mysql(["--batch", "--force", r.db], script)
    # Without --force the first error ends the script, exit code 1.
    r.mysql(["--batch", r.db], "DROP TABLE f;\n" + script)
    r.exec("mysql", ["--batch", r.db, "-e", "SELECT 1; SELECT * FROM nope; SELECT 2"])


def case_use_switching(r):
    script = """SELECT DATABASE();
USE {other};
SELECT DATABASE();
CREATE TABLE o (x INT);
INSERT INTO o VALUES (42);
USE {db}
SELECT DATABASE();
SELECT * FROM o;
SELECT * FROM {other}.o;
\\u {other}
SELECT DATABASE(), x FROM o;
USE no_such_db_cli;
SELECT DATABASE();
CREATE TEMPORARY TABLE tmp_keep (i INT);
connect {db};
SELECT DATABASE();
SELECT * FROM {other}.tmp_keep;
\\r {other}
SELECT DATABASE(), COUNT(*) FROM o;
"""
    r.mysql(["--batch", "--force", r.db], script)
    # The CLI connects without a database, then switches.
    r.mysql(["--batch"], "SELECT DATABASE();\nUSE {db};\nSELECT DATABASE(), COUNT(*) FROM people;\n")


def case_show_warnings(r):
    script = """SET SESSION sql_mode = '';
CREATE TABLE w (a TINYINT, b VARCHAR(3));
INSERT INTO w VALUES (300, 'abcdef'), (-300, 'ok');
SHOW WARNINGS;
SHOW COUNT(*) WARNINGS;
SELECT 1/0, CAST('x' AS INT);
SHOW WARNINGS LIMIT 1;
\\W
SELECT CAST('y' AS INT);
DROP TABLE IF EXISTS nosuch;
\\w
SELECT CAST('z' AS INT);
SELEC 1;
SHOW ERRORS;
SELECT @@warning_count, @@error_count;
"""
    r.mysql(["--batch", "--force", r.db], script)
    r.mysql(["--table", "--show-warnings", "--force", r.db],
            "SELECT 1/0;\nINSERT INTO w VALUES (999, 'toolong');\nSET sql_mode = '';\nINSERT INTO w VALUES (999, 'toolong');\n")


PROCEDURE_SCRIPT = r"""DELIMITER //
CREATE PROCEDURE two_sets(IN n INT)
BEGIN
  SELECT seq, CONCAT('row ', seq) AS label FROM seq_1_to_10 WHERE seq <= n;
  SELECT n * 2 AS doubled, 'second' AS what;
END//
CREATE PROCEDURE no_sets()
BEGIN
  UPDATE people SET score = score WHERE id = 1;
END//
CREATE PROCEDURE fails()
BEGIN
  SELECT 'before the error' AS first;
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'procedure failed';
END//
DELIMITER ;
CALL two_sets(3);
CALL two_sets(0);
CALL no_sets();
CALL fails();
SELECT 'after' AS still;
"""


def case_procedure(r):
    r.mysql(["--batch", "--force", r.db], PROCEDURE_SCRIPT)
    r.mysql(["--table", "--force", r.db], "CALL two_sets(2);\nCALL fails();\nCALL two_sets(1)\\G\n")


def write_files():
    with open(os.path.join(WORK, "people.csv"), "w", encoding="utf-8") as f:
        f.write("1,alice,Zürich\n2,bob,東京 🍣\n3,carol,\\N\n4,dave\n5,eve,x,extra\nnotanumber,frank,y\n")
    with open(os.path.join(WORK, "big.csv"), "w") as f:
        for i in range(50000):
            f.write("%d,%s\n" % (i, ("%07d" % i) * 12))
    # mysqlimport takes the table name from the file name.
    shutil.copy(os.path.join(WORK, "people.csv"), os.path.join(WORK, "imp.csv"))
    with open(os.path.join(WORK, "sourced.sql"), "w") as f:
        f.write("SELECT 'in sourced.sql' AS here, DATABASE() IS NOT NULL AS has_db;\n"
                "CREATE TABLE src (i INT);\nINSERT INTO src VALUES (1), (2);\n"
                "SELECT * FROM missing_in_source;\n"
                "source " + os.path.join(WORK, "nested.sql") + "\n"
                "SELECT SUM(i) FROM src;\n")
    with open(os.path.join(WORK, "nested.sql"), "w") as f:
        f.write("INSERT INTO src VALUES (40);\nSELECT 'nested' AS level, COUNT(*) FROM src;\n")
    with open(os.path.join(WORK, "big_insert.sql"), "w") as f:
        f.write("CREATE TABLE bigrow (id INT PRIMARY KEY, b LONGTEXT);\n")
        f.write("INSERT INTO bigrow VALUES (1, '%s');\n" % "".join(chr(97 + i % 26) for i in range(1 << 20)))
        f.write("INSERT INTO bigrow VALUES (2, REPEAT('é', 1048576));\n")


def case_load_data_local(r):
    script = """CREATE TABLE ld (id INT PRIMARY KEY, name VARCHAR(20), city VARCHAR(20)) DEFAULT CHARSET=utf8mb4;
LOAD DATA LOCAL INFILE '{work}/people.csv' INTO TABLE ld CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',';
SHOW WARNINGS;
SELECT * FROM ld ORDER BY id;
CREATE TABLE ldbig (id INT PRIMARY KEY, s VARCHAR(100));
LOAD DATA LOCAL INFILE '{work}/big.csv' INTO TABLE ldbig FIELDS TERMINATED BY ',';
SELECT COUNT(*), SUM(id), MD5(GROUP_CONCAT(s ORDER BY id SEPARATOR '')) FROM ldbig;
LOAD DATA LOCAL INFILE '{work}/does-not-exist.csv' INTO TABLE ld;
SELECT 'still connected' AS ok;
"""
    r.mysql(["--batch", "--force", "--local-infile=1", r.db], script)
    # Refused when the client does not enable it.
    r.mysql(["--batch", "--local-infile=0", r.db], "LOAD DATA LOCAL INFILE '{work}/people.csv' INTO TABLE ld;\n")
    r.exec("mysqlimport", ["--local", "--fields-terminated-by=,", "--ignore", r.db, os.path.join(WORK, "imp.csv")],
           show="--local --fields-terminated-by=, --ignore <db> imp.csv")
    r.mysql(["--batch", r.db], "CREATE TABLE imp LIKE ld;\n")
    r.exec("mysqlimport", ["--local", "--fields-terminated-by=,", "--ignore", r.db, os.path.join(WORK, "imp.csv")],
           show="--local --fields-terminated-by=, --ignore <db> imp.csv")
    r.mysql(["--batch", r.db], "SELECT * FROM imp ORDER BY id;\n")


def case_source(r):
    script = "SELECT 'before' AS b;\nsource {work}/sourced.sql\nSELECT 'between' AS b;\n\\. {work}/nested.sql\nSELECT 'after' AS b;\n"
    r.mysql(["--batch", "--force", r.db], script)
    r.exec("mysql", ["--batch", r.db, "-e", "source " + os.path.join(WORK, "nested.sql")], show="--batch <db> -e 'source nested.sql'")


def case_vertical(r):
    r.mysql(["--batch", r.db], "SELECT * FROM people ORDER BY id\\G\nSELECT 1 AS a, NULL AS b\\G\nSELECT * FROM people WHERE 0\\G\n")
    r.mysql(["--vertical", r.db], "SELECT id, name, extra FROM people ORDER BY id;\n")
    r.exec("mysql", ["--xml", r.db, "-e", "SELECT id, name, note FROM people ORDER BY id"])
    r.exec("mysql", ["--html", r.db, "-e", "SELECT id, name, note FROM people ORDER BY id"])


def case_big_row(r):
    with open(os.path.join(WORK, "big_insert.sql"), "rb") as f:
        r.exec("mysql", ["--batch", r.db], stdin=f.read(), show="--batch <db> < big_insert.sql")
    r.mysql(["--batch", r.db], "SELECT id, LENGTH(b), CHAR_LENGTH(b), MD5(b) FROM bigrow ORDER BY id;\n"
                               "SELECT * FROM bigrow ORDER BY id;\nSELECT REPEAT('x', 1048576) AS big, 'tail' AS t;\n")
    r.mysql(["--table", r.db], "SELECT b FROM bigrow WHERE id = 1;\n")


def case_charsets(r):
    for cs in ("utf8mb4", "latin1", "binary", "utf8"):
        r.mysql(["--batch", "--default-character-set=" + cs, r.db],
                "SELECT @@character_set_client, @@character_set_results, @@collation_connection;\n"
                "SELECT name, city FROM people ORDER BY id;\nSELECT 'é' AS e, HEX('é') AS h;\n")


def case_connect_errors(r):
    def client_address(s):
        # 1045's text names the client address as the server (or proxy) saw it.
        return re.sub(r"'(\w+)'@'[^']*'", r"'\1'@'<client>'", s)

    argv = ["--no-defaults", "-h" + HOST, "-P%d" % r.port, "-u" + USER]
    r.exec("mysql", argv + ["-pwrong", "-e", "SELECT 1"], conn=False, show="-uapp -pwrong -e 'SELECT 1'", filt=client_address)
    r.exec("mysql", argv + ["-e", "SELECT 1"], conn=False, show="-uapp (no password) -e 'SELECT 1'", filt=client_address)
    r.exec("mysql", ["--no-defaults", "-h" + HOST, "-P%d" % r.port, "-unosuchuser", "-px", "-e", "SELECT 1"], conn=False,
           show="-unosuchuser -px -e 'SELECT 1'", filt=client_address)
    r.exec("mysql", ["no_such_db_cli", "-e", "SELECT 1"])
    r.exec("mysqladmin", ["-pwrong", "ping"], show="-pwrong ping", filt=client_address)


def case_mysqladmin(r):
    r.exec("mysqladmin", ["ping"])
    # status counts the server's uptime, threads and queries: only its shape and
    # the exit code can be compared.
    rc, out, _ = r.exec("mysqladmin", ["status"], view=lambda s: re.sub(r"\d+(\.\d+)?", "<n>", s))
    r.log("status shape ok:", bool(re.fullmatch(r"Uptime: \d+  Threads: \d+  Questions: \d+  Slow queries: \d+  Opens: \d+  "
                                                 r"Open tables: \d+  Queries per second avg: \d+\.\d+\n", out)))
    r.exec("mysqladmin", ["--silent", "ping"])
    r.exec("mysqladmin", ["create", r.db + "_adm"], show="create <db>_adm")
    r.exec("mysqladmin", ["--force", "drop", r.db + "_adm"], show="--force drop <db>_adm")


def case_mysqlshow(r):
    r.exec("mysqlshow", [r.db])
    r.exec("mysqlshow", [r.db, "people"])
    r.exec("mysqlshow", [r.db, "kinds"])
    r.exec("mysqlshow", [r.db, "people", "n%"])
    r.exec("mysqlshow", ["--count", r.db])
    r.exec("mysqlshow", [r.db, "no_such_table"])
    r.exec("mysqlshow", ["no_such_db_cli"])
    r.exec("mysqlcheck", [r.db])


def case_auto_rehash(r):
    # No -A: at startup the CLI lists tables and asks for each table's columns
    # (COM_FIELD_LIST); `\#` and USE rebuild the list. Must neither hang nor differ.
    r.interactive([], ["SELECT COUNT(*) FROM people;", "\\#", "USE {other}", "SELECT * FROM o;", "\\#",
                       "USE {db}", "SHOW TABLES;", "quit"], database=r.db)
    r.interactive(["--auto-rehash", "--table"], ["SELECT id, name FROM people ORDER BY id;", "SELECT * FROM kinds\\G", "exit"],
                  database=r.db)
    r.interactive(["-A"], ["SELECT 1;", "quit"], database=r.db)


def case_ctrl_c(r):
    # Ctrl-C during a query: the CLI opens a second connection and sends
    # `KILL QUERY <id>` with the id from the first connection's greeting.
    marker = "ctrl-c-" + r.db  # unique to this run (and normalised to <db>)

    def press_ctrl_c(p, banner_id):
        time.sleep(0.7)
        # Directly, the greeting's id is the server thread running the query.
        # Through a proxy it is the proxy's own session id; a proxy forwarding
        # the KILL unmapped would reach the server thread of that number (app has
        # CONNECTION ADMIN), so only go ahead when no such thread exists apart
        # from our own (ids below the newest are never handed out again).
        row = probe("SELECT (SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %d "
                    "AND COALESCE(INFO, '') NOT LIKE '%%%s%%'), (SELECT MAX(ID) FROM information_schema.PROCESSLIST), "
                    "(SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %d AND INFO LIKE '%%%s%%')"
                    % (banner_id, marker, banner_id, marker))
        others, newest, ours = (int(x) for x in row)
        if others or (not ours and banner_id >= newest):
            return False
        p.send_signal(signal.SIGINT)
        return True

    start = time.monotonic()
    r.interactive(["-A"], ["SELECT SLEEP(8) AS s, '%s' AS m;" % marker, "SELECT 'after ctrl-c' AS still;", "quit"],
                  database=r.db, during={0: press_ctrl_c}, attempts=20)
    r.log("query cancelled within 5s:", time.monotonic() - start < 5)


def case_protocol_options(r):
    # Options the proxy may not offer (compression, TLS): the client must end up
    # where it does against the server.
    r.exec("mysql", ["--compress", "--batch", r.db, "-e", "SELECT COUNT(*), MAX(name) FROM people"])
    r.exec("mysql", ["--ssl", "--batch", r.db, "-e", "SELECT 'ssl if available' AS s"])
    r.exec("mysql", ["--ssl-verify-server-cert", "--batch", r.db, "-e", "SELECT 'must not run' AS s"])
    r.exec("mysqldump", ["--compress", "--skip-dump-date", "--compact", r.db, "people"])


def case_mysqladmin_kill(r):
    # The usual way to end a runaway query: find it in the process list, then
    # `mysqladmin kill <id>` with the server's thread id.
    marker = "mysqladmin-kill-" + r.db  # unique to this run (and normalised to <db>)
    argv = [tool("mysql")] + r.conn_args() + ["--batch", r.db, "-e", "SELECT SLEEP(20), '%s'" % marker]
    start = time.monotonic()
    bg = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    ids = []
    for attempt in range(50):
        time.sleep(0.1)
        # The thread running it, as the process list through the same port
        # shows it. Through the proxy that is one server's list, whichever the
        # read lands on (the query runs on a replica): a DBA asks each server
        # in turn, as the hint does here (a comment to the server directly).
        server = ("replica1", "replica2", "master")[attempt % 3]
        rc, out, _ = r.exec_quiet("mysql", ["--batch", "--skip-column-names", "--comments", "-e",
                                            "/* rwsplit:server=%s */ SELECT ID FROM information_schema.PROCESSLIST "
                                            "WHERE INFO LIKE '%%%s%%' AND INFO NOT LIKE '%%PROCESSLIST%%'"
                                            % (server, marker)])
        ids = out.split()
        if ids:
            break
    r.log("found the query in the process list:", len(ids) == 1)
    if ids:
        r.exec("mysqladmin", ["kill", ids[0]], show="kill <thread id of the query>")
    try:
        out, err = bg.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        bg.kill()
        out, err = bg.communicate()
    r.log("the killed client: exit", bg.returncode, "within 10s:", time.monotonic() - start < 10)
    for line in (out + err).decode("utf-8", "replace").split("\n"):
        r.log("  |" + line)
    r.exec("mysql", ["--batch", r.db, "-e", "SELECT 'others unaffected' AS s"])


def case_server_gone(r):
    # The server ends the connection: the client must see what it sees when the
    # server itself goes away.
    r.mysql(["--batch", "--force", r.db], "KILL CONNECTION_ID();\nSELECT 'after kill';\nSELECT 2;\n")
    r.mysql(["--batch", "--force", r.db], "SET SESSION wait_timeout = 1;\n\\! sleep 2\nSELECT 'after idle timeout';\nSELECT 2;\n")
    # Interactive sessions reconnect by themselves.
    r.interactive(["-A"], ["KILL CONNECTION_ID();", "SELECT 'reconnected' AS r, DATABASE();", "quit"], database=r.db)
    r.interactive(["-A"], ["SET SESSION wait_timeout = 1;", "\\! sleep 2", "SELECT 'reconnected' AS r;", "quit"],
                  database=r.db)



def collapse_rows(text):
    """Runs of dumped row lines ("(1,'a'),") become one line with their count and
    hash: a 50,000-row table stays comparable without a 50,000-line transcript."""
    out, run = [], []

    def flush():
        if run:
            out.append("<%d row lines md5=%s>" % (len(run), hashlib.md5("\n".join(run).encode("utf-8", "surrogateescape")).hexdigest()))
            run.clear()

    for line in text.split("\n"):
        if line.startswith("("):
            run.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return "\n".join(out)


def strip_dump(text):
    # The dump's date and the host/server comment lines are not part of the data
    # (the task says to strip them); nothing else is touched.
    out = []
    for line in text.split("\n"):
        if line.startswith("-- Dump completed on") or line.startswith("-- Host:") or line.startswith("-- Server version"):
            continue
        out.append(line)
    return "\n".join(out)


def case_mysqldump(r):
    # (No trigger in the database: creating one needs SUPER with binary logging on.)
    opts = ["--routines", "--triggers", "--events", "--hex-blob"]
    rc, dump, _ = r.exec("mysqldump", opts + [r.db], filt=strip_dump, view=collapse_rows)
    # Another flavour: one transaction, extended inserts off, complete inserts.
    r.exec("mysqldump", ["--single-transaction", "--skip-extended-insert", "--complete-insert", r.db, "people", "kinds"],
           filt=strip_dump)
    # Restore the dump through the same port into a fresh database and dump that.
    r.admin_sql("CREATE DATABASE %s" % r.restored)
    r.exec("mysql", ["--batch", r.restored], stdin=dump, show="--batch <db>_r < dump")
    rc2, dump2, _ = r.exec("mysqldump", opts + [r.restored], show="... <db>_r (dump of the restored copy)", filt=strip_dump,
                           view=collapse_rows)
    original, copy = r.norm(dump), r.norm(dump2).replace("<db>_r", "<db>")
    r.log("restored copy dumps identically to the original:", original == copy)
    for line in list(difflib.unified_diff(original.split("\n"), copy.split("\n"), lineterm=""))[:40]:
        r.log("  restore-diff", summarise(line))
    r.mysql(["--batch", r.restored], "SELECT COUNT(*) FROM people;\nCALL two_sets(2);\nSELECT * FROM v_people ORDER BY id;\n")


CASES = [
    ("batch", case_batch),
    ("table", case_table),
    ("column_type_info", case_column_type_info),
    ("force_errors", case_force_errors),
    ("use_switching", case_use_switching),
    ("show_warnings", case_show_warnings),
    ("procedure_multi_results", case_procedure),
    ("load_data_local", case_load_data_local),
    ("source", case_source),
    ("vertical_G", case_vertical),
    ("big_row_1mib", case_big_row),
    ("charsets", case_charsets),
    ("connect_errors", case_connect_errors),
    ("mysqladmin", case_mysqladmin),
    ("mysqlshow", case_mysqlshow),
    ("auto_rehash", case_auto_rehash),
    ("ctrl_c_kill_query", case_ctrl_c),
    ("server_gone", case_server_gone),
    ("mysqladmin_kill", case_mysqladmin_kill),
    ("protocol_options", case_protocol_options),
    ("mysqldump_restore", case_mysqldump),
]


def run_all(label, port, suffix, names):
    r0 = Run(label, port, suffix)
    for d in (r0.db, r0.other, r0.restored):
        r0.admin_sql("DROP DATABASE IF EXISTS %s" % d)
    r0.admin_sql("CREATE DATABASE %s CHARACTER SET utf8mb4" % r0.db)
    r0.admin_sql("CREATE DATABASE %s CHARACTER SET utf8mb4" % r0.other)
    results, timings = {}, {}
    try:
        for name, fn in CASES:
            if names and name not in names:
                continue
            r = Run(label, port, suffix)
            start = time.monotonic()
            try:
                fn(r)
            except Exception as e:  # recorded: a crash in one run is a difference too
                r.log("UNCAUGHT", type(e).__name__, str(e)[:300])
            timings[name] = time.monotonic() - start
            results[name] = r.lines
    finally:
        for d in (r0.db, r0.other, r0.restored, r0.db + "_adm"):
            try:
                r0.admin_sql("DROP DATABASE IF EXISTS %s" % d)
            except Exception as e:
                print("warning: could not drop %s: %s" % (d, e))
    return results, timings


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    global DIRECT_PORT
    direct_port, proxy_port = int(sys.argv[1]), int(sys.argv[2])
    DIRECT_PORT = direct_port
    names = set(sys.argv[3:])
    unknown = names - {n for n, _ in CASES}
    if unknown:
        print("unknown cases:", sorted(unknown))
        sys.exit(2)
    version = subprocess.run([tool("mysql"), "--version"], stdout=subprocess.PIPE, env=ENV).stdout.decode().strip()
    print(version)
    write_files()
    suffix = secrets.token_hex(4)
    direct, dt = run_all("direct", direct_port, suffix, names)
    proxy, pt = run_all("proxy", proxy_port, suffix, names)
    failed = []
    for name, _ in CASES:
        if name not in direct:
            continue
        a, b = direct[name], proxy[name]
        if a == b:
            print("PASS %-24s (%d transcript lines; direct %.2fs, proxy %.2fs)" % (name, len(a), dt[name], pt[name]))
        else:
            failed.append(name)
            print("FAIL %-24s (direct %.2fs, proxy %.2fs)" % (name, dt[name], pt[name]))
            diff = list(difflib.unified_diff(a, b, "direct", "proxy", lineterm="", n=4))
            for line in diff[:200]:
                print("    " + line)
            if len(diff) > 200:
                print("    ... %d more diff lines" % (len(diff) - 200))
    if os.environ.get("CLI_COMPAT_DUMP"):
        for name in direct:
            print("---- transcript (direct) %s" % name)
            for line in direct[name]:
                print("  " + line)
    print("%d cases, %d failed%s" % (len(direct), len(failed), (": " + ", ".join(failed)) if failed else ""))
    shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
