"""Two API replicas over one Neo4j (graph, vectors, keys, jobs and rate limits all in it), each a real
``graphrag serve`` on 127.0.0.1 with its own data directory, as if on two hosts: keys, documents, tenants, rate
limits and ingest jobs are shared; a job survives the SIGKILL of the replica running it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from graphrag import Settings
from graphrag.graph_store import open_graph_store
from graphrag.graph_store.neo4j_driver import Neo4jClient
from tests.servers import free_port, stopped_after, wait_until_healthy

CLI = [sys.executable, "-m", "graphrag"]
RATE_LIMIT = 400
FIRST = ("Ada", "Bruno", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas")
LAST = ("Marsh", "Vale", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak", "Quinn", "Rahman", "Sato")
CITIES = ("Lindmark", "Ostrava", "Porto", "Tartu", "Gdansk", "Lyon", "Turku", "Bergen", "Graz", "Split")


def _cli(env: dict, *args: str) -> str:
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _corpus(count: int) -> bytes:
    """``count`` JSONL documents, a few sentences each, so the job runs for many steps."""
    lines = []
    for n in range(count):
        person = f"{FIRST[n % 10]} {LAST[(n // 10) % 10]}"
        company = f"{LAST[n % 10]} {CITIES[(n // 10) % 10]} Works {n}"
        text = (
            f"{person} founded {company} in {1950 + n % 60}. {company} is headquartered in {CITIES[n % 10]}. "
            f"{person} studied at the University of {CITIES[(n + 3) % 10]}. {company} makes looms and ropes. "
            f"In {1990 + n % 30}, {company} opened a second plant in {CITIES[(n + 5) % 10]}."
        )
        lines.append(json.dumps({"id": f"works-{n}", "title": company, "text": text}))
    return ("\n".join(lines) + "\n").encode()


def _start(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, "serve"],
        env={**env, "GRAPHRAG_PORT": str(port), "GRAPHRAG_DATA_DIR": env["GRAPHRAG_DATA_DIR"] + f"-{port}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    settings = Settings.load(graph_backend="neo4j", vector_backend="neo4j")
    store = open_graph_store(settings)
    store.clear()  # every tenant's graph, and the keys, jobs and counts beside it
    store.close()
    env = {
        **os.environ,
        "GRAPHRAG_DATA_DIR": str(tmp_path_factory.mktemp("replica")),
        "GRAPHRAG_HOST": "127.0.0.1",
        "GRAPHRAG_GRAPH_BACKEND": "neo4j",
        "GRAPHRAG_VECTOR_BACKEND": "neo4j",
        "GRAPHRAG_JOB_LEASE_S": "4",
        "GRAPHRAG_JOB_STEP_CHUNKS": "2",
        "GRAPHRAG_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
    }
    keys = {
        name: json.loads(_cli(env, "keys", "create", "--tenant", tenant, "--name", name))
        for name, tenant in (("acme", "acme"), ("globex", "globex"), ("temp", "acme"), ("burst", "globex"))
    }
    ports = {"a": free_port(), "b": free_port()}
    servers = {name: _start(env, port) for name, port in ports.items()}

    def client(replica: str, key: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {keys[key]['key']}"}
        return httpx.Client(base_url=f"http://127.0.0.1:{ports[replica]}", timeout=60, headers=headers)

    with contextlib.ExitStack() as stack:  # a replica that started is stopped whatever fails
        for server in servers.values():
            stack.enter_context(stopped_after(server))
        for name in servers:
            wait_until_healthy(client(name, "acme"), servers[name], timeout_s=240)
        neo4j = Neo4jClient.open(settings)
        stack.callback(neo4j.close)
        yield {"env": env, "keys": keys, "servers": servers, "client": client, "neo4j": neo4j}


def test_a_key_made_once_works_on_both_and_a_revoke_reaches_both(replicas):
    client = replicas["client"]
    for replica in ("a", "b"):
        health = client(replica, "temp").get("/v1/health")
        assert health.status_code == 200 and health.json()["tenant"] == "acme"
    _cli(replicas["env"], "keys", "revoke", replicas["keys"]["temp"]["id"])
    for replica in ("a", "b"):
        refused = client(replica, "temp").get("/v1/health")
        assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]


def test_a_document_stored_through_one_is_answered_by_the_other_for_its_tenant_only(replicas):
    client = replicas["client"]
    stored = client("a", "acme").post(
        "/v1/documents",
        json={
            "id": "loom",
            "title": "Loom Corp",
            "text": "Ada Marsh founded Loom Corp in 2001. Loom Corp is "
            "headquartered in Lindmark. Loom Corp acquired Weave Corp in 2010.",
        },
    )
    assert stored.status_code == 201, stored.text
    document_id = stored.json()["document_ids"][0]
    answer = client("b", "acme").post("/v1/query", json={"question": "Who founded Loom Corp?"}).json()
    assert answer["answer"] == "Ada Marsh" and answer["citations"][0]["document_id"] == document_id
    # the other tenant sees none of it, on either replica
    for replica in ("a", "b"):
        globex = client(replica, "globex")
        assert globex.get(f"/v1/documents/{document_id}").status_code == 404
        theirs = globex.post("/v1/query", json={"question": "Who founded Loom Corp?"}).json()
        assert "Ada Marsh" not in json.dumps(theirs) and theirs["abstained"]
        assert globex.get("/v1/health").json()["documents"] == 0


def test_rate_limits_count_requests_on_both_replicas_together(replicas):
    client = replicas["client"]
    a, b = client("a", "burst"), client("b", "burst")
    for n in range(RATE_LIMIT):
        response = (a if n % 2 else b).get("/v1/health")
        assert response.status_code == 200, (n, response.text)
    for replica in (a, b):  # each replica has seen half the limit; together they reached it
        refused = replica.get("/v1/health")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def _lease_owner(neo4j: Neo4jClient, job_id: str) -> tuple[str | None, int]:
    rows = neo4j.run(
        "MATCH (j:GraphRAGJob {id: $id}) RETURN j.lease_owner AS owner, j.documents_done AS done", id=job_id
    )
    return rows[0]["owner"], rows[0]["done"]


def _wait_for(client: httpx.Client, job_id: str, statuses: set[str], timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(1.0)
    pytest.fail(f"job {job_id} still {job['status']} after {timeout_s} s: {job}")


def test_a_job_submitted_to_one_finishes_on_the_other_after_a_sigkill(replicas):
    client, neo4j = replicas["client"], replicas["neo4j"]
    server_a = replicas["servers"]["a"]
    count = 120
    before = client("b", "acme").get("/v1/health").json()["documents"]
    # Replica a is woken by its own upload; b looks for work once a second, so a almost always claims it. Should b
    # claim it first, that job runs to its end there and a fresh one is submitted.
    for _attempt in range(3):
        job = client("a", "acme").post(
            "/v1/documents", params={"mode": "async"}, files={"file": ("works.jsonl", _corpus(count))}
        )
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            owner, done = _lease_owner(neo4j, job_id)
            if owner is not None and done >= 3:
                break
            time.sleep(0.1)
        if owner is not None and f":{server_a.pid}:" in owner:
            break
        _wait_for(client("b", "acme"), job_id, {"succeeded"}, 300)
    else:
        pytest.fail("replica b claimed every job first")
    polled = client("b", "acme").get(f"/v1/jobs/{job_id}").json()
    assert polled["status"] == "running" and 3 <= polled["documents_done"] < count, polled
    server_a.send_signal(signal.SIGKILL)
    server_a.wait(timeout=30)
    finished = _wait_for(client("b", "acme"), job_id, {"succeeded", "failed"}, 300)
    assert finished["status"] == "succeeded", finished
    assert finished["resumed"] >= 1
    report = finished["report"]
    assert report["documents_unchanged"] >= 3  # what a stored before it died is not ingested twice
    assert report["documents_added"] + report["documents_unchanged"] == count
    health = client("b", "acme").get("/v1/health").json()
    assert health["documents"] == before + count  # each of the job's documents once
    env = {**replicas["env"], "GRAPHRAG_DATA_DIR": replicas["env"]["GRAPHRAG_DATA_DIR"] + "-check"}
    for tenant in ("acme", "globex"):
        checked = json.loads(_cli(env, "--tenant", tenant, "check"))
        assert checked["ok"], checked
