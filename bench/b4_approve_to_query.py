#!/usr/bin/env python3
"""B4 (docs/design/BENCHMARKS.md): time from an owner's approval to the consumer's first successful query.

Starts `meshgate quickstart` (release build) on a fresh data dir, then repeats: bob requests
access to sales.orders (untimed); alice approves and bob queries until the query succeeds
(timed: from sending the approval to receiving the first successful result); alice revokes
(untimed). Prints p50/p95 and appends them to bench/RESULTS.md.

Usage: python3 bench/b4_approve_to_query.py [--iterations 100] [--binary PATH]
Only the Python standard library is needed.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import call, free_port, percentile  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUERY = "SELECT region, count(*) AS n FROM sales.orders.orders GROUP BY region"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--binary", help="meshgate binary (default: build the release binary)")
    ap.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = ap.parse_args()

    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "-p", "meshgate-cli"], cwd=ROOT, check=True)
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        binary = os.path.join(target, "release", "meshgate")

    data = tempfile.mkdtemp(prefix="meshgate-b4-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [binary, "quickstart", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except Exception:
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("meshgate did not start")
                time.sleep(0.2)
        tokens = json.load(open(os.path.join(data, "quickstart-tokens.json")))
        alice, bob = tokens["alice"], tokens["bob"]

        samples = []
        for i in range(args.iterations):
            status, body = call(base, bob, "POST", "/api/v1/shares",
                                {"product": "sales.orders", "reason": f"b4 iteration {i}"})
            assert status == 201, body
            share = json.loads(body)["id"]
            status, _ = call(base, bob, "POST", "/api/v1/query", {"sql": QUERY})
            assert status == 400, "bob must not see the table before approval"

            t0 = time.perf_counter()
            status, body = call(base, alice, "POST", f"/api/v1/shares/{share}/approve", {"notes": "b4"})
            assert status == 200, body
            attempts = 0
            while True:
                attempts += 1
                status, body = call(base, bob, "POST", "/api/v1/query", {"sql": QUERY})
                if status == 200:
                    break
                assert attempts < 10_000, "query never succeeded"
            samples.append((time.perf_counter() - t0) * 1000)
            assert sum(r["n"] for r in json.loads(body)) == 100_000

            status, body = call(base, alice, "POST", f"/api/v1/shares/{share}/revoke", {})
            assert status == 200, body
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data, ignore_errors=True)

    p50 = statistics.median(samples)
    p95 = percentile(samples, 0.95)
    verdict = "meets" if p95 <= 50 else "misses"
    rows = [
        "| metric | value |",
        "|---|---|",
        f"| iterations | {len(samples)} |",
        f"| p50 approve → first successful query | {p50:.1f} ms |",
        f"| p95 approve → first successful query | {p95:.1f} ms |",
        f"| max | {max(samples):.1f} ms |",
        f"| target p95 ≤ 50 ms | {verdict} |",
    ]
    print("\n".join(rows))
    if not args.no_record:
        machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"
        with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
            f.write(f"\n## B4 — approve → first successful query ({time.strftime('%Y-%m-%d')}, {machine})\n\n")
            f.write("Command: `python3 bench/b4_approve_to_query.py`. The query is a GROUP BY over the "
                    "100,000-row `sales.orders` of the quickstart; SQLite store; release build.\n\n")
            f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
