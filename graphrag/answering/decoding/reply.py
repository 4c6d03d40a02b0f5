"""How the answer LM decodes a reply, in one value: the answer writer, the fine-tuning evaluation, the abstention
calibration and the latency benchmark all decode the same way, so they build one ``ReplyDecoding`` for the model's
tokenizer and ask it for the vocabulary and the logits processors of each generation."""

from __future__ import annotations

from dataclasses import dataclass

from graphrag.answering.decoding.copy_spans import CopySpans
from graphrag.answering.decoding.grammar import ReplyGrammar, ReplyTokens
from graphrag.answering.prompt import REPLY_PREFIX, evidence_part, question_part, reply_vocabulary

__all__ = ["ReplyDecoding"]


@dataclass(frozen=True, slots=True)
class ReplyDecoding:
    """``restrict_vocabulary``: the reply may use only its prompt's and the schema's words
    (graphrag/lm/vocabulary.py); ``grammar``: the tokenizer's reply tokens when decoding keeps to the two-line
    schema (graphrag/answering/decoding/grammar.py), None when it does not; ``copy_spans``: with the grammar, the
    answer must be a span of the evidence, or yes / no / "I don't know" (graphrag/answering/decoding/copy_spans.py);
    ``question_form``: with copying, only the answers the question's form allows
    (graphrag/answering/question_form.py: yes / no for polar questions only, no
    answer starting at a name the question says unless it offers a choice)."""

    restrict_vocabulary: bool = True
    grammar: ReplyTokens | None = None
    copy_spans: bool = False
    question_form: bool = False

    @classmethod
    def for_tokenizer(cls, tokenizer) -> ReplyDecoding:
        """The product's decoding: the reply vocabulary, the schema, copying and the question's form (the grammar
        reads every token's text: about a second for Qwen, so build this once per model)."""
        return cls(restrict_vocabulary=True, grammar=ReplyTokens(tokenizer), copy_spans=True, question_form=True)

    def describe(self) -> dict:
        """The rules this decoding follows, for benchmark and calibration reports."""
        return {
            "reply_vocabulary": "evidence" if self.restrict_vocabulary else "any",
            "constrained_decoding": self.grammar is not None,
            "copy_spans": self.copy_spans and self.grammar is not None,
            "question_form": self.question_form and self.copy_spans and self.grammar is not None,
        }

    def reply_prefix(self, adapter: str | None) -> str:
        """The start of the reply that goes into the prompt: "Answer:" wherever the reply must start with it (an
        adapter was trained to; the grammar allows nothing else): two decoding passes fewer."""
        return REPLY_PREFIX if adapter is not None or self.grammar is not None else ""

    def vocabulary(self, prompt: str) -> tuple[str, ...] | None:
        """The texts whose words the reply to ``prompt`` may use (LanguageModel.generate's ``vocabulary``)."""
        return reply_vocabulary(prompt) if self.restrict_vocabulary else None

    def processors(
        self, evidence_count: int, prefix: str, user: str, max_new_tokens: int | None = None
    ) -> list[ReplyGrammar]:
        """Fresh logits processors for one generation: ``prefix`` is the reply's start already in the prompt,
        ``user`` the user turn (answer_prompt.user_message), whose evidence the answer is copied from."""
        if self.grammar is None:
            return []
        question = question_part(user) if self.question_form else None
        spans = CopySpans(evidence_part(user), question=question) if self.copy_spans else None
        return [ReplyGrammar(self.grammar, evidence_count, prefix, max_new_tokens, spans)]
