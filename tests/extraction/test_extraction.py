"""The spaCy rule extractor and entity resolution, on the real en_core_web_sm model."""

from __future__ import annotations

from graphrag.extraction.base import relation_type_from_words, valid_relation_type
from graphrag.indexing.loaders import SentenceChunker, document_from_text


def extract(extractor, text: str, title: str = "Notes"):
    doc = document_from_text(text, key=title, title=title, source="test", tenant="default", max_bytes=10**6)
    chunks = SentenceChunker(1200, 200).chunk(doc)
    result = extractor.extract(doc, chunks)
    names = {e.id: e.name for e in result.entities}
    triples = {(names[r.source_id], r.type, names[r.target_id]) for r in result.relations}
    return doc, chunks, result, triples


def test_subject_verb_object_and_coordination(spacy_extractor):
    _, _, _, triples = extract(spacy_extractor, "Marta Kowalski and Tomas Reyes founded Helix Dynamics in 1998.")
    assert ("Marta Kowalski", "FOUNDED", "Helix Dynamics") in triples
    assert ("Tomas Reyes", "FOUNDED", "Helix Dynamics") in triples


def test_passive_voice_is_normalised_to_active(spacy_extractor):
    _, _, _, triples = extract(spacy_extractor, "Aster Pharmaceuticals was founded by Gustav Lindqvist in 1965.")
    assert ("Gustav Lindqvist", "FOUNDED", "Aster Pharmaceuticals") in triples


def test_passive_with_preposition(spacy_extractor):
    _, _, _, triples = extract(spacy_extractor, "Meridian Bank is headquartered in Calderon City.")
    assert ("Meridian Bank", "HEADQUARTERED_IN", "Calderon City") in triples


def test_copula_role_and_reversed_role(spacy_extractor):
    _, _, _, triples = extract(
        spacy_extractor,
        "Hannah Brooks is the chief executive of Aster Pharmaceuticals. "
        "The chief executive of Bluefin Robotics is Anika Sorensen.",
    )
    assert ("Hannah Brooks", "CHIEF_EXECUTIVE_OF", "Aster Pharmaceuticals") in triples
    assert ("Anika Sorensen", "CHIEF_EXECUTIVE_OF", "Bluefin Robotics") in triples


def test_apposition(spacy_extractor):
    _, _, _, triples = extract(
        spacy_extractor, "Priya Natarajan, the chairman of Northwind Capital, spoke in Lindmark."
    )
    assert ("Priya Natarajan", "CHAIRMAN_OF", "Northwind Capital") in triples


def test_surname_alias_and_topic_pronoun_resolve_to_the_full_entity(spacy_extractor):
    text = "Daniel Okafor is a statistician.\nOkafor was born in Calderon City.\nHe founded Orbis Analytics in 2010."
    _, _, result, triples = extract(spacy_extractor, text, title="Daniel Okafor")
    assert ("Daniel Okafor", "BORN_IN", "Calderon City") in triples
    assert ("Daniel Okafor", "FOUNDED", "Orbis Analytics") in triples
    okafor = next(e for e in result.entities if e.name == "Daniel Okafor")
    assert "Okafor" in okafor.aliases
    assert not any(e.name == "Okafor" for e in result.entities)


def test_acronym_alias(spacy_extractor):
    text = "The Calderon Institute of Technology is in Estoria. CIT opened a new lab in 2020."
    _, _, result, _ = extract(spacy_extractor, text)
    institute = [e for e in result.entities if e.name == "Calderon Institute of Technology"]
    assert institute and "CIT" in institute[0].aliases


def test_provenance_on_every_item(spacy_extractor):
    doc, chunks, result, _ = extract(spacy_extractor, "Lena Hartmann founded Bluefin Robotics in 2009.")
    chunk_ids = {c.id for c in chunks}
    assert result.relations and result.mentions
    for rel in result.relations:
        assert rel.document_id == doc.id and set(rel.evidence) <= chunk_ids
        assert rel.sentence in doc.text and 0 < rel.confidence <= 1
        assert valid_relation_type(rel.type)
    for mention in result.mentions:
        assert doc.text[mention.start : mention.end] == mention.text


def test_relation_types_are_whitelisted():
    assert relation_type_from_words("chief executive", "of") == "CHIEF_EXECUTIVE_OF"
    assert relation_type_from_words("co-founded") == "FOUNDED"
    assert relation_type_from_words("x`) DETACH DELETE n //") == "X_DETACH_DELETE_N"
    assert relation_type_from_words("---") == ""
    assert not valid_relation_type("FOUNDED]->(x) DELETE x")
