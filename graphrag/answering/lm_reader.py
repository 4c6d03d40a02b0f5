"""The LM answer writer: a small instruct model (optionally with a LoRA adapter) reads numbered evidence, passages
and graph paths, and writes a short answer citing them, or "I don't know".

Its reply is parsed against the schema in answer_prompt; a malformed reply is never patched up: the extractive
writer answers instead and the fallback is counted (``WriterStats``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from graphrag.answering.abstention import FORBIDDEN, AbstainBias
from graphrag.answering.candidates import MARGIN, AnswerCandidates
from graphrag.answering.decoding.copy_spans import CopySpans
from graphrag.answering.decoding.reply import ReplyDecoding
from graphrag.answering.evidence import EvidenceSelector, SelectableText
from graphrag.answering.extractive import IDK, ExtractiveAnswerWriter, _citation, _sentence_offsets
from graphrag.answering.passage_roles import PassageRole, passage_roles
from graphrag.answering.probes import LinearProbe, PolarReading
from graphrag.answering.prompt import ANSWER_SYSTEM, REPLY_PREFIX, EvidenceItem, parse_reply, user_message
from graphrag.answering.question_form import QuestionForm
from graphrag.errors import GraphRAGError, ModelOutputError
from graphrag.lm.model import Generation, GenerationRequest, LanguageModel, PromptGate
from graphrag.retrieval.planner import Retrieval
from graphrag.text import sentences, words
from graphrag.types import Answer, Citation, Evidence, Path

__all__ = ["EVIDENCE_TOKENS", "GRAPH_PATHS", "MAX_NEW_TOKENS", "LMAnswerWriter", "Reading", "WriterStats"]


# The longest reply, in tokens; the evidence offered before sentence selection, in tokens; the graph paths of each
# kind (connections between the question's entities, chains through them) read after the passages.
MAX_NEW_TOKENS = 48
EVIDENCE_TOKENS = 1500
GRAPH_PATHS = 3

# A frozen value, so one instance can be every writer's default.
_NO_DECODING_RULES = ReplyDecoding()


@dataclass
class WriterStats:
    """Counts of LM replies by outcome (thread-safe), for /v1/stats and metrics."""

    answered: int = 0
    abstained: int = 0
    malformed: int = 0
    last_malformed: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, outcome: str, detail: str = "") -> None:
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)
            if outcome == "malformed":
                self.last_malformed = detail

    def as_dict(self) -> dict:
        with self._lock:
            return {"answered": self.answered, "abstained": self.abstained, "malformed": self.malformed}


@dataclass(frozen=True, slots=True)
class _Numbered:
    item: EvidenceItem
    evidence: Evidence | None = None  # a passage
    path: Path | None = None  # or a graph path


@dataclass(frozen=True, slots=True)
class Reading:
    """A question the model must read: its numbered evidence and the prompt to decode (``LMAnswerWriter.prepare``)."""

    question: str
    retrieval: Retrieval
    numbered: list[_Numbered]
    forced: str  # the reply's start, already in the prompt
    request: GenerationRequest
    evidence_ms: float
    # the evidence's candidate answers for the second opinion, found here rather than on the model's thread
    candidates: tuple[str, ...] = ()
    candidates_ms: float = 0.0


class LMAnswerWriter:
    """Writes answers with a LanguageModel; ``adapter`` None means the base model alone. Without a ``fallback``
    writer a malformed reply raises ModelOutputError (benchmarks score the model's own replies that way). With a
    ``selector`` the model reads only the evidence sentences it keeps. ``decoding``: the reply's vocabulary, schema
    and copying (graphrag/answering/decoding/reply.py). ``path_items``: graph paths of each kind (connections, chains)
    read after the passages. ``candidates``: a second opinion on each answer, the evidence's candidate answers
    scored whole (graphrag/answering/candidates.py). ``graph``: a writer whose ``graph_answer`` answers first where the
    graph itself answers (a relation chain, a connection, the main themes); the model reads the rest. ``gate``: judges
    from the model's reading of the prompt whether the evidence answers the question, before any reply is decoded
    (graphrag/answering/probes.py); base model only: hidden states under an adapter mean something else. ``polar``:
    the yes / no probe of the same base model, which answers a polar question that offers no choice (the model's
    own yes / no is little better than a coin); it reads the layer ``gate`` reads."""

    def __init__(
        self,
        model: LanguageModel,
        fallback: ExtractiveAnswerWriter | None,
        adapter: str | None = None,
        max_new_tokens: int = MAX_NEW_TOKENS,
        evidence_tokens: int = EVIDENCE_TOKENS,
        stats: WriterStats | None = None,
        abstain_bias: float = 0.0,
        selector: EvidenceSelector | None = None,
        decoding: ReplyDecoding = _NO_DECODING_RULES,
        path_items: int = GRAPH_PATHS,
        candidates: AnswerCandidates | None = None,
        graph: ExtractiveAnswerWriter | None = None,
        gate: PromptGate | None = None,
        polar: LinearProbe | None = None,
    ) -> None:
        self.model = model
        self.fallback = fallback
        self.adapter = adapter
        self.max_new_tokens = max_new_tokens
        self.evidence_tokens = evidence_tokens
        self.stats = stats or WriterStats()
        self.abstain_bias = (
            abstain_bias  # the adapter's calibrated "I don't know" bias (graphrag/answering/abstention.py)
        )
        self.selector = selector
        self.decoding = decoding
        self.path_items = path_items  # graph paths of each kind read after the passages
        self.candidates = candidates
        self.graph = graph
        self.gate = gate
        self.polar = polar

    def without_fallback(self) -> LMAnswerWriter:
        """The same writer with no extractive fallback: a malformed reply raises (benchmarks score it as wrong)."""
        return LMAnswerWriter(
            self.model,
            None,
            self.adapter,
            self.max_new_tokens,
            self.evidence_tokens,
            self.stats,
            self.abstain_bias,
            self.selector,
            self.decoding,
            self.path_items,
            self.candidates,
            self.graph,
            self.gate,
            self.polar,
        )

    @property
    def name(self) -> str:
        return f"lm:{self.adapter}" if self.adapter else "lm:base"

    @property
    def batch_key(self) -> tuple:
        """Writers with the same key write alike, so one of them can write the others' answers (``write_many``)."""
        return (
            id(self.model),
            self.adapter,
            self.abstain_bias,
            id(self.fallback),
            id(self.graph),
            id(self.gate),
            id(self.polar),
        )

    def numbered_evidence(self, retrieval: Retrieval, question: str = "") -> list[_Numbered]:
        """Passages in rank order, then the best graph paths, cut to the evidence token budget, then (with a
        selector) to the sentences most relevant to ``question``; with a question, the passages it names come first,
        then those they name, then the rest, then the paths (``passage_roles``)."""
        candidates = [
            _Numbered(EvidenceItem(e.document_title or "Passage", e.chunk.text), evidence=e) for e in retrieval.evidence
        ]
        # A chain with no confidence aligned none of its relations to the question better than unrelated phrases do:
        # a walk through whatever hubs join the names ("Lilu -> China <- Shanghai <- JDS Architects"), which only
        # distracts the reader.
        chains = [c.path for c in retrieval.chains if c.score > 0][: self.path_items]
        paths = list(retrieval.connections[: self.path_items]) + chains
        seen: set[str] = set()
        for path in paths:
            if path.steps and path.text not in seen:
                seen.add(path.text)
                candidates.append(_Numbered(EvidenceItem("Graph path", path.text), path=path))
        budget, kept = self.evidence_tokens, []
        for candidate in candidates:
            tokens = self.model.count_tokens(candidate.item.text)
            if tokens > budget:
                if budget >= 32 and candidate.evidence is not None:  # a cut passage is still worth reading
                    cut = candidate.item.text[: len(candidate.item.text) * budget // tokens]
                    kept.append(replace(candidate, item=EvidenceItem(candidate.item.label, cut)))
                break
            budget -= tokens
            kept.append(candidate)
        if not question:
            return kept
        # Passages the question names come first, then the passages they name (the bridges), then the rest, then
        # graph paths: a small reader weighs what it reads first, and a distractor read before the bridge led it off.
        passage_role = iter(passage_roles(question, [(n.item.label, n.item.text) for n in kept if n.path is None]))
        roles = [next(passage_role) if n.path is None else None for n in kept]
        texts: list[str | None] = [n.item.text for n in kept]
        if self.selector is not None:
            offered = [SelectableText(n.item.label, n.item.text, splittable=n.path is None) for n in kept]
            texts = self.selector.select(question, offered, roles)
        order = sorted(range(len(kept)), key=lambda i: len(PassageRole) if roles[i] is None else int(roles[i]))
        return [
            replace(kept[i], item=EvidenceItem(kept[i].item.label, text))
            for i in order
            if (text := texts[i]) is not None
        ]

    def write(self, question: str, retrieval: Retrieval) -> Answer:
        """The graph's own answer when it gives one (``graph``); else generate, parse and cite, falling back to the
        extractive writer when the reply breaks the schema."""
        outcome = self.write_many([(question, retrieval)])[0]
        if isinstance(outcome, GraphRAGError):
            raise outcome
        return outcome

    def write_many(self, asks: Sequence[tuple[str, Retrieval]]) -> list[Answer | GraphRAGError]:
        """``write`` for several (question, retrieval) pairs: the replies the model must write are decoded together
        (LanguageModel.generate_batch), so one forward pass serves every question's next tokens. Each pair gets its
        answer, or the error ``write`` would raise for it alone."""
        prepared: list[Answer | GraphRAGError | Reading] = []
        for question, retrieval in asks:
            try:
                prepared.append(self.prepare(question, retrieval))
            except GraphRAGError as exc:
                prepared.append(exc)
        readings = [p for p in prepared if isinstance(p, Reading)]
        read = iter(self.read_all(readings))
        return [next(read) if isinstance(p, Reading) else p for p in prepared]

    def read_all(self, readings: Sequence[Reading]) -> list[Answer | GraphRAGError]:
        """The model's answers to questions ``prepare`` left to it, their replies decoded in one batch; each gets its
        answer or its own error. Needs only the model (no store, no embedder): it may run beside retrieval."""
        if not readings:
            return []
        try:
            generations = self.model.generate_batch([r.request for r in readings])
        except GraphRAGError as exc:
            return [exc] * len(readings)
        out: list[Answer | GraphRAGError] = []
        for reading, generation in zip(readings, generations):
            try:
                out.append(self._complete(reading, generation))
            except GraphRAGError as exc:
                out.append(exc)
        return out

    def prepare(self, question: str, retrieval: Retrieval) -> Answer | Reading:
        """The answer when no model is needed (the graph's, or "I don't know"), else what the model must read
        (``read_all`` answers it)."""
        if self.graph is not None:
            answer = self.graph.graph_answer(question, retrieval)
            if answer is not None:
                return answer
        started = time.perf_counter()
        numbered = self.numbered_evidence(retrieval, question)
        evidence_ms = round((time.perf_counter() - started) * 1000, 2)
        if not numbered:  # nothing to read: the schema's one reply is "I don't know", so the LM is not asked
            return Answer(
                question=question,
                text=IDK,
                confidence=0.0,
                abstained=True,
                plan=retrieval.plan,
                timings_ms={**retrieval.timings_ms, "evidence": evidence_ms},
            )
        items = [n.item for n in numbered]
        if _names_missing_from(question, items):
            # The question asks about names the evidence never says ("Who founded Quorvane Tidelabs?" over a corpus
            # without it): whatever the evidence holds is about something else, and a small model answers anyway.
            return self._refusal(question, retrieval, {**retrieval.timings_ms, "evidence": evidence_ms})
        forced = self.decoding.reply_prefix(self.adapter)
        user = user_message(question, items)
        prompt = self.model.chat_prompt(ANSWER_SYSTEM, user) + forced
        gate = self.gate if self.adapter is None else None
        # With a gate, the gate alone decides whether to answer: a prompt it lets through gets an answer.
        bias = FORBIDDEN if gate is not None else self.abstain_bias
        if self.polar is not None and self.adapter is None:
            form = QuestionForm.of(question)
            if form.polar and not form.choice:
                gate = PolarReading(self.polar, gate)  # one per question: it keeps its verdict for _complete
        processors = [AbstainBias(self.model.tokenizer, bias, prefix_in_prompt=bool(forced))] if bias else []
        processors += self.decoding.processors(len(items), forced, user, self.max_new_tokens)
        request = GenerationRequest(
            prompt,
            self.max_new_tokens,
            adapter=self.adapter,
            logits_processors=processors,
            vocabulary=self.decoding.vocabulary(prompt),
            gate=gate,
        )
        started = time.perf_counter()
        candidates = tuple(self.candidates.of(question, items)) if self.candidates is not None else ()
        candidates_ms = round((time.perf_counter() - started) * 1000, 2)
        return Reading(question, retrieval, numbered, forced, request, evidence_ms, candidates, candidates_ms)

    def _complete(self, reading: Reading, generation: Generation) -> Answer:
        """Parse and cite the model's reply to ``reading`` (the extractive writer answers a malformed one)."""
        question, retrieval, numbered = reading.question, reading.retrieval, reading.numbered
        processors = list(reading.request.logits_processors)
        text = reading.forced + generation.text
        timings = {**retrieval.timings_ms, "evidence": reading.evidence_ms, "generate": generation.ms}
        if generation.batch_size > 1:
            timings["batch"] = float(generation.batch_size)
        if generation.gated:  # the model's reading of the prompt says the evidence does not answer the question
            return self._refusal(question, retrieval, {**timings, "unanswerable": 1.0})
        try:
            reply = parse_reply(text, len(numbered))
        except ModelOutputError as exc:
            self.stats.count("malformed", f"{exc.message}: {text[:200]!r}")
            if self.fallback is None:
                raise ModelOutputError(exc.message, details={"reply": text[:500]}) from None
            answer = self.fallback.write(question, retrieval)
            return replace(answer, timings_ms={**timings, **answer.timings_ms, "lm_fallback": 1.0})
        if reply.answer is None:
            return self._refusal(question, retrieval, timings, generation.mean_token_probability)
        self.stats.count("answered")
        answer_text = _as_written(processors, reply.answer)
        cited = [numbered[n - 1] for n in reply.cited]
        verdict = _polar_verdict(reading.request.gate, answer_text)
        if verdict is not None:  # the yes / no probe answers; the model's own choice is little better than a coin
            answer_text = verdict
        elif self.candidates is not None:
            started = time.perf_counter()
            rescored = self._second_opinion(reading.candidates, reading.request.prompt, answer_text, generation)
            timings["candidates"] = reading.candidates_ms
            timings["rescore"] = round((time.perf_counter() - started) * 1000, 2)
            if rescored != answer_text:
                answer_text = rescored
                if rescored.lower() not in ("yes", "no"):
                    cited = []  # the passage holding the new answer is cited below
        cited += _answer_source(numbered, cited, answer_text)
        by_chunk = {e.chunk.id: e for e in retrieval.evidence}
        return Answer(
            question=question,
            text=answer_text,
            confidence=generation.mean_token_probability,
            abstained=False,
            citations=_citations(cited, answer_text, by_chunk),
            paths=tuple(n.path for n in cited if n.path is not None),
            plan=retrieval.plan,
            timings_ms=timings,
            answers=(answer_text,),
        )

    def _refusal(self, question: str, retrieval: Retrieval, timings: dict, confidence: float = 0.0) -> Answer:
        """ "I don't know", citing the passages that were read, counted as an abstention."""
        self.stats.count("abstained")
        return Answer(
            question=question,
            text=IDK,
            confidence=confidence,
            abstained=True,
            citations=tuple(_citation(e, e.chunk.start, e.chunk.end) for e in retrieval.evidence[:3]),
            plan=retrieval.plan,
            timings_ms=timings,
        )

    def _second_opinion(self, offered: Sequence[str], prompt: str, answer: str, generation: Generation) -> str:
        """``answer``, or the candidate answer ``offered`` (graphrag/answering/candidates.py) that the model finds at
        least MARGIN likelier as the whole answer line. The answer line's own score comes from ``generation``'s
        when the reply wrote it token for token."""
        candidates = [c for c in offered if c.lower() != answer.lower()]
        if not candidates:
            return answer
        label = "" if prompt.endswith(REPLY_PREFIX) else REPLY_PREFIX  # the line as the model writes it
        lines = [f"{label} {text}\n" for text in (answer, *candidates)]
        scores = self.model.score_continuations(
            prompt, lines, self.adapter, self.decoding.vocabulary(prompt), margin=MARGIN, reply=generation.own
        )
        if scores[0] is None:
            return answer
        best = max(((score, c) for score, c in zip(scores[1:], candidates) if score is not None), default=None)
        return best[1] if best is not None and best[0] >= scores[0] + MARGIN else answer


def _polar_verdict(gate: PromptGate | None, answer: str) -> str | None:
    """ "Yes" or "No" as the yes / no probe read the prompt, where the reply answered yes or no to a polar question
    (its gate is a PolarReading); None otherwise."""
    if not isinstance(gate, PolarReading) or gate.yes is None:
        return None
    if answer.strip().rstrip(".").lower() not in ("yes", "no"):
        return None
    return "Yes" if gate.yes else "No"


def _names_missing_from(question: str, items: list[EvidenceItem]) -> bool:
    """Whether the question says names and none of them has any of its words in the evidence (labels included).
    One missing name of several is no reason: a multi-hop question's other names carry it, and a spelling can
    differ ("Aschenbrodel", "Aschenbrödel"); refusing then cost 1-2 points of F1 on the dev halves."""
    names = QuestionForm.names(question)
    said = {key for item in items for key in _word_keys(f"{item.label} {item.text}")}
    return bool(names) and all(not set(name) & said for name in names)


def _word_keys(text: str) -> set[str]:
    return {QuestionForm.key(word) for word in words(text)}


def _as_written(processors: list, answer: str) -> str:
    """A copied answer as its evidence spells it (copying matches case-blind); any other answer as written."""
    spans = next((p.spans for p in processors if getattr(p, "spans", None) is not None), None)
    return spans.as_written(answer) if spans is not None else answer


def _answer_source(numbered: list[_Numbered], cited: list[_Numbered], answer: str) -> list[_Numbered]:
    """The passage the answer was copied from, when the model cited none that holds it: the first in the numbered
    order (retrieval's rank) whose text has the answer as a span (word boundaries; case and white space aside).
    Small models cite poorly: on 40 questions with 1,500 evidence tokens a stand-in adapter, which
    mostly wrote "Evidence: 2, 3" whatever the question, cited a passage holding its answer for 19 of 34 answers,
    the base model for 12 of 39. A reader checking an answer must at least find its words in a cited passage.
    The passage's title counts (the prompt numbers "[n] Title: text"). Nothing for yes / no, or an answer in no
    passage."""
    if answer.strip().rstrip(".").lower() in ("yes", "no"):
        return []
    holds = [
        n
        for n in numbered
        if n.evidence is not None and CopySpans(f"{n.item.label}: {n.item.text}", free_answers=()).can_end(answer)
    ]
    if not holds or any(n in cited for n in holds):
        return []
    return holds[:1]


def _citations(cited: list[_Numbered], answer: str, by_chunk: dict[str, Evidence]) -> tuple[Citation, ...]:
    """A passage is cited at the sentence holding the answer (the whole chunk if none does); a path through the
    sentences its relations were extracted from."""
    out: dict[str, Citation] = {}
    for numbered in cited:
        if numbered.evidence is not None:
            evidence = numbered.evidence
            sentence = next((s for s in sentences(evidence.chunk.text) if answer.lower() in s.lower()), "")
            start, end = _sentence_offsets(evidence, sentence)
            out.setdefault(evidence.chunk.id, _citation(evidence, start, end))
        elif numbered.path is not None:
            for step in numbered.path.steps:
                for chunk_id in step.relation.evidence:
                    if chunk_id in by_chunk and chunk_id not in out:
                        start, end = _sentence_offsets(by_chunk[chunk_id], step.relation.sentence)
                        out[chunk_id] = _citation(by_chunk[chunk_id], start, end)
                        break
    return tuple(out.values())
