"""Train an answer adapter (LoRA) on Re-DocRED and save it as a release (manifest + registry).

Builds training examples from the training share of the documents (split by title hash; validation documents never
appear in training): relation facts as questions, unanswerable variants, two-hop chains, yes/no and comparison
questions, and replay text. Trains with peft (progress bar, resumable checkpoints); for an answer adapter, chooses
its abstain bias on calibration questions from one half of the held-out documents (graphrag/answering/abstention.py);
then
evaluates the base model and the adapter on questions from the other half (EM/F1, abstention on answerable and
unanswerable questions, malformed replies) and measures forgetting as held-out perplexity. Prints one JSON summary.

Example (2 CPU cores):
  python scripts/finetune.py --data ../shared/data/redocred/dev_revised.json --examples 2000 --name answer-v1
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import run_reporting  # noqa: E402

from graphrag import Settings
from graphrag.answering.decoding.reply import ReplyDecoding
from graphrag.answering.writers import DRAFT_TOKENS
from graphrag.lm.adapters import AdapterManifest, AdapterRegistry, check_name
from graphrag.lm.model import LanguageModel
from graphrag.offline import file_sha256, shipped_weights_dir
from graphrag.training.calibration import calibrate
from graphrag.training.data import (
    MIX_KINDS,
    build_examples,
    data_sha256,
    heldout_question_sets,
    load_redocred,
    load_relation_names,
    parse_mix,
    split_documents,
)
from graphrag.training.finetune import LoraOptions, evaluate, heldout_perplexity, train_lora


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="Re-DocRED (DocRED-format) JSON file")
    parser.add_argument("--relations", type=Path, help="rel_info.json (default: next to --data)")
    parser.add_argument("--name", help="adapter name (default answer-<UTC timestamp>)")
    parser.add_argument("--model", help="answer model (package key or directory; default: the answer_model setting)")
    parser.add_argument("--examples", type=int, default=2000, help="training examples (default 2000)")
    parser.add_argument(
        "--mix",
        default="",
        help="answer data mix as kind=share pairs, e.g. unanswerable=0.12,"
        "broken_chain=0.08,multihop=0.25 (kinds: " + ", ".join(MIX_KINDS) + "; the rest is "
        "single-fact; defaults: unanswerable 0.25, multihop 0.2, three_hop 0, broken_chain 0, yesno 0.1, "
        "comparison 0.07, replay 0.08)",
    )
    parser.add_argument(
        "--passage-sentences",
        default="2",
        help="sentences per training passage, one size or several "
        "(e.g. 2,3,4: each document gets one of them); held-out questions keep 2 (default 2)",
    )
    parser.add_argument("--validation-examples", type=int, default=200, help="held-out questions (default 200)")
    parser.add_argument(
        "--calibration-examples",
        type=int,
        default=150,
        help="held-out questions (other documents) that choose the abstain bias (default 150)",
    )
    parser.add_argument(
        "--max-answerable-abstain",
        type=float,
        default=15.0,
        help="most answerable calibration questions (%%) the abstain bias may abstain on",
    )
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=int, default=32)
    parser.add_argument("--dropout", type=float, default=0.05)
    parser.add_argument("--target-modules", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    parser.add_argument("--layer-share", type=float, default=0.2, help="share of top layers adapted (1 = all)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--batch-size", type=int, default=8, help="examples per optimiser step")
    parser.add_argument("--max-length", type=int, default=1024, help="longest example in tokens (longer: skipped)")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (resume later with the same args)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: the GPU if present")
    parser.add_argument(
        "--dtype",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="base weights: auto = bf16 on a GPU or a CPU where bf16 times faster (LoRA weights stay fp32)",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--skip-base-eval", action="store_true", help="do not evaluate the base model")
    parser.add_argument("--activate", action="store_true", help="make the new adapter the active answer adapter")
    parser.add_argument(
        "--ship",
        action="store_true",
        help="also copy the adapter into the repo's weights/ folder with a manifest (files' sha256, this command, "
        "the training data's sha256, figures), as the product ships it",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    return parser.parse_args()


def _train(args, started: float) -> dict:
    """Train, validate, calibrate and save one adapter for the parsed arguments (raises on bad input)."""
    name = check_name(args.name or "answer-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S"))
    if args.examples < 1 or args.validation_examples < 1:
        raise ValueError("--examples and --validation-examples must be at least 1")
    mix = parse_mix(args.mix)
    sizes = _passage_sizes(args.passage_sentences)
    if sizes != (2,):
        mix["passage_sentences"] = sizes
    settings = Settings.load()
    registry = AdapterRegistry.for_settings(settings)
    if (registry.root / name / "manifest.json").exists():
        raise ValueError(f"adapter {name!r} already exists in {registry.root}: choose another --name")
    relation_names = load_relation_names(args.relations or args.data.parent / "rel_info.json")
    train_docs, validation_docs = split_documents(load_redocred(args.data))
    train = build_examples(train_docs, relation_names, args.examples, seed=args.seed, **mix)
    validation, calibration = heldout_question_sets(
        validation_docs, relation_names, args.validation_examples, args.calibration_examples, args.seed
    )
    sha = data_sha256(train)
    options = LoraOptions(
        rank=args.rank,
        alpha=args.alpha,
        dropout=args.dropout,
        target_modules=tuple(m.strip() for m in args.target_modules.split(",") if m.strip()),
        layer_share=args.layer_share,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        max_length=args.max_length,
        seed=args.seed,
    ).check()
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    lm = LanguageModel.load(
        args.model if args.model is not None else settings.answer_model,
        settings.lm_cache_dir,
        device,
        args.dtype,
        settings.torch_threads,
        DRAFT_TOKENS,
    )
    heldout_text = [" ".join(d.sentences) for d in validation_docs[:40]]
    decoding = ReplyDecoding.for_tokenizer(lm.tokenizer)  # validate as the answer writer will decode
    progress = True  # a live bar on a terminal, an update every 30 s in a log
    summary: dict = {
        "name": name,
        "base_model": lm.resolved.name,
        "device": device,
        "dtype": str(lm.model.dtype).replace("torch.", ""),
        "cpu_count": os.cpu_count(),
        "train_documents": len(train_docs),
        "validation_documents": len(validation_docs),
        "train_examples": len(train),
        "validation_questions": len(validation),
        "training_data_sha256": sha,
        **({"mix": mix} if mix else {}),
    }
    if not args.skip_base_eval:
        summary["base"] = evaluate(lm, validation, adapter=None, progress=progress, decoding=decoding)
    ppl_base = heldout_perplexity(lm, heldout_text, adapter=None)
    result = train_lora(
        lm,
        name,
        train,
        options,
        registry.root / ".checkpoints" / name,
        sha,
        progress=progress,
        max_steps=args.max_steps,
    )
    summary["training"] = {
        "steps": result.steps,
        "resumed_from_step": result.resumed_from_step,
        "skipped_too_long": result.skipped_too_long,
        "seconds": result.seconds,
        "examples_per_s": round(result.examples_seen / max(result.seconds, 1e-9), 3),
        "first_loss": result.first_loss,
        "last_loss": result.last_loss,
    }
    if result.steps < result.planned_steps:
        summary["stopped_early"] = True  # not saved: resume with the same arguments to finish
    else:
        chosen = calibrate(lm, name, calibration, args.max_answerable_abstain, progress=progress, decoding=decoding)
        summary["calibration"], bias = asdict(chosen), chosen.bias
        summary["lora"] = evaluate(
            lm, validation, adapter=name, progress=progress, abstain_bias=bias, decoding=decoding
        )
        ppl_lora = heldout_perplexity(lm, heldout_text, adapter=name)
        summary["forgetting"] = {
            "heldout_perplexity_base": ppl_base,
            "heldout_perplexity_lora": ppl_lora,
            "ratio": round(ppl_lora / ppl_base, 3),
        }
        manifest = AdapterManifest(
            name=name,
            kind="answer",
            base_model=lm.resolved.name,
            base_sha256=lm.resolved.sha256,
            training_data_sha256=sha,
            hyperparameters={**_options(options), **({"mix": mix} if mix else {})},
            abstain_bias=bias,
            metrics={
                "validation": summary["lora"],
                "validation_base": summary.get("base"),
                "forgetting": summary["forgetting"],
                "training": summary["training"],
                **({"calibration": summary["calibration"]} if "calibration" in summary else {}),
            },
        )
        summary["saved_to"] = str(registry.save(lm.model, name, manifest))
        if args.ship:
            summary["shipped_to"] = str(ship(registry, name, args))
        if args.activate:
            registry.activate(name)
            summary["activated"] = True
    summary["total_seconds"] = round(time.perf_counter() - started, 1)
    return summary


def ship(registry: AdapterRegistry, name: str, args) -> Path:
    """Copy the saved adapter into the repo's weights/ folder with the command that made it and its data's hash."""
    command = "python scripts/finetune.py " + shlex.join(sys.argv[1:])
    data = {"file": args.data.name, "sha256": file_sha256(args.data)}
    return registry.ship(name, shipped_weights_dir(), command, data)


def main() -> int:
    args = _parse_args()
    started = time.perf_counter()
    return run_reporting(lambda: _train(args, started), args.out)


def _passage_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"--passage-sentences: expected whole numbers such as 2,3,4, got {text!r}") from None
    if not sizes or not all(1 <= size <= 20 for size in sizes):
        raise ValueError(f"--passage-sentences: sizes must be between 1 and 20 sentences, got {text!r}")
    return sizes


def _options(options: LoraOptions) -> dict:
    return {**asdict(options), "target_modules": list(options.target_modules)}


if __name__ == "__main__":
    sys.exit(main())
