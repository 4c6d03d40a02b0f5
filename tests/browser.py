"""Drive the real Neo4j Browser in Debian's headless Chromium through Playwright (tests only).

Playwright's own browser downloads are never used: it launches /usr/bin/chromium (``apt-get install chromium``,
which scripts/test.sh does), so the test runs offline against the Browser that Neo4j serves at /browser/.
"""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

# The closed network refuses Chromium's background connections; /dev/shm may be small on CI machines (Debian's
# launcher means to add --disable-dev-shm-usage then, but its size check breaks when findmnt prints two lines).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONNECT_TIMEOUT_MS = 90_000
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def chromium_path() -> str:
    """Debian's chromium; a missing browser is a failure with instructions, never a skip."""
    found = os.environ.get("GRAPHRAG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise AssertionError(
            "Debian's chromium is not installed: scripts/test.sh installs it (apt-get install "
            "chromium), or point GRAPHRAG_CHROMIUM at a Chromium binary"
        )
    return found


class NeoBrowserPage:
    """One Neo4j Browser tab: connect without auth, run editor commands, read the graph view."""

    def __init__(self, page, http_port: int, bolt_port: int) -> None:
        self.page = page
        self.http_port = http_port
        self.bolt_port = bolt_port
        self.console_errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and self.console_errors.append(message.text))
        page.on("crash", lambda _page: self.console_errors.append("the tab crashed"))

    def connect_without_auth(self, url: str | None = None) -> None:
        """Open the Browser (at ``url``, e.g. a link with a prefilled editor, else its start page) and connect over
        plain Bolt without credentials; one retry, then a failure that says what the page showed (its text, console
        errors, a screenshot) rather than a bare timeout."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        self.page.goto(url or f"http://127.0.0.1:{self.http_port}/browser/")
        # Filled in explicitly: the Browser pre-fills the address from its discovery request, but a slow answer
        # leaves the default (localhost:7687) in the form.
        self.page.get_by_test_id("bolt-scheme-select").first.select_option("bolt://")
        self.page.get_by_test_id("boltaddress").fill(f"127.0.0.1:{self.bolt_port}")
        self.page.get_by_test_id("authenticationMethod").select_option("NO_AUTH")
        # The Browser words its greeting differently from start to start ("You are connected", "Connected to
        # Neo4j"), so success is either.
        connected = self.page.get_by_text(re.compile(r"You are connected|Connected to Neo4j")).first
        connect_button = self.page.get_by_test_id("connect")
        for attempt in (1, 2):
            connect_button.click()
            try:
                connected.wait_for(timeout=CONNECT_TIMEOUT_MS // 2)
                return
            except PlaywrightTimeout:
                if attempt == 2 or not connect_button.is_visible():
                    raise AssertionError(self.describe_failure("neo4j-browser-connect-failed.png")) from None

    def describe_failure(self, screenshot_name: str) -> str:
        shot = self.screenshot(screenshot_name)
        text = " ".join(self.page.locator("body").inner_text().split())[:1500]
        return (
            f"the Neo4j Browser did not connect to bolt://127.0.0.1:{self.bolt_port}; page text: {text!r}; "
            f"console errors: {self.console_errors[-10:]}; screenshot: {shot}"
        )

    def run(self, statement: str, done_text: str | None = None) -> None:
        """Put one statement in the editor and run it; with ``done_text``, wait until that text shows.

        insert_text, not key presses: the editor would auto-close brackets and run on every Enter. Waiting matters:
        the Browser runs commands concurrently, so a query typed right after ``:param`` can run before it."""
        self.page.get_by_test_id("activeEditor").click()
        self.page.keyboard.insert_text(statement)
        self.page.get_by_test_id("editor-Run").click()
        if done_text:
            self.page.get_by_text(done_text).first.wait_for()

    def editor_text(self) -> str:
        """The statement in the Browser's editor (its text lines, without the line numbers), white space collapsed."""
        lines = self.page.get_by_test_id("activeEditor").locator(".view-lines").inner_text()
        return " ".join(lines.replace("\xa0", " ").split())

    def wait_for_graph(self, min_nodes: int, timeout_ms: int = 30_000) -> None:
        self.page.wait_for_function(
            "n => document.querySelectorAll('svg g.node').length >= n", arg=min_nodes, timeout=timeout_ms
        )

    def node_captions(self) -> list[str]:
        return self.page.locator("svg g.node").evaluate_all("els => els.map(e => e.textContent.trim())")

    def screenshot(self, name: str, graph_frame: bool = False) -> Path:
        """Save a PNG under test-artifacts/: the whole tab, or just the result frame that holds the graph."""
        ARTIFACTS.mkdir(exist_ok=True)
        target = ARTIFACTS / name
        if graph_frame:
            self.page.get_by_test_id("frame").filter(has=self.page.locator("svg g.node")).first.screenshot(
                path=str(target)
            )
        else:
            self.page.screenshot(path=str(target))
        return target


@contextmanager
def neo4j_browser(http_port: int, bolt_port: int):
    """A fresh headless Chromium with one Neo4j Browser tab, closed afterwards."""
    with headless_chromium() as chromium:
        page = chromium.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(30_000)
        yield NeoBrowserPage(page, http_port, bolt_port)


@contextmanager
def headless_chromium():
    """Debian's chromium, headless, through Playwright; closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()
