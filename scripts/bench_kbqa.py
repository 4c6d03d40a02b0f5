"""Relationship questions over a knowledge base of triples: the product against an embedding baseline.

The KB (JSONL or CSV triples: subject, relation, object) is ingested into a fresh store with the product's
defaults, then every question is asked once. A question scores a hit when the first answer named (the first of the
answer's ``answers``) equals one of its answers after normalisation (case, punctuation, white space).

The baseline is the 40-line method the product must beat, without being told the number of hops: its topic is the
longest KB name inside the question; every path of 1 to --max-hops relations from it, either direction, is scored
by the cosine between the rest of the question and the path's relation names joined (the product's embedder); its
answer is the end of the best path.

--copies K loads K copies of the KB, entity names numbered in all but the first, to measure ingest and question
latency on a bigger graph of the same shape (the questions are about the first copy).

Prints {"kb", "copies", "triples", "ingest_s", "triples_per_s", "questions", "product": {"hits_at_1", "abstained",
"precision_answered", "p50_ms", "p95_ms"}, "baseline": {"hits_at_1", "p50_ms", "p95_ms"}, "cpu_count"}.

Example (2 CPU cores):
  python scripts/bench_kbqa.py --kb ../shared/data/kbqa/pql2h_kb.jsonl \
      --questions ../shared/data/kbqa/pql2h_questions.jsonl --sample 300
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import load_questions, p95, run_reporting  # noqa: E402

from graphrag import Engine, Settings  # noqa: E402
from graphrag.extraction.base import relation_words  # noqa: E402
from graphrag.indexing.loaders import load_file  # noqa: E402
from graphrag.types import Triple  # noqa: E402


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", text).lower().split())


def _questions(path: Path, sample: int | None, seed: int) -> list[dict]:
    records = load_questions(path, "answers")
    if sample and sample < len(records):
        records = random.Random(seed).sample(records, sample)
    return records


def _first_answer(answer) -> str:
    return answer.answers[0] if answer.answers else answer.text


def _product(engine: Engine, questions: list[dict]) -> dict:
    hits = abstained = answered_right = 0
    times = []
    for record in questions:
        started = time.perf_counter()
        answer = engine.ask(record["question"])
        times.append((time.perf_counter() - started) * 1000)
        gold = {_normal(a) for a in record["answers"]}
        right = not answer.abstained and _normal(_first_answer(answer)) in gold
        hits += right
        abstained += answer.abstained
        answered_right += right
    answered = len(questions) - abstained
    return {
        "hits_at_1": round(100 * hits / len(questions), 1),
        "abstained": abstained,
        "precision_answered": round(100 * answered_right / answered, 1) if answered else None,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(p95(times), 1),
    }


def _baseline(triples: list[Triple], questions: list[dict], embedder, max_hops: int) -> dict:
    """The embedding baseline, not told the number of hops."""
    import numpy as np

    edges: dict[str, list[tuple[str, str]]] = defaultdict(list)
    names: dict[str, str] = {}
    for triple in triples:
        subject, obj = _normal(triple.subject), _normal(triple.object)
        names[subject], names[obj] = triple.subject, triple.object
        words = relation_words(triple.relation).replace("_", " ")
        edges[subject].append((words, obj))
        edges[obj].append((words, subject))
    by_length = sorted(names, key=len, reverse=True)
    vectors: dict[str, np.ndarray] = {}
    hits, times = 0, []
    for record in questions:
        started = time.perf_counter()
        question = _normal(record["question"])
        topic = next((n for n in by_length if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", question)), None)
        best = None
        if topic is not None:
            rest = embedder.embed([question.replace(topic, " ")], query=True)[0]
            frontier = [(topic, ())]
            for _ in range(max_hops):
                frontier = [(other, (*rels, words)) for node, rels in frontier for words, other in edges[node]][:20000]
                texts = sorted({" ".join(rels) for _, rels in frontier} - vectors.keys())
                if texts:
                    vectors.update(zip(texts, embedder.embed(texts, query=True)))
                for node, rels in frontier:
                    score = float(vectors[" ".join(rels)] @ rest)
                    if best is None or score > best[0]:
                        best = (score, node)
        times.append((time.perf_counter() - started) * 1000)
        if best is not None and _normal(names[best[1]]) in {_normal(a) for a in record["answers"]}:
            hits += 1
    return {
        "hits_at_1": round(100 * hits / len(questions), 1),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(p95(times), 1),
    }


def _copied(engine: Engine, kb: Path, copies: int, folder: Path) -> Path:
    """The KB and ``copies - 1`` more of it whose entity names end in the copy's number ("Ada Quint 2"): a bigger
    graph with the same shape, whose questions (about copy 0) keep their answers."""
    settings = engine.settings
    triples = load_file(kb, tenant=settings.tenant, max_bytes=settings.max_document_bytes).triples
    path = folder / f"{kb.stem}-x{copies}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for copy in range(copies):
            suffix = f" {copy}" if copy else ""
            for t in triples:
                record = {"subject": t.subject + suffix, "relation": t.relation, "object": t.object + suffix}
                out.write(json.dumps(record) + "\n")
    return path


def _measure(args) -> dict:
    if not args.kb.is_file():
        raise ValueError(f"knowledge base not found: {args.kb}")
    if not args.questions.is_file():
        raise ValueError(f"questions file not found: {args.questions}")
    if args.sample is not None and args.sample < 1:
        raise ValueError("--sample must be at least 1")
    if args.copies < 1:
        raise ValueError("--copies must be at least 1")
    questions = _questions(args.questions, args.sample, args.seed)
    with tempfile.TemporaryDirectory(prefix="graphrag-kbqa-") as data_dir:
        with Engine.from_settings(Settings.load(data_dir=Path(data_dir) / "store")) as engine:
            kb = args.kb if args.copies == 1 else _copied(engine, args.kb, args.copies, Path(data_dir))
            started = time.perf_counter()
            report = engine.ingest([kb])
            ingest_s = time.perf_counter() - started
            if report.problems:
                raise ValueError(f"{report.problems[0].source}: {report.problems[0].message}")
            triples = engine.stats().relations
            product = _product(engine, questions)
            baseline = None
            if args.baseline:  # the KB as the product's loader reads it (JSONL or CSV)
                settings = engine.settings
                loaded = load_file(kb, tenant=settings.tenant, max_bytes=settings.max_document_bytes)
                baseline = _baseline(loaded.triples, questions, engine.embedder, args.max_hops)
    return {
        "kb": str(args.kb),
        "copies": args.copies,
        "triples": triples,
        "ingest_s": round(ingest_s, 2),
        "triples_per_s": round(triples / ingest_s, 1) if ingest_s else None,
        "questions": len(questions),
        "product": product,
        "baseline": baseline,
        "cpu_count": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", type=Path, required=True, help="triples (JSONL: subject, relation, object)")
    parser.add_argument("--questions", type=Path, required=True, help="JSONL of {question, answers}")
    parser.add_argument("--sample", type=int, help="ask this many questions, sampled with --seed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-hops", type=int, default=3, help="longest path the baseline tries")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false", help="measure the product only")
    parser.add_argument(
        "--copies", type=int, default=1, help="load this many copies of the KB (names numbered) to measure at scale"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()
    return run_reporting(lambda: _measure(args), args.out)


if __name__ == "__main__":
    sys.exit(main())
