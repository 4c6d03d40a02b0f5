"""Batched greedy decoding (graphrag/lm/batch_decoding.py) with the real SmolLM2 in fp32: every prompt of a batch
gets the reply it gets alone, with the reply grammar, vocabulary and drafting on, in fewer forward passes than
decoding the prompts one after another; and a gate that reads a decoder layer's state can stop a reply before its
first token."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from graphrag import Settings
from graphrag.answering.decoding.grammar import ReplyTokens
from graphrag.answering.decoding.reply import ReplyDecoding
from graphrag.answering.prompt import ANSWER_SYSTEM, EvidenceItem, user_message
from graphrag.errors import ModelError
from graphrag.lm.model import GenerationRequest, LanguageModel
from graphrag.lm.packages import SMOLLM2_135M

EVIDENCE = [
    EvidenceItem("Ada Quint", "Ada Quint was a Scottish engineer. She studied in Glasgow and built a pump in 1931."),
    EvidenceItem("Forth Crossing", "The Forth Crossing is a bridge near Edinburgh, opened in 1936."),
    EvidenceItem("Glasgow", "Glasgow is the largest city in Scotland, on the River Clyde."),
    EvidenceItem("Helen Marr", "Helen Marr, born in Perth, designed the Tay Pavilion, finished in 1952."),
]
QUESTIONS = [
    "Where did Ada Quint study?",
    "When did the Forth Crossing open?",
    "Which river runs through Glasgow?",
    "Who designed the Tay Pavilion?",
    "Who painted the Mona Lisa?",
]


@pytest.fixture(scope="module")
def smollm2():
    return LanguageModel.load(SMOLLM2_135M.key, Settings.load().lm_cache_dir, dtype="fp32")


def _requests(lm: LanguageModel, decoding: ReplyDecoding | None, questions: list[str]) -> list[GenerationRequest]:
    out = []
    for k, question in enumerate(questions):
        evidence = EVIDENCE[k % 2 :]  # prompts of different lengths
        user = user_message(question, evidence)
        prompt = lm.chat_prompt(ANSWER_SYSTEM, user) + "Answer:"
        out.append(
            GenerationRequest(
                prompt,
                32,
                logits_processors=decoding.processors(len(evidence), "Answer:", user, 32) if decoding else (),
                vocabulary=decoding.vocabulary(prompt) if decoding else None,
            )
        )
    return out


@pytest.mark.parametrize("draft_tokens", [0, 6])
@pytest.mark.parametrize("constrained", [False, True])
def test_each_prompt_gets_the_reply_it_gets_alone(smollm2, draft_tokens, constrained):
    decoding = ReplyDecoding(grammar=ReplyTokens(smollm2.tokenizer), copy_spans=True) if constrained else None
    smollm2.draft_tokens = draft_tokens
    smollm2.forget_prompts()
    alone = [smollm2.generate_batch([request])[0] for request in _requests(smollm2, decoding, QUESTIONS)]
    smollm2.forget_prompts()
    together = smollm2.generate_batch(_requests(smollm2, decoding, QUESTIONS))
    assert [g.text for g in together] == [g.text for g in alone]
    assert all(g.new_tokens > 0 for g in together)
    assert len({g.new_tokens for g in together}) > 1  # replies of different lengths left the batch at different steps
    assert all(g.batch_size == len(QUESTIONS) for g in together)
    assert all(g.batch_size == 1 for g in alone)
    # the decoding steps are shared: the batch's passes after the prefills are those of its longest reply
    steps = max(g.forward_passes for g in together) - 1
    assert steps < sum(g.forward_passes - 1 for g in alone)


def test_a_batch_keeps_every_prompt_for_its_next_read(smollm2):
    smollm2.draft_tokens = 0
    smollm2.forget_prompts()
    requests = _requests(smollm2, None, QUESTIONS[:3])
    smollm2.generate_batch(requests)
    again = smollm2.generate_batch(requests[:1])[0]
    assert again.reused_prompt_tokens == again.prompt_tokens - 1


def test_prompts_kept_but_for_their_last_token_are_read_in_one_pass(smollm2):
    """Read again, every prompt of the batch is kept but for its last token: one pass reads all those tokens, and
    the replies are those of the first read."""
    decoding = ReplyDecoding(grammar=ReplyTokens(smollm2.tokenizer), copy_spans=True)
    smollm2.draft_tokens = 6
    smollm2.forget_prompts()
    first = smollm2.generate_batch(_requests(smollm2, decoding, QUESTIONS))
    calls: list[int] = []
    handle = smollm2.model.get_decoder().register_forward_hook(lambda *_: calls.append(1))
    try:
        again = smollm2.generate_batch(_requests(smollm2, decoding, QUESTIONS))
    finally:
        handle.remove()
    assert all(g.reused_prompt_tokens == g.prompt_tokens - 1 for g in again)
    assert [g.text for g in again] == [g.text for g in first]
    steps = max(g.forward_passes for g in again) - 1
    assert len(calls) == 1 + steps  # one pass for the prompts' last tokens, then the shared steps


def test_an_empty_batch_decodes_nothing(smollm2):
    assert smollm2.generate_batch([]) == []


class _Gate:
    """Stops the prompts whose hidden state it is told to stop (by call order), and keeps what it saw."""

    def __init__(self, layer: int, stop: set[int]) -> None:
        self.layer = layer
        self.stop = stop
        self.seen: list = []

    def __call__(self, hidden) -> bool:
        self.seen.append(hidden.clone())
        return len(self.seen) - 1 in self.stop


def test_a_gate_sees_the_prompts_layer_state_and_can_stop_the_reply_before_it_starts(smollm2):
    smollm2.draft_tokens = 0
    smollm2.forget_prompts()
    requests = _requests(smollm2, None, QUESTIONS[:3])
    plain = smollm2.generate_batch(requests)
    gate = _Gate(layer=20, stop={1})
    gated = smollm2.generate_batch([replace(r, gate=gate) for r in requests])
    assert [g.gated for g in gated] == [False, True, False]
    assert gated[1].new_tokens == 0 and gated[1].text == "" and gated[1].forward_passes == 1
    assert [gated[0].text, gated[2].text] == [plain[0].text, plain[2].text]  # the other rows decode as before
    # the gate saw layer 20's hidden state at each prompt's last token, as hidden_states reads it
    for request, seen in zip(requests, gate.seen):
        expected = smollm2.hidden_states(request.prompt, [20])[0]
        assert torch.allclose(seen, expected, atol=1e-4)
    alone = smollm2.generate(requests[0].prompt, 32, gate=_Gate(layer=20, stop={0}))
    assert alone.gated and alone.new_tokens == 0
    with pytest.raises(ModelError, match="layer 99"):
        smollm2.generate(requests[0].prompt, 32, gate=_Gate(layer=99, stop=set()))
