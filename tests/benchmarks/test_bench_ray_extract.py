"""scripts/bench_ray_extract.py: a short run against the test command's Ray cluster times every engine and finds
their outputs identical; bad arguments get a clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.scripts import SCRIPTS

SCRIPT = SCRIPTS / "bench_ray_extract.py"


def test_a_short_run_times_each_engine_and_compares_their_output(tmp_path):
    address = os.environ.get("GRAPHRAG_TEST_RAY_ADDRESS")
    if not address:
        pytest.fail("GRAPHRAG_TEST_RAY_ADDRESS is not set: run the tests with scripts/test.sh")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join(
            json.dumps(
                {"id": f"d{n}", "title": f"Mill {n}", "text": f"Ada Marsh founded Mill {n} in Porto in 19{n:02d}."}
            )
            for n in range(80)
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--corpus", str(corpus), "--repeats", "1", "--address", address],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["documents"] == 80 and summary["identical_output"] is True
    assert set(summary["runs"]) == {"local_1_process", "local_2_processes", "ray_1_worker", "ray_2_workers"}
    assert all(run["documents_per_s"] > 0 for run in summary["runs"].values())
    assert summary["ray_overhead_1_worker"] > 0 and summary["cluster_start_s"] is None


def test_bad_arguments_are_named(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--corpus", str(tmp_path / "missing.jsonl")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "corpus not found" in json.loads(done.stdout)["error"]
