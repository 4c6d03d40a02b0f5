"""The Engine: composition root shared by the CLI, the HTTP server and the scripts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path as FsPath

from graphrag.answering.extractive import AnswerWriter, ExtractiveAnswerWriter
from graphrag.answering.writers import AnswerWriters
from graphrag.config import Settings
from graphrag.errors import GraphRAGError, LimitExceededError, NotFoundError, StoreError
from graphrag.graph_store import GraphStore, open_graph_store
from graphrag.graph_store.vector_index import FaissIndex
from graphrag.ids import content_sha256
from graphrag.indexing.communities import detect_communities
from graphrag.indexing.extracted import ExtractedDocument
from graphrag.indexing.loaders import document_from_text, load_bytes, normalize_text, triple_set_digest, upload_key
from graphrag.indexing.pipeline import Indexer, IndexReport, IngestProblem
from graphrag.lm.embedding import Embedder, SentenceTransformerEmbedder
from graphrag.offline import freeze_loaded_objects
from graphrag.retrieval import PATHS_PER_PAIR, Planner, Retrieval
from graphrag.types import Answer, Community, Document, Entity, Path, Relation, StoreStats, Triple

__all__ = ["Ask", "Engine", "PendingRead", "answer_together", "finish_together", "prepare_together"]


@dataclass(frozen=True, slots=True)
class Ask:
    """One question as ``Engine.ask`` takes it."""

    question: str
    max_hops: int | None = None
    top_k: int | None = None
    adapter: str | None = None


class Engine:
    """Ingest, ask, explore and delete over one graph store and its vector indexes."""

    def __init__(
        self,
        settings: Settings,
        store: GraphStore,
        embedder: Embedder,
        chunk_index,
        entity_index,
        writer: AnswerWriter | None = None,
        *,
        writers: AnswerWriters | None = None,
        extractor_loader: Callable[[], object] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.chunk_index = chunk_index
        self.entity_index = entity_index
        self.writers = writers or AnswerWriters(
            settings, writer or ExtractiveAnswerWriter(settings.answer_threshold), embedder
        )
        self.planner = Planner(settings, store, embedder, chunk_index, entity_index, communities=self.communities)
        self._communities_stale = False
        self._extractor = None
        self._extractor_loader = extractor_loader or self._get_extractor
        self.indexer = Indexer(settings, store, embedder, chunk_index, entity_index, self._extractor_loader)

    @classmethod
    def from_settings(
        cls, settings: Settings, embedder: Embedder | None = None, reconcile: bool = True, **shared
    ) -> Engine:
        """Open the store, load the embedder and vector indexes, and mend indexes left behind by a crash (unless
        ``reconcile`` is False: ``check_integrity`` wants to see them as they were left).

        ``shared`` passes models on to the new engine (``writers``, ``extractor_loader``): see ``for_tenant``."""
        embedder = embedder or SentenceTransformerEmbedder.from_settings(settings)
        store = open_graph_store(settings)
        try:
            chunk_index, entity_index = (
                cls._open_index(settings, name, embedder, store) for name in ("chunks", "entities")
            )
            engine = cls(settings, store, embedder, chunk_index, entity_index, **shared)
            if reconcile:
                engine.indexer.reconcile()
                engine.planner.sync_relation_types()  # a store written before its types' phrases were kept
        except BaseException:
            store.close()
            raise
        freeze_loaded_objects()
        return engine

    def for_tenant(self, tenant: str) -> Engine:
        """An engine over ``tenant``'s partition that shares this one's models (embedder, spaCy, answer LMs):
        a tenant costs a store connection and its vector indexes, not another copy of the models."""
        if tenant == self.settings.tenant:
            return self
        return Engine.from_settings(
            self.settings.for_tenant(tenant),
            self.embedder,
            writers=self.writers,
            extractor_loader=self._extractor_loader,
        )

    @staticmethod
    def _open_index(settings: Settings, name: str, embedder: Embedder, store):
        # What was embedded is part of the index's identity: chunks are embedded after their document's title.
        embedded_as = f"{embedder.name}+titles" if name == "chunks" else embedder.name
        if settings.vector_backend == "neo4j":
            from graphrag.graph_store.neo4j_vectors import Neo4jVectorIndex

            return Neo4jVectorIndex.open(store, name, embedded_as, embedder.dim)
        try:
            index = FaissIndex.open(settings.vectors_dir, name, embedded_as, embedder.dim)
        except StoreError:
            # A torn index file is rebuilt from the store by reconcile(); the store is the source of truth.
            index = FaissIndex(settings.vectors_dir, name, embedded_as, embedder.dim)
        return index

    def _get_extractor(self):
        if self._extractor is None:
            from graphrag.extraction.spacy_rules import SpacyRuleExtractor

            spacy = SpacyRuleExtractor.load(self.settings.spacy_model)
            if self.settings.extractor == "encoder":
                from graphrag.extraction.encoder_extractor import EncoderRelationExtractor

                self._extractor = EncoderRelationExtractor.load(self.settings, spacy)
            else:
                self._extractor = spacy
        return self._extractor

    # ingestion --------------------------------------------------------------------------------------------
    def ingest(self, paths: Iterable[str | FsPath], progress: bool = False, workers: int = -1) -> IndexReport:
        """Ingest files and folders (txt, md, html, pdf, jsonl, csv)."""
        with self._writing():
            return self.indexer.index_paths([str(p) for p in paths], progress=progress, workers=workers)

    def ingest_text(
        self, text: str, title: str = "", doc_id: str | None = None, metadata: dict | None = None, source: str = "api"
    ) -> IndexReport:
        """Ingest one text; without ``doc_id`` its identity is its content hash."""
        text = normalize_text(text)
        key = f"id:{doc_id}" if doc_id else f"sha:{content_sha256(text)}"
        document = document_from_text(
            text,
            key=key,
            title=title or (text.strip().split("\n", 1)[0][:80]),
            source=source,
            tenant=self.settings.tenant,
            max_bytes=self.settings.max_document_bytes,
            metadata=metadata,
        )
        with self._writing():
            return self.indexer.index_documents([document])

    def ingest_bytes(self, data: bytes, filename: str) -> IndexReport:
        """Ingest an uploaded file's bytes, typed by the filename's suffix; its identity is its content
        (:func:`upload_key`), not its name."""
        suffix = FsPath(filename).suffix.lower()
        key = upload_key(data)
        loaded = load_bytes(
            data,
            suffix=suffix,
            source=filename,
            title=FsPath(filename).stem,
            tenant=self.settings.tenant,
            max_bytes=self.settings.max_document_bytes,
            key=key,
        )
        report = IndexReport()
        report.problems.extend(IngestProblem(filename, m, "invalid_record", line) for line, m in loaded.line_errors)
        with self._writing():
            if loaded.triples:
                self.indexer.index_triples(loaded.triples, key=key, source=filename, report=report)
            if loaded.extracted:
                self.indexer.index_extracted(loaded.extracted, report)
            self.indexer.index_documents(loaded.documents, report)
        return report

    def ingest_extracted(self, extracted: Sequence[ExtractedDocument], report: IndexReport) -> IndexReport:
        """Ingest documents extracted elsewhere (``graphrag extract`` records; an ingest job's step)."""
        with self._writing():
            return self.indexer.index_extracted(extracted, report)

    def ingest_documents(self, documents: Sequence[Document], report: IndexReport | None = None) -> IndexReport:
        """Ingest already-loaded documents (an ingest job's steps)."""
        with self._writing():
            return self.indexer.index_documents(documents, report)

    def ingest_steps(self, documents: Sequence[Document], report: IndexReport, step_chunks: int) -> Iterator[int]:
        """Ingest ``documents`` in bounded steps (see :meth:`Indexer.index_in_steps`): a generator whose every
        ``next()`` does one step and returns how many documents are finished. Run each step under the same lock as
        other engine calls; questions asked between steps see the documents finished so far."""
        steps = self.indexer.index_in_steps(documents, report, step_chunks)
        while True:
            with self._writing():
                done = next(steps, None)
            if done is None:
                return
            yield done

    def add_triples(
        self,
        triples: Sequence[Triple],
        source: str | None = None,
        report: IndexReport | None = None,
        key: str | None = None,
    ) -> IndexReport:
        """Load structured facts. Posting the same ``source`` (or ``key``) again replaces that source's previous
        set (the report counts it under ``documents_replaced``); sets without either add up: each is its own
        record, named by its content, so the same set again changes nothing."""
        if key is None:
            key = f"api:{source}" if source else f"api-set:{triple_set_digest(triples)}"
        with self._writing():
            return self.indexer.index_triples(triples, key=key, source=source or "api", report=report)

    def delete_document(self, document_id: str) -> None:
        """Delete a document and everything only it supported."""
        with self._writing():
            chunks, entities = self.store.delete_document(document_id)
            self.chunk_index.remove(chunks)
            self.entity_index.remove(entities)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Around every change: afterwards, forget cached name dictionaries and, if the graph changed, mark the
        communities stale (also when the change failed part-way: what did land counts). Stale communities are
        recomputed by the next read that needs them, or on close: a server taking many small writes does not
        run community detection (0.4-0.8 s on a 16,000-entity graph) for each."""
        before = self.store.version()
        try:
            yield
        finally:
            self.planner.invalidate()
            with suppress(GraphRAGError):  # a failing change's own error is the one to report
                if self.store.version() != before:
                    self._communities_stale = True
                    self.planner.sync_relation_types()

    def refresh_communities(self) -> list[Community]:
        """Detect communities over the whole relation graph and store them (replacing the previous ones)."""
        relations = self.store.all_relations()
        ids = sorted({i for r in relations for i in (r.source_id, r.target_id)})
        names = {e.id: e.name for e in self.store.get_entities(ids)}
        found = detect_communities(relations, names)
        self.store.replace_communities(found)
        self._communities_stale = False
        self.planner.invalidate()
        return found

    def communities(self, limit: int = 20) -> list[Community]:
        """Stored communities, largest first (recomputed first when a change since the last time made them stale)."""
        if self._communities_stale:
            self.refresh_communities()
        return self.store.list_communities(limit)

    # questions --------------------------------------------------------------------------------------------
    def _check_limits(self, question: str, max_hops: int | None, top_k: int | None) -> None:
        if not isinstance(question, str) or not question.strip():
            raise LimitExceededError("question must be a non-empty string")
        if len(question) > self.settings.max_question_chars:
            raise LimitExceededError(
                f"question is {len(question)} characters; the limit is {self.settings.max_question_chars}"
            )
        if max_hops is not None and not 1 <= max_hops <= self.settings.max_hops_limit:
            raise LimitExceededError(f"max_hops must be between 1 and {self.settings.max_hops_limit}")
        if top_k is not None and not 1 <= top_k <= self.settings.top_k_limit:
            raise LimitExceededError(f"top_k must be between 1 and {self.settings.top_k_limit}")

    def retrieve(self, question: str, max_hops: int | None = None, top_k: int | None = None) -> Retrieval:
        """Retrieval only (no answer writing): plan, evidence, chains and paths."""
        self._check_limits(question, max_hops, top_k)
        return self.planner.retrieve(question, max_hops, top_k)

    def ask(
        self, question: str, max_hops: int | None = None, top_k: int | None = None, adapter: str | None = None
    ) -> Answer:
        """Answer a question with citations, graph paths, the plan and timings.

        ``adapter``: None uses the configured writer; an adapter name makes the answer LM write with that
        adapter; ``"none"`` makes the base LM write without one."""
        outcome = answer_together([(self, Ask(question, max_hops, top_k, adapter))])[0]
        if isinstance(outcome, GraphRAGError):
            raise outcome
        return outcome

    # exploration ------------------------------------------------------------------------------------------
    def get_document(self, document_id: str) -> Document:
        """A stored document, or NotFoundError."""
        document = self.store.get_document(document_id)
        if document is None:
            raise NotFoundError(f"no document with id {document_id!r}")
        return document

    def get_entity(self, entity_id: str) -> Entity:
        """A stored entity, or NotFoundError."""
        found = self.store.get_entities([entity_id])
        if not found:
            raise NotFoundError(f"no entity with id {entity_id!r}")
        return found[0]

    def neighbors(self, entity_id: str, hops: int, limit: int) -> tuple[list[Relation], dict[str, Entity]]:
        """Relations around an entity and the entities they touch."""
        self.get_entity(entity_id)
        if not 1 <= hops <= self.settings.max_hops_limit:
            raise LimitExceededError(f"hops must be between 1 and {self.settings.max_hops_limit}")
        relations = self.store.neighbors([entity_id], hops, limit=limit)
        ids = sorted({r.source_id for r in relations} | {r.target_id for r in relations} | {entity_id})
        return relations, {e.id: e for e in self.store.get_entities(ids)}

    def paths(self, source_id: str, target_id: str, max_hops: int) -> list[Path]:
        """Shortest paths between two entities."""
        self.get_entity(source_id)
        self.get_entity(target_id)
        if not 1 <= max_hops <= self.settings.max_hops_limit:
            raise LimitExceededError(f"max_hops must be between 1 and {self.settings.max_hops_limit}")
        return self.store.paths(source_id, target_id, max_hops, PATHS_PER_PAIR)

    def stats(self) -> StoreStats:
        """Counts of stored items."""
        return self.store.stats()

    def check_integrity(self) -> dict[str, int]:
        """The store's own check (orphans) plus whether each vector index holds the stored ids (every chunk; every
        entity a chunk mentions, and no entity the store lacks); every count is zero when the store and its indexes
        are consistent."""
        problems = dict(self.store.integrity_problems())
        for name, index, needed, allowed in (
            ("chunk", self.chunk_index, self.store.chunk_ids(), None),
            ("entity", self.entity_index, self.store.mentioned_entity_ids(), self.store.entity_ids()),
        ):
            indexed = index.ids()
            problems[f"{name}_vectors_missing"] = len(needed - indexed)
            problems[f"{name}_vectors_extra"] = len(indexed - (needed if allowed is None else allowed))
        return problems

    def close(self) -> None:
        """Bring stale communities up to date, persist indexes and close the store."""
        if self._communities_stale:
            with suppress(GraphRAGError):  # a store that fails now fails below too, with its own message
                self.refresh_communities()
        self.planner.close()
        self.indexer.save()
        for index in (self.chunk_index, self.entity_index):
            if isinstance(index, FaissIndex):
                index.close()
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def answer_together(asks: Sequence[tuple[Engine, Ask]]) -> list[Answer | GraphRAGError]:
    """Answer several questions, each on its own engine (tenants' engines share their models): ``prepare_together``,
    then ``finish_together`` for those the answer LM must read (their replies decoded in one batch, one forward pass
    a step). Each question gets its answer, or the error ``Engine.ask`` would raise for it alone."""
    prepared = prepare_together(asks)
    pending = [p for p in prepared if isinstance(p, PendingRead)]
    read = iter(finish_together(pending))
    return [next(read) if isinstance(p, PendingRead) else p for p in prepared]


@dataclass(frozen=True, slots=True)
class PendingRead:
    """A question whose answer the LM writer must still read (``finish_together`` answers it)."""

    writer: AnswerWriter
    reading: object  # the writer's Reading
    started: float  # perf_counter when its answering began, and when its writing began
    writing_started: float


def prepare_together(asks: Sequence[tuple[Engine, Ask]]) -> list[Answer | GraphRAGError | PendingRead]:
    """Retrieval for each question, then its answer where no model must read (the graph's answer, "I don't know",
    the extractive writer's), else what the model must read. Needs the store and the embedder: one thread at a
    time, under the engine's lock."""
    out: list[Answer | GraphRAGError | PendingRead] = []
    for engine, ask in asks:
        started = time.perf_counter()
        try:
            writer = engine.writers.pick(ask.adapter)  # before retrieval: an unknown adapter fails fast
            retrieval = engine.retrieve(ask.question, ask.max_hops, ask.top_k)
            writing_started = time.perf_counter()
            prepared = (
                writer.prepare(ask.question, retrieval)
                if hasattr(writer, "prepare")
                else writer.write(ask.question, retrieval)
            )
        except GraphRAGError as exc:
            out.append(exc)
            continue
        if isinstance(prepared, Answer):
            out.append(_timed(prepared, started, writing_started))
        else:
            out.append(PendingRead(writer, prepared, started, writing_started))
    return out


def finish_together(pending: Sequence[PendingRead]) -> list[Answer | GraphRAGError]:
    """The LM's answers to prepared questions, those of writers that decode alike (the same ``batch_key``) in one
    batch. Needs only the answer LM: it may run on its own thread beside ``prepare_together``."""
    outcomes: list[Answer | GraphRAGError | None] = [None] * len(pending)
    groups: dict[object, list[int]] = {}
    for index, item in enumerate(pending):
        groups.setdefault(item.writer.batch_key, []).append(index)
    for indices in groups.values():
        written = pending[indices[0]].writer.read_all([pending[i].reading for i in indices])
        for index, outcome in zip(indices, written):
            item = pending[index]
            outcomes[index] = _timed(outcome, item.started, item.writing_started)
    return [outcome for outcome in outcomes if outcome is not None]


def _timed(outcome, started: float, writing_started: float):
    """An answer with its writing time ("answer") and its whole time ("total") in ``timings_ms``."""
    if isinstance(outcome, Answer):
        now = time.perf_counter()
        outcome.timings_ms["answer"] = round((now - writing_started) * 1000, 2)
        outcome.timings_ms["total"] = round((now - started) * 1000, 2)
    return outcome
