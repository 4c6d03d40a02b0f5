"""scripts/bench_kbqa.py: the whole run on a small knowledge base, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.scripts import SCRIPTS

SCRIPT = SCRIPTS / "bench_kbqa.py"

FACTS = [
    ("Ada Quint", "people/person/parents", "Bram Quint"),
    ("Bram Quint", "people/person/place_of_birth", "Lindmark"),
    ("Ada Quint", "people/person/spouse", "Cole Rivers"),
    ("Cole Rivers", "people/person/profession", "Pilot"),
]
QUESTIONS = [
    {"question": "Who are the parents of Ada Quint?", "answers": ["Bram Quint"]},
    {"question": "What is the place of birth of Ada Quint's parents?", "answers": ["Lindmark"]},
    {"question": "What is the profession of Ada Quint's spouse?", "answers": ["Pilot"]},
]


def _run(*args: str, cwd) -> tuple[int, dict]:
    result = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_whole_run_scores_the_product_and_the_baseline(tmp_path):
    kb = tmp_path / "kb.jsonl"
    kb.write_text("".join(json.dumps(dict(zip(("subject", "relation", "object"), f))) + "\n" for f in FACTS))
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    code, out = _run("--kb", str(kb), "--questions", str(questions), cwd=tmp_path)
    assert code == 0, out
    assert out["triples"] == len(FACTS) and out["questions"] == len(QUESTIONS) and out["triples_per_s"] > 0
    assert out["product"]["hits_at_1"] == 100.0 and out["product"]["abstained"] == 0
    assert out["product"]["p95_ms"] >= out["product"]["p50_ms"] > 0
    assert 0 <= out["baseline"]["hits_at_1"] <= 100
    code, out = _run("--kb", str(kb), "--questions", str(questions), "--copies", "3", "--no-baseline", cwd=tmp_path)
    assert code == 0 and out["copies"] == 3 and out["triples"] == 3 * len(FACTS)
    assert out["product"]["hits_at_1"] == 100.0  # the copies' numbered names do not take the questions' answers


def test_bad_input_is_a_clear_error(tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "Who?"}\n')
    kb = tmp_path / "kb.jsonl"
    kb.write_text(json.dumps({"subject": "A", "relation": "r", "object": "B"}) + "\n")
    code, out = _run("--kb", str(tmp_path / "missing.jsonl"), "--questions", str(questions), cwd=tmp_path)
    assert code == 2 and "knowledge base not found" in out["error"]
    code, out = _run("--kb", str(kb), "--questions", str(questions), cwd=tmp_path)
    assert code == 2 and "answers" in out["error"]  # a question without its answers
    code, out = _run("--kb", str(kb), "--questions", str(questions), "--sample", "0", cwd=tmp_path)
    assert code == 2 and "--sample" in out["error"]
    code, out = _run("--kb", str(kb), "--questions", str(questions), "--copies", "0", cwd=tmp_path)
    assert code == 2 and "--copies" in out["error"]
