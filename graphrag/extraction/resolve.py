"""Entity resolution inside one document: canonical names, surname/first-word and acronym aliases, type votes.

Across documents, entities merge by canonical name (see :func:`graphrag.ids.entity_id`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from graphrag.extraction.base import ENTITY_TYPES
from graphrag.ids import entity_id, normalize_name, relation_id
from graphrag.types import Document, Entity, Extraction, Mention, Relation

__all__ = ["MentionCandidate", "RelationCandidate", "TOPIC", "resolve_document"]

#: Placeholder key for "the entity this document is about" (pronouns and "the company" resolve to it).
TOPIC = (-1, -1)
_TYPE_RANK = {name: rank for rank, name in enumerate(ENTITY_TYPES)}


@dataclass(frozen=True, slots=True)
class MentionCandidate:
    """A raw entity mention before resolution (offsets into the document)."""

    text: str
    type: str
    start: int
    end: int
    chunk_id: str


@dataclass(frozen=True, slots=True)
class RelationCandidate:
    """A raw relation between two mentions, each named by its ``(start, end)`` key or :data:`TOPIC`."""

    subject: tuple[int, int]
    type: str
    object: tuple[int, int]
    confidence: float
    chunk_id: str
    sentence: str
    topic_kind: str = ""  # "person" or "thing" when a side is TOPIC: the pronoun's kind
    property_id: str = ""  # set by the encoder extractor: the Wikidata property and its readable phrases
    label: str = ""
    inverse_label: str = ""
    sentence_start: int = -1  # offsets of ``sentence`` in the document, when known
    sentence_end: int = -1


def _display(text: str) -> str:
    text = " ".join(text.split())
    for article in ("The ", "the "):
        if text.startswith(article):
            text = text[len(article) :]
    return text.removesuffix("'s").removesuffix("\u2019s").strip(" .,;:")


def _cluster_aliases(names: set[str], title: str) -> dict[str, str]:
    """Map each normalised name to its canonical normalised name (itself unless it is an alias).

    A one-word name is an alias of the one longer name it starts or ends ("Kim" of "Ada Kim"), else of the one
    longer name it abbreviates ("IBM"). Longer names are indexed by those keys first: comparing every one-word
    name with every longer name took 30 s on a 1 MB document."""
    canonical = {n: n for n in names}
    by_end: dict[str, list[str]] = defaultdict(list)
    by_initials: dict[str, list[str]] = defaultdict(list)
    for long_name in sorted(names):
        words = long_name.split()
        if len(words) > 1:
            by_end[words[-1]].append(long_name)
            if words[0] != words[-1]:
                by_end[words[0]].append(long_name)
            by_initials["".join(w[0] for w in words if w not in {"of", "and", "the"}).upper()].append(long_name)
    for name in names:
        if len(name.split()) != 1:
            continue
        targets = by_end.get(name, [])
        if not targets and len(name) >= 2:
            targets = by_initials.get(name.upper(), [])
        if len(set(targets)) > 1 and title in targets:  # ambiguous surname: the document's subject wins
            targets = [title]
        if len(set(targets)) == 1:
            canonical[name] = targets[0]
    return canonical


def resolve_document(
    document: Document, mentions: Sequence[MentionCandidate], relations: Sequence[RelationCandidate]
) -> Extraction:
    """Resolve one document's raw mentions and relations into canonical entities with provenance."""
    by_norm: dict[str, list[MentionCandidate]] = defaultdict(list)
    for mention in mentions:
        norm = normalize_name(mention.text)
        if norm and any(ch.isalpha() for ch in norm):
            by_norm[norm].append(mention)
    canonical = _cluster_aliases(set(by_norm), normalize_name(document.title))

    clusters: dict[str, list[MentionCandidate]] = defaultdict(list)
    for norm, items in by_norm.items():
        clusters[canonical[norm]].extend(items)

    entities: dict[str, Entity] = {}
    key_to_entity: dict[tuple[int, int], str] = {}
    for norm, items in clusters.items():
        full_forms = [_display(m.text) for m in items if normalize_name(m.text) == norm]
        name = Counter(full_forms).most_common(1)[0][0] if full_forms else _display(items[0].text)
        votes = Counter(m.type for m in items)
        typed = [t for t in votes if t != "Other"] or list(votes)
        entity_type = max(typed, key=lambda t: (votes[t], -_TYPE_RANK.get(t, 99)))
        aliases = tuple(sorted({_display(m.text) for m in items} - {name}))
        ent = Entity(id=entity_id(name, document.tenant), name=name, type=entity_type, aliases=aliases)
        entities[ent.id] = ent
        for m in items:
            key_to_entity[(m.start, m.end)] = ent.id

    topic = _topic_entity(document, entities)
    mention_values = tuple(
        Mention(
            entity_id=key_to_entity[(m.start, m.end)],
            chunk_id=m.chunk_id,
            document_id=document.id,
            start=m.start,
            end=m.end,
            text=m.text,
        )
        for m in mentions
        if (m.start, m.end) in key_to_entity
    )
    return Extraction(
        entities=tuple(entities.values()),
        relations=_resolve_relations(document, relations, key_to_entity, entities, topic),
        mentions=mention_values,
    )


def _topic_entity(document: Document, entities: dict[str, Entity]) -> Entity | None:
    title = normalize_name(document.title)
    for ent in entities.values():
        if normalize_name(ent.name) == title or title in {normalize_name(a) for a in ent.aliases}:
            return ent
    return None


def _resolve_relations(
    document: Document,
    relations: Sequence[RelationCandidate],
    key_to_entity: dict[tuple[int, int], str],
    entities: dict[str, Entity],
    topic: Entity | None,
) -> tuple[Relation, ...]:
    merged: dict[str, Relation] = {}
    for cand in relations:
        ends = []
        for key in (cand.subject, cand.object):
            if key == TOPIC:
                compatible = topic is not None and (topic.type == "Person") == (cand.topic_kind == "person")
                ends.append(topic.id if compatible else None)
            else:
                ends.append(key_to_entity.get(key))
        source, target = ends
        if source is None or target is None or source == target:
            continue
        rid = relation_id(source, cand.type, target)
        previous = merged.get(rid)
        relation = Relation(
            id=rid,
            source_id=source,
            target_id=target,
            type=cand.type,
            confidence=round(cand.confidence, 3),
            document_id=document.id,
            evidence=(cand.chunk_id,),
            sentence=cand.sentence,
            property_id=cand.property_id,
            label=cand.label,
            inverse_label=cand.inverse_label,
            sentence_start=cand.sentence_start,
            sentence_end=cand.sentence_end,
        )
        if previous is not None:  # the surest statement of the fact speaks for it; every chunk is evidence
            best = relation if relation.confidence > previous.confidence else previous
            chunks = previous.evidence if cand.chunk_id in previous.evidence else (*previous.evidence, cand.chunk_id)
            relation = dataclasses.replace(best, evidence=chunks)
        merged[rid] = relation
    return tuple(merged.values())
