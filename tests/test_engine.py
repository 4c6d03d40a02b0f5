"""Engine behaviour: idempotent ingest, replacement, deletion, crash recovery, bad input, limits."""

from __future__ import annotations

import json
import shutil

import pytest

from graphrag import Engine, Settings
from graphrag.errors import IndexMismatchError, LimitExceededError, NotFoundError
from graphrag.graph_store.vector_index import FaissIndex
from graphrag.types import Triple
from tests.doubles import HashingEmbedder


def test_ingest_twice_gives_identical_stats(make_engine, demo_corpus):
    engine = make_engine(fake_embedder=True)
    first = engine.ingest([demo_corpus])
    stats = engine.stats()
    vectors = (len(engine.chunk_index), len(engine.entity_index))
    second = engine.ingest([demo_corpus])
    assert first.documents_added == second.documents_unchanged >= 30
    assert second.documents_added == 0 and second.chunks == 0
    assert engine.stats() == stats
    assert (len(engine.chunk_index), len(engine.entity_index)) == vectors == (stats.chunks, stats.entities)


def test_changed_document_replaces_its_old_contribution(make_engine, tmp_path):
    engine = make_engine(fake_embedder=True)
    path = tmp_path / "doc.txt"
    path.write_text("Ada Byron founded Loom Works in 1840. Loom Works acquired Weave Systems.", encoding="utf-8")
    engine.ingest([path])
    assert any(
        r.type == "ACQUIRED"
        for r in engine.store.neighbors([e.id for e in engine.store.find_entities("Loom Works")], 1)
    )
    path.write_text("Ada Byron founded Loom Works in 1840.", encoding="utf-8")
    report = engine.ingest([path])
    assert report.documents_replaced == 1
    assert engine.stats().documents == 1
    assert not engine.store.find_entities("Weave Systems")
    assert len(engine.chunk_index) == engine.stats().chunks


def test_delete_document_removes_only_what_it_alone_supported(make_engine, tmp_path):
    engine = make_engine(fake_embedder=True)
    (tmp_path / "a.txt").write_text(
        "Ada Byron founded Loom Works. Loom Works acquired Weave Systems.", encoding="utf-8"
    )
    (tmp_path / "b.txt").write_text(
        "Ada Byron founded Loom Works. Carl Weber works for Weave Systems.", encoding="utf-8"
    )
    report = engine.ingest([tmp_path])
    before = engine.stats()
    doc_a = next(d for d in engine.store.list_documents() if d.title == "a")
    engine.delete_document(doc_a.id)
    after = engine.stats()
    assert (after.documents, after.chunks) == (before.documents - 1, before.chunks - 1)
    assert engine.store.find_entities("Ada Byron") and engine.store.find_entities("Weave Systems")
    types = {r.type for r in engine.store.neighbors([engine.store.find_entities("Loom Works")[0].id], 2)}
    assert "ACQUIRED" not in types and "FOUNDED" in types
    assert len(engine.chunk_index) == after.chunks and len(engine.entity_index) == after.entities
    with pytest.raises(NotFoundError):
        engine.delete_document(doc_a.id)
    assert len(report.document_ids) == 2


def test_vector_index_is_rebuilt_after_a_crash(make_engine, demo_corpus, tmp_path):
    engine = make_engine(fake_embedder=True)
    engine.ingest([demo_corpus])
    stats = engine.stats()
    engine.close()
    # simulate a crash after the SQLite commit but before the vectors were saved
    shutil.rmtree(tmp_path / "store" / "vectors")
    reopened = Engine.from_settings(Settings.load(data_dir=tmp_path / "store"), embedder=HashingEmbedder())
    try:
        assert (len(reopened.chunk_index), len(reopened.entity_index)) == (stats.chunks, stats.entities)
        assert reopened.stats() == stats
    finally:
        reopened.close()


def test_index_built_by_another_embedder_is_refused(tmp_path):
    index = FaissIndex(tmp_path, "chunks", "hashing-64", 64)
    index.add(["a"], HashingEmbedder(64).embed(["hello"]))
    index.save()
    with pytest.raises(IndexMismatchError, match="hashing-64"):
        FaissIndex.open(tmp_path, "chunks", "all-MiniLM-L6-v2@256", 384)


def test_chunks_are_embedded_with_their_title_and_the_index_remembers_it(make_engine):
    engine = make_engine(fake_embedder=True)
    engine.ingest_text("Ada founded Loom Corp in Lindmark.", title="Loom Corp history")
    chunk_id = next(iter(engine.chunk_index.ids()))
    with_title = HashingEmbedder().embed(["Loom Corp history. Ada founded Loom Corp in Lindmark."])
    assert engine.chunk_index.search(with_title, 1)[0][0].id == chunk_id
    assert engine.chunk_index.search(with_title, 1)[0][0].score == pytest.approx(1.0, abs=1e-5)
    # An index embedded another way (without titles) is refused by name rather than read with wrong hits.
    assert engine.chunk_index.embedder_name.endswith("+titles")
    engine.close()


def test_bad_files_are_reported_and_nothing_stored_is_lost(make_engine, tmp_path, demo_corpus):
    engine = make_engine(fake_embedder=True, max_document_bytes=2_000_000)
    engine.ingest([demo_corpus])
    before = engine.stats()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (bad / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (bad / "empty.md").write_text("", encoding="utf-8")
    with (bad / "huge.txt").open("wb") as handle:  # 50 MB, over the 2 MB limit
        handle.write(b"All work and no play. " * (50_000_000 // 22))
    (bad / "mixed.jsonl").write_text(
        json.dumps({"id": "ok-1", "text": "Nadia Petrova founded Quartz Mills."})
        + "\n{broken\n"
        + json.dumps({"text": 42})
        + "\n",
        encoding="utf-8",
    )
    report = engine.ingest([bad])
    problems = {(p.source.rsplit("/", 1)[-1], p.line): p.code for p in report.problems}
    assert problems == {
        ("binary.txt", None): "unsupported_format",
        ("latin1.txt", None): "invalid_encoding",
        ("empty.md", None): "empty_document",
        ("huge.txt", None): "document_too_large",
        ("mixed.jsonl", 2): "invalid_record",
        ("mixed.jsonl", 3): "invalid_record",
    }
    assert report.documents_added == 1
    after = engine.stats()
    assert after.documents == before.documents + 1 and after.relations >= before.relations


def test_structured_triples_load_with_provenance(make_engine, tmp_path):
    engine = make_engine(fake_embedder=True)
    path = tmp_path / "facts.jsonl"
    path.write_text(
        json.dumps({"subject": "Ada", "relation": "founded", "object": "Loom", "subject_type": "Person"})
        + "\n"
        + json.dumps({"subject": "Loom", "relation": "acquired by", "object": "Weave Inc", "object_type": "company"})
        + "\n",
        encoding="utf-8",
    )
    report = engine.ingest([path])
    assert report.triples == 2
    relations = engine.store.neighbors([engine.store.find_entities("Ada")[0].id], 2)
    assert {(r.type, r.provenance) for r in relations} == {("FOUNDED", "structured"), ("ACQUIRED_BY", "structured")}
    assert engine.store.find_entities("Weave Inc")[0].type == "Organization"
    again = engine.ingest([path])
    assert again.documents_unchanged == 1 and engine.stats().relations == 2


def test_entities_only_triples_name_are_linked_by_name_and_get_no_vectors(make_engine, tmp_path):
    """Embedding every name of a big KB was most of its load time; the linker finds them by name instead. An entity
    a text mentions gets its vector, and the integrity check and the reconcile at open agree with that."""
    engine = make_engine(fake_embedder=True)
    engine.add_triples([Triple("Ada Quint", "founded", "Loom Works"), Triple("Loom Works", "based in", "Lindmark")])
    assert len(engine.entity_index) == 0 and not any(engine.check_integrity().values())
    assert engine.ask("Who founded Loom Works?").text == "Ada Quint"
    engine.ingest_text("Ada Quint lives in Lindmark.", title="Ada")
    mentioned = engine.store.mentioned_entity_ids()
    assert mentioned and engine.entity_index.ids() >= mentioned and not any(engine.check_integrity().values())
    engine.close()
    reopened = Engine.from_settings(Settings.load(data_dir=tmp_path / "store"), embedder=HashingEmbedder())
    try:
        assert reopened.entity_index.ids() >= mentioned and not any(reopened.check_integrity().values())
        assert len(reopened.entity_index) < reopened.stats().entities  # Loom Works: named only by triples
    finally:
        reopened.close()


def test_question_limits(make_engine):
    engine = make_engine(fake_embedder=True)
    with pytest.raises(LimitExceededError, match="characters"):
        engine.ask("why " * 25_000)  # 100 KB
    with pytest.raises(LimitExceededError):
        engine.ask("   ")
    with pytest.raises(LimitExceededError, match="max_hops"):
        engine.ask("Who?", max_hops=5)
    with pytest.raises(LimitExceededError, match="top_k"):
        engine.ask("Who?", top_k=0)


def test_empty_store_answers_i_dont_know(make_engine):
    answer = make_engine(fake_embedder=True).ask("Who founded Loom Works?")
    assert answer.abstained and answer.text == "I don't know."


def test_embedding_matches_sentence_transformers_encode(real_embedder):
    """The embedder runs the model's modules itself, texts sorted by token count and passes sized in tokens (see
    SentenceTransformerEmbedder._encode_by_length): every vector must be the one encode() gives, for questions (a
    short, a long past the token limit, an odd one) and for a mixed batch of names and passages. encode() runs in the
    embedder's own arithmetic (bf16 where precision=auto picks it, fp32 for a few texts): bf16 and fp32 agree only to
    about 0.99998."""
    import numpy as np
    import torch

    from graphrag.lm.embedding import _FP32_TEXTS

    model = real_embedder._model

    def encode(texts: list[str], **options) -> np.ndarray:
        bf16 = real_embedder.bf16 and len(texts) > _FP32_TEXTS
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, **options)

    for question in ("Who founded Veltrix Systems?", "x", "Where is Helix Dynamics headquartered? " * 40):
        fast = real_embedder.embed([question], query=True)
        reference = encode([question])
        assert fast.shape == (1, real_embedder.dim)
        assert float((fast * reference).sum()) > 0.99999
        assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    texts = [f"Entity {i}" for i in range(300)] + [
        f"Passage {i} says that company {i} was founded in {1900 + i} by someone. " * (1 + i % 7) for i in range(200)
    ]
    vectors = real_embedder.embed(texts)
    reference = encode(texts, batch_size=32)
    assert vectors.shape == (len(texts), real_embedder.dim)
    assert float((vectors * reference).sum(axis=1).min()) > 0.99999


def test_communities_are_recomputed_when_read_after_changes_not_on_every_write(make_engine):
    engine = make_engine(fake_embedder=True)
    texts = [
        "Ada Marsh founded Loom Corp in Lindmark. Loom Corp acquired Weave Corp.",
        "Bruno Vale founded Kestrel Labs in Ostrava. Kestrel Labs acquired Harrow Mills.",
    ]
    runs = []
    original = engine.refresh_communities
    engine.refresh_communities = lambda: runs.append(1) or original()
    ids = [engine.ingest_text(text, title=f"t{i}").document_ids[0] for i, text in enumerate(texts)]
    assert runs == []  # two writes, no community detection yet
    names = {name for c in engine.communities() for name in c.title.split(", ")}
    assert runs == [1] and any("Kestrel" in n for n in names) and any("Loom" in n for n in names)
    engine.communities()
    assert runs == [1]  # nothing changed since: the stored ones are served
    engine.delete_document(ids[1])
    after = " ".join(c.title + c.summary for c in engine.communities())
    assert runs == [1, 1] and "Kestrel" not in after


@pytest.mark.parametrize("extractor", ["encoder", "rules"])
def test_ingest_with_an_extraction_worker_matches_in_process_ingest(
    tmp_path, real_embedder, demo_corpus, extractor, monkeypatch
):
    """The pooled path (spaCy in a worker process, each batch's chunks embedded while it extracts, torch kept to the
    other cores; with the encoder, its classifier reads the worker's mentions here) must store exactly what
    in-process extraction stores, and leave torch's thread count as it was."""
    import torch

    from graphrag.extraction.spacy_rules import SpacyRuleExtractor

    def not_here(*_args, **_kwargs):
        raise AssertionError("spaCy ran in this process, not in the extraction worker")

    threads_before = torch.get_num_threads()
    results = []
    for workers in (0, 1):
        settings = Settings.load(data_dir=tmp_path / f"w{workers}", ingest_batch_size=8, extractor=extractor)
        engine = Engine.from_settings(settings, embedder=real_embedder)
        try:
            with monkeypatch.context() as patched:
                if workers:  # the spawned worker imports its own, unpatched class
                    patched.setattr(SpacyRuleExtractor, "candidates", not_here)
                report = engine.ingest([demo_corpus], workers=workers)
            assert not report.problems and report.documents_added >= 30  # so at least four batches of eight
            # the pooled run must really have extracted in the worker: this process never loaded spaCy's rules
            assert (engine._extractor is None) == (workers == 1 and extractor == "rules")
            entities = sorted(
                (e.id, e.name, e.type) for e in engine.store.get_entities(sorted(engine.store.entity_ids()))
            )
            question = real_embedder.embed(["Who founded Veltrix Systems?"], query=True)
            hits = [h.id for h in engine.chunk_index.search(question, 5)[0]]
            results.append((engine.stats(), entities, engine.chunk_index.ids(), engine.entity_index.ids(), hits))
        finally:
            engine.close()
        assert torch.get_num_threads() == threads_before
    in_process, pooled = results
    assert in_process[0].relations > 0 and in_process[1]
    assert pooled == in_process
