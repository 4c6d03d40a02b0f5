"""Graph traversal for answering: relation chains that match the question's wording, and personalised PageRank.

A *chain* starts at a linked entity and follows up to ``max_hops`` relations; every hop must be justified by a
relation cue in the question ("founded", "acquired", "chief executive") that no earlier hop used. The end of the
chain is a candidate answer, scored by cue coverage, expected answer type and direction agreement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from graphrag.retrieval.linking import LinkSpan
from graphrag.retrieval.question import QuestionInfo, stem, stems_match
from graphrag.types import Entity, Path, PathStep, Relation

__all__ = ["Chain", "ChainFinder", "personalized_pagerank"]

_MAX_CHAINS = 5000


@dataclass(frozen=True, slots=True)
class Chain:
    """A scored path from a linked entity to a candidate answer entity."""

    path: Path
    answer: Entity
    score: float


@dataclass(frozen=True, slots=True)
class _Cue:
    position: int
    stem: str


class ChainFinder:
    """Finds cue-justified relation chains around linked entities in a set of relations."""

    def __init__(self, info: QuestionInfo, relations: Sequence[Relation], linked: Sequence[LinkSpan]) -> None:
        self.info = info
        self.linked = linked
        linked_positions = {i for s in linked for i in range(s.first, s.last + 1)}
        self._type_stems: dict[str, list[str]] = {}
        vocabulary: set[str] = set()
        for rel in relations:
            if rel.type not in self._type_stems:
                words = [
                    stem(w)
                    for w in rel.type.split("_")
                    if len(w) > 2 and w not in ("OF", "IN", "AT", "TO", "BY", "FOR", "ON", "WITH", "FROM")
                ]
                self._type_stems[rel.type] = words
                vocabulary.update(words)
        self.cues = [
            _Cue(i, stem(w))
            for i, w in enumerate(info.words)
            if i not in linked_positions and w in info.content and any(stems_match(stem(w), v) for v in vocabulary)
        ]
        self._adjacency: dict[str, list[tuple[Relation, str, bool]]] = defaultdict(list)
        for rel in relations:
            self._adjacency[rel.source_id].append((rel, rel.target_id, True))
            self._adjacency[rel.target_id].append((rel, rel.source_id, False))

    def _cues_for(self, rel: Relation, used: frozenset[int]) -> list[int]:
        stems = self._type_stems.get(rel.type, [])
        return [i for i, cue in enumerate(self.cues) if i not in used and any(stems_match(cue.stem, s) for s in stems)]

    def _direction_factor(self, span: LinkSpan, cue: _Cue, forward: bool) -> float:
        """Active voice: a name before the cue is the subject (edge leaves it); after it, the object.
        A following 'by' ("founded by X") marks the name after the cue as the subject."""
        if span.last < cue.position:
            expected_forward = True
        else:
            nxt = self.info.words[cue.position + 1].lower() if cue.position + 1 < len(self.info.words) else ""
            expected_forward = nxt == "by"
        return 1.0 if expected_forward == forward else 0.75

    def _type_factor(self, entity: Entity) -> float:
        if not self.info.expected_types:
            return 1.0
        if entity.type in self.info.expected_types:
            return 1.0
        # The small NER model mislabels unseen names often, so a type clash weakens a chain rather than vetoing it.
        return 0.85 if entity.type == "Other" else 0.7

    def chains(self, entities: dict[str, Entity], max_hops: int) -> list[Chain]:
        """All justified chains from every linked entity, best first."""
        if not self.cues:
            return []
        linked_ids = {s.link.entity.id for s in self.linked}
        results: list[Chain] = []
        for span in self.linked:
            start = span.link.entity.id
            stack: list[tuple[str, tuple[PathStep, ...], tuple[str, ...], frozenset[int], float]] = [
                (start, (), (start,), frozenset(), 1.0)
            ]
            while stack and len(results) < _MAX_CHAINS:
                node, steps, nodes, used, factor = stack.pop()
                if len(steps) >= max_hops:
                    continue
                for rel, other, forward in self._adjacency.get(node, ()):
                    if other in nodes:
                        continue
                    matched = self._cues_for(rel, used)
                    if not matched:
                        continue
                    step_factor = factor
                    if not steps:
                        step_factor *= self._direction_factor(span, self.cues[matched[0]], forward)
                    new_steps = (*steps, PathStep(rel, forward))
                    new_nodes = (*nodes, other)
                    new_used = used | set(matched)
                    stack.append((other, new_steps, new_nodes, new_used, step_factor))
                    answer = entities.get(other)
                    if answer is None or other in linked_ids:
                        continue
                    coverage = len(new_used) / len(self.cues)
                    weakest = min(s.relation.confidence for s in new_steps)
                    score = (
                        coverage
                        * step_factor
                        * self._type_factor(answer)
                        * weakest**0.25
                        * 0.98 ** (len(new_steps) - 1)
                    )
                    path = Path(
                        nodes=tuple(entities.get(n) or Entity(n, n, "Other") for n in new_nodes),
                        steps=new_steps,
                        score=round(score, 4),
                    )
                    results.append(Chain(path=path, answer=answer, score=round(score, 4)))
        results.sort(key=lambda c: (-c.score, len(c.path.steps), c.answer.name))
        return results


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
