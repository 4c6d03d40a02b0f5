"""Entity linking: which words of a question name an entity of the graph."""

from __future__ import annotations

from graphrag.types import Triple


def test_lower_case_words_never_link_however_many(make_engine):
    """Extraction leaves common nouns as entities ("State", "Country"); "a state" or "the country" in a question
    normalises to their names, yet is no name, while the capitalised name still links."""
    engine = make_engine(fake_embedder=True)
    engine.add_triples(
        [Triple("Quint Farm", "located_in", "Iowa"), Triple("State", "instance_of", "Polity")], source="farm.kb"
    )
    linked = engine.retrieve("When did the area where Quint Farm is located become a state?").plan.linked
    assert [link.entity.name for link in linked] == ["Quint Farm"]
    linked = engine.retrieve("Which polity is State an instance of?").plan.linked
    assert [link.entity.name for link in linked] == ["State"]
