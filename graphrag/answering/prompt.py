"""The answer model's prompt and reply schema, shared by the LM answer writer and the fine-tuning data builder
(training and serving must format evidence identically, or the adapter learns a format it never sees).

A reply is exactly two lines::

    Answer: <short answer>            or   Answer: I don't know
    Evidence: <numbers, comma-separated>    Evidence: none
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphrag.errors import ModelOutputError

__all__ = [
    "ANSWER_SYSTEM",
    "EvidenceItem",
    "IDK_REPLY",
    "MAX_ANSWER_CHARS",
    "REPLY_PREFIX",
    "ParsedReply",
    "evidence_part",
    "format_reply",
    "question_part",
    "is_idk_answer",
    "parse_reply",
    "reply_vocabulary",
    "user_message",
]

ANSWER_SYSTEM = (  # short on purpose: every training example and every query pays for it in prefill
    "Answer the question from the numbered evidence only, in two lines:\n"
    "Answer: <shortest answer, copied from the evidence, or yes/no>\n"
    "Evidence: <numbers of the evidence used>\n"
    'If the evidence lacks the answer, reply "Answer: I don\'t know" and "Evidence: none".'
)
REPLY_PREFIX = "Answer:"  # how every reply starts
IDK_TEXT = "I don't know"
IDK_REPLY = f"{REPLY_PREFIX} {IDK_TEXT}\nEvidence: none"
# Words a reply may use whatever the evidence says: the schema's own, yes/no, digits and common punctuation, and
# every tail of the schema's keywords: a model that starts "Answer:" or "Evidence:" with a token of its own ("A",
# "\nE") must find the rest spelt in the vocabulary, or every token the grammar allows would score -inf.
_KEYWORD_TAILS = " ".join(word[i:] for word in (REPLY_PREFIX, "Evidence:", "none") for i in range(1, len(word)))
_REPLY_WORDS = f"{IDK_REPLY}\nyes no Yes No 0 1 2 3 4 5 6 7 8 9 , . ; : - ' \" ( ) [ ] / & % $ {_KEYWORD_TAILS}"
MAX_ANSWER_CHARS = 200
_ANSWER_LINE = re.compile(r"^Answer:[ \t]*(\S.*?)[ \t]*$")
_EVIDENCE_LINE = re.compile(r"^Evidence:[ \t]*(none|\d+(?:[ \t]*,[ \t]*\d+)*)[ \t]*$")


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """One numbered piece of evidence: a passage (with its title) or a rendered graph path."""

    label: str
    text: str


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """A reply that follows the schema: ``answer`` is None for "I don't know"; ``cited`` are 1-based numbers."""

    answer: str | None
    cited: tuple[int, ...]


def user_message(question: str, items: list[EvidenceItem]) -> str:
    """The user turn: numbered evidence, then the question."""
    lines = ["Evidence:"]
    lines += [f"[{number}] {item.label}: {item.text}" for number, item in enumerate(items, start=1)]
    lines += ["", f"Question: {question}"]
    return "\n".join(lines)


def evidence_part(user: str) -> str:
    """The numbered evidence of a user turn (``user_message``'s text), without the question: what an answer is
    copied from (an answer that repeats the question is never the answer)."""
    evidence, separator, _ = user.rpartition("\n\nQuestion: ")
    return evidence if separator else user


def question_part(user: str) -> str:
    """The question of a user turn (``user_message``'s text); empty when it has none."""
    _, separator, question = user.rpartition("\n\nQuestion: ")
    return question if separator else ""


def is_idk_answer(answer: str) -> bool:
    """Whether an answer line's text (after "Answer:") says "I don't know"."""
    return answer.strip().rstrip(".").lower() == IDK_TEXT.lower()


def reply_vocabulary(prompt: str) -> tuple[str, ...]:
    """The texts whose words a reply to ``prompt`` may use (LanguageModel.generate's ``vocabulary``): the prompt,
    which holds the question and the evidence the answer is copied from, and the schema's own words."""
    return prompt, _REPLY_WORDS


def format_reply(answer: str | None, cited: list[int]) -> str:
    """The reply a perfect model writes (training targets)."""
    if answer is None:
        return IDK_REPLY
    return f"{REPLY_PREFIX} {answer}\nEvidence: {', '.join(str(n) for n in sorted(set(cited)))}"


def parse_reply(text: str, evidence_count: int) -> ParsedReply:
    """Check a reply against the schema; raise ModelOutputError naming what is wrong.

    Rejected: missing or extra lines, an empty or overlong answer, an answer without cited evidence, "I don't
    know" with citations, and numbers outside 1..evidence_count."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) != 2:
        raise ModelOutputError(f"expected 2 lines (Answer, Evidence), got {len(lines)}")
    answer_match, evidence_match = _ANSWER_LINE.match(lines[0]), _EVIDENCE_LINE.match(lines[1])
    if answer_match is None:
        raise ModelOutputError("first line is not 'Answer: <text>'")
    if evidence_match is None:
        raise ModelOutputError("second line is not 'Evidence: <numbers>' or 'Evidence: none'")
    answer = answer_match.group(1).strip()
    idk = is_idk_answer(answer)
    if len(answer) > MAX_ANSWER_CHARS:
        raise ModelOutputError(f"answer longer than {MAX_ANSWER_CHARS} characters")
    if evidence_match.group(1) == "none":
        if not idk:
            raise ModelOutputError("an answer must cite evidence")
        return ParsedReply(answer=None, cited=())
    if idk:
        raise ModelOutputError("'I don't know' must cite no evidence")
    cited = tuple(dict.fromkeys(int(n) for n in re.findall(r"\d+", evidence_match.group(1))))
    out_of_range = [n for n in cited if not 1 <= n <= evidence_count]
    if out_of_range:
        raise ModelOutputError(f"cites evidence {out_of_range} outside 1..{evidence_count}")
    return ParsedReply(answer=answer, cited=cited)
