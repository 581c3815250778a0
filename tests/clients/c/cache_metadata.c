/*
 * Prepared statements through MariaDB Connector/C (libmariadb), the library
 * sysbench and most C/C++/PHP-mysqlnd-less applications use. Connector/C
 * negotiates MARIADB_CLIENT_CACHE_METADATA: executions then come without
 * column definitions unless they changed, and the client decodes rows with
 * the ones it cached. This program changes the table under two sessions'
 * statements and prints what each execution returned (columns, types, rows),
 * so that a run through the proxy can be compared with a run against the
 * server directly, line by line.
 *
 *   cache_metadata HOST PORT USER PASSWORD DATABASE
 *
 * Exit status 0 whatever the statements returned (errors are printed, as
 * they are part of the transcript); 2 when a connection cannot be made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mysql.h>

#define MAX_COLUMNS 16
#define VALUE_LEN 64

static MYSQL *open_session(const char *host, unsigned port, const char *user, const char *password, const char *db)
{
    MYSQL *m = mysql_init(NULL);
    if (!m || !mysql_real_connect(m, host, user, password, db, port, NULL, 0)) {
        fprintf(stderr, "connect failed: %s\n", m ? mysql_error(m) : "out of memory");
        exit(2);
    }
    return m;
}

static void query(MYSQL *m, const char *who, const char *sql)
{
    if (mysql_query(m, sql)) {
        printf("%s query error %u %s\n", who, mysql_errno(m), mysql_error(m));
        return;
    }
    MYSQL_RES *r = mysql_store_result(m);
    if (r)
        mysql_free_result(r);
}

static MYSQL_STMT *prepare(MYSQL *m, const char *who, const char *sql, int cursor)
{
    MYSQL_STMT *st = mysql_stmt_init(m);
    if (cursor) {
        unsigned long type = CURSOR_TYPE_READ_ONLY;
        mysql_stmt_attr_set(st, STMT_ATTR_CURSOR_TYPE, &type);
    }
    if (mysql_stmt_prepare(st, sql, strlen(sql))) {
        printf("%s prepare error %u %s\n", who, mysql_stmt_errno(st), mysql_stmt_error(st));
    } else {
        printf("%s prepared: %lu params, %u columns\n", who, mysql_stmt_param_count(st), mysql_stmt_field_count(st));
    }
    return st;
}

/* Executes with one integer parameter and prints the columns and rows. */
static void execute(MYSQL_STMT *st, const char *who, int arg)
{
    MYSQL_BIND param;
    memset(&param, 0, sizeof(param));
    param.buffer_type = MYSQL_TYPE_LONG;
    param.buffer = &arg;
    if (mysql_stmt_bind_param(st, &param) || mysql_stmt_execute(st)) {
        printf("%s execute(%d) error %u %s\n", who, arg, mysql_stmt_errno(st), mysql_stmt_error(st));
        return;
    }
    MYSQL_RES *meta = mysql_stmt_result_metadata(st);
    unsigned n = meta ? mysql_num_fields(meta) : 0;
    printf("%s execute(%d): %u columns", who, arg, n);
    if (n > MAX_COLUMNS) {
        printf(" (too many)\n");
        mysql_free_result(meta);
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        MYSQL_FIELD *f = mysql_fetch_field_direct(meta, i);
        printf(" %s.%s:%d/%lu", f->table, f->name, (int)f->type, f->length);
    }
    printf("\n");
    if (!meta)
        return;
    /* Columns are read one by one (mysql_stmt_fetch_column) rather than
     * bound: a bound result would make Connector/C refuse an execution whose
     * column count changed (2057), and the point is to see what it got. */
    if (mysql_stmt_store_result(st)) {
        printf("%s store error %u %s\n", who, mysql_stmt_errno(st), mysql_stmt_error(st));
        mysql_free_result(meta);
        return;
    }
    int rc;
    while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
        printf("%s   row:", who);
        for (unsigned i = 0; i < n; i++) {
            char value[VALUE_LEN];
            unsigned long length = 0;
            my_bool is_null = 0;
            MYSQL_BIND col;
            memset(&col, 0, sizeof(col));
            col.buffer_type = MYSQL_TYPE_STRING;
            col.buffer = value;
            col.buffer_length = VALUE_LEN;
            col.length = &length;
            col.is_null = &is_null;
            if (mysql_stmt_fetch_column(st, &col, i, 0))
                printf(" <error %u>", mysql_stmt_errno(st));
            else if (is_null)
                printf(" NULL");
            else
                printf(" '%.*s'", (int)(length < VALUE_LEN ? length : VALUE_LEN), value);
        }
        printf("\n");
    }
    if (rc != MYSQL_NO_DATA)
        printf("%s fetch ended with %d: %u %s\n", who, rc, mysql_stmt_errno(st), mysql_stmt_error(st));
    mysql_stmt_free_result(st);
    mysql_free_result(meta);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s HOST PORT USER PASSWORD DATABASE\n", argv[0]);
        return 2;
    }
    const char *host = argv[1], *user = argv[3], *password = argv[4], *db = argv[5];
    unsigned port = (unsigned)atoi(argv[2]);
    MYSQL *a = open_session(host, port, user, password, db);
    MYSQL *b = open_session(host, port, user, password, db);
    const char *sql = "SELECT * FROM cache_meta WHERE id >= ? ORDER BY id";

    query(a, "A", "DROP TABLE IF EXISTS cache_meta");
    query(a, "A", "CREATE TABLE cache_meta (id INT PRIMARY KEY, a VARCHAR(10))");
    query(a, "A", "INSERT INTO cache_meta VALUES (1, 'one'), (2, 'two')");

    MYSQL_STMT *sa = prepare(a, "A", sql, 0);
    execute(sa, "A", 1);
    execute(sa, "A", 2);
    MYSQL_STMT *sb = prepare(b, "B", sql, 0);
    execute(sb, "B", 1);

    /* A renamed, longer column (Connector/C refuses an execution whose column
     * count changed, 2057, so the changes keep the count): A's next execution
     * is the first since the change. */
    query(a, "A", "ALTER TABLE cache_meta CHANGE a label VARCHAR(20)");
    execute(sa, "A", 1);
    /* B waits for A's change to reach where it reads (its own write). */
    query(b, "B", "INSERT INTO cache_meta (id, label) VALUES (3, 'three')");
    execute(sb, "B", 2);
    execute(sa, "A", 3);
    execute(sb, "B", 3);

    /* Changed types, then a cursor over the result. */
    query(b, "B", "ALTER TABLE cache_meta MODIFY id BIGINT, MODIFY label VARCHAR(40) CHARACTER SET latin1");
    query(a, "A", "INSERT INTO cache_meta (id, label) VALUES (4, 'four')");
    execute(sa, "A", 1);
    execute(sb, "B", 4);
    MYSQL_STMT *sc = prepare(a, "A", sql, 1);
    execute(sc, "A cursor", 2);
    query(a, "A", "ALTER TABLE cache_meta CHANGE label name TEXT");
    execute(sc, "A cursor", 3);
    execute(sb, "B", 1);
    execute(sa, "A", 2);

    /* Steady state: alternating executions, no changes. */
    for (int i = 0; i < 20; i++) {
        execute(i % 2 ? sa : sb, i % 2 ? "A" : "B", 1 + i % 4);
    }
    query(a, "A", "DROP TABLE cache_meta");
    mysql_stmt_close(sa);
    mysql_stmt_close(sb);
    mysql_stmt_close(sc);
    mysql_close(a);
    mysql_close(b);
    return 0;
}
