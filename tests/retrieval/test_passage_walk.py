"""The passage walk and the title index, on a small in-memory mention graph."""

from graphrag.retrieval.passage_walk import PassageWalk, TitleIndex, title_key
from tests.scripts import REPO_ROOT


class MentionGraph:
    """The two store reads the walk makes, over a fixed {chunk: entities} map."""

    def __init__(self, mentions: dict[str, set[str]], names: dict[str, str]) -> None:
        self.mentions = mentions
        self.names = names

    def entities_in_chunks(self, chunk_ids):
        return [(c, e) for c in chunk_ids for e in sorted(self.mentions.get(c, ()))]

    def chunks_mentioning_each(self, entity_ids, per_entity):
        return [
            (e, c) for e in entity_ids for c in sorted(c for c, es in self.mentions.items() if e in es)[:per_entity]
        ]

    def get_entities(self, ids):
        from graphrag.types import Entity

        return [Entity(i, self.names[i], "Person") for i in ids if i in self.names]


GRAPH = MentionGraph(
    {
        "film": {"director", "studio"},
        "director-page": {"director", "city"},
        "studio-page": {"studio"},
        "unrelated": {"weather"},
        "other": {"weather"},
        "city-page": {"city"},
    },
    {"director": "Jane Roe", "studio": "Acme Films", "city": "Lindmark", "weather": "Rain"},
)


def test_title_key_drops_disambiguation_and_normalises():
    assert title_key("Lilu (mythology)") == title_key("lilu")
    assert title_key("Hello Love (song)") == title_key("Hello Love") != title_key("Hello")
    assert title_key("(1999)")  # a title that is only a parenthesis keeps it


def test_walk_reaches_the_second_hop_and_keeps_the_seed_first():
    ranked = [c for c, _ in PassageWalk().rank(GRAPH, {"film": 1.0}, None, {})]
    assert ranked[0] == "film"
    assert "director-page" in ranked and "studio-page" in ranked  # second hop, through the director and the studio
    assert "unrelated" not in ranked and "other" not in ranked  # nothing links them to the seed


def test_title_links_join_a_document_to_the_entity_it_is_named_after():
    titles = TitleIndex([("d1", "Lindmark", "city-page"), ("d2", "Jane Roe", "director-page")])
    # Without entity mentions the city page is only reachable through its title.
    graph = MentionGraph(
        {"film": {"city"}, "city-page": set(), "noise": {"x"}, "noise2": {"x"}}, {"city": "Lindmark", "x": "X"}
    )
    without = [c for c, _ in PassageWalk().rank(graph, {"film": 1.0}, None, {})]
    with_titles = [c for c, _ in PassageWalk().rank(graph, {"film": 1.0}, titles, {})]
    assert "city-page" not in without and "city-page" in with_titles


def test_title_index_finds_titles_in_question_words_longest_first():
    titles = TitleIndex([("d1", "Jane Roe", "c1"), ("d2", "Roe", "c2"), ("d3", "Io", "c3")])
    words = ("Where", "was", "Jane", "Roe", "born", "near", "Io")
    assert titles.heads_in(words) == ["c1"]  # "Roe" is inside the longer match; "Io" is too short a title
    assert titles.heads_in(("Who", "is", "Roe")) == ["c2"]
    assert titles.heads_in(("Who", "is", "Roe"), lambda i: False) == []
    assert titles.heads_named("jane roe") == ["c1"]


def test_hub_entities_are_left_out():
    mentions = {f"p{i}": {"hub"} for i in range(30)} | {"seed": {"hub", "rare"}, "friend": {"rare"}}
    graph = MentionGraph(mentions, {"hub": "Hub", "rare": "Rare"})
    ranked = [c for c, _ in PassageWalk(hub_limit=10).rank(graph, {"seed": 1.0}, None, {})]
    assert ranked[:2] == ["seed", "friend"] and "p3" not in ranked


def test_empty_seeds_give_nothing():
    assert PassageWalk().rank(GRAPH, {}, None, {}) == []


def test_the_ranking_does_not_depend_on_the_processs_hash_seed():
    """Tied passages and the walk's sums came out in set order, which changes with PYTHONHASHSEED: the same question
    could rank passages differently after a restart."""
    import os
    import subprocess
    import sys

    program = (
        "from tests.retrieval.test_passage_walk import MentionGraph\n"
        "from graphrag.retrieval.passage_walk import PassageWalk\n"
        "graph = MentionGraph({'film': {'a', 'b', 'c', 'd'}, 'pa': {'a'}, 'pb': {'b'}, 'pc': {'c'}, "
        "'pd': {'d'}, 'pab': {'a', 'b'}, 'pcd': {'c', 'd'}}, {})\n"
        "print(PassageWalk().rank(graph, {'film': 1.0, 'pab': 0.3, 'pcd': 0.3}, None, {}))\n"
    )
    root = REPO_ROOT
    rankings = {
        subprocess.run(
            [sys.executable, "-c", program],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in range(6)
    }
    assert len(rankings) == 1 and "pab" in next(iter(rankings))
