"""kill -9 of the server in the middle of an ingest job, then a restart: the job resumes and finishes, the store and
its vector indexes pass the integrity check, and re-running the same ingest converges to a clean run's counts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from tests.servers import free_port, wait_until_healthy

CLI = [sys.executable, "-m", "graphrag"]
PLACES = ("Lindmark", "Ostrava", "Calderon City", "Port Veyra")


def _corpus(path, count: int) -> None:
    """``count`` short company histories (distinct names, shared places) and one malformed line."""
    with open(path, "w", encoding="utf-8") as out:
        for i in range(count):
            text = (
                f"Mira Holt{i} founded Northwind{i} Labs in {PLACES[i % 4]} in {1950 + i % 60}. "
                f"Northwind{i} Labs acquired Keystone{i} Foundry. Keystone{i} Foundry is headquartered in "
                f"{PLACES[(i + 1) % 4]}. Mira Holt{i} studied at Greyhaven University."
            )
            out.write(json.dumps({"id": f"history-{i}", "title": f"Northwind{i} Labs", "text": text}) + "\n")
        out.write("{this line is not JSON\n")


def _run(env, *args, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=600)
    assert not check or result.returncode == 0, result.stdout + result.stderr
    return result


def _serve(env) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_kill_9_during_an_ingest_job_then_restart_resumes_and_converges(tmp_path):
    corpus = tmp_path / "histories.jsonl"
    _corpus(corpus, 240)
    base = {**os.environ, "GRAPHRAG_ACCESS_LOG": "false"}
    clean = {**base, "GRAPHRAG_DATA_DIR": str(tmp_path / "clean")}
    expected = json.loads(_run(clean, "--tenant", "acme", "ingest", str(corpus), "--json").stdout)["stats"]
    assert expected["documents"] == 240

    port = free_port()
    env = {
        **base,
        "GRAPHRAG_DATA_DIR": str(tmp_path / "served"),
        "GRAPHRAG_PORT": str(port),
        "GRAPHRAG_JOB_STEP_CHUNKS": "8",
    }
    key = json.loads(_run(env, "keys", "create", "--tenant", "acme").stdout)["key"]
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, headers={"Authorization": f"Bearer {key}"})
    server = _serve(env)
    try:
        wait_until_healthy(client, server)
        with open(corpus, "rb") as upload:
            accepted = client.post(
                "/v1/documents",
                params={"mode": "async"},
                files={"file": ("histories.jsonl", upload, "application/jsonl")},
            )
        assert accepted.status_code == 202, accepted.text
        job_url = accepted.headers["location"]
        deadline = time.monotonic() + 300
        while (job := client.get(job_url).json())["documents_done"] < 24:
            assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job["status"] == "running" and job["documents_done"] < 240, "the job ended before the kill"
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)

        server = _serve(env)
        wait_until_healthy(client, server)
        deadline = time.monotonic() + 300
        while (job := client.get(job_url).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
        assert job["status"] == "succeeded" and job["resumed"] == 1, job
        assert job["documents_done"] == job["documents_total"] == 240
        problems = job["report"]["problems"]
        assert [(p["line"], p["code"]) for p in problems] == [(241, "invalid_record")]
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=60)

    check = _run(env, "--tenant", "acme", "check", check=False)
    assert check.returncode == 0 and json.loads(check.stdout)["ok"], check.stdout + check.stderr
    assert json.loads(_run(env, "--tenant", "acme", "stats").stdout) == expected
    rerun = json.loads(_run(env, "--tenant", "acme", "ingest", str(corpus), "--json").stdout)
    assert rerun["documents_unchanged"] == 240 and rerun["stats"] == expected
