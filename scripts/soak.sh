#!/usr/bin/env bash
# Soak test: rwsplit under mixed load for DURATION seconds while replicas are
# killed and restarted and the config is reloaded, watching for client errors,
# lost writes, and memory or file descriptors that grow.
#
#   scripts/soak.sh                      # 10 minutes, from the repo root
#   DURATION=120 scripts/soak.sh         # a short run
#
# What it does, in one run:
#   1. cargo build --release; builds a cluster of its own in .cluster-soak
#      (master 13506, replicas 13507 13508; rebuilt fresh, destroyed at the end)
#      and starts rwsplit on it with a copy of config/rwsplit.toml listening on
#      6133 (admin 6132, HTTP 8180);
#   2. prepares sysbench tables (database sbsoak) through the proxy, then for
#      DURATION seconds, all at once and all through the proxy:
#        - sysbench oltp_read_write (transactions: on the master),
#        - sysbench oltp_read_only --skip_trx=on (autocommit reads, spread over
#          the replicas) with --mysql-ignore-errors=none,
#        - a write ledger: one client inserting sequential ids in autocommit and
#          recording each insert the proxy acknowledged, each followed by an
#          autocommit read of that id (read-your-writes, on a replica),
#        - chaos: every CHAOS_MIN..CHAOS_MAX s a random replica is killed
#          (kill -9 of its mariadbd) and restarted DOWN_MIN..DOWN_MAX s later,
#        - kill -HUP to the proxy every HUP_EVERY s (a config reload),
#        - every SAMPLE_EVERY s: the proxy's RSS, open fds, threads, client
#          sessions and pooled backend connections into samples.csv;
#   3. when the load ends: every replica back up and caught up, then checks and
#      a summary (also in summary.txt).
#
# Exits 1 if any of these fails:
#   - the autocommit reads saw an error (sysbench exit status, FATAL, errors);
#   - oltp_read_write failed or saw an error other than an InnoDB deadlock
#     (1213, the workload's own: it happens without a proxy too; counted);
#   - the ledger saw an error, or an acknowledged insert is missing on the
#     master (or, once caught up, on a replica), or a read right after an
#     acknowledged insert did not see it;
#   - the proxy's RSS grew more than RSS_GROWTH_PCT % from the first sample
#     after WARMUP seconds to the last sample;
#   - its open fds grew more than FD_TOLERANCE from that sample to the last
#     (pooled connections come and go with the load);
#   - with no client left, its fds other than pooled backend connections
#     differ from what they were before the load (a leaked socket);
#   - a reload failed, or a SIGHUP was not a reload; the proxy exited or panicked.
#
# Environment (defaults in brackets):
#   DURATION [600]  WARMUP [60]  SAMPLE_EVERY [10]  HUP_EVERY [60]
#   CHAOS_MIN [20]  CHAOS_MAX [60]   seconds between replica kills
#   DOWN_MIN [5]    DOWN_MAX [20]    seconds a killed replica stays down
#   RW_THREADS [2]  RO_THREADS [4]   sysbench threads   TABLES [4]  TABLE_SIZE [10000]
#   LEDGER_PAUSE [0.005]  seconds between ledger inserts
#   RSS_GROWTH_PCT [10]  FD_TOLERANCE [RW_THREADS + RO_THREADS + 4]
#   RWSPLIT_LOG [info]  NO_BUILD [unset: build]  KEEP_CLUSTER [unset: destroy it]
#   RESULTS_DIR [target/soak/<timestamp>]  samples.csv, logs, summary.txt
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

DURATION="${DURATION:-600}"
WARMUP="${WARMUP:-60}"
SAMPLE_EVERY="${SAMPLE_EVERY:-10}"
HUP_EVERY="${HUP_EVERY:-60}"
CHAOS_MIN="${CHAOS_MIN:-20}"
CHAOS_MAX="${CHAOS_MAX:-60}"
DOWN_MIN="${DOWN_MIN:-5}"
DOWN_MAX="${DOWN_MAX:-20}"
RW_THREADS="${RW_THREADS:-2}"
RO_THREADS="${RO_THREADS:-4}"
TABLES="${TABLES:-4}"
TABLE_SIZE="${TABLE_SIZE:-10000}"
LEDGER_PAUSE="${LEDGER_PAUSE:-0.005}"
RSS_GROWTH_PCT="${RSS_GROWTH_PCT:-10}"
FD_TOLERANCE="${FD_TOLERANCE:-$((RW_THREADS + RO_THREADS + 4))}"
RWSPLIT_LOG="${RWSPLIT_LOG:-info}"
RESULTS_DIR="${RESULTS_DIR:-$REPO_ROOT/target/soak/$(date +%Y%m%d-%H%M%S)}"

export RWSPLIT_CLUSTER_DIR="$REPO_ROOT/.cluster-soak"
export RWSPLIT_MASTER_PORT=13506
export RWSPLIT_REPLICA_PORTS="13507 13508"
MASTER_PORT=$RWSPLIT_MASTER_PORT
read -r -a REPLICA_PORTS <<<"$RWSPLIT_REPLICA_PORTS"
PROXY_PORT=6133
ADMIN_PORT=6132
HTTP_PORT=8180
DB=sbsoak
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

log() { printf '%s soak: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in sysbench mariadb cargo flock; do
    command -v "$tool" >/dev/null || die "$tool not found in PATH (scripts/install-deps.sh installs it)"
done
"$PYTHON" -c 'import pymysql' 2>/dev/null || die "$PYTHON has no pymysql (Debian: python3-pymysql)"
for v in DURATION WARMUP SAMPLE_EVERY HUP_EVERY CHAOS_MIN CHAOS_MAX DOWN_MIN DOWN_MAX RW_THREADS RO_THREADS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
((CHAOS_MAX >= CHAOS_MIN && DOWN_MAX >= DOWN_MIN)) || die "CHAOS_MAX < CHAOS_MIN or DOWN_MAX < DOWN_MIN"
((DURATION > WARMUP)) || die "DURATION ($DURATION) must be longer than WARMUP ($WARMUP)"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$PROXY_PORT" "$ADMIN_PORT" "$HTTP_PORT"; do
    ! port_open "$port" || die "127.0.0.1:$port is already in use"
done

mkdir -p "$RESULTS_DIR"
STOP_FILE="$RESULTS_DIR/stop"
rm -f "$STOP_FILE"

cluster() { tests/cluster/cluster.sh "$@"; }
proxy_sql() { mariadb --no-defaults --connect-timeout=5 -h127.0.0.1 -P"$PROXY_PORT" -uapp -papp -N -B "$@"; }
server_sql() { mariadb --no-defaults --connect-timeout=5 -h127.0.0.1 -P"$1" -uapp -papp -N -B -e "$2"; }
admin_sql() { mariadb --no-defaults --connect-timeout=5 -h127.0.0.1 -P"$ADMIN_PORT" -uadmin -padmin -N -B -e "$1"; }
# One value of SHOW STATUS on the admin port.
proxy_status() { admin_sql 'SHOW STATUS' | awk -v k="$1" '$1 == k { print $2 }'; }
# Pooled backend connections (used + idle) over every server.
pool_open() { admin_sql 'SHOW POOLS' | awk '{ n += $2 + $3 } END { print n + 0 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
thread_count() { awk '/^Threads:/ { print $2 }' "/proc/$1/status"; }
rand_between() { echo $(($1 + RANDOM % ($2 - $1 + 1))); }

# --- process lifecycle -------------------------------------------------------
PROXY_PID=""
BACKGROUND=() # pids of the load, chaos, reload and sampling jobs
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    touch "$STOP_FILE"
    for pid in "${BACKGROUND[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${BACKGROUND[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n $PROXY_PID ]] && kill -0 "$PROXY_PID" 2>/dev/null; then
        kill -TERM "$PROXY_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PROXY_PID" 2>/dev/null || true
        wait "$PROXY_PID" 2>/dev/null || true
    fi
    rm -f "$STOP_FILE"
    if [[ -z ${KEEP_CLUSTER:-} ]]; then
        cluster destroy >/dev/null 2>&1 || log "could not destroy $RWSPLIT_CLUSTER_DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build, cluster, proxy -----------------------------------------------------
if [[ -z ${NO_BUILD:-} ]]; then
    log "cargo build --release"
    cargo build --release --quiet
fi
RWSPLIT_BIN="$REPO_ROOT/target/release/rwsplit"
[[ -x $RWSPLIT_BIN ]] || die "$RWSPLIT_BIN missing (unset NO_BUILD)"

log "fresh cluster in $RWSPLIT_CLUSTER_DIR (master $MASTER_PORT, replicas ${REPLICA_PORTS[*]})"
cluster destroy >/dev/null 2>&1 || true
cluster start >"$RESULTS_DIR/cluster-start.log" 2>&1 || { cat "$RESULTS_DIR/cluster-start.log" >&2; die "cluster start failed"; }

CONFIG="$RESULTS_DIR/rwsplit.toml"
sed -e "s/127\.0\.0\.1:6033/127.0.0.1:$PROXY_PORT/" \
    -e "s/127\.0\.0\.1:6032/127.0.0.1:$ADMIN_PORT/" \
    -e "s/127\.0\.0\.1:8080/127.0.0.1:$HTTP_PORT/" \
    -e "s/127\.0\.0\.1:13306/127.0.0.1:$MASTER_PORT/" \
    -e "s/127\.0\.0\.1:13307/127.0.0.1:${REPLICA_PORTS[0]}/" \
    -e "s/127\.0\.0\.1:13308/127.0.0.1:${REPLICA_PORTS[1]}/" \
    config/rwsplit.toml >"$CONFIG"
for port in "$PROXY_PORT" "$ADMIN_PORT" "$HTTP_PORT" "$MASTER_PORT" "${REPLICA_PORTS[@]}"; do
    grep -q "127.0.0.1:$port\"" "$CONFIG" || die "config/rwsplit.toml changed shape: no 127.0.0.1:$port in $CONFIG"
done
"$RWSPLIT_BIN" --config "$CONFIG" --check >/dev/null || die "$CONFIG is not valid"

PROXY_LOG="$RESULTS_DIR/rwsplit.log"
RWSPLIT_LOG="$RWSPLIT_LOG" "$RWSPLIT_BIN" --config "$CONFIG" >"$PROXY_LOG" 2>&1 &
PROXY_PID=$!
for _ in $(seq 300); do
    proxy_sql -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$PROXY_PID" 2>/dev/null || { tail -n 30 "$PROXY_LOG" >&2; die "rwsplit exited at start"; }
    sleep 0.1
done
proxy_sql -e 'SELECT 1' >/dev/null || die "rwsplit does not answer on $PROXY_PORT"
log "rwsplit pid $PROXY_PID on 127.0.0.1:$PROXY_PORT (admin $ADMIN_PORT); results in $RESULTS_DIR"

sb() {
    local script=$1; shift
    sysbench "$script" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$PROXY_PORT" \
        --mysql-user=app --mysql-password=app --mysql-db="$DB" \
        --tables="$TABLES" --table-size="$TABLE_SIZE" --db-ps-mode=auto "$@"
}

proxy_sql -e "CREATE DATABASE $DB"
proxy_sql "$DB" -e 'CREATE TABLE ledger (id BIGINT PRIMARY KEY, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))'
log "sysbench prepare: $TABLES tables of $TABLE_SIZE rows"
sb oltp_read_write --threads="$TABLES" prepare >"$RESULTS_DIR/prepare.log" 2>&1 \
    || { tail -n 20 "$RESULTS_DIR/prepare.log" >&2; die "sysbench prepare failed"; }

# Waits until every replica has applied everything the master has.
wait_replicas_caught_up() {
    local pos port got
    pos="$(server_sql "$MASTER_PORT" 'SELECT @@gtid_binlog_pos')"
    for port in "${REPLICA_PORTS[@]}"; do
        got="$(server_sql "$port" "SELECT MASTER_GTID_WAIT('$pos', 120)")" || return 1
        [[ $got == 0 ]] || { log "replica $port did not reach $pos"; return 1; }
    done
}
wait_replicas_caught_up || die "replicas did not catch up after prepare"
# Before the load, with no client: fds that are not pooled backend connections
# (listeners, monitor connections, the log, the runtime's own).
sleep 3
FDS_QUIET_BEFORE=$(($(fd_count "$PROXY_PID") - $(pool_open)))

# --- the load --------------------------------------------------------------------
LEDGER_PY="$RESULTS_DIR/ledger.py"
cat >"$LEDGER_PY" <<'EOF'
"""Sequential autocommit inserts through the proxy; each acknowledged id is
appended to a file, then read back (read-your-writes). Prints a JSON summary."""
import json, sys, time
import pymysql

port, db, seconds, pause, acked_path, errors_path = sys.argv[1:7]
end = time.time() + float(seconds)
errors, ryw_missing, attempted, acked, conn = {}, [], 0, 0, None

def record(kind, e):
    code = e.args[0] if getattr(e, "args", None) and isinstance(e.args[0], int) else 0
    key = f"{kind} {code}"
    errors[key] = errors.get(key, 0) + 1
    with open(errors_path, "a") as f:
        f.write(f"{time.strftime('%H:%M:%S')} {kind} {e!r}\n")

with open(acked_path, "w", buffering=1) as out:
    while time.time() < end:
        if conn is None:
            try:
                conn = pymysql.connect(host="127.0.0.1", port=int(port), user="app", password="app",
                                       database=db, autocommit=True, connect_timeout=10,
                                       read_timeout=60, write_timeout=60)
            except Exception as e:
                record("connect", e)
                time.sleep(0.2)
                continue
        attempted += 1
        try:
            with conn.cursor() as c:
                c.execute("INSERT INTO ledger (id) VALUES (%s)", (attempted,))
        except Exception as e:
            record("insert", e)
            conn = None
            continue
        acked += 1
        out.write(f"{attempted}\n")
        try:
            with conn.cursor() as c:
                c.execute("SELECT id FROM ledger WHERE id = %s", (attempted,))
                if c.fetchone() is None:
                    ryw_missing.append(attempted)
        except Exception as e:
            record("read", e)
            conn = None
        time.sleep(float(pause))

print(json.dumps({"attempted": attempted, "acked": acked, "errors": errors,
                  "ryw_missing": len(ryw_missing), "ryw_missing_ids": ryw_missing[:20]}))
EOF

CSV="$RESULTS_DIR/samples.csv"
echo "t_s,rss_kb,fds,threads,clients,pool_conns" >"$CSV"
START=$SECONDS
END=$((START + DURATION))

log "load for ${DURATION}s: oltp_read_write x$RW_THREADS, oltp_read_only --skip_trx x$RO_THREADS, ledger, chaos, SIGHUP every ${HUP_EVERY}s"
sb oltp_read_write --threads="$RW_THREADS" --time="$DURATION" --report-interval=60 \
    --mysql-ignore-errors=1213 run >"$RESULTS_DIR/rw.log" 2>&1 &
RW_PID=$!
sb oltp_read_only --skip_trx=on --threads="$RO_THREADS" --time="$DURATION" --report-interval=60 \
    --mysql-ignore-errors=none run >"$RESULTS_DIR/ro.log" 2>&1 &
RO_PID=$!
"$PYTHON" "$LEDGER_PY" "$PROXY_PORT" "$DB" "$DURATION" "$LEDGER_PAUSE" \
    "$RESULTS_DIR/ledger.acked" "$RESULTS_DIR/ledger.errors" >"$RESULTS_DIR/ledger.json" 2>"$RESULTS_DIR/ledger.stderr" &
LEDGER_PID=$!
BACKGROUND+=("$RW_PID" "$RO_PID" "$LEDGER_PID")

# Sleeps up to $1 seconds, returning early (non-zero) once the run is over.
nap() {
    local until=$((SECONDS + $1))
    while ((SECONDS < until)); do
        [[ -e $STOP_FILE ]] && return 1
        sleep 1
    done
}

# Kills a random replica now and then and restarts it; never the master.
chaos_loop() {
    local port pid down
    while nap "$(rand_between "$CHAOS_MIN" "$CHAOS_MAX")"; do
        ((SECONDS < END - DOWN_MAX - 5)) || break
        port=${REPLICA_PORTS[$((RANDOM % ${#REPLICA_PORTS[@]}))]}
        pid="$(cat "$RWSPLIT_CLUSTER_DIR/node$port/mariadbd.pid" 2>/dev/null || true)"
        [[ -n $pid ]] || { echo "$((SECONDS - START)) skip $port (no pid file)"; continue; }
        kill -9 "$pid" 2>/dev/null || true
        down=$(rand_between "$DOWN_MIN" "$DOWN_MAX")
        echo "$((SECONDS - START)) kill $port pid $pid down ${down}s"
        sleep "$down"
        if cluster start >>"$RESULTS_DIR/cluster-restarts.log" 2>&1; then
            echo "$((SECONDS - START)) restarted $port"
        else
            echo "$((SECONDS - START)) RESTART FAILED $port"
        fi
    done
}
chaos_loop >"$RESULTS_DIR/chaos.log" 2>&1 &
BACKGROUND+=($!)

hup_loop() {
    while nap "$HUP_EVERY"; do
        ((SECONDS < END)) || break
        kill -HUP "$PROXY_PID" && echo "$((SECONDS - START)) HUP"
    done
}
hup_loop >"$RESULTS_DIR/hup.log" 2>&1 &
BACKGROUND+=($!)

sample_loop() {
    local fds rss threads
    while :; do
        fds=$(fd_count "$PROXY_PID")
        rss=$(rss_kb "$PROXY_PID") || break
        threads=$(thread_count "$PROXY_PID")
        echo "$((SECONDS - START)),$rss,$fds,$threads,$(proxy_status clients_connected),$(pool_open)"
        nap "$SAMPLE_EVERY" || break
        ((SECONDS <= END)) || break
    done
}
sample_loop >>"$CSV" 2>"$RESULTS_DIR/sample.stderr" &
SAMPLER_PID=$!
BACKGROUND+=("$SAMPLER_PID")

RW_RC=0
RO_RC=0
LEDGER_RC=0
wait "$RW_PID" || RW_RC=$?
wait "$RO_PID" || RO_RC=$?
wait "$LEDGER_PID" || LEDGER_RC=$?
wait "$SAMPLER_PID" || true
touch "$STOP_FILE"
log "load done; waiting for the chaos and reload loops"
for pid in "${BACKGROUND[@]}"; do wait "$pid" 2>/dev/null || true; done
BACKGROUND=()

# --- checks ----------------------------------------------------------------------
FAILURES=()
fail() { FAILURES+=("$*"); }

PROXY_ALIVE=yes
kill -0 "$PROXY_PID" 2>/dev/null || { PROXY_ALIVE=no; fail "rwsplit exited during the run"; }

cluster start >>"$RESULTS_DIR/cluster-restarts.log" 2>&1 || fail "the cluster did not come back up after the run"
wait_replicas_caught_up || fail "replicas did not catch up after the run"

# sysbench reports: the first number after "label:".
sb_num() { awk -v l="$2:" '{ sub(/^[ \t]+/, "") } index($0, l) == 1 { sub(l, ""); print $1 + 0; exit }' "$1"; }
sb_line() { grep -m1 -E "^ *$2:" "$1" | sed -E "s/^ *$2: *//"; }
RO_ERRORS=$(sb_num "$RESULTS_DIR/ro.log" "ignored errors")
RO_QUERIES=$(sb_num "$RESULTS_DIR/ro.log" queries)
RW_DEADLOCKS=$(sb_num "$RESULTS_DIR/rw.log" "ignored errors")
RW_TX=$(sb_num "$RESULTS_DIR/rw.log" transactions)
if ((RO_RC != 0)) || grep -q FATAL "$RESULTS_DIR/ro.log" || [[ -z $RO_QUERIES ]] || [[ ${RO_ERRORS:-0} != 0 ]]; then
    fail "autocommit reads (oltp_read_only --skip_trx): exit $RO_RC, errors: $(grep -m3 -E 'FATAL|error' "$RESULTS_DIR/ro.log" | tr '\n' ' ')"
fi
if ((RW_RC != 0)) || grep -q FATAL "$RESULTS_DIR/rw.log" || [[ -z $RW_TX ]]; then
    fail "oltp_read_write: exit $RW_RC, errors: $(grep -m3 -E 'FATAL|error' "$RESULTS_DIR/rw.log" | tr '\n' ' ')"
fi

# Ledger: every acknowledged id on the master and on each replica.
LEDGER_JSON="$(cat "$RESULTS_DIR/ledger.json" 2>/dev/null || true)"
ledger_field() { "$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$LEDGER_JSON" "$1" 2>/dev/null || true; }
LEDGER_ACKED=$(wc -l <"$RESULTS_DIR/ledger.acked")
LEDGER_ERRORS=$(ledger_field errors)
LEDGER_RYW_MISSING=$(ledger_field ryw_missing)
((LEDGER_RC == 0)) && [[ -n $LEDGER_JSON ]] && LEDGER_OK=1 || LEDGER_OK=0
((LEDGER_OK)) || fail "the ledger client failed: $(tail -n 3 "$RESULTS_DIR/ledger.stderr" | tr '\n' ' ')"
[[ $LEDGER_ERRORS == "{}" ]] || fail "ledger errors: $LEDGER_ERRORS (see ledger.errors)"
[[ ${LEDGER_RYW_MISSING:-0} == 0 ]] || fail "ledger: $LEDGER_RYW_MISSING reads right after an acknowledged insert missed it: $(ledger_field ryw_missing_ids)"
sort -n "$RESULTS_DIR/ledger.acked" >"$RESULTS_DIR/ledger.acked.sorted"
LOST_SUMMARY=""
for port in "$MASTER_PORT" "${REPLICA_PORTS[@]}"; do
    server_sql "$port" "SELECT id FROM $DB.ledger ORDER BY id" >"$RESULTS_DIR/ledger.on.$port"
    lost=$(comm -23 <(sort "$RESULTS_DIR/ledger.acked.sorted") <(sort "$RESULTS_DIR/ledger.on.$port") | wc -l)
    LOST_SUMMARY+="$port: $lost lost; "
    ((lost == 0)) || fail "$lost acknowledged ledger inserts missing on $port: $(comm -23 <(sort "$RESULTS_DIR/ledger.acked.sorted") <(sort "$RESULTS_DIR/ledger.on.$port") | head -5 | tr '\n' ' ')"
done

# Memory and descriptors: the first sample after the warm-up against the last.
read -r BASE_T BASE_RSS BASE_FDS < <(awk -F, -v w="$WARMUP" 'NR > 1 && $1 >= w { print $1, $2, $3; exit }' "$CSV") || true
read -r LAST_T LAST_RSS LAST_FDS < <(tail -n 1 "$CSV" | awk -F, '{ print $1, $2, $3 }') || true
read -r MIN_RSS MAX_RSS MIN_FDS MAX_FDS < <(awk -F, 'NR > 1 { if (!r || $2 < r) r = $2; if ($2 > R) R = $2; if (!f || $3 < f) f = $3; if ($3 > F) F = $3 } END { print r, R, f, F }' "$CSV") || true
SAMPLES=$(($(wc -l <"$CSV") - 1))
if [[ -z ${BASE_RSS:-} || -z ${LAST_RSS:-} || $BASE_T == "$LAST_T" ]]; then
    fail "not enough samples after the ${WARMUP}s warm-up ($SAMPLES samples)"
    RSS_GROWTH="n/a"
    FD_GROWTH="n/a"
else
    RSS_GROWTH=$(awk -v a="$BASE_RSS" -v b="$LAST_RSS" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
    FD_GROWTH=$((LAST_FDS - BASE_FDS))
    awk -v g="$RSS_GROWTH" -v m="$RSS_GROWTH_PCT" 'BEGIN { exit !(g > m) }' \
        && fail "RSS grew ${RSS_GROWTH}% (${BASE_RSS} KiB at ${BASE_T}s -> ${LAST_RSS} KiB at ${LAST_T}s; limit ${RSS_GROWTH_PCT}%)"
    ((FD_GROWTH <= FD_TOLERANCE)) \
        || fail "open fds grew by $FD_GROWTH ($BASE_FDS at ${BASE_T}s -> $LAST_FDS at ${LAST_T}s; tolerance $FD_TOLERANCE)"
fi

# No client left: descriptors other than pooled connections are as before.
for _ in $(seq 100); do
    [[ $(proxy_status clients_connected) == 0 ]] && break
    sleep 0.2
done
sleep 3
CLIENTS_AFTER=$(proxy_status clients_connected)
FDS_QUIET_AFTER=$(($(fd_count "$PROXY_PID") - $(pool_open)))
[[ $CLIENTS_AFTER == 0 ]] || fail "$CLIENTS_AFTER client sessions still open after every client left"
((FDS_QUIET_AFTER - FDS_QUIET_BEFORE <= 2 && FDS_QUIET_BEFORE - FDS_QUIET_AFTER <= 2)) \
    || fail "fds other than pooled connections: $FDS_QUIET_BEFORE before the load, $FDS_QUIET_AFTER after it"

HUPS=$(grep -c HUP "$RESULTS_DIR/hup.log" || true)
RELOADS=$(proxy_status reloads)
RELOADS_FAILED=$(proxy_status reloads_failed)
[[ $RELOADS == "$HUPS" && $RELOADS_FAILED == 0 ]] || fail "$HUPS SIGHUPs sent, $RELOADS reloads, $RELOADS_FAILED failed"
KILLS=$(grep -c ' kill ' "$RESULTS_DIR/chaos.log" || true)
! grep -q 'RESTART FAILED' "$RESULTS_DIR/chaos.log" || fail "a killed replica did not restart (chaos.log)"
! grep -q panicked "$PROXY_LOG" || fail "rwsplit panicked (see $PROXY_LOG)"
WARNINGS=$(grep -cE ' (WARN|ERROR) ' "$PROXY_LOG" || true)

{
    echo "soak: ${DURATION}s, $(date -u +%Y-%m-%dT%H:%MZ), rwsplit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo +changes)"
    echo "  oltp_read_write x$RW_THREADS:        $RW_TX transactions, ${RW_DEADLOCKS:-?} deadlocks retried, latency per transaction $(sb_line "$RESULTS_DIR/rw.log" '95th percentile') ms p95, $(sb_line "$RESULTS_DIR/rw.log" max) ms max"
    echo "  autocommit reads x$RO_THREADS:        $RO_QUERIES queries, ${RO_ERRORS:-?} errors, latency per event (14 reads) $(sb_line "$RESULTS_DIR/ro.log" '95th percentile') ms p95, $(sb_line "$RESULTS_DIR/ro.log" max) ms max"
    echo "  ledger:                    $LEDGER_ACKED inserts acknowledged, errors $LEDGER_ERRORS, read-your-writes misses ${LEDGER_RYW_MISSING:-?}; ${LOST_SUMMARY}"
    echo "  chaos:                     $KILLS replica kills; $HUPS SIGHUPs, $RELOADS reloads ($RELOADS_FAILED failed)"
    echo "  RSS (KiB):                 ${BASE_RSS:-?} at ${BASE_T:-?}s -> ${LAST_RSS:-?} at ${LAST_T:-?}s (${RSS_GROWTH}%, limit ${RSS_GROWTH_PCT}%); min $MIN_RSS, max $MAX_RSS over $SAMPLES samples"
    echo "  open fds:                  ${BASE_FDS:-?} at ${BASE_T:-?}s -> ${LAST_FDS:-?} at ${LAST_T:-?}s (${FD_GROWTH}, tolerance $FD_TOLERANCE); min $MIN_FDS, max $MAX_FDS"
    echo "  fds without clients:       $FDS_QUIET_BEFORE before the load, $FDS_QUIET_AFTER after (pooled connections not counted)"
    echo "  proxy log:                 $WARNINGS WARN/ERROR lines; alive: $PROXY_ALIVE"
    if ((${#FAILURES[@]} == 0)); then
        echo "PASS"
    else
        printf 'FAIL: %s\n' "${FAILURES[@]}"
    fi
    echo "results: $RESULTS_DIR"
} | tee "$RESULTS_DIR/summary.txt"
((${#FAILURES[@]} == 0))
