"""One contract suite for every GraphStore backend (the embedded SQLite store today; Neo4j joins in issue 3)."""

from __future__ import annotations

import dataclasses

import pytest

from graphrag import Settings
from graphrag.errors import NotFoundError
from graphrag.graph_store import open_graph_store
from graphrag.ids import chunk_id, entity_id, relation_id
from graphrag.indexing.loaders import document_from_text
from graphrag.types import Chunk, Entity, Extraction, Mention, Relation

BACKENDS = ["sqlite", "neo4j"]


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    settings = Settings.load(data_dir=tmp_path, graph_backend=request.param)
    # No skip for Neo4j: the test command starts a server, and a missing one must fail the suite loudly.
    graph_store = open_graph_store(settings)
    if request.param == "neo4j":
        graph_store.clear()
    yield graph_store
    graph_store.close()


def make_doc(key: str, text: str, facts: list[tuple[str, str, str]], tenant: str = "default"):
    """A document with one chunk and the given (subject, TYPE, object) facts mentioned in it."""
    doc = document_from_text(text, key=key, title=key, source=key, tenant=tenant, max_bytes=10**6)
    chunk = Chunk(chunk_id(doc.id, doc.sha256, 0), doc.id, 0, text, 0, len(text))
    entities: dict[str, Entity] = {}
    mentions, relations = [], []
    for subject, rel_type, obj in facts:
        source, target = entity_id(subject, tenant), entity_id(obj, tenant)
        for name, ent_id in ((subject, source), (obj, target)):
            ent = Entity(ent_id, name, "Organization" if "Corp" in name else "Person")
            entities[ent.id] = ent
            start = max(text.find(name), 0)
            mentions.append(Mention(ent.id, chunk.id, doc.id, start, start + len(name), name))
        rid = relation_id(source, rel_type, target)
        relations.append(
            Relation(rid, source, target, rel_type, 0.9, doc.id, (chunk.id,), f"{subject} {rel_type} {obj}")
        )
    return doc, [chunk], Extraction(tuple(entities.values()), tuple(relations), tuple(mentions))


FACTS_A = [("Ada", "FOUNDED", "Loom Corp"), ("Loom Corp", "ACQUIRED", "Weave Corp")]
FACTS_B = [("Ada", "FOUNDED", "Loom Corp"), ("Bob", "WORKS_FOR", "Weave Corp")]


def test_write_then_read_back(store):
    doc, chunks, extraction = make_doc("a", "Ada founded Loom Corp. Loom Corp acquired Weave Corp.", FACTS_A)
    store.write_documents([(doc, chunks, extraction)])
    assert store.document_version(doc.id) == doc.sha256
    assert store.get_document(doc.id).text == doc.text
    assert store.get_chunks([chunks[0].id])[0].text == chunks[0].text
    stats = store.stats()
    assert (stats.documents, stats.chunks, stats.entities, stats.relations) == (1, 1, 3, 2)
    assert {e.name for e in store.find_entities("loom")} == {"Loom Corp"}
    assert store.get_entities([entity_id("Ada")])[0].type == "Person"


def test_relation_types_are_the_distinct_types_of_the_tenants_relations(store):
    assert store.relation_types() == set()
    store.write_documents([make_doc("a", "Ada founded Loom Corp. Loom Corp acquired Weave Corp.", FACTS_A)])
    store.write_documents([make_doc("b", "Ada founded Loom Corp. Bob works for Weave Corp.", FACTS_B)])
    assert store.relation_types() == {"FOUNDED", "ACQUIRED", "WORKS_FOR"}


def test_a_loop_relation_is_stored_and_walked(store):
    facts = [("Rome", "CANONICAL_VERSION", "Rome"), ("Rome", "CONTAINEDBY", "Lazio")]
    store.write_documents([make_doc("r", "Rome is a recording of Rome, in Lazio.", facts)])
    assert store.stats().relations == 2
    assert {r.type for r in store.neighbors([entity_id("Rome")], hops=1)} == {"CANONICAL_VERSION", "CONTAINEDBY"}


def test_rewriting_the_same_document_changes_nothing(store):
    write = make_doc("a", "Ada founded Loom Corp. Loom Corp acquired Weave Corp.", FACTS_A)
    store.write_documents([write])
    before = store.stats()
    store.write_documents([write])
    assert store.stats() == before


def test_neighbors_and_paths(store):
    store.write_documents([make_doc("a", "Ada founded Loom Corp. Loom Corp acquired Weave Corp.", FACTS_A)])
    one_hop = store.neighbors([entity_id("Ada")], hops=1)
    assert {r.type for r in one_hop} == {"FOUNDED"}
    two_hops = store.neighbors([entity_id("Ada")], hops=2)
    assert {r.type for r in two_hops} == {"FOUNDED", "ACQUIRED"}
    only = store.neighbors([entity_id("Ada")], hops=2, relation_types=["ACQUIRED"])
    assert only == []  # the filter applies to every hop
    assert store.neighbors([entity_id("Ada")], hops=2, relation_types=["not a type!"]) == []
    paths = store.paths(entity_id("Ada"), entity_id("Weave Corp"), max_hops=3, k=3)
    assert paths and [n.name for n in paths[0].nodes] == ["Ada", "Loom Corp", "Weave Corp"]
    assert paths[0].text == "Ada —FOUNDED→ Loom Corp —ACQUIRED→ Weave Corp"
    assert store.paths(entity_id("Ada"), entity_id("Weave Corp"), max_hops=1, k=3) == []
    backwards = store.paths(entity_id("Weave Corp"), entity_id("Ada"), max_hops=3, k=1)[0]
    assert backwards.text == "Weave Corp ←ACQUIRED— Loom Corp ←FOUNDED— Ada"


def test_neighbors_inside_a_cached_block_match_those_outside(store):
    # A chain of four hops: a cached block may fetch two hops' adjacency at once; the walk must not change.
    chain = [
        ("Ada", "FOUNDED", "Loom Corp"),
        ("Loom Corp", "ACQUIRED", "Weave Corp"),
        ("Weave Corp", "OWNS", "Spool Corp"),
        ("Spool Corp", "SUPPLIES", "Bob"),
    ]
    store.write_documents(
        [
            make_doc(
                "a",
                "Ada founded Loom Corp. Loom Corp acquired Weave Corp. Weave Corp owns "
                "Spool Corp. Spool Corp supplies Bob.",
                chain,
            )
        ]
    )
    for hops, expected in ((1, {"FOUNDED"}), (2, {"FOUNDED", "ACQUIRED"}), (3, {"FOUNDED", "ACQUIRED", "OWNS"})):
        outside = store.neighbors([entity_id("Ada")], hops=hops)
        with store.cached_reads():
            inside = store.neighbors([entity_id("Ada")], hops=hops)
            again = store.neighbors([entity_id("Ada")], hops=hops)  # now served from the cache
        assert {r.type for r in outside} == expected
        assert sorted(r.id for r in inside) == sorted(r.id for r in again) == sorted(r.id for r in outside)
    with store.cached_reads():
        assert len(store.neighbors([entity_id("Ada")], hops=3, limit=2)) == 2


def test_chunks_mentioning_each_caps_per_entity_and_document_heads(store):
    store.write_documents(
        [
            make_doc("a", "Ada founded Loom Corp. Loom Corp acquired Weave Corp.", FACTS_A),
            make_doc("b", "Ada founded Loom Corp. Bob works for Weave Corp.", FACTS_B),
        ]
    )
    ada, loom, bob = entity_id("Ada"), entity_id("Loom Corp"), entity_id("Bob")
    both = sorted(store.chunks_mentioning_each([ada, loom, bob], per_entity=5))
    assert [e for e, _ in both].count(ada) == 2 and [e for e, _ in both].count(bob) == 1
    capped = store.chunks_mentioning_each([ada, loom, bob], per_entity=1)
    assert sorted(e for e, _ in capped) == sorted([ada, loom, bob])
    assert set(capped) <= set(both)
    heads = sorted(store.document_heads())
    assert sorted(title for _, title, _ in heads) == ["a", "b"]
    for document_id, _, chunk in heads:
        assert store.get_chunks([chunk])[0].document_id == document_id


def test_communities_are_stored_replaced_and_listed_by_rank(store):
    from graphrag.types import Community

    store.write_documents([make_doc("a", "Ada founded Loom Corp. Loom Corp acquired Weave Corp.", FACTS_A)])
    ada, loom, weave = entity_id("Ada"), entity_id("Loom Corp"), entity_id("Weave Corp")
    first = [
        Community("c2", 2, 2, "Ada and Loom Corp", "2 related entities.", (ada, loom), ("x",)),
        Community(
            "c1",
            1,
            3,
            "Loom Corp, Ada and Weave Corp",
            "3 related entities. Ada founded Loom Corp.",
            (loom, ada, weave),
            ("chunk-1", "chunk-2"),
        ),
    ]
    store.replace_communities(first)
    assert store.list_communities() == sorted(first, key=lambda c: c.rank)
    assert store.list_communities(limit=1) == [first[1]]
    assert {r.type for r in store.neighbors([ada], hops=2)} == {"FOUNDED", "ACQUIRED"}  # membership is no relation
    assert {r.type for r in store.all_relations()} == {"FOUNDED", "ACQUIRED"}
    store.replace_communities(first[:1])
    assert [c.id for c in store.list_communities()] == ["c2"]
    store.replace_communities([])
    assert store.list_communities() == []


def test_keyword_search_ignores_function_words_unless_that_is_all(store):
    store.write_documents(
        [
            make_doc("a", "Ada founded Loom Corp in Lindmark.", FACTS_A[:1]),
            make_doc("b", "The Who played in the hall of the town.", []),
        ]
    )
    hits = store.keyword_search("Who is the founder of the company in Lindmark?", 5)
    assert [store.get_chunks([h.id])[0].text[:3] for h in hits] == ["Ada"]  # "who", "the", "in" do not count
    assert store.keyword_search("The Who", 5)  # only function words: they are searched for after all


def test_connecting_paths_answers_every_pair_in_order(store):
    store.write_documents([make_doc("a", "Ada founded Loom Corp. Loom Corp acquired Weave Corp.", FACTS_A)])
    ada, loom, weave = entity_id("Ada"), entity_id("Loom Corp"), entity_id("Weave Corp")
    pairs = [(ada, weave), (weave, loom), (ada, ada), (ada, entity_id("Nobody"))]
    found = store.connecting_paths(pairs, max_hops=3, k=2)
    assert found == [store.paths(a, b, max_hops=3, k=2) for a, b in pairs]
    assert [p.text for p in found[1]] == ["Weave Corp ←ACQUIRED— Loom Corp"] and found[2] == found[3] == []


def test_mention_lookups_both_ways(store):
    doc, chunks, extraction = make_doc("a", "Ada founded Loom Corp. Loom Corp acquired Weave Corp.", FACTS_A)
    store.write_documents([(doc, chunks, extraction)])
    ada, loom, weave = entity_id("Ada"), entity_id("Loom Corp"), entity_id("Weave Corp")
    for reads in (store.cached_reads(), _no_block()):
        with reads:
            found = store.chunks_mentioning([loom, ada, entity_id("Nobody")])
            assert sorted(found) == sorted([(ada, chunks[0].id), (loom, chunks[0].id)])
            assert len(store.chunks_mentioning([loom, ada], limit=1)) == 1
            assert sorted(store.entities_in_chunks([chunks[0].id, "no-such-chunk"])) == sorted(
                (chunks[0].id, e) for e in (ada, loom, weave)
            )


def test_entity_names_are_the_same_inside_and_outside_a_cached_block(store):
    store.write_documents([make_doc("a", "Ada founded Loom Corp. Loom Corp acquired Weave Corp.", FACTS_A)])
    outside = sorted(store.entity_names())
    assert ("loom corp", entity_id("Loom Corp")) in outside and len(outside) == 3
    with store.cached_reads():
        assert sorted(store.entity_names()) == outside
        assert store.get_entities([entity_id("Weave Corp")])[0].name == "Weave Corp"


def _no_block():
    from contextlib import nullcontext

    return nullcontext()


def test_cached_reads_see_writes_made_between_blocks(store):
    first = make_doc("a", "Ada founded Loom Corp.", FACTS_A[:1])
    store.write_documents([first])
    ada = entity_id("Ada")
    with store.cached_reads() as version:
        assert store.get_entities([ada])[0].type == "Person"
        assert store.get_entities([ada])[0].type == "Person"  # served twice, same answer
        assert store.document_titles([first[0].id]) == {first[0].id: "a"}
    # Two more documents call Ada a place: the vote flips her type, and the next block must see it.
    for key in ("b", "c"):
        doc, chunks, extraction = make_doc(key, "Ada is lovely in spring.", [])
        mention = Mention(ada, chunks[0].id, doc.id, 0, 3, "Ada")
        store.write_documents([(doc, chunks, Extraction((Entity(ada, "Ada", "Location"),), (), (mention,)))])
    with store.cached_reads() as later:
        assert later() != version()
        assert store.get_entities([ada])[0].type == "Location"
        assert sorted(c for c, _ in store.entities_in_chunks([chunks[0].id])) == [chunks[0].id]


def test_delete_keeps_what_other_documents_support(store):
    doc_a = make_doc("a", "Ada founded Loom Corp. Loom Corp acquired Weave Corp.", FACTS_A)
    doc_b = make_doc("b", "Ada founded Loom Corp. Bob works for Weave Corp.", FACTS_B)
    store.write_documents([doc_a, doc_b])
    removed_chunks, removed_entities = store.delete_document(doc_a[0].id)
    assert removed_chunks == [doc_a[1][0].id]
    assert removed_entities == []  # every entity of A is still mentioned by B
    types = {r.type for r in store.neighbors([entity_id("Ada"), entity_id("Bob")], hops=3)}
    assert types == {"FOUNDED", "WORKS_FOR"}  # ACQUIRED was only supported by A
    assert store.get_document(doc_a[0].id) is None and store.stats().documents == 1
    removed_chunks, removed_entities = store.delete_document(doc_b[0].id)
    assert sorted(removed_entities) == sorted(entity_id(n) for n in ("Ada", "Bob", "Loom Corp", "Weave Corp"))
    assert store.stats().entities == 0 and store.stats().relations == 0 and store.stats().mentions == 0


def test_delete_unknown_document_is_not_found(store):
    with pytest.raises(NotFoundError):
        store.delete_document("doc_missing")


def test_replacing_a_changed_document_drops_stale_facts(store):
    store.write_documents([make_doc("a", "Ada founded Loom Corp. Loom Corp acquired Weave Corp.", FACTS_A)])
    changed = make_doc("a", "Ada founded Loom Corp.", FACTS_A[:1])
    removed_chunks, _ = store.write_documents([changed])
    assert len(removed_chunks) == 1
    assert store.stats().relations == 1 and store.stats().documents == 1
    assert {r.type for r in store.neighbors([entity_id("Ada")], hops=3)} == {"FOUNDED"}


def test_hostile_strings_are_stored_verbatim_and_searchable(store):
    nasty = ["Robert'); DROP TABLE entities;--", 'x" OR 1=1 --', "MATCH (n) DETACH DELETE n", "50% off_sale \\ NEAR"]
    facts = [(nasty[0], "KNOWS", nasty[1]), (nasty[2], "KNOWS", nasty[3])]
    store.write_documents([make_doc("n", " ".join(nasty), facts)])
    for name in nasty:
        found = store.find_entities(name)
        assert found and found[0].name == name
    for query in ['" OR "', "NEAR(a b)", "*", "DROP TABLE", "col:value ^"]:
        store.keyword_search(query, 5)  # FTS syntax in user text must never raise
    assert store.keyword_search("DROP TABLE", 5)
    assert store.stats().entities == 4


def test_keyword_search_ranks_matching_chunks(store):
    store.write_documents(
        [
            make_doc("a", "Ada founded Loom Corp in Lindmark.", FACTS_A[:1]),
            make_doc("b", "Bob works for Weave Corp.", FACTS_B[1:]),
        ]
    )
    hits = store.keyword_search("Who founded Loom?", 5)
    assert hits and store.get_chunks([hits[0].id])[0].text.startswith("Ada founded")


def test_entity_type_is_decided_by_vote(store):
    doc_a = make_doc("a", "Ada founded Loom Corp.", FACTS_A[:1])
    store.write_documents([doc_a])
    relabelled = Extraction(
        tuple(Entity(e.id, e.name, "Location" if e.name == "Ada" else e.type) for e in doc_a[2].entities),
        doc_a[2].relations,
        doc_a[2].mentions,
    )
    doc_b = make_doc("b", "Ada founded Loom Corp!", FACTS_A[:1])
    doc_c = make_doc("c", "Ada founded Loom Corp?", FACTS_A[:1])
    store.write_documents([doc_b, (doc_c[0], doc_c[1], relabelled)])
    assert store.get_entities([entity_id("Ada")])[0].type == "Person"  # two Person votes beat one Location


def test_integrity_check_is_clean_after_writes_and_deletes_and_sees_a_planted_orphan(store):
    store.write_documents(
        [
            make_doc("a", "Ada founded Loom Corp. Loom Corp acquired Weave Corp.", FACTS_A),
            make_doc("b", "Ada founded Loom Corp. Bob works for Weave Corp.", FACTS_B),
        ]
    )
    store.delete_document(make_doc("a", "Ada founded Loom Corp. Loom Corp acquired Weave Corp.", FACTS_A)[0].id)
    assert set(store.integrity_problems().values()) == {0}
    # An entity no document contributes and no relation touches: written behind the store's back.
    if hasattr(store, "_db"):  # the embedded store
        with store._lock:
            store._db.execute("INSERT INTO entities VALUES ('ent_planted', 'Planted', 'Person')")
    else:
        store._run("CREATE (:Entity {id: 'ent_planted', name: 'Planted', type: 'Person', tenant: $tenant})")
    assert store.integrity_problems()["orphan_entities"] == 1


def test_a_classified_relation_keeps_its_property_labels_and_evidence_offsets(store):
    text = "Ada founded Loom Corp in 1990."
    doc, chunks, extraction = make_doc("p", text, [("Loom Corp", "FOUNDED_BY", "Ada")])
    (relation,) = extraction.relations
    labelled = dataclasses.replace(
        relation,
        property_id="P112",
        label="founded by",
        inverse_label="founder of",
        sentence=text,
        sentence_start=0,
        sentence_end=len(text),
    )
    store.write_documents([(doc, chunks, dataclasses.replace(extraction, relations=(labelled,)))])
    (read,) = store.neighbors([entity_id("Loom Corp")], hops=1)
    assert (read.property_id, read.label, read.inverse_label) == ("P112", "founded by", "founder of")
    assert doc.text[read.sentence_start : read.sentence_end] == read.sentence == text
    store.write_documents([make_doc("q", "Bob works for Weave Corp.", [("Bob", "WORKS_FOR", "Weave Corp")])])
    (plain,) = store.neighbors([entity_id("Bob")], hops=1)
    assert plain.property_id == "" and plain.sentence_start == -1  # a rule's relation has neither
