"""Encoder input with entity markers: markers wrap each mention, windows keep whole sentences within their limit."""

from __future__ import annotations

import pytest

from graphrag.extraction.marked_input import MARKER, mark_windows
from graphrag.offline import default_embedder_path
from graphrag.text import sentence_spans


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(default_embedder_path()))


def spans_of(text: str, *names: str) -> list[tuple[int, int]]:
    out = []
    for name in names:
        start = text.index(name)
        out.append((start, start + len(name)))
    return out


def test_each_mention_is_wrapped_in_markers_and_read_at_its_opening_marker(tokenizer):
    text = "Lena Hartmann founded Bluefin Robotics. Hartmann lives in Oslo."
    entities = [spans_of(text, "Lena Hartmann") + [(text.rindex("Hartmann"), text.rindex("Hartmann") + 8)]]
    entities.append(spans_of(text, "Bluefin Robotics"))
    entities.append(spans_of(text, "Oslo"))
    (window,) = mark_windows(tokenizer, text, list(sentence_spans(text)), entities)
    tokens = tokenizer.convert_ids_to_tokens(list(window.input_ids))
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert window.entities == (0, 1, 2)
    assert [len(p) for p in window.positions] == [2, 1, 1]
    for positions in window.positions:
        assert all(tokens[p] == MARKER for p in positions)
    assert tokens.count(MARKER) == 8  # four mentions, two markers each
    first = window.positions[0][0]
    closing = tokens.index(MARKER, first + 1)
    assert tokenizer.convert_tokens_to_string(tokens[first + 1 : closing]) == "lena hartmann"
    assert [text[a:b] for a, b in window.sentences] == [
        "Lena Hartmann founded Bluefin Robotics.",
        "Hartmann lives in Oslo.",
    ]


def test_windows_hold_whole_sentences_within_the_token_limit(tokenizer):
    sentences = [f"Person {i} visited Town {i} in the north of the country." for i in range(40)]
    text = " ".join(sentences)
    entities = [spans_of(text, f"Town {i} ") for i in range(40)]
    entities = [[(a, b - 1)] for ((a, b),) in entities]
    windows = mark_windows(tokenizer, text, list(sentence_spans(text)), entities, max_tokens=64)
    assert len(windows) > 5
    assert all(len(w.input_ids) <= 64 for w in windows)
    seen = [text[a:b] for w in windows for a, b in w.sentences]
    assert seen == sentences  # every sentence once, in order, none cut (each fits a window)
    assert sorted(e for w in windows for e in w.entities) == list(range(40))


def test_a_sentence_longer_than_a_window_is_cut_and_overlapping_mentions_are_dropped(tokenizer):
    text = " ".join(["word"] * 100) + " Alpha Beta."
    entities = [spans_of(text, "Alpha Beta"), spans_of(text, "Beta")]  # the second overlaps the first
    windows = mark_windows(tokenizer, text, list(sentence_spans(text)), entities, max_tokens=32)
    assert all(len(w.input_ids) <= 32 for w in windows) and len(windows) >= 4
    assert [e for w in windows for e in w.entities] == [0]
