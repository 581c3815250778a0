#!/usr/bin/env bash
# End-to-end throughput comparison: sysbench straight to the master, through
# HAProxy (TCP mode, 1 thread) and through rwsplit, for four OLTP workloads,
# with each server's own query counters proving where the statements ran.
#
#   benches/sysbench.sh                 # from the repo root
#   DURATION=30 benches/sysbench.sh
#
# What it does, in one run:
#   1. tests/cluster/cluster.sh start (idempotent), cargo build --release;
#   2. prepares database `sbtest` on the master (TABLES x TABLE_SIZE rows) unless it
#      is already complete, then waits for every replica to reach the master's GTID
#      position (MASTER_GTID_WAIT) so read/write splitting runs see the data;
#   3. starts HAProxy (benches/haproxy.cfg, 127.0.0.1:6034) and rwsplit (a temp
#      copy of config/rwsplit.toml listening on 127.0.0.1:$RWSPLIT_PORT, log level
#      from RWSPLIT_LOG, default warn); a trap stops both on any exit;
#   4. for each workload and target: a short warm-up run, then a measured run with
#      --db-ps-mode=auto --mysql-ignore-errors=none, recording tps, p95 latency,
#      errors (with their MySQL error numbers), and the proxy's CPU time
#      (utime+stime from /proc/PID/stat) per query;
#      Around each measured run it also reads Com_select, Com_insert, Com_update,
#      Com_delete and Com_stmt_execute (SHOW GLOBAL STATUS, as the monitor user)
#      on the master and every replica, so the deltas show which server ran what;
#   5. prints two markdown tables (throughput with ratios to direct and to HAProxy
#      from the same run; per-server query counts with the replicas' share of the
#      selects) and the rwsplit/HAProxy and rwsplit/direct ratios of the read-only
#      workloads; exits 1 if any run had an error.
#
# Workloads (WORKLOADS): a sysbench Lua script name, or one with the suffix
# `_skip_trx`, which runs that script with `--skip_trx=on`:
#   oltp_point_select        one primary-key SELECT per transaction, autocommit:
#                            every statement may go to a replica;
#   oltp_read_only           sysbench wraps each transaction's 14 reads in BEGIN ...
#                            COMMIT, and a plain BEGIN (not START TRANSACTION READ
#                            ONLY, which rwsplit would run on one replica) keeps the
#                            whole transaction on the master: through rwsplit this
#                            measures the proxy's overhead, not read splitting;
#   oltp_read_only_skip_trx  the same reads without BEGIN/COMMIT (autocommit), so
#                            rwsplit spreads them over the replicas;
#   oltp_read_write          reads and writes in BEGIN ... COMMIT: all on the master.
# Direct and HAProxy runs put every statement on the master by construction.
#
# The per-server counters are global. A replica's Com_insert/update/delete also
# count replication applying the master's row events, so "writes" is about the
# same on every server whichever way the client went: only the master's count
# comes from clients (a write reaching a replica would fail with error 1290).
# A replica's Com_select also counts rwsplit's own read-your-writes checks
# (SELECT MASTER_GTID_WAIT before a read that follows writes), while sysbench's
# statements are prepared (--db-ps-mode=auto) and show in stmt_execute as well.
# Selects and stmt_execute also count anything else using the cluster at the same
# time (the proxies' monitors, other tests), so small numbers on a server that
# should be idle are noise; compare them with the run's sysbench query count
# (which includes BEGIN/COMMIT, executed as prepared statements with ps-mode auto).
#
# Environment (defaults in brackets):
#   DURATION [20]      seconds per measured run     WARMUP [3]   seconds of warm-up
#   ROUNDS [1]         runs per workload and target, interleaved (direct, haproxy,
#                      rwsplit, direct, ...); the table shows median tps and p95
#   IGNORE_ERRORS [1213]  --mysql-ignore-errors: sysbench retries InnoDB deadlocks
#                      (oltp_read_write at 16 threads hits one now and then, directly
#                      as through any proxy); ignored errors are shown, not failed;
#                      "none" makes any error fail the run
#   THREADS [16]       sysbench threads             TABLES [4]   TABLE_SIZE [10000]
#   WORKLOADS ["oltp_point_select oltp_read_only oltp_read_only_skip_trx oltp_read_write"]
#   RWSPLIT_PORT [6035]  RWSPLIT_LOG [warn]  NO_BUILD [unset: build]
#   MONITOR_USER [monitor]  MONITOR_PASSWORD [monitor]  reads the servers' counters
#   RESULTS_DIR [target/sysbench/<timestamp>]  raw sysbench output and proxy logs
#
# The machine running this is small: client, three MariaDB servers and the proxy
# share the cores, so absolute numbers mean little; compare rwsplit with HAProxy.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-3}"
ROUNDS="${ROUNDS:-1}"
# A deadlock is the workload's, not the proxy's (it happens directly too); every
# other error fails the run. sysbench's own default also ignores 1020 and 1205.
IGNORE_ERRORS="${IGNORE_ERRORS:-1213}"
THREADS="${THREADS:-16}"
TABLES="${TABLES:-4}"
TABLE_SIZE="${TABLE_SIZE:-10000}"
read -r -a WORKLOADS <<<"${WORKLOADS:-oltp_point_select oltp_read_only oltp_read_only_skip_trx oltp_read_write}"
MASTER_PORT="${RWSPLIT_MASTER_PORT:-13306}"
read -r -a REPLICA_PORTS <<<"${RWSPLIT_REPLICA_PORTS:-13307 13308}"
SERVER_PORTS=("$MASTER_PORT" "${REPLICA_PORTS[@]}")
# Short names for the counters table: master, replica1, replica2, ...
SERVER_NAMES=(master)
for ((i = 1; i <= ${#REPLICA_PORTS[@]}; i++)); do SERVER_NAMES+=("replica$i"); done
MONITOR_USER="${MONITOR_USER:-monitor}"
MONITOR_PASSWORD="${MONITOR_PASSWORD:-monitor}"
HAPROXY_CFG="$REPO_ROOT/benches/haproxy.cfg"
HAPROXY_PORT=6034 # must match the bind line in benches/haproxy.cfg
RWSPLIT_PORT="${RWSPLIT_PORT:-6035}"
RWSPLIT_LOG="${RWSPLIT_LOG:-warn}"
RWSPLIT_BIN="$REPO_ROOT/target/release/rwsplit"
DB_USER=app
DB_PASS=app
DB_NAME=sbtest
START_DEADLINE=30 # seconds for a proxy to accept connections
STOP_DEADLINE=15  # seconds for a proxy to exit on SIGTERM before SIGKILL
CLK_TCK="$(getconf CLK_TCK)"
RESULTS_DIR="${RESULTS_DIR:-$REPO_ROOT/target/sysbench/$(date +%Y%m%d-%H%M%S)}"

log() { printf 'sysbench.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in sysbench haproxy mariadb cargo getconf; do
    command -v "$tool" >/dev/null || die "$tool not found in PATH"
done
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a positive integer (got '$DURATION')"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer (got '$WARMUP')"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
grep -q "bind 127.0.0.1:$HAPROXY_PORT\$" "$HAPROXY_CFG" || die "$HAPROXY_CFG must bind 127.0.0.1:$HAPROXY_PORT"
for wl in "${WORKLOADS[@]}"; do
    [[ "$wl" =~ ^[a-z_]+$ ]] || die "bad workload name '$wl'"
done

mkdir -p "$RESULTS_DIR"
TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/rwsplit-sysbench.XXXXXX")"

# --- process lifecycle -------------------------------------------------------
declare -A PID_OF=() # name -> pid of a process this script started
cleanup() {
    local rc=$? name pid deadline
    trap - EXIT INT TERM
    for name in "${!PID_OF[@]}"; do
        kill -TERM "${PID_OF[$name]}" 2>/dev/null || true
    done
    for name in "${!PID_OF[@]}"; do
        pid="${PID_OF[$name]}"
        deadline=$((SECONDS + STOP_DEADLINE))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) still running ${STOP_DEADLINE}s after SIGTERM: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Fails if something else already listens on a port we are about to bind, so a
# stray process is never benchmarked by mistake.
require_free_port() {
    ! port_open "$1" || die "127.0.0.1:$1 is already in use (by: $(ss -ltnpH "sport = :$1" 2>/dev/null | sed 's/.*users://'))"
}

# Waits until `name` (pid) accepts a MySQL login on `port`, or dies with its log.
wait_ready() {
    local name=$1 pid=$2 port=$3 logf=$4 deadline=$((SECONDS + START_DEADLINE))
    until port_open "$port" && sql_tcp "$port" 'SELECT 1' >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$logf" >&2 || true
            die "$name exited during startup (log: $logf)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$logf" >&2 || true
            die "$name not accepting MySQL logins on 127.0.0.1:$port after ${START_DEADLINE}s"
        fi
        sleep 0.1
    done
}

# utime+stime of a process (all its threads), in clock ticks.
cpu_ticks() {
    local stat rest f
    stat="$(<"/proc/$1/stat")" || die "cannot read /proc/$1/stat (process gone?)"
    rest="${stat##*) }" # comm may contain spaces; fields restart after ") "
    read -r -a f <<<"$rest"
    # f[0] is field 3 (state); utime is field 14, stime field 15.
    echo $((f[11] + f[12]))
}

# --- SQL helpers ---------------------------------------------------------------
sql_root() { tests/cluster/cluster.sh sql "$1" -N -B "$2"; }
sql_tcp() {
    mariadb --no-defaults --connect-timeout=5 -h127.0.0.1 -P"$1" -u"$DB_USER" -p"$DB_PASS" -N -B -e "$2"
}

# The counters read around each measured run, in this order. SHOW GLOBAL STATUS
# counts as Com_show_status, not Com_select, so reading them does not disturb them.
COUNTERS=(Com_select Com_insert Com_update Com_delete Com_stmt_execute)
# "port:value ..." for every counter on every server, one line.
server_counters() {
    local port out
    for port in "${SERVER_PORTS[@]}"; do
        out="$(mariadb --no-defaults --connect-timeout=5 -h127.0.0.1 -P"$port" -u"$MONITOR_USER" -p"$MONITOR_PASSWORD" \
            -N -B -e "SHOW GLOBAL STATUS WHERE Variable_name IN ($(printf "'%s'," "${COUNTERS[@]}" | sed 's/,$//'))")" \
            || die "cannot read the counters of 127.0.0.1:$port as $MONITOR_USER"
        awk -v p="$port" '{ printf "%s:%s:%s ", p, $1, $2 }' <<<"$out"
    done
    echo
}
# Value of `counter` on `port` in a server_counters line (0 when absent).
counter_of() { # line port counter
    tr ' ' '\n' <<<"$1" | awk -F: -v p="$2" -v c="$3" '$1 == p && tolower($2) == tolower(c) { v = $3 } END { print v + 0 }'
}

# Workload name -> sysbench script and its extra options (see the header).
workload_script() { if [[ "$1" == *_skip_trx ]]; then echo "${1%_skip_trx}"; else echo "$1"; fi; }
workload_opts() { if [[ "$1" == *_skip_trx ]]; then echo "--skip_trx=on"; fi; }

sysbench_common=(
    --db-driver=mysql --mysql-host=127.0.0.1 --mysql-user="$DB_USER" --mysql-password="$DB_PASS"
    --mysql-db="$DB_NAME" --tables="$TABLES" --table-size="$TABLE_SIZE"
)

# --- 1. cluster and build ------------------------------------------------------
log "results and logs: $RESULTS_DIR"
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
log "starting the cluster (tests/cluster/cluster.sh start)"
tests/cluster/cluster.sh start >&2
if [[ -z "${NO_BUILD:-}" ]]; then
    log "building the release proxy"
    cargo build --release --bin rwsplit >&2
fi
[[ -x "$RWSPLIT_BIN" ]] || die "$RWSPLIT_BIN missing (build failed or NO_BUILD set without a build)"

# --- 2. dataset -------------------------------------------------------------------
dataset_complete() {
    local t n
    for ((t = 1; t <= TABLES; t++)); do
        n="$(sql_root "$MASTER_PORT" "SELECT COUNT(*) FROM \`$DB_NAME\`.sbtest$t" 2>/dev/null)" || return 1
        [[ "$n" == "$TABLE_SIZE" ]] || return 1
    done
}
sql_root "$MASTER_PORT" "CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`"
if dataset_complete; then
    log "dataset $DB_NAME ($TABLES x $TABLE_SIZE rows) already present: skipping prepare"
else
    log "preparing $DB_NAME: $TABLES tables x $TABLE_SIZE rows"
    sysbench oltp_common "${sysbench_common[@]}" --mysql-port="$MASTER_PORT" cleanup >"$RESULTS_DIR/cleanup.log" 2>&1 \
        || { cat "$RESULTS_DIR/cleanup.log" >&2; die "sysbench cleanup failed"; }
    sysbench oltp_common "${sysbench_common[@]}" --mysql-port="$MASTER_PORT" prepare >"$RESULTS_DIR/prepare.log" 2>&1 \
        || { cat "$RESULTS_DIR/prepare.log" >&2; die "sysbench prepare failed"; }
    dataset_complete || die "dataset incomplete after prepare (see $RESULTS_DIR/prepare.log)"
fi
gtid="$(sql_root "$MASTER_PORT" 'SELECT @@gtid_binlog_pos')"
for port in "${REPLICA_PORTS[@]}"; do
    log "waiting for replica $port to reach master GTID $gtid"
    res="$(sql_root "$port" "SELECT MASTER_GTID_WAIT('$gtid', 60)")"
    [[ "$res" == 0 ]] || die "replica $port did not reach GTID $gtid within 60s (MASTER_GTID_WAIT returned $res)"
done

# --- 3. proxies ------------------------------------------------------------------
require_free_port "$HAPROXY_PORT"
require_free_port "$RWSPLIT_PORT"

haproxy -c -q -f "$HAPROXY_CFG" >&2 || die "invalid $HAPROXY_CFG"
haproxy -f "$HAPROXY_CFG" -db >"$RESULTS_DIR/haproxy.log" 2>&1 &
PID_OF[haproxy]=$!

RWSPLIT_CFG="$TMP_DIR/rwsplit.toml"
# The data listener moves to $RWSPLIT_PORT; the admin port and the HTTP
# listener are left off so a demo proxy running alongside keeps 6032 and 8080.
sed -E -e "s/^listen[[:space:]]*=[[:space:]]*\"127.0.0.1:6033\"/listen = \"127.0.0.1:$RWSPLIT_PORT\"/" \
    -e "s/^listen[[:space:]]*=[[:space:]]*\"127.0.0.1:6032\"/listen = \"\"/" \
    -e "s/^listen[[:space:]]*=[[:space:]]*\"127.0.0.1:8080\"/listen = \"\"/" config/rwsplit.toml >"$RWSPLIT_CFG"
grep -q "^listen = \"127.0.0.1:$RWSPLIT_PORT\"" "$RWSPLIT_CFG" || die "could not set listen in the rwsplit config copy"
RWSPLIT_LOG="$RWSPLIT_LOG" "$RWSPLIT_BIN" --config "$RWSPLIT_CFG" >"$RESULTS_DIR/rwsplit.log" 2>&1 &
PID_OF[rwsplit]=$!

wait_ready haproxy "${PID_OF[haproxy]}" "$HAPROXY_PORT" "$RESULTS_DIR/haproxy.log"
wait_ready rwsplit "${PID_OF[rwsplit]}" "$RWSPLIT_PORT" "$RESULTS_DIR/rwsplit.log"
log "haproxy pid ${PID_OF[haproxy]} on :$HAPROXY_PORT, rwsplit pid ${PID_OF[rwsplit]} on :$RWSPLIT_PORT (RWSPLIT_LOG=$RWSPLIT_LOG)"

# --- 4. runs -----------------------------------------------------------------------
TARGETS=(direct haproxy rwsplit)
declare -A PORT_OF=([direct]="$MASTER_PORT" [haproxy]="$HAPROXY_PORT" [rwsplit]="$RWSPLIT_PORT")
# Per run, keyed "workload|target|round".
declare -A R_TPS=() R_P95=() R_Q=() R_TICKS=() R_ERRS=() R_IGN=() R_CODES=()
# Counter deltas of the measured runs, keyed "workload|target|round|port|counter".
declare -A R_CNT=()
any_errors=0

# Value from a sysbench report: `field` is the label before the colon.
report_value() { awk -v f="$2" -F': *' '$1 ~ "^ *"f"$" { split($2, a, " "); print a[1]; exit }' "$1"; }
report_rate() { awk -v f="$2" -F': *' '$1 ~ "^ *"f"$" { sub(/^[^(]*\(/, "", $2); split($2, a, " "); print a[1]; exit }' "$1"; }

sysbench_run() { # workload port seconds outfile
    local opts
    read -r -a opts <<<"$(workload_opts "$1")"
    sysbench "$(workload_script "$1")" "${sysbench_common[@]}" "${opts[@]}" --mysql-port="$2" --threads="$THREADS" \
        --time="$3" --report-interval=0 --percentile=95 --db-ps-mode=auto --mysql-ignore-errors="$IGNORE_ERRORS" \
        run >"$4" 2>&1
}

# Failed statements in a finished run: one per "returned error" FATAL line (sysbench
# then prints a second FATAL for the aborted thread); otherwise the FATAL lines;
# at least 1 when sysbench exited non-zero.
count_errors() { # outfile rc
    local n
    n="$(grep -c '^FATAL: .*returned error' "$1" || true)"
    ((n > 0)) || n="$(grep -c '^FATAL' "$1" || true)"
    if (($2 != 0 && n == 0)); then n=1; fi
    echo "$n"
}
# MySQL error numbers named by FATAL lines, comma-separated.
error_codes() {
    { grep '^FATAL' "$1" || true; } | grep -oE '(error|errno =) [0-9]+' | awk '{ print $NF }' | sort -un | paste -sd, -
}
show_errors() { # outfile
    grep -E '^(FATAL|ERROR|WARNING)|error' "$1" | head -n 20 >&2 || true
}

for wl in "${WORKLOADS[@]}"; do
    for ((round = 1; round <= ROUNDS; round++)); do
        for target in "${TARGETS[@]}"; do
            key="$wl|$target|$round"
            port="${PORT_OF[$target]}"
            out="$RESULTS_DIR/$wl.$target.$round.txt"
            pid="${PID_OF[$target]:-}"
            if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
                die "$target (pid $pid) is no longer running (log: $RESULTS_DIR/$target.log)"
            fi
            errs=0 codes=""
            if ((WARMUP > 0)); then
                rc=0
                sysbench_run "$wl" "$port" "$WARMUP" "$out.warmup" || rc=$?
                errs="$(count_errors "$out.warmup" "$rc")"
                if ((errs > 0)); then
                    codes="$(error_codes "$out.warmup")"
                    log "$wl via $target: warm-up failed (rc=$rc, output: $out.warmup):"
                    show_errors "$out.warmup"
                fi
            fi
            log "$wl via $target (127.0.0.1:$port), round $round/$ROUNDS: ${DURATION}s x $THREADS threads"
            counters_before="$(server_counters)"
            if [[ -n "$pid" ]]; then before="$(cpu_ticks "$pid")"; fi
            rc=0
            sysbench_run "$wl" "$port" "$DURATION" "$out" || rc=$?
            if [[ -n "$pid" ]]; then R_TICKS[$key]=$(($(cpu_ticks "$pid") - before)); fi
            counters_after="$(server_counters)"
            per_server=""
            for s in "${SERVER_PORTS[@]}"; do
                for c in "${COUNTERS[@]}"; do
                    R_CNT[$key|$s|$c]=$(($(counter_of "$counters_after" "$s" "$c") - $(counter_of "$counters_before" "$s" "$c")))
                done
                per_server+=" $s:${R_CNT[$key|$s|Com_select]}"
            done

            R_TPS[$key]="$(report_rate "$out" 'transactions')"
            R_P95[$key]="$(report_value "$out" '95th percentile')"
            R_Q[$key]="$(report_value "$out" 'queries')"
            R_IGN[$key]="$(report_value "$out" 'ignored errors')"
            n="$(count_errors "$out" "$rc")"
            errs=$((errs + n))
            if ((n > 0)); then
                codes="$(printf '%s\n' "$codes" "$(error_codes "$out")" | tr ',' '\n' | grep . | sort -un | paste -sd, -)" || true
                log "$wl via $target: $n error(s), sysbench rc=$rc; output: $out"
                show_errors "$out"
            fi
            R_ERRS[$key]="$errs"
            R_CODES[$key]="$codes"
            ((errs == 0)) || any_errors=1
            cpu=""
            if [[ -n "$pid" ]]; then
                cpu="$(awk -v t="${R_TICKS[$key]}" -v hz="$CLK_TCK" -v q="${R_Q[$key]:-0}" -v d="$DURATION" \
                    'BEGIN { printf "proxy_cpu=%sus/query (%.0f%% of a core)", (q > 0 ? sprintf("%.1f", t / hz * 1e6 / q) : "-"), t / hz / d * 100 }')"
            fi
            log "  tps=${R_TPS[$key]:--} p95=${R_P95[$key]:--}ms queries=${R_Q[$key]:--} errors=$errs ignored=${R_IGN[$key]:--} $cpu"
            log "  Com_select per server:$per_server"
        done
    done
done

# --- 5. report -----------------------------------------------------------------------
ratio() { # a b -> a/b with 2 decimals, "-" when either is missing
    if [[ -n "$1" && -n "$2" ]] && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
    else
        echo -
    fi
}
median() { # values... ("" ignored) -> median, empty when none
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' || true
}

# Aggregates over rounds: median tps and p95, summed errors, CPU over all queries,
# summed per-server counters.
declare -A TPS=() P95=() ERRS=() CPU_US=() ROUND_TPS=() CNT=()
for wl in "${WORKLOADS[@]}"; do
    for target in "${TARGETS[@]}"; do
        k="$wl|$target"
        tps=() p95=() errs=0 ign=0 ticks=0 queries=0 codes=""
        for ((round = 1; round <= ROUNDS; round++)); do
            key="$k|$round"
            tps+=("${R_TPS[$key]:-}")
            p95+=("${R_P95[$key]:-}")
            errs=$((errs + ${R_ERRS[$key]:-0}))
            ign=$((ign + ${R_IGN[$key]:-0}))
            ticks=$((ticks + ${R_TICKS[$key]:-0}))
            queries=$((queries + ${R_Q[$key]:-0}))
            codes+="${R_CODES[$key]:+,${R_CODES[$key]}}"
            for s in "${SERVER_PORTS[@]}"; do
                for c in "${COUNTERS[@]}"; do
                    CNT[$k|$s|$c]=$((${CNT[$k|$s|$c]:-0} + ${R_CNT[$key|$s|$c]:-0}))
                done
            done
        done
        TPS[$k]="$(median "${tps[@]}")"
        P95[$k]="$(median "${p95[@]}")"
        ROUND_TPS[$k]=""
        for v in "${tps[@]}"; do ROUND_TPS[$k]+="${ROUND_TPS[$k]:+ }${v:--}"; done
        codes="$(tr ',' '\n' <<<"$codes" | grep . | sort -un | paste -sd, - || true)"
        ERRS[$k]="$errs${codes:+ (error $codes)}"
        ((ign == 0)) || ERRS[$k]+=" +$ign ignored"
        if [[ "$target" != direct ]] && ((queries > 0)); then
            CPU_US[$k]="$(awk -v t="$ticks" -v hz="$CLK_TCK" -v q="$queries" 'BEGIN { printf "%.1f", t / hz * 1e6 / q }')"
        fi
    done
done

{
    echo
    echo "sysbench ${DURATION}s x $ROUNDS round(s), $THREADS threads, $TABLES x $TABLE_SIZE rows," \
        "--db-ps-mode=auto --mysql-ignore-errors=$IGNORE_ERRORS; $(nproc) CPUs;" \
        "load average at start: $LOAD_AT_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    ((ROUNDS == 1)) || echo "tps and p95 are medians over rounds; proxy CPU is over all rounds' queries."
    echo
    echo "| workload | target | tps | p95 ms | errors | proxy CPU µs/query | ratio to direct | ratio to HAProxy |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    for wl in "${WORKLOADS[@]}"; do
        for target in "${TARGETS[@]}"; do
            k="$wl|$target"
            printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$wl" "$target" \
                "${TPS[$k]:--}" "${P95[$k]:--}" "${ERRS[$k]}" "${CPU_US[$k]:--}" \
                "$(ratio "${TPS[$k]:-}" "${TPS[$wl|direct]:-}")" \
                "$(ratio "${TPS[$k]:-}" "${TPS[$wl|haproxy]:-}")"
        done
    done
    if ((ROUNDS > 1)); then
        echo
        echo "tps per round:"
        for wl in "${WORKLOADS[@]}"; do
            for target in "${TARGETS[@]}"; do echo "- $wl $target: ${ROUND_TPS[$wl|$target]}"; done
        done
    fi
    echo
    servers=""
    for i in "${!SERVER_PORTS[@]}"; do servers+="${servers:+, }${SERVER_NAMES[$i]} :${SERVER_PORTS[$i]}"; done
    echo "Statements each server ran during the measured runs (GLOBAL STATUS deltas, summed over rounds; $servers)."
    echo "writes = Com_insert + Com_update + Com_delete (on replicas: replication applying the master's);" \
        "a prepared execution counts in stmt_execute and as its statement's Com_*; other clients of the cluster add noise."
    echo
    names="$(IFS=/; echo "${SERVER_NAMES[*]}")"
    echo "| workload | target | sysbench queries | selects $names | replica share of selects | writes $names | stmt_execute $names |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for wl in "${WORKLOADS[@]}"; do
        for target in "${TARGETS[@]}"; do
            k="$wl|$target"
            sel=() wr=() ex=() sel_all=0 sel_rep=0 queries=0
            for ((round = 1; round <= ROUNDS; round++)); do queries=$((queries + ${R_Q[$k|$round]:-0})); done
            for s in "${SERVER_PORTS[@]}"; do
                n="${CNT[$k|$s|Com_select]:-0}"
                sel+=("$n")
                sel_all=$((sel_all + n))
                [[ "$s" == "$MASTER_PORT" ]] || sel_rep=$((sel_rep + n))
                wr+=("$((${CNT[$k|$s|Com_insert]:-0} + ${CNT[$k|$s|Com_update]:-0} + ${CNT[$k|$s|Com_delete]:-0}))")
                ex+=("${CNT[$k|$s|Com_stmt_execute]:-0}")
            done
            share="$(awk -v r="$sel_rep" -v a="$sel_all" 'BEGIN { if (a > 0) printf "%.0f%%", r / a * 100; else print "-" }')"
            printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$wl" "$target" "$queries" \
                "$(IFS=/; echo "${sel[*]}")" "$share" "$(IFS=/; echo "${wr[*]}")" "$(IFS=/; echo "${ex[*]}")"
        done
    done
    echo
    for wl in oltp_point_select oltp_read_only_skip_trx; do
        [[ -v "TPS[$wl|rwsplit]" ]] || continue
        target_note=""
        [[ "$wl" != oltp_point_select ]] || target_note=" (target >= 0.8)"
        echo "$wl tps ratios: rwsplit/direct = $(ratio "${TPS[$wl|rwsplit]:-}" "${TPS[$wl|direct]:-}")," \
            "haproxy/direct = $(ratio "${TPS[$wl|haproxy]:-}" "${TPS[$wl|direct]:-}")," \
            "rwsplit/haproxy = $(ratio "${TPS[$wl|rwsplit]:-}" "${TPS[$wl|haproxy]:-}")$target_note"
    done
} | tee "$RESULTS_DIR/summary.md"

proxy_lines="$(grep -cE 'WARN|ERROR' "$RESULTS_DIR/rwsplit.log" || true)"
if ((proxy_lines > 0)); then
    log "rwsplit logged $proxy_lines WARN/ERROR line(s); first ones:"
    grep -E 'WARN|ERROR' "$RESULTS_DIR/rwsplit.log" | head -n 10 >&2
fi
if ((any_errors)); then
    die "some runs had errors (raw output in $RESULTS_DIR)"
fi
log "all runs clean (raw output in $RESULTS_DIR)"
