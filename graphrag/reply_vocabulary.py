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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

__all__ = ["restricted_output_head", "vocabulary_token_ids"]

_CHUNK = re.compile(r"\S+")  # a word as written, with the punctuation around it
_WORD = re.compile(r"\w+(?:[-'’.]\w+)*")  # the word alone: "Paris" of "(Paris),"


def vocabulary_token_ids(tokenizer, texts: Iterable[str]) -> list[int]:
    """Sorted ids of every token a reply built from the words of ``texts`` may use.

    A word (with the punctuation around it, and without) is tokenized as the texts have it and also standalone
    with and without a leading space and with its first letter in either case: the tokenizer splits "Paris" after
    a newline or a bracket differently from " Paris" after "Answer:", and an answer may start a word the evidence
    has mid-sentence ("the" / "The")."""
    texts = list(texts)
    words = {match.group(0) for text in texts for pattern in (_CHUNK, _WORD) for match in pattern.finditer(text)}
    variants = set()
    for word in words:
        for form in (word, word[:1].upper() + word[1:], word[:1].lower() + word[1:]):
            variants.update((form, " " + form))
    ids: set[int] = set(tokenizer.all_special_ids)
    for encoded in tokenizer(texts + sorted(variants), add_special_tokens=False)["input_ids"]:
        ids.update(encoded)
    return sorted(ids)


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
