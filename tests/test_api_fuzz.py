"""Fuzzing the HTTP API from its own OpenAPI schema with schemathesis (bounded examples per operation), against a
real uvicorn on 127.0.0.1 holding a few documents, with schemathesis' default checks: no 500s, every response
(errors included) matches the schema, status codes and content types the schema documents, valid requests are
accepted and invalid ones rejected, and a broken API key is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.servers import free_port, wait_until_healthy

SEMANTIC_BODIES = {"POST /v1/documents", "POST /v1/triples"}
DOCUMENTS = ("Helix Dynamics acquired Veltrix Systems in 2019. Anika Sorensen founded Veltrix Systems.",
             "Marta Kowalski and Tomas Reyes founded Helix Dynamics in Calderon City.")


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    port = free_port()
    env = {**os.environ, "GRAPHRAG_DATA_DIR": str(tmp_path_factory.mktemp("fuzz-store")), "GRAPHRAG_PORT": str(port),
           "GRAPHRAG_HOST": "127.0.0.1", "GRAPHRAG_ACCESS_LOG": "false", "GRAPHRAG_RATE_LIMIT_PER_MINUTE": "0"}
    created = subprocess.run([sys.executable, "-m", "graphrag", "keys", "create", "--tenant", "fuzz"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    headers = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
    server = subprocess.Popen([sys.executable, "-m", "graphrag", "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=60, headers=headers) as client:
        wait_until_healthy(client, server)
        for text in DOCUMENTS:
            assert client.post("/v1/documents", json={"text": text}).status_code == 201
    yield schemathesis.openapi.from_url(f"{base}/schema/openapi.json"), headers
    server.terminate()
    server.wait(timeout=30)


def test_no_500s_and_responses_match_the_schema(api_schema):
    # Driven through plain Hypothesis rather than schemathesis' pytest plugin, which does not support pytest 9.
    # Requests carry a valid key; schemathesis also checks that a broken one is refused (its ignored_auth check).
    schema, headers = api_schema
    failures = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        # Ingest bodies can be schema-valid and still not ingestible (a file of an unknown type, a triple whose
        # subject is its object): 422 there is right, so those two skip the "valid data is accepted" check.
        excluded = [positive_data_acceptance] if operation.label in SEMANTIC_BODIES else []

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            case.call_and_validate(headers=headers, excluded_checks=excluded)

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's first failure, then report them together
            inner = "".join(f"\n  {e!r}" for e in getattr(exc, "exceptions", ()))  # a flaky case's own error
            failures[operation.label] = f"{type(exc).__name__}: {exc}{inner}"[:3000]
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
