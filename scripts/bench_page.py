"""Benchmark the analyst page in Debian's headless chromium (Playwright): how soon it is usable, and how long a
200-entity neighbourhood takes to draw.

Builds a throwaway store (the demo corpus plus one entity with --neighbours related entities, loaded as triples),
serves it on 127.0.0.1 in this process, then for each run opens the page in a fresh browser context and measures:
- usable: from navigation until the page has its start-up facts and store counts (html[data-ready=true]);
- neighbourhood: from choosing the hub in Explore until its whole neighbourhood is drawn (hub + neighbours as SVG
  nodes), which covers the neighbours call, the server-side layout and the drawing.
Prints one JSON object with the medians and every run.
Example: python scripts/bench_page.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import free_port, run_reporting  # noqa: E402

from graphrag import Engine, Settings  # noqa: E402

HUB = "Meridian Harbour Holdings"
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]


def _chromium() -> str:
    found = os.environ.get("GRAPHRAG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise ValueError("Debian's chromium is needed (apt-get install chromium), or set GRAPHRAG_CHROMIUM")
    return found


def build_store(data_dir: Path, neighbours: int) -> Engine:
    """The demo corpus plus a hub entity related to ``neighbours`` others (JSONL triples)."""
    from importlib import resources

    triples = data_dir / "hub.jsonl"
    data_dir.mkdir(parents=True, exist_ok=True)
    with triples.open("w", encoding="utf-8") as out:
        for number in range(neighbours):
            record = {"subject": HUB, "relation": "owns", "object": f"Harbour Subsidiary {number:03d}"}
            out.write(json.dumps({**record, "subject_type": "Organization", "object_type": "Organization"}) + "\n")
    engine = Engine.from_settings(Settings.load(data_dir=data_dir / "store"))
    report = engine.ingest([Path(str(resources.files("graphrag") / "demo" / "corpus")), triples])
    if report.problems:
        raise ValueError(f"the benchmark store did not load cleanly: {report.problems[0].message}")
    return engine


def measure(base_url: str, runs: int, neighbours: int) -> dict:
    from playwright.sync_api import sync_playwright

    usable, drawn = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), headless=True, args=BROWSER_FLAGS)
        try:
            for _ in range(runs):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.set_default_timeout(60_000)
                started = time.perf_counter()
                page.goto(base_url + "/")
                page.wait_for_selector("html[data-ready=true]")
                usable.append((time.perf_counter() - started) * 1000)
                page.click("button[data-panel=panel-explore]")
                page.fill("#expand-limit", str(neighbours + 50))
                page.fill("#entity-query", HUB)
                page.click("#entity-form button[type=submit]")
                choice = page.locator("#entity-results li button").first
                choice.wait_for()
                started = time.perf_counter()
                choice.click()
                page.wait_for_function(
                    "n => document.querySelectorAll('#explore-graph g.node').length >= n", arg=neighbours + 1
                )
                drawn.append((time.perf_counter() - started) * 1000)
                context.close()
        finally:
            browser.close()
    return {
        "runs": runs,
        "usable_ms_median": round(statistics.median(usable), 1),
        "neighbourhood_ms_median": round(statistics.median(drawn), 1),
        "neighbourhood_nodes": neighbours + 1,
        "usable_ms": [round(v, 1) for v in usable],
        "neighbourhood_ms": [round(v, 1) for v in drawn],
    }


def run(runs: int, neighbours: int) -> dict:
    import uvicorn

    from server.app import create_app

    if runs < 1 or not 1 <= neighbours <= 900:
        raise ValueError("--runs must be at least 1 and --neighbours between 1 and 900")
    with tempfile.TemporaryDirectory(prefix="bench-page-") as folder:
        engine = build_store(Path(folder), neighbours)
        settings = engine.settings
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, engine=engine), "127.0.0.1", port, log_level="error")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 120
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise ValueError("the page server did not start")
                time.sleep(0.1)
            result = measure(f"http://127.0.0.1:{port}", runs, neighbours)
        finally:
            server.should_exit = True
            thread.join(timeout=60)
            engine.close()
    return {**result, "cpus": os.cpu_count()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="page loads to time (default 5)")
    parser.add_argument("--neighbours", type=int, default=200, help="entities around the hub (default 200)")
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()
    return run_reporting(lambda: run(args.runs, args.neighbours), args.out)


if __name__ == "__main__":
    sys.exit(main())
