"""Abstention calibration: the bias chosen from calibration margins keeps answerable questions under the limit
and abstains on as many unanswerable ones as it can; the logits processor shifts only the abstain token, only right
after "Answer:" (real SmolLM2 tokenizer)."""

from __future__ import annotations

import pytest

from graphrag import Settings
from graphrag.answering.abstention import AbstainBias, abstain_token
from graphrag.errors import ModelError
from graphrag.lm.model import LanguageModel
from graphrag.lm.packages import SMOLLM2_135M
from graphrag.training.calibration import choose_bias, tradeoff


def _rate(margins: list[float], bias: float) -> float:
    return 100 * sum(m + bias > 0 for m in margins) / len(margins)


def test_bias_keeps_answerable_abstention_under_the_limit_and_maximises_the_rest():
    answerable = [-6.0, -5.0, -4.5, -4.0, -3.5, -3.0, -2.5, -2.0, -1.0, 0.5]  # one already abstains at bias 0
    unanswerable = [-3.2, -1.5, -0.7, -0.2, 0.3, 1.0, 2.0, 3.0]
    chosen = choose_bias(answerable, unanswerable, max_answerable_rate=20.0)
    assert _rate(answerable, chosen.bias) <= 20.0 == chosen.answerable_abstain_rate
    assert chosen.unanswerable_abstain_rate == _rate(unanswerable, chosen.bias) == 87.5
    assert 1.0 < chosen.bias < 2.0  # between the margins where the outcome changes, not at an edge
    assert (chosen.unbiased_answerable_abstain_rate, chosen.unbiased_unanswerable_abstain_rate) == (10.0, 50.0)
    # a stricter limit lowers the bias: fewer abstentions on both kinds
    strict = choose_bias(answerable, unanswerable, max_answerable_rate=10.0)
    assert strict.bias < chosen.bias and strict.answerable_abstain_rate == 10.0
    assert strict.unanswerable_abstain_rate < chosen.unanswerable_abstain_rate


def test_bias_is_zero_when_zero_already_does_best():
    chosen = choose_bias([-3.0, -2.0, -1.0], [1.0, 2.0], max_answerable_rate=0.0)
    assert chosen.bias == 0.0 and chosen.unanswerable_abstain_rate == 100.0 and chosen.answerable_abstain_rate == 0.0


def test_calibration_needs_both_kinds():
    with pytest.raises(ModelError, match="both answerable and unanswerable"):
        choose_bias([], [1.0])
    with pytest.raises(ModelError, match="both answerable and unanswerable"):
        tradeoff([-1.0], [])


def test_tradeoff_measures_separation_and_the_best_any_bias_reaches():
    answerable = [-6.0, -5.0, -4.5, -4.0, -3.5, -3.0, -2.5, -2.0, -1.0, 0.5]
    unanswerable = [-3.2, -1.5, -0.7, -0.2, 0.3, 1.0, 2.0, 3.0]
    found = tradeoff(answerable, unanswerable, max_answerable_rate=20.0)
    pairs = [(u > a) + 0.5 * (u == a) for u in unanswerable for a in answerable]
    assert found.separation == round(100 * sum(pairs) / len(pairs), 1) and 50 < found.separation < 100
    assert found.best_unanswerable_rate == 87.5  # what choose_bias reaches on the same questions
    rates = [(a, u) for _, a, u in found.frontier]
    assert rates == sorted(rates) and len({a for a, _ in rates}) == len(rates)  # more answerable only buys more
    assert rates[0] == (0.0, 37.5) and rates[-1] == (50.0, 100.0)  # all unanswerable costs 5 of 10 answerable
    assert all(_rate(answerable, b) == a and _rate(unanswerable, b) == u for b, a, u in found.frontier)
    apart = tradeoff([-3.0, -2.0], [1.0, 2.0])
    assert apart.separation == 100.0 and apart.best_unanswerable_rate == 100.0
    assert tradeoff([1.0, 2.0], [-3.0, -2.0]).separation == 0.0


@pytest.fixture(scope="module")
def tokenizer():
    return LanguageModel.load(SMOLLM2_135M.key, Settings.load().lm_cache_dir).tokenizer


def test_processor_shifts_only_the_abstain_token_right_after_answer(tokenizer):
    import torch

    token = abstain_token(tokenizer)
    assert tokenizer.decode([token]).strip() == "I"
    prompt = tokenizer("Question: who?\n", return_tensors="pt", add_special_tokens=False)["input_ids"]
    vocabulary = len(tokenizer)
    processor = AbstainBias(tokenizer, 2.5)
    scores = torch.zeros(1, vocabulary)
    assert torch.equal(processor(prompt, scores), scores)  # first step: the prompt itself is never shifted

    def after(reply: str):
        ids = tokenizer(reply, return_tensors="pt", add_special_tokens=False)["input_ids"]
        return processor(torch.cat([prompt, ids], dim=1), torch.zeros(1, vocabulary))

    shifted = after("Answer:")
    assert shifted[0, token] == 2.5 and shifted.abs().sum() == 2.5
    assert after("Answer: Paris").abs().sum() == 0  # later steps untouched
    assert after("Evidence:").abs().sum() == 0
    # a prompt that already ends with "Answer:": the first step decides, and only it
    forced = AbstainBias(tokenizer, -1.5, prefix_in_prompt=True)
    first = forced(prompt, torch.zeros(1, vocabulary))
    assert first[0, token] == -1.5 and first.abs().sum() == 1.5
    later = tokenizer(" Paris", return_tensors="pt", add_special_tokens=False)["input_ids"]
    assert forced(torch.cat([prompt, later], dim=1), torch.zeros(1, vocabulary)).abs().sum() == 0
