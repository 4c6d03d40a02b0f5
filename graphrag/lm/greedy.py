"""Greedy decoding with drafted tokens and a reused prompt prefix: the answer and extractor LMs' generation loop.

On a CPU a forward pass over a handful of tokens costs little more than over one (decoding is bound by reading the
weights), so every step feeds the token just chosen plus a draft of the tokens likely to follow, and keeps the
drafted tokens greedy decoding would have chosen anyway. Drafts are the text that follows the reply's last words in
the prompt (prompt-lookup decoding: answers are copied from the evidence), or what the reply grammar knows must or
probably will come next (``ReplyGrammar.draft``: "Evidence: 1, 2"). A draft never changes which tokens are chosen,
up to rounding: a forward pass over several tokens can round differently in bf16, so a near-tie may go the other
way.

transformers' own prompt-lookup generation was used before. Its candidate check calls every logits processor once
per drafted token for each place the last word occurs in the prompt (hundreds of times a step for "," or " "), and
it cannot take drafts from the grammar nor reuse the keys and values of a prompt prefix read before.

``PromptPrefixCache`` keeps the keys and values of the last prompt read per adapter, so the next prompt reads only
what follows the part they share: the system prompt at least, and for a follow-up question over the same passages
all of the evidence.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "Decoded",
    "DraftingProcessor",
    "PromptLookup",
    "PromptPrefixCache",
    "ReplyScores",
    "choose_token",
    "decode_greedy",
    "draft_tokens",
    "mean_probability",
]


class DraftingProcessor(Protocol):
    """A logits processor that also drafts (a reply grammar): up to ``limit`` tokens likely to follow ``ids``
    (prompt and reply so far) that it would allow, using ``lookup``'s prompt continuations where it has no better
    guess."""

    def __call__(self, input_ids, scores): ...

    def draft(self, ids: list[int], limit: int, lookup: PromptLookup | None) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class ReplyScores:
    """The model's own scores of a decoded reply, before any logits processor (normalised over the reply
    vocabulary where there is one): each new token's log-probability, and the whole log-softmax of the reply's
    first step (a 1-D float tensor over the vocabulary). A second opinion reads the reply's score and every other
    first line's first token from them, without reading the prompt again (``LanguageModel.score_continuations``)."""

    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    first: object

    def score_of(self, ids: Sequence[int]) -> float | None:
        """The summed log-probability of ``ids`` when the reply starts with them; None otherwise."""
        if not ids or tuple(ids) != self.token_ids[: len(ids)]:
            return None
        return sum(self.logprobs[: len(ids)])


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one greedy decoding produced: the new tokens (an end token included), each one's log-probability under
    the processed scores, the forward passes it took, the prompt tokens read from the prefix cache, and the
    model's own scores of the reply (``ReplyScores``; None when gated)."""

    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    forward_passes: int
    reused_prompt_tokens: int
    gated: bool = False  # the prompt's gate stopped it before any token
    own: ReplyScores | None = None


class ChosenTokens:
    """The tokens a decoding has chosen, with their log-probabilities under the processed scores and under the
    model's own (``ReplyScores``), and the first step's own log-softmax."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.logprobs: list[float] = []
        self.own: list[float] = []
        self.first = None

    def add(self, token: int, logprob: float, own) -> None:
        if self.first is None:
            self.first = own
        self.ids.append(token)
        self.logprobs.append(logprob)
        self.own.append(float(own[token]))

    def decoded(self, passes: int, reused: int, gated: bool = False) -> Decoded:
        scores = None if gated else ReplyScores(tuple(self.ids), tuple(self.own), self.first)
        return Decoded(tuple(self.ids), tuple(self.logprobs), passes, reused, gated, scores)


def choose_token(logits_row, ids: list[int], processors: Sequence[Callable] = (), allowed=None):
    """The greedy choice from one position's logits (a 1-D float tensor over the vocabulary): the token, its
    log-probability under the processed scores, and the model's own log-softmax (``allowed``, a bool tensor, masks
    the tokens a reply may not use first; ``processors`` see the prompt and reply so far, ``ids``)."""
    import torch

    scores = logits_row.unsqueeze(0)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    own = torch.log_softmax(scores[0], dim=-1)
    if processors:
        context = torch.tensor([ids], dtype=torch.long)
        for processor in processors:
            scores = processor(context, scores)
        token = int(scores[0].argmax())
        return token, float(torch.log_softmax(scores[0], dim=-1)[token]), own
    token = int(own.argmax())
    return token, float(own[token]), own


class PromptLookup:
    """Prompt-lookup drafts: the prompt tokens that follow a place where the last ``ngram`` tokens so far (else
    fewer) occur in the prompt, earliest place first. A position table is built once per prompt, so a step costs a
    dictionary lookup."""

    def __init__(self, prompt_ids: Sequence[int], ngram: int = 2) -> None:
        self.prompt = list(prompt_ids)
        self.ngram = ngram
        self._after: dict[tuple[int, ...], list[int]] = {}
        for size in range(ngram, 0, -1):
            for end in range(size, len(self.prompt)):
                self._after.setdefault(tuple(self.prompt[end - size : end]), []).append(end)

    def candidates(self, ids: list[int], limit: int, tried: int = 8) -> list[list[int]]:
        """Up to ``tried`` continuations of ``ids`` found in the prompt, longest n-gram matches first."""
        ends: dict[int, None] = {}  # in order, each place once (a two-token match is also a one-token one)
        for size in range(min(self.ngram, len(ids)), 0, -1):
            for end in self._after.get(tuple(ids[-size:]), ()):
                if len(ends) >= tried:
                    break
                ends.setdefault(end)
        return [self.prompt[end : end + limit] for end in ends if end < len(self.prompt)]

    def first(self, ids: list[int], limit: int) -> list[int]:
        """The first continuation found (empty if none)."""
        found = self.candidates(ids, limit, tried=1)
        return found[0] if found else []


class PromptPrefixCache:
    """The keys and values of the last few prompts read, each under its model state (adapter names): the next
    prompt with the same state starts from the longest prefix it shares with one of them. Several prompts are kept
    because a batch of questions is read prompt by prompt and each one's second opinion then reads its own prompt
    again. Not thread-safe: the LanguageModel's lock holds it. ``clear`` whenever weights change (an adapter
    loaded, merged, trained)."""

    def __init__(self, prompts: int = 8) -> None:
        self.prompts = prompts
        self._kept: OrderedDict[tuple[object, tuple[int, ...]], list] = OrderedDict()

    def clear(self) -> None:
        self._kept.clear()

    def start(self, state: object, prompt_ids: list[int]):
        """A fresh transformers DynamicCache holding the longest kept prefix of ``prompt_ids`` (never all of it: the
        last token is read again for its logits), and that prefix's length."""
        from transformers import DynamicCache

        best, shared = None, 0
        for kept_state, ids in list(self._kept):
            if kept_state != state:
                continue
            length = _shared_prefix(ids, prompt_ids[:-1])
            if length > shared:
                best, shared = (kept_state, ids), length
        if best is None:
            return DynamicCache(), 0
        self._kept.move_to_end(best)
        # DynamicCache grows by concatenation and crops by slicing, never in place: slices of the kept tensors
        # can seed a new cache without copying and stay intact.
        return DynamicCache([(k[..., :shared, :], v[..., :shared, :]) for k, v in self._kept[best]]), shared

    def keep(self, state: object, prompt_ids: list[int], cache) -> None:
        """Remember the keys and values of ``prompt_ids`` (the cache's first len(prompt_ids) positions)."""
        n = len(prompt_ids)
        key = (state, tuple(prompt_ids))
        self._kept[key] = [(layer.keys[..., :n, :], layer.values[..., :n, :]) for layer in cache.layers]
        self._kept.move_to_end(key)
        while len(self._kept) > self.prompts:
            self._kept.popitem(last=False)


def _shared_prefix(first: Sequence[int], second: Sequence[int]) -> int:
    shared = 0
    for a, b in zip(first, second):
        if a != b:
            break
        shared += 1
    return shared


def decode_greedy(
    model,
    prompt_ids: list[int],
    max_new_tokens: int,
    end_ids: set[int],
    *,
    processors: Sequence[Callable] = (),
    lookup: PromptLookup | None = None,
    draft_limit: int = 0,
    stop_when: Callable[[list[int]], bool] | None = None,
    prefix_cache: PromptPrefixCache | None = None,
    cache_state: object = None,
    device: str = "cpu",
    after_prompt: Callable[[], bool] | None = None,
) -> Decoded:
    """Greedy decoding of ``prompt_ids`` with ``model`` (a transformers causal LM, called under inference mode by
    the caller). ``processors`` are transformers-style logits processors ``(input_ids, scores) -> scores``, called
    once per chosen token with the prompt and reply so far; up to ``draft_limit`` tokens a step are drafted (0:
    one token a pass) by a processor that drafts (``DraftingProcessor``), else by ``lookup``; ``stop_when`` is
    asked with the new tokens after each one; ``end_ids`` end the reply (kept in it). ``prefix_cache`` under
    ``cache_state`` supplies and keeps the prompt's keys and values. ``after_prompt`` is asked once the prompt is
    read; True ends decoding there with no reply (``gated``)."""
    import torch

    if not prompt_ids:
        raise ValueError("an empty prompt cannot be decoded")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    if prefix_cache is not None:
        cache, reused = prefix_cache.start(cache_state, prompt_ids)
    else:
        from transformers import DynamicCache

        cache, reused = DynamicCache(), 0
    ids = list(prompt_ids)
    passes = 0

    def forward(feed: list[int], keep: int):
        nonlocal passes
        passes += 1
        tensor = torch.tensor([feed], dtype=torch.long, device=device)
        out = model(input_ids=tensor, past_key_values=cache, use_cache=True, logits_to_keep=keep)
        return out.logits[0].float()

    logits = forward(ids[reused:], 1)
    if prefix_cache is not None:
        prefix_cache.keep(cache_state, prompt_ids, cache)
    chosen = ChosenTokens()
    if after_prompt is not None and after_prompt():
        return chosen.decoded(passes, reused, gated=True)

    def take(position: int) -> bool:
        """Choose the token at ``position`` of the last logits; True when the reply ends with it."""
        token, logprob, own = choose_token(logits[position], ids, processors)
        ids.append(token)
        chosen.add(token, logprob, own)
        return (
            token in end_ids or len(chosen.ids) >= max_new_tokens or (stop_when is not None and stop_when(chosen.ids))
        )

    ended = take(-1)
    while not ended:
        room = min(draft_limit, max_new_tokens - len(chosen.ids) - 1)
        draft = draft_tokens(processors, lookup, ids, room) if room > 0 else []
        logits = forward([ids[-1], *draft], 1 + len(draft))
        accepted = 0
        ended = take(0)
        while not ended and accepted < len(draft) and ids[-1] == draft[accepted]:
            accepted += 1
            ended = take(accepted)
        if not ended and accepted < len(draft):
            cache.crop(-(len(draft) - accepted))  # the rejected draft's keys and values
    return chosen.decoded(passes, reused)


def draft_tokens(processors: Sequence[Callable], lookup: PromptLookup | None, ids: list[int], limit: int) -> list[int]:
    """Up to ``limit`` tokens likely to follow ``ids``: a drafting processor's guess, else the prompt's."""
    for processor in processors:
        if hasattr(processor, "draft"):
            return processor.draft(ids, limit, lookup)[:limit]
    return lookup.first(ids, limit) if lookup is not None else []


def mean_probability(logprobs: Sequence[float]) -> float:
    """The geometric mean of the tokens' probabilities: a rough confidence (0 for no tokens)."""
    return round(math.exp(sum(logprobs) / len(logprobs)), 4) if logprobs else 0.0
