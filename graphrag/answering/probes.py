"""Linear probes on the answer model's own reading of the prompt: logistic regressions on the hidden state that
one middle decoder layer gives the prompt's last token (right after "Answer:"), read during the prompt's forward
pass, so they cost nothing.

* **Answerability** (kind ``answerability``): the probability that the evidence does not answer the question. A
  small model given evidence that does not answer still answers: the untuned Qwen2.5-0.5B wrote "I don't know" for
  about a fifth of unanswerable Re-DocRED questions, and no bias on its output scores reached a third without also
  refusing answerable ones. Its middle layers know better: above the probe's threshold the writer says "I don't
  know" and no reply is decoded. The threshold is chosen on held-out calibration questions to refuse at most a set
  share of answerable ones (graphrag/training/answerability.py trains and ships it).
* **Polarity** (kind ``polar``): the probability that the answer to a yes / no question is yes. The same model's
  own "yes" against "no" right after "Answer:" is about as good as a coin on held-out Re-DocRED yes / no questions
  (it leans to yes); its middle layers again know better. The probe reads the same layer as the answerability
  probe, so one hidden state serves both (``PolarReading``; graphrag/training/polarity.py trains and ships it).

A probe belongs to one base model (its manifest names it by sha256): hidden states of another model, or of the
model with an adapter, mean something else, so it only reads the base model it was trained on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from graphrag.errors import ModelError
from graphrag.offline import file_sha256, shipped_weights_dir, verify_shipped_weights

if TYPE_CHECKING:
    from graphrag.lm.model import PromptGate

__all__ = ["ANSWERABILITY", "POLAR", "PROBES_DIR", "LinearProbe", "PolarReading", "shipped_probe"]

PROBES_DIR = "probes"  # under weights/: one folder per trained probe
ANSWERABILITY, POLAR = "answerability", "polar"  # the kinds of probe (a manifest's "kind")
_TENSORS = "probe.safetensors"


@dataclass(frozen=True)
class LinearProbe:
    """A logistic regression on decoder layer ``layer``'s hidden state at the prompt's last token, giving the
    probability of its kind's question (answerability: that the evidence does not answer; polar: that the answer is
    yes); calling it answers whether that probability is above ``threshold`` (an answerability probe is a
    PromptGate: True stops the reply). ``mean`` and ``scale`` standardise the hidden state, ``weights`` and
    ``bias`` are the regression's."""

    layer: int
    mean: object  # float32 numpy vectors of the hidden size
    scale: object
    weights: object
    bias: float
    threshold: float
    base_sha256: str = ""

    def probability(self, hidden) -> float:
        """The probability (0-1) of the probe's kind of question, from the hidden state (a torch or numpy
        vector)."""
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
    def load(cls, folder: Path) -> LinearProbe:
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
            raise ModelError(f"probe in {folder} is unreadable: {exc}") from exc
        if not loaded.mean.shape == loaded.scale.shape == loaded.weights.shape or loaded.weights.ndim != 1:
            raise ModelError(f"probe in {folder}: its vectors differ in shape")
        return loaded


def shipped_probe(base_sha256: str, kind: str = ANSWERABILITY, weights: Path | None = None) -> LinearProbe | None:
    """The probe of ``kind`` in the repo's weights/probes/ trained on the base model with ``base_sha256`` (checked
    against its manifest's file hashes), or None when none was."""
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
            raise ModelError(f"probe manifest {manifest_file} is unreadable: {exc}") from exc
        if manifest.get("kind") == kind and manifest.get("base_sha256") == base_sha256:
            verify_shipped_weights(candidate)
            return LinearProbe.load(candidate)
    return None


class PolarReading:
    """The prompt gate of one yes / no question: from the hidden state it is given it keeps the polar probe's
    verdict (``yes``, with its ``probability``) and answers as the answerability ``gate`` does (never stops the
    reply without one). Both probes read the same layer, so one hidden state serves both. One per question: it
    keeps what it read."""

    def __init__(self, polar: LinearProbe, gate: PromptGate | None = None) -> None:
        if gate is not None and gate.layer != polar.layer:
            raise ModelError(
                f"the polar probe reads decoder layer {polar.layer} and the answerability probe layer {gate.layer}: "
                "retrain the polar probe on the answerability probe's layer"
            )
        self.layer = polar.layer
        self.polar = polar
        self.gate = gate
        self.probability: float | None = None  # that the answer is yes; None until the prompt is read
        self.yes: bool | None = None

    def __call__(self, hidden) -> bool:
        self.probability = self.polar.probability(hidden)
        self.yes = self.probability > self.polar.threshold
        return self.gate is not None and bool(self.gate(hidden))
