"""Neo4j backend beyond the contract suite: the whole engine on Neo4j gives the same answers as the embedded store."""

from __future__ import annotations

from graphrag import Engine, Settings


def test_demo_answers_match_the_embedded_store(tmp_path, real_embedder, demo_engine, demo_corpus, demo_questions):
    settings = Settings.load(data_dir=tmp_path / "neo4j-vectors", graph_backend="neo4j")
    engine = Engine.from_settings(settings, embedder=real_embedder)
    try:
        engine.store.clear()
        engine.ingest([demo_corpus])
        assert engine.stats() == demo_engine.stats()
        differences = []
        for q in demo_questions:
            on_neo4j, embedded = engine.ask(q["question"]), demo_engine.ask(q["question"])
            if (on_neo4j.text, on_neo4j.abstained) != (embedded.text, embedded.abstained):
                differences.append((q["question"], on_neo4j.text, embedded.text))
        assert not differences
        # re-ingesting is a no-op on Neo4j too
        before = engine.stats()
        assert engine.ingest([demo_corpus]).documents_added == 0
        assert engine.stats() == before
    finally:
        engine.store.clear()
        engine.close()
