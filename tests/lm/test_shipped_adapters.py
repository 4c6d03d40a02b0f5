"""Adapters shipped in weights/: copied with a manifest of sha256s, listed and activated beside saved ones, checked on
first use, never written to, and held under the size limit."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from graphrag.errors import InputError, ModelError, NotFoundError
from graphrag.lm import adapters as adapters_module
from graphrag.lm.adapters import AdapterManifest, AdapterRegistry
from graphrag.offline import file_sha256, verify_shipped_weights


def _saved(root, name: str, payload: bytes = b"lora weights") -> AdapterRegistry:
    """A registry with one saved adapter (peft's two files and a manifest) under ``root``."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(payload)
    (folder / "adapter_config.json").write_text('{"r": 16}')
    manifest = AdapterManifest(
        name=name, kind="answer", base_model="qwen", base_sha256="a" * 64, training_data_sha256="b" * 64
    )
    (folder / "manifest.json").write_text(json.dumps(asdict(manifest)))
    return AdapterRegistry(root)


def test_ship_copies_the_adapter_with_its_command_data_and_file_hashes(tmp_path):
    registry = _saved(tmp_path / "saved", "answer-x")
    shipped = registry.ship("answer-x", tmp_path / "weights", "python scripts/finetune.py --ship", {"file": "d.json"})
    manifest = verify_shipped_weights(shipped)
    assert manifest["command"] == "python scripts/finetune.py --ship"
    assert manifest["training_data"] == {"file": "d.json"}
    assert manifest["files"] == {
        "adapter_config.json": file_sha256(shipped / "adapter_config.json"),
        "adapter_model.safetensors": file_sha256(shipped / "adapter_model.safetensors"),
    }
    assert not list((tmp_path / "weights").glob(".*partial"))


def test_a_shipped_adapter_is_listed_activated_and_read_only(tmp_path):
    _saved(tmp_path / "saved", "answer-x").ship("answer-x", tmp_path / "weights", "cmd", {})
    registry = AdapterRegistry(tmp_path / "user-adapters", shipped=tmp_path / "weights")
    assert [m.name for m in registry.list()] == ["answer-x"] and registry.is_shipped("answer-x")
    assert registry.path("answer-x") == tmp_path / "weights" / "answer-x"
    registry.activate("answer-x")
    assert registry.active("answer") == "answer-x"
    with pytest.raises(InputError, match="read-only"):
        registry.set_abstain_bias("answer-x", 1.0, {})
    with pytest.raises(NotFoundError, match="no adapter named 'other'"):
        registry.path("other")


def test_a_changed_or_unlisted_shipped_file_is_refused_by_name(tmp_path):
    _saved(tmp_path / "saved", "answer-x").ship("answer-x", tmp_path / "weights", "cmd", {})
    folder = tmp_path / "weights" / "answer-x"
    (folder / "adapter_model.safetensors").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(ModelError, match="adapter_model.safetensors does not match the sha256"):
        AdapterRegistry(tmp_path / "user", shipped=tmp_path / "weights").path("answer-x")
    (folder / "notes.txt").write_text("x")
    with pytest.raises(ModelError, match=r"unlisted \['notes.txt'\]"):
        verify_shipped_weights(folder)


def test_shipping_past_the_size_limit_is_refused_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(adapters_module, "SHIPPED_WEIGHTS_MAX_BYTES", 10)
    registry = _saved(tmp_path / "saved", "answer-x", payload=b"x" * 64)
    with pytest.raises(InputError, match="limited to"):
        registry.ship("answer-x", tmp_path / "weights", "cmd", {})
    assert not (tmp_path / "weights" / "answer-x").exists()
