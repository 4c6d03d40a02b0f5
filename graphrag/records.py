"""pydantic models of the JSONL file formats (triples in, extraction records out); schemas/ is generated from them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ChunkRecord", "ExtractionRecord", "TripleRecord"]


class TripleRecord(BaseModel):
    """One structured fact per line of a triples .jsonl (or row of a .csv with these columns)."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=1000)
    relation: str = Field(min_length=1, max_length=1000)
    object: str = Field(min_length=1, max_length=1000)
    subject_type: str | None = Field(None, max_length=1000)
    object_type: str | None = Field(None, max_length=1000)
    source: str | None = Field(None, max_length=1000)


class EntityRecord(BaseModel):
    id: str
    name: str
    type: str
    aliases: list[str]


class RelationRecord(BaseModel):
    id: str
    source: str
    target: str
    source_name: str
    target_name: str
    type: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,47}$")
    confidence: float = Field(ge=0, le=1)
    evidence: list[str]
    sentence: str
    provenance: str
    property_id: str = Field(default="", description="Wikidata property id when the classifier predicted it")
    label: str = Field(default="", description="the relation in words, head to tail")
    inverse_label: str = Field(default="", description="the relation in words, tail to head (empty if unknown)")
    sentence_start: int = Field(default=-1, description="offset of the evidence sentence in its document (-1: unknown)")
    sentence_end: int = Field(default=-1, description="end offset of the evidence sentence (-1: unknown)")


class MentionRecord(BaseModel):
    entity_id: str
    chunk_id: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str


class ChunkRecord(BaseModel):
    id: str
    index: int = Field(ge=0)
    start: int = Field(ge=0, description="offset of the chunk in the document's text")
    end: int = Field(ge=0)


class ExtractionRecord(BaseModel):
    """One line of ``graphrag extract`` output: a document, its chunks, and the entities, relations and mentions
    found in it. ``graphrag ingest`` loads such a file as it is (no extraction again; the chunks are embedded), so
    extraction can run on a cluster and loading on the server."""

    document_id: str
    title: str
    source: str
    tenant: str = Field(description="the tenant it was extracted for: entity ids are the tenant's")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the text")
    text: str = Field(description="the document's text (normalised), which chunk and mention offsets index")
    metadata: dict = Field(default_factory=dict)
    chunks: list[ChunkRecord]
    entities: list[EntityRecord]
    relations: list[RelationRecord]
    mentions: list[MentionRecord]
