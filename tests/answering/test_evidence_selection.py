"""Sentence selection before the answer LM: what is kept, in what order, within what budget."""

from __future__ import annotations

from graphrag.answering.evidence import EvidenceSelector, SelectableText
from graphrag.text import sentences


def _word_counts(texts):
    return [len(text.split()) for text in texts]


PASSAGES = [
    SelectableText(
        "Harbor Mill",
        "Harbor Mill is a paper factory in Dunmore. It was built by Ada Quint in 1881. "
        "Its chimney fell in a storm. The roof is slate.",
    ),
    SelectableText("Ada Quint", "Ada Quint was an engineer from Leeds. She studied in Glasgow. She liked sailing."),
    SelectableText("Storm of 1901", "The storm of 1901 flooded the valley. Boats were lost at sea."),
]


def test_evidence_within_the_budget_comes_back_whole(real_embedder):
    selector = EvidenceSelector(real_embedder, _word_counts, budget=1000)
    assert selector.select("Who built Harbor Mill?", PASSAGES) == [p.text for p in PASSAGES]


def test_over_the_budget_the_relevant_sentences_stay_in_their_order(real_embedder):
    selector = EvidenceSelector(real_embedder, _word_counts, budget=16)
    kept = selector.select("Who built Harbor Mill in 1881?", PASSAGES)
    words = sum(len(text.split()) for text in kept if text)
    assert 0 < words <= 16
    mill = kept[0]
    assert "It was built by Ada Quint in 1881." in mill  # the sentence holding the answer
    assert mill.startswith("Harbor Mill is a paper factory")  # the passage's lead sentence, first as in the text
    assert "The roof is slate." not in mill and "Its chimney fell" not in mill
    assert kept[2] is None  # the unrelated passage loses every sentence
    for passage, text in zip(PASSAGES, kept):
        assert text is None or all(sentence in passage.text for sentence in sentences(text))


def test_a_sentence_comes_with_its_passage_lead(real_embedder):
    """'She studied in Glasgow' answers the question but says nothing without its passage's first sentence, which
    says who 'she' is: the two are kept together."""
    selector = EvidenceSelector(real_embedder, _word_counts, budget=11)
    kept = selector.select("Who studied in Glasgow?", PASSAGES)
    assert kept == [None, "Ada Quint was an engineer from Leeds. She studied in Glasgow.", None]


def test_graph_paths_are_kept_or_dropped_whole(real_embedder):
    path = SelectableText(
        "Graph path", "Harbor Mill -[BUILT_BY]-> Ada Quint. Ada Quint -[BORN_IN]-> Leeds.", splittable=False
    )
    selector = EvidenceSelector(real_embedder, _word_counts, budget=20)
    kept = selector.select("Who built Harbor Mill?", [*PASSAGES, path])
    assert kept[-1] in (path.text, None)
    empty = EvidenceSelector(real_embedder, _word_counts, budget=5).select("anything", [])
    assert empty == []


class _CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed (document side)."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.embedded: list[str] = []

    def embed(self, texts, query=False):
        if not query:
            self.embedded += list(texts)
        return self.embedder.embed(texts, query=query)


def test_a_follow_up_question_reuses_the_sentence_vectors(real_embedder):
    counting = _CountingEmbedder(real_embedder)
    selector = EvidenceSelector(counting, _word_counts, budget=16, vectors_kept=9)
    first = selector.select("Who built Harbor Mill in 1881?", PASSAGES)
    assert len(counting.embedded) == 9  # every sentence once
    assert selector.select("Who built Harbor Mill in 1881?", PASSAGES) == first  # the same choice from kept vectors
    assert len(counting.embedded) == 9
    selector.select(
        "Which boats were lost?",
        PASSAGES[2:] + [SelectableText("Dunmore", "Dunmore is a town. It has a harbour. It rains a lot.")],
    )
    assert counting.embedded[9:] == [
        "Dunmore. Dunmore is a town.",
        "Dunmore. It has a harbour.",
        "Dunmore. It rains a lot.",
    ]  # only the new passage's sentences
    selector.select("Who built Harbor Mill in 1881?", PASSAGES[:1])
    assert "Harbor Mill. Harbor Mill is a paper factory in Dunmore." in counting.embedded[12:]  # dropped: least used


def test_every_lm_writer_shares_one_selector(tmp_path, real_embedder):
    """The writers hand every LM writer the same selector, so sentence vectors kept for one question serve the
    next (a selector made per question kept nothing)."""
    from graphrag import Settings
    from graphrag.answering.writers import AnswerWriters
    from graphrag.lm.packages import SMOLLM2_135M

    settings = Settings.load(
        data_dir=tmp_path, adapters_dir=tmp_path / "adapters", answer_model=SMOLLM2_135M.key, answer_writer="lm"
    )
    writers = AnswerWriters(settings, embedder=real_embedder)
    first, second = writers.pick(), writers.pick("none")
    assert first.selector is not None and first.selector is second.selector is writers.evidence_selector()
    assert AnswerWriters(settings).evidence_selector() is None  # no embedder, no selection


def test_a_bridge_passage_outranks_a_distractor_that_shares_the_questions_words(real_embedder):
    """The second hop's passage is barely similar to a two-hop question; the passage the question names says its
    title, and with that role known its sentences win the budget over a distractor's."""
    from graphrag.answering.passage_roles import PassageRole

    passages = [
        SelectableText("Kerry Saxby-Junna", "Kerry Saxby-Junna is a race walker born in Young, New South Wales."),
        SelectableText("London", "London is a city of 8.2 million people."),
        SelectableText("Young, New South Wales", "Young is a town in the Hilltops Region."),
    ]
    question = "At the 2011 census, what was the population of the city where Kerry Saxby-Junna was born?"
    budget = sum(_word_counts([passages[0].text])) + 9  # room for one more passage
    selector = EvidenceSelector(real_embedder, _word_counts, budget=budget)
    unaware = selector.select(question, passages)
    assert unaware[0] is not None and unaware[1] is not None and unaware[2] is None  # similarity alone
    roles = [PassageRole.NAMED, PassageRole.OTHER, PassageRole.BRIDGE]
    aware = selector.select(question, passages, roles)
    assert aware[0] is not None and aware[2] is not None and aware[1] is None
