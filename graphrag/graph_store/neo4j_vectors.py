"""VectorIndex inside Neo4j: embeddings as node properties under a native vector index (``CREATE VECTOR INDEX``,
``db.index.vector.queryNodes``). Used when ``graph_backend = "neo4j"`` and ``vector_backend = "neo4j"``.

Scores are returned as cosine similarity (Neo4j reports ``(1 + cos) / 2``), so thresholds mean the same as with FAISS.
The embedder's name and dimension are recorded on the database; opening with another embedder is an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from graphrag.errors import IndexMismatchError
from graphrag.graph_store.neo4j_driver import apply_schema
from graphrag.types import Hit

__all__ = ["Neo4jVectorIndex"]

_TARGETS = {"chunks": "Chunk", "entities": "Entity"}  # index name -> node label (a fixed whitelist)


class Neo4jVectorIndex:
    """Vectors on ``(:Chunk)`` or ``(:Entity)`` nodes of a :class:`Neo4jGraphStore`."""

    def __init__(self, store, name: str, embedder_name: str, dim: int) -> None:
        self.store = store
        self.name = name
        self.label = _TARGETS[name]
        self.index_name = f"{name}_embedding"
        self.embedder_name = embedder_name
        self.dim = int(dim)

    @classmethod
    def open(cls, store, name: str, embedder_name: str, dim: int) -> Neo4jVectorIndex:
        """Create the vector index if needed and check it was built by the same embedder."""
        index = cls(store, name, embedder_name, dim)
        rows = store._run(
            f"MATCH (m:GraphRAGMeta {{key: 'state'}}) RETURN m.`{name}_embedder` AS embedder, m.`{name}_dim` AS dim"
        )
        recorded = rows[0] if rows else {}
        if recorded.get("embedder") not in (None, embedder_name) or recorded.get("dim") not in (None, index.dim):
            raise IndexMismatchError(
                f"Neo4j vectors for {name!r} were built with {recorded.get('embedder')} ({recorded.get('dim')}-d) "
                f"but the configured embedder is {embedder_name} ({dim}-d)"
            )
        store._run(
            f"MATCH (m:GraphRAGMeta {{key: 'state'}}) SET m.`{name}_embedder` = $embedder, m.`{name}_dim` = $dim",
            embedder=embedder_name,
            dim=index.dim,
        )
        # label and dimension come from the whitelist and an int: safe in the query text
        create = f"""CREATE VECTOR INDEX {index.index_name} IF NOT EXISTS FOR (n:{index.label}) ON (n.embedding)
                     OPTIONS {{indexConfig: {{`vector.dimensions`: {index.dim},
                                             `vector.similarity_function`: 'cosine'}}}}"""
        apply_schema(store._run, [create])
        store._run("CALL db.awaitIndexes(300)")
        return index

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        rows = [{"id": i, "v": v.astype(np.float32).tolist()} for i, v in zip(ids, vectors)]
        for part in self.store._batches(rows):
            self.store._run(
                f"""UNWIND $rows AS r MATCH (n:{self.label} {{id: r.id, tenant: $tenant}})
                                CALL db.create.setNodeVectorProperty(n, 'embedding', r.v)""",
                rows=part,
            )

    def remove(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            self.store._run(
                f"MATCH (n:{self.label} {{tenant: $tenant}}) WHERE n.id IN $ids REMOVE n.embedding", ids=ids
            )

    def search(self, queries: np.ndarray, k: int, allowed: set[str] | None = None) -> list[list[Hit]]:
        """Nearest nodes of the store's tenant only. Neo4j 5's vector index cannot filter inside the index, so the
        approximate search fetches extra candidates and keeps the tenant's; when that leaves fewer than ``k``
        (another tenant's nodes crowd the neighbourhood) an exact scan over the tenant's own vectors answers."""
        results = []
        fetch = max(k * 10, 100)
        for query in queries:
            vector = query.astype(np.float32).tolist()
            rows = self.store._run(
                """CALL db.index.vector.queryNodes($index, $k, $q) YIELD node, score
                                      WHERE node.tenant = $tenant RETURN node.id AS id, score""",
                index=self.index_name,
                k=fetch,
                q=vector,
            )
            hits = self._hits(rows, allowed)
            if len(hits) < k and len(rows) < self._count():
                rows = self.store._run(
                    f"""MATCH (n:{self.label} {{tenant: $tenant}}) WHERE n.embedding IS NOT NULL
                                           WITH n, vector.similarity.cosine(n.embedding, $q) AS score
                                           ORDER BY score DESC LIMIT $k RETURN n.id AS id, score""",
                    k=fetch,
                    q=vector,
                )
                hits = self._hits(rows, allowed)
            results.append(hits[:k])
        return results

    @staticmethod
    def _hits(rows: list[dict], allowed: set[str] | None) -> list[Hit]:
        return [
            Hit(id=r["id"], score=2.0 * float(r["score"]) - 1.0, source="vector")
            for r in rows
            if allowed is None or r["id"] in allowed
        ]

    def _count(self) -> int:
        return len(self)

    def ids(self) -> set[str]:
        rows = self.store._run(
            f"MATCH (n:{self.label} {{tenant: $tenant}}) WHERE n.embedding IS NOT NULL RETURN n.id AS id"
        )
        return {r["id"] for r in rows}

    def save(self) -> None:
        """Nothing to do: every write is committed in Neo4j."""

    def __len__(self) -> int:
        rows = self.store._run(
            f"MATCH (n:{self.label} {{tenant: $tenant}}) WHERE n.embedding IS NOT NULL RETURN count(n) AS n"
        )
        return int(rows[0]["n"])
