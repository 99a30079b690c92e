"""Accessibility of every console page, as the person who uses it:

* axe-core (node_modules/axe-core, pinned in package-lock.json) finds no serious or critical
  violation (WCAG 2.x A/AA rules and axe's best practices);
* at a phone's width (390x844) no page scrolls sideways as a whole (wide tables scroll in their
  own region);
* every tab of the policy and admin pages is checked as well.

axe is injected through the DevTools protocol (page.evaluate of its source), which the page's
Content-Security-Policy does not govern: the pages run with their CSP enforced.
"""

import re

import pytest
from conftest import AXE_JS, goto, wait_ready
from playwright.sync_api import expect

PHONE = {"width": 390, "height": 844}

# (person, route) for every page; {share} is a share of bob's that alice approves.
PAGES = [
    ("bob", "catalog"),
    ("bob", "catalog?q=orders"),
    ("bob", "products/sales/customers"),
    ("bob", "request/sales/orders"),
    ("bob", "access"),
    ("bob", "sql"),
    ("bob", "notifications"),
    ("alice", "inbox"),
    ("alice", "shares/{share}"),
    ("bob", "shares/{share}"),
    ("alice", "rules/sales/customers"),
    ("alice", "policy"),
    ("admin", "admin"),
]


@pytest.fixture(scope="module")
def share(server):
    """A submitted request of bob's for sales.orders (made through the API: the pages it is
    shown in are what is tested here)."""
    _, _, shares = server.api("bob", "GET", "shares?product=sales.orders&status=submitted")
    if shares:
        return shares[0]["id"]
    status, _, s = server.api("bob", "POST", "shares", {"product": "sales.orders", "reason": "accessibility check"})
    assert status in (200, 201), s
    return s["id"]


def axe(page):
    """Serious and critical axe violations of the page, as readable lines."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;undefined")
    assert page.evaluate("() => typeof window.axe === 'object'"), "axe-core was not injected (npm ci in this directory?)"
    violations = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + (n.failureSummary ? ' — ' + n.failureSummary.split('\\n').slice(1).join(' ') : '')),
                count: v.nodes.length,
            }));
        }"""
    )
    return [
        f"[{v['impact']}] {v['id']}: {v['help']} ({v['count']} nodes)\n      " + "\n      ".join(v["nodes"])
        for v in violations
    ]


def overflow(page):
    return page.evaluate(
        """() => {
            const w = document.scrollingElement.scrollWidth, vw = window.innerWidth;
            if (w <= vw + 1) return null;
            // The widest elements that stick out, to say what to fix.
            const out = [];
            for (const el of document.querySelectorAll('body *')) {
                const r = el.getBoundingClientRect();
                if (r.right > vw + 1 && !el.closest('.table-wrap, pre, [role=region]')) {
                    out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '') + ' right=' + Math.round(r.right));
                }
            }
            return {scrollWidth: w, innerWidth: vw, culprits: out.slice(0, 8)};
        }"""
    )


def check(page, label):
    problems = []
    found = axe(page)
    if found:
        problems.append(f"{label}: axe found serious/critical violations:\n    " + "\n    ".join(found))
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(200)
    o = overflow(page)
    if o:
        problems.append(f"{label}: at 390px the page scrolls sideways ({o['scrollWidth']} > {o['innerWidth']}): {o['culprits']}")
    page.set_viewport_size({"width": 1280, "height": 800})
    return problems


@pytest.mark.parametrize("who,route", PAGES, ids=[f"{p}:{r.split('?')[0]}" for p, r in PAGES])
def test_page(person, who, route, share):
    page = person(who)
    goto(page, route.format(share=share))
    expect(page.locator("#main h1")).to_be_visible()
    assert page.locator("#main h1").inner_text() != "This page could not be shown", page.locator("#main").inner_text()[:500]
    problems = check(page, f"{who} #/{route}")
    assert not problems, "\n".join(problems)


def tabs(page, prefix):
    """The tabs (or sub-page links) of a page with sub-pages: [(name, hash)]."""
    return page.evaluate(
        """prefix => {
            const seen = new Map();
            for (const a of document.querySelectorAll('#main [role=tab], #main a[href^="#/' + prefix + '"], nav a[href^="#/' + prefix + '/"]')) {
                const name = (a.innerText || a.getAttribute('aria-label') || '').trim();
                const href = a.getAttribute('href') || '';
                if (name && !seen.has(name)) seen.set(name, href);
            }
            return [...seen.entries()];
        }""",
        prefix,
    )


@pytest.mark.parametrize("who,route", [("alice", "policy"), ("admin", "policy"), ("admin", "admin")])
def test_every_tab(person, who, route):
    page = person(who)
    goto(page, route)
    found = tabs(page, route)
    assert len(found) > 1, f"#/{route} shows no tabs: {found}"
    print(f"{who} #/{route} tabs: {[n for n, _ in found]}")
    problems = []
    for name, href in found:
        if href.startswith("#/"):
            goto(page, href)
        else:
            page.get_by_role("tab", name=name, exact=True).click()
            wait_ready(page)
        heading = page.locator("#main h1").first.inner_text()
        assert heading != "This page could not be shown", f"{who} #/{route} tab {name}: {page.locator('#main').inner_text()[:300]}"
        problems += check(page, f"{who} #/{route} tab {name!r}")
    assert not problems, "\n".join(problems)


def test_signin_page(new_page):
    page = new_page()
    page.goto("/")
    expect(page.get_by_role("button", name="Sign in as bob")).to_be_visible()
    wait_ready(page)
    problems = check(page, "sign-in")
    assert not problems, "\n".join(problems)


def test_the_checks_catch_problems(new_page):
    """The checks themselves: axe reports an unlabelled field and an image without text; the
    overflow check reports a page wider than the phone."""
    page = new_page()
    page.set_content('<html lang="en"><title>t</title><main><input type="text"><img src="data:,"><div style="width:900px">wide</div></main></html>')
    found = "\n".join(axe(page))
    assert "label" in found and "image-alt" in found, found
    page.set_viewport_size(PHONE)
    assert overflow(page), "a 900px wide block at 390px is not reported"


@pytest.fixture(scope="module")
def bob_reads_customers(server):
    """bob reads sales.customers with names redacted (approved through the API)."""
    _, _, shares = server.api("bob", "GET", "shares?product=sales.customers")
    if not any(s["summary"]["shared"] for s in shares):
        status, _, s = server.api("bob", "POST", "shares", {"product": "sales.customers", "reason": "accessibility: masked results"})
        assert status in (200, 201), s
        server.api(
            "alice", "POST", f"shares/{s['id']}/approve",
            {"items": [{"table": "customers", "masks": {"name": "redact"}}]}, expect_status=200,
        )


def test_pages_in_use(person, server, share, bob_reads_customers):
    """Pages in the states people see after acting: SQL results with masked columns, a failed
    query, and a confirmation dialog (which Escape closes, giving the focus back)."""
    problems = []
    bob = person("bob")
    goto(bob, "sql")
    bob.get_by_label("SQL", exact=True).fill("SELECT * FROM sales.customers.customers ORDER BY customer_id LIMIT 20")
    bob.get_by_role("button", name="Run", exact=True).click()
    expect(bob.locator("#main table th").first).to_be_visible()
    problems += check(bob, "bob #/sql with masked results")
    bob.get_by_label("SQL", exact=True).fill("SELECT * FROM sales.nope.nope")
    bob.get_by_role("button", name="Run", exact=True).click()
    expect(bob.get_by_role("alert")).to_be_visible()
    problems += check(bob, "bob #/sql with an error")

    alice = person("alice")
    goto(alice, f"shares/{share}")
    alice.get_by_role("button", name="Preview", exact=True).click()
    expect(alice.locator("#main table caption").filter(has_text="Preview").first).to_be_visible()
    problems += check(alice, "alice's share page with a preview")
    reject = alice.get_by_role("button", name="Reject", exact=True).first
    reject.click()
    dialog = alice.get_by_role("dialog")
    expect(dialog).to_be_visible()
    problems += check(alice, "alice's Reject dialog")
    alice.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    focused = alice.evaluate("() => document.activeElement ? document.activeElement.tagName + ' ' + document.activeElement.textContent.trim() : ''")
    if focused != "BUTTON Reject":
        problems.append(f"after Escape the focus is on {focused!r}, not back on the Reject button")
    _, _, s = server.api("alice", "GET", f"shares/{share}")
    assert s["status"] == "submitted", "Escape in the Reject dialog rejected the request"
    assert not problems, "\n".join(problems)


def test_masked_columns_are_announced_as_masked(person, server, share, bob_reads_customers):
    """A column header marked 'masked' must be announced as two words ('name masked', 'name
    (masked)'), not 'namemasked': the marker is a separate word for a screen reader too.
    Checked in bob's SQL results and in alice's approval preview."""
    bob = person("bob")
    goto(bob, "sql")
    bob.get_by_label("SQL", exact=True).fill("SELECT * FROM sales.customers.customers ORDER BY customer_id LIMIT 3")
    bob.get_by_role("button", name="Run", exact=True).click()
    expect(bob.locator("#main table th").first).to_be_visible()
    sql_heads = bob.locator("#main table").first.get_by_role("columnheader").all()
    sql_names = [h.evaluate("e => e.textContent") for h in sql_heads]
    sql_bad = [n for n in sql_names if re.fullmatch(r"[a-z_]+masked", n)]

    alice = person("alice")
    goto(alice, f"shares/{share}")
    alice.get_by_label("Mask for customer_email").select_option("redact")
    alice.get_by_role("button", name="Preview", exact=True).click()
    preview = alice.locator("#main table").filter(has=alice.locator("caption", has_text="Preview")).first
    expect(preview).to_be_visible()
    prev_bad = [h.evaluate("e => e.textContent") for h in preview.get_by_role("columnheader").all()]
    prev_bad = [n for n in prev_bad if re.fullmatch(r"[a-z_]+masked", n)]
    # What a screen reader gets is the accessible name; textContent equals it for these headers.
    snap = bob.locator("#main table").first.aria_snapshot()
    assert not sql_bad and not prev_bad, (
        f"column headers announced as one word: SQL results {sql_bad}, approval preview {prev_bad}"
        f" (put a space or parentheses between the column name and the 'masked' marker)\n{snap[:400]}"
    )


FOCUS_VISIBLE = """() => {
    const a = document.activeElement;
    if (!a || a === document.body) return null;
    const s = getComputedStyle(a);
    const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || (s.boxShadow && s.boxShadow !== 'none');
    const label = a.tagName.toLowerCase() + ' ' + (a.innerText || a.getAttribute('aria-label') || a.name || '').trim().slice(0, 40);
    return {ring, label};
}"""


@pytest.mark.parametrize("who,route", [("bob", "catalog"), ("bob", "sql"), ("alice", "rules/sales/customers"), ("admin", "admin")])
def test_keyboard_focus_is_visible(person, who, route):
    """Every element Tab reaches shows where the focus is (an outline or a ring; WCAG 2.4.7)."""
    page = person(who)
    goto(page, route)
    unseen, seen = [], 0
    for _ in range(30):
        page.keyboard.press("Tab")
        f = page.evaluate(FOCUS_VISIBLE)
        if not f:
            continue
        seen += 1
        if not f["ring"] and f["label"] not in unseen:
            unseen.append(f["label"])
    assert seen > 3, f"#/{route}: Tab reaches almost nothing"
    assert not unseen, f"{who} #/{route}: no visible focus on {unseen}"
