#!/usr/bin/env bash
# User-space instructions per statement, rwsplit next to HAProxy, counted by
# valgrind's callgrind. Unlike time, an instruction count is the same for the
# same binary, workload and statement count whatever else the machine is
# doing, so a change to the hot path can be measured in one run (the timed
# benchmarks, benches/perf.sh, need many rounds on this shared machine). What
# it does not count: the kernel's side (system calls, TCP), which is most of
# a proxy's CPU here and about the same for both (benches/profile.sh).
#
#   benches/callgrind.sh                                  # oltp_point_select, 8 threads
#   WORKLOAD=oltp_read_only_skip_trx STATEMENTS=20000 benches/callgrind.sh
#
# For each proxy: starts it under `valgrind --tool=callgrind` (cluster, build,
# dataset and proxies as benches/perf.sh, through benches/lib.sh), runs
# WARMUP_STATEMENTS statements through it with sysbench, zeroes the counters
# (callgrind_control -z), runs STATEMENTS statements (sysbench --events), dumps
# (callgrind_control -d) and prints instructions per statement, the proxy's
# TOP functions by inclusive count, and where the output files are
# (callgrind_annotate them for more).
#
# Environment (defaults in brackets; benches/lib.sh lists the shared ones):
#   WORKLOAD [oltp_point_select]  THREADS [8]  STATEMENTS [20000]
#   WARMUP_STATEMENTS [2000]  TOP [30]  HAPROXY [1] (0: rwsplit only)
set -euo pipefail

BENCH_NAME=callgrind
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WORKLOAD="${WORKLOAD:-oltp_point_select}"
THREADS="${THREADS:-8}"
STATEMENTS="${STATEMENTS:-20000}"
WARMUP_STATEMENTS="${WARMUP_STATEMENTS:-2000}"
TOP="${TOP:-30}"
HAPROXY="${HAPROXY:-1}"
# valgrind starts a proxy slowly.
START_DEADLINE=120

require_tools sysbench haproxy mariadb cargo getconf valgrind callgrind_control callgrind_annotate
check_workload_name "$WORKLOAD"
require_positive_ints THREADS STATEMENTS WARMUP_STATEMENTS TOP
workload_writes "$WORKLOAD" && die "$WORKLOAD writes: HAProxy's replica port would refuse it (use a read-only workload)"

bench_init
bench_cluster_and_build
bench_dataset

# Runs the measured statements through `name` on `port`; prints the summary.
measure() { # name port
    local name=$1 port=$2 pid="${PID_OF[$1]}" out total statements rc
    rc=0
    sysbench_run "$WORKLOAD" "$port" "$THREADS" 0 "$RESULTS_DIR/warmup.$name.txt" --events="$WARMUP_STATEMENTS" || rc=$?
    tally_errors "$RESULTS_DIR/warmup.$name.txt" "$rc" "$name: warm-up"
    callgrind_control -z "$pid" >/dev/null
    rc=0
    out="$RESULTS_DIR/sysbench.$name.txt"
    sysbench_run "$WORKLOAD" "$port" "$THREADS" 0 "$out" --events="$STATEMENTS" || rc=$?
    tally_errors "$out" "$rc" "$name"
    ((errs == 0)) || die "$name: sysbench errors (see $out)"
    callgrind_control -d "$pid" >/dev/null
    statements="$(report_value "$out" 'queries')"
    local dump
    dump="$(ls -t "$RESULTS_DIR"/callgrind."$name".*.1 2>/dev/null | head -n 1)"
    [[ -n "$dump" ]] || die "no callgrind dump for $name in $RESULTS_DIR"
    callgrind_annotate --inclusive=yes "$dump" >"$dump.inclusive.txt" 2>/dev/null
    total="$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$dump.inclusive.txt")"
    PER[$name]=$((total / statements))
    log "$name: $total instructions over $statements statements: ${PER[$name]} per statement (dump: $dump)"
    {
        echo
        echo "$name, top $TOP by inclusive instructions per statement (below the event loop):"
        echo '```'
        awk -v q="$statements" '/^ *[0-9,]+ \(/ { n = $1; gsub(",", "", n); $1 = ""; $2 = ""; sub(/^ +/, ""); sub(/ \[[^]]*\]$/, ""); printf "%7d  %s\n", n / q, $0 }' \
            "$dump.inclusive.txt" | sed -E 's#/root/.cargo/registry/src/[^/]+/##; s#/rustc/[0-9a-f]+/library/##' \
            | awk -v top="$TOP" 'NR == 1 { total = $1; next } $1 < 0.97 * total && !seen[$2]++ && n++ < top' | cut -c1-180
        echo '```'
    } >>"$RESULTS_DIR/summary.md"
}

declare -A PER=()
: >"$RESULTS_DIR/summary.md"
errs=0
RWSPLIT_WRAP=(valgrind --tool=callgrind "--callgrind-out-file=$RESULTS_DIR/callgrind.rwsplit.%p")
start_rwsplit
measure rwsplit "$RWSPLIT_PORT"
if ((HAPROXY)); then
    HAPROXY_WRAP=(valgrind --tool=callgrind "--callgrind-out-file=$RESULTS_DIR/callgrind.haproxy.%p")
    start_haproxy
    measure haproxy "$HAPROXY_REPLICA_PORT"
fi
{
    echo "benches/callgrind.sh: $WORKLOAD, $THREADS threads, $STATEMENTS statements after $WARMUP_STATEMENTS;" \
        "rwsplit $(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo '?')"
    echo
    echo "| proxy | user-space instructions per statement |"
    echo "|---|---:|"
    for name in rwsplit haproxy; do [[ -z "${PER[$name]:-}" ]] || echo "| $name | ${PER[$name]} |"; done
    cat "$RESULTS_DIR/summary.md"
} | tee "$RESULTS_DIR/report.md"
