"""Train the yes / no probe of the base answer model (graphrag/answering/probes.py, kind "polar") on Re-DocRED
yes / no questions, and with --ship put it in the repo's weights/probes/ folder, where the answer writer finds it.

The probe reads the decoder layer the shipped answerability probe reads (one hidden state serves both), so train
that one first (scripts/train_answerability.py). Training questions come from the training documents (the answer
adapter's split), yes and no in equal parts; the regularisation strength is chosen on calibration questions from
one half of the held-out documents, and the figures are reported on the other half's questions, beside the model's
own yes / no on the same questions. Prints one JSON summary. About 6 minutes on 2 CPU cores.

Example:
  python scripts/train_polar_probe.py --data ../shared/data/redocred/dev_revised.json --ship
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

_WHERE = ("--out",)  # options that say where things are kept, not what is trained

from graphrag import Settings  # noqa: E402
from graphrag.answering.probes import POLAR, PROBES_DIR  # noqa: E402
from graphrag.answering.writers import AnswerWriters  # noqa: E402
from graphrag.offline import file_sha256, shipped_weights_dir  # noqa: E402
from graphrag.training.data import load_redocred, load_relation_names, split_documents  # noqa: E402
from graphrag.training.polarity import (  # noqa: E402
    accuracy,
    polar_examples,
    read_polar_prompts,
    train_polar_probe,
    yes_labels,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_probe_data_arguments(parser, train=500, calibration=100)
    parser.add_argument("--ship", action="store_true", help="write the probe into the repo's weights/probes/")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()
    started = time.perf_counter()

    def train() -> dict:
        check_probe_data_arguments(args)
        relation_names = load_relation_names(args.relations or args.data.parent / "rel_info.json")
        train_docs, heldout_docs = split_documents(load_redocred(args.data))
        report_docs, calibration_docs = split_documents(heldout_docs, 0.5, salt="calibration")
        sets = {
            "train": polar_examples(train_docs, relation_names, args.train_examples, args.seed),
            "calibration": polar_examples(calibration_docs, relation_names, args.calibration_examples, args.seed + 1),
            "validation": polar_examples(report_docs, relation_names, args.validation_examples, args.seed + 2),
        }
        writers = AnswerWriters(Settings.load())  # the product's own loading (precision, threads)
        lm = writers.language_model()
        gate = writers.answerability_probe()
        if gate is None:
            raise ValueError(
                f"no answerability probe is shipped for {lm.resolved.name}: train it first "
                "(scripts/train_answerability.py --ship); the yes / no probe reads its layer"
            )
        read = {name: read_polar_prompts(lm, examples, gate.layer, progress=True) for name, examples in sets.items()}
        labels = {name: yes_labels(examples) for name, examples in sets.items()}
        probe, choices = train_polar_probe(
            read["train"][0],
            labels["train"],
            read["calibration"][0],
            labels["calibration"],
            gate.layer,
            base_sha256=lm.resolved.sha256,
        )
        figures = {}
        for name in ("calibration", "validation"):
            states, own_yes = read[name]
            probe_yes = [probe(v) for v in states]
            figures[name] = {
                "questions": len(states),
                "yes_share": round(100 * float(labels[name].mean()), 1),
                "probe_accuracy": accuracy(probe_yes, labels[name]),
                "model_accuracy": accuracy(own_yes, labels[name]),
                "model_yes_share": round(100 * float(own_yes.mean()), 1),
            }
        summary = {
            "base_model": lm.resolved.name,
            "cpu_count": os.cpu_count(),
            "layer": probe.layer,
            "metrics": figures,
            "candidates": [asdict(c) for c in choices],
        }
        if args.ship:
            folder = shipped_weights_dir() / PROBES_DIR / f"polar-{lm.resolved.name}"
            probe.save(
                folder,
                {
                    "name": folder.name,
                    "kind": POLAR,
                    "base_model": lm.resolved.name,
                    "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "command": "python scripts/train_polar_probe.py " + shlex.join(reproducing(sys.argv[1:], _WHERE)),
                    "training_data": {"file": args.data.name, "sha256": file_sha256(args.data)},
                    "examples": {name: len(examples) for name, examples in sets.items()},
                    "metrics": figures,
                },
            )
            summary["shipped_to"] = str(folder)
        summary["total_seconds"] = round(time.perf_counter() - started, 1)
        return summary

    return run_reporting(train, args.out)


if __name__ == "__main__":
    sys.exit(main())
