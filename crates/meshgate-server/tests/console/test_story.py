"""The quickstart's story (meshgate quickstart's tour), told by its people through the console
only: bob finds sales.customers and asks for access; alice reviews the request, narrows it to
EU rows with names redacted, previews what bob would read and approves; bob's SQL shows the
redacted names; alice limits bob with a row rule and his count changes; alice revokes and
bob's query is denied.

The API is used only to READ state for assertions — except where an earlier step failed: the
state that step should have made is then made through the API so that the later steps still
test their pages (the earlier step has failed the suite already).

The tests run in file order and share `story` (pytest keeps the order of a module's tests).
With MESHGATE_SCREENSHOTS_DIR set they save console-catalog.png, console-approval-preview.png
and console-row-rules.png there (1280x800).
"""

import re
import time

import pytest
from conftest import goto, shot, wait_ready
from playwright.sync_api import expect

REASON = "EU newsletter: customers who opted in, Q3"
story: dict = {}


@pytest.fixture
def bob(person):
    return person("bob")


@pytest.fixture
def alice(person):
    return person("alice")


def nav(page, name):
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()
    wait_ready(page)


def read_table(page, scope=None, must_have=()):
    """The first table (in `scope`, or the page) whose column names include `must_have`, as
    (column names, header texts, rows of cell texts). A column's name is its header's first
    text; the header's text may carry a marker after it ('name masked')."""
    found = page.evaluate(
        """([scope, must]) => {
            const root = scope ? document.querySelector(scope) : document;
            for (const t of root.querySelectorAll('table')) {
                const ths = [...t.querySelectorAll('thead th')];
                const names = ths.map(th => (th.firstChild ? th.firstChild.textContent : '').trim());
                if (!must.every(m => names.includes(m))) continue;
                const texts = ths.map(th => th.innerText.trim());
                const rows = [...t.querySelectorAll('tbody tr')].map(tr => [...tr.children].map(td => td.innerText.trim()));
                return [names, texts, rows];
            }
            return null;
        }""",
        [scope, list(must_have)],
    )
    return tuple(found) if found else None


def column(table, name):
    names, _, rows = table
    i = names.index(name)
    return [r[i] for r in rows]


def redacted(value: str) -> bool:
    """redact: letters become x/X, digits 0 — 'ada 12' reads 'xxx 00'."""
    return bool(re.fullmatch(r"[xX0 ]+", value)) and "x" in value.lower()


def bob_share(server):
    _, _, shares = server.api("bob", "GET", "shares?product=sales.customers")
    mine = [s for s in shares if s.get("reason") == REASON]
    return mine[0] if mine else None


def wait_share(server, share_id, pred, timeout=30):
    deadline = time.time() + timeout
    while True:
        _, _, s = server.api("alice", "GET", f"shares/{share_id}")
        if pred(s) or time.time() > deadline:
            return s
        time.sleep(0.5)


def bob_count(server):
    status, _, body = server.query("bob", "SELECT count(*) AS n FROM sales.customers.customers")
    return body[0]["n"] if status == 200 else None


# --------------------------------------------------------------------------- bob asks


def test_1_bob_finds_customers_in_the_catalog(bob):
    nav(bob, "Catalog")
    bob.get_by_label("Search the catalog").fill("customers")
    bob.get_by_role("button", name="Search", exact=True).click()
    results = bob.get_by_role("link", name="sales.customers", exact=True)
    expect(results.first).to_be_visible()
    expect(bob.get_by_role("status").filter(has_text="match")).to_be_visible()
    shot(bob, "console-catalog.png")
    results.first.click()
    wait_ready(bob)
    expect(bob.get_by_role("heading", level=1)).to_contain_text("sales.customers")
    # The table's columns and the email column's pii tag are on the product page.
    for col in ("customer_id", "email", "name", "region"):
        expect(bob.get_by_role("cell", name=col, exact=True).first).to_be_visible()
    expect(bob.get_by_text("pii").first).to_be_visible()


def test_2_bob_requests_access_with_a_reason(bob, server):
    if "sales/customers" not in bob.url:
        goto(bob, "products/sales/customers")
    bob.get_by_role("link", name="Request access").or_(bob.get_by_role("button", name="Request access")).first.click()
    wait_ready(bob)
    bob.get_by_label("Reason").fill(REASON)
    bob.get_by_role("button", name="Submit request").click()
    expect(bob.get_by_role("heading", name=re.compile("Request submitted|Access granted"))).to_be_visible()
    share = bob_share(server)
    assert share, "no share with bob's reason after Submit request"
    assert share["status"] == "submitted", share["status"]
    assert share["requester_team"] == "marketing.analytics"
    story["share"] = share["id"]


def ensure_share(server):
    if "share" not in story:
        share = bob_share(server)
        if not share:
            _, _, share = server.api("bob", "POST", "shares", {"product": "sales.customers", "reason": REASON}, expect_status=201)
        story["share"] = share["id"]
    return story["share"]


# --------------------------------------------------------------------------- alice decides


def test_3_alice_sees_the_request_in_approvals(alice, server):
    share_id = ensure_share(server)
    nav(alice, "Approvals")
    expect(alice.get_by_text(REASON).first).to_be_visible()
    # The request's card/row names the product and the requesting team, and offers Review.
    item = alice.locator("li, tr, article, section").filter(has_text=REASON).last
    expect(item).to_contain_text("sales.customers")
    expect(item).to_contain_text("marketing")
    item.get_by_role("link", name="Review").or_(item.get_by_role("button", name="Review")).first.click()
    wait_ready(alice)
    alice.wait_for_function("id => location.hash.includes(id)", arg=share_id)
    expect(alice.get_by_text(REASON).first).to_be_visible()


def test_4_alice_narrows_previews_and_approves(alice, server):
    share_id = ensure_share(server)
    if share_id not in alice.url:
        goto(alice, f"shares/{share_id}")
    alice.get_by_label("Data filter for customers").select_option("eu_only")
    alice.get_by_label("Mask for name").select_option("redact")
    alice.get_by_role("button", name="Preview").click()
    alice.wait_for_function("() => !document.querySelector('[aria-busy=\"true\"]')")
    expect(alice.get_by_role("cell").first).to_be_visible()
    table = read_table(alice, "#main", must_have=("name", "region"))
    assert table, "no preview table with name and region columns"
    names, regions = column(table, "name"), column(table, "region")
    assert names, "the preview shows no rows"
    assert all(redacted(n) for n in names), f"names not redacted in the preview: {names[:5]}"
    assert set(regions) == {"eu"}, f"the preview shows rows outside the EU: {sorted(set(regions))}"
    shot(alice, "console-approval-preview.png", show=alice.locator("#main table").filter(has=alice.locator("caption", has_text="Preview")).first)
    alice.get_by_role("button", name="Approve", exact=True).click()
    s = wait_share(server, share_id, lambda s: s["status"] in ("processed", "approved") and s["summary"]["shared"] > 0)
    assert s["summary"]["shared"] > 0, f"the share is not in force after Approve: {s['status']} {s['summary']}"
    item = next(i for i in s["items"] if i.get("table") == "customers")
    _, _, filters = server.api("alice", "GET", "products/sales/customers/tables/customers/data-filters")
    eu_only = next(f["id"] for f in filters if f["name"] == "eu_only")
    scope = item.get("scope") or {}
    assert scope.get("data_filters") in (["eu_only"], [eu_only]), f"the grant's filter is not eu_only: {scope}"
    assert scope.get("masks") == {"name": "redact"}, f"the grant's masks are not name=redact: {scope}"
    story["approved"] = True


def ensure_approved(server):
    share_id = ensure_share(server)
    if not story.get("approved"):
        _, _, s = server.api("alice", "GET", f"shares/{share_id}")
        if s["summary"]["shared"] == 0:
            server.api(
                "alice",
                "POST",
                f"shares/{share_id}/approve",
                {"items": [{"table": "customers", "data_filters": ["eu_only"], "masks": {"name": "redact"}}]},
                expect_status=200,
            )
        story["approved"] = True
    return share_id


# --------------------------------------------------------------------------- bob reads


def test_4b_bob_is_told_and_sees_his_access(bob, server):
    ensure_approved(server)
    bell = bob.locator("#bell")
    deadline = time.time() + 20
    while True:  # the bell counts at sign-in and every 30 s; a reload counts now
        bob.reload()
        expect(bob.get_by_role("navigation", name="Main")).to_be_visible()
        wait_ready(bob)
        label = bell.get_attribute("aria-label") or ""
        if re.search(r"[1-9]\d* unread", label) or time.time() > deadline:
            break
        time.sleep(1)
    assert re.search(r"[1-9]\d* unread", label), f"bob's bell says {label!r} after the approval"
    unread = int(re.search(r"(\d+) unread", label).group(1))
    bell.click()
    wait_ready(bob)
    note = bob.locator("li.note, li").filter(has=bob.get_by_role("heading", name=re.compile(r"approved.*sales\.customers"))).first
    expect(note).to_be_visible()
    note.get_by_role("button", name="Mark as read").click()
    expect(note.get_by_role("button", name="Mark as read")).to_have_count(0)
    expected = f"{unread - 1} unread" if unread > 1 else "none unread"
    expect(bell).to_have_attribute("aria-label", re.compile(expected))
    nav(bob, "My access")
    reads = bob.get_by_role("region", name="Shared tables and folders")
    expect(reads.get_by_text("sales.customers.customers", exact=True).first).to_be_visible()


SELECT5 = "SELECT * FROM sales.customers.customers ORDER BY customer_id LIMIT 5"


def run_sql(page, sql):
    if "#/sql" not in page.url:
        nav(page, "SQL")
    expect(page.get_by_role("heading", level=1, name="SQL workbench")).to_be_visible()
    page.get_by_label("SQL", exact=True).fill(sql)
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_function("() => !document.querySelector('#main [aria-busy=\"true\"], #main .loading')")


def test_5_bob_reads_redacted_eu_customers_in_sql(bob, server):
    ensure_approved(server)
    run_sql(bob, SELECT5)
    table = read_table(bob, "#main", must_have=("customer_id", "name", "region"))
    assert table, "no result table"
    names, texts, rows = table
    assert len(rows) == 5, rows
    assert all(redacted(n) for n in column(table, "name")), column(table, "name")
    assert set(column(table, "region")) == {"eu"}
    name_head = texts[names.index("name")]
    assert "masked" in name_head.lower(), f"the name column is not marked masked: {texts}"
    # email is tagged pii: hashed for everyone but the owners (64 hex characters).
    assert all(re.fullmatch(r"[0-9a-f]{64}", e) for e in column(table, "email")), column(table, "email")


def test_6_alice_limits_bob_with_a_row_rule(alice, bob, server):
    ensure_approved(server)
    before = bob_count(server)
    assert before == 1250, f"bob should read the 1250 EU customers, reads {before}"
    goto(alice, "rules/sales/customers")
    expect(alice.get_by_role("heading", level=1)).to_contain_text("sales.customers")
    who_before = who_sees(alice, "bob")
    assert who_before == "1,250", f"Who sees what: bob reads {who_before} rows, expected 1,250"
    alice.get_by_role("button", name="Add rule", exact=True).click()
    alice.get_by_label("Field to add").select_option("region")
    alice.get_by_role("button", name="Add field", exact=True).click()
    alice.get_by_label(re.compile(r"^User for rule \d+$")).last.fill("bob")
    alice.get_by_label(re.compile(r"^region for rule \d+$")).last.fill("us")
    shot(alice, "console-row-rules.png")
    alice.get_by_role("button", name="Save rules", exact=True).click()
    alice.wait_for_function("() => !document.querySelector('[aria-busy=\"true\"]')")
    deadline = time.time() + 15
    while time.time() < deadline and bob_count(server) == before:
        time.sleep(0.5)
    _, _, rules = server.api("alice", "GET", "products/sales/customers/row-rules")
    assert any((r.get("user_name") == "bob") for r in rules), f"no row rule for bob after Save: {rules}"
    after = bob_count(server)
    assert after == 0, f"bob's count should drop to 0 (EU rows AND region us), is {after}"
    who_after = who_sees(alice, "bob")
    assert who_after == "0", f"Who sees what: bob reads {who_after} rows after the rule, expected 0"
    # bob sees it in his own workbench too.
    run_sql(bob, "SELECT count(*) AS n FROM sales.customers.customers")
    t = read_table(bob, "#main", must_have=("n",))
    assert t and column(t, "n") == ["0"], t


def who_sees(alice, person):
    """The rows count of the customers table in alice's 'Who sees what' for `person`."""
    section = alice.locator("section").filter(has=alice.get_by_role("heading", name="Who sees what"))
    section.get_by_label("Person").select_option(person)
    section.get_by_role("button", name="Count rows").click()
    caption = re.compile(f"What {person} reads now")
    expect(section.locator("table caption").filter(has_text=caption)).to_be_visible()
    table = read_table(alice, None, must_have=("Table", "Rows"))
    rows = dict(zip(column(table, "Table"), column(table, "Rows")))
    return rows.get("customers")


def test_7_alice_revokes_and_bob_is_denied(alice, bob, server):
    share_id = ensure_approved(server)
    goto(alice, f"shares/{share_id}")
    alice.get_by_role("button", name="Revoke", exact=True).first.click()
    dialog = alice.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button").filter(has_not_text="Cancel").first.click()
    s = wait_share(server, share_id, lambda s: s["summary"]["shared"] == 0)
    assert s["summary"]["shared"] == 0, f"still shared after Revoke: {s['status']} {s['summary']}"
    run_sql(bob, SELECT5)
    expect(bob.get_by_role("alert")).to_be_visible()
    assert read_table(bob, "#main", must_have=("customer_id",)) is None, "bob still reads rows after the revoke"
