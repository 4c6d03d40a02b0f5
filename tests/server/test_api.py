"""The HTTP API against a real uvicorn server on 127.0.0.1 (real models, demo corpus)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.servers import free_port, stopped_after, wait_until_healthy

MAX_DOCUMENT_BYTES = 2_000_000


@pytest.fixture(scope="module")
def api(tmp_path_factory, demo_corpus):
    port = free_port()
    data_dir = tmp_path_factory.mktemp("api-store")
    env = {
        **os.environ,
        "GRAPHRAG_DATA_DIR": str(data_dir),
        "GRAPHRAG_PORT": str(port),
        "GRAPHRAG_HOST": "127.0.0.1",
        "GRAPHRAG_MAX_DOCUMENT_BYTES": str(MAX_DOCUMENT_BYTES),
    }
    ingest = subprocess.run(
        [sys.executable, "-m", "graphrag", "ingest", str(demo_corpus)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ingest.returncode == 0, ingest.stderr
    server = subprocess.Popen(
        [sys.executable, "-m", "graphrag", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with stopped_after(server), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        wait_until_healthy(client, server)
        yield client


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


def test_health_and_openapi(api):
    health = api.get("/v1/health").json()
    assert health["status"] == "ok" and health["documents"] >= 30
    spec = api.get("/schema/openapi.json").json()
    assert "/v1/query" in spec["paths"] and "/v1/entities/{entity_id}/neighbors" in spec["paths"]


def test_query_returns_answer_citations_paths_plan_timings(api):
    body = api.post("/v1/query", json={"question": "Who founded the company that acquired Veltrix Systems?"}).json()
    assert body["answer"] in (
        "Marta Kowalski",
        "Tomas Reyes",
        "Tomas Reyes and Marta Kowalski",
        "Marta Kowalski and Tomas Reyes",
    )
    assert body["citations"] and body["citations"][0]["text"]
    assert body["paths"] and body["paths"][0]["edges"]
    assert (
        body["plan"]["strategy"] == "neighborhood" and body["plan"]["linked"][0]["entity"]["name"] == "Veltrix Systems"
    )
    assert body["timings_ms"]["total"] > 0


def test_query_limits_are_422_never_500(api):
    _error(api.post("/v1/query", json={"question": "Who?", "max_hops": 5}), 422, "limit_exceeded")
    _error(api.post("/v1/query", json={"question": "x" * 100_000}), 422, "limit_exceeded")
    _error(api.post("/v1/query", json={"question": "Who?", "surprise": True}), 422, "invalid_request")
    _error(api.post("/v1/query", json={"question": 42}), 422, "invalid_request")
    _error(api.post("/v1/query", content=b"{not json", headers={"content-type": "application/json"}), 422)
    _error(api.post("/v1/query", content=b"\xff\xfe\x00garbage", headers={"content-type": "application/json"}), 422)
    _error(api.get("/v1/paths", params={"source": "a", "target": "b", "max_hops": 9}), 422)
    _error(api.get("/v1/nope"), 404, "not_found")


def test_documents_lifecycle(api):
    text = "Nadia Petrova founded Quartz Mills in 2004. Quartz Mills is headquartered in Lindmark."
    created = api.post("/v1/documents", json={"text": text, "title": "Quartz Mills"})
    assert created.status_code == 201, created.text
    doc_id = created.json()["document_ids"][0]
    again = api.post("/v1/documents", json={"text": text, "title": "Quartz Mills"}).json()
    assert again["documents_unchanged"] == 1 and again["documents_added"] == 0
    fetched = api.get(f"/v1/documents/{doc_id}").json()
    assert fetched["text"] == text and fetched["title"] == "Quartz Mills"
    answer = api.post("/v1/query", json={"question": "Who founded Quartz Mills?"}).json()
    assert answer["answer"] == "Nadia Petrova"
    assert api.delete(f"/v1/documents/{doc_id}").status_code == 204
    _error(api.get(f"/v1/documents/{doc_id}"), 404, "not_found")
    _error(api.delete(f"/v1/documents/{doc_id}"), 404, "not_found")
    assert not api.get("/v1/entities", params={"q": "Quartz Mills"}).json()


def test_multipart_upload_and_bad_uploads(api):
    health = api.get("/v1/health").json()
    ok = api.post("/v1/documents", files={"file": ("note.md", b"# Tern Labs\n\nIvo Marsh founded Tern Labs.\n")})
    assert ok.status_code == 201, ok.text
    _error(api.post("/v1/documents", files={"file": ("x.txt", bytes(range(256)))}), 422, "unsupported_format")
    _error(api.post("/v1/documents", files={"file": ("x.txt", "caf\xe9".encode("latin-1"))}), 422, "invalid_encoding")
    _error(api.post("/v1/documents", files={"file": ("x.txt", b"")}), 422, "empty_document")
    _error(api.post("/v1/documents", files={"file": ("x.exe", b"MZ")}), 422, "unsupported_format")
    _error(api.post("/v1/documents", json={"text": "a" * (MAX_DOCUMENT_BYTES + 10)}), 413, "document_too_large")
    _error(api.post("/v1/documents", content=b"x" * 13_000_000, headers={"content-type": "application/json"}), 413)
    _error(
        api.post("/v1/documents", content=b"hello", headers={"content-type": "text/plain"}), 422, "unsupported_format"
    )
    after = api.get("/v1/health").json()
    assert after["documents"] == health["documents"] + 1  # only the good upload landed; nothing was lost


def test_jsonl_upload_reports_bad_lines(api):
    body = b'{"id": "j1", "text": "Pia Lund founded Fjord Foods."}\n{oops\n'
    response = api.post("/v1/documents", files={"file": ("batch.jsonl", body)})
    assert response.status_code == 201
    report = response.json()
    assert report["documents_added"] == 1 and report["problems"][0]["line"] == 2


def test_triples_and_hostile_names(api):
    nasty = "Robert'); DROP TABLE entities;--"
    cypher = "MATCH (n) DETACH DELETE n"
    response = api.post(
        "/v1/triples",
        json={
            "source": "hostile",
            "triples": [{"subject": nasty, "relation": "knows", "object": cypher, "subject_type": "Person"}],
        },
    )
    assert response.status_code == 201, response.text
    found = api.get("/v1/entities", params={"q": nasty}).json()
    assert found[0]["name"] == nasty
    target = api.get("/v1/entities", params={"q": cypher}).json()[0]
    paths = api.get("/v1/paths", params={"source": found[0]["id"], "target": target["id"]}).json()["paths"]
    assert paths[0]["edges"][0]["type"] == "KNOWS"
    _error(api.post("/v1/triples", json={"triples": []}), 422, "invalid_request")
    _error(api.post("/v1/triples", json={"triples": [{"subject": "a", "relation": "!!!", "object": "b"}]}), 422)
    assert api.get("/v1/health").json()["entities"] > 40


def test_communities_endpoint(api):
    found = api.get("/v1/communities", params={"limit": 3}).json()["communities"]
    assert 1 <= len(found) <= 3 and all(c["summary"] and c["entity_ids"] for c in found)
    _error(api.get("/v1/communities", params={"limit": 0}), 422)


def test_entity_exploration(api):
    helix = api.get("/v1/entities", params={"q": "Helix Dynamics"}).json()[0]
    assert api.get(f"/v1/entities/{helix['id']}").json()["name"] == "Helix Dynamics"
    around = api.get(f"/v1/entities/{helix['id']}/neighbors", params={"hops": 1, "limit": 50}).json()
    assert {"ACQUIRED", "FOUNDED"} <= {r["type"] for r in around["relations"]}
    _error(api.get(f"/v1/entities/{helix['id']}/neighbors", params={"hops": 7}), 422)
    _error(api.get("/v1/entities/ent_missing/neighbors"), 404, "not_found")
    _error(api.get("/v1/entities", params={"q": ""}), 422)


def test_extraction_records_upload_without_extracting_again(api, tmp_path):
    from graphrag import Settings
    from graphrag.indexing.batch import extract_files

    source = tmp_path / "quill.jsonl"
    source.write_text(
        json.dumps({"id": "quill", "title": "Quill Works", "text": "Mara Lind founded Quill Works in Tartu in 1911."})
        + "\n"
        + json.dumps({"id": "slate", "title": "Slate Yard", "text": "Oskar Vahl founded Slate Yard in Narva in 1920."}),
        encoding="utf-8",
    )
    records = tmp_path / "er.jsonl"
    extract_files([str(source)], records, tmp_path / "errors.jsonl", Settings.load(data_dir=tmp_path), progress=False)
    first, second = records.read_text(encoding="utf-8").splitlines()
    stored = api.post("/v1/documents", files={"file": ("er.jsonl", (first + "\n").encode())})
    assert stored.status_code == 201 and stored.json()["documents_added"] == 1, stored.text
    answer = api.post("/v1/query", json={"question": "Who founded Quill Works?"}).json()
    assert answer["answer"] == "Mara Lind"
    queued = api.post("/v1/documents", params={"mode": "async"}, files={"file": ("er2.jsonl", second.encode())})
    assert queued.status_code == 202, queued.text
    for _ in range(120):
        job = api.get(f"/v1/jobs/{queued.json()['id']}").json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.5)
    assert job["status"] == "succeeded" and job["report"]["documents_added"] == 1, job
    edited = json.loads(first)
    edited["text"] += " Forged."
    refused = _error(api.post("/v1/documents", files={"file": ("bad.jsonl", json.dumps(edited).encode())}), 422)
    assert "sha256" in refused["message"]
