# shellcheck shell=bash
# Shared parts of the benchmark scripts (benches/sysbench.sh, benches/perf.sh,
# benches/profile.sh): settings, process lifecycle, the cluster and its dataset,
# starting HAProxy and rwsplit, running sysbench and reading its report.
# Sourced, not run: the caller sets `set -euo pipefail` and BENCH_NAME (the prefix
# of log lines), may override any setting below before calling bench_init.
#
# Environment shared by every script (defaults in brackets):
#   TABLES [4]  TABLE_SIZE [10000]        the sysbench dataset (database sbtest)
#   IGNORE_ERRORS [1213]                  sysbench --mysql-ignore-errors
#   RWSPLIT_PORT [6035]  RWSPLIT_LOG [warn]  NO_BUILD [unset: cargo build --release]
#   MONITOR_USER [monitor]  MONITOR_PASSWORD [monitor]  reads the servers' counters
#   RWSPLIT_MASTER_PORT [13306]  RWSPLIT_REPLICA_PORTS ["13307 13308"]  the cluster
#   RWSPLIT_CLUSTER_DIR                   passed on to tests/cluster/cluster.sh
#   RESULTS_DIR [target/<script>/<timestamp>]  raw output and proxy logs
# HAProxy's ports are the bind lines of benches/haproxy.cfg (see haproxy_port).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT" || exit 1

BENCH_NAME="${BENCH_NAME:-bench}"
# A deadlock is the workload's, not the proxy's (it happens directly too); every
# other error fails the run. sysbench's own default also ignores 1020 and 1205.
IGNORE_ERRORS="${IGNORE_ERRORS:-1213}"
TABLES="${TABLES:-4}"
TABLE_SIZE="${TABLE_SIZE:-10000}"
MASTER_PORT="${RWSPLIT_MASTER_PORT:-13306}"
read -r -a REPLICA_PORTS <<<"${RWSPLIT_REPLICA_PORTS:-13307 13308}"
SERVER_PORTS=("$MASTER_PORT" "${REPLICA_PORTS[@]}")
# Short names: master, replica1, replica2, ...
SERVER_NAMES=(master)
for ((i = 1; i <= ${#REPLICA_PORTS[@]}; i++)); do SERVER_NAMES+=("replica$i"); done
MONITOR_USER="${MONITOR_USER:-monitor}"
MONITOR_PASSWORD="${MONITOR_PASSWORD:-monitor}"
HAPROXY_CFG_SRC="$REPO_ROOT/benches/haproxy.cfg"
RWSPLIT_PORT="${RWSPLIT_PORT:-6035}"
RWSPLIT_LOG="${RWSPLIT_LOG:-warn}"
RWSPLIT_BIN="$REPO_ROOT/target/release/rwsplit"
DB_USER=app
DB_PASS=app
DB_NAME=sbtest
START_DEADLINE=30 # seconds for a proxy to accept connections
STOP_DEADLINE=15  # seconds for a proxy to exit on SIGTERM before SIGKILL
CLK_TCK="$(getconf CLK_TCK)"
# Commands the proxies are started under (benches/callgrind.sh: valgrind);
# the process keeps the PID either way.
HAPROXY_WRAP=()
RWSPLIT_WRAP=()

log() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

require_tools() {
    local tool
    for tool in "$@"; do command -v "$tool" >/dev/null || die "$tool not found in PATH (scripts/install-deps.sh)"; done
}

# Port of HAProxy's `listen NAME` section, from its bind line in benches/haproxy.cfg.
haproxy_port() {
    local port
    port="$(awk -v s="$1" '$1 == "listen" { cur = $2 } cur == s && $1 == "bind" { n = split($2, a, ":"); print a[n]; exit }' \
        "$HAPROXY_CFG_SRC")"
    [[ "$port" =~ ^[0-9]+$ ]] || die "no 'bind 127.0.0.1:PORT' in section 'listen $1' of $HAPROXY_CFG_SRC"
    echo "$port"
}
HAPROXY_PORT="$(haproxy_port mysql_master)"           # the master
HAPROXY_REPLICA_PORT="$(haproxy_port mysql_replicas)" # the replicas, round-robin
HAPROXY_IDLE_PORT="$(haproxy_port idle_to_rwsplit)"   # relays to rwsplit (idle-client RSS)

# --- process lifecycle -------------------------------------------------------
declare -A PID_OF=() # name -> pid of a process this script started
TMP_DIR=""
# Extra cleanup of the calling script, run first (stop helpers, strace, perf).
bench_cleanup_hook() { :; }
cleanup() {
    local rc=$? name pid deadline
    trap - EXIT INT TERM
    bench_cleanup_hook || true
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
    [[ -z "$TMP_DIR" ]] || rm -rf "$TMP_DIR"
    exit "$rc"
}

# Results directory, temp directory and the exit trap that stops the proxies.
bench_init() {
    RESULTS_DIR="${RESULTS_DIR:-$REPO_ROOT/target/$BENCH_NAME/$(date +%Y%m%d-%H%M%S)}"
    mkdir -p "$RESULTS_DIR"
    TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/rwsplit-$BENCH_NAME.XXXXXX")"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # shellcheck disable=SC2034 # read by the calling script
    LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
    log "results and logs: $RESULTS_DIR"
}

# Raises the soft (and, as root, the hard) open-files limit to at least $1.
raise_nofile() {
    local need=$1
    [[ "$(ulimit -Sn)" != unlimited ]] || return 0
    (($(ulimit -Sn) >= need)) && return 0
    if [[ "$(ulimit -Hn)" == unlimited ]] || (($(ulimit -Hn) >= need)); then
        ulimit -Sn "$need"
    else
        ulimit -n "$need" 2>/dev/null || die "cannot raise the open-files limit to $need (hard limit $(ulimit -Hn))"
    fi
    log "open-files limit raised to $(ulimit -Sn)"
}

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

# Dies when a proxy this script started has exited.
require_running() { # name
    local pid="${PID_OF[$1]:-}"
    [[ -z "$pid" ]] || kill -0 "$pid" 2>/dev/null || die "$1 (pid $pid) is no longer running (log: $RESULTS_DIR/$1.log)"
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

# Resident set size of a process, in KiB (VmRSS from /proc/PID/status).
rss_kib() {
    awk '$1 == "VmRSS:" { print $2; found = 1 } END { exit !found }' "/proc/$1/status" \
        || die "cannot read VmRSS of pid $1"
}

# --- SQL helpers ---------------------------------------------------------------
sql_root() { tests/cluster/cluster.sh sql "$1" -N -B "$2"; }
sql_tcp() {
    mariadb --no-defaults --connect-timeout=5 -h127.0.0.1 -P"$1" -u"$DB_USER" -p"$DB_PASS" -N -B -e "$2"
}

# The counters read around each measured run, in this order. SHOW GLOBAL STATUS
# counts as Com_show_status, not Com_select, so reading them does not disturb them.
COUNTERS=(Com_select Com_insert Com_update Com_delete Com_stmt_execute)
# "port:counter:value ..." for every counter on every server, one line.
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

# --- sysbench --------------------------------------------------------------------
# Workload name -> sysbench script and its extra options: a sysbench Lua script
# name, or one with the suffix `_skip_trx`, run with `--skip_trx=on`.
workload_script() { if [[ "$1" == *_skip_trx ]]; then echo "${1%_skip_trx}"; else echo "$1"; fi; }
workload_opts() { if [[ "$1" == *_skip_trx ]]; then echo "--skip_trx=on"; fi; }
# True for a workload that writes (it must run on the master).
workload_writes() { [[ "$1" =~ write|insert|update|delete ]]; }
check_workload_name() { [[ "$1" =~ ^[a-z_]+$ ]] || die "bad workload name '$1'"; }
# Dies unless each named setting holds a positive integer.
require_positive_ints() { # NAME...
    local v
    for v in "$@"; do
        [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
    done
}

sysbench_common=(
    --db-driver=mysql --mysql-host=127.0.0.1 --mysql-user="$DB_USER" --mysql-password="$DB_PASS"
    --mysql-db="$DB_NAME" --tables="$TABLES" --table-size="$TABLE_SIZE"
)

# One sysbench run; extra arguments are passed on (--histogram=on, say).
sysbench_run() { # workload port threads seconds outfile [sysbench options...]
    local wl=$1 port=$2 threads=$3 secs=$4 out=$5 opts
    shift 5
    read -r -a opts <<<"$(workload_opts "$wl")"
    sysbench "$(workload_script "$wl")" "${sysbench_common[@]}" "${opts[@]}" --mysql-port="$port" --threads="$threads" \
        --time="$secs" --report-interval=0 --percentile=95 --db-ps-mode=auto --mysql-ignore-errors="$IGNORE_ERRORS" \
        "$@" run >"$out" 2>&1
}

# Value from a sysbench report: `field` is the label before the colon.
report_value() { awk -v f="$2" -F': *' '$1 ~ "^ *"f"$" { split($2, a, " "); print a[1]; exit }' "$1"; }
report_rate() { awk -v f="$2" -F': *' '$1 ~ "^ *"f"$" { sub(/^[^(]*\(/, "", $2); split($2, a, " "); print a[1]; exit }' "$1"; }
# Percentile (0-100) of the latency histogram of a run with --histogram=on, in ms:
# the first bucket at which the cumulative count reaches pct% of all events.
histogram_percentile() { # outfile pct
    awk -v p="$2" '
        /^Latency histogram/ { in_h = 1; next }
        in_h && /\|/ { n++; v[n] = $1; c[n] = $NF; total += $NF; next }
        in_h && n && !/\|/ { in_h = 0 }
        END {
            if (!total) exit
            need = total * p / 100
            for (i = 1; i <= n; i++) { cum += c[i]; if (cum >= need) { printf "%.3f", v[i]; exit } }
        }' "$1"
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
# Adds a finished run's errors to the caller's `errs` (a count) and `codes` (error
# numbers, comma-separated), and logs them with `what` (e.g. "x via rwsplit: warm-up").
tally_errors() { # outfile rc what
    local n
    n="$(count_errors "$1" "$2")"
    errs=$((errs + n))
    ((n > 0)) || return 0
    codes="$(printf '%s\n' "$codes" "$(error_codes "$1")" | tr ',' '\n' | grep . | sort -un | paste -sd, -)" || true
    log "$3: $n error(s), sysbench rc=$2; output: $1"
    show_errors "$1"
}

# --- arithmetic for reports --------------------------------------------------------
ratio() { # a b -> a/b with 2 decimals, "-" when either is missing
    if [[ -n "$1" && -n "$2" && "$1" != - && "$2" != - ]] && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
    else
        echo -
    fi
}
median() { # values... (non-numbers ignored) -> median, empty when none
    printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' || true
}
# Like median, with 3 decimals (latencies in ms).
median3() {
    printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR) printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' || true
}
# Proxy CPU in µs per statement: ticks of utime+stime over a statement count.
# CPU ticks (utime+stime) of every MariaDB server of the cluster together: what
# the servers spent, to compare what they do behind each target.
servers_cpu_ticks() {
    local dir="${RWSPLIT_CLUSTER_DIR:-$REPO_ROOT/.cluster}" port pid total=0
    for port in "${SERVER_PORTS[@]}"; do
        pid="$(cat "$dir/node$port/mariadbd.pid" 2>/dev/null)" || continue
        [[ -r "/proc/$pid/stat" ]] || continue
        total=$((total + $(cpu_ticks "$pid")))
    done
    echo "$total"
}

cpu_us_per() { # ticks statements
    if [[ -n "$1" && -n "$2" ]] && (($2 > 0)); then
        awk -v t="$1" -v hz="$CLK_TCK" -v q="$2" 'BEGIN { printf "%.1f", t / hz * 1e6 / q }'
    else
        echo -
    fi
}

# --- 1. cluster and build ------------------------------------------------------
bench_cluster_and_build() {
    log "starting the cluster (tests/cluster/cluster.sh start)"
    tests/cluster/cluster.sh start >&2
    if [[ -z "${NO_BUILD:-}" ]]; then
        log "building the release proxy"
        cargo build --release --bin rwsplit >&2
    fi
    [[ -x "$RWSPLIT_BIN" ]] || die "$RWSPLIT_BIN missing (build failed or NO_BUILD set without a build)"
}

# --- 2. dataset -------------------------------------------------------------------
dataset_complete() {
    local t n
    for ((t = 1; t <= TABLES; t++)); do
        n="$(sql_root "$MASTER_PORT" "SELECT COUNT(*) FROM \`$DB_NAME\`.sbtest$t" 2>/dev/null)" || return 1
        [[ "$n" == "$TABLE_SIZE" ]] || return 1
    done
}
# Prepares database sbtest on the master (TABLES x TABLE_SIZE rows) unless it is
# already complete, then waits for every replica to reach the master's GTID
# position (MASTER_GTID_WAIT) so runs against replicas see the data.
bench_dataset() {
    local gtid port res
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
}

# --- 3. proxies ------------------------------------------------------------------
# HAProxy in the foreground (-db) with benches/haproxy.cfg; the copy it runs has
# the idle listener's server pointed at $RWSPLIT_PORT.
start_haproxy() {
    local cfg="$TMP_DIR/haproxy.cfg" port
    for port in "$HAPROXY_PORT" "$HAPROXY_REPLICA_PORT" "$HAPROXY_IDLE_PORT"; do require_free_port "$port"; done
    sed -E "s/^([[:space:]]*server[[:space:]]+rwsplit[[:space:]]+127\.0\.0\.1:)[0-9]+/\1$RWSPLIT_PORT/" \
        "$HAPROXY_CFG_SRC" >"$cfg"
    haproxy -c -q -f "$cfg" >&2 || die "invalid $HAPROXY_CFG_SRC"
    "${HAPROXY_WRAP[@]}" haproxy -f "$cfg" -db >"$RESULTS_DIR/haproxy.log" 2>&1 &
    PID_OF[haproxy]=$!
    wait_ready haproxy "${PID_OF[haproxy]}" "$HAPROXY_PORT" "$RESULTS_DIR/haproxy.log"
    wait_ready haproxy "${PID_OF[haproxy]}" "$HAPROXY_REPLICA_PORT" "$RESULTS_DIR/haproxy.log"
    log "haproxy pid ${PID_OF[haproxy]}: master on :$HAPROXY_PORT, replicas (round-robin) on :$HAPROXY_REPLICA_PORT"
}

# rwsplit (release build) with a temp copy of config/rwsplit.toml: the data
# listener moves to PORT [$RWSPLIT_PORT]; the admin port and the HTTP listener
# are left off so a demo proxy running alongside keeps 6032 and 8080. NAME
# [rwsplit] keys PID_OF and names the log; MODE `master_only` drops the
# replicas from the copy, so that every statement goes to the master (the
# setting of HAProxy's master port, for a like-for-like comparison).
start_rwsplit() { # [NAME [PORT [MODE]]]
    local name="${1:-rwsplit}" port="${2:-$RWSPLIT_PORT}" mode="${3:-}"
    local cfg="$TMP_DIR/$name.toml"
    require_free_port "$port"
    sed -E -e "s/^listen[[:space:]]*=[[:space:]]*\"127.0.0.1:6033\"/listen = \"127.0.0.1:$port\"/" \
        -e "s/^listen[[:space:]]*=[[:space:]]*\"127.0.0.1:6032\"/listen = \"\"/" \
        -e "s/^listen[[:space:]]*=[[:space:]]*\"127.0.0.1:8080\"/listen = \"\"/" config/rwsplit.toml >"$cfg"
    grep -q "^listen = \"127.0.0.1:$port\"" "$cfg" || die "could not set listen in the rwsplit config copy"
    if [[ "$mode" == master_only ]]; then
        # Each [[servers]] table up to the next table header; those with
        # role = "replica" are left out.
        awk '/^\[/ { flush(); inserver = ($0 == "[[servers]]") }
             { if (inserver) { block = block $0 "\n"; if ($0 ~ /^role[[:space:]]*=[[:space:]]*"replica"/) replica = 1 }
               else print }
             function flush() { if (block != "" && !replica) printf "%s", block; block = ""; replica = 0 }
             END { flush() }' "$cfg" >"$cfg.tmp" && mv "$cfg.tmp" "$cfg"
        ! grep -q '^role = "replica"' "$cfg" || die "could not drop the replicas from the rwsplit config copy"
        grep -q '^role = "master"' "$cfg" || die "the master-only rwsplit config copy lost its master"
    fi
    RWSPLIT_LOG="$RWSPLIT_LOG" "${RWSPLIT_WRAP[@]}" "$RWSPLIT_BIN" --config "$cfg" >"$RESULTS_DIR/$name.log" 2>&1 &
    PID_OF[$name]=$!
    wait_ready "$name" "${PID_OF[$name]}" "$port" "$RESULTS_DIR/$name.log"
    log "$name pid ${PID_OF[$name]} on :$port (RWSPLIT_LOG=$RWSPLIT_LOG${mode:+, $mode})"
}

# Points at WARN/ERROR lines rwsplit logged during the benchmark.
report_rwsplit_log() {
    local n f
    for f in "$RESULTS_DIR"/rwsplit*.log; do
        [[ -f "$f" ]] || continue
        n="$(grep -cE 'WARN|ERROR' "$f" || true)"
        if ((n > 0)); then
            log "$(basename "$f" .log) logged $n WARN/ERROR line(s); first ones:"
            grep -E 'WARN|ERROR' "$f" | head -n 10 >&2 || true
        fi
    done
}
