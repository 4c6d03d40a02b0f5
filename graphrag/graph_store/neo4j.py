"""GraphStore on Neo4j, following DESIGN.md's graph model so the graph reads well in Neo4j Browser:

    (:Document)-[:HAS_CHUNK]->(:Chunk)-[:MENTIONS {start, end}]->(:Entity:<Type>)
    (:Entity)-[:<RELATION_TYPE> {id, confidence, evidence, sentence, support_*}]->(:Entity)
    (:Document)-[:CONTRIBUTES {type, weight, aliases, norms}]->(:Entity)

Each relation keeps one ``support_*`` list entry per (document, chunk) that states it, so deleting a document removes
only the relations no other document supports. Relationship types and entity labels are whitelisted before they
are written into Cypher text (Cypher cannot parameterise them); every other value is a query parameter. Writes are
batched ``UNWIND`` statements inside one transaction per batch of documents.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

from graphrag.config import Settings
from graphrag.errors import NotFoundError, StoreError
from graphrag.extraction.base import ENTITY_TYPES, valid_relation_type
from graphrag.graph_store.base import DocumentWrite
from graphrag.graph_store.keywords import keyword_terms
from graphrag.graph_store.neo4j_driver import Neo4jClient, apply_schema, open_driver
from graphrag.graph_store.nx_view import best_relation_key, breadth_first_relations, path_order
from graphrag.graph_store.read_cache import ReadCache
from graphrag.ids import DEFAULT_TENANT, normalize_name
from graphrag.render import readable_type
from graphrag.types import Chunk, Community, Document, Entity, Hit, Path, PathStep, Relation, StoreStats

__all__ = ["Neo4jGraphStore"]

_STRUCTURE = "!MENTIONS&!CONTRIBUTES&!HAS_CHUNK&!HAS_MEMBER"
_LABELS = ":".join(ENTITY_TYPES)
_SCHEMA = (
    "CREATE CONSTRAINT document_id IF NOT EXISTS FOR (d:Document) REQUIRE d.id IS UNIQUE",
    "CREATE CONSTRAINT chunk_id IF NOT EXISTS FOR (c:Chunk) REQUIRE c.id IS UNIQUE",
    "CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (e:Entity) REQUIRE e.id IS UNIQUE",
    "CREATE INDEX document_tenant IF NOT EXISTS FOR (d:Document) ON (d.tenant)",
    "CREATE INDEX chunk_tenant IF NOT EXISTS FOR (c:Chunk) ON (c.tenant)",
    "CREATE INDEX entity_tenant IF NOT EXISTS FOR (e:Entity) ON (e.tenant)",
    "CREATE INDEX community_tenant IF NOT EXISTS FOR (c:Community) ON (c.tenant)",
    # Chunk text with its tenant's key, so a keyword search is confined to one tenant inside Lucene, before
    # ranking (the key is one hex token: a tenant name would be split by the analyzer, "acme" matching "acme-1").
    "DROP INDEX chunk_text IF EXISTS",
    "CREATE FULLTEXT INDEX chunk_search IF NOT EXISTS FOR (c:Chunk) ON EACH [c.text, c.tenant_key]",
    "CREATE FULLTEXT INDEX entity_names IF NOT EXISTS FOR (e:Entity) ON EACH [e.name]",
    # unique, so two processes opening a new database at once (replicas starting) MERGE one state node, not two
    "CREATE CONSTRAINT graphrag_meta_key IF NOT EXISTS FOR (m:GraphRAGMeta) REQUIRE m.key IS UNIQUE",
    "MERGE (m:GraphRAGMeta {key: 'state'}) ON CREATE SET m.version = 0",
)
# One statement per kind of row for a whole batch. Relation types are dynamic ($(r.type), Neo4j 5.26) but only
# ever values that passed valid_relation_type(); with one query text the plan is compiled once, not per type.
_WRITES = (
    (
        """UNWIND $rows AS r CREATE (:Document {id: r.id, title: r.title, source: r.source, tenant: r.tenant,
                                            sha256: r.sha, ingested_at: r.at, metadata: r.metadata, text: r.text})""",
        "documents",
    ),
    (
        """UNWIND $rows AS r MATCH (d:Document {id: r.doc})
        CREATE (d)-[:HAS_CHUNK]->(:Chunk {id: r.id, document_id: r.doc, index: r.index, text: r.text,
                                         start: r.start, end: r.end, tenant: $tenant, tenant_key: $tenant_key})""",
        "chunks",
    ),
    (
        """UNWIND $rows AS r MERGE (e:Entity {id: r.id})
        ON CREATE SET e.name = r.name, e.type = r.type, e:$(r.type), e.aliases = r.other_aliases, e.norms = r.norms,
                      e.tenant = $tenant
        WITH e, r MATCH (d:Document {id: r.doc})
        CREATE (d)-[:CONTRIBUTES {type: r.type, weight: r.weight, aliases: r.aliases, norms: r.norms}]->(e)""",
        "entities",
    ),
    # Chunks are always new (their ids hash the document's content) and rows are de-duplicated: CREATE, not MERGE.
    (
        """UNWIND $rows AS r MATCH (c:Chunk {id: r.chunk}) MATCH (e:Entity {id: r.entity})
        CREATE (c)-[:MENTIONS {start: r.start, end: r.end, text: r.text, document_id: r.doc}]->(e)""",
        "mentions",
    ),
    (
        """UNWIND $rows AS r MATCH (a:Entity {id: r.source}) MATCH (b:Entity {id: r.target})
        MERGE (a)-[x:$(r.type) {id: r.id}]->(b)
        SET x.sentence = CASE WHEN x.sentence IS NULL OR r.conf > x.confidence THEN r.sentence ELSE x.sentence END,
            x.sentence_start = CASE WHEN x.sentence IS NULL OR r.conf > x.confidence THEN r.sentence_start
                                    ELSE x.sentence_start END,
            x.sentence_end = CASE WHEN x.sentence IS NULL OR r.conf > x.confidence THEN r.sentence_end
                                  ELSE x.sentence_end END,
            x.property_id = r.property_id, x.label = r.label, x.inverse_label = r.inverse_label,
            x.confidence = CASE WHEN x.confidence IS NULL OR r.conf > x.confidence THEN r.conf ELSE x.confidence END,
            x.support_docs = coalesce(x.support_docs, []) + r.doc,
            x.support_chunks = coalesce(x.support_chunks, []) + r.chunk,
            x.support_sentences = coalesce(x.support_sentences, []) + r.sentence,
            x.support_conf = coalesce(x.support_conf, []) + r.conf,
            x.support_prov = coalesce(x.support_prov, []) + r.prov,
            x.evidence = [c IN coalesce(x.support_chunks, []) + r.chunk WHERE c <> '']""",
        "relations",
    ),
)
_ENTITY_RETURN = "{.id, .name, .type, .aliases}"
# Relations fetched per entity for traversal; a hub beyond this is cut (the planner's own limit is 1,500 in all).
_ADJACENCY_CAP = 2000
# Far ends whose adjacency a two-level fetch brings along; beyond this many the second level is left to its own hop.
_PREFETCH_BOUND = 300
_MENTION_CAP = 500  # chunks fetched per entity for chunks_mentioning (the planner asks for 200 in all)
_REL_RETURN = """{id: x.id, source: startNode(x).id, target: endNode(x).id, type: type(x), confidence: x.confidence,
                  document: x.support_docs[0], evidence: x.evidence, sentence: x.sentence, provenance:
                  x.support_prov[0], property_id: x.property_id, label: x.label, inverse_label: x.inverse_label,
                  sentence_start: x.sentence_start, sentence_end: x.sentence_end}"""


# Rows per UNWIND statement in batched writes.
_ROWS_PER_STATEMENT = 1000


class _TenantTransaction:
    """A transaction whose every statement gets the store's tenant parameters (``$tenant``, ``$tenant_key``)."""

    def __init__(self, tx, params: dict[str, str]) -> None:
        self._tx = tx
        self._params = params

    def run(self, query: str, **params):
        return self._tx.run(query, {**self._params, **params})


def _entity(row: dict) -> Entity:
    return Entity(row["id"], row["name"], row["type"], tuple(sorted(row["aliases"] or ())))


def _relation(row: dict) -> Relation:
    return Relation(
        id=row["id"],
        source_id=row["source"],
        target_id=row["target"],
        type=row["type"],
        confidence=float(row["confidence"]),
        document_id=row["document"] or "",
        evidence=tuple(row["evidence"] or ()),
        sentence=row["sentence"] or "",
        provenance=row["provenance"] or "extracted",
        property_id=row.get("property_id") or "",
        label=row.get("label") or "",
        inverse_label=row.get("inverse_label") or "",
        sentence_start=_offset(row.get("sentence_start")),
        sentence_end=_offset(row.get("sentence_end")),
    )


def _offset(value) -> int:
    return int(value) if value is not None else -1


def tenant_key(tenant: str) -> str:
    """One Lucene token standing for a tenant in the chunk full-text index."""
    return "t" + hashlib.sha256(tenant.encode("utf-8")).hexdigest()[:24]


class Neo4jGraphStore:
    """GraphStore backed by a Neo4j 5 server (Bolt), acting for one tenant.

    Every node carries its tenant. Ids of a tenant's entities, chunks and relations are namespaced by the tenant
    (ids.py), so walking relations from a tenant's own entities never reaches another tenant's; every query that
    starts from a name, an id given by a caller, a text search or a scan matches the tenant first."""

    def __init__(self, driver, database: str, batch_size: int, tenant: str = DEFAULT_TENANT) -> None:
        self._driver = driver
        self._database = database
        self._client = Neo4jClient(driver, database)
        self._batch = batch_size
        self.tenant = tenant
        self._tenant_params = {"tenant": tenant, "tenant_key": tenant_key(tenant)}
        self._cache = ReadCache()
        self._version_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphrag-neo4j-version")

    @classmethod
    def open(cls, settings: Settings) -> Neo4jGraphStore:
        """Connect (failing within ``neo4j_timeout_s`` when the server is down) and create constraints/indexes."""
        driver = open_driver(settings)
        store = cls(driver, settings.neo4j_database, _ROWS_PER_STATEMENT, settings.tenant)
        apply_schema(store._run, _SCHEMA)
        store._tag_untenanted()
        return store

    def _tag_untenanted(self) -> None:
        """Nodes written before tenants existed belong to the default tenant (cheap when there are none)."""
        default = {"t": DEFAULT_TENANT, "key": tenant_key(DEFAULT_TENANT)}
        self._run("MATCH (c:Chunk) WHERE c.tenant IS NULL SET c.tenant = $t, c.tenant_key = $key", **default)
        for label in ("Entity", "Community", "Document"):  # a fixed list: safe in the query text
            self._run(f"MATCH (n:{label}) WHERE n.tenant IS NULL SET n.tenant = $t", **default)

    # plumbing ---------------------------------------------------------------------------------------------
    def _run(self, query: str, **params) -> list[dict]:
        # An auto-commit run, not execute_query: the driver's retry loop can overshoot its time budget, and a
        # request must learn that Neo4j is down within neo4j_timeout_s.
        return self._client.run(query, **{**self._tenant_params, **params})

    def _write(self, work):
        """Run ``work(tx)`` in one managed write transaction (retried by the driver on transient errors)."""

        def body(tx):
            result = work(_TenantTransaction(tx, self._tenant_params))
            tx.run("MATCH (m:GraphRAGMeta {key: 'state'}) SET m.version = m.version + 1")
            return result

        try:
            return self._client.write(body)
        finally:
            self._cache.clear()

    def _batches(self, rows: list):
        for start in range(0, len(rows), self._batch):
            yield rows[start : start + self._batch]

    def close(self) -> None:
        self._version_reader.shutdown(wait=True)
        self._driver.close()

    def version(self) -> object:
        rows = self._run("MATCH (m:GraphRAGMeta {key: 'state'}) RETURN m.version AS v")
        return rows[0]["v"] if rows else 0

    @contextmanager
    def cached_reads(self) -> Iterator[Callable[[], object]]:
        """Serve repeated entity, mention and title reads from a cache checked against the version (read_cache.py).
        The version is read on a thread of its own, beside the caller's first steps (embedding the question)."""
        pending = self._version_reader.submit(self.version)
        self._cache.sync_when_ready(pending)
        try:
            yield pending.result
        finally:
            self._cache.end()

    # writes -----------------------------------------------------------------------------------------------
    def document_version(self, document_id: str) -> str | None:
        rows = self._run("MATCH (d:Document {id: $id, tenant: $tenant}) RETURN d.sha256 AS sha", id=document_id)
        return rows[0]["sha"] if rows else None

    def write_documents(self, writes: Sequence[DocumentWrite]) -> tuple[list[str], list[str]]:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows = self._rows(writes, now, self.tenant)

        def work(tx):
            removed_chunks: list[str] = []
            removed_entities: list[str] = []
            touched: set[str] = set()
            ids = [document.id for document, _, _ in writes]
            existing = [
                r["id"]
                for r in tx.run("MATCH (d:Document {tenant: $tenant}) WHERE d.id IN $ids RETURN d.id AS id", ids=ids)
            ]
            for doc_id in existing:
                gone_chunks, gone_entities, still = self._delete_contribution(tx, doc_id)
                removed_chunks += gone_chunks
                removed_entities += gone_entities
                touched |= still
            # An entity created here by one document already has that document's type, label and aliases; only
            # those that existed before or that several documents of the batch name need a vote.
            contributions = Counter(r["id"] for r in rows["entities"])
            touched |= {
                r["id"]
                for r in tx.run("MATCH (e:Entity) WHERE e.id IN $ids RETURN e.id AS id", ids=sorted(contributions))
            }
            touched |= {entity for entity, count in contributions.items() if count > 1}
            for query, key in _WRITES:
                for part in self._batches(rows[key]):
                    tx.run(query, rows=part)
            self._revote(tx, sorted(touched))
            readded = {r["id"] for r in rows["entities"]}
            return removed_chunks, [e for e in removed_entities if e not in readded]

        return self._write(work)

    @staticmethod
    def _rows(writes: Sequence[DocumentWrite], now: str, tenant: str) -> dict[str, list[dict]]:
        """Parameter rows for the whole batch, one list per kind of write (validated before any Cypher runs)."""
        rows: dict[str, list[dict]] = {"documents": [], "chunks": [], "entities": [], "mentions": [], "relations": []}
        for document, chunks, extraction in writes:
            if document.tenant != tenant:
                raise StoreError(
                    f"document {document.id} belongs to tenant {document.tenant!r}, this store to {tenant!r}"
                )
            rows["documents"].append(
                {
                    "id": document.id,
                    "title": document.title,
                    "source": document.source,
                    "tenant": document.tenant,
                    "sha": document.sha256,
                    "at": document.ingested_at or now,
                    "text": document.text,
                    "metadata": json.dumps(document.metadata, ensure_ascii=False),
                }
            )
            rows["chunks"] += [
                {"doc": document.id, "id": c.id, "index": c.index, "text": c.text, "start": c.start, "end": c.end}
                for c in chunks
            ]
            weights: dict[str, int] = defaultdict(int)
            for mention in extraction.mentions:
                weights[mention.entity_id] += 1
            rows["entities"] += [
                {
                    "doc": document.id,
                    "id": e.id,
                    "name": e.name,
                    "weight": max(weights[e.id], 1),
                    "type": e.type if e.type in ENTITY_TYPES else "Other",  # whitelisted: it becomes a label
                    "aliases": [e.name, *e.aliases],
                    "other_aliases": sorted(set(e.aliases) - {e.name}),
                    "norms": sorted({normalize_name(a) for a in (e.name, *e.aliases)}),
                }
                for e in extraction.entities
            ]
            unique = {(m.chunk_id, m.entity_id, m.start): m for m in extraction.mentions}
            rows["mentions"] += [
                {
                    "doc": document.id,
                    "chunk": m.chunk_id,
                    "entity": m.entity_id,
                    "start": m.start,
                    "end": m.end,
                    "text": m.text,
                }
                for m in unique.values()
            ]
            for rel in extraction.relations:
                if not valid_relation_type(rel.type):
                    raise StoreError(f"relation type {rel.type!r} is not a valid UPPER_SNAKE name")
                rows["relations"] += [
                    {
                        "doc": document.id,
                        "id": rel.id,
                        "type": rel.type,
                        "source": rel.source_id,
                        "target": rel.target_id,
                        "chunk": chunk,
                        "sentence": rel.sentence,
                        "sentence_start": rel.sentence_start,
                        "sentence_end": rel.sentence_end,
                        "property_id": rel.property_id,
                        "label": rel.label or readable_type(rel.type),
                        "inverse_label": rel.inverse_label,
                        "conf": rel.confidence,
                        "prov": rel.provenance,
                    }
                    for chunk in rel.evidence or ("",)
                ]
        return rows

    def _delete_contribution(self, tx, doc_id: str) -> tuple[list[str], list[str], set[str]]:
        if tx.run("MATCH (d:Document {id: $id, tenant: $tenant}) RETURN d.id", id=doc_id).single() is None:
            return [], [], set()
        chunk_ids = [
            r["id"] for r in tx.run("MATCH (:Document {id: $id})-[:HAS_CHUNK]->(c:Chunk) RETURN c.id AS id", id=doc_id)
        ]
        touched = {
            r["id"]
            for r in tx.run("MATCH (:Document {id: $id})-[:CONTRIBUTES]->(e:Entity) RETURN e.id AS id", id=doc_id)
        }
        tx.run(
            f"""MATCH (:Document {{id: $id}})-[:CONTRIBUTES]->(:Entity)-[x:{_STRUCTURE}]->(:Entity)
                   WHERE $id IN x.support_docs
                   WITH DISTINCT x, [i IN range(0, size(x.support_docs) - 1) WHERE x.support_docs[i] <> $id] AS keep
                   SET x.support_docs = [i IN keep | x.support_docs[i]],
                       x.support_chunks = [i IN keep | x.support_chunks[i]],
                       x.support_sentences = [i IN keep | x.support_sentences[i]],
                       x.support_conf = [i IN keep | x.support_conf[i]],
                       x.support_prov = [i IN keep | x.support_prov[i]]
                   WITH x
                   SET x.evidence = [c IN x.support_chunks WHERE c <> ''],
                       x.confidence = reduce(m = 0.0, c IN x.support_conf | CASE WHEN c > m THEN c ELSE m END),
                       x.sentence = CASE WHEN size(x.support_sentences) > 0 THEN x.support_sentences[0] ELSE '' END,
                       x.sentence_start = -1, x.sentence_end = -1
                   WITH x WHERE size(x.support_docs) = 0 DELETE x""",
            id=doc_id,
        )
        tx.run("MATCH (:Document {id: $id})-[:HAS_CHUNK]->(c:Chunk) DETACH DELETE c", id=doc_id)
        tx.run("MATCH (d:Document {id: $id}) DETACH DELETE d", id=doc_id)
        orphans = [
            r["id"]
            for r in tx.run(
                f"""UNWIND $ids AS id MATCH (e:Entity {{id: id}})
                WHERE NOT ()-[:CONTRIBUTES]->(e) AND NOT (e)-[:{_STRUCTURE}]-(:Entity)
                WITH e, e.id AS gone DETACH DELETE e RETURN gone AS id""",
                ids=sorted(touched),
            )
        ]
        return chunk_ids, orphans, touched - set(orphans)

    def _revote(self, tx, entity_ids: list[str]) -> None:
        """Type by weighted vote over contributing documents (ties: not "Other", then heavier, then by name);
        aliases and normalised names as their union; one type label. All on the server, one statement a batch."""
        for part in self._batches(entity_ids):
            # The winning type is checked against the whitelist inside the query before it becomes a label.
            tx.run(
                f"""UNWIND $ids AS id MATCH (e:Entity {{id: id}})
                       CALL (e) {{ MATCH (:Document)-[c:CONTRIBUTES]->(e)
                                   WITH c.type AS t, sum(c.weight) AS w
                                   ORDER BY CASE t WHEN 'Other' THEN 1 ELSE 0 END, w DESC, t LIMIT 1
                                   RETURN CASE WHEN t IN $types THEN t ELSE 'Other' END AS best }}
                       CALL (e) {{ MATCH (:Document)-[c:CONTRIBUTES]->(e) UNWIND c.aliases AS a
                                   WITH DISTINCT a WHERE a <> e.name ORDER BY a RETURN collect(a) AS aliases }}
                       CALL (e) {{ MATCH (:Document)-[c:CONTRIBUTES]->(e) UNWIND c.norms AS n
                                   WITH DISTINCT n ORDER BY n RETURN collect(n) AS norms }}
                       REMOVE e:{_LABELS} SET e:$(best), e.type = best, e.aliases = aliases, e.norms = norms""",
                ids=part,
                types=list(ENTITY_TYPES),
            )

    def delete_document(self, document_id: str) -> tuple[list[str], list[str]]:
        if self.document_version(document_id) is None:
            raise NotFoundError(f"no document with id {document_id!r}")

        def work(tx):
            chunks, orphans, still = self._delete_contribution(tx, document_id)
            self._revote(tx, sorted(still))
            return chunks, orphans

        return self._write(work)

    def replace_communities(self, communities: Sequence[Community]) -> None:
        rows = [
            {
                "id": c.id,
                "rank": c.rank,
                "size": c.size,
                "title": c.title,
                "summary": c.summary,
                "entities": list(c.entity_ids),
                "evidence": list(c.evidence),
            }
            for c in communities
        ]

        def work(tx):
            tx.run("MATCH (c:Community {tenant: $tenant}) DETACH DELETE c")
            for part in self._batches(rows):
                # HAS_MEMBER edges let Neo4j Browser show a community with its entities.
                tx.run(
                    """UNWIND $rows AS r
                          CREATE (c:Community {id: r.id, rank: r.rank, size: r.size, title: r.title, summary: r.summary,
                                               entity_ids: r.entities, evidence: r.evidence, tenant: $tenant})
                          WITH c, r UNWIND r.entities AS entity MATCH (e:Entity {id: entity, tenant: $tenant})
                          CREATE (c)-[:HAS_MEMBER]->(e)""",
                    rows=part,
                )

        self._write(work)

    # reads ------------------------------------------------------------------------------------------------
    def list_communities(self, limit: int = 20) -> list[Community]:
        rows = self._run(
            "MATCH (c:Community {tenant: $tenant}) RETURN c {.*} AS c ORDER BY c.rank LIMIT $limit", limit=int(limit)
        )
        return [
            Community(
                r["c"]["id"],
                r["c"]["rank"],
                r["c"]["size"],
                r["c"]["title"],
                r["c"]["summary"],
                tuple(r["c"]["entity_ids"] or ()),
                tuple(r["c"]["evidence"] or ()),
            )
            for r in rows
        ]

    def relation_types(self) -> set[str]:
        rows = self._run(
            f"MATCH (:Entity {{tenant: $tenant}})-[x:{_STRUCTURE}]->(:Entity) RETURN DISTINCT type(x) AS t"
        )
        return {r["t"] for r in rows}

    def all_relations(self) -> list[Relation]:
        rows = self._run(f"MATCH (:Entity {{tenant: $tenant}})-[x:{_STRUCTURE}]->(:Entity) RETURN {_REL_RETURN} AS r")
        return [_relation(r["r"]) for r in rows]

    @staticmethod
    def _document(row: dict) -> Document:
        return Document(
            id=row["id"],
            title=row["title"],
            source=row["source"],
            text=row["text"],
            sha256=row["sha256"],
            tenant=row["tenant"],
            metadata=json.loads(row["metadata"] or "{}"),
            ingested_at=row["ingested_at"],
        )

    def get_document(self, document_id: str) -> Document | None:
        rows = self._run("MATCH (d:Document {id: $id, tenant: $tenant}) RETURN d {.*} AS d", id=document_id)
        return self._document(rows[0]["d"]) if rows else None

    def list_documents(self, limit: int = 100, offset: int = 0) -> list[Document]:
        rows = self._run(
            "MATCH (d:Document {tenant: $tenant}) RETURN d {.*} AS d ORDER BY d.title, d.id SKIP $offset LIMIT $limit",
            offset=offset,
            limit=limit,
        )
        return [self._document(r["d"]) for r in rows]

    def document_titles(self, document_ids: Sequence[str]) -> dict[str, str]:
        def fetch(ids: list[str]) -> dict[str, str]:
            rows = self._run(
                "MATCH (d:Document {tenant: $tenant}) WHERE d.id IN $ids RETURN d.id AS id, d.title AS title", ids=ids
            )
            return {r["id"]: r["title"] for r in rows}

        return self._cache.lookup(self._cache.titles, document_ids, fetch)

    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        if not self._cache.active:
            rows = self._run(
                """MATCH (c:Chunk {tenant: $tenant}) WHERE c.id IN $ids
                                RETURN c.id AS id, c.document_id AS doc, c.index AS idx, c.text AS text,
                                       c.start AS start, c.end AS end""",
                ids=list(chunk_ids),
            )
        else:
            # Evidence chunks are next asked for their document's title and the entities they mention: fetch
            # those in the same round trip and keep them in the read cache.
            rows = self._run(
                f"""MATCH (c:Chunk {{tenant: $tenant}}) WHERE c.id IN $ids
                                 OPTIONAL MATCH (d:Document {{id: c.document_id}})
                                 CALL (c) {{ OPTIONAL MATCH (c)-[:MENTIONS]->(e:Entity)
                                             RETURN collect(DISTINCT e {_ENTITY_RETURN}) AS entities }}
                                 RETURN c.id AS id, c.document_id AS doc, c.index AS idx, c.text AS text,
                                        c.start AS start, c.end AS end, d.title AS title, entities""",
                ids=list(chunk_ids),
            )
            for r in rows:
                entities = [_entity(e) for e in r["entities"]]
                self._cache.remember_entities(entities)
                self._cache.remember(self._cache.chunk_entities, r["id"], tuple(sorted(e.id for e in entities)))
                if r["title"] is not None:
                    self._cache.remember(self._cache.titles, r["doc"], r["title"])
        by_id = {r["id"]: Chunk(r["id"], r["doc"], r["idx"], r["text"], r["start"], r["end"]) for r in rows}
        return [by_id[c] for c in chunk_ids if c in by_id]

    def get_entities(self, entity_ids: Sequence[str]) -> list[Entity]:
        def fetch(ids: list[str]) -> dict[str, Entity]:
            rows = self._run(
                f"MATCH (e:Entity {{tenant: $tenant}}) WHERE e.id IN $ids RETURN e {_ENTITY_RETURN} AS e", ids=ids
            )
            return {r["e"]["id"]: _entity(r["e"]) for r in rows}

        by_id = self._cache.lookup(self._cache.entities, entity_ids, fetch)
        return [by_id[e] for e in entity_ids if e in by_id]

    def find_entities(self, text: str, limit: int = 10) -> list[Entity]:
        norm = normalize_name(text)
        if not norm:
            return []
        rows = self._run(
            """MATCH (e:Entity {tenant: $tenant}) WHERE any(n IN e.norms WHERE n CONTAINS $q)
                            WITH e, CASE WHEN $q IN e.norms THEN 0 WHEN any(n IN e.norms WHERE n STARTS WITH $q) THEN 1
                                         ELSE 2 END AS rank
                            RETURN e.id AS id ORDER BY rank, id LIMIT $limit""",
            q=norm,
            limit=limit,
        )
        return self.get_entities([r["id"] for r in rows])

    def entity_names(self) -> list[tuple[str, str]]:
        if not self._cache.active:
            rows = self._run(
                "MATCH (e:Entity {tenant: $tenant}) UNWIND e.norms AS n RETURN DISTINCT n AS norm, e.id AS id"
            )
            return [(r["norm"], r["id"]) for r in rows]
        # Called once per store version to build the linker's dictionary: fetching each entity whole in the same
        # pass fills the read cache, so later entity lookups in this version need no round trip.
        rows = self._run(f"MATCH (e:Entity {{tenant: $tenant}}) RETURN e {_ENTITY_RETURN} AS e, e.norms AS norms")
        if len(rows) <= self._cache.max_items:  # a graph too big for the cache keeps fetching on demand
            self._cache.remember_entities(_entity(r["e"]) for r in rows)
        return list(dict.fromkeys((norm, r["e"]["id"]) for r in rows for norm in r["norms"] or ()))

    def neighbors(self, entity_ids, hops, relation_types=None, limit=500) -> list[Relation]:
        """Breadth-first over each entity's cached adjacency (the same walk as the embedded store's). Inside a
        cached block, a hop with at least two more to go fetches its frontier's adjacency and that of their
        neighbours in one query: three hops cost two round trips, not three."""
        types = [t for t in relation_types if valid_relation_type(t)] if relation_types else None
        if relation_types and not types:
            return []  # only invalid type names asked for: nothing can match them
        hops_left = iter(range(int(hops), 0, -1))

        def adjacency(frontier: list[str]):
            return self._adjacency(frontier, two_levels=next(hops_left, 1) >= 2 and self._cache.active)

        return breadth_first_relations(entity_ids, hops, adjacency, types, limit)

    def _adjacency(
        self, entity_ids: list[str], two_levels: bool = False
    ) -> dict[str, tuple[tuple[Relation, str], ...]]:
        def fetch(ids: list[str]) -> dict[str, tuple[tuple[Relation, str], ...]]:
            # The far end comes back with each relation: callers look those entities up next (one round trip less).
            # With two_levels the far ends' own adjacency comes too, unless they are so many (a hub) that the walk
            # would stop at its relation limit before needing them.
            rows = self._run(
                f"""UNWIND $ids AS id MATCH (a:Entity {{id: id, tenant: $tenant}})
                                 WITH collect(a) AS seeds
                                 CALL (seeds) {{
                                     UNWIND seeds AS a MATCH (a)-[:{_STRUCTURE}]-(b)
                                     WHERE $two_levels AND NOT b IN seeds
                                     WITH DISTINCT b LIMIT $bound + 1 RETURN collect(b) AS level1 }}
                                 UNWIND seeds + CASE WHEN size(level1) <= $bound THEN level1 ELSE [] END AS n
                                 CALL (n) {{ MATCH (n)-[x:{_STRUCTURE}]-(b) RETURN x, b LIMIT $cap }}
                                 RETURN n.id AS id,
                                        collect({{rel: {_REL_RETURN}, other: b {_ENTITY_RETURN}}}) AS adjacent""",
                ids=ids,
                cap=_ADJACENCY_CAP,
                two_levels=two_levels,
                bound=_PREFETCH_BOUND,
            )
            adjacency = {entity: () for entity in ids}
            for row in rows:
                adjacency[row["id"]] = tuple((_relation(item["rel"]), item["other"]["id"]) for item in row["adjacent"])
                self._cache.remember_entities(_entity(item["other"]) for item in row["adjacent"])
            return adjacency

        return self._cache.lookup(self._cache.adjacency, entity_ids, fetch)

    def paths(self, source_id: str, target_id: str, max_hops: int, k: int) -> list[Path]:
        return self.connecting_paths([(source_id, target_id)], max_hops, k)[0]

    def connecting_paths(self, pairs: Sequence[tuple[str, str]], max_hops: int, k: int) -> list[list[Path]]:
        """All pairs in one query (one round trip, not one per pair)."""
        hops, fetch = int(max_hops), int(k) * 4  # validated ints: safe in the query text
        wanted = [[s, t] for s, t in pairs if s != t]
        rows = (
            self._run(
                f"""UNWIND range(0, size($pairs) - 1) AS i
                             MATCH (a:Entity {{id: $pairs[i][0], tenant: $tenant}}),
                                   (b:Entity {{id: $pairs[i][1], tenant: $tenant}})
                             MATCH p = SHORTEST {fetch} (a)-[:{_STRUCTURE}]-{{1,{hops}}}(b)
                             RETURN i, [n IN nodes(p) | n {_ENTITY_RETURN}] AS nodes,
                                    [x IN relationships(p) | {_REL_RETURN}] AS rels""",
                pairs=wanted,
            )
            if wanted
            else []
        )
        # Several relations may join one pair of entities: per node sequence, each hop keeps its best relation.
        hops_by_nodes: list[dict[tuple[str, ...], list[list[Relation]]]] = [{} for _ in wanted]
        entities: dict[str, Entity] = {}
        for row in rows:
            nodes = tuple(n["id"] for n in row["nodes"])
            if len(set(nodes)) != len(nodes):
                continue  # simple paths only
            entities.update((n["id"], _entity(n)) for n in row["nodes"])
            options = hops_by_nodes[row["i"]].setdefault(nodes, [[] for _ in row["rels"]])
            for hop, rel in enumerate(row["rels"]):
                options[hop].append(_relation(rel))
        self._cache.remember_entities(entities.values())
        found = iter(hops_by_nodes)
        return [self._best_paths(next(found), entities, k) if s != t else [] for s, t in pairs]

    @staticmethod
    def _best_paths(hops_by_nodes: dict, entities: dict[str, Entity], k: int) -> list[Path]:
        result = []
        for nodes, options in hops_by_nodes.items():
            rels = [max(choices, key=best_relation_key) for choices in options]
            steps = tuple(PathStep(rel, rel.source_id == a) for a, rel in zip(nodes, rels))
            result.append(Path(nodes=tuple(entities[n] for n in nodes), steps=steps))
        return sorted(result, key=path_order)[:k]

    def _entity_chunks(self, ids: list[str]) -> dict[str, tuple[str, ...]]:
        rows = self._run(
            """UNWIND $ids AS id MATCH (e:Entity {id: id, tenant: $tenant})
                            CALL (e) { MATCH (c:Chunk)-[:MENTIONS]->(e) RETURN DISTINCT c.id AS c ORDER BY c LIMIT
                            $cap }
                            RETURN id, collect(c) AS chunks""",
            ids=ids,
            cap=_MENTION_CAP,
        )
        found = {entity: () for entity in ids}
        found.update((r["id"], tuple(r["chunks"])) for r in rows)
        return found

    def chunks_mentioning(self, entity_ids: Sequence[str], limit: int = 50) -> list[tuple[str, str]]:
        chunks = self._cache.lookup(self._cache.entity_chunks, entity_ids, self._entity_chunks)
        pairs = [(e, c) for e in dict.fromkeys(entity_ids) for c in chunks.get(e, ())]
        return pairs[:limit]

    def chunks_mentioning_each(self, entity_ids: Sequence[str], per_entity: int) -> list[tuple[str, str]]:
        chunks = self._cache.lookup(self._cache.entity_chunks, entity_ids, self._entity_chunks)
        return [(e, c) for e in dict.fromkeys(entity_ids) for c in chunks.get(e, ())[:per_entity]]

    def document_heads(self) -> list[tuple[str, str, str]]:
        rows = self._run("""MATCH (d:Document {tenant: $tenant})-[:HAS_CHUNK]->(c:Chunk {index: 0})
                            RETURN d.id AS d, d.title AS t, c.id AS c""")
        return [(r["d"], r["t"], r["c"]) for r in rows]

    def entities_in_chunks(self, chunk_ids: Sequence[str]) -> list[tuple[str, str]]:
        def fetch(ids: list[str]) -> dict[str, tuple[str, ...]]:
            rows = self._run(
                """UNWIND $ids AS id MATCH (c:Chunk {id: id, tenant: $tenant})
                                OPTIONAL MATCH (c)-[:MENTIONS]->(e:Entity)
                                RETURN id, collect(DISTINCT e.id) AS entities""",
                ids=ids,
            )
            return {r["id"]: tuple(sorted(r["entities"])) for r in rows}

        found = self._cache.lookup(self._cache.chunk_entities, chunk_ids, fetch)
        return [(c, e) for c in dict.fromkeys(chunk_ids) for e in found.get(c, ())]

    def keyword_search(self, text: str, k: int) -> list[Hit]:
        # Quote every word token: user text never reaches Lucene query syntax. The tenant's key is a required
        # clause, so other tenants' chunks are never candidates (it adds the same score to every hit).
        tokens = keyword_terms(text)
        if not tokens:
            return []
        words = " OR ".join(f'text:"{t}"' for t in tokens)
        query = f"+tenant_key:{self._tenant_params['tenant_key']} +({words})"
        rows = self._run(
            """CALL db.index.fulltext.queryNodes('chunk_search', $q, {limit: $k}) YIELD node, score
                            RETURN node.id AS id, score""",
            q=query,
            k=k,
        )
        return [Hit(id=r["id"], score=float(r["score"]), source="keyword") for r in rows]

    def chunk_ids(self) -> set[str]:
        return {r["id"] for r in self._run("MATCH (c:Chunk {tenant: $tenant}) RETURN c.id AS id")}

    def entity_ids(self) -> set[str]:
        return {r["id"] for r in self._run("MATCH (e:Entity {tenant: $tenant}) RETURN e.id AS id")}

    def mentioned_entity_ids(self) -> set[str]:
        query = "MATCH (:Chunk {tenant: $tenant})-[:MENTIONS]->(e:Entity) RETURN DISTINCT e.id AS id"
        return {r["id"] for r in self._run(query)}

    def integrity_problems(self) -> dict[str, int]:
        # A mention is an edge between two nodes, so it cannot outlive either: only chunks cut off from their
        # document would leave mentions behind, and those count as orphan chunks.
        row = self._run(f"""CALL () {{ MATCH (c:Chunk {{tenant: $tenant}}) WHERE NOT (:Document)-[:HAS_CHUNK]->(c)
                                       RETURN count(c) AS orphan_chunks }}
                            CALL () {{ MATCH (:Entity {{tenant: $tenant}})-[x:{_STRUCTURE}]->(:Entity)
                                       WHERE size(coalesce(x.support_docs, [])) = 0
                                          OR any(d IN x.support_docs WHERE NOT EXISTS {{ MATCH (:Document {{id: d}}) }})
                                       RETURN count(x) AS orphan_relations }}
                            CALL () {{ MATCH (e:Entity {{tenant: $tenant}})
                                       WHERE NOT (:Document)-[:CONTRIBUTES]->(e) AND NOT (e)-[:{_STRUCTURE}]-(:Entity)
                                       RETURN count(e) AS orphan_entities }}
                            RETURN orphan_chunks, orphan_relations, orphan_entities""")[0]
        return {
            "orphan_chunks": row["orphan_chunks"],
            "orphan_mentions": 0,
            "orphan_relations": row["orphan_relations"],
            "orphan_entities": row["orphan_entities"],
        }

    def stats(self) -> StoreStats:
        row = self._run(f"""CALL () {{ MATCH (d:Document {{tenant: $tenant}}) RETURN count(d) AS documents }}
                            CALL () {{ MATCH (c:Chunk {{tenant: $tenant}}) RETURN count(c) AS chunks }}
                            CALL () {{ MATCH (e:Entity {{tenant: $tenant}}) RETURN count(e) AS entities }}
                            CALL () {{ MATCH (:Entity {{tenant: $tenant}})-[x:{_STRUCTURE}]->(:Entity)
                                       RETURN count(x) AS relations }}
                            CALL () {{ MATCH (:Chunk {{tenant: $tenant}})-[m:MENTIONS]->(:Entity) RETURN count(m) AS
                            mentions }}
                            RETURN documents, chunks, entities, relations, mentions""")[0]
        return StoreStats(row["documents"], row["chunks"], row["entities"], row["relations"], row["mentions"])

    def clear(self) -> None:
        """Delete every node of every tenant (tests and benchmarks use it on throwaway servers)."""
        self._write(lambda tx: tx.run("MATCH (n) WHERE NOT n:GraphRAGMeta DETACH DELETE n"))
