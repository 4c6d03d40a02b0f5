"""Property: whatever the interleaving of ingests, deletes and questions by two tenants, on either backend, a
tenant's retrieval, answers, entity lookups and communities never hold anything of the other tenant.

The tenants write about the same company ("Loom Corp") with contradicting facts; each tenant's documents carry a
marker word and a founder's name that appear nowhere in the other tenant's, so any leak is visible as text."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrag import Engine, Settings
from tests.graph_store.test_graph_store_contract import BACKENDS

TENANTS = {
    "acme": {"founder": "Ada Marsh", "city": "Lindmark", "marker": "zorblat"},
    "globex": {"founder": "Bruno Vale", "city": "Ostrava", "marker": "quimper"},
}
QUESTIONS = (
    "Who founded Loom Corp?",
    "Where is Loom Corp headquartered?",
    "zorblat quimper",
    "How is Loom Corp connected to Weave Corp?",
    "What are the main themes?",
)


def _text(tenant: str, number: int) -> str:
    facts = TENANTS[tenant]
    return (
        f"{facts['founder']} founded Loom Corp in {1990 + number}. Loom Corp is headquartered in {facts['city']}. "
        f"Loom Corp acquired Weave Corp {number} times. The {facts['marker']} ledger number {number} says so."
    )


@pytest.fixture(params=BACKENDS)
def engines(request, tmp_path, real_embedder):
    base = Engine.from_settings(
        Settings.load(data_dir=tmp_path, graph_backend=request.param, tenant="acme"), embedder=real_embedder
    )
    if request.param == "neo4j":
        base.store.clear()
    other = base.for_tenant("globex")
    yield {"acme": base, "globex": other}
    other.close()
    base.close()


def _foreign_words(tenant: str) -> tuple[str, ...]:
    return tuple(value for name, facts in TENANTS.items() if name != tenant for value in facts.values())


def _check_isolated(engines: dict[str, Engine], live: dict[str, dict[int, str]]) -> None:
    for tenant, engine in engines.items():
        foreign = _foreign_words(tenant)
        own_docs = set(live[tenant].values())
        assert engine.stats().documents == len(own_docs)
        for question in QUESTIONS:
            answer = engine.ask(question)
            retrieval = engine.retrieve(question)
            texts = [answer.text, *(c.text for c in answer.citations), *(e.chunk.text for e in retrieval.evidence)]
            texts += [e.name for p in answer.paths for e in p.nodes]
            assert not any(word in text for word in foreign for text in texts), (tenant, question, texts)
            assert {c.document_id for c in answer.citations} <= own_docs
            assert {e.chunk.document_id for e in retrieval.evidence} <= own_docs
        names = [e.name for e in engine.store.find_entities("a", limit=100)]
        assert not any(word in name for word in foreign for name in names)
        summaries = [c.title + c.summary for c in engine.communities(100)]
        assert not any(word in text for word in foreign for text in summaries)


OPERATIONS = st.lists(
    st.tuples(st.sampled_from(sorted(TENANTS)), st.sampled_from(["ingest", "delete"]), st.integers(0, 3)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_random_interleavings_never_leak(engines, operations):
    for engine in engines.values():  # each example starts from empty stores (the fixture is shared)
        for document in engine.store.list_documents(limit=1000):
            engine.delete_document(document.id)
    live: dict[str, dict[int, str]] = {tenant: {} for tenant in TENANTS}
    for tenant, operation, number in operations:
        engine = engines[tenant]
        if operation == "ingest":
            report = engine.ingest_text(
                _text(tenant, number), title=f"{tenant} ledger {number}", doc_id=f"ledger-{number}"
            )
            live[tenant][number] = report.document_ids[0]
        elif number in live[tenant]:
            engine.delete_document(live[tenant].pop(number))
        _check_isolated(engines, live)
