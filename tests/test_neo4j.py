"""Neo4j backend beyond the contract suite: the whole engine on Neo4j gives the same answers as the embedded store."""

from __future__ import annotations

import re

import pytest

from graphrag import Engine, Settings
from graphrag.graph_store import open_graph_store


def _fresh_neo4j(settings: Settings) -> None:
    """Empty the throwaway test database before an engine opens (opening reconciles vectors against it)."""
    store = open_graph_store(settings)
    try:
        store.clear()
    finally:
        store.close()


@pytest.mark.parametrize("vector_backend", ["faiss", "neo4j"])
def test_demo_answers_match_the_embedded_store(tmp_path, real_embedder, demo_engine, demo_corpus, demo_questions,
                                               vector_backend):
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
        before = engine.stats()
        assert engine.ingest([demo_corpus]).documents_added == 0  # re-ingesting is a no-op on Neo4j too
        assert engine.stats() == before
    finally:
        engine.store.clear()
        engine.close()


def test_browser_queries_run_on_the_demo_graph(tmp_path, real_embedder, demo_corpus):
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "scripts" / "neo4j" / "queries.cypher").read_text(encoding="utf-8")
    queries = [q.rstrip(";") for q in re.findall(r"^// name:.*?;", text, re.M | re.S)]
    assert len(queries) >= 4
    settings = Settings.load(data_dir=tmp_path / "vectors", graph_backend="neo4j")
    _fresh_neo4j(settings)
    engine = Engine.from_settings(settings, embedder=real_embedder)
    try:
        engine.ingest([demo_corpus])
        params = {"name": "Helix Dynamics", "a": "Anika Sorensen", "b": "Veltrix Systems"}
        for query in queries:
            rows = engine.store._run(query, **params)
            assert rows, query.splitlines()[0]
        fact = engine.store._run(queries[2], **params)[0]
        assert fact["relation"] == "FOUNDED" and "Anika Sorensen founded Veltrix Systems" in fact["sentence"]
    finally:
        engine.store.clear()
        engine.close()
