"""Answer-LM latency against evidence length: where the time of one answer goes (reading the prompt vs writing).

For each evidence budget (tokens of passages, as the LM answer writer would number them) the product's own prompt
is built from corpus passages and the answer model generates a reply greedily, with the adapter if one is named.
Prefill (one forward pass over the prompt) is timed on its own, so decode time per new token follows. Prints
{"model", "dtype", "adapter", "torch_threads", "load_s", "draft_tokens", "budgets": {"<tokens>": {"prompt_tokens",
"prefill_ms", "prefill_gflops", "same_reply", "decoding": {"<draft tokens>": {"generate_ms_p50", "generate_ms_p95",
"new_tokens", "decode_ms_per_token"}}}}}: medians over --repeats runs; prefill_gflops counts only the weight
matrices (2 x parameters outside the embedding table and output head x prompt tokens). --draft-tokens 0,10 times
prompt-lookup decoding against one token a pass, the runs interleaved; same_reply says every setting wrote the
same reply. With --select the evidence first goes through the product's sentence selection (the
answer_reader_tokens setting): each budget then also reports "select_ms", and each decoding setting
"answer_ms_p50" / "answer_ms_p95" (selection plus generation: what the answer writer spends on that much evidence).

Example (2 CPU cores):
  python scripts/bench_lm_latency.py --corpus ../shared/data/multihop/corpus.jsonl --evidence-tokens 250,500,1000,1500
  python scripts/bench_lm_latency.py --corpus ../shared/data/multihop/corpus.jsonl --adapter answer-v2 --select \
      --draft-tokens 0,10
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import run_reporting, text_lines  # noqa: E402

from graphrag import Settings  # noqa: E402
from graphrag.answer_prompt import ANSWER_SYSTEM, EvidenceItem, user_message  # noqa: E402
from graphrag.evidence_selection import SelectableText  # noqa: E402

QUESTION = "Which country is the birthplace of the person these passages are about?"


def _passages(corpus: Path, limit: int = 400) -> list[EvidenceItem]:
    items = []
    for number, line in enumerate(text_lines(corpus), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            items.append(EvidenceItem(str(record["title"]), str(record["text"])))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ValueError(f"{corpus}:{number}: expected a JSON object with title and text") from None
        if len(items) >= limit:
            break
    if not items:
        raise ValueError(f"{corpus}: no passages")
    return items


def _evidence(model, passages: list[EvidenceItem], budget: int) -> list[EvidenceItem]:
    """Whole passages in corpus order until the budget; the last one cut to fit (as the writer does)."""
    kept, left = [], budget
    for item in passages:
        tokens = model.count_tokens(item.text)
        if tokens > left:
            kept.append(EvidenceItem(item.label, item.text[: len(item.text) * left // tokens]))
            break
        kept.append(item)
        left -= tokens
    return kept


def _p95(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def _selector(settings, model):
    """The product's sentence selection, with its embedder (as AnswerWriters builds it for the Engine)."""
    from graphrag.embedding import SentenceTransformerEmbedder
    from graphrag.evidence_selection import EvidenceSelector

    if not settings.answer_reader_tokens:
        raise ValueError("--select needs answer_reader_tokens > 0 (GRAPHRAG_ANSWER_READER_TOKENS)")
    return EvidenceSelector(SentenceTransformerEmbedder.from_settings(settings), model.token_counts,
                            settings.answer_reader_tokens)


def _prefill_ms(model, prompt: str, adapter: str | None) -> float:
    import torch

    inputs = model.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
    with model.using(adapter) as torch_model, torch.inference_mode():
        started = time.perf_counter()
        torch_model(**inputs, logits_to_keep=1)
        return (time.perf_counter() - started) * 1000


def _int_list(text: str, option: str, least: int) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    values = [int(p) for p in parts if p.isdigit()]
    if not parts or len(values) < len(parts) or min(values) < least:
        raise ValueError(f"{option} must be comma-separated integers of at least {least}, got {text!r}")
    return values


def _measure(args) -> dict:
    """The latency figures for the parsed arguments (raises on bad input)."""
    budgets = _int_list(args.evidence_tokens, "--evidence-tokens", 1)
    if args.repeats < 1:
        raise ValueError("--repeats must be at least 1")
    if not args.corpus.is_file():
        raise ValueError(f"corpus not found: {args.corpus}")
    passages = _passages(args.corpus)
    settings = Settings.load()
    drafts = (_int_list(args.draft_tokens, "--draft-tokens", 0) if args.draft_tokens
              else [settings.answer_draft_tokens])
    from graphrag.writers import AnswerWriters

    writers = AnswerWriters(settings)
    started = time.perf_counter()
    model = writers.language_model()  # the product's own load (device, dtype, converted-checkpoint cache)
    load_s = round(time.perf_counter() - started, 2)
    if args.adapter:
        model.add_adapter(args.adapter, writers.registry.path(args.adapter))
    import torch

    # Prefill multiplies every weight matrix except the embedding table (a lookup) and the output head (kept
    # to the last position): count those out, whether the two are tied or not.
    tables = {id(m.weight): m.weight.numel() for m in (model.model.get_input_embeddings(),
                                                       model.model.get_output_embeddings()) if m is not None}
    weights = sum(p.numel() for p in model.model.parameters()) - sum(tables.values())
    max_new = args.max_new_tokens or settings.answer_max_new_tokens
    model.generate(model.chat_prompt(ANSWER_SYSTEM, user_message(QUESTION, passages[:1])), 4,
                   adapter=args.adapter)  # warm-up: first-call allocations are not part of any budget
    selector = _selector(settings, model) if args.select else None
    results = {}
    for budget in budgets:
        evidence = _evidence(model, passages, budget)
        select_ms = []
        for _ in range(args.repeats if selector else 0):
            started = time.perf_counter()
            texts = selector.select(QUESTION, [SelectableText(e.label, e.text) for e in evidence])
            select_ms.append((time.perf_counter() - started) * 1000)
        if selector:
            evidence = [EvidenceItem(e.label, text) for e, text in zip(evidence, texts) if text is not None]
        prompt = model.chat_prompt(ANSWER_SYSTEM, user_message(QUESTION, evidence))
        prefill = []
        runs: dict[int, list] = {draft: [] for draft in drafts}
        for _ in range(args.repeats):
            prefill.append(_prefill_ms(model, prompt, args.adapter))
            for draft in drafts:  # interleaved, so the machine's drift touches every setting alike
                model.draft_tokens = draft
                runs[draft].append(model.generate(prompt, max_new, adapter=args.adapter))
        prefill_ms = statistics.median(prefill)
        results[str(budget)] = figures = {
            "prompt_tokens": model.count_tokens(prompt), "prefill_ms": round(prefill_ms, 1),
            "prefill_gflops": round(2 * weights * model.count_tokens(prompt) / (prefill_ms / 1000) / 1e9, 1)}
        if selector:
            figures["select_ms"] = round(statistics.median(select_ms), 1)
        replies = {g.text for generations in runs.values() for g in generations}
        figures["same_reply"] = len(replies) == 1  # drafting must not change what greedy decoding writes
        figures["decoding"] = {str(draft): _decoding(generations, prefill_ms, select_ms)
                               for draft, generations in runs.items()}
    model.draft_tokens = settings.answer_draft_tokens
    return {"model": model.resolved.name, "dtype": str(model.model.dtype).replace("torch.", ""),
            "adapter": args.adapter, "torch_threads": torch.get_num_threads(), "load_s": load_s,
            "matmul_parameters": weights, "draft_tokens": drafts,
            "reader_tokens": settings.answer_reader_tokens if selector else None, "budgets": results}


def _decoding(generations: list, prefill_ms: float, select_ms: list[float]) -> dict:
    """Medians (and p95) of one decoding setting's runs; with selection, the whole answer's time too."""
    total = [g.ms for g in generations]
    decode = [(g.ms - prefill_ms) / g.new_tokens for g in generations if g.new_tokens]
    figures = {"generate_ms_p50": round(statistics.median(total), 1), "generate_ms_p95": round(_p95(total), 1),
               "new_tokens": statistics.median(g.new_tokens for g in generations),
               "decode_ms_per_token": round(statistics.median(decode), 1) if decode else None}
    if select_ms:
        answer = [t + s for t, s in zip(total, select_ms)]
        figures.update(answer_ms_p50=round(statistics.median(answer), 1), answer_ms_p95=round(_p95(answer), 1))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="JSONL passages {title, text}")
    parser.add_argument("--evidence-tokens", default="250,500,1000,1500", help="comma-separated budgets")
    parser.add_argument("--adapter", help="answer adapter to generate with (default: the base model)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per budget (default 5)")
    parser.add_argument("--max-new-tokens", type=int, help="default: the answer_max_new_tokens setting")
    parser.add_argument("--select", action="store_true",
                        help="cut the evidence to its best sentences first (the answer_reader_tokens setting)")
    parser.add_argument("--draft-tokens", help="comma-separated prompt-lookup draft lengths to compare, e.g. 0,10 "
                                               "(default: the answer_draft_tokens setting)")
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()
    return run_reporting(lambda: _measure(args), args.out)


if __name__ == "__main__":
    sys.exit(main())
