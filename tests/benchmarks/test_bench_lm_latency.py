"""scripts/bench_lm_latency.py on the small test LM: --select cuts what the model reads, and bad input is a clear
error (the figures themselves come from the benchmark run with Qwen, not from tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.scripts import SCRIPTS

SCRIPT = SCRIPTS / "bench_lm_latency.py"


def _run(*args: str, cwd: Path, **env: str) -> tuple[int, dict]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env={**os.environ, "GRAPHRAG_ANSWER_MODEL": "smollm2-135m", **env},
    )
    return done.returncode, json.loads(done.stdout.strip()[done.stdout.index("{") :] if "{" in done.stdout else "{}")


def _corpus(path: Path) -> Path:
    topics = ["the harbour", "a mill", "the river", "an orchard", "the railway", "a chapel", "the market", "a bridge"]
    lines = []
    for number, topic in enumerate(topics * 4):
        text = " ".join(
            f"Sentence {k} of passage {number} tells a plain fact about {topic} and the town near it." for k in range(6)
        )
        lines.append(json.dumps({"title": f"Passage {number}", "text": text}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_select_cuts_the_prompt_to_the_reader_budget(tmp_path):
    corpus = _corpus(tmp_path / "corpus.jsonl")
    code, out = _run(
        "--corpus",
        str(corpus),
        "--evidence-tokens",
        "1000",
        "--repeats",
        "1",
        "--max-new-tokens",
        "4",
        "--select",
        cwd=tmp_path,
    )
    assert code == 0, out
    budget = out["budgets"]["1000"]
    assert out["reader_tokens"] == 500 and budget["select_ms"] > 0
    assert 500 < budget["prompt_tokens"] < 700  # system prompt, labels and question on top of 500 evidence tokens
    decoding = budget["decoding"]["10"]  # the answer writer's DRAFT_TOKENS
    assert out["draft_tokens"] == [10] and decoding["answer_ms_p50"] >= decoding["generate_ms_p50"] > 0
    code, plain = _run(
        "--corpus", str(corpus), "--evidence-tokens", "1000", "--repeats", "1", "--max-new-tokens", "4", cwd=tmp_path
    )
    assert (
        code == 0 and plain["budgets"]["1000"]["prompt_tokens"] > 1000 and "select_ms" not in plain["budgets"]["1000"]
    )


def test_draft_settings_are_compared_on_the_same_prompt(tmp_path):
    corpus = _corpus(tmp_path / "corpus.jsonl")
    code, out = _run(
        "--corpus",
        str(corpus),
        "--evidence-tokens",
        "300",
        "--repeats",
        "2",
        "--max-new-tokens",
        "12",
        "--draft-tokens",
        "0,6",
        "--reply-vocabulary",
        "evidence,any",
        cwd=tmp_path,
    )
    assert code == 0, out
    budget = out["budgets"]["300"]
    assert out["draft_tokens"] == [0, 6] and out["reply_vocabulary"] == ["evidence", "any"]
    assert set(budget["decoding"]) == {"0/evidence", "0/any", "6/evidence", "6/any"}
    assert all(figures["new_tokens"] > 0 and figures["generate_ms_p50"] > 0 for figures in budget["decoding"].values())
    assert isinstance(budget["same_reply"], bool) and "answer_ms_p50" not in budget["decoding"]["0/any"]
    same, asked = map(int, budget["same_replies"].split("/"))
    assert asked == 2 and (same == 2) == budget["same_reply"]


def test_real_questions_are_each_asked_once_per_budget(tmp_path):
    corpus = _corpus(tmp_path / "corpus.jsonl")
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps(
                {
                    "id": f"q{n}",
                    "question": f"What is near passage {n}?",
                    "supporting_titles": [f"Passage {n}", f"Passage {n + 8}"],
                }
            )
            for n in range(4)
        )
        + "\n",
        encoding="utf-8",
    )
    code, out = _run(
        "--corpus",
        str(corpus),
        "--evidence-tokens",
        "150,400",
        "--max-new-tokens",
        "4",
        "--questions",
        str(questions),
        "--limit",
        "3",
        cwd=tmp_path,
    )
    assert code == 0, out
    for figures in out["budgets"].values():
        assert figures["questions"] == 3 and figures["decoding"]["10"]["new_tokens"] > 0
    # each budget is filled: the gold passages (about 110 tokens each) cut at 150, distractors added up to 400
    assert out["budgets"]["150"]["prompt_tokens"] + 200 < out["budgets"]["400"]["prompt_tokens"]
    assert out["merged_adapters"] == 2  # the answer writer's MERGED_ADAPTERS


def test_bad_arguments_are_clear_errors(tmp_path):
    corpus = _corpus(tmp_path / "corpus.jsonl")
    code, out = _run("--corpus", str(corpus), "--evidence-tokens", "ten", cwd=tmp_path)
    assert code == 2 and "--evidence-tokens" in out["error"]
    code, out = _run("--corpus", str(corpus), "--draft-tokens", "0,-3", cwd=tmp_path)
    assert code == 2 and "--draft-tokens" in out["error"]
    code, out = _run("--corpus", str(corpus), "--reply-vocabulary", "evidence,some", cwd=tmp_path)
    assert code == 2 and "--reply-vocabulary" in out["error"]
    code, out = _run("--corpus", str(tmp_path / "missing.jsonl"), cwd=tmp_path)
    assert code == 2 and "corpus not found" in out["error"]
    code, out = _run("--corpus", str(corpus), "--questions", str(tmp_path / "none.jsonl"), cwd=tmp_path)
    assert code == 2 and "questions file not found" in out["error"]
    (tmp_path / "bad.jsonl").write_bytes(b"\x00\xff binary")
    code, out = _run("--corpus", str(corpus), "--questions", str(tmp_path / "bad.jsonl"), cwd=tmp_path)
    assert code == 2 and "bad.jsonl" in out["error"]
    code, out = _run("--corpus", str(corpus), "--questions", str(corpus), "--limit", "0", cwd=tmp_path)
    assert code == 2 and "--limit" in out["error"]
