#!/usr/bin/env bash
# Quick start: installs what is missing, starts the local MariaDB cluster (master
# 13306, replicas 13307 and 13308) and runs rwsplit in the foreground on
# 127.0.0.1:6033 with config/rwsplit.toml. Then, in another terminal:
#   mysql -h127.0.0.1 -P6033 -uapp -papp test
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
tests/cluster/cluster.sh start
cargo build --release --quiet
exec target/release/rwsplit --config config/rwsplit.toml
