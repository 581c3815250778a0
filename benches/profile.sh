#!/usr/bin/env bash
# Where rwsplit spends its time on one workload, next to HAProxy: a CPU profile
# (perf record) and system calls per statement (strace -c), both while sysbench
# runs through the proxy.
#
#   benches/profile.sh                     # oltp_point_select, 16 threads
#   WORKLOAD=oltp_read_only_skip_trx PROFILE_SECONDS=20 benches/profile.sh
#
# What it does (cluster, build, dataset and proxies as benches/perf.sh, through
# benches/lib.sh; the release build carries debug=1, so perf resolves symbols and
# inlined frames):
#   1. a WARMUP-second sysbench run through each proxy;
#   2. perf record -e cpu-clock (no hardware counters needed) --call-graph dwarf
#      on the rwsplit process for PROFILE_SECONDS while sysbench runs through it;
#      writes perf report --no-children (self) and --children to the results
#      directory and prints the top TOP entries of each; HAProxy's own self
#      profile goes next to it when PROFILE_HAPROXY=1; a flame graph of each
#      (flamegraph.TARGET.svg, by benches/flamegraph.py from `perf script`,
#      with the folded stacks in perf.TARGET.folded);
#   3. for rwsplit, then HAProxy: strace -c -f attached to the proxy during a
#      STRACE_SECONDS sysbench run (started after strace attached, ended before it
#      detaches, so every statement of the run and only those are counted, plus
#      the run's 16 logins) and prints each system call's count per statement
#      (calls / sysbench's statement count). strace slows the proxy down a lot;
#      the counts per statement stay meaningful, the throughput does not.
#
# Environment (defaults in brackets; benches/lib.sh lists the shared ones):
#   WORKLOAD [oltp_point_select]  THREADS [16]  WARMUP [3]
#   PROFILE_SECONDS [10]  PERF_FREQ [999]  PERF_CALL_GRAPH [dwarf,16384] (or fp)
#   STRACE_SECONDS [5]    TOP [15]  PROFILE_HAPROXY [1]
set -euo pipefail

BENCH_NAME=profile
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WORKLOAD="${WORKLOAD:-oltp_point_select}"
THREADS="${THREADS:-16}"
WARMUP="${WARMUP:-3}"
PROFILE_SECONDS="${PROFILE_SECONDS:-10}"
PERF_FREQ="${PERF_FREQ:-999}"
PERF_CALL_GRAPH="${PERF_CALL_GRAPH:-dwarf,16384}"
STRACE_SECONDS="${STRACE_SECONDS:-5}"
TOP="${TOP:-15}"
PROFILE_HAPROXY="${PROFILE_HAPROXY:-1}"

require_tools sysbench haproxy mariadb cargo getconf perf strace
check_workload_name "$WORKLOAD"
require_positive_ints THREADS PROFILE_SECONDS STRACE_SECONDS TOP PERF_FREQ
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer (got '$WARMUP')"

bench_init
# perf and strace started by this script, stopped on any exit.
declare -A TRACER_PID=()
bench_cleanup_hook() {
    local name
    for name in "${!TRACER_PID[@]}"; do
        kill -INT "${TRACER_PID[$name]}" 2>/dev/null || true
        wait "${TRACER_PID[$name]}" 2>/dev/null || true
    done
}
bench_cluster_and_build
bench_dataset
start_haproxy
start_rwsplit

if workload_writes "$WORKLOAD"; then HAPROXY_TARGET_PORT="$HAPROXY_PORT"; else HAPROXY_TARGET_PORT="$HAPROXY_REPLICA_PORT"; fi
declare -A PORT_OF=([rwsplit]="$RWSPLIT_PORT" [haproxy]="$HAPROXY_TARGET_PORT")

run_checked() { # target seconds outfile
    local rc=0 errs
    sysbench_run "$WORKLOAD" "${PORT_OF[$1]}" "$THREADS" "$2" "$3" || rc=$?
    errs="$(count_errors "$3" "$rc")"
    if ((errs > 0)); then
        show_errors "$3"
        die "sysbench through $1 had $errs error(s) (output: $3)"
    fi
}

if ((WARMUP > 0)); then
    for target in rwsplit haproxy; do
        log "warm-up through $target: ${WARMUP}s"
        run_checked "$target" "$WARMUP" "$RESULTS_DIR/warmup.$target.txt"
    done
fi

# --- perf ----------------------------------------------------------------------------
# perf record on `target` for PROFILE_SECONDS while sysbench runs a little longer.
profile_cpu() { # target
    local target=$1 data="$RESULTS_DIR/perf.$1.data" pid="${PID_OF[$1]}" sb_pid
    log "perf record on $target (pid $pid): ${PROFILE_SECONDS}s of $WORKLOAD x $THREADS threads"
    sysbench_run "$WORKLOAD" "${PORT_OF[$target]}" "$THREADS" $((PROFILE_SECONDS + 3)) "$RESULTS_DIR/sysbench.perf.$target.txt" &
    sb_pid=$!
    sleep 1
    perf record -e cpu-clock -F "$PERF_FREQ" --call-graph "$PERF_CALL_GRAPH" -p "$pid" -o "$data" \
        -- sleep "$PROFILE_SECONDS" >"$RESULTS_DIR/perf-record.$target.log" 2>&1 \
        || { cat "$RESULTS_DIR/perf-record.$target.log" >&2; die "perf record failed"; }
    wait "$sb_pid" || die "sysbench during perf record failed (see $RESULTS_DIR/sysbench.perf.$target.txt)"
    # --no-children: where the time is spent itself; --children: with its callees.
    perf report -i "$data" --no-children --stdio --percent-limit 0.05 -g none --sort symbol \
        >"$RESULTS_DIR/perf.$target.self.txt" 2>/dev/null || die "perf report failed"
    perf report -i "$data" --children --stdio --percent-limit 1 -g none --sort symbol \
        >"$RESULTS_DIR/perf.$target.children.txt" 2>/dev/null || die "perf report failed"
    # Call chains of the self profile, for reading.
    perf report -i "$data" --no-children --stdio --percent-limit 1 -g caller,0.5,callee,function,percent \
        >"$RESULTS_DIR/perf.$target.callers.txt" 2>/dev/null || true
    # The flame graph, and its folded stacks for other viewers.
    perf script -i "$data" 2>/dev/null \
        | python3 "$REPO_ROOT/benches/flamegraph.py" --title "$target: $WORKLOAD, $THREADS threads" \
            --folded "$RESULTS_DIR/perf.$target.folded" >"$RESULTS_DIR/flamegraph.$target.svg" \
        || die "flame graph of $target failed"
}
# The top entries of a perf report: "percent(s) [k|.] symbol", trailing columns cut.
top_entries() { # file n [filter: a grep -F pattern on the line]
    # One awk reading everything: `head` would close the pipe early (SIGPIPE under pipefail).
    # 0xffffffffffffffff: the root of stacks perf could not unwind, not a function.
    awk -v n="$2" -v f="${3:-%}" '/^ +[0-9.]+%/ && index($0, f) && !/0xffffffffffffffff/ && ++k <= n' "$1" \
        | sed -E 's/^ +//; s/[[:space:]-]+$//; s/%  +/% /g'
}
# Share of the samples per binary (kernel, rwsplit, libc...).
dso_split() { # data
    perf report -i "$1" --no-children --stdio --sort dso -g none 2>/dev/null | grep -E '^ +[0-9.]+%' \
        | awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " } END { print "" }'
}

profile_cpu rwsplit
[[ "$PROFILE_HAPROXY" == 0 ]] || profile_cpu haproxy

# --- strace ----------------------------------------------------------------------------
declare -A STATEMENTS=()
trace_syscalls() { # target
    local target=$1 pid="${PID_OF[$1]}" out="$RESULTS_DIR/strace.$1.txt" sb_out="$RESULTS_DIR/sysbench.strace.$1.txt"
    log "strace -c -f on $target (pid $pid) during ${STRACE_SECONDS}s of $WORKLOAD x $THREADS threads"
    strace -c -f -p "$pid" -o "$out" 2>"$RESULTS_DIR/strace.$target.log" &
    TRACER_PID[strace]=$!
    sleep 1 # attaching to every thread
    run_checked "$target" "$STRACE_SECONDS" "$sb_out"
    sleep 0.5
    kill -INT "${TRACER_PID[strace]}" 2>/dev/null || true
    wait "${TRACER_PID[strace]}" || true
    unset 'TRACER_PID[strace]'
    [[ -s "$out" ]] || die "strace wrote no summary (see $RESULTS_DIR/strace.$target.log)"
    STATEMENTS[$target]="$(report_value "$sb_out" queries)"
    require_running "$target"
}
# "syscall calls" per line from an strace -c summary.
# Columns: % time, seconds, usecs/call, calls, [errors,] syscall.
syscall_counts() { awk '$1 ~ /^[0-9.]+$/ && NF >= 5 { print $NF, $4 }' "$1" | LC_ALL=C sort; }

trace_syscalls rwsplit
trace_syscalls haproxy

# --- report ------------------------------------------------------------------------------
{
    echo
    echo "benches/profile.sh: $WORKLOAD, $THREADS threads; rwsplit $(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo '?');" \
        "perf record -e cpu-clock -F $PERF_FREQ --call-graph $PERF_CALL_GRAPH for ${PROFILE_SECONDS}s;" \
        "load average $(cut -d' ' -f1-3 /proc/loadavg)"
    for target in rwsplit haproxy; do
        [[ -s "$RESULTS_DIR/perf.$target.self.txt" ]] || continue
        echo
        echo "$target: samples by binary: $(dso_split "$RESULTS_DIR/perf.$target.data")"
        echo
        echo "$target, top $TOP by self time (% of the process's samples; [k] kernel, [.] user space):"
        echo '```'
        top_entries "$RESULTS_DIR/perf.$target.self.txt" "$TOP"
        echo '```'
        echo
        echo "$target, top $TOP in user space by self time:"
        echo '```'
        top_entries "$RESULTS_DIR/perf.$target.self.txt" "$TOP" '[.]'
        echo '```'
        if [[ "$target" == rwsplit ]]; then
            echo
            echo "$target, top $TOP with children (children %, self %):"
            echo '```'
            top_entries "$RESULTS_DIR/perf.$target.children.txt" "$TOP"
            echo '```'
        fi
    done
    echo
    echo "System calls per statement (strace -c -f over a ${STRACE_SECONDS}s run;" \
        "statements: rwsplit ${STATEMENTS[rwsplit]}, HAProxy ${STATEMENTS[haproxy]}):"
    echo
    echo "| syscall | rwsplit | HAProxy |"
    echo "|---|---:|---:|"
    LC_ALL=C join -a1 -a2 -e 0 -o 0,1.2,2.2 <(syscall_counts "$RESULTS_DIR/strace.rwsplit.txt") \
        <(syscall_counts "$RESULTS_DIR/strace.haproxy.txt") \
        | awk -v r="${STATEMENTS[rwsplit]}" -v h="${STATEMENTS[haproxy]}" '
            $1 != "total" { printf "%s %.3f %.3f\n", $1, $2 / r, $3 / h; tr += $2; th += $3 }
            END { printf "~total %.3f %.3f\n", tr / r, th / h }' \
        | sort -k2,2gr | awk '$2 >= 0.001 || $3 >= 0.001 { sub(/^~/, "", $1); printf "| %s | %s | %s |\n", $1, $2, $3 }'
} | tee "$RESULTS_DIR/profile.md"
log "perf data, reports, flame graphs (flamegraph.*.svg) and strace summaries in $RESULTS_DIR (perf report -i $RESULTS_DIR/perf.rwsplit.data)"
