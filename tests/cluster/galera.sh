#!/usr/bin/env bash
# Local three-node MariaDB Galera cluster (Debian's galera-4) for rwsplit
# development and integration tests. Every node is writable (read_only=OFF).
#
#   galera.sh start      initialise (first time) or start the cluster; no-op if healthy
#   galera.sh stop       clean shutdown of every node, the bootstrap candidate last
#   galera.sh status     one line per node; exit 0 only if all are Synced in one
#                        Primary component of full size
#   galera.sh destroy    stop, then delete the cluster directory
#   galera.sh check      self-test: write on each node, read on the others, grants
#   galera.sh sql PORT [client-options...] [STATEMENT]
#                        run STATEMENT (or stdin) as root on that node via its socket
#
# Environment:
#   RWSPLIT_GALERA_DIR          data directory (default: <repo>/.galera)
#   RWSPLIT_GALERA_PORTS        SQL ports (default "14306 14307 14308"); the first
#                               node bootstraps a fresh cluster
#   RWSPLIT_GALERA_GCOMM_BASE   Galera ports of node i (0-based): group communication
#                               BASE+10i, IST BASE+10i+1, SST BASE+10i+2
#                               (default 14567: 14567/14568/14569, 14577/..., 14587/...)
#   RWSPLIT_GALERA_SST          SST method: rsync (default) or mariabackup
#   RWSPLIT_GALERA_DEADLINE     seconds to wait for each node / state transfer (default 60)
#
# Accounts (all host '%'): app/app (all privileges but SUPER / READ_ONLY ADMIN),
# monitor/monitor (status, processlist). Database `test`. Must run as OS root:
# the script logs in as MariaDB root via unix_socket auth.
#
# Fault injection (PORT is a SQL port; the pid is in <dir>/node<PORT>/mariadbd.pid):
#   desync:  galera.sh sql PORT 'SET GLOBAL wsrep_desync = ON'  (root only)
#            -> wsrep_local_state=2 (Donor/Desynced): still serves reads and
#            writes but lags without throttling the cluster; undo with OFF
#   reject:  galera.sh sql PORT 'SET GLOBAL wsrep_reject_queries = ALL'
#            -> statements on tables fail with ERROR 1047 (ALL_KILL also
#            drops existing connections); undo with NONE
#   kill:    kill -9 "$(cat .galera/node14307/mariadbd.pid)"
#            -> the others evict it after ~6 s (evs.suspect_timeout) and stay
#            Primary with cluster_size=2; writes stall until then
#   hang:    kill -STOP PID (evicted like a kill), kill -CONT PID to resume
#   quorum:  kill two of three -> the survivor goes non-Primary:
#            wsrep_ready=OFF, statements on tables fail with ERROR 1047
# `start` repairs all of this: restarts dead nodes (they rejoin by IST; one
# restarted right after a kill waits until its old self is evicted, ~15 s),
# resumes SIGSTOPped ones, re-bootstraps a non-Primary survivor and sets
# wsrep_desync, wsrep_reject_queries and read_only back off.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
GALERA_DIR="${RWSPLIT_GALERA_DIR:-$REPO_ROOT/.galera}"
read -r -a ALL_PORTS <<<"${RWSPLIT_GALERA_PORTS:-14306 14307 14308}"
GCOMM_BASE="${RWSPLIT_GALERA_GCOMM_BASE:-14567}"
DEADLINE_SECS="${RWSPLIT_GALERA_DEADLINE:-60}"
GALERA_LIB=/usr/lib/galera/libgalera_smm.so
CLUSTER_NAME=rwsplit_galera
# Written last during initialisation: a cluster dir without it is a half-built
# leftover from an interrupted first start and is safe to rebuild.
SETUP_MARKER="$GALERA_DIR/setup-done"

log() { printf 'galera: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

node_dir()    { printf '%s/node%s' "$GALERA_DIR" "$1"; }
node_cnf()    { printf '%s/my.cnf' "$(node_dir "$1")"; }
node_sock()   { printf '%s/mariadb.sock' "$(node_dir "$1")"; }
node_pidf()   { printf '%s/mariadbd.pid' "$(node_dir "$1")"; }
node_errlog() { printf '%s/error.log' "$(node_dir "$1")"; }
node_grastate() { printf '%s/data/grastate.dat' "$(node_dir "$1")"; }

# Position of a SQL port in ALL_PORTS (0-based); the Galera ports follow from it.
index_of() {
    local i
    for i in "${!ALL_PORTS[@]}"; do
        [[ "${ALL_PORTS[$i]}" == "$1" ]] && { echo "$i"; return; }
    done
    die "port $1 is not part of this cluster (ports: ${ALL_PORTS[*]})"
}
gcomm_port() { echo $((GCOMM_BASE + 10 * $(index_of "$1"))); }
ist_port()   { echo $(($(gcomm_port "$1") + 1)); }
sst_port()   { echo $(($(gcomm_port "$1") + 2)); }

cluster_address() {
    local port addrs=()
    for port in "${ALL_PORTS[@]}"; do addrs+=("127.0.0.1:$(gcomm_port "$port")"); done
    local IFS=,
    echo "gcomm://${addrs[*]}"
}

# State transfer method for joiners that need a full copy (a fresh node, or
# one too far behind for IST). rsync by default: Debian's mariadb-server
# depends on it, and a copy of this small datadir takes ~3 s. It blocks writes
# on the donor meanwhile, which only matters while a node (re)joins.
# mariabackup keeps the donor writable but needs the mariadb-backup package,
# and its donor script sleeps a fixed 10 s before every transfer (a fresh
# cluster takes ~30 s instead of ~15 s).
sst_method() {
    local m="${RWSPLIT_GALERA_SST:-rsync}"
    case "$m" in
        rsync)
            command -v rsync >/dev/null || die "rsync not found; run scripts/install-deps.sh" ;;
        mariabackup)
            if ! command -v mariabackup >/dev/null || ! command -v socat >/dev/null; then
                die "RWSPLIT_GALERA_SST=mariabackup needs mariabackup (package mariadb-backup) and socat"
            fi ;;
        *) die "RWSPLIT_GALERA_SST must be rsync or mariabackup, not '$m'" ;;
    esac
    echo "$m"
}

# --- client helpers -------------------------------------------------------
# Every client call uses --no-defaults so /etc/mysql cannot redirect it to the
# system server; root logs in through unix_socket auth on the node's socket.
root_sql() {
    local port=$1; shift
    mariadb --no-defaults --socket="$(node_sock "$port")" -uroot \
        --connect-timeout=5 "$@"
}

root_query() { root_sql "$1" -N -B -e "$2"; }

# One tab-separated line: local_state, state comment, ready, cluster size,
# cluster status, last committed seqno. Empty if the node does not answer.
# SHOW, unlike SELECT, works on a node that is not ready (non-Primary).
wsrep_state() {
    root_sql "$1" -N -B -e "SHOW GLOBAL STATUS LIKE 'wsrep\\_%'" 2>/dev/null | awk -F'\t' '
        { v[$1] = $2 }
        END {
            if (NR == 0) exit
            printf "%s\t%s\t%s\t%s\t%s\t%s\n", v["wsrep_local_state"],
                v["wsrep_local_state_comment"], v["wsrep_ready"], v["wsrep_cluster_size"],
                v["wsrep_cluster_status"], v["wsrep_last_committed"]
        }'
}

# Sets the globals W_STATE W_COMMENT W_READY W_SIZE W_STATUS W_LAST for a node
# (all empty if it does not answer).
read_wsrep_state() {
    W_STATE='' W_COMMENT='' W_READY='' W_SIZE='' W_STATUS='' W_LAST=''
    IFS=$'\t' read -r W_STATE W_COMMENT W_READY W_SIZE W_STATUS W_LAST \
        < <(wsrep_state "$1") || true
}

# Synced (4) in a Primary component and accepting queries.
node_synced() {
    read_wsrep_state "$1"
    [[ "$W_STATE" == 4 && "$W_STATUS" == Primary && "$W_READY" == ON ]]
}

# --- process helpers ------------------------------------------------------
node_pid() {
    local pidf; pidf="$(node_pidf "$1")"
    [[ -s "$pidf" ]] && cat "$pidf"
    return 0
}

launcher_pid() { cat "$(node_dir "$1")/launcher.pid" 2>/dev/null || true; }

# The pid of the node's mariadbd, checked against its command line so that a
# stale pid reused by an unrelated process is not mistaken for the node. The
# launcher pid counts too: a joiner writes its pid file only after its state
# transfer.
running_pid() {
    local pid
    for pid in "$(node_pid "$1")" "$(launcher_pid "$1")"; do
        [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || continue
        proc_alive "$pid" || continue
        if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--defaults-file=$(node_cnf "$1")"; then
            echo "$pid"
            return 0
        fi
    done
    return 0
}

node_running() { [[ -n "$(running_pid "$1")" ]]; }

node_pingable() {
    mariadb-admin --no-defaults --socket="$(node_sock "$1")" -uroot \
        --connect-timeout=2 ping >/dev/null 2>&1
}

# kill -0 is not enough: a server that died at startup stays a zombie child
# of this shell until we exit.
proc_alive() {
    local state
    state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

show_errlog_tail() {
    local f; f="$(node_errlog "$1")"
    [[ -f "$f" ]] || return 0
    log "last lines of $f:"
    tail -n 30 "$f" >&2
}

fail_node() { local port=$1; shift; log "ERROR: node $port: $*"; show_errlog_tail "$port"; exit 1; }

# --- configuration --------------------------------------------------------
# Rewritten before every launch of a node, so changes here take effect on the
# next start.
write_cnf() {
    local port=$1 dir idx; dir="$(node_dir "$port")"; idx="$(index_of "$port")"
    local gcomm ist sst
    gcomm="$(gcomm_port "$port")"; ist="$(ist_port "$port")"; sst="$(sst_port "$port")"
    cat >"$(node_cnf "$port")" <<EOF
# Generated by tests/cluster/galera.sh -- edits are overwritten on every start.
[mysqld]
user                    = root
datadir                 = $dir/data
socket                  = $dir/mariadb.sock
pid-file                = $dir/mariadbd.pid
log-error               = $dir/error.log
tmpdir                  = $dir/tmp
port                    = $port
bind-address            = 127.0.0.1
skip-name-resolve
read_only               = OFF

# wsrep GTID mode: the same server_id and wsrep_gtid_domain_id on every node
# give each write set the same GTID everywhere (@@gtid_binlog_pos agrees across
# nodes); gtid_domain_id differs per node and only tags writes made with
# wsrep_on=OFF.
server_id               = 1
gtid_domain_id          = $((100 + idx))
wsrep_gtid_mode         = ON
wsrep_gtid_domain_id    = 0
log_bin                 = binlog
log_slave_updates       = ON
binlog_format           = ROW
max_binlog_size         = 64M
binlog_expire_logs_seconds = 3600

# Galera requirements.
default_storage_engine  = InnoDB
innodb_autoinc_lock_mode = 2

max_allowed_packet      = 64M
local_infile            = ON
max_connections         = 500
character-set-server    = utf8mb4
collation-server        = utf8mb4_general_ci
performance_schema      = OFF

# Three servers share a small machine: keep every cache small.
innodb_buffer_pool_size = 64M
innodb_log_file_size    = 16M
innodb_log_buffer_size  = 4M
key_buffer_size         = 4M
aria_pagecache_buffer_size = 8M
# Throwaway test data: trade crash durability for fewer fsyncs (Galera keeps
# the other nodes' copies).
innodb_flush_log_at_trx_commit = 2
sync_binlog             = 0

wsrep_on                = ON
wsrep_provider          = $GALERA_LIB
wsrep_cluster_name      = $CLUSTER_NAME
wsrep_cluster_address   = $(cluster_address)
wsrep_node_name         = node$port
wsrep_node_address      = 127.0.0.1:$gcomm
wsrep_node_incoming_address = 127.0.0.1:$port
wsrep_sst_method        = $(sst_method_cnf)
wsrep_sst_receive_address = 127.0.0.1:$sst
wsrep_slave_threads     = 2
# gcache.recover keeps the write-set cache across restarts, so a node that is
# behind after a full stop/start catches up by IST instead of a full SST.
wsrep_provider_options  = "gmcast.listen_addr=tcp://127.0.0.1:$gcomm;ist.recv_addr=127.0.0.1:$ist;gcache.size=64M;gcache.recover=yes"

[sst]
# mariabackup SST would archive its logs to /tmp/sst_log_archive.
sst-log-archive-dir     = $dir/sst-log-archive
EOF
}

# wsrep_sst_rsync starts `rsync --daemon` on the joiner. Started by root (our
# nodes run as root), the daemon switches to "nobody" for the transfer and
# cannot write the joiner's root-owned datadir (mkdir: Permission denied).
# So rsync SST runs as the custom method "rsync_root": mariadbd looks
# wsrep_sst_<method> up on its PATH, and only <dir>/bin has that one; it puts
# <dir>/bin first on PATH (mariadbd itself prepends /usr//bin, hiding any rsync
# shim from the stock script) and runs the stock script, whose `rsync --daemon`
# then finds a shim that adds uid/gid = root. Other rsync calls pass through.
write_sst_shims() {
    local bin="$GALERA_DIR/bin" real_rsync real_sst
    real_rsync="$(PATH="${PATH//$bin:/}" command -v rsync)" || return 0
    real_sst="$(PATH="${PATH//$bin:/}" command -v wsrep_sst_rsync)" || return 0
    mkdir -p "$bin"
    write_executable "$bin/rsync" <<EOF
#!/bin/sh
# Generated by tests/cluster/galera.sh: keep a root rsync daemon from dropping
# to "nobody" during a Galera rsync SST.
case " \$* " in
    *" --daemon "*) exec "$real_rsync" --dparam=uid=root --dparam=gid=root "\$@" ;;
esac
exec "$real_rsync" "\$@"
EOF
    write_executable "$bin/wsrep_sst_rsync_root" <<EOF
#!/bin/sh
# Generated by tests/cluster/galera.sh: SST method rsync_root = the stock rsync
# SST with the rsync shim next to this file first on PATH.
PATH="$bin:\$PATH"
export PATH
exec "$real_sst" "\$@"
EOF
}

# Replaces a file atomically with stdin, executable (a running SST may be
# executing the old one).
write_executable() {
    cat >"$1.tmp"
    chmod +x "$1.tmp"
    mv -f "$1.tmp" "$1"
}

# The value for wsrep_sst_method.
sst_method_cnf() {
    local m; m="$(sst_method)"
    if [[ "$m" == rsync ]]; then echo rsync_root; else echo "$m"; fi
}

# --- lifecycle of one node ------------------------------------------------
# Only the bootstrap node of a fresh cluster gets system tables; the others
# start empty and receive everything (users included) by SST.
init_node() {
    local port=$1 dir; dir="$(node_dir "$port")"
    mkdir -p "$dir/data" "$dir/tmp"
    write_cnf "$port"
    # Socket auth for root and no anonymous accounts, so '%' users are not
    # shadowed by ''@localhost; --cross-bootstrap keeps the machine's hostname
    # out of the grant tables.
    if ! mariadb-install-db --defaults-file="$(node_cnf "$port")" \
            --auth-root-authentication-method=socket --skip-test-db --cross-bootstrap \
            >"$dir/install-db.log" 2>&1; then
        log "ERROR: mariadb-install-db failed for node $port:"
        tail -n 30 "$dir/install-db.log" >&2
        exit 1
    fi
}

launch_node() {
    local port=$1; shift
    local pos; pos="$(recovered_position "$port")"
    if [[ -n "$pos" ]]; then set -- "$@" --wsrep-start-position="$pos"; fi
    rm -f "$(node_dir "$port")/recovered-position"
    write_cnf "$port"
    write_sst_shims
    rm -f "$(node_pidf "$port")"
    # setsid+nohup detach the server from this shell so it survives our exit;
    # fd 9 (the command lock) must not be inherited or the server holds it.
    PATH="$GALERA_DIR/bin:$PATH" setsid nohup mariadbd --defaults-file="$(node_cnf "$port")" "$@" \
        </dev/null >>"$(node_errlog "$port")" 2>&1 9<&- &
    echo $! >"$(node_dir "$port")/launcher.pid"
}

# Waits until the node is Synced in a Primary component. A joiner does not
# answer at all until its state transfer is done, so this covers SST too.
wait_node_synced() {
    local port=$1 deadline=$((SECONDS + DEADLINE_SECS))
    until node_synced "$port"; do
        node_running "$port" || fail_node "$port" "mariadbd exited during startup"
        if (( SECONDS >= deadline )); then
            if [[ -z "$W_STATE" ]]; then
                fail_node "$port" "not answering after ${DEADLINE_SECS}s (state transfer still running?)"
            fi
            fail_node "$port" "not Synced after ${DEADLINE_SECS}s: wsrep_local_state=$W_STATE ($W_COMMENT)," \
                "wsrep_cluster_status=$W_STATUS wsrep_ready=$W_READY wsrep_cluster_size=$W_SIZE"
        fi
        sleep 0.2
    done
}

wait_cluster_size() {
    local want=${#ALL_PORTS[@]} port deadline=$((SECONDS + DEADLINE_SECS))
    for port in "${ALL_PORTS[@]}"; do
        until node_synced "$port" && [[ "$W_SIZE" == "$want" ]]; do
            if (( SECONDS >= deadline )); then
                fail_node "$port" "wsrep_cluster_size is '${W_SIZE:-?}', not $want, after ${DEADLINE_SECS}s" \
                    "(wsrep_local_state=$W_STATE ($W_COMMENT), wsrep_cluster_status=$W_STATUS)"
            fi
            sleep 0.2
        done
    done
}

stop_node() {
    local port=$1 pid; pid="$(running_pid "$port")"
    [[ -n "$pid" ]] || { rm -f "$(node_pidf "$port")"; return 0; }
    # SQL SHUTDOWN returns at once; we poll the pid ourselves. A node that
    # does not answer (joiner in state transfer, still starting) gets SIGTERM
    # and little patience: 10.11 can hang for good when SIGTERM arrives while
    # it initialises after an SST (main thread stuck in init_slave), and a
    # half-joined node loses nothing it cannot get again by IST/SST.
    local grace=$DEADLINE_SECS
    if ! node_pingable "$port" || ! root_query "$port" 'SHUTDOWN' >/dev/null 2>&1; then
        log "node $port does not answer; sending SIGTERM"
        kill -TERM "$pid" 2>/dev/null || true
        grace=10
    fi
    local deadline=$((SECONDS + grace))
    while proc_alive "$pid"; do
        if (( SECONDS >= deadline )); then
            log "node $port did not stop within ${grace}s, killing -9"
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$(node_pidf "$port")" "$(node_dir "$port")/launcher.pid"
    log "node $port stopped"
}

# --- grastate.dat and bootstrap choice ------------------------------------
grastate_field() {
    local f; f="$(node_grastate "$1")"
    [[ -f "$f" ]] || return 0
    awk -v k="$2:" '$1 == k { print $2 }' "$f"
}

# Where a crashed node stands. After a clean shutdown grastate.dat holds the
# position; after a crash it says seqno -1 and mariadbd started as is would
# need a full SST. Like systemd's galera_recovery, ask InnoDB with
# --wsrep-recover and start the node with --wsrep-start-position, so it
# catches up by IST (and the most advanced node can be found for bootstrap).
# Prints uuid:seqno, or nothing when grastate.dat has the position or none is
# known. Cached until the node's next launch (callers run in subshells).
recovered_position() {
    local port=$1 dir; dir="$(node_dir "$port")"
    local cache="$dir/recovered-position" rlog="$dir/wsrep-recover.log" pos
    [[ -f "$(node_grastate "$port")" && "$(grastate_field "$port" seqno)" == -1 ]] || return 0
    if [[ ! -f "$cache" ]]; then
        log "node $port was not shut down cleanly; recovering its position (--wsrep-recover)"
        rm -f "$rlog"
        write_cnf "$port"
        timeout "$DEADLINE_SECS" mariadbd --defaults-file="$(node_cnf "$port")" --wsrep-recover \
            --skip-networking --socket="$dir/recover.sock" --pid-file="$dir/recover.pid" \
            --log-error="$rlog" </dev/null >/dev/null 2>&1 || true
        pos="$(sed -n 's/.*WSREP: Recovered position: *\([0-9a-f-]*:[0-9][0-9]*\).*/\1/p' "$rlog" 2>/dev/null | tail -n 1)"
        [[ "$pos" == 00000000-0000-0000-0000-000000000000:* ]] && pos=''
        echo "$pos" >"$cache"
    fi
    cat "$cache"
}

# Last committed seqno of a stopped node, -1 if unknown.
stopped_seqno() {
    local pos seqno; seqno="$(grastate_field "$1" seqno)"
    if [[ "$seqno" == -1 ]]; then
        pos="$(recovered_position "$1")"
        [[ -n "$pos" ]] && seqno="${pos##*:}"
    fi
    echo "${seqno:--1}"
}

# With every node down: the node whose grastate.dat says safe_to_bootstrap: 1
# (the last to leave a clean cluster); after a crash, the most advanced node,
# which is then marked safe to bootstrap.
choose_bootstrap_node() {
    local port best='' best_seqno=-2 seqno
    for port in "${ALL_PORTS[@]}"; do
        [[ "$(grastate_field "$port" safe_to_bootstrap)" == 1 ]] || continue
        seqno="$(grastate_field "$port" seqno)"
        if [[ -z "$best" ]] || (( seqno > best_seqno )); then best=$port; best_seqno=$seqno; fi
    done
    if [[ -n "$best" ]]; then echo "$best"; return; fi
    log "no node is marked safe_to_bootstrap (unclean stop); recovering positions"
    for port in "${ALL_PORTS[@]}"; do
        [[ -f "$(node_grastate "$port")" ]] || continue
        seqno="$(stopped_seqno "$port")"
        log "node $port: last committed seqno $seqno"
        if (( seqno > best_seqno )); then best=$port; best_seqno=$seqno; fi
    done
    [[ -n "$best" ]] || die "no node has a grastate.dat; run: galera.sh destroy && galera.sh start"
    sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$(node_grastate "$best")"
    echo "$best"
}

# --- cluster setup --------------------------------------------------------
# Runs on the freshly bootstrapped first node before anyone joins: the joiners
# get these accounts (and everything else) with their SST.
setup_first_node() {
    root_sql "${ALL_PORTS[0]}" <<'EOF'
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
CREATE USER 'app'@'%' IDENTIFIED BY 'app';
GRANT ALL PRIVILEGES ON *.* TO 'app'@'%';
-- In 10.11 ALL includes both; either would let app bypass read_only and set
-- wsrep globals (wsrep_desync, wsrep_reject_queries).
REVOKE SUPER, READ_ONLY ADMIN ON *.* FROM 'app'@'%';
CREATE USER 'monitor'@'%' IDENTIFIED BY 'monitor';
-- Same grants as the replication cluster's monitor; SHOW GLOBAL STATUS and
-- @@read_only / @@wsrep_* need none.
GRANT REPLICATION CLIENT, SLAVE MONITOR, REPLICATION MASTER ADMIN, PROCESS ON *.* TO 'monitor'@'%';
CREATE DATABASE IF NOT EXISTS test;
EOF
}

# A node frozen with SIGSTOP (a simulated hang) gets SIGCONT.
resume_if_frozen() {
    local pid state; pid="$(running_pid "$1")"
    state="$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" || return 0
    if [[ "$state" == T ]]; then
        log "node $1 is stopped (SIGSTOP); sending SIGCONT"
        kill -CONT "$pid"
    fi
}

# Repairs what a fault-injection test may have left behind on a running node.
ensure_node_settings() {
    local port=$1 desync reject ro
    IFS=$'\t' read -r desync reject ro < <(root_query "$port" \
        'SELECT @@wsrep_desync, @@wsrep_reject_queries, @@read_only') || true
    if [[ "$desync" == 1 ]]; then
        log "node $port: turning wsrep_desync off"
        root_query "$port" 'SET GLOBAL wsrep_desync = OFF'
    fi
    if [[ -n "$reject" && "$reject" != NONE ]]; then
        log "node $port: wsrep_reject_queries was $reject; setting NONE"
        root_query "$port" 'SET GLOBAL wsrep_reject_queries = NONE'
    fi
    if [[ "$ro" == 1 ]]; then
        log "node $port: turning read_only off"
        root_query "$port" 'SET GLOBAL read_only = OFF'
    fi
}

# --- checks before touching anything --------------------------------------
check_prerequisites() {
    [[ "$(id -u)" == 0 ]] || die "must run as root (nodes run as user=root; root logs in via unix_socket)"
    [[ -r "$GALERA_LIB" ]] || die "$GALERA_LIB not found; install galera-4 (scripts/install-deps.sh)"
    local tool method; method="$(sst_method)" || exit 1
    for tool in mariadbd mariadb-install-db mariadb mariadb-admin "wsrep_sst_$method"; do
        command -v "$tool" >/dev/null || die "$tool not found on PATH"
    done
}

check_layout() {
    local recorded="$GALERA_DIR/ports" want
    want="${ALL_PORTS[*]} gcomm=$GCOMM_BASE"
    [[ -f "$recorded" ]] || return 0
    [[ "$(cat "$recorded")" == "$want" ]] ||
        die "$GALERA_DIR was created for ports '$(cat "$recorded")', not '$want'; set RWSPLIT_GALERA_DIR for a second cluster"
}

check_socket_path() {
    local s; s="$(node_sock "${ALL_PORTS[0]}")"
    # sun_path is 108 bytes; longer paths make mariadbd fail to bind.
    (( ${#s} < 100 )) || die "socket path too long (${#s} chars): $s; set RWSPLIT_GALERA_DIR to a shorter path"
}

# Checked for every node before launching any, so a conflict does not leave
# half the cluster running.
check_ports_free() {
    local port p
    for port in "${ALL_PORTS[@]}"; do
        node_running "$port" && continue
        for p in "$port" "$(gcomm_port "$port")" "$(ist_port "$port")" "$(sst_port "$port")"; do
            port_in_use "$p" && die "port $p (node $port) is already in use by another process"
        done
    done
    return 0
}

# --- commands --------------------------------------------------------------
# Waits for the background jobs of this shell; fails if any of them failed.
wait_all_jobs() {
    local what=$1 pid rc=0
    for pid in $(jobs -p); do wait "$pid" || rc=1; done
    (( rc == 0 )) || die "$what failed (see messages above)"
}

# Half-built leftovers of an interrupted first start are rebuilt from scratch.
discard_incomplete_cluster() {
    [[ -d "$GALERA_DIR" && ! -f "$SETUP_MARKER" ]] || return 0
    log "found incomplete cluster in $GALERA_DIR (interrupted init); rebuilding"
    cmd_stop
    rm -rf "$GALERA_DIR"
}

init_cluster() {
    local port
    log "initialising cluster in $GALERA_DIR (SST method $(sst_method))"
    mkdir -p "$GALERA_DIR"
    echo "${ALL_PORTS[*]} gcomm=$GCOMM_BASE" >"$GALERA_DIR/ports"
    init_node "${ALL_PORTS[0]}"
    for port in "${ALL_PORTS[@]:1}"; do mkdir -p "$(node_dir "$port")/data" "$(node_dir "$port")/tmp"; done
}

bootstrap_node() {
    local port=$1 p
    # Stale gvwstate.dat files (left by a crash) would make nodes try to
    # restore the old primary component instead of joining the new one.
    for p in "${ALL_PORTS[@]}"; do rm -f "$(node_dir "$p")/data/gvwstate.dat"; done
    log "bootstrapping a new primary component on node $port"
    launch_node "$port" --wsrep-new-cluster
    wait_node_synced "$port"
}

# A running node that lost quorum (its peers were killed) is non-Primary and
# refuses queries; make the most advanced one a new primary component.
ensure_primary() {
    local port best='' best_last=-2
    for port in "$@"; do
        read_wsrep_state "$port"
        [[ "$W_STATUS" == Primary ]] && return 0
        if [[ -n "$W_LAST" ]] && (( W_LAST > best_last )); then best=$port; best_last=$W_LAST; fi
    done
    [[ -n "$best" ]] || die "running nodes ($*) do not answer; run: galera.sh stop && galera.sh start"
    log "no running node is in a Primary component; bootstrapping node $best (seqno $best_last)"
    root_query "$best" "SET GLOBAL wsrep_provider_options = 'pc.bootstrap=YES'" ||
        fail_node "$best" "pc.bootstrap=YES failed"
    wait_node_synced "$best"
}

cmd_start() {
    check_prerequisites
    check_layout
    check_socket_path
    discard_incomplete_cluster
    local fresh=0 port running=() stopped=()
    if [[ ! -d "$GALERA_DIR" ]]; then fresh=1; init_cluster; fi
    for port in "${ALL_PORTS[@]}"; do
        if node_running "$port"; then running+=("$port"); else stopped+=("$port"); fi
    done
    if (( ${#stopped[@]} > 0 )); then check_ports_free; fi

    if (( ${#running[@]} == 0 )); then
        local first="${ALL_PORTS[0]}"
        (( fresh )) || first="$(choose_bootstrap_node)"
        bootstrap_node "$first"
        if (( fresh )); then setup_first_node; fi
        running=("$first")
        local rest=()
        for port in "${stopped[@]}"; do [[ "$port" == "$first" ]] || rest+=("$port"); done
        stopped=("${rest[@]}")
    else
        for port in "${running[@]}"; do
            resume_if_frozen "$port"
            node_pingable "$port" || wait_node_synced "$port"
        done
        ensure_primary "${running[@]}"
    fi

    # One at a time: a donor serves one state transfer at a time, and nodes
    # that start together can form a transient non-Primary view of their own
    # that takes seconds (evs timeouts) to merge. Fresh joiners get a full
    # SST; restarted ones at most a short IST.
    for port in "${stopped[@]}"; do
        log "starting node $port"
        launch_node "$port"
        wait_node_synced "$port"
    done
    for port in "${ALL_PORTS[@]}"; do ensure_node_settings "$port"; done
    wait_cluster_size
    if (( fresh )); then touch "$SETUP_MARKER"; fi
    cmd_status
}

cmd_stop() {
    local port running=()
    for port in "${ALL_PORTS[@]}"; do
        if [[ -d "$(node_dir "$port")" ]] && node_running "$port"; then running+=("$port"); fi
    done
    (( ${#running[@]} > 0 )) || return 0
    # All but one leave in parallel; the first running node goes last, so it
    # is the one Galera marks safe_to_bootstrap for the next start.
    for port in "${running[@]:1}"; do stop_node "$port" & done
    wait_all_jobs "stopping nodes"
    stop_node "${running[0]}"
}

status_line() {
    local port=$1
    if ! node_running "$port"; then
        printf '127.0.0.1:%s down\n' "$port"
        return 1
    fi
    read_wsrep_state "$port"
    if [[ -z "$W_STATE" ]]; then
        printf '127.0.0.1:%s up   not answering (starting or in state transfer)\n' "$port"
        return 1
    fi
    printf '127.0.0.1:%s up   wsrep_local_state=%s (%s) wsrep_ready=%s cluster_size=%s cluster_status=%s\n' \
        "$port" "$W_STATE" "$W_COMMENT" "$W_READY" "$W_SIZE" "$W_STATUS"
    [[ "$W_STATE" == 4 && "$W_READY" == ON && "$W_STATUS" == Primary && "$W_SIZE" == "${#ALL_PORTS[@]}" ]]
}

cmd_status() {
    local port rc=0
    [[ -d "$GALERA_DIR" ]] || { echo "no cluster in $GALERA_DIR"; return 1; }
    for port in "${ALL_PORTS[@]}"; do status_line "$port" || rc=1; done
    return "$rc"
}

cmd_destroy() {
    cmd_stop
    rm -rf "$GALERA_DIR"
    log "removed $GALERA_DIR"
}

cmd_sql() {
    [[ $# -ge 1 ]] || die "usage: galera.sh sql PORT [client-options...] [STATEMENT]"
    local port=$1; shift
    index_of "$port" >/dev/null
    local opts=() stmt=()
    while [[ $# -gt 0 ]]; do
        case "$1" in -*) opts+=("$1") ;; *) stmt+=("$1") ;; esac
        shift
    done
    local sock; sock="$(node_sock "$port")"
    if [[ ${#stmt[@]} -gt 0 ]]; then
        mariadb --no-defaults --socket="$sock" -uroot "${opts[@]}" -e "${stmt[*]}"
    else
        mariadb --no-defaults --socket="$sock" -uroot "${opts[@]}"
    fi
}

# TCP client as a named account, the way rwsplit and tests connect.
tcp_sql() {
    local port=$1 user=$2; shift 2
    mariadb --no-defaults -h127.0.0.1 -P"$port" -u"$user" -p"$user" -N -B "$@"
}

# Verifies the properties tests rely on; run after changing this script.
cmd_check() {
    cmd_status >/dev/null || die "cluster is not healthy; run: galera.sh start"
    local port other out i=0 first="${ALL_PORTS[0]}"
    tcp_sql "$first" app test -e \
        'DROP TABLE IF EXISTS galera_check; CREATE TABLE galera_check(i INT PRIMARY KEY)'
    for port in "${ALL_PORTS[@]}"; do
        i=$((i + 1))
        tcp_sql "$port" app test -e "INSERT INTO galera_check VALUES ($i)" ||
            die "node $port: app cannot write"
        for other in "${ALL_PORTS[@]}"; do
            # wsrep_sync_wait=1: the read waits until the node has applied
            # everything committed cluster-wide before it started.
            out="$(tcp_sql "$other" app test -e \
                "SET SESSION wsrep_sync_wait = 1; SELECT COUNT(*) FROM galera_check WHERE i = $i")"
            [[ "$out" == 1 ]] || die "row written on $port not visible on $other (got '$out')"
        done
    done
    local gtids=()
    for port in "${ALL_PORTS[@]}"; do
        gtids+=("$(tcp_sql "$port" app -e 'SET SESSION wsrep_sync_wait = 1; SELECT @@gtid_binlog_pos')")
    done
    [[ "$(printf '%s\n' "${gtids[@]}" | sort -u | wc -l)" == 1 ]] ||
        die "@@gtid_binlog_pos differs between nodes: ${gtids[*]}"
    for port in "${ALL_PORTS[@]}"; do
        if out="$(tcp_sql "$port" app -e 'SET GLOBAL wsrep_desync = ON' 2>&1)"; then
            tcp_sql "$port" app -e 'SET GLOBAL wsrep_desync = OFF' || true
            die "node $port: app could set a global (has SUPER)"
        fi
        [[ "$out" == *"ERROR 1227"* ]] || die "node $port: expected ERROR 1227 from app, got: $out"
        out="$(tcp_sql "$port" monitor -e "SHOW GLOBAL STATUS LIKE 'wsrep_local_state'")"
        [[ "$out" == wsrep_local_state$'\t'4 ]] || die "node $port: monitor status query returned '$out'"
        out="$(tcp_sql "$port" monitor -e 'SELECT @@read_only, @@wsrep_on')"
        [[ "$out" == 0$'\t'1 ]] || die "node $port: monitor read @@read_only,@@wsrep_on = '$out'"
        root_sql "$port" -e 'SELECT 1' >/dev/null || die "node $port: root socket login failed"
    done
    tcp_sql "$first" app test -e 'DROP TABLE galera_check'
    log "check passed: writes on every node seen on all, same GTIDs, app has no SUPER, monitor"
}

usage() {
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
    exit "${1:-2}"
}

# Parallel test binaries may all call `start` at once; serialise the commands
# that change state. The lock file sits next to the cluster dir, which comes
# and goes (not on the parent dir itself: cluster.sh locks that one).
take_lock() {
    mkdir -p "$(dirname "$GALERA_DIR")"
    exec 9>>"$GALERA_DIR.lock"
    flock -w $((DEADLINE_SECS * 3)) 9 || die "timed out waiting for another galera.sh on $GALERA_DIR"
}

main() {
    [[ $# -ge 1 ]] || usage
    (( ${#ALL_PORTS[@]} >= 1 )) || die "RWSPLIT_GALERA_PORTS is empty"
    local cmd=$1; shift
    case "$cmd" in
        start)   take_lock; cmd_start ;;
        stop)    take_lock; cmd_stop ;;
        status)  cmd_status ;;
        destroy) take_lock; cmd_destroy ;;
        check)   cmd_check ;;
        sql)     cmd_sql "$@" ;;
        -h|--help|help) usage 0 ;;
        *) log "unknown command: $cmd"; usage ;;
    esac
}

main "$@"
