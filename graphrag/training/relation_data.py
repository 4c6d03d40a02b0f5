"""Re-DocRED documents as encoder windows with gold entity mentions and relation targets, for the pair classifier.

A document's text is its tokens joined by single spaces, so every gold mention has exact character offsets; the
encoder's word-piece tokenizer splits punctuation the same way whether or not a space precedes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from graphrag.errors import InputError
from graphrag.extraction.marked_input import MarkedWindow, mark_windows
from graphrag.extraction.pair_classifier import window_pairs

__all__ = ["GoldDocument", "TrainingWindow", "load_gold_documents", "training_windows"]


@dataclass(frozen=True, slots=True)
class GoldDocument:
    """One document: text, sentence spans, per entity its mention spans and type, and facts (head, id, tail)."""

    title: str
    text: str
    sentences: tuple[tuple[int, int], ...]
    entities: tuple[tuple[tuple[int, int], ...], ...]
    entity_types: tuple[str, ...]
    facts: frozenset[tuple[int, str, int]]


@dataclass(frozen=True, slots=True)
class TrainingWindow:
    """A marked window, its ordered entity pairs and their (pairs, labels) 0/1 targets."""

    window: MarkedWindow
    pairs: torch.Tensor
    targets: torch.Tensor


def load_gold_documents(path: Path) -> list[GoldDocument]:
    """Read a DocRED-format JSON file with token-level mention positions; InputError names what is wrong."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read DocRED file {path}: {exc}") from exc
    if not isinstance(raw, list):
        raise InputError(f"{path}: expected a JSON list of documents")
    documents = []
    for number, doc in enumerate(raw):
        try:
            documents.append(_gold_document(doc))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: document {number} is not in DocRED format ({exc!r})") from exc
    return documents


def _gold_document(doc: dict) -> GoldDocument:
    parts: list[str] = []
    word_spans: list[list[tuple[int, int]]] = []
    sentences = []
    cursor = 0
    for sentence in doc["sents"]:
        spans = []
        for word in sentence:
            if parts:
                cursor += 1
            spans.append((cursor, cursor + len(word)))
            parts.append(word)
            cursor += len(word)
        word_spans.append(spans)
        if spans:
            sentences.append((spans[0][0], spans[-1][1]))
    entities = []
    for cluster in doc["vertexSet"]:
        mentions = []
        for mention in cluster:
            start, end = mention["pos"]
            spans = word_spans[mention["sent_id"]]
            mentions.append((spans[start][0], spans[end - 1][1]))
        entities.append(tuple(mentions))
    return GoldDocument(
        title=str(doc["title"]),
        text=" ".join(parts),
        sentences=tuple(sentences),
        entities=tuple(entities),
        entity_types=tuple(str(c[0].get("type", "")) if c else "" for c in doc["vertexSet"]),
        facts=frozenset((int(f["h"]), str(f["r"]), int(f["t"])) for f in doc.get("labels", ())),
    )


def training_windows(
    tokenizer, document: GoldDocument, label_index: dict[str, int], max_tokens: int = 512
) -> list[TrainingWindow]:
    """The document's windows with every ordered pair of their entities and its targets (label 0: no relation).
    Facts whose property is not in ``label_index`` are left out."""
    by_pair: dict[tuple[int, int], list[int]] = {}
    for head, relation, tail in document.facts:
        if relation in label_index:
            by_pair.setdefault((head, tail), []).append(label_index[relation])
    out = []
    for window in mark_windows(tokenizer, document.text, document.sentences, document.entities, max_tokens):
        pairs = window_pairs(len(window.entities))
        targets = torch.zeros((len(pairs), len(label_index) + 1))
        for row, (h, t) in enumerate(pairs.tolist()):
            labels = by_pair.get((window.entities[h], window.entities[t]))
            if labels:
                targets[row, labels] = 1.0
            else:
                targets[row, 0] = 1.0
        out.append(TrainingWindow(window, pairs, targets))
    return out
