"""Personalised PageRank over the passage-entity graph around a question's best passages (after HippoRAG 2).

Passages (chunks) and the entities they mention form a bipartite graph. A walk that starts at the passages most
similar to the question, and at passages whose document title the question names, spreads along shared entities to
passages that plain similarity misses: the second hop of a multi-hop question ("the director of the film X" → the
director's own page). A document's title also counts as a mention of the entity of that name by the document's first
passage, so "X" mentioned anywhere leads to the page about X even when the page's text never names X in that form.

Only the neighbourhood the walk can reach in two steps is fetched (seed passages → their entities → passages that
mention those): with damping below one, mass beyond that is small. Entities mentioned by more than ``hub_limit``
passages ("United States") are left out: they join everything to everything and carry little of the walk anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from graphrag.ids import normalize_name

__all__ = ["PassageWalk", "TitleIndex", "title_key"]

_MAX_NGRAM = 8


def title_key(title: str) -> str:
    """A title as a name: normalised, a trailing disambiguation such as " (mythology)" dropped."""
    stripped = title.strip()
    if stripped.endswith(")") and " (" in stripped:
        stripped = stripped[: stripped.rindex(" (")]
    return normalize_name(stripped)


class TitleIndex:
    """Document titles as names: which documents' first passages a name or a question refers to."""

    def __init__(self, heads: Sequence[tuple[str, str, str]]) -> None:
        """``heads``: (document id, title, first chunk id) for every document."""
        self._heads: dict[str, list[str]] = {}
        for _, title, chunk in heads:
            key = title_key(title)
            # One-word titles shorter than three letters ("A", "Io") match too much text to be evidence of a link.
            if key and (len(key) >= 3 or " " in key):
                self._heads.setdefault(key, []).append(chunk)

    def __len__(self) -> int:
        return len(self._heads)

    def heads_named(self, name: str) -> list[str]:
        """First chunks of the documents titled ``name``."""
        return self._heads.get(normalize_name(name), [])

    def heads_in(self, words: Sequence[str], single_word_ok: Callable[[int], bool] = lambda i: True) -> list[str]:
        """First chunks of documents whose title appears in ``words``, longest match first (no overlaps); a title
        of one word counts only where ``single_word_ok(position)``."""
        norms = [normalize_name(w) for w in words]
        used: set[int] = set()
        found: list[str] = []
        for size in range(min(_MAX_NGRAM, len(norms)), 0, -1):
            for first in range(len(norms) - size + 1):
                span = range(first, first + size)
                if used & set(span):
                    continue
                key = " ".join(n for n in norms[first : first + size] if n)
                if key in self._heads and (size > 1 or single_word_ok(first)):
                    found.extend(self._heads[key])
                    used.update(span)
        return list(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class PassageWalk:
    """The walk's settings: how much mass follows edges, how long it runs, which entities are hubs."""

    damping: float = 0.7
    iterations: int = 15
    hub_limit: int = 200

    def rank(
        self, store, seeds: Mapping[str, float], titles: TitleIndex | None, entity_names: Mapping[str, str]
    ) -> list[tuple[str, float]]:
        """Passages by walk score, best first. ``seeds``: chunk id → positive weight. ``entity_names``: id → name
        of entities already at hand (for title links; others are looked up)."""
        if not seeds:
            return []
        seed_ids = list(seeds)
        edges = set(store.entities_in_chunks(seed_ids))  # (chunk, entity)
        entities = sorted({e for _, e in edges})
        if not entities:
            return sorted(seeds.items(), key=lambda kv: -kv[1])
        edges.update((c, e) for e, c in store.chunks_mentioning_each(entities, self.hub_limit + 1))
        if titles is not None and len(titles):
            missing = [e for e in entities if e not in entity_names]
            names = dict(entity_names)
            names.update((e.id, e.name) for e in store.get_entities(missing))
            for entity in entities:
                for head in titles.heads_named(names.get(entity, "")):
                    edges.add((head, entity))
        degree: dict[str, int] = {}
        for _, entity in edges:
            degree[entity] = degree.get(entity, 0) + 1
        # Sorted: a set of string pairs iterates in an order that changes with every process's hash seed, and that
        # order decided ties and the sums' rounding, so the same question could rank passages differently after a
        # restart.
        kept = sorted((c, e) for c, e in edges if 1 < degree[e] <= self.hub_limit)
        # A passage's mass splits over all the entities it mentions; the share sent to a hub or to an entity no other
        # passage mentions leaves the walk (so a passage that is mostly about other things passes on less).
        mentioned: dict[str, int] = {}
        for chunk, _ in edges:
            mentioned[chunk] = mentioned.get(chunk, 0) + 1
        return self._walk(seeds, kept, mentioned)

    def _walk(
        self, seeds: Mapping[str, float], edges: list[tuple[str, str]], mentioned: Mapping[str, int]
    ) -> list[tuple[str, float]]:
        chunks = list(dict.fromkeys([*seeds, *(c for c, _ in edges)]))
        chunk_at = {c: i for i, c in enumerate(chunks)}
        entity_at: dict[str, int] = {}
        for _, e in edges:
            entity_at.setdefault(e, len(entity_at))
        base = np.zeros(len(chunks))
        for chunk, weight in seeds.items():
            base[chunk_at[chunk]] = weight
        base /= base.sum()
        if not edges:
            return sorted(((c, float(base[i])) for c, i in chunk_at.items()), key=lambda kv: -kv[1])
        rows = np.array([chunk_at[c] for c, _ in edges])
        cols = np.array([entity_at[e] for _, e in edges])
        chunk_degree = np.maximum(np.array([mentioned.get(c, 0) for c in chunks], dtype=float), 1.0)
        entity_degree = np.bincount(cols, minlength=len(entity_at)).astype(float)
        score = base.copy()
        for _ in range(self.iterations):
            # passage → its entities (split evenly) → their passages (split evenly)
            to_entities = np.bincount(cols, weights=score[rows] / chunk_degree[rows], minlength=len(entity_at))
            spread = np.bincount(rows, weights=to_entities[cols] / entity_degree[cols], minlength=len(chunks))
            score = (1 - self.damping) * base + self.damping * spread
        order = np.argsort(-score, kind="stable")
        return [(chunks[i], float(score[i])) for i in order if score[i] > 0]
