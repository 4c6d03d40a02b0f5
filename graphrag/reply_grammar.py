"""Decoding that keeps the answer LM inside the reply schema: two lines, "Answer: ..." then "Evidence: ..." citing
numbers of evidence that exists (or "none" after "I don't know").

A small model knows the answer more often than it writes the schema right: the stand-in adapter of 2026-12-02 cited
passage 3 of 2 in a tenth of its HotpotQA replies, which the parser must reject. A transformers logits processor
therefore gives -inf to every token that would make the reply so far impossible to complete by the schema
(``viable``); the model still picks its own best among the rest, so a reply it writes correctly is unchanged. The
parser still checks every reply (a reply cut off by the token limit still fails), and the fallback still counts.
"""

from __future__ import annotations

import re

from .answer_prompt import IDK_TEXT, MAX_ANSWER_CHARS, REPLY_PREFIX, is_idk_answer
from .copy_spans import FOLLOWING_CHARS, CopySpans

__all__ = ["ReplyGrammar", "ReplyTokens", "complete", "viable"]

_EVIDENCE = "Evidence:"
_NUMBERS = re.compile(r" ?(?:\d+ ?, ?)*\d*")  # a prefix of "1, 3": numbers, commas, single spaces
_STRUCTURE_CHARACTERS = set(REPLY_PREFIX + _EVIDENCE + " none,0123456789\n")
# Tokens kept for "\nEvidence: 1, 2" when a long answer nears the token limit (Qwen spells it in 8).
_EVIDENCE_LINE_TOKENS = 8
_ANSWER_CHARS_KEPT = 8  # an answer this close to MAX_ANSWER_CHARS is ended rather than cut into short tokens


def viable(text: str, evidence_count: int) -> bool:
    """Whether ``text`` (the reply so far, "Answer:" included) can still be completed to a reply the schema takes."""
    text = text.lstrip(" ")
    first, newline, second = text.partition("\n")
    if not newline:
        if len(first) <= len(REPLY_PREFIX):
            return REPLY_PREFIX.startswith(first)
        answer = first[len(REPLY_PREFIX):].lstrip()
        if evidence_count == 0:  # nothing to cite: "I don't know" is the only reply the schema takes
            return first.startswith(REPLY_PREFIX) and f"{IDK_TEXT.lower()}.".startswith(answer.lower())
        return first.startswith(REPLY_PREFIX) and len(answer.strip()) <= MAX_ANSWER_CHARS
    answer = first[len(REPLY_PREFIX):].strip() if first.startswith(REPLY_PREFIX) else ""
    if not answer or len(answer) > MAX_ANSWER_CHARS or "\n" in second:
        return False
    if evidence_count == 0 and not is_idk_answer(answer):
        return False
    if len(second) <= len(_EVIDENCE):
        return _EVIDENCE.startswith(second)
    if not second.startswith(_EVIDENCE):
        return False
    cited = second[len(_EVIDENCE):]
    if is_idk_answer(answer):
        return " none".startswith(cited) or "none".startswith(cited)
    if not _NUMBERS.fullmatch(cited):
        return False
    numbers = re.findall(r"\d+", cited)
    growing = bool(numbers) and cited[-1].isdigit()  # the last number may go on: "1" of "12"
    ended = [int(n) for n in (numbers[:-1] if growing else numbers)]
    if any(not 1 <= n <= evidence_count for n in ended) or len(set(ended)) < len(ended):
        return False  # out of range, or cited twice (a list that only repeats itself never ends)
    free = [n for n in range(1, evidence_count + 1) if n not in ended]
    if growing:
        return not numbers[-1].startswith("0") and any(str(n).startswith(numbers[-1]) for n in free)
    return bool(free) or not cited.rstrip().endswith(",")


def complete(text: str, evidence_count: int) -> bool:
    """Whether ``text`` is a whole reply the schema takes (generation may end here)."""
    if not viable(text, evidence_count):
        return False
    first, newline, second = text.lstrip(" ").partition("\n")
    if not newline or not second.startswith(_EVIDENCE):
        return False
    cited = second[len(_EVIDENCE):].strip()
    if is_idk_answer(first[len(REPLY_PREFIX):].strip()):
        return cited == "none"
    return bool(re.fullmatch(r"\d+(?: ?, ?\d+)*", cited))  # viable: in range and distinct


class ReplyTokens:
    """What the grammar needs to know of a tokenizer, computed once per model (Qwen: about 1.5 s): each token's
    text; the tokens that can spell the schema's own parts ("Answer:", "Evidence:", numbers, "none"), by first
    character; the tokens that end the answer line (a newline and then at most "Evidence:"), those that end it
    and go on past "Evidence:" (checked one by one), the other tokens holding a newline; the end tokens."""

    def __init__(self, tokenizer) -> None:
        import torch

        self.texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
        self.structure: dict[str, list[int]] = {}
        line_ends, self.long_line_ends, bad_newlines = [], [], []
        for i, text in enumerate(self.texts):
            if text and set(text) <= _STRUCTURE_CHARACTERS:
                self.structure.setdefault(text[0], []).append(i)
            if "\n" in text:
                tail = text.partition("\n")[2]
                if "\n" in tail or not (_EVIDENCE.startswith(tail) or tail.startswith(_EVIDENCE)):
                    bad_newlines.append(i)
                elif len(tail) > len(_EVIDENCE):
                    self.long_line_ends.append(i)
                else:
                    line_ends.append(i)
        eos = tokenizer.eos_token_id
        # Only the tokenizer's end token stops generation (Qwen's chat end, not its <|endoftext|>): a reply may end
        # with it alone, while every special token is kept out of a reply.
        self.eos = sorted({*(eos if isinstance(eos, list) else [eos])} - {None})
        self.special = sorted({*self.eos, *tokenizer.all_special_ids} - {None})
        # For copying (graphrag/copy_spans.py): tokens by their lower-case text, and by that text without the
        # spaces in front (the first token of an answer: "Answer: Paris" or "Answer:Paris"); the blank tokens, which
        # leave an answer not yet begun as it is (Qwen writes " 1998" as " " then its digits).
        self.spelled: dict[str, list[int]] = {}
        self.spelled_first: dict[str, list[int]] = {}
        blanks = []
        special = set(self.special)
        for i, text in enumerate(self.texts):
            if text and "\n" not in text and i not in special and len(text) <= FOLLOWING_CHARS:
                self.spelled.setdefault(text.lower(), []).append(i)
                if text.strip():
                    self.spelled_first.setdefault(text.lstrip().lower(), []).append(i)
                elif text == " ":
                    blanks.append(i)
        self.blanks = tuple(blanks)
        self.banned_in_answer = torch.tensor(bad_newlines + self.special, dtype=torch.long)
        self.line_ends = torch.tensor(line_ends, dtype=torch.long)
        self.all_line_ends = torch.tensor(line_ends + self.long_line_ends, dtype=torch.long)  # for copying
        self.newline = torch.tensor([i for i in line_ends if self.texts[i] == "\n"], dtype=torch.long)
        self.lengths = torch.tensor([len(text) for text in self.texts])


class ReplyGrammar:
    """A transformers logits processor for one generation: tokens that would break the schema get -inf.

    ``prefix`` is the part of the reply already in the prompt ("Answer:", see ReplyDecoding.reply_prefix); the first
    call's ``input_ids`` are taken to be the prompt (as for AbstainBias). With ``max_new_tokens`` (the generation's
    limit) a long answer line is ended while there is still room for the Evidence line. With ``spans`` the answer
    must be copied from the evidence (graphrag/copy_spans.py): the model's best token that keeps it a span is
    chosen, and where no token can (the spelling the span needs is outside the vocabulary) the step is left free."""

    def __init__(self, tokens: ReplyTokens, evidence_count: int, prefix: str = "", max_new_tokens: int | None = None,
                 spans: CopySpans | None = None) -> None:
        self.tokens = tokens
        self.evidence_count = evidence_count
        self.prefix = prefix
        self.max_new_tokens = max_new_tokens
        self.spans = spans
        self._prompt_tokens: int | None = None

    def __call__(self, input_ids, scores):
        import torch

        if self._prompt_tokens is None:
            self._prompt_tokens = input_ids.shape[1]
        tokens, count = self.tokens, self.evidence_count
        reply = self.prefix + "".join(tokens.texts[int(t)] for t in input_ids[0, self._prompt_tokens:])
        first, newline, _ = reply.lstrip(" ").partition("\n")
        if not newline and first.startswith(REPLY_PREFIX):
            # Writing the answer: anything goes but an ending, a second newline, or a line end before there is
            # an answer (or whose tail the schema cannot take).
            scores = scores.clone()
            answer = first[len(REPLY_PREFIX):]
            if not answer.strip() or len(answer.strip()) > MAX_ANSWER_CHARS:
                scores[:, tokens.line_ends] = float("-inf")
            elif count == 0:  # only "I don't know" may end the line (the answer writer does not get here)
                for token in tokens.line_ends.tolist():
                    if not viable(reply + tokens.texts[token], count):
                        scores[:, token] = float("-inf")
            elif len(tokens.newline):
                # A model that would stop after its answer has forgotten the Evidence line: it gets a line end
                # instead (scored as its wish to stop), rather than being pushed to write on until the token limit.
                ending = scores[:, tokens.special].max(dim=1, keepdim=True).values
                scores[:, tokens.newline] = torch.maximum(scores[:, tokens.newline], ending)
            scores[:, tokens.banned_in_answer] = float("-inf")
            for token in tokens.long_line_ends:
                if not viable(reply + tokens.texts[token], count):
                    scores[:, token] = float("-inf")
            # No token may take the answer past its longest (the line could then never end).
            scores[:, (tokens.lengths > MAX_ANSWER_CHARS - len(answer.strip())).nonzero().flatten()] = float("-inf")
            if answer.strip() and (self._tokens_left(input_ids) <= _EVIDENCE_LINE_TOKENS
                                   or len(answer.strip()) > MAX_ANSWER_CHARS - _ANSWER_CHARS_KEPT):
                # Out of room: a cut-off reply has no Evidence line and is lost; a long answer still scores.
                ended = torch.full_like(scores, float("-inf"))
                ended[:, tokens.line_ends] = scores[:, tokens.line_ends]
                scores = ended
            return self._copying(scores, answer) if self.spans is not None else scores
        # Spelling the schema's parts: only the characters that can come next start a token worth checking.
        starts = [c for c in tokens.structure if viable(reply + c, count)]
        allowed = [t for c in starts for t in tokens.structure[c] if viable(reply + tokens.texts[t], count)]
        if complete(reply, count):
            if self._tokens_left(input_ids) <= 2:
                allowed = []  # a number or a comma now might be cut off by the token limit: end here
            allowed += tokens.eos
        masked = torch.full_like(scores, float("-inf"))
        masked[:, allowed] = scores[:, allowed]
        if allowed and not torch.isfinite(masked).any():
            masked[:, allowed] = 0.0  # a restricted vocabulary lacks this spelling: any schema token beats "!" (id 0)
        return masked

    def _tokens_left(self, input_ids) -> int:
        """Tokens the generation may still write, this one included (a large number without a limit)."""
        if self.max_new_tokens is None:
            return 1 << 30
        return self.max_new_tokens - (input_ids.shape[1] - self._prompt_tokens)

    def _copying(self, scores, answer: str):
        """Keep only the tokens that leave the answer line a span: those spelling the start of a text that follows
        it in the source, and line ends where the span may end. Where none of those scores above -inf (the spelling
        is outside a restricted vocabulary) the step is left as it was."""
        import torch

        tokens, spans = self.tokens, self.spans
        table = tokens.spelled if answer.strip() else tokens.spelled_first
        keep: set[int] = set() if answer.strip() else set(tokens.blanks)
        for text in spans.following(answer):
            for end in range(1, len(text) + 1):
                keep.update(table.get(text[:end], ()))
        line_ends = tokens.all_line_ends
        for token in line_ends[torch.isfinite(scores[0, line_ends])].tolist():
            if spans.can_end(answer + tokens.texts[token].partition("\n")[0]):
                keep.add(token)
        if not keep:
            return scores
        kept = torch.tensor(sorted(keep), dtype=torch.long)
        masked = torch.full_like(scores, float("-inf"))
        masked[:, kept] = scores[:, kept]
        return masked if torch.isfinite(masked).any() else scores
