"""Training the answerability probe (graphrag/answering/probes.py) on Re-DocRED questions.

The base model reads each question's prompt once, as the answer writer builds it (chat template, numbered
evidence, "Answer:"), and the hidden states several decoder layers give its last token are kept. For each layer
and regularisation strength a logistic regression learns unanswerable (every passage with the answer removed, or
a broken chain) against answerable questions on the training documents' questions. The layer and strength that
separate the held-out calibration questions best win (ROC AUC: choosing by the refusal rate at a threshold set on
the same 90-odd answerable questions picked a fragile low threshold that refused 21% of answerable validation
questions). The threshold refuses at most ``max_answerable_rate`` % of the answerable questions among the
calibration questions and the training questions scored by cross-validation (five folds), pooled: several hundred
answerable questions rather than 90. The report gives both rates on separate held-out validation questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from graphrag.answering.probes import LinearProbe
from graphrag.answering.prompt import REPLY_PREFIX

__all__ = [
    "UNANSWERABLE_KINDS",
    "ProbeChoice",
    "abstain_rates",
    "choose_threshold",
    "fit_probe",
    "prompt_states",
    "train_probe",
]

if TYPE_CHECKING:
    from graphrag.lm.model import LanguageModel
    from graphrag.training.data import Example

UNANSWERABLE_KINDS = ("unanswerable", "broken_chain")


def prompt_states(lm: LanguageModel, examples: Sequence[Example], layers: Sequence[int], progress: bool = False):
    """Per example, the hidden states of ``layers`` at its prompt's last token: a float32 array [examples,
    layers, hidden size]."""
    import numpy as np
    from tqdm import tqdm

    from graphrag.training.finetune import bar_interval

    out = []
    for example in tqdm(examples, desc="read prompts", disable=not progress, mininterval=bar_interval()):
        prompt = lm.chat_prompt(example.system, example.user) + REPLY_PREFIX
        out.append(lm.hidden_states(prompt, layers).numpy())
    return np.stack(out).astype(np.float32)


def labels(examples: Sequence[Example]):
    """1 for an unanswerable question, 0 for an answerable one."""
    import numpy as np

    return np.array([int(e.kind in UNANSWERABLE_KINDS) for e in examples])


def choose_threshold(answerable: Sequence[float], max_rate: float) -> float:
    """The lowest threshold at which at most ``max_rate`` % of the answerable questions' probabilities lie above
    it (a question is refused when its probability is above the threshold)."""
    ordered = sorted(answerable, reverse=True)
    allowed = int(len(ordered) * max_rate / 100)
    return float(ordered[allowed]) if allowed < len(ordered) else 0.0


def abstain_rates(probabilities: Sequence[float], unanswerable: Sequence[int], threshold: float) -> tuple[float, float]:
    """(answerable, unanswerable) questions refused at ``threshold``, in % (0-100)."""
    refused = [p > threshold for p in probabilities]
    answerable = [r for r, u in zip(refused, unanswerable) if not u]
    others = [r for r, u in zip(refused, unanswerable) if u]
    rate = lambda values: round(100 * sum(values) / len(values), 1) if values else 0.0  # noqa: E731
    return rate(answerable), rate(others)


def fit_probe(states, labels, layer: int, c: float, threshold: float = 0.5, base_sha256: str = "") -> LinearProbe:
    """A logistic regression (sklearn, strength ``c``) of ``labels`` on ``states`` ([questions, hidden size], decoder
    layer ``layer``'s), standardised by their mean and spread, as a LinearProbe with ``threshold``."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    mean = states.mean(axis=0)
    scale = states.std(axis=0) + 1e-6
    regression = LogisticRegression(C=c, max_iter=5000).fit((states - mean) / scale, labels)
    return LinearProbe(
        layer=layer,
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        weights=regression.coef_[0].astype(np.float32),
        bias=float(regression.intercept_[0]),
        threshold=threshold,
        base_sha256=base_sha256,
    )


@dataclass(frozen=True, slots=True)
class ProbeChoice:
    """One candidate probe's figures on the calibration questions."""

    layer: int
    c: float
    threshold: float
    answerable_abstain_rate: float
    unanswerable_abstain_rate: float
    auc: float


def train_probe(
    train_states,
    train_labels,
    calibration_states,
    calibration_labels,
    layers: Sequence[int],
    strengths: Sequence[float] = (0.01, 0.1, 1.0),
    max_answerable_rate: float = 10.0,
    base_sha256: str = "",
) -> tuple[LinearProbe, list[ProbeChoice]]:
    """The best probe over ``layers`` (indices into the states' second axis name these decoder layers) and
    regularisation ``strengths`` (sklearn's C), with every candidate's calibration figures."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    best: tuple[tuple, LinearProbe, list[float], float] | None = None
    choices = []
    for index, layer in enumerate(layers):
        for c in strengths:
            probe = fit_probe(train_states[:, index], train_labels, layer, c, base_sha256=base_sha256)
            probabilities = [probe.probability(v) for v in calibration_states[:, index]]
            auc = round(float(roc_auc_score(calibration_labels, probabilities)), 4)
            threshold = choose_threshold(
                [p for p, u in zip(probabilities, calibration_labels) if not u], max_answerable_rate
            )
            answerable, unanswerable = abstain_rates(probabilities, calibration_labels, threshold)
            choices.append(ProbeChoice(layer, c, round(threshold, 6), answerable, unanswerable, auc))
            rank = (auc, unanswerable)
            if best is None or rank > best[0]:
                best = (rank, probe, probabilities, c)
    if best is None:
        raise ValueError("no layers to train a probe on")
    _, probe, probabilities, strength = best
    index = list(layers).index(probe.layer)
    features = (train_states[:, index] - probe.mean) / probe.scale
    folded = cross_val_predict(
        LogisticRegression(C=strength, max_iter=5000), features, train_labels, cv=5, method="predict_proba"
    )[:, 1]
    pooled = [p for p, u in zip(folded, train_labels) if not u] + [
        p for p, u in zip(probabilities, calibration_labels) if not u
    ]
    return _with_threshold(probe, choose_threshold(pooled, max_answerable_rate)), choices


def _with_threshold(probe: LinearProbe, threshold: float) -> LinearProbe:
    from dataclasses import replace

    return replace(probe, threshold=threshold)
