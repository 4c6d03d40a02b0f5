"""The reply grammar: which partial replies can still become a reply the schema takes, and the logits processor
that keeps decoding there (the real SmolLM2 tokenizer and model)."""

from __future__ import annotations

import pytest
import torch

from graphrag import Settings
from graphrag.answer_prompt import ANSWER_SYSTEM, EvidenceItem, parse_reply, user_message
from graphrag.errors import ModelOutputError
from graphrag.lm import LanguageModel
from graphrag.lm_packages import SMOLLM2_135M
from graphrag.reply_grammar import ReplyGrammar, ReplyTokens, complete, viable


@pytest.mark.parametrize("text, count, expected", [
    ("Answ", 2, True), ("Answer:", 2, True), (" Answer: Tallinn", 2, True), ("Tallinn", 2, False),
    ("Answer:\n", 2, False),  # a line end before any answer
    ("Answer: Tallinn\n", 2, True), ("Answer: Tallinn\nEvid", 2, True), ("Answer: Tallinn\nFound", 2, False),
    ("Answer: Tallinn\nEvidence: 2", 2, True), ("Answer: Tallinn\nEvidence: 3", 2, False),
    ("Answer: Tallinn\nEvidence: 2, 3", 2, False), ("Answer: Tallinn\nEvidence: 1,", 2, True),
    ("Answer: Tallinn\nEvidence: 1", 12, True), ("Answer: Tallinn\nEvidence: 13", 12, False),
    ("Answer: Tallinn\nEvidence: 0", 12, False), ("Answer: Tallinn\nEvidence: none", 2, False),
    ("Answer: Tallinn\nEvidence: 1\n", 2, False),  # a third line
    ("Answer: Tallinn\nEvidence: 1, 1", 2, False), ("Answer: Tallinn\nEvidence: 1, 2,", 2, False),  # nothing left
    ("Answer: Tallinn\nEvidence: 1, 1", 12, True),  # "1, 1" may still become "1, 10"
    ("Answer: I don't know\nEvidence: no", 2, True), ("Answer: I don't know\nEvidence: 1", 2, False),
    ("Answer: " + "x" * 201, 2, False),
    ("Answer: I don", 0, True), ("Answer: Tallinn", 0, False),  # no evidence: only "I don't know"
])
def test_viable_says_whether_a_partial_reply_can_still_follow_the_schema(text, count, expected):
    assert viable(text, count) is expected


@pytest.mark.parametrize("text, count, expected", [
    ("Answer: Tallinn\nEvidence: 2", 2, True), ("Answer: Tallinn\nEvidence: 1, 2", 2, True),
    ("Answer: Tallinn\nEvidence: 1,", 2, False), ("Answer: Tallinn\nEvidence:", 2, False),
    ("Answer: Tallinn", 2, False), ("Answer: I don't know\nEvidence: none", 2, True),
    ("Answer: Tallinn\nEvidence: 1", 12, True),
])
def test_complete_says_whether_a_reply_may_end_here(text, count, expected):
    assert complete(text, count) is expected
    if expected:
        parse_reply(text, count)  # whatever the grammar lets end, the parser takes


@pytest.fixture(scope="module")
def smollm2():
    return LanguageModel.load(SMOLLM2_135M.key, Settings.load().lm_cache_dir)


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
        " Tallinn\nEvidence:") & {"3", " 3", "n", " none"}


def test_constrained_decoding_turns_a_malformed_reply_into_one_the_parser_takes(smollm2):
    """The untuned model ignores the reply format; with the grammar the same model's reply parses, and cites
    only evidence that exists."""
    items = [EvidenceItem("Helix Dynamics", "Helix Dynamics was founded by Marta Kovac in Tallinn in 2004."),
             EvidenceItem("Norther Labs", "Norther Labs is a software company in Porto.")]
    prompt = smollm2.chat_prompt(ANSWER_SYSTEM, user_message("Who founded Helix Dynamics?", items))
    free = smollm2.generate(prompt, 40)
    with pytest.raises(ModelOutputError):
        parse_reply(free.text, len(items))
    kept = smollm2.generate(prompt, 40, logits_processors=[ReplyGrammar(ReplyTokens(smollm2.tokenizer), 2)])
    reply = parse_reply(kept.text, len(items))
    assert "Marta Kovac" in reply.answer and set(reply.cited) <= {1, 2}


def test_a_reply_that_would_stop_after_its_answer_gets_a_line_end_instead(smollm2):
    tokenizer = smollm2.tokenizer
    tokens = ReplyTokens(tokenizer)
    prompt = tokenizer("Question: where?", add_special_tokens=False, return_tensors="pt")["input_ids"]
    grammar = ReplyGrammar(tokens, 2, prefix="Answer:")
    grammar(prompt, torch.zeros(1, len(tokens.texts)))
    ids = torch.cat([prompt, tokenizer(" Tallinn", add_special_tokens=False, return_tensors="pt")["input_ids"]], 1)
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
