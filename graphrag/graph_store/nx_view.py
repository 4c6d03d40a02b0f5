"""An in-memory networkx view of the relation graph, used by the embedded store for traversal."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice

import networkx as nx

from graphrag.types import Entity, Path, PathStep, Relation

__all__ = ["RelationGraph", "best_relation_key", "breadth_first_relations", "path_order"]

_MAX_PATH_CANDIDATES = 200


def best_relation_key(relation: Relation) -> tuple[float, str]:
    """Which of several relations between one pair of entities a path uses: most confident, then by id."""
    return relation.confidence, relation.id


def path_order(path: Path) -> tuple[int, float, str]:
    """One order for paths in every backend: fewest hops, most confident, then by text."""
    return len(path.steps), -sum(s.relation.confidence for s in path.steps), path.text


def breadth_first_relations(
    entity_ids: Sequence[str],
    hops: int,
    adjacency: Callable[[list[str]], Mapping[str, Iterable[tuple[Relation, str]]]],
    relation_types: Sequence[str] | None,
    limit: int,
) -> list[Relation]:
    """The one traversal walk of every backend: relations within ``hops`` of the entities, nearest first, at most
    ``limit``. ``adjacency(frontier)`` gives each frontier entity's ``(relation, other end)`` pairs (a backend may
    fetch a whole hop at once)."""
    allowed = set(relation_types) if relation_types else None
    found: dict[str, Relation] = {}
    seen = set(entity_ids)
    frontier = list(dict.fromkeys(entity_ids))
    for hop in range(hops):
        if not frontier:
            break
        around = adjacency(frontier)
        next_frontier = []
        last = hop == hops - 1  # no frontier to gather after the last hop (chain search reads one hop at a time)
        for node in frontier:
            for rel, other in around.get(node, ()):
                if allowed is not None and rel.type not in allowed:
                    continue
                found.setdefault(rel.id, rel)
                if not last and other not in seen:
                    seen.add(other)
                    next_frontier.append(other)
                if len(found) >= limit:
                    return list(found.values())
        frontier = next_frontier
    return list(found.values())


class RelationGraph:
    """Undirected adjacency over relations (direction kept on each Relation) for BFS and k-shortest paths."""

    def __init__(self, relations: Iterable[Relation]) -> None:
        self.relations: dict[str, Relation] = {}
        self.graph = nx.Graph()
        for rel in relations:
            self.relations[rel.id] = rel
            if self.graph.has_edge(rel.source_id, rel.target_id):
                self.graph[rel.source_id][rel.target_id]["rels"].append(rel)
            else:
                self.graph.add_edge(rel.source_id, rel.target_id, rels=[rel])
        # node -> its (relation, other end) pairs, listed on first use: a question's chain search reads the same
        # hubs' thousands of relations hop after hop, and the graph does not change under it.
        self._around: dict[str, list[tuple[Relation, str]]] = {}

    def _edge_relations(self, a: str, b: str) -> list[Relation]:
        return self.graph[a][b]["rels"]

    def around(self, node: str) -> list[tuple[Relation, str]]:
        """Every relation of ``node`` with its other end, neighbour by neighbour in insertion order."""
        found = self._around.get(node)
        if found is None:
            found = [(rel, other) for other, edge in self.graph[node].items() for rel in edge["rels"]]
            self._around[node] = found
        return found

    def neighbors(
        self, entity_ids: Sequence[str], hops: int, relation_types: Sequence[str] | None, limit: int
    ) -> list[Relation]:
        """Relations reached by breadth-first search, nearest first."""

        def adjacency(frontier: list[str]) -> dict[str, Iterable[tuple[Relation, str]]]:
            return {node: self.around(node) for node in frontier if node in self.graph}

        return breadth_first_relations(entity_ids, hops, adjacency, relation_types, limit)

    def paths(self, source: str, target: str, max_hops: int, k: int, entities: dict[str, Entity]) -> list[Path]:
        """k shortest simple paths (by hop count) up to ``max_hops``; each hop uses its most confident relation."""
        if source not in self.graph or target not in self.graph or source == target:
            return []
        try:
            if nx.shortest_path_length(self.graph, source, target) > max_hops:
                return []
        except nx.NetworkXNoPath:
            return []
        candidates: list[list[str]] = []
        for node_path in islice(nx.shortest_simple_paths(self.graph, source, target), _MAX_PATH_CANDIDATES):
            if len(node_path) - 1 > max_hops or len(candidates) >= k * 4:
                break
            candidates.append(node_path)
        paths = []
        for node_path in candidates:
            steps = []
            for a, b in zip(node_path, node_path[1:]):
                rel = max(self._edge_relations(a, b), key=best_relation_key)
                steps.append(PathStep(relation=rel, forward=rel.source_id == a))
            nodes = tuple(entities.get(n) or Entity(id=n, name=n, type="Other") for n in node_path)
            paths.append(Path(nodes=nodes, steps=tuple(steps)))
        return sorted(paths, key=path_order)[:k]
