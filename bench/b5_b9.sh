#!/usr/bin/env bash
# B5 (share lifecycles per second) and B9 (verify 100k shared items) on SQLite and on
# PostgreSQL: builds the release example and runs it once per store. PostgreSQL runs in a
# fresh database (`b5bench`, dropped and created) on the local server.
#   bench/b5_b9.sh [--lifecycles 5000] [--concurrency 32] [--shares 10000]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p meshgate-server --example b5_b9_lifecycle
BIN="${CARGO_TARGET_DIR:-target}/release/examples/b5_b9_lifecycle"
echo "== SQLite"
"$BIN" "$@"
PG="${MESHGATE_BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
psql "$PG/test" -qc "DROP DATABASE IF EXISTS b5bench" -c "CREATE DATABASE b5bench"
echo "== PostgreSQL"
"$BIN" --store "$PG/b5bench" "$@"
