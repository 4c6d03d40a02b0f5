"""Benchmark retrieval quality (Recall@2, Recall@5) and latency per method on multi-hop QA question sets.

Indexes the corpus through the product's own pipeline (reusing a cached index when the corpus and settings are
unchanged), then retrieves for every question with each method:
  bm25    the store's keyword search (SQLite FTS5 BM25, or Neo4j full-text)
  dense   the chunk vector index with the packaged embedder (exact cosine)
  hybrid  reciprocal rank fusion (k=60) of the two, over the top CANDIDATE_POOL of each
  graph   the product's planner, exactly as served by POST /v1/query (retrieval only)
Recall@k is the share of a question's ``supporting_titles`` among the titles of its top-k distinct passages.
Writes {"sets": {"<questions file stem>": {"<method>": {"recall@2", "recall@5", "p50_ms", "p95_ms"}}}} to --out
(percentages 0-100) and prints the same as a table.
Example: python scripts/bench_retrieval.py --corpus ../shared/data/multihop/corpus.jsonl \
             --questions ../shared/data/multihop/hotpotqa_dev.jsonl ../shared/data/multihop/musique_dev.jsonl \
             --out retrieval.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import cache_dir_for, load_questions  # noqa: E402

from graphrag import Engine, GraphRAGError, Settings  # noqa: E402
from graphrag.retrieval import CANDIDATE_POOL  # noqa: E402
from graphrag.retrieval.fusion import reciprocal_rank_fusion  # noqa: E402

METHODS = ("bm25", "dense", "hybrid", "graph")
KS = (2, 5)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def recall_at(ranked_titles: list[str], supporting: list[str], k: int) -> float:
    """Share of the supporting titles among the first k distinct titles."""
    distinct = list(dict.fromkeys(ranked_titles))[:k]
    wanted = set(supporting)
    return len(wanted & set(distinct)) / len(wanted)


class Retrievers:
    """The four methods over one engine; each returns passage titles best first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pool = CANDIDATE_POOL

    def _titles(self, chunk_ids: list[str]) -> list[str]:
        chunks = self.engine.store.get_chunks(chunk_ids)
        titles = self.engine.store.document_titles(sorted({c.document_id for c in chunks}))
        return [titles.get(c.document_id, "") for c in chunks]

    def bm25(self, question: str) -> list[str]:
        return self._titles([h.id for h in self.engine.store.keyword_search(question, self.pool)])

    def _dense_ids(self, question: str) -> list[str]:
        vector = self.engine.embedder.embed([question], query=True)
        return [h.id for h in self.engine.chunk_index.search(vector, self.pool)[0]]

    def dense(self, question: str) -> list[str]:
        return self._titles(self._dense_ids(question))

    def hybrid(self, question: str) -> list[str]:
        ranked = {
            "vector": self._dense_ids(question),
            "keyword": [h.id for h in self.engine.store.keyword_search(question, self.pool)],
        }
        fused = reciprocal_rank_fusion(ranked, {"vector": 1.0, "keyword": 1.0})
        return self._titles([item for item, _, _ in fused])

    def graph(self, question: str) -> list[str]:
        return [e.document_title for e in self.engine.retrieve(question).evidence]

    def method(self, name: str) -> Callable[[str], list[str]]:
        return getattr(self, name)


def evaluate(retrievers: Retrievers, questions: list[dict]) -> dict[str, dict[str, float]]:
    """Recall@2/@5 (0-100) and latency percentiles per method; one untimed warm-up question per method."""
    results = {}
    for name in METHODS:
        run = retrievers.method(name)
        run(questions[0]["question"])
        recalls = {k: [] for k in KS}
        timings = []
        for record in questions:
            started = time.perf_counter()
            titles = run(record["question"])
            timings.append((time.perf_counter() - started) * 1000)
            for k in KS:
                recalls[k].append(recall_at(titles, record["supporting_titles"], k))
        results[name] = {
            **{f"recall@{k}": round(100 * statistics.fmean(recalls[k]), 1) for k in KS},
            "p50_ms": _percentile(timings, 50),
            "p95_ms": _percentile(timings, 95),
        }
    return results


def table(sets: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = ["| set | method | R@2 | R@5 | p50 ms | p95 ms |", "|---|---|---|---|---|---|"]
    for set_name, methods in sets.items():
        for name, row in methods.items():
            lines.append(
                f"| {set_name} | {name} | {row['recall@2']:.1f} | {row['recall@5']:.1f} | "
                f"{row['p50_ms']:.1f} | {row['p95_ms']:.1f} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="JSONL with {id?, title, text} per line")
    parser.add_argument("--questions", type=Path, nargs="+", required=True, help="JSONL question sets")
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON results")
    parser.add_argument("--cache-dir", type=Path, default=Path(".graphrag/bench"), help="where indexes are cached")
    args = parser.parse_args()
    try:
        if not args.corpus.is_file():
            raise ValueError(f"corpus not found: {args.corpus}")
        question_sets = {path.stem: load_questions(path, "supporting_titles") for path in args.questions}
        base = Settings.load()
        data_dir = cache_dir_for(args.corpus, base, args.cache_dir)
        settings = Settings.load(data_dir=data_dir)
        with Engine.from_settings(settings) as engine:
            marker = data_dir / ".complete"
            if not marker.exists():
                engine.ingest([args.corpus], progress=sys.stderr.isatty())
                marker.write_text("ok\n", encoding="utf-8")
            retrievers = Retrievers(engine)
            sets = {name: evaluate(retrievers, questions) for name, questions in question_sets.items()}
        result = {"sets": sets, "corpus": str(args.corpus), "cpu_count": os.cpu_count()}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    except (GraphRAGError, OSError, ValueError) as exc:
        print(json.dumps({"error": getattr(exc, "message", str(exc))}))
        return 2
    print(table(sets))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
