"""The frame around the pages: routes that do not exist, pages a person may not use, a session
that ends while a page is open, Back and Forward through the catalog's searches, and routes
switched faster than pages load. None of these may raise a JavaScript error (the fixtures
fail a test on one)."""

import re

from conftest import goto, sign_in, wait_ready
from playwright.sync_api import expect


def main_text(page):
    return page.locator("#main").inner_text()


def test_unknown_routes(person):
    bob = person("bob")
    goto(bob, "no-such-page")
    expect(bob.get_by_role("heading", level=1, name="Not found")).to_be_visible()
    expect(bob.get_by_role("link", name="Go to the catalog.")).to_be_visible()
    goto(bob, "products/sales/no_such_product")
    expect(bob.locator("#main h1")).to_have_count(1)
    assert re.search(r"not found|no product|does not exist", main_text(bob), re.I), main_text(bob)[:300]


def test_pages_bob_may_not_use_say_so(person):
    """bob (a consumer) typing an approver's or admin's address: the page says he may not, or
    shows nothing of others' — it does not break."""
    bob = person("bob")
    for route in ("admin", "admin/audit", "admin/principals", "inbox", "policy", "rules/sales/customers"):
        goto(bob, route)
        text = main_text(bob)
        assert bob.locator("#main h1").count() == 1, f"#/{route}: no page heading: {text[:200]}"
        # No audit events, tokens or rules of others leak into the page.
        assert "mgt_" not in bob.content()
        if route.startswith("admin"):
            assert re.search(r"admin|not allowed|may not|permission|forbidden", text, re.I), f"#/{route}: {text[:300]}"
            assert bob.locator("#main table tbody tr").count() == 0, f"#/{route} shows a table to bob: {text[:300]}"


def test_a_session_ended_elsewhere_leads_to_sign_in(new_page):
    page = sign_in(new_page(), "bob")
    goto(page, "catalog")
    # Signed out in another tab: the cookie is gone from the server.
    status = page.evaluate(
        """async () => {
            const s = await fetch('/auth/session').then(r => r.json());
            return fetch('/auth/logout', {method: 'POST', headers: {'X-CSRF-Token': s.csrf_token, 'Content-Type': 'application/json'}, body: '{}'}).then(r => r.status);
        }"""
    )
    assert status == 200
    page.evaluate("() => { location.hash = '#/access'; }")
    expect(page.get_by_role("button", name="Sign in as bob")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)


def test_back_and_forward_through_searches(person):
    bob = person("bob")
    goto(bob, "catalog")
    search = bob.get_by_label("Search the catalog")
    for q in ("orders", "customers"):
        search.fill(q)
        search.press("Enter")  # the keyboard's way
        expect(bob.get_by_role("status").filter(has_text=q)).to_be_visible()
    assert "q=customers" in bob.url
    bob.go_back()
    wait_ready(bob)
    expect(bob.get_by_role("link", name="sales.orders", exact=True).first).to_be_visible()
    assert "q=orders" in bob.url
    expect(bob.get_by_label("Search the catalog")).to_have_value("orders")
    bob.go_forward()
    wait_ready(bob)
    expect(bob.get_by_label("Search the catalog")).to_have_value("customers")


def test_routes_switched_faster_than_pages_load(person):
    """Clicking through the navigation without waiting: the last route wins, whole."""
    alice = person("alice")
    goto(alice, "catalog")
    nav = alice.get_by_role("navigation", name="Main")
    for name in ("My access", "Approvals", "Policy", "SQL", "Catalog", "Approvals"):
        nav.get_by_role("link", name=name, exact=True).click()
    alice.wait_for_function("() => location.hash === '#/inbox'")
    wait_ready(alice)
    alice.wait_for_timeout(1500)  # pages of the earlier routes finish loading meanwhile
    wait_ready(alice)
    raced = (alice.locator("#main h1").all_inner_texts(), alice.title())
    expect(nav.get_by_role("link", name="Approvals", exact=True)).to_have_attribute("aria-current", "page")
    goto(alice, "inbox")
    calm = (alice.locator("#main h1").all_inner_texts(), alice.title())
    assert raced == calm, f"after racing through the routes the page shows {raced}, not the inbox {calm}"
