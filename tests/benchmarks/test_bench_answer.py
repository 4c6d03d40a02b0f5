"""scripts/bench_answer.py: the lenient reading of malformed replies and bad input (the full run needs the answer
model and benchmark data, so it is a benchmark, not a test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.scripts import SCRIPTS, load_script

SCRIPT = SCRIPTS / "bench_answer.py"


def test_a_malformed_reply_is_read_leniently_from_its_first_line():
    lenient = load_script("bench_answer").lenient_answer
    assert lenient("Latin") == "Latin"
    assert lenient("\n  Answer: Stephen King \nEvidence: [1]") == "Stephen King"
    assert lenient("answer: no\nbecause ...") == "no"
    assert lenient("") == "" and lenient(None) == ""


def _run(*args: str, cwd: Path) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120, cwd=cwd)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_bad_arguments_are_clear_errors(tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "Who?", "answers": ["A"], "supporting_titles": ["T"]}\n')
    code, out = _run(
        "--corpus",
        str(tmp_path / "missing.jsonl"),
        "--questions",
        str(questions),
        "--out",
        str(tmp_path / "o.json"),
        cwd=tmp_path,
    )
    assert code == 2 and "corpus not found" in out["error"]
    code, out = _run(
        "--corpus",
        str(questions),
        "--questions",
        str(questions),
        "--writers",
        "oracle",
        "--out",
        str(tmp_path / "o.json"),
        cwd=tmp_path,
    )
    assert code == 2 and "--writers" in out["error"]
    questions.write_bytes(b"\x00\xff\xfe binary")
    code, out = _run(
        "--corpus", str(questions), "--questions", str(questions), "--out", str(tmp_path / "o.json"), cwd=tmp_path
    )
    assert code == 2 and "not UTF-8 text" in out["error"]
    assert not (tmp_path / "o.json").exists()
