"""Indexing pipeline: load -> chunk -> extract -> resolve -> write (one transaction per batch) -> embed.

Idempotent: a document whose id and sha256 are already stored is skipped; a changed one replaces its old
contribution. SQLite is the source of truth; the vector indexes are reconciled against it (see
:meth:`Indexer.reconcile`), so a crash between the two leaves nothing inconsistent that the next run won't mend.

With two or more cores and more than one batch of documents, extraction (spaCy, one core) runs in a worker
process while this process embeds chunks on the remaining cores: a batch's chunk vectors are computed while its
extraction is still running (they do not depend on it), then the batch is written and its new entity names
embedded. The two expensive stages overlap instead of taking turns. With the encoder extractor the worker finds
only the spaCy mentions, and this process reads the relations with the classifier after embedding the batch: one
copy of torch and the encoder in memory (docs/extraction.md has the figures).
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from graphrag.config import Settings
from graphrag.errors import GraphRAGError, InputError
from graphrag.extraction.base import Extractor, entity_type_or_other, relation_type_from_words, relation_words
from graphrag.extraction.resolve import resolve_document
from graphrag.ids import entity_id, relation_id
from graphrag.indexing.extracted import ExtractedDocument
from graphrag.indexing.loaders import SentenceChunker, discover_files, document_from_text, load_file
from graphrag.memory import return_freed_memory
from graphrag.types import Chunk, Document, Entity, Extraction, Relation, Triple

__all__ = [
    "ExtractionStream",
    "IndexReport",
    "Indexer",
    "IngestProblem",
    "splits_extraction",
    "worker_count",
]

_SAVE_EVERY_S = 60.0
_TYPE_SYNONYMS = {
    "company": "Organization",
    "org": "Organization",
    "organisation": "Organization",
    "human": "Person",
    "people": "Person",
    "place": "Location",
    "city": "Location",
    "country": "Location",
    "gpe": "Location",
    "loc": "Location",
}


@dataclass(frozen=True, slots=True)
class IngestProblem:
    """Something that could not be ingested, and why (line is set for JSONL/CSV records)."""

    source: str
    message: str
    code: str = "invalid_input"
    line: int | None = None


@dataclass
class IndexReport:
    """Counts of what an ingest did, plus every problem it skipped past."""

    documents_added: int = 0
    documents_replaced: int = 0
    documents_unchanged: int = 0
    triples: int = 0
    chunks: int = 0
    document_ids: list[str] = field(default_factory=list)
    problems: list[IngestProblem] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "documents_added": self.documents_added,
            "documents_replaced": self.documents_replaced,
            "documents_unchanged": self.documents_unchanged,
            "triples": self.triples,
            "chunks": self.chunks,
            "document_ids": self.document_ids,
            "problems": [
                {"source": p.source, "line": p.line, "code": p.code, "message": p.message} for p in self.problems
            ],
        }


class WorkerExtractor:
    """Holds the extractor inside a worker process (set by the pool initializer, used by the task function)."""

    extractor: Extractor | None = None
    spacy_only: bool = False  # the worker runs spaCy alone; the encoder reads its relations in the caller


def init_extractor_worker(settings_json: str, in_worker: bool = True, spacy_only: bool = False) -> None:
    """Pool initializer: load the settings' extractor (rules or encoder) once per worker process (``in_worker``
    False: in this process). A worker's torch keeps to one thread: the embedder has the other cores.
    ``spacy_only`` (encoder): the worker loads spaCy alone, without torch, and returns each batch's mentions and rule
    relations."""
    import sys

    from graphrag.extraction.spacy_rules import SpacyRuleExtractor
    from graphrag.offline import spacy_model_needs_torch

    settings = Settings.model_validate_json(settings_json)
    WorkerExtractor.spacy_only = spacy_only
    if settings.extractor == "encoder" and not spacy_only:
        from graphrag.extraction.encoder_extractor import EncoderRelationExtractor

        if in_worker:
            settings = settings.model_copy(update={"torch_threads": 1})
        WorkerExtractor.extractor = EncoderRelationExtractor.load(settings)
        return
    if in_worker and "torch" not in sys.modules and not spacy_model_needs_torch(settings.spacy_model):
        # thinc imports torch whenever it is installed, only to offer PyTorch layers this pipeline does not use:
        # a None entry makes that import fail as if torch were absent (worker RSS 628 -> 167 MB, faster start).
        sys.modules["torch"] = None  # type: ignore[assignment]

    WorkerExtractor.extractor = SpacyRuleExtractor.load(settings.spacy_model)


def _extract_in_worker(items):
    extractor = WorkerExtractor.extractor
    assert extractor is not None
    return extractor.candidates(items) if WorkerExtractor.spacy_only else extractor.extract_many(items)


def splits_extraction(settings: Settings) -> bool:
    """Whether an ingest worker finds only the mentions and the caller reads the relations (the encoder)."""
    return settings.extractor == "encoder"


def worker_count(requested: int, batches: int) -> int:
    """Extraction processes to use: ``requested`` when >= 0; otherwise one when there are two or more cores and at
    least two batches (below that, starting a process and loading the extractor again costs more than it saves)."""
    if requested >= 0:
        return requested
    return 1 if (os.cpu_count() or 1) >= 2 and batches >= 2 else 0


class ExtractionStream:
    """The batches of an ingest with their extractions. Iterating yields ``(items, extracted)`` per batch;
    ``extracted()`` returns the batch's extractions, waiting for the worker when there is one (the caller does other
    work for the batch before calling it). :meth:`working` says how many workers are computing at this moment.

    With the encoder, the worker runs spaCy alone (without torch: mentions and rule relations) and this process
    reads the classifier's relations beside its embedder: one copy of torch, and the slow half on every core.
    ``cores`` > 0 gives the classifier that many torch threads, less the workers computing as each batch starts."""

    def __init__(
        self,
        settings: Settings,
        batches: Sequence[list],
        workers: int,
        extractor_provider: Callable[[], Extractor],
        cores: int = 0,
    ) -> None:
        self.settings = settings
        self.batches = batches
        self.workers = workers
        self.cores = cores
        self._extractor_provider = extractor_provider
        self._pending: list[tuple[list, Future]] = []

    def working(self) -> int:
        """How many workers are extracting now: each runs submitted batches back to back, one at a time."""
        return min(self.workers, sum(not future.done() for _, future in self._pending))

    def __iter__(self) -> Iterator[tuple[list, Callable[[], list[Extraction]]]]:
        if self.workers <= 0 or len(self.batches) < 2:
            extractor = self._extractor_provider() if self.batches else None
            for items in self.batches:
                yield items, lambda items=items: extractor.extract_many(items)
            return
        split = splits_extraction(self.settings)
        extractor = self._extractor_provider() if split else None
        context = multiprocessing.get_context("spawn")  # never fork a process that holds torch threads
        with ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=init_extractor_worker,
            initargs=(self.settings.model_dump_json(), True, split),
        ) as pool:
            queue = iter(self.batches)
            for items in queue:
                self._pending.append((items, pool.submit(_extract_in_worker, items)))
                if len(self._pending) > self.workers:
                    break
            while self._pending:
                items, future = self._pending.pop(0)
                nxt = next(queue, None)
                if nxt is not None:
                    self._pending.append((nxt, pool.submit(_extract_in_worker, nxt)))
                if extractor is None:
                    yield items, future.result
                else:
                    yield items, lambda items=items, future=future: self._read_relations(extractor, items, future)

    def _read_relations(self, extractor, items: list, future: Future) -> list[Extraction]:
        """The encoder's relations between the worker's mentions of a batch, read in this process."""
        with extractor.threads(self.cores, self.working) if self.cores else contextlib.nullcontext():
            return extractor.extract_with_candidates(items, future.result())


class Indexer:
    """Writes documents and triples into a graph store and its vector indexes."""

    def __init__(
        self,
        settings: Settings,
        store,
        embedder,
        chunk_index,
        entity_index,
        extractor_provider: Callable[[], Extractor],
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.chunk_index = chunk_index
        self.entity_index = entity_index
        self._extractor_provider = extractor_provider
        self.chunker = SentenceChunker(settings.chunk_size, settings.chunk_overlap)
        self._last_save = time.monotonic()

    # entry points -----------------------------------------------------------------------------------------
    def index_paths(self, paths: Iterable[str], progress: bool = False, workers: int = -1) -> IndexReport:
        """Ingest files and folders; bad files and bad JSONL lines are reported, the rest is ingested.

        ``workers``: extraction processes; 0 extracts in this process, -1 chooses (see :meth:`worker_count`).
        """
        report = IndexReport()
        documents: list[Document] = []
        try:
            files = list(discover_files(paths))
        except InputError as exc:  # a path that does not exist: nothing else was named, nothing to do
            report.problems.append(IngestProblem(source=", ".join(map(str, paths)), message=exc.message, code=exc.code))
            return report
        for path in tqdm(files, desc="loading", unit="file", disable=not progress or len(files) < 2):
            try:
                loaded = load_file(path, tenant=self.settings.tenant, max_bytes=self.settings.max_document_bytes)
            except GraphRAGError as exc:
                report.problems.append(IngestProblem(source=str(path), message=exc.message, code=exc.code))
                continue
            report.problems.extend(
                IngestProblem(str(path), msg, "invalid_record", line) for line, msg in loaded.line_errors
            )
            documents.extend(loaded.documents)
            if loaded.extracted:
                self.index_extracted(loaded.extracted, report, progress=progress)
            if loaded.triples:
                self.index_triples(loaded.triples, key=str(path.resolve()), source=str(path), report=report)
        self.index_documents(documents, report, progress=progress, workers=workers)
        return report

    def index_documents(
        self, documents: Sequence[Document], report: IndexReport | None = None, progress: bool = False, workers: int = 0
    ) -> IndexReport:
        """Ingest already-loaded documents in batches (skipping unchanged ones); ``workers`` as in :meth:`index_paths`
        (0 here: the server ingests small sets beside its questions and must not change torch's threads)."""
        report = report or IndexReport()
        todo = self._changed(documents, report)
        size = self.settings.ingest_batch_size
        batches = [[(d, self.chunker.chunk(d)) for d in todo[i : i + size]] for i in range(0, len(todo), size)]
        workers = self.worker_count(workers, len(batches))
        # Torch here takes every core for each forward pass, less the workers computing at that moment (CoreShare):
        # more threads than free cores stall its barriers, and the workers work in bursts.
        cores = (os.cpu_count() or 1) if workers else 0
        stream = self._extractions(batches, workers, cores)
        with self.embedder.threads(cores, stream.working) if cores else contextlib.nullcontext():
            self._index_batches(stream, len(todo), report, progress)
        return report

    def index_extracted(
        self, extracted: Sequence[ExtractedDocument], report: IndexReport | None = None, progress: bool = False
    ) -> IndexReport:
        """Ingest documents extracted elsewhere (``graphrag extract`` records, checked by graphrag.indexing.extracted):
        their chunks and entity names are embedded here, nothing is extracted again; unchanged ones are skipped."""
        report = report or IndexReport()
        given = {doc.id: (chunks, extraction) for doc, chunks, extraction in extracted}
        todo = self._changed([doc for doc, _, _ in extracted], report)
        size = self.settings.ingest_batch_size
        batches = [[(d, given[d.id][0]) for d in todo[i : i + size]] for i in range(0, len(todo), size)]
        stream = ((items, lambda items=items: [given[doc.id][1] for doc, _ in items]) for items in batches)
        self._index_batches(stream, len(todo), report, progress)
        return report

    def _changed(self, documents: Sequence[Document], report: IndexReport) -> list[Document]:
        """The documents that are new or changed; duplicates in the batch and unchanged ones are counted."""
        todo: list[Document] = []
        seen: set[str] = set()
        for doc in documents:
            if doc.id in seen:
                report.problems.append(
                    IngestProblem(doc.source, f"duplicate document id in this batch: {doc.title!r}", "duplicate")
                )
                continue
            seen.add(doc.id)
            stored = self.store.document_version(doc.id)
            if stored == doc.sha256:
                report.documents_unchanged += 1
                report.document_ids.append(doc.id)
                continue
            if stored is None:
                report.documents_added += 1
            else:
                report.documents_replaced += 1
            report.document_ids.append(doc.id)
            todo.append(doc)
        return todo

    def _index_batches(self, stream, total: int, report: IndexReport, progress: bool) -> None:
        """Embed and write each ``(items, extracted)`` batch of ``stream``."""
        bar = tqdm(total=total, desc="indexing", unit="doc", disable=not progress or not total)
        try:
            for items, extracted in stream:
                titles = {doc.id: doc.title for doc, _ in items}
                chunks = [c for _, doc_chunks in items for c in doc_chunks]
                # embedded while the worker still extracts this batch: chunk vectors do not depend on extraction
                vectors = self.embedder.embed(self._chunk_texts(chunks, titles)) if chunks else None
                self._write_batch(items, extracted(), chunks, vectors, report)
                if self.settings.extractor == "encoder":
                    # The classifier's tensors of every shape leave pages behind that nothing reuses (graphrag/
                    # memory.py). Not with the rules: their ingest stays far below 3 GB, and handing pages back and
                    # faulting them in again cost them about 9% of their speed.
                    return_freed_memory()
                bar.update(len(items))
        finally:
            bar.close()
            # Not a save per call: a server taking small documents would rewrite whole index files each time.
            # The store is the truth; indexes are saved every minute and on close, and reconcile() mends them
            # at start-up after a crash.
            self.save_if_due()

    def index_in_steps(self, documents: Sequence[Document], report: IndexReport, step_chunks: int) -> Iterator[int]:
        """Ingest ``documents`` as a generator of bounded steps, yielding the number of documents finished after
        each; the caller runs each ``next()`` under its engine lock, so other work (questions) goes between steps.

        Small documents go together, about ``step_chunks`` chunks' worth of text a step. A document larger than
        that is read ``step_chunks`` chunks a step (entity candidates and chunk vectors), its entity names are
        embedded in steps too, and only then is it written, in one transaction: a document is in the store
        whole or not at all, and a job stopped part-way redoes it (nothing of it was written)."""
        budget = step_chunks * self.settings.chunk_size
        done = 0
        group: list[Document] = []
        group_chars = 0
        for doc in documents:
            if len(doc.text) > budget:
                if group:
                    self.index_documents(group, report)
                    done += len(group)
                    group, group_chars = [], 0
                    yield done
                yield from (done for _ in self._large_document_steps(doc, report, step_chunks))
                done += 1
                yield done
                continue
            if group and group_chars + len(doc.text) > budget:
                self.index_documents(group, report)
                done += len(group)
                group, group_chars = [], 0
                yield done
            group.append(doc)
            group_chars += len(doc.text)
        if group:
            self.index_documents(group, report)
            done += len(group)
            yield done

    def _large_document_steps(self, doc: Document, report: IndexReport, step_chunks: int) -> Iterator[None]:
        """One large document, read in steps and written at the end (see :meth:`index_in_steps`)."""
        stored = self.store.document_version(doc.id)
        if stored == doc.sha256:
            report.documents_unchanged += 1
            report.document_ids.append(doc.id)
            return
        extractor = self._extractor_provider()
        if not hasattr(extractor, "candidates"):  # an extractor that reads whole documents: one step
            self.index_documents([doc], report)
            return
        chunks: list[Chunk] = []
        mentions, relations, vectors = [], [], []
        titles = {doc.id: doc.title}
        pending = self.chunker.iter_chunks(doc)  # split as it is read: no step splits the whole document
        while part := list(itertools.islice(pending, step_chunks)):
            chunks.extend(part)
            ((part_mentions, part_relations),) = extractor.candidates([(doc, part)])
            mentions.extend(part_mentions)
            relations.extend(part_relations)
            vectors.append(self.embedder.embed(self._chunk_texts(part, titles)))
            yield
        extraction = resolve_document(doc, mentions, relations)
        known = self.entity_index.ids()
        fresh = [e for e in extraction.entities if e.id not in known]
        names: dict[str, np.ndarray] = {}
        for start in range(0, len(fresh), step_chunks * 16):  # names are short: many per step
            part = fresh[start : start + step_chunks * 16]
            names.update(zip([e.id for e in part], self.embedder.embed([e.name for e in part])))
            yield
        report.document_ids.append(doc.id)
        if self.store.document_version(doc.id) is None:
            report.documents_added += 1
        else:
            report.documents_replaced += 1
        removed_chunks, removed_entities = self.store.write_documents([(doc, chunks, extraction)])
        report.chunks += len(chunks)
        self.chunk_index.remove(removed_chunks)
        self.entity_index.remove(removed_entities)
        indexed = self.entity_index.ids()  # one set, not one per entity
        missing = [e for e in extraction.entities if e.id not in indexed]
        ready = [e.id for e in missing if e.id in names]
        if ready:
            self.entity_index.add(ready, np.stack([names[i] for i in ready]))
        late = [e for e in missing if e.id not in names]  # removed from the index by another write meanwhile
        if late:
            self.entity_index.add([e.id for e in late], self.embedder.embed([e.name for e in late]))
        self.chunk_index.add([c.id for c in chunks], np.concatenate(vectors))
        self.save_if_due()

    def index_triples(
        self, triples: Sequence[Triple], key: str, source: str, report: IndexReport | None = None
    ) -> IndexReport:
        """Load structured facts straight into the graph (provenance "structured"), replacing that source's old set."""
        report = report or IndexReport()
        entities: dict[str, Entity] = {}
        relations: dict[str, Relation] = {}
        lines = []
        for number, triple in enumerate(triples, start=1):
            rel_type = relation_type_from_words(relation_words(triple.relation))
            if not rel_type:
                report.problems.append(
                    IngestProblem(source, f"relation {triple.relation!r} has no usable words", "invalid_record", number)
                )
                continue
            ends = []
            for name, raw_type in ((triple.subject, triple.subject_type), (triple.object, triple.object_type)):
                ent = Entity(
                    id=entity_id(name, self.settings.tenant),
                    name=name,
                    type=_TYPE_SYNONYMS.get(raw_type.lower(), entity_type_or_other(raw_type)),
                )
                entities.setdefault(ent.id, ent)
                ends.append(ent.id)
            # A subject and object of the same name stay a fact (a recording named after its city): the edge loops.
            lines.append(f"{triple.subject}\t{triple.relation}\t{triple.object}\t{triple.source}")
            rid = relation_id(ends[0], rel_type, ends[1])
            relations[rid] = Relation(
                rid,
                ends[0],
                ends[1],
                rel_type,
                1.0,
                "",
                (),
                f"{triple.subject} {triple.relation} {triple.object}",
                "structured",
            )
        if not relations:
            return report
        text = "\n".join(sorted(lines))
        # This record only tracks which facts a source contributed (for replace/delete); it is not user text, so the
        # document size limit does not apply (triple files are checked line by line instead).
        document = document_from_text(
            text,
            key=f"triples:{key}",
            title=f"triples: {source}",
            source=source,
            tenant=self.settings.tenant,
            max_bytes=len(text.encode("utf-8")),
        )
        report.triples += len(relations)
        report.document_ids.append(document.id)
        stored = self.store.document_version(document.id)
        if stored == document.sha256:
            report.documents_unchanged += 1
            return report
        if stored is None:
            report.documents_added += 1
        else:
            report.documents_replaced += 1
        relations = {
            rid: Relation(
                r.id, r.source_id, r.target_id, r.type, r.confidence, document.id, (), r.sentence, "structured"
            )
            for rid, r in relations.items()
        }
        removed_chunks, removed_entities = self.store.write_documents(
            [(document, [], Extraction(tuple(entities.values()), tuple(relations.values()), ()))]
        )
        # Names loaded from triples get no vectors: the linker finds them by name (exact, normalised, fuzzy), and
        # embedding every name was 118 of 144 s for 100,000 triples on 2 cores.
        self._sync_vectors(removed_chunks, removed_entities, [])
        self.save_if_due()
        return report

    def worker_count(self, requested: int, batches: int) -> int:
        """Extraction processes to use (see :func:`worker_count`)."""
        return worker_count(requested, batches)

    # internals --------------------------------------------------------------------------------------------
    def _extractions(self, batches, workers: int, cores: int = 0) -> ExtractionStream:
        return ExtractionStream(self.settings, batches, workers, self._extractor_provider, cores)

    def _write_batch(
        self, items, extractions: list[Extraction], new_chunks: list[Chunk], chunk_vectors, report: IndexReport
    ) -> None:
        writes = [(doc, chunks, extraction) for (doc, chunks), extraction in zip(items, extractions)]
        removed_chunks, removed_entities = self.store.write_documents(writes)
        report.chunks += len(new_chunks)
        new_entities = {e.id: e for extraction in extractions for e in extraction.entities}
        self._sync_vectors(removed_chunks, removed_entities, list(new_entities.values()))
        if new_chunks:
            self.chunk_index.add([c.id for c in new_chunks], chunk_vectors)
        self.save_if_due()

    def _chunk_texts(self, chunks: list[Chunk], titles: dict[str, str]) -> list[str]:
        """What is embedded for each chunk: its text after its document's title (the title says what a passage is
        about when its text only says "he" or "the film")."""
        return [f"{titles[c.document_id]}. {c.text}" if titles.get(c.document_id) else c.text for c in chunks]

    def _sync_vectors(self, removed_chunks, removed_entities, entities) -> None:
        """Drop the vectors of what a write removed; embed entities not yet in the entity index."""
        self.chunk_index.remove(removed_chunks)
        self.entity_index.remove(removed_entities)
        known = self.entity_index.ids()
        fresh = [e for e in entities if e.id not in known]
        if fresh:
            self.entity_index.add([e.id for e in fresh], self.embedder.embed([e.name for e in fresh]))

    def _stored_chunk_texts(self, chunk_ids: list[str]) -> list[tuple[str, str]]:
        chunks = self.store.get_chunks(chunk_ids)
        titles = self.store.document_titles(sorted({c.document_id for c in chunks}))
        return list(zip([c.id for c in chunks], self._chunk_texts(chunks, titles)))

    def save_if_due(self) -> None:
        """Persist the vector indexes when the last save is more than a minute old."""
        if time.monotonic() - self._last_save > _SAVE_EVERY_S:
            self.save()

    def save(self) -> None:
        """Persist both vector indexes."""
        self.chunk_index.save()
        self.entity_index.save()
        self._last_save = time.monotonic()

    def reconcile(self) -> tuple[int, int]:
        """Make the vector indexes match the store (after a crash); returns ``(vectors_added, vectors_removed)``."""
        added = removed = 0
        chunk_ids = self.store.chunk_ids()
        for index, needed_ids, stored_ids, fetch in (
            (self.chunk_index, chunk_ids, chunk_ids, self._stored_chunk_texts),
            (
                self.entity_index,
                self.store.mentioned_entity_ids(),
                self.store.entity_ids(),
                lambda ids: [(e.id, e.name) for e in self.store.get_entities(ids)],
            ),
        ):
            indexed = index.ids()
            extra = indexed - stored_ids
            missing = sorted(needed_ids - indexed)
            index.remove(extra)
            removed += len(extra)
            for start in range(0, len(missing), 512):
                rows = fetch(missing[start : start + 512])
                index.add([r[0] for r in rows], self.embedder.embed([r[1] for r in rows]))
                added += len(rows)
        self.save()
        return added, removed
