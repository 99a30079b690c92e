"""Sign-in and the frame: the demo buttons, the API-token form, navigation by role, signing
out, the keyboard, and where the secrets are (never in storage, URLs or the page)."""

import re

from conftest import goto, sign_in, wait_ready
from playwright.sync_api import expect

NAV = {
    # person: (links that must be in the main navigation, links that must not)
    "bob": (["Catalog", "My access", "SQL"], ["Approvals", "Policy", "Admin"]),
    "alice": (["Catalog", "My access", "Approvals", "Policy", "SQL"], ["Admin"]),
    "carol": (["Catalog", "Approvals", "Policy", "SQL"], ["Admin"]),
    "admin": (["Catalog", "Approvals", "Policy", "SQL", "Admin"], []),
}


def test_signin_page_offers_the_demo_people(new_page):
    page = new_page()
    page.goto("/")
    expect(page.get_by_role("heading", level=1, name="Sign in to meshgate")).to_be_visible()
    for person in ("alice", "carol", "bob", "admin"):
        expect(page.get_by_role("button", name=f"Sign in as {person}")).to_be_visible()
    # The API-token form: a password field, labelled.
    token = page.get_by_label("API token", exact=True)
    expect(token).to_have_attribute("type", "password")
    assert page.title().startswith("Sign in")


def test_each_person_sees_the_navigation_of_their_role(new_page):
    for person, (present, absent) in NAV.items():
        page = sign_in(new_page(), person)
        nav = page.get_by_role("navigation", name="Main")
        for name in present:
            expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
        for name in absent:
            expect(nav.get_by_role("link", name=name, exact=True)).to_have_count(0)
        expect(page.locator("header .me")).to_contain_text(person)


def test_a_wrong_token_is_refused_with_a_message(new_page):
    page = new_page()
    page.goto("/")
    page.get_by_label("API token", exact=True).fill("mgt_not_a_real_token")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)


def test_token_sign_in_keeps_no_secret(new_page, server):
    """Signing in with an API token: the token goes once to /auth/token; afterwards it is in no
    storage, no URL and nowhere in the page; the session cookie is HttpOnly."""
    page = new_page()
    urls = []
    page.on("request", lambda r: urls.append(r.url))
    page.goto("/")
    page.get_by_label("API token", exact=True).fill(server.tokens["bob"])
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    wait_ready(page)
    for route in ("catalog", "sql", "access", "notifications"):
        goto(page, route)
        assert_no_secret(page, server)
    assert not any("mgt_" in u for u in urls), [u for u in urls if "mgt_" in u]
    cookies = page.context.cookies()
    session = [c for c in cookies if c["name"] == "meshgate_session"]
    assert session and session[0]["httpOnly"], cookies
    assert session[0]["sameSite"] in ("Lax", "Strict"), session


def test_demo_sign_in_keeps_no_secret(as_person, server):
    page = as_person("alice")
    for route in ("catalog", "inbox", "policy", "sql"):
        goto(page, route)
        assert_no_secret(page, server)


def assert_no_secret(page, server):
    assert "mgt_" not in page.url, page.url
    storage = page.evaluate(
        """() => {
            const all = [];
            for (const s of [localStorage, sessionStorage])
                for (let i = 0; i < s.length; i++) all.push(s.key(i) + '=' + s.getItem(s.key(i)));
            return all;
        }"""
    )
    assert not any("mgt_" in s or "csrf" in s.lower() for s in storage), storage
    html = page.content()
    assert "mgt_" not in html, re.findall(r".{40}mgt_.{20}", html)[:3]
    for tok in server.tokens.values():
        assert tok not in html
    csrf = page.evaluate("() => fetch('/auth/session').then(r => r.json()).then(j => j.csrf_token)")
    assert csrf and csrf not in html, "the CSRF token is in the page's markup"
    assert not any(csrf in s for s in storage), "the CSRF token is in the browser's storage"


def test_sign_out_ends_the_session(as_person):
    page = as_person("bob")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in as bob")).to_be_visible()
    status = page.evaluate("() => fetch('/auth/session').then(r => r.status)")
    assert status == 401


def test_keyboard_sign_in_and_navigation(new_page):
    """A person with a keyboard only: Tab reaches the demo buttons and Enter signs in; Tab
    reaches every link of the main navigation and Enter opens its page."""
    page = new_page()
    page.goto("/")
    expect(page.get_by_role("button", name="Sign in as bob")).to_be_visible()
    assert tab_to(page, lambda el: el.get("text") == "Sign in as bob"), "Tab never reaches 'Sign in as bob'"
    page.keyboard.press("Enter")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    wait_ready(page)
    for name, route in (("SQL", "#/sql"), ("My access", "#/access"), ("Catalog", "#/catalog")):
        assert tab_to(page, lambda el, n=name: el.get("nav") and el.get("text") == n), f"Tab never reaches the nav link {name}"
        page.keyboard.press("Enter")
        page.wait_for_function("r => location.hash === r", arg=route)
        wait_ready(page)
        link = page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)
        expect(link).to_have_attribute("aria-current", "page")
        # The page's heading takes the focus, so the next Tab starts from the page.
        assert page.evaluate("() => document.activeElement.tagName") in ("H1", "MAIN")


def tab_to(page, want, limit=60) -> bool:
    """Presses Tab until the focused element matches `want` (a predicate over its text and
    whether it is in the main navigation)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        el = page.evaluate(
            """() => {
                const a = document.activeElement;
                return a ? {text: (a.innerText || a.value || '').trim(), nav: !!a.closest('nav[aria-label="Main"]')} : {};
            }"""
        )
        if want(el):
            return True
    return False


def test_skip_link_is_first(new_page):
    page = new_page()
    page.goto("/")
    expect(page.get_by_role("button", name="Sign in as bob")).to_be_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Skip to content"
