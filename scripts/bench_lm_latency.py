"""Answer-LM latency against evidence length: where the time of one answer goes (reading the prompt vs writing).

For each evidence budget (tokens of passages, as the LM answer writer would number them) the product's own prompt
is built from corpus passages and the answer model generates a reply greedily, with the adapter if one is named.
Prefill (one forward pass over the prompt) is timed on its own, so decode time per new token follows. Prints
{"model", "dtype", "adapter", "merged_adapters", "torch_threads", "load_s", "draft_tokens", "reply_vocabulary",
"constrained_decoding", "copy_spans", "budgets": {"<tokens>": {"prompt_tokens", "prefill_ms", "prefill_gflops",
"same_reply", "same_replies", "decoding": {"<draft tokens>": {"generate_ms_p50", "generate_ms_p95", "new_tokens",
"forward_passes", "reused_prompt_tokens", "decode_ms_per_token"}}}}}:
medians over --repeats runs of one synthetic question, or over real questions with --questions (each asked once
per budget: its gold passages among corpus distractors, filled up to the budget; each budget then also reports
"questions"); prefill_gflops counts only the weight matrices (2 x parameters outside the embedding table and
output head x prompt tokens). A generation reads only the prompt tokens after the start it shares with the
previous prompt (reused_prompt_tokens: the system prompt at least, graphrag/lm/greedy.py), while prefill_ms
is one pass over the whole prompt; decode_ms_per_token is (generation - prefill_ms) / new tokens, so it is the
decoding's cost less what the reused start saved.

--draft-tokens 0,10 times prompt-lookup decoding against one token a pass, the runs interleaved;
--reply-vocabulary evidence,any times a reply restricted to its prompt's words (the product's way) against the whole
vocabulary (with two values each decoding key is "<draft tokens>/<vocabulary>"). same_reply says every variant
wrote the same reply, same_replies for how many of the prompts ("48/50"). With --select the evidence first goes
through the product's sentence selection (READER_TOKENS): each budget then also reports "select_ms", and each
decoding variant "answer_ms_p50" / "answer_ms_p95" (selection plus generation: what the answer writer spends on
that much evidence). merged_adapters is how many adapters the product serves from merged weights.

Example (2 CPU cores):
  python scripts/bench_lm_latency.py --corpus ../shared/data/multihop/corpus.jsonl --evidence-tokens 250,500,1000,1500
  python scripts/bench_lm_latency.py --corpus ../shared/data/multihop/corpus.jsonl --adapter answer-v2 --select \
      --draft-tokens 0,10 --reply-vocabulary evidence,any
  python scripts/bench_lm_latency.py --corpus ../shared/data/multihop/corpus.jsonl --adapter answer-v5 --select \
      --evidence-tokens 1500 --questions ../shared/data/multihop/hotpotqa_dev.jsonl \
      ../shared/data/multihop/musique_dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import load_questions, p95, run_reporting, text_lines  # noqa: E402

from graphrag import Settings  # noqa: E402
from graphrag.answering.evidence import READER_TOKENS, SelectableText  # noqa: E402
from graphrag.answering.lm_reader import MAX_NEW_TOKENS  # noqa: E402
from graphrag.answering.prompt import ANSWER_SYSTEM, EvidenceItem, reply_vocabulary, user_message  # noqa: E402
from graphrag.answering.writers import DRAFT_TOKENS, MERGED_ADAPTERS  # noqa: E402

QUESTION = "Which country is the birthplace of the person these passages are about?"


def _passages(corpus: Path, limit: int | None = 400) -> list[EvidenceItem]:
    items = []
    for number, line in enumerate(text_lines(corpus), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            items.append(EvidenceItem(str(record["title"]), str(record["text"])))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ValueError(f"{corpus}:{number}: expected a JSON object with title and text") from None
        if limit is not None and len(items) >= limit:
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


def _writers(settings, select: bool):
    """The product's answer writers; with ``select``, with the embedder the Engine gives them, so that the
    sentence selection is the one every LM writer shares (AnswerWriters.evidence_selector)."""
    from graphrag.answering.writers import AnswerWriters
    from graphrag.lm.embedding import SentenceTransformerEmbedder

    if not select:
        return AnswerWriters(settings)
    return AnswerWriters(settings, embedder=SentenceTransformerEmbedder.from_settings(settings))


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


def _question_evidence(model, record: dict, passages: list[EvidenceItem], budget: int) -> list[EvidenceItem]:
    """A real question's evidence at ``budget`` tokens: its gold supporting passages, then distractor passages
    (a fixed random sample of the corpus) until the budget, in an order shuffled per question (seeded by it)."""
    rng = random.Random(str(record.get("id", record["question"])))
    gold_titles = set(record["supporting_titles"])
    gold = [p for p in passages if p.label in gold_titles]
    others = [p for p in passages if p.label not in gold_titles]
    kept = _evidence(model, gold + rng.sample(others, min(len(others), 40)), budget)
    rng.shuffle(kept)
    return kept


def _measure(args) -> dict:
    """The latency figures for the parsed arguments (raises on bad input)."""
    budgets = _int_list(args.evidence_tokens, "--evidence-tokens", 1)
    if args.repeats < 1:
        raise ValueError("--repeats must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise ValueError("--limit must be at least 1")
    if not args.corpus.is_file():
        raise ValueError(f"corpus not found: {args.corpus}")
    questions = []
    for path in args.questions or []:
        if not path.is_file():
            raise ValueError(f"questions file not found: {path}")
        questions += load_questions(path, "supporting_titles")[: args.limit]
    passages = _passages(args.corpus, limit=None if questions else 400)
    settings = Settings.load()
    drafts = _int_list(args.draft_tokens, "--draft-tokens", 0) if args.draft_tokens else [DRAFT_TOKENS]
    vocabularies = (
        [v.strip() for v in args.reply_vocabulary.split(",") if v.strip()] if args.reply_vocabulary else ["evidence"]
    )
    if not vocabularies or set(vocabularies) - {"evidence", "any"} or len(set(vocabularies)) < len(vocabularies):
        raise ValueError(
            f"--reply-vocabulary takes distinct values among evidence and any, got {args.reply_vocabulary!r}"
        )
    decodings = [(draft, vocabulary) for draft in drafts for vocabulary in vocabularies]

    def key(draft: int, vocabulary: str) -> str:
        return str(draft) if len(vocabularies) == 1 else f"{draft}/{vocabulary}"

    writers = _writers(settings, args.select)
    started = time.perf_counter()
    model = writers.language_model()  # the product's own load (device, dtype, converted-checkpoint cache)
    load_s = round(time.perf_counter() - started, 2)
    if args.adapter:
        model.add_adapter(args.adapter, writers.registry.path(args.adapter))
    import torch

    # Prefill multiplies every weight matrix except the embedding table (a lookup) and the output head (kept
    # to the last position): count those out, whether the two are tied or not.
    tables = {
        id(m.weight): m.weight.numel()
        for m in (model.model.get_input_embeddings(), model.model.get_output_embeddings())
        if m is not None
    }
    weights = sum(p.numel() for p in model.model.parameters()) - sum(tables.values())
    max_new = args.max_new_tokens or MAX_NEW_TOKENS
    model.generate(
        model.chat_prompt(ANSWER_SYSTEM, user_message(QUESTION, passages[:1])), 4, adapter=args.adapter
    )  # warm-up: first-call allocations are not part of any budget
    selector = writers.evidence_selector() if args.select else None
    writer_decoding = writers.reply_decoding()  # the answer writer's grammar and copying
    results = {}
    for budget in budgets:
        if questions:  # each question once, with its own gold passages among distractors
            asks = [(r["question"], _question_evidence(model, r, passages, budget)) for r in questions]
        else:  # the synthetic question, --repeats times
            asks = [(QUESTION, _evidence(model, passages, budget))] * args.repeats
        runs: dict[str, list] = {key(*decoding): [] for decoding in decodings}
        prefill, select_ms, prompt_tokens, same = [], [], [], []
        for question, evidence in asks:
            if selector:
                started = time.perf_counter()
                texts = selector.select(question, [SelectableText(e.label, e.text) for e in evidence])
                select_ms.append((time.perf_counter() - started) * 1000)
                evidence = [EvidenceItem(e.label, text) for e, text in zip(evidence, texts) if text is not None]
            forced = writer_decoding.reply_prefix(args.adapter)  # as the answer writer does
            user = user_message(question, evidence)
            prompt = model.chat_prompt(ANSWER_SYSTEM, user) + forced
            prompt_tokens.append(model.count_tokens(prompt))
            prefill.append(_prefill_ms(model, prompt, args.adapter))
            replies = set()
            for draft, vocabulary in decodings:  # interleaved, so the machine's drift touches every setting alike
                model.draft_tokens = draft
                grammar = writer_decoding.processors(len(evidence), forced, user, max_new)
                generation = model.generate(
                    prompt,
                    max_new,
                    adapter=args.adapter,
                    logits_processors=grammar,
                    vocabulary=reply_vocabulary(prompt) if vocabulary == "evidence" else None,
                )
                runs[key(draft, vocabulary)].append((generation, prefill[-1], select_ms[-1] if selector else 0.0))
                replies.add(generation.text)
            same.append(len(replies) == 1)
        prefill_ms = statistics.median(prefill)
        tokens = statistics.median(prompt_tokens)
        results[str(budget)] = figures = {
            "prompt_tokens": tokens,
            "prefill_ms": round(prefill_ms, 1),
            "prefill_gflops": round(2 * weights * tokens / (prefill_ms / 1000) / 1e9, 1),
        }
        if questions:
            figures["questions"] = len(asks)
        if selector:
            figures["select_ms"] = round(statistics.median(select_ms), 1)
        figures["same_reply"] = all(same)  # drafting must not change what greedy decoding writes
        figures["same_replies"] = f"{sum(same)}/{len(same)}"
        figures["decoding"] = {name: _decoding(measured, bool(selector)) for name, measured in runs.items()}
    model.draft_tokens = DRAFT_TOKENS
    return {
        "model": model.resolved.name,
        "dtype": str(model.model.dtype).replace("torch.", ""),
        "adapter": args.adapter,
        "merged_adapters": MERGED_ADAPTERS,
        "torch_threads": torch.get_num_threads(),
        "load_s": load_s,
        "matmul_parameters": weights,
        "draft_tokens": drafts,
        "reply_vocabulary": vocabularies,
        "constrained_decoding": writer_decoding.grammar is not None,
        "copy_spans": writer_decoding.describe()["copy_spans"],
        "reader_tokens": READER_TOKENS if selector else None,
        "budgets": results,
    }


def _decoding(measured: list[tuple], selected: bool) -> dict:
    """Medians (and p95) of one decoding setting's runs, each (generation, its prompt's prefill ms, selection ms);
    with selection, the whole answer's time too."""
    total = [g.ms for g, _, _ in measured]
    decode = [(g.ms - prefill) / g.new_tokens for g, prefill, _ in measured if g.new_tokens]
    figures = {
        "generate_ms_p50": round(statistics.median(total), 1),
        "generate_ms_p95": round(p95(total), 1),
        "new_tokens": statistics.median(g.new_tokens for g, _, _ in measured),
        "forward_passes": statistics.median(g.forward_passes for g, _, _ in measured),
        "reused_prompt_tokens": statistics.median(g.reused_prompt_tokens for g, _, _ in measured),
        "decode_ms_per_token": round(statistics.median(decode), 1) if decode else None,
    }
    if selected:
        answer = [g.ms + select for g, _, select in measured]
        figures.update(answer_ms_p50=round(statistics.median(answer), 1), answer_ms_p95=round(p95(answer), 1))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="JSONL passages {title, text}")
    parser.add_argument("--evidence-tokens", default="250,500,1000,1500", help="comma-separated budgets")
    parser.add_argument("--adapter", help="answer adapter to generate with (default: the base model)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per budget (default 5)")
    parser.add_argument(
        "--questions",
        type=Path,
        nargs="+",
        help="JSONL questions {question, supporting_titles}: each is asked once per budget, its gold "
        "passages among corpus distractors, instead of the synthetic question",
    )
    parser.add_argument("--limit", type=int, help="first N questions of each --questions file")
    parser.add_argument("--max-new-tokens", type=int, help="default: the answer writer's MAX_NEW_TOKENS")
    parser.add_argument(
        "--select",
        action="store_true",
        help="cut the evidence to its best sentences first (READER_TOKENS)",
    )
    parser.add_argument(
        "--draft-tokens",
        help="comma-separated prompt-lookup draft lengths to compare, e.g. 0,10 "
        "(default: the answer writer's DRAFT_TOKENS)",
    )
    parser.add_argument(
        "--reply-vocabulary",
        help="comma-separated: evidence (the reply may use its prompt's words "
        "only, the product's way), any (the whole vocabulary); default: evidence",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()
    return run_reporting(lambda: _measure(args), args.out)


if __name__ == "__main__":
    sys.exit(main())
