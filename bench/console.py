#!/usr/bin/env python3
"""Console benchmark (issue 16): how long the server works for each page of the web console,
and how many bytes the console weighs.

Run (Playwright from the console suite's requirements, Debian's chromium):
    ~/.cache/meshgate/venv-console/bin/python bench/console.py [--loads 20] [--binary PATH]
The binary is --binary, or MESHGATE_BENCH_BIN, or $CARGO_TARGET_DIR/release/meshgate
(default target/release/meshgate) — measure a release build. --console-dir DIR serves the
console's files from DIR instead of the binary's (the sizes are always of the checkout's). Prints a markdown table; it
writes no file (bench/RESULTS.md is kept by hand from a release build).

What it does: starts `meshgate quickstart` on a fresh data dir (the embedded console; every
MESHGATE_* variable is removed from the server's environment), makes bob's request for
sales.customers and alice's approval through the API (so that the access, inbox and share
pages have something to show), signs each person in (POST /auth/demo), and loads each page
`--loads` times by routing to it from an empty route in the already-loaded console (the
shell, the session and the frame are not counted: only the page's own requests). For each
load the page's server time is the sum, over its requests to /api and /auth, of
PerformanceResourceTiming responseStart - requestStart (time to first byte, as the browser
saw it); the table gives p50/p95 of that per page, the request count, and p50 of the wall
time from the route change to the page being rendered. Then the total size of every file
under crates/meshgate-server/console, raw and each compressed with gzip -9.
"""

import argparse
import gzip
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "crates" / "meshgate-server" / "console"

# (label, person, route); {share} is bob's approved request for sales.customers.
PAGES = [
    ("catalog", "bob", "catalog"),
    ("product", "bob", "products/sales/customers"),
    ("access", "bob", "access"),
    ("sql", "bob", "sql"),
    ("inbox", "alice", "inbox"),
    ("share", "alice", "shares/{share}"),
    ("rules", "alice", "rules/sales/customers"),
    ("admin audit", "admin", "admin/audit"),
]

READY = """() => {
    const m = document.getElementById('main');
    return m && m.children.length > 0 && !m.querySelector('[data-stale]')
        && !m.querySelector('.loading, [aria-busy="true"]');
}"""


def default_binary() -> str:
    if os.environ.get("MESHGATE_BENCH_BIN"):
        return os.environ["MESHGATE_BENCH_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target")
    return os.path.join(target, "release", "meshgate")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, token, method, path, body=None):
    req = urllib.request.Request(
        f"{url}/api/v1/{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def start(binary: str, data_dir: Path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHGATE_")}
    env.setdefault("RUST_LOG", "warn")
    log = open(data_dir / "server.log", "wb")
    proc = subprocess.Popen(
        [binary, "quickstart", "--data-dir", str(data_dir / "mesh"), "--listen", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    tokens = data_dir / "mesh" / "quickstart-tokens.json"
    deadline = time.time() + 300
    while True:
        if proc.poll() is not None:
            sys.exit(f"meshgate stopped; see {data_dir / 'server.log'}")
        if tokens.is_file() and tokens.stat().st_size:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
        if time.time() > deadline:
            proc.kill()
            sys.exit("meshgate was not ready in 300 s")
        time.sleep(0.3)
    return proc, url, json.loads(tokens.read_text())


def pct(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def measure(page, route, loads):
    server_ms, wall_ms, counts = [], [], []
    for _ in range(loads):
        page.evaluate("() => { location.hash = '#/__bench_empty'; }")
        page.wait_for_function("() => document.querySelector('#main h1')?.textContent === 'Not found'")
        page.evaluate(
            """() => {
                performance.clearResourceTimings();
                for (const c of document.getElementById('main').children) c.setAttribute('data-stale', '');
            }"""
        )
        t0 = time.perf_counter()
        page.evaluate("r => { location.hash = '#/' + r; }", route)
        page.wait_for_function(READY, timeout=60_000)
        wall_ms.append((time.perf_counter() - t0) * 1000)
        # Requests a page starts after it has rendered (e.g. side panels) finish first.
        page.wait_for_load_state("networkidle")
        entries = page.evaluate(
            """() => performance.getEntriesByType('resource')
                .filter(e => { const p = new URL(e.name).pathname; return p.startsWith('/api/') || p.startsWith('/auth/'); })
                .map(e => ({path: new URL(e.name).pathname, ttfb: e.responseStart - e.requestStart}))"""
        )
        server_ms.append(sum(max(e["ttfb"], 0) for e in entries))
        counts.append(len(entries))
    return server_ms, wall_ms, counts


def serve_console_dir(ctx, url, root: Path):
    """--console-dir: the browser gets / and /console/* from `root`, with the server's own
    headers (to measure pages not yet embedded in the binary; the API is the server's)."""
    import re
    from urllib.parse import urlsplit

    mime = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html; charset=utf-8"}

    def handler(route):
        path = urlsplit(route.request.url).path
        rel = "index.html" if path == "/" else path[len("/console/"):]
        real = route.fetch(headers={k: v for k, v in route.request.headers.items() if k.lower() != "if-none-match"})
        f = root / rel
        if ".." in rel.split("/") or not f.is_file():
            route.fulfill(response=real)
            return
        headers = {k: v for k, v in real.headers.items() if k.lower() not in ("etag", "content-length", "content-encoding", "content-type")}
        headers["content-type"] = mime.get(f.suffix, "application/octet-stream")
        route.fulfill(status=200, headers=headers, body=f.read_bytes())

    ctx.route(re.compile(re.escape(url) + r"/(console/[^?#]*)?(\?[^#]*)?$"), handler)


def console_size():
    raw = packed = files = 0
    for p in sorted(CONSOLE.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            raw += len(data)
            packed += len(gzip.compress(data, compresslevel=9))
            files += 1
    return files, raw, packed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=default_binary())
    ap.add_argument("--loads", type=int, default=20)
    ap.add_argument("--chromium", default=os.environ.get("MESHGATE_TEST_CHROMIUM", "/usr/bin/chromium"))
    ap.add_argument("--console-dir", type=Path, help="serve the console's files from this directory (default: the binary's own)")
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"no meshgate binary at {binary}: cargo build --release -p meshgate-cli, or set MESHGATE_BENCH_BIN")

    data_dir = Path(tempfile.mkdtemp(prefix="meshgate-bench-console-"))
    proc, url, tokens = start(binary, data_dir)
    try:
        share = call(url, tokens["bob"], "POST", "shares", {"product": "sales.customers", "reason": "console benchmark"})
        call(url, tokens["alice"], "POST", f"shares/{share['id']}/approve",
             {"items": [{"table": "customers", "data_filters": ["eu_only"], "masks": {"name": "redact"}}]})
        call(url, tokens["bob"], "POST", "shares", {"product": "sales.orders", "reason": "pending, for the inbox"})
        rows = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True,
                                        args=["--no-sandbox", "--disable-dev-shm-usage"])
            pages = {}
            for person in {who for _, who, _ in PAGES}:
                ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=url)
                if args.console_dir:
                    serve_console_dir(ctx, url, args.console_dir.resolve())
                r = ctx.request.post(url + "/auth/demo", data={"person": person})
                if not r.ok:
                    sys.exit(f"demo sign-in as {person} failed: {r.status} {r.text()}")
                page = ctx.new_page()
                page.goto("/")
                page.wait_for_selector("nav[aria-label=Main]")
                pages[person] = page
            for label, who, route in PAGES:
                real = route.format(share=share["id"])
                measure(pages[who], real, 2)  # warm-up: modules loaded and compiled
                server_ms, wall_ms, counts = measure(pages[who], real, args.loads)
                rows.append((label, who, route.replace("{share}", "{id}"), statistics.median(counts), pct(server_ms, 50), pct(server_ms, 95), pct(wall_ms, 50)))
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)

    build = "debug" if f"{os.sep}debug{os.sep}" in binary else "release" if f"{os.sep}release{os.sep}" in binary else "given"
    print(f"\nConsole pages, {args.loads} loads each ({build} binary {binary}; server time = sum of the page's"
          " /api and /auth requests' responseStart - requestStart)\n")
    print("| page | as | route | requests | server p50 | server p95 | rendered p50 |")
    print("|---|---|---|---|---|---|---|")
    for label, who, route, n, p50, p95, wall in rows:
        print(f"| {label} | {who} | `#/{route}` | {n:g} | {p50:.1f} ms | {p95:.1f} ms | {wall:.0f} ms |")
    files, raw, packed = console_size()
    print(f"\nConsole files: {files}, {raw:,} bytes, {packed:,} bytes with gzip -9 (each file compressed on its own)")


if __name__ == "__main__":
    main()
