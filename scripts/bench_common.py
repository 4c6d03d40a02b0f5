"""Helpers shared by the benchmark scripts: peak memory sampling and a settings-keyed data directory."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import psutil

__all__ = ["PeakRss", "cache_dir_for", "load_questions", "p95", "print_json", "reproducing", "text_lines"]


class PeakRss:
    """Samples the resident memory of this process plus all its children (extraction workers) every 100 ms."""

    def __init__(self) -> None:
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._sample())
            time.sleep(0.1)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._sample())

    @property
    def peak_mb(self) -> float:
        return round(self.peak_bytes / 1e6, 1)


def cache_dir_for(corpus: Path, settings, root: Path) -> Path:
    """A data directory keyed by corpus content, the settings that decide what an index holds, the extraction
    code and, with ``extractor=encoder``, the classifier's files, so an unchanged index is reused and new weights or
    extraction rules build a new one."""
    digest = hashlib.sha256()
    with corpus.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(settings.index_fingerprint().encode())
    for source in sorted((Path(__file__).resolve().parents[1] / "graphrag" / "extraction").glob("*.py")):
        digest.update(source.read_bytes())
    if settings.extractor == "encoder":
        from graphrag.extraction.encoder_extractor import classifier_folder

        folder = classifier_folder(settings)
        for name in ("relations.json", "classifier.safetensors"):
            digest.update(hashlib.sha256((folder / name).read_bytes()).digest())
    return root / f"{corpus.stem}-{digest.hexdigest()[:12]}"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayNeo4j:
    """A Neo4j server of our own for a benchmark run (temporary home, free ports, auth off), never the user's."""

    def __init__(self, heap: str = "2g") -> None:
        import tempfile

        self.home = Path(tempfile.mkdtemp(prefix="bench-neo4j-"))
        bolt = free_port()
        self.overrides = {
            "neo4j_home": self.home,
            "neo4j_auth": False,
            "neo4j_bolt_port": bolt,
            "neo4j_http_port": free_port(),
            "neo4j_uri": f"bolt://127.0.0.1:{bolt}",
            "neo4j_heap": heap,
            "neo4j_pagecache": "1g",
            "neo4j_timeout_s": 30.0,
        }
        self._server = None

    def __enter__(self) -> ThrowawayNeo4j:
        from graphrag import Settings
        from graphrag.graph_store.neo4j_server import Neo4jServer

        self._server = Neo4jServer(Settings.load(**self.overrides))
        self._server.start()
        return self

    def __exit__(self, *exc) -> None:
        import shutil

        if self._server is not None:
            self._server.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def text_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file; a ValueError naming the file when it is binary or another encoding."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}); expected JSON lines") from None


def load_questions(path: Path, list_field: str) -> list[dict]:
    """Question records with a 'question' string and a non-empty list of strings under ``list_field``
    ('supporting_titles' for retrieval, 'answers' for answering); a clear ValueError naming the line otherwise."""
    records = []
    for number, line in enumerate(text_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("question"), str):
            raise ValueError(f"{path}:{number}: no 'question' string")
        values = record.get(list_field)
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise ValueError(f"{path}:{number}: '{list_field}' must be a non-empty list of strings")
        records.append(record)
    if not records:
        raise ValueError(f"{path}: no questions")
    return records


def p95(values: list[float]) -> float:
    """The 95th percentile of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def print_json(result: dict, out: Path | None = None) -> None:
    """Print a script's JSON result and, when ``out`` is given, also write it there."""
    text = json.dumps(result, indent=2)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    print(text)


def run_reporting(body, out: Path | None = None) -> int:
    """Run a script's body (a function returning its JSON summary): print the summary (and write it to ``out``)
    and return 0, or print {"error": ...} naming the problem and return 2 on bad input, a missing file or a model
    error; never a traceback for those."""
    from graphrag import GraphRAGError

    try:
        summary = body()
    except (GraphRAGError, OSError, ValueError) as exc:
        print(json.dumps({"error": getattr(exc, "message", str(exc))}))
        return 2
    print_json(summary, out)
    return 0


def reproducing(arguments: list[str], where: tuple[str, ...]) -> list[str]:
    """A training command's arguments less the options in ``where`` (and their values), which change where things
    are kept, not what is trained: what a manifest records to reproduce the weights."""
    out, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
            continue
        if argument in where:
            skip = True
            continue
        if not argument.startswith(tuple(f"{option}=" for option in where)):
            out.append(argument)
    return out


def add_probe_data_arguments(parser, train: int, calibration: int, validation: int = 200) -> None:
    """The data options of a probe-training script: the Re-DocRED file, its relation names, and how many
    questions to train on, calibrate on and report on (defaults given)."""
    parser.add_argument("--data", type=Path, required=True, help="Re-DocRED (DocRED-format) JSON file")
    parser.add_argument("--relations", type=Path, help="rel_info.json (default: next to --data)")
    parser.add_argument("--train-examples", type=int, default=train, help=f"training questions (default {train})")
    parser.add_argument(
        "--calibration-examples", type=int, default=calibration, help=f"calibration questions (default {calibration})"
    )
    parser.add_argument(
        "--validation-examples", type=int, default=validation, help=f"report questions (default {validation})"
    )


def check_probe_data_arguments(args) -> None:
    """ValueError naming the option when ``add_probe_data_arguments``' question counts are too small to train on."""
    if args.train_examples < 20 or args.calibration_examples < 10 or args.validation_examples < 1:
        raise ValueError("--train-examples must be at least 20, --calibration-examples 10, --validation-examples 1")
