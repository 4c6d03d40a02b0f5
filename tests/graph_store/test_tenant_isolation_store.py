"""Tenant isolation at the GraphStore level, for every backend: two tenants in one data directory (embedded) or
one database (Neo4j), with overlapping entity names and contradicting facts. Every read made for one tenant sees
only that tenant's documents, chunks, entities, relations and communities."""

from __future__ import annotations

import pytest

from graphrag import Settings
from graphrag.errors import NotFoundError, StoreError
from graphrag.graph_store import open_graph_store
from graphrag.ids import entity_id
from graphrag.types import Community
from tests.graph_store.test_graph_store_contract import BACKENDS, make_doc

TEXT_A = "Ada founded Loom Corp. Loom Corp acquired Weave Corp."
TEXT_B = "Bob founded Loom Corp. Weave Corp acquired Loom Corp. Ada works for Weave Corp."
FACTS_A = [("Ada", "FOUNDED", "Loom Corp"), ("Loom Corp", "ACQUIRED", "Weave Corp")]
FACTS_B = [("Bob", "FOUNDED", "Loom Corp"), ("Weave Corp", "ACQUIRED", "Loom Corp"), ("Ada", "WORKS_FOR", "Weave Corp")]


@pytest.fixture(params=BACKENDS)
def tenants(request, tmp_path):
    base = Settings.load(data_dir=tmp_path, graph_backend=request.param)
    acme, globex = (open_graph_store(base.for_tenant(name)) for name in ("acme", "globex"))
    if request.param == "neo4j":
        acme.clear()
    yield acme, globex
    acme.close()
    globex.close()


def _written(acme, globex):
    doc_a, doc_b = make_doc("report", TEXT_A, FACTS_A, "acme"), make_doc("report", TEXT_B, FACTS_B, "globex")
    acme.write_documents([doc_a])
    globex.write_documents([doc_b])
    return doc_a, doc_b


def _ids(doc_write):
    doc, chunks, extraction = doc_write
    return {
        doc.id,
        *(c.id for c in chunks),
        *(e.id for e in extraction.entities),
        *(r.id for r in extraction.relations),
    }


def test_same_names_make_separate_entities_and_documents(tenants):
    acme, globex = tenants
    doc_a, doc_b = _written(acme, globex)
    assert not _ids(doc_a) & _ids(doc_b)  # same key, same names: nothing shared
    assert len({entity_id("Loom Corp", "acme"), entity_id("Loom Corp", "globex"), entity_id("Loom Corp")}) == 3


def test_every_read_sees_only_the_callers_tenant(tenants):
    acme, globex = tenants
    doc_a, doc_b = _written(acme, globex)
    mine, theirs = _ids(doc_a), _ids(doc_b)
    loom = entity_id("Loom Corp", "acme")
    their_loom, their_bob = entity_id("Loom Corp", "globex"), entity_id("Bob", "globex")
    their_chunk = doc_b[1][0].id

    assert (acme.stats().documents, acme.stats().relations) == (1, 2)
    assert (globex.stats().documents, globex.stats().relations) == (1, 3)
    assert [e.id for e in acme.find_entities("loom")] == [loom]
    assert acme.find_entities("bob") == []
    assert {i for _, i in acme.entity_names()} <= mine and {i for _, i in globex.entity_names()} <= theirs
    assert acme.get_entities([their_loom, their_bob]) == []
    assert acme.get_chunks([their_chunk]) == []
    assert acme.get_document(doc_b[0].id) is None and acme.document_version(doc_b[0].id) is None
    assert [d.id for d in acme.list_documents()] == [doc_a[0].id]
    assert acme.document_titles([doc_b[0].id]) == {}
    assert {r.id for r in acme.neighbors([loom], 3)} == {r.id for r in doc_a[2].relations}
    assert acme.neighbors([their_loom], 2) == []
    assert acme.paths(their_bob, their_loom, 3, 3) == []
    assert {r.id for r in acme.all_relations()} == {r.id for r in doc_a[2].relations}
    assert {c for _, c in acme.chunks_mentioning([loom, their_loom])} == {doc_a[1][0].id}
    assert acme.chunks_mentioning_each([their_loom], 5) == []
    assert acme.entities_in_chunks([their_chunk]) == []
    assert [h for h in acme.document_heads()] == [(doc_a[0].id, doc_a[0].title, doc_a[1][0].id)]
    assert acme.keyword_search("Bob", 10) == [] and globex.keyword_search("Bob", 10)
    assert {h.id for h in acme.keyword_search("Loom Corp acquired", 10)} == {doc_a[1][0].id}
    assert acme.chunk_ids() == {doc_a[1][0].id} and acme.entity_ids() <= mine
    with acme.cached_reads():
        assert acme.get_entities([their_loom]) == [] and acme.neighbors([their_loom], 3) == []


def test_writes_and_deletes_stay_inside_the_tenant(tenants):
    acme, globex = tenants
    doc_a, doc_b = _written(acme, globex)
    with pytest.raises(NotFoundError):
        acme.delete_document(doc_b[0].id)
    with pytest.raises(StoreError):
        acme.write_documents([make_doc("other", "Bob founded Loom Corp.", FACTS_B[:1], "globex")])
    mine = Community(
        "community_acme",
        1,
        3,
        "Ada, Loom Corp and Weave Corp",
        "acme summary",
        tuple(sorted(e.id for e in doc_a[2].entities)),
        (doc_a[1][0].id,),
    )
    theirs = Community(
        "community_globex",
        1,
        4,
        "Bob, Loom Corp, Weave Corp and Ada",
        "globex summary",
        tuple(sorted(e.id for e in doc_b[2].entities)),
        (doc_b[1][0].id,),
    )
    globex.replace_communities([theirs])
    acme.replace_communities([mine])
    assert acme.list_communities() == [mine] and globex.list_communities() == [theirs]
    acme.delete_document(doc_a[0].id)
    assert acme.stats().documents == 0 and acme.all_relations() == []
    assert globex.stats().documents == 1 and len(globex.all_relations()) == 3
    assert globex.get_document(doc_b[0].id).text == TEXT_B
