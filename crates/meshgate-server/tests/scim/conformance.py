"""Runs scim2-tester (PyPI) against a SCIM 2.0 endpoint and fails on any failed check.

usage: conformance.py BASE_URL TOKEN    (e.g. http://127.0.0.1:8080/scim/v2 mgt_...)

Every check of scim2_tester.check_server runs: discovery, CRUD of every resource type the
server publishes, attributes/excludedAttributes, and PATCH add/remove/replace of each
attribute. A check that ends in ERROR or CRITICAL fails the run; SKIPPED ones are listed.
"""

import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILED = (Status.ERROR, Status.CRITICAL)
PASSED = (Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE, Status.DEVIATION)


def main() -> int:
    base, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    results = check_server(SyncSCIMClient(http))
    for r in results:
        print(f"{r.status.name:<10} {r.resource_type or '-':<6} {r.title}: {r.reason or ''}")
        if r.status in FAILED and r.data is not None:
            print(f"           data: {r.data!r}"[:3000])
    failed = sum(r.status in FAILED for r in results)
    passed = sum(r.status in PASSED for r in results)
    skipped = sum(r.status == Status.SKIPPED for r in results)
    print(f"scim: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
