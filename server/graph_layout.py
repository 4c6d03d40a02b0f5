"""Positions for drawing a graph on the analyst page: networkx's force-directed layout, computed on the server."""

from __future__ import annotations

import math

import networkx as nx

__all__ = ["layout_positions"]

# Enough iterations for a few hundred nodes to settle; the layout of a 200-node neighbourhood takes tens of ms.
_ITERATIONS = 60


def layout_positions(
    nodes: list[str], edges: list[tuple[str, str]], fixed: dict[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Each node's position in the unit square [0, 1] x [0, 1].

    Nodes in ``fixed`` keep their given positions (the page passes what is already drawn, so expanding a node places
    only the new ones around it). The seed is fixed: the same graph is drawn the same way every time."""
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    if not nodes:
        return {}
    kept = {node: _clamp(fixed[node]) for node in nodes if node in fixed}
    if kept:
        return {**kept, **_around_anchors(graph, [n for n in nodes if n not in kept], kept)}
    positions = nx.spring_layout(graph, iterations=_ITERATIONS, seed=0, k=_spacing(len(nodes)))
    return _to_unit_square(positions)


def _spacing(count: int) -> float:
    """The preferred distance between nodes in a unit square holding ``count`` of them."""
    return 0.9 / max(count, 1) ** 0.5


def _around_anchors(
    graph: nx.Graph, new: list[str], placed: dict[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """New nodes on rings around the placed node they hang from (breadth first, so a new node's own new
    neighbours ring around it); a node with no placed neighbour starts a ring around the centre."""
    placed = dict(placed)
    result: dict[str, tuple[float, float]] = {}
    waiting = list(new)
    while waiting:
        groups: dict[str, list[str]] = {}
        for node in waiting:
            anchor = next((n for n in graph.neighbors(node) if n in placed), "")
            groups.setdefault(anchor, []).append(node)
        if set(groups) == {""}:  # nothing left touches the drawing: ring the first of them around the centre
            groups = {"": waiting[:1]}
        for anchor, members in groups.items():
            if anchor == "" and len(groups) > 1:
                continue  # placed in a later round, once their neighbours are
            radius = min(0.12 + 0.012 * len(members), 0.4)  # a wider ring for more nodes
            # a ring around an anchor near the edge moves inwards rather than being squashed against it
            centre = tuple(min(max(c, radius), 1 - radius) for c in placed.get(anchor, (0.5, 0.5)))
            for index, node in enumerate(members):
                angle = 2 * math.pi * index / len(members)
                result[node] = placed[node] = _clamp(
                    (centre[0] + radius * math.cos(angle), centre[1] + radius * math.sin(angle))
                )
        waiting = [node for node in waiting if node not in result]
    return result


def _clamp(point) -> tuple[float, float]:
    return (min(max(float(point[0]), 0.0), 1.0), min(max(float(point[1]), 0.0), 1.0))


def _to_unit_square(positions: dict) -> dict[str, tuple[float, float]]:
    """Scale a free layout into [0.05, 0.95] on both axes, keeping its aspect."""
    xs = [float(p[0]) for p in positions.values()]
    ys = [float(p[1]) for p in positions.values()]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    x_pad = (span - (max(xs) - min(xs))) / 2
    y_pad = (span - (max(ys) - min(ys))) / 2
    return {
        node: (
            0.05 + 0.9 * (float(p[0]) - min(xs) + x_pad) / span,
            0.05 + 0.9 * (float(p[1]) - min(ys) + y_pad) / span,
        )
        for node, p in positions.items()
    }
