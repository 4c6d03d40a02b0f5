"""Sentence selection before the answer LM reads the evidence: keep the sentences most relevant to the question.

On 2 CPU cores the answer LM's time is mostly prefill, which grows with every evidence token it reads (about 1.8 ms
a token for Qwen2.5-Coder-0.5B in bf16), and a small model is also easily led astray by distractor passages. The
retrieved passages are therefore cut to their best sentences up to a token budget before the prompt is built:

* every sentence is embedded as "<passage title>. <sentence>" (the title says what "he" or "the film" is) and
  scored by its cosine to the question;
* the first sentence of each passage gets a bonus: it usually says what the passage is about ("X is a 1986 film
  directed by Y"), which is the bridge a two-hop question crosses without naming it;
* passages earlier in retrieval's order get a small bonus, so retrieval's ranking still counts;
* every sentence of a bridge passage (one whose title a passage named by the question says:
  `graphrag/answering/passage_roles.py`) gets a bonus too: it is the second hop, which similarity misses;
* a later sentence is only kept with its passage's first one: "She studied in Glasgow" is no evidence without
  "Ada Quint was an engineer", the sentence that says who "she" is.

Sentences are kept whole, in their passage and in their original order; a passage left without sentences is
dropped. Graph paths are one unit each, scored the same way. Sentence vectors are kept (least recently used out
first), so a follow-up question over the same passages embeds only the question.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from graphrag.answering.passage_roles import PassageRole
from graphrag.lm.embedding import Embedder
from graphrag.text import sentences

__all__ = ["READER_TOKENS", "EvidenceSelector", "SelectableText"]

READER_TOKENS = 500  # the answer LM's budget: its prefill time grows with every token read

LEAD_BONUS = 0.1  # added to a passage's first sentence (its subject)
BRIDGE_BONUS = 0.15  # added to every sentence of a bridge passage
RANK_PENALTY = 0.01  # taken off per place in retrieval's order
_MAX_RANK_PENALTY = 0.1
SENTENCE_VECTORS_KEPT = 20_000  # about 30 MB of 384-dimension float32 vectors


@dataclass(frozen=True, slots=True)
class SelectableText:
    """One piece of evidence offered to the selector: a passage (split into sentences) or a graph path (whole)."""

    label: str
    text: str
    splittable: bool = True


class EvidenceSelector:
    """Cuts numbered evidence to the sentences most relevant to a question within a token budget."""

    def __init__(
        self,
        embedder: Embedder,
        count_tokens: Callable[[Sequence[str]], list[int]],
        budget: int = READER_TOKENS,
        vectors_kept: int = SENTENCE_VECTORS_KEPT,
    ) -> None:
        self.embedder = embedder
        self.count_tokens = count_tokens  # token counts of several texts at once, in the answer LM's tokenizer
        self.budget = budget
        self._vectors = _VectorCache(embedder, vectors_kept)

    def select(
        self, question: str, items: Sequence[SelectableText], roles: Sequence[PassageRole | None] | None = None
    ) -> list[str | None]:
        """The kept text of each item (its best sentences in their original order), or None where nothing is kept.
        Items already within the budget together come back unchanged. ``roles``: each passage's role for the question
        (``passage_roles``; None for a graph path), where known."""
        units = [
            (index, number, sentence)
            for index, item in enumerate(items)
            for number, sentence in enumerate(_sentences(item))
        ]
        if not units:
            return [None] * len(items)
        tokens = self.count_tokens([sentence for _, _, sentence in units])
        if sum(tokens) <= self.budget:
            return [item.text for item in items]
        texts = [
            f"{items[index].label}. {sentence}" if items[index].splittable else sentence for index, _, sentence in units
        ]
        vectors = self._vectors.embed(texts)
        query = self.embedder.embed([question], query=True)[0]
        scores = vectors @ query
        scores += np.array(
            [LEAD_BONUS if number == 0 and items[index].splittable else 0.0 for index, number, _ in units]
        )
        scores -= np.minimum(np.array([index for index, _, _ in units]) * RANK_PENALTY, _MAX_RANK_PENALTY)
        if roles is not None:
            scores += np.array([BRIDGE_BONUS if roles[index] is PassageRole.BRIDGE else 0.0 for index, _, _ in units])
        lead_of = {index: unit for unit, (index, number, _) in enumerate(units) if number == 0}
        chosen: set[int] = set()
        left = self.budget
        for unit in (int(u) for u in np.argsort(-scores, kind="stable")):
            wanted = {unit, lead_of[units[unit][0]]} - chosen
            cost = sum(tokens[u] for u in wanted)
            if wanted and cost <= left:
                chosen |= wanted
                left -= cost
        kept: list[list[str]] = [[] for _ in items]
        for unit in sorted(chosen):
            kept[units[unit][0]].append(units[unit][2])
        return [" ".join(sentences) if sentences else None for sentences in kept]


class _VectorCache:
    """Document-side vectors of recently embedded texts, least recently used dropped first; thread-safe (the
    server selects evidence for several requests at once), embedding outside the lock."""

    def __init__(self, embedder: Embedder, capacity: int) -> None:
        self.embedder = embedder
        self.capacity = capacity
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            found = {text: self._vectors[text] for text in texts if text in self._vectors}
        missing = [text for text in dict.fromkeys(texts) if text not in found]
        if missing:
            found.update(zip(missing, self.embedder.embed(missing)))
        with self._lock:
            for text in texts:
                self._vectors[text] = found[text]
                self._vectors.move_to_end(text)
            while len(self._vectors) > self.capacity:
                self._vectors.popitem(last=False)
        return np.stack([found[text] for text in texts])


def _sentences(item: SelectableText) -> list[str]:
    if not item.splittable:
        return [item.text.strip()] if item.text.strip() else []
    return sentences(item.text)
