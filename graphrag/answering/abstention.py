"""The answer model's abstention bias at inference.

A reply starts ``Answer:``; its next token decides between answering and abstaining. The model abstains when the
first token of "I don't know" beats every other token there. An adapter's ``abstain_bias`` is added to that
token's logit at that one step: a positive bias makes the model abstain more, a negative one less. How the bias is
chosen (from held-out margins) is graphrag/training/calibration.py.
"""

from __future__ import annotations

from graphrag.answering.prompt import IDK_TEXT, REPLY_PREFIX
from graphrag.errors import ModelError

__all__ = ["FORBIDDEN", "AbstainBias", "abstain_token"]

# The bias that rules abstaining out: where the answerability probe (graphrag/answering/probes.py) has let
# a question through, the probe alone decides whether to answer, and the model answers.
FORBIDDEN = float("-inf")


def abstain_token(tokenizer) -> int:
    """The token that starts "I don't know" right after "Answer:" (as the model's tokenizer splits the reply)."""
    prefix = tokenizer(REPLY_PREFIX, add_special_tokens=False)["input_ids"]
    full = tokenizer(f"{REPLY_PREFIX} {IDK_TEXT}", add_special_tokens=False)["input_ids"]
    if full[: len(prefix)] != prefix or len(full) <= len(prefix):
        raise ModelError("this tokenizer does not split 'Answer: I don't know' after 'Answer:'")
    return full[len(prefix)]


class AbstainBias:
    """A transformers logits processor for one generation: adds ``bias`` to the abstain token's logit at the step
    right after the reply's ``Answer:`` (and nowhere else). With ``prefix_in_prompt`` the prompt already ends with
    ``Answer:`` (see ``REPLY_PREFIX``), so that step is the first."""

    def __init__(self, tokenizer, bias: float, prefix_in_prompt: bool = False) -> None:
        self.tokenizer = tokenizer
        self.bias = bias
        self.prefix_in_prompt = prefix_in_prompt
        self.token = abstain_token(tokenizer)
        self._prompt_tokens: int | None = None

    def __call__(self, input_ids, scores):
        if self._prompt_tokens is None:  # first step: everything so far is the prompt
            self._prompt_tokens = input_ids.shape[1]
        new = input_ids[0, self._prompt_tokens :]
        if self.prefix_in_prompt:
            decides = len(new) == 0
        else:
            decides = 0 < len(new) <= 4 and self.tokenizer.decode(new, skip_special_tokens=True).strip() == REPLY_PREFIX
        if decides:
            scores = scores.clone()
            scores[:, self.token] += self.bias
        return scores
