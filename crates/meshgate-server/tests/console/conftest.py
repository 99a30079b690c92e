"""The console's end-to-end browser suite (docs/design/CONSOLE.md, issue 16).

What it needs:
  * a meshgate binary — MESHGATE_TEST_BIN, default $CARGO_TARGET_DIR/debug/meshgate (the one
    `cargo test --workspace` builds; CARGO_TARGET_DIR defaults to <repo>/target). The suite
    tests the console EMBEDDED in that binary: the server is started with every MESHGATE_*
    variable removed (CI sets no other). To try pages being edited without a rebuild, point
    MESHGATE_TEST_CONSOLE_DIR at a console directory: a debug server gets it as
    MESHGATE_CONSOLE_DIR, and the static checks read that directory's sources. With
    MESHGATE_TEST_CONSOLE_ROUTE=1 the browser itself serves `/` and `/console/*` from that
    directory instead, with the server's own headers (its CSP stays enforced) — for a
    binary that does not read MESHGATE_CONSOLE_DIR (a release build, or an older one).
    MESHGATE_TEST_ARTIFACTS=<dir> keeps a screenshot and the text of each page of a failed
    test.
  * Chromium — MESHGATE_TEST_CHROMIUM, default /usr/bin/chromium (Debian's package; the suite
    never downloads a browser). A browser that cannot start FAILS the suite, it never skips.
  * Python: requirements.txt (playwright, pytest); axe-core: `npm ci` in this directory.

Run: `pytest -q crates/meshgate-server/tests/console` (.ci/run does, after the other suites).
With MESHGATE_SCREENSHOTS_DIR set, the story saves the docs' screenshots there.

One quickstart server (fresh data dir, free port) serves the whole session: alice owns
sales.core, carol is its steward, bob (marketing.analytics) is the consumer, admin is the
mesh admin. Fixtures sign people in through the sign-in page's demo buttons, as a person
would. Every page collects its uncaught JavaScript errors and Content-Security-Policy
violations; a test whose page had one fails at teardown.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
CONSOLE_DIR = Path(os.environ.get("MESHGATE_TEST_CONSOLE_DIR") or REPO / "crates" / "meshgate-server" / "console")
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
PEOPLE = ("alice", "carol", "bob", "admin")
VIEWPORT = {"width": 1280, "height": 800}
# How long a page may take to show what a test waits for (a debug build on 2 cores).
expect.set_options(timeout=15_000)


def binary() -> Path:
    if os.environ.get("MESHGATE_TEST_BIN"):
        return Path(os.environ["MESHGATE_TEST_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    return target / "debug" / "meshgate"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running quickstart: its URL, its people's API tokens, and a small API client
    (used to read state for assertions, and by the security tests to plant a payload)."""

    def __init__(self, url: str, tokens: dict, data_dir: Path, log: Path):
        self.url = url
        self.tokens = tokens
        self.data_dir = data_dir
        self.log = log

    def api(self, person: str, method: str, path: str, body=None, headers=None, expect_status=None):
        """Calls /api/v1/<path> (or an absolute path) as `person` with its API token.
        Returns (status, headers, parsed body)."""
        url = self.url + (path if path.startswith("/") else f"/api/v1/{path}")
        data = None
        hdrs = {"Accept": "application/json"}
        if person:
            hdrs["Authorization"] = f"Bearer {self.tokens[person]}"
        if body is not None:
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
            else:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, rh, raw = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, rh, raw = e.code, dict(e.headers), e.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        if expect_status is not None and status != expect_status:
            raise AssertionError(f"{method} {path} as {person}: expected {expect_status}, got {status}: {parsed}")
        return status, rh, parsed

    def query(self, person: str, sql: str):
        return self.api(person, "POST", "query", {"sql": sql})


def _server_env() -> dict:
    # The server reads MESHGATE_* variables as its configuration: the suite's are not its.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHGATE_")}
    if os.environ.get("MESHGATE_TEST_CONSOLE_DIR") and not os.environ.get("MESHGATE_TEST_CONSOLE_ROUTE"):
        env["MESHGATE_CONSOLE_DIR"] = os.environ["MESHGATE_TEST_CONSOLE_DIR"]
    env.setdefault("RUST_LOG", "warn")
    return env


MIME = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html; charset=utf-8"}


def new_context(browser, server, **opts):
    """A browser context on the server (base_url set, 1280x800, en-US, UTC); with
    MESHGATE_TEST_CONSOLE_ROUTE set it serves the console from MESHGATE_TEST_CONSOLE_DIR."""
    opts.setdefault("viewport", VIEWPORT)
    opts.setdefault("base_url", server.url)
    opts.setdefault("locale", "en-US")
    opts.setdefault("timezone_id", "UTC")
    ctx = browser.new_context(**opts)
    ctx.set_default_timeout(20_000)
    if os.environ.get("MESHGATE_TEST_CONSOLE_DIR") and os.environ.get("MESHGATE_TEST_CONSOLE_ROUTE"):
        root = Path(os.environ["MESHGATE_TEST_CONSOLE_DIR"])

        def handler(route):
            path = urllib.parse.urlsplit(route.request.url).path
            rel = "index.html" if path == "/" else path[len("/console/"):]
            real = route.fetch(headers={k: v for k, v in route.request.headers.items() if k.lower() != "if-none-match"})
            f = root / rel
            if ".." in rel.split("/") or not f.is_file():
                route.fulfill(response=real)
                return
            headers = {k: v for k, v in real.headers.items() if k.lower() not in ("etag", "content-length", "content-encoding", "content-type")}
            headers["content-type"] = MIME.get(f.suffix, "application/octet-stream")
            headers["cache-control"] = "no-store"
            route.fulfill(status=200, headers=headers, body=f.read_bytes())

        ctx.route(re.compile(re.escape(server.url) + r"/(console/[^?#]*)?(\?[^#]*)?$"), handler)
    return ctx


@pytest.fixture(scope="session")
def server():
    exe = binary()
    if not exe.is_file():
        pytest.fail(
            f"no meshgate binary at {exe}: build it (cargo build -p meshgate-cli) or set MESHGATE_TEST_BIN",
            pytrace=False,
        )
    data_dir = Path(tempfile.mkdtemp(prefix="meshgate-console-"))
    port = free_port()
    log = data_dir / "quickstart.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(exe), "quickstart", "--data-dir", str(data_dir / "mesh"), "--listen", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_server_env(),
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    tokens_file = data_dir / "mesh" / "quickstart-tokens.json"
    deadline = time.time() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the quickstart server stopped (exit {proc.returncode}):\n{log.read_text()[-4000:]}", pytrace=False)
        if tokens_file.is_file() and tokens_file.stat().st_size > 0:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"the quickstart server was not ready within 180 s:\n{log.read_text()[-4000:]}", pytrace=False)
        time.sleep(0.3)
    tokens = json.loads(tokens_file.read_text())
    srv = Server(url, tokens, data_dir, log)
    yield srv
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        proc.kill()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def playwright_instance():
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    exe = os.environ.get("MESHGATE_TEST_CHROMIUM", "/usr/bin/chromium")
    try:
        b = playwright_instance.chromium.launch(
            executable_path=exe,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
    except Exception as e:  # noqa: BLE001 - any failure to start is a failed suite, never a skip
        pytest.fail(
            f"FAIL: Chromium ({exe}) could not start: {e}. Install Debian's `chromium` or set MESHGATE_TEST_CHROMIUM.",
            pytrace=False,
        )
    yield b
    b.close()


class Watched:
    """A page and what went wrong in it: uncaught errors, unhandled rejections and CSP
    violations. Failed requests (a 403 a test provokes) are not errors."""

    def __init__(self, page: Page):
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("console", self._console)

    def _console(self, msg):
        if msg.type != "error":
            return
        text = msg.text
        if text.startswith("Failed to load resource"):
            return
        self.errors.append(f"console.error: {text}")


@pytest.fixture
def new_page(browser, server, request):
    """Makes pages, each in its own browser context (its own cookies): new_page(**context
    options) -> Page. Fails the test at teardown if a page had a JavaScript error."""
    contexts, watched = [], []

    def make(**opts) -> Page:
        ctx = new_context(browser, server, **opts)
        contexts.append(ctx)
        page = ctx.new_page()
        watched.append(Watched(page))
        return page

    yield make
    keep_evidence(request, [(f"page{i}", w.page) for i, w in enumerate(watched)])
    errors = [e for w in watched for e in w.errors]
    for ctx in contexts:
        ctx.close()
    allowed = getattr(request.node, "allowed_console_errors", ())
    errors = [e for e in errors if not any(re.search(a, e) for a in allowed)]
    if errors:
        pytest.fail("JavaScript errors in the page:\n  " + "\n  ".join(errors), pytrace=False)


@pytest.fixture(scope="session")
def _signed_in(browser, server):
    """One long-lived signed-in page per person (own context, own cookies), made on first use."""
    pages: dict = {}

    def get(person: str):
        if person not in pages:
            ctx = new_context(browser, server)
            page = ctx.new_page()
            watched = Watched(page)
            sign_in(page, person)
            pages[person] = (page, watched)
        return pages[person]

    yield get
    for page, _ in pages.values():
        page.context.close()


@pytest.fixture
def person(_signed_in, request):
    """person('bob') -> bob's signed-in page (shared with other tests: it may show any route).
    Fails the test at teardown if one of the pages it used had a JavaScript error meanwhile."""
    used = []

    def get(name: str) -> Page:
        page, watched = _signed_in(name)
        watched.errors.clear()
        used.append((name, watched))
        if page.viewport_size != VIEWPORT:
            page.set_viewport_size(VIEWPORT)
        return page

    yield get
    keep_evidence(request, [(n, w.page) for n, w in used])
    allowed = getattr(request.node, "allowed_console_errors", ())
    errors = [f"{n}: {e}" for n, w in used for e in w.errors if not any(re.search(a, e) for a in allowed)]
    if errors:
        pytest.fail("JavaScript errors in the page:\n  " + "\n  ".join(errors), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.when == "call":
        item.call_failed = rep.failed
    return rep


def keep_evidence(request, pages):
    """After a failed test, with MESHGATE_TEST_ARTIFACTS set: a screenshot and the text of
    each page the test used, named after the test."""
    out = os.environ.get("MESHGATE_TEST_ARTIFACTS")
    if not out or not getattr(request.node, "call_failed", False):
        return
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for who, page in pages:
        try:
            page.screenshot(path=str(d / f"{stem}-{who}.png"), full_page=True)
            (d / f"{stem}-{who}.txt").write_text(page.url + "\n\n" + page.locator("body").inner_text())
        except Exception as e:  # noqa: BLE001 - evidence is best effort
            (d / f"{stem}-{who}.txt").write_text(f"no evidence: {e}")


def pytest_collection_modifyitems(items):
    """The story first (its screenshots show the fresh demo mesh), then the other modules."""
    order = {"test_story.py": 0, "test_signin.py": 1, "test_frame.py": 2, "test_security.py": 3, "test_accessibility.py": 4}
    items.sort(key=lambda it: order.get(it.path.name, 9))


def sign_in(page: Page, person: str) -> Page:
    """Signs `person` in with the sign-in page's demo button, as a person would."""
    page.goto("/")
    page.get_by_role("button", name=f"Sign in as {person}").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    wait_ready(page)
    return page


@pytest.fixture
def as_person(new_page):
    """as_person('bob', **context options) -> a page signed in as bob (fresh context)."""

    def make(person: str, **opts) -> Page:
        return sign_in(new_page(**opts), person)

    return make


def wait_ready(page: Page, timeout: float = 20_000):
    """Waits until the routed page has rendered: no 'Loading…' left in <main>."""
    page.wait_for_function(
        """() => {
            const m = document.getElementById('main');
            return m && m.children.length > 0 && !m.querySelector('.loading, [aria-busy="true"]');
        }""",
        timeout=timeout,
    )


def goto(page: Page, route: str) -> Page:
    """Opens a console route ('#/catalog', '/sql' or 'sql') in a signed-in page."""
    route = route.lstrip("#").lstrip("/")
    # Marks what <main> shows now, so that the wait below sees the new page, not the old one.
    page.evaluate(
        """r => {
            for (const c of document.getElementById('main').children) c.setAttribute('data-stale', '');
            if (location.hash === '#/' + r) window.dispatchEvent(new HashChangeEvent('hashchange'));
            else location.hash = '#/' + r;
        }""",
        route,
    )
    page.wait_for_function("() => !document.querySelector('#main > [data-stale]')", timeout=20_000)
    wait_ready(page)
    return page


def screenshot_dir() -> Path | None:
    d = os.environ.get("MESHGATE_SCREENSHOTS_DIR")
    if not d:
        return None
    p = Path(d)
    p.mkdir(parents=True, exist_ok=True)
    return p


def shot(page: Page, name: str, show=None):
    """Saves a docs screenshot (1280x800) when MESHGATE_SCREENSHOTS_DIR is set; `show` (a
    locator) is scrolled to the bottom of the view first."""
    d = screenshot_dir()
    if d is None:
        return
    page.set_viewport_size(VIEWPORT)
    if show is not None:
        show.evaluate("e => e.scrollIntoView({block: 'end'})")
    # Passing toasts ("Approved: …") would cover the picture.
    page.evaluate("() => document.getElementById('toasts')?.replaceChildren()")
    page.evaluate("() => document.activeElement && document.activeElement.blur && document.activeElement.blur()")
    page.wait_for_timeout(300)
    page.screenshot(path=str(d / name), full_page=False)
