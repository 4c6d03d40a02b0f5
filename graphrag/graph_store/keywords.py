"""The terms a keyword (full-text) search looks for, the same for every backend.

Function words are dropped: they occur in nearly every passage, so they add almost nothing to a BM25 ranking while
making the index walk their long posting lists (on Neo4j the full-text query took about three times as long with
them). A question made only of such words keeps them all, so "The Who" still finds something.
"""

from __future__ import annotations

from graphrag.text import terms

__all__ = ["MAX_TERMS", "keyword_terms"]

MAX_TERMS = 64
# Lucene's English stop set plus the question words and auxiliaries every question starts with.
_FUNCTION_WORDS = frozenset(
    """a an and are as at be but by for if in into is it no not of on or such that the their then there these they
    this to was will with who whom whose what which where when why how did does do were has have had been""".split()
)


def keyword_terms(text: str) -> list[str]:
    """Distinct lower-case word tokens of ``text`` in order, function words left out, at most MAX_TERMS."""
    tokens = list(dict.fromkeys(terms(text.lower())))
    content = [t for t in tokens if t not in _FUNCTION_WORDS]
    return (content or tokens)[:MAX_TERMS]
