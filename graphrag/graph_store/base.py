"""The GraphStore protocol: domain-level operations only; each backend owns its query language."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from graphrag.types import Chunk, Community, Document, Entity, Extraction, Hit, Path, Relation, StoreStats

__all__ = ["DocumentWrite", "GraphStore"]

#: One document's complete contribution, written (or replaced) atomically.
DocumentWrite = tuple[Document, Sequence[Chunk], Extraction]


@runtime_checkable
class GraphStore(Protocol):
    """Source of truth for documents, chunks, entities, mentions and relations."""

    def document_version(self, document_id: str) -> str | None:
        """sha256 of the stored document, or None when it is not stored."""
        ...

    def write_documents(self, writes: Sequence[DocumentWrite]) -> tuple[list[str], list[str]]:
        """Replace each document's previous contribution with the new one, all in one transaction.

        Returns the ``(chunk_ids, entity_ids)`` the replacement removed (so vector indexes can drop them).
        """
        ...

    def delete_document(self, document_id: str) -> tuple[list[str], list[str]]:
        """Remove a document with its chunks, mentions and the relations only it supported.

        Returns ``(removed_chunk_ids, removed_entity_ids)``; raises NotFoundError for an unknown id.
        """
        ...

    def get_document(self, document_id: str) -> Document | None: ...
    def list_documents(self, limit: int = 100, offset: int = 0) -> list[Document]: ...
    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]: ...
    def get_entities(self, entity_ids: Sequence[str]) -> list[Entity]: ...
    def find_entities(self, text: str, limit: int = 10) -> list[Entity]:
        """Entities whose name or alias matches ``text`` (exact first, then prefix/substring)."""
        ...

    def entity_names(self) -> list[tuple[str, str]]:
        """Every ``(normalised name or alias, entity_id)`` pair, for linking questions to entities."""
        ...

    def neighbors(
        self, entity_ids: Sequence[str], hops: int, relation_types: Sequence[str] | None = None, limit: int = 500
    ) -> list[Relation]:
        """Relations within ``hops`` of the given entities (either direction), nearest first, at most ``limit``."""
        ...

    def paths(self, source_id: str, target_id: str, max_hops: int, k: int) -> list[Path]:
        """Up to ``k`` shortest simple paths of at most ``max_hops`` edges, walking edges in either direction."""
        ...

    def connecting_paths(self, pairs: Sequence[tuple[str, str]], max_hops: int, k: int) -> list[list[Path]]:
        """``paths`` for each ``(source, target)`` pair, in the order given."""
        ...

    def chunks_mentioning(self, entity_ids: Sequence[str], limit: int = 50) -> list[tuple[str, str]]:
        """``(entity_id, chunk_id)`` pairs for chunks that mention the entities."""
        ...

    def chunks_mentioning_each(self, entity_ids: Sequence[str], per_entity: int) -> list[tuple[str, str]]:
        """``(entity_id, chunk_id)`` pairs: up to ``per_entity`` chunks for each entity (which ones is unspecified)."""
        ...

    def all_relations(self) -> list[Relation]:
        """Every relation between entities (community detection reads the whole graph)."""
        ...

    def relation_types(self) -> set[str]:
        """The distinct types of the relations between entities."""
        ...

    def replace_communities(self, communities: Sequence[Community]) -> None:
        """Store these communities in place of the previous ones, in one transaction."""
        ...

    def list_communities(self, limit: int = 20) -> list[Community]:
        """Stored communities by rank (largest first)."""
        ...

    def document_heads(self) -> list[tuple[str, str, str]]:
        """``(document_id, title, first_chunk_id)`` for every document that has a chunk."""
        ...

    def entities_in_chunks(self, chunk_ids: Sequence[str]) -> list[tuple[str, str]]:
        """``(chunk_id, entity_id)`` pairs for entities mentioned in the chunks."""
        ...

    def keyword_search(self, text: str, k: int) -> list[Hit]:
        """Full-text search over chunk text (BM25), best first."""
        ...

    def document_titles(self, document_ids: Sequence[str]) -> dict[str, str]: ...
    def version(self) -> object:
        """An opaque token that changes whenever the stored data changes (by this process or another)."""
        ...

    def cached_reads(self) -> AbstractContextManager[Callable[[], object]]:
        """A block of reads (one question) that may share cached values; entering it gives a function that returns
        ``version()`` as of the block's start (a remote store may still be reading it when the block begins).

        Values cached inside are never older than the start of the block; a remote store uses it to save round
        trips, an in-process one may simply hand back its version."""
        ...

    def integrity_problems(self) -> dict[str, int]:
        """Counts of things that should not exist: ``orphan_chunks`` (no document, or missing from the keyword
        index), ``orphan_mentions`` (chunk or entity gone), ``orphan_relations`` (no supporting document, or an
        end gone) and ``orphan_entities`` (neither contributed by a document nor in a relation). All zero in a
        consistent store."""
        ...

    def chunk_ids(self) -> set[str]: ...
    def entity_ids(self) -> set[str]: ...
    def mentioned_entity_ids(self) -> set[str]:
        """The entities some chunk mentions: the ones whose names have vectors (an entity only a triple names is
        linked by its name, not by an embedding of it)."""
        ...

    def stats(self) -> StoreStats: ...
    def close(self) -> None: ...
