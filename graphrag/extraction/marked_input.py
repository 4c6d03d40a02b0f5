"""Encoder input for the relation classifier: a text cut into windows of whole sentences, each tokenised with a
marker token around every entity mention (ATLOP's "*"), so an entity is read at its markers.

Training (Re-DocRED's gold mentions) and the product (spaCy's mentions) build their input here, the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MARKER", "MarkedWindow", "mark_windows"]

MARKER = "*"
_RESERVED = 2  # [CLS] and [SEP]


@dataclass(frozen=True, slots=True)
class MarkedWindow:
    """One window of whole sentences as encoder input.

    ``entities[i]`` is the index (into the caller's entity list) of the i-th entity seen in this window, and
    ``positions[i]`` the token positions of its mentions' opening markers. ``sentences`` are the window's sentence
    spans as character offsets into the text, with ``sentence_tokens`` their token ranges (end exclusive).
    """

    input_ids: tuple[int, ...]
    entities: tuple[int, ...]
    positions: tuple[tuple[int, ...], ...]
    sentences: tuple[tuple[int, int], ...]
    sentence_tokens: tuple[tuple[int, int], ...]


def mark_windows(
    tokenizer,
    text: str,
    sentences: Sequence[tuple[int, int]],
    entities: Sequence[Sequence[tuple[int, int]]],
    max_tokens: int = 512,
) -> list[MarkedWindow]:
    """Cut ``text`` into windows of whole sentences (a sentence longer than a window is cut at a token) of at most
    ``max_tokens`` tokens with markers, [CLS] and [SEP] included. ``entities`` are mention spans (character offsets)
    per entity; a mention that crosses a window's edge or overlaps an earlier one is left out."""
    # The whole text at once (it is cut into windows below), so the tokenizer's "longer than the maximum" warning
    # does not apply.
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    ids: list[int] = encoded["input_ids"]
    offsets: list[tuple[int, int]] = encoded["offset_mapping"]
    marker_id = tokenizer.convert_tokens_to_ids(MARKER)
    opens, closes = _mention_boundaries(offsets, entities)
    budget = max_tokens - _RESERVED
    # Each sentence's tokens (first, end), then each token's cost: one, plus one per marker around it.
    spans = _sentence_tokens(offsets, sentences)
    cost = [1 + len(opens.get(i, ())) + len(closes.get(i, ())) for i in range(len(ids))]
    windows: list[list[tuple[int, int, int]]] = [[]]  # per window: (sentence index, first token, end token)
    used = 0
    for index, (first, end) in enumerate(spans):
        sentence_cost = sum(cost[first:end])
        if used + sentence_cost > budget and windows[-1]:  # the sentence goes whole into the next window
            windows.append([])
            used = 0
        if sentence_cost <= budget:
            if end > first:
                windows[-1].append((index, first, end))
            used += sentence_cost
            continue
        piece_start = first  # longer than a window: cut where a window fills
        for token in range(first, end):
            if used + cost[token] > budget:
                if token > piece_start:
                    windows[-1].append((index, piece_start, token))
                windows.append([])
                used, piece_start = 0, token
            used += cost[token]
        if end > piece_start:
            windows[-1].append((index, piece_start, end))
    return [
        _build(window, ids, offsets, opens, closes, marker_id, tokenizer, sentences) for window in windows if window
    ]


def _mention_boundaries(
    offsets: Sequence[tuple[int, int]], entities: Sequence[Sequence[tuple[int, int]]]
) -> tuple[dict[int, list[tuple[int, int]]], dict[int, list[tuple[int, int]]]]:
    """Token index -> (entity, mention end token) opening there, and -> mentions closing after it."""
    starts = [s for s, _ in offsets]
    opens: dict[int, list[tuple[int, int]]] = {}
    closes: dict[int, list[tuple[int, int]]] = {}
    taken: set[int] = set()
    mentions = sorted((start, end, entity) for entity, spans in enumerate(entities) for start, end in spans)
    for start, end, entity in mentions:
        first = _first_token_at(starts, offsets, start)
        last = first
        while last + 1 < len(offsets) and offsets[last + 1][0] < end:
            last += 1
        if first >= len(offsets) or offsets[first][0] >= end or any(t in taken for t in range(first, last + 1)):
            continue
        taken.update(range(first, last + 1))
        opens.setdefault(first, []).append((entity, last))
        closes.setdefault(last, []).append((entity, first))
    return opens, closes


def _first_token_at(starts: Sequence[int], offsets: Sequence[tuple[int, int]], char: int) -> int:
    """Index of the first token that ends after ``char`` (binary search over token starts)."""
    lo, hi = 0, len(starts)
    while lo < hi:
        mid = (lo + hi) // 2
        if offsets[mid][1] <= char:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _sentence_tokens(offsets: Sequence[tuple[int, int]], sentences: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    starts = [s for s, _ in offsets]
    spans = []
    previous_end = 0
    for start, end in sentences:
        first = max(_first_token_at(starts, offsets, start), previous_end)
        last = first
        while last < len(offsets) and offsets[last][0] < end:
            last += 1
        spans.append((first, last))
        previous_end = last
    return spans


def _build(window, ids, offsets, opens, closes, marker_id, tokenizer, sentences) -> MarkedWindow:
    first_token, end_token = window[0][1], window[-1][2]
    out = [tokenizer.cls_token_id]
    positions: dict[int, list[int]] = {}
    token_position: dict[int, int] = {}
    for token in range(first_token, end_token):
        for entity, last in opens.get(token, ()):
            if last < end_token:
                positions.setdefault(entity, []).append(len(out))
                out.append(marker_id)
        token_position[token] = len(out)
        out.append(ids[token])
        for _, first in closes.get(token, ()):
            if first >= first_token:
                out.append(marker_id)
    out.append(tokenizer.sep_token_id)
    sentence_spans, sentence_tokens = [], []
    for index, first, end in window:
        start_char = max(sentences[index][0], offsets[first][0])
        end_char = min(sentences[index][1], offsets[end - 1][1])
        sentence_spans.append((start_char, end_char))
        sentence_tokens.append((token_position[first], token_position[end - 1] + 1))
    entities = sorted(positions)
    return MarkedWindow(
        input_ids=tuple(out),
        entities=tuple(entities),
        positions=tuple(tuple(positions[e]) for e in entities),
        sentences=tuple(sentence_spans),
        sentence_tokens=tuple(sentence_tokens),
    )
