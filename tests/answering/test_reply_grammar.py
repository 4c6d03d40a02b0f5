"""The reply grammar: which partial replies can still become a reply the schema takes, and the logits processor
that keeps decoding there (the real SmolLM2 tokenizer and model)."""

from __future__ import annotations

import pytest
import torch

from graphrag import Settings
from graphrag.answering.decoding.copy_spans import CopySpans
from graphrag.answering.decoding.grammar import ReplyGrammar, ReplyTokens, complete, viable
from graphrag.answering.decoding.reply import ReplyDecoding
from graphrag.answering.prompt import ANSWER_SYSTEM, EvidenceItem, evidence_part, parse_reply, user_message
from graphrag.errors import ModelOutputError
from graphrag.lm.model import LanguageModel
from graphrag.lm.packages import SMOLLM2_135M


@pytest.mark.parametrize(
    "text, count, expected",
    [
        ("Answ", 2, True),
        ("Answer:", 2, True),
        (" Answer: Tallinn", 2, True),
        ("Tallinn", 2, False),
        ("Answer:\n", 2, False),  # a line end before any answer
        ("Answer: Tallinn\n", 2, True),
        ("Answer: Tallinn\nEvid", 2, True),
        ("Answer: Tallinn\nFound", 2, False),
        ("Answer: Tallinn\nEvidence: 2", 2, True),
        ("Answer: Tallinn\nEvidence: 3", 2, False),
        ("Answer: Tallinn\nEvidence: 2, 3", 2, False),
        ("Answer: Tallinn\nEvidence: 1,", 2, True),
        ("Answer: Tallinn\nEvidence: 1", 12, True),
        ("Answer: Tallinn\nEvidence: 13", 12, False),
        ("Answer: Tallinn\nEvidence: 0", 12, False),
        ("Answer: Tallinn\nEvidence: none", 2, False),
        ("Answer: Tallinn\nEvidence: 1\n", 2, False),  # a third line
        ("Answer: Tallinn\nEvidence: 1, 1", 2, False),
        ("Answer: Tallinn\nEvidence: 1, 2,", 2, False),  # nothing left
        ("Answer: Tallinn\nEvidence: 1, 1", 12, True),  # "1, 1" may still become "1, 10"
        ("Answer: I don't know\nEvidence: no", 2, True),
        ("Answer: I don't know\nEvidence: 1", 2, False),
        ("Answer: " + "x" * 201, 2, False),
        ("Answer: I don", 0, True),
        ("Answer: Tallinn", 0, False),  # no evidence: only "I don't know"
    ],
)
def test_viable_says_whether_a_partial_reply_can_still_follow_the_schema(text, count, expected):
    assert viable(text, count) is expected


@pytest.mark.parametrize(
    "text, count, expected",
    [
        ("Answer: Tallinn\nEvidence: 2", 2, True),
        ("Answer: Tallinn\nEvidence: 1, 2", 2, True),
        ("Answer: Tallinn\nEvidence: 1,", 2, False),
        ("Answer: Tallinn\nEvidence:", 2, False),
        ("Answer: Tallinn", 2, False),
        ("Answer: I don't know\nEvidence: none", 2, True),
        ("Answer: Tallinn\nEvidence: 1", 12, True),
    ],
)
def test_complete_says_whether_a_reply_may_end_here(text, count, expected):
    assert complete(text, count) is expected
    if expected:
        parse_reply(text, count)  # whatever the grammar lets end, the parser takes


@pytest.fixture(scope="module")
def smollm2():
    # fp32: what these tests assert of the untuned model's replies must not depend on the machine (dtype auto picks
    # bf16 on a CPU with fast bf16, where SmolLM2 abstained on the question-form test's "Audrey Williams" question)
    return LanguageModel.load(SMOLLM2_135M.key, Settings.load().lm_cache_dir, dtype="fp32")


def test_the_processor_masks_exactly_what_would_break_the_schema(smollm2):
    tokenizer = smollm2.tokenizer
    tokens = ReplyTokens(tokenizer)
    prompt = tokenizer("Question: where?", add_special_tokens=False, return_tensors="pt")["input_ids"]
    grammar = ReplyGrammar(tokens, 2, prefix="Answer:")
    scores = torch.zeros(1, len(tokens.texts))
    assert not grammar(prompt, scores)[0, tokens.eos].isfinite().any()  # no reply yet: no ending

    def allowed_after(reply: str) -> set[str]:
        ids = tokenizer(reply, add_special_tokens=False, return_tensors="pt")["input_ids"]
        masked = grammar(torch.cat([prompt, ids], dim=1), scores)
        return {tokens.texts[i] for i in masked[0].isfinite().nonzero().flatten().tolist()}

    assert len(allowed_after(" Tallinn")) > len(tokens.texts) / 2  # inside the answer almost anything goes
    after_number = allowed_after(" Tallinn\nEvidence: 2")
    assert "," in after_number and tokenizer.eos_token in after_number and "3" not in after_number
    assert allowed_after(" Tallinn\nEvidence:") & {"1", "2", " 1", " 2"} and not allowed_after(
        " Tallinn\nEvidence:"
    ) & {"3", " 3", "n", " none"}


def test_constrained_decoding_turns_a_malformed_reply_into_one_the_parser_takes(smollm2):
    """The untuned model ignores the reply format; with the grammar the same model's reply parses, and cites
    only evidence that exists."""
    items = [
        EvidenceItem("Helix Dynamics", "Helix Dynamics was founded by Marta Kovac in Tallinn in 2004."),
        EvidenceItem("Norther Labs", "Norther Labs is a software company in Porto."),
    ]
    prompt = smollm2.chat_prompt(ANSWER_SYSTEM, user_message("Who founded Helix Dynamics?", items))
    free = smollm2.generate(prompt, 40)
    with pytest.raises(ModelOutputError):
        parse_reply(free.text, len(items))
    kept = smollm2.generate(prompt, 40, logits_processors=[ReplyGrammar(ReplyTokens(smollm2.tokenizer), 2)])
    reply = parse_reply(kept.text, len(items))
    assert "Marta Kovac" in reply.answer and set(reply.cited) <= {1, 2}


def _started(model, evidence_count: int, **options):
    """The reply tokens, a grammar that has seen its prompt (replies start "Answer:"), and that prompt's ids."""
    tokens = ReplyTokens(model.tokenizer)
    prompt = model.tokenizer("Question: where?", add_special_tokens=False, return_tensors="pt")["input_ids"]
    grammar = ReplyGrammar(tokens, evidence_count, prefix="Answer:", **options)
    grammar(prompt, torch.zeros(1, len(tokens.texts)))
    return tokens, grammar, prompt


def _reply_ids(tokenizer, prompt, reply: str):
    return torch.cat([prompt, tokenizer(reply, add_special_tokens=False, return_tensors="pt")["input_ids"]], 1)


def test_a_reply_that_would_stop_after_its_answer_gets_a_line_end_instead(smollm2):
    tokens, grammar, prompt = _started(smollm2, 2)
    ids = _reply_ids(smollm2.tokenizer, prompt, " Tallinn")
    scores = torch.zeros(1, len(tokens.texts))
    scores[0, tokens.eos[0]] = 5.0  # the model wants to stop here
    masked = grammar(ids, scores)
    assert tokens.texts[int(masked[0].argmax())] == "\n" and not masked[0, tokens.eos].isfinite().any()


def test_with_no_evidence_only_i_dont_know_may_end_the_answer_line(smollm2):
    tokenizer = smollm2.tokenizer
    tokens = ReplyTokens(tokenizer)
    newline = tokens.texts.index("\n")
    for answer, ends in ((" Tallinn", False), (" I don't know", True)):
        grammar = ReplyGrammar(tokens, 0, prefix="Answer:")
        prompt = tokenizer("Question: where?", add_special_tokens=False, return_tensors="pt")["input_ids"]
        grammar(prompt, torch.zeros(1, len(tokens.texts)))
        ids = torch.cat([prompt, tokenizer(answer, add_special_tokens=False, return_tensors="pt")["input_ids"]], 1)
        assert bool(grammar(ids, torch.zeros(1, len(tokens.texts)))[0, newline].isfinite()) is ends


def test_copying_keeps_only_tokens_that_leave_the_answer_a_span_of_the_evidence(smollm2):
    tokenizer = smollm2.tokenizer
    evidence = "[1] Helix Dynamics: Helix Dynamics was founded by Marta Kovac in Tallinn in 2004."
    tokens, grammar, prompt = _started(smollm2, 1, spans=CopySpans(evidence))
    masked = grammar(_reply_ids(tokenizer, prompt, " Marta"), torch.zeros(1, len(tokens.texts)))[0]
    allowed = {tokens.texts[i] for i in masked.isfinite().nonzero().flatten().tolist()}
    assert allowed and all(CopySpans(evidence).following(" Marta" + text) or "\n" in text for text in allowed)
    assert " Kovac" in allowed or " K" in allowed
    assert " Tallinn" not in allowed and "\n" in allowed  # "Marta" is a span: the line may end there
    newline = tokens.texts.index("\n")
    assert not grammar(_reply_ids(tokenizer, prompt, " Marta Kov"), torch.zeros(1, len(tokens.texts)))[
        0, newline
    ].isfinite()  # not inside a word


def test_copying_turns_the_base_models_reply_into_a_span(smollm2):
    items = [
        EvidenceItem("Helix Dynamics", "Helix Dynamics was founded by Marta Kovac in Tallinn in 2004."),
        EvidenceItem("Norther Labs", "Norther Labs is a software company in Porto."),
    ]
    user = user_message("Who founded Helix Dynamics?", items)
    prompt = smollm2.chat_prompt(ANSWER_SYSTEM, user) + "Answer:"
    decoding = ReplyDecoding(grammar=ReplyTokens(smollm2.tokenizer), copy_spans=True)
    generation = smollm2.generate(
        prompt,
        40,
        logits_processors=decoding.processors(2, "Answer:", user, 40),
        vocabulary=decoding.vocabulary(prompt),
    )
    reply = parse_reply("Answer:" + generation.text, len(items))
    assert reply.answer and CopySpans(evidence_part(user)).can_end(reply.answer)


def test_the_question_form_keeps_the_reply_off_the_questions_own_name(smollm2):
    items = [EvidenceItem("Audrey Williams", "Audrey Williams was pregnant with Hank Williams, Jr.")]
    question = "Who was Audrey Williams pregnant with?"
    user = user_message(question, items)
    prompt = smollm2.chat_prompt(ANSWER_SYSTEM, user) + "Answer:"
    tokens = ReplyTokens(smollm2.tokenizer)
    replies = {}
    for form in (False, True):
        decoding = ReplyDecoding(grammar=tokens, copy_spans=True, question_form=form)
        processors = decoding.processors(1, "Answer:", user, 40)
        assert processors[0].spans.can_end("Audrey Williams") is not form
        generation = smollm2.generate(prompt, 40, logits_processors=processors, vocabulary=decoding.vocabulary(prompt))
        replies[form] = parse_reply("Answer:" + generation.text, len(items))
    # SmolLM2 copies the sentence that starts with the question's own name; with the question's form it may not
    assert replies[False].answer and replies[False].answer.startswith("Audrey Williams")
    answer = replies[True].answer
    assert answer is None or (
        not answer.lower().startswith("audrey") and CopySpans(evidence_part(user), question=question).can_end(answer)
    )


def test_a_long_answer_is_ended_while_the_evidence_line_still_fits(smollm2):
    for limit, free in ((40, True), (12, False)):
        tokens, grammar, prompt = _started(smollm2, 2, max_new_tokens=limit)
        ids = _reply_ids(smollm2.tokenizer, prompt, " Tallinn, the capital of Estonia")  # 7 tokens written
        masked = grammar(ids, torch.zeros(1, len(tokens.texts)))[0]
        allowed = {tokens.texts[i] for i in masked.isfinite().nonzero().flatten().tolist()}
        assert ("," in allowed) is free and "\n" in allowed
    tokens, grammar, prompt = _started(smollm2, 2, max_new_tokens=100)
    long_answer = " " + " ".join(["Tallinn"] * 25)  # 199 characters: a longer answer would break the schema
    allowed = grammar(_reply_ids(smollm2.tokenizer, prompt, long_answer), torch.zeros(1, len(tokens.texts)))[0]
    assert {tokens.texts[i] for i in allowed.isfinite().nonzero().flatten().tolist()} <= {
        tokens.texts[i] for i in tokens.line_ends.tolist()
    }
    # Two tokens before the limit a complete Evidence line ends (with the one token that stops generation).
    tokens, grammar, prompt = _started(smollm2, 12, max_new_tokens=9)
    ended = grammar(_reply_ids(smollm2.tokenizer, prompt, " Tallinn\nEvidence: 1"), torch.zeros(1, len(tokens.texts)))
    assert ended[0].isfinite().nonzero().flatten().tolist() == tokens.eos == [smollm2.tokenizer.eos_token_id]


def test_a_restricted_vocabulary_can_spell_the_schema_from_any_start(smollm2):
    """A model that begins "Answer:" or "Evidence:" with a token of its own must find the rest in the vocabulary:
    the grammar allows nothing else there, and with every allowed token at -inf the reply would turn to garbage."""
    from graphrag.answering.prompt import reply_vocabulary
    from graphrag.lm.vocabulary import vocabulary_token_ids

    tokens = ReplyTokens(smollm2.tokenizer)
    vocabulary = vocabulary_token_ids(smollm2.tokenizer, reply_vocabulary("Evidence:\n[1] Porto: A city."))
    for reply in (
        "",
        "A",
        "An",
        "Answ",
        "Answer",
        "Answer: Porto\n",
        "Answer: Porto\nE",
        "Answer: Porto\nEvid",
        "Answer: Porto\nEvidence",
        "Answer: I don't know\nEvidence: n",
        "Answer: I don't know\nEvidence: no",
    ):
        assert any(viable(reply + tokens.texts[i], 1) and tokens.texts[i] for i in vocabulary), reply


def test_when_no_schema_token_is_scored_the_grammar_still_picks_one(smollm2):
    tokens, grammar, prompt = _started(smollm2, 2)
    masked = grammar(
        _reply_ids(smollm2.tokenizer, prompt, " Porto\nEvid"), torch.full((1, len(tokens.texts)), float("-inf"))
    )
    assert viable("Answer: Porto\nEvid" + tokens.texts[int(masked[0].argmax())], 2)


def test_when_no_span_token_is_scored_the_answer_still_stays_a_span(smollm2):
    """With every span token at -inf (a restricted vocabulary lacks its spelling) the step is not left free: a free
    step let the model end its answer mid-word."""
    evidence = "[1] Helix Dynamics: Helix Dynamics was founded by Marta Kovac in Tallinn in 2004."
    tokens, grammar, prompt = _started(smollm2, 1, spans=CopySpans(evidence))
    scores = torch.zeros(1, len(tokens.texts))
    scores[0, :] = float("-inf")
    scores[0, tokens.texts.index("\n")] = 5.0  # only a line end scores, and " Marta Kov" may not end
    masked = grammar(_reply_ids(smollm2.tokenizer, prompt, " Marta Kov"), scores)[0]
    chosen = tokens.texts[int(masked.argmax())]
    assert masked.isfinite().any() and CopySpans(evidence).following(" Marta Kov" + chosen)
