"""Data safety and bad input at the library level: triple sets that add up, uploads named by content, bounded JSON,
CSV rows reported like JSONL lines, the vector journal, large documents ingested in bounded steps, and answers
to questions that link to nothing in the graph."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrag import Engine, Settings
from graphrag.errors import InputError
from graphrag.graph_store.vector_index import FaissIndex
from graphrag.indexing.loaders import document_from_text, load_bytes
from graphrag.indexing.pipeline import IndexReport
from graphrag.json_text import MAX_JSON_DEPTH, loads_bounded
from graphrag.types import Triple
from tests.doubles import HashingEmbedder

NAMES = ["Ada Kim", "Rho Corp", "Zeta Labs", "Lyon", "Eli Park", "Nova Bank", "Oslo", "Mira Holt"]
RELATIONS = ["founded", "owns", "based in", "works for"]


def _relation_triples(engine: Engine, rules: bool = False) -> set[tuple[str, str, str]]:
    """(subject, type, object) of every stored relation; ``rules``: only those without a Wikidata property (the
    rules' and loaded triples')."""
    names = {e.id: e.name for e in engine.store.get_entities(sorted(engine.store.entity_ids()))}
    relations = [r for r in engine.store.all_relations() if not (rules and r.property_id)]
    return {(names[r.source_id], r.type, names[r.target_id]) for r in relations}


def _expected(triples) -> set[tuple[str, str, str]]:
    from graphrag.extraction.base import relation_type_from_words

    return {(t.subject, relation_type_from_words(t.relation), t.object) for t in triples}


triple_sets = st.lists(
    st.lists(
        st.tuples(st.sampled_from(NAMES), st.sampled_from(RELATIONS), st.sampled_from(NAMES)).filter(
            lambda t: t[0] != t[2]
        ),
        min_size=1,
        max_size=4,
    ),
    min_size=1,
    max_size=5,
)


@given(posts=triple_sets)
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_triple_posts_without_a_source_leave_exactly_the_union_of_their_triples(tmp_path_factory, posts):
    engine = Engine.from_settings(
        Settings.load(data_dir=tmp_path_factory.mktemp("triples")), embedder=HashingEmbedder()
    )
    try:
        posted = []
        for post in posts:
            triples = [Triple(s, r, o) for s, r, o in post]
            engine.add_triples(triples)
            posted.extend(triples)
        assert _relation_triples(engine) == _expected(posted)
    finally:
        engine.close()


def test_a_named_source_replaces_its_own_set_and_the_report_says_so(make_engine):
    engine = make_engine(fake_embedder=True)
    first = engine.add_triples([Triple("Alpha Test Co", "owns", "Beta Test Co")], source="registry")
    assert (first.documents_added, first.documents_replaced) == (1, 0)
    engine.add_triples([Triple("Ada Kim", "founded", "Rho Corp")])  # no source: kept beside the named set
    second = engine.add_triples([Triple("Gamma Co", "owns", "Delta Co")], source="registry")
    assert (second.documents_added, second.documents_replaced) == (0, 1)
    assert second.document_ids == first.document_ids
    assert _relation_triples(engine) == {("Gamma Co", "OWNS", "Delta Co"), ("Ada Kim", "FOUNDED", "Rho Corp")}
    again = engine.add_triples([Triple("Ada Kim", "founded", "Rho Corp")])
    assert again.documents_unchanged == 1 and again.documents_added == 0


def test_uploads_that_share_a_file_name_are_two_documents_and_the_same_bytes_change_nothing(make_engine):
    engine = make_engine(fake_embedder=True)
    first = engine.ingest_bytes(b"Ada Kim founded Rho Corp in Lyon.", "notes.txt")
    second = engine.ingest_bytes(b"Eli Park founded Zeta Labs in Oslo.", "notes.txt")
    assert first.documents_added == second.documents_added == 1 and second.documents_replaced == 0
    assert first.document_ids != second.document_ids
    assert engine.stats().documents == 2
    assert engine.ingest_bytes(b"Ada Kim founded Rho Corp in Lyon.", "renamed.txt").documents_unchanged == 1
    triples = b'{"subject": "Nova Bank", "relation": "based in", "object": "Oslo"}\n'
    engine.ingest_bytes(triples, "facts.jsonl")
    engine.ingest_bytes(b'{"subject": "Mira Holt", "relation": "works for", "object": "Nova Bank"}\n', "facts.jsonl")
    assert {("Nova Bank", "BASED_IN", "Oslo"), ("Mira Holt", "WORKS_FOR", "Nova Bank")} <= _relation_triples(engine)


def test_json_nesting_is_bounded_and_reported_not_raised():
    assert loads_bounded("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    for hostile in ("[" * 1000, "[" * 100_000 + "]" * 100_000, '{"a":' * 5000 + "1" + "}" * 5000):
        with pytest.raises(InputError, match="nested deeper"):
            loads_bounded(hostile, "body")
    assert loads_bounded('{"text": "[[[[' + "[" * 500 + '"}') == {"text": "[[[[" + "[" * 500}  # brackets in strings


def test_a_deeply_nested_jsonl_line_is_reported_with_its_number_and_the_rest_loads():
    lines = [
        json.dumps({"id": "a", "text": "Ada Kim founded Rho Corp."}),
        "[" * 5000,
        json.dumps({"subject": "Rho Corp", "relation": "based in", "object": "Lyon"}),
    ]
    loaded = load_bytes(
        "\n".join(lines).encode(), suffix=".jsonl", source="x.jsonl", title="x", tenant="default", max_bytes=10_000_000
    )
    assert [d.metadata.get("id") for d in loaded.documents] == ["a"] and len(loaded.triples) == 1
    assert len(loaded.line_errors) == 1 and loaded.line_errors[0][0] == 2 and "nested" in loaded.line_errors[0][1]


def test_a_csv_with_bad_rows_loads_its_good_rows_and_names_the_bad_ones():
    text = (
        "subject,relation,object\nAda Kim,founded,Rho Corp\n,founded,Zeta Labs\nRho Corp,based in,Lyon,extra\n"
        "Eli Park,founded,Zeta Labs\n"
    )
    loaded = load_bytes(text.encode(), suffix=".csv", source="t.csv", title="t", tenant="default", max_bytes=10**6)
    assert [(t.subject, t.object) for t in loaded.triples] == [("Ada Kim", "Rho Corp"), ("Eli Park", "Zeta Labs")]
    assert [line for line, _ in loaded.line_errors] == [3, 4]
    assert "subject" in loaded.line_errors[0][1] and "more fields" in loaded.line_errors[1][1]


def _vectors(count: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_the_vector_journal_keeps_every_write_on_disk_without_a_save(tmp_path):
    index = FaissIndex.open(tmp_path, "chunks", "e", 8)
    index.add(["a", "b", "c"], _vectors(3))
    index.remove(["b"])
    index.add(["d"], _vectors(1, seed=1))
    reopened = FaissIndex.open(tmp_path, "chunks", "e", 8)  # another process's view: no save happened
    assert reopened.ids() == {"a", "c", "d"}
    assert reopened.search(_vectors(1, seed=1), 1)[0][0].id == "d"
    index.save()
    assert (tmp_path / "chunks.journal").stat().st_size == 0
    assert FaissIndex.open(tmp_path, "chunks", "e", 8).ids() == {"a", "c", "d"}
    index.close()


def test_a_torn_journal_record_ends_the_replay_and_is_cut_before_the_next_write(tmp_path):
    index = FaissIndex.open(tmp_path, "chunks", "e", 8)
    index.add(["a"], _vectors(1))
    index.add(["b"], _vectors(1, seed=2))
    index.close()  # saves: the journal is empty now
    index = FaissIndex.open(tmp_path, "chunks", "e", 8)
    index.add(["c"], _vectors(1, seed=3))
    index._journal.close()
    journal = tmp_path / "chunks.journal"
    journal.write_bytes(journal.read_bytes()[:-7])  # a crash in the middle of appending "c"
    torn = FaissIndex.open(tmp_path, "chunks", "e", 8)
    assert torn.ids() == {"a", "b"}
    torn.add(["d"], _vectors(1, seed=4))
    assert FaissIndex.open(tmp_path, "chunks", "e", 8).ids() == {"a", "b", "d"}
    torn.close()


def _long_document(paragraphs: int) -> str:
    places = ("Lindmark", "Ostrava", "Calderon City", "Port Veyra")
    return "\n\n".join(
        f"Mira Holt{i} founded Northwind{i} Labs in {places[i % 4]}. Northwind{i} Labs acquired Keystone{i} Foundry. "
        f"Keystone{i} Foundry is headquartered in {places[(i + 1) % 4]}. Mira Holt{i} studied at Greyhaven University."
        for i in range(paragraphs)
    )


@pytest.mark.parametrize("extractor", ["rules", "encoder"])
def test_a_large_document_is_read_in_bounded_steps_and_stored_as_if_ingested_whole(tmp_path, real_embedder, extractor):
    """Chunks, entities and the rules' relations come out the same. The classifier's relations are read in windows
    of the step's chunks, so near a step's edges it sees other context than in the whole document: those are only
    required to be there."""
    text = _long_document(120)

    def engine_at(name: str) -> Engine:
        settings = Settings.load(data_dir=tmp_path / name, chunk_size=400, chunk_overlap=0, extractor=extractor)
        return Engine.from_settings(settings, embedder=real_embedder)

    whole, stepped = engine_at("whole"), engine_at("stepped")
    try:
        whole.ingest_text(text, title="Histories", doc_id="histories")
        doc = document_from_text(
            text, key="id:histories", title="Histories", source="api", tenant="default", max_bytes=10**7
        )
        report = IndexReport()
        steps = list(stepped.ingest_steps([doc], report, step_chunks=8))
        chunks = len(stepped.store.chunk_ids())
        assert chunks > 40 and len(steps) >= chunks // 8  # one chunk batch per step, not one whole document
        assert steps[-1] == 1 and report.documents_added == 1 and report.chunks == chunks
        assert stepped.store.chunk_ids() == whole.store.chunk_ids()
        assert stepped.store.entity_ids() == whole.store.entity_ids()
        assert _relation_triples(stepped, rules=True) == _relation_triples(whole, rules=True)
        if extractor == "rules":
            assert _relation_triples(stepped) == _relation_triples(whole)
        else:
            assert _relation_triples(stepped) - _relation_triples(stepped, rules=True)
        assert stepped.check_integrity() == {k: 0 for k in stepped.check_integrity()}
        again = IndexReport()
        assert list(stepped.ingest_steps([doc], again, step_chunks=8)) == [1] and again.documents_unchanged == 1
    finally:
        whole.close()
        stepped.close()


@pytest.mark.parametrize("question", ["Who founded the company?", "Who founded 龙腾科技?"])
def test_a_question_that_links_to_nothing_is_not_answered_from_another_subject(make_engine, question):
    engine = make_engine()
    engine.ingest_text("Ada Kim founded Rho Corp. Rho Corp is based in Lyon.")
    engine.ingest_text("Eli Park founded Nova Bank in 2001.")
    answer = engine.ask(question)
    assert answer.plan.linked == ()
    assert answer.abstained and answer.confidence < engine.settings.answer_threshold
    linked = engine.ask("Who founded Rho Corp?")  # the same evidence still answers a question about it
    assert linked.text == "Ada Kim" and not linked.abstained


def _cli(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "graphrag", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_reading_an_unknown_tenant_names_the_tenants_and_creates_nothing(tmp_path):
    import os

    env = {**os.environ, "GRAPHRAG_DATA_DIR": str(tmp_path)}
    for command in (["stats"], ["check"], ["ask", "Who founded Rho Corp?"], ["communities"]):
        result = _cli(env, "--tenant", "typo", *command)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "tenant 'typo' has no data" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "tenants" / "typo").exists()


def test_an_unreadable_pdf_is_one_clean_skip_line(tmp_path):
    import os

    fake = tmp_path / "fake.pdf"
    fake.write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    result = _cli({**os.environ, "GRAPHRAG_DATA_DIR": str(tmp_path / "store")}, "ingest", str(fake))
    assert result.returncode == 2  # nothing could be ingested
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if line.startswith("skipped ")
    ]
    assert "not a readable PDF" in result.stderr and "EOF marker" not in result.stderr
