"""Frozen value objects shared by every layer: documents, chunks, graph items, retrieval results, answers.

Provenance is data: every mention, relation and citation names the document and chunk it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "Community",
    "Document",
    "Entity",
    "Evidence",
    "Extraction",
    "Hit",
    "LinkedEntity",
    "Mention",
    "Path",
    "PathStep",
    "QueryPlan",
    "Relation",
    "StoreStats",
    "Triple",
]

Provenance = Literal["extracted", "structured"]
Strategy = Literal["paths", "neighborhood", "hybrid", "global"]


@dataclass(frozen=True, slots=True)
class Document:
    """One source document after loading and text normalisation."""

    id: str
    title: str
    source: str
    text: str
    sha256: str
    tenant: str = "default"
    metadata: dict = field(default_factory=dict, hash=False)
    ingested_at: str = ""


@dataclass(frozen=True, slots=True)
class Chunk:
    """A sentence-aligned window of a document; ``start``/``end`` are character offsets into it."""

    id: str
    document_id: str
    index: int
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Entity:
    """A canonical entity: one node of the graph."""

    id: str
    name: str
    type: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Mention:
    """An occurrence of an entity in a chunk; offsets are into the document text."""

    entity_id: str
    chunk_id: str
    document_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Relation:
    """A typed, directed edge between two entities with the evidence that supports it."""

    id: str
    source_id: str
    target_id: str
    type: str
    confidence: float
    document_id: str
    evidence: tuple[str, ...] = ()
    sentence: str = ""
    provenance: Provenance = "extracted"
    property_id: str = ""  # the Wikidata property the classifier predicted ("P112"); empty for other extractors
    label: str = ""  # readable, head to tail ("founded by")
    inverse_label: str = ""  # readable, tail to head ("founder of")
    sentence_start: int = -1  # offsets of ``sentence`` in the source document; -1 when not known
    sentence_end: int = -1


@dataclass(frozen=True, slots=True)
class Extraction:
    """What an extractor found in a batch of chunks (already resolved to canonical entities)."""

    entities: tuple[Entity, ...] = ()
    relations: tuple[Relation, ...] = ()
    mentions: tuple[Mention, ...] = ()


@dataclass(frozen=True, slots=True)
class Triple:
    """A structured fact loaded as-is: ``subject --relation--> object``."""

    subject: str
    relation: str
    object: str
    subject_type: str = "Entity"
    object_type: str = "Entity"
    source: str = ""


@dataclass(frozen=True, slots=True)
class PathStep:
    """One hop of a path; ``forward`` is False when the hop walks an edge against its direction."""

    relation: Relation
    forward: bool


@dataclass(frozen=True, slots=True)
class Path:
    """A chain of entities joined by relations, as returned by traversal."""

    nodes: tuple[Entity, ...]
    steps: tuple[PathStep, ...]
    score: float = 0.0

    @property
    def text(self) -> str:
        """Render as ``A —FOUNDED→ B ←ACQUIRED— C`` (arrow shows each edge's real direction)."""
        parts = [self.nodes[0].name]
        for step, node in zip(self.steps, self.nodes[1:]):
            if step.forward:
                parts.append(f" —{step.relation.type}→ {node.name}")
            else:
                parts.append(f" ←{step.relation.type}— {node.name}")
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class Hit:
    """A scored id from one retriever (vector, keyword or graph)."""

    id: str
    score: float
    source: str


@dataclass(frozen=True, slots=True)
class LinkedEntity:
    """A graph entity linked to a span of the question, with how it was linked."""

    entity: Entity
    surface: str
    method: Literal["exact", "alias", "fuzzy", "embedding"]
    score: float


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """What the planner decided for a question; returned with every answer for transparency."""

    question: str
    strategy: Strategy
    linked: tuple[LinkedEntity, ...]
    max_hops: int
    top_k: int
    steps: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Evidence:
    """A ranked chunk with the reasons it was retrieved and the relations it supports."""

    chunk: Chunk
    document_title: str
    score: float
    reasons: tuple[str, ...] = ()
    relations: tuple[Relation, ...] = ()


@dataclass(frozen=True, slots=True)
class Citation:
    """Where an answer comes from: document, chunk, character offsets into the document, and the text."""

    document_id: str
    document_title: str
    chunk_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The final answer to a question (``abstained`` means "I don't know")."""

    question: str
    text: str
    confidence: float
    abstained: bool
    citations: tuple[Citation, ...] = ()
    paths: tuple[Path, ...] = ()
    plan: QueryPlan | None = None
    timings_ms: dict = field(default_factory=dict, hash=False)
    # Every answer as good as the best one, best first ("Who are the children of X?" has several); empty when
    # the answer is "I don't know", ``(text,)`` when it is a single one.
    answers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Community:
    """A cluster of closely related entities (Louvain over the relation graph) with an extractive summary.

    ``evidence``: chunk ids of the facts quoted in the summary, best first, so answers built on it can cite."""

    id: str
    rank: int
    size: int
    title: str
    summary: str
    entity_ids: tuple[str, ...]
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counts of what a graph store holds."""

    documents: int
    chunks: int
    entities: int
    relations: int
    mentions: int
