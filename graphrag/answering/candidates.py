"""Second opinion on the LM's answer: the evidence's candidate answers scored whole by the same model.

Greedy decoding commits to an answer one token at a time, so a likely first word can lead it into a long span
("lilu or lilû is a masculine Akkadian word for a spirit") or the wrong one of two names. Here every entity and
noun phrase of the numbered evidence (spaCy), with and without a leading article, is scored as the whole answer
line (" <candidate>\\n" after "Answer:") over the prompt the model has just read
(LanguageModel.score_continuations: no forward pass when none could beat the greedy answer, else about one). The
candidates are found when the prompt is built (LMAnswerWriter.prepare), before the model reads it. The greedy
answer is replaced only by a candidate at least ``MARGIN`` more likely (log-probability, natural log), so a near-tie
keeps what decoding chose.

Measured on the multi-hop dev halves with the base Qwen2.5-Coder-0.5B (docs/benchmarks.md, Answers): F1 rose in
gold and retrieved mode on both sets; the margin was chosen there, between 1.5 and 3 the figures hardly move.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphrag.answering.prompt import EvidenceItem
from graphrag.answering.question_form import QuestionForm

__all__ = ["MARGIN", "AnswerCandidates"]

# How much likelier (natural-log units: e^2, about 7x) a candidate must be than the greedy answer to replace it.
MARGIN = 2.0
# Candidates longer than this (characters) are sentences rather than answers.
_LONGEST = 80
_ARTICLES = frozenset({"the", "a", "an"})
_NOT_ANSWERS = frozenset(
    "it he she they them his her its their this that these those which who whom what there here we you i one".split()
)


class AnswerCandidates:
    """Finds candidate answers in numbered evidence with a spaCy pipeline (NER and parser)."""

    def __init__(self, nlp) -> None:
        self.nlp = nlp

    def of(self, question: str, items: Sequence[EvidenceItem]) -> list[str]:
        """Candidate answers to ``question`` in ``items``, in order of first appearance, each once (case aside):
        the named entities and noun chunks of every label and text, and each without its leading article. Left out:
        pronouns, spans longer than a phrase, and spans the question itself says (a reader's usual mistake is to
        answer with the question's own entity). A polar question's candidates are yes and no, and its names when
        it offers a choice."""
        form = QuestionForm.of(question)
        asked = " ".join(question.lower().split())
        found: dict[str, str] = {}
        texts = [text for item in items for text in (item.label, item.text)]
        for doc in self.nlp.pipe(texts):
            for span in (*doc.ents, *doc.noun_chunks):
                variants = [span]
                if len(span) > 1 and span[0].lower_ in _ARTICLES:
                    variants.append(span[1:])
                for variant in variants:
                    text = variant.text.strip().strip(",.;:")
                    key = text.lower()
                    if not text or len(text) > _LONGEST or key in _NOT_ANSWERS or key in asked:
                        continue
                    if form.only_names(text):
                        continue
                    found.setdefault(key, text)
        candidates = list(found.values())
        if form.polar:
            return ["yes", "no", *(candidates if form.choice else [])]
        return candidates
