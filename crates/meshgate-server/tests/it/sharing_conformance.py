"""Drives the real Delta Sharing Python client (`delta-sharing`) against a running meshgate.

Used by `sharing_conformance.rs` and by `bench/b7_sharing.py`'s checks. Usage:

    python sharing_conformance.py PROFILE < steps.json

`steps.json` is a JSON list of steps; the answer on stdout is a JSON list with one result per
step, `{"ok": ...}` or `{"error": {"type": ..., "message": ...}}`, so that one failing step
(an expected refusal, say) does not hide the others. Steps:

- `{"op": "list_all_tables"}` -> sorted `share.schema.table` names
- `{"op": "list_shares"}` -> sorted share names
- `{"op": "load", "table": "s.s.t", "limit": n?, "version": v?, "timestamp": t?,
   "hints": {json predicate}?, "delta": true|false|null}` -> `{"columns": [...], "rows": [...]}`
- `{"op": "changes", "table": "s.s.t", "starting_version": v, "ending_version": v?,
   "delta": bool?}` -> `{"columns": [...], "rows": [...]}`
- `{"op": "versions"}` -> the versions of delta-sharing, pyarrow and pandas

`delta` is passed to the client only when a step has it (the client's 1.0 line has no
`use_delta_format`).
"""

import contextlib
import json
import os
import sys

import delta_sharing


def frame(df):
    rows = json.loads(df.to_json(orient="records", date_format="iso", date_unit="ms"))
    return {"columns": [str(c) for c in df.columns], "rows": rows}


def run(profile, step):
    op = step["op"]
    url = f"{profile}#{step.get('table', '')}"
    if op == "list_all_tables":
        client = delta_sharing.SharingClient(profile)
        return sorted(f"{t.share}.{t.schema}.{t.name}" for t in client.list_all_tables())
    if op == "list_shares":
        client = delta_sharing.SharingClient(profile)
        return sorted(s.name for s in client.list_shares())
    # `use_delta_format` is passed only when a step names it: the 1.0 line of the client
    # (tested on the oldest pyarrow it runs on) has no delta format.
    delta = {"use_delta_format": step["delta"]} if "delta" in step else {}
    if op == "load":
        df = delta_sharing.load_as_pandas(
            url,
            limit=step.get("limit"),
            version=step.get("version"),
            timestamp=step.get("timestamp"),
            jsonPredicateHints=json.dumps(step["hints"]) if "hints" in step else None,
            **delta,
        )
        return frame(df)
    if op == "changes":
        df = delta_sharing.load_table_changes_as_pandas(
            url,
            starting_version=step.get("starting_version"),
            ending_version=step.get("ending_version"),
            **delta,
        )
        return frame(df)
    if op == "versions":
        # What the client runs on, for the test's message.
        import pandas
        import pyarrow

        return {
            "delta_sharing": delta_sharing.__version__,
            "pyarrow": pyarrow.__version__,
            "pandas": pandas.__version__,
        }
    raise ValueError(f"unknown step {op!r}")


def main():
    profile = sys.argv[1]
    steps = json.load(sys.stdin)
    results = []
    # The client prints progress to stdout; keep stdout for the answer.
    with contextlib.redirect_stdout(sys.stderr):
        for step in steps:
            try:
                results.append({"ok": run(profile, step)})
            except Exception as e:  # the test asserts on the client's own errors
                results.append({"error": {"type": type(e).__name__, "message": str(e)[:4000]}})
    json.dump(results, sys.stdout)
    sys.stdout.flush()
    sys.stderr.flush()


if __name__ == "__main__":
    main()
    # Skip the interpreter's teardown: the delta-kernel wrapper's native threads can abort it
    # ("terminate called without an active exception") after every answer was written.
    os._exit(0)
