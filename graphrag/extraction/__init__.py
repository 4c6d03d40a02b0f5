"""Entity and relation extraction: the Extractor protocol, the spaCy rule extractor, and entity resolution."""

from graphrag.extraction.base import ENTITY_TYPES, Extractor, relation_type_from_words, valid_relation_type
from graphrag.extraction.resolve import MentionCandidate, RelationCandidate, resolve_document

__all__ = [
    "ENTITY_TYPES",
    "Extractor",
    "MentionCandidate",
    "RelationCandidate",
    "relation_type_from_words",
    "resolve_document",
    "valid_relation_type",
]
