"""Building, saving and loading the fine-tuned relation classifier: the packaged encoder with a LoRA adapter,
the pair head, and the relation labels it scores. One folder holds it: ``classifier.safetensors`` (adapter and
head, fp16), ``relations.json`` (label order) and ``manifest.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from graphrag.errors import ModelError
from graphrag.extraction.pair_classifier import PairClassifier
from graphrag.extraction.relation_labels import RelationLabel

__all__ = [
    "CLASSIFIER_FILE",
    "LORA_TARGETS",
    "RELATIONS_FILE",
    "LoadedClassifier",
    "build_classifier",
    "load_classifier",
]

CLASSIFIER_FILE = "classifier.safetensors"
RELATIONS_FILE = "relations.json"
LORA_TARGETS = ("query", "key", "value", "dense")  # every linear layer of a BERT-style encoder


@dataclass(frozen=True)
class LoadedClassifier:
    """A classifier ready for inference: the model (adapter merged), its tokenizer and labels (index 0 is none)."""

    model: PairClassifier
    tokenizer: object
    labels: tuple[RelationLabel, ...]
    max_tokens: int


def build_classifier(
    encoder_path: str, labels: int, lora_rank: int, block_size: int = 32, encoder_layers: int = 0
) -> tuple:
    """A trainable classifier: the encoder (eager attention, so it returns attention maps) under LoRA, and a fresh
    pair head. ``encoder_layers`` > 0 keeps only the encoder's first layers (half of MiniLM's six cost half as
    much to run). Returns (model, tokenizer)."""
    from graphrag.offline import force_offline

    force_offline()
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(encoder_path)
        encoder = AutoModel.from_pretrained(encoder_path, attn_implementation="eager")
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load encoder {encoder_path!r} offline: {exc}") from exc
    if 0 < encoder_layers < encoder.config.num_hidden_layers:
        from torch import nn

        encoder.encoder.layer = nn.ModuleList(list(encoder.encoder.layer)[:encoder_layers])
        encoder.config.num_hidden_layers = encoder_layers
    config = LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, lora_dropout=0.05, target_modules=list(LORA_TARGETS))
    return PairClassifier(get_peft_model(encoder, config), labels, block_size), tokenizer


def save_classifier(model: PairClassifier, labels: tuple[RelationLabel, ...], folder: Path, config: dict) -> None:
    """Write the adapter and head (fp16) and the label list; ``config`` (lora_rank, block_size, max_tokens and,
    for a shortened encoder, encoder_layers) goes into relations.json so loading needs nothing else."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"encoder.{k}": v for k, v in get_peft_model_state_dict(model.encoder).items()}
    tensors.update(model.head_state_dict())
    save_file({k: v.detach().to("cpu").half().contiguous() for k, v in tensors.items()}, str(folder / CLASSIFIER_FILE))
    payload = {"config": config, "labels": [label.as_dict() for label in labels]}
    (folder / RELATIONS_FILE).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def load_classifier(folder: Path, encoder_path: str, torch_threads: int = 0) -> LoadedClassifier:
    """Load a saved classifier onto the encoder at ``encoder_path`` and merge the adapter for speed; ModelError
    names what is missing or does not fit."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    try:
        payload = json.loads((folder / RELATIONS_FILE).read_text(encoding="utf-8"))
        labels = tuple(RelationLabel.from_dict(item) for item in payload["labels"])
        config = payload["config"]
        tensors = load_file(str(folder / CLASSIFIER_FILE))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"relation classifier in {folder} is unreadable: {exc}") from exc
    if torch_threads:
        torch.set_num_threads(torch_threads)
    model, tokenizer = build_classifier(
        encoder_path,
        len(labels) + 1,
        int(config["lora_rank"]),
        int(config["block_size"]),
        int(config.get("encoder_layers", 0)),
    )
    encoder_state = {k.removeprefix("encoder."): v.float() for k, v in tensors.items() if k.startswith("encoder.")}
    head_state = {k: v.float() for k, v in tensors.items() if not k.startswith("encoder.")}
    try:
        set_peft_model_state_dict(model.encoder, encoder_state)
        model.load_state_dict(head_state, strict=False)
        missing = set(model.head_state_dict()) - set(head_state)
        if missing:
            raise ModelError(f"relation classifier in {folder} lacks {sorted(missing)}")
    except RuntimeError as exc:
        raise ModelError(f"relation classifier in {folder} does not fit encoder {encoder_path!r}: {exc}") from exc
    model.encoder = model.encoder.merge_and_unload()
    model.encoder.config._attn_implementation = "sdpa"  # inference reads no attention maps but the last one's
    model.eval()
    return LoadedClassifier(model, tokenizer, labels, int(config["max_tokens"]))
