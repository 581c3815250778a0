#!/usr/bin/env bash
# End-to-end throughput comparison: sysbench straight to the master, through
# HAProxy (TCP mode, 1 thread) and through rwsplit, for four OLTP workloads,
# with each server's own query counters proving where the statements ran.
# benches/perf.sh is the benchmark with the project's targets (reads against a
# replica and HAProxy's replica port, several thread counts, latency, memory);
# this script answers "where did each statement run".
#
#   benches/sysbench.sh                 # from the repo root
#   DURATION=30 benches/sysbench.sh
#
# What it does, in one run:
#   1. tests/cluster/cluster.sh start (idempotent), cargo build --release;
#   2. prepares database `sbtest` on the master (TABLES x TABLE_SIZE rows) unless it
#      is already complete, then waits for every replica to reach the master's GTID
#      position (MASTER_GTID_WAIT) so read/write splitting runs see the data;
#   3. starts HAProxy (benches/haproxy.cfg: its master listener, 127.0.0.1:6034,
#      for every workload, and its replica listener, :6036, round-robin, for the
#      workloads rwsplit spreads over the replicas), rwsplit (a temp copy of
#      config/rwsplit.toml listening on 127.0.0.1:$RWSPLIT_PORT, log level from
#      RWSPLIT_LOG, default warn) and, for the workloads rwsplit spreads,
#      "rwsplit_master" (the same copy without the replicas, on
#      $RWSPLIT_MASTER_PORT: every statement classified, all of them on the
#      master, as behind HAProxy's master port); a trap stops them on any exit.
#      Steps 1-3 are shared with benches/perf.sh and benches/profile.sh
#      (benches/lib.sh);
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
#      workloads; exits 1 if any run had an error. "Ratio to HAProxy" compares
#      like with like: rwsplit against HAProxy's replica port where rwsplit sends
#      the statements to the replicas (oltp_point_select, *_skip_trx), every
#      other target against its master port. The topology has a cost of its own:
#      on two cores one server taking everything spends less CPU per statement
#      than two replicas sharing it, whichever proxy is in front (in perf.sh's
#      runs the servers spend about 23 µs per point select when one takes the
#      load, 40 between two), so rwsplit splitting reads against HAProxy in
#      front of the master alone would charge the replicas' CPU to the proxy;
#      rwsplit_master against haproxy measures the proxy alone in that setting.
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
# Direct, "haproxy" and "rwsplit_master" runs put every statement on the master
# by construction; "haproxy_replicas" runs (the workloads rwsplit splits) put
# them on the replicas.
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
#   RWSPLIT_PORT [6035]  RWSPLIT_MASTER_PORT [6038]  RWSPLIT_LOG [warn]  NO_BUILD [unset: build]
#   MONITOR_USER [monitor]  MONITOR_PASSWORD [monitor]  reads the servers' counters
#   RESULTS_DIR [target/sysbench/<timestamp>]  raw sysbench output and proxy logs
#
# The machine running this is small: client, three MariaDB servers and the proxy
# share the cores, so absolute numbers mean little; compare rwsplit with HAProxy.
set -euo pipefail

BENCH_NAME=sysbench
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-3}"
ROUNDS="${ROUNDS:-1}"
THREADS="${THREADS:-16}"
read -r -a WORKLOADS <<<"${WORKLOADS:-oltp_point_select oltp_read_only oltp_read_only_skip_trx oltp_read_write}"

require_tools sysbench haproxy mariadb cargo getconf
require_positive_ints DURATION ROUNDS THREADS
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer (got '$WARMUP')"
for wl in "${WORKLOADS[@]}"; do check_workload_name "$wl"; done

bench_init
bench_cluster_and_build
bench_dataset
RWSPLIT_MASTER_PORT="${RWSPLIT_MASTER_PORT:-6038}"
# Autocommit reads: rwsplit spreads them over the replicas.
splits_reads() { [[ "$1" == oltp_point_select || "$1" == *_skip_trx ]]; }

start_haproxy
start_rwsplit
for wl in "${WORKLOADS[@]}"; do
    if splits_reads "$wl"; then
        start_rwsplit rwsplit_master "$RWSPLIT_MASTER_PORT" master_only
        break
    fi
done

# --- 4. runs -----------------------------------------------------------------------
declare -A PORT_OF=([direct]="$MASTER_PORT" [haproxy]="$HAPROXY_PORT" [haproxy_replicas]="$HAPROXY_REPLICA_PORT"
    [rwsplit]="$RWSPLIT_PORT" [rwsplit_master]="$RWSPLIT_MASTER_PORT")
targets_of() { # workload
    if splits_reads "$1"; then
        echo direct haproxy rwsplit_master haproxy_replicas rwsplit
    else
        echo direct haproxy rwsplit
    fi
}
# The HAProxy run that sends a target's statements where the target sends them.
like_haproxy() { # workload target
    if splits_reads "$1" && [[ "$2" == rwsplit || "$2" == haproxy_replicas ]]; then
        echo haproxy_replicas
    else
        echo haproxy
    fi
}
proxy_of() { if [[ "$1" == haproxy_replicas ]]; then echo haproxy; else echo "$1"; fi; }
# Per run, keyed "workload|target|round".
declare -A R_TPS=() R_P95=() R_Q=() R_TICKS=() R_ERRS=() R_IGN=() R_CODES=()
# Counter deltas of the measured runs, keyed "workload|target|round|port|counter".
declare -A R_CNT=()
any_errors=0

for wl in "${WORKLOADS[@]}"; do
    read -r -a TARGETS <<<"$(targets_of "$wl")"
    for ((round = 1; round <= ROUNDS; round++)); do
        for target in "${TARGETS[@]}"; do
            key="$wl|$target|$round"
            port="${PORT_OF[$target]}"
            out="$RESULTS_DIR/$wl.$target.$round.txt"
            pid="${PID_OF[$(proxy_of "$target")]:-}"
            require_running "$(proxy_of "$target")"
            errs=0 codes=""
            if ((WARMUP > 0)); then
                rc=0
                sysbench_run "$wl" "$port" "$THREADS" "$WARMUP" "$out.warmup" || rc=$?
                tally_errors "$out.warmup" "$rc" "$wl via $target: warm-up"
            fi
            log "$wl via $target (127.0.0.1:$port), round $round/$ROUNDS: ${DURATION}s x $THREADS threads"
            counters_before="$(server_counters)"
            if [[ -n "$pid" ]]; then before="$(cpu_ticks "$pid")"; fi
            rc=0
            sysbench_run "$wl" "$port" "$THREADS" "$DURATION" "$out" || rc=$?
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
            tally_errors "$out" "$rc" "$wl via $target"
            R_ERRS[$key]="$errs"
            R_CODES[$key]="$codes"
            ((errs == 0)) || any_errors=1
            cpu=""
            if [[ -n "$pid" ]]; then
                cpu="proxy_cpu=$(cpu_us_per "${R_TICKS[$key]}" "${R_Q[$key]:-0}")us/query ($(awk -v t="${R_TICKS[$key]}" \
                    -v hz="$CLK_TCK" -v d="$DURATION" 'BEGIN { printf "%.0f", t / hz / d * 100 }')% of a core)"
            fi
            log "  tps=${R_TPS[$key]:--} p95=${R_P95[$key]:--}ms queries=${R_Q[$key]:--} errors=$errs ignored=${R_IGN[$key]:--} $cpu"
            log "  Com_select per server:$per_server"
        done
    done
done

# --- 5. report -----------------------------------------------------------------------
# Aggregates over rounds: median tps and p95, summed errors, CPU over all queries,
# summed per-server counters.
declare -A TPS=() P95=() ERRS=() CPU_US=() ROUND_TPS=() CNT=()
for wl in "${WORKLOADS[@]}"; do
    read -r -a TARGETS <<<"$(targets_of "$wl")"
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
        if [[ "$target" != direct ]] && ((queries > 0)); then CPU_US[$k]="$(cpu_us_per "$ticks" "$queries")"; fi
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
        read -r -a TARGETS <<<"$(targets_of "$wl")"
        for target in "${TARGETS[@]}"; do
            k="$wl|$target"
            like="$(like_haproxy "$wl" "$target")"
            printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$wl" "$target" \
                "${TPS[$k]:--}" "${P95[$k]:--}" "${ERRS[$k]}" "${CPU_US[$k]:--}" \
                "$(ratio "${TPS[$k]:-}" "${TPS[$wl|direct]:-}")" \
                "$(ratio "${TPS[$k]:-}" "${TPS[$wl|$like]:-}")"
        done
    done
    echo
    echo "Ratio to HAProxy: against HAProxy sending the statements where the target sends them (haproxy_replicas" \
        "for rwsplit on the workloads it spreads over the replicas; haproxy, the master, otherwise)."
    if ((ROUNDS > 1)); then
        echo
        echo "tps per round:"
        for wl in "${WORKLOADS[@]}"; do
            read -r -a TARGETS <<<"$(targets_of "$wl")"
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
        read -r -a TARGETS <<<"$(targets_of "$wl")"
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
        echo "$wl tps ratios: every statement on the master: rwsplit_master/haproxy =" \
            "$(ratio "${TPS[$wl|rwsplit_master]:-}" "${TPS[$wl|haproxy]:-}")$target_note;" \
            "reads split over the replicas: rwsplit/haproxy_replicas =" \
            "$(ratio "${TPS[$wl|rwsplit]:-}" "${TPS[$wl|haproxy_replicas]:-}")$target_note;" \
            "rwsplit/direct = $(ratio "${TPS[$wl|rwsplit]:-}" "${TPS[$wl|direct]:-}")," \
            "haproxy_replicas/direct = $(ratio "${TPS[$wl|haproxy_replicas]:-}" "${TPS[$wl|direct]:-}");" \
            "rwsplit splitting against HAProxy to the master alone: $(ratio "${TPS[$wl|rwsplit]:-}" "${TPS[$wl|haproxy]:-}")"
    done
} | tee "$RESULTS_DIR/summary.md"

report_rwsplit_log
if ((any_errors)); then
    die "some runs had errors (raw output in $RESULTS_DIR)"
fi
log "all runs clean (raw output in $RESULTS_DIR)"
