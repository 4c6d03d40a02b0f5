"""The embedded graph store: SQLite (WAL, one writer) as the source of truth, FTS5 for keywords, and a
networkx view of the relations for traversal, rebuilt lazily whenever the database changed.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path as FsPath

from graphrag.errors import NotFoundError, StoreError
from graphrag.graph_store.base import DocumentWrite
from graphrag.graph_store.keywords import keyword_terms
from graphrag.graph_store.nx_view import RelationGraph
from graphrag.ids import DEFAULT_TENANT, normalize_name
from graphrag.memory import keep_out_of_collections
from graphrag.types import Chunk, Community, Document, Entity, Hit, Path, Relation, StoreStats

__all__ = ["SqliteGraphStore"]

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL, tenant TEXT NOT NULL, sha256 TEXT NOT NULL,
    ingested_at TEXT NOT NULL, metadata TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY, document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, text TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(chunk_id UNINDEXED, text);
CREATE TABLE IF NOT EXISTS entities (id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entity_sources (
    entity_id TEXT NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    type TEXT NOT NULL, weight INTEGER NOT NULL, PRIMARY KEY (entity_id, document_id));
CREATE INDEX IF NOT EXISTS entity_sources_document ON entity_sources(document_id);
CREATE TABLE IF NOT EXISTS entity_aliases (
    entity_id TEXT NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    alias TEXT NOT NULL, norm TEXT NOT NULL, PRIMARY KEY (entity_id, document_id, alias));
CREATE INDEX IF NOT EXISTS entity_aliases_norm ON entity_aliases(norm);
CREATE TABLE IF NOT EXISTS mentions (
    entity_id TEXT NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
    chunk_id TEXT NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    document_id TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (entity_id, chunk_id, start));
CREATE INDEX IF NOT EXISTS mentions_chunk ON mentions(chunk_id);
CREATE TABLE IF NOT EXISTS relations (
    id TEXT PRIMARY KEY, source_id TEXT NOT NULL REFERENCES entities(id),
    target_id TEXT NOT NULL REFERENCES entities(id), type TEXT NOT NULL,
    property_id TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '', inverse_label TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS relation_evidence (
    relation_id TEXT NOT NULL REFERENCES relations(id) ON DELETE CASCADE,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    chunk_id TEXT NOT NULL, sentence TEXT NOT NULL, confidence REAL NOT NULL, provenance TEXT NOT NULL,
    sentence_start INTEGER NOT NULL DEFAULT -1, sentence_end INTEGER NOT NULL DEFAULT -1,
    PRIMARY KEY (relation_id, document_id, chunk_id));
CREATE INDEX IF NOT EXISTS relation_evidence_document ON relation_evidence(document_id);
CREATE TABLE IF NOT EXISTS communities (
    id TEXT PRIMARY KEY, rank INTEGER NOT NULL, size INTEGER NOT NULL, title TEXT NOT NULL, summary TEXT NOT NULL,
    entity_ids TEXT NOT NULL, evidence TEXT NOT NULL);
"""


# Columns added after a store's first release: (table, column, definition). A store made before them gains them
# when opened, with their defaults.
_ADDED_COLUMNS = (
    ("relations", "property_id", "TEXT NOT NULL DEFAULT ''"),
    ("relations", "label", "TEXT NOT NULL DEFAULT ''"),
    ("relations", "inverse_label", "TEXT NOT NULL DEFAULT ''"),
    ("relation_evidence", "sentence_start", "INTEGER NOT NULL DEFAULT -1"),
    ("relation_evidence", "sentence_end", "INTEGER NOT NULL DEFAULT -1"),
)


def _add_missing_columns(db: sqlite3.Connection) -> None:
    for table, column, definition in _ADDED_COLUMNS:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


class SqliteGraphStore:
    """GraphStore on one SQLite file. Thread-safe: one connection behind a lock (SQLite allows one writer).

    One file holds one tenant's data (``Settings.store_path`` is inside the tenant's partition), so every read is
    confined to the tenant by construction; writes refuse documents of any other tenant."""

    def __init__(self, connection: sqlite3.Connection, path: FsPath, tenant: str = DEFAULT_TENANT) -> None:
        self._db = connection
        self.path = path
        self.tenant = tenant
        self._lock = threading.RLock()
        self._graph: RelationGraph | None = None
        self._graph_version: tuple[int, int] | None = None
        self._entities: dict[str, Entity] | None = None
        self._entities_version: tuple[int, int] | None = None
        self._writes = 0

    @classmethod
    def open(cls, path: FsPath, tenant: str = DEFAULT_TENANT) -> SqliteGraphStore:
        """Open (creating if needed) the database file and its schema."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(_SCHEMA)
            _add_missing_columns(db)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open graph store {path}: {exc}") from exc
        return cls(db, path, tenant)

    # plumbing ---------------------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"graph store write failed: {exc}") from exc
            finally:
                self._writes += 1

    def _query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"graph store read failed: {exc}") from exc

    def _in(self, sql: str, ids: Sequence[str], extra: Sequence = ()) -> list[tuple]:
        """Run ``sql`` with ``{ids}`` expanded to placeholders, in slices that respect SQLite's variable limit."""
        rows: list[tuple] = []
        ids = list(dict.fromkeys(ids))
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            rows.extend(self._query(sql.format(ids=",".join("?" * len(part))), [*part, *extra]))
        return rows

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            self._db.close()

    # writes -----------------------------------------------------------------------------------------------
    def document_version(self, document_id: str) -> str | None:
        """sha256 of the stored document, or None."""
        rows = self._query("SELECT sha256 FROM documents WHERE id = ?", (document_id,))
        return rows[0][0] if rows else None

    def write_documents(self, writes: Sequence[DocumentWrite]) -> tuple[list[str], list[str]]:
        """Atomically replace each document's contribution; returns the ``(chunk_ids, entity_ids)`` it removed."""
        removed_chunks: list[str] = []
        removed_entities: list[str] = []
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for document, _, _ in writes:
            if document.tenant != self.tenant:
                raise StoreError(
                    f"document {document.id} belongs to tenant {document.tenant!r}, this store to {self.tenant!r}"
                )
        with self._transaction() as db:
            for document, chunks, extraction in writes:
                chunks_gone, entities_gone = self._delete_contribution(db, document.id)
                removed_chunks.extend(chunks_gone)
                removed_entities.extend(entities_gone)
                db.execute(
                    "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        document.id,
                        document.title,
                        document.source,
                        document.tenant,
                        document.sha256,
                        document.ingested_at or now,
                        json.dumps(document.metadata, ensure_ascii=False),
                        document.text,
                    ),
                )
                db.executemany(
                    'INSERT INTO chunks (id, document_id, idx, text, start, "end") VALUES (?, ?, ?, ?, ?, ?)',
                    [(c.id, c.document_id, c.index, c.text, c.start, c.end) for c in chunks],
                )
                db.executemany(
                    "INSERT INTO chunks_fts (chunk_id, text) VALUES (?, ?)", [(c.id, c.text) for c in chunks]
                )
                self._write_extraction(db, document.id, extraction)
        readded = {e.id for _, _, extraction in writes for e in extraction.entities}
        return removed_chunks, [e for e in removed_entities if e not in readded]

    def _write_extraction(self, db: sqlite3.Connection, doc_id: str, extraction) -> None:
        weights: dict[str, int] = defaultdict(int)
        for mention in extraction.mentions:
            weights[mention.entity_id] += 1
        db.executemany(
            "INSERT INTO entities (id, name, type) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING",
            [(e.id, e.name, e.type) for e in extraction.entities],
        )
        db.executemany(
            "INSERT OR REPLACE INTO entity_sources VALUES (?, ?, ?, ?)",
            [(e.id, doc_id, e.type, max(weights[e.id], 1)) for e in extraction.entities],
        )
        db.executemany(
            "INSERT OR IGNORE INTO entity_aliases VALUES (?, ?, ?, ?)",
            [
                (e.id, doc_id, alias, normalize_name(alias))
                for e in extraction.entities
                for alias in (e.name, *e.aliases)
            ],
        )
        db.executemany(
            'INSERT OR IGNORE INTO mentions (entity_id, chunk_id, document_id, start, "end", text) '
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(m.entity_id, m.chunk_id, m.document_id, m.start, m.end, m.text) for m in extraction.mentions],
        )
        db.executemany(
            "INSERT INTO relations (id, source_id, target_id, type, property_id, label, inverse_label) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            [
                (r.id, r.source_id, r.target_id, r.type, r.property_id, r.label, r.inverse_label)
                for r in extraction.relations
            ],
        )
        db.executemany(
            "INSERT OR REPLACE INTO relation_evidence (relation_id, document_id, chunk_id, sentence, confidence, "
            "provenance, sentence_start, sentence_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (r.id, doc_id, chunk, r.sentence, r.confidence, r.provenance, r.sentence_start, r.sentence_end)
                for r in extraction.relations
                for chunk in (r.evidence or ("",))
            ],
        )
        self._revote_types(db, [e.id for e in extraction.entities])

    @staticmethod
    def _revote_types(db: sqlite3.Connection, entity_ids: Sequence[str]) -> None:
        # An entity's type is the one most documents (weighted by mentions) agree on.
        for start in range(0, len(entity_ids), 500):
            part = entity_ids[start : start + 500]
            marks = ",".join("?" * len(part))
            db.execute(
                f"""UPDATE entities SET type = (
                        SELECT s.type FROM entity_sources s WHERE s.entity_id = entities.id
                        GROUP BY s.type ORDER BY (s.type = 'Other'), SUM(s.weight) DESC, s.type LIMIT 1)
                    WHERE id IN ({marks}) AND EXISTS (SELECT 1 FROM entity_sources s WHERE s.entity_id =
                    entities.id)""",
                part,
            )

    def _delete_contribution(self, db: sqlite3.Connection, doc_id: str) -> tuple[list[str], list[str]]:
        if db.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is None:
            return [], []
        chunk_ids = [r[0] for r in db.execute("SELECT id FROM chunks WHERE document_id = ?", (doc_id,))]
        relation_ids = [
            r[0]
            for r in db.execute("SELECT DISTINCT relation_id FROM relation_evidence WHERE document_id = ?", (doc_id,))
        ]
        touched = {r[0] for r in db.execute("SELECT entity_id FROM entity_sources WHERE document_id = ?", (doc_id,))}
        for rel_id in relation_ids:
            touched.update(db.execute("SELECT source_id, target_id FROM relations WHERE id = ?", (rel_id,)).fetchone())
        db.execute("DELETE FROM chunks_fts WHERE chunk_id IN (SELECT id FROM chunks WHERE document_id = ?)", (doc_id,))
        db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))  # cascades: chunks, mentions, evidence, sources
        db.executemany(
            "DELETE FROM relations WHERE id = ? AND NOT EXISTS (SELECT 1 FROM relation_evidence WHERE relation_id = ?)",
            [(r, r) for r in relation_ids],
        )
        orphans = [
            e
            for e in sorted(touched)
            if db.execute(
                """SELECT NOT EXISTS (SELECT 1 FROM entity_sources WHERE entity_id = ?)
                  AND NOT EXISTS (SELECT 1 FROM relations WHERE source_id = ? OR target_id = ?)""",
                (e, e, e),
            ).fetchone()[0]
        ]
        db.executemany("DELETE FROM entities WHERE id = ?", [(o,) for o in orphans])
        self._revote_types(db, sorted(touched - set(orphans)))
        return chunk_ids, orphans

    def delete_document(self, document_id: str) -> tuple[list[str], list[str]]:
        """Delete a document's whole contribution; entities still supported elsewhere stay."""
        if self.document_version(document_id) is None:
            raise NotFoundError(f"no document with id {document_id!r}")
        with self._transaction() as db:
            return self._delete_contribution(db, document_id)

    def replace_communities(self, communities: Sequence[Community]) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM communities")
            db.executemany(
                "INSERT INTO communities VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        c.id,
                        c.rank,
                        c.size,
                        c.title,
                        c.summary,
                        json.dumps(list(c.entity_ids)),
                        json.dumps(list(c.evidence)),
                    )
                    for c in communities
                ],
            )

    # reads ------------------------------------------------------------------------------------------------
    def list_communities(self, limit: int = 20) -> list[Community]:
        rows = self._query(
            "SELECT id, rank, size, title, summary, entity_ids, evidence FROM communities ORDER BY rank LIMIT ?",
            (int(limit),),
        )
        return [Community(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5])), tuple(json.loads(r[6]))) for r in rows]

    def all_relations(self) -> list[Relation]:
        return list(self._relation_graph().relations.values())

    def relation_types(self) -> set[str]:
        return {r.type for r in self._relation_graph().relations.values()}

    @staticmethod
    def _document(row: tuple) -> Document:
        return Document(
            id=row[0],
            title=row[1],
            source=row[2],
            tenant=row[3],
            sha256=row[4],
            ingested_at=row[5],
            metadata=json.loads(row[6]),
            text=row[7],
        )

    def get_document(self, document_id: str) -> Document | None:
        rows = self._query("SELECT * FROM documents WHERE id = ?", (document_id,))
        return self._document(rows[0]) if rows else None

    def list_documents(self, limit: int = 100, offset: int = 0) -> list[Document]:
        rows = self._query("SELECT * FROM documents ORDER BY title, id LIMIT ? OFFSET ?", (limit, offset))
        return [self._document(r) for r in rows]

    def document_titles(self, document_ids: Sequence[str]) -> dict[str, str]:
        """Titles by document id (cheap: no text)."""
        return dict(self._in("SELECT id, title FROM documents WHERE id IN ({ids})", document_ids))

    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        rows = self._in('SELECT id, document_id, idx, text, start, "end" FROM chunks WHERE id IN ({ids})', chunk_ids)
        by_id = {r[0]: Chunk(*r) for r in rows}
        return [by_id[c] for c in chunk_ids if c in by_id]

    def get_entities(self, entity_ids: Sequence[str]) -> list[Entity]:
        table = self._entity_table()
        return [table[e] for e in entity_ids if e in table]

    def _entity_table(self) -> dict[str, Entity]:
        """Every entity by id, read once per version of the store, like the relation graph: answering one question
        reads thousands of entities in several batches (linking, chains, paths, the walk), and a query per batch
        was a tenth of its time."""
        with self._lock:
            version = self.version()
            if self._entities is None or version != self._entities_version:
                aliases: dict[str, set[str]] = defaultdict(set)
                for entity_id, alias in self._query("SELECT entity_id, alias FROM entity_aliases"):
                    aliases[entity_id].add(alias)
                self._entities = {
                    row[0]: Entity(row[0], row[1], row[2], tuple(sorted(aliases[row[0]] - {row[1]})))
                    for row in self._query("SELECT id, name, type FROM entities")
                }
                self._entities_version = version
            return self._entities

    def find_entities(self, text: str, limit: int = 10) -> list[Entity]:
        norm = normalize_name(text)
        if not norm:
            return []
        escaped = norm.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._query(
            """SELECT entity_id, MIN(CASE WHEN norm = ? THEN 0 WHEN norm LIKE ? ESCAPE '\\' THEN 1 ELSE 2 END) AS rank
               FROM entity_aliases WHERE norm LIKE ? ESCAPE '\\' GROUP BY entity_id ORDER BY rank, entity_id LIMIT ?""",
            (norm, f"{escaped}%", f"%{escaped}%", limit),
        )
        return self.get_entities([r[0] for r in rows])

    def entity_names(self) -> list[tuple[str, str]]:
        return self._query("SELECT DISTINCT norm, entity_id FROM entity_aliases")

    def version(self) -> tuple[int, int]:
        """Changes on every write here and on every commit by another connection (PRAGMA data_version)."""
        with self._lock:
            return self._writes, self._db.execute("PRAGMA data_version").fetchone()[0]

    def _relation_graph(self) -> RelationGraph:
        with self._lock:
            version = self.version()
            built = self._graph is None or version != self._graph_version
            if built:
                self._graph = RelationGraph(self._load_relations())
                self._graph_version = version
            graph = self._graph
        if built:
            keep_out_of_collections()  # outside the lock: the collection may run other objects' finalizers
        return graph

    def _load_relations(self) -> list[Relation]:
        rows = self._query(
            """SELECT r.id, r.source_id, r.target_id, r.type, e.confidence, e.document_id, e.chunk_id, e.sentence,
                      e.provenance, r.property_id, r.label, r.inverse_label, e.sentence_start, e.sentence_end
               FROM relations r JOIN relation_evidence e ON e.relation_id = r.id ORDER BY r.id, e.confidence DESC"""
        )
        relations: list[Relation] = []
        for row in rows:
            if relations and relations[-1].id == row[0]:
                best = relations[-1]
                if row[6] and row[6] not in best.evidence:
                    relations[-1] = dataclasses.replace(best, evidence=(*best.evidence, row[6]))
                continue
            relations.append(
                Relation(
                    *row[:6],
                    evidence=(row[6],) if row[6] else (),
                    sentence=row[7],
                    provenance=row[8],
                    property_id=row[9],
                    label=row[10],
                    inverse_label=row[11],
                    sentence_start=row[12],
                    sentence_end=row[13],
                )
            )
        return relations

    def neighbors(self, entity_ids, hops, relation_types=None, limit=500) -> list[Relation]:
        return self._relation_graph().neighbors(entity_ids, hops, relation_types, limit)

    def paths(self, source_id: str, target_id: str, max_hops: int, k: int) -> list[Path]:
        # One search, its nodes named from the entities in memory (it used to search twice: once to learn which
        # entities to read).
        return self._relation_graph().paths(source_id, target_id, max_hops, k, self._entity_table())

    def connecting_paths(self, pairs: Sequence[tuple[str, str]], max_hops: int, k: int) -> list[list[Path]]:
        return [self.paths(source, target, max_hops, k) for source, target in pairs]

    @contextmanager
    def cached_reads(self) -> Iterator[Callable[[], object]]:
        """Nothing to cache in process: reads are already local (the relation graph is cached by version)."""
        version = self.version()
        yield lambda: version

    def chunks_mentioning(self, entity_ids: Sequence[str], limit: int = 50) -> list[tuple[str, str]]:
        return self._in(
            "SELECT DISTINCT entity_id, chunk_id FROM mentions WHERE entity_id IN ({ids}) LIMIT ?", entity_ids, (limit,)
        )

    def chunks_mentioning_each(self, entity_ids: Sequence[str], per_entity: int) -> list[tuple[str, str]]:
        return self._in(
            """SELECT entity_id, chunk_id FROM (
                   SELECT entity_id, chunk_id, ROW_NUMBER() OVER (PARTITION BY entity_id ORDER BY chunk_id) AS n
                   FROM (SELECT DISTINCT entity_id, chunk_id FROM mentions WHERE entity_id IN ({ids})))
               WHERE n <= ?""",
            entity_ids,
            (int(per_entity),),
        )

    def document_heads(self) -> list[tuple[str, str, str]]:
        return [
            tuple(r)
            for r in self._query(
                "SELECT d.id, d.title, c.id FROM documents d JOIN chunks c ON c.document_id = d.id AND c.idx = 0"
            )
        ]

    def entities_in_chunks(self, chunk_ids: Sequence[str]) -> list[tuple[str, str]]:
        return self._in("SELECT DISTINCT chunk_id, entity_id FROM mentions WHERE chunk_id IN ({ids})", chunk_ids)

    def keyword_search(self, text: str, k: int) -> list[Hit]:
        # Quote every token: user text never reaches FTS5 query syntax (no operators, no injection).
        tokens = keyword_terms(text)
        if not tokens:
            return []
        query = " OR ".join(f'"{t}"' for t in tokens)
        rows = self._query(
            "SELECT chunk_id, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
            "ORDER BY bm25(chunks_fts) LIMIT ?",
            (query, k),
        )
        return [Hit(id=r[0], score=-float(r[1]), source="keyword") for r in rows]

    def chunk_ids(self) -> set[str]:
        return {r[0] for r in self._query("SELECT id FROM chunks")}

    def entity_ids(self) -> set[str]:
        return {r[0] for r in self._query("SELECT id FROM entities")}

    def mentioned_entity_ids(self) -> set[str]:
        return {r[0] for r in self._query("SELECT DISTINCT entity_id FROM mentions")}

    def integrity_problems(self) -> dict[str, int]:
        queries = {
            "orphan_chunks": """SELECT (SELECT count(*) FROM chunks c WHERE NOT EXISTS
                                        (SELECT 1 FROM documents d WHERE d.id = c.document_id))
                                     + (SELECT count(*) FROM chunks c WHERE NOT EXISTS
                                        (SELECT 1 FROM chunks_fts f WHERE f.chunk_id = c.id))
                                     + (SELECT count(*) FROM chunks_fts f WHERE NOT EXISTS
                                        (SELECT 1 FROM chunks c WHERE c.id = f.chunk_id))""",
            "orphan_mentions": """SELECT count(*) FROM mentions m
                                  WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.id = m.chunk_id)
                                     OR NOT EXISTS (SELECT 1 FROM entities e WHERE e.id = m.entity_id)""",
            "orphan_relations": """SELECT count(*) FROM relations r
                                   WHERE NOT EXISTS (SELECT 1 FROM relation_evidence v WHERE v.relation_id = r.id)
                                      OR NOT EXISTS (SELECT 1 FROM entities e WHERE e.id = r.source_id)
                                      OR NOT EXISTS (SELECT 1 FROM entities e WHERE e.id = r.target_id)""",
            "orphan_entities": """SELECT count(*) FROM entities e
                                  WHERE NOT EXISTS (SELECT 1 FROM entity_sources s WHERE s.entity_id = e.id)
                                    AND NOT EXISTS (SELECT 1 FROM relations r WHERE e.id IN (r.source_id,
                                    r.target_id))""",
        }
        with self._lock:
            try:
                return {name: int(self._db.execute(sql).fetchone()[0]) for name, sql in queries.items()}
            except sqlite3.Error as exc:
                raise StoreError(f"integrity check failed: {exc}") from exc

    def stats(self) -> StoreStats:
        counts = [
            self._query(f"SELECT COUNT(*) FROM {table}")[0][0]
            for table in ("documents", "chunks", "entities", "relations", "mentions")
        ]
        return StoreStats(*counts)
