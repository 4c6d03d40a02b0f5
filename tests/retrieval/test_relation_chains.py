"""Relationship questions answered from loaded triples, relations matched by meaning (retrieval/relation_chains.py)."""

from __future__ import annotations

import numpy as np
import pytest

from graphrag.extraction.base import relation_words
from graphrag.retrieval.relation_chains import RelationVectors
from graphrag.types import Triple

FACTS = [
    ("Ada Quint", "people/person/parents", "Bram Quint"),
    ("Bram Quint", "people/person/place_of_birth", "Lindmark"),
    ("Lindmark", "location/location/containedby", "Nordvale"),
    ("Ada Quint", "people/person/spouse", "Cole Rivers"),
    ("Helix Dynamics", "organization/organization/founders", "Bram Quint"),
    ("Rome", "music/recording/canonical_version", "Rome"),
    ("Cole Rivers", "people/person/profession", "Pilot"),
    ("Bram Quint", "people/person/profession", "Engineer"),
]


@pytest.fixture
def kb_engine(make_engine):
    engine = make_engine()
    engine.add_triples([Triple(*fact) for fact in FACTS], source="family.kb")
    return engine


@pytest.mark.parametrize(
    ("question", "answer", "hops"),
    [
        ("Who are the parents of Ada Quint?", "Bram Quint", 1),
        ("Who is Ada Quint's husband?", "Cole Rivers", 1),
        ("Who founded Helix Dynamics?", "Bram Quint", 1),
        ("Where was Ada Quint's father born?", "Lindmark", 2),
        ("What is the profession of the founder of Helix Dynamics?", "Engineer", 2),
        ("What does Ada Quint's spouse do for a living?", "Pilot", 2),
    ],
)
def test_paraphrased_relationship_questions_follow_the_right_chain(kb_engine, question, answer, hops):
    """The question names relations in its own words ("husband" for spouse, "father" for parents, "do for a
    living" for profession) and the planner chooses the number of hops itself."""
    result = kb_engine.ask(question)
    assert not result.abstained and result.text == answer
    assert len(result.paths[0].steps) == hops
    # A loaded fact cites the record of its triples, by title.
    assert result.citations and all(c.text and c.document_id for c in result.citations)
    assert all(c.document_title == "triples: family.kb" for c in result.citations)


def test_a_chain_through_a_hub_finds_its_answer_among_thousands_of_relations(kb_engine):
    """A hub (a town where thousands were born) sits in the middle of the chain: its many relations of one type
    are ranked as one relation sequence, and the chain that says what the question asks still comes first."""
    hub = [Triple(f"Resident {i}", "people/person/place_of_birth", "Lindmark") for i in range(3000)]
    kb_engine.add_triples([*hub, Triple("Lindmark", "location/location/country", "Estmark")], source="places.kb")
    result = kb_engine.ask("In which country was Bram Quint born?")
    assert not result.abstained and result.text == "Estmark"
    assert [s.relation.type for s in result.paths[0].steps] == ["PLACE_OF_BIRTH", "COUNTRY"]


def test_a_relation_the_kb_lacks_is_not_guessed(kb_engine):
    result = kb_engine.ask("Who is the employer of Ada Quint?")
    assert result.abstained and result.confidence < 0.35


def test_a_fact_whose_ends_share_a_name_is_kept_and_followed(kb_engine):
    assert kb_engine.stats().relations == len(FACTS)
    result = kb_engine.ask("What is the canonical version of Rome?")
    assert not result.abstained and result.text == "Rome"


def test_relation_type_vectors_are_kept_beside_the_indexes_and_updated_on_ingest(kb_engine):
    path = kb_engine.settings.vectors_dir / "relation_types.npz"
    kept = RelationVectors(_no_embedding, path, kb_engine.embedder.name)
    assert kept.sync(relation_words(fact[1]).upper() for fact in FACTS) == 0  # all embedded when they were loaded
    kb_engine.add_triples([Triple("Ada Quint", "employer", "Helix Dynamics")], source="work.kb")
    again = RelationVectors(_no_embedding, path, kb_engine.embedder.name)
    assert again.sync(["EMPLOYER"]) == 0
    assert kb_engine.ask("Who is the employer of Ada Quint?").text == "Helix Dynamics"
    other_model = RelationVectors(lambda texts: np.zeros((len(texts), 3)), path, "another-model")
    assert other_model.sync(["EMPLOYER"]) == 1  # vectors of another embedder are not reused


def _no_embedding(texts):
    raise AssertionError(f"embedded {texts} again")


def test_relation_names_read_as_a_knowledge_base_writes_them():
    assert relation_words("people/person/place_of_birth") == "place_of_birth"
    assert relation_words("http://dbpedia.org/ontology/birthPlace") == "birth Place"
    assert relation_words("founded by") == "founded by"


def test_names_that_differ_in_underscores_case_or_punctuation_are_one_entity(make_engine):
    engine = make_engine()
    engine.add_triples(
        [
            Triple("Kenneth_Peach", "film/cinematographer/film", "Dirty Work"),
            Triple("kenneth-peach", "people/person/place_of_birth", "Boston"),
        ],
        source="films.kb",
    )
    assert engine.stats().entities == 3
    result = engine.ask("What is the film of Kenneth Peach?")
    assert not result.abstained and result.text == "Dirty Work"
    assert engine.ask("Where was KENNETH PEACH born?").text == "Boston"


def test_equally_good_answers_come_back_as_a_list(make_engine):
    engine = make_engine()
    children = ["Bea Quint", "Cal Quint", "Dora Quint", "Emil Quint"]
    engine.add_triples([Triple("Ada Quint", "people/person/children", c) for c in children], source="kids.kb")
    result = engine.ask("Who are the children of Ada Quint?")
    assert not result.abstained and sorted(result.answers) == children
    assert result.text.startswith(result.answers[0]) and "and 1 more" in result.text
    assert engine.ask("Who is the employer of Ada Quint?").answers == ()


def test_a_torn_or_unwritable_vector_file_costs_only_embeddings(tmp_path):
    path = tmp_path / "relation_types.npz"
    path.write_bytes(b"PK\x03\x04 torn")
    calls = []

    def embed(texts):
        calls.append(len(texts))
        return np.ones((len(texts), 3))

    torn = RelationVectors(embed, path, "model")  # unreadable: nothing loaded, no error
    assert torn.sync(["SPOUSE"]) == 1 and calls == [2] and RelationVectors(embed, path, "model").sync(["SPOUSE"]) == 0
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    unwritable = RelationVectors(embed, blocked / "relation_types.npz", "model")
    assert unwritable.sync(["PARENTS"]) == 1  # the save fails and is logged, the sync does not
    assert unwritable.get([("PARENTS", False)])[("PARENTS", False)].shape == (3,)


CONJUNCTION_FACTS = [
    ("Iker Salas", "plays_for", "Atlas Verde"),
    ("Iker Salas", "nationality", "Mexico"),
    ("Tom Berry", "plays_for", "Atlas Verde"),
    ("Tom Berry", "nationality", "Canada"),
    ("Luis Ortega", "coach_of", "Atlas Verde"),
    ("Luis Ortega", "nationality", "Mexico"),
    ("Pablo Ruiz", "plays_for", "Deportivo Sol"),
    ("Pablo Ruiz", "nationality", "Mexico"),
    ("The Long Tide", "film/film/directed_by", "Mara Quell"),
    ("The Long Tide", "film/film/starring", "Owen Pike"),
    ("Glass Harbor", "film/film/directed_by", "Mara Quell"),
    ("Glass Harbor", "film/film/starring", "Ines Dorn"),
    ("Night Ferry", "film/film/directed_by", "Ruth Amsel"),
    ("Night Ferry", "film/film/starring", "Owen Pike"),
    ("Night Ferry", "film/film/produced_by", "Ines Dorn"),
]


@pytest.fixture
def conjunction_engine(make_engine):
    engine = make_engine()
    engine.add_triples([Triple(*fact) for fact in CONJUNCTION_FACTS], source="clubs-and-films.kb")
    return engine


@pytest.mark.parametrize(
    ("question", "answer", "anchors"),
    [
        # Each anchor alone has several answers: only the entity both lead to is right.
        ("Which player of Atlas Verde is from Mexico?", "Iker Salas", ("Atlas Verde", "Mexico")),
        ("Which film directed by Mara Quell stars Owen Pike?", "The Long Tide", ("Mara Quell", "Owen Pike")),
        (
            "Name the film that Mara Quell directed and Owen Pike starred in.",
            "The Long Tide",
            ("Mara Quell", "Owen Pike"),
        ),
    ],
)
def test_conjunctive_questions_intersect_the_chains_from_both_anchors(conjunction_engine, question, answer, anchors):
    result = conjunction_engine.ask(question)
    assert not result.abstained and result.answers == (answer,)
    path = result.paths[0]
    assert {path.nodes[0].name, path.nodes[-1].name} == set(anchors) and path.nodes[1].name == answer
    assert result.citations and all(c.document_id for c in result.citations)


def test_a_conjunction_with_no_common_entity_is_not_answered(conjunction_engine):
    """Ines Dorn produced Night Ferry but stars in none of Ruth Amsel's films: the one entity both reach is joined
    by the wrong relation, and each anchor alone leaves half the question unexplained."""
    result = conjunction_engine.ask("Which film directed by Ruth Amsel stars Ines Dorn?")
    assert result.abstained, result.text


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Which firm bought Veltrix Systems?", "Helix Dynamics"),  # "bought": an irregular verb, read in its direction
        ("Which company did Northwind Capital buy?", "Orbis Analytics"),
        ("Who is the wife of Rafael Mendes?", "Marta Kowalski"),
        ("What is the birthplace of Jonas Weber?", "Stonevale"),
        ("What is the birthplace of the founder of Orbis Analytics?", "Calderon City"),
        ("Who founded the firm that bought Quantum Harbor Labs?", "Anika Sorensen"),
        ("Which company founded by Lena Hartmann was acquired by Helix Dynamics?", "Bluefin Robotics"),
    ],
)
def test_paraphrased_relationship_questions_over_the_demo_world(demo_engine, question, answer):
    """The demo corpus's relations come from its text ("acquired", "is married to", "was born in"); the questions
    say them in other words, and the last one intersects two anchors' chains."""
    result = demo_engine.ask(question)
    assert not result.abstained and result.text == answer
    assert result.paths and answer in {node.name for node in result.paths[0].nodes}


def test_a_chain_crosses_loaded_facts_and_facts_read_from_text(make_engine):
    """A store holding triples and documents: one hop from the KB, the next from a passage, each cited by its
    source (the record's title, or the passage with the sentence)."""
    engine = make_engine()
    engine.add_triples([Triple("Ada Quint", "founded", "Loom Works")], source="kb.jsonl")
    engine.ingest_text("Ada Quint was born in Lindmark.", title="Ada Quint")
    result = engine.ask("Where was the founder of Loom Works born?")
    assert not result.abstained and result.text == "Lindmark"
    assert [s.relation.provenance for s in result.paths[0].steps] == ["structured", "extracted"]
    cited = {(c.document_title, c.text) for c in result.citations}
    assert ("triples: kb.jsonl", "Ada Quint founded Loom Works") in cited
    assert ("Ada Quint", "Ada Quint was born in Lindmark.") in cited


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("What religion does Ada Quint practice?", "Lutheranism"),  # the answer noun names the relation
        ("What nationality is Ada Quint?", "Nordvale"),  # nothing but the noun
        ("Which country is Ada Quint a citizen of?", "Nordvale"),  # the noun is skipped, "citizen" matches
        ("What faith does the wife of Cole Rivers follow?", "Lutheranism"),  # "faith": the hop takes "follow" too
        ("Who is the partner of Cole Rivers?", "Dana Holm"),  # spouse_s: a schema's plural mark is not a word
    ],
)
def test_questions_naming_the_relation_by_the_noun_they_ask_for(kb_engine, question, answer):
    kb_engine.add_triples(
        [
            Triple("Ada Quint", "people/person/religion", "Lutheranism"),
            Triple("Ada Quint", "people/person/nationality", "Nordvale"),
            Triple("Cole Rivers", "people/person/spouse_s", "Dana Holm"),
        ],
        source="more.kb",
    )
    result = kb_engine.ask(question)
    assert not result.abstained and result.text == answer


def test_a_noun_only_associated_with_a_relation_does_not_stand_for_it(kb_engine):
    """ "school" is near PARENTS for the embedder (0.58), but it does not name that relation: no parent is offered
    for the school Ada Quint attended."""
    assert kb_engine.ask("Which school did Ada Quint attend?").abstained


def test_inverse_phrasing_reaches_the_answer_through_an_entity_the_question_only_describes(conjunction_engine):
    """ "a club that has a player from Mexico": the hop out of Mexico is said by "from" alone, the next by "player";
    the two clubs with a Mexican player are both answers, the coach's club through COACH_OF is not preferred."""
    result = conjunction_engine.ask("Which club has a player from Mexico?")
    assert not result.abstained and sorted(result.answers) == ["Atlas Verde", "Deportivo Sol"]
    assert all([s.relation.type for s in p.steps] == ["NATIONALITY", "PLAYS_FOR"] for p in result.paths)
    # "born in" names no relation of this KB: the free hop after "in" does not make a longer chain an answer.
    assert conjunction_engine.ask("Who was born in Mexico?").abstained


def test_a_name_that_qualifies_the_asked_noun_is_not_the_answer(make_engine):
    """ "what Australian city" asks for a city: "Australian" only says which, so the chain stops at the city and
    does not walk on to the country that the word names ("... —LOCATED_IN→ Canberra —LOCATED_IN→ Australia"), and of
    two equally good ends the one the question already says is dropped."""
    engine = make_engine()
    facts = [
        ("Toad Hall", "residential_hall_in", "Australian National University"),
        ("Australian National University", "located_in", "Canberra"),
        ("Australian National University", "located_in", "Australia"),
        ("Canberra", "located_in", "Australia"),
    ]
    engine.add_triples([Triple(*fact) for fact in facts], source="campus.kb")
    result = engine.ask("Toad Hall is a residential hall in a university located in what Australian city?")
    assert not result.abstained and result.answers == ("Canberra",)
    assert [s.relation.type for s in result.paths[0].steps] == ["RESIDENTIAL_HALL_IN", "LOCATED_IN"]
