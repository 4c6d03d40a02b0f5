"""Loaders and chunking: formats, offsets, and clear errors for bad files."""

from __future__ import annotations

import json

import pytest

from graphrag.errors import DocumentTooLargeError, EmptyDocumentError, EncodingError, UnsupportedFormatError
from graphrag.indexing.loaders import MAX_RECORD_LINES, SentenceChunker, discover_files, document_from_text, load_file

LIMIT = 1_000_000


def load(path):
    return load_file(path, tenant="default", max_bytes=LIMIT)


def test_markdown_title_and_text(tmp_path):
    path = tmp_path / "note.md"
    path.write_text("# Orbit Works\n\nOrbit Works builds satellites.\n", encoding="utf-8")
    doc = load(path).documents[0]
    assert doc.title == "Orbit Works"
    assert "builds satellites" in doc.text
    assert doc.id.startswith("doc_") and len(doc.sha256) == 64


def test_html_drops_scripts_and_keeps_title(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Page T</title><script>var x = 'SECRET';</script></head>"
        "<body><p>Ada founded Loom.</p></body></html>",
        encoding="utf-8",
    )
    doc = load(path).documents[0]
    assert doc.title == "Page T"
    assert "Ada founded Loom." in doc.text and "SECRET" not in doc.text


def _minimal_pdf(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_text_is_extracted(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(_minimal_pdf("Mira Chen founded Polaris Freight."))
    doc = load(path).documents[0]
    assert "Mira Chen founded Polaris Freight." in doc.text


def test_broken_pdf_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    with pytest.raises((UnsupportedFormatError, EmptyDocumentError)) as info:
        load(path)
    assert "broken.pdf" in info.value.message


def test_binary_file_is_rejected(tmp_path):
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(UnsupportedFormatError, match="binary"):
        load(path)


def test_invalid_utf8_names_the_byte(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("Caf\u00e9 society".encode("latin-1"))
    with pytest.raises(EncodingError, match="byte 3"):
        load(path)


def test_empty_file_is_rejected(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("   \n", encoding="utf-8")
    with pytest.raises(EmptyDocumentError):
        load(path)


def test_oversized_document_is_rejected_before_reading(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"word " * 300_000)
    with pytest.raises(DocumentTooLargeError, match="max_document_bytes"):
        load_file(path, tenant="default", max_bytes=1_000_000)


def test_jsonl_reports_bad_lines_and_keeps_good_ones(tmp_path):
    path = tmp_path / "docs.jsonl"
    lines = [
        json.dumps({"id": "a", "title": "A", "text": "Alpha text.", "extra_field": 7}),
        "{not json",
        json.dumps({"title": "no text"}),
        json.dumps(["a", "list"]),
        json.dumps({"text": "Beta text.", "metadata": {"k": "v"}}),
        json.dumps({"subject": "Ada", "relation": "founded", "object": "Loom"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = load(path)
    assert [d.text for d in result.documents] == ["Alpha text.", "Beta text."]
    assert result.documents[0].metadata["extra_field"] == 7  # unknown fields are kept verbatim
    assert len(result.triples) == 1 and result.triples[0].relation == "founded"
    assert [line for line, _ in result.line_errors] == [2, 3, 4]
    assert "invalid JSON" in result.line_errors[0][1]


def test_csv_triples_need_a_header(tmp_path):
    good = tmp_path / "facts.csv"
    good.write_text("subject,relation,object,subject_type\nAda,founded,Loom,Person\n", encoding="utf-8")
    triples = load(good).triples
    assert triples[0].subject == "Ada" and triples[0].subject_type == "Person"
    bad = tmp_path / "nohead.csv"
    bad.write_text("Ada,founded,Loom\n", encoding="utf-8")
    with pytest.raises(Exception, match="header"):
        load(bad)


def test_discover_files_recurses_and_skips_unknown(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("x", encoding="utf-8")
    (tmp_path / "b.md").write_text("y", encoding="utf-8")
    (tmp_path / "c.exe").write_bytes(b"z")
    assert sorted(p.name for p in discover_files([tmp_path])) == ["a.txt", "b.md"]


def test_chunks_are_sentence_aligned_with_offsets_and_overlap():
    sentences = [f"Sentence number {i} talks about company {i} in detail." for i in range(60)]
    text = " ".join(sentences)
    doc = document_from_text(text, key="k", title="t", source="s", tenant="default", max_bytes=LIMIT)
    chunks = SentenceChunker(size=300, overlap=80).chunk(doc)
    assert len(chunks) > 5
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert len(chunk.text) <= 300
        assert chunk.text.startswith("Sentence number") and chunk.text.endswith(".")
    # consecutive chunks share at least one whole sentence (the overlap) and together cover the document
    for first, second in zip(chunks, chunks[1:]):
        assert second.start < first.end
    assert chunks[0].start == 0 and chunks[-1].end == len(text)


def test_a_very_long_sentence_is_split():
    text = "word " * 1000
    doc = document_from_text(text, key="k", title="t", source="s", tenant="default", max_bytes=LIMIT)
    chunks = SentenceChunker(size=500, overlap=0).chunk(doc)
    assert all(len(c.text) <= 500 for c in chunks) and len(chunks) >= 9


def test_a_million_line_triple_file_is_refused_whole_before_anything_is_stored(tmp_path, make_engine):
    engine = make_engine(fake_embedder=True)
    engine.ingest_text("Ada Quint founded Loom Works.", title="Loom")
    before = engine.stats()
    big = tmp_path / "kb.jsonl"
    line = b'{"subject": "Ada Quint", "relation": "knows", "object": "Cal Rivers"}\n'
    big.write_bytes(line * 1_000_000)
    report = engine.ingest([big])
    assert [p.code for p in report.problems] == ["document_too_large"]
    assert "1,000,000 lines" in report.problems[0].message and "split it" in report.problems[0].message
    assert engine.stats() == before  # nothing of it loaded, nothing already stored lost


def test_the_line_limit_is_for_triple_files_only(tmp_path):
    """Documents in a JSONL file are written in batches, so a long one still loads; its triples would not."""
    docs = tmp_path / "docs.jsonl"
    docs.write_bytes(b'{"text": "Ada Quint founded Loom Works."}\n' * (MAX_RECORD_LINES + 1))
    assert len(load(docs).documents) == MAX_RECORD_LINES + 1
    facts = tmp_path / "facts.csv"
    facts.write_bytes(b"subject,relation,object\n" + b"Ada,founded,Loom\n" * MAX_RECORD_LINES)
    with pytest.raises(DocumentTooLargeError, match="triples per file"):
        load(facts)
