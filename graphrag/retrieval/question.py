"""Question analysis without a model: words, expected answer types, relation cues, and lexical stems."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from graphrag.text import words as split_words

__all__ = ["QuestionInfo", "analyze_question", "stem", "stems_match"]

STOPWORDS = frozenset(
    """a an the of in on at to for from by with and or but is are was were be been being do does did has have had
    who whom whose what which where when why how that this these those it its he she his her they their them there
    as into about than then so if not no any all some each other such only own same can could would should will
    shall may might must company companies firm person people place city country one ones connected connection
    related relationship between tell me name named""".split()
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ied", "ies", "ed", "es", "s", "e", "y", "ion")
_LOCATION_NOUNS = {"city", "town", "country", "place", "region", "headquarters", "where"}
_ORG_NOUNS = {
    "company",
    "firm",
    "bank",
    "organization",
    "organisation",
    "business",
    "airline",
    "lab",
    "studio",
    "university",
    "institute",
    "fund",
    "corporation",
    "agency",
}


@lru_cache(maxsize=1 << 16)  # the planner stems the same relation and question words for every question
def stem(word: str) -> str:
    """Crude suffix stripping so ``founded``/``founder``/``founds`` meet at ``found``."""
    word = word.lower().replace("'s", "")
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=1 << 18)
def stems_match(a: str, b: str) -> bool:
    """Two stems match when equal, or when they share a prefix of at least 4 letters covering most of the shorter."""
    if a == b:
        return True
    shortest = min(len(a), len(b))
    if shortest < 4:
        return False
    common = 0
    for x, y in zip(a, b):
        if x != y:
            break
        common += 1
    return common >= max(4, shortest - 2)


@dataclass(frozen=True, slots=True)
class QuestionInfo:
    """What the planner needs to know about a question's wording."""

    text: str
    words: tuple[str, ...]
    content: tuple[str, ...]
    expected_types: frozenset[str]
    wants_connection: bool
    wants_overview: bool = False  # a global question about the whole collection, not about named things

    def positions(self, word: str) -> list[int]:
        """Word indexes at which ``word`` occurs (case-insensitive)."""
        lower = word.lower()
        return [i for i, w in enumerate(self.words) if w.lower() == lower]


def analyze_question(text: str) -> QuestionInfo:
    """Tokenise a question and guess the answer type from its wh-word and head noun."""
    words = tuple(split_words(text))
    lower = [w.lower() for w in words]
    expected: set[str] = set()
    if lower and lower[0] in ("who", "whom", "whose"):
        expected = {"Person"}
    elif "where" in lower[:3]:
        expected = {"Location"}
    elif "which" in lower[:2] or "what" in lower[:2]:
        # the noun after the wh-word; a question may end at it ("Which?"), which leaves the type open
        asked = lower.index("which") if "which" in lower[:2] else lower.index("what")
        nxt = lower[asked + 1] if asked + 1 < len(lower) else ""
        if nxt in _LOCATION_NOUNS:
            expected = {"Location"}
        elif nxt in _ORG_NOUNS:
            expected = {"Organization"}
        elif nxt in ("person", "man", "woman"):
            expected = {"Person"}
    wants_connection = (
        "connected" in lower
        or "connection" in lower
        or "related" in lower
        or "relationship" in lower
        or ("link" in lower and "between" in lower)
    )
    content = tuple(w for w in words if w.lower() not in STOPWORDS and not w.isdigit())
    return QuestionInfo(text, words, content, frozenset(expected), wants_connection, bool(_OVERVIEW.search(text)))


# Global questions: "What are the main themes across these documents?", "Summarize the corpus", "What topics do
# the documents cover?". Only wording about the collection as a whole: a question naming a thing is not global.
_OVERVIEW = re.compile(
    r"\b(main|major|key|central|common|recurring|overall|principal)\s+(themes?|topics?|subjects?|threads?)\b"
    r"|\b(themes?|topics?)\b.*\b(documents?|corpus|collection|texts?|dataset|across)\b"
    r"|\bsummari[sz]e\b.*\b(documents?|corpus|collection|everything|all)\b"
    r"|\bwhat\s+(is|are)\s+(these|the|all)\s+(documents?|texts?|corpus|collection)\s+(mostly\s+)?about\b",
    re.IGNORECASE,
)
