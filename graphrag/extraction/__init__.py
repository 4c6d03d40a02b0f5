"""Entity and relation extraction: the Extractor protocol, the spaCy rule extractor, and entity resolution."""

from .base import ENTITY_TYPES, Extractor, relation_type_from_words, valid_relation_type
from .resolve import MentionCandidate, RelationCandidate, resolve_document

__all__ = [
    "ENTITY_TYPES",
    "Extractor",
    "MentionCandidate",
    "RelationCandidate",
    "relation_type_from_words",
    "resolve_document",
    "valid_relation_type",
]
