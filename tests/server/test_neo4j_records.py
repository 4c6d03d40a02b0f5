"""The server's records in Neo4j (API keys, ingest jobs with leases, rate-limit counts), against the test Neo4j:
what lets API replicas share one data set. The two-server test (test_replicas.py) runs them end to end."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from graphrag import Settings
from graphrag.errors import InputError, NotFoundError
from server.neo4j_job_store import Neo4jJobStore
from server.neo4j_rate_limits import Neo4jRateLimitStore
from server.state import open_key_store, open_server_records

LABELS = ("GraphRAGApiKey", "GraphRAGJob", "GraphRAGJobInput", "GraphRAGRateLimit")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.load(data_dir=tmp_path, graph_backend="neo4j", vector_backend="neo4j")


@pytest.fixture
def records(settings):
    opened = open_server_records(settings)
    opened.keys.client.run("MATCH (n) WHERE any(l IN labels(n) WHERE l IN $labels) DETACH DELETE n", labels=LABELS)
    yield opened
    opened.close()


def test_records_live_in_neo4j_only_when_graph_and_vectors_do(tmp_path):
    assert open_server_records(Settings.load(data_dir=tmp_path)).where == "sqlite"
    assert open_server_records(Settings.load(data_dir=tmp_path, graph_backend="neo4j")).where == "sqlite"
    shared = open_server_records(Settings.load(data_dir=tmp_path, graph_backend="neo4j", vector_backend="neo4j"))
    try:
        assert shared.where == "neo4j" and shared.rate_limits is not None
    finally:
        shared.close()


def test_the_start_up_line_says_where_keys_live_and_names_keys_left_behind(records, settings):
    from server.api_keys import ApiKeyStore
    from server.app import startup_mode

    assert "kept in Neo4j" in startup_mode(settings) and startup_mode(settings).startswith("open mode")
    ApiKeyStore(settings.keys_path).create("acme")  # a key made while the keys were in SQLite
    line = startup_mode(settings)
    assert str(settings.keys_path) in line and "create them again" in line


def test_keys_made_by_one_store_are_checked_by_another(records, settings):
    assert not records.keys.any_active()
    record, key = records.keys.create("acme", "analyst")
    other = open_key_store(settings)  # another process or replica: its own connection, same Neo4j
    try:
        assert other.any_active() and other.tenant_for(key) == "acme"
        assert other.tenant_for(key[:-1] + ("A" if key[-1] != "A" else "B")) is None  # a wrong secret
        assert other.tenant_for("not-a-key") is None
        assert [k.id for k in other.list()] == [record.id]
        revoked = other.revoke(record.id)
        assert revoked.revoked_at is not None and not revoked.active
        assert records.keys.tenant_for(key) is None and not records.keys.any_active()
        assert other.revoke(record.id).revoked_at == revoked.revoked_at  # revoking twice keeps the first time
        with pytest.raises(NotFoundError):
            other.revoke("000000000000")
        with pytest.raises(InputError):
            other.create("bad tenant!")
    finally:
        other.close()


def test_a_job_keeps_its_upload_and_is_claimed_once(records):
    data = bytes(range(256)) * 9000  # 2.2 MiB: three parts
    job = records.jobs.create("acme", "big.jsonl", data)
    assert records.jobs.get(job.id, "acme").status == "queued"
    assert records.jobs.get(job.id, "globex") is None  # another tenant's job is not found
    claimed = records.jobs.claim()
    assert claimed.id == job.id and claimed.status == "running" and claimed.resumed == 0
    assert records.jobs.read_input(claimed) == data
    assert records.jobs.claim() is None  # held under a live lease
    assert records.jobs.progress(job.id, 3, 10) is True
    assert records.jobs.finish(job.id, {"documents_added": 10}) is True
    done = records.jobs.get(job.id, "acme")
    assert (done.status, done.documents_done, done.report) == ("succeeded", 3, {"documents_added": 10})
    assert records.jobs.read_input(done) == b""  # the kept upload is gone with the job done


def test_a_lapsed_lease_passes_the_job_to_another_replica(records):
    first = Neo4jJobStore(records.keys.client, lease_s=1.0, owner="replica-a")
    second = Neo4jJobStore(records.keys.client, lease_s=30.0, owner="replica-b")
    job = first.create("acme", "notes.txt", b"Ada Marsh founded Loom Corp.")
    assert first.claim().id == job.id
    assert second.claim() is None
    assert first.renew(job.id) is True
    time.sleep(1.5)  # replica-a stops renewing (it died)
    taken = second.claim()
    assert taken.id == job.id and taken.resumed == 1
    # the old owner has lost it: none of its writes land
    assert first.renew(job.id) is False
    assert first.progress(job.id, 1, 1) is False
    assert first.finish(job.id, {"by": "a"}) is False
    assert first.fail(job.id, "too late") is False
    assert second.finish(job.id, {"by": "b"}) is True
    assert records.jobs.get(job.id, "acme").report == {"by": "b"}


def test_a_stopping_replica_hands_its_job_back_at_once(records):
    stopping = Neo4jJobStore(records.keys.client, lease_s=60.0, owner="replica-a")
    job = stopping.create("acme", "notes.txt", b"text")
    assert stopping.claim().id == job.id and records.jobs.claim() is None
    assert stopping.release(job.id) is True
    taken = records.jobs.claim()  # no wait for the 60 s lease
    assert taken.id == job.id and taken.resumed == 1
    assert stopping.progress(job.id, 1, 1) is False


def test_concurrent_replicas_claim_each_job_exactly_once(records):
    jobs = {records.jobs.create("acme", f"doc{n}.txt", b"text").id for n in range(12)}
    claims: list[tuple[str, str]] = []
    lock = threading.Lock()

    def replica(name: str) -> None:
        store = Neo4jJobStore(records.keys.client, lease_s=60.0, owner=name)
        while (job := store.claim()) is not None:
            with lock:
                claims.append((name, job.id))

    threads = [threading.Thread(target=replica, args=(f"replica-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(job for _, job in claims) == sorted(jobs)  # every job once, none twice


def test_rate_limit_counts_are_shared_and_expire(settings, records):
    async def scenario() -> None:
        one, two = Neo4jRateLimitStore(settings), Neo4jRateLimitStore(settings)
        try:
            await one.set("key:abc", b'{"history": [1]}', expires_in=1)
            assert await two.get("key:abc") == b'{"history": [1]}'
            assert await two.exists("key:abc") and await two.expires_in("key:abc") in (0, 1)
            await two.set("key:abc", "text value")
            assert await one.get("key:abc") == b"text value" and await one.expires_in("key:abc") is None
            await one.set("key:short", b"x", expires_in=1)
            await asyncio.sleep(1.2)
            assert await two.get("key:short") is None and not await two.exists("key:short")
            await two.delete("key:abc")
            assert await one.get("key:abc") is None
        finally:
            await one.close()
            await two.close()

    asyncio.run(scenario())


def test_an_unreachable_neo4j_under_the_rate_limit_is_a_503_not_a_500(tmp_path):
    from litestar import Litestar, get
    from litestar.middleware.rate_limit import RateLimitConfig
    from litestar.testing import TestClient

    from server.errors import EXCEPTION_HANDLERS
    from tests.servers import free_port

    @get("/ping")
    async def ping() -> str:
        return "pong"

    down = Settings.load(
        data_dir=tmp_path, neo4j_uri=f"bolt://127.0.0.1:{free_port()}", neo4j_timeout_s=2, graph_backend="neo4j"
    )
    app = Litestar(
        [ping],
        middleware=[RateLimitConfig(rate_limit=("minute", 100)).middleware],
        stores={"rate_limit": Neo4jRateLimitStore(down)},
        exception_handlers=EXCEPTION_HANDLERS,
    )
    with TestClient(app) as client:
        response = client.get("/ping")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.json()["error"]["code"] == "store_unavailable"
