"""Benchmark end-to-end ingestion (load, chunk, extract, resolve, write, embed) of a passages JSONL file.

Prints one JSON object: {"passages", "seconds", "passages_per_s", "peak_rss_mb", "entities", "relations", ...}.
With --store neo4j it runs its own throwaway Neo4j server and also reports graph-write throughput, measured two
ways in the same run on the same sample: batched UNWIND transactions (the store's way) and one auto-commit
statement per row (the naive way).
Example: python scripts/bench_ingest.py --corpus ../shared/data/multihop/2wiki_corpus.jsonl [--store neo4j]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import PeakRss, ThrowawayNeo4j  # noqa: E402

from graphrag import Engine, GraphRAGError, Settings  # noqa: E402


class _TimedWrites:
    """Wraps a store's write_documents to add up the time spent writing the graph."""

    def __init__(self, store) -> None:
        self.seconds = 0.0
        self._inner = store.write_documents
        store.write_documents = self

    def __call__(self, writes):
        started = time.perf_counter()
        try:
            return self._inner(writes)
        finally:
            self.seconds += time.perf_counter() - started


def _naive_write(store, writes) -> None:
    """One auto-commit statement per document, chunk, entity, mention and relation: the baseline to beat."""
    for document, chunks, extraction in writes:
        store._run(
            "CREATE (:Document {id: $id, title: $title, text: $text, sha256: $sha})",
            id=document.id,
            title=document.title,
            text=document.text,
            sha=document.sha256,
        )
        for c in chunks:
            store._run(
                """MATCH (d:Document {id: $doc}) CREATE (d)-[:HAS_CHUNK]->(:Chunk {id: $id, text: $text,
                          index: $index, start: $start, end: $end, document_id: $doc})""",
                doc=document.id,
                id=c.id,
                text=c.text,
                index=c.index,
                start=c.start,
                end=c.end,
            )
        for e in extraction.entities:
            store._run(
                "MERGE (e:Entity {id: $id}) ON CREATE SET e.name = $name, e.type = $type",
                id=e.id,
                name=e.name,
                type=e.type,
            )
        for m in extraction.mentions:
            store._run(
                """MATCH (c:Chunk {id: $chunk}) MATCH (e:Entity {id: $entity})
                          MERGE (c)-[:MENTIONS {start: $start}]->(e)""",
                chunk=m.chunk_id,
                entity=m.entity_id,
                start=m.start,
            )
        for r in extraction.relations:
            store._run(
                f"""MATCH (a:Entity {{id: $s}}) MATCH (b:Entity {{id: $t}})
                           MERGE (a)-[x:`{r.type}` {{id: $id}}]->(b) SET x.confidence = $conf""",
                s=r.source_id,
                t=r.target_id,
                id=r.id,
                conf=r.confidence,
            )


def _write_comparison(engine, corpus: Path, sample: int) -> dict:
    """Write the same extracted sample both ways into an empty graph; report rows/s for each."""
    from graphrag.indexing.loaders import load_file

    documents = load_file(corpus, tenant="default", max_bytes=engine.settings.max_document_bytes).documents[:sample]
    items = [(d, engine.indexer.chunker.chunk(d)) for d in documents]
    extractions = engine._get_extractor().extract_many(items)
    writes = [(d, chunks, x) for (d, chunks), x in zip(items, extractions)]

    def write(mode: str, part) -> None:
        if mode == "batched":
            for start in range(0, len(part), engine.settings.ingest_batch_size):
                engine.store.write_documents(part[start : start + engine.settings.ingest_batch_size])
        else:
            _naive_write(engine.store, part)

    # The JVM compiles hot code over the first few seconds of work: a write measured cold is mostly JIT warm-up
    # (on 500 passages the first batched pass took 11.8 s, the third 2.5 s). So before timing, the batched path
    # writes the whole sample twice and the per-statement path the warm-up slice three times (its 10,000
    # statements warm it as it goes); then the batched path is timed three times (median) and the per-statement
    # path, which takes minutes, once.
    warm, measured = writes[: max(1, len(writes) // 10)], writes[max(1, len(writes) // 10) :]
    for mode, part, repeats in (("batched", measured, 2), ("per_statement", warm, 3)):
        for _ in range(repeats):
            engine.store.clear()
            write(mode, part)
    timings = {}
    for mode, repeats in (("batched", 3), ("per_statement", 1)):
        runs = []
        for _ in range(repeats):
            engine.store.clear()
            started = time.perf_counter()
            write(mode, measured)
            runs.append(time.perf_counter() - started)
        timings[mode] = statistics.median(runs)
    engine.store.clear()
    rows = sum(1 + len(c) + len(x.entities) + len(x.mentions) + len(x.relations) for _, c, x in measured)
    relations = sum(len(x.relations) for _, _, x in measured)
    writes = measured
    return {
        "sample_passages": len(writes),
        "rows": rows,
        "relations": relations,
        "batched_s": round(timings["batched"], 2),
        "per_statement_s": round(timings["per_statement"], 2),
        "batched_rows_per_s": round(rows / timings["batched"], 1),
        "per_statement_rows_per_s": round(rows / timings["per_statement"], 1),
        "speedup": round(timings["per_statement"] / timings["batched"], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="JSONL with {id?, title?, text} per line")
    parser.add_argument("--data-dir", type=Path, help="vector index location (default: a fresh temporary directory)")
    parser.add_argument(
        "--workers",
        type=int,
        default=-1,
        help="extraction worker processes (0 = in-process, -1 = as `graphrag ingest` chooses)",
    )
    parser.add_argument("--store", choices=["sqlite", "neo4j"], default="sqlite", help="graph backend")
    parser.add_argument("--write-sample", type=int, default=500, help="passages for the neo4j write comparison")
    args = parser.parse_args()
    if not args.corpus.is_file():
        print(json.dumps({"error": f"corpus not found: {args.corpus}"}))
        return 2
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    neo4j = ThrowawayNeo4j() if args.store == "neo4j" else contextlib.nullcontext()
    extra: dict = {}
    try:
        with neo4j:
            overrides = neo4j.overrides if args.store == "neo4j" else {}
            settings = Settings.load(data_dir=data_dir, graph_backend=args.store, **overrides)
            with PeakRss() as rss:
                engine = Engine.from_settings(settings)
                if args.store == "neo4j":
                    extra["write_comparison"] = _write_comparison(engine, args.corpus, args.write_sample)
                writes = _TimedWrites(engine.store)
                started = time.perf_counter()
                report = engine.ingest([args.corpus], progress=sys.stderr.isatty(), workers=args.workers)
                engine.communities(1)  # communities are computed when first read: count that work here
                engine.indexer.save()  # and the vector indexes on disk
                seconds = time.perf_counter() - started
                stats = engine.stats()
                engine.close()
    except GraphRAGError as exc:
        print(json.dumps({"error": exc.message, "code": exc.code}))
        return 2
    finally:
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    passages = report.documents_added + report.documents_replaced
    print(
        json.dumps(
            {
                "passages": passages,
                "seconds": round(seconds, 2),
                "passages_per_s": round(passages / seconds, 2) if seconds else None,
                "peak_rss_mb": rss.peak_mb,
                "entities": stats.entities,
                "relations": stats.relations,
                "chunks": stats.chunks,
                "graph_write_s": round(writes.seconds, 2),
                "graph_write_passages_per_s": round(passages / writes.seconds, 1) if writes.seconds else None,
                "problems": len(report.problems),
                "workers": engine.indexer.worker_count(args.workers, -(-passages // settings.ingest_batch_size)),
                "cpu_count": os.cpu_count(),
                "store": args.store,
                **extra,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
