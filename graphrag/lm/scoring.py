"""Log-probabilities of several continuations of one prompt in a single forward pass.

The continuations are laid one after another behind the prompt's cached keys and values, each with its own
positions (all starting right after the prompt) and an attention mask that lets a token see the prompt and the
tokens before it in its own continuation only: a tree of candidates read as one sequence. On 2 CPU cores forty
short candidates cost one forward pass over about two hundred tokens, well under the prompt's own prefill.

Where only the best continuation above a floor matters (a second opinion on an answer), they are read likeliest
first token first, 16 a pass, until none left could beat the best found (``best_continuation_logprobs``).

Scores are normalised over the reply vocabulary (``token_ids``), as greedy decoding with that vocabulary sees them.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["best_continuation_logprobs", "continuation_logprobs", "scores_after_prompt"]


def continuation_logprobs(
    model,
    cache,
    first_logprobs,
    prompt_length: int,
    continuations: Sequence[Sequence[int]],
    token_ids: Sequence[int] | None = None,
    device: str = "cpu",
    lead: Sequence[int] = (),
) -> list[float]:
    """The summed log-probability of each continuation (token ids) after a prompt of ``prompt_length`` tokens whose
    keys and values are in ``cache`` (a transformers DynamicCache, extended here: the caller drops it after) and
    whose last position gave ``first_logprobs`` (log-softmax over the vocabulary, already restricted). ``token_ids``:
    the reply vocabulary the later tokens are normalised over (None: the whole vocabulary). ``lead``: the prompt's
    last tokens when ``cache`` holds only the ones before them; they are read first in the same pass (their
    logits are not needed: ``first_logprobs`` is known). An empty continuation scores 0; a token outside the
    vocabulary makes its continuation -inf."""
    import torch

    scores = [float(first_logprobs[ids[0]]) if ids else 0.0 for ids in continuations]
    lead = list(lead)
    flat: list[int] = []
    positions: list[int] = list(range(prompt_length - len(lead), prompt_length))
    starts: list[int] = []
    for ids in continuations:
        starts.append(len(lead) + len(flat))
        # each token but the last is read to score the one after it
        flat += ids[:-1]
        positions += range(prompt_length, prompt_length + max(len(ids) - 1, 0))
    if not flat:
        return scores
    cached = prompt_length - len(lead)
    size = len(lead) + len(flat)
    dtype = next(model.parameters()).dtype
    mask = torch.full((1, 1, size, cached + size), torch.finfo(dtype).min, dtype=dtype)
    for row in range(len(lead)):  # the prompt's own tokens see the prompt up to themselves
        mask[0, 0, row, : cached + row + 1] = 0
    mask[0, 0, len(lead) :, :prompt_length] = 0  # every continuation token sees the whole prompt
    for ids, start in zip(continuations, starts):
        for offset in range(len(ids) - 1):  # and the tokens of its own continuation up to itself
            mask[0, 0, start + offset, cached + start : cached + start + offset + 1] = 0
    hidden = (
        model.get_decoder()(
            input_ids=torch.tensor([lead + flat], device=device),
            position_ids=torch.tensor([positions], device=device),
            attention_mask=mask.to(device),
            past_key_values=cache,
            use_cache=True,
        )
        .last_hidden_state[0, len(lead) :]
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
            row = start - len(lead) + offset - 1
            scores[k] += float(logprobs[row, index]) if index is not None else float("-inf")
    return scores


def best_continuation_logprobs(
    model,
    cache,
    first_logprobs,
    prompt_length: int,
    continuations: Sequence[Sequence[int]],
    floor: float,
    token_ids: Sequence[int] | None = None,
    device: str = "cpu",
    lead: Sequence[int] = (),
    chunk: int = 16,
) -> list[float | None]:
    """The scores ``continuation_logprobs`` gives, for only as many continuations as it takes to find the best one
    at or above ``floor``: they are read a few at a time (``chunk``, then twice as many each pass), likeliest
    first token first, and reading stops once no continuation left has a first token as likely as the best total
    so far (a sum of log-probabilities never exceeds its first term). The others get None, as does every
    continuation when none reaches ``floor``. ``cache`` holds the prompt but ``lead``, as for
    ``continuation_logprobs``; it holds the whole prompt after the first pass, and no candidate's tokens."""
    out: list[float | None] = [None] * len(continuations)
    waiting = sorted(
        (i for i, ids in enumerate(continuations) if ids and float(first_logprobs[ids[0]]) >= floor),
        key=lambda i: -float(first_logprobs[continuations[i][0]]),
    )
    bound, lead = floor, list(lead)
    while waiting and float(first_logprobs[continuations[waiting[0]][0]]) >= bound:
        batch = [i for i in waiting[:chunk] if float(first_logprobs[continuations[i][0]]) >= bound]
        waiting = waiting[len(batch) :]
        scored = continuation_logprobs(
            model, cache, first_logprobs, prompt_length, [continuations[i] for i in batch], token_ids, device, lead
        )
        read = sum(len(continuations[i]) - 1 for i in batch)
        if read:  # a pass was made: the prompt is all in the cache now, its keys and values stay, the candidates' go
            cache.crop(-read)
            lead = []
        for i, score in zip(batch, scored):
            out[i] = score
            bound = max(bound, score)
        chunk *= 2
    return out


def scores_after_prompt(
    model,
    cache,
    prompt_length: int,
    unread: Sequence[int],
    continuations: Sequence[Sequence[int]],
    margin: float | None,
    token_ids: Sequence[int] | None = None,
    device: str = "cpu",
) -> list[float | None]:
    """Every continuation's score when ``cache`` holds the prompt but its last tokens ``unread`` (at least one: its
    last position's log-softmax is needed). With ``margin`` the first continuation is a reference, read in the
    same pass as ``unread``, and only what could beat it by ``margin`` is read after it
    (``best_continuation_logprobs``; the rest get None). ``model``'s head must score only ``token_ids`` already
    (``restricted_output_head``)."""
    import torch

    reference = list(continuations[0]) if margin is not None and continuations and continuations[0] else []
    feed = torch.tensor([[*unread, *reference[:-1]]], dtype=torch.long, device=device)
    logits = model(input_ids=feed, past_key_values=cache, use_cache=True, logits_to_keep=max(len(reference), 1))
    logprobs = torch.log_softmax(logits.logits[0].float(), dim=-1)
    first = logprobs[0]
    if not reference:
        return continuation_logprobs(model, cache, first, prompt_length, continuations, token_ids, device)
    known = sum(float(logprobs[i, token]) for i, token in enumerate(reference))
    if len(reference) > 1:  # the reference's own keys and values: the others must not see them
        cache.crop(-(len(reference) - 1))
    best = best_continuation_logprobs(
        model, cache, first, prompt_length, continuations[1:], known + margin, token_ids, device
    )
    return [known, *best]
