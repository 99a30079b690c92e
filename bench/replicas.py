#!/usr/bin/env python3
"""Replicas (issue 20, scale): B5 lifecycles/s and SQL throughput with 1, 2 and 3 replicas.

For each replica count N (all counts once per round, interleaved when --rounds > 1): a fresh
PostgreSQL schema and a fresh shared data root; `meshgate init`, then N × `meshgate serve` on
that store, each with its own data dir and port and the same data root (MESHGATE_DATA_ROOT).
Through the API, on the first replica: domains sales and marketing; teams sales.core (alice,
owner) and marketing.analytics (bob), marketing.reporting (carol), marketing.adhoc (dave);
the product sales.multi of four small tables (CSV uploads); carol is granted all of it.
Then, over keep-alive connections, each call to a replica picked at random (SQL: round-robin):

- **B5 over HTTP** — `--clients` threads run share lifecycles for `--seconds`: bob requests one
  table of sales.multi (created and submitted, on one replica), alice approves it with
  `wait: true` on another replica; the lifecycle counts when the approve answers `processed`
  (the grant is made, whichever replica's worker ran the job). As the in-process B5
  (meshgate-server/examples/b5_b9_lifecycle.rs), the same team requests the same product again
  and again; with `--spread K` the clients use K products and K consumer teams instead (a
  worker leases no job of a product or grantee another worker holds, so one product's
  lifecycles run one worker at a time). Reports lifecycles/s and the approve call's p50/p95.
- **SQL throughput** — `--clients` threads run a small GROUP BY over a granted table as carol
  (`POST /api/v1/query`, JSON) for `--seconds`. Reports queries/s and p50/p95.
- **approve → query across replicas** (N ≥ 2) — `--samples` times, one at a time: dave
  requests a table (untimed); alice approves on replica X; dave queries on replica Y ≠ X
  until rows come back (timed, from sending the approval); alice revokes (untimed).

Any non-2xx answer (or a wrong body) is an error; the first few are printed. A markdown table
is printed; `--append-results` appends a section to bench/RESULTS.md (release builds only).
Replicas, schema and temporary directories are removed at the end, also on failure or Ctrl-C.

Usage: python3 bench/replicas.py [--binary PATH] [--postgres URL] [--replicas 1,2,3]
           [--clients 32] [--seconds 20] [--rounds 1] [--samples 50] [--spread 1] [--append-results]
A full run with the defaults takes about 3 minutes. Only the Python standard library is needed
(and `psql` on the PATH).
"""

import argparse
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402
    CLK_TCK, SHOW_ERRORS, Client, cpu_model, Errors, Replica, child_env, cpu_seconds, multipart, must, percentile,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLES = ["t1", "t2", "t3", "t4"]
ROWS = 1000
SQL = "SELECT region, count(*) AS n, sum(amount) AS total FROM sales.multi.t1 GROUP BY region"
REGIONS = ["EU", "US", "APAC", "LATAM"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STOP = threading.Event()  # set on Ctrl-C: client threads stop at their next call


# --------------------------------------------------------------------------------------------
# HTTP: one keep-alive connection per thread and replica
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# processes: PostgreSQL schema, init, replicas
# --------------------------------------------------------------------------------------------


def psql(url, sql):
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def with_search_path(url, schema):
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options[search_path]={schema}"


class Mesh:
    """A fresh schema, data root and N replicas; `close` removes all of it."""

    def __init__(self, binary, postgres, n, tag):
        self.postgres = postgres
        self.schema = f"mgbench_replicas_{os.getpid()}_{tag}"
        self.dir = tempfile.mkdtemp(prefix="meshgate-replicas-")
        self.replicas = []
        self.schema_made = False
        psql(postgres, f"CREATE SCHEMA {self.schema}")
        self.schema_made = True
        store = with_search_path(postgres, self.schema)
        root = os.path.join(self.dir, "root")
        os.makedirs(root)
        env = child_env()
        env["MESHGATE_DATA_ROOT"] = root
        out = subprocess.run([binary, "init", "--store-url", store, "--data-dir", os.path.join(self.dir, "d0")],
                             env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
        tokens = [line.strip() for line in out.stdout.splitlines() if line.strip().startswith("mgt_")]
        if out.returncode != 0 or not tokens:
            raise RuntimeError(f"meshgate init failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        self.admin = tokens[0]
        for i in range(1, n + 1):
            self.replicas.append(Replica(binary, store, os.path.join(self.dir, f"d{i}"), root,
                                         os.path.join(self.dir, f"serve-{i}.log")))
        deadline = time.time() + 300
        for r in self.replicas:
            r.wait_ready(deadline)
        self.ports = [r.port for r in self.replicas]

    def report_logs(self):
        """Prints how many warnings and errors the replicas logged (RUST_LOG=warn: every line
        is one), and the first few, before the logs are removed."""
        lines = []
        for r in self.replicas:
            try:
                with open(r.log_path, errors="replace") as f:
                    lines += [f":{r.port} " + ANSI.sub("", line).strip() for line in f if line.strip()]
            except OSError:
                pass
        if lines:
            print(f"   the replicas logged {len(lines)} warning/error line(s); the first:")
            for line in lines[:3]:
                print("     " + line[:400])

    def cpu(self):
        return sum(cpu_seconds(r.proc.pid) for r in self.replicas)

    def close(self):
        for r in self.replicas:
            try:
                r.stop()
            except Exception as e:  # keep cleaning up
                print(f"stopping replica :{r.port}: {e}", file=sys.stderr)
        self.report_logs()
        if self.schema_made:
            try:
                psql(self.postgres, f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            except Exception as e:
                print(f"dropping schema {self.schema}: {e}", file=sys.stderr)
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# the mesh's contents
# --------------------------------------------------------------------------------------------


def pair(k):
    """The k-th (product, consumer team) of the lifecycles: sales.multi and marketing.analytics,
    then sales.multi2 and marketing.analytics2, …"""
    suffix = "" if k == 0 else str(k + 1)
    return f"sales.multi{suffix}", f"marketing.analytics{suffix}"


def set_up(mesh, spread):
    """Domains, teams, principals with tokens, sales.multi (and `spread - 1` more products and
    consumer teams of bob's); carol is granted all of sales.multi."""
    c, port, admin = Client(), mesh.ports[0], mesh.admin
    for d in ("sales", "marketing"):
        must(c.request(port, admin, "POST", "/domains", {"name": d}), f"create domain {d}")
    members = [("alice", "sales.core", "owner"), ("carol", "marketing.reporting", "member"),
               ("dave", "marketing.adhoc", "member")]
    members += [("bob", pair(k)[1], "member") for k in range(spread)]
    tokens = {}
    for who, team, role in members:
        d, t = team.split(".")
        must(c.request(port, admin, "POST", f"/domains/{d}/teams", {"name": t}), f"create team {team}")
        if who not in tokens:
            must(c.request(port, admin, "POST", "/principals", {"name": who, "kind": "user"}), f"create {who}")
            tokens[who] = must(c.request(port, admin, "POST", "/tokens", {"principal": who}),
                               f"token for {who}")["token"]
        must(c.request(port, admin, "PUT", f"/domains/{d}/teams/{t}/members/{who}", {"role": role}),
             f"add {who} to {team}")

    rnd = random.Random(20261203)
    for k in range(spread):
        product = pair(k)[0]
        parts = [("product", None, "application/json",
                  json.dumps({"domain": "sales", "team": "core", "name": product.split(".")[1]}).encode())]
        for t in TABLES:
            lines = ["id,region,amount"] + [f"{i},{rnd.choice(REGIONS)},{rnd.randint(1, 1000)}"
                                            for i in range(1, ROWS + 1)]
            parts.append((t, f"{t}.csv", "text/csv", ("\n".join(lines) + "\n").encode()))
        body, ctype = multipart(parts)
        must(c.request(port, tokens["alice"], "POST", "/products", body, {"Content-Type": ctype}), f"create {product}")

    share = must(c.request(port, tokens["carol"], "POST", "/shares",
                           {"product": "sales.multi", "reason": "replicas bench: SQL throughput"}), "carol's request")
    detail = must(c.request(port, tokens["alice"], "POST", f"/shares/{share['id']}/approve", {"wait": True}),
                  "approve carol's request")
    if detail["status"] != "processed":
        raise RuntimeError(f"carol's share is {detail['status']} after approve")
    # Every replica answers carol's query before anything is timed (and opens the table once).
    for p in mesh.ports:
        rows = must(c.request(p, tokens["carol"], "POST", "/query", {"sql": SQL}), f"carol's query on :{p}", (200,))
        if sum(r["n"] for r in rows) != ROWS:
            raise RuntimeError(f"carol's query on :{p} counted {rows}")
    c.close()
    return tokens


# --------------------------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------------------------


def pick_two(rnd, ports):
    """Two replicas, different ones when there are several."""
    a = rnd.choice(ports)
    b = rnd.choice([p for p in ports if p != a] or ports)
    return a, b


def one_lifecycle(c, rnd, ports, tokens, errors, k, pair_index):
    """bob requests a table on one replica, alice approves it (wait) on another. Returns the
    approve call's seconds, or None after an error."""
    req_port, approve_port = pick_two(rnd, ports)
    product, team = pair(pair_index)
    status, body = c.request(req_port, tokens["bob"], "POST", "/shares",
                             {"product": product, "team": team, "tables": [TABLES[k % len(TABLES)]],
                              "reason": "replicas bench"})
    if status != 201:
        errors.add("request", req_port, status, body)
        return None
    share = json.loads(body)["id"]
    t0 = time.perf_counter()
    status, body = c.request(approve_port, tokens["alice"], "POST", f"/shares/{share}/approve",
                             {"wait": True, "notes": "replicas bench"})
    elapsed = time.perf_counter() - t0
    if status != 200:
        errors.add("approve", approve_port, status, body)
        return None
    got = json.loads(body).get("status")
    if got != "processed":
        errors.add("approve (not processed)", approve_port, status, f"share {share} is {got} after {elapsed:.1f} s")
        return None
    return elapsed


def run_threads(clients, seconds, work, seed):
    """Runs `work(client, rnd, deadline, out)` on `clients` threads; returns (outs, wall seconds)."""
    outs = [[] for _ in range(clients)]
    start = time.perf_counter()
    deadline = start + seconds
    threads = []
    for i in range(clients):
        def body(i=i):
            c = Client()
            try:
                work(c, random.Random(seed * 1000 + i), deadline, outs[i], i)
            finally:
                c.close()
        t = threading.Thread(target=body, daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    return outs, time.perf_counter() - start


def machine_busy():
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK, sum(ticks) / CLK_TCK
    except (OSError, ValueError):
        return 0.0, 0.0


class Usage:
    """CPU used over a phase, as a share of the machine: by the replicas, by this script, and by
    every process (PostgreSQL and whatever else runs on the machine included)."""

    def __init__(self, mesh):
        self.mesh = mesh
        self.t0, self.server0, self.client0 = time.perf_counter(), mesh.cpu(), self.client()
        self.machine0 = machine_busy()

    @staticmethod
    def client():
        t = os.times()
        return t.user + t.system

    def done(self):
        wall = time.perf_counter() - self.t0
        cores = os.cpu_count() or 1
        busy, total = machine_busy()
        total -= self.machine0[1]
        return {"server_cpu": (self.mesh.cpu() - self.server0) / wall / cores,
                "client_cpu": (self.client() - self.client0) / wall / cores,
                "machine_cpu": (busy - self.machine0[0]) / total if total > 0 else 0.0}


def b5_http(mesh, tokens, args, errors):
    c = Client()
    rnd = random.Random(1)
    for k in range(max(2 * len(mesh.ports), args.spread)):  # warm-up
        one_lifecycle(c, rnd, mesh.ports, tokens, errors, k, k % args.spread)
    c.close()
    usage = Usage(mesh)

    def work(c, rnd, deadline, out, i):
        k = i
        while time.perf_counter() < deadline and not STOP.is_set():
            elapsed = one_lifecycle(c, rnd, mesh.ports, tokens, errors, k, i % args.spread)
            if elapsed is not None:
                out.append(elapsed)
            k += 1

    outs, wall = run_threads(args.clients, args.seconds, work, args.seed)
    approves = [x for o in outs for x in o]
    return dict(lifecycles=len(approves), wall=wall, rate=len(approves) / wall,
                approve=approves, **usage.done())


def sql_throughput(mesh, tokens, args, errors):
    usage = Usage(mesh)

    def work(c, rnd, deadline, out, i):
        n = i
        while time.perf_counter() < deadline and not STOP.is_set():
            port = mesh.ports[n % len(mesh.ports)]
            n += 1
            t0 = time.perf_counter()
            status, body = c.request(port, tokens["carol"], "POST", "/query", {"sql": SQL})
            elapsed = time.perf_counter() - t0
            if status != 200:
                errors.add("query", port, status, body)
                continue
            if sum(r["n"] for r in json.loads(body)) != ROWS:
                errors.add("query (wrong count)", port, status, body)
                continue
            out.append(elapsed)

    outs, wall = run_threads(args.clients, args.seconds, work, args.seed + 1)
    lat = [x for o in outs for x in o]
    return dict(queries=len(lat), wall=wall, rate=len(lat) / wall, latency=lat, **usage.done())


def approve_to_query(mesh, tokens, args, errors):
    """approve on X, query on Y ≠ X until rows come back; one sample at a time."""
    c = Client()
    rnd = random.Random(args.seed + 2)
    samples, stale, failed = [], 0, 0
    alice, dave = tokens["alice"], tokens["dave"]
    for i in range(args.samples):
        x, y = pick_two(rnd, mesh.ports)
        status, body = c.request(rnd.choice(mesh.ports), dave, "POST", "/shares",
                                 {"product": "sales.multi", "tables": ["t1"], "reason": f"approve→query {i}"})
        if status != 201:
            errors.add("request (approve→query)", x, status, body)
            failed += 1
            continue
        share = json.loads(body)["id"]
        # dave must not read t1 yet on Y (the last sample's revocation must have reached it).
        until, first = time.perf_counter() + 10, True
        while True:
            status, body = c.request(y, dave, "POST", "/query", {"sql": SQL})
            if status == 400 or time.perf_counter() > until:
                break
            if first:
                stale += 1  # a revocation answered 2xx on one replica, still readable on another
                first = False
            time.sleep(0.01)
        t0 = time.perf_counter()
        status, body = c.request(x, alice, "POST", f"/shares/{share}/approve", {"wait": True})
        if status != 200:
            errors.add("approve (approve→query)", x, status, body)
            failed += 1
            continue
        until = time.perf_counter() + 60
        while True:
            status, body = c.request(y, dave, "POST", "/query", {"sql": SQL})
            if status == 200 or time.perf_counter() > until:
                break
        if status != 200:
            errors.add("query after approve (60 s)", y, status, body)
            failed += 1
        else:
            samples.append(time.perf_counter() - t0)
        port = rnd.choice(mesh.ports)
        status, body = c.request(port, alice, "POST", f"/shares/{share}/revoke", {"wait": True})
        if status != 200:
            errors.add("revoke (approve→query)", port, status, body)
    c.close()
    return dict(samples=samples, stale=stale, failed=failed)


def measure(binary, args, n, tag):
    print(f"-- {n} replica(s): starting", flush=True)
    mesh = Mesh(binary, args.postgres, n, tag)
    try:
        t0 = time.perf_counter()
        tokens = set_up(mesh, args.spread)
        print(f"   mesh set up in {time.perf_counter() - t0:.1f} s; B5 over HTTP for {args.seconds} s", flush=True)
        res = {"replicas": n}
        errors = Errors()
        res["b5"] = b5_http(mesh, tokens, args, errors)
        print(f"   {res['b5']['rate']:.1f} lifecycles/s; SQL for {args.seconds} s", flush=True)
        res["sql"] = sql_throughput(mesh, tokens, args, errors)
        print(f"   {res['sql']['rate']:.1f} queries/s", flush=True)
        if n >= 2 and args.samples > 0:
            res["a2q"] = approve_to_query(mesh, tokens, args, errors)
        res["errors"] = errors.count
        res["first_errors"] = errors.first
        for e in errors.first:
            print(f"   error: {e}", flush=True)
        return res
    except BaseException:
        STOP.set()
        for r in mesh.replicas:
            if r.proc.poll() is not None:
                print(f"replica :{r.port} exited with {r.proc.returncode}:\n{r.tail()}", file=sys.stderr)
        raise
    finally:
        mesh.close()


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def ms(seconds):
    if seconds is None:
        return "—"
    v = seconds * 1000
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def pct(values, p):
    return percentile(values, p) if values else None


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(results, n):
    """One row per replica count: medians over the rounds."""
    rs = [r for r in results if r["replicas"] == n]
    a2q = [pct(r["a2q"]["samples"], 0.95) for r in rs if "a2q" in r]
    return {
        "replicas": n,
        "rate": med([r["b5"]["rate"] for r in rs]),
        "approve_p50": med([pct(r["b5"]["approve"], 0.5) for r in rs]),
        "approve_p95": med([pct(r["b5"]["approve"], 0.95) for r in rs]),
        "approve_max": max((max(r["b5"]["approve"], default=0) for r in rs), default=0),
        "lifecycles": sum(r["b5"]["lifecycles"] for r in rs),
        "qps": med([r["sql"]["rate"] for r in rs]),
        "query_p50": med([pct(r["sql"]["latency"], 0.5) for r in rs]),
        "query_p95": med([pct(r["sql"]["latency"], 0.95) for r in rs]),
        "a2q_p50": med([pct(r["a2q"]["samples"], 0.5) for r in rs if "a2q" in r]),
        "a2q_p95": med(a2q),
        "a2q_n": sum(len(r["a2q"]["samples"]) for r in rs if "a2q" in r),
        "stale": sum(r["a2q"]["stale"] for r in rs if "a2q" in r),
        "errors": sum(r["errors"] for r in rs),
        "b5_server_cpu": med([r["b5"]["server_cpu"] for r in rs]),
        "b5_client_cpu": med([r["b5"]["client_cpu"] for r in rs]),
        "sql_server_cpu": med([r["sql"]["server_cpu"] for r in rs]),
        "sql_client_cpu": med([r["sql"]["client_cpu"] for r in rs]),
        "b5_machine_cpu": med([r["b5"]["machine_cpu"] for r in rs]),
        "sql_machine_cpu": med([r["sql"]["machine_cpu"] for r in rs]),
    }


def cpu(s, phase):
    return " / ".join(f"{s[f'{phase}_{who}_cpu']:.0%}" for who in ("server", "client", "machine"))


def tables(rows):
    main = ["| replicas | lifecycles/s | approve p95 ms | queries/s | query p95 ms | approve→query p95 ms | errors |",
            "|---|---|---|---|---|---|---|"]
    for s in rows:
        main.append(f"| {s['replicas']} | {s['rate']:.1f} | {ms(s['approve_p95'])} | {s['qps']:.1f} | "
                    f"{ms(s['query_p95'])} | {ms(s['a2q_p95'])} | {s['errors']} |")
    detail = ["| replicas | lifecycles | approve p50 ms | approve max ms | query p50 ms | approve→query p50 ms (samples) "
              "| CPU in B5: replicas / script / machine | CPU in SQL: replicas / script / machine |",
              "|---|---|---|---|---|---|---|---|"]
    for s in rows:
        a2q = f"{ms(s['a2q_p50'])} ({s['a2q_n']}" + (f", {s['stale']} readable after revoke" if s["stale"] else "") + ")" if s["a2q_n"] else "—"
        detail.append(f"| {s['replicas']} | {s['lifecycles']} | {ms(s['approve_p50'])} | {ms(s['approve_max'])} | "
                      f"{ms(s['query_p50'])} | {a2q} | {cpu(s, 'b5')} | {cpu(s, 'sql')} |")
    return "\n".join(main), "\n".join(detail)


def shown_command(binary):
    """The command as run, with the binary named relative to the checkout or the target dir."""
    words, argv = [], iter(sys.argv[1:])
    for w in argv:
        if w == "--binary":
            next(argv, None)
        elif not w.startswith("--binary="):
            words.append(shlex.quote(w))
    b, target = os.path.abspath(binary), os.environ.get("CARGO_TARGET_DIR")
    if b == os.path.abspath(default_binary()):
        pass
    elif b.startswith(ROOT + os.sep):
        words = ["--binary", shlex.quote(os.path.relpath(b, ROOT))] + words
    elif target and b.startswith(os.path.abspath(target) + os.sep):
        words = ["--binary", '"$CARGO_TARGET_DIR"/' + shlex.quote(os.path.relpath(b, os.path.abspath(target)))] + words
    else:
        words = ["--binary", ".../" + "/".join(b.split(os.sep)[-2:])] + words
    return " ".join(["python3 bench/replicas.py"] + words)


def append_results(args, binary, main, detail, first_errors, wall, pg_version):
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.release()}"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
    except Exception:
        commit = "unknown"
    built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(binary)))
    load = os.getloadavg()[0]
    spread = ("the same team requests the same product again and again, as in the in-process B5."
              if args.spread == 1 else
              f"the clients are spread over {args.spread} products and {args.spread} consumer teams (bob in each), "
              "so that jobs of different lifecycles need not wait for one another (a worker leases no job of a "
              "product or grantee another worker holds).")
    rounds = "" if args.rounds == 1 else f" Each row is the median of {args.rounds} interleaved rounds."
    text = [
        f"\n## Replicas — B5 over HTTP and SQL throughput by replica count ({time.strftime('%Y-%m-%d')}, {machine})\n",
        f"Command: `{shown_command(binary)}` (release build of {built}, HEAD {commit} at run time; "
        f"PostgreSQL {pg_version} on the same machine; whole run {wall:.0f} s; load average {load:.1f} at the end).\n",
        "Method: for each replica count a fresh PostgreSQL schema and data root, `meshgate init`, then that many "
        "`meshgate serve` processes on this machine (same store and data root, own data dir and port). "
        f"B5 over HTTP: {args.clients} client threads for {args.seconds:g} s; a lifecycle is bob's request of one "
        "table (created and submitted) on a random replica and alice's approve with `wait: true` on another, "
        "counted when it answers `processed`; " + spread + f" SQL: {args.clients} client threads for "
        f"{args.seconds:g} s run a GROUP BY over a granted {ROWS}-row table as carol (`POST /api/v1/query`, JSON), "
        f"round-robin over the replicas. approve → query (2+ replicas): {args.samples} samples one at a time: "
        "approve on replica X, query on Y ≠ X until rows come back (timed from sending the approval), revoke. "
        "Keep-alive connections; the clients (one Python process) share the machine's cores with the replicas "
        "and PostgreSQL. The CPU columns are shares of the machine's cores used during the phase by the "
        "replicas, by the client script, and by every process (PostgreSQL and anything else running "
        "included)." + rounds + "\n",
        main + "\n",
        detail + "\n",
    ]
    if first_errors:
        text.append("First errors:\n\n" + "\n".join(f"- `{e}`" for e in first_errors) + "\n")
    with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
        f.write("\n".join(text))
    print("appended to bench/RESULTS.md")


# --------------------------------------------------------------------------------------------


def default_binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "meshgate")


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", help="meshgate binary (default: the release binary under $CARGO_TARGET_DIR or target/)")
    ap.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/test",
                    help="PostgreSQL database to create the schemas in")
    ap.add_argument("--replicas", default="1,2,3", help="replica counts, comma-separated")
    ap.add_argument("--clients", type=int, default=32, help="client threads in B5 and SQL")
    ap.add_argument("--seconds", type=float, default=20, help="length of each B5 and SQL measurement")
    ap.add_argument("--rounds", type=int, default=1, help="runs of every replica count, interleaved")
    ap.add_argument("--samples", type=int, default=50, help="approve → query samples (2+ replicas)")
    ap.add_argument("--spread", type=int, default=1,
                    help="products (and consumer teams) the lifecycles are spread over; 1 = as the in-process B5")
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument("--append-results", action="store_true", help="append a section to bench/RESULTS.md")
    args = ap.parse_args()

    binary = os.path.abspath(args.binary or default_binary())
    if not os.access(binary, os.X_OK):
        sys.exit(f"no meshgate binary at {binary}: build it (cargo build --release -p meshgate-cli) or pass --binary")
    if args.append_results and "/release/" not in binary:
        sys.exit("--append-results needs a release build (a binary under .../release/); "
                 f"{binary} is not one. Run without --append-results to try the script.")
    if shutil.which("psql") is None:
        sys.exit("psql is needed on the PATH")
    if args.spread < 1 or args.clients < 1:
        sys.exit("--spread and --clients take numbers ≥ 1")
    counts = [int(x) for x in args.replicas.split(",") if x.strip()]
    if not counts or min(counts) < 1:
        sys.exit("--replicas takes counts ≥ 1, e.g. 1,2,3")
    pg_version = subprocess.run(["psql", args.postgres, "-Atc", "SHOW server_version"], capture_output=True,
                                text=True).stdout.strip() or "unknown"
    if "/release/" not in binary:
        print(f"note: {binary} is not a release build; the numbers are for trying the script only")

    signal.signal(signal.SIGTERM, on_sigterm)
    started = time.perf_counter()
    results = []
    try:
        for rnd in range(args.rounds):
            for n in counts:
                results.append(measure(binary, args, n, f"{rnd}_{n}"))
    except KeyboardInterrupt:
        sys.exit("interrupted; replicas stopped, schema dropped, temporary directories removed")
    wall = time.perf_counter() - started

    rows = [summarise(results, n) for n in counts]
    main_table, detail = tables(rows)
    print()
    print(main_table)
    print()
    print(detail)
    first = [e for r in results for e in r["first_errors"]][:SHOW_ERRORS]
    if first:
        print("\nfirst errors:")
        for e in first:
            print("  " + e)
    print(f"\nwhole run {wall:.0f} s")
    if args.append_results:
        append_results(args, binary, main_table, detail, first, wall, pg_version)


if __name__ == "__main__":
    main()
