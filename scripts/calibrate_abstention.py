"""Calibrate a saved answer adapter's "I don't know": choose its abstain bias on held-out calibration questions
(one half of the Re-DocRED validation documents), record it in the adapter's manifest, and report abstention, EM
and F1 on the other half's questions with the bias (and, with --compare, without it). Prints one JSON summary.
scripts/finetune.py does the same for every answer adapter it trains; this script is for adapters saved before
that, or to calibrate again with another target.

Example (2 CPU cores):
  python scripts/calibrate_abstention.py --data ../shared/data/redocred/dev_revised.json --adapter answer-v2
  python scripts/calibrate_abstention.py --data ../shared/data/redocred/dev_revised.json --adapter answer-v2 --tradeoff
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import run_reporting  # noqa: E402

from graphrag import Settings  # noqa: E402
from graphrag.answering.decoding.reply import ReplyDecoding  # noqa: E402
from graphrag.answering.writers import BASE_ADAPTER, AnswerWriters  # noqa: E402
from graphrag.lm.adapters import AdapterRegistry  # noqa: E402
from graphrag.training.calibration import calibrate, idk_margins, tradeoff  # noqa: E402
from graphrag.training.data import heldout_question_sets, load_redocred, load_relation_names, split_documents  # noqa: E402
from graphrag.training.finetune import evaluate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="Re-DocRED (DocRED-format) JSON file")
    parser.add_argument("--relations", type=Path, help="rel_info.json (default: next to --data)")
    parser.add_argument(
        "--adapter",
        required=True,
        help="a saved or shipped answer adapter, or 'none': the base model is measured as it answers by default "
        "(no bias; its shipped answerability probe refuses first), with the separation a bias on its output could "
        "reach, and nothing is written",
    )
    parser.add_argument("--calibration-examples", type=int, default=150, help="calibration questions (default 150)")
    parser.add_argument("--validation-examples", type=int, default=200, help="report questions (default 200)")
    parser.add_argument(
        "--max-answerable-abstain",
        type=float,
        default=15.0,
        help="most answerable questions (%%) the bias may abstain on (default 15)",
    )
    parser.add_argument("--compare", action="store_true", help="also evaluate without the bias")
    parser.add_argument(
        "--tradeoff",
        action="store_true",
        help="only report how well the margin separates answerable from unanswerable questions on "
        "each half, and the best any bias could do there (no generation; the manifest is left "
        "as it is)",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()
    started = time.perf_counter()

    def calibrate_adapter() -> dict:
        if args.calibration_examples < 10 or args.validation_examples < 1:
            raise ValueError("--calibration-examples must be at least 10 and --validation-examples at least 1")
        if not 0 <= args.max_answerable_abstain <= 100:
            raise ValueError("--max-answerable-abstain is a percentage: 0 to 100")
        settings = Settings.load()
        registry = AdapterRegistry.for_settings(settings)
        base = args.adapter == BASE_ADAPTER
        manifest = None if base else registry.get(args.adapter)
        if manifest is not None and manifest.kind != "answer":
            raise ValueError(f"adapter {args.adapter!r} is of kind {manifest.kind!r}, not an answer adapter")
        relation_names = load_relation_names(args.relations or args.data.parent / "rel_info.json")
        _, validation_docs = split_documents(load_redocred(args.data))
        validation, calibration = heldout_question_sets(
            validation_docs, relation_names, args.validation_examples, args.calibration_examples, args.seed
        )
        # The product's own loading: answer_device / precision settings, base-model checksum checked.
        writers = AnswerWriters(settings)
        lm = writers.pick(args.adapter).model
        decoding = writers.reply_decoding()  # decode as the answer writer does (its grammar tokens, built once)
        if base:
            probe = writers.answerability_probe()  # the default path's gate, when one ships for this model
            return {
                "adapter": None,
                "cpu_count": os.cpu_count(),
                **decoding.describe(),
                "answerability_probe": None if probe is None else {"layer": probe.layer, "threshold": probe.threshold},
                "validation": evaluate(lm, validation, None, progress=True, decoding=decoding, gate=probe),
                "tradeoff": {
                    half: asdict(_tradeoff(lm, None, examples, args.max_answerable_abstain, decoding))
                    for half, examples in (("calibration", calibration), ("validation", validation))
                },
                "total_seconds": round(time.perf_counter() - started, 1),
            }
        if args.tradeoff:
            return {
                "adapter": args.adapter,
                "cpu_count": os.cpu_count(),
                **decoding.describe(),
                **{
                    half: asdict(_tradeoff(lm, args.adapter, examples, args.max_answerable_abstain, decoding))
                    for half, examples in (("calibration", calibration), ("validation", validation))
                },
                "total_seconds": round(time.perf_counter() - started, 1),
            }
        chosen = calibrate(lm, args.adapter, calibration, args.max_answerable_abstain, progress=True, decoding=decoding)
        summary: dict = {
            "adapter": args.adapter,
            "cpu_count": os.cpu_count(),
            "calibration": asdict(chosen),
            **decoding.describe(),
            "validation": evaluate(
                lm, validation, args.adapter, progress=True, abstain_bias=chosen.bias, decoding=decoding
            ),
        }
        if args.compare:
            summary["validation_unbiased"] = evaluate(lm, validation, args.adapter, progress=True, decoding=decoding)
        registry.set_abstain_bias(args.adapter, chosen.bias, {**asdict(chosen), "validation": summary["validation"]})
        summary["total_seconds"] = round(time.perf_counter() - started, 1)
        return summary

    return run_reporting(calibrate_adapter, args.out)


def _tradeoff(lm, adapter: str | None, examples: list, max_answerable_rate: float, decoding: ReplyDecoding):
    margins = idk_margins(lm, examples, adapter, progress=True, decoding=decoding)
    return tradeoff(
        [m for m, e in zip(margins, examples) if e.kind != "unanswerable"],
        [m for m, e in zip(margins, examples) if e.kind == "unanswerable"],
        max_answerable_rate,
    )


if __name__ == "__main__":
    sys.exit(main())
