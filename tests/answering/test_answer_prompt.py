"""The answer model's reply schema: well-formed replies parse, malformed ones are rejected with a reason."""

from __future__ import annotations

import pytest

from graphrag.answering.prompt import EvidenceItem, format_reply, parse_reply, user_message
from graphrag.errors import ModelOutputError


def test_well_formed_replies_parse():
    assert parse_reply("Answer: Ada Lovelace\nEvidence: 2, 1", 3).answer == "Ada Lovelace"
    assert parse_reply("Answer: Ada Lovelace\nEvidence: 2, 1", 3).cited == (2, 1)
    idk = parse_reply("  Answer: I don't know.\nEvidence: none\n", 3)
    assert idk.answer is None and idk.cited == ()


def test_format_and_parse_round_trip():
    reply = format_reply("Helix Dynamics", [3, 1, 3])
    assert reply == "Answer: Helix Dynamics\nEvidence: 1, 3"
    assert parse_reply(reply, 3).answer == "Helix Dynamics"
    assert parse_reply(format_reply(None, []), 3).answer is None


@pytest.mark.parametrize(
    "reply, reason",
    [
        ("", "expected 2 lines"),
        ("Ada Lovelace", "expected 2 lines"),
        ("Answer: Ada\nEvidence: 1\nAlso: more", "expected 2 lines"),
        ("The answer is Ada\nEvidence: 1", "first line"),
        ("Answer: Ada\nSources: 1", "second line"),
        ("Answer: Ada\nEvidence: one", "second line"),
        ("Answer: Ada\nEvidence: none", "must cite evidence"),
        ("Answer: I don't know\nEvidence: 1", "must cite no evidence"),
        ("Answer: Ada\nEvidence: 0", "outside 1..3"),
        ("Answer: Ada\nEvidence: 1, 4", "outside 1..3"),
        ("Answer: " + "x" * 300 + "\nEvidence: 1", "longer than"),
    ],
)
def test_malformed_replies_are_rejected_with_the_reason(reply, reason):
    with pytest.raises(ModelOutputError, match=reason):
        parse_reply(reply, 3)


def test_user_message_numbers_the_evidence_in_order():
    text = user_message(
        "Who founded Helix?",
        [EvidenceItem("Helix", "Ada founded Helix."), EvidenceItem("Graph path", "Ada —FOUNDED→ Helix")],
    )
    assert text.index("[1] Helix: Ada founded Helix.") < text.index("[2] Graph path: Ada —FOUNDED→ Helix")
    assert text.endswith("Question: Who founded Helix?")
