"""Fine-tune the relation classifier (graphrag/extraction/pair_classifier.py) on DocRED-format documents, and with
--ship put it in the repo's weights/extractors/ folder, where `extractor=encoder` finds it.

The encoder is the packaged all-MiniLM-L6-v2 under a LoRA adapter; the pair head is trained from scratch with the
adaptive-threshold loss. Documents are split by a hash of their title (the split bench_extract.py scores on): the
training share trains, and the held-out documents give the figures, scored here with their gold mentions (the
classifier alone; bench_extract.py scores the whole extractor with the product's own mentions).
Prints one JSON summary. About 60 minutes on 2 CPU cores with the defaults.
Example:
  python scripts/train_extractor.py --data ../shared/data/redocred/dev_revised.json --ship
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import reproducing, run_reporting  # noqa: E402

_WHERE = ("--out", "--save", "--threads")  # options that change where output goes, not what is trained

from graphrag.extraction.encoder_extractor import SHIPPED_CLASSIFIER  # noqa: E402
from graphrag.extraction.relation_labels import relation_label  # noqa: E402
from graphrag.extraction.relation_model import (  # noqa: E402
    CLASSIFIER_FILE,
    RELATIONS_FILE,
    build_classifier,
    save_classifier,
)
from graphrag.offline import default_embedder_path, file_sha256, shipped_weights_dir  # noqa: E402
from graphrag.training.data import load_relation_names, split_documents  # noqa: E402
from graphrag.training.relation_data import load_gold_documents  # noqa: E402
from graphrag.training.relation_training import TrainingPlan, score_gold_mentions, train_classifier  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="DocRED-format JSON file with relation labels")
    parser.add_argument("--relations", type=Path, help="rel_info.json (default: next to --data)")
    parser.add_argument("--epochs", type=int, default=20, help="passes over the training documents (default 20)")
    parser.add_argument("--lora-rank", type=int, default=16, help="LoRA rank on every encoder layer (default 16)")
    parser.add_argument(
        "--encoder-layers",
        type=int,
        default=0,
        help="keep only the encoder's first N layers (faster to train and to run; default 0: all of them)",
    )
    parser.add_argument("--encoder-lr", type=float, default=5e-4, help="adapter learning rate (default 5e-4)")
    parser.add_argument("--head-lr", type=float, default=5e-4, help="pair head learning rate (default 5e-4)")
    parser.add_argument(
        "--eval-every", type=int, default=0, help="also score the held-out documents every N epochs (progress only)"
    )
    parser.add_argument("--documents", type=int, help="train on only the first N training documents (a quick try)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    parser.add_argument("--ship", action="store_true", help=f"write the classifier into weights/{SHIPPED_CLASSIFIER}/")
    parser.add_argument("--save", type=Path, help="write the classifier into this folder instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()
    started = time.perf_counter()

    def train() -> dict:
        if args.epochs < 1 or args.lora_rank < 1 or (args.documents is not None and args.documents < 1):
            raise ValueError("--epochs, --lora-rank and --documents must be at least 1")
        if args.encoder_layers < 0:
            raise ValueError("--encoder-layers must be 0 (all) or more")
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        names = load_relation_names(args.relations or args.data.parent / "rel_info.json")
        labels = tuple(relation_label(pid, name) for pid, name in names.items())
        label_index = {label.property_id: i + 1 for i, label in enumerate(labels)}
        train_docs, heldout = split_documents(load_gold_documents(args.data))
        if args.documents:
            train_docs = train_docs[: args.documents]
        encoder_path = str(default_embedder_path())
        model, tokenizer = build_classifier(
            encoder_path, len(labels) + 1, args.lora_rank, encoder_layers=args.encoder_layers
        )
        plan = TrainingPlan(args.epochs, encoder_lr=args.encoder_lr, head_lr=args.head_lr, seed=args.seed)
        progress: dict[int, dict] = {}

        def on_epoch(epoch: int, _loss: float) -> None:
            if args.eval_every and epoch % args.eval_every == 0 and epoch < args.epochs:
                progress[epoch] = score_gold_mentions(model, tokenizer, heldout, label_index).as_dict()
                print(f"epoch {epoch}: held-out {progress[epoch]}", file=sys.stderr)
                model.train()

        losses = train_classifier(model, tokenizer, train_docs, label_index, plan, on_epoch=on_epoch)
        trained_s = time.perf_counter() - started
        score = score_gold_mentions(model, tokenizer, heldout, label_index)
        figures = {"heldout_gold_mentions": {"documents": len(heldout), "typed": score.as_dict()}}
        summary = {
            "encoder": "all-MiniLM-L6-v2",
            "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "training_documents": len(train_docs),
            "epochs": args.epochs,
            "losses": [round(x, 4) for x in losses],
            "training_seconds": round(trained_s, 1),
            "metrics": figures,
            "heldout_by_epoch": progress,
        }
        folder = shipped_weights_dir() / SHIPPED_CLASSIFIER if args.ship else args.save
        if folder is not None:
            config = {"lora_rank": args.lora_rank, "block_size": model.block_size, "max_tokens": 512}
            if args.encoder_layers:
                config["encoder_layers"] = args.encoder_layers
            save_classifier(model, labels, folder, config)
            manifest = {
                "name": folder.name,
                "kind": "relation-classifier",
                "base_model": "all-MiniLM-L6-v2",
                "base_sha256": file_sha256(Path(encoder_path) / "model.safetensors"),
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "command": "python scripts/train_extractor.py " + shlex.join(reproducing(sys.argv[1:], _WHERE)),
                "training_data": {"file": args.data.name, "sha256": file_sha256(args.data)},
                "training_documents": len(train_docs),
                "training_seconds": round(trained_s, 1),
                "machine": f"{os.cpu_count()} CPU cores",
                "metrics": figures,
                "files": {name: file_sha256(folder / name) for name in (CLASSIFIER_FILE, RELATIONS_FILE)},
            }
            import json

            (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            summary["saved_to"] = str(folder)
        summary["total_seconds"] = round(time.perf_counter() - started, 1)
        return summary

    return run_reporting(train, args.out)


if __name__ == "__main__":
    sys.exit(main())
