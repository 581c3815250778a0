// Where each statement runs through rwsplit, with MariaDB Connector/J.
//
//   javac -d OUT -cp /usr/share/java/mariadb-java-client.jar JdbcRouting.java
//   java -cp OUT:/usr/share/java/mariadb-java-client.jar JdbcRouting HOST:PORT_DIRECT HOST:PORT_PROXY
//
// Prints one line per observation, checked by tests/client_routing.rs:
//
//   CASE <name> <expected target> <port the statement ran on>
//   CHECK <name> ok | CHECK <name> FAIL <why>
//   DONE
//
// Targets: master, replica (any replica), replicas (every replica, none of them
// the master), one-replica (the same replica every time), replica1, replica2, any.
// Ports come from the servers themselves: @@port in a read's result, or @@port
// stored by a write and read back. Everything runs in a fresh database
// (cr_jdbc_<random>), created through the proxy and dropped directly at the end.
// HOST:PORT_DIRECT (the master) answers what MariaDB itself does, to compare.

import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HexFormat;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class JdbcRouting {

    static final int MASTER = 13306;
    static final String SERVER_PREP = "useServerPrepStmts=true&cachePrepStmts=true";

    static String direct;
    static String proxy;
    static String db;
    /** Reads on this connection wait for the replicas to apply the writes so far. */
    static Connection probe;

    interface Body {
        void run() throws Exception;
    }

    interface Action {
        void run(Connection c) throws Exception;
    }

    // ---------------------------------------------------------------- reporting

    static void ran(String name, String expect, int port) {
        System.out.println("CASE " + name + " " + expect + " " + port);
    }

    static void check(String name, boolean ok, String why) {
        System.out.println("CHECK " + name + (ok ? " ok" : " FAIL " + why.replace('\n', ' ')));
    }

    static String describe(Throwable e) {
        String s = e.getClass().getSimpleName() + ": " + e.getMessage();
        if (e instanceof SQLException se) {
            s += " (code " + se.getErrorCode() + ", state " + se.getSQLState() + ")";
        }
        return s;
    }

    /** Runs a scenario; an exception it did not expect is a failure. */
    static void scenario(String name, Body body) {
        try {
            body.run();
        } catch (Throwable e) {
            check(name, false, "unexpected " + describe(e));
        }
    }

    // ---------------------------------------------------------------- helpers

    static Connection connect(String hostPort, String options) throws SQLException {
        String url = "jdbc:mariadb://" + hostPort + "/" + db + "?user=app&password=app";
        return DriverManager.getConnection(options.isEmpty() ? url : url + "&" + options);
    }

    static Connection proxy(String options) throws SQLException {
        return connect(proxy, options);
    }

    /** The first row of a result, every column as a string. */
    static String[] first(ResultSet rs) throws SQLException {
        try (rs) {
            if (!rs.next()) {
                throw new IllegalStateException("no row");
            }
            String[] row = new String[rs.getMetaData().getColumnCount()];
            for (int i = 0; i < row.length; i++) {
                row[i] = rs.getString(i + 1);
            }
            return row;
        }
    }

    static String[] query(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            return first(st.executeQuery(sql));
        }
    }

    static int port(Connection c, String sql) throws SQLException {
        return Integer.parseInt(query(c, sql)[0]);
    }

    /** `n` reads of `sql`, whose first column is @@port. */
    static void reads(String name, String expect, Connection c, String sql, int n) throws SQLException {
        for (int i = 0; i < n; i++) {
            ran(name, expect, port(c, sql));
        }
    }

    static void execute(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    /** An INSERT's generated id. */
    static long insert(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.executeUpdate(sql, Statement.RETURN_GENERATED_KEYS);
            try (ResultSet keys = st.getGeneratedKeys()) {
                if (!keys.next()) {
                    throw new IllegalStateException("no generated key for " + sql);
                }
                return keys.getLong(1);
            }
        }
    }

    /**
     * Where a write ran: the @@port it stored, read back through the proxy (which
     * must see it: read-your-writes).
     */
    static void stored(String name, String sql) throws Exception {
        try (Statement st = probe.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            if (!rs.next()) {
                check(name, false, "the write is not visible through the proxy: " + sql);
                return;
            }
            do {
                ran(name, "master", rs.getInt(1));
            } while (rs.next());
        }
    }

    /** The error code of an action, 0 if it succeeded. */
    static int errorCode(Connection c, Action action) {
        try {
            action.run(c);
            return 0;
        } catch (SQLException e) {
            return e.getErrorCode();
        } catch (Exception e) {
            return -1;
        }
    }

    /** The action fails (or not) through the proxy exactly as it does directly. */
    static void sameAsDirect(String name, String options, Action setup, Action action) throws Exception {
        int viaDirect;
        try (Connection d = connect(direct, options)) {
            setup.run(d);
            viaDirect = errorCode(d, action);
            execute(d, "ROLLBACK");
        }
        int viaProxy;
        try (Connection p = proxy(options)) {
            setup.run(p);
            viaProxy = errorCode(p, action);
            execute(p, "ROLLBACK");
        }
        check(name, viaDirect == viaProxy, "directly error " + viaDirect + ", through the proxy error " + viaProxy);
    }

    /**
     * Waits until both replicas have applied this proxy's writes so far (global
     * read-your-writes sends reads to the master until then): two reads in a row
     * answered by the two replicas.
     */
    static void settle() throws Exception {
        long deadline = System.nanoTime() + 30_000_000_000L;
        int previous = MASTER;
        while (true) {
            int p = port(probe, "SELECT @@port");
            if (p != MASTER && previous != MASTER && p != previous) {
                return;
            }
            if (System.nanoTime() > deadline) {
                // Reported, and the cases go on to show where their reads went.
                check("settle", false, "the replicas did not catch up within 30 s");
                return;
            }
            if (p == MASTER) {
                Thread.sleep(50);
            }
            previous = p;
        }
    }

    // ---------------------------------------------------------------- statement classes

    static void classes() throws Exception {
        try (Connection c = proxy("")) {
            scenario("select_constant", () -> {
                settle();
                reads("select_constant", "replicas", c, "SELECT @@port", 4);
            });
            scenario("select_table", () -> reads("select_table", "replicas", c, "SELECT @@port, COUNT(*) FROM t", 4));
            scenario("select_cte", () -> reads("select_cte", "replicas", c, "WITH x AS (SELECT @@port AS p) SELECT p FROM x", 4));
            scenario("select_nondeterministic",
                    () -> reads("select_nondeterministic", "replicas", c, "SELECT @@port, NOW(6), RAND(), UUID()", 4));
            scenario("show_variables", () -> {
                for (int i = 0; i < 4; i++) {
                    ran("show_variables", "replicas", Integer.parseInt(query(c, "SHOW VARIABLES LIKE 'port'")[1]));
                }
            });
            scenario("select_for_update", () -> reads("select_for_update", "master", c, "SELECT @@port FOR UPDATE", 2));
            scenario("select_lock_in_share_mode",
                    () -> reads("select_lock_in_share_mode", "master", c, "SELECT @@port FROM DUAL LOCK IN SHARE MODE", 2));
            scenario("insert", () -> {
                long id = insert(c, "INSERT INTO t (p, v) VALUES (@@port, 1)");
                stored("insert", "SELECT p FROM t WHERE id = " + id);
                scenario("update", () -> {
                    execute(c, "UPDATE t SET v = @@port WHERE id = " + id);
                    stored("update", "SELECT v FROM t WHERE id = " + id);
                });
            });
            scenario("insert_select", () -> {
                execute(c, "INSERT INTO t (p, v) SELECT @@port, 2");
                stored("insert_select", "SELECT p FROM t WHERE v = 2");
            });
            scenario("replace", () -> {
                execute(c, "REPLACE INTO t (id, p, v) VALUES (1000000, @@port, 3)");
                stored("replace", "SELECT p FROM t WHERE id = 1000000");
            });
            scenario("delete", () -> {
                try (Statement st = c.createStatement()) {
                    int n = st.executeUpdate("DELETE FROM t WHERE id = 1000000");
                    check("delete", n == 1, "DELETE affected " + n + " rows");
                }
            });
            scenario("create_table_select", () -> {
                execute(c, "CREATE TABLE t_ddl AS SELECT @@port AS p");
                stored("create_table_select", "SELECT p FROM t_ddl");
            });
            scenario("call", () -> {
                execute(c, "CALL p_ins(4)");
                stored("call", "SELECT p FROM t WHERE v = 4");
            });
            scenario("last_insert_id", () -> {
                long id = insert(c, "INSERT INTO t (p, v) VALUES (@@port, 5)");
                String[] row = query(c, "SELECT @@port, LAST_INSERT_ID()");
                ran("last_insert_id", "master", Integer.parseInt(row[0]));
                check("last_insert_id", Long.parseLong(row[1]) == id, "LAST_INSERT_ID() " + row[1] + ", inserted " + id);
            });
            scenario("found_rows", () -> {
                ran("found_rows", "master", port(c, "SELECT SQL_CALC_FOUND_ROWS @@port FROM seq_1_to_50 LIMIT 5"));
                String[] row = query(c, "SELECT @@port, FOUND_ROWS()");
                ran("found_rows", "master", Integer.parseInt(row[0]));
                check("found_rows", row[1].equals("50"), "FOUND_ROWS() " + row[1]);
            });
            scenario("session_state", () -> {
                settle();
                c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
                execute(c, "SET time_zone = '+02:00'");
                for (int i = 0; i < 4; i++) {
                    String[] row = query(c, "SELECT @@port, @@tx_isolation, @@time_zone, DATABASE()");
                    ran("session_state", "replicas", Integer.parseInt(row[0]));
                    check("session_state", row[1].equals("SERIALIZABLE") && row[2].equals("+02:00") && db.equals(row[3]),
                            String.join(",", row));
                }
            });
        }
        scenario("use_database", () -> {
            try (Connection c = DriverManager.getConnection("jdbc:mariadb://" + proxy + "/?user=app&password=app")) {
                c.setCatalog(db);
                for (int i = 0; i < 2; i++) {
                    String[] row = query(c, "SELECT @@port, DATABASE(), COUNT(*) FROM t");
                    ran("use_database", "replicas", Integer.parseInt(row[0]));
                    check("use_database", db.equals(row[1]), "DATABASE() " + row[1]);
                }
                execute(c, "USE mysql");
                execute(c, "USE " + db);
                for (int i = 0; i < 2; i++) {
                    String[] row = query(c, "SELECT @@port, DATABASE()");
                    ran("use_database", "replicas", Integer.parseInt(row[0]));
                    check("use_database", db.equals(row[1]), "DATABASE() " + row[1]);
                }
            }
        });
        scenario("multi_statement_reads", () -> {
            settle();
            try (Connection c = proxy("allowMultiQueries=true"); Statement st = c.createStatement()) {
                for (int i = 0; i < 2; i++) {
                    boolean more = st.execute("SELECT @@port; SELECT @@port");
                    while (more) {
                        ran("multi_statement_reads" + i, "one-replica", Integer.parseInt(first(st.getResultSet())[0]));
                        more = st.getMoreResults();
                    }
                }
                st.execute("SELECT @@port; INSERT INTO t (p, v) VALUES (@@port, 6)");
                ran("multi_statement_with_write", "master", Integer.parseInt(first(st.getResultSet())[0]));
                st.getMoreResults();
                stored("multi_statement_with_write", "SELECT p FROM t WHERE v = 6");
            }
        });
        // A stored function in another schema: the server reports a session
        // state change, which pins the session (untracked_state): own connections.
        scenario("stored_function", () -> {
            try (Connection c = proxy("")) {
                reads("stored_function", "master", c, "SELECT @@port, sys.version_major()", 2);
            }
        });
        // sys.format_statement() sets @sys.statement_truncate_len in the session:
        // later statements must see it, so they run where the function did.
        scenario("stored_function_user_variable", () -> {
            try (Connection c = proxy("")) {
                query(c, "SELECT sys.format_statement('SELECT 1')");
                for (int i = 0; i < 2; i++) {
                    String[] row = query(c, "SELECT @@port, @sys.statement_truncate_len");
                    ran("stored_function_user_variable", "master", Integer.parseInt(row[0]));
                    check("stored_function_user_variable", "64".equals(row[1]),
                            "@sys.statement_truncate_len " + row[1] + " on " + row[0]);
                }
            }
        });
        scenario("read_your_writes", () -> {
            try (Connection writer = proxy(""); Connection reader = proxy("")) {
                for (int i = 0; i < 10; i++) {
                    execute(writer, "INSERT INTO t (p, v) VALUES (@@port, " + (100 + i) + ")");
                    String[] row = query(reader, "SELECT @@port, COUNT(*) FROM t WHERE v = " + (100 + i));
                    ran("read_your_writes", "any", Integer.parseInt(row[0]));
                    check("read_your_writes", row[1].equals("1"), "a read right after the INSERT saw " + row[1] + " rows");
                }
            }
        });
    }

    // ---------------------------------------------------------------- hints

    static void hints() throws Exception {
        try (Connection c = proxy("")) {
            settle();
            scenario("hint_master", () -> reads("hint_master", "master", c, "/* rwsplit:master */ SELECT @@port", 2));
            scenario("hint_replica", () -> reads("hint_replica", "replica", c, "/* rwsplit:replica */ SELECT @@port", 2));
            scenario("hint_server_replica1",
                    () -> reads("hint_server_replica1", "replica1", c, "/* rwsplit:server=replica1 */ SELECT @@port", 3));
            scenario("hint_server_replica2",
                    () -> reads("hint_server_replica2", "replica2", c, "SELECT /* rwsplit:server=replica2 */ @@port", 3));
            scenario("hint_server_master",
                    () -> reads("hint_server_master", "master", c, "/* rwsplit:server=master */ SELECT @@port", 2));
            scenario("hint_maxscale_master",
                    () -> reads("hint_maxscale_master", "master", c, "SELECT @@port -- maxscale route to master", 2));
            scenario("hint_maxscale_slave",
                    () -> reads("hint_maxscale_slave", "replica", c, "SELECT @@port -- maxscale route to slave", 2));
            scenario("hint_maxscale_server",
                    () -> reads("hint_maxscale_server", "replica2", c, "SELECT @@port -- maxscale route to server replica2", 2));
            // Even a write goes where the hint says: a replica refuses it (1290).
            scenario("hint_replica_write", () -> {
                int code = errorCode(c, x -> execute(x, "/* rwsplit:replica */ INSERT INTO t (p, v) VALUES (@@port, 7)"));
                check("hint_replica_write", code == 1290, "error " + code + ", expected 1290 from a read_only replica");
            });
            scenario("hint_in_transaction", () -> {
                execute(c, "BEGIN");
                reads("hint_in_transaction", "master", c, "/* rwsplit:server=replica2 */ SELECT @@port", 2);
                execute(c, "COMMIT");
            });
        }
        scenario("hint_while_pinned", () -> {
            try (Connection c = proxy("")) {
                execute(c, "SET @pin = 1");
                reads("hint_while_pinned", "master", c, "/* rwsplit:server=replica2 */ SELECT @@port", 2);
            }
        });
    }

    // ---------------------------------------------------------------- transactions

    static void transactions() throws Exception {
        try (Connection c = proxy("")) {
            scenario("begin", () -> {
                execute(c, "BEGIN");
                reads("begin", "master", c, "SELECT @@port, COUNT(*) FROM t", 3);
                execute(c, "COMMIT");
                settle();
                reads("after_commit", "replicas", c, "SELECT @@port", 4);
            });
            scenario("start_transaction", () -> {
                execute(c, "START TRANSACTION");
                reads("start_transaction", "master", c, "SELECT @@port", 3);
                execute(c, "ROLLBACK");
            });
            scenario("start_transaction_read_write", () -> {
                execute(c, "START TRANSACTION READ WRITE");
                reads("start_transaction_read_write", "master", c, "SELECT @@port", 2);
                execute(c, "INSERT INTO t (p, v) VALUES (@@port, 10)");
                execute(c, "COMMIT");
                stored("start_transaction_read_write", "SELECT p FROM t WHERE v = 10");
            });
            scenario("read_only_transaction", () -> {
                settle();
                execute(c, "START TRANSACTION READ ONLY");
                reads("read_only_transaction", "one-replica", c, "SELECT @@port, COUNT(*) FROM t", 3);
                int viaProxy = errorCode(c, x -> execute(x, "INSERT INTO t (p, v) VALUES (@@port, 11)"));
                reads("read_only_transaction", "one-replica", c, "SELECT @@port", 1);
                execute(c, "COMMIT");
                int viaDirect;
                try (Connection d = connect(direct, "")) {
                    execute(d, "START TRANSACTION READ ONLY");
                    viaDirect = errorCode(d, x -> execute(x, "INSERT INTO t (p, v) VALUES (@@port, 11)"));
                    execute(d, "COMMIT");
                }
                check("read_only_transaction_write", viaProxy == viaDirect && viaDirect == 1792,
                        "a write in START TRANSACTION READ ONLY: error " + viaProxy + " through the proxy, " + viaDirect + " directly");
            });
            scenario("autocommit_false", () -> {
                c.setAutoCommit(false);
                reads("autocommit_false", "master", c, "SELECT @@port", 3);
                execute(c, "INSERT INTO t (p, v) VALUES (@@port, 12)");
                reads("autocommit_false", "master", c, "SELECT @@port", 1);
                c.commit();
                stored("autocommit_false", "SELECT p FROM t WHERE v = 12");
                // Still autocommit=0: every statement may open a transaction.
                reads("autocommit_false_after_commit", "master", c, "SELECT @@port", 2);
                c.setAutoCommit(true);
                settle();
                reads("autocommit_true_again", "replicas", c, "SELECT @@port", 4);
            });
            scenario("rollback", () -> {
                c.setAutoCommit(false);
                execute(c, "INSERT INTO t (p, v) VALUES (@@port, 13)");
                c.rollback();
                c.setAutoCommit(true);
                String n = query(probe, "SELECT COUNT(*) FROM t WHERE v = 13")[0];
                check("rollback", n.equals("0"), n + " rolled-back rows visible");
            });
            scenario("set_transaction_next", () -> {
                execute(c, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE");
                execute(c, "START TRANSACTION");
                reads("set_transaction_next", "master", c, "SELECT @@port", 2);
                execute(c, "INSERT INTO t (p, v) VALUES (@@port, 14)");
                execute(c, "COMMIT");
                stored("set_transaction_next", "SELECT p FROM t WHERE v = 14");
                settle();
                reads("set_transaction_next_done", "replicas", c, "SELECT @@port", 4);
            });
        }
        scenario("set_transaction_read_only_next", () -> sameAsDirect("set_transaction_read_only_next", "",
                x -> {
                    execute(x, "SET TRANSACTION READ ONLY");
                    execute(x, "START TRANSACTION");
                },
                x -> execute(x, "INSERT INTO t (p, v) VALUES (@@port, 15)")));
    }

    // ---------------------------------------------------------------- pins

    static void pins() throws Exception {
        scenario("user_variable", () -> {
            try (Connection c = proxy("")) {
                execute(c, "SET @v = 7");
                for (int i = 0; i < 3; i++) {
                    String[] row = query(c, "SELECT @@port, @v");
                    ran("user_variable", "master", Integer.parseInt(row[0]));
                    check("user_variable", "7".equals(row[1]), "@v = " + row[1]);
                }
            }
        });
        scenario("select_into_variable", () -> {
            try (Connection c = proxy("")) {
                execute(c, "SELECT @@port INTO @p");
                for (int i = 0; i < 2; i++) {
                    String[] row = query(c, "SELECT @@port, @p");
                    ran("select_into_variable", "master", Integer.parseInt(row[0]));
                    check("select_into_variable", row[0].equals(row[1]), "@p = " + row[1] + " read on " + row[0]);
                }
            }
        });
        scenario("assign_variable", () -> {
            try (Connection c = proxy("")) {
                ran("assign_variable", "master", port(c, "SELECT @x := @@port"));
                reads("assign_variable", "master", c, "SELECT @x", 2);
            }
        });
        scenario("temporary_table", () -> {
            try (Connection c = proxy("")) {
                execute(c, "CREATE TEMPORARY TABLE tmp (p INT)");
                execute(c, "INSERT INTO tmp VALUES (@@port)");
                for (int i = 0; i < 2; i++) {
                    String[] row = query(c, "SELECT @@port, p FROM tmp");
                    ran("temporary_table", "master", Integer.parseInt(row[0]));
                    ran("temporary_table", "master", Integer.parseInt(row[1]));
                }
                execute(c, "DROP TEMPORARY TABLE tmp");
                settle();
                reads("temporary_table_dropped", "replicas", c, "SELECT @@port", 4);
            }
        });
        scenario("lock_tables", () -> {
            try (Connection c = proxy("")) {
                execute(c, "LOCK TABLES t READ");
                reads("lock_tables", "master", c, "SELECT @@port, COUNT(*) FROM t", 2);
                execute(c, "UNLOCK TABLES");
                settle();
                reads("unlock_tables", "replicas", c, "SELECT @@port", 4);
            }
        });
        scenario("user_lock", () -> {
            try (Connection c = proxy("")) {
                String[] row = query(c, "SELECT @@port, GET_LOCK('" + db + "', 5)");
                ran("user_lock", "master", Integer.parseInt(row[0]));
                check("user_lock", "1".equals(row[1]), "GET_LOCK() " + row[1]);
                reads("user_lock", "master", c, "SELECT @@port, IS_USED_LOCK('" + db + "')", 2);
                reads("user_lock", "master", c, "SELECT @@port, RELEASE_LOCK('" + db + "')", 1);
            }
        });
        scenario("sql_prepare", () -> {
            try (Connection c = proxy("")) {
                execute(c, "PREPARE s FROM 'SELECT @@port'");
                reads("sql_prepare", "master", c, "EXECUTE s", 2);
                reads("sql_prepare", "master", c, "SELECT @@port", 2);
                execute(c, "DEALLOCATE PREPARE s");
            }
        });
        scenario("xa", () -> {
            try (Connection c = proxy("")) {
                String xid = "'" + db + "'";
                execute(c, "XA START " + xid);
                execute(c, "INSERT INTO t (p, v) VALUES (@@port, 16)");
                reads("xa", "master", c, "SELECT @@port", 2);
                execute(c, "XA END " + xid);
                execute(c, "XA PREPARE " + xid);
                execute(c, "XA COMMIT " + xid);
                reads("xa", "master", c, "SELECT @@port", 2);
                stored("xa", "SELECT p FROM t WHERE v = 16");
            }
        });
        scenario("connection_id", () -> {
            try (Connection c = proxy("")) {
                String id = null;
                for (int i = 0; i < 3; i++) {
                    String[] row = query(c, "SELECT @@port, CONNECTION_ID()");
                    ran("connection_id", "master", Integer.parseInt(row[0]));
                    check("connection_id", id == null || id.equals(row[1]), "CONNECTION_ID() " + row[1] + " then " + id);
                    id = row[1];
                }
            }
        });
        scenario("session_timeout", () -> {
            try (Connection c = proxy("")) {
                execute(c, "SET SESSION wait_timeout = 600");
                for (int i = 0; i < 2; i++) {
                    String[] row = query(c, "SELECT @@port, @@wait_timeout");
                    ran("session_timeout", "master", Integer.parseInt(row[0]));
                    check("session_timeout", "600".equals(row[1]), "@@wait_timeout " + row[1]);
                }
            }
        });
        scenario("warnings", () -> {
            try (Connection c = proxy("")) {
                settle();
                // The warning names the port of the server that ran the statement.
                ran("warnings", "one-replica", port(c, "SELECT @@port, CAST(CONCAT('x', @@port) AS INT)"));
                String[] w = query(c, "SHOW WARNINGS");
                Matcher m = Pattern.compile("'x(\\d+)'").matcher(w[2]);
                check("warnings", m.find(), "SHOW WARNINGS: " + String.join(",", w));
                ran("warnings", "one-replica", Integer.parseInt(m.group(1)));
                reads("warnings_released", "replicas", c, "SELECT @@port", 4);
            }
        });
        scenario("untracked_state", () -> {
            try (Connection c = proxy("")) {
                execute(c, "CALL p_tz()");
                for (int i = 0; i < 2; i++) {
                    String[] row = query(c, "SELECT @@port, @@time_zone");
                    ran("untracked_state", "master", Integer.parseInt(row[0]));
                    check("untracked_state", "+01:00".equals(row[1]), "@@time_zone " + row[1]);
                }
            }
        });
    }

    // ---------------------------------------------------------------- prepared statements

    static void prepared(String mode, String options, int base) throws Exception {
        try (Connection c = proxy(options)) {
            settle();
            scenario(mode + "_read", () -> {
                try (PreparedStatement ps = c.prepareStatement("SELECT @@port, ?")) {
                    for (int i = 0; i < 4; i++) {
                        ps.setInt(1, i);
                        ran(mode + "_read", "replicas", Integer.parseInt(first(ps.executeQuery())[0]));
                    }
                }
            });
            scenario(mode + "_read_table", () -> {
                try (PreparedStatement ps = c.prepareStatement("SELECT @@port, COUNT(*) FROM t WHERE v >= ?")) {
                    for (int i = 0; i < 4; i++) {
                        ps.setInt(1, i);
                        ran(mode + "_read_table", "replicas", Integer.parseInt(first(ps.executeQuery())[0]));
                    }
                }
            });
            scenario(mode + "_hint", () -> {
                try (PreparedStatement ps = c.prepareStatement("/* rwsplit:server=replica2 */ SELECT @@port, ?")) {
                    for (int i = 0; i < 2; i++) {
                        ps.setInt(1, i);
                        ran(mode + "_hint", "replica2", Integer.parseInt(first(ps.executeQuery())[0]));
                    }
                }
            });
            scenario(mode + "_for_update", () -> {
                try (PreparedStatement ps = c.prepareStatement("SELECT @@port, ? FOR UPDATE")) {
                    ps.setInt(1, 1);
                    ran(mode + "_for_update", "master", Integer.parseInt(first(ps.executeQuery())[0]));
                }
            });
            scenario(mode + "_insert", () -> {
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO t (p, v) VALUES (@@port, ?)",
                        Statement.RETURN_GENERATED_KEYS)) {
                    ps.setInt(1, base);
                    ps.executeUpdate();
                    stored(mode + "_insert", "SELECT p FROM t WHERE v = " + base);
                }
                try (PreparedStatement ps = c.prepareStatement("SELECT @@port, LAST_INSERT_ID(), ?")) {
                    ps.setInt(1, 0);
                    String[] row = first(ps.executeQuery());
                    ran(mode + "_last_insert_id", "master", Integer.parseInt(row[0]));
                    String max = query(probe, "SELECT MAX(id) FROM t WHERE v = " + base)[0];
                    check(mode + "_last_insert_id", row[1].equals(max), "LAST_INSERT_ID() " + row[1] + ", inserted " + max);
                }
            });
            scenario(mode + "_batch", () -> {
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO t (p, v) VALUES (@@port, ?)")) {
                    for (int i = 1; i <= 3; i++) {
                        ps.setInt(1, base + i);
                        ps.addBatch();
                    }
                    ps.executeBatch();
                }
                stored(mode + "_batch", "SELECT p FROM t WHERE v BETWEEN " + (base + 1) + " AND " + (base + 3));
                String n = query(probe, "SELECT COUNT(*) FROM t WHERE v BETWEEN " + (base + 1) + " AND " + (base + 3))[0];
                check(mode + "_batch", n.equals("3"), n + " batched rows");
            });
            scenario(mode + "_transaction", () -> {
                try (PreparedStatement ps = c.prepareStatement("SELECT @@port, ?")) {
                    ps.setInt(1, 1);
                    execute(c, "BEGIN");
                    for (int i = 0; i < 2; i++) {
                        ran(mode + "_transaction", "master", Integer.parseInt(first(ps.executeQuery())[0]));
                    }
                    execute(c, "COMMIT");
                    c.setAutoCommit(false);
                    for (int i = 0; i < 2; i++) {
                        ran(mode + "_autocommit_false", "master", Integer.parseInt(first(ps.executeQuery())[0]));
                    }
                    c.commit();
                    c.setAutoCommit(true);
                    settle();
                    execute(c, "START TRANSACTION READ ONLY");
                    for (int i = 0; i < 3; i++) {
                        ran(mode + "_read_only_transaction", "one-replica", Integer.parseInt(first(ps.executeQuery())[0]));
                    }
                    execute(c, "COMMIT");
                    for (int i = 0; i < 4; i++) {
                        ran(mode + "_after_transactions", "replicas", Integer.parseInt(first(ps.executeQuery())[0]));
                    }
                }
            });
        }
    }

    // ---------------------------------------------------------------- Connection.setReadOnly

    static void readOnly() throws Exception {
        // Without assureReadOnly, Connector/J 2.7 only records the flag: nothing
        // reaches the server, and a write succeeds as it does directly.
        scenario("read_only_flag", () -> {
            try (Connection c = proxy("")) {
                settle();
                c.setReadOnly(true);
                reads("read_only_flag", "replicas", c, "SELECT @@port", 4);
                try (Connection d = connect(direct, "")) {
                    d.setReadOnly(true);
                    int viaDirect = errorCode(d, x -> execute(x, "INSERT INTO t (p, v) VALUES (@@port, 20)"));
                    int viaProxy = errorCode(c, x -> execute(x, "INSERT INTO t (p, v) VALUES (@@port, 21)"));
                    check("read_only_flag_write", viaDirect == viaProxy, "error " + viaProxy + " through the proxy, " + viaDirect + " directly");
                }
                stored("read_only_flag_write", "SELECT p FROM t WHERE v = 21");
                c.setReadOnly(false);
            }
        });
        // With assureReadOnly=true, setReadOnly sends SET SESSION TRANSACTION READ
        // ONLY / READ WRITE.
        for (String mode : new String[] {"text", "server_prepared"}) {
            String options = "assureReadOnly=true" + (mode.equals("text") ? "" : "&" + SERVER_PREP);
            String name = "assure_read_only_" + mode;
            scenario(name, () -> {
                try (Connection c = proxy(options)) {
                    settle();
                    c.setReadOnly(true);
                    try (PreparedStatement ps = c.prepareStatement("SELECT @@port, @@tx_read_only, ?")) {
                        ps.setInt(1, 1);
                        for (int i = 0; i < 4; i++) {
                            String[] row = first(ps.executeQuery());
                            ran(name, "replicas", Integer.parseInt(row[0]));
                            check(name, "1".equals(row[1]), "@@tx_read_only " + row[1] + " on " + row[0]);
                        }
                    }
                    // A write fails as it does directly (1792), not with a replica's 1290.
                    int viaDirect;
                    try (Connection d = connect(direct, options)) {
                        d.setReadOnly(true);
                        viaDirect = errorCode(d, x -> execute(x, "INSERT INTO t (p, v) VALUES (@@port, 22)"));
                    }
                    int viaProxy = errorCode(c, x -> execute(x, "INSERT INTO t (p, v) VALUES (@@port, 22)"));
                    int viaProxyPrepared = errorCode(c, x -> {
                        try (PreparedStatement ps = x.prepareStatement("INSERT INTO t (p, v) VALUES (@@port, ?)")) {
                            ps.setInt(1, 22);
                            ps.executeUpdate();
                        }
                    });
                    check(name + "_write", viaDirect == 1792 && viaProxy == viaDirect && viaProxyPrepared == viaDirect,
                            "a write in a read-only session: error " + viaDirect + " directly, " + viaProxy
                                    + " through the proxy, " + viaProxyPrepared + " prepared through the proxy");
                    reads(name + "_after_failed_write", "replicas", c, "SELECT @@port", 4);
                    c.setAutoCommit(false);
                    reads(name + "_autocommit_false", "master", c, "SELECT @@port", 2);
                    c.commit();
                    c.setAutoCommit(true);
                    c.setReadOnly(false);
                    settle();
                    for (int i = 0; i < 4; i++) {
                        String[] row = query(c, "SELECT @@port, @@tx_read_only");
                        ran(name + "_off", "replicas", Integer.parseInt(row[0]));
                        check(name + "_off", "0".equals(row[1]), "@@tx_read_only " + row[1] + " on " + row[0]);
                    }
                    int v = mode.equals("text") ? 23 : 24;
                    try (PreparedStatement ps = c.prepareStatement("INSERT INTO t (p, v) VALUES (@@port, ?)")) {
                        ps.setInt(1, v);
                        ps.executeUpdate();
                    }
                    stored(name + "_off_write", "SELECT p FROM t WHERE v = " + v);
                }
            });
        }
    }

    // ---------------------------------------------------------------- main

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: java -cp DIR:mariadb-java-client.jar JdbcRouting HOST:PORT_DIRECT HOST:PORT_PROXY");
            System.exit(2);
        }
        direct = args[0];
        proxy = args[1];
        byte[] rnd = new byte[4];
        new SecureRandom().nextBytes(rnd);
        db = "cr_jdbc_" + HexFormat.of().formatHex(rnd);
        System.out.println("JdbcRouting: database " + db);
        try {
            try (Connection c = DriverManager.getConnection("jdbc:mariadb://" + proxy + "/?user=app&password=app")) {
                execute(c, "CREATE DATABASE " + db);
            }
            probe = proxy("");
            execute(probe, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, p INT, v INT)");
            execute(probe, "CREATE PROCEDURE p_ins(x INT) INSERT INTO t (p, v) VALUES (@@port, x)");
            execute(probe, "CREATE PROCEDURE p_tz() SET time_zone = '+01:00'");
            classes();
            hints();
            transactions();
            pins();
            prepared("client_prepared", "", 1000);
            prepared("server_prepared", SERVER_PREP, 2000);
            readOnly();
            probe.close();
        } finally {
            try (Connection c = DriverManager.getConnection("jdbc:mariadb://" + direct + "/?user=app&password=app")) {
                execute(c, "DROP DATABASE IF EXISTS " + db);
            }
        }
        System.out.println("DONE");
    }
}
