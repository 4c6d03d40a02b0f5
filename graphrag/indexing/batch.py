"""Batch entity/relation extraction without indexing: files in, JSONL records out, bad files listed with reasons.

Files are loaded here, in order, and their documents cut into shards of ``SHARD_DOCUMENTS``; each shard is
extracted in one call, by this process, by a pool of worker processes (each loads the extractor once), or by Ray
actors (graphrag.indexing.ray_extract). The shards are the same for every engine and records are written in shard
order, so every engine writes the same file. A failing file never stops the run.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from graphrag.config import Settings
from graphrag.errors import GraphRAGError
from graphrag.indexing.loaders import SentenceChunker, discover_files, load_file
from graphrag.indexing.pipeline import WorkerExtractor, init_extractor_worker
from graphrag.render import extraction_to_dict
from graphrag.types import Document

__all__ = [
    "SHARD_DOCUMENTS",
    "ExtractSummary",
    "Output",
    "Shard",
    "ShardResult",
    "extract_files",
    "extract_shard",
    "plan_shards",
]

SHARD_DOCUMENTS = 64  # documents per extraction call: the unit of work (and of resuming, on Ray)


@dataclass(frozen=True, slots=True)
class ExtractSummary:
    """Counts of a batch extraction run."""

    files: int
    documents: int
    entities: int
    relations: int
    failed_files: int
    bad_lines: int
    shards: int = 0
    shards_reused: int = 0  # finished by an earlier run (Ray engine) and not extracted again


@dataclass(frozen=True, slots=True)
class Shard:
    """Consecutive documents of one file, extracted in one call; ``number`` orders the output."""

    number: int
    source: str
    documents: tuple[Document, ...]


@dataclass(frozen=True, slots=True)
class ShardResult:
    """A shard's output records, and the store writes (document, chunks, extraction) when a store takes them."""

    number: int
    records: list[dict]
    errors: list[dict]
    writes: list


def plan_shards(files: Sequence[Path], settings: Settings) -> Iterator[Shard | list[dict]]:
    """Load ``files`` in order and yield their shards, and a file's problems (a list of error records) before
    its shards; files are read one at a time, as the shards are taken."""
    number = 0
    for path in files:
        try:
            loaded = load_file(path, tenant=settings.tenant, max_bytes=settings.max_document_bytes)
        except GraphRAGError as exc:
            yield [{"source": str(path), "line": None, "code": exc.code, "message": exc.message}]
            continue
        problems = [
            {"source": str(path), "line": line, "code": "invalid_record", "message": message}
            for line, message in loaded.line_errors
        ]
        skipped = len(loaded.triples) + len(loaded.extracted)
        if skipped:
            problems.append(
                {
                    "source": str(path),
                    "line": None,
                    "code": "not_extracted",
                    "message": f"{skipped} structured triples or extraction records skipped "
                    "(use 'graphrag ingest' to load them)",
                }
            )
        if problems:
            yield problems
        for start in range(0, len(loaded.documents), SHARD_DOCUMENTS):
            yield Shard(number, str(path), tuple(loaded.documents[start : start + SHARD_DOCUMENTS]))
            number += 1


def extract_shard(shard: Shard, settings: Settings, keep_writes: bool = False) -> ShardResult:
    """Extract one shard with the extractor loaded in this process (``init_extractor_worker``). An extraction
    error becomes an error record for the shard's file; the run goes on."""
    chunker = SentenceChunker(settings.chunk_size, settings.chunk_overlap)
    items = [(doc, chunker.chunk(doc)) for doc in shard.documents]
    try:
        extractions = WorkerExtractor.extractor.extract_many(items)
    except GraphRAGError as exc:
        first, last = shard.documents[0].title, shard.documents[-1].title
        message = f"extraction failed for documents {first!r} to {last!r}: {exc.message}"
        return ShardResult(
            shard.number, [], [{"source": shard.source, "line": None, "code": exc.code, "message": message}], []
        )
    records = [extraction_to_dict(doc, chunks, ex) for (doc, chunks), ex in zip(items, extractions)]
    writes = [(doc, chunks, ex) for (doc, chunks), ex in zip(items, extractions)] if keep_writes else []
    return ShardResult(shard.number, records, [], writes)


def _extract_in_worker(shard: Shard, settings_json: str, keep_writes: bool) -> ShardResult:
    return extract_shard(shard, Settings.model_validate_json(settings_json), keep_writes)


class Output:
    """The records file, the errors file, the optional store, and the counts."""

    def __init__(self, records_file, errors_file, store, batch_size: int) -> None:
        self.records_file = records_file
        self.errors_file = errors_file
        self.store = store
        self.batch_size = batch_size
        self.pending: list = []
        self.documents = self.entities = self.relations = self.failed = self.bad_lines = 0

    def problems(self, errors: list[dict]) -> None:
        for error in errors:
            self.errors_file.write(json.dumps(error, ensure_ascii=False) + "\n")
            if error["line"] is None and error["code"] != "not_extracted":
                self.failed += 1
            else:
                self.bad_lines += 1

    def shard(self, result: ShardResult) -> None:
        self.problems(result.errors)
        self.pending.extend(result.writes)
        if len(self.pending) >= self.batch_size:
            self.flush()
        for record in result.records:
            if self.records_file is not None:
                self.records_file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.documents += 1
            self.entities += len(record["entities"])
            self.relations += len(record["relations"])

    def flush(self) -> None:
        if self.store is not None and self.pending:
            self.store.write_documents(self.pending)  # one transaction per batch of documents
        self.pending.clear()

    def summary(self, files: int, shards: int, shards_reused: int = 0) -> ExtractSummary:
        return ExtractSummary(
            files, self.documents, self.entities, self.relations, self.failed, self.bad_lines, shards, shards_reused
        )


def ordered_results(planned: Iterator[Shard | list[dict]], submit: Callable, window: int) -> Iterator:
    """Hand each shard to ``submit`` (which returns a callable waiting for its result) with at most ``window``
    in flight, and yield file problems and shard results in plan order."""
    in_flight: list = []
    for item in planned:
        if isinstance(item, Shard):
            in_flight.append(submit(item))
        else:
            in_flight.append(lambda item=item: item)
        while len(in_flight) > window:
            yield in_flight.pop(0)()
    while in_flight:
        yield in_flight.pop(0)()


def extract_files(
    inputs: Sequence[str],
    out: Path | None,
    errors_out: Path,
    settings: Settings,
    workers: int = 1,
    progress: bool = True,
    store=None,
    engine: str = "local",
    address: str | None = None,
) -> ExtractSummary:
    """Extract from every supported file under ``inputs`` into ``out`` (JSONL) and/or straight into a graph
    ``store`` (no embeddings: ``graphrag ingest out.jsonl`` indexes them).

    ``engine``: "local" (this process, or ``workers`` processes) or "ray" (``workers`` actors on the Ray cluster at
    ``address``; resumable; ``out`` only). Problems go to ``errors_out``."""
    files = list(discover_files(inputs))
    if engine == "ray":
        from graphrag.indexing.ray_extract import extract_on_ray

        return extract_on_ray(files, out, errors_out, settings, workers, progress, address)
    errors_out.parent.mkdir(parents=True, exist_ok=True)
    shards = 0
    with contextlib.ExitStack() as sinks:
        records_file = sinks.enter_context(out.open("w", encoding="utf-8")) if out is not None else None
        output = Output(
            records_file, sinks.enter_context(errors_out.open("w", encoding="utf-8")), store, settings.ingest_batch_size
        )
        keep_writes = store is not None
        settings_json = settings.model_dump_json()
        bar = sinks.enter_context(tqdm(desc="extracting", unit="doc", disable=not progress))
        if workers <= 1:
            init_extractor_worker(settings_json, in_worker=False)

            def submit(shard: Shard):
                result = extract_shard(shard, settings, keep_writes)
                return lambda: result

        else:
            context = multiprocessing.get_context("spawn")
            pool = sinks.enter_context(
                ProcessPoolExecutor(
                    workers, mp_context=context, initializer=init_extractor_worker, initargs=(settings_json, True)
                )
            )

            def submit(shard: Shard):
                return pool.submit(_extract_in_worker, shard, settings_json, keep_writes).result

        for result in ordered_results(plan_shards(files, settings), submit, window=2 * workers):
            if isinstance(result, ShardResult):
                output.shard(result)
                shards += 1
                bar.update(len(result.records))
            else:
                output.problems(result)
        output.flush()
    return output.summary(len(files), shards)
