"""Calibrating when the answer model says "I don't know".

The model abstains when the first token of "I don't know" beats every other token right after ``Answer:``, so its
*margin* (that token's logit less the best other logit) says how sure it is. ``choose_bias`` picks an adapter's
``abstain_bias`` from the margins of held-out calibration questions (answerable and unanswerable) so that at most a
given share of answerable questions is abstained on, and as many unanswerable ones as possible are; no generation
is needed, one forward pass a question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from graphrag.answering.abstention import abstain_token
from graphrag.answering.prompt import REPLY_PREFIX
from graphrag.errors import ModelError

__all__ = ["Calibration", "Tradeoff", "calibrate", "choose_bias", "idk_margins", "tradeoff"]

if TYPE_CHECKING:
    from graphrag.answering.decoding.reply import ReplyDecoding
    from graphrag.lm.model import LanguageModel
    from graphrag.training.data import Example


def idk_margins(
    lm: LanguageModel,
    examples: list[Example],
    adapter: str | None,
    progress: bool = False,
    decoding: ReplyDecoding | None = None,
) -> list[float]:
    """Per example: the abstain token's logit less the best other logit right after ``Answer:`` (one forward
    pass over the prompt and that prefix, no generation). The other logits are those the answer writer chooses
    from under ``decoding`` (None: the whole vocabulary, no grammar): only the words the reply may use, none that
    the reply grammar bans there (a line end or an ending before any answer, an answer that is no span)."""
    import torch
    from tqdm import tqdm

    from graphrag.training.finetune import bar_interval

    token = abstain_token(lm.tokenizer)
    no_reply_yet = torch.zeros((1, 1), dtype=torch.long)  # the grammar reads the reply from the prompt's end
    margins = []
    for example in tqdm(examples, desc="calibrate", disable=not progress, mininterval=bar_interval()):
        prompt = lm.chat_prompt(example.system, example.user) + REPLY_PREFIX
        logits = lm.next_token_logits(prompt, adapter, decoding.vocabulary(prompt) if decoding else None)
        for processor in decoding.processors(example.user.count("\n["), REPLY_PREFIX, example.user) if decoding else []:
            logits = processor(no_reply_yet, logits[None])[0]
        other = torch.cat([logits[:token], logits[token + 1 :]]).max()
        margins.append(float(logits[token] - other))
    return margins


@dataclass(frozen=True, slots=True)
class Calibration:
    """A chosen bias and the abstention rates it gives on the calibration questions (0-100)."""

    bias: float
    answerable_abstain_rate: float
    unanswerable_abstain_rate: float
    answerable: int
    unanswerable: int
    unbiased_answerable_abstain_rate: float  # the same questions at bias 0, for comparison
    unbiased_unanswerable_abstain_rate: float


def choose_bias(
    answerable: list[float], unanswerable: list[float], max_answerable_rate: float = 15.0, limit: float = 8.0
) -> Calibration:
    """The bias (within ±``limit``) that abstains on as many unanswerable questions as it can while abstaining on at
    most ``max_answerable_rate`` % of answerable ones; among those, the one abstaining least on answerable ones, then
    the one nearest zero. A question is abstained on when its margin plus the bias is above zero."""
    if not answerable or not unanswerable:
        raise ModelError("calibration needs both answerable and unanswerable questions")

    def rates(bias: float) -> tuple[float, float]:
        return (
            100 * sum(m + bias > 0 for m in answerable) / len(answerable),
            100 * sum(m + bias > 0 for m in unanswerable) / len(unanswerable),
        )

    # The outcome only changes where some margin plus the bias crosses zero: one candidate inside each interval
    # between those points (its middle, so a small shift on new questions changes little), one beyond each end,
    # and zero.
    points = sorted({-m for m in answerable + unanswerable})
    candidates = {0.0, points[0] - 0.5, points[-1] + 0.5} | {(x + y) / 2 for x, y in zip(points, points[1:])}
    allowed = [b for b in candidates if abs(b) <= limit and rates(b)[0] <= max_answerable_rate]
    if not allowed:  # even the most negative bias abstains too often: take the one that abstains least
        allowed = [min((b for b in candidates if abs(b) <= limit), key=lambda b: (rates(b)[0], abs(b)))]
    best = max(allowed, key=lambda b: (rates(b)[1], -rates(b)[0], -abs(b)))
    (answerable_rate, unanswerable_rate), (answerable_zero, unanswerable_zero) = rates(best), rates(0.0)
    return Calibration(
        bias=round(best, 4),
        answerable_abstain_rate=round(answerable_rate, 1),
        unanswerable_abstain_rate=round(unanswerable_rate, 1),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        unbiased_answerable_abstain_rate=round(answerable_zero, 1),
        unbiased_unanswerable_abstain_rate=round(unanswerable_zero, 1),
    )


@dataclass(frozen=True, slots=True)
class Tradeoff:
    """How well the margin tells unanswerable questions from answerable ones, whatever the bias.

    ``separation``: the chance that an unanswerable question's margin is above an answerable one's (ties count
    half; 50 is chance, 100 a perfect split), on a 0-100 scale. ``best_unanswerable_rate``: the most unanswerable
    questions (%) any bias abstains on while abstaining on at most ``max_answerable_rate`` % of the answerable ones:
    the ceiling for these questions, since the bias is chosen here on the very questions it is scored on.
    ``frontier``: (bias, answerable %, unanswerable %) where no other bias abstains on fewer answerable and more
    unanswerable questions, most negative bias first."""

    separation: float
    max_answerable_rate: float
    best_unanswerable_rate: float
    frontier: tuple[tuple[float, float, float], ...]


def tradeoff(answerable: list[float], unanswerable: list[float], max_answerable_rate: float = 15.0) -> Tradeoff:
    """The margin's separation of the two kinds of question and the rates every bias reaches (see Tradeoff)."""
    if not answerable or not unanswerable:
        raise ModelError("a trade-off needs both answerable and unanswerable questions")
    above = sum((u > a) + 0.5 * (u == a) for u in unanswerable for a in answerable)
    points = sorted({-m for m in answerable + unanswerable})
    candidates = sorted({points[0] - 0.5, points[-1] + 0.5} | {(x + y) / 2 for x, y in zip(points, points[1:])})
    rates = [
        (
            bias,
            100 * sum(m + bias > 0 for m in answerable) / len(answerable),
            100 * sum(m + bias > 0 for m in unanswerable) / len(unanswerable),
        )
        for bias in candidates
    ]
    frontier = [r for r in rates if not any(o[1] <= r[1] and o[2] >= r[2] and o[1:] != r[1:] for o in rates)]
    best = max((u for _, a, u in rates if a <= max_answerable_rate), default=0.0)
    return Tradeoff(
        separation=round(100 * above / (len(answerable) * len(unanswerable)), 1),
        max_answerable_rate=max_answerable_rate,
        best_unanswerable_rate=round(best, 1),
        frontier=tuple((round(b, 3), round(a, 1), round(u, 1)) for b, a, u in frontier),
    )


def calibrate(
    lm: LanguageModel,
    adapter: str,
    examples: list[Example],
    max_answerable_rate: float = 15.0,
    progress: bool = False,
    decoding: ReplyDecoding | None = None,
) -> Calibration:
    """Choose ``adapter``'s abstain bias on calibration question examples (kinds other than "unanswerable" count
    as answerable; replay examples are left out). ``decoding``: see ``idk_margins``."""
    questions = [e for e in examples if e.kind != "replay"]
    margins = idk_margins(lm, questions, adapter, progress, decoding)
    return choose_bias(
        [m for m, e in zip(margins, questions) if e.kind != "unanswerable"],
        [m for m, e in zip(margins, questions) if e.kind == "unanswerable"],
        max_answerable_rate,
    )
