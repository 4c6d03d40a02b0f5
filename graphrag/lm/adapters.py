"""LoRA adapters managed like releases: each saved with a manifest, one active per kind, activation history kept
so ``rollback`` returns to the previous release.

Layout under ``adapters_dir``::

    <name>/adapter_config.json, adapter_model.safetensors   (peft's files)
    <name>/manifest.json                                      (AdapterManifest)
    registry.json                                             {"active": {kind: name}, "history": {kind: [names]}}

Every file is written to a temporary name and renamed, so a crash never leaves a half-written adapter or registry.

Adapters that ship with the code live in the repo's ``weights/`` folder, laid out the same, with the sha256 of every
file in the manifest (``files``), the command that reproduces them and their training data. The registry lists them
beside the saved ones (a saved adapter of the same name comes first), checks their files on first use and never
writes to them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from graphrag.errors import InputError, NotFoundError
from graphrag.offline import SHIPPED_WEIGHTS_MAX_BYTES, file_sha256, shipped_weights_dir, verify_shipped_weights

__all__ = ["AdapterKind", "AdapterManifest", "AdapterRegistry"]

AdapterKind = Literal["answer"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KINDS = ("answer",)


@dataclass(frozen=True, slots=True)
class AdapterManifest:
    """What an adapter is and how it was made."""

    name: str
    kind: str
    base_model: str
    base_sha256: str
    training_data_sha256: str
    hyperparameters: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    created_at: str = ""
    # Added to the "I don't know" logit at the answer's first token (answer adapters; see
    # graphrag/answering/abstention.py),
    # chosen on held-out calibration questions. Older manifests have none: 0.
    abstain_bias: float = 0.0
    # Shipped adapters (weights/): the command that reproduces the adapter, the file it was trained on (name and
    # sha256), and each of its files' sha256.
    command: str = ""
    training_data: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> AdapterManifest:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        missing = {"name", "kind", "base_model", "base_sha256", "training_data_sha256"} - set(known)
        if missing:
            raise InputError(f"adapter manifest lacks {', '.join(sorted(missing))}")
        return cls(**known)


def check_name(name: str) -> str:
    """Adapter names become directory names: letters, digits, '.', '_' and '-' only, at most 64 characters."""
    if not isinstance(name, str) or not _NAME.match(name) or name in {".", ".."}:
        raise InputError(f"invalid adapter name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    return name


def _write_json(path: Path, data: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, path)


class AdapterRegistry:
    """The adapters saved under one directory and which is active for each kind."""

    def __init__(self, root: Path, shipped: Path | None = None) -> None:
        self.root = Path(root).expanduser()
        self.shipped = shipped  # the repo's weights/ folder: read-only adapters that ship with the code
        self._verified: set[str] = set()

    @classmethod
    def for_settings(cls, settings) -> AdapterRegistry:
        """The adapters saved under ``settings.adapters_root``, with those the repo ships (weights/) beside them."""
        return cls(settings.adapters_root, shipped=shipped_weights_dir())

    def _registry(self) -> dict:
        path = self.root / "registry.json"
        if not path.is_file():
            return {"active": {}, "history": {}}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"adapter registry {path} is unreadable: {exc}") from exc
        return {"active": dict(data.get("active", {})), "history": dict(data.get("history", {}))}

    def _shipped_path(self, name: str) -> Path | None:
        if self.shipped is None or (self.root / name / "manifest.json").is_file():
            return None
        directory = self.shipped / name
        return directory if (directory / "manifest.json").is_file() else None

    def is_shipped(self, name: str) -> bool:
        """Whether ``name`` is an adapter of the repo's weights/ folder (and no saved adapter has its name)."""
        return self._shipped_path(check_name(name)) is not None

    def path(self, name: str) -> Path:
        """Directory of a saved or shipped adapter (NotFoundError when there is none). A shipped adapter's files are
        checked against its manifest the first time (ModelError when they differ)."""
        directory = self.root / check_name(name)
        if (directory / "manifest.json").is_file():
            return directory
        shipped = self._shipped_path(name)
        if shipped is None:
            where = f"{self.root} or {self.shipped}" if self.shipped is not None else str(self.root)
            raise NotFoundError(f"no adapter named {name!r} in {where}")
        if name not in self._verified:
            verify_shipped_weights(shipped)
            self._verified.add(name)
        return shipped

    def get(self, name: str) -> AdapterManifest:
        """The manifest of a saved adapter."""
        manifest_file = self.path(name) / "manifest.json"
        try:
            return AdapterManifest.from_dict(json.loads(manifest_file.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise InputError(f"adapter manifest {manifest_file} is unreadable: {exc}") from exc

    def list(self) -> list[AdapterManifest]:
        """Every saved adapter, oldest first."""
        names = {
            d.name
            for folder in (self.root, self.shipped)
            if folder is not None and folder.is_dir()
            for d in folder.iterdir()
            if (d / "manifest.json").is_file() and _NAME.match(d.name)
        }
        return sorted((self.get(name) for name in names), key=lambda m: (m.created_at, m.name))

    def save(self, peft_model, adapter_name: str, manifest: AdapterManifest) -> Path:
        """Save one adapter of a peft model (``adapter_name``, as loaded there) under ``manifest.name``, with the
        manifest (created_at filled in); replaces nothing."""
        check_name(manifest.name)
        if manifest.kind not in _KINDS:
            raise InputError(f"adapter kind must be one of {', '.join(_KINDS)}")
        target = self.root / manifest.name
        if target.exists():
            raise InputError(f"an adapter named {manifest.name!r} already exists in {self.root}")
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.root / f".{manifest.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        peft_model.save_pretrained(str(partial), selected_adapters=[adapter_name])
        # peft nests a non-default adapter in a subdirectory named after it; keep the files flat.
        for nested in [p for p in partial.iterdir() if p.is_dir() and (p / "adapter_config.json").is_file()]:
            for item in nested.iterdir():
                os.replace(item, partial / item.name)
            nested.rmdir()
        created = manifest.created_at or datetime.now(UTC).isoformat(timespec="seconds")
        _write_json(partial / "manifest.json", {**asdict(manifest), "created_at": created})
        os.replace(partial, target)
        return target

    def set_abstain_bias(self, name: str, bias: float, calibration: dict) -> AdapterManifest:
        """Record an answer adapter's calibrated abstain bias (and how it was chosen) in its manifest."""
        manifest = self.get(name)
        if self.is_shipped(name):
            raise InputError(f"adapter {name!r} ships with the code (weights/) and is read-only")
        if manifest.kind != "answer":
            raise InputError(f"adapter {name!r} is a {manifest.kind} adapter: only answer adapters abstain")
        updated = AdapterManifest(
            **{
                **asdict(manifest),
                "abstain_bias": float(bias),
                "metrics": {**manifest.metrics, "calibration": calibration},
            }
        )
        _write_json(self.path(name) / "manifest.json", asdict(updated))
        return updated

    def active(self, kind: AdapterKind = "answer") -> str | None:
        """The active adapter's name for ``kind`` (None: the base model answers)."""
        name = self._registry()["active"].get(kind)
        return name if name and self._exists(name) else None

    def _exists(self, name: str) -> bool:
        return (self.root / name / "manifest.json").is_file() or self._shipped_path(name) is not None

    def activate(self, name: str) -> AdapterManifest:
        """Make a saved adapter the active one of its kind; the previous one goes on the history."""
        manifest = self.get(name)
        registry = self._registry()
        previous = registry["active"].get(manifest.kind)
        if previous == name:
            return manifest
        if previous:
            registry["history"].setdefault(manifest.kind, []).append(previous)
        registry["active"][manifest.kind] = name
        self.root.mkdir(parents=True, exist_ok=True)
        _write_json(self.root / "registry.json", registry)
        return manifest

    def rollback(self, kind: AdapterKind = "answer") -> str | None:
        """Re-activate the adapter that was active before the current one; returns its name (None: the base)."""
        registry = self._registry()
        history = registry["history"].get(kind, [])
        current = registry["active"].get(kind)
        if not current:
            raise InputError(f"no {kind} adapter is active, so there is nothing to roll back")
        while history and not self._exists(history[-1]):
            history.pop()  # a deleted release cannot come back
        registry["active"][kind] = history.pop() if history else None
        registry["history"][kind] = history
        _write_json(self.root / "registry.json", registry)
        return registry["active"][kind]

    def ship(self, name: str, target: Path, command: str, training_data: dict) -> Path:
        """Copy a saved adapter into ``target`` (the repo's weights/ folder) as ``target/<name>``, its manifest
        completed with ``command`` (what reproduces it), ``training_data`` and every file's sha256; replaces an
        earlier copy of the same name. InputError when the folder would pass SHIPPED_WEIGHTS_MAX_BYTES in all."""
        source = self.root / check_name(name)
        if not (source / "manifest.json").is_file():
            raise NotFoundError(f"no saved adapter named {name!r} in {self.root}")
        files = sorted(p for p in source.iterdir() if p.is_file() and p.name != "manifest.json")
        target = Path(target)
        others = sum(
            p.stat().st_size
            for p in (target.rglob("*") if target.is_dir() else ())
            if p.is_file() and p.parent.name != name
        )
        size = sum(p.stat().st_size for p in files)
        if others + size > SHIPPED_WEIGHTS_MAX_BYTES:
            raise InputError(
                f"shipping {name!r} ({size / 1e6:.1f} MB) would make {target} {(others + size) / 1e6:.1f} MB; "
                f"shipped weights are limited to {SHIPPED_WEIGHTS_MAX_BYTES / 2**20:.0f} MiB in all"
            )
        manifest = asdict(self.get(name))
        manifest.update(command=command, training_data=training_data, files={p.name: file_sha256(p) for p in files})
        target.mkdir(parents=True, exist_ok=True)
        partial = target / f".{name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        for path in files:
            shutil.copyfile(path, partial / path.name)
        _write_json(partial / "manifest.json", manifest)
        final = target / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        return final
