"""Reciprocal-rank fusion of ranked id lists from different retrievers (graph, vector, keyword, PageRank)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

__all__ = ["reciprocal_rank_fusion"]


def reciprocal_rank_fusion(
    ranked: dict[str, Sequence[str]], weights: dict[str, float], k: int = 60
) -> list[tuple[str, float, tuple[str, ...]]]:
    """Fuse named rankings: ``score(id) = sum(weight / (k + rank))``; returns ``(id, score, sources)`` best first.

    RRF needs no score calibration across retrievers, which is why it is used here (Cormack et al., 2009).
    """
    scores: dict[str, float] = defaultdict(float)
    sources: dict[str, list[str]] = defaultdict(list)
    for name, ids in ranked.items():
        weight = weights.get(name, 1.0)
        for rank, item in enumerate(dict.fromkeys(ids), start=1):
            scores[item] += weight / (k + rank)
            sources[item].append(name)
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(item, round(score, 6), tuple(sources[item])) for item, score in ordered]
