"""scripts/make_paraphrase_kb.py: a synthetic KB whose questions name its relations in other words."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.scripts import SCRIPTS

SCRIPT = SCRIPTS / "make_paraphrase_kb.py"


def _run(*args: str, cwd) -> tuple[int, dict]:
    result = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_every_answer_follows_from_the_triples_written(tmp_path):
    code, out = _run("--out", str(tmp_path / "kb"), "--people", "40", "--questions", "60", cwd=tmp_path)
    assert code == 0 and out["questions"] == 60
    triples = [json.loads(line) for line in (tmp_path / "kb" / "kb.jsonl").read_text().splitlines()]
    questions = [json.loads(line) for line in (tmp_path / "kb" / "questions.jsonl").read_text().splitlines()]
    assert len(triples) == out["triples"] and len(questions) == 60
    facts = {(t["subject"], t["relation"].rsplit("/", 1)[-1], t["object"]) for t in triples}
    for record in questions:
        assert record["answers"], record
        for answer in record["answers"]:
            assert any(answer in (subject, obj) for subject, _, obj in facts), answer
    spouses = [q for q in questions if "husband?" in q["question"] and "do for" not in q["question"]]
    for record in spouses:  # "Who is X's husband?": the other end of X's spouse_s triple, either way round
        person = record["question"].removeprefix("Who is ").removesuffix("'s husband?")
        partners = {o for s, r, o in facts if r == "spouse_s" and s == person} | {
            s for s, r, o in facts if r == "spouse_s" and o == person
        }
        assert set(record["answers"]) == partners


def test_bad_counts_are_a_clear_error(tmp_path):
    code, out = _run("--out", str(tmp_path), "--people", "2", cwd=tmp_path)
    assert code == 2 and "--people" in out["error"]
    code, out = _run("--out", str(tmp_path), "--questions", "0", cwd=tmp_path)
    assert code == 2 and "--questions" in out["error"]
