"""How the answer LM decodes a reply, in one value: the answer writer, the fine-tuning evaluation, the abstention
calibration and the latency benchmark all decode the way the settings say, so they build one ``ReplyDecoding`` from
the settings and ask it for the vocabulary and the logits processors of each generation."""

from __future__ import annotations

from dataclasses import dataclass

from .answer_prompt import IDK_TEXT, REPLY_PREFIX, evidence_part, question_part, reply_vocabulary
from .choice_scoring import choose_option, choose_polar
from .copy_spans import CopySpans
from .reply_grammar import ReplyGrammar, ReplyTokens

__all__ = ["ReplyDecoding"]


@dataclass(frozen=True, slots=True)
class ReplyDecoding:
    """``restrict_vocabulary``: the reply may use only its prompt's and the schema's words
    (graphrag/reply_vocabulary.py); ``grammar``: the tokenizer's reply tokens when decoding keeps to the two-line
    schema (graphrag/reply_grammar.py), None when it does not; ``copy_spans``: with the grammar, the answer must be
    a span of the evidence, or yes / no / "I don't know" (graphrag/copy_spans.py); ``question_form``: with copying,
    only the answers the question's form allows (graphrag/question_form.py: yes / no for polar questions only, no
    answer starting at a name the question says unless it offers a choice); ``choice_scoring``: with the question
    form, a question that offers two names is answered with the one the model scores higher over both orders of the
    names (graphrag/choice_scoring.py); ``polar_calibration``: with the question form, a polar question is answered
    yes or no by what its evidence adds to the model's own leaning (choice_scoring.choose_polar)."""

    restrict_vocabulary: bool = True
    grammar: ReplyTokens | None = None
    copy_spans: bool = False
    question_form: bool = False
    choice_scoring: bool = False
    polar_calibration: bool = False

    @classmethod
    def from_settings(cls, settings, tokenizer) -> ReplyDecoding:
        """As the answer_reply_vocabulary, answer_constrained_decoding, answer_copy_spans, answer_question_form,
        answer_choice_scoring and answer_polar_calibration settings say (the grammar reads every token's text: about a second for Qwen, so build
        this once per model)."""
        grammar = ReplyTokens(tokenizer) if settings.answer_constrained_decoding else None
        return cls(restrict_vocabulary=settings.answer_reply_vocabulary == "evidence", grammar=grammar,
                   copy_spans=settings.answer_copy_spans, question_form=settings.answer_question_form,
                   choice_scoring=settings.answer_choice_scoring,
                   polar_calibration=settings.answer_polar_calibration)

    def describe(self) -> dict:
        """The settings this decoding follows, for benchmark and calibration reports."""
        return {"reply_vocabulary": "evidence" if self.restrict_vocabulary else "any",
                "constrained_decoding": self.grammar is not None,
                "copy_spans": self.copy_spans and self.grammar is not None,
                "question_form": self.question_form and self.copy_spans and self.grammar is not None,
                "choice_scoring": self.scores_choices, "polar_calibration": self.calibrates_polar}

    @property
    def scores_choices(self) -> bool:
        """Whether a question that offers two names gets the one the model scores higher (choice_scoring needs the
        question form, copying and the grammar, which hold the answer to the chosen name)."""
        return self.choice_scoring and self.question_form and self.copy_spans and self.grammar is not None

    @property
    def calibrates_polar(self) -> bool:
        """Whether a polar question's yes / no is chosen by choice_scoring.choose_polar (it needs the question form,
        copying and the grammar, which hold the answer to the chosen word)."""
        return self.polar_calibration and self.question_form and self.copy_spans and self.grammar is not None

    def reply_prefix(self, adapter: str | None) -> str:
        """The start of the reply that goes into the prompt: "Answer:" wherever the reply must start with it (an
        adapter was trained to; the grammar allows nothing else): two decoding passes fewer."""
        return REPLY_PREFIX if adapter is not None or self.grammar is not None else ""

    def vocabulary(self, prompt: str) -> tuple[str, ...] | None:
        """The texts whose words the reply to ``prompt`` may use (LanguageModel.generate's ``vocabulary``)."""
        return reply_vocabulary(prompt) if self.restrict_vocabulary else None

    def chosen_answers(self, model, system: str, user: str, prefix: str, adapter: str | None) -> tuple[str, ...]:
        """With choice scoring, the name a choice question's answer must be, and with polar calibration the yes or
        no of a polar question (graphrag/choice_scoring.py), as the ``answers`` of ``processors``; () for any other
        question or with both off. ``model``: the LanguageModel that will write the reply, ``system`` / ``user`` /
        ``prefix``: its prompt's parts."""
        choice = choose_option(model, system, user, prefix, adapter) if self.scores_choices else None
        if choice is None and self.calibrates_polar:
            choice = choose_polar(model, system, user, prefix, adapter)
        return (choice.chosen,) if choice is not None else ()

    def processors(self, evidence_count: int, prefix: str, user: str,
                   max_new_tokens: int | None = None, answers: tuple[str, ...] = ()) -> list[ReplyGrammar]:
        """Fresh logits processors for one generation: ``prefix`` is the reply's start already in the prompt,
        ``user`` the user turn (answer_prompt.user_message), whose evidence the answer is copied from. ``answers``:
        with copying, the only answers allowed besides "I don't know" (a chosen name, graphrag/choice_scoring.py)."""
        if self.grammar is None:
            return []
        question = question_part(user) if self.question_form else None
        if not self.copy_spans:
            spans = None
        elif answers:
            spans = CopySpans("", free_answers=(*answers, IDK_TEXT))
        else:
            spans = CopySpans(evidence_part(user), question=question)
        return [ReplyGrammar(self.grammar, evidence_count, prefix, max_new_tokens, spans)]
