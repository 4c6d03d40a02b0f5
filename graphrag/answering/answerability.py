"""Whether the evidence answers the question, judged before the answer is written: a linear probe on the answer
model's own reading of the prompt.

A small model given evidence that does not answer the question still answers: the untuned Qwen2.5-0.5B wrote "I
don't know" for about a fifth of unanswerable Re-DocRED questions, and no bias on its output scores reached a
third without also refusing answerable ones. Its middle layers know better. The hidden state one middle decoder
layer gives the prompt's last token (right after "Answer:") separates answerable from unanswerable questions far
better than the output does, so a logistic regression on that vector (standardised) decides: above the threshold
the writer says "I don't know" and no reply is decoded. The threshold is chosen on held-out calibration questions
to refuse at most a set share of answerable ones (graphrag/training/answerability.py trains and ships it).

The probe belongs to one base model (its manifest names it by sha256): hidden states of another model, or of the
model with an adapter, mean something else, so it only gates the base model it was trained on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from graphrag.errors import ModelError
from graphrag.offline import file_sha256, shipped_weights_dir, verify_shipped_weights

__all__ = ["PROBES_DIR", "AnswerabilityProbe", "shipped_probe"]

PROBES_DIR = "probes"  # under weights/: one folder per trained probe
_TENSORS = "probe.safetensors"


@dataclass(frozen=True)
class AnswerabilityProbe:
    """A logistic regression on decoder layer ``layer``'s hidden state at the prompt's last token, giving the
    probability that the evidence does not answer the question; calling it answers whether that probability is
    above ``threshold`` (a PromptGate: True stops the reply). ``mean`` and ``scale`` standardise the hidden state,
    ``weights`` and ``bias`` are the regression's."""

    layer: int
    mean: object  # float32 numpy vectors of the hidden size
    scale: object
    weights: object
    bias: float
    threshold: float
    base_sha256: str = ""

    def probability(self, hidden) -> float:
        """The probability (0-1) that the evidence does not answer the question, from the hidden state (a torch
        or numpy vector)."""
        import numpy as np

        vector = hidden.detach().cpu().numpy() if hasattr(hidden, "detach") else np.asarray(hidden)
        z = float(((vector.astype(np.float32) - self.mean) / self.scale) @ self.weights + self.bias)
        return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0

    def __call__(self, hidden) -> bool:
        return self.probability(hidden) > self.threshold

    def save(self, folder: Path, manifest: dict) -> None:
        """Write the vectors (safetensors) and ``manifest``, with the probe's scalars and the vectors' file hash, into
        ``folder``."""
        import numpy as np
        from safetensors.numpy import save_file

        folder.mkdir(parents=True, exist_ok=True)
        tensors = {
            name: np.ascontiguousarray(getattr(self, name), dtype=np.float32) for name in ("mean", "scale", "weights")
        }
        save_file(tensors, str(folder / _TENSORS))
        probe = {"layer": self.layer, "bias": self.bias, "threshold": self.threshold}
        files = {_TENSORS: file_sha256(folder / _TENSORS)}
        (folder / "manifest.json").write_text(
            json.dumps({**manifest, "base_sha256": self.base_sha256, "probe": probe, "files": files}, indent=2) + "\n",
            encoding="utf-8",
        )

    @classmethod
    def load(cls, folder: Path) -> AnswerabilityProbe:
        """A probe saved by ``save``; ModelError naming what is wrong."""
        from safetensors.numpy import load_file

        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            probe = manifest["probe"]
            tensors = load_file(str(folder / _TENSORS))
            loaded = cls(
                layer=int(probe["layer"]),
                mean=tensors["mean"],
                scale=tensors["scale"],
                weights=tensors["weights"],
                bias=float(probe["bias"]),
                threshold=float(probe["threshold"]),
                base_sha256=str(manifest.get("base_sha256", "")),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"answerability probe in {folder} is unreadable: {exc}") from exc
        if not loaded.mean.shape == loaded.scale.shape == loaded.weights.shape or loaded.weights.ndim != 1:
            raise ModelError(f"answerability probe in {folder}: its vectors differ in shape")
        return loaded


def shipped_probe(base_sha256: str, weights: Path | None = None) -> AnswerabilityProbe | None:
    """The probe of the repo's weights/probes/ trained on the base model with ``base_sha256`` (checked against its
    manifest's file hashes), or None when none was."""
    folder = (weights or shipped_weights_dir()) / PROBES_DIR
    if not base_sha256 or not folder.is_dir():
        return None
    for candidate in sorted(folder.iterdir()):
        manifest_file = candidate / "manifest.json"
        if not manifest_file.is_file():
            continue
        try:
            manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"answerability probe manifest {manifest_file} is unreadable: {exc}") from exc
        if manifest.get("kind") == "answerability" and manifest.get("base_sha256") == base_sha256:
            verify_shipped_weights(candidate)
            return AnswerabilityProbe.load(candidate)
    return None
