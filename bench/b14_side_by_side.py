#!/usr/bin/env python3
"""B14 for two release binaries side by side: both servers set up as bench/b11_b14_b15.py sets
one up (SQLite, carol granted 501 tables), then carol's query sent to each in turn, so that
both see the same machine at the same moments (separate runs of b11_b14_b15.py differ by more
than a small change does). With `--cold`, an unrelated membership change moves the policy
version before each query. Prints p50 and p95 per binary (the first 100 samples dropped).
Usage:
    python3 bench/b14_side_by_side.py --a before=PATH --b after=PATH [--cold] [--samples 500]
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import b11_b14_b15 as b  # noqa: E402
from common import Client  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="label=path of a release meshgate binary")
    ap.add_argument("--b", required=True, help="label=path of another")
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--big-rows", type=int, default=1000)
    ap.add_argument("--products", type=int, default=10)
    ap.add_argument("--tables-per-product", type=int, default=50)
    ap.add_argument("--rows", type=int, default=200)
    args = ap.parse_args()
    binaries = dict(x.split("=", 1) for x in (args.a, args.b))
    servers, tokens = {}, {}
    try:
        for label, path in binaries.items():
            servers[label] = b.Server(path, tempfile.mkdtemp(prefix=f"b14-{label}-"))
            tokens[label] = b.set_up(servers[label], args)
        time.sleep(5)
        table = f"sales.wide{args.products // 2}.t{args.tables_per_product // 2}"
        sql = f"SELECT count(*) AS n, sum(amount) AS total FROM {table}"
        clients = {label: Client() for label in servers}
        times = {label: [] for label in servers}
        for i in range(args.samples + 100):
            for label, srv in servers.items():
                if args.cold:
                    b.must(clients[label].request(srv.port, srv.admin, "PUT",
                                                  "/domains/marketing/teams/spare/members/erin",
                                                  {"role": ["steward", "member"][i % 2]}), "move the policy version")
                times[label].append(b.query(clients[label], srv.port, tokens[label]["carol"], sql, args.rows))
        for label, t in times.items():
            t = sorted(t[100:])
            print(f"{label}: carol's {'cold' if args.cold else 'warm'} query p50 {t[len(t) // 2] * 1000:.2f} ms, "
                  f"p95 {t[int(len(t) * 0.95)] * 1000:.2f} ms ({len(t)} samples)")
    finally:
        for srv in servers.values():
            srv.stop()


if __name__ == "__main__":
    main()
