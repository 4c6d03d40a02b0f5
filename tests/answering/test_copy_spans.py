"""Copying: which texts may follow an answer so that it stays a span of the evidence, and where it may end."""

from __future__ import annotations

import pytest

from graphrag.answering.decoding.copy_spans import FOLLOWING_CHARS, CopySpans
from graphrag.answering.prompt import EvidenceItem, evidence_part, user_message

EVIDENCE = "[1] Helix Dynamics: Helix Dynamics was founded by Marta  Kovac in Tallinn in 2004.\n[2] Porto: A city."


def test_an_answer_goes_on_only_as_the_evidence_does():
    spans = CopySpans(EVIDENCE)
    assert any(text.startswith(" kovac in tallinn") for text in spans.following("Marta"))
    rest = "kovac in tallinn in 2004. [2] porto: a city."[:FOLLOWING_CHARS]
    assert spans.following(" MARTA ") == {rest}  # case and runs of white space aside
    assert spans.following("Marta Kovac was") == set()  # the evidence does not go on that way
    assert spans.following("arta") == set()  # a span starts at a word boundary


def test_an_empty_answer_may_start_at_any_word_or_free_answer():
    starts = CopySpans(EVIDENCE).following("")
    assert {"marta kovac", "tallinn in 2004", "2004.", "yes.", "no.", "i don't know."} <= {
        text[: len(word)]
        for text in starts
        for word in ("marta kovac", "tallinn in 2004", "2004.", "yes.", "no.", "i don't know.")
    }
    assert not any(text.startswith("arta") or text.startswith(" ") for text in starts)


@pytest.mark.parametrize(
    "answer, ends",
    [
        ("Marta Kovac", True),
        (" marta kovac ", True),
        ("Tallinn in 2004.", True),
        ("Marta Kov", False),
        ("Yes", True),
        ("no.", True),
        ("I don't know", True),
        ("founded by Marta Kovac in Porto", False),
        ("", False),
        ("[2] Porto", True),
    ],
)
def test_an_answer_may_end_only_where_a_span_ends_at_a_word_boundary(answer, ends):
    assert CopySpans(EVIDENCE).can_end(answer) is ends


def test_the_question_is_not_a_source():
    user = user_message("Who founded Helix Dynamics in Tallinn?", [EvidenceItem("Porto", "A city.")])
    assert evidence_part(user) == "Evidence:\n[1] Porto: A city."
    assert CopySpans(evidence_part(user)).following("Helix") == set()


def test_an_answer_stops_before_a_parenthesis():
    spans = CopySpans("[1] Buffalo: The average snowfall is 6.8 inches (17.3 cm) a year.")
    assert spans.can_end("6.8 inches") and not spans.can_end("6.8 inches (17.3 cm)")
    assert spans.following("6.8 inches") == {" "} and spans.following("6.8 inches ") == set()
    assert spans.can_end("17.3 cm")  # the aside itself may still be the answer


def test_a_free_answer_is_taken_whole():
    """ "know" of "I don't know." is no start: the base model copied "Kno" from there (2026-12-04)."""
    spans = CopySpans(EVIDENCE)
    assert spans.following("Kno") == set() and not spans.can_end("know")
    assert not any(text.startswith(("know", "don't")) for text in spans.following(""))
    assert spans.following("I don't") == {" know."} and spans.can_end("I don't know")


def test_an_answer_is_shown_as_the_evidence_spells_it():
    spans = CopySpans(EVIDENCE)
    assert spans.as_written("marta  KOVAC") == "Marta Kovac"  # case and white space as the evidence has them
    assert spans.as_written("Yes") == "Yes" and spans.as_written("Lisbon") == "Lisbon"  # not a span: as given
