#!/usr/bin/env python3
"""B10 (docs/design/BENCHMARKS.md): tenant-scoped key lookup at 1,000 tenants × 10M rows, end to end.

Starts `meshgate quickstart` (release build) on a fresh data dir; alice (owner of sales.core)
uploads a generated Parquet file of `--rows` rows over `--tenants` tenants as a multi-tenant
product (`tenant_key: item_id`, so the Delta table is partitioned by tenant); then for a
sample of tenants she vends a read credential scoped to the tenant's key prefix and looks
keys up with it through the rows API (`GET …/rows?key=…`), each request authenticated by the
signed credential and run through the secure scan. Reports p50/p95 of the lookups (HTTP,
keep-alive connection, from sending the request to the last byte) and appends a section to
bench/RESULTS.md. How many files a tenant-scoped read touches is reported by
`cargo run -p meshgate-engine --example b10_tenant_lookup` (the file count does not depend on
the build profile), which this script runs at the same tenant count with `--files`.

Usage (peers: pyarrow, from bench/requirements.txt):
    ~/.cache/meshgate/bench-venv/bin/python bench/b10_tenant_lookup.py \
        [--tenants 1000] [--rows 10000000] [--sample 50] [--lookups 500] [--binary PATH] [--no-record]
"""

import argparse
import datetime as dt
import os
import platform
import random
import subprocess
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from b1_b3_access import Meshgate, default_binary, multipart, start_server, stop_server  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generate(path, tenants, rows, seed):
    rng = random.Random(seed)
    per = rows // tenants
    writer = None
    for start in range(0, tenants, 50):
        ids, names, qty, price = [], [], [], []
        for t in range(start, min(start + 50, tenants)):
            for i in range(per):
                ids.append(f"tenant{t}-{i}")
                names.append(f"item {i} of tenant {t}")
                qty.append(rng.randrange(1000))
                price.append(round(rng.uniform(1, 500), 2))
        table = pa.table({"item_id": ids, "name": names, "qty": qty, "price": price})
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()
    return per


def percentile(values, p):
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--sample", type=int, default=50, help="tenants given a credential")
    ap.add_argument("--lookups", type=int, default=500)
    ap.add_argument("--binary", default=default_binary())
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    debug_build = f"{os.sep}debug{os.sep}" in os.path.abspath(args.binary)

    work = tempfile.mkdtemp(prefix="meshgate-b10-")
    parquet = os.path.join(work, "items.parquet")
    t0 = time.time()
    per = generate(parquet, args.tenants, args.rows, 1010)
    print(f"generated {args.rows:,} rows in {time.time() - t0:.1f} s", flush=True)

    server, port = start_server(args.binary, os.path.join(work, "mesh"))
    try:
        import json

        with open(os.path.join(work, "mesh", "quickstart-tokens.json")) as f:
            tokens = json.load(f)
        alice = tokens["alice"]
        mg = Meshgate(port)
        meta = {
            "domain": "sales",
            "team": "core",
            "name": "tenant_items",
            "description": "B10 benchmark data (generated)",
            "tables": [{"name": "items", "tenant_key": "item_id", "tenant_separator": "-"}],
        }
        with open(parquet, "rb") as f:
            data = f.read()
        body, ctype = multipart(
            [
                ("product", None, "application/json", json.dumps(meta).encode()),
                ("items", "items.parquet", "application/octet-stream", data),
            ]
        )
        t0 = time.time()
        mg.request(alice, "POST", "/products", body, headers={"Content-Type": ctype})
        build = time.time() - t0
        print(f"uploaded and partitioned in {build:.1f} s", flush=True)

        rng = random.Random(7)
        sample = rng.sample(range(args.tenants), min(args.sample, args.tenants))
        creds = {}
        for t in sample:
            c = mg.json(
                alice,
                "POST",
                "/credentials",
                {"tables": ["sales.tenant_items.items"], "actions": ["read"], "key_prefix": f"tenant{t}-"},
            )
            creds[t] = c["token"]
        path = "/products/sales/tenant_items/tables/items/rows?key="
        for t in sample[:5]:  # warm-up: open the table, connections
            mg.request(creds[t], "GET", f"{path}tenant{t}-0")
        times = []
        for _ in range(args.lookups):
            t = rng.choice(sample)
            key = f"tenant{t}-{rng.randrange(per)}"
            s = time.perf_counter()
            _, payload = mg.request(creds[t], "GET", path + key, expect=(200,))
            times.append(time.perf_counter() - s)
            if json.loads(payload)["item_id"] != key:
                sys.exit(f"wrong row for {key}: {payload[:200]!r}")
        # A cross-tenant lookup is refused (and not timed).
        t, other = sample[0], sample[1]
        status, _ = mg.request(creds[t], "GET", f"{path}tenant{other}-0", expect=(403,))
        assert status == 403
    finally:
        stop_server(server)

    files = None
    try:
        out = subprocess.run(
            ["cargo", "run", "-q", "-p", "meshgate-engine", "--example", "b10_tenant_lookup", "--",
             "--tenants", str(args.tenants), "--rows", str(args.tenants * 10), "--lookups", "5"],
            cwd=ROOT, capture_output=True, text=True, timeout=3600,
        )
        for line in out.stdout.splitlines():
            if line.startswith("| files a tenant-scoped lookup reads"):
                files = line.split("|")[2].strip()
            if line.startswith("| files in the table"):
                all_files = line.split("|")[2].strip()
    except (OSError, subprocess.SubprocessError) as e:
        print(f"(file count not measured: {e})")

    p50 = percentile(times, 0.5) * 1000
    p95 = percentile(times, 0.95) * 1000
    mx = max(times) * 1000
    lines = [
        f"## B10 — tenant-scoped key lookup ({dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores)",
        "",
        f"Command: `python3 bench/b10_tenant_lookup.py --tenants {args.tenants} --rows {args.rows}`"
        + (" — **debug build, not a valid result**" if debug_build else " (release build)")
        + ". A multi-tenant product uploaded as Parquet (partitioned by tenant on create); "
        f"{len(sample)} tenants get a read credential scoped to their key prefix; {args.lookups} "
        "lookups `GET …/rows?key=…` with those credentials over HTTP (keep-alive), each verified "
        "(signature, revocation list), narrowed to the tenant (`starts_with(item_id, prefix)`, "
        "`tenant = …`) and run through the secure scan.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| tenants × rows | {args.tenants:,} × {args.rows:,} ({per:,} per tenant) |",
        f"| upload + partitioned write | {build:.1f} s |",
        f"| p50 key lookup | {p50:.1f} ms |",
        f"| p95 key lookup | {p95:.1f} ms |",
        f"| max | {mx:.1f} ms |",
        f"| target p95 ≤ 20 ms | {'meets' if p95 <= 20 else 'misses'} |",
    ]
    if files:
        lines.append(f"| files a tenant-scoped read touches (of {all_files} in the table) | {files} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_record:
        with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
