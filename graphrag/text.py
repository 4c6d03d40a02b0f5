"""Paragraphs, sentences and words: the one way the product cuts text.

Chunking, extraction, question analysis, keyword search, evidence selection and the answer writers all cut text
here, so a sentence or a word is the same thing everywhere. Every function returns offsets into the text it was
given (or the pieces themselves), never a normalised copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["paragraph_spans", "sentence_spans", "sentences", "terms", "word_spans", "words"]

# A blank line (nothing but white space on it), with the white space around it.
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n\s*")
# Where a sentence may end: white space after ., ! or ? (a closing quote or bracket may come between), or a blank
# line. A single line break is not one: hard-wrapped text breaks lines inside sentences.
_SENTENCE_GAP = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)\]]))\s+|[ \t\r\f\v]*\n[ \t\r\f\v]*\n\s*")
# A full stop that ends no sentence: an initial ("J. R. R. Tolkien", "U.S.") or a title or common abbreviation.
_ABBREVIATION = re.compile(
    r"(?:^|[\s(\[\"'])(?:[A-Z]|[A-Z]\.[A-Z]|Mr|Mrs|Ms|Dr|Prof|St|Sr|Jr|Mt|Ft|Gen|Col|Lt|Capt|Sgt|Rev|Hon|vs|Inc|Co"
    r"|Corp|Ltd|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.$"
)
# A word: letters and digits, joined by an apostrophe, a hyphen or a full stop inside it ("Jong-suk", "O'Neil",
# "3.5", "U.S"); the punctuation around it is not part of it.
_WORD = re.compile(r"[^\W_]+(?:['’\-.][^\W_]+)*")
# A term: a run of letters and digits, what a full-text index's tokenizer indexes ("Jong-suk" is two).
_TERM = re.compile(r"[^\W_]+")


def paragraph_spans(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each paragraph, white space around it left out: lines up to a blank line."""
    start = 0
    for gap in _BLANK_LINE.finditer(text):
        yield from _trimmed(text, start, gap.start())
        start = gap.end()
    yield from _trimmed(text, start, len(text))


def sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each sentence in order, white space around it left out. A sentence ends at ., ! or ?
    followed by white space (not after an initial or a title such as "Dr.") or at a blank line."""
    start = 0
    for gap in _SENTENCE_GAP.finditer(text):
        if gap.group(0).count("\n") < 2 and _ABBREVIATION.search(text[max(0, gap.start() - 8) : gap.start()]):
            continue
        yield from _trimmed(text, start, gap.start())
        start = gap.end()
    yield from _trimmed(text, start, len(text))


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (see :func:`sentence_spans`)."""
    return [text[start:end] for start, end in sentence_spans(text)]


def word_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, word)`` of each word."""
    return [(m.start(), m.end(), m.group(0)) for m in _WORD.finditer(text)]


def words(text: str) -> list[str]:
    """The words of ``text`` as written."""
    return _WORD.findall(text)


def terms(text: str) -> list[str]:
    """The runs of letters and digits of ``text`` as written: words cut at their inner punctuation."""
    return _TERM.findall(text)


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        lead = len(piece) - len(piece.lstrip())
        yield start + lead, start + lead + len(stripped)
