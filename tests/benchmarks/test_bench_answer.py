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


def test_the_default_writer_is_the_product_as_configured(tmp_path):
    """``--writers default`` measures what `graphrag ask` gives: with the default settings, the extractive writer
    (its figures equal the extractive column's; no answer model is loaded)."""
    corpus = tmp_path / "corpus.jsonl"
    passages = [
        ("Loom Works", "Loom Works is a textile company. Loom Works was founded by Ada Quint in 1990."),
        ("Ada Quint", "Ada Quint is an engineer. Ada Quint was born in Lindmark."),
        ("Lindmark", "Lindmark is a port city in Nordvale."),
    ]
    corpus.write_text("".join(json.dumps({"title": t, "text": x}) + "\n" for t, x in passages))
    questions = tmp_path / "q.jsonl"
    records = [
        {"question": "Who founded Loom Works?", "answers": ["Ada Quint"], "supporting_titles": ["Loom Works"]},
        {
            "question": "Where was the founder of Loom Works born?",
            "answers": ["Lindmark"],
            "supporting_titles": ["Loom Works", "Ada Quint"],
        },
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "o.json"
    args = ["--corpus", str(corpus), "--questions", str(questions), "--out", str(out)]
    code, summary = _run(*args, "--writers", "default,extractive", "--cache-dir", str(tmp_path / "cache"), cwd=tmp_path)
    assert code == 0, summary
    assert summary["default_writer"] == "extractive" and summary["answer_model"] is None
    for mode in ("gold", "retrieved"):
        figures = summary["sets"]["q"][mode]
        assert figures["default"]["f1"] == figures["extractive"]["f1"]
        assert figures["default"]["abstain_rate"] == figures["extractive"]["abstain_rate"]
    assert summary["sets"]["q"]["retrieved"]["default"]["f1"] > 0  # the graph answers these two
