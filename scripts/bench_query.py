"""Benchmark question latency (retrieval + extractive answer) over an indexed passages corpus.

Indexes the corpus through the product's pipeline (reusing a cached index when corpus and settings are unchanged),
then answers every question once after one warm-up question. Prints one JSON object:
{"questions", "p50_ms", "p95_ms", "max_ms", "abstained", ...}.
Example: python scripts/bench_query.py --corpus ../shared/data/multihop/corpus.jsonl \
             --questions ../shared/data/multihop/hotpotqa_dev.jsonl ../shared/data/multihop/musique_dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import cache_dir_for  # noqa: E402

from graphrag import Engine, GraphRAGError, Settings  # noqa: E402


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def _questions(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                record = json.loads(line)
                if not isinstance(record.get("question"), str):
                    raise ValueError(f"{path}:{number}: no 'question' string")
                out.append(record["question"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--questions", type=Path, nargs="+", required=True)
    parser.add_argument("--cache-dir", type=Path, default=Path(".graphrag/bench"), help="where indexes are cached")
    parser.add_argument("--store", choices=["sqlite"], default="sqlite")
    args = parser.parse_args()
    try:
        questions = _questions(args.questions)
        settings = Settings.load(graph_backend=args.store)
        data_dir = cache_dir_for(args.corpus, settings.model_dump_json(exclude={"data_dir"}), args.cache_dir)
        settings = Settings.load(data_dir=data_dir, graph_backend=args.store)
        engine = Engine.from_settings(settings)
        if not (data_dir / ".complete").exists():
            engine.ingest([args.corpus], progress=sys.stderr.isatty())
            (data_dir / ".complete").write_text("ok\n", encoding="utf-8")
        engine.ask(questions[0])  # warm-up: first-call allocations are not what users see in steady state
        timings, abstained = [], 0
        for question in questions:
            started = time.perf_counter()
            answer = engine.ask(question)
            timings.append((time.perf_counter() - started) * 1000)
            abstained += answer.abstained
        stats = engine.stats()
        engine.close()
    except (GraphRAGError, OSError, ValueError) as exc:
        print(json.dumps({"error": getattr(exc, "message", str(exc))}))
        return 2
    print(json.dumps({
        "questions": len(questions),
        "p50_ms": _percentile(timings, 50),
        "p95_ms": _percentile(timings, 95),
        "max_ms": round(max(timings), 2),
        "mean_ms": round(statistics.fmean(timings), 2),
        "abstained": abstained,
        "passages": stats.documents,
        "cpu_count": os.cpu_count(),
        "store": args.store,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
