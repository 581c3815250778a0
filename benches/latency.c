/*
 * The latency a proxy adds at one client thread, measured statement by
 * statement (benches/perf.sh, "latency probe").
 *
 * sysbench's own percentiles come from separate runs, one target after the
 * other; on this shared machine the direct runs alone moved by 20 % between
 * rounds, more than the difference between the proxies. Here one client
 * alternates between the targets in blocks of BLOCK statements (short enough
 * that all targets see the same moment of the machine, long enough that each
 * path stays warm), so drift hits every target alike and cancels in the
 * differences.
 *
 *   latency HOST USER PASSWORD DATABASE TABLES TABLE_SIZE STATEMENTS BLOCK \
 *           NAME:PORT [NAME:PORT ...]
 *
 * Each target gets sysbench's point select as a server-side prepared
 * statement through Connector/C (as sysbench --db-ps-mode=auto runs it):
 * SELECT c FROM sbtestN WHERE id=?, a random table and id per execution.
 * STATEMENTS executions per target, timed with CLOCK_MONOTONIC around
 * execute, store_result and free_result, after a warm-up of BLOCK each.
 * Prints one line per target:
 *
 *   NAME n=... p50=... p95=... p99=... mean=...   (microseconds)
 *
 * Exit status 2 on a connection or statement error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <mysql.h>

#define MAX_TARGETS 8
#define MAX_TABLES 64

struct target {
    const char *name;
    MYSQL *conn;
    MYSQL_STMT *stmt[MAX_TABLES];
    double *us;
    long n;
};

static void fail(const char *what, const char *name, const char *error)
{
    fprintf(stderr, "latency: %s (%s): %s\n", what, name, error);
    exit(2);
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *sorted, long n, double p)
{
    long rank = (long)(p / 100.0 * n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static void execute_one(struct target *t, int tables, long table_size, double *elapsed)
{
    int table = rand() % tables;
    long long id = 1 + rand() % table_size;
    MYSQL_STMT *s = t->stmt[table];
    MYSQL_BIND param;
    memset(&param, 0, sizeof param);
    param.buffer_type = MYSQL_TYPE_LONGLONG;
    param.buffer = &id;
    double started = now_us();
    if (mysql_stmt_bind_param(s, &param) || mysql_stmt_execute(s) || mysql_stmt_store_result(s))
        fail("execute", t->name, mysql_stmt_error(s));
    mysql_stmt_free_result(s);
    *elapsed = now_us() - started;
}

int main(int argc, char **argv)
{
    if (argc < 10) {
        fprintf(stderr, "usage: latency HOST USER PASSWORD DATABASE TABLES TABLE_SIZE STATEMENTS BLOCK NAME:PORT...\n");
        return 2;
    }
    const char *host = argv[1], *user = argv[2], *password = argv[3], *db = argv[4];
    int tables = atoi(argv[5]);
    long table_size = atol(argv[6]), statements = atol(argv[7]), block = atol(argv[8]);
    int n_targets = argc - 9;
    if (tables < 1 || tables > MAX_TABLES || table_size < 1 || statements < 1 || block < 1 || n_targets > MAX_TARGETS) {
        fprintf(stderr, "latency: bad arguments\n");
        return 2;
    }
    struct target targets[MAX_TARGETS];
    memset(targets, 0, sizeof targets);
    for (int i = 0; i < n_targets; i++) {
        struct target *t = &targets[i];
        char *colon = strrchr(argv[9 + i], ':');
        if (!colon)
            fail("target", argv[9 + i], "want NAME:PORT");
        *colon = '\0';
        t->name = argv[9 + i];
        unsigned port = (unsigned)atoi(colon + 1);
        t->conn = mysql_init(NULL);
        if (!t->conn || !mysql_real_connect(t->conn, host, user, password, db, port, NULL, 0))
            fail("connect", t->name, t->conn ? mysql_error(t->conn) : "out of memory");
        for (int k = 0; k < tables; k++) {
            char sql[64];
            snprintf(sql, sizeof sql, "SELECT c FROM sbtest%d WHERE id=?", k + 1);
            t->stmt[k] = mysql_stmt_init(t->conn);
            if (!t->stmt[k] || mysql_stmt_prepare(t->stmt[k], sql, strlen(sql)))
                fail("prepare", t->name, t->stmt[k] ? mysql_stmt_error(t->stmt[k]) : "out of memory");
        }
        t->us = malloc(sizeof(double) * statements);
        if (!t->us)
            fail("memory", t->name, "out of memory");
    }
    srand(12345);
    double ignored;
    for (int i = 0; i < n_targets; i++)
        for (long k = 0; k < block; k++)
            execute_one(&targets[i], tables, table_size, &ignored);
    /* Rotate the starting target each round so that none always runs first. */
    for (long round = 0; targets[0].n < statements; round++) {
        for (int j = 0; j < n_targets; j++) {
            struct target *t = &targets[(round + j) % n_targets];
            for (long k = 0; k < block && t->n < statements; k++)
                execute_one(t, tables, table_size, &t->us[t->n++]);
        }
    }
    for (int i = 0; i < n_targets; i++) {
        struct target *t = &targets[i];
        double sum = 0;
        for (long k = 0; k < t->n; k++)
            sum += t->us[k];
        qsort(t->us, t->n, sizeof(double), cmp_double);
        printf("%s n=%ld p50=%.1f p95=%.1f p99=%.1f mean=%.1f\n", t->name, t->n, percentile(t->us, t->n, 50),
               percentile(t->us, t->n, 95), percentile(t->us, t->n, 99), sum / t->n);
        for (int k = 0; k < tables; k++)
            mysql_stmt_close(t->stmt[k]);
        mysql_close(t->conn);
        free(t->us);
    }
    return 0;
}
