"""Drive the real Neo4j Browser in Debian's headless Chromium through Playwright (tests only).

Playwright's own browser downloads are never used: it launches /usr/bin/chromium (``apt-get install chromium``,
which scripts/test.sh does), so the test runs offline against the Browser that Neo4j serves at /browser/.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def chromium_path() -> str:
    """Debian's chromium; a missing browser is a failure with instructions, never a skip."""
    found = os.environ.get("GRAPHRAG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise AssertionError("Debian's chromium is not installed: scripts/test.sh installs it (apt-get install "
                             "chromium), or point GRAPHRAG_CHROMIUM at a Chromium binary")
    return found


class NeoBrowserPage:
    """One Neo4j Browser tab: connect without auth, run editor commands, read the graph view."""

    def __init__(self, page, http_port: int) -> None:
        self.page = page
        self.http_port = http_port

    def connect_without_auth(self) -> None:
        # The Browser discovers the Bolt address from the HTTP endpoint, so the connect form is pre-filled.
        self.page.goto(f"http://127.0.0.1:{self.http_port}/browser/")
        self.page.get_by_label("Authentication type").select_option(label="No authentication")
        self.page.get_by_test_id("connect").click()
        self.page.get_by_text("You are connected").wait_for(timeout=30_000)

    def run(self, statement: str, done_text: str | None = None) -> None:
        """Put one statement in the editor and run it; with ``done_text``, wait until that text shows.

        insert_text, not key presses: the editor would auto-close brackets and run on every Enter. Waiting matters:
        the Browser runs commands concurrently, so a query typed right after ``:param`` can run before it."""
        self.page.get_by_test_id("activeEditor").click()
        self.page.keyboard.insert_text(statement)
        self.page.get_by_test_id("editor-Run").click()
        if done_text:
            self.page.get_by_text(done_text).first.wait_for()

    def wait_for_graph(self, min_nodes: int, timeout_ms: int = 30_000) -> None:
        self.page.wait_for_function(
            "n => document.querySelectorAll('svg g.node').length >= n", arg=min_nodes, timeout=timeout_ms)

    def node_captions(self) -> list[str]:
        return self.page.locator("svg g.node").evaluate_all("els => els.map(e => e.textContent.trim())")

    def screenshot(self, name: str, graph_frame: bool = False) -> Path:
        """Save a PNG under test-artifacts/: the whole tab, or just the result frame that holds the graph."""
        ARTIFACTS.mkdir(exist_ok=True)
        target = ARTIFACTS / name
        if graph_frame:
            self.page.get_by_test_id("frame").filter(has=self.page.locator("svg g.node")).first.screenshot(
                path=str(target))
        else:
            self.page.screenshot(path=str(target))
        return target


@contextmanager
def neo4j_browser(http_port: int):
    """A fresh headless Chromium with one Neo4j Browser tab, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = chromium.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30_000)
            yield NeoBrowserPage(page, http_port)
        finally:
            chromium.close()
