"""The relation-extraction model's prompt and reply schema, shared by the LoRA extractor, its training data and
``scripts/bench_extract.py`` (training and serving must format passages identically).

A reply is one JSON list, one object per fact stated in the passage::

    [{"head": "Ada Byron", "relation": "employer", "tail": "Loom Works"}]      or   []

``relation`` is a Wikidata property name as Re-DocRED uses it ("country", "place of birth", "founded by"); head and
tail are copied from the passage.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..errors import ModelOutputError

__all__ = ["EXTRACT_SYSTEM", "PASSAGE_SENTENCES", "FactTriple", "extract_user_message", "format_facts",
           "parse_facts", "passage_windows"]

EXTRACT_SYSTEM = (
    "You extract relation facts from a passage. Reply with one JSON list of objects "
    '{"head": ..., "relation": ..., "tail": ...}: head and tail copied from the passage, relation a Wikidata '
    'property name such as "country", "place of birth", "member of" or "publication date". '
    "Reply [] when the passage states no fact."
)
# Sentences per passage the model reads, in training (Re-DocRED windows) and in the product (a chunk is cut into
# windows this long): a 1,200-character chunk holds about nine such sentences, and a model trained on three-sentence
# windows reads a whole chunk poorly.
PASSAGE_SENTENCES = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_MAX_FACTS = 32
_MAX_FIELD_CHARS = 160


@dataclass(frozen=True, slots=True)
class FactTriple:
    """One extracted fact as the model wrote it."""

    head: str
    relation: str
    tail: str


def extract_user_message(title: str, passage: str) -> str:
    """The user turn: the document title (context for pronouns) and the passage."""
    return f"Title: {title}\nPassage: {passage}"


def passage_windows(text: str, sentences: int = PASSAGE_SENTENCES) -> list[tuple[int, str]]:
    """``text`` cut into consecutive windows of ``sentences`` sentences: (offset of the window in ``text``, window).
    Sentences end at ., ! or ? before white space (abbreviations split too: a window is then a little shorter)."""
    starts = [0] + [m.end() for m in _SENTENCE_END.finditer(text)]
    windows = []
    for first in range(0, len(starts), sentences):
        begin = starts[first]
        end = starts[first + sentences] if first + sentences < len(starts) else len(text)
        window = text[begin:end].rstrip()
        if window.strip():
            windows.append((begin, window))
    return windows


def format_facts(facts: list[FactTriple]) -> str:
    """The reply a perfect model writes (training targets): compact JSON, facts in the given order."""
    return json.dumps([{"head": f.head, "relation": f.relation, "tail": f.tail} for f in facts], ensure_ascii=False)


def parse_facts(text: str) -> list[FactTriple]:
    """Read a reply; ModelOutputError when it is not exactly a JSON list of {head, relation, tail} strings.

    Nothing is patched up (no trailing-text trimming, no key guessing): a malformed reply is the caller's signal to
    fall back and count it."""
    try:
        data = json.loads(text.strip())
    except ValueError as exc:
        raise ModelOutputError(f"extraction reply is not JSON: {exc}") from None
    if not isinstance(data, list):
        raise ModelOutputError("extraction reply is not a JSON list")
    if len(data) > _MAX_FACTS:
        raise ModelOutputError(f"extraction reply has {len(data)} facts (at most {_MAX_FACTS})")
    facts = []
    for item in data:
        if not isinstance(item, dict) or set(item) != {"head", "relation", "tail"}:
            raise ModelOutputError("each fact must be an object with exactly head, relation and tail")
        values = [item["head"], item["relation"], item["tail"]]
        if not all(isinstance(v, str) and v.strip() and len(v) <= _MAX_FIELD_CHARS for v in values):
            raise ModelOutputError(f"head, relation and tail must be non-empty strings of at most {_MAX_FIELD_CHARS} characters")
        facts.append(FactTriple(*(" ".join(v.split()) for v in values)))
    return facts
