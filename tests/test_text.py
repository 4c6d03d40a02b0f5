"""The one sentence, word and paragraph splitter (graphrag/text.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from graphrag.text import paragraph_spans, sentence_spans, sentences, terms, word_spans, words


def test_sentences_end_at_stops_and_blank_lines_but_not_at_initials_titles_or_wrapped_lines():
    text = 'J. R. R. Tolkien met Dr. Lee in the U.S. in 1950! Was it "good." Yes.\nA new line 3.5 km\nlong\n\n# Next'
    assert sentences(text) == [
        "J. R. R. Tolkien met Dr. Lee in the U.S. in 1950!",
        'Was it "good."',
        "Yes.",
        "A new line 3.5 km\nlong",
        "# Next",
    ]
    assert sentences("Title\n  \nBody by J.\n\nSmith.") == ["Title", "Body by J.", "Smith."]
    assert sentences("(He left.) Then she came?  ") == ["(He left.)", "Then she came?"]
    assert sentences("   \n \n") == []


def test_words_keep_inner_punctuation_and_terms_cut_it():
    text = "Kim Jong-suk's O'Neil (3.5 m), U.S. snake_case"
    assert words(text) == ["Kim", "Jong-suk's", "O'Neil", "3.5", "m", "U.S", "snake", "case"]
    assert terms(text) == ["Kim", "Jong", "suk", "s", "O", "Neil", "3", "5", "m", "U", "S", "snake", "case"]
    assert words("Zoë Kravitz, 龙腾科技") == ["Zoë", "Kravitz", "龙腾科技"]
    assert [text[s:e] for s, e, _ in word_spans(text)] == words(text)


def test_paragraphs_are_lines_up_to_a_blank_line():
    text = " one\ntwo\n\n  \nthree\n"
    assert [text[s:e] for s, e in paragraph_spans(text)] == ["one\ntwo", "three"]
    assert list(paragraph_spans(" \n\n ")) == []


@given(st.text(alphabet=st.sampled_from(list("ab .!?\n\"'()JD r")), max_size=80))
def test_sentence_spans_are_ordered_trimmed_and_cover_every_word(text):
    spans = list(sentence_spans(text))
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    for start, end in spans:
        piece = text[start:end]
        assert piece and piece == piece.strip()
    covered = "".join(text[s:e] for s, e in spans)
    assert "".join(text.split()) == "".join(covered.split())
