"""Question analysis: the expected answer type from the wh-word's noun, on whole and cut-short questions."""

from __future__ import annotations

import pytest

from graphrag.retrieval.question import analyze_question


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Which company acquired Veltrix Systems?", {"Organization"}),
        ("In which city is Meridian Bank based?", {"Location"}),
        ("What person founded Helix Dynamics?", {"Person"}),
        ("Who founded Helix Dynamics?", {"Person"}),
        ("What did Helix Dynamics acquire?", set()),
    ],
)
def test_the_noun_after_the_wh_word_says_what_is_asked_for(question, expected):
    assert analyze_question(question).expected_types == frozenset(expected)


@pytest.mark.parametrize("question", ["Which", "Which?", "what", "Tell which", "So what?", "In which"])
def test_a_question_that_ends_at_its_wh_word_asks_for_no_type(question):
    info = analyze_question(question)
    assert info.expected_types == frozenset()
    assert info.words  # analysed, not refused
