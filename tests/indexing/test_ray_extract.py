"""`graphrag extract --engine ray` against the local Ray cluster the test command starts (scripts/test.sh:
`ray start --head` on 127.0.0.1): the same records and problems as the local engine, resuming after the driver is
killed, and through a Ray Client address too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "graphrag"]
FIRST = ("Ada", "Bruno", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hugo")
PLACES = ("Lindmark", "Ostrava", "Porto", "Tartu", "Gdansk", "Lyon", "Turku", "Bergen")


def _address(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests with scripts/test.sh, which starts a local Ray cluster")
    return value


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, demo_corpus) -> Path:
    """Ten shards of generated documents, two demo files, a binary file and a JSONL file with a bad line."""
    folder = tmp_path_factory.mktemp("ray-inputs")
    lines = []
    for n in range(640):
        company = f"{PLACES[n % 8]} {FIRST[(n // 8) % 8]} Mills {n}"
        text = (
            f"{FIRST[n % 8]} Marsh founded {company} in {1900 + n % 100}. {company} is headquartered in "
            f"{PLACES[(n + 3) % 8]}. In {1950 + n % 50}, {company} acquired {PLACES[(n + 1) % 8]} Looms {n}."
        )
        lines.append(json.dumps({"id": f"mills-{n}", "title": company, "text": text}))
    (folder / "mills.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name in ("helix-dynamics.md", "veltrix-systems.md"):
        (folder / name).write_text((demo_corpus / name).read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (folder / "mixed.jsonl").write_text('{"text": "Ola Berg founded Nord Paper."}\n[1, 2]\n', encoding="utf-8")
    return folder


def _extract(inputs: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "extract", str(inputs), "--out", str(out), *options],
        env={**os.environ, "GRAPHRAG_DATA_DIR": str(out.parent / "data")},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def local_output(inputs, tmp_path_factory) -> tuple[str, str]:
    out = tmp_path_factory.mktemp("local") / "er.jsonl"
    result = _extract(inputs, out, "--workers", "2")
    assert result.returncode == 0, result.stderr
    return out.read_text(encoding="utf-8"), Path(str(out) + ".errors.jsonl").read_text(encoding="utf-8")


def test_ray_writes_what_the_local_engine_writes(inputs, local_output, tmp_path):
    out = tmp_path / "er.jsonl"
    result = _extract(
        inputs, out, "--engine", "ray", "--address", _address("GRAPHRAG_TEST_RAY_ADDRESS"), "--workers", "2"
    )
    assert result.returncode == 0, result.stderr
    records, errors = local_output
    assert out.read_text(encoding="utf-8") == records  # the same records, in the same order
    assert Path(str(out) + ".errors.jsonl").read_text(encoding="utf-8") == errors
    assert len(records.splitlines()) == 643 and "1 files failed, 1 bad lines" in result.stderr
    assert not Path(str(out) + ".parts").exists()


def test_a_killed_ray_run_resumes_from_its_finished_shards(inputs, local_output, tmp_path):
    out = tmp_path / "er.jsonl"
    parts = Path(str(out) + ".parts")
    command = [*CLI, "extract", str(inputs), "--out", str(out), "--engine", "ray", "--workers", "1"]
    command += ["--address", _address("GRAPHRAG_TEST_RAY_ADDRESS")]
    env = {**os.environ, "GRAPHRAG_DATA_DIR": str(tmp_path / "data")}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and len(list(parts.glob("*.jsonl"))) < 2 and driver.poll() is None:
        time.sleep(0.2)
    assert driver.poll() is None, f"the run ended before it could be interrupted: {driver.stdout.read()}"
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    finished = len(list(parts.glob("*.jsonl")))
    assert finished >= 2 and not out.exists()
    result = _extract(
        inputs, out, "--engine", "ray", "--workers", "2", "--address", _address("GRAPHRAG_TEST_RAY_ADDRESS")
    )
    assert result.returncode == 0, result.stderr
    assert f"({finished} of " in result.stdout  # the parts of the killed run were used, not extracted again
    assert out.read_text(encoding="utf-8") == local_output[0]


def test_a_ray_client_address_works_too(inputs, local_output, tmp_path):
    out = tmp_path / "er.jsonl"
    result = _extract(inputs, out, "--engine", "ray", "--address", _address("GRAPHRAG_TEST_RAY_CLIENT"))
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == local_output[0]


def test_ray_options_are_checked(inputs, tmp_path):
    for options, message in (
        (["--engine", "spark"], "--engine must be local or ray"),
        (["--address", "auto"], "--address names a Ray cluster"),
        (["--engine", "ray", "--store", "sqlite"], "--engine ray writes --out FILE only"),
        (["--engine", "ray", "--address", "127.0.0.1:1", "--workers", "1"], "cannot reach the Ray cluster"),
        (["--engine", "ray", "--address", "nonsense"], "--address must be auto, HOST:PORT or ray://HOST:PORT"),
    ):
        result = _extract(inputs, tmp_path / "er.jsonl", *options)
        assert result.returncode != 0 and message in result.stderr, (options, result.stderr)
        assert "Traceback" not in result.stderr


def test_joined_parts_keep_a_failed_shards_error_where_the_local_engine_writes_it(tmp_path):
    from graphrag.indexing.ray_extract import join_parts

    def problem(source: str, message: str, line: int | None = None) -> dict:
        return {"source": source, "line": line, "code": "invalid_record", "message": message}

    record = {"id": "d1", "entities": [{"id": "e"}], "relations": []}
    failed = {"source": "b.jsonl", "line": None, "code": "model_error", "message": "extraction failed"}
    parts = tmp_path / "er.jsonl.parts"
    parts.mkdir()
    (parts / "0-a.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    (parts / "1-b.jsonl").write_text(json.dumps({"error": failed}) + "\n", encoding="utf-8")
    (parts / "2-c.jsonl").write_text(json.dumps({**record, "id": "d3"}) + "\n", encoding="utf-8")
    plan = [[problem("a.jsonl", "bad line", 2)], "0-a.jsonl", "1-b.jsonl", [problem("c.jsonl", "bad", 1)], "2-c.jsonl"]
    out, errors = tmp_path / "er.jsonl", tmp_path / "er.jsonl.errors.jsonl"

    output = join_parts(plan, parts, out, errors, batch_size=64)

    written = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]
    assert [e["source"] for e in written] == ["a.jsonl", "b.jsonl", "c.jsonl"]  # plan order, as the local engine
    assert [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()] == ["d1", "d3"]
    assert (output.documents, output.entities, output.failed, output.bad_lines) == (2, 2, 1, 2)
    assert not (tmp_path / "er.jsonl.tmp").exists()
