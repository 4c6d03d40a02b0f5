"""The Extractor protocol and the whitelists that keep entity labels and relation types safe for any backend."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from graphrag.types import Chunk, Document, Extraction

__all__ = [
    "ENTITY_TYPES",
    "Extractor",
    "relation_type_from_words",
    "relation_words",
    "valid_relation_type",
]

#: Entity types (also graph labels). Anything else is mapped to "Other" before it reaches a store.
ENTITY_TYPES = (
    "Person",
    "Organization",
    "Location",
    "Facility",
    "Group",
    "Event",
    "Product",
    "Work",
    "Law",
    "Language",
    "Other",
)

_RELATION_TYPE = re.compile(r"^[A-Z][A-Z0-9_]{0,47}$")


def valid_relation_type(name: str) -> bool:
    """True for UPPER_SNAKE names of at most 48 characters: the only relation types a store accepts."""
    return bool(_RELATION_TYPE.match(name))


def relation_type_from_words(*words: str) -> str:
    """Build an UPPER_SNAKE relation type from words (``"chief executive", "of"`` -> ``CHIEF_EXECUTIVE_OF``).

    Returns "" when nothing usable is left, so callers drop the relation instead of storing junk.
    """
    text = "_".join(w for w in words if w)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper()
    text = re.sub(r"_+", "_", text)
    if text.startswith("CO_") and len(text) > 3:  # "co-founded" states the same fact as "founded"
        text = text[3:]
    text = text[:48].rstrip("_")
    if text and text[0].isdigit():
        text = "R_" + text
    return text if valid_relation_type(text) else ""


def relation_words(name: str) -> str:
    """The words of a relation name as a knowledge base writes it: the last part of a path or URI
    (``people/person/place_of_birth`` -> "place_of_birth", ``http://dbpedia.org/ontology/birthPlace`` ->
    "birth Place"), camel case split."""
    last = re.split(r"[/#]", name.strip().rstrip("/#"))[-1] or name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", last)


def entity_type_or_other(name: str) -> str:
    """Whitelist an entity type: known types pass, anything else becomes "Other"."""
    for known in ENTITY_TYPES:
        if name.casefold() == known.casefold():
            return known
    return "Other"


@runtime_checkable
class Extractor(Protocol):
    """Turns a document's chunks into canonical entities, relations and mentions, each with provenance."""

    name: str

    def extract(self, document: Document, chunks: Sequence[Chunk]) -> Extraction:
        """Extract from one document (resolution needs the whole document's mentions at once)."""
        ...

    def extract_many(self, items: Sequence[tuple[Document, Sequence[Chunk]]]) -> list[Extraction]:
        """Batch form of :meth:`extract`; implementations batch model calls across documents."""
        ...
