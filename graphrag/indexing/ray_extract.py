"""Batch extraction on a Ray cluster: ``graphrag extract INPUT... --out er.jsonl --engine ray``.

This process (the driver) loads the inputs and cuts them into the same shards as the local engine
(graphrag.indexing.batch), so the inputs need only be on the driver's machine. Each of ``workers`` Ray actors
loads the extractor once and extracts the shards it is handed; the driver hands each actor one shard at a time
(Ray's ActorPool) and reads the inputs only as fast as the actors take their shards.

Each finished shard is written to ``<out>.parts/<number>-<digest>.jsonl`` (written to a temporary name and renamed,
so a part is whole or absent). The digest names the shard's documents and the settings that shape extraction, so a
rerun after an interruption, or a crash of the driver, skips every part already there and extracts only the rest;
a changed input or setting makes new parts. When every shard is done the parts are joined, in order, into ``out``
(again through a rename) and the parts folder is removed.

Every node of the cluster needs this project's environment (``scripts/setup.sh``): actors import graphrag there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from graphrag.config import Settings
from graphrag.errors import ConfigError, InputError, StoreUnavailableError
from graphrag.indexing.batch import ExtractSummary, Output, Shard, ShardResult, extract_shard, plan_shards

__all__ = ["extract_on_ray", "join_parts", "part_name"]

# The settings that change what extraction writes; any other setting may differ between runs of one job.
_EXTRACTION_FIELDS = {
    "extractor",
    "extractor_model",
    "relation_min_confidence",
    "spacy_model",
    "chunk_size",
    "chunk_overlap",
    "tenant",
    "max_document_bytes",
}


def part_name(shard: Shard, settings: Settings) -> str:
    """The file name of a shard's finished output: its place, and a digest of its documents and the settings."""
    digest = hashlib.sha256()
    digest.update(settings.model_dump_json(include=_EXTRACTION_FIELDS).encode())
    for document in shard.documents:
        digest.update(f"{document.id}\0{document.sha256}\0{document.title}\0{document.source}\n".encode())
    return f"{shard.number:07d}-{digest.hexdigest()[:16]}.jsonl"


class _ShardExtractor:
    """A Ray actor's body: the extractor, loaded once when the actor starts."""

    def __init__(self, settings_json: str) -> None:
        from graphrag.indexing.pipeline import init_extractor_worker
        from graphrag.offline import force_offline

        force_offline()
        init_extractor_worker(settings_json, in_worker=True)
        self.settings = Settings.model_validate_json(settings_json)

    def extract(self, shard: Shard) -> ShardResult:
        return extract_shard(shard, self.settings)


def _check_reachable(address: str) -> None:
    """Fail fast on a HOST:PORT (or ray://HOST:PORT) nothing listens on: Ray itself retries for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--address must be auto, HOST:PORT or ray://HOST:PORT, not {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise StoreUnavailableError(f"cannot reach the Ray cluster at {address}: {exc}") from exc


def _connect(address: str | None):
    import ray

    if address not in (None, "auto"):
        _check_reachable(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: Ray must not try to report usage
    # Ray's own log lines stay in its session logs; ours (tqdm, errors) go to the terminal. A Ray Client
    # connection (ray://) takes fewer options: the cluster's are fixed already.
    options = {"logging_level": "ERROR"}
    if not (address or "").startswith("ray://"):
        options |= {"log_to_driver": False, "include_dashboard": False}
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise StoreUnavailableError(
            f"cannot reach the Ray cluster at {address or 'a new local instance'}: {exc}"
        ) from exc
    return ray


def _write_atomically(path: Path, lines: list[str]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.writelines(lines)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def join_parts(
    plan: Sequence[str | list[dict]], parts_dir: Path, out: Path, errors_out: Path, batch_size: int
) -> Output:
    """Write ``out`` and ``errors_out`` from the finished parts and the files' problems, in ``plan`` order (a part's
    name, or a file's problems): the records, and the problems in the order the local engine writes them."""
    joined = out.with_name(out.name + ".tmp")
    with errors_out.open("w", encoding="utf-8") as errors_file, joined.open("w", encoding="utf-8") as records_file:
        output = Output(records_file, errors_file, None, batch_size)
        shard_number = 0
        for item in plan:
            if not isinstance(item, str):
                output.problems(item)
                continue
            rows = [json.loads(line) for line in (parts_dir / item).read_text(encoding="utf-8").splitlines()]
            errors = [row["error"] for row in rows if "error" in row]
            output.shard(ShardResult(shard_number, [row for row in rows if "error" not in row], errors, []))
            shard_number += 1
    joined.replace(out)
    return output


def extract_on_ray(
    files: Sequence[Path],
    out: Path | None,
    errors_out: Path,
    settings: Settings,
    workers: int,
    progress: bool,
    address: str | None,
) -> ExtractSummary:
    """Extract ``files`` on ``workers`` Ray actors into ``out`` (see the module docstring); file problems go to
    ``errors_out``. ``address``: "auto", "HOST:PORT", "ray://HOST:PORT", or None for a local instance."""
    if out is None:
        raise InputError("--engine ray writes records to a file: give --out FILE (then 'graphrag ingest FILE')")
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as exc:  # the package is part of the pinned environment; a stripped one lacks it
        raise ConfigError("--engine ray needs the 'ray' package (scripts/setup.sh installs it)") from exc
    parts_dir = out.with_name(out.name + ".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    errors_out.parent.mkdir(parents=True, exist_ok=True)
    errors_out.write_text("", encoding="utf-8")  # an earlier run's problems are not this run's, even if this one fails
    _connect(address)
    # In plan order: each shard's part name, and each file's problems where the local engine reports them, so the
    # errors file comes out the same as the local engine's
    plan: list[str | list[dict]] = []
    reused = 0
    try:
        # One CPU per actor: an actor the cluster has no CPU for would wait for one forever, holding its shards.
        cpus = int(ray.cluster_resources().get("CPU", 1))
        if workers > cpus:
            tqdm.write(f"the Ray cluster has {cpus} CPUs: running {cpus} extractor actors, not {workers}")
        actor = ray.remote(num_cpus=1)(_ShardExtractor)
        pool = ActorPool([actor.remote(settings.model_dump_json()) for _ in range(max(1, min(workers, cpus)))])
        with tqdm(desc="extracting on ray", unit="shard", disable=not progress) as bar:
            pending: dict[int, str] = {}

            def collect(result: ShardResult) -> None:
                lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in result.records]
                lines += [json.dumps({"error": e}, ensure_ascii=False) + "\n" for e in result.errors]
                _write_atomically(parts_dir / pending.pop(result.number), lines)
                bar.update()

            for item in plan_shards(files, settings):
                if not isinstance(item, Shard):
                    plan.append(item)
                    continue
                name = part_name(item, settings)
                plan.append(name)
                if (parts_dir / name).exists():
                    reused += 1
                    bar.update()
                    continue
                pending[item.number] = name
                while not pool.has_free() and pool.has_next():
                    collect(pool.get_next_unordered())
                pool.submit(lambda a, shard: a.extract.remote(shard), item)
            while pool.has_next():
                collect(pool.get_next_unordered())
        output = join_parts(plan, parts_dir, out, errors_out, settings.ingest_batch_size)
    except ray.exceptions.RayError as exc:  # an actor or node died, or the cluster went away
        raise StoreUnavailableError(
            f"the Ray cluster failed during extraction ({type(exc).__name__}: {str(exc).splitlines()[0][:300]}); "
            "finished shards are kept: run the same command again to resume"
        ) from exc
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()  # this driver's connection; a cluster started elsewhere keeps running
    shutil.rmtree(parts_dir, ignore_errors=True)
    shards = sum(isinstance(item, str) for item in plan)
    return output.summary(len(files), shards, reused)
