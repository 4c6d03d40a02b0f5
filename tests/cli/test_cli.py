"""The graphrag CLI as a user runs it (subprocesses with the real models)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from graphrag.records import ExtractionRecord
from tests.scripts import REPO_ROOT


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("cli-store")
    env = {**os.environ, "GRAPHRAG_DATA_DIR": str(data_dir)}
    env.pop("GRAPHRAG_DEBUG", None)

    def run(*args: str, check: bool = True, **settings: str) -> subprocess.CompletedProcess:
        """Run the CLI; keyword arguments are settings for this run (answer_batch_size="2")."""
        extra = {f"GRAPHRAG_{name.upper()}": value for name, value in settings.items()}
        result = subprocess.run(
            [sys.executable, "-m", "graphrag", *args], env={**env, **extra}, capture_output=True, text=True, timeout=300
        )
        if check:
            assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


def test_ingest_ask_stats_delete(cli, demo_corpus):
    first = json.loads(cli("ingest", str(demo_corpus), "--json").stdout)
    assert first["documents_added"] >= 30
    again = json.loads(cli("ingest", str(demo_corpus), "--json").stdout)
    assert again["documents_unchanged"] == first["documents_added"] and again["stats"] == first["stats"]
    human = cli("ask", "Who founded Bluefin Robotics?").stdout
    assert "A: Lena Hartmann" in human and "path:" in human and "[1]" in human
    answer = json.loads(cli("ask", "Where was Jonas Weber born?", "--json").stdout)
    assert answer["answer"] == "Stonevale" and answer["citations"]
    stats = json.loads(cli("stats").stdout)
    assert stats == first["stats"]
    communities = json.loads(cli("communities", "--limit", "2").stdout)["communities"]
    assert len(communities) == 2 and communities[0]["size"] >= communities[1]["size"] >= 3
    assert json.loads(cli("communities", "--limit", "2", "--refresh").stdout)["communities"] == communities
    document_id = first["document_ids"][0]
    cli("delete", document_id)
    assert json.loads(cli("stats").stdout)["documents"] == stats["documents"] - 1
    missing = cli("delete", document_id, check=False)
    assert missing.returncode == 2 and "error [not_found]" in missing.stderr


def test_batch_ask(cli, demo_corpus, tmp_path):
    cli("ingest", str(demo_corpus))
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"id": "a", "question": "Who founded Veltrix Systems?"})
        + "\n{bad json\n"
        + json.dumps({"id": "b", "question": "Who founded Zorblax Corp?"})
        + "\n"
        + json.dumps({"id": "c", "question": "Who " + "x" * 5000})
        + "\n\n"
        + json.dumps({"id": "d", "question": "Who founded Bluefin Robotics?"})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "answers.jsonl"
    for batch_size in ("8", "2"):  # all questions together, and batches that split the file
        result = cli("ask", "--questions", str(questions), "--out", str(out), answer_batch_size=batch_size)
        assert ":2:" in result.stderr and ":4:" in result.stderr and "characters" in result.stderr
        assert "wrote 3 answers" in result.stdout and "2 bad lines" in result.stdout
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert [r["id"] for r in rows] == ["a", "b", "d"]
        assert set(rows[0]) == {"id", "answer", "confidence", "citations", "paths"}
        assert rows[0]["answer"] == "Anika Sorensen" and rows[1]["answer"] == "I don't know."
        assert rows[2]["answer"] == "Lena Hartmann"


def test_errors_are_one_line_not_tracebacks(cli, tmp_path):
    result = cli("ask", "x" * 5000, check=False)
    assert result.returncode == 2 and result.stderr.startswith("error [limit_exceeded]")
    result = cli("communities", "--limit", "0", check=False)  # a bad option value is a usage error, not internal
    assert result.returncode == 2 and "Invalid value for '--limit'" in result.stderr and "internal" not in result.stderr
    result = cli("ingest", str(tmp_path / "missing.txt"), check=False)
    assert result.returncode == 2 and "no such file" in result.stderr
    binary = tmp_path / "blob.txt"
    binary.write_bytes(bytes(range(256)))
    result = cli("ingest", str(binary), check=False)
    assert result.returncode == 2 and "binary" in result.stderr


def test_extract_writes_records_and_lists_bad_files(cli, demo_corpus, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("helix-dynamics.md", "veltrix-systems.md"):
        (inputs / name).write_text((demo_corpus / name).read_text(encoding="utf-8"), encoding="utf-8")
    (inputs / "bad.txt").write_bytes(b"\x00\x01binary")
    (inputs / "mixed.jsonl").write_text('{"text": "Ola Berg founded Nord Paper."}\n[1, 2]\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = cli("extract", str(inputs), "--out", str(out), "--workers", "2")
    records = [ExtractionRecord.model_validate_json(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 3
    helix = next(r for r in records if r.title == "Helix Dynamics")
    assert ("Helix Dynamics", "ACQUIRED", "Veltrix Systems") in {
        (r.source_name, r.type, r.target_name) for r in helix.relations
    }
    errors = [
        json.loads(line) for line in (tmp_path / "out.jsonl.errors.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert {(e["source"].rsplit("/", 1)[-1], e["line"]) for e in errors} == {("bad.txt", None), ("mixed.jsonl", 2)}
    assert "1 files failed" in result.stderr


def test_demo_without_serving(cli, demo_questions):
    output = cli("demo", "--no-serve").stdout
    assert output.count("Q: ") == len(demo_questions)
    assert "A: Anika Sorensen" in output and "path: " in output and "I don't know." in output


def test_serve_with_unreachable_neo4j_is_one_clear_error(tmp_path):
    from tests.servers import free_port

    env = {
        **os.environ,
        "GRAPHRAG_DATA_DIR": str(tmp_path),
        "GRAPHRAG_GRAPH_BACKEND": "neo4j",
        "GRAPHRAG_NEO4J_URI": f"bolt://127.0.0.1:{free_port()}",
        "GRAPHRAG_PORT": str(free_port()),
    }
    result = subprocess.run(
        [sys.executable, "-m", "graphrag", "serve"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error [store_unavailable]") and "Traceback" not in result.stderr


def test_models_and_adapters_commands(cli, tmp_path):
    models = {m["key"]: m for m in json.loads(cli("models", "list").stdout)}
    assert models["smollm2-135m"]["installed"] and set(models) == {"smollm2-135m", "qwen2.5-coder-0.5b"}
    assert sum(m["default"] for m in models.values()) == 1
    unknown = cli("models", "install", "gpt-9", check=False)
    assert unknown.returncode == 2 and "error [invalid_input]: unknown model gpt-9" in unknown.stderr

    adapters = str(tmp_path / "adapters")
    shipped = json.loads(cli("--config", _config(tmp_path, adapters), "adapters", "list").stdout)
    assert all(a["shipped"] and not a["active"] for a in shipped)  # only those in weights/, none active
    for name in ("v1", "v2"):  # manifests as scripts/finetune.py writes them (weights are not needed to list)
        folder = tmp_path / "adapters" / name
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(
            json.dumps(
                {
                    "name": name,
                    "kind": "answer",
                    "base_model": "smollm2-135m",
                    "base_sha256": "ab" * 32,
                    "training_data_sha256": "cd" * 32,
                    "created_at": f"2026-11-2{name[1]}T00:00:00+00:00",
                }
            )
        )
    config = _config(tmp_path, adapters)
    assert cli("--config", config, "adapters", "activate", "v1").stdout.strip() == "active answer adapter: v1"
    cli("--config", config, "adapters", "activate", "v2")
    listed = json.loads(cli("--config", config, "adapters", "list").stdout)
    assert [(a["name"], a["active"]) for a in listed if not a["shipped"]] == [("v1", False), ("v2", True)]
    assert "v1" in cli("--config", config, "adapters", "rollback").stdout
    assert "none (base model)" in cli("--config", config, "adapters", "rollback").stdout
    nothing = cli("--config", config, "adapters", "rollback", check=False)
    assert nothing.returncode == 2 and "nothing to roll back" in nothing.stderr
    missing = cli("--config", config, "adapters", "activate", "v3", check=False)
    assert missing.returncode == 2 and "error [not_found]" in missing.stderr
    hostile = cli("--config", config, "adapters", "activate", "../v1", check=False)
    assert hostile.returncode == 2 and "invalid adapter name" in hostile.stderr


def _config(tmp_path, adapters: str) -> str:
    config = tmp_path / "graphrag.toml"
    config.write_text(f'adapters_dir = "{adapters}"\n', encoding="utf-8")
    return str(config)


def test_finetune_script_rejects_bad_input(tmp_path):

    script = REPO_ROOT / "scripts" / "finetune.py"
    env = {**os.environ, "GRAPHRAG_ADAPTERS_DIR": str(tmp_path / "adapters")}
    bad = tmp_path / "bad.json"
    for content in (b"\x00\x01binary", b'{"not": "a list"}', b'[{"title": "x"}]'):
        bad.write_bytes(content)
        result = subprocess.run(
            [sys.executable, str(script), "--data", str(bad), "--relations", str(bad)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert json.loads(result.stdout)["error"]
    result = subprocess.run(
        [sys.executable, str(script), "--data", str(bad), "--name", "../evil"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "invalid adapter name" in json.loads(result.stdout)["error"]


def test_bench_extract_rejects_bad_input(tmp_path):

    script = REPO_ROOT / "scripts" / "bench_extract.py"
    bad = tmp_path / "bad.json"
    relations = tmp_path / "rel_info.json"
    relations.write_text('{"P17": "country"}')
    cases = (
        (b"\x00\x01binary", relations, "cannot read"),
        (b'[{"title": "x"}]', relations, "not in DocRED format"),
        (b"[]", bad, "relation id -> name"),
    )
    for data, names, message in cases:
        bad.write_bytes(data)
        result = subprocess.run(
            [sys.executable, str(script), "--data", str(bad), "--relations", str(names)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert message in json.loads(result.stdout)["error"]
    result = subprocess.run(
        [sys.executable, str(script), "--data", str(bad), "--extractors", "magic"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "--extractors takes default, encoder and/or rules" in result.stderr


def test_bench_extract_scores_the_encoder_alike_with_and_without_an_ingest_worker(tmp_path):
    """The benchmark reads held-out documents as ingest does; with a worker (spaCy mentions there, relations read
    here) the scores are those of one process."""
    from tests.docred import company_document, write_docred

    people = ["Lena Hartmann", "Gustav Lindqvist", "Priya Natarajan", "Daniel Okafor", "Hannah Brooks", "Omar Haddad"]
    cities = ["Oslo", "Stockholm", "Madrid", "Lagos", "Toronto", "Cairo"]
    documents = [
        company_document(f"{name.split()[1]} {suffix}", name, city)
        for suffix in ("Robotics", "Analytics", "Capital", "Systems")
        for name, city in zip(people, cities)
    ]
    data = write_docred(tmp_path, documents)
    (tmp_path / "rel_info.json").write_text('{"P159": "headquarters location", "P112": "founded by"}')
    scores = []
    for workers in ("0", "1"):
        out = tmp_path / f"scores-{workers}.json"
        command = [sys.executable, str(REPO_ROOT / "scripts" / "bench_extract.py"), "--data", str(data)]
        command += ["--extractors", "encoder", "--batch", "4", "--workers", workers, "--out", str(out)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        found = json.loads(out.read_text())
        assert found["documents"] > 0
        scores.append(found["extractors"]["encoder"])
    assert [s["workers"] for s in scores] == [0, 1]
    assert scores[0]["typed"]["predicted"] > 0 and scores[0]["typed"] == scores[1]["typed"]
