#!/usr/bin/env bash
# Issue 15: the cost of validating a bearer JWT per request (p50, keys cached), with a token
# from the real test provider (oidc-provider, RS256, 2048-bit key). Needs node and
# `npm ci --prefix crates/meshgate-server/tests/oidc`. Release build of meshgate-oidc only.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/meshgate/target}"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
KEYS=$(mktemp)
rm -f "$KEYS"
node crates/meshgate-server/tests/oidc/provider.mjs --port "$PORT" --keys "$KEYS" >/dev/null 2>&1 &
PROVIDER=$!
trap 'kill $PROVIDER 2>/dev/null || true; rm -f "$KEYS"' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/test/health" >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -fs -u etl-job:etl-secret -d grant_type=client_credentials -d scope=read \
  -d resource=urn:meshgate "http://127.0.0.1:$PORT/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
cargo build --release -q -p meshgate-oidc --example jwt_verify
"$CARGO_TARGET_DIR/release/examples/jwt_verify" "http://127.0.0.1:$PORT" "$TOKEN" "${N:-20000}"
