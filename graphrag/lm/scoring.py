"""Log-probabilities of several continuations of one prompt in a single forward pass.

The continuations are laid one after another behind the prompt's cached keys and values, each with its own
positions (all starting right after the prompt) and an attention mask that lets a token see the prompt and the
tokens before it in its own continuation only: a tree of candidates read as one sequence. On 2 CPU cores forty
short candidates cost one forward pass over about two hundred tokens, well under the prompt's own prefill.

Scores are normalised over the reply vocabulary (``token_ids``), as greedy decoding with that vocabulary sees them.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["continuation_logprobs"]


def continuation_logprobs(
    model,
    cache,
    first_logprobs,
    prompt_length: int,
    continuations: Sequence[Sequence[int]],
    token_ids: Sequence[int] | None = None,
    device: str = "cpu",
) -> list[float]:
    """The summed log-probability of each continuation (token ids) after a prompt of ``prompt_length`` tokens whose
    keys and values are in ``cache`` (a transformers DynamicCache, extended here: the caller drops it after) and
    whose last position gave ``first_logprobs`` (log-softmax over the vocabulary, already restricted). ``token_ids``:
    the reply vocabulary the later tokens are normalised over (None: the whole vocabulary). An empty continuation
    scores 0; a token outside the vocabulary makes its continuation -inf."""
    import torch

    scores = [float(first_logprobs[ids[0]]) if ids else 0.0 for ids in continuations]
    flat: list[int] = []
    positions: list[int] = []
    starts: list[int] = []
    for ids in continuations:
        starts.append(len(flat))
        # each token but the last is read to score the one after it
        flat += ids[:-1]
        positions += range(prompt_length, prompt_length + max(len(ids) - 1, 0))
    if not flat:
        return scores
    size = len(flat)
    dtype = next(model.parameters()).dtype
    mask = torch.full((1, 1, size, prompt_length + size), torch.finfo(dtype).min, dtype=dtype)
    mask[..., :prompt_length] = 0
    for ids, start in zip(continuations, starts):
        for offset in range(len(ids) - 1):
            mask[0, 0, start + offset, prompt_length + start : prompt_length + start + offset + 1] = 0
    hidden = (
        model.get_decoder()(
            input_ids=torch.tensor([flat], device=device),
            position_ids=torch.tensor([positions], device=device),
            attention_mask=mask.to(device),
            past_key_values=cache,
            use_cache=True,
        )
        .last_hidden_state[0]
        .float()
    )
    head = model.get_output_embeddings()
    if token_ids is None:
        logits = head(hidden.to(head.weight.dtype)).float()
        column = {}
    else:
        rows = torch.tensor(list(token_ids), dtype=torch.long, device=head.weight.device)
        weight = head.weight.detach().index_select(0, rows).float()
        logits = hidden @ weight.T
        column = {token: index for index, token in enumerate(token_ids)}
    logprobs = torch.log_softmax(logits, dim=-1)
    for k, (ids, start) in enumerate(zip(continuations, starts)):
        for offset in range(1, len(ids)):
            index = column.get(ids[offset]) if token_ids is not None else ids[offset]
            scores[k] += float(logprobs[start + offset - 1, index]) if index is not None else float("-inf")
    return scores
