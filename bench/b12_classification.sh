#!/usr/bin/env bash
# Issue 17, B12: automatic PII classification, precision and recall per kind on a generated,
# labelled set of columns (10 detectable kinds, 16 decoy kinds; obvious, neutral and
# misleading column names; 1,000 values each). Release build of meshgate-classify only.
# An optional argument is the generator's seed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/meshgate/target}"
cargo run --release -q -p meshgate-classify --example b12 -- "$@"
