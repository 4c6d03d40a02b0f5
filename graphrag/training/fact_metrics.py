"""Precision, recall and F1 of extracted facts against gold facts (used by fine-tuning validation and
``scripts/bench_extract.py``), on a 0-100 scale like the answer metrics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from graphrag.training.qa_metrics import normalize_answer

__all__ = ["FactScore", "normalize_fact", "score_fact_sets"]


@dataclass(frozen=True, slots=True)
class FactScore:
    """Counts and the derived scores; ``predicted`` and ``gold`` count distinct facts."""

    matched_predicted: int
    predicted: int
    matched_gold: int
    gold: int

    @property
    def precision(self) -> float:
        return 100.0 * self.matched_predicted / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return 100.0 * self.matched_gold / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: FactScore) -> FactScore:
        return FactScore(
            self.matched_predicted + other.matched_predicted,
            self.predicted + other.predicted,
            self.matched_gold + other.matched_gold,
            self.gold + other.gold,
        )

    def as_dict(self) -> dict:
        return {
            "precision": round(self.precision, 2),
            "recall": round(self.recall, 2),
            "f1": round(self.f1, 2),
            "predicted": self.predicted,
            "matched_predicted": self.matched_predicted,
            "gold": self.gold,
            "matched_gold": self.matched_gold,
        }


def normalize_fact(head: str, relation: str, tail: str) -> tuple[str, str, str]:
    """SQuAD-style normalisation of each part (case, punctuation, articles, spaces)."""
    return normalize_answer(head), normalize_answer(relation), normalize_answer(tail)


def score_fact_sets(predicted: Iterable[tuple[str, str, str]], gold: Iterable[tuple[str, str, str]]) -> FactScore:
    """Exact match of normalised (head, relation, tail) triples."""
    p = {normalize_fact(*f) for f in predicted}
    g = {normalize_fact(*f) for f in gold}
    both = len(p & g)
    return FactScore(both, len(p), both, len(g))
