"""`graphrag extract` output loaded back by ingest: the same graph as ingesting the documents, nothing extracted
again, and a record that does not hold together refused with its line number while the rest load."""

from __future__ import annotations

import json

import pytest

from graphrag import Engine, Settings
from graphrag.indexing.batch import extract_files
from tests.doubles import HashingEmbedder


def _no_extractor():
    raise AssertionError("extraction records must not be extracted again")


# The same graph both ways needs the same arithmetic: in bf16 the classifier's scores move slightly with the other
# windows that share its batch, so a relation at its threshold can fall either way when `graphrag extract` batches
# each file's documents and ingest batches across files. In fp32 both ways store the same graph.
FP32 = {"precision": "fp32"}


@pytest.fixture(scope="module")
def records_file(tmp_path_factory, demo_corpus):
    folder = tmp_path_factory.mktemp("extracted")
    out = folder / "er.jsonl"
    summary = extract_files(
        [str(demo_corpus)], out, folder / "errors.jsonl", Settings.load(data_dir=folder, **FP32), progress=False
    )
    assert summary.documents >= 30 and summary.relations > 0 and not summary.failed_files
    return out


def test_records_load_into_the_same_graph_without_extracting(tmp_path, records_file, demo_corpus):
    direct = Engine.from_settings(Settings.load(data_dir=tmp_path / "direct", **FP32), embedder=HashingEmbedder())
    loaded = Engine.from_settings(
        Settings.load(data_dir=tmp_path / "loaded"), embedder=HashingEmbedder(), extractor_loader=_no_extractor
    )
    try:
        direct.ingest([demo_corpus], workers=0)
        report = loaded.ingest([records_file])
        assert not report.problems and report.documents_added == direct.stats().documents
        assert loaded.stats() == direct.stats()  # documents, chunks, entities, relations and mentions alike
        assert loaded.check_integrity() == {k: 0 for k in loaded.check_integrity()}
        again = loaded.ingest([records_file])
        assert again.documents_unchanged == report.documents_added and again.documents_added == 0
        for engine in (direct, loaded):
            answer = engine.ask("Who founded Helix Dynamics?")
            assert not answer.abstained and answer.citations
        assert loaded.ask("Who founded Helix Dynamics?").text == direct.ask("Who founded Helix Dynamics?").text
    finally:
        direct.close()
        loaded.close()


def _tampered(records_file, tmp_path):
    lines = records_file.read_text(encoding="utf-8").splitlines()
    edited = json.loads(lines[0])
    edited["text"] = edited["text"].replace("a", "o", 1)  # the text no longer matches its sha256
    foreign = json.loads(lines[1])
    foreign["tenant"] = "globex"
    broken = json.loads(lines[2])
    broken["mentions"].append(
        {"entity_id": "ent_nope", "chunk_id": broken["chunks"][0]["id"], "start": 0, "end": 1, "text": "x"}
    )
    truncated = {k: v for k, v in json.loads(lines[3]).items() if k != "chunks"}
    target = tmp_path / "tampered.jsonl"
    target.write_text(
        "\n".join([json.dumps(edited), json.dumps(foreign), json.dumps(broken), json.dumps(truncated), *lines[4:]]),
        encoding="utf-8",
    )
    return target, len(lines) - 4


def test_a_record_that_does_not_hold_together_is_refused_by_line(tmp_path, records_file):
    target, good = _tampered(records_file, tmp_path)
    engine = Engine.from_settings(
        Settings.load(data_dir=tmp_path / "store"), embedder=HashingEmbedder(), extractor_loader=_no_extractor
    )
    try:
        report = engine.ingest([target])
        problems = {p.line: p.message for p in report.problems}
        assert set(problems) == {1, 2, 3, 4}
        assert "sha256" in problems[1] and "tenant 'globex'" in problems[2] and "entity or chunk" in problems[3]
        assert "chunks" in problems[4]
        assert report.documents_added == good and engine.check_integrity() == {k: 0 for k in engine.check_integrity()}
    finally:
        engine.close()
