#!/usr/bin/env bash
# Two rwsplit builds side by side, with HAProxy as the yardstick: throughput
# and the proxy's CPU per statement split into user and system time, in
# interleaved rounds. For telling whether a hot-path change helps in time, not
# only in instructions (benches/callgrind.sh), and whether what is left between
# rwsplit and HAProxy is user space (rwsplit's own code and tokio) or kernel
# (system calls, TCP), without a full benches/perf.sh run.
#
#   OLD_BIN=/tmp/old/target/release/rwsplit benches/ab.sh
#   OLD_BIN=... THREADS=16 WORKLOAD=oltp_read_only_skip_trx ROUNDS=5 benches/ab.sh
#
# A build of an earlier commit, for OLD_BIN:
#   git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build --release)
#
# Cluster, build, dataset and proxies as benches/perf.sh (benches/lib.sh): HAProxy
# (its replica port), OLD_BIN on OLD_PORT and this tree's release build on
# $RWSPLIT_PORT, each with config/rwsplit.toml. A WARMUP-second run through
# each, then ROUNDS rounds of one SECONDS-second sysbench run per target (round
# r starts at the r-th target); around each run the proxy's utime and stime
# (/proc/PID/stat) and the cluster's servers' utime+stime. Prints one line per
# run and, per target, the medians over rounds: tps, the proxy's user, system
# and total µs per statement, and the servers' (on two shared cores what the
# servers spend per statement counts as much as the proxy's, and a proxy can
# change it: the commands it sends, how it sends them).
#
# Environment (defaults in brackets; benches/lib.sh lists the shared ones):
#   OLD_BIN (required)  OLD_PORT [6039]  WORKLOAD [oltp_point_select]
#   THREADS [64]  SECONDS_PER_RUN [15]  ROUNDS [4]  WARMUP [3]
set -euo pipefail

BENCH_NAME=ab
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OLD_BIN="${OLD_BIN:-}"
OLD_PORT="${OLD_PORT:-6039}"
WORKLOAD="${WORKLOAD:-oltp_point_select}"
THREADS="${THREADS:-64}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-15}"
ROUNDS="${ROUNDS:-4}"
WARMUP="${WARMUP:-3}"

require_tools sysbench haproxy mariadb cargo getconf python3
[[ -n "$OLD_BIN" && -x "$OLD_BIN" ]] || die "OLD_BIN must name an rwsplit binary to compare with (see the header)"
check_workload_name "$WORKLOAD"
require_positive_ints OLD_PORT THREADS SECONDS_PER_RUN ROUNDS WARMUP
workload_writes "$WORKLOAD" && die "$WORKLOAD writes: HAProxy's replica port would refuse it (use a read-only workload)"

bench_init
bench_cluster_and_build
bench_dataset
start_haproxy
NEW_BIN="$RWSPLIT_BIN"
RWSPLIT_BIN="$OLD_BIN" start_rwsplit old "$OLD_PORT"
RWSPLIT_BIN="$NEW_BIN" start_rwsplit new "$RWSPLIT_PORT"

declare -A PORT=([haproxy]="$HAPROXY_REPLICA_PORT" [old]="$OLD_PORT" [new]="$RWSPLIT_PORT")
TARGETS=(haproxy old new)
errs=0 codes=""
for name in "${TARGETS[@]}"; do
    rc=0
    sysbench_run "$WORKLOAD" "${PORT[$name]}" "$THREADS" "$WARMUP" "$RESULTS_DIR/warmup.$name.txt" || rc=$?
    tally_errors "$RESULTS_DIR/warmup.$name.txt" "$rc" "$name: warm-up"
done

# One line per run: target tps user_us sys_us total_us servers_us.
: >"$RESULTS_DIR/runs.txt"
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#TARGETS[@]}; k++)); do
        name="${TARGETS[$(((r + k) % ${#TARGETS[@]}))]}"
        pid="${PID_OF[$name]}"
        out="$RESULTS_DIR/$name.$r.txt"
        read -r u0 s0 < <(cut -d' ' -f14,15 "/proc/$pid/stat")
        srv0="$(servers_cpu_ticks)"
        rc=0
        sysbench_run "$WORKLOAD" "${PORT[$name]}" "$THREADS" "$SECONDS_PER_RUN" "$out" || rc=$?
        read -r u1 s1 < <(cut -d' ' -f14,15 "/proc/$pid/stat")
        srv1="$(servers_cpu_ticks)"
        tally_errors "$out" "$rc" "$name"
        events="$(report_value "$out" 'total number of events')"
        [[ "$events" =~ ^[0-9]+$ && "$events" -gt 0 ]] || die "no statements in $out"
        line="$(python3 -c 'import sys
n, ev, secs, tck, u, s, srv = sys.argv[1], *map(int, sys.argv[2:])
us = lambda t: t * 1e6 / tck / ev
print(f"{n} {ev / secs:.0f} {us(u):.2f} {us(s):.2f} {us(u + s):.2f} {us(srv):.1f}")' \
            "$name" "$events" "$SECONDS_PER_RUN" "$CLK_TCK" $((u1 - u0)) $((s1 - s0)) $((srv1 - srv0)))"
        echo "$line" >>"$RESULTS_DIR/runs.txt"
        read -r _ tps user sys total servers <<<"$line"
        log "round $((r + 1)) $name: $tps tps, CPU per statement user $user + system $sys = $total µs, servers $servers µs"
    done
done
((errs == 0)) || die "sysbench reported errors (see $RESULTS_DIR)"

{
    echo "benches/ab.sh: $WORKLOAD, $THREADS threads, $ROUNDS round(s) of ${SECONDS_PER_RUN}s;" \
        "old = $OLD_BIN, new = $(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo '?')"
    echo
    echo "| target | tps | user µs/statement | system µs/statement | total µs/statement | servers' µs/statement |"
    echo "|---|---:|---:|---:|---:|---:|"
    python3 -c 'import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    n, *v = line.split()
    rows.setdefault(n, []).append([float(x) for x in v])
for n in ("haproxy", "old", "new"):
    cols = list(zip(*rows[n]))
    med = [statistics.median(c) for c in cols]
    print(f"| {n} | {med[0]:.0f} | {med[1]:.2f} | {med[2]:.2f} | {med[3]:.2f} | {med[4]:.1f} |")' "$RESULTS_DIR/runs.txt"
    echo
    echo "Medians over rounds. Per run: $RESULTS_DIR/runs.txt (target tps user system total servers)."
} | tee "$RESULTS_DIR/summary.md"
