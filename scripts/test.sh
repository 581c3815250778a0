#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (as root): installs what is
# missing, starts the local MariaDB cluster, builds, lints and runs every test,
# and stops the cluster it started, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

started_cluster=0
if ! tests/cluster/cluster.sh status >/dev/null 2>&1; then
    started_cluster=1
fi
cleanup() {
    # Leave a cluster that was already running (a developer's) as it was.
    if [[ $started_cluster == 1 ]]; then tests/cluster/cluster.sh stop || true; fi
    # The fault-injection tests (tests/failover.rs) build their own cluster on
    # 13406-13408 and rebuild it for every test: it is always theirs to remove.
    if [[ -d .cluster-fault ]]; then
        RWSPLIT_CLUSTER_DIR="$PWD/.cluster-fault" RWSPLIT_MASTER_PORT=13406 RWSPLIT_REPLICA_PORTS="13407 13408" \
            tests/cluster/cluster.sh destroy || true
    fi
    # Likewise the Galera cluster of tests/galera.rs (ports 14306-14308).
    if [[ -d .galera ]]; then tests/cluster/galera.sh destroy || true; fi
}
trap cleanup EXIT
tests/cluster/cluster.sh start

cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets
