#!/usr/bin/env bash
# B1–B3 with their peers installed: creates (or reuses) a virtualenv with pyarrow, DuckDB and
# psycopg from bench/requirements.txt, checks the local PostgreSQL answers, builds the release
# binary if it is missing, then runs bench/b1_b3_access.py with any arguments given.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MESHGATE_BENCH_VENV:-$HOME/.cache/meshgate/bench-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
PG_URL="${MESHGATE_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! psql "$PG_URL" -c 'select 1' >/dev/null 2>&1; then
  echo "PostgreSQL is not reachable at $PG_URL (install Debian's postgresql and start it)" >&2
  exit 1
fi
TARGET="${CARGO_TARGET_DIR:-target}"
if [ ! -x "$TARGET/release/meshgate" ]; then
  cargo build --release -p meshgate-cli
fi
exec "$VENV/bin/python" bench/b1_b3_access.py --binary "$TARGET/release/meshgate" --pg-url "$PG_URL" "$@"
