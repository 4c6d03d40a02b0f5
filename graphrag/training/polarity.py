"""Training the yes / no probe (graphrag/answering/probes.py, kind ``polar``) on Re-DocRED yes / no questions.

The base model reads each question's prompt once, as the answer writer builds it (chat template, numbered evidence,
"Answer:"), and the hidden state that the answerability probe's decoder layer gives its last token is kept: the
writer reads both probes from that one state. The same pass gives the model's own choice, "yes" against "no" as the
reply's first token, which the report sets beside the probe's. A logistic regression learns yes against no on the
training documents' questions (yes and no in equal parts, so its threshold is 0.5); the regularisation strength
whose calibration questions' ROC AUC is highest wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from graphrag.answering.probes import LinearProbe
from graphrag.answering.prompt import REPLY_PREFIX
from graphrag.training.answerability import fit_probe

__all__ = ["PolarChoice", "accuracy", "polar_examples", "read_polar_prompts", "train_polar_probe", "yes_labels"]

if TYPE_CHECKING:
    from graphrag.lm.model import LanguageModel
    from graphrag.training.data import Example, RedocredDocument

_THRESHOLD = 0.5  # yes and no in equal parts in training


def polar_examples(
    documents: list[RedocredDocument], relation_names: dict[str, str], count: int, seed: int
) -> list[Example]:
    """``count`` yes / no questions from ``documents`` ("Is T the director of H?", "Are A and B in the same
    country?"), yes and no in equal parts (graphrag/training/data.py)."""
    from graphrag.training.data import build_examples

    shares = dict(unanswerable_share=0.0, multihop_share=0.0, replay_share=0.0, comparison_share=0.0)
    made = build_examples(documents, relation_names, count, seed=seed, yesno_share=1.0, **shares)
    return [e for e in made if e.kind == "yesno"]


def yes_labels(examples: Sequence[Example]):
    """1 where the answer is yes, 0 where it is no."""
    import numpy as np

    return np.array([int(e.answers[0].lower() == "yes") for e in examples])


def read_polar_prompts(lm: LanguageModel, examples: Sequence[Example], layer: int, progress: bool = False):
    """Per example, from one forward pass over its prompt: the hidden state of decoder layer ``layer`` at the last
    token (float32 array [examples, hidden size]) and whether the model itself would answer yes (its first reply
    token likelier as " yes" / " Yes" than as " no" / " No"; bool array)."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from graphrag.training.finetune import bar_interval

    def first_tokens(*texts: str) -> list[int]:
        return [lm.tokenizer(text, add_special_tokens=False)["input_ids"][0] for text in texts]

    yes, no = first_tokens(" yes", " Yes"), first_tokens(" no", " No")
    states, own_yes = [], []
    for example in tqdm(examples, desc="read prompts", disable=not progress, mininterval=bar_interval()):
        hidden, logits = lm.read_prompt(lm.chat_prompt(example.system, example.user) + REPLY_PREFIX, layer)
        states.append(hidden.numpy())
        own_yes.append(bool(torch.logsumexp(logits[yes], 0) > torch.logsumexp(logits[no], 0)))
    return np.stack(states).astype(np.float32), np.array(own_yes)


def accuracy(says_yes: Sequence[bool], labels: Sequence[int]) -> float:
    """The share (0-100) of questions whose yes / no verdict matches the label."""
    right = [bool(s) == bool(label) for s, label in zip(says_yes, labels)]
    return round(100 * sum(right) / len(right), 1) if right else 0.0


@dataclass(frozen=True, slots=True)
class PolarChoice:
    """One candidate probe's figures on the calibration questions."""

    c: float
    auc: float
    accuracy: float


def train_polar_probe(
    train_states,
    train_labels,
    calibration_states,
    calibration_labels,
    layer: int,
    strengths: Sequence[float] = (0.01, 0.1, 1.0),
    base_sha256: str = "",
) -> tuple[LinearProbe, list[PolarChoice]]:
    """The yes / no probe on decoder layer ``layer``'s states ([questions, hidden size]) whose regularisation
    strength (sklearn's C) separates the calibration questions best, with every candidate's figures."""
    from sklearn.metrics import roc_auc_score

    if len(set(int(v) for v in train_labels)) < 2 or len(set(int(v) for v in calibration_labels)) < 2:
        raise ValueError("the yes / no probe needs both yes and no questions to train and to calibrate on")
    best: tuple[float, LinearProbe] | None = None
    choices = []
    for c in strengths:
        probe = fit_probe(train_states, train_labels, layer, c, _THRESHOLD, base_sha256)
        probabilities = [probe.probability(v) for v in calibration_states]
        auc = round(float(roc_auc_score(calibration_labels, probabilities)), 4)
        choices.append(PolarChoice(c, auc, accuracy([p > _THRESHOLD for p in probabilities], calibration_labels)))
        if best is None or auc > best[0]:
            best = (auc, probe)
    if best is None:
        raise ValueError("no regularisation strengths to try")
    return best[1], choices
