"""Community detection and extractive summaries over a small relation graph."""

from graphrag.indexing.communities import detect_communities
from graphrag.types import Relation


def _rel(a: str, t: str, b: str, conf: float = 0.9, chunk: str = "") -> Relation:
    return Relation(f"{a}-{t}-{b}", a, b, t, conf, "doc", (chunk or f"c-{a}-{b}",), f"{a} {t.lower()} {b}.")


NAMES = {x: x.upper() for x in "abcdefgh"}
# Two tight triangles (a, b, c, d) and (e, f, g, h) with one weak bridge between them.
RELATIONS = [
    _rel("a", "KNOWS", "b"),
    _rel("b", "KNOWS", "c"),
    _rel("a", "KNOWS", "c"),
    _rel("c", "KNOWS", "d"),
    _rel("a", "FUNDS", "d"),
    _rel("e", "OWNS", "f"),
    _rel("f", "OWNS", "g"),
    _rel("e", "OWNS", "g"),
    _rel("g", "OWNS", "h"),
    _rel("e", "OWNS", "h"),
    _rel("d", "MET", "e", conf=0.05),
]


def test_two_clusters_are_found_with_extractive_summaries():
    found = detect_communities(RELATIONS, NAMES)
    assert [sorted(c.entity_ids) for c in sorted(found, key=lambda c: min(c.entity_ids))] == [
        list("abcd"),
        list("efgh"),
    ]
    assert [c.rank for c in found] == [1, 2]
    for community in found:
        assert community.summary.startswith("4 related entities around ")
        quoted = [r for r in RELATIONS if r.sentence in community.summary]
        assert quoted and all(set((r.source_id, r.target_id)) <= set(community.entity_ids) for r in quoted)
        assert set(community.evidence) == {c for r in quoted for c in r.evidence}
        assert NAMES[community.entity_ids[0]] in community.title  # the most connected entity leads


def test_detection_is_deterministic_and_ids_follow_membership():
    first, again = detect_communities(RELATIONS, NAMES), detect_communities(list(reversed(RELATIONS)), NAMES)
    assert sorted(c.id for c in first) == sorted(c.id for c in again)
    changed = detect_communities(RELATIONS + [_rel("h", "OWNS", "x"), _rel("x", "OWNS", "e")], NAMES)
    assert {c.id for c in changed} != {c.id for c in first}


def test_small_clusters_and_empty_graphs_give_no_community():
    assert detect_communities([], NAMES) == []
    assert detect_communities([_rel("a", "KNOWS", "b")], NAMES) == []  # two entities are not a theme
    assert detect_communities([_rel("a", "KNOWS", "a")], NAMES) == []
