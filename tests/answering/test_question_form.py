"""The question's form narrows what the copied answer may be: yes / no only for polar questions, and no answer
that starts where the evidence repeats a name the question says, unless the question offers a choice."""

from __future__ import annotations

import pytest

from graphrag.answering.decoding.copy_spans import CopySpans
from graphrag.answering.prompt import EvidenceItem, question_part, user_message
from graphrag.answering.question_form import QuestionForm


@pytest.mark.parametrize(
    "question, polar, choice",
    [
        ("Are Ada Quint and Bo Lind both engineers?", True, False),
        ("Ada Quint has an OBE. Does Bo Lind also have one?", True, False),
        ("Is the Pterocarya or the Cotula larger?", True, True),
        ("Which band was formed first, The Exies or Circus Diablo?", False, True),
        ("Who founded Helix Dynamics?", False, False),
        # starts with a word that is also an auxiliary, but asks "which"
        ("Do Lafzon Ki Kahani is a remake of Always, released in which year?", False, False),
        # an " or " between plain words offers no names
        ("Who directed the film that was shot in or around Leland, North Carolina in 1986?", False, False),
    ],
)
def test_polar_and_choice_questions_are_told_apart(question, polar, choice):
    form = QuestionForm.of(question)
    assert (form.polar, form.choice) == (polar, choice)


@pytest.mark.parametrize(
    "question, options, swapped",
    [
        (
            "Which band was formed first The Exies or Circus Diablo ?",
            ("The Exies", "Circus Diablo"),
            "Which band was formed first Circus Diablo or The Exies ?",
        ),
        (
            "Which singer is American, Mark King or Nick Hexum?",
            ("Mark King", "Nick Hexum"),
            "Which singer is American, Nick Hexum or Mark King?",
        ),
        (
            "Is the Pterocarya or the Cotula larger?",
            ("the Pterocarya", "the Cotula"),
            "Is the Cotula or the Pterocarya larger?",
        ),
        (
            "Which was released first, Toy Story or A Bug's Life?",
            ("Toy Story", "A Bug's Life"),
            "Which was released first, A Bug's Life or Toy Story?",
        ),
        (
            "Which is older, Queen of the Damned or Blade?",
            ("Queen of the Damned", "Blade"),
            "Which is older, Blade or Queen of the Damned?",
        ),
        ("Was Ada Quint born in 1950 or 1960?", ("1950", "1960"), "Was Ada Quint born in 1960 or 1950?"),
        ("Is it true or false that Ada Quint founded Helix Dynamics?", (), None),
        ("Who founded Helix Dynamics?", (), None),
    ],
)
def test_a_choice_question_offers_the_names_around_its_or(question, options, swapped):
    form = QuestionForm.of(question)
    assert form.options == options and form.choice is bool(options)
    assert form.with_options_swapped(question) == (swapped or question)


def test_yes_and_no_answer_only_polar_questions():
    evidence = "Marta Kovac founded Helix Dynamics. Bo Lind is an engineer."
    wh = CopySpans(evidence, question="Who founded Helix Dynamics?")
    assert not wh.can_end("yes") and not wh.can_end("No") and wh.can_end("Marta Kovac") and wh.can_end("I don't know")
    polar = CopySpans(evidence, question="Did Marta Kovac found Helix Dynamics?")
    assert polar.can_end("yes") and polar.can_end("no") and polar.can_end("I don't know")
    assert not polar.can_end("Marta Kovac")  # a polar question without a choice is answered yes or no
    firsts = {text.split("\x00")[0] for text in polar.following("")}  # no word of the evidence starts an answer
    assert (
        {"yes.", "no.", "i don't know."}
        <= firsts
        <= {"yes.", "no.", "i don't know.", "don't know.", "t know.", "know."}
    )


@pytest.mark.parametrize(
    "question, evidence, refused, allowed",
    [
        (
            "Who was Audrey Williams pregnant with during the recording of Dear Brother?",
            "Audrey Williams was pregnant with Hank Williams, Jr. during the recording.",
            ["Audrey Williams", "Audrey Williams was pregnant with Hank", "Williams was pregnant", "Audrey"],
            ["Hank Williams, Jr."],
        ),
        # the question's name in other words is still the question's name
        (
            "Scott Andrew Buchholz previously served as chief of staff to which politician?",
            "Scott Buchholz was chief of staff to Barnaby Joyce.",
            ["Scott Buchholz"],
            ["Barnaby Joyce"],
        ),
        (
            "Who did Barry Wesson's team play in the World Series?",  # a possessive still names him
            "Barry Wesson played for the Brooklyn Robins, who played the Los Angeles Dodgers.",
            ["Barry Wesson"],
            ["Brooklyn Robins", "Los Angeles Dodgers"],
        ),
        (
            "Do Lafzon Ki Kahani, a 2016 film, is a remake of Always, released in which year?",
            "Do Lafzon Ki Kahani is a 2016 Indian film. Always is a 2011 Korean film.",
            ["2016", "Always"],
            ["2011"],
        ),
        # a longer name than the question's is another name
        (
            "Who is the wife of Kim Jong-chul?",
            "Kim Jong-chul is a son of Kim Jong-il, who married Kim Jong-suk.",
            ["Kim Jong-chul"],
            ["Kim Jong-suk", "Kim Jong-il"],
        ),
        # a passage's heading runs into its first sentence: the question's name again is no longer name
        (
            "Who founded the company where Victor Lindqvist worked before Ironclad Security?",
            "# Victor Lindqvist\n\nVictor Lindqvist is a security researcher. Lindqvist worked for Helix Dynamics.",
            ["Victor Lindqvist Victor Lindqvist is a security researcher", "Victor Lindqvist is a security researcher"],
            ["Helix Dynamics", "a security researcher"],
        ),
        # a word the question only uses in lower case names nothing
        (
            "James Stockdale was awarded what medal?",
            "James Stockdale was awarded the Medal of Honor.",
            ["James Stockdale"],
            ["Medal of Honor", "the Medal of Honor"],
        ),
        (
            "What movie stars Morgan Freeman and the producer of The Jewel of the Nile?",
            "Last Vegas stars Morgan Freeman, Kevin Kline and Robert De Niro.",
            ["Morgan Freeman, Kevin Kline"],
            ["Last Vegas", "Kevin Kline"],
        ),
    ],
)
def test_an_answer_does_not_start_at_a_name_the_question_says(question, evidence, refused, allowed):
    spans = CopySpans(evidence, question=question)
    assert [a for a in refused if spans.can_end(a)] == []
    assert [a for a in allowed if not spans.can_end(a)] == []
    assert all(CopySpans(evidence).can_end(a) for a in refused)  # without the question each is a span


def test_a_choice_question_is_answered_with_a_name_it_offers():
    spans = CopySpans(
        "The Exies formed in 1997. Circus Diablo formed in 2004.",
        question="Which band was formed first, The Exies or Circus Diablo?",
    )
    assert spans.can_end("The Exies") and spans.can_end("Circus Diablo") and not spans.can_end("yes")


def test_the_question_is_read_from_the_user_turn():
    user = user_message(
        "Who was Audrey Williams pregnant with?",
        [EvidenceItem("Audrey Williams", "Audrey Williams was pregnant with Hank Williams, Jr.")],
    )
    assert question_part(user) == "Who was Audrey Williams pregnant with?"
    assert question_part("Evidence:\n[1] Porto: A city.") == ""


def test_the_names_a_question_says():
    assert QuestionForm.names("Who founded Kestrel Motors?") == [("kestrel", "motors")]
    # a word capitalised because it opens a sentence is no name, unless it holds a digit
    assert QuestionForm.names("Besides the Tekeze River, where did Germany's colonies lie?") == [
        ("tekeze", "river"),
        ("germany",),
    ]
    assert QuestionForm.names("Drew Fuller starred in what? 1920 Summer Olympics.") == [
        ("fuller",),
        ("1920", "summer", "olympics"),
    ]
    assert QuestionForm.names("what is the capital?") == []
    # accents folded: a question typed without them names what the evidence spells with them
    assert QuestionForm.names("Who wrote Aschenbrödel?") == QuestionForm.names("Who wrote Aschenbrodel?")
    assert QuestionForm.key("Jiménez's") == "jimenez"
