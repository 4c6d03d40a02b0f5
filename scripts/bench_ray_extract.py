"""Benchmark batch extraction on Ray against the local engine: documents/s of ``graphrag extract`` with the local
engine (1 process, and a pool of 2) and with 1 and 2 Ray actors, each run a fresh CLI process (model loading
included, as a user runs it), and whether every run wrote the same records.

Without --address a one-machine Ray cluster is started for the benchmark (``ray start --head`` on 127.0.0.1, in a
temporary folder) and stopped after; its start-up is reported apart (``cluster_start_s``), since a cluster outlives
the jobs it runs. ``ray_overhead_1_worker`` is the median time of 1 Ray actor over that of the local engine in one
process: what Ray costs when it cannot spread the work.

Prints (and with --out writes) {"documents", "repeats", "cluster_start_s", "runs": {name: {"seconds_median",
"documents_per_s", "seconds"}}, "ray_overhead_1_worker", "identical_output"}.
Example (2 cores): python scripts/bench_ray_extract.py --corpus ../shared/data/multihop/2wiki_corpus.jsonl --limit 1000
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import free_port, run_reporting, text_lines  # noqa: E402

CLI = [sys.executable, "-m", "graphrag"]
RAY = [sys.executable, "-m", "ray.scripts.scripts"]
RUNS = {
    "local_1_process": ["--workers", "1"],
    "local_2_processes": ["--workers", "2"],
    "ray_1_worker": ["--engine", "ray", "--workers", "1"],
    "ray_2_workers": ["--engine", "ray", "--workers", "2"],
}


def _start_cluster(folder: Path) -> tuple[str, float]:
    port = free_port()
    started = time.perf_counter()
    subprocess.run(
        [*RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2"]
        + ["--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={folder}"],
        check=True,
        capture_output=True,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        timeout=300,
    )
    return f"127.0.0.1:{port}", time.perf_counter() - started


def _run(corpus: Path, out: Path, options: list[str], address: str) -> float:
    if "ray" in options:
        options = [*options, "--address", address]
    started = time.perf_counter()
    result = subprocess.run(
        [*CLI, "extract", str(corpus), "--out", str(out), *options],
        capture_output=True,
        text=True,
        env={**os.environ, "GRAPHRAG_DATA_DIR": str(out.parent / "data"), "RAY_USAGE_STATS_ENABLED": "0"},
        timeout=7200,
    )
    if result.returncode != 0:
        raise ValueError(f"graphrag extract {' '.join(options)} failed: {result.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="a JSONL corpus (one document per line)")
    parser.add_argument("--limit", type=int, default=0, help="first N documents only (0: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--address", help="an existing Ray cluster (default: start one for the benchmark)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    def body() -> dict:
        if not args.corpus.is_file():
            raise ValueError(f"corpus not found: {args.corpus}")
        if args.repeats < 1 or args.limit < 0:
            raise ValueError("--repeats must be at least 1 and --limit at least 0")
        work = Path(tempfile.mkdtemp(prefix="graphrag-bench-ray-"))
        try:
            lines = [line for line in text_lines(args.corpus) if line.strip()]
            lines = lines[: args.limit] if args.limit else lines
            corpus = work / "corpus.jsonl"
            corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
            address, start_s = (args.address, None) if args.address else _start_cluster(work / "ray")
            runs: dict[str, dict] = {}
            digests: set[str] = set()
            try:
                for _ in range(args.repeats):  # interleaved, so a slow spell of the machine hits every run alike
                    for name, options in RUNS.items():
                        out = work / name / "er.jsonl"
                        out.parent.mkdir(exist_ok=True)
                        seconds = _run(corpus, out, options, address)
                        runs.setdefault(name, {"seconds": []})["seconds"].append(round(seconds, 2))
                        digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
                        out.unlink()
            finally:
                if not args.address:
                    subprocess.run([*RAY, "stop", "--force"], capture_output=True, timeout=120)
            for run in runs.values():
                run["seconds_median"] = statistics.median(run["seconds"])
                run["documents_per_s"] = round(len(lines) / run["seconds_median"], 2)
            return {
                "documents": len(lines),
                "repeats": args.repeats,
                "machine_cores": os.cpu_count(),
                "cluster_start_s": round(start_s, 2) if start_s is not None else None,
                "runs": runs,
                "ray_overhead_1_worker": round(
                    runs["ray_1_worker"]["seconds_median"] / runs["local_1_process"]["seconds_median"], 2
                ),
                "identical_output": len(digests) == 1,
            }
        finally:
            shutil.rmtree(work, ignore_errors=True)

    return run_reporting(body, args.out)


if __name__ == "__main__":
    sys.exit(main())
