"""Personalised PageRank over the relations around a question's entities."""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx

from graphrag.types import Relation

__all__ = ["personalized_pagerank"]


def personalized_pagerank(
    relations: Sequence[Relation], seeds: dict[str, float], alpha: float = 0.85
) -> dict[str, float]:
    """PageRank over the (undirected) relation subgraph, restarting at the seed entities."""
    graph = nx.Graph()
    for rel in relations:
        graph.add_edge(rel.source_id, rel.target_id)
    seeds = {s: w for s, w in seeds.items() if s in graph and w > 0}
    if not seeds or graph.number_of_edges() == 0:
        return dict(seeds)
    try:
        return nx.pagerank(graph, alpha=alpha, personalization=seeds, max_iter=100, tol=1e-4)
    except nx.PowerIterationFailedConvergence:
        return dict(seeds)  # ranking by seeds alone is still a usable (if flatter) ordering
