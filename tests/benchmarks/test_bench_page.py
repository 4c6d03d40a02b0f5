"""scripts/bench_page.py: a short run in Debian's chromium times both steps, and bad arguments get a clear error."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.scripts import SCRIPTS

SCRIPT = SCRIPTS / "bench_page.py"


def test_a_short_run_times_the_page_and_a_drawn_neighbourhood():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "1", "--neighbours", "30"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["neighbourhood_nodes"] == 31 and len(summary["usable_ms"]) == 1
    assert summary["usable_ms_median"] > 0 and summary["neighbourhood_ms_median"] > 0


def test_bad_arguments_are_named():
    done = subprocess.run([sys.executable, str(SCRIPT), "--runs", "0"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--runs" in json.loads(done.stdout)["error"]
