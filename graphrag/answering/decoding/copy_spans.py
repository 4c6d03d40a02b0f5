"""Answers copied from the evidence: where an answer text can go on so that it stays a span of the prompt.

The answer LM is told to copy the shortest answer from the evidence, and the benchmarks' answers are spans of it
(or yes / no). A small model still paraphrases: the untuned Qwen 0.5B answered "Shabana Azmi is father to Bollywood
actress Antara Mali." where the evidence says "Antara Mali", and a tenth of its gold-mode answers were
sentences of its own. The reply grammar asks this class, token by token, which texts may follow the answer so far
so that it stays a span of the source (the numbered evidence; not the question, since an answer that repeats the
question is never right) starting at a word boundary, case and runs of white space aside, and whether it may end
there (at a word boundary). A span stops before an opening parenthesis. "yes", "no" and "I don't know" are
always allowed, each taken whole: no span starts inside one.

Given the ``question`` (graphrag/answering/question_form.py), its form narrows that further: yes / no only for a polar
question, and then no span unless it offers a choice; and no answer starting where the evidence repeats a name the
question says, unless the question offers names to choose between.
"""

from __future__ import annotations

from graphrag.answering.question_form import QuestionForm

__all__ = ["CopySpans"]

FOLLOWING_CHARS = 32  # how much of the source after each occurrence is offered (no token the grammar asks is longer)
# An answer never runs into a parenthesis: what follows "6.8 inches" in "6.8 inches (17.3 cm)" is an aside, and no
# answer of the multi-hop dev halves holds one, but the base model copied "6.8 inches (17.3 cm)" and "Karl Renner
# and Adolf Schärf (Socialist Party of Austria [SPÖ])".
_ASIDE = "("
_PART = "\x00"  # between the source and the free answers: no answer crosses it, and it is a word boundary


class CopySpans:
    """The spans of ``source`` an answer may be, plus ``free_answers`` (each with or without a full stop); with a
    ``question``, only those its form allows (graphrag/answering/question_form.py)."""

    def __init__(
        self, source: str, free_answers: tuple[str, ...] = ("yes", "no", "I don't know"), question: str | None = None
    ) -> None:
        form = QuestionForm.of(question) if question else None
        if form is not None:
            free_answers = tuple(a for a in free_answers if a in form.free_answers())
            if not form.copies_spans:
                source = ""
        cased = " ".join(source.replace(_PART, " ").split())
        parts = [cased, *(f"{answer}." for answer in free_answers)]
        self._written = _PART.join(parts)  # offset for offset with ``source``
        self.source = _lower(self._written)
        self._evidence_end = len(cased)
        source_text = self.source
        self._form = form
        self._banned = frozenset(form.named_runs(cased)) if form is not None else frozenset()
        # A free answer is whole or nothing: its inner words are no starts ("know" of "I don't know." let the
        # base model copy "Kno").
        evidence_end = self._evidence_end
        free_starts = [p + 1 for p, c in enumerate(source_text) if c == _PART]
        self._word_starts = [
            p
            for p, c in enumerate(source_text[:evidence_end])
            if c != " " and (p == 0 or not source_text[p - 1].isalnum()) and p not in self._banned
        ]
        self._word_starts += free_starts
        self._start_set = frozenset(self._word_starts)

    @staticmethod
    def normalised(answer: str) -> str:
        """The answer as it is matched: lower case, white space runs as one space, none in front (one at the end
        when it ends with some: the next word is still to come)."""
        text = " ".join(answer.split()).lower()
        return text + " " if text and answer[-1:].isspace() else text

    def _starts(self, text: str) -> list[int]:
        """Where ``text`` occurs in the source starting at a word boundary."""
        source, starts, position = self.source, [], self.source.find(text)
        while position >= 0:
            if position in self._start_set:
                starts.append(position)
            position = source.find(text, position + 1)
        return starts

    def following(self, answer: str) -> set[str]:
        """The texts (up to FOLLOWING_CHARS each) that follow the answer so far where it occurs in the source; an
        empty answer may start at any word. Empty when the answer is no longer the start of a span."""
        text = self.normalised(answer)
        starts = self._starts(text) if text else self._word_starts
        return {self.source[s + len(text) : s + len(text) + FOLLOWING_CHARS].partition(_ASIDE)[0] for s in starts} - {
            ""
        }

    def can_end(self, answer: str) -> bool:
        """Whether ``answer`` is a whole allowed answer: a span that ends at a word boundary, or a free answer."""
        text = " ".join(answer.split()).lower()
        if not text or _ASIDE in text or (self._form is not None and self._form.only_names(text)):
            return False
        source = self.source
        return any(
            start + len(text) == len(source) or not source[start + len(text)].isalnum() or not text[-1].isalnum()
            for start in self._starts(text)
        )

    def as_written(self, answer: str) -> str:
        """The answer as the evidence spells it where it is a span of the evidence (its first occurrence); else
        as given. Matching ignores case, so the model's "ShaUkat Azmi" is shown as "Shaukat Azmi"."""
        text = " ".join(answer.split())
        starts = [s for s in self._starts(text.lower()) if s < self._evidence_end]
        return self._written[starts[0] : starts[0] + len(text)] if starts else answer


def _lower(text: str) -> str:
    """Lower case, one character for one (a few characters lower to two, which would shift every offset after)."""
    return "".join(c if len(low := c.lower()) != 1 else low for c in text)
