"""Fine-tuning the pair classifier on DocRED-format documents, and scoring it on gold mentions."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm

from graphrag.extraction.pair_classifier import PairClassifier, adaptive_threshold_loss, collate, predicted_labels
from graphrag.training.fact_metrics import FactScore
from graphrag.training.relation_data import GoldDocument, TrainingWindow, training_windows

__all__ = ["TrainingPlan", "score_gold_mentions", "train_classifier"]


@dataclass(frozen=True)
class TrainingPlan:
    """How to train: epochs, windows per step, learning rates (adapter, head), warm-up share, seed."""

    epochs: int = 20
    batch_windows: int = 4
    encoder_lr: float = 5e-4
    head_lr: float = 5e-4
    warmup: float = 0.06
    seed: int = 0


def _batches(windows: Sequence[TrainingWindow], size: int, rng: random.Random) -> list[list[TrainingWindow]]:
    """Shuffled batches of windows of similar length (sorted within runs of 16 batches), so padding stays small."""
    order = list(windows)
    rng.shuffle(order)
    batches = []
    run = size * 16
    for start in range(0, len(order), run):
        block = sorted(order[start : start + run], key=lambda w: len(w.window.input_ids))
        batches.extend(block[i : i + size] for i in range(0, len(block), size))
    rng.shuffle(batches)
    return batches


def train_classifier(
    model: PairClassifier,
    tokenizer,
    documents: Sequence[GoldDocument],
    label_index: dict[str, int],
    plan: TrainingPlan,
    max_tokens: int = 512,
    on_epoch: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train in place; returns the mean loss of each epoch. ``on_epoch(epoch, loss)`` runs after each one."""
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(plan.seed)
    rng = random.Random(plan.seed)
    windows = [
        w for doc in documents for w in training_windows(tokenizer, doc, label_index, max_tokens) if len(w.pairs)
    ]
    encoder_params = [p for p in model.encoder.parameters() if p.requires_grad]
    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    optimizer = torch.optim.AdamW(
        [{"params": encoder_params, "lr": plan.encoder_lr}, {"params": head_params, "lr": plan.head_lr}],
        weight_decay=0.01,
    )
    steps = plan.epochs * -(-len(windows) // plan.batch_windows)
    schedule = get_linear_schedule_with_warmup(optimizer, int(plan.warmup * steps), steps)
    losses = []
    model.train()
    for epoch in range(plan.epochs):
        total, count = 0.0, 0
        started = time.perf_counter()
        batches = _batches(windows, plan.batch_windows, rng)
        for group in tqdm(
            batches, desc=f"epoch {epoch + 1}/{plan.epochs}", unit="batch", disable=not sys.stderr.isatty()
        ):
            batch = collate([w.window for w in group], tokenizer.pad_token_id)
            scores = model(batch.input_ids, batch.attention_mask, batch.positions, batch.pairs)
            loss = adaptive_threshold_loss(scores.logits, torch.cat([w.targets for w in group]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total += float(loss.detach())
            count += 1
        losses.append(total / max(count, 1))
        print(f"epoch {epoch + 1}: loss {losses[-1]:.4f} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        if on_epoch:
            on_epoch(epoch + 1, losses[-1])
    model.eval()
    return losses


@torch.inference_mode()
def score_gold_mentions(
    model: PairClassifier,
    tokenizer,
    documents: Sequence[GoldDocument],
    label_index: dict[str, int],
    max_tokens: int = 512,
    batch_windows: int = 8,
) -> FactScore:
    """Typed (head, property, tail) precision and recall with the gold mentions given: the classifier alone,
    without mention finding."""
    ids = {index: property_id for property_id, index in label_index.items()}
    model.eval()
    score = FactScore(0, 0, 0, 0)
    for doc in documents:
        windows = training_windows(tokenizer, doc, label_index, max_tokens)
        found: set[tuple[int, str, int]] = set()
        for start in range(0, len(windows), batch_windows):
            group = [w.window for w in windows[start : start + batch_windows]]
            batch = collate(group, tokenizer.pad_token_id)
            logits = model(batch.input_ids, batch.attention_mask, batch.positions, batch.pairs).logits
            rows = iter(predicted_labels(logits))
            for window, pairs in zip(group, batch.pairs):
                for h, t in pairs.tolist():
                    for label, _ in next(rows):
                        found.add((window.entities[h], ids[label], window.entities[t]))
        gold = {f for f in doc.facts if f[1] in label_index}
        hits = len(found & gold)
        score = score + FactScore(hits, len(found), hits, len(gold))
    return score
