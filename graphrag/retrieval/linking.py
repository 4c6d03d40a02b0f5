"""Link question spans to graph entities: exact name, alias, fuzzy (rapidfuzz), then embedding similarity."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from graphrag.ids import normalize_name
from graphrag.retrieval.question import STOPWORDS, QuestionInfo
from graphrag.types import Entity, LinkedEntity

__all__ = ["EntityLinker", "LinkSpan"]

_MAX_NGRAM = 8


@dataclass(frozen=True, slots=True)
class LinkSpan:
    """A linked entity with the word positions of the question it covers."""

    link: LinkedEntity
    first: int
    last: int


class EntityLinker:
    """Holds a name dictionary built from the store; rebuild it when the store's contents change."""

    def __init__(self, names: list[tuple[str, str]]) -> None:
        self._by_norm: dict[str, list[str]] = defaultdict(list)
        for norm, entity_id in names:
            self._by_norm[norm].append(entity_id)
        self._choices = list(self._by_norm)

    def link(
        self, info: QuestionInfo, store, fuzzy_threshold: float, embed_search=None, embedding_threshold: float = 1.0
    ) -> list[LinkSpan]:
        """Longest-match-first linking over word n-grams; unmatched capitalised runs go to fuzzy and embedding.

        ``embed_search(surfaces)`` gives, per surface, ``(entity_id, similarity)`` candidates."""
        words = info.words
        used: set[int] = set()
        found: list[tuple[str, str, str, float, int, int]] = []  # entity_id, surface, method, score, first, last
        for size in range(min(_MAX_NGRAM, len(words)), 0, -1):
            for first in range(0, len(words) - size + 1):
                span = range(first, first + size)
                if used & set(span):
                    continue
                surface = " ".join(words[first : first + size])
                if size == 1 and (not surface[:1].isupper() or surface.lower() in STOPWORDS or first == 0):
                    continue  # a lone lower-case word, stopword or sentence-initial word is no name
                if not any(c.isupper() or c.isdigit() for c in surface):
                    continue  # nor are lower-case words together: "a state", "the country", "international airport"
                norm = normalize_name(surface)
                for entity_id in self._by_norm.get(norm, ()):
                    found.append((entity_id, surface, "exact", 1.0, first, first + size - 1))
                if norm in self._by_norm:
                    used.update(span)
        unmatched: list[tuple[str, int, int]] = []
        for first, last in _capitalised_runs(words, used):
            surface = " ".join(words[first : last + 1])
            norm = normalize_name(surface)
            match = (
                process.extractOne(norm, self._choices, scorer=fuzz.ratio, score_cutoff=fuzzy_threshold)
                if self._choices
                else None
            )
            if match is not None:
                for entity_id in self._by_norm[match[0]]:
                    found.append((entity_id, surface, "fuzzy", match[1] / 100.0, first, last))
            else:
                unmatched.append((surface, first, last))
        if embed_search is not None and unmatched:
            # One batch for every span left: each separate forward pass costs about as much as the batch.
            for (surface, first, last), candidates in zip(unmatched, embed_search([u[0] for u in unmatched])):
                for entity_id, score in candidates:
                    if score >= embedding_threshold:
                        found.append((entity_id, surface, "embedding", score, first, last))
        entities = {e.id: e for e in store.get_entities(sorted({f[0] for f in found}))}
        spans: dict[str, LinkSpan] = {}
        for entity_id, surface, method, score, first, last in found:
            entity: Entity | None = entities.get(entity_id)
            if entity is None or entity_id in spans:
                continue
            if method == "exact" and normalize_name(entity.name) != normalize_name(surface):
                method = "alias"
            spans[entity_id] = LinkSpan(LinkedEntity(entity, surface, method, round(score, 3)), first, last)
        return sorted(spans.values(), key=lambda s: s.first)


def _capitalised_runs(words: tuple[str, ...], used: set[int]) -> list[tuple[int, int]]:
    """Runs of capitalised words (allowing 'of'/'and' inside) not already linked, skipping the first word."""
    runs = []
    i = 1
    while i < len(words):
        if i not in used and words[i][:1].isupper() and words[i].lower() not in STOPWORDS:
            j = i
            while (
                j + 1 < len(words)
                and j + 1 not in used
                and (
                    words[j + 1][:1].isupper()
                    or (words[j + 1] in ("of", "and", "&") and j + 2 < len(words) and words[j + 2][:1].isupper())
                )
            ):
                j += 1
            runs.append((i, j))
            i = j + 1
        else:
            i += 1
    return runs
