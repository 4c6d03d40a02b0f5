"""The HTTP API contract: request and response bodies (pydantic). schemas/ is generated from these models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from graphrag.records import TripleRecord

__all__ = [
    "CitationOut",
    "DocumentIn",
    "DocumentOut",
    "EntityOut",
    "ErrorBody",
    "ErrorOut",
    "HealthOut",
    "IngestOut",
    "LayoutIn",
    "LayoutOut",
    "NeighborsOut",
    "PageConfigOut",
    "PathOut",
    "PathsOut",
    "QueryIn",
    "QueryOut",
    "RelationOut",
    "TripleIn",
    "TriplesIn",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentIn(_Strict):
    """A document given as JSON text (files go as multipart/form-data with a 'file' field)."""

    text: str = Field(min_length=1, description="Document text (UTF-8).")
    title: str = Field("", max_length=1000)
    id: str | None = Field(None, min_length=1, max_length=200, description="Stable id; default: content hash.")
    metadata: dict = Field(default_factory=dict)


class TripleIn(TripleRecord):
    """A structured fact: subject --relation--> object (the same shape as a triples JSONL record)."""


class TriplesIn(_Strict):
    triples: list[TripleIn] = Field(min_length=1, max_length=10_000)
    source: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Names the set: posting the same source again replaces its previous set (counted in "
        "documents_replaced). Without a source, sets add up: each is kept under its own content.",
    )


class QueryIn(_Strict):
    # At least one character that is not white space (by Python's reckoning, which also counts \x1c-\x1f).
    question: str = Field(
        min_length=1, pattern=r"[^\s\x1c-\x1f]", description="The question (limit: setting max_question_chars)."
    )
    max_hops: int | None = Field(None, ge=1, description="Longest graph path (limit: setting max_hops_limit).")
    top_k: int | None = Field(None, ge=1, description="Evidence chunks (limit: setting top_k_limit).")
    adapter: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Answer with the answer LM and this saved adapter ('none': the base LM); omitted: the "
        "configured writer.",
    )


class ProblemOut(BaseModel):
    source: str
    line: int | None
    code: str
    message: str


class IngestOut(BaseModel):
    documents_added: int
    documents_replaced: int
    documents_unchanged: int
    triples: int
    chunks: int
    document_ids: list[str]
    problems: list[ProblemOut]


class JobOut(BaseModel):
    """An ingest job: queued, running, succeeded or failed, with its progress and, once ended, its report."""

    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    filename: str
    created_at: str
    updated_at: str
    documents_total: int = Field(description="Documents in the upload (known once the job has read it).")
    documents_done: int
    resumed: int = Field(description="How often the job was picked up again after a server restart.")
    report: IngestOut | None = Field(None, description="The ingest report (with per-line and per-file problems).")
    error: str | None = Field(None, description="Why the job failed.")


class DocumentOut(BaseModel):
    id: str
    title: str
    source: str
    tenant: str
    sha256: str
    ingested_at: str
    metadata: dict
    length: int
    text: str | None = None


class EntityOut(BaseModel):
    id: str
    name: str
    type: str
    aliases: list[str]


class CommunityOut(BaseModel):
    id: str
    rank: int
    size: int
    title: str
    summary: str
    entity_ids: list[str]
    evidence: list[str]


class CommunitiesOut(BaseModel):
    communities: list[CommunityOut]


class RelationOut(BaseModel):
    id: str
    source: str
    target: str
    type: str
    confidence: float
    evidence: list[str]
    sentence: str
    provenance: Literal["extracted", "structured"]
    property_id: str = Field(default="", description="Wikidata property id when the classifier predicted it")
    label: str = Field(default="", description="the relation in words, head to tail")
    inverse_label: str = Field(default="", description="the relation in words, tail to head (empty if unknown)")
    sentence_start: int = Field(default=-1, description="offset of the evidence sentence in its document (-1: unknown)")
    sentence_end: int = Field(default=-1, description="end offset of the evidence sentence (-1: unknown)")


class EdgeOut(BaseModel):
    type: str
    label: str = Field(default="", description="the relation in words, source to target")
    source: str
    target: str
    forward: bool
    confidence: float
    evidence: list[str]


class PathOut(BaseModel):
    text: str
    nodes: list[EntityOut]
    edges: list[EdgeOut]


class CitationOut(BaseModel):
    document_id: str
    document_title: str
    chunk_id: str
    start: int
    end: int
    text: str


class LinkOut(BaseModel):
    entity: EntityOut
    surface: str
    method: Literal["exact", "alias", "fuzzy", "embedding"]
    score: float


class PlanOut(BaseModel):
    strategy: Literal["paths", "neighborhood", "hybrid", "global"]
    max_hops: int
    top_k: int
    steps: list[str]
    linked: list[LinkOut]


class QueryOut(BaseModel):
    question: str
    answer: str
    answers: list[str] = Field(
        description='Every answer as good as the best one, best first; empty when the answer is "I don\'t know".'
    )
    confidence: float
    abstained: bool
    citations: list[CitationOut]
    paths: list[PathOut]
    plan: PlanOut | None
    timings_ms: dict[str, float]


_CYPHER = "The same subgraph as Cypher for the Neo4j Browser (graph_backend = neo4j only)."


class NeighborsOut(BaseModel):
    entity: EntityOut
    entities: list[EntityOut]
    relations: list[RelationOut]
    cypher: str | None = Field(None, description=_CYPHER)


class PathsOut(BaseModel):
    paths: list[PathOut]
    cypher: str | None = Field(None, description=_CYPHER)


class LayoutEdgeIn(_Strict):
    source: str = Field(min_length=1, max_length=300)
    target: str = Field(min_length=1, max_length=300)


# A coordinate in the unit square: NaN and infinities (which Python's JSON reader accepts) are refused.
_UnitCoordinate = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class LayoutIn(_Strict):
    """A graph to lay out: node ids, the edges between them, and the positions of nodes already drawn."""

    nodes: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(min_length=1, max_length=2000)
    edges: list[LayoutEdgeIn] = Field(default_factory=list, max_length=10_000)
    fixed: dict[str, tuple[_UnitCoordinate, _UnitCoordinate]] = Field(
        default_factory=dict,
        max_length=2000,
        description="Positions (in the unit square) of nodes that must stay where they are.",
    )


class LayoutOut(BaseModel):
    positions: dict[str, tuple[float, float]] = Field(description="Each node's position in the unit square.")


class PageConfigOut(BaseModel):
    """What the analyst page needs to know before its first call (no tenant data)."""

    keys_required: bool = Field(description="Whether requests need an API key.")
    graph_backend: Literal["sqlite", "neo4j"]
    neo4j_browser: str | None = Field(description="The Neo4j Browser's address (graph_backend = neo4j only).")
    max_question_chars: int
    max_hops_limit: int


class HealthOut(BaseModel):
    status: Literal["ok"]
    tenant: str
    documents: int
    chunks: int
    entities: int
    relations: int
    mentions: int


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict | list | None = None


class ErrorOut(BaseModel):
    """The one error envelope every failing request gets."""

    error: ErrorBody
