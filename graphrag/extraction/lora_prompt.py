"""The relation-extraction model's prompt and reply schema, shared by the LoRA extractor, its training data and
``scripts/bench_extract.py`` (training and serving must format passages identically).

A reply is one JSON list, one object per fact stated in the passage::

    [{"head": "Ada Byron", "relation": "employer", "tail": "Loom Works"}]      or   []

``relation`` is a Wikidata property name as Re-DocRED uses it ("country", "place of birth", "founded by"); head and
tail are copied from the passage.

Generated replies are read as a stream (``read_fact_stream``): greedy decoding of a list makes a small model loop,
writing one fact again and again until the token limit, so generation stops at the first repeated fact and the
distinct facts before it count. Anything else that breaks the schema is still malformed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from graphrag.errors import ModelOutputError
from graphrag.text import sentence_spans

__all__ = [
    "EXTRACT_SYSTEM",
    "PASSAGE_SENTENCES",
    "FactStream",
    "FactTriple",
    "extract_user_message",
    "facts_from_reply",
    "format_facts",
    "parse_facts",
    "passage_windows",
    "read_fact_stream",
    "stop_generating",
]

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
    """``text`` cut into consecutive windows of ``sentences`` sentences (graphrag/text.py): (offset of the window in
    ``text``, window)."""
    spans = list(sentence_spans(text))
    windows = []
    for first in range(0, len(spans), sentences):
        begin, end = spans[first][0], spans[min(first + sentences, len(spans)) - 1][1]
        windows.append((begin, text[begin:end]))
    return windows


def format_facts(facts: list[FactTriple]) -> str:
    """The reply a perfect model writes (training targets): compact JSON, facts in the given order."""
    return json.dumps([{"head": f.head, "relation": f.relation, "tail": f.tail} for f in facts], ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class FactStream:
    """What a (possibly unfinished) reply says so far: its distinct complete facts; ``closed`` when the list ended
    with ``]``, ``repeated`` when the model wrote a fact a second time (the point to stop generating)."""

    facts: tuple[FactTriple, ...]
    closed: bool
    repeated: bool

    @property
    def finished(self) -> bool:
        return self.closed or self.repeated


_DECODER = json.JSONDecoder()


def read_fact_stream(text: str) -> FactStream:
    """Read a reply object by object. ModelOutputError as soon as the text cannot be the start of a fact list (no
    ``[``, a non-fact object, a stray character, too many facts); an unfinished last object is simply not counted
    yet. Used while generating (to stop at a repeat) and on the final reply."""
    position, facts, seen = _skip_space(text, 0), [], set()
    if position == len(text):
        return FactStream((), False, False)
    if text[position] != "[":
        raise ModelOutputError("extraction reply does not start a JSON list")
    position = _skip_space(text, position + 1)
    while position < len(text):
        if text[position] == "]":
            if _skip_space(text, position + 1) != len(text):
                raise ModelOutputError("text after the end of the fact list")
            return FactStream(tuple(facts), True, False)
        if facts:
            if text[position] != ",":
                raise ModelOutputError("facts must be separated by commas")
            position = _skip_space(text, position + 1)
            if position == len(text):
                break
        if text[position] != "{":
            raise ModelOutputError("each fact must be a JSON object")
        try:
            item, position = _DECODER.raw_decode(text, position)
        except ValueError:
            break  # the object is not finished yet (or never will be: the caller decides when generation ended)
        fact = _fact(item)
        if fact in seen:
            return FactStream(tuple(facts), False, True)
        seen.add(fact)
        facts.append(fact)
        if len(facts) > _MAX_FACTS:
            raise ModelOutputError(f"extraction reply has more than {_MAX_FACTS} facts")
        position = _skip_space(text, position)
    return FactStream(tuple(facts), False, False)


def stop_generating(text: str) -> bool:
    """Whether generation can stop: the list closed, a fact was repeated, or the reply is already malformed."""
    try:
        return read_fact_stream(text).finished
    except ModelOutputError:
        return True


def facts_from_reply(text: str) -> list[FactTriple]:
    """The facts of a generated reply: its distinct facts up to the closing ``]`` or the first repeat;
    ModelOutputError when it breaks the schema or ended (at the token limit) with the list still open."""
    stream = read_fact_stream(text)
    if not stream.finished:
        raise ModelOutputError("extraction reply ended before its fact list was closed")
    return list(stream.facts)


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _fact(item) -> FactTriple:
    if not isinstance(item, dict) or set(item) != {"head", "relation", "tail"}:
        raise ModelOutputError("each fact must be an object with exactly head, relation and tail")
    values = [item["head"], item["relation"], item["tail"]]
    if not all(isinstance(v, str) and v.strip() and len(v) <= _MAX_FIELD_CHARS for v in values):
        raise ModelOutputError(
            f"head, relation and tail must be non-empty strings of at most {_MAX_FIELD_CHARS} characters"
        )
    return FactTriple(*(" ".join(v.split()) for v in values))


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
    facts = [_fact(item) for item in data]
    return facts
