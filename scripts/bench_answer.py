"""Benchmark the answer writers: the product's default (as configured, with its fallback), extractive, the base
answer LM and the LM with a LoRA adapter.

Two modes per question set:
* gold       reader only: the evidence is the question's gold supporting passages (no graph paths);
* retrieved  end to end: the product's own retrieval supplies the evidence.
Scores are SQuAD-style normalised exact match and token F1 against the best answer alias, and the share of
"I don't know" answers (gated_rate: those the answerability probe refused before any reply was decoded), all on a
0-100 scale, plus malformed_rate: LM replies that broke the schema, scored as
wrong (the LM writers run here without the extractive fallback the product uses, so the figures are the model's
own), and lenient_f1: F1 with a malformed reply read leniently instead (its first line, less any "Answer:"), which
says what a model knows when it ignores the reply format (the untuned base model usually does). p50/p95 are the
writer's own time in gold mode, retrieval plus writing in retrieved mode.
Writes {"sets": {set: {mode: {writer: {em, f1, lenient_f1, abstain_rate, gated_rate, malformed_rate, p50_ms,
p95_ms}}}}}; --details
adds one JSON line per question, mode and writer (the answer or the schema error, its F1) for error analysis.

Example (2 CPU cores):
  python scripts/bench_answer.py --corpus ../shared/data/multihop/corpus.jsonl \
      --questions ../shared/data/multihop/hotpotqa_dev.jsonl ../shared/data/multihop/musique_dev.jsonl \
      --adapter answer-v1 --out results/answer.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import cache_dir_for, load_questions, text_lines  # noqa: E402

from graphrag import Engine, GraphRAGError, Settings  # noqa: E402
from graphrag.answering.evidence import READER_TOKENS  # noqa: E402
from graphrag.answering.lm_reader import EVIDENCE_TOKENS, LMAnswerWriter  # noqa: E402
from graphrag.answering.writers import BASE_ADAPTER  # noqa: E402
from graphrag.errors import ModelOutputError  # noqa: E402
from graphrag.training.qa_metrics import exact_match, token_f1  # noqa: E402
from graphrag.types import Chunk, Evidence  # noqa: E402

WRITERS = ("default", "extractive", "base", "lora")
MODES = ("gold", "retrieved")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))], 1)


def load_passages(corpus: Path) -> dict[str, list[str]]:
    """title -> passage texts."""
    passages: dict[str, list[str]] = {}
    for number, line in enumerate(text_lines(corpus), start=1):
        if line.strip():
            try:
                record = json.loads(line)
                passages.setdefault(record["title"], []).append(record["text"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ValueError(f"{corpus}:{number}: expected {{title, text}}") from None
    return passages


def gold_retrieval(retrieval, record: dict, passages: dict[str, list[str]]):
    """The product's retrieval for the question with its evidence replaced by the gold passages (no graph: no
    chains, connections or communities, so the reader answers every question)."""
    evidence = []
    for title in record["supporting_titles"]:
        for index, text in enumerate(passages.get(title, [])):
            chunk = Chunk(
                id=f"gold:{title}:{index}", document_id=f"gold:{title}", index=index, text=text, start=0, end=len(text)
            )
            evidence.append(Evidence(chunk=chunk, document_title=title, score=1.0, reasons=("gold",)))
    return replace(retrieval, evidence=tuple(evidence), chains=(), connections=(), communities=(), chunk_entities={})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--questions", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--adapter", help="adapter for the 'lora' writer (default: the active answer adapter)")
    parser.add_argument("--writers", default=",".join(WRITERS), help="comma-separated subset of " + ",".join(WRITERS))
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ",".join(MODES))
    parser.add_argument("--limit", type=int, help="first N questions of each set")
    parser.add_argument("--details", type=Path, help="also write every answer here (JSON lines)")
    parser.add_argument("--cache-dir", type=Path, default=Path(".graphrag/bench"), help="where indexes are cached")
    args = parser.parse_args()
    try:
        writers = [w.strip() for w in args.writers.split(",") if w.strip()]
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        if not writers or set(writers) - set(WRITERS) or not modes or set(modes) - set(MODES):
            raise ValueError(f"--writers from {WRITERS}, --modes from {MODES}")
        if not args.corpus.is_file():
            raise ValueError(f"corpus not found: {args.corpus}")
        sets = {path.stem: load_questions(path, "answers")[: args.limit] for path in args.questions}
        if "gold" in modes:
            for name, records in sets.items():
                bad = next((r for r in records if not isinstance(r.get("supporting_titles"), list)), None)
                if bad is not None:
                    raise ValueError(
                        f"{name}: question {bad.get('id', bad['question'][:40])!r} has no "
                        "'supporting_titles' list (needed by the gold mode)"
                    )
        passages = load_passages(args.corpus)
        base = Settings.load()
        data_dir = cache_dir_for(args.corpus, base, args.cache_dir)
        settings = Settings.load(data_dir=data_dir, adapters_dir=base.adapters_root)
        with Engine.from_settings(settings) as engine:
            if not (data_dir / ".complete").exists():
                engine.ingest([args.corpus], progress=sys.stderr.isatty())
                (data_dir / ".complete").write_text("ok\n", encoding="utf-8")
            adapter = args.adapter or engine.writers.registry.active("answer")
            model_load_s = None
            default_is_lm = engine.writers.writes_with_lm()
            if {"base", "lora"} & set(writers) or ("default" in writers and default_is_lm):
                started = time.perf_counter()
                engine.writers.language_model()  # from the converted-checkpoint cache after the first time
                model_load_s = round(time.perf_counter() - started, 2)
            if "lora" in writers and not adapter:
                raise ValueError("the lora writer needs --adapter or an active answer adapter (scripts/finetune.py)")
            # The LM writers without their extractive fallback: a malformed reply scores as a wrong answer here
            # (and is counted), so the figures are the model's own.
            pick = {
                # The product as configured, fallback included: what a user gets from `graphrag ask`.
                "default": lambda: engine.writers.pick(None),
                "extractive": lambda: engine.writers.extractive,
                "base": lambda: _own(engine.writers.pick(BASE_ADAPTER)),
                "lora": lambda: _own(engine.writers.pick(adapter)),
            }
            details: list[dict] | None = [] if args.details else None
            results = {
                name: _run_set(engine, records, passages, {w: pick[w]() for w in writers}, modes, details, name)
                for name, records in sets.items()
            }
            model = engine.writers._model
            summary = {
                "sets": results,
                "default_writer": ("lm" if default_is_lm else "extractive")
                + (f" ({engine.writers.registry.active('answer') or 'base'})" if default_is_lm else ""),
                "adapter": adapter,
                "answer_model": model.resolved.name if model else None,
                "model_load_s": model_load_s,
                "dtype": str(model.model.dtype) if model else None,
                # precision=auto times bf16 against fp32 at load: a busy machine can flip it, and
                # the retrieved evidence with it
                "embedder_bf16": getattr(engine.embedder, "bf16", None),
                "evidence_tokens": EVIDENCE_TOKENS,
                "reader_tokens": READER_TOKENS,
                "lm_outcomes": engine.writers.stats.as_dict(),
                "cpu_count": os.cpu_count(),
            }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        if args.details:
            args.details.parent.mkdir(parents=True, exist_ok=True)
            args.details.write_text(
                "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in details), encoding="utf-8"
            )
    except (GraphRAGError, OSError, ValueError) as exc:
        print(json.dumps({"error": getattr(exc, "message", str(exc))}))
        return 2
    print(json.dumps(summary))
    return 0


def _own(writer: LMAnswerWriter) -> LMAnswerWriter:
    return writer.without_fallback()


def lenient_answer(reply: str | None) -> str:
    """A malformed reply read as an answer anyway: its first non-empty line, less an "Answer:" label."""
    line = next((line.strip() for line in (reply or "").splitlines() if line.strip()), "")
    return line[len("Answer:") :].strip() if line.lower().startswith("answer:") else line


def _run_set(
    engine: Engine,
    records: list[dict],
    passages,
    writers: dict,
    modes: list[str],
    details: list[dict] | None = None,
    set_name: str = "",
) -> dict:
    from tqdm import tqdm

    scores = {
        mode: {
            w: {"em": [], "f1": [], "lenient_f1": [], "abstained": [], "gated": [], "ms": [], "malformed": []}
            for w in writers
        }
        for mode in modes
    }
    for record in tqdm(records, desc="questions", disable=not sys.stderr.isatty()):
        started = time.perf_counter()
        retrieval = engine.retrieve(record["question"])
        retrieve_ms = (time.perf_counter() - started) * 1000
        for mode in modes:
            evidence = gold_retrieval(retrieval, record, passages) if mode == "gold" else retrieval
            for name, writer in writers.items():
                started = time.perf_counter()
                error = reply = None
                try:
                    answer, malformed = writer.write(record["question"], evidence), False
                except ModelOutputError as exc:
                    answer, malformed, error, reply = None, True, exc.message, exc.details.get("reply")
                ms = (time.perf_counter() - started) * 1000 + (retrieve_ms if mode == "retrieved" else 0.0)
                text = "" if answer is None or answer.abstained else answer.text
                bucket = scores[mode][name]
                bucket["malformed"].append(float(malformed))
                bucket["em"].append(exact_match(text, record["answers"]))
                bucket["f1"].append(token_f1(text, record["answers"]))
                bucket["lenient_f1"].append(token_f1(lenient_answer(reply) if malformed else text, record["answers"]))
                bucket["abstained"].append(float(answer is not None and answer.abstained))
                # refused by the answerability probe before any reply was decoded
                bucket["gated"].append(float(answer is not None and "unanswerable" in answer.timings_ms))
                bucket["ms"].append(ms)
                if details is not None:
                    details.append(
                        {
                            "set": set_name,
                            "id": record.get("id"),
                            "mode": mode,
                            "writer": name,
                            "question": record["question"],
                            "answers": record["answers"],
                            "answer": text,
                            "abstained": bucket["abstained"][-1] == 1.0,
                            "gated": bucket["gated"][-1] == 1.0,
                            "error": error,
                            "reply": reply,
                            "f1": round(100 * bucket["f1"][-1], 1),
                            "ms": round(ms, 1),
                        }
                    )
    return {
        mode: {
            name: {
                "em": round(100 * statistics.fmean(b["em"]), 1),
                "f1": round(100 * statistics.fmean(b["f1"]), 1),
                "lenient_f1": round(100 * statistics.fmean(b["lenient_f1"]), 1),
                "abstain_rate": round(100 * statistics.fmean(b["abstained"]), 1),
                "gated_rate": round(100 * statistics.fmean(b["gated"]), 1),
                "malformed_rate": round(100 * statistics.fmean(b["malformed"]), 1),
                "p50_ms": _percentile(b["ms"], 50),
                "p95_ms": _percentile(b["ms"], 95),
            }
            for name, b in by_writer.items()
        }
        for mode, by_writer in scores.items()
    }


if __name__ == "__main__":
    sys.exit(main())
