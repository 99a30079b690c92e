#!/usr/bin/env python3
"""B1, B2, B3 (docs/design/BENCHMARKS.md): the cost of fine-grained access in queries.

- B1: secured / unsecured query time in meshgate. "Unsecured" is the product owner (alice),
  who reads the table as it is; "secured" is a consumer (bob) whose grant carries a data
  filter (row filter `region = 'EU'`) and two masks (`customer_email` → hash,
  `card_number` → show_last_4). Target: ratio ≤ 1.05.
- B2: the secured query in meshgate vs the same policy in DuckDB: a secure view over the
  Delta table's own Parquet data files (the files meshgate reads) with the same WHERE filter
  and the masks in SQL. Target: meshgate / DuckDB ≤ 1.0.
- B3: the secured query in meshgate vs PostgreSQL row-level security on the same rows (a
  RLS policy plus a security-barrier view applying the masks). Target: meshgate ≥ 20× faster.

Queries (over a seeded, generated lineitem-like table and a small orders table): TPC-H-like
Q1 (GROUP BY returnflag, linestatus), Q6-like (filtered SUM(price*discount)), a selective
filter (l_partkey = k, returning masked columns) and a join (lineitem ⋈ orders, grouped).
Every answer is compared across engines (meshgate secured = DuckDB secure view = PostgreSQL
RLS; meshgate owner = DuckDB over the raw files) and the script fails if any differ.

Setup (bench/b1_b3.sh does all of this and then runs the script):
    python3 -m venv ~/.cache/meshgate/bench-venv
    ~/.cache/meshgate/bench-venv/bin/pip install -r bench/requirements.txt
    # a local PostgreSQL (≥ 15) reachable as `postgres` with trust auth, e.g. Debian's
    # `postgresql` package; the script creates the database `meshgate_bench` and two roles.

Usage:
    ~/.cache/meshgate/bench-venv/bin/python bench/b1_b3_access.py \
        [--rows 2000000] [--runs 7] [--warmup 2] [--binary PATH] [--pg-url URL] [--no-record]

The binary defaults to the release build under $CARGO_TARGET_DIR (or ./target). A binary
under a `debug/` directory is labelled as a debug build (not a valid result) in the output.
"""

import argparse
import datetime as dt
import hashlib
import hmac
import http.client
import io
import json
import math
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

try:
    import duckdb
    import numpy as np
    import psycopg
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq
except ImportError as e:  # pragma: no cover - setup hint
    sys.exit(f"missing dependency ({e}); run: pip install -r bench/requirements.txt")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOMAIN, TEAM, PRODUCT = "sales", "core", "bench"
CONSUMER_TEAM = "marketing.analytics"
ROW_FILTER = "region = 'EU'"
MASKS = {"customer_email": "hash", "card_number": "show_last_4"}

# --------------------------------------------------------------------------------------------
# Queries: `{lineitem}` and `{orders}` are replaced per engine.
# --------------------------------------------------------------------------------------------

QUERIES = [
    (
        "Q1 (group by flag, status)",
        """SELECT l_returnflag, l_linestatus,
       sum(l_quantity) AS sum_qty,
       sum(l_extendedprice) AS sum_base_price,
       sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
       sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
       avg(l_quantity) AS avg_qty,
       avg(l_extendedprice) AS avg_price,
       avg(l_discount) AS avg_disc,
       count(*) AS count_order
FROM {lineitem}
WHERE l_shipdate <= DATE '1998-09-02'
GROUP BY l_returnflag, l_linestatus
ORDER BY l_returnflag, l_linestatus""",
    ),
    (
        "Q6 (filtered sum)",
        """SELECT sum(l_extendedprice * l_discount) AS revenue, count(*) AS n
FROM {lineitem}
WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01'
  AND l_discount BETWEEN 0.045 AND 0.075 AND l_quantity < 24""",
    ),
    (
        "selective filter (l_partkey = k)",
        """SELECT l_orderkey, l_partkey, l_quantity, l_extendedprice, l_shipdate,
       region, customer_email, card_number
FROM {lineitem}
WHERE l_partkey = {partkey}
ORDER BY l_orderkey, l_extendedprice, l_quantity, customer_email""",
    ),
    (
        "join lineitem ⋈ orders",
        """SELECT o_orderpriority, count(*) AS lines,
       sum(l_extendedprice * (1 - l_discount)) AS revenue
FROM {lineitem} JOIN {orders} ON l_orderkey = o_orderkey
WHERE o_orderdate >= DATE '1995-01-01' AND o_orderdate < DATE '1996-01-01'
GROUP BY o_orderpriority
ORDER BY o_orderpriority""",
    ),
]

# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

REGIONS = ["EU", "US", "APAC", "LATAM"]
SHIPMODES = ["AIR", "FOB", "MAIL", "RAIL", "REG AIR", "SHIP", "TRUCK"]
PRIORITIES = ["1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"]
WORDS = (
    "carefully final deposits detect slyly ironic requests wake furiously regular packages "
    "nag quickly express accounts haggle blithely pending theodolites boost even instructions "
    "sleep bold foxes cajole silent pinto beans among fluffily unusual dependencies"
).split()
EPOCH = dt.date(1970, 1, 1)


def days(d):
    return (d - EPOCH).days


def generate(rows, seed):
    """Deterministic lineitem-like and orders tables (numpy PCG64 seeded with `seed`)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    n_orders = max(1_000, rows // 100)
    n_customers = 50_000

    orderkey = np.sort(rng.integers(1, n_orders + 1, rows, dtype=np.int64))
    partkey = rng.integers(1, 200_001, rows, dtype=np.int64)
    quantity = rng.integers(1, 51, rows).astype(np.float64)
    extendedprice = np.round(quantity * rng.integers(90_000, 200_000, rows) / 100.0, 2)
    discount = rng.integers(0, 11, rows) / 100.0
    tax = rng.integers(0, 9, rows) / 100.0
    shipdate = rng.integers(days(dt.date(1992, 1, 2)), days(dt.date(1998, 12, 1)) + 1, rows)
    cutoff = days(dt.date(1995, 6, 17))
    returnflag = np.where(shipdate <= cutoff, np.where(rng.random(rows) < 0.5, "R", "A"), "N")
    linestatus = np.where(shipdate > cutoff + 10, "O", "F")
    shipmode = rng.integers(0, len(SHIPMODES), rows)
    comments = [
        " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), rng.integers(3, 8)))
        for _ in range(10_000)
    ]
    comment = rng.integers(0, len(comments), rows)
    custkey = rng.integers(1, n_customers + 1, rows)
    # per-customer attributes: region, e-mail and card number
    cust_ids = np.arange(n_customers + 1)
    cust_region = pa.array([REGIONS[c % 4] for c in cust_ids])
    cust_email = pa.array([f"customer{c}@example.com" for c in cust_ids])
    cust_card = pa.array([f"4{(c * 7_919_993 + 1_234_567) % 10**15:015d}" for c in cust_ids])
    take = pa.array(custkey)

    lineitem = pa.table(
        {
            "l_orderkey": pa.array(orderkey),
            "l_partkey": pa.array(partkey),
            "l_quantity": pa.array(quantity),
            "l_extendedprice": pa.array(extendedprice),
            "l_discount": pa.array(discount),
            "l_tax": pa.array(tax),
            "l_returnflag": pa.array(returnflag.tolist(), pa.string()),
            "l_linestatus": pa.array(linestatus.tolist(), pa.string()),
            "l_shipdate": pa.array(shipdate.astype(np.int32), pa.date32()),
            "l_shipmode": pa.array(SHIPMODES).take(pa.array(shipmode)),
            "l_comment": pa.array(comments).take(pa.array(comment)),
            "region": cust_region.take(take),
            "customer_email": cust_email.take(take),
            "card_number": cust_card.take(take),
        }
    )
    orders = pa.table(
        {
            "o_orderkey": pa.array(np.arange(1, n_orders + 1, dtype=np.int64)),
            "o_custkey": pa.array(rng.integers(1, n_customers + 1, n_orders, dtype=np.int64)),
            "o_orderdate": pa.array(
                rng.integers(days(dt.date(1992, 1, 1)), days(dt.date(1998, 8, 2)) + 1, n_orders)
                .astype(np.int32),
                pa.date32(),
            ),
            "o_orderpriority": pa.array(PRIORITIES).take(
                pa.array(rng.integers(0, len(PRIORITIES), n_orders))
            ),
            "o_totalprice": pa.array(np.round(rng.integers(100_000, 50_000_000, n_orders) / 100.0, 2)),
        }
    )
    return lineitem, orders


# --------------------------------------------------------------------------------------------
# meshgate over HTTP
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    pass


class Meshgate:
    def __init__(self, port):
        self.port = port
        self.conns = {}

    def _conn(self, token):
        c = self.conns.get(token)
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            self.conns[token] = c
        return c

    def request(self, token, method, path, body=None, headers=None, expect=(200, 201)):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        h = {"Authorization": "Bearer " + token}
        if data is not None and not headers:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        for attempt in (1, 2):
            c = self._conn(token)
            try:
                c.request(method, "/api/v1" + path, body=data, headers=h)
                r = c.getresponse()
                payload = r.read()
                break
            except (http.client.HTTPException, ConnectionError):
                c.close()
                self.conns.pop(token, None)
                if attempt == 2:
                    raise
        if r.status not in expect:
            raise ApiError(f"{method} {path} → {r.status}: {payload[:2000].decode(errors='replace')}")
        return r.status, payload

    def json(self, token, method, path, body=None, **kw):
        _, payload = self.request(token, method, path, body, **kw)
        return json.loads(payload) if payload else None

    def query_raw(self, token, sql):
        """One timed query: from sending the request to the last byte of the Arrow stream."""
        body = json.dumps({"sql": sql, "format": "arrow"}).encode()
        t0 = time.perf_counter()
        _, payload = self.request(token, "POST", "/query", body, expect=(200,))
        return time.perf_counter() - t0, payload

    def query(self, token, sql):
        elapsed, payload = self.query_raw(token, sql)
        return elapsed, ipc.open_stream(payload).read_all()


def multipart(parts):
    boundary = "----meshgate-bench-" + uuid.uuid4().hex
    out = io.BytesIO()
    for name, filename, ctype, data in parts:
        out.write(f"--{boundary}\r\n".encode())
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out.write(f"Content-Disposition: {disp}\r\nContent-Type: {ctype}\r\n\r\n".encode())
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(binary, data_dir):
    port = free_port()
    os.makedirs(data_dir, exist_ok=True)
    log = open(os.path.join(data_dir, "server.log"), "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHGATE_")}
    env.setdefault("RUST_LOG", "warn")
    server = subprocess.Popen(
        [binary, "quickstart", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.time() + 300
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                c.close()
                break
        except OSError:
            pass
        if time.time() > deadline or server.poll() is not None:
            server.kill()
            sys.exit("meshgate did not start; see " + os.path.join(data_dir, "server.log"))
        time.sleep(0.2)
    return server, port


def stop_server(server):
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def setup_meshgate(mg, tokens, lineitem_path, orders_path):
    """alice publishes the product; bob requests it; alice adds the data filter and approves
    with the filter and two masks. Returns the product detail (with table locations)."""
    alice, bob = tokens["alice"], tokens["bob"]
    meta = {
        "domain": DOMAIN,
        "team": TEAM,
        "name": PRODUCT,
        "description": "B1–B3 benchmark data (generated)",
    }
    with open(lineitem_path, "rb") as f:
        li = f.read()
    with open(orders_path, "rb") as f:
        od = f.read()
    body, ctype = multipart(
        [
            ("product", None, "application/json", json.dumps(meta).encode()),
            ("lineitem", "lineitem.parquet", "application/octet-stream", li),
            ("orders", "orders.parquet", "application/octet-stream", od),
        ]
    )
    t0 = time.perf_counter()
    _, payload = mg.request(alice, "POST", "/products", body, headers={"Content-Type": ctype})
    print(f"  upload + Delta ingest: {time.perf_counter() - t0:.1f} s", flush=True)
    product = json.loads(payload)

    share = mg.json(
        bob,
        "POST",
        "/shares",
        {"product": f"{DOMAIN}.{PRODUCT}", "team": CONSUMER_TEAM, "reason": "B1-B3 benchmark"},
    )
    mg.json(
        alice,
        "POST",
        f"/products/{DOMAIN}/{PRODUCT}/tables/lineitem/data-filters",
        {"name": "eu_only", "row_filter": ROW_FILTER, "columns": None},
    )
    approved = mg.json(
        alice,
        "POST",
        f"/shares/{share['id']}/approve",
        {
            "notes": "bench",
            "items": [{"table": "lineitem", "data_filters": ["eu_only"], "masks": MASKS}],
        },
    )
    if approved.get("status") != "processed":
        raise ApiError(f"share not processed after approve: {json.dumps(approved)[:2000]}")
    return product


def delta_files(location):
    """The active data files of a local Delta table, from its log (adds minus removes)."""
    path = urllib.parse.urlparse(location).path
    log = os.path.join(path, "_delta_log")
    active = {}
    for name in sorted(os.listdir(log)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(log, name)) as f:
            for line in f:
                action = json.loads(line)
                if "add" in action:
                    active[action["add"]["path"]] = True
                elif "remove" in action:
                    active.pop(action["remove"]["path"], None)
    if any(n.endswith(".checkpoint.parquet") for n in os.listdir(log)):
        raise RuntimeError("the Delta table has a checkpoint; reading its log is not implemented")
    return [os.path.join(path, urllib.parse.unquote(p)) for p in active]


# --------------------------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------------------------

LINEITEM_COLUMNS = [
    "l_orderkey", "l_partkey", "l_quantity", "l_extendedprice", "l_discount", "l_tax",
    "l_returnflag", "l_linestatus", "l_shipdate", "l_shipmode", "l_comment", "region",
    "customer_email", "card_number",
]


def show_last_4_sql(col):
    return (
        f"CASE WHEN length({col}) > 4 THEN repeat('x', length({col}) - 4) || right({col}, 4) "
        f"ELSE {col} END"
    )


def secure_select(hash_sql):
    cols = []
    for c in LINEITEM_COLUMNS:
        if c == "customer_email":
            cols.append(f"{hash_sql('customer_email')} AS customer_email")
        elif c == "card_number":
            cols.append(f"{show_last_4_sql('card_number')} AS card_number")
        else:
            cols.append(c)
    return ",\n       ".join(cols)


def setup_duckdb(lineitem_files, orders_files):
    con = duckdb.connect()
    li = ", ".join("'" + p.replace("'", "''") + "'" for p in lineitem_files)
    od = ", ".join("'" + p.replace("'", "''") + "'" for p in orders_files)
    con.execute(f"CREATE VIEW lineitem AS SELECT * FROM read_parquet([{li}])")
    con.execute(f"CREATE VIEW orders AS SELECT * FROM read_parquet([{od}])")
    con.execute(
        "CREATE VIEW lineitem_secure AS SELECT "
        + secure_select(lambda c: f"sha256({c})")
        + f"\nFROM lineitem WHERE {ROW_FILTER}"
    )
    return con


def pg_sql_type(t):
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_float64(t):
        return "double precision"
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    raise ValueError(f"no PostgreSQL type for {t}")


def pg_url_for(url, dbname, user=None):
    p = urllib.parse.urlparse(url)
    netloc = p.netloc
    if user is not None:
        host = netloc.split("@", 1)[-1]
        netloc = f"{user}@{host}"
    return urllib.parse.urlunparse(p._replace(netloc=netloc, path="/" + dbname))


def pg_copy(cur, name, table):
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
    buf.seek(0)
    with cur.copy(f"COPY bench.{name} FROM STDIN (FORMAT csv)") as copy:
        while chunk := buf.read(8 << 20):
            copy.write(chunk)


def setup_postgres(url, lineitem, orders):
    """Database `meshgate_bench`: tables owned by postgres, RLS on lineitem for the role the
    security-barrier masking view runs as, and a consumer that may read only that view (and
    orders). Returns the consumer's connection."""
    with psycopg.connect(url, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = 'meshgate_bench'").fetchone():
            admin.execute("CREATE DATABASE meshgate_bench")
        for role, login in (("mg_bench_policy", "NOLOGIN"), ("mg_bench_consumer", "LOGIN")):
            if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                admin.execute(f"CREATE ROLE {role} {login} NOSUPERUSER NOBYPASSRLS")
    with psycopg.connect(pg_url_for(url, "meshgate_bench"), autocommit=True) as db:
        db.execute("DROP SCHEMA IF EXISTS bench CASCADE")
        db.execute("CREATE SCHEMA bench")
        for name, table in (("lineitem", lineitem), ("orders", orders)):
            cols = ", ".join(f"{f.name} {pg_sql_type(f.type)} NOT NULL" for f in table.schema)
            db.execute(f"CREATE TABLE bench.{name} ({cols})")
            t0 = time.perf_counter()
            with db.cursor() as cur:
                pg_copy(cur, name, table)
            print(f"  PostgreSQL COPY {name}: {time.perf_counter() - t0:.1f} s", flush=True)
        db.execute("ALTER TABLE bench.orders ADD PRIMARY KEY (o_orderkey)")
        db.execute("CREATE INDEX lineitem_partkey ON bench.lineitem (l_partkey)")
        db.execute("VACUUM (ANALYZE) bench.lineitem")
        db.execute("VACUUM (ANALYZE) bench.orders")
        db.execute("ALTER TABLE bench.lineitem ENABLE ROW LEVEL SECURITY")
        db.execute(
            f"CREATE POLICY eu_only ON bench.lineitem FOR SELECT TO mg_bench_policy USING ({ROW_FILTER})"
        )
        db.execute("GRANT USAGE ON SCHEMA bench TO mg_bench_policy, mg_bench_consumer")
        db.execute("GRANT SELECT ON bench.lineitem TO mg_bench_policy")
        db.execute(
            "CREATE VIEW bench.lineitem_secure WITH (security_barrier) AS SELECT "
            + secure_select(lambda c: f"encode(sha256(convert_to({c}, 'UTF8')), 'hex')")
            + "\nFROM bench.lineitem"
        )
        db.execute("ALTER VIEW bench.lineitem_secure OWNER TO mg_bench_policy")
        db.execute("GRANT SELECT ON bench.lineitem_secure, bench.orders TO mg_bench_consumer")
        version = db.execute("SHOW server_version").fetchone()[0]
        settings = {
            k: db.execute(f"SHOW {k}").fetchone()[0]
            for k in ("shared_buffers", "work_mem", "max_parallel_workers_per_gather", "jit")
        }
    consumer = psycopg.connect(pg_url_for(url, "meshgate_bench", "mg_bench_consumer"), autocommit=True)
    # the consumer cannot read the raw table
    try:
        consumer.execute("SELECT count(*) FROM bench.lineitem").fetchone()
        raise RuntimeError("PostgreSQL setup error: the consumer can read bench.lineitem")
    except psycopg.errors.InsufficientPrivilege:
        pass
    return consumer, version, settings


# --------------------------------------------------------------------------------------------
# Comparing answers
# --------------------------------------------------------------------------------------------


def norm_value(v):
    if isinstance(v, float):
        return v
    if hasattr(v, "is_finite"):  # Decimal
        return float(v)
    return v


def rows_of_arrow(table):
    cols = [c.to_pylist() for c in table.columns]
    return [tuple(norm_value(v) for v in row) for row in zip(*cols)]


def rows_of_cursor(rows):
    return [tuple(norm_value(v) for v in row) for row in rows]


def sort_key(row):
    return tuple((v is None, str(type(v)), v if v is not None else 0) for v in row)


def same(a, b):
    if len(a) != len(b):
        return False, f"{len(a)} rows vs {len(b)} rows"
    for i, (ra, rb) in enumerate(zip(sorted(a, key=sort_key), sorted(b, key=sort_key))):
        if len(ra) != len(rb):
            return False, f"row {i}: {len(ra)} columns vs {len(rb)}"
        for j, (x, y) in enumerate(zip(ra, rb)):
            if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not (
                isinstance(x, bool) or isinstance(y, bool)
            ):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6):
                    return False, f"row {i} column {j}: {x!r} vs {y!r}"
            elif x != y:
                return False, f"row {i} column {j}: {x!r} vs {y!r}"
    return True, ""


def read_mask_key(db_path):
    """The mesh's key of the `hash` mask (HMAC-SHA-256), from the quickstart's SQLite store."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        row = db.execute("SELECT value FROM mesh_secrets WHERE name = 'mask_key'").fetchone()
    if row is None:
        sys.exit("the mesh has no mask key after a hashed read")
    return bytes.fromhex(row[0])


def keyed(rows, to_hmac):
    """The peers mask with plain SHA-256 (the same work per row: one hash); meshgate's `hash`
    is keyed. Each peer hash is replaced by the HMAC of the same e-mail, so the answers compare."""
    return [tuple(to_hmac.get(v, v) if isinstance(v, str) else v for v in row) for row in rows]


def check(label, results):
    """`results`: [(engine, rows)]; all must agree with the first."""
    base_name, base = results[0]
    for name, rows in results[1:]:
        ok, why = same(base, rows)
        if not ok:
            sys.exit(f"RESULTS DIFFER for {label}: {base_name} vs {name}: {why}")


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def fmt_ms(seconds):
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms >= 100 else f"{ms:.1f} ms"


def fmt_times(x):
    """A speed-up factor with two significant digits at least (0.0034×, 0.53×, 3.7×, 21×)."""
    if x >= 10:
        return f"{x:.0f}×"
    if x >= 1:
        return f"{x:.1f}×"
    return f"{x:.2g}×"


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def default_binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "meshgate")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=7, help="timed runs per query and engine")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--binary", default=default_binary())
    ap.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    ap.add_argument("--keep", action="store_true", help="keep the meshgate data dir")
    ap.add_argument("--cluster-by", action="append", default=[], metavar="COLUMN",
                    help="optimize lineitem clustered by this column before timing (repeat for "
                         "several); every engine then reads the rewritten files")
    ap.add_argument("--bloom-filter", action="append", default=[], metavar="COLUMN",
                    help="with --cluster-by: also write a bloom filter for this column")
    ap.add_argument("--debug-build", action="store_true",
                    help="label the result as a debug build (automatic for a binary under debug/)")
    args = ap.parse_args()

    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"no meshgate binary at {binary}; build it (cargo build --release -p meshgate-cli) or pass --binary")
    debug_build = args.debug_build or f"{os.sep}debug{os.sep}" in binary
    started = time.perf_counter()

    print(f"generating {args.rows:,} lineitem rows (seed {args.seed}) …", flush=True)
    lineitem, orders = generate(args.rows, args.seed)
    regions = lineitem.column("region").to_pylist()
    eu_rows = sum(1 for r in regions if r == "EU")
    # the selective filter's key: the part of the first EU row (so the consumer sees ≥ 1 row)
    partkey = lineitem.column("l_partkey")[regions.index("EU")].as_py()

    data_dir = tempfile.mkdtemp(prefix="meshgate-b1b3-")
    server = None
    pg = None
    try:
        li_path = os.path.join(data_dir, "lineitem.parquet")
        od_path = os.path.join(data_dir, "orders.parquet")
        pq.write_table(lineitem, li_path)
        pq.write_table(orders, od_path)
        print(f"  parquet: lineitem {os.path.getsize(li_path) / 2**20:.0f} MiB, orders "
              f"{os.path.getsize(od_path) / 2**20:.1f} MiB", flush=True)

        print(f"starting meshgate ({binary}) …", flush=True)
        server, port = start_server(binary, os.path.join(data_dir, "mesh"))
        tokens = json.load(open(os.path.join(data_dir, "mesh", "quickstart-tokens.json")))
        mg = Meshgate(port)
        product = setup_meshgate(mg, tokens, li_path, od_path)
        if args.cluster_by:
            t0 = time.perf_counter()
            done = mg.json(
                tokens["alice"], "POST",
                f"/products/{DOMAIN}/{PRODUCT}/tables/lineitem/optimize",
                {"cluster_by": args.cluster_by, "bloom_filter_columns": args.bloom_filter},
            )
            print(f"  optimize lineitem (cluster by {', '.join(args.cluster_by)}; bloom filters: "
                  f"{', '.join(args.bloom_filter) or 'none'}): {time.perf_counter() - t0:.1f} s, "
                  f"{done['files_removed']} file(s) rewritten as {done['files_added']}", flush=True)
        locations = {t["name"]: t["location"] for t in product["tables"]}
        li_files = delta_files(locations["lineitem"])
        od_files = delta_files(locations["orders"])
        print(f"  Delta data files: lineitem {len(li_files)}, orders {len(od_files)}", flush=True)

        print("setting up DuckDB …", flush=True)
        duck = setup_duckdb(li_files, od_files)
        n_duck = duck.execute("SELECT count(*) FROM lineitem").fetchone()[0]
        if n_duck != args.rows:
            sys.exit(f"DuckDB reads {n_duck} rows from the Delta files, expected {args.rows}")

        print("setting up PostgreSQL …", flush=True)
        pg, pg_version, pg_settings = setup_postgres(args.pg_url, lineitem, orders)

        alice, bob = tokens["alice"], tokens["bob"]
        # Sanity: the policy is in force as intended.
        _, t = mg.query(bob, f"SELECT count(*) AS n FROM {DOMAIN}.{PRODUCT}.lineitem")
        n_bob = t.column(0)[0].as_py()
        _, t = mg.query(alice, f"SELECT count(*) AS n FROM {DOMAIN}.{PRODUCT}.lineitem")
        n_alice = t.column(0)[0].as_py()
        n_pg = pg.execute("SELECT count(*) FROM bench.lineitem_secure").fetchone()[0]
        if (n_alice, n_bob, n_pg) != (args.rows, eu_rows, eu_rows):
            sys.exit(f"row counts: owner {n_alice} (want {args.rows}), consumer {n_bob} and "
                     f"PostgreSQL {n_pg} (want {eu_rows})")
        _, t = mg.query(
            bob, f"SELECT customer_email, card_number FROM {DOMAIN}.{PRODUCT}.lineitem LIMIT 1"
        )
        email, card = t.column(0)[0].as_py(), t.column(1)[0].as_py()
        if len(email) != 64 or not card.startswith("x" * 12):
            sys.exit(f"masks not applied for the consumer: {email!r}, {card!r}")

        names = {
            "mg_owner": {"lineitem": f"{DOMAIN}.{PRODUCT}.lineitem", "orders": f"{DOMAIN}.{PRODUCT}.orders"},
            "mg_secured": {"lineitem": f"{DOMAIN}.{PRODUCT}.lineitem", "orders": f"{DOMAIN}.{PRODUCT}.orders"},
            "duck_raw": {"lineitem": "lineitem", "orders": "orders"},
            "duck_secured": {"lineitem": "lineitem_secure", "orders": "orders"},
            "pg_secured": {"lineitem": "bench.lineitem_secure", "orders": "bench.orders"},
        }

        def run(engine, sql_template):
            sql = sql_template.format(partkey=partkey, **names[engine])
            if engine in ("mg_owner", "mg_secured"):
                tok = alice if engine == "mg_owner" else bob
                elapsed, table = mg.query(tok, sql)
                return elapsed, rows_of_arrow(table)
            if engine.startswith("duck"):
                t0 = time.perf_counter()
                rows = duck.execute(sql).fetchall()
                return time.perf_counter() - t0, rows_of_cursor(rows)
            t0 = time.perf_counter()
            rows = pg.execute(sql).fetchall()
            return time.perf_counter() - t0, rows_of_cursor(rows)

        timed = ["mg_owner", "mg_secured", "duck_secured", "pg_secured"]
        results = []
        to_hmac = None
        for label, template in QUERIES:
            print(f"running {label} …", flush=True)
            answers = {}
            for engine in timed + ["duck_raw"]:
                for _ in range(args.warmup if engine != "duck_raw" else 1):
                    _, answers[engine] = run(engine, template)
            check(label + " (unsecured)", [("meshgate owner", answers["mg_owner"]),
                                           ("DuckDB raw files", answers["duck_raw"])])
            if to_hmac is None:
                key = read_mask_key(os.path.join(data_dir, "mesh", "meshgate.db"))
                emails = pc.unique(lineitem.column("customer_email")).to_pylist()
                to_hmac = {hashlib.sha256(e.encode()).hexdigest():
                           hmac.new(key, e.encode(), hashlib.sha256).hexdigest() for e in emails}
            check(label + " (secured)", [("meshgate consumer", answers["mg_secured"]),
                                         ("DuckDB secure view", keyed(answers["duck_secured"], to_hmac)),
                                         ("PostgreSQL RLS", keyed(answers["pg_secured"], to_hmac))])
            times = {e: [] for e in timed}
            for _ in range(args.runs):  # interleaved: A B C D, A B C D, …
                for engine in timed:
                    elapsed, rows = run(engine, template)
                    ok, why = same(rows, answers[engine])
                    if not ok:
                        sys.exit(f"{engine} answered {label} differently between runs: {why}")
                    times[engine].append(elapsed)
            med = {e: statistics.median(v) for e, v in times.items()}
            results.append({
                "query": label,
                "rows_owner": len(answers["mg_owner"]),
                "rows_secured": len(answers["mg_secured"]),
                "median": med,
                "samples": times,
            })
            print("  " + ", ".join(f"{e} {fmt_ms(m)}" for e, m in med.items()), flush=True)

        # mask spot check against Python's own SHA-256 (the selective filter returns e-mails)
        sel = next(r for r in results if r["query"].startswith("selective"))
        if sel["rows_secured"] == 0:
            sys.exit("the selective filter returned no secured rows; pick another key")
        _, t = mg.query(bob, QUERIES[2][1].format(partkey=partkey, **names["mg_secured"]))
        for row in t.to_pylist():
            if not row["card_number"].startswith("x" * 12):
                sys.exit(f"card number not masked: {row['card_number']!r}")
        raw = set(hmac.new(key, e.encode(), hashlib.sha256).hexdigest() for e in
                  lineitem.filter(pc.equal(lineitem.column("l_partkey"), partkey))
                  .column("customer_email").to_pylist())
        if not {row["customer_email"] for row in t.to_pylist()} <= raw:
            sys.exit("hashed e-mails do not match HMAC-SHA-256 of the raw values under the mask key")
    finally:
        if server is not None:
            stop_server(server)
        if pg is not None:
            pg.close()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"kept {data_dir}")

    total = time.perf_counter() - started
    report(args, results, debug_build, binary, pg_version, pg_settings, eu_rows, partkey, total)


def verdict(ok):
    return "meets" if ok else "misses"


def report(args, results, debug_build, binary, pg_version, pg_settings, eu_rows, partkey, total):
    b1 = [r["median"]["mg_secured"] / r["median"]["mg_owner"] for r in results]
    b2 = [r["median"]["mg_secured"] / r["median"]["duck_secured"] for r in results]
    b3 = [r["median"]["pg_secured"] / r["median"]["mg_secured"] for r in results]
    lines = []
    lines.append("### B1 — secured / unsecured, meshgate (target ≤ 1.05)\n")
    lines.append("| query | result rows owner / consumer | owner (unsecured) | consumer (secured) | secured / unsecured | target ≤ 1.05 |")
    lines.append("|---|---|---|---|---|---|")
    for r, x in zip(results, b1):
        lines.append(f"| {r['query']} | {r['rows_owner']} / {r['rows_secured']} | {fmt_ms(r['median']['mg_owner'])} | "
                     f"{fmt_ms(r['median']['mg_secured'])} | {x:.2f} | {verdict(x <= 1.05)} |")
    g = geomean(b1)
    lines.append(f"| **geometric mean** | | | | **{g:.2f}** | **{verdict(g <= 1.05)}** |")
    lines.append("")
    lines.append("### B2 — secured query, meshgate vs DuckDB secure view over the same Parquet files (target ≤ 1.0)\n")
    lines.append("| query | meshgate consumer | DuckDB secure view | meshgate / DuckDB | target ≤ 1.0 |")
    lines.append("|---|---|---|---|---|")
    for r, x in zip(results, b2):
        lines.append(f"| {r['query']} | {fmt_ms(r['median']['mg_secured'])} | {fmt_ms(r['median']['duck_secured'])} | "
                     f"{x:.2f} | {verdict(x <= 1.0)} |")
    g = geomean(b2)
    lines.append(f"| **geometric mean** | | | **{g:.2f}** | **{verdict(g <= 1.0)}** |")
    lines.append("")
    lines.append("### B3 — secured query, meshgate vs PostgreSQL row-level security (targets: analytic queries ≥ 10× faster, geometric mean; the point query ≤ 3× PostgreSQL's indexed time)\n")
    lines.append("| query | meshgate consumer | PostgreSQL RLS + masking view | PostgreSQL / meshgate | target |")
    lines.append("|---|---|---|---|---|")
    analytic = []
    for r, x in zip(results, b3):
        point = r["query"].startswith("selective")
        if point:
            target = f"meshgate ≤ 3× PostgreSQL: {verdict(x >= 1 / 3)}"
        else:
            analytic.append(x)
            target = "(analytic)"
        lines.append(f"| {r['query']} | {fmt_ms(r['median']['mg_secured'])} | {fmt_ms(r['median']['pg_secured'])} | "
                     f"{fmt_times(x)} | {target} |")
    g = geomean(analytic)
    lines.append(f"| **analytic geometric mean** (Q1, Q6, join) | | | **{fmt_times(g)}** | **≥ 10×: {verdict(g >= 10)}** |")
    tables = "\n".join(lines)

    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
    except Exception:
        commit = "unknown"
    built = dt.datetime.fromtimestamp(os.path.getmtime(binary), dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    build = ("**DEBUG BUILD — not a valid result** (timings of an unoptimised binary)"
             if debug_build else "release build") + f" of {built}, HEAD {commit} at run time"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cmd = "python3 bench/b1_b3_access.py"
    for flag, value, default in (("--rows", args.rows, 2_000_000), ("--runs", args.runs, 7),
                                 ("--warmup", args.warmup, 2), ("--seed", args.seed, 20261123)):
        if value != default:
            cmd += f" {flag} {value}"
    for c in args.cluster_by:
        cmd += f" --cluster-by {c}"
    for c in args.bloom_filter:
        cmd += f" --bloom-filter {c}"
    if binary != os.path.abspath(default_binary()):
        cmd += f" --binary {binary}"
    layout = (
        f" Then alice optimized lineitem (`POST …/tables/lineitem/optimize`) clustered by "
        f"{', '.join('`' + c + '`' for c in args.cluster_by)}"
        + (f" with bloom filters for {', '.join('`' + c + '`' for c in args.bloom_filter)}"
           if args.bloom_filter else "")
        + ": every engine reads the rewritten files (PostgreSQL keeps its own heap and index)."
        if args.cluster_by else
        " The files are as uploaded (no `optimize`)."
    )
    method = (
        f"Command: `{cmd}` (meshgate {build}; DuckDB {duckdb.__version__}; "
        f"PostgreSQL {pg_version}, shared_buffers {pg_settings['shared_buffers']}, work_mem "
        f"{pg_settings['work_mem']}, max_parallel_workers_per_gather "
        f"{pg_settings['max_parallel_workers_per_gather']}, jit {pg_settings['jit']}; whole run "
        f"{total:.0f} s; load average {load:.1f} at the end).\n\n"
        f"Data: seeded generator (seed {args.seed}), lineitem-like table of {args.rows:,} rows "
        f"(14 columns incl. `region`, `customer_email`, `card_number`) and an orders table of "
        f"{max(1_000, args.rows // 100):,} rows, written once with pyarrow as Parquet and uploaded "
        f"to meshgate (`POST /products`), which makes Delta tables of them.{layout} Policy: the consumer "
        f"(bob, marketing.analytics) holds a grant with the data filter `{ROW_FILTER}` "
        f"({eu_rows:,} rows) and masks `customer_email` → hash, `card_number` → show_last_4 on "
        f"lineitem, and orders whole; unsecured is the same SQL run by the product owner (alice). "
        f"Queries (SQL in the script): Q1 as TPC-H Q1 (l_shipdate ≤ 1998-09-02); Q6-like (1994 "
        f"ship dates, discount 0.045–0.075, quantity < 24); a selective filter "
        f"`l_partkey = {partkey}` returning 8 columns including both masked ones; a join "
        f"lineitem ⋈ orders on the order key for 1995 orders, grouped by priority. "
        f"DuckDB reads the Delta table's own data files (from its log) through a view with the "
        f"same WHERE and the masks as `sha256()` (meshgate's `hash` is HMAC-SHA-256 under the mesh's mask key: each peer hash is mapped to the keyed hash of the same e-mail before comparing; the work per row is one hash either way) and `repeat('x', …) || right(…, 4)`. PostgreSQL "
        f"loads the same rows with COPY (double precision, date, text; primary key on orders, "
        f"a btree index on l_partkey, VACUUM ANALYZE); the row filter is an RLS policy, the masks "
        f"a security-barrier view whose owner the policy applies to; the consumer role may read "
        f"only that view and orders. Every answer was checked equal across engines (secured: "
        f"meshgate = DuckDB = PostgreSQL; unsecured: meshgate = DuckDB over the raw files; floats "
        f"to 1e-9 relative) and the hashed e-mails against Python's HMAC-SHA-256 under the mesh's mask key.\n\n"
        f"Method: {args.warmup} warm-up run(s), then {args.runs} timed runs per query and engine, "
        f"interleaved (owner, consumer, DuckDB, PostgreSQL in turn); medians shown. meshgate is "
        f"timed end to end over HTTP (`POST /api/v1/query`, `format: arrow`, keep-alive loopback "
        f"connection, from sending the request to the last byte of the response); DuckDB "
        f"in-process (`execute` + `fetchall`); PostgreSQL over libpq (psycopg `execute` + "
        f"`fetchall`). All on the same 2-core machine, one query at a time. The secured queries "
        f"read fewer rows (the filter); that is inherent and reported as is."
    )
    section = (f"\n## B1–B3 — secured queries ({time.strftime('%Y-%m-%d')}, {machine})\n\n"
               + method + "\n\n" + tables + "\n")
    print(section)
    if not args.no_record:
        with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
            f.write(section)


if __name__ == "__main__":
    main()
