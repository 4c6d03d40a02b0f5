"""Loaders (txt, md, html, pdf, jsonl documents; jsonl/csv triples) and sentence-aware chunking.

Every loader turns bytes into :class:`Document` or :class:`Triple` values or raises an :class:`InputError`
naming the problem. JSONL files are read line by line: a bad line is reported with its number and the
valid lines still load.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from graphrag.errors import (
    DocumentTooLargeError,
    EmptyDocumentError,
    EncodingError,
    InputError,
    UnsupportedFormatError,
)
from graphrag.ids import chunk_id, content_sha256, document_id
from graphrag.indexing.extracted import EXTRACTION_KEYS, ExtractedDocument, parse_extraction_record
from graphrag.json_text import loads_bounded
from graphrag.text import paragraph_spans, sentence_spans
from graphrag.types import Chunk, Document, Triple

__all__ = [
    "DOCUMENT_SUFFIXES",
    "MAX_RECORD_LINES",
    "LoadResult",
    "SentenceChunker",
    "decode_text",
    "discover_files",
    "document_from_text",
    "load_file",
    "parse_triple_record",
    "triple_set_digest",
    "upload_key",
]

DOCUMENT_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl", ".csv")
_TRIPLE_KEYS = {"subject", "relation", "object"}
_TRIPLE_OPTIONAL = {"subject_type", "object_type", "source"}
_DOC_KEYS = {"id", "title", "text", "metadata"}
_MAX_FIELD_CHARS = 1000
# Lines in one triple file (JSONL or CSV). A file's triples load in one transaction: 100,000 take about 15 s on
# 2 cores, and a bigger set would hold the store's write lock for a minute or more.
MAX_RECORD_LINES = 200_000


@dataclass
class LoadResult:
    """What one file yielded: documents, triples, documents already extracted (lines of ``graphrag extract``
    output), and per-line problems (``(line_number, message)``)."""

    source: str
    documents: list[Document] = field(default_factory=list)
    triples: list[Triple] = field(default_factory=list)
    extracted: list[ExtractedDocument] = field(default_factory=list)
    line_errors: list[tuple[int, str]] = field(default_factory=list)


def discover_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Expand files and folders (recursively, sorted) into supported files; unknown suffixes in folders are skipped."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in DOCUMENT_SUFFIXES and not child.name.startswith("."):
                    yield child
        elif path.is_file():
            yield path
        else:
            raise InputError(f"{path}: no such file or directory")


def decode_text(data: bytes, what: str) -> str:
    """Decode UTF-8 text, rejecting binary content and invalid bytes with a message that says where."""
    if b"\x00" in data[:8192]:
        raise UnsupportedFormatError(f"{what}: looks like a binary file (NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EncodingError(f"{what}: not valid UTF-8 at byte {exc.start} ({exc.reason})") from exc
    return normalize_text(text)


def normalize_text(text: str) -> str:
    """NFC, unix newlines, no control characters except newline and tab. Offsets refer to this form."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def document_from_text(
    text: str, *, key: str, title: str, source: str, tenant: str, max_bytes: int, metadata: dict | None = None
) -> Document:
    """Validate size and emptiness, then build a Document whose id comes from ``key`` and sha256 from the text."""
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise DocumentTooLargeError(
            f"{source}: document is {size / 1e6:.1f} MB, over the limit of {max_bytes / 1e6:.1f} MB "
            "(setting max_document_bytes)"
        )
    if not text.strip():
        raise EmptyDocumentError(f"{source}: document has no text")
    return Document(
        id=document_id(f"{tenant}\x1f{key}"),
        title=title[:_MAX_FIELD_CHARS],
        source=source,
        text=text,
        sha256=content_sha256(text),
        tenant=tenant,
        metadata=metadata or {},
    )


def load_file(path: Path, *, tenant: str, max_bytes: int) -> LoadResult:
    """Load one file by suffix. Raises InputError for a file that cannot be used at all."""
    suffix = path.suffix.lower()
    source = str(path)
    _check_suffix(suffix, source)
    try:
        size = path.stat().st_size
        if size > max_bytes and suffix not in (".jsonl", ".csv"):
            raise DocumentTooLargeError(
                f"{source}: file is {size / 1e6:.1f} MB, over the limit of {max_bytes / 1e6:.1f} MB "
                "(setting max_document_bytes)"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot read file: {exc.strerror or exc}") from exc
    return load_bytes(data, suffix=suffix, source=source, title=path.stem, tenant=tenant, max_bytes=max_bytes)


def load_bytes(
    data: bytes, *, suffix: str, source: str, title: str, tenant: str, max_bytes: int, key: str | None = None
) -> LoadResult:
    """Load in-memory file content (used by file paths and HTTP uploads alike).

    ``key`` is the file's identity, from which its documents' ids come (a JSONL record's own ``id`` wins): by
    default ``source`` (a path: ingesting the edited file again replaces it); uploads pass :func:`upload_key`,
    since two different uploads may share a file name."""
    key = key or source
    _check_suffix(suffix, source)
    result = LoadResult(source=source)
    if not data.strip():
        raise EmptyDocumentError(f"{source}: file is empty")
    if suffix == ".pdf":
        text = _pdf_text(data, source)
    elif suffix in (".jsonl", ".csv"):
        lines = data.count(b"\n") + (not data.endswith(b"\n"))
        if lines > MAX_RECORD_LINES and (suffix == ".csv" or _holds_triples(data)):
            # Refused before anything is parsed or written: a file's triples are one transaction, never half of one.
            # (A JSONL file of documents is written in batches and has no such limit.)
            raise DocumentTooLargeError(
                f"{source}: {lines:,} lines, over the limit of {MAX_RECORD_LINES:,} triples per file; split it "
                f"into files of at most {MAX_RECORD_LINES:,} lines (each file's triples load as one transaction)"
            )
        text = decode_text(data, source)
        if suffix == ".csv":
            _csv_triples(text, source, result)
        else:
            _read_jsonl(text, source, key, tenant, max_bytes, result)
        return result
    elif suffix in (".html", ".htm"):
        title, text = _html_text(decode_text(data, source), title)
    else:
        text = decode_text(data, source)
        if suffix in (".md", ".markdown"):
            heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
            title = heading.group(1).strip() if heading else title
    result.documents.append(
        document_from_text(text, key=key, title=title, source=source, tenant=tenant, max_bytes=max_bytes)
    )
    return result


def _holds_triples(data: bytes) -> bool:
    """Whether a JSONL file's first record is a triple (its first line is read; the rest is not parsed here)."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        line = data[start:end]
        if line.strip():
            try:
                record = loads_bounded(line.decode("utf-8", errors="replace"))
            except InputError:
                return False
            return isinstance(record, dict) and _TRIPLE_KEYS <= set(record)
        start = end + 1
    return False


def triple_set_digest(triples: Iterable[Triple]) -> str:
    """A name for a set of triples from its content (order and repeats do not matter)."""
    lines = sorted(
        {"\x1f".join((t.subject, t.relation, t.object, t.subject_type, t.object_type, t.source)) for t in triples}
    )
    return content_sha256("\n".join(lines))


def upload_key(data: bytes) -> str:
    """The identity of an uploaded file: its content (the same bytes again change nothing; a file name is no
    identity: two different ``notes.txt`` are two documents)."""
    return f"upload:{hashlib.sha256(data).hexdigest()}"


def _check_suffix(suffix: str, source: str) -> None:
    if suffix not in DOCUMENT_SUFFIXES:
        raise UnsupportedFormatError(
            f"{source}: unsupported file type {suffix or '(none)'}; expected one of {', '.join(DOCUMENT_SUFFIXES)}"
        )


def _pdf_text(data: bytes, source: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        with _quiet_pdf_library():
            reader = PdfReader(io.BytesIO(data))
            pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise UnsupportedFormatError(f"{source}: not a readable PDF ({exc})") from exc
    text = normalize_text("\n\n".join(pages))
    if not text.strip():
        raise EmptyDocumentError(f"{source}: PDF has no extractable text (scanned images are not supported)")
    return text


@contextmanager
def _quiet_pdf_library() -> Iterator[None]:
    """pypdf logs and warns about what it repairs or cannot read ("EOF marker not found"); a file it cannot read
    is reported once, as our own skip line, so its own noise is held back while it reads."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _html_text(html: str, fallback_title: str) -> tuple[str, str]:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node else fallback_title
    body = tree.body or tree.root
    text = body.text(separator="\n", strip=True) if body else ""
    return title or fallback_title, normalize_text(text)


def parse_triple_record(record: dict, where: str) -> Triple:
    """Validate one triple record (``subject``, ``relation``, ``object`` and optional types/source)."""
    unknown = set(record) - _TRIPLE_KEYS - _TRIPLE_OPTIONAL
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} in a triple")
    values = {}
    for key in (*_TRIPLE_KEYS, *_TRIPLE_OPTIONAL):
        value = record.get(key)
        if value is None:
            if key in _TRIPLE_KEYS:
                raise InputError(f"{where}: triple is missing '{key}'")
            continue
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{where}: '{key}' must be a non-empty string")
        if len(value) > _MAX_FIELD_CHARS:
            raise InputError(f"{where}: '{key}' is longer than {_MAX_FIELD_CHARS} characters")
        values[key] = normalize_text(value).strip()
    return Triple(
        subject=values["subject"],
        relation=values["relation"],
        object=values["object"],
        subject_type=values.get("subject_type", "Entity"),
        object_type=values.get("object_type", "Entity"),
        source=values.get("source", ""),
    )


def _read_jsonl(text: str, source: str, key: str, tenant: str, max_bytes: int, result: LoadResult) -> None:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            record = loads_bounded(line)
        except InputError as exc:
            result.line_errors.append((number, exc.message))
            continue
        try:
            if not isinstance(record, dict):
                raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
            if _TRIPLE_KEYS <= set(record):
                result.triples.append(parse_triple_record(record, where))
            elif EXTRACTION_KEYS <= set(record):
                result.extracted.append(parse_extraction_record(record, tenant, max_bytes))
            else:
                result.documents.append(_jsonl_document(record, where, number, source, key, tenant, max_bytes))
        except InputError as exc:
            result.line_errors.append((number, exc.message.removeprefix(f"{where}: ")))


def _jsonl_document(
    record: dict, where: str, number: int, source: str, file_key: str, tenant: str, max_bytes: int
) -> Document:
    text = record.get("text")
    if not isinstance(text, str):
        raise InputError(f"{where}: 'text' must be a string (or give subject/relation/object for a triple)")
    doc_key = record.get("id")
    if doc_key is not None and not isinstance(doc_key, (str, int)):
        raise InputError(f"{where}: 'id' must be a string or integer")
    title = record.get("title", "")
    if not isinstance(title, str):
        raise InputError(f"{where}: 'title' must be a string")
    metadata = record.get("metadata", {})
    if not isinstance(metadata, dict):
        raise InputError(f"{where}: 'metadata' must be an object")
    # Unknown top-level fields are kept verbatim in metadata rather than dropped.
    extra = {k: v for k, v in record.items() if k not in _DOC_KEYS}
    key = f"id:{doc_key}" if doc_key is not None else f"{file_key}#{number}"
    return document_from_text(
        normalize_text(text),
        key=key,
        title=title or (str(doc_key) if doc_key is not None else f"{Path(source).stem} #{number}"),
        source=source,
        tenant=tenant,
        max_bytes=max_bytes,
        metadata={**metadata, **extra} | ({"id": str(doc_key)} if doc_key is not None else {}),
    )


def _csv_triples(text: str, source: str, result: LoadResult) -> None:
    """Triples from CSV rows; like JSONL lines, a bad row is reported with its line number and the rest load."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = {h.strip() for h in (reader.fieldnames or [])}
    except csv.Error as exc:
        raise InputError(f"{source}: unreadable CSV header: {exc}") from exc
    if not _TRIPLE_KEYS <= header:
        raise InputError(
            f"{source}: CSV needs a header with subject, relation, object (found: {', '.join(sorted(header))})"
        )
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a NUL byte or a quote left open: the reader cannot go on past it
            result.line_errors.append((reader.line_num, f"unreadable CSV: {exc}"))
            return
        number = reader.line_num
        where = f"{source}:{number}"
        try:
            if any(str(v).strip() for v in row.get(None) or ()):
                raise InputError(f"{where}: more fields than the header names")
            clean = {k.strip(): v for k, v in row.items() if k is not None and v not in (None, "")}
            result.triples.append(parse_triple_record(clean, where))
        except InputError as exc:
            result.line_errors.append((number, exc.message.removeprefix(f"{where}: ")))


class SentenceChunker:
    """Packs whole sentences (graphrag/text.py) into chunks of about ``size`` characters, repeating ``overlap``
    characters of sentences."""

    def __init__(self, size: int, overlap: int) -> None:
        self.size = size
        self.overlap = overlap

    def _sentences(self, text: str) -> Iterator[tuple[int, int]]:
        """Sentence spans in order, paragraph by paragraph (lazily: a long document is split as it is read)."""
        for para_start, para_end in paragraph_spans(text):
            for start, end in sentence_spans(text[para_start:para_end]):
                yield from self._split_long(text, para_start + start, para_start + end)

    def _split_long(self, text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
        while end - start > self.size:
            cut = start + self.size
            # prefer a whitespace break in the last fifth of the window
            space = -1
            for pos in range(cut, start + self.size * 4 // 5, -1):
                if start < pos < end and text[pos].isspace():
                    space = pos
                    break
            cut = space if space > start else cut
            yield start, cut
            start = cut
        yield start, end

    def chunk(self, document: Document) -> list[Chunk]:
        """Split a document into chunks whose offsets index ``document.text``."""
        return list(self.iter_chunks(document))

    def iter_chunks(self, document: Document) -> Iterator[Chunk]:
        """The chunks of :meth:`chunk`, made as the text is read (a caller can work on the first ones while the
        rest of a long document is not yet split)."""
        text = document.text
        if len(text) <= self.size:
            stripped_start = len(text) - len(text.lstrip())
            spans: Iterable[tuple[int, int]] = [(stripped_start, len(text.rstrip()))]
        else:
            spans = self._pack(self._sentences(text))
        for index, (start, end) in enumerate(spans):
            yield Chunk(
                id=chunk_id(document.id, document.sha256, index),
                document_id=document.id,
                index=index,
                text=text[start:end],
                start=start,
                end=end,
            )

    def _pack(self, stream: Iterator[tuple[int, int]]) -> Iterator[tuple[int, int]]:
        """Whole sentences into chunks of at most ``size`` characters, stepping back over up to ``overlap``
        characters of sentences between chunks; reads the sentence stream only as far as it needs."""
        sentences: list[tuple[int, int]] = []

        def have(k: int) -> bool:  # whether sentence k exists, reading on as far as it
            while len(sentences) <= k:
                nxt = next(stream, None)
                if nxt is None:
                    return False
                sentences.append(nxt)
            return True

        i = 0
        while have(i):
            j = i
            start = sentences[i][0]
            while have(j + 1) and sentences[j + 1][1] - start <= self.size:
                j += 1
            yield start, sentences[j][1]
            if not have(j + 1):
                return
            # step back over trailing sentences that fit in the overlap, but always advance
            k = j + 1
            while k - 1 > i and sentences[j][1] - sentences[k - 1][0] <= self.overlap:
                k -= 1
            i = k
