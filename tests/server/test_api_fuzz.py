"""Fuzzing the HTTP API from its own OpenAPI schema with schemathesis (bounded examples per operation), against a
real uvicorn on 127.0.0.1 holding a few documents, with schemathesis' default checks: no 500s, every response
(errors included) matches the schema, status codes and content types the schema documents, valid requests are
accepted and invalid ones rejected, and a broken API key is refused. Then hostile bodies the schema does not
describe (not UTF-8, another charset, deep nesting, oversized multipart shapes) on every route."""

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

from tests.servers import free_port, stopped_after, wait_until_healthy

SEMANTIC_BODIES = {"POST /v1/documents", "POST /v1/triples"}
DOCUMENTS = (
    "Helix Dynamics acquired Veltrix Systems in 2019. Anika Sorensen founded Veltrix Systems.",
    "Marta Kowalski and Tomas Reyes founded Helix Dynamics in Calderon City.",
)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    port = free_port()
    env = {
        **os.environ,
        "GRAPHRAG_DATA_DIR": str(tmp_path_factory.mktemp("fuzz-store")),
        "GRAPHRAG_PORT": str(port),
        "GRAPHRAG_HOST": "127.0.0.1",
        "GRAPHRAG_ACCESS_LOG": "false",
        "GRAPHRAG_RATE_LIMIT_PER_MINUTE": "0",
    }
    created = subprocess.run(
        [sys.executable, "-m", "graphrag", "keys", "create", "--tenant", "fuzz"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    headers = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "graphrag", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    with stopped_after(server):
        with httpx.Client(base_url=base, timeout=60, headers=headers) as client:
            wait_until_healthy(client, server)
            for text in DOCUMENTS:
                assert client.post("/v1/documents", json={"text": text}).status_code == 201
        yield schemathesis.openapi.from_url(f"{base}/schema/openapi.json"), headers, base


def test_no_500s_and_responses_match_the_schema(api_schema):
    # Driven through plain Hypothesis rather than schemathesis' pytest plugin, which does not support pytest 9.
    # Requests carry a valid key; schemathesis also checks that a broken one is refused (its ignored_auth check).
    schema, headers, _ = api_schema
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
            # called right below, inside this iteration: the loop variable is the one meant
            case.call_and_validate(headers=headers, excluded_checks=excluded)  # noqa: B023

        try:
            fuzz()
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # collect every operation's first failure, then report them together
            inner = "".join(f"\n  {e!r}" for e in getattr(exc, "exceptions", ()))  # a flaky case's own error
            failures[operation.label] = f"{type(exc).__name__}: {exc}{inner}"[:3000]
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())


HOSTILE_BODIES = {
    "not UTF-8": (b'{"question": "Who \xff\xfe founded?", "text": "\xc3\x28", "triples": []}', "application/json"),
    "latin-1 charset": (
        '{"question": "Qui a fondé?", "text": "é"}'.encode("latin-1"),
        "application/json; charset=latin-1",
    ),
    "deep array": (b"[" * 5000, "application/json"),
    "deep object": (b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"),
    "deep inside a valid field": (
        b'{"question": "x", "metadata": ' + b"[" * 2000 + b"]" * 2000 + b"}",
        "application/json",
    ),
}


def _hostile_multipart() -> list[tuple[str, bytes, dict]]:
    """Multipart bodies over the parser's limits: many parts, a huge filename, many plain fields."""

    def encode(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
        boundary = "graphragfuzzboundary"
        out = b""
        for name, filename, data in parts:
            disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
            out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
        return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"

    shapes = {
        "many parts": [(f"f{i}", "x.txt", b"x") for i in range(1500)],
        "huge filename": [("file", "n" * 20_000 + ".txt", b"Ada Kim founded Rho.")],
        "many fields": [(f"k{i}", None, b"v") for i in range(1500)] + [("file", "x.txt", b"Ada Kim.")],
    }
    return [(label, *encode(parts)) for label, parts in shapes.items()]


def test_hostile_bodies_on_every_route_get_a_clean_error_never_a_500(api_schema):
    schema, headers, base = api_schema
    spec = schema.raw_schema
    server = httpx.Client(base_url=base, timeout=60, headers=headers)
    bodies = [(label, body, {"content-type": kind}) for label, (body, kind) in HOSTILE_BODIES.items()]
    bodies += [(label, body, {"content-type": kind}) for label, body, kind in _hostile_multipart()]
    problems = []
    with server:
        for path, methods in spec["paths"].items():
            concrete = (
                path.replace("{entity_id}", "ent_missing")
                .replace("{document_id}", "doc_missing")
                .replace("{job_id}", "job_missing")
            )
            for method in methods:
                for label, body, extra in bodies:
                    response = server.request(method.upper(), concrete, content=body, headers=extra)
                    if response.status_code >= 500:
                        problems.append(
                            f"{method.upper()} {path} {label}: {response.status_code} {response.text[:200]}"
                        )
                    elif response.status_code >= 400 and response.headers.get("content-type", "").startswith(
                        "application/json"
                    ):
                        error = response.json().get("error", {})
                        if not error.get("code") or not error.get("message"):
                            problems.append(
                                f"{method.upper()} {path} {label}: no error envelope: {response.text[:200]}"
                            )
    assert not problems, "\n".join(problems)
