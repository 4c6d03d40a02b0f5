"""Decoding that keeps the answer LM inside the reply schema: two lines, "Answer: ..." then "Evidence: ..." citing
numbers of evidence that exists (or "none" after "I don't know").

A small model knows the answer more often than it writes the schema right: a stand-in adapter cited
passage 3 of 2 in a tenth of its HotpotQA replies, which the parser must reject. A transformers logits processor
therefore gives -inf to every token that would make the reply so far impossible to complete by the schema
(``viable``); the model still picks its own best among the rest, so a reply it writes correctly is unchanged. The
parser still checks every reply (a reply cut off by the token limit still fails), and the fallback still counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphrag.answering.decoding.copy_spans import FOLLOWING_CHARS, CopySpans
from graphrag.answering.prompt import IDK_TEXT, MAX_ANSWER_CHARS, REPLY_PREFIX, is_idk_answer
from graphrag.lm.greedy import PromptLookup

__all__ = ["ReplyGrammar", "ReplyTokens", "complete", "viable"]

_EVIDENCE = "Evidence:"
_NUMBERS = re.compile(r" ?(?:\d+ ?, ?)*\d*")  # a prefix of "1, 3": numbers, commas, single spaces
_STRUCTURE_CHARACTERS = set(REPLY_PREFIX + _EVIDENCE + " none,0123456789\n")
_NUMBER_CHARACTERS = frozenset(" none,0123456789")  # what follows "Evidence:"
# Tokens kept for "\nEvidence: 1, 2" when a long answer nears the token limit (Qwen spells it in 8).
_EVIDENCE_LINE_TOKENS = 8
_ANSWER_CHARS_KEPT = 8  # an answer this close to MAX_ANSWER_CHARS is ended rather than cut into short tokens
_SCHEMA_STEPS_KEPT = 20_000  # reply states whose allowed schema tokens are kept (each a few hundred ids at most)


def viable(text: str, evidence_count: int) -> bool:
    """Whether ``text`` (the reply so far, "Answer:" included) can still be completed to a reply the schema takes."""
    text = text.lstrip(" ")
    first, newline, second = text.partition("\n")
    if not newline:
        if len(first) <= len(REPLY_PREFIX):
            return REPLY_PREFIX.startswith(first)
        answer = first[len(REPLY_PREFIX) :].lstrip()
        if evidence_count == 0:  # nothing to cite: "I don't know" is the only reply the schema takes
            return first.startswith(REPLY_PREFIX) and f"{IDK_TEXT.lower()}.".startswith(answer.lower())
        return first.startswith(REPLY_PREFIX) and len(answer.strip()) <= MAX_ANSWER_CHARS
    answer = first[len(REPLY_PREFIX) :].strip() if first.startswith(REPLY_PREFIX) else ""
    if not answer or len(answer) > MAX_ANSWER_CHARS or "\n" in second:
        return False
    if evidence_count == 0 and not is_idk_answer(answer):
        return False
    if len(second) <= len(_EVIDENCE):
        return _EVIDENCE.startswith(second)
    if not second.startswith(_EVIDENCE):
        return False
    cited = second[len(_EVIDENCE) :]
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
    cited = second[len(_EVIDENCE) :].strip()
    if is_idk_answer(first[len(REPLY_PREFIX) :].strip()):
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
        self.eos_ids = torch.tensor(self.eos, dtype=torch.long)
        self.special = sorted({*self.eos, *tokenizer.all_special_ids} - {None})
        # For copying (graphrag/answering/decoding/copy_spans.py): tokens by their lower-case text, and by that text
        # without the
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
        # For copying: the line ends by the text before their newline (which must carry the answer to a span end),
        # as copying matches it: lower case, white-space runs as one space, and whether it starts with a space.
        by_head: dict[str, list[int]] = {}
        for i in line_ends + self.long_line_ends:
            by_head.setdefault(self.texts[i].partition("\n")[0], []).append(i)
        self.line_end_heads = [
            (head, " ".join(head.split()).lower(), head[:1].isspace(), ids) for head, ids in by_head.items()
        ]
        self.newline = torch.tensor([i for i in line_ends if self.texts[i] == "\n"], dtype=torch.long)
        self.lengths = torch.tensor([len(text) for text in self.texts])
        self.banned_in_answer_set = frozenset(self.banned_in_answer.tolist())
        self.line_end_set = frozenset(line_ends)
        self._tokenizer = tokenizer
        self._encoded: dict[str, tuple[int, ...]] = {}
        self._schema_steps: dict[tuple, _SchemaStep] = {}

    def encode(self, text: str) -> tuple[int, ...]:
        """The tokens of ``text`` as the tokenizer spells it alone (kept: drafts spell the same few texts)."""
        ids = self._encoded.get(text)
        if ids is None:
            if len(self._encoded) >= _SCHEMA_STEPS_KEPT:
                self._encoded.clear()
            ids = self._encoded[text] = tuple(self._tokenizer(text, add_special_tokens=False)["input_ids"])
        return ids

    def schema_step(self, reply: str, evidence_count: int) -> _SchemaStep:
        """What ``reply`` (the reply so far, outside the answer line) allows: the schema tokens that keep it
        viable, and whether it is complete. Kept per reply state: the states ("Evidence: 2, ") recur across
        replies, and checking every schema token costs about 5 ms."""
        import torch

        key = _schema_state(reply, evidence_count)
        step = self._schema_steps.get(key)
        if step is None:
            if len(self._schema_steps) >= _SCHEMA_STEPS_KEPT:
                self._schema_steps.clear()
            # Only the characters that can come next start a token worth checking, and a cheap test of the text
            # goes before ``viable``'s parse.
            starts = [c for c in self.structure if viable(reply + c, evidence_count)]
            _, newline, line = reply.lstrip(" ").partition("\n")
            rest = _EVIDENCE[len(line) :]
            if not newline:
                fits = None
            elif rest:  # spelling "Evidence:"
                fits = lambda text: rest.startswith(text) or text.startswith(rest)  # noqa: E731
            else:  # numbers, or "none"
                fits = _NUMBER_CHARACTERS.issuperset
            allowed = [
                t
                for c in starts
                for t in self.structure[c]
                if (fits is None or fits(self.texts[t])) and viable(reply + self.texts[t], evidence_count)
            ]
            step = self._schema_steps[key] = _SchemaStep(
                torch.tensor(allowed, dtype=torch.long), frozenset(allowed), complete(reply, evidence_count)
            )
        return step


_BREAKS = frozenset(",;:()[]")


def _answer_end(answer: str, text: str, following: str) -> bool:
    """Whether an answer copied from the evidence probably ends before the token ``text`` (``following``: the
    token after it, if known): at punctuation, and where a lower-case word follows a name or a number
    ("Johann Sebastian Bach| in the manuscript", "Columbus|, Ohio"). Only a guess for drafting."""
    words = answer.split()
    if not words:
        return False
    if text[:1] in _BREAKS or (text.startswith(".") and (not following or following[:1].isspace())):
        return True
    word = text.strip()
    return text[:1].isspace() and word[:1].islower() and (words[-1][:1].isupper() or words[-1][:1].isdigit())


def _evidence_guess(line: str, idk: bool, evidence_count: int) -> str:
    """What probably follows ``line``, the Evidence line so far: the rest of "Evidence: none" after "I don't know";
    else the rest of "Evidence:" and the two numbers after the last one cited ("" when the line is no such
    start)."""
    if idk:
        whole = f"{_EVIDENCE} none"
        return whole[len(line) :] if whole.startswith(line) else ""
    if len(line) < len(_EVIDENCE):
        return _EVIDENCE[len(line) :] + " " + _next_numbers(0, evidence_count) if _EVIDENCE.startswith(line) else ""
    cited = line[len(_EVIDENCE) :]
    numbers = re.findall(r"\d+", cited)
    last = int(numbers[-1]) if numbers else 0
    if cited[-1:].isdigit():
        after = _next_numbers(last, evidence_count)
        return ", " + after if after else ""
    return ("" if cited.endswith(" ") else " ") + _next_numbers(last, evidence_count)


def _next_numbers(last: int, evidence_count: int) -> str:
    return ", ".join(str(n) for n in range(last + 1, min(last + 2, evidence_count) + 1))


def _schema_state(reply: str, evidence_count: int) -> tuple:
    """What ``viable`` and ``complete`` read of a reply so far and of its continuations: before the answer line
    ends, its text; after, the Evidence line so far and whether the answer is broken, "I don't know" or other."""
    text = reply.lstrip(" ")
    first, newline, second = text.partition("\n")
    if not newline:
        return evidence_count, text
    answer = first[len(REPLY_PREFIX) :].strip() if first.startswith(REPLY_PREFIX) else ""
    idk = is_idk_answer(answer)
    broken = not answer or len(answer) > MAX_ANSWER_CHARS or (evidence_count == 0 and not idk)
    return evidence_count, "broken" if broken else "idk" if idk else "answer", second


class ReplyGrammar:
    """A transformers logits processor for one generation: tokens that would break the schema get -inf.

    ``prefix`` is the part of the reply already in the prompt ("Answer:", see ReplyDecoding.reply_prefix); the first
    call's ``input_ids`` are taken to be the prompt (as for AbstainBias). With ``max_new_tokens`` (the generation's
    limit) a long answer line is ended while there is still room for the Evidence line. With ``spans`` the answer
    must be copied from the evidence (graphrag/answering/decoding/copy_spans.py): the model's best token that keeps
    it a span is
    chosen, and where no token can (the spelling the span needs is outside the vocabulary) the step is left free.

    What a reply so far allows is worked out once per reply text and kept (``_AnswerStep``, ``_SchemaStep``):
    drafts ask about reply states that are never decoded, and checking each schema token anew cost 5 ms a call
    (with transformers' prompt-lookup generation, which asked hundreds of times a step, a third of an answer's
    time on 2 cores). It also drafts (``draft``, for graphrag/lm/greedy.py)."""

    def __init__(
        self,
        tokens: ReplyTokens,
        evidence_count: int,
        prefix: str = "",
        max_new_tokens: int | None = None,
        spans: CopySpans | None = None,
    ) -> None:
        self.tokens = tokens
        self.evidence_count = evidence_count
        self.prefix = prefix
        self.max_new_tokens = max_new_tokens
        self.spans = spans
        self._prompt_tokens: int | None = None
        self._answer_steps: dict[str, _AnswerStep] = {}

    def __call__(self, input_ids, scores):
        if self._prompt_tokens is None:
            self._prompt_tokens = input_ids.shape[1]
        return self._step(input_ids[0].tolist()).apply(scores, self.tokens, self._tokens_left(input_ids.shape[1]))

    def permits(self, ids: list[int], token: int) -> bool:
        """Whether ``token`` may follow ``ids`` (prompt and reply so far) whatever the scores: for drafts. The rules
        that read the scores (a restricted vocabulary, span tokens scored alike where none of them scores) are not
        applied: a draft they would change is rejected when it is checked against the model."""
        return self._step(ids).permits(token, self.tokens, self._tokens_left(len(ids)))

    def draft(self, ids: list[int], limit: int, lookup: PromptLookup | None = None) -> list[int]:
        """Up to ``limit`` tokens likely to follow ``ids`` (greedy_decoding.DraftingProcessor). In the answer line:
        a continuation ``lookup`` finds in the prompt (the answer is copied from there) up to where the answer
        probably ends (``_answer_end``), then a line end and the Evidence line. In the Evidence line: its rest as
        far as the schema fixes it, and a guess at the numbers (the next two after the last one cited)."""
        reply = self._reply(ids)
        first, newline, second = reply.lstrip(" ").partition("\n")
        if newline:
            guess = self.tokens.encode(
                _evidence_guess(second, is_idk_answer(first[len(REPLY_PREFIX) :]), self.evidence_count)
            )
            return self._allowed_run(ids, list(guess[:limit]))
        if not first.startswith(REPLY_PREFIX):
            return []
        answer = first[len(REPLY_PREFIX) :]
        run: list[int] = []
        for candidate in lookup.candidates(ids, limit, tried=4) if lookup is not None else []:
            if self.permits(ids, candidate[0]):
                run = self._copied_run(answer, candidate)
                break
        whole = answer + "".join(self.tokens.texts[t] for t in run)  # the answer if it ends after the run
        if not whole.strip() or not len(self.tokens.newline):
            return run
        line_end = int(self.tokens.newline[0])
        if len(run) >= limit or not self.permits(ids + run, line_end):
            return run[:limit]
        evidence = self.tokens.encode(_evidence_guess("", is_idk_answer(whole), self.evidence_count))
        return run + [line_end, *evidence[: limit - len(run) - 1]]

    def _copied_run(self, answer: str, candidate: list[int]) -> list[int]:
        """The start of a prompt continuation the answer probably runs on with: up to a line end or special token
        (the draft's own line end follows), and up to where the answer probably ends (``_answer_end``). Only its
        first token is checked against the grammar: drafts that break it are rejected when checked anyway."""
        texts = self.tokens.texts
        run: list[int] = []
        for position, token in enumerate(candidate):
            text = texts[token]
            following = texts[candidate[position + 1]] if position + 1 < len(candidate) else ""
            if (
                "\n" in text
                or token in self.tokens.banned_in_answer_set
                or _answer_end(answer + "".join(texts[t] for t in run), text, following)
            ):
                break
            run.append(token)
        return run

    def _allowed_run(self, ids: list[int], candidate: list[int]) -> list[int]:
        """The longest start of ``candidate`` the grammar allows after ``ids``."""
        run: list[int] = []
        for token in candidate:
            if not self.permits(ids + run, token):
                break
            run.append(token)
        return run

    def _reply(self, ids: list[int]) -> str:
        texts = self.tokens.texts
        return self.prefix + "".join(texts[t] for t in ids[self._prompt_tokens :])

    def _step(self, ids: list[int]) -> _AnswerStep | _SchemaStep:
        """What the reply in ``ids`` allows next (kept per reply text)."""
        reply = self._reply(ids)
        first, newline, _ = reply.lstrip(" ").partition("\n")
        if newline or not first.startswith(REPLY_PREFIX):
            return self.tokens.schema_step(reply, self.evidence_count)
        step = self._answer_steps.get(reply)
        if step is None:
            step = self._answer_steps[reply] = self._answer_step(first[len(REPLY_PREFIX) :])
        return step

    def _answer_step(self, answer: str) -> _AnswerStep:
        """Writing the answer: anything goes but an ending, a second newline, a line end before there is an answer
        (or whose tail the schema cannot take), a token that takes the answer past its longest (the line could
        then never end), and, when copying, a token that leaves the answer no span. Python sets only: drafts ask
        about many reply states that are never decoded."""
        tokens, count = self.tokens, self.evidence_count
        reply = REPLY_PREFIX + answer
        length = len(answer.strip())
        begun = bool(length)
        banned: list[int] = []
        if not begun or length > MAX_ANSWER_CHARS:
            banned += tokens.line_end_set
        elif count == 0:  # only "I don't know" may end the line (the answer writer does not get here)
            banned += [t for t in tokens.line_end_set if not viable(reply + tokens.texts[t], count)]
        banned += [t for t in tokens.long_line_ends if not viable(reply + tokens.texts[t], count)]
        return _AnswerStep(
            extra_banned=frozenset(banned),
            chars_left=MAX_ANSWER_CHARS - length,
            raise_newline=begun and length <= MAX_ANSWER_CHARS and count > 0 and len(tokens.newline) > 0,
            begun=begun,
            near_limit=length > MAX_ANSWER_CHARS - _ANSWER_CHARS_KEPT,
            keep=self._copied(answer) if self.spans is not None else None,
        )

    def _tokens_left(self, length: int) -> int:
        """Tokens the generation may still write after ``length`` tokens of prompt and reply, the next one included
        (a large number without a limit)."""
        if self.max_new_tokens is None:
            return 1 << 30
        return self.max_new_tokens - (length - self._prompt_tokens)

    def _copied(self, answer: str):
        """The tokens that leave the answer line a span: those spelling the start of a text that follows it in the
        source, and line ends where the span may end (None: no token can)."""
        tokens, spans = self.tokens, self.spans
        begun = bool(answer.strip())
        table = tokens.spelled if begun else tokens.spelled_first
        keep: set[int] = set() if begun else set(tokens.blanks)
        starts: set[str] = set()  # every start of a text that may follow the answer
        for text in spans.following(answer):
            for end in range(1, len(text) + 1):
                starts.add(text[:end])
        for start in starts:
            keep.update(table.get(start, ()))
        spaced = begun and not answer[-1:].isspace()  # a head's leading space is then part of the span
        for head, words, leading_space, line_ends in tokens.line_end_heads:
            # Only a head the answer may go on with can end it: a set lookup before the span search.
            spelled = " " + words if spaced and leading_space else words
            if (not words or spelled in starts) and spans.can_end(answer + head):
                keep.update(line_ends)
        return frozenset(keep) if keep else None


@dataclass(frozen=True, slots=True)
class _AnswerStep:
    """What one reply so far allows inside the answer line, apart from what depends on the scores and the room left:
    besides ReplyTokens.banned_in_answer, the ``extra_banned`` tokens and those longer than ``chars_left``;
    ``raise_newline``: a wish to stop becomes a line end; ``begun``: there is an answer to end; ``near_limit``: the
    answer is too near MAX_ANSWER_CHARS to go on; ``keep``: with copying, the tokens that keep the answer a span
    (None: any)."""

    extra_banned: frozenset[int]
    chars_left: int
    raise_newline: bool
    begun: bool
    near_limit: bool
    keep: frozenset[int] | None

    def permits(self, token: int, tokens: ReplyTokens, tokens_left: int) -> bool:
        if (
            token in tokens.banned_in_answer_set
            or token in self.extra_banned
            or len(tokens.texts[token]) > self.chars_left
        ):
            return False
        out_of_room = self.begun and (tokens_left <= _EVIDENCE_LINE_TOKENS or self.near_limit)
        if out_of_room and token not in tokens.line_end_set:
            return False
        return self.keep is None or token in self.keep

    def apply(self, scores, tokens: ReplyTokens, tokens_left: int):
        import torch

        scores = scores.clone()
        if self.raise_newline:
            # A model that would stop after its answer has forgotten the Evidence line: it gets a line end instead
            # (scored as its wish to stop), rather than being pushed to write on until the token limit.
            ending = scores[:, tokens.special].max(dim=1, keepdim=True).values
            scores[:, tokens.newline] = torch.maximum(scores[:, tokens.newline], ending)
        scores[:, tokens.banned_in_answer] = float("-inf")
        if self.extra_banned:
            scores[:, torch.tensor(sorted(self.extra_banned), dtype=torch.long)] = float("-inf")
        scores[:, (tokens.lengths > self.chars_left).nonzero().flatten()] = float("-inf")  # ids: the model's
        # vocabulary may be larger than the tokenizer's
        out_of_room = self.begun and (tokens_left <= _EVIDENCE_LINE_TOKENS or self.near_limit)
        if out_of_room:
            # Out of room: a cut-off reply has no Evidence line and is lost; a long answer still scores.
            ended = torch.full_like(scores, float("-inf"))
            ended[:, tokens.line_ends] = scores[:, tokens.line_ends]
            scores = ended
        if self.keep is None:
            return scores
        keep = torch.tensor(sorted(self.keep), dtype=torch.long)
        masked = torch.full_like(scores, float("-inf"))
        masked[:, keep] = scores[:, keep]
        if out_of_room and not torch.isfinite(masked).any():
            return scores  # no span may end here: any line end beats a reply the token limit cuts off
        if not torch.isfinite(masked).any():
            # No span token scores above -inf (its spelling is outside a restricted vocabulary): any of them beats a
            # free step, after which the model ended "Kno" mid-word.
            masked[:, keep] = 0.0
        return masked


@dataclass(frozen=True, slots=True)
class _SchemaStep:
    """What one reply so far allows while the schema's own parts are spelt: the ``allowed`` tokens, and whether the
    reply is ``complete`` (it may end here)."""

    allowed: object  # torch.Tensor of token ids
    allowed_set: frozenset[int]
    complete: bool

    def permits(self, token: int, tokens: ReplyTokens, tokens_left: int) -> bool:
        if self.complete and token in tokens.eos:
            return True
        return token in self.allowed_set and not (self.complete and tokens_left <= 2)

    def apply(self, scores, tokens: ReplyTokens, tokens_left: int):
        import torch

        allowed = self.allowed
        if self.complete:
            # With two tokens left a number or a comma might be cut off by the token limit: end here.
            allowed = tokens.eos_ids if tokens_left <= 2 else torch.cat([allowed, tokens.eos_ids])
        masked = torch.full_like(scores, float("-inf"))
        masked[:, allowed] = scores[:, allowed]
        if len(allowed) and not torch.isfinite(masked).any():
            masked[:, allowed] = 0.0  # a restricted vocabulary lacks this spelling: any schema token beats "!" (id 0)
        return masked
