"""Neo4j backend beyond the contract suite: the whole engine on Neo4j gives the same answers as the embedded store."""

from __future__ import annotations

import re

import pytest

from graphrag import Engine, Settings
from graphrag.graph_store import open_graph_store
from tests.scripts import REPO_ROOT


def _fresh_neo4j(settings: Settings) -> None:
    """Empty the throwaway test database before an engine opens (opening reconciles vectors against it)."""
    store = open_graph_store(settings)
    try:
        store.clear()
    finally:
        store.close()


@pytest.mark.parametrize("vector_backend", ["faiss", "neo4j"])
def test_demo_answers_match_the_embedded_store(
    tmp_path, real_embedder, demo_engine, demo_corpus, demo_questions, vector_backend
):
    settings = Settings.load(data_dir=tmp_path / "vectors", graph_backend="neo4j", vector_backend=vector_backend)
    _fresh_neo4j(settings)
    engine = Engine.from_settings(settings, embedder=real_embedder)
    try:
        engine.ingest([demo_corpus])
        assert engine.stats() == demo_engine.stats()
        assert len(engine.chunk_index) == engine.stats().chunks
        differences = []
        for q in demo_questions:
            on_neo4j, embedded = engine.ask(q["question"]), demo_engine.ask(q["question"])
            if (on_neo4j.text, on_neo4j.abstained) != (embedded.text, embedded.abstained):
                differences.append((q["question"], on_neo4j.text, embedded.text))
        assert not differences
        assert engine.communities() == demo_engine.communities()  # same graph, same communities and summaries
        overview = "What are the main themes across these documents?"
        assert engine.ask(overview).text == demo_engine.ask(overview).text
        before = engine.stats()
        assert engine.ingest([demo_corpus]).documents_added == 0  # re-ingesting is a no-op on Neo4j too
        assert engine.stats() == before
    finally:
        engine.store.clear()
        engine.close()


def test_browser_queries_run_on_the_demo_graph(tmp_path, real_embedder, demo_corpus):
    queries = _ready_queries()
    assert len(queries) >= 4
    settings = Settings.load(data_dir=tmp_path / "vectors", graph_backend="neo4j")
    _fresh_neo4j(settings)
    engine = Engine.from_settings(settings, embedder=real_embedder)
    try:
        engine.ingest([demo_corpus])
        engine.communities()  # as `graphrag ingest` does when it closes: stale communities are computed
        params = {"name": "Helix Dynamics", "a": "Anika Sorensen", "b": "Veltrix Systems"}
        for query in queries:
            rows = engine.store._run(query, **params)
            assert rows, query.splitlines()[0]
        fact = engine.store._run(queries[2], **params)[0]
        assert fact["relation"] == "FOUNDED" and "Anika Sorensen founded Veltrix Systems" in fact["sentence"]
    finally:
        engine.store.clear()
        engine.close()


def _ready_queries() -> list[str]:

    text = (REPO_ROOT / "scripts" / "neo4j" / "queries.cypher").read_text(encoding="utf-8")
    return [q.rstrip(";") for q in re.findall(r"^// name:.*?;", text, re.M | re.S)]


def test_neo4j_browser_in_headless_chromium_shows_the_graph(tmp_path, real_embedder, demo_corpus):
    """The real Neo4j Browser (served by the test server) in Debian's Chromium: connect over Bolt, run the ready
    neighbourhood query, see its nodes drawn, apply the repo's .grass style. Screenshot: test-artifacts/."""

    from tests.browser import neo4j_browser

    settings = Settings.load(data_dir=tmp_path / "vectors", graph_backend="neo4j")
    _fresh_neo4j(settings)
    engine = Engine.from_settings(settings, embedder=real_embedder)
    try:
        engine.ingest([demo_corpus])
        neighbourhood = " ".join(line for line in _ready_queries()[0].splitlines() if not line.startswith("//"))
        paths = engine.store._run(
            neighbourhood.replace("RETURN p", "RETURN [n IN nodes(p) | n.id] AS ids"), name="Helix Dynamics"
        )
        expected_nodes = len({node for row in paths for node in row["ids"]})
        assert expected_nodes >= 3
        grass = (REPO_ROOT / "scripts" / "neo4j" / "graphrag.grass").read_text()
        person_color = re.search(r"node\.Person \{[^}]*?\bcolor: (#[0-9A-Fa-f]{6})", grass).group(1)

        with neo4j_browser(settings.neo4j_http_port, settings.neo4j_bolt_port) as browser:
            browser.connect_without_auth()
            browser.run(":param name => 'Helix Dynamics'", done_text="Successfully set your parameters")
            browser.run(neighbourhood)
            browser.wait_for_graph(expected_nodes)
            assert len(browser.node_captions()) == expected_nodes
            assert any(caption.startswith("Helix Dyna") for caption in browser.node_captions())
            browser.run(":style " + grass)
            browser.page.wait_for_function(
                "c => [...document.querySelectorAll('svg g.node circle')].some(e => e.getAttribute('fill') === c)",
                arg=person_color,
            )
            shot = browser.screenshot("neo4j-browser.png", graph_frame=True)
        assert shot.stat().st_size > 10_000
    finally:
        engine.store.clear()
        engine.close()


def test_the_analyst_pages_browser_link_opens_the_same_subgraph(tmp_path, real_embedder, demo_corpus):
    """The link the analyst page offers on Neo4j (the Browser with the neighbourhood's Cypher in its editor) draws
    the entities the API's neighbourhood holds."""
    from urllib.parse import urlencode

    from graphrag.graph_store.neo4j_browser import browser_url, neighbourhood_cypher
    from tests.browser import neo4j_browser

    settings = Settings.load(data_dir=tmp_path / "vectors", graph_backend="neo4j")
    _fresh_neo4j(settings)
    engine = Engine.from_settings(settings, embedder=real_embedder)
    try:
        engine.ingest([demo_corpus])
        helix = next(e for e in engine.store.find_entities("Helix Dynamics", 5) if e.name == "Helix Dynamics")
        _, entities = engine.neighbors(helix.id, 1, 100)
        assert len(entities) >= 3
        cypher = neighbourhood_cypher(helix.id, 1, 100)
        link = browser_url(settings) + "?" + urlencode({"cmd": "edit", "arg": cypher})
        with neo4j_browser(settings.neo4j_http_port, settings.neo4j_bolt_port) as browser:
            browser.connect_without_auth(link)
            browser.page.wait_for_function(
                "() => document.querySelector('[data-testid=activeEditor]').innerText.includes('MATCH')"
            )
            assert browser.editor_text() == " ".join(cypher.split())
            browser.page.get_by_test_id("editor-Run").click()
            browser.wait_for_graph(len(entities))
            assert len(browser.node_captions()) == len(entities)
            assert any(caption.startswith("Helix Dyna") for caption in browser.node_captions())
            browser.screenshot("neo4j-browser-from-analyst-page.png", graph_frame=True)
    finally:
        engine.store.clear()
        engine.close()


def test_outage_gives_fast_503_then_recovers_and_interrupted_ingest_converges(tmp_path, demo_corpus):
    """Stops and restarts the test server itself, so it runs last in this module."""
    import json
    import os
    import subprocess
    import sys
    import time

    import httpx

    from graphrag.graph_store.neo4j_server import Neo4jServer
    from tests.servers import free_port, wait_until_healthy

    settings = Settings.load(data_dir=tmp_path / "vectors", graph_backend="neo4j")
    server = Neo4jServer(settings)
    _fresh_neo4j(settings)
    env = {
        **os.environ,
        "GRAPHRAG_DATA_DIR": str(tmp_path / "vectors"),
        "GRAPHRAG_GRAPH_BACKEND": "neo4j",
        "GRAPHRAG_INGEST_BATCH_SIZE": "1",
        # bf16 scores move slightly with the windows that share a batch, so a relation at its threshold could fall
        # either way between this ingest's batches of one and the uninterrupted one's: fp32 for both
        "GRAPHRAG_PRECISION": "fp32",
    }  # one transaction per document: plenty left to interrupt
    cli = [sys.executable, "-m", "graphrag"]

    # 1. an ingest interrupted by a Neo4j restart fails cleanly; run again, it ends with the uninterrupted counts
    ingest = subprocess.Popen(
        [*cli, "ingest", str(demo_corpus), "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    probe = open_graph_store(settings)
    deadline = time.monotonic() + 120
    while probe.stats().documents < 3 and ingest.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    probe.close()
    server.stop()
    try:
        stdout, stderr = ingest.communicate(timeout=120)
    finally:
        server.start()  # the tests after this one need the server, whatever happened here
    assert ingest.returncode != 0, f"the ingest finished before Neo4j stopped: {stdout[-500:]}"
    assert "Traceback" not in stderr and "store_unavailable" in stderr, stderr[-1000:]
    rerun = subprocess.run(
        [*cli, "ingest", str(demo_corpus), "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr
    counts = json.loads(rerun.stdout)["stats"]
    with Engine.from_settings(Settings.load(data_dir=tmp_path / "uninterrupted", precision="fp32")) as uninterrupted:
        uninterrupted.ingest([demo_corpus])
        expected = uninterrupted.stats()
    assert counts == {
        "documents": expected.documents,
        "chunks": expected.chunks,
        "entities": expected.entities,
        "relations": expected.relations,
        "mentions": expected.mentions,
    }

    # 2. the API answers 503 fast while Neo4j is down, and recovers on its own when it is back
    port = free_port()
    api = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    question = {"question": "Who founded Veltrix Systems?"}
    try:
        wait_until_healthy(client, api)
        assert client.post("/v1/query", json=question).json()["answer"] == "Anika Sorensen"
        server.stop()
        started = time.monotonic()
        down = client.post("/v1/query", json=question)
        elapsed = time.monotonic() - started
        assert down.status_code == 503 and down.json()["error"]["code"] == "store_unavailable"
        assert elapsed <= 2.0, f"503 took {elapsed:.2f} s"
        server.start()
        deadline = time.monotonic() + 60
        while (up := client.post("/v1/query", json=question)).status_code != 200:
            assert time.monotonic() < deadline, up.text
            time.sleep(0.5)
        assert up.json()["answer"] == "Anika Sorensen"
    finally:
        client.close()
        api.terminate()
        api.wait(timeout=30)
        if not server.status().running:
            server.start()
        _fresh_neo4j(settings)


def test_batch_extraction_writes_straight_into_neo4j(tmp_path, demo_corpus):
    import json
    import os
    import subprocess
    import sys

    settings = Settings.load(data_dir=tmp_path, graph_backend="neo4j")
    _fresh_neo4j(settings)
    env = {**os.environ, "GRAPHRAG_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "graphrag",
            "extract",
            str(demo_corpus),
            "--store",
            "neo4j",
            "--out",
            str(tmp_path / "er.jsonl"),
            "--workers",
            "2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    store = open_graph_store(settings)
    try:
        stats = store.stats()
        records = (tmp_path / "er.jsonl").read_text(encoding="utf-8").splitlines()
        assert stats.documents == len(records) >= 30
        assert stats.relations == len({r["id"] for line in records for r in json.loads(line)["relations"]})
        helix = store.find_entities("Helix Dynamics")[0]
        assert {"ACQUIRED", "FOUNDED"} <= {r.type for r in store.neighbors([helix.id], 1)}
    finally:
        store.clear()
        store.close()


def test_relationship_questions_over_triples_match_the_embedded_store(tmp_path, real_embedder):
    """Relation chains read the graph hop by hop through the store: both backends give the same answers and paths."""
    from graphrag.types import Triple
    from tests.retrieval.test_relation_chains import CONJUNCTION_FACTS, FACTS

    questions = [
        "Who are the parents of Ada Quint?",
        "Where was Ada Quint's father born?",
        "What does Ada Quint's spouse do for a living?",
        "What is the canonical version of Rome?",
        "Who is the employer of Ada Quint?",
        "Which film directed by Mara Quell stars Owen Pike?",
        "Which player of Atlas Verde is from Mexico?",
    ]
    answers = {}
    for backend in ("sqlite", "neo4j"):
        settings = Settings.load(data_dir=tmp_path / backend, graph_backend=backend)
        if backend == "neo4j":
            _fresh_neo4j(settings)
        with Engine.from_settings(settings, embedder=real_embedder) as engine:
            engine.add_triples([Triple(*fact) for fact in FACTS + CONJUNCTION_FACTS], source="family.kb")
            answers[backend] = [
                (a.text, a.abstained, a.answers, [p.text for p in a.paths], [c.document_title for c in a.citations])
                for a in map(engine.ask, questions)
            ]
    assert answers["neo4j"] == answers["sqlite"]
    assert [abstained for _, abstained, *_ in answers["sqlite"]] == [False] * 4 + [True] + [False] * 2


def test_the_server_installer_finds_its_maven_project():
    """The Maven project that fetches Neo4j's jars must be where the launcher looks: a cached jar folder hides a
    wrong path until a machine starts without one."""
    from graphrag.graph_store import neo4j_server

    assert neo4j_server._POM.is_file() and neo4j_server._POM.read_text(encoding="utf-8").lstrip().startswith("<")
