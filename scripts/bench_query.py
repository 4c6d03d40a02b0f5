"""Benchmark question latency (retrieval + extractive answer) over an indexed passages corpus.

Indexes the corpus through the product's pipeline (reusing a cached index when corpus and settings are unchanged),
then answers every question once after an untimed warm-up pass. Prints one JSON object:
{"questions", "p50_ms", "p95_ms", "max_ms", "abstained", ...}.
With --store neo4j it runs its own throwaway Neo4j, indexes the corpus into it, and times the embedded store in the
same run, the two backends' asks interleaved question by question; the embedded figures come under the "sqlite" key
so the two can be compared directly.
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
from bench_common import ThrowawayNeo4j, cache_dir_for, text_lines  # noqa: E402

from graphrag import Engine, GraphRAGError, Settings  # noqa: E402


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def _questions(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        for number, line in enumerate(text_lines(path), start=1):
            if line.strip():
                record = json.loads(line)
                if not isinstance(record.get("question"), str):
                    raise ValueError(f"{path}:{number}: no 'question' string")
                out.append(record["question"])
    return out


def _index(settings: Settings, corpus: Path, questions: list[str], fresh_index: bool) -> None:
    """Index (unless already complete), then one untimed pass over the questions warms the server side (query
    plans, page cache, JIT)."""
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


class _Timings:
    """Every timed ask of one backend: total and per-stage milliseconds."""

    def __init__(self) -> None:
        self.total: list[float] = []
        self.stages: dict[str, list[float]] = {}
        self.abstained = 0
        self.passages = 0

    def ask(self, engine: Engine, question: str) -> None:
        started = time.perf_counter()
        answer = engine.ask(question)
        self.total.append((time.perf_counter() - started) * 1000)
        self.abstained += answer.abstained
        for stage, ms in answer.timings_ms.items():
            self.stages.setdefault(stage, []).append(ms)

    def summary(self, questions: int, passes: int) -> dict:
        return {
            "questions": questions,
            "timed_asks": len(self.total),
            "p50_ms": _percentile(self.total, 50),
            "p95_ms": _percentile(self.total, 95),
            "max_ms": round(max(self.total), 2),
            "mean_ms": round(statistics.fmean(self.total), 2),
            "abstained": self.abstained // passes,
            "passages": self.passages,
            "stages_ms": {
                stage: {"p50": _percentile(ms, 50), "p95": _percentile(ms, 95)} for stage, ms in self.stages.items()
            },
        }


def _measure(backends: dict[str, Settings], questions: list[str], passes: int) -> dict[str, dict]:
    """``passes`` times, a fresh engine per backend (cold client-side caches) times every question once. With two
    backends the asks interleave question by question, the first backend alternating, so both see the machine in
    the same state: measured one after the other, a shift in the machine's speed between the halves (other
    tenants of a shared host) moved their p95 ratio by up to 0.8. Percentiles are over all timed asks: with 100
    questions one pass's p95 is decided by five asks, and one JVM pause moves it by tens of milliseconds."""
    timings = {name: _Timings() for name in backends}
    for _ in range(passes):
        engines = {name: Engine.from_settings(settings) for name, settings in backends.items()}
        try:
            for engine in engines.values():
                engine.ask(questions[0])  # loads the name dictionary once, as a long-running server would have
            order = list(engines)
            for question in questions:
                for name in order:
                    timings[name].ask(engines[name], question)
                order.reverse()
            for name, engine in engines.items():
                timings[name].passages = engine.stats().documents
        finally:
            for engine in engines.values():
                engine.close()
    return {name: found.summary(len(questions), passes) for name, found in timings.items()}


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
        data_dir = cache_dir_for(args.corpus, base, args.cache_dir)
        # the extractive writer, as the name says: retrieval's latency and the store's, not the answer LM's
        # (scripts/bench_answer.py times that)
        embedded = Settings.load(data_dir=data_dir, answer_writer="extractive")
        _index(embedded, args.corpus, questions, fresh_index=False)
        if args.store == "sqlite":
            result = _measure({"sqlite": embedded}, questions, args.passes)["sqlite"]
        else:
            with ThrowawayNeo4j() as neo4j:
                settings = Settings.load(
                    data_dir=data_dir.with_name(data_dir.name + "-neo4j"),
                    graph_backend="neo4j",
                    answer_writer="extractive",
                    **neo4j.overrides,
                )
                _index(settings, args.corpus, questions, fresh_index=True)
                measured = _measure({"neo4j": settings, "sqlite": embedded}, questions, args.passes)
            result = {
                **measured["neo4j"],
                "sqlite": measured["sqlite"],
                "p95_ratio_to_sqlite": round(measured["neo4j"]["p95_ms"] / measured["sqlite"]["p95_ms"], 2),
                "interleaved": True,
            }
    except (GraphRAGError, OSError, ValueError) as exc:
        print(json.dumps({"error": getattr(exc, "message", str(exc))}))
        return 2
    print(json.dumps({**result, "cpu_count": os.cpu_count(), "store": args.store}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
