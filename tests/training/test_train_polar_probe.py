"""scripts/train_polar_probe.py: bad input is a clear error (exit 2, one JSON line naming the problem), found before
any model loads. (Training itself is tested on states in tests/answering/test_answerability.py; the figures come from
the Qwen run.)"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.scripts import SCRIPTS

SCRIPT = SCRIPTS / "train_polar_probe.py"


def _run(*args: str) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_bad_input_is_a_clear_error(tmp_path):
    relations = tmp_path / "rel_info.json"
    relations.write_text(json.dumps({"P17": "country"}), encoding="utf-8")
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\xff not json")
    code, out = _run("--data", str(garbage), "--relations", str(relations), "--train-examples", "5")
    assert code == 2 and "--train-examples" in out["error"]
    code, out = _run("--data", str(garbage), "--relations", str(relations))
    assert code == 2 and "garbage.json" in out["error"]
    code, out = _run("--data", str(tmp_path / "missing.json"), "--relations", str(relations))
    assert code == 2 and "missing.json" in out["error"]
