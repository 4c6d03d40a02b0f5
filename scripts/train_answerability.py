"""Train the answerability probe of the base answer model (graphrag/answering/probes.py) on Re-DocRED
questions, and with --ship put it in the repo's weights/probes/ folder, where the answer writer finds it.

The training questions come from the training documents (the answer adapter's split), 40% of them unanswerable;
the threshold, layer and strength are chosen on calibration questions from one half of the held-out documents, and
the figures are reported on the other half's questions (the same held-out sets as calibrate_abstention.py).
Prints one JSON summary. About 20 minutes on 2 CPU cores (one prompt read a question).

Example:
  python scripts/train_answerability.py --data ../shared/data/redocred/dev_revised.json --ship
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    add_probe_data_arguments,
    check_probe_data_arguments,
    reproducing,
    run_reporting,
)

_WHERE = ("--states-cache", "--out")  # options that say where things are kept, not what is trained

from graphrag import Settings  # noqa: E402
from graphrag.answering.probes import PROBES_DIR  # noqa: E402
from graphrag.answering.writers import AnswerWriters  # noqa: E402
from graphrag.offline import file_sha256, shipped_weights_dir  # noqa: E402
from graphrag.training.answerability import (  # noqa: E402
    abstain_rates,
    labels,
    prompt_states,
    train_probe,
)
from graphrag.training.data import (  # noqa: E402
    build_examples,
    heldout_question_sets,
    load_redocred,
    load_relation_names,
    split_documents,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_probe_data_arguments(parser, train=700, calibration=150)
    parser.add_argument(
        "--layers", default="8,10,12,14,16", help="decoder layers to try, comma-separated (default 8,10,12,14,16)"
    )
    parser.add_argument(
        "--max-answerable-abstain",
        type=float,
        default=10.0,
        help="most answerable questions (%%) the probe may refuse, among the calibration questions and the "
        "cross-validated training ones (default 10: the held-out target is 15, and the rate varies by a few points "
        "between question sets)",
    )
    parser.add_argument("--ship", action="store_true", help="write the probe into the repo's weights/probes/")
    parser.add_argument(
        "--states-cache",
        type=Path,
        help="keep the prompts' hidden states in this .npz and reuse them when the model, layers and questions are "
        "the same (a rerun to change only the selection takes seconds)",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()
    started = time.perf_counter()

    def train() -> dict:
        check_probe_data_arguments(args)
        if not 0 <= args.max_answerable_abstain <= 100:
            raise ValueError("--max-answerable-abstain is a percentage: 0 to 100")
        try:
            layers = [int(part) for part in args.layers.split(",") if part.strip()]
        except ValueError:
            raise ValueError(f"--layers must be comma-separated integers, got {args.layers!r}") from None
        if not layers:
            raise ValueError("--layers names no layer")
        relation_names = load_relation_names(args.relations or args.data.parent / "rel_info.json")
        train_docs, validation_docs = split_documents(load_redocred(args.data))
        validation, calibration = heldout_question_sets(
            validation_docs, relation_names, args.validation_examples, args.calibration_examples, args.seed
        )
        training = build_examples(
            train_docs,
            relation_names,
            args.train_examples,
            seed=args.seed + 8,
            unanswerable_share=0.4,
            multihop_share=0.15,
            replay_share=0.0,
        )
        lm = AnswerWriters(Settings.load()).language_model()  # the product's own loading (precision, threads)
        if max(layers) >= len(lm.model.get_decoder().layers) or min(layers) < 0:
            raise ValueError(f"--layers: the model has decoder layers 0-{len(lm.model.get_decoder().layers) - 1}")
        sets = {"train": training, "calibration": calibration, "validation": validation}
        states = _cached_states(args.states_cache, lm, sets, layers)
        probe, choices = train_probe(
            states["train"],
            labels(training),
            states["calibration"],
            labels(calibration),
            layers,
            max_answerable_rate=args.max_answerable_abstain,
            base_sha256=lm.resolved.sha256,
        )
        index = layers.index(probe.layer)
        figures = {}
        for name, examples in (("calibration", calibration), ("validation", validation)):
            probabilities = [probe.probability(v) for v in states[name][:, index]]
            answerable, unanswerable = abstain_rates(probabilities, labels(examples), probe.threshold)
            figures[name] = {
                "questions": len(examples),
                "answerable_abstain_rate": answerable,
                "unanswerable_abstain_rate": unanswerable,
            }
        summary = {
            "base_model": lm.resolved.name,
            "cpu_count": os.cpu_count(),
            "layer": probe.layer,
            "threshold": probe.threshold,
            "metrics": figures,
            "candidates": [asdict(c) for c in choices],
        }
        if args.ship:
            folder = shipped_weights_dir() / PROBES_DIR / f"answerability-{lm.resolved.name}"
            probe.save(
                folder,
                {
                    "name": folder.name,
                    "kind": "answerability",
                    "base_model": lm.resolved.name,
                    "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "command": "python scripts/train_answerability.py " + shlex.join(reproducing(sys.argv[1:], _WHERE)),
                    "training_data": {"file": args.data.name, "sha256": file_sha256(args.data)},
                    "examples": {
                        "train": len(training),
                        "calibration": len(calibration),
                        "validation": len(validation),
                    },
                    "metrics": figures,
                },
            )
            summary["shipped_to"] = str(folder)
        summary["total_seconds"] = round(time.perf_counter() - started, 1)
        return summary

    return run_reporting(train, args.out)


def _cached_states(cache: Path | None, lm, sets: dict, layers: list[int]) -> dict:
    """Each set's prompt states, from ``cache`` when it holds them for this model, these layers and these questions
    (a digest of the prompts), else read and, with a cache, kept there."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256(lm.resolved.sha256.encode() + repr(layers).encode())
    for examples in sets.values():
        for example in examples:
            digest.update(example.user.encode("utf-8"))
    key = digest.hexdigest()
    if cache is not None and cache.is_file():
        with np.load(cache) as kept:
            if str(kept["key"]) == key:
                return {name: kept[name] for name in sets}
    states = {name: prompt_states(lm, examples, layers, progress=True) for name, examples in sets.items()}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, key=np.array(key), **states)
    return states


if __name__ == "__main__":
    sys.exit(main())
