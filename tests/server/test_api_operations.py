"""Operating the server: request ids, JSON access logs, Prometheus metrics, per-key rate limits and request
timeouts, against a real uvicorn on 127.0.0.1 (rate limit lowered to make it reachable)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from types import SimpleNamespace

import anyio
import httpx
import pytest

from graphrag.errors import RequestTimeoutError, StoreUnavailableError
from server.tenancy import TenantEngines, TenantScope
from tests.servers import free_port, stopped_after, wait_until_healthy

RATE_LIMIT = 40


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    port = free_port()
    env = {
        **os.environ,
        "GRAPHRAG_DATA_DIR": str(tmp_path_factory.mktemp("ops-store")),
        "GRAPHRAG_PORT": str(port),
        "GRAPHRAG_HOST": "127.0.0.1",
        "GRAPHRAG_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
    }
    keys = []
    for tenant in ("ops", "other"):
        created = subprocess.run(
            [sys.executable, "-m", "graphrag", "keys", "create", "--tenant", tenant],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert created.returncode == 0, created.stderr
        keys.append(json.loads(created.stdout)["key"])
    log_path = tmp_path_factory.mktemp("ops-log") / "server.log"
    with open(log_path, "w", encoding="utf-8") as log:
        server = subprocess.Popen([sys.executable, "-m", "graphrag", "serve"], env=env, stdout=log, stderr=log)
    clients = [
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, headers={"X-API-Key": key}) for key in keys
    ]
    with stopped_after(server):
        wait_until_healthy(clients[0], server)
        yield clients, log_path
    for client in clients:
        client.close()


def test_request_ids_logs_and_metrics(served):
    (client, _), log_path = served
    given = client.get("/v1/health", headers={"X-Request-ID": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    made = client.get("/v1/entities/nope")
    assert made.status_code == 404 and len(made.headers["x-request-id"]) == 32
    hostile = client.get("/v1/health", headers={"X-Request-ID": "x" * 500})
    assert hostile.headers["x-request-id"] != "x" * 500  # not echoed: a fresh id instead
    assert client.post("/v1/documents", json={"text": "Ada Marsh founded Loom Corp in Lindmark."}).status_code == 201
    assert client.post("/v1/query", json={"question": "Who founded Loom Corp?"}).status_code == 200
    metrics = client.get("/metrics").text
    assert 'graphrag_http_requests_total{method="GET",route="/v1/health",status="200"}' in metrics
    assert re.search(
        r'graphrag_http_requests_total\{method="GET",route="/v1/entities/\{entity_id[^"]*\}",status="404"\}', metrics
    ), metrics[:3000]
    assert 'graphrag_errors_total{code="not_found"} 1.0' in metrics
    assert "graphrag_ingested_documents_total 1.0" in metrics
    assert 'graphrag_model_duration_seconds_count{stage="embed"} 1.0' in metrics
    assert 'graphrag_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v1/query"} 1.0' in metrics
    lines = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.startswith("{")]
    traced = [line for line in lines if line["request_id"] == "trace-42"]
    assert traced and traced[0]["status"] == 200 and traced[0]["tenant"] == "ops" and traced[0]["ms"] > 0


def test_rate_limit_is_per_key_and_answers_429_in_the_envelope(served):
    (client, other), _ = served
    statuses = [client.get("/v1/health").status_code for _ in range(RATE_LIMIT + 5)]
    assert 429 in statuses and statuses[0] == 200
    limited = client.get("/v1/health")
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "too_many_requests"
    assert other.get("/v1/health").status_code == 200  # another key has its own budget


def _queue_only_engines() -> TenantEngines:
    """The engine queue and lock without an engine (these tests are about the queue)."""
    return TenantEngines(
        SimpleNamespace(settings=SimpleNamespace(tenant="default", auth_failures_per_minute=30, answer_batch_size=8)),
        keys=None,
    )


def test_a_call_that_outlasts_the_timeout_is_answered_with_a_timeout_error_and_queued_calls_are_dropped():
    engines = _queue_only_engines()
    scope = TenantScope("t", engine=None, engines=engines, timeout_s=0.3)
    ran: list[str] = []

    async def main() -> None:
        slow = asyncio.create_task(scope.call(time.sleep, 1.0))
        await asyncio.sleep(0.05)
        queued = asyncio.create_task(scope.call(ran.append, "queued"))
        for task in (slow, queued):
            with pytest.raises(RequestTimeoutError, match="request_timeout_s"):
                await task

    started = time.monotonic()
    anyio.run(main)
    assert time.monotonic() - started < 0.9  # answered at the deadline, not when the slow call ends
    time.sleep(1.0)  # the slow call has ended by now; the call that timed out while queued must never run
    assert ran == []
    engines.queue.shutdown()


def test_a_write_that_started_finishes_and_is_acknowledged_and_a_queued_write_past_its_deadline_never_runs():
    # A 503 must never hide a stored document: a write either runs to its end and says so, or does not run.
    engines = _queue_only_engines()
    scope = TenantScope("t", engine=None, engines=engines, timeout_s=0.3)
    stored: list[str] = []

    def slow_write(name: str) -> str:
        time.sleep(0.8)
        stored.append(name)
        return name

    async def main() -> None:
        first = asyncio.create_task(scope.call(slow_write, "first", write=True))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(scope.call(stored.append, "second", write=True))
        assert await first == "first"  # past its deadline, but it had started: its result, not a timeout
        with pytest.raises(RequestTimeoutError, match="dropped unrun"):
            await second

    anyio.run(main)
    time.sleep(0.3)
    assert stored == ["first"]
    engines.queue.shutdown()


def test_engine_calls_run_one_at_a_time_in_arrival_order():
    engines = _queue_only_engines()
    scope = TenantScope("t", engine=None, engines=engines, timeout_s=10)
    order: list[int] = []
    running = [0, 0]  # now, most at once

    def work(number: int) -> int:
        running[0] += 1
        running[1] = max(running)
        time.sleep(0.005)
        order.append(number)
        running[0] -= 1
        return number * 2

    async def main() -> list[int]:
        return await asyncio.gather(*[asyncio.create_task(scope.call(work, n)) for n in range(30)])

    assert anyio.run(main) == [n * 2 for n in range(30)]
    assert order == list(range(30)) and running[1] == 1
    engines.queue.shutdown()


def test_a_call_after_the_engine_queue_closed_is_a_clean_unavailable_error():
    engines = _queue_only_engines()
    engines.queue.shutdown()
    scope = TenantScope("t", engine=None, engines=engines, timeout_s=1)
    with pytest.raises(StoreUnavailableError, match="shutting down"):
        anyio.run(scope.call, time.sleep, 0)
