"""Questions answered together (graphrag.engine.answer_together): each gets the answer Engine.ask gives it alone, in
order, and a bad question fails alone."""

from __future__ import annotations

from graphrag.engine import Ask, answer_together
from graphrag.errors import LimitExceededError, NotFoundError


def test_each_question_gets_its_own_answer_or_its_own_error(demo_engine):
    questions = ["Who founded Veltrix Systems?", "Who founded Zorblax Corp?", "Where was Jonas Weber born?"]
    alone = [demo_engine.ask(q) for q in questions]
    asks = [
        (demo_engine, Ask(questions[0])),
        (demo_engine, Ask("Who " + "x" * 5000)),  # over the question length limit
        (demo_engine, Ask(questions[1])),
        (demo_engine, Ask(questions[2], adapter="no-such-adapter")),
        (demo_engine, Ask(questions[2])),
    ]
    outcomes = answer_together(asks)
    assert len(outcomes) == len(asks)
    assert isinstance(outcomes[1], LimitExceededError) and isinstance(outcomes[3], NotFoundError)
    answers = [outcomes[0], outcomes[2], outcomes[4]]
    assert [a.text for a in answers] == [a.text for a in alone]
    assert answers[0].text == "Anika Sorensen" and answers[1].abstained
    assert all(a.timings_ms["total"] >= a.timings_ms["answer"] > 0 for a in answers)
    assert answer_together([]) == []
