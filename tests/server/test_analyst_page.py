"""The analyst page at /, in Debian's headless chromium through Playwright, against a real uvicorn on 127.0.0.1 that
requires an API key, over the demo corpus (real models) plus a document full of markup.

Each step saves a screenshot in a temporary folder (printed with the test's output); assertions read page content.
The accessibility check runs axe-core, installed from npm by scripts/test.sh (never committed)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
import pytest

from graphrag import Engine, Settings
from graphrag.ids import DEFAULT_TENANT
from server.api_keys import ApiKeyStore
from tests.browser import headless_chromium
from tests.servers import free_port

QUESTION = "Who founded the company that acquired Veltrix Systems?"
FOUNDERS = {"Marta Kowalski", "Tomas Reyes"}
HOSTILE_TITLE = '<img src=x onerror="window.__pwned=1">Quarterly <b>notes</b>'
HOSTILE_TEXT = (
    "Zorvath Industries <script>window.__pwned = 1</script> was founded by Elena Marsh in Calder City. "
    '<img src=x onerror="window.__pwned=1"> Calder City hosts the <a href="javascript:window.__pwned=1" '
    'onmouseover="window.__pwned=1">Zorvath</a> plant.'
)
# Records whether the progress line was ever shown (the demo store answers in about 100 ms, too fast to catch it).
WATCH_PROGRESS = """() => {
  const progress = document.getElementById('ask-progress');
  window.sawProgress = false;
  new MutationObserver(() => { if (!progress.hidden) window.sawProgress = true; })
    .observe(progress, {attributes: true});
}"""


def axe_script() -> Path:
    """axe-core's script, installed from npm at test time; missing is a failure with instructions, never a skip."""
    cache = Path(os.environ.get("GRAPHRAG_ENV_CACHE", Path.home() / ".cache" / "graphrag-kgqa"))
    default = cache / "npm" / "node_modules" / "axe-core" / "axe.min.js"
    path = Path(os.environ.get("GRAPHRAG_AXE_JS", default))
    if not path.is_file():
        raise AssertionError(
            f"axe-core is not installed at {path}: scripts/test.sh installs it (npm install axe-core), "
            "or point GRAPHRAG_AXE_JS at axe.min.js"
        )
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory, real_embedder, demo_corpus):
    """A server that needs a key, over the demo corpus and the hostile document; yields (base URL, key, doc id)."""
    import uvicorn

    from server.app import create_app

    settings = Settings.load(data_dir=tmp_path_factory.mktemp("page-store"))
    _, key = ApiKeyStore(settings.keys_path).create(DEFAULT_TENANT, "page test")
    engine = Engine.from_settings(settings, embedder=real_embedder)
    engine.ingest([demo_corpus])
    hostile = engine.ingest_text(HOSTILE_TEXT, HOSTILE_TITLE, "hostile-doc")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine), "127.0.0.1", port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the page server did not start"
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}", key, hostile.document_ids[0]
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        engine.close()


@pytest.fixture(scope="module")
def chromium():
    with headless_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("page-screenshots")
    print(f"analyst page screenshots: {folder}")
    return folder


@pytest.fixture
def page(chromium, site):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    # Console errors include the policy's refusals ("Refused to ..."); failed requests (a 401 the test provokes)
    # are logged there too and are expected.
    tab.on(
        "console",
        lambda message: (
            message.type == "error"
            and not message.text.startswith("Failed to load resource")
            and errors.append(message.text)
        ),
    )
    tab.goto(site[0] + "/")
    tab.wait_for_selector("html[data-ready=true]")
    yield tab
    context.close()
    assert not errors, f"script errors or policy refusals on the page: {errors}"


def enter_key(page, key: str) -> None:
    page.fill("#key-input", key)
    page.click("#key-form button[type=submit]")


def signed_in(page, key: str) -> None:
    enter_key(page, key)
    page.wait_for_function("() => document.getElementById('store-summary').textContent.includes('documents')")


def answered(page) -> None:
    """Wait until the answer is shown whole: its text, citations and the drawing of its paths."""
    page.wait_for_selector("#answer[aria-busy=false]")


def shot(page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


# ---- the server side of the page --------------------------------------------------------------------------------


def test_page_is_served_with_a_policy_that_forbids_inline_script(site):
    base, _, _ = site
    with httpx.Client(base_url=base) as client:
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'" and directives["default-src"] == "'none'"
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert '<script type="module" src="/page/assets/app.js"></script>' in page.text
        assert page.text.count("<script") == 1  # no inline script in the shell
        script = client.get("/page/assets/app.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert script.headers["content-security-policy"] == policy
        config = client.get("/page/config").json()
        assert config["keys_required"] is True and config["neo4j_browser"] is None


def test_layout_places_every_node_and_keeps_fixed_ones(site):
    base, key, _ = site
    nodes = ["hub", *[f"n{i}" for i in range(200)]]
    edges = [{"source": "hub", "target": n} for n in nodes[1:]]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        first = client.post("/v1/layout", json={"nodes": nodes, "edges": edges})
        assert first.status_code == 200, first.text
        positions = first.json()["positions"]
        assert set(positions) == set(nodes)
        assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in positions.values())
        assert len({tuple(p) for p in positions.values()}) == len(nodes)  # no two nodes on one spot
        fixed = {n: positions[n] for n in nodes}
        grown = client.post(
            "/v1/layout",
            json={"nodes": [*nodes, "new"], "edges": [*edges, {"source": "n7", "target": "new"}], "fixed": fixed},
        ).json()["positions"]
        assert all(grown[n] == positions[n] for n in nodes) and grown["new"] != grown["n7"]
        dangling = client.post("/v1/layout", json={"nodes": ["a"], "edges": [{"source": "a", "target": "b"}]})
        assert dangling.status_code in (400, 422) and "'b'" in dangling.json()["error"]["message"]
        too_many = client.post("/v1/layout", json={"nodes": [f"n{i}" for i in range(2001)]})
        assert too_many.status_code in (400, 422)
        for position in ("[NaN, 0.5]", "[Infinity, 0.5]", "[1.5, 0.5]"):  # Python's JSON reader takes NaN
            outside = client.post(
                "/v1/layout",
                content='{"nodes": ["a", "b"], "fixed": {"a": ' + position + "}}",
                headers={"Content-Type": "application/json"},
            )
            assert outside.status_code == 422 and "fixed.a.0" in outside.json()["error"]["message"], position
    assert httpx.post(base + "/v1/layout", json={"nodes": ["a"]}).status_code == 401


# ---- in the browser ---------------------------------------------------------------------------------------------


def test_a_wrong_key_is_refused_with_a_clear_message(page, site, shots):
    assert page.is_visible("#key-panel")
    enter_key(page, "grk_wrong_key")
    notice = page.locator("#notice")
    notice.wait_for()
    assert "unknown or revoked" in notice.inner_text() and "Enter a valid API key" in notice.inner_text()
    shot(page, shots, "1-wrong-key")
    assert page.evaluate("sessionStorage.getItem('graphrag.apiKey')") == "grk_wrong_key"
    assert "grk_wrong_key" not in page.url
    signed_in(page, site[1])
    assert page.is_hidden("#key-panel") and page.is_hidden("#notice")


def test_a_refusal_for_too_many_requests_is_shown_with_its_wait(page, site):
    # The server's own 429 (its rate limit) is stood in for on this one route, so the test need not flood it.
    envelope = '{"error": {"code": "too_many_requests", "message": "rate limit exceeded", "details": null}}'
    page.route(
        "**/v1/query",
        lambda route: route.fulfill(
            status=429, body=envelope, content_type="application/json", headers={"Retry-After": "17"}
        ),
    )
    signed_in(page, site[1])
    page.fill("#question", QUESTION)
    page.click("#ask-button")
    page.locator("#notice").wait_for()
    assert page.inner_text("#notice") == "Too many requests: rate limit exceeded. Try again in 17 s."
    assert page.is_hidden("#answer") and page.is_enabled("#ask-button")


def test_ask_shows_the_answer_a_citation_and_the_path(page, site, shots):
    signed_in(page, site[1])
    page.fill("#question", QUESTION)
    page.evaluate(WATCH_PROGRESS)
    page.click("#ask-button")
    answered(page)
    assert page.evaluate("window.sawProgress") is True  # progress showed while the answer was written
    assert page.is_hidden("#ask-progress")
    answer = page.inner_text("#answer-text")
    assert any(name in answer for name in FOUNDERS), answer
    assert page.inner_text("#answer-confidence").startswith("Confidence")
    assert page.locator("#path-list li").count() >= 1 and "Veltrix Systems" in page.inner_text("#path-list")
    drawn = page.locator("#answer-graph g.node")
    assert drawn.count() >= 2
    assert "Veltrix Systems" in page.locator("#answer-graph svg").text_content()
    assert page.locator("#answer-graph .edge-label").count() >= 1  # relations drawn with their labels
    shot(page, shots, "2-answer")
    cited = page.locator("#citations li").first
    snippet = " ".join(cited.locator("blockquote").inner_text().split())
    cited.locator("button").click()
    page.locator("#document-view").wait_for(state="visible")
    highlighted = " ".join(page.inner_text("#document-text mark").split())
    assert highlighted and highlighted == snippet
    shot(page, shots, "3-citation")
    page.keyboard.press("Escape")
    page.locator("#document-view").wait_for(state="hidden")
    assert page.locator("#plan").get_attribute("open") is None  # plan and timings folded away
    page.click("#plan summary")
    assert '"timings_ms"' in page.inner_text("#plan-text")


def test_an_unanswerable_question_shows_i_dont_know(page, site):
    signed_in(page, site[1])
    page.fill("#question", "What colour is the third moon of the planet Quorvex?")
    page.click("#ask-button")
    answered(page)
    assert page.inner_text("#answer-text") == "I don't know"
    assert page.inner_text("#answer-confidence").startswith("The evidence found does not answer this question")


def test_explore_expands_a_neighbour_and_finds_paths(page, site, shots):
    signed_in(page, site[1])
    page.click("button[data-panel=panel-explore]")
    page.fill("#entity-query", "Veltrix")
    page.click("#entity-form button[type=submit]")
    page.locator("#entity-results li button").first.click()
    page.wait_for_function("() => document.querySelectorAll('#explore-graph g.node').length >= 2")
    first = page.locator("#explore-graph g.node").count()
    relations = page.locator("#relation-list li").count()
    assert relations >= 1 and "Veltrix Systems" in page.inner_text("#relation-list")
    neighbour = page.locator("#explore-graph g.node:not(.highlighted)").first
    name = neighbour.text_content()
    neighbour.click()
    page.wait_for_function(
        "n => document.getElementById('explore-status').textContent.startsWith(n + ':')", arg=name.replace("…", "")
    )
    assert page.locator("#explore-graph g.node").count() > first
    assert page.locator("#relation-list li").count() > relations
    shot(page, shots, "4-explore")
    page.fill("#path-source", "Veltrix Systems")
    page.fill("#path-target", "Marta Kowalski")
    page.click("#paths-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('explore-status').textContent.includes('path(s) from')")
    assert page.locator("#explore-graph g.node.highlighted").count() == 2
    assert page.is_hidden("#neo4j-link")  # the embedded store has no Neo4j Browser to link to
    shot(page, shots, "5-paths")


def test_upload_runs_a_job_to_the_end_and_reports_bad_lines(page, site, shots, tmp_path):
    signed_in(page, site[1])
    page.click("button[data-panel=panel-ingest]")
    good = tmp_path / "harbour.txt"
    good.write_text("Nadia Quell founded Brightwater Ferries in Port Alder. Port Alder lies on the Sorrel coast.\n")
    mixed = tmp_path / "notes.jsonl"
    mixed.write_text('{"title": "Good line", "text": "Osric Vale joined Brightwater Ferries."}\n{not json\n')
    page.set_input_files("#upload-files", [str(good), str(mixed)])
    page.click("#upload-form button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#jobs li.job[data-status]').length == 2", timeout=180_000)
    jobs = page.locator("#jobs li.job")
    texts = {jobs.nth(i).locator("strong").inner_text(): jobs.nth(i) for i in range(2)}
    assert all(job.get_attribute("data-status") == "succeeded" for job in texts.values())
    assert "Added 1" in texts["harbour.txt"].inner_text()
    report = texts["notes.jsonl"].inner_text()
    assert "Added 1" in report and "line 2" in report
    assert all(job.locator("progress").evaluate("p => p.value === p.max") for job in texts.values())
    shot(page, shots, "6-upload")
    page.click("button[data-panel=panel-ask]")
    page.fill("#question", "Who founded Brightwater Ferries?")
    page.click("#ask-button")
    answered(page)
    assert "Nadia Quell" in page.inner_text("#answer-text")


def test_the_page_works_with_the_keyboard_alone(page, site):
    def tab_to(test: str, limit: int = 80) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(f"() => {test}"):
                return
        raise AssertionError(f"Tab never reached an element where {test}")

    tab_to("document.activeElement.id === 'key-input'")
    page.keyboard.type(site[1])
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('store-summary').textContent.includes('documents')")
    tab_to("document.activeElement.id === 'question'")
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    answered(page)
    tab_to("document.activeElement.closest('#citations') !== null")
    page.keyboard.press("Enter")
    page.locator("#document-view").wait_for(state="visible")
    page.keyboard.press("Escape")
    tab_to("document.activeElement.matches('#answer-graph g.node')")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#explore-graph g.node').length >= 2")
    assert page.is_visible("#panel-explore")


def test_stored_markup_is_shown_as_text_and_never_runs(page, site, shots):
    signed_in(page, site[1])
    page.click("button[data-panel=panel-explore]")
    page.fill("#document-id", site[2])
    page.click("#document-form button[type=submit]")
    page.locator("#document-view").wait_for(state="visible")
    assert page.inner_text("#document-title") == HOSTILE_TITLE
    assert "<script>window.__pwned = 1</script>" in page.inner_text("#document-text")
    page.keyboard.press("Escape")
    page.click("button[data-panel=panel-ask]")
    page.fill("#question", "Who founded Zorvath Industries?")
    page.click("#ask-button")
    answered(page)
    page.hover("#citations")
    shot(page, shots, "7-markup-as-text")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img, script:not([src]), a[href^='javascript']").count() == 0


def test_axe_finds_no_accessibility_violations(chromium, site, shots):
    # axe is added to the page by Playwright; the page's own policy would refuse that script, so this context
    # bypasses it (the other tests keep it).
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    script = axe_script()
    try:
        page.goto(site[0] + "/")
        page.wait_for_selector("html[data-ready=true]")
        found = {"key form": _axe(page, script)}
        signed_in(page, site[1])
        page.fill("#question", QUESTION)
        page.click("#ask-button")
        answered(page)
        page.click("#plan summary")
        found["answer"] = _axe(page, script)
        page.locator("#answer-graph g.node").first.click()
        page.wait_for_function("() => document.querySelectorAll('#explore-graph g.node').length >= 2")
        found["explore"] = _axe(page, script)
        page.click("button[data-panel=panel-ingest]")
        found["ingest"] = _axe(page, script)
        shot(page, shots, "8-accessibility")
    finally:
        context.close()
    problems = {state: rules for state, rules in found.items() if rules}
    assert not problems, problems


def _axe(page, script: Path) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(script))
    violations = page.evaluate("async () => (await axe.run(document)).violations")
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}" for v in violations]
