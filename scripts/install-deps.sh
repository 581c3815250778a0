#!/usr/bin/env bash
# Installs the system packages rwsplit's tests and benchmarks need on a fresh
# Debian 12 machine (run as root). Idempotent and quiet when nothing is missing.
#
#   mariadb-server/-client  local replication cluster (tests/cluster/cluster.sh)
#   galera-4, rsync         local Galera cluster (tests/cluster/galera.sh; rsync is
#                           its SST method; mariadb-server already depends on both)
#   libmariadb-java, JDK    JDBC client tests
#   sysbench, haproxy       benchmarks / comparison
#   python3-pymysql         Python client tests
#   chromium(-driver)       the HTTP stats page checked in a headless browser
#   openssl                 the test cluster's TLS certificates
#   libmariadb-dev, gcc     a C client on Connector/C (prepared statements with
#                           MariaDB's metadata caching, as sysbench uses them)
set -euo pipefail

PACKAGES=(mariadb-server mariadb-client galera-4 rsync libmariadb-java sysbench haproxy python3-pymysql chromium chromium-driver openssl libmariadb-dev gcc)
JDK_PACKAGE=default-jdk-headless

log() { printf 'install-deps: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

# Any JDK already on PATH will do; only pull default-jdk-headless without one.
have_jdk() { command -v java >/dev/null && command -v javac >/dev/null; }

missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do is_installed "$p" || echo "$p"; done
    if ! have_jdk && ! is_installed "$JDK_PACKAGE"; then echo "$JDK_PACKAGE"; fi
}

# Debian's postinst starts the system server on 3306; the tests run their own
# servers and only need the binaries, so don't leave a stray one running.
# Only when its pid file exists: if its own shutdown fails, the init script
# falls back to `killall mariadbd`, which would also hit a running test cluster.
stop_system_mariadb() {
    [[ -e /run/mysqld/mysqld.pid ]] || return 0
    command -v service >/dev/null || return 0
    service mariadb stop >/dev/null 2>&1 || true
}

install_packages() {
    local log_file
    log_file="$(mktemp)"
    log "installing: $*"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "$@"; } \
            >"$log_file" 2>&1; then
        tail -n 40 "$log_file" >&2
        rm -f "$log_file"
        die "apt-get failed"
    fi
    rm -f "$log_file"
    stop_system_mariadb
}

main() {
    [[ "$(id -u)" == 0 ]] || die "must run as root"
    local missing
    mapfile -t missing < <(missing_packages)
    if [[ ${#missing[@]} -gt 0 ]]; then install_packages "${missing[@]}"; fi
    have_jdk || die "java/javac not found on PATH after installing $JDK_PACKAGE"
    local tool
    for tool in mariadbd mariadb-install-db mariadb mariadb-admin rsync sysbench haproxy chromium openssl gcc mariadb_config; do
        command -v "$tool" >/dev/null || die "$tool not found on PATH"
    done
    [[ -r /usr/lib/galera/libgalera_smm.so ]] || die "/usr/lib/galera/libgalera_smm.so not found after installing galera-4"
    # Debian's module lives in the system interpreter; a pyenv/venv python3
    # earlier on PATH won't see it, so tests should call /usr/bin/python3.
    /usr/bin/python3 -c 'import pymysql' 2>/dev/null || die "/usr/bin/python3 cannot import pymysql"
}

main "$@"
