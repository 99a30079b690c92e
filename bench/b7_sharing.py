#!/usr/bin/env python3
"""B7 (docs/design/BENCHMARKS.md): Delta Sharing `load_as_pandas` throughput vs pyarrow reading the same
files locally. Target: >= 0.9x.

Starts `meshgate quickstart` (release build) on a fresh data dir; alice (owner of sales.core)
uploads a generated Parquet file of `--rows` rows as the product `sales.b7` (table `events`);
bob requests it and alice approves the whole table (so the recipient reads the table's own
files through signed URLs, the common case); an admin makes bob a recipient token and the
profile file is downloaded from its one-time link. Then, alternating, `--runs` times each:

- meshgate: `delta_sharing.load_as_pandas(profile#sales.b7.events)` (the real client: list
  files over HTTP, read each signed URL from meshgate with fsspec, convert to pandas), and the
  same with `use_delta_format=True` (the delta format, read by delta-kernel);
- peer: pyarrow reads the same Parquet files from the local disk and converts to pandas per
  file, concatenated as the client does: with the client's conversion options (the like-for-like
  ratio the target is about) and, for reference, with pyarrow's defaults (multi-threaded).

The rows and a checksum of both frames are compared; the medians and their ratio (peer time /
meshgate time, so >= 0.9 meets the target) are printed and appended to bench/RESULTS.md.

Usage (peers: pyarrow and delta-sharing, from bench/requirements.txt):
    ~/.cache/meshgate/bench-venv/bin/python bench/b7_sharing.py \
        [--rows 5000000] [--files 4] [--runs 5] [--binary PATH] [--no-record]
"""

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from b1_b3_access import Meshgate, default_binary, delta_files, multipart, start_server, stop_server  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGIONS = np.array(["EU", "US", "APAC", "LATAM", "MEA"])


def generate(path, rows, files, seed):
    """`rows` rows in `files` row groups' worth of writes, deterministic from `seed`."""
    rng = np.random.default_rng(seed)
    writer = None
    per = rows // files
    for part in range(files):
        n = per if part < files - 1 else rows - per * (files - 1)
        start = part * per
        table = pa.table(
            {
                "event_id": pa.array(np.arange(start, start + n, dtype=np.int64)),
                # UTC instants (Delta `timestamp`); a zone-less column would be `timestamp_ntz`,
                # a reader feature that makes the client use the delta format (measured too).
                "ts": pa.array(
                    np.int64(1_700_000_000_000) + rng.integers(0, 86_400_000 * 365, n),
                    type=pa.timestamp("ms", tz="UTC"),
                ),
                "region": pa.array(REGIONS[rng.integers(0, len(REGIONS), n)]),
                "customer_id": pa.array(rng.integers(0, 1_000_000, n, dtype=np.int64)),
                "qty": pa.array(rng.integers(1, 100, n, dtype=np.int32)),
                "amount": pa.array(np.round(rng.uniform(1, 1000, n), 2)),
                "status": pa.array(np.where(rng.random(n) < 0.9, "ok", "returned")),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def local_read(files, like_client=True):
    """pyarrow on the same files, one frame per file, concatenated as the client does. With
    `like_client`, converted to pandas with the client's options (single-threaded, dates as
    objects), so the two differ only in how the bytes arrive; otherwise pyarrow's defaults."""
    if like_client:
        frames = [
            pq.read_table(f).to_pandas(
                date_as_object=True, use_threads=False, split_blocks=False, self_destruct=True
            )
            for f in files
        ]
    else:
        frames = [pq.read_table(f).to_pandas() for f in files]
    return pd.concat(frames, axis=0, ignore_index=True, copy=False)


def fetch(url):
    """The bytes of one URL (HTTP GET, read in full); returns how many."""
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    c.request("GET", f"{u.path}?{u.query}")
    r = c.getresponse()
    n = 0
    while chunk := r.read(1 << 20):
        n += len(chunk)
    c.close()
    if r.status != 200:
        sys.exit(f"GET {u.path} -> {r.status}")
    return n


def digest(df):
    return (len(df), int(df["event_id"].sum()), round(float(df["amount"].sum()), 2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--files", type=int, default=4, help="row groups written into the upload")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--binary", default=default_binary())
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    debug_build = f"{os.sep}debug{os.sep}" in os.path.abspath(args.binary)
    import delta_sharing

    work = tempfile.mkdtemp(prefix="meshgate-b7-")
    parquet = os.path.join(work, "events.parquet")
    t0 = time.time()
    generate(parquet, args.rows, args.files, 7)
    print(f"generated {args.rows:,} rows in {time.time() - t0:.1f} s", flush=True)

    server, port = start_server(args.binary, os.path.join(work, "mesh"))
    try:
        with open(os.path.join(work, "mesh", "quickstart-tokens.json")) as f:
            tokens = json.load(f)
        alice, bob, admin = tokens["alice"], tokens["bob"], tokens["admin"]
        mg = Meshgate(port)
        meta = {"domain": "sales", "team": "core", "name": "b7",
                "description": "B7 benchmark data (generated)"}
        with open(parquet, "rb") as f:
            data = f.read()
        body, ctype = multipart(
            [
                ("product", None, "application/json", json.dumps(meta).encode()),
                ("events", "events.parquet", "application/octet-stream", data),
            ]
        )
        _, payload = mg.request(alice, "POST", "/products", body, headers={"Content-Type": ctype})
        product = json.loads(payload)
        location = {t["name"]: t["location"] for t in product["tables"]}["events"]
        files = delta_files(location)
        size = sum(os.path.getsize(f) for f in files)
        share = mg.json(bob, "POST", "/shares",
                        {"product": "sales.b7", "team": "marketing.analytics", "reason": "B7"})
        approved = mg.json(alice, "POST", f"/shares/{share['id']}/approve", {"notes": "bench"})
        if approved.get("status") != "processed":
            sys.exit(f"share not processed: {approved}")
        created = mg.json(admin, "POST", "/recipients/bob/tokens", {"kind": "bearer"})
        with urllib.request.urlopen(created["profile_url"]) as r:
            profile = json.load(r)
        profile_path = os.path.join(work, "bob.share")
        with open(profile_path, "w") as f:
            json.dump(profile, f)
        url = f"{profile_path}#sales.b7.events"

        # Warm-up (page cache, connections, the server's table cache), and the check.
        shared = delta_sharing.load_as_pandas(url)
        local = local_read(files)
        if digest(shared) != digest(local) or digest(local)[0] != args.rows:
            sys.exit(f"different frames: shared {digest(shared)} local {digest(local)}")
        del shared, local

        kernel = delta_sharing.load_as_pandas(url, use_delta_format=True)
        if digest(kernel) != digest(local_read(files)):
            sys.exit(f"different frames in the delta format: {digest(kernel)}")
        del kernel

        # The server alone: every signed URL of a query answer fetched whole over HTTP
        # (keep-alive), against reading the same bytes from the local disk.
        from delta_sharing.protocol import DeltaSharingProfile, Table
        from delta_sharing.rest_client import DataSharingRestClient

        rest = DataSharingRestClient(DeltaSharingProfile.read_from_file(profile_path))
        urls = [f.url for f in rest.list_files_in_table(Table("events", "sales", "b7")).add_files]
        raw_times, disk_times = [], []
        for _ in range(args.runs):
            s = time.perf_counter()
            got = sum(fetch(u) for u in urls)
            raw_times.append(time.perf_counter() - s)
            s = time.perf_counter()
            disk = 0
            for f in files:
                with open(f, "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        disk += len(chunk)
            disk_times.append(time.perf_counter() - s)
            if got != size or disk != size:
                sys.exit(f"fetched {got} bytes, read {disk}, expected {size}")

        ds_times, kernel_times, pa_times, pa_default_times = [], [], [], []
        for _ in range(args.runs):
            s = time.perf_counter()
            df = delta_sharing.load_as_pandas(url)
            ds_times.append(time.perf_counter() - s)
            del df
            s = time.perf_counter()
            df = delta_sharing.load_as_pandas(url, use_delta_format=True)
            kernel_times.append(time.perf_counter() - s)
            del df
            s = time.perf_counter()
            df = local_read(files)
            pa_times.append(time.perf_counter() - s)
            del df
            s = time.perf_counter()
            df = local_read(files, like_client=False)
            pa_default_times.append(time.perf_counter() - s)
            del df
    finally:
        stop_server(server)

    ds, pa_ = statistics.median(ds_times), statistics.median(pa_times)
    pa_default = statistics.median(pa_default_times)
    kernel = statistics.median(kernel_times)
    raw, disk = statistics.median(raw_times), statistics.median(disk_times)
    ratio = pa_ / ds
    mb = size / 1e6
    lines = [
        f"## B7 — Delta Sharing load_as_pandas ({dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores)",
        "",
        f"Command: `python3 bench/b7_sharing.py --rows {args.rows} --runs {args.runs}`"
        + (" — **debug build, not a valid result**" if debug_build else " (release build)")
        + f". {args.rows:,} rows × 7 columns in {len(files)} Parquet file(s), {mb:.1f} MB; "
        f"delta-sharing {delta_sharing.__version__}, pyarrow {pa.__version__}, pandas {pd.__version__}; "
        f"median of {args.runs} alternating runs after a warm-up; both frames checked equal.",
        "",
        "| reader | median | rows/s | MB/s |",
        "|---|---|---|---|",
        f"| `delta_sharing.load_as_pandas` through meshgate (HTTP, signed URLs) | {ds:.2f} s | "
        f"{args.rows / ds / 1e6:.2f} M | {mb / ds:.0f} |",
        f"| the same, `use_delta_format=True` (delta-kernel reads the signed URLs) | {kernel:.2f} s | "
        f"{args.rows / kernel / 1e6:.2f} M | {mb / kernel:.0f} |",
        f"| pyarrow, same files from local disk → pandas as the client converts | {pa_:.2f} s | "
        f"{args.rows / pa_ / 1e6:.2f} M | {mb / pa_:.0f} |",
        f"| pyarrow, same files from local disk → pandas, pyarrow's defaults (threads) | "
        f"{pa_default:.2f} s | {args.rows / pa_default / 1e6:.2f} M | {mb / pa_default:.0f} |",
        f"| **ratio (pyarrow time / meshgate time), like for like** | **{ratio:.2f}×** | "
        f"target ≥ 0.9× | {'meets' if ratio >= 0.9 else 'misses'} |",
        f"| ratio against pyarrow's defaults | {pa_default / ds:.2f}× | | |",
        "",
        "The server alone (no parsing): the files' bytes through the signed URLs vs from the disk.",
        "",
        "| read | median | MB/s |",
        "|---|---|---|",
        f"| GET of every signed URL (meshgate, HTTP/1.1) | {raw:.3f} s | {mb / raw:.0f} |",
        f"| the same files read from the local disk (page cache, 1 MiB reads) | {disk:.3f} s | {mb / disk:.0f} |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_record:
        with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
