"""Decoding over the words a reply may use: the output head computes scores for those tokens only.

The answer LM is told to copy its answer from the evidence (or say yes / no / "I don't know"), so every token of a
well-formed reply already occurs in the prompt or in the reply schema. Scoring only those tokens is what saves
time: the output head of a small model is a large share of its weights (Qwen2.5 0.5B: 151,936 x 896, 136 M of
494 M parameters), and a decoding step on a CPU is bound by reading weights, so each generated token reads about
a quarter fewer bytes. Every other token gets a score of -inf, so greedy decoding keeps the reply it would have
written whenever that reply used the allowed words, and cannot drift into words the evidence never used.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from graphrag.text import words as split_words

__all__ = ["WordTokens", "restricted_output_head", "vocabulary_token_ids"]

_CHUNK = re.compile(r"\S+")  # a word as written, with the punctuation around it


def vocabulary_token_ids(tokenizer, texts: Iterable[str], words: WordTokens | None = None) -> list[int]:
    """Sorted ids of every token a reply built from the words of ``texts`` may use.

    A word (with the punctuation around it, and without) is tokenized as the texts have it and also standalone
    with and without a leading space and with its first letter in either case: the tokenizer splits "Paris" after
    a newline or a bracket differently from " Paris" after "Answer:", and an answer may start a word the evidence
    has mid-sentence ("the" / "The"). ``words`` keeps the standalone spellings' tokens of words seen before."""
    texts = list(texts)
    # each word as written with the punctuation around it, and alone: "(Paris)," and "Paris"
    found = {piece for text in texts for piece in (*_CHUNK.findall(text), *split_words(text))}
    ids: set[int] = set(tokenizer.all_special_ids)
    for encoded in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        ids.update(encoded)
    for word_ids in (words or WordTokens(tokenizer, 0)).of(found):
        ids.update(word_ids)
    return sorted(ids)


class WordTokens:
    """The tokens of each word's standalone spellings (with and without a leading space, first letter in either
    case), kept for the ``kept`` most recently seen words: most of a prompt's words were in earlier prompts, and
    tokenizing every spelling of every word anew cost about 30 ms an answer on 2 cores. Thread-safe."""

    def __init__(self, tokenizer, kept: int = 50_000) -> None:
        self.tokenizer = tokenizer
        self.kept = kept
        self._tokens: OrderedDict[str, frozenset[int]] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, words: Iterable[str]) -> list[frozenset[int]]:
        """The token ids of each word's spellings."""
        words = list(dict.fromkeys(words))
        with self._lock:
            known = {word: self._tokens[word] for word in words if word in self._tokens}
        missing = [word for word in words if word not in known]
        if missing:
            spellings = [
                sorted(
                    {
                        form
                        for base in (word, word[:1].upper() + word[1:], word[:1].lower() + word[1:])
                        for form in (base, " " + base)
                    }
                )
                for word in missing
            ]
            encoded = iter(
                self.tokenizer([form for forms in spellings for form in forms], add_special_tokens=False)["input_ids"]
            )
            for word, forms in zip(missing, spellings):
                known[word] = frozenset(token for _ in forms for token in next(encoded))
        with self._lock:
            for word in missing:
                self._tokens[word] = known[word]
            for word in words:
                if word in self._tokens:
                    self._tokens.move_to_end(word)
            while len(self._tokens) > self.kept:
                self._tokens.popitem(last=False)
        return [known[word] for word in words]


@contextmanager
def restricted_output_head(model, token_ids: list[int] | None) -> Iterator[None]:
    """Within the block, ``model``'s output head scores only ``token_ids`` (every other token: -inf). None leaves
    the head as it is. The head's weight is read once here, so the block must not change it (no training)."""
    if token_ids is None:
        yield
        return
    import torch
    import torch.nn.functional as F

    head = model.get_output_embeddings()
    rows = torch.tensor(token_ids, dtype=torch.long, device=head.weight.device)
    weight = head.weight.detach().index_select(0, rows)
    bias = head.bias.detach().index_select(0, rows) if getattr(head, "bias", None) is not None else None
    vocabulary_size = head.weight.shape[0]

    def forward(hidden):
        scores = F.linear(hidden, weight, bias)
        full = scores.new_full((*scores.shape[:-1], vocabulary_size), float("-inf"))
        return full.index_copy_(-1, rows, scores)

    # An instance attribute shadows the class's forward, so the module's hooks (the input restride) still run.
    head.forward = forward
    try:
        yield
    finally:
        del head.forward
