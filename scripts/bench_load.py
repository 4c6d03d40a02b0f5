"""Load test of the HTTP API: concurrent clients send a mix of questions and small ingests for a fixed time.

By default it runs its own server on 127.0.0.1 (a fresh data directory with the demo corpus ingested, one API key,
the product's default answer writer or the one --writer names, the rate limit off so the server itself is
measured), then drives it with --clients
concurrent clients for --seconds. Each client loops: with probability --ingest-share a small new document (POST
/v1/documents), else a demo question (POST /v1/query). With --url and --key it drives a server you run instead.
Prints one JSON object: {"requests", "errors", "rps", "p50_ms", "p95_ms", "p99_ms", "query": {...}, "ingest": {...}},
plus the CPU seconds the load generator and (when it runs its own) the server used, since they share the cores.
Example: python scripts/bench_load.py --clients 16 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import free_port  # noqa: E402

CLI = [sys.executable, "-m", "graphrag"]


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))], 2)


def _summary(latencies: list[float], errors: int, seconds: float) -> dict:
    return {
        "requests": len(latencies) + errors,
        "errors": errors,
        "rps": round((len(latencies) + errors) / seconds, 2),
        "p50_ms": _percentile(latencies, 50),
        "p95_ms": _percentile(latencies, 95),
        "p99_ms": _percentile(latencies, 99),
    }


class Recorder:
    """Latencies of successful requests and counts of failed ones, by kind; a sample of the failures."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {"query": [], "ingest": []}
        self.errors: dict[str, int] = {"query": 0, "ingest": 0}
        self.failures: list[str] = []

    def record(self, kind: str, started: float, response: httpx.Response | None, problem: str = "") -> None:
        if response is not None and response.status_code < 400:
            self.latencies[kind].append((time.perf_counter() - started) * 1000)
            return
        self.errors[kind] += 1
        if len(self.failures) < 10:
            self.failures.append(problem or f"{kind}: {response.status_code} {response.text[:200]}")


async def _client(
    number: int,
    client: httpx.AsyncClient,
    questions: list[str],
    ingest_share: float,
    deadline: float,
    recorder: Recorder,
) -> None:
    rng = random.Random(number)
    sent = 0
    while time.perf_counter() < deadline:
        sent += 1
        ingest = rng.random() < ingest_share
        kind = "ingest" if ingest else "query"
        started = time.perf_counter()
        try:
            if ingest:
                text = (
                    f"Load client {number} wrote note {sent}: Orla Quinn{number} met Bram Holt{sent} in "
                    f"Lindmark to discuss Veltrix Systems."
                )
                response = await client.post("/v1/documents", json={"text": text, "title": f"note {number}-{sent}"})
            else:
                response = await client.post("/v1/query", json={"question": rng.choice(questions)})
            recorder.record(kind, started, response)
        except httpx.HTTPError as exc:
            recorder.record(kind, started, None, f"{kind}: {type(exc).__name__}: {exc}")


async def _drive(url: str, key: str, clients: int, seconds: float, ingest_share: float, questions: list[str]) -> dict:
    recorder = Recorder()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, timeout=60, limits=limits, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        started, cpu_started = time.perf_counter(), time.process_time()
        deadline = started + seconds
        await asyncio.gather(*(_client(i, client, questions, ingest_share, deadline, recorder) for i in range(clients)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    everything = recorder.latencies["query"] + recorder.latencies["ingest"]
    result = _summary(everything, sum(recorder.errors.values()), elapsed)
    for kind in ("query", "ingest"):
        result[kind] = _summary(recorder.latencies[kind], recorder.errors[kind], elapsed)
    result.update(
        {
            "clients": clients,
            "seconds": round(elapsed, 1),
            "ingest_share": ingest_share,
            "cpu_count": os.cpu_count(),
            "load_generator_cpu_s": round(cpu, 1),
            "failures": recorder.failures,
        }
    )
    return result


def _own_server(data_dir: Path, writer: str) -> tuple[subprocess.Popen, str, str]:
    port = free_port()
    env = {
        **os.environ,
        "GRAPHRAG_DATA_DIR": str(data_dir),
        "GRAPHRAG_PORT": str(port),
        "GRAPHRAG_HOST": "127.0.0.1",
        "GRAPHRAG_RATE_LIMIT_PER_MINUTE": "0",
    }
    env.pop("GRAPHRAG_ANSWER_WRITER", None)  # the product's default, unless --writer names one
    if writer != "default":
        env["GRAPHRAG_ANSWER_WRITER"] = writer
    corpus = Path(str(resources.files("graphrag") / "demo" / "corpus"))
    subprocess.run([*CLI, "ingest", str(corpus)], env=env, check=True, capture_output=True, timeout=600)
    created = subprocess.run(
        [*CLI, "keys", "create", "--name", "bench_load"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    key = json.loads(created.stdout)["key"]
    server = subprocess.Popen([*CLI, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{url}/v1/health", headers={"Authorization": f"Bearer {key}"}, timeout=5).status_code == 200:
                return server, url, key
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit("bench_load: the server did not start")
        time.sleep(0.5)


def _cpu_seconds(server: subprocess.Popen | None) -> float:
    """CPU time (user + system) the server process has used so far; 0 for a server run elsewhere."""
    if server is None:
        return 0.0
    times = psutil.Process(server.pid).cpu_times()
    return times.user + times.system


def _demo_questions() -> list[str]:
    text = (resources.files("graphrag") / "demo" / "questions.jsonl").read_text(encoding="utf-8")
    return [json.loads(line)["question"] for line in text.splitlines() if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to drive the server (default 60)")
    parser.add_argument("--ingest-share", type=float, default=0.1, help="share of requests that ingest (default 0.1)")
    parser.add_argument("--url", help="drive this server instead of starting one (needs --key)")
    parser.add_argument("--key", help="API key for --url")
    parser.add_argument(
        "--writer",
        choices=("default", "lm", "extractive"),
        default="default",
        help="answer writer of the server it runs (default: the product's default, the answer LM when installed)",
    )
    args = parser.parse_args()
    if not 1 <= args.clients <= 1000 or not 1 <= args.seconds <= 3600 or not 0 <= args.ingest_share <= 1:
        parser.error("--clients 1-1000, --seconds 1-3600, --ingest-share 0-1")
    if args.url and not args.key:
        parser.error("--url needs --key")
    questions = _demo_questions()
    server, url = None, args.url
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        try:
            if args.url:
                url, key = args.url, args.key
            else:
                server, url, key = _own_server(Path(tmp), args.writer)
            for question in questions:  # one untimed pass: the server's caches and lazy loads, not the test
                warm = httpx.post(
                    f"{url}/v1/query",
                    json={"question": question},
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=60,
                )
                if warm.status_code >= 400:
                    raise SystemExit(f"bench_load: {url} answered {warm.status_code}: {warm.text[:300]}")
            server_cpu = _cpu_seconds(server)
            result = asyncio.run(_drive(url, key, args.clients, args.seconds, args.ingest_share, questions))
            if server is not None:  # the two share the machine's cores: say how much each used
                result["server_cpu_s"] = round(_cpu_seconds(server) - server_cpu, 1)
                result["writer"] = args.writer
        except httpx.HTTPError as exc:
            raise SystemExit(f"bench_load: cannot reach {url}: {exc}") from None
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"bench_load: setting up the server failed: {exc.stderr or exc}") from None
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=60)
    print(json.dumps(result))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
