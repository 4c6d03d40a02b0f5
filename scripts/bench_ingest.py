"""Benchmark end-to-end ingestion (load, chunk, extract, resolve, write, embed) of a passages JSONL file.

Prints one JSON object: {"passages", "seconds", "passages_per_s", "peak_rss_mb", "entities", "relations", ...}.
Example: python scripts/bench_ingest.py --corpus ../shared/data/multihop/2wiki_corpus.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import PeakRss  # noqa: E402

from graphrag import Engine, GraphRAGError, Settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="JSONL with {id?, title?, text} per line")
    parser.add_argument("--data-dir", type=Path, help="store location (default: a fresh temporary directory)")
    parser.add_argument("--workers", type=int, default=0, help="extraction worker processes (0 = in-process)")
    parser.add_argument("--store", choices=["sqlite"], default="sqlite", help="graph backend")
    args = parser.parse_args()
    if not args.corpus.is_file():
        print(json.dumps({"error": f"corpus not found: {args.corpus}"}))
        return 2
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        settings = Settings.load(data_dir=data_dir, graph_backend=args.store)
        with PeakRss() as rss:
            engine = Engine.from_settings(settings)
            started = time.perf_counter()
            report = engine.ingest([args.corpus], progress=sys.stderr.isatty(), workers=args.workers)
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
    print(json.dumps({
        "passages": passages,
        "seconds": round(seconds, 2),
        "passages_per_s": round(passages / seconds, 2) if seconds else None,
        "peak_rss_mb": rss.peak_mb,
        "entities": stats.entities,
        "relations": stats.relations,
        "chunks": stats.chunks,
        "problems": len(report.problems),
        "workers": args.workers,
        "cpu_count": os.cpu_count(),
        "store": args.store,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
