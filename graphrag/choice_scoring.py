"""Choice questions ("Who is older, Sid Haig or Vic Darchinyan?") answered by scoring the two names they offer
(setting ``answer_choice_scoring``, off by default).

Left to greedy decoding, the untuned Qwen 0.5B seemed to pick by place: on the HotpotQA dev half (2026-12-04) it
answered the second name to three of four such questions, all three wrong. With choice scoring the writer asks the
model how likely each offered name is as the answer, with the question as asked and with the two names swapped
("..., Vic Darchinyan or Sid Haig?"), adds the two orders' scores so that a preference for one place cancels out
(permutation debiasing), and lets the reply grammar copy only the winner (or "I don't know"). Measured, it did not
help that model (scripts/bench_choice.py: held-out Re-DocRED comparisons EM 48.8 against 50.0 without, both at
chance: it does not compare the dates in either order), so it is there for an adapter that reads comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .answer_prompt import question_part
from .question_form import QuestionForm

if TYPE_CHECKING:
    from .lm import LanguageModel

__all__ = ["OptionChoice", "choose_option"]


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
