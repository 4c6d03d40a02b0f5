"""Answer writers. v1 is extractive: it answers from the best graph chain, the connecting paths, or the best
evidence sentence, always with citations, and says "I don't know" when its confidence is under the threshold.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from graphrag.retrieval.planner import Retrieval
from graphrag.retrieval.question import QuestionInfo, stem, stems_match
from graphrag.retrieval.relation_chains import Chain, name_modifiers, tied_answers
from graphrag.text import sentence_spans, terms
from graphrag.types import Answer, Citation, Evidence, Path, Relation

__all__ = ["AnswerWriter", "ExtractiveAnswerWriter", "IDK"]

IDK = "I don't know."


@runtime_checkable
class AnswerWriter(Protocol):
    """Writes an Answer from a question and what retrieval found."""

    name: str

    def write(self, question: str, retrieval: Retrieval) -> Answer: ...


_MOST_ANSWERS = 20  # equally good answers listed at most

# Keeps the best possible unanchored sentence (0.8 before this factor) under the default threshold of 0.35.
_UNANCHORED = 0.4


class ExtractiveAnswerWriter:
    """Answers with an entity from the graph or a span of the evidence; never invents text."""

    name = "extractive"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def write(self, question: str, retrieval: Retrieval) -> Answer:
        """Pick the most confident of: connection paths, the top answer chain, the best evidence sentence."""
        return self._write(question, retrieval, sentences=True)

    def graph_answer(self, question: str, retrieval: Retrieval) -> Answer | None:
        """The answer the graph itself gives, when it gives one at or over the threshold: the main themes of a global
        question, the paths of a connection question, or the end of the best relation chain, cited by the sentences
        its relations came from. None otherwise (the LM writer then reads the evidence)."""
        answer = self._write(question, retrieval, sentences=False)
        return None if answer.abstained else answer

    def _write(self, question: str, retrieval: Retrieval, sentences: bool) -> Answer:
        by_chunk = {e.chunk.id: e for e in retrieval.evidence}
        if retrieval.plan.strategy == "global" and retrieval.communities:
            return self._overview(question, retrieval, by_chunk)
        # (confidence, text, paths, citations, every answer as good as the best)
        candidates: list[tuple[float, str, tuple[Path, ...], tuple[Citation, ...], tuple[str, ...]]] = []
        if retrieval.info.wants_connection and retrieval.connections:
            best = retrieval.connections[:3]
            cites = self._cite_relations([s.relation for p in best for s in p.steps], by_chunk, retrieval)
            text = "; ".join(p.text for p in best)
            candidates.append((0.9 if cites else 0.5, text, tuple(best), cites, (text,)))
        if retrieval.chains:
            tied = _not_said(tied_answers(retrieval.chains), retrieval.info)[:_MOST_ANSWERS]
            top = tied[0]
            names = list(dict.fromkeys(c.answer.name for c in tied))
            cites = self._cite_relations([s.relation for s in reversed(top.path.steps)], by_chunk, retrieval)
            text = " and ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            candidates.append(
                (top.score if cites else top.score * 0.5, text, tuple(c.path for c in tied[:3]), cites, tuple(names))
            )
        sentence = self._best_sentence(retrieval) if sentences else None
        if sentence is not None:
            candidates.append(sentence)
            if retrieval.chains and candidates[-2][2] and sentence[1] in (retrieval.chains[0].answer.name,):
                # graph and text agree on the answer: the chain answer (with its path) takes the higher confidence
                chain = candidates[-2]
                candidates[-2] = (max(chain[0], sentence[0]), *chain[1:])
        if not candidates:
            return self._idk(question, retrieval, 0.0)
        confidence, text, paths, cites, answers = max(candidates, key=lambda c: c[0])
        if confidence < self.threshold:
            return self._idk(question, retrieval, confidence)
        return Answer(
            question=question,
            text=text,
            confidence=round(confidence, 3),
            abstained=False,
            citations=cites,
            paths=paths,
            plan=retrieval.plan,
            timings_ms=dict(retrieval.timings_ms),
            answers=answers,
        )

    @staticmethod
    def _overview(question: str, retrieval: Retrieval, by_chunk: dict[str, Evidence]) -> Answer:
        """The main themes: one line per community (its central entities), cited by the facts its summary quotes."""
        lines, cites = [], []
        for number, community in enumerate(retrieval.communities, start=1):
            lines.append(f"({number}) {community.title} ({community.size} entities)")
            cites.extend(
                _citation(by_chunk[c], by_chunk[c].chunk.start, by_chunk[c].chunk.end)
                for c in community.evidence[:1]
                if c in by_chunk
            )
        return Answer(
            question=question,
            text="Main themes: " + "; ".join(lines),
            answers=tuple(c.title for c in retrieval.communities),
            confidence=0.8,
            abstained=False,
            citations=tuple(cites),
            plan=retrieval.plan,
            timings_ms=dict(retrieval.timings_ms),
        )

    def _idk(self, question: str, retrieval: Retrieval, confidence: float) -> Answer:
        return Answer(
            question=question,
            text=IDK,
            confidence=round(confidence, 3),
            abstained=True,
            citations=tuple(_citation(e, e.chunk.start, e.chunk.end) for e in retrieval.evidence[:3]),
            plan=retrieval.plan,
            timings_ms=dict(retrieval.timings_ms),
        )

    @staticmethod
    def _cite_relations(
        relations: list[Relation], by_chunk: dict[str, Evidence], retrieval: Retrieval
    ) -> tuple[Citation, ...]:
        cites: dict[str, Citation] = {}
        for rel in relations:
            if rel.provenance == "structured" and rel.id not in cites:
                # A loaded fact cites the record it came from: no passage holds it.
                title = retrieval.record_titles.get(rel.document_id, "")
                cites[rel.id] = Citation(rel.document_id, title, "", 0, 0, rel.sentence)
            for chunk_id in rel.evidence:
                evidence = by_chunk.get(chunk_id)
                if evidence is None or chunk_id in cites:
                    continue
                start, end = _sentence_offsets(evidence, rel.sentence)
                cites[chunk_id] = _citation(evidence, start, end)
                break
        return tuple(cites.values())

    def _best_sentence(self, retrieval: Retrieval):
        info = retrieval.info
        weights = {}
        for word in info.content:
            weights[stem(word)] = 2.0 if word.islower() else 1.0  # relation words weigh more than names
        if not weights:
            return None
        missing_names = [w for w in retrieval.unlinked_names]
        anchors = [w for w in terms(info.text) if not w.isascii()]  # words the tokeniser skips
        linked_names = [n.lower() for link in retrieval.plan.linked for n in (link.entity.name, *link.entity.aliases)]
        best = None
        for evidence in retrieval.evidence:
            if linked_names and not any(n in evidence.chunk.text.lower() for n in linked_names):
                continue  # the question is about a known entity: evidence that never names it cannot answer
            chunk_stems = [stem(w) for w in terms(evidence.chunk.text)]
            chunk_cov = _coverage(weights, chunk_stems)
            penalty = 0.3 if any(stem(n) not in chunk_stems for n in missing_names) else 1.0
            for start, end in sentence_spans(evidence.chunk.text):
                sentence = evidence.chunk.text[start:end]
                sent_stems = [stem(w) for w in terms(sentence)]
                lower_missing = any(
                    not any(stems_match(stem(w), s) for s in sent_stems) for w in info.content if w.islower()
                )
                names_entity = not linked_names or any(n in sentence.lower() for n in linked_names)
                score = (0.5 * chunk_cov + 0.5 * _coverage(weights, sent_stems)) * penalty
                score *= (0.5 if lower_missing else 1.0) * (1.0 if names_entity else 0.5)
                if not linked_names and not _anchored(info, anchors, sentence, sent_stems):
                    score *= _UNANCHORED
                if best is None or score > best[0]:
                    best = (score, evidence, start, end)
        if best is None:
            return None
        score, evidence, start, end = best
        text = evidence.chunk.text[start:end].strip()
        lead = len(evidence.chunk.text[start:end]) - len(evidence.chunk.text[start:end].lstrip())
        doc_start = evidence.chunk.start + start + lead
        citation = _citation(evidence, doc_start, doc_start + len(text))
        span = _answer_span(text, retrieval.chunk_entities.get(evidence.chunk.id, ()), retrieval)
        return (score * 0.8, span or text, (), (citation,), (span or text,))


def _anchored(info, anchors: list[str], sentence: str, sentence_stems: list[str]) -> bool:
    """Whether a sentence is about what a question that links to nothing in the graph asks: it says every content
    word and every word of another script (a name such as 龙腾科技) of the question, and the question says at least
    two such words. A question with only its relation word ('Who founded the company?') names no subject, and a
    sentence sharing only that word is about some other one."""
    if len(info.content) + len(anchors) < 2:
        return False
    lower = sentence.lower()
    return all(a.lower() in lower for a in anchors) and all(
        any(stems_match(stem(w), s) for s in sentence_stems) for w in info.content
    )


def _answer_span(sentence: str, entities, retrieval: Retrieval) -> str:
    """The entity in the sentence that answers the question: not named in the question, expected type first."""
    question = retrieval.plan.question.lower()
    linked = {link.entity.id for link in retrieval.plan.linked}
    options = []
    for entity in entities:
        if entity.id in linked:
            continue
        for name in (entity.name, *entity.aliases):
            position = sentence.find(name)
            if position >= 0 and name.lower() not in question:
                expected = entity.type in retrieval.info.expected_types
                options.append((not expected, position, entity.name))
                break
    return min(options)[2] if options else ""


def _coverage(weights: dict[str, float], stems: list[str]) -> float:
    total = sum(weights.values())
    hit = sum(w for s, w in weights.items() if any(stems_match(s, t) for t in stems))
    return hit / total if total else 0.0


def _sentence_offsets(evidence: Evidence, sentence: str) -> tuple[int, int]:
    """Document offsets of ``sentence`` inside the evidence chunk (the whole chunk if it is not found)."""
    position = evidence.chunk.text.find(sentence) if sentence else -1
    if position < 0:
        return evidence.chunk.start, evidence.chunk.end
    return evidence.chunk.start + position, evidence.chunk.start + position + len(sentence)


def _citation(evidence: Evidence, start: int, end: int) -> Citation:
    chunk = evidence.chunk
    text = chunk.text[start - chunk.start : end - chunk.start]
    return Citation(
        document_id=chunk.document_id,
        document_title=evidence.document_title,
        chunk_id=chunk.id,
        start=start,
        end=end,
        text=text,
    )


def _not_said(tied: list[Chain], info: QuestionInfo) -> list[Chain]:
    """Equally good chains less those whose answer is the name that qualifies what the question asks for
    ("Australia" for "what Australian city?"), unless that leaves none."""
    said = [stem(info.words[i]) for i in name_modifiers(info)]
    if not said:
        return tied
    kept = [
        chain
        for chain in tied
        if not any(stems_match(stem(word), modifier) for word in terms(chain.answer.name) for modifier in said)
    ]
    return kept or tied
