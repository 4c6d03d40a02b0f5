"""Which retrieved passages a question names, which passages those name (bridges), and which are neither."""

from __future__ import annotations

from graphrag.answering.passage_roles import PassageRole, passage_roles

QUESTION = "At the 2011 census, what was the population of the city where Kerry Saxby-Junna was born?"
KERRY = ("Kerry Saxby-Junna", "Kerry Saxby-Junna (born 2 June 1961 in Young, New South Wales) is a race walker.")
YOUNG = ("Young, New South Wales", "Young is a town in New South Wales. At the 2011 census it had 6,960 people.")
LONDON = ("London", "London is the capital city of England. Its population at the 2011 census was 8.2 million.")


def test_the_named_passage_its_bridge_and_a_distractor():
    assert passage_roles(QUESTION, [LONDON, YOUNG, KERRY]) == [
        PassageRole.OTHER,  # shares the question's words, but the question does not name it
        PassageRole.BRIDGE,  # the named passage says "Young, New South Wales"
        PassageRole.NAMED,  # "(born ...)" aside, every word of the title is in the question
    ]


def test_a_disambiguated_title_is_named_by_its_name_and_a_bridge_needs_a_named_passage():
    mythology = ("Lilu (mythology)", "A lilu is a masculine Akkadian word for a spirit, related to Alû, demon.")
    alu = ("Alû", "In Akkadian mythology, Alû is a vengeful spirit.")
    assert passage_roles("If Gallu is a demon Lilu is what?", [mythology, alu]) == [
        PassageRole.NAMED,
        PassageRole.BRIDGE,
    ]
    # Without a named passage nothing is a bridge, however often the passages name each other.
    assert passage_roles("Which spirit has no mouth?", [mythology, alu]) == [PassageRole.OTHER] * 2


def test_a_title_must_be_named_whole_and_be_a_name():
    half = ("Kerry Packer", "Kerry Packer was a media owner. He was born in Young, New South Wales.")
    short = ("Io", "Io is a moon. Kerry Saxby-Junna never went there.")
    assert passage_roles(QUESTION, [half, short, ("", "")]) == [PassageRole.OTHER] * 3
    assert passage_roles("", [KERRY]) == [PassageRole.OTHER]
