"""Benchmark question latency (retrieval + extractive answer) over an indexed passages corpus.

Indexes the corpus through the product's pipeline (reusing a cached index when corpus and settings are unchanged),
then answers every question once after an untimed warm-up pass. Prints one JSON object:
{"questions", "p50_ms", "p95_ms", "max_ms", "abstained", ...}.
With --store neo4j it runs its own throwaway Neo4j, indexes the corpus into it, and reports the embedded store's
figures from the same run next to it ("sqlite" key) so the two can be compared directly.
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
from bench_common import ThrowawayNeo4j, cache_dir_for  # noqa: E402

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


def _measure(settings: Settings, corpus: Path, questions: list[str], fresh_index: bool, passes: int) -> dict:
    """Index (unless already complete); one untimed pass over the questions warms the server side (query plans,
    page cache, JIT); then, ``passes`` times, a fresh engine (cold client-side caches) times every question once.
    Percentiles are over all timed asks: with 100 questions one pass's p95 is decided by five asks, and one JVM
    pause moves it by tens of milliseconds."""
    engine = Engine.from_settings(settings)
    try:
        marker = settings.data_dir / ".complete"
        if fresh_index or not marker.exists():
            engine.ingest([corpus], progress=sys.stderr.isatty())
            marker.write_text("ok\n", encoding="utf-8")
        for question in questions:
            engine.ask(question)
    finally:
        engine.close()
    timings: list[float] = []
    stages: dict[str, list[float]] = {}
    for _ in range(passes):
        engine = Engine.from_settings(settings)  # a fresh engine per pass: its client-side caches start cold
        try:
            engine.ask(questions[0])  # loads the name dictionary once, as a long-running server would have
            abstained = 0
            for question in questions:
                started = time.perf_counter()
                answer = engine.ask(question)
                timings.append((time.perf_counter() - started) * 1000)
                abstained += answer.abstained
                for stage, ms in answer.timings_ms.items():
                    stages.setdefault(stage, []).append(ms)
            passages = engine.stats().documents
        finally:
            engine.close()
    return {"questions": len(questions), "timed_asks": len(timings), "p50_ms": _percentile(timings, 50),
            "p95_ms": _percentile(timings, 95), "max_ms": round(max(timings), 2),
            "mean_ms": round(statistics.fmean(timings), 2), "abstained": abstained, "passages": passages,
            "stages_ms": {stage: {"p50": _percentile(ms, 50), "p95": _percentile(ms, 95)}
                          for stage, ms in stages.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--questions", type=Path, nargs="+", required=True)
    parser.add_argument("--cache-dir", type=Path, default=Path(".graphrag/bench"), help="where indexes are cached")
    parser.add_argument("--store", choices=["sqlite", "neo4j"], default="sqlite")
    parser.add_argument("--passes", type=int, default=3, help="timed passes over the questions (default 3)")
    args = parser.parse_args()
    try:
        if args.passes < 1:
            raise ValueError("--passes must be at least 1")
        questions = _questions(args.questions)
        base = Settings.load()
        data_dir = cache_dir_for(args.corpus, base.model_dump_json(exclude={"data_dir"}), args.cache_dir)
        result = _measure(Settings.load(data_dir=data_dir), args.corpus, questions, fresh_index=False,
                          passes=args.passes)
        if args.store == "neo4j":
            embedded = result
            with ThrowawayNeo4j() as neo4j:
                settings = Settings.load(data_dir=data_dir.with_name(data_dir.name + "-neo4j"), graph_backend="neo4j",
                                         **neo4j.overrides)
                result = _measure(settings, args.corpus, questions, fresh_index=True, passes=args.passes)
            result["sqlite"] = embedded
            result["p95_ratio_to_sqlite"] = round(result["p95_ms"] / embedded["p95_ms"], 2)
    except (GraphRAGError, OSError, ValueError) as exc:
        print(json.dumps({"error": getattr(exc, "message", str(exc))}))
        return 2
    print(json.dumps({**result, "cpu_count": os.cpu_count(), "store": args.store}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
