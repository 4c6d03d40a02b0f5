"""Choice questions ("Who is older, Sid Haig or Vic Darchinyan?") answered by scoring the two names they offer
(setting ``answer_choice_scoring``, off by default).

Left to greedy decoding, the untuned Qwen 0.5B seemed to pick by place: on the HotpotQA dev half (2026-12-04) it
answered the second name to three of four such questions, all three wrong. With choice scoring the writer asks the
model how likely each offered name is as the answer, with the question as asked and with the two names swapped
("..., Vic Darchinyan or Sid Haig?"), adds the two orders' scores so that a preference for one place cancels out
(permutation debiasing), and lets the reply grammar copy only the winner (or "I don't know"). Measured, it did not
help that model (scripts/bench_choice.py: held-out Re-DocRED comparisons EM 48.8 against 50.0 without, both at
chance: it does not compare the dates in either order), so it is there for an adapter that reads comparisons.

Polar questions ("Are A and B both film directors?") get the same treatment in their own form (setting
``answer_polar_calibration``, ``choose_polar``): the untuned Qwen 0.5B answered "Yes" to all four polar questions
of the HotpotQA dev half, three of them wrong, so its yes / no says more about its prior than about the evidence.
The writer scores "yes" against "no" as the answer line twice, once with the evidence and once with content-free
evidence ("[1] N/A", the same question), and answers by the difference: what the evidence adds to the model's own
leaning (contextual calibration, Zhao et al. 2021; domain-conditional PMI, Holtzman et al. 2021).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .answer_prompt import EvidenceItem, question_part, user_message
from .question_form import QuestionForm

if TYPE_CHECKING:
    from .lm import LanguageModel

__all__ = ["CONTENT_FREE", "OptionChoice", "PolarChoice", "choose_option", "choose_polar"]

CONTENT_FREE = EvidenceItem("Passage", "N/A")  # evidence that says nothing: what the model leans to without any
_SPELLINGS = {"yes": (" yes\n", " Yes\n"), "no": (" no\n", " No\n")}  # as the answer line, either case


@dataclass(frozen=True, slots=True)
class OptionChoice:
    """The names a question offers, each one's log-probability as the answer with the question as asked and with
    the names swapped, and the chosen one (the highest sum)."""

    options: tuple[str, ...]
    as_asked: tuple[float, ...]
    swapped: tuple[float, ...]

    @property
    def totals(self) -> tuple[float, ...]:
        return tuple(a + b for a, b in zip(self.as_asked, self.swapped))

    @property
    def chosen(self) -> str:
        totals = self.totals
        return self.options[max(range(len(totals)), key=totals.__getitem__)]


def choose_option(model: LanguageModel, system: str, user: str, prefix: str,
                  adapter: str | None = None) -> OptionChoice | None:
    """Score the two names the question of ``user`` (answer_prompt.user_message's text) offers as the answer line
    after ``prefix`` (the reply's start that the prompt ends with, "Answer:"), in both orders; None when it offers
    none. The question as asked is read last, so its prompt's keys and values are the ones kept for the reply."""
    question = question_part(user)
    form = QuestionForm.of(question)
    if len(form.options) != 2:
        return None
    swapped_user = user[:len(user) - len(question)] + form.with_options_swapped(question)
    continuations = [f" {option}\n" for option in form.options]
    swapped, as_asked = (tuple(model.continuation_logprobs(model.chat_prompt(system, turn) + prefix, continuations,
                                                           adapter))
                         for turn in (swapped_user, user))
    return OptionChoice(options=form.options, as_asked=as_asked, swapped=swapped)


@dataclass(frozen=True, slots=True)
class PolarChoice:
    """A polar question's "yes" and "no" log-probabilities as the answer line (either case, summed as
    probabilities) with its evidence and with content-free evidence; ``chosen``: "yes" where the evidence raises
    "yes" over "no" by more than the model leans to it anyway."""

    with_evidence: tuple[float, float]  # (yes, no)
    content_free: tuple[float, float]

    @property
    def shift(self) -> float:
        """What the evidence adds to "yes" over "no", in log-odds."""
        return (self.with_evidence[0] - self.with_evidence[1]) - (self.content_free[0] - self.content_free[1])

    @property
    def chosen(self) -> str:
        return "yes" if self.shift > 0 else "no"


def choose_polar(model: LanguageModel, system: str, user: str, prefix: str,
                 adapter: str | None = None) -> PolarChoice | None:
    """Score "yes" against "no" for the polar question of ``user`` (answer_prompt.user_message's text) with its
    evidence and with content-free evidence; None for any other question, and for a polar one that offers two
    names ("Is A or B older?": choose_option's). The prompt with the evidence is read last, so its keys and values
    are the ones kept for the reply."""
    import math

    question = question_part(user)
    form = QuestionForm.of(question)
    if not form.polar or form.options:
        return None
    spellings = [text for answer in ("yes", "no") for text in _SPELLINGS[answer]]

    def scores(turn: str) -> tuple[float, float]:
        logprobs = model.continuation_logprobs(model.chat_prompt(system, turn) + prefix, spellings, adapter)
        yes, no = logprobs[:2], logprobs[2:]
        return (max(yes) + math.log1p(math.exp(min(yes) - max(yes))),
                max(no) + math.log1p(math.exp(min(no) - max(no))))

    content_free = scores(user_message(question, [CONTENT_FREE]))
    return PolarChoice(with_evidence=scores(user), content_free=content_free)
