"""Tenants over HTTP, on both backends, against a real uvicorn on 127.0.0.1: API keys made with the CLI, two tenants
writing contradicting facts about the same names, and every endpoint answering each caller from its own tenant only.
Keys: missing, unknown and revoked ones are refused with the error envelope."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.graph_store.test_graph_store_contract import BACKENDS
from tests.servers import free_port, stopped_after, wait_until_healthy

CLI = [sys.executable, "-m", "graphrag"]
FACTS = {
    "acme": (
        "Ada Marsh founded Loom Corp in 2001. Loom Corp is headquartered in Lindmark. "
        "Loom Corp acquired Weave Corp in 2010. Ada Marsh studied at Kestrel University."
    ),
    "globex": (
        "Bruno Vale founded Loom Corp in 1987. Loom Corp is headquartered in Ostrava. "
        "Weave Corp acquired Loom Corp in 1999. Bruno Vale studied at Harrow Institute."
    ),
}
FOREIGN = {"acme": ("Bruno", "Vale", "Ostrava", "Harrow"), "globex": ("Ada ", "Marsh", "Lindmark", "Kestrel")}


def _cli(env, *args) -> str:
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module", params=BACKENDS)
def deployment(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(f"tenants-{request.param}")
    port = free_port()
    env = {
        **os.environ,
        "GRAPHRAG_DATA_DIR": str(data_dir),
        "GRAPHRAG_PORT": str(port),
        "GRAPHRAG_HOST": "127.0.0.1",
        "GRAPHRAG_GRAPH_BACKEND": request.param,
    }
    if request.param == "neo4j":
        from graphrag import Settings
        from graphrag.graph_store import open_graph_store

        store = open_graph_store(Settings.load(graph_backend="neo4j"))
        store.clear()
        store.close()
    keys = {
        tenant: json.loads(_cli(env, "keys", "create", "--tenant", tenant, "--name", f"{tenant} analyst"))
        for tenant in FACTS
    }
    server = subprocess.Popen([*CLI, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    clients = {
        tenant: httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=60, headers={"Authorization": f"Bearer {record['key']}"}
        )
        for tenant, record in keys.items()
    }
    with stopped_after(server):
        wait_until_healthy(clients["acme"], server)
        for tenant, client in clients.items():
            created = client.post("/v1/documents", json={"text": FACTS[tenant], "title": "Loom Corp", "id": "loom"})
            assert created.status_code == 201, created.text
        yield {"env": env, "keys": keys, "clients": clients, "port": port}
    for client in clients.values():
        client.close()


def _clean(tenant: str, response: httpx.Response, asked: str = "") -> dict:
    """The response's JSON, after checking it names nothing of the other tenant's (but what the caller itself
    asked about, which a query echoes back)."""
    assert response.status_code == 200, response.text
    foreign = [word for word in FOREIGN[tenant] if word not in asked]
    assert not any(word in response.text for word in foreign), (tenant, response.request.url, response.text[:500])
    return response.json()


def _entity(client, name: str) -> dict:
    found = client.get("/v1/entities", params={"q": name}).json()
    return next(e for e in found if e["name"] == name)


def test_each_tenant_reads_only_its_own_graph(deployment):
    clients = deployment["clients"]
    ids = {
        tenant: {"loom": _entity(c, "Loom Corp")["id"], "weave": _entity(c, "Weave Corp")["id"]}
        for tenant, c in clients.items()
    }
    assert ids["acme"]["loom"] != ids["globex"]["loom"]
    for tenant, client in clients.items():
        health = _clean(tenant, client.get("/v1/health"))
        assert health["tenant"] == tenant and health["documents"] == 1
        answer = _clean(tenant, client.post("/v1/query", json={"question": "Who founded Loom Corp?"}))
        assert answer["answer"] == ("Ada Marsh" if tenant == "acme" else "Bruno Vale")
        assert answer["citations"]
        for question in (
            "Where is Loom Corp headquartered?",
            "How is Loom Corp connected to Weave Corp?",
            "Who studied at Harrow Institute?",
            "What are the main themes?",
        ):
            _clean(tenant, client.post("/v1/query", json={"question": question}), asked=question)
        mine = ids[tenant]
        _clean(tenant, client.get("/v1/entities", params={"q": "o", "limit": 100}))
        _clean(tenant, client.get(f"/v1/entities/{mine['loom']}/neighbors", params={"hops": 3}))
        _clean(tenant, client.get("/v1/paths", params={"source": mine["loom"], "target": mine["weave"]}))
        communities = _clean(tenant, client.get("/v1/communities", params={"limit": 100}))["communities"]
        members = {entity for c in communities for entity in c["entity_ids"]}
        assert communities and mine["loom"] in members
        # every member is one of the caller's own entities (another tenant's id would be a 404)
        assert all(client.get(f"/v1/entities/{entity}").status_code == 200 for entity in members)
        document_id = answer["citations"][0]["document_id"]
        assert _clean(tenant, client.get(f"/v1/documents/{document_id}"))["text"] == FACTS[tenant]


def test_another_tenants_ids_are_not_found(deployment):
    acme, globex = deployment["clients"]["acme"], deployment["clients"]["globex"]
    theirs = _entity(globex, "Loom Corp")["id"]
    their_doc = globex.post("/v1/query", json={"question": "Who founded Loom Corp?"}).json()["citations"][0][
        "document_id"
    ]
    for response in (
        acme.get(f"/v1/entities/{theirs}"),
        acme.get(f"/v1/entities/{theirs}/neighbors"),
        acme.get("/v1/paths", params={"source": theirs, "target": _entity(acme, "Loom Corp")["id"]}),
        acme.get(f"/v1/documents/{their_doc}"),
        acme.delete(f"/v1/documents/{their_doc}"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    assert globex.get(f"/v1/documents/{their_doc}").status_code == 200  # the failed delete changed nothing


def test_same_title_and_id_in_two_tenants_stay_two_documents(deployment):
    acme, globex = deployment["clients"]["acme"], deployment["clients"]["globex"]
    replaced = acme.post("/v1/documents", json={"text": FACTS["acme"] + " Loom Corp sells looms.", "id": "loom"})
    assert replaced.status_code == 201, replaced.text
    assert globex.get("/v1/health").json()["documents"] == 1
    answer = _clean("globex", globex.post("/v1/query", json={"question": "Who founded Loom Corp?"}))
    assert answer["answer"] == "Bruno Vale"
    acme.post("/v1/documents", json={"text": FACTS["acme"], "id": "loom"})  # back as it was for the other tests


def test_keys_missing_unknown_or_revoked_are_refused(deployment):
    base = f"http://127.0.0.1:{deployment['port']}"
    with httpx.Client(base_url=base, timeout=30) as anonymous:
        missing = anonymous.post("/v1/query", json={"question": "Who founded Loom Corp?"})
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
        forged = anonymous.get("/v1/health", headers={"X-API-Key": "grk_000000000000_" + "A" * 43})
        assert forged.status_code == 401 and forged.json()["error"]["code"] == "unauthorized"
        junk = anonymous.get("/v1/health", headers={"Authorization": "Bearer ' OR 1=1 --"})
        assert junk.status_code == 401
        # the schema stays public: clients need it to learn how to authenticate
        assert anonymous.get("/schema/openapi.json").status_code == 200
    extra = json.loads(_cli(deployment["env"], "keys", "create", "--tenant", "acme"))
    with httpx.Client(base_url=base, timeout=30, headers={"X-API-Key": extra["key"]}) as holder:
        assert holder.get("/v1/health").json()["tenant"] == "acme"
        _cli(deployment["env"], "keys", "revoke", extra["id"])
        revoked = holder.get("/v1/health")
        assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "unauthorized"
    listed = json.loads(_cli(deployment["env"], "keys", "list"))
    assert {k["tenant"] for k in listed} == {"acme", "globex"} and all("key" not in k for k in listed)
    stored = b"".join(path.read_bytes() for path in Path(deployment["env"]["GRAPHRAG_DATA_DIR"]).glob("keys.sqlite3*"))
    assert stored and not any(record["key"].encode() in stored for record in deployment["keys"].values())


def test_open_mode_refuses_to_listen_beyond_this_machine(tmp_path):
    env = {**os.environ, "GRAPHRAG_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [*CLI, "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "open mode is for 127.0.0.1 only" in result.stderr, result.stderr


def _wait_for(client, url: str) -> dict:
    deadline = time.monotonic() + 120
    while (job := client.get(url).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


def test_ingest_jobs_belong_to_their_tenant_and_report_bad_files(deployment):
    acme, globex = deployment["clients"]["acme"], deployment["clients"]["globex"]
    lines = [
        json.dumps({"id": f"memo-{i}", "text": f"Ada Marsh wrote memo {i} about Loom Corp in Lindmark."})
        for i in range(5)
    ]
    accepted = acme.post(
        "/v1/documents",
        params={"mode": "async"},
        files={"file": ("memos.jsonl", "\n".join(lines).encode(), "application/jsonl")},
    )
    assert accepted.status_code == 202, accepted.text
    url = accepted.headers["location"]
    assert globex.get(url).status_code == 404  # another tenant cannot even see that the job exists
    job = _wait_for(acme, url)
    assert job["status"] == "succeeded" and job["report"]["documents_added"] == 5, job
    assert _clean("acme", acme.get("/v1/health"))["documents"] >= 6
    assert globex.get("/v1/health").json()["documents"] == 1
    facts = acme.post(
        "/v1/documents",
        params={"mode": "async"},
        files={"file": ("facts.csv", b"subject,relation,object\nAda Marsh,mentors,Cora Lind\n", "text/csv")},
    )
    triples_job = _wait_for(acme, facts.headers["location"])
    assert triples_job["status"] == "succeeded" and triples_job["report"]["triples"] == 1, triples_job
    assert [e["name"] for e in acme.get("/v1/entities", params={"q": "Cora Lind"}).json()] == ["Cora Lind"]
    assert globex.get("/v1/entities", params={"q": "Cora Lind"}).json() == []
    binary = acme.post(
        "/v1/documents", params={"mode": "async"}, files={"file": ("blob.txt", b"\x00\x01\x02\xff" * 100, "text/plain")}
    )
    failed = _wait_for(acme, binary.headers["location"])
    assert failed["status"] == "failed" and "binary" in failed["error"], failed
    for doc_id in job["report"]["document_ids"]:  # leave the tenant as the other tests expect it
        assert acme.delete(f"/v1/documents/{doc_id}").status_code == 204


def test_the_neighbourhood_cypher_shows_the_same_subgraph_in_neo4j(deployment):
    """On Neo4j the neighbourhood comes with the Cypher the analyst page links the Neo4j Browser to; run here, it
    returns the entities the API returned, all of them the caller's own."""
    client = deployment["clients"]["acme"]
    loom = _entity(client, "Loom Corp")["id"]
    body = _clean("acme", client.get(f"/v1/entities/{loom}/neighbors", params={"hops": 2, "limit": 100}))
    if deployment["env"]["GRAPHRAG_GRAPH_BACKEND"] != "neo4j":
        assert body["cypher"] is None
        return
    from graphrag import Settings
    from graphrag.graph_store import open_graph_store

    store = open_graph_store(Settings.load(graph_backend="neo4j"))
    try:
        with store._driver.session(database=store._database) as session:
            paths = [record["p"] for record in session.run(body["cypher"])]
    finally:
        store.close()
    drawn = {node["id"] for path in paths for node in path.nodes}
    names = {node["name"] for path in paths for node in path.nodes}
    assert drawn == {e["id"] for e in body["entities"]} and loom in drawn
    assert not names & {"Bruno Vale", "Ostrava", "Harrow Institute"}
