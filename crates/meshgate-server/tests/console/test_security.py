"""The console's security properties, tested from a real browser with the Content-Security-Policy
enforced (docs/design/CONSOLE.md, docs/design/SECURITY.md):

* script injection: text from the server (a product's, a table's and a column's description, a
  request's reason) is shown as text, never run;
* CSRF: a cookie-authenticated write without the session's CSRF token, or from another origin,
  is refused; a form on another origin that auto-submits to the server changes nothing;
* headers: the console's CSP (no 'unsafe-inline', frame-ancestors 'none'), X-Frame-Options,
  Cache-Control: no-store on every API answer; the shell refuses to be framed;
* the sources: no HTML strings or eval in any console file.
"""

import functools
import http.server
import json
import re
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
from conftest import CONSOLE_DIR, free_port, goto, wait_ready
from playwright.sync_api import expect

PAYLOAD = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
FORBIDDEN_SOURCES = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\s*\(|new\s+Function\b")


# --------------------------------------------------------------------------- static check


def test_no_html_strings_or_eval_in_console_sources():
    offenders = []
    files = [p for p in CONSOLE_DIR.rglob("*") if p.is_file()]
    assert any(p.name == "app.js" for p in files), f"no console sources under {CONSOLE_DIR}"
    for p in files:
        if p.suffix not in (".js", ".mjs", ".html", ".css", ".svg"):
            continue
        for n, line in enumerate(without_comments(p.read_text(encoding="utf-8")).splitlines(), 1):
            if FORBIDDEN_SOURCES.search(line):
                offenders.append(f"{p.relative_to(CONSOLE_DIR)}:{n}: {line.strip()}")
    assert not offenders, "HTML strings or eval in the console's sources:\n  " + "\n  ".join(offenders)


def without_comments(src: str) -> str:
    """The source with its comments blanked (line numbers kept): a comment may NAME the
    forbidden calls (lib.js explains the rule), code may not use them."""
    src = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), src, flags=re.S)
    src = re.sub(r"<!--.*?-->", lambda m: re.sub(r"[^\n]", " ", m.group(0)), src, flags=re.S)
    return re.sub(r"(^|\s)//.*$", r"\1", src, flags=re.M)


def test_static_check_catches_a_use():
    bad = "const a = 1; // innerHTML in a comment is fine\nel.innerHTML = x;\n/* eval( */ y = eval('1');"
    found = [l for l in without_comments(bad).splitlines() if FORBIDDEN_SOURCES.search(l)]
    assert len(found) == 2, found


def test_no_inline_script_or_style_in_the_shell():
    html = (CONSOLE_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline <script> in index.html"
    assert not re.search(r"\son[a-z]+=", html), "an inline event handler in index.html"
    assert "<style" not in html and " style=" not in html, "inline style in index.html"


# --------------------------------------------------------------------------- headers


def csp_directives(value: str) -> dict:
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def header(headers: dict, name: str):
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def test_console_headers(server):
    for path in ("/", "/console/js/app.js", "/console/app.css"):
        status, h, _ = server.api(None, "GET", path)
        assert status == 200, (path, status)
        csp = header(h, "Content-Security-Policy")
        assert csp, f"{path}: no Content-Security-Policy"
        d = csp_directives(csp)
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, f"{path}: {csp}"
        assert d.get("frame-ancestors") == ["'none'"], f"{path}: {csp}"
        assert d.get("script-src") == ["'self'"], f"{path}: {csp}"
        assert d.get("default-src") == ["'none'"], f"{path}: {csp}"
        assert d.get("base-uri") == ["'none'"], f"{path}: {csp}"
        assert header(h, "X-Frame-Options") == "DENY", path
        assert header(h, "X-Content-Type-Options") == "nosniff", path
        assert header(h, "Referrer-Policy") == "no-referrer", path
    _, h, _ = server.api(None, "GET", "/")
    assert header(h, "Cache-Control") == "no-store", "the shell must not be cached"


def test_every_api_answer_is_no_store(server):
    answers = [
        server.api("bob", "GET", "whoami"),
        server.api("bob", "GET", "products"),
        server.api("bob", "GET", "search?q=orders"),
        server.api("bob", "GET", "products/sales/nope"),  # 404
        server.api(None, "GET", "whoami"),  # 401
        server.api("bob", "GET", "audit"),  # 403
        server.query("alice", "SELECT count(*) AS n FROM sales.orders.orders"),
        server.api(None, "GET", "/auth/session"),
        server.api(None, "GET", "/auth/demo"),
    ]
    for status, h, body in answers:
        assert header(h, "Cache-Control") == "no-store", (status, body, h)
        assert header(h, "X-Frame-Options") == "DENY", (status, h)
        csp = header(h, "Content-Security-Policy") or ""
        assert "frame-ancestors 'none'" in csp, (status, csp)


# --------------------------------------------------------------------------- another origin


@pytest.fixture(scope="module")
def other_origin():
    """A second web server on another port of this machine: the 'attacker's' pages."""
    root = Path(tempfile.mkdtemp(prefix="meshgate-other-origin-"))
    port = free_port()
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()

    def page(name: str, html: str) -> str:
        (root / name).write_text(html)
        return f"http://127.0.0.1:{port}/{name}"

    yield page
    httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_the_shell_refuses_to_be_framed(new_page, server, other_origin, request):
    request.node.allowed_console_errors = [r"Refused to (display|frame)|Framing .* violates .*frame-ancestors"]
    url = other_origin("frame.html", f'<!doctype html><title>framer</title><iframe id="f" src="{server.url}/"></iframe>')
    page = new_page()
    page.goto(url)
    page.wait_for_timeout(1500)
    frames = [f for f in page.frames if f != page.main_frame]
    assert frames, "no child frame"
    child = frames[0]
    # A refused frame is an error page: not the console's shell.
    assert not child.url.startswith(server.url) or child.evaluate("() => !document.getElementById('app')"), child.url
    assert page.evaluate("() => { try { return !!document.getElementById('f').contentDocument?.getElementById('app'); } catch { return false; } }") is False


def csrf_of(page) -> str:
    return page.evaluate("() => fetch('/auth/session').then(r => r.json()).then(j => j.csrf_token)")


def test_a_write_without_the_csrf_token_is_refused(as_person):
    page = as_person("bob")
    status, body = page.evaluate(
        """async () => {
            const r = await fetch('/api/v1/notifications/read-all', {method: 'POST', credentials: 'same-origin',
                headers: {'Content-Type': 'application/json'}, body: '{}'});
            return [r.status, await r.text()];
        }"""
    )
    assert status == 403, body
    assert "x-csrf-token" in body.lower()
    # With a wrong token, too.
    status = page.evaluate(
        """() => fetch('/api/v1/notifications/read-all', {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': 'wrong'}, body: '{}'}).then(r => r.status)"""
    )
    assert status == 403
    # And with the right one it works (the refusals above were the token's doing).
    csrf = csrf_of(page)
    status = page.evaluate(
        """t => fetch('/api/v1/notifications/read-all', {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': t}, body: '{}'}).then(r => r.status)""",
        csrf,
    )
    assert status == 200


def test_a_write_from_another_origin_is_refused(as_person, server):
    """The right CSRF token, the session cookie, but an Origin that is not the server's."""
    page = as_person("bob")
    csrf = csrf_of(page)
    req = page.context.request
    r = req.post(
        server.url + "/api/v1/notifications/read-all",
        headers={"X-CSRF-Token": csrf, "Origin": "http://127.0.0.1:1", "Content-Type": "application/json"},
        data="{}",
    )
    assert r.status == 403, r.text()
    assert "http://127.0.0.1:1" in r.text()
    r = req.post(
        server.url + "/api/v1/notifications/read-all",
        headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example", "Content-Type": "application/json"},
        data="{}",
    )
    assert r.status == 403
    r = req.post(
        server.url + "/api/v1/notifications/read-all",
        headers={"X-CSRF-Token": csrf, "Origin": server.url, "Content-Type": "application/json"},
        data="{}",
    )
    assert r.status == 200, r.text()


def test_a_form_on_another_origin_changes_nothing(as_person, server, other_origin):
    """Pages of another origin (same site: 127.0.0.1, so the SameSite=Lax cookie IS sent) post
    forms to the server as the signed-in victim: a request for access as bob (text/plain JSON),
    a new product as alice (multipart, the product API's own format) and a sign-out."""
    marker = f"csrf-probe-{uuid.uuid4().hex[:8]}"
    bob = as_person("bob")
    # text/plain: the body is name=value — shaped here into JSON.
    name = json.dumps({"product": "sales.orders", "reason": marker, "pad": ""})[:-2]
    share_form = other_origin(
        "share.html",
        f"""<!doctype html><title>win a prize</title>
<form id="f" method="POST" enctype="text/plain" action="{server.url}/api/v1/shares">
<input type="hidden" name='{name.replace("'", "&#39;")}' value='x"}}'></form>
<script>document.getElementById('f').submit()</script>""",
    )
    with bob.expect_navigation(url=re.compile(re.escape(server.url) + "/api/v1/shares")):
        bob.goto(share_form)
    _, _, shares = server.api("bob", "GET", "shares?product=sales.orders")
    assert not any(s.get("reason") == marker for s in shares), "a cross-origin form created a request"

    logout_form = other_origin(
        "logout.html",
        f"""<!doctype html><form id="f" method="POST" action="{server.url}/auth/logout"><input name="a" value="b"></form>
<script>document.getElementById('f').submit()</script>""",
    )
    with bob.expect_navigation(url=re.compile(re.escape(server.url) + "/auth/logout")):
        bob.goto(logout_form)
    bob.goto(server.url + "/")
    expect(bob.get_by_role("navigation", name="Main")).to_be_visible()  # still signed in

    alice = as_person("alice")
    product = {"domain": "sales", "team": "core", "name": "csrf_probe", "description": marker}
    create_form = other_origin(
        "product.html",
        f"""<!doctype html><form id="f" method="POST" enctype="multipart/form-data" action="{server.url}/api/v1/products">
<input type="hidden" name="product" value='{json.dumps(product)}'></form>
<script>document.getElementById('f').submit()</script>""",
    )
    with alice.expect_navigation(url=re.compile(re.escape(server.url) + "/api/v1/products")):
        alice.goto(create_form)
    assert "forbidden" in alice.content() or "403" in alice.content() or "csrf" in alice.content().lower()
    status, _, _ = server.api("alice", "GET", "products/sales/csrf_probe")
    assert status == 404, "a cross-origin form created a product"


# --------------------------------------------------------------------------- script injection


@pytest.fixture
def xss_planted(server):
    """sales.orders' description is the payload (restored afterwards); a product
    sales.xss_probe has it as its table's and a column's description (removed afterwards)."""
    _, _, before = server.api("alice", "GET", "products/sales/orders", expect_status=200)
    server.api("alice", "PATCH", "products/sales/orders", {"description": PAYLOAD}, expect_status=200)
    boundary = "----meshgate" + uuid.uuid4().hex
    meta = {
        "domain": "sales",
        "team": "core",
        "name": "xss_probe",
        "description": "probe " + PAYLOAD,
        "tables": [{"name": "t", "description": "table " + PAYLOAD, "columns": {"label": "column " + PAYLOAD}}],
    }
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"product\"\r\nContent-Type: application/json\r\n\r\n"
        f"{json.dumps(meta)}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"t\"; filename=\"t.csv\"\r\nContent-Type: text/csv\r\n\r\n"
        "id,label\n1,<b>bold</b>\n2,<img src=x onerror=\"window.__xss=3\">\n"
        f"\r\n--{boundary}--\r\n"
    )
    status, _, made = server.api(
        "alice", "POST", "products", body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert status in (200, 201), made
    server.api("alice", "POST", "products/sales/xss_probe/publish")
    yield
    server.api("alice", "PATCH", "products/sales/orders", {"description": before["description"]}, expect_status=200)
    server.api("alice", "DELETE", "products/sales/xss_probe")


def assert_not_run(page):
    assert page.evaluate("() => window.__xss") is None, "the payload ran"
    # No element came from the payload: no <img src=x>, no script but the console's own.
    assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert page.evaluate("() => [...document.scripts].every(s => s.src && s.src.includes('/console/'))")


def test_descriptions_are_text_not_markup(as_person, xss_planted):
    page = as_person("bob")
    goto(page, "catalog")
    expect(page.get_by_text(PAYLOAD, exact=False).first).to_be_visible()
    assert_not_run(page)
    goto(page, "catalog?q=xss_probe")
    expect(page.get_by_text("probe " + PAYLOAD).first).to_be_visible()
    assert_not_run(page)
    goto(page, "products/sales/orders")
    expect(page.get_by_text(PAYLOAD).first).to_be_visible()
    assert_not_run(page)
    goto(page, "products/sales/xss_probe")
    expect(page.get_by_text("probe " + PAYLOAD).first).to_be_visible()
    expect(page.get_by_text("table " + PAYLOAD).first).to_be_attached()
    expect(page.get_by_text("column " + PAYLOAD).first).to_be_attached()
    assert_not_run(page)


def test_data_is_text_not_markup(as_person):
    """Values from a table, in the SQL workbench of the product's owner."""
    page = as_person("alice")
    goto(page, "sql")
    page.get_by_label("SQL", exact=True).fill(
        "SELECT '<img src=x onerror=\"window.__xss=4\">' AS a, '<script>window.__xss=5</script>' AS b"
    )
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_role("cell", name='<img src=x onerror="window.__xss=4">')).to_be_visible()
    assert_not_run(page)


def test_a_reason_is_text_in_the_approvers_pages(as_person, server):
    status, _, share = server.api("bob", "POST", "shares", {"product": "sales.orders", "reason": "reason " + PAYLOAD})
    assert status in (200, 201), share
    try:
        page = as_person("alice")
        goto(page, "inbox")
        expect(page.get_by_text("reason " + PAYLOAD).first).to_be_visible()
        assert_not_run(page)
        goto(page, f"shares/{share['id']}")
        expect(page.get_by_text("reason " + PAYLOAD).first).to_be_visible()
        assert_not_run(page)
    finally:
        server.api("alice", "POST", f"shares/{share['id']}/reject", {"notes": "probe"})


def test_a_page_without_signing_in_shows_sign_in(new_page):
    page = new_page()
    page.goto("/#/admin")
    expect(page.get_by_role("button", name="Sign in as admin")).to_be_visible()
    wait_ready(page)


def test_filter_descriptions_and_names_are_text(as_person, server, xss_planted):
    """A data filter's description (in the approver's form), a principal's display name and a
    team's description (in the admin pages) are shown as text."""
    status, _, f = server.api(
        "alice", "POST", "products/sales/xss_probe/tables/t/data-filters",
        {"name": "xss_filter", "description": "filter " + PAYLOAD, "row_filter": "id > 0"},
    )
    assert status in (200, 201), f
    status, _, share = server.api("bob", "POST", "shares", {"product": "sales.xss_probe", "reason": "xss probe"})
    assert status in (200, 201), share
    status, _, person = server.api("admin", "POST", "principals", {"name": "xss_person", "kind": "user", "display_name": "person " + PAYLOAD})
    assert status in (200, 201), person
    try:
        alice = as_person("alice")
        goto(alice, f"shares/{share['id']}")
        options = alice.evaluate("() => [...document.querySelectorAll('#main option')].map(o => o.textContent)")
        assert any(("filter " + PAYLOAD) in o for o in options), f"the filter's description is not among the options: {options}"
        assert_not_run(alice)
        admin = as_person("admin")
        goto(admin, "admin/principals")
        expect(admin.get_by_text("person " + PAYLOAD).first).to_be_visible()
        assert_not_run(admin)
    finally:
        server.api("alice", "POST", f"shares/{share['id']}/reject", {"notes": "probe"})
        server.api("alice", "DELETE", f"shares/{share['id']}", {"reason": "probe"})
        server.api("alice", "DELETE", "products/sales/xss_probe/tables/t/data-filters/xss_filter")
