"""Extraction records read back: a line of ``graphrag extract`` output becomes the document, chunks and extraction
it describes, so ``graphrag ingest er.jsonl`` stores what a cluster extracted without extracting again.

A record is checked before anything of it is stored: its schema (graphrag.records.ExtractionRecord), its tenant,
the text against its sha256, chunk and mention offsets against the text, chunk ids against the text they name, and
every relation's and mention's entity against the record's entities. A record that fails is reported with its line
number; the others load.
"""

from __future__ import annotations

from pydantic import ValidationError

from graphrag.errors import InputError
from graphrag.extraction.base import ENTITY_TYPES, valid_relation_type
from graphrag.ids import chunk_id, content_sha256
from graphrag.records import ExtractionRecord
from graphrag.types import Chunk, Document, Entity, Extraction, Mention, Relation

__all__ = ["EXTRACTION_KEYS", "ExtractedDocument", "parse_extraction_record"]

EXTRACTION_KEYS = frozenset({"document_id", "mentions"})  # what marks a line as an extraction record

ExtractedDocument = tuple[Document, list[Chunk], Extraction]


def _schema_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"not an extraction record: {'.'.join(map(str, first['loc'])) or 'record'}: {first['msg']}"


def parse_extraction_record(record: dict, tenant: str, max_bytes: int) -> ExtractedDocument:
    """The document, chunks and extraction one record describes; InputError naming the first problem."""
    try:
        parsed = ExtractionRecord.model_validate(record)
    except ValidationError as exc:
        raise InputError(_schema_problem(exc)) from exc
    if parsed.tenant != tenant:
        raise InputError(
            f"extracted for tenant {parsed.tenant!r}, not {tenant!r} (entity ids belong to a tenant): ingest it "
            f"with --tenant {parsed.tenant} or extract again with --tenant {tenant}"
        )
    text = parsed.text
    if len(text.encode("utf-8")) > max_bytes:
        raise InputError(f"the document's text is over the limit of {max_bytes:,} bytes (setting max_document_bytes)")
    if content_sha256(text) != parsed.sha256:
        raise InputError("the text does not match its sha256 (the record was edited): extract the document again")
    document = Document(
        id=parsed.document_id,
        title=parsed.title,
        source=parsed.source,
        text=text,
        sha256=parsed.sha256,
        tenant=tenant,
        metadata=parsed.metadata,
    )
    chunks = []
    for number, row in enumerate(parsed.chunks):
        if row.index != number or not row.start <= row.end <= len(text):
            raise InputError(f"chunk {row.id!r} has index {row.index} or offsets {row.start}-{row.end} out of place")
        if row.id != chunk_id(document.id, document.sha256, row.index):
            raise InputError(f"chunk {row.id!r} is not chunk {row.index} of this document and text")
        chunks.append(Chunk(row.id, document.id, row.index, text[row.start : row.end], row.start, row.end))
    entities = []
    for row in parsed.entities:
        if row.type not in ENTITY_TYPES:
            raise InputError(f"entity {row.id!r} has type {row.type!r}, not one of {', '.join(ENTITY_TYPES)}")
        entities.append(Entity(row.id, row.name, row.type, tuple(row.aliases)))
    known = {e.id for e in entities}
    spans = {c.id: c for c in chunks}
    mentions = []
    for row in parsed.mentions:
        chunk = spans.get(row.chunk_id)
        if row.entity_id not in known or chunk is None:
            raise InputError(f"a mention names an entity or chunk the record does not have ({row.entity_id!r})")
        if not chunk.start <= row.start <= row.end <= chunk.end:
            raise InputError(f"a mention's offsets {row.start}-{row.end} fall outside its chunk")
        mentions.append(Mention(row.entity_id, row.chunk_id, document.id, row.start, row.end, row.text))
    relations = []
    for row in parsed.relations:
        if row.source not in known or row.target not in known:
            raise InputError(f"relation {row.id!r} joins an entity the record does not have")
        if not valid_relation_type(row.type) or row.provenance not in ("extracted", "structured"):
            raise InputError(f"relation {row.id!r} has type {row.type!r} or provenance {row.provenance!r}")
        if any(evidence not in spans and evidence != "" for evidence in row.evidence):
            raise InputError(f"relation {row.id!r} cites a chunk the record does not have")
        relations.append(
            Relation(
                row.id,
                row.source,
                row.target,
                row.type,
                row.confidence,
                document.id,
                tuple(row.evidence),
                row.sentence,
                row.provenance,
                row.property_id,
                row.label,
                row.inverse_label,
                row.sentence_start,
                row.sentence_end,
            )
        )
    return document, chunks, Extraction(tuple(entities), tuple(relations), tuple(mentions))
