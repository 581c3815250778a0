#!/usr/bin/env bash
# The performance benchmark (issue 8): rwsplit against a server directly and
# against HAProxy in TCP mode, on the local cluster, in one run, with the
# project's targets checked against HAProxy's numbers from the same run.
#
#   benches/perf.sh                               # from the repo root, ~20 minutes
#   DURATION=5 ROUNDS=1 WARMUP=1 benches/perf.sh   # a quick check, ~2 minutes
#
# What it does:
#   1. tests/cluster/cluster.sh start (idempotent), cargo build --release, the
#      sysbench dataset (benches/lib.sh: sbtest, TABLES x TABLE_SIZE, replicas
#      caught up); starts HAProxy (benches/haproxy.cfg: nbthread 1, the master on
#      :6034, the replicas round-robin on :6036) and rwsplit (config/rwsplit.toml,
#      listening on :$RWSPLIT_PORT);
#   2. memory per idle client, before any load: opens IDLE_CLIENTS authenticated
#      idle connections (benches/idle_clients.py, PyMySQL) to rwsplit, then to
#      HAProxy (its :6037 listener relays to rwsplit: the cluster's servers take
#      500 connections each, and HAProxy's per-connection memory does not depend
#      on what is behind it), and reports (VmRSS with them - VmRSS before) /
#      IDLE_CLIENTS from /proc/PID/status;
#   3. the cases (CASES), each against three targets, interleaved and repeated
#      ROUNDS times (round r starts at the r-th target, so none is always first):
#        read-only workloads: a replica directly (the first of RWSPLIT_REPLICA_PORTS),
#                             HAProxy's replica port, rwsplit;
#        writing workloads:   the master directly, HAProxy's master port, rwsplit;
#      each run is sysbench --db-ps-mode=auto --histogram=on; the first round of a
#      case and target starts with a WARMUP-second run that is not measured.
#      Around each measured run the proxy's utime+stime (/proc/PID/stat) is read;
#   4. the latency probe (benches/latency.c, built with gcc against Connector/C):
#      one client thread running sysbench's point select as a prepared statement
#      against the three targets in turn, LATENCY_BLOCK statements at a time,
#      LATENCY_STATEMENTS per target and round, ROUNDS rounds; per-statement
#      p50/p95 of each target, and what each proxy adds (proxy - direct, per
#      round, median);
#   5. prints one table (median tps and p95 over rounds, ratios to direct and to
#      HAProxy, proxy CPU µs per statement = CPU time over all rounds / sysbench's
#      statement count), the tps ratio to HAProxy per round (the runs of a round
#      are back to back) and its median, the latency rwsplit and HAProxy add at 1
#      thread (from sysbench's histograms, proxy minus direct per round, median;
#      and from the probe), the RSS per idle client, and one PASS/FAIL line per
#      target. The tps targets use the median of the per-round ratios, the
#      latency targets the probe (docs/performance.md says why); both other
#      readings are printed next to them.
#
# Targets, rwsplit against HAProxy in the same run (issue 8):
#   tps >= 0.95x on oltp_point_select (every case with more than 1 thread) and on
#   oltp_read_only_skip_trx; CPU per statement <= 1.2x (every case); added p50
#   and p95 latency at 1 thread <= 1.2x; RSS per idle client <= 16 KiB.
# A missed target is reported, not an error: the exit status is non-zero only
# when something failed (a sysbench error other than IGNORE_ERRORS, a proxy that
# exited, an idle client that could not log in, a bad setting).
#
# Environment (defaults in brackets; benches/lib.sh lists the shared ones):
#   DURATION [20]  seconds per measured run      WARMUP [3]  seconds, round 1 only
#   ROUNDS [3]     runs per case and target (medians)
#   POINT_THREADS ["1 16 64"]  threads of the oltp_point_select cases
#   THREADS [16]   threads of the other cases
#   CASES ["oltp_point_select:T... oltp_read_only_skip_trx:THREADS oltp_read_write:THREADS"]
#                  workload:threads pairs; a workload is a sysbench script, or one
#                  with the suffix _skip_trx (run with --skip_trx=on)
#   LATENCY_STATEMENTS [20000]  probe statements per target and round (0: no probe)
#   LATENCY_BLOCK [50]  probe statements in a row on one target
#   IDLE_CLIENTS [2000]  idle connections for the RSS measurement (0: skip it)
#   IDLE_TARGETS ["rwsplit haproxy"]  proxies whose RSS per idle client is measured
#   PYTHON [/usr/bin/python3]  an interpreter that imports pymysql
#
# The machine is small and shared: sysbench, three MariaDB servers and the proxy
# share two cores, so absolute numbers mean little; the ratios between proxies
# from the same run are what the targets use, and rounds make them steadier.
set -euo pipefail

BENCH_NAME=perf
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-3}"
ROUNDS="${ROUNDS:-3}"
POINT_THREADS="${POINT_THREADS:-1 16 64}"
THREADS="${THREADS:-16}"
default_cases=""
for t in $POINT_THREADS; do default_cases+="oltp_point_select:$t "; done
default_cases+="oltp_read_only_skip_trx:$THREADS oltp_read_write:$THREADS"
read -r -a CASES <<<"${CASES:-$default_cases}"
IDLE_CLIENTS="${IDLE_CLIENTS:-2000}"
LATENCY_STATEMENTS="${LATENCY_STATEMENTS:-20000}"
LATENCY_BLOCK="${LATENCY_BLOCK:-50}"
read -r -a IDLE_TARGETS <<<"${IDLE_TARGETS:-rwsplit haproxy}"
PYTHON="${PYTHON:-/usr/bin/python3}"
DIRECT_REPLICA_PORT="${REPLICA_PORTS[0]}"
IDLE_DEADLINE=180 # seconds for the idle clients to log in
# The targets (issue 8).
TPS_MIN=0.95
CPU_MAX=1.2
LATENCY_MAX=1.2
RSS_MAX_KIB=16

require_tools sysbench haproxy mariadb cargo getconf "$PYTHON"
require_positive_ints DURATION ROUNDS LATENCY_BLOCK
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer (got '$WARMUP')"
[[ "$IDLE_CLIENTS" =~ ^[0-9]+$ ]] || die "IDLE_CLIENTS must be a non-negative integer (got '$IDLE_CLIENTS')"
[[ "$LATENCY_STATEMENTS" =~ ^[0-9]+$ ]] || die "LATENCY_STATEMENTS must be a non-negative integer (got '$LATENCY_STATEMENTS')"
((${#CASES[@]} > 0)) || die "no CASES"
for c in "${CASES[@]}"; do
    [[ "$c" =~ ^([a-z_]+):([1-9][0-9]*)$ ]] || die "bad case '$c' (want workload:threads, e.g. oltp_point_select:16)"
    check_workload_name "${BASH_REMATCH[1]}"
done
for t in "${IDLE_TARGETS[@]}"; do
    [[ "$t" == rwsplit || "$t" == haproxy ]] || die "IDLE_TARGETS: unknown proxy '$t' (rwsplit, haproxy)"
done
if ((IDLE_CLIENTS > 0)); then
    "$PYTHON" -c 'import pymysql' 2>/dev/null || die "$PYTHON cannot import pymysql (scripts/install-deps.sh)"
fi
# Idle clients: the helper, rwsplit and HAProxy each hold one socket per client
# (HAProxy two); sysbench at 64 threads and the pools add a few hundred.
raise_nofile $((2 * IDLE_CLIENTS + 4096))

bench_init
IDLE_PID=""
bench_cleanup_hook() {
    if [[ -n "$IDLE_PID" ]]; then
        kill -TERM "$IDLE_PID" 2>/dev/null || true
        wait "$IDLE_PID" 2>/dev/null || true
    fi
}
bench_cluster_and_build
LATENCY_BIN=""
if ((LATENCY_STATEMENTS > 0)); then
    require_tools gcc mariadb_config
    LATENCY_BIN="$RESULTS_DIR/latency"
    # shellcheck disable=SC2046 # mariadb_config prints several flags
    gcc -O2 -Wall -o "$LATENCY_BIN" benches/latency.c $(mariadb_config --cflags --libs) \
        || die "could not build benches/latency.c (libmariadb-dev and gcc: scripts/install-deps.sh)"
fi
bench_dataset
start_haproxy
start_rwsplit

# --- 2. RSS per idle client ----------------------------------------------------------
declare -A RSS_BEFORE=() RSS_WITH=() RSS_AFTER=() RSS_PER=()
# Opens IDLE_CLIENTS idle logins to `port`, reads `name`'s VmRSS before, with them
# (after a second to settle) and after they closed.
measure_idle() { # name port
    local name=$1 port=$2 pid="${PID_OF[$1]}" out="$RESULTS_DIR/idle.$1.out" err="$RESULTS_DIR/idle.$1.err" deadline
    sleep 1
    RSS_BEFORE[$name]="$(rss_kib "$pid")"
    log "RSS per idle client: $IDLE_CLIENTS logins to $name through 127.0.0.1:$port (RSS before: ${RSS_BEFORE[$name]} KiB)"
    "$PYTHON" benches/idle_clients.py "$port" "$IDLE_CLIENTS" 900 "$DB_USER" "$DB_PASS" "$DB_NAME" >"$out" 2>"$err" </dev/null &
    IDLE_PID=$!
    deadline=$((SECONDS + IDLE_DEADLINE))
    until grep -q '^ready ' "$out"; do
        if ! kill -0 "$IDLE_PID" 2>/dev/null; then
            cat "$err" >&2
            die "the idle clients to $name exited before all $IDLE_CLIENTS logged in (see $err)"
        fi
        ((SECONDS < deadline)) || die "$IDLE_CLIENTS idle logins to $name took over ${IDLE_DEADLINE}s"
        sleep 0.2
    done
    require_running "$name"
    sleep 1
    RSS_WITH[$name]="$(rss_kib "$pid")"
    kill -TERM "$IDLE_PID"
    wait "$IDLE_PID" || die "the idle clients to $name failed on exit (see $err)"
    IDLE_PID=""
    sleep 1
    RSS_AFTER[$name]="$(rss_kib "$pid")"
    RSS_PER[$name]="$(awk -v a="${RSS_WITH[$name]}" -v b="${RSS_BEFORE[$name]}" -v n="$IDLE_CLIENTS" 'BEGIN { printf "%.1f", (a - b) / n }')"
    log "  $name: RSS ${RSS_BEFORE[$name]} -> ${RSS_WITH[$name]} KiB with $IDLE_CLIENTS idle clients (${RSS_PER[$name]} KiB each), ${RSS_AFTER[$name]} KiB after they left"
}
if ((IDLE_CLIENTS > 0)); then
    for t in "${IDLE_TARGETS[@]}"; do
        if [[ "$t" == rwsplit ]]; then measure_idle rwsplit "$RWSPLIT_PORT"; else measure_idle haproxy "$HAPROXY_IDLE_PORT"; fi
    done
fi

# --- 3. runs -------------------------------------------------------------------------
TARGETS=(direct haproxy rwsplit)
# Per run, keyed "case|target|round".
declare -A R_TPS=() R_P50=() R_P95=() R_Q=() R_TICKS=() R_SRV=() R_ERRS=() R_IGN=() R_CODES=()
any_errors=0
TSV="$RESULTS_DIR/runs.tsv"
printf 'case\ttarget\tround\ttps\tp50_ms\tp95_ms\tstatements\tproxy_cpu_ticks\terrors\tignored\tservers_cpu_ticks\n' >"$TSV"

threads_label() { if (($1 == 1)); then echo "1 thread"; else echo "$1 threads"; fi; }

port_of() { # case target
    local wl="${1%:*}"
    case "$2" in
        direct) if workload_writes "$wl"; then echo "$MASTER_PORT"; else echo "$DIRECT_REPLICA_PORT"; fi ;;
        haproxy) if workload_writes "$wl"; then echo "$HAPROXY_PORT"; else echo "$HAPROXY_REPLICA_PORT"; fi ;;
        rwsplit) echo "$RWSPLIT_PORT" ;;
    esac
}
label_of() { # case target
    local wl="${1%:*}"
    case "$2" in
        direct) if workload_writes "$wl"; then echo "direct (master)"; else echo "direct (replica)"; fi ;;
        haproxy) if workload_writes "$wl"; then echo "haproxy (master)"; else echo "haproxy (replicas)"; fi ;;
        rwsplit) echo rwsplit ;;
    esac
}

for c in "${CASES[@]}"; do
    wl="${c%:*}" threads="${c##*:}"
    for ((round = 1; round <= ROUNDS; round++)); do
        n_targets=${#TARGETS[@]}
        for ((i = 0; i < n_targets; i++)); do
            target="${TARGETS[$(((i + round - 1) % n_targets))]}"
            key="$c|$target|$round"
            port="$(port_of "$c" "$target")"
            out="$RESULTS_DIR/$wl.$threads.$target.$round.txt"
            pid="${PID_OF[$target]:-}"
            require_running haproxy
            require_running rwsplit
            errs=0 codes=""
            if ((round == 1 && WARMUP > 0)); then
                rc=0
                sysbench_run "$wl" "$port" "$threads" "$WARMUP" "$out.warmup" || rc=$?
                tally_errors "$out.warmup" "$rc" "$wl via $target: warm-up"
            fi
            log "$wl, $(threads_label "$threads") via $target (127.0.0.1:$port), round $round/$ROUNDS: ${DURATION}s"
            if [[ -n "$pid" ]]; then before="$(cpu_ticks "$pid")"; fi
            srv_before="$(servers_cpu_ticks)"
            rc=0
            sysbench_run "$wl" "$port" "$threads" "$DURATION" "$out" --histogram=on || rc=$?
            if [[ -n "$pid" ]]; then R_TICKS[$key]=$(($(cpu_ticks "$pid") - before)); fi
            R_SRV[$key]=$(($(servers_cpu_ticks) - srv_before))
            R_TPS[$key]="$(report_rate "$out" 'transactions')"
            # p95 from the histogram: sysbench's own line has 2 decimals only.
            R_P95[$key]="$(histogram_percentile "$out" 95)"
            [[ -n "${R_P95[$key]}" ]] || R_P95[$key]="$(report_value "$out" '95th percentile')"
            R_P50[$key]="$(histogram_percentile "$out" 50)"
            R_Q[$key]="$(report_value "$out" 'queries')"
            R_IGN[$key]="$(report_value "$out" 'ignored errors')"
            tally_errors "$out" "$rc" "$wl via $target"
            R_ERRS[$key]="$errs"
            R_CODES[$key]="$codes"
            ((errs == 0)) || any_errors=1
            cpu=""
            [[ -z "$pid" ]] || cpu=" proxy_cpu=$(cpu_us_per "${R_TICKS[$key]}" "${R_Q[$key]:-0}")us/statement"
            cpu+=" servers_cpu=$(cpu_us_per "${R_SRV[$key]}" "${R_Q[$key]:-0}")us/statement"
            log "  tps=${R_TPS[$key]:--} p50=${R_P50[$key]:--}ms p95=${R_P95[$key]:--}ms statements=${R_Q[$key]:--} errors=$errs ignored=${R_IGN[$key]:--}$cpu"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$target" "$round" "${R_TPS[$key]:-}" "${R_P50[$key]:-}" \
                "${R_P95[$key]:-}" "${R_Q[$key]:-}" "${R_TICKS[$key]:-}" "$errs" "${R_IGN[$key]:-}" "${R_SRV[$key]:-}" >>"$TSV"
        done
    done
done

# --- 4. latency probe ------------------------------------------------------------------
# "name|round|p50" etc., in µs.
declare -A PROBE=()
if [[ -n "$LATENCY_BIN" ]]; then
    for ((round = 1; round <= ROUNDS; round++)); do
        require_running haproxy
        require_running rwsplit
        out="$RESULTS_DIR/latency.$round.txt"
        log "latency probe, round $round/$ROUNDS: $LATENCY_STATEMENTS point selects per target, $LATENCY_BLOCK at a time"
        "$LATENCY_BIN" 127.0.0.1 "$DB_USER" "$DB_PASS" "$DB_NAME" "$TABLES" "$TABLE_SIZE" "$LATENCY_STATEMENTS" "$LATENCY_BLOCK" \
            "direct:$DIRECT_REPLICA_PORT" "haproxy:$HAPROXY_REPLICA_PORT" "rwsplit:$RWSPLIT_PORT" >"$out" 2>&1 \
            || { cat "$out" >&2; die "the latency probe failed (see $out)"; }
        while read -r name rest; do
            for field in $rest; do PROBE[$name|$round|${field%%=*}]="${field#*=}"; done
        done <"$out"
        log "  $(paste -sd';' "$out")"
    done
fi

# --- 5. report -------------------------------------------------------------------------
# Over rounds: median tps and p95, summed errors, CPU over all statements.
declare -A TPS=() P95=() ERRS=() CPU_US=() SRV_US=() ROUND_TPS=() PAIRED=() PAIRED_ROUNDS=()
for c in "${CASES[@]}"; do
    for target in "${TARGETS[@]}"; do
        k="$c|$target"
        tps=() p95=() errs=0 ign=0 ticks=0 srv=0 queries=0 codes=""
        for ((round = 1; round <= ROUNDS; round++)); do
            key="$k|$round"
            tps+=("${R_TPS[$key]:-}")
            p95+=("${R_P95[$key]:-}")
            errs=$((errs + ${R_ERRS[$key]:-0}))
            ign=$((ign + ${R_IGN[$key]:-0}))
            ticks=$((ticks + ${R_TICKS[$key]:-0}))
            srv=$((srv + ${R_SRV[$key]:-0}))
            queries=$((queries + ${R_Q[$key]:-0}))
            codes+="${R_CODES[$key]:+,${R_CODES[$key]}}"
        done
        TPS[$k]="$(median "${tps[@]}")"
        if [[ "$target" == rwsplit ]]; then
            paired=()
            for ((round = 1; round <= ROUNDS; round++)); do
                paired+=("$(ratio "${R_TPS[$c|rwsplit|$round]:-}" "${R_TPS[$c|haproxy|$round]:-}")")
            done
            PAIRED[$c]="$(median "${paired[@]}")"
            PAIRED_ROUNDS[$c]="${paired[*]}"
        fi
        P95[$k]="$(median "${p95[@]}")"
        ROUND_TPS[$k]=""
        for v in "${tps[@]}"; do ROUND_TPS[$k]+="${ROUND_TPS[$k]:+ }${v:--}"; done
        codes="$(tr ',' '\n' <<<"$codes" | grep . | sort -un | paste -sd, - || true)"
        ERRS[$k]="$errs${codes:+ (error $codes)}"
        ((ign == 0)) || ERRS[$k]+=" +$ign ignored"
        if [[ "$target" != direct ]]; then CPU_US[$k]="$(cpu_us_per "$ticks" "$queries")"; fi
        SRV_US[$k]="$(cpu_us_per "$srv" "$queries")"
    done
done

# Added latency at 1 thread (oltp_point_select:1): proxy minus direct, per round
# (the runs of a round are back to back), median over rounds.
LAT_CASE=""
for c in "${CASES[@]}"; do [[ "$c" != oltp_point_select:1 ]] || LAT_CASE="$c"; done
declare -A LAT=() ADDED=()
if [[ -n "$LAT_CASE" ]]; then
    for target in "${TARGETS[@]}"; do
        for p in 50 95; do
            vals=() added=()
            for ((round = 1; round <= ROUNDS; round++)); do
                v="${R_P50[$LAT_CASE|$target|$round]:-}"
                [[ "$p" == 50 ]] || v="${R_P95[$LAT_CASE|$target|$round]:-}"
                d="${R_P50[$LAT_CASE|direct|$round]:-}"
                [[ "$p" == 50 ]] || d="${R_P95[$LAT_CASE|direct|$round]:-}"
                vals+=("$v")
                if [[ -n "$v" && -n "$d" ]]; then added+=("$(awk -v a="$v" -v b="$d" 'BEGIN { printf "%.3f", a - b }')"); fi
            done
            LAT[$target|$p]="$(median3 "${vals[@]}")"
            ADDED[$target|$p]="$(median3 "${added[@]}")"
        done
    done
fi

# The probe's numbers per target: median over rounds of p50/p95 (µs), and of
# what each proxy adds (proxy - direct in the same round).
declare -A PROBE_MED=() PROBE_ADDED=()
if [[ -n "$LATENCY_BIN" ]]; then
    for target in "${TARGETS[@]}"; do
        for p in p50 p95; do
            vals=() added=()
            for ((round = 1; round <= ROUNDS; round++)); do
                v="${PROBE[$target|$round|$p]:-}" d="${PROBE[direct|$round|$p]:-}"
                vals+=("$v")
                if [[ -n "$v" && -n "$d" ]]; then added+=("$(awk -v a="$v" -v b="$d" 'BEGIN { printf "%.1f", a - b }')"); fi
            done
            PROBE_MED[$target|$p]="$(median "${vals[@]}")"
            PROBE_ADDED[$target|$p]="$(median "${added[@]}")"
        done
    done
fi

# One target line: | what | rwsplit | HAProxy | ratio | required | result |.
# `cmp` is ">=" (ratio at least `limit`) or "<=" (at most).
verdict() { # what rwsplit haproxy cmp limit [unit-free: ratio is rwsplit/haproxy]
    local what=$1 r=$2 h=$3 cmp=$4 limit=$5 q result
    q="$(ratio "$r" "$h")"
    if [[ "$q" == - ]]; then
        result="n/a (no value)"
    elif awk -v q="$q" -v l="$limit" -v c="$cmp" 'BEGIN { exit !(c == ">=" ? q >= l : q <= l) }'; then
        result=PASS
    else
        result=FAIL
    fi
    printf '| %s | %s | %s | %s | %s %s | %s |\n' "$what" "${r:--}" "${h:--}" "$q" "$cmp" "$limit" "$result"
}
# tps: the median of the per-round ratios (ratio of the medians alongside).
tps_verdict() { # case
    local c=$1 q="${PAIRED[$1]:-}" result
    if [[ -z "$q" ]]; then
        verdict "tps ${c%:*}, $(threads_label "${c##*:}")" "${TPS[$c|rwsplit]:-}" "${TPS[$c|haproxy]:-}" ">=" "$TPS_MIN"
        return
    fi
    result=FAIL
    awk -v q="$q" -v l="$TPS_MIN" 'BEGIN { exit !(q >= l) }' && result=PASS
    printf '| tps %s, %s (median of per-round ratios; ratio of medians %s) | %s | %s | %s | >= %s | %s |\n' "${c%:*}" \
        "$(threads_label "${c##*:}")" "$(ratio "${TPS[$c|rwsplit]:-}" "${TPS[$c|haproxy]:-}")" "${TPS[$c|rwsplit]:-}" \
        "${TPS[$c|haproxy]:-}" "$q" "$TPS_MIN" "$result"
}

# Added latency (the probe's when it ran, in µs; else sysbench's, in ms): the
# ratio is meaningless when HAProxy added nothing measurable.
latency_verdict() { # p
    local r="${ADDED[rwsplit|$1]:-}" h="${ADDED[haproxy|$1]:-}" unit=ms
    if [[ -n "$LATENCY_BIN" ]]; then r="${PROBE_ADDED[rwsplit|p$1]:-}" h="${PROBE_ADDED[haproxy|p$1]:-}" unit=µs; fi
    if [[ -n "$r" && -n "$h" ]] && awk -v h="$h" 'BEGIN { exit !(h <= 0) }'; then
        local result=FAIL
        awk -v r="$r" 'BEGIN { exit !(r <= 0) }' && result=PASS
        printf '| added p%s latency at 1 thread, %s | %s | %s | - (HAProxy added none) | <= %s | %s |\n' "$1" "$unit" "$r" "$h" "$LATENCY_MAX" "$result"
    else
        verdict "added p$1 latency at 1 thread, $unit" "$r" "$h" "<=" "$LATENCY_MAX"
    fi
}

{
    echo
    echo "benches/perf.sh: sysbench ${DURATION}s x $ROUNDS round(s) per case and target (interleaved), $TABLES x $TABLE_SIZE rows," \
        "--db-ps-mode=auto --mysql-ignore-errors=$IGNORE_ERRORS; rwsplit $(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo '?')," \
        "$(haproxy -v 2>/dev/null | awk 'NR == 1 { print $1, $2, $3 }'); $(nproc) CPUs;" \
        "load average at start: $LOAD_AT_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "direct (replica) = 127.0.0.1:$DIRECT_REPLICA_PORT, direct (master) = :$MASTER_PORT;" \
        "haproxy (replicas) = :$HAPROXY_REPLICA_PORT round-robin, haproxy (master) = :$HAPROXY_PORT; rwsplit = :$RWSPLIT_PORT."
    ((ROUNDS == 1)) || echo "tps and p95 are medians over rounds; CPU is the proxy's utime+stime over all rounds / all statements."
    echo
    echo "| workload | threads | target | tps | p95 ms | ratio to direct | ratio to HAProxy | CPU µs/statement | servers' CPU µs/statement | errors |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"
    for c in "${CASES[@]}"; do
        for target in "${TARGETS[@]}"; do
            k="$c|$target"
            printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${c%:*}" "${c##*:}" "$(label_of "$c" "$target")" \
                "${TPS[$k]:--}" "${P95[$k]:--}" \
                "$(ratio "${TPS[$k]:-}" "${TPS[$c|direct]:-}")" "$(ratio "${TPS[$k]:-}" "${TPS[$c|haproxy]:-}")" \
                "${CPU_US[$k]:--}" "${SRV_US[$k]:--}" "${ERRS[$k]}"
        done
    done
    if ((ROUNDS > 1)); then
        echo
        echo "tps per round, and rwsplit/HAProxy per round (the runs of a round are back to back):"
        for c in "${CASES[@]}"; do
            for target in "${TARGETS[@]}"; do echo "- $c $target: ${ROUND_TPS[$c|$target]}"; done
            echo "- $c rwsplit/haproxy: ${PAIRED_ROUNDS[$c]:--} (median ${PAIRED[$c]:--})"
        done
    fi
    if [[ -n "$LAT_CASE" ]]; then
        echo
        echo "Latency at 1 thread (oltp_point_select, ms; from sysbench's histogram; added = proxy - direct per round, median):"
        echo
        echo "| target | p50 | p95 | added p50 | added p95 |"
        echo "|---|---:|---:|---:|---:|"
        for target in "${TARGETS[@]}"; do
            a50="${ADDED[$target|50]:--}" a95="${ADDED[$target|95]:--}"
            [[ "$target" != direct ]] || { a50=- a95=-; }
            printf '| %s | %s | %s | %s | %s |\n' "$(label_of "$LAT_CASE" "$target")" "${LAT[$target|50]:--}" "${LAT[$target|95]:--}" "$a50" "$a95"
        done
    fi
    if [[ -n "$LATENCY_BIN" ]]; then
        echo
        echo "Latency probe at 1 thread (benches/latency.c: prepared point selects, the targets in turn $LATENCY_BLOCK at a time," \
            "$LATENCY_STATEMENTS per target and round; µs, medians over $ROUNDS round(s); added = proxy - direct per round):"
        echo
        echo "| target | p50 | p95 | added p50 | added p95 |"
        echo "|---|---:|---:|---:|---:|"
        for target in "${TARGETS[@]}"; do
            a50="${PROBE_ADDED[$target|p50]:--}" a95="${PROBE_ADDED[$target|p95]:--}"
            [[ "$target" != direct ]] || { a50=- a95=-; }
            printf '| %s | %s | %s | %s | %s |\n' "$(label_of oltp_point_select:1 "$target")" "${PROBE_MED[$target|p50]:--}" \
                "${PROBE_MED[$target|p95]:--}" "$a50" "$a95"
        done
    fi
    if ((IDLE_CLIENTS > 0)); then
        echo
        echo "Memory per idle client ($IDLE_CLIENTS authenticated idle connections, VmRSS in KiB;" \
            "HAProxy's clients go through its :$HAPROXY_IDLE_PORT listener to rwsplit):"
        echo
        echo "| proxy | RSS before | RSS with the clients | RSS after they left | KiB per idle client |"
        echo "|---|---:|---:|---:|---:|"
        for t in "${IDLE_TARGETS[@]}"; do
            printf '| %s | %s | %s | %s | %s |\n' "$t" "${RSS_BEFORE[$t]:--}" "${RSS_WITH[$t]:--}" "${RSS_AFTER[$t]:--}" "${RSS_PER[$t]:--}"
        done
    fi
    echo
    echo "Targets (rwsplit against HAProxy, same run):"
    echo
    echo "| target | rwsplit | HAProxy | ratio | required | result |"
    echo "|---|---:|---:|---:|---|---|"
    for c in "${CASES[@]}"; do
        wl="${c%:*}" threads="${c##*:}"
        if [[ "$wl" == oltp_read_only_skip_trx || ("$wl" == oltp_point_select && "$threads" -gt 1) ]]; then
            tps_verdict "$c"
        fi
    done
    for c in "${CASES[@]}"; do
        verdict "CPU µs/statement ${c%:*}, $(threads_label "${c##*:}")" "${CPU_US[$c|rwsplit]:-}" "${CPU_US[$c|haproxy]:-}" "<=" "$CPU_MAX"
    done
    if [[ -n "$LAT_CASE" || -n "$LATENCY_BIN" ]]; then
        latency_verdict 50
        latency_verdict 95
    fi
    if ((IDLE_CLIENTS > 0)) && [[ -v "RSS_PER[rwsplit]" ]]; then
        r="${RSS_PER[rwsplit]}"
        result=FAIL
        awk -v r="$r" -v l="$RSS_MAX_KIB" 'BEGIN { exit !(r <= l) }' && result=PASS
        printf '| RSS per idle client, KiB | %s | %s | - | <= %s KiB | %s |\n' "$r" "${RSS_PER[haproxy]:--}" "$RSS_MAX_KIB" "$result"
    fi
} | tee "$RESULTS_DIR/summary.md"

report_rwsplit_log
if ((any_errors)); then
    die "some runs had errors (raw output in $RESULTS_DIR)"
fi
log "all runs clean (raw output in $RESULTS_DIR; per-run numbers in $TSV)"
