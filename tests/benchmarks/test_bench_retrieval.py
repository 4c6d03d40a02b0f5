"""scripts/bench_retrieval.py: recall arithmetic, the whole run on a corpus built from the demo, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.scripts import SCRIPTS, load_script

SCRIPT = SCRIPTS / "bench_retrieval.py"


def test_recall_counts_distinct_titles_in_rank_order():
    recall_at = load_script("bench_retrieval").recall_at
    ranked = ["Alpha", "Alpha", "Beta", "Gamma", "Delta"]
    assert recall_at(ranked, ["Beta", "Gamma"], 2) == 0.5  # top-2 distinct: Alpha, Beta
    assert recall_at(ranked, ["Beta", "Gamma"], 3) == 1.0
    assert recall_at(ranked, ["Omega"], 5) == 0.0


def test_whole_run_on_the_demo_corpus(tmp_path, demo_corpus):
    corpus = tmp_path / "corpus.jsonl"
    with corpus.open("w", encoding="utf-8") as out:
        for path in sorted(demo_corpus.glob("*.md")):
            heading, _, body = path.read_text(encoding="utf-8").partition("\n")
            out.write(json.dumps({"title": heading.lstrip("# ").strip(), "text": body.strip()}) + "\n")
    questions = tmp_path / "demo_dev.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"question": "Who founded Veltrix Systems?", "supporting_titles": ["Veltrix Systems"]},
                {"question": "Which company acquired Veltrix Systems?", "supporting_titles": ["Helix Dynamics"]},
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out_file = tmp_path / "results.json"
    run = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--corpus",
            str(corpus),
            "--questions",
            str(questions),
            "--out",
            str(out_file),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    sets = json.loads(out_file.read_text(encoding="utf-8"))["sets"]
    assert set(sets) == {"demo_dev"} and set(sets["demo_dev"]) == {"bm25", "dense", "hybrid", "graph"}
    for row in sets["demo_dev"].values():
        assert set(row) == {"recall@2", "recall@5", "p50_ms", "p95_ms"}
        assert 0 <= row["recall@2"] <= row["recall@5"] <= 100 and row["p50_ms"] > 0
    # Both questions name the passage that answers them: every method finds it within five.
    assert all(row["recall@5"] == 100.0 for row in sets["demo_dev"].values()), sets
    assert "| demo_dev | graph |" in run.stdout


def test_bad_question_file_is_a_clear_error(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"title": "T", "text": "Some text."}) + "\n", encoding="utf-8")
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"question": "ok?", "supporting_titles": ["T"]}\n{"question": "no titles"}\n', encoding="utf-8"
    )
    run = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--corpus",
            str(corpus),
            "--questions",
            str(questions),
            "--out",
            str(tmp_path / "r.json"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "q.jsonl:2" in json.loads(run.stdout)["error"] and "supporting_titles" in run.stdout
