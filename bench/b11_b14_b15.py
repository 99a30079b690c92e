#!/usr/bin/env python3
"""B11, B14 and B15 (docs/design/BENCHMARKS.md) against one release `meshgate serve` on SQLite.

Set-up, through the API of a fresh `meshgate init` + `meshgate serve` (own data dir, SQLite):
domains sales and marketing; alice owns sales.core; carol is in marketing.reporting, bob in
marketing.analytics, dave in marketing.adhoc. alice publishes `--products` products of
`--tables-per-product` small tables each (sales.wide0 …; 500 tables by default), sales.small
(one table), sales.churn (one table) and sales.big (one table of `--big-rows` rows). carol is
granted every wide product and sales.big (so she holds 501 granted tables); bob is granted
sales.small.

- **B14** — SQL p95 for a principal holding 500 granted tables: carol's query of one of them
  (`POST /api/v1/query`). *Warm*: the same query again and again. *Cold*: before each query an
  admin changes an unrelated team membership, which moves the policy version, so carol's
  memberships and access snapshot (501 tables) are resolved again. *Restart*: the first query
  after the server starts (`--restarts` times). Target: cold p95 ≤ 20 ms.
- **B15** — query p95 while grants change elsewhere: carol's and bob's queries, one at a time,
  in quiet phases and in phases where another thread changes grants `--churn-rate` times a
  second (dave's request of sales.churn approved, then revoked: each approval and each
  revocation is a grant change; the achieved rate is reported). Quiet and churn phases
  alternate `--rounds` times. Target: churn p95 ≤ 1.2 × quiet p95.
- **B11** — the server's resident memory (VmRSS): right after start, after the set-up and
  `--settle` seconds idle, and under `--concurrency` concurrent heavy queries (a GROUP BY over
  sales.big with 100,000 groups), sampled every 50 ms, with the peak (VmHWM); the server must
  stay up, each query must succeed or be refused for its memory, and RSS must stay within the
  engine's memory limit (1024 MiB by default) plus the idle RSS, then `--settle-after-load`
  seconds later. Each figure is split into anonymous memory (what the process holds) and
  file-backed pages (the binary's code it has run). Target: idle ≤ 64 MB.

A markdown summary is printed; `--append-results` appends it to bench/RESULTS.md (release
builds only). Usage:
    python3 bench/b11_b14_b15.py [--binary PATH] [--append-results] [--samples 200] …
Only the Python standard library is needed.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Client, Replica, child_env, machine, multipart, must, percentile  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGIONS = ["EU", "US", "APAC", "LATAM"]
MIB = 1024 * 1024


def mem(pid):
    """The resident memory of PID, split: total (VmRSS), anonymous (heap, stacks: what the
    process holds) and file-backed (pages of the binary and libraries it has touched, which
    the kernel may drop and read again), in bytes."""
    return {f: rss(pid, f) for f in ("VmRSS", "RssAnon", "RssFile")}


def rss(pid, field="VmRSS"):
    """A memory figure of /proc/PID/status in bytes (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def csv_table(rnd, rows, note=False):
    head = "id,region,amount" + (",note" if note else "")
    lines = [head]
    for i in range(1, rows + 1):
        line = f"{i},{rnd.choice(REGIONS)},{rnd.randint(1, 1000)}"
        if note:
            line += f",n{rnd.randint(0, 10**9)}"
        lines.append(line)
    return ("\n".join(lines) + "\n").encode()


class Server:
    """`meshgate init` then `meshgate serve` on a fresh SQLite data dir; restartable."""

    def __init__(self, binary, workdir):
        self.binary = binary
        self.data = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "serve.log")
        out = subprocess.run([binary, "init", "--data-dir", self.data], env=child_env(),
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
        tokens = [line.strip() for line in out.stdout.splitlines() if line.strip().startswith("mgt_")]
        if out.returncode != 0 or not tokens:
            raise RuntimeError(f"meshgate init failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        self.admin = tokens[0]
        self.replica = None
        self.start()

    def start(self):
        store = "sqlite://" + os.path.join(self.data, "meshgate.db")
        self.replica = Replica(self.binary, store, self.data, os.path.join(self.data, "tables"), self.log_path)
        self.replica.wait_ready(time.time() + 300)
        self.port = self.replica.port
        self.pid = self.replica.proc.pid

    def alive(self):
        return self.replica.proc.poll() is None

    def stop(self):
        if self.replica:
            self.replica.stop()


def set_up(srv, args):
    c, port, admin = Client(), srv.port, srv.admin
    for d in ("sales", "marketing"):
        must(c.request(port, admin, "POST", "/domains", {"name": d}), f"create domain {d}")
    tokens = {}
    for who, team, role in [("alice", "sales.core", "owner"), ("carol", "marketing.reporting", "member"),
                            ("bob", "marketing.analytics", "member"), ("dave", "marketing.adhoc", "member"),
                            ("erin", "marketing.spare", "member")]:
        d, t = team.split(".")
        must(c.request(port, admin, "POST", f"/domains/{d}/teams", {"name": t}), f"create team {team}")
        must(c.request(port, admin, "POST", "/principals", {"name": who, "kind": "user"}), f"create {who}")
        tokens[who] = must(c.request(port, admin, "POST", "/tokens", {"principal": who}), f"token for {who}")["token"]
        must(c.request(port, admin, "PUT", f"/domains/{d}/teams/{t}/members/{who}", {"role": role}),
             f"add {who} to {team}")

    rnd = random.Random(20261203)

    def publish(name, tables):
        parts = [("product", None, "application/json",
                  json.dumps({"domain": "sales", "team": "core", "name": name}).encode())]
        for t, data in tables:
            parts.append((t, f"{t}.csv", "text/csv", data))
        body, ctype = multipart(parts)
        must(c.request(port, tokens["alice"], "POST", "/products", body, {"Content-Type": ctype}), f"create {name}")

    t0 = time.time()
    for p in range(args.products):
        publish(f"wide{p}", [(f"t{i}", csv_table(rnd, args.rows)) for i in range(args.tables_per_product)])
    publish("small", [("t0", csv_table(rnd, args.rows))])
    publish("churn", [("t0", csv_table(rnd, args.rows))])
    publish("big", [("events", csv_table(rnd, args.big_rows, note=True))])
    print(f"   published {args.products * args.tables_per_product + 3} tables in {time.time() - t0:.0f} s")

    def grant(who, team, product):
        share = must(c.request(port, tokens[who], "POST", "/shares",
                               {"product": f"sales.{product}", "team": team, "reason": "bench"}), f"{who} requests {product}")
        detail = must(c.request(port, tokens["alice"], "POST", f"/shares/{share['id']}/approve", {"wait": True}),
                      f"approve {who}'s request of {product}")
        if detail["status"] != "processed":
            raise RuntimeError(f"{who}'s share of {product} is {detail['status']} after approve")

    for p in range(args.products):
        grant("carol", "marketing.reporting", f"wide{p}")
    grant("carol", "marketing.reporting", "big")
    grant("bob", "marketing.analytics", "small")
    c.close()
    return tokens


def query(c, port, token, sql, expect_rows=None):
    t0 = time.perf_counter()
    status, body = c.request(port, token, "POST", "/query", {"sql": sql})
    elapsed = time.perf_counter() - t0
    if status != 200:
        raise RuntimeError(f"query {sql!r} → {status}: {body[:300]!r}")
    if expect_rows is not None:
        rows = json.loads(body)
        if rows[0]["n"] != expect_rows:
            raise RuntimeError(f"query {sql!r} counted {rows}")
    return elapsed


def ms(values, p):
    return f"{percentile(values, p) * 1000:.1f}"


# ---------------------------------------------------------------------------------------- B14


def b14(srv, tokens, args):
    c = Client()
    table = f"sales.wide{args.products // 2}.t{args.tables_per_product // 2}"
    sql = f"SELECT count(*) AS n, sum(amount) AS total FROM {table}"
    query(c, srv.port, tokens["carol"], sql, args.rows)
    roles = ["steward", "member"]
    warm, cold = [], []
    for i in range(args.samples):
        # Cold: an unrelated membership change moves the policy version first.
        must(c.request(srv.port, srv.admin, "PUT", "/domains/marketing/teams/spare/members/erin",
                       {"role": roles[i % 2]}), "move the policy version")
        cold.append(query(c, srv.port, tokens["carol"], sql, args.rows))
        warm.append(query(c, srv.port, tokens["carol"], sql, args.rows))
    c.close()
    restart = []
    for _ in range(args.restarts):
        srv.stop()
        srv.start()
        c = Client()
        restart.append(query(c, srv.port, tokens["carol"], sql, args.rows))
        c.close()
    return {"table": table, "warm": warm, "cold": cold, "restart": restart}


# ---------------------------------------------------------------------------------------- B15


class Churn:
    """Changes grants `rate` times a second on another thread: dave's request of sales.churn,
    approved (a grant made), then revoked (a grant removed)."""

    def __init__(self, srv, tokens, rate):
        self.srv, self.tokens, self.interval = srv, tokens, 1.0 / rate
        self.changes, self.errors, self.stop_flag = 0, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        c, port = Client(), self.srv.port
        next_at = time.perf_counter()
        share = None
        while not self.stop_flag.is_set():
            try:
                if share is None:
                    status, body = c.request(port, self.tokens["dave"], "POST", "/shares",
                                             {"product": "sales.churn", "team": "marketing.adhoc", "reason": "churn"})
                    if status != 201:
                        raise RuntimeError(f"request → {status}: {body[:200]!r}")
                    share = json.loads(body)["id"]
                    status, body = c.request(port, self.tokens["alice"], "POST", f"/shares/{share}/approve",
                                             {"wait": True})
                else:
                    status, body = c.request(port, self.tokens["alice"], "POST", f"/shares/{share}/revoke",
                                             {"wait": True})
                    share = None
                if status != 200:
                    raise RuntimeError(f"approve/revoke → {status}: {body[:200]!r}")
                self.changes += 1
            except Exception as e:  # counted and shown; the phase goes on
                self.errors.append(str(e))
                share = None
            next_at += self.interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                self.stop_flag.wait(delay)
        c.close()

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(timeout=60)
        self.seconds = time.perf_counter() - self.t0


def b15(srv, tokens, args):
    queries = {
        f"carol ({args.products * args.tables_per_product + 1} granted tables)": (tokens["carol"],
                                       "SELECT region, count(*) AS n FROM sales.wide0.t0 GROUP BY region"),
        "bob (1 granted table)": (tokens["bob"], "SELECT region, count(*) AS n FROM sales.small.t0 GROUP BY region"),
    }
    out = {name: {"quiet": [], "churn": []} for name in queries}
    rates, errors = [], []
    c = Client()
    for _ in range(args.rounds):
        for phase in ("quiet", "churn"):
            churn = Churn(srv, tokens, args.churn_rate) if phase == "churn" else None
            if churn:
                churn.__enter__()
                time.sleep(1.0)  # the churn is running before the first timed query
            for _ in range(args.samples // args.rounds):
                for name, (token, sql) in queries.items():
                    out[name][phase].append(query(c, srv.port, token, sql))
            if churn:
                churn.__exit__()
                rates.append(churn.changes / churn.seconds)
                errors += churn.errors
    c.close()
    return {"times": out, "rates": rates, "errors": errors}


# ---------------------------------------------------------------------------------------- B11


def b11_load(srv, tokens, args):
    sql = ("SELECT id % 100000 AS k, count(*) AS n, sum(amount) AS total FROM sales.big.events "
           "GROUP BY id % 100000 ORDER BY total DESC LIMIT 5")
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(rss(srv.pid))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    statuses, lock = {}, threading.Lock()
    first_errors = []

    def client(i):
        c = Client(timeout=600)
        for _ in range(args.queries_per_client):
            status, body = c.request(srv.port, tokens["carol"], "POST", "/query", {"sql": sql})
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status != 200 and len(first_errors) < 3:
                    first_errors.append(f"{status}: {body[:200].decode(errors='replace')}")
        c.close()

    sampler.start()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    time.sleep(2)
    after = mem(srv.pid)
    time.sleep(args.settle_after_load)
    return {"samples": samples, "hwm": rss(srv.pid, "VmHWM"), "statuses": statuses, "wall": wall,
            "after": after, "settled": mem(srv.pid), "alive": srv.alive(), "first_errors": first_errors}


# ----------------------------------------------------------------------------------------


def row(m):
    """RSS, anonymous and file-backed MiB as table cells."""
    return " | ".join(f"{m[f] / MIB:.0f}" for f in ("VmRSS", "RssAnon", "RssFile"))


def report(args, r):
    b = r["b14"]
    lines = [
        f"**B14** — carol holds {args.products * args.tables_per_product + 1} granted tables; "
        f"`SELECT count(*), sum(amount) FROM {b['table']}` ({args.rows} rows), {args.samples} samples each:",
        "",
        "| cache | p50 ms | p95 ms | max ms | target |",
        "|---|---|---|---|---|",
        f"| warm | {ms(b['warm'], .5)} | {ms(b['warm'], .95)} | {max(b['warm']) * 1000:.1f} | |",
        f"| cold (policy version moved) | {ms(b['cold'], .5)} | {ms(b['cold'], .95)} | {max(b['cold']) * 1000:.1f} | p95 ≤ 20 ms |",
    ]
    if b["restart"]:
        lines.append(f"| first query after a restart ({len(b['restart'])}×) | {ms(b['restart'], .5)} | "
                     f"{ms(b['restart'], .95)} | {max(b['restart']) * 1000:.1f} | |")
    q = r["b15"]
    rate = statistics.median(q["rates"]) if q["rates"] else 0
    lines += [
        "",
        f"**B15** — queries one at a time, quiet vs while grants change elsewhere (target rate "
        f"{args.churn_rate:g}/s, achieved median {rate:.1f}/s; {len(q['errors'])} churn errors); "
        f"{args.rounds} interleaved rounds:",
        "",
        "| caller | quiet p50 | quiet p95 | churn p50 | churn p95 | churn / quiet p95 | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, t in q["times"].items():
        ratio = percentile(t["churn"], .95) / percentile(t["quiet"], .95)
        lines.append(f"| {name} | {ms(t['quiet'], .5)} | {ms(t['quiet'], .95)} | {ms(t['churn'], .5)} | "
                     f"{ms(t['churn'], .95)} | {ratio:.2f} | ≤ 1.2 |")
    m = r["b11"]
    load = m["load"]
    peak = max(load["samples"] or [0])
    lines += [
        "",
        f"**B11** — resident memory (VmRSS) of the server; {args.concurrency} clients × "
        f"{args.queries_per_client} GROUP BY queries over sales.big ({args.big_rows} rows, 100,000 groups); "
        f"answers {dict(sorted(load['statuses'].items()))} in {load['wall']:.1f} s; server "
        f"{'up' if load['alive'] else 'DEAD'} afterwards:",
        "",
        "Anonymous memory is what the process holds (heap, stacks); file-backed is the pages of the "
        "binary's code and data it has run, which the kernel can drop and read again.",
        "",
        "| when | RSS MiB | anonymous | file-backed | target |",
        "|---|---|---|---|---|",
        f"| fresh (after start, empty mesh) | {row(m['fresh'])} | ≤ 64 |",
        f"| idle after the set-up and {args.settle} s | {row(m['idle'])} | ≤ 64 |",
        f"| idle at the end (after B14, B15) | {row(m['end'])} | |",
        f"| under {args.concurrency} concurrent queries: peak sampled / VmHWM | {peak / MIB:.0f} / {load['hwm'] / MIB:.0f} | | | ≤ memory limit (1024) + idle |",
        f"| 2 s after the load | {row(load['after'])} | |",
        f"| {args.settle_after_load} s after the load | {row(load['settled'])} | |",
    ]
    if load["first_errors"]:
        lines += ["", "First refused queries: " + "; ".join(f"`{e}`" for e in load["first_errors"])]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary")
    ap.add_argument("--products", type=int, default=10)
    ap.add_argument("--tables-per-product", type=int, default=50)
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--big-rows", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--churn-rate", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--queries-per-client", type=int, default=2)
    ap.add_argument("--settle", type=int, default=30)
    ap.add_argument("--settle-after-load", type=int, default=15)
    ap.add_argument("--append-results", action="store_true")
    ap.add_argument("--label", default="", help="what the binary is (e.g. `before: 3f2e511`), for the heading")
    args = ap.parse_args()
    binary = args.binary or os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                         "release", "meshgate")
    if not args.binary:
        subprocess.run(["cargo", "build", "--release", "-p", "meshgate-cli"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="meshgate-b11-")
    srv = None
    t0 = time.time()
    try:
        srv = Server(binary, work)
        time.sleep(2)
        fresh = mem(srv.pid)
        print("== set-up")
        tokens = set_up(srv, args)
        time.sleep(args.settle)
        idle = mem(srv.pid)
        print("== B14")
        r14 = b14(srv, tokens, args)
        print("== B15")
        r15 = b15(srv, tokens, args)
        time.sleep(5)
        end = mem(srv.pid)
        print("== B11 under load")
        load = b11_load(srv, tokens, args)
        result = {"b14": r14, "b15": r15, "b11": {"fresh": fresh, "idle": idle, "end": end, "load": load}}
        text = report(args, result)
        print(text)
        if args.append_results:
            built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(binary)))
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                    text=True).stdout.strip() or "unknown"
            label = f" — {args.label}" if args.label else ""
            head = (f"\n## B11, B14, B15 — memory; SQL with 500 granted tables; queries while grants change{label} "
                    f"({time.strftime('%Y-%m-%d')}, {machine()})\n\n"
                    f"Command: `python3 bench/b11_b14_b15.py --binary …/release/meshgate` (release build of {built}, "
                    f"HEAD {commit} at run time; SQLite; client and server on the same machine; whole run "
                    f"{time.time() - t0:.0f} s).\n\n")
            with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
                f.write(head + text + "\n")
            print("appended to bench/RESULTS.md")
    finally:
        if srv:
            srv.stop()
            if not srv.alive():
                with open(srv.log_path, errors="replace") as f:
                    tail = f.readlines()[-5:]
                if tail:
                    print("server log (last lines):\n" + "".join(tail))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
