"""Faults and hostile input against the real server (uvicorn on 127.0.0.1 in a subprocess): what a stop, a tight
deadline, undecodable or deeply nested bodies, oversized requests, key floods and a second server on a busy port
do, and that nothing already stored is lost."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.servers import free_port, stopped_after, wait_until_healthy

CLI = [sys.executable, "-m", "graphrag"]


def _env(data_dir, port: int, **settings: str) -> dict:
    return {
        **os.environ,
        "GRAPHRAG_DATA_DIR": str(data_dir),
        "GRAPHRAG_PORT": str(port),
        "GRAPHRAG_HOST": "127.0.0.1",
        "GRAPHRAG_RATE_LIMIT_PER_MINUTE": "0",
        "GRAPHRAG_ACCESS_LOG": "false",
        **{f"GRAPHRAG_{k.upper()}": v for k, v in settings.items()},
    }


def _cli(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)


def _start(env) -> subprocess.Popen:
    """The server, its output kept for the test to read once it has stopped (access logs are off unless asked
    for, so the pipes never fill)."""
    return subprocess.Popen([*CLI, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until_listening(client: httpx.Client, process: subprocess.Popen) -> None:
    """Until the server answers anything (its schema needs no key and no engine call)."""
    wait_until_healthy(client, process, path="/schema/openapi.json")


def _key(env, tenant: str) -> str:
    created = _cli(env, "keys", "create", "--tenant", tenant)
    assert created.returncode == 0, created.stderr
    return json.loads(created.stdout)["key"]


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    env = _env(tmp_path_factory.mktemp("reliability"), port)
    keys = {tenant: _key(env, tenant) for tenant in ("a", "b")}
    process = _start(env)
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=60, headers={"Authorization": f"Bearer {keys['a']}"}
    )
    with stopped_after(process):
        wait_until_healthy(client, process)
        yield client, env, keys, port
    client.close()


def test_triple_posts_without_a_source_add_up_and_a_named_source_replaces(server):
    client, *_ = server
    first = client.post(
        "/v1/triples", json={"triples": [{"subject": "Alpha Test Co", "relation": "owns", "object": "Beta Test Co"}]}
    ).json()
    second = client.post(
        "/v1/triples", json={"triples": [{"subject": "Gamma Test Co", "relation": "owns", "object": "Delta Test Co"}]}
    ).json()
    assert first["document_ids"] != second["document_ids"] and second["documents_replaced"] == 0
    for name in ("Alpha Test Co", "Gamma Test Co"):
        assert [e["name"] for e in client.get("/v1/entities", params={"q": name}).json()][:1] == [name]
    named = {
        "source": "registry",
        "triples": [{"subject": "Epsilon Test Co", "relation": "owns", "object": "Zeta Test Co"}],
    }
    assert client.post("/v1/triples", json=named).json()["documents_added"] == 1
    named["triples"][0]["object"] = "Eta Test Co"
    replaced = client.post("/v1/triples", json=named).json()
    assert replaced["documents_replaced"] == 1
    assert client.get("/v1/entities", params={"q": "Zeta Test Co"}).json() == []


def test_uploads_sharing_a_file_name_are_kept_apart(server):
    client, *_ = server
    ids = []
    for text in (b"Orla Brandt founded Quill Systems.", b"Piet Vos founded Harbor Metrics."):
        response = client.post("/v1/documents", files={"file": ("notes.txt", text, "text/plain")})
        assert response.status_code == 201 and response.json()["documents_added"] == 1, response.text
        ids.extend(response.json()["document_ids"])
    assert len(set(ids)) == 2 and all(client.get(f"/v1/documents/{i}").status_code == 200 for i in ids)


@pytest.mark.parametrize("route", ["/v1/query", "/v1/triples", "/v1/documents"])
def test_undecodable_nested_and_mislabelled_json_bodies_are_422_naming_the_problem(server, route):
    client, *_ = server
    cases = [
        (b'{"question": "Who \xff\xfe founded?", "text": "x \xff"}', "application/json", "not valid UTF-8"),
        ('{"question": "Qui a fondé Rho?"}'.encode("latin-1"), "application/json; charset=latin-1", "must be UTF-8"),
        (b"[" * 5000, "application/json", "nested deeper"),
        (b'{"question": ' * 3000 + b'"x"' + b"}" * 3000, "application/json", "nested deeper"),
        (b'{"question": "unterminated', "application/json", "invalid JSON"),
    ]
    for body, content_type, message in cases:
        error = _error(client.post(route, content=body, headers={"content-type": content_type}), 422)
        assert message in error["message"], (route, error)
        assert error["code"] in ("invalid_request", "unsupported_format")


def test_a_jsonl_upload_with_one_deeply_nested_line_ingests_the_rest(server):
    client, *_ = server
    lines = [
        json.dumps({"id": "nest-1", "text": "Runa Lind founded Cobalt Works."}),
        "[" * 4000,
        json.dumps({"id": "nest-2", "text": "Cobalt Works is based in Tarn."}),
    ]
    data = "\n".join(lines).encode()
    report = client.post("/v1/documents", files={"file": ("nested.jsonl", data, "application/jsonl")}).json()
    assert report["documents_added"] == 2 and [(p["line"], p["code"]) for p in report["problems"]] == [
        (2, "invalid_record")
    ]
    queued = client.post(
        "/v1/documents",
        params={"mode": "async"},
        files={"file": ("nested-job.jsonl", data + b"\n", "application/jsonl")},
    )
    assert queued.status_code == 202, queued.text
    deadline = time.monotonic() + 120
    while (job := client.get(queued.headers["location"]).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["status"] == "succeeded" and job["report"]["documents_unchanged"] == 2, job


def _raw_exchange(port: int, request: bytes) -> tuple[str, dict]:
    """Send raw bytes (what httpx would refuse to build) and read the status line and the JSON body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(request)
        reply = b""
        while chunk := raw.recv(65536):
            reply += chunk
    head, _, body = reply.decode("latin-1").partition("\r\n\r\n")
    assert "application/json" in head.lower(), head
    return head.split("\r\n")[0], json.loads(body)


def test_a_long_query_string_and_garbage_http_get_the_json_envelope(server):
    *_, port = server
    status, body = _raw_exchange(port, b"GET /v1/entities?q=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status.startswith("HTTP/1.1 414") and body["error"]["code"] == "uri_too_long"
    status, body = _raw_exchange(port, b"GARBAGE\x00 / HTTP/1.1\r\n\r\n")
    assert status.startswith("HTTP/1.1 400") and body["error"]["code"] == "bad_request"


def test_oversized_multipart_shapes_are_413_and_two_files_are_refused(server):
    client, *_ = server
    long_name = client.post(
        "/v1/documents", files={"file": ("n" * 20_000 + ".txt", b"Ada Kim founded Rho.", "text/plain")}
    )
    _error(long_name, 413, "body_too_large")
    many = client.post("/v1/documents", files=[(f"f{i}", ("x.txt", b"x", "text/plain")) for i in range(1500)])
    _error(many, 413, "body_too_large")
    two = client.post(
        "/v1/documents",
        files=[
            ("file", ("a.txt", b"Ada Kim founded Rho.", "text/plain")),
            ("file", ("b.txt", b"Eli Park founded Zeta.", "text/plain")),
        ],
    )
    assert "2 'file' parts" in _error(two, 422, "invalid_request")["message"]
    no_file = client.post("/v1/documents", files={"upload": ("a.txt", b"Ada Kim founded Rho.", "text/plain")})
    assert "'file' field" in _error(no_file, 422, "invalid_request")["message"]  # one code for bad bodies


def test_two_different_keys_in_one_request_are_refused(server):
    client, _, keys, _ = server
    response = client.get("/v1/health", headers={"X-API-Key": keys["b"]})
    assert "two different API keys" in _error(response, 401, "unauthorized")["message"]
    same = client.get("/v1/health", headers={"X-API-Key": keys["a"]})
    assert same.status_code == 200 and same.json()["tenant"] == "a"


def test_the_swagger_page_loads_its_files_from_this_server(server):
    client, *_ = server
    page = client.get("/schema/swagger")
    assert page.status_code == 200 and "http" not in page.text.split("<body>")[0].replace("http-equiv", "")
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        assert f"/schema/assets/swagger-ui/{asset}" in page.text
        assert client.get(f"/schema/assets/swagger-ui/{asset}").status_code == 200
    spec = client.get("/schema/openapi.json").text
    assert '"examples"' not in spec  # no generated filler


def test_under_a_tight_deadline_a_write_is_done_or_not_and_a_question_gets_503_with_retry_after(tmp_path):
    port = free_port()
    env = _env(tmp_path, port, request_timeout_s="0.001")
    process = _start(env)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    acknowledged = 0
    try:
        _wait_until_listening(client, process)
        for i in range(12):
            body = {"id": f"tight-{i}", "text": f"Sven Aberg{i} founded Lumen Forge{i} in Tarn."}
            response = client.post("/v1/documents", json=body)
            assert response.status_code in (201, 503), response.text
            if response.status_code == 503:
                assert "nothing was changed" in response.json()["error"]["message"]
                assert response.headers["retry-after"] == "5"
            else:
                acknowledged += 1
        # A question past its deadline: a clear 503 that says when to come back, never a 500.
        asked = client.post("/v1/query", json={"question": "Who founded Lumen Forge1?"})
        assert asked.status_code == 503 and asked.json()["error"]["code"] == "timeout", asked.text
        assert "request_timeout_s" in asked.json()["error"]["message"] and asked.headers["retry-after"] == "5"
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    # After the stop, the store holds exactly the acknowledged documents: no 503 hid a stored one.
    assert json.loads(_cli(env, "stats").stdout)["documents"] == acknowledged


def test_sigterm_after_writes_saves_every_engine_and_check_is_clean_without_a_restart(tmp_path):
    port = free_port()
    env = _env(tmp_path, port)
    keys = {tenant: _key(env, tenant) for tenant in ("a", "b")}
    process = _start(env)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        _wait_until_listening(client, process)
        for tenant, key in keys.items():
            for i in range(3):
                response = client.post(
                    "/v1/documents",
                    headers={"X-API-Key": key},
                    json={"text": f"Ilse Varga{i} founded Corvid {tenant.upper()}{i} in Tarn."},
                )
                assert response.status_code == 201, response.text
        for tenant in keys:  # on disk while the server still runs: the journal holds every acknowledged write
            check = _cli(env, "--tenant", tenant, "check")
            assert check.returncode == 0 and json.loads(check.stdout)["ok"], check.stdout + check.stderr
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert "3 engine(s) closed, vector indexes saved" in stderr, stderr  # the default tenant's, a and b
    for tenant in keys:
        check = _cli(env, "--tenant", tenant, "check")
        assert check.returncode == 0 and json.loads(check.stdout)["ok"], check.stdout + check.stderr
        assert (tmp_path / "tenants" / tenant / "vectors" / "chunks.faiss").exists()


def test_a_second_server_on_a_busy_port_fails_before_saying_it_serves(server, tmp_path):
    _, _, _, port = server
    result = _cli(_env(tmp_path, port), "serve")
    assert result.returncode == 2 and "serving on" not in result.stdout
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


def test_429s_carry_retry_after_and_failed_authentications_are_throttled(tmp_path):
    port = free_port()
    env = _env(tmp_path, port, rate_limit_per_minute="20", auth_failures_per_minute="5")
    key = _key(env, "a")
    process = _start(env)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        _wait_until_listening(client, process)
        statuses = [client.get("/v1/health", headers={"X-API-Key": "grk_bad_guess"}).status_code for _ in range(8)]
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
        throttled = client.get("/v1/health", headers={"X-API-Key": key})  # the address waits, whatever it sends
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=60)
    other = free_port()
    env = _env(tmp_path, other, rate_limit_per_minute="3")
    process = _start(env)
    client = httpx.Client(base_url=f"http://127.0.0.1:{other}", timeout=60, headers={"X-API-Key": key})
    try:
        _wait_until_listening(client, process)
        responses = [client.get("/v1/health") for _ in range(5)]
        limited = [r for r in responses if r.status_code == 429]
        assert limited and all(int(r.headers["retry-after"]) > 0 for r in limited)
        assert "Retry-After" in limited[0].json()["error"]["message"]
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=60)


def test_access_log_lines_carry_a_timestamp(tmp_path):
    port = free_port()
    env = _env(tmp_path, port, access_log="true")
    process = _start(env)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        _wait_until_listening(client, process)
        assert client.get("/v1/health").status_code == 200
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert lines and all(line["ts"].endswith("+00:00") and line["event"] == "request" for line in lines)
