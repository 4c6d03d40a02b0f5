"""Content-hash ids: the same content always gets the same id, so re-ingesting it is a no-op."""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = [
    "DEFAULT_TENANT",
    "TENANT_PATTERN",
    "chunk_id",
    "content_sha256",
    "document_id",
    "entity_id",
    "normalize_name",
    "relation_id",
    "stable_id",
]

#: The tenant of a store without API keys (and of everything ingested before tenants existed).
DEFAULT_TENANT = "default"
#: Tenant names: they name directories and sit in Neo4j properties, so letters, digits, "_" and "-" only.
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"

_SPACE = re.compile(r"\s+")
# Punctuation that only separates words ("Kenneth_Peach", "Jong-suk", "J.R.R."); "&" and "'" carry meaning.
_SEPARATORS = re.compile(r"[^\w\s&']|_")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_LEADING_ARTICLE = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)


def stable_id(prefix: str, *parts: str) -> str:
    """A short, readable, collision-resistant id: ``prefix_`` + 20 hex chars of sha256 over the parts."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"{prefix}_{digest[:20]}"


def content_sha256(text: str) -> str:
    """Full sha256 of a document's normalised text (recorded on the Document)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def document_id(key: str) -> str:
    """Id of a document from its identity key (given id, or source path + record index)."""
    return stable_id("doc", key)


def chunk_id(doc_id: str, doc_sha256: str, index: int) -> str:
    """Chunk ids change whenever the document's content changes, so stale chunks never linger."""
    return stable_id("chk", doc_id, doc_sha256, str(index))


def normalize_name(name: str) -> str:
    """Canonical form of an entity name used for merging: NFKC, casefold, no leading article, punctuation between
    words read as a space ("Kenneth_Peach", "Kenneth-Peach" and "kenneth peach" are one name)."""
    text = unicodedata.normalize("NFKC", name)
    text = text.replace("\u2019", "'")
    if text.endswith("'s"):
        text = text[:-2]
    text = _SEPARATORS.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    text = _LEADING_ARTICLE.sub("", text)
    text = _EDGE_PUNCT.sub("", text)
    return text.casefold()


def entity_id(name: str, tenant: str = DEFAULT_TENANT) -> str:
    """Entities merge across documents of one tenant when their canonical names agree.

    The type is not part of the id: the small NER model labels one unseen name differently from sentence to
    sentence, and splitting the node on that noise hurts more than it helps. The type is decided by vote.
    The tenant is: two tenants naming the same "Acme" get two entities, so no node, relation or community is
    ever shared between tenants (the default tenant keeps the ids it always had).
    """
    if tenant == DEFAULT_TENANT:
        return stable_id("ent", normalize_name(name))
    return stable_id("ent", tenant, normalize_name(name))


def relation_id(source_id: str, relation_type: str, target_id: str) -> str:
    """One edge per (source, type, target); several documents may add evidence to it."""
    return stable_id("rel", source_id, relation_type, target_id)
