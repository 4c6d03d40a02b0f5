"""Keyword terms shared by both backends' full-text search."""

from graphrag.graph_store.keywords import MAX_TERMS, keyword_terms


def test_function_words_are_dropped_and_order_kept():
    assert keyword_terms("Who founded the company that acquired Weave Corp?") == [
        "founded",
        "company",
        "acquired",
        "weave",
        "corp",
    ]


def test_a_question_of_function_words_only_keeps_them():
    assert keyword_terms("The Who") == ["the", "who"]


def test_terms_are_distinct_bounded_and_free_of_query_syntax():
    text = " ".join(f"w{i}" for i in range(200)) + ' "x" OR NEAR(a b) col:value ^ *'
    terms = keyword_terms(text + " w1 W1")
    assert len(terms) == MAX_TERMS and len(set(terms)) == len(terms)
    assert all(t.isalnum() or "_" in t for t in keyword_terms('" OR " NEAR(a b) col:value ^'))
    assert keyword_terms("?! ...") == []
