"""Batch entity/relation extraction without indexing: files in, JSONL records out, bad files listed with reasons.

Files are processed by a pool of worker processes (each loads spaCy once), or in this process with the LoRA
extractor (the language model is loaded once, here); a failing file never stops the run.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from graphrag.config import Settings
from graphrag.errors import GraphRAGError
from graphrag.indexing.loaders import SentenceChunker, discover_files, load_file
from graphrag.indexing.pipeline import WorkerExtractor, init_extractor_worker
from graphrag.render import extraction_to_dict

__all__ = ["ExtractSummary", "extract_files"]


@dataclass(frozen=True, slots=True)
class ExtractSummary:
    """Counts of a batch extraction run."""

    files: int
    documents: int
    entities: int
    relations: int
    failed_files: int
    bad_lines: int


def _extract_file(path: str, settings_json: str) -> tuple[list[dict], list[dict], list]:
    settings = Settings.model_validate_json(settings_json)
    records: list[dict] = []
    errors: list[dict] = []
    writes: list = []
    try:
        loaded = load_file(Path(path), tenant=settings.tenant, max_bytes=settings.max_document_bytes)
    except GraphRAGError as exc:
        return [], [{"source": path, "line": None, "code": exc.code, "message": exc.message}], []
    errors.extend(
        {"source": path, "line": line, "code": "invalid_record", "message": msg} for line, msg in loaded.line_errors
    )
    chunker = SentenceChunker(settings.chunk_size, settings.chunk_overlap)
    items = [(doc, chunker.chunk(doc)) for doc in loaded.documents]
    if items:
        extractor = WorkerExtractor.extractor
        for (doc, chunks), extraction in zip(items, extractor.extract_many(items)):
            records.append(extraction_to_dict(doc, extraction))
            writes.append((doc, chunks, extraction))
    if loaded.triples:
        errors.append(
            {
                "source": path,
                "line": None,
                "code": "not_extracted",
                "message": f"{len(loaded.triples)} structured triples skipped (use 'graphrag ingest' to load them)",
            }
        )
    return records, errors, writes


def extract_files(
    inputs: Sequence[str],
    out: Path | None,
    errors_out: Path,
    settings: Settings,
    workers: int = 1,
    progress: bool = True,
    store=None,
) -> ExtractSummary:
    """Extract from every supported file under ``inputs`` into ``out`` (JSONL) and/or straight into a graph
    ``store`` (no embeddings: ``graphrag ingest`` indexes vectors); problems go to ``errors_out``."""
    files = [str(p) for p in discover_files(inputs)]
    settings_json = settings.model_dump_json()
    documents = entities = relations = failed = bad_lines = 0
    pending: list = []
    errors_out.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as sinks:
        records_file = sinks.enter_context(out.open("w", encoding="utf-8")) if out is not None else None
        errors_file = sinks.enter_context(errors_out.open("w", encoding="utf-8"))

        def flush() -> None:
            if store is not None and pending:
                store.write_documents(pending)  # one transaction per batch of documents
            pending.clear()

        def consume(result: tuple[list[dict], list[dict], list]) -> None:
            nonlocal documents, entities, relations, failed, bad_lines
            records, errors, writes = result
            pending.extend(writes)
            if len(pending) >= settings.ingest_batch_size:
                flush()
            for record in records:
                if records_file is not None:
                    records_file.write(json.dumps(record, ensure_ascii=False) + "\n")
                documents += 1
                entities += len(record["entities"])
                relations += len(record["relations"])
            for error in errors:
                errors_file.write(json.dumps(error, ensure_ascii=False) + "\n")
                if error["line"] is None and error["code"] != "not_extracted":
                    failed += 1
                else:
                    bad_lines += 1

        if workers <= 1:
            init_extractor_worker(settings_json, in_worker=False)
        bar = tqdm(total=len(files), desc="extracting", unit="file", disable=not progress)
        if workers <= 1:
            for path in files:
                consume(_extract_file(path, settings_json))
                bar.update()
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                workers, mp_context=context, initializer=init_extractor_worker, initargs=(settings_json, True)
            ) as pool:
                for result in pool.map(_extract_file, files, [settings_json] * len(files), chunksize=4):
                    consume(result)
                    bar.update()
        flush()
        bar.close()
    return ExtractSummary(len(files), documents, entities, relations, failed, bad_lines)
