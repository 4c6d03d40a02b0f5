"""Questions answered while a large ingest job runs: how long does a question wait behind the job?

Runs its own server on 127.0.0.1 (a fresh data directory, keys for two tenants, the extractive writer, rate limit
off). Tenant "a" uploads one large single document (--megabytes of generated company histories) as an ingest job;
meanwhile tenant "b", which holds a few small documents, asks questions one after another until the job ends.
Prints one JSON object: the job's time and chunk count, the questions asked during it with their p50 / p95 / max
latency, and how many failed (a 503 timeout would mean a job step held the engine too long).
Example: python scripts/bench_job_latency.py --megabytes 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_common import free_port, print_json

CLI = [sys.executable, "-m", "graphrag"]
PLACES = ("Lindmark", "Ostrava", "Calderon City", "Port Veyra", "Tarn", "Greyhaven")
SMALL = (
    "Anika Sorensen founded Veltrix Systems in 2006.",
    "Veltrix Systems acquired Quantum Harbor Labs in 2011.",
    "Helix Dynamics is headquartered in Calderon City.",
)
QUESTIONS = (
    "Who founded Veltrix Systems?",
    "What did Veltrix Systems acquire?",
    "Where is Helix Dynamics headquartered?",
)


def large_document(megabytes: float) -> str:
    """Generated histories, paragraph after paragraph, about ``megabytes`` MB of UTF-8 text."""
    paragraphs, size, i = [], 0, 0
    while size < megabytes * 1_000_000:
        text = (
            f"Mira Holt{i} founded Northwind{i} Labs in {PLACES[i % 6]} in {1950 + i % 60}. "
            f"Northwind{i} Labs acquired Keystone{i} Foundry. Keystone{i} Foundry is headquartered in "
            f"{PLACES[(i + 1) % 6]}. Mira Holt{i} studied at Greyhaven University."
        )
        paragraphs.append(text)
        size += len(text) + 2
        i += 1
    return "\n\n".join(paragraphs)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 1)


def run(megabytes: float, data_dir: Path, step_chunks: int | None = None, timeout_s: float = 30.0) -> dict:
    """Start a server in ``data_dir``, run the job and the questions, stop the server; the summary."""
    port = free_port()
    env = {
        **os.environ,
        "GRAPHRAG_DATA_DIR": str(data_dir),
        "GRAPHRAG_PORT": str(port),
        "GRAPHRAG_HOST": "127.0.0.1",
        "GRAPHRAG_RATE_LIMIT_PER_MINUTE": "0",
        "GRAPHRAG_ANSWER_WRITER": "extractive",
        "GRAPHRAG_ACCESS_LOG": "false",
        "GRAPHRAG_REQUEST_TIMEOUT_S": str(timeout_s),
        **({"GRAPHRAG_JOB_STEP_CHUNKS": str(step_chunks)} if step_chunks else {}),
    }
    keys = {}
    for tenant in ("a", "b"):
        created = subprocess.run(
            [*CLI, "keys", "create", "--tenant", tenant],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        keys[tenant] = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
    server = subprocess.Popen([*CLI, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout_s + 30)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if client.get("/v1/health", headers=keys["b"]).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.5)
        for text in SMALL:
            client.post("/v1/documents", headers=keys["b"], json={"text": text}).raise_for_status()
        for question in QUESTIONS:  # warm: first questions load caches
            client.post("/v1/query", headers=keys["b"], json={"question": question}).raise_for_status()
        document = large_document(megabytes).encode("utf-8")
        started = time.perf_counter()
        queued = client.post(
            "/v1/documents",
            headers=keys["a"],
            params={"mode": "async"},
            files={"file": ("histories.txt", document, "text/plain")},
        )
        queued.raise_for_status()
        latencies, failures, asked = [], [], 0
        job = {}
        while True:
            job = client.get(queued.headers["location"], headers=keys["a"]).json()
            if job["status"] not in ("queued", "running"):
                break
            question = QUESTIONS[asked % len(QUESTIONS)]
            asked += 1
            t0 = time.perf_counter()
            response = client.post("/v1/query", headers=keys["b"], json={"question": question})
            if response.status_code == 200:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                failures.append(f"{response.status_code} {response.text[:200]}")
        job_seconds = time.perf_counter() - started
        return {
            "document_mb": round(len(document) / 1e6, 2),
            "job_status": job["status"],
            "job_error": job.get("error"),
            "job_seconds": round(job_seconds, 1),
            "chunks": (job.get("report") or {}).get("chunks"),
            "step_chunks": step_chunks or "default",
            "questions": asked,
            "answered": len(latencies),
            "failed": len(failures),
            "failures": failures[:5],
            "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
            "p95_ms": _percentile(latencies, 95),
            "max_ms": round(max(latencies), 1) if latencies else None,
            "machine": f"{os.cpu_count()} cores",
        }
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=2.0, help="Size of the one large document (MB).")
    parser.add_argument("--step-chunks", type=int, default=None, help="job_step_chunks for the server.")
    parser.add_argument("--out", type=Path, default=None, help="Also write the JSON summary here.")
    args = parser.parse_args()
    if not 0.01 <= args.megabytes <= 9.5:
        print(json.dumps({"error": "--megabytes must be between 0.01 and 9.5 (the document limit is 10 MB)"}))
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-job-") as data_dir:
        print_json(run(args.megabytes, Path(data_dir), args.step_chunks), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
