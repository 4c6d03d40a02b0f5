"""Communities of the entity graph for global questions ("what are the main themes across these documents?").

Louvain (networkx) over the undirected relation graph, edges weighted by confidence, finds clusters of entities that
are more tightly related to each other than to the rest. Each cluster of at least ``min_size`` entities gets an
extractive summary, never generated text: its most connected entities by name, then the evidence sentences of its
strongest internal facts. Summaries are stored with the graph and recomputed after changes (when next read, or as the
writing process closes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx

from graphrag.ids import stable_id
from graphrag.types import Community, Relation

__all__ = ["detect_communities"]

_TITLE_NAMES = 3
_SUMMARY_FACTS = 3


def detect_communities(
    relations: Sequence[Relation], names: Mapping[str, str], min_size: int = 3, seed: int = 7
) -> list[Community]:
    """Communities, largest first. ``names``: entity id → name. ``seed`` fixes Louvain's order of visits, so the
    same graph always gives the same communities."""
    relations = sorted(relations, key=lambda r: r.id)  # Louvain's result depends on the order nodes were added
    graph = nx.Graph()
    for rel in relations:
        if rel.source_id == rel.target_id:
            continue
        weight = graph.get_edge_data(rel.source_id, rel.target_id, {}).get("weight", 0.0)
        graph.add_edge(rel.source_id, rel.target_id, weight=weight + max(rel.confidence, 0.01))
    if graph.number_of_edges() == 0:
        return []
    clusters = [c for c in nx.community.louvain_communities(graph, weight="weight", seed=seed) if len(c) >= min_size]
    by_pair: dict[frozenset, list[Relation]] = {}
    for rel in relations:
        by_pair.setdefault(frozenset((rel.source_id, rel.target_id)), []).append(rel)
    found = [_summarise(sorted(members), graph, by_pair, names) for members in clusters]
    found.sort(key=lambda c: (-c.size, c.title))
    return [
        Community(c.id, rank, c.size, c.title, c.summary, c.entity_ids, c.evidence)
        for rank, c in enumerate(found, start=1)
    ]


def _summarise(
    members: list[str], graph: nx.Graph, by_pair: Mapping[frozenset, list[Relation]], names: Mapping[str, str]
) -> Community:
    inside = set(members)
    # Centrality inside the community: the weighted degree over internal edges.
    strength = {m: sum(d["weight"] for n, d in graph[m].items() if n in inside) for m in members}
    central = sorted(members, key=lambda m: (-strength[m], names.get(m, m)))
    title_names = [names.get(m, m) for m in central[:_TITLE_NAMES]]
    facts: list[Relation] = []
    for a, b in graph.subgraph(members).edges():
        facts.extend(r for r in by_pair.get(frozenset((a, b)), ()) if r.sentence)
    facts.sort(key=lambda r: (-(strength[r.source_id] + strength[r.target_id]), -r.confidence, r.id))
    sentences: list[str] = []
    evidence: list[str] = []
    for rel in facts:
        sentence = " ".join(rel.sentence.split())
        if sentence not in sentences:
            sentences.append(sentence)
            # Every chunk that states the fact, in id order: backends keep a relation's evidence in different orders.
            evidence.extend(c for c in sorted(rel.evidence) if c not in evidence)
        if len(sentences) == _SUMMARY_FACTS:
            break
    listed = ", ".join(title_names[:-1]) + f" and {title_names[-1]}" if len(title_names) > 1 else title_names[0]
    summary = f"{len(members)} related entities around {listed}."
    if sentences:
        summary += " " + " ".join(sentences)
    return Community(
        id=stable_id("community", *members),
        rank=0,
        size=len(members),
        title=listed,
        summary=summary,
        entity_ids=tuple(central),
        evidence=tuple(evidence),
    )
