"""Greedy decoding of several prompts together: one forward pass a step serves every prompt's next tokens.

On a CPU a decoding step is bound by reading the weights, so a pass over eight prompts' next tokens costs little
more than over one. Prompts are read one by one first (a prefill is bound by arithmetic: reading them together
would save nothing and pad), each from the longest prefix the prefix cache keeps. Their keys and values are then
laid side by side, left-padded to the longest, and each step feeds every row its chosen token plus a draft of the
tokens likely to follow (as ``decode_greedy`` does for one prompt), padded to the longest draft. A 2D attention mask
hides the padding and, after each step, the drafted tokens a row did not keep, so each row sees only its own prompt
and its own reply; position ids continue each row's own sequence. A row that has ended leaves the batch.

Each row keeps the tokens ``decode_greedy`` would choose for it alone, up to rounding: the padded products can
round differently, so a near-tie may go the other way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from graphrag.lm.greedy import ChosenTokens, Decoded, PromptLookup, PromptPrefixCache, choose_token, draft_tokens

__all__ = ["BatchRow", "decode_greedy_batch"]


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One prompt of a batch: its tokens, its reply budget, its logits processors (fresh for this call), when to stop
    (asked with the new tokens after each one) and the tokens its reply may use (a bool tensor over the vocabulary;
    None: any)."""

    prompt_ids: list[int]
    max_new_tokens: int
    processors: Sequence[Callable] = ()
    stop_when: Callable[[list[int]], bool] | None = None
    allowed: object = None
    # asked once the prompt is read, with the row's place in the pass that read its last token; True: no reply
    after_prompt: Callable[[int], bool] | None = None


class _Row:
    """A row's decoding state: its tokens so far, its reply, and whether it has ended."""

    def __init__(self, spec: BatchRow, draft_limit: int) -> None:
        self.spec = spec
        self.ids = list(spec.prompt_ids)
        self.chosen = ChosenTokens()
        self.passes = 1  # its prefill
        self.reused = 0
        self.ended = False
        self.gated = False
        self.lookup = PromptLookup(spec.prompt_ids) if draft_limit else None

    @property
    def new(self) -> list[int]:
        return self.chosen.ids

    def take(self, logits_row, end_ids: set[int]) -> bool:
        """Choose the next token from ``logits_row`` and append it; True when the reply has ended with it."""
        token, logprob, own = choose_token(logits_row, self.ids, self.spec.processors, self.spec.allowed)
        self.ids.append(token)
        self.chosen.add(token, logprob, own)
        stop = self.spec.stop_when
        self.ended = (
            token in end_ids or len(self.new) >= self.spec.max_new_tokens or (stop is not None and stop(self.new))
        )
        return self.ended

    def decoded(self) -> Decoded:
        return self.chosen.decoded(self.passes, self.reused, self.gated)


def decode_greedy_batch(
    model,
    rows: Sequence[BatchRow],
    end_ids: set[int],
    *,
    draft_limit: int = 0,
    prefix_cache: PromptPrefixCache | None = None,
    cache_state: object = None,
    device: str = "cpu",
) -> list[Decoded]:
    """Greedy decoding of every row with ``model`` (a transformers causal LM, called under inference mode by the
    caller, with an output head that scores every token any row may use), drafting up to ``draft_limit`` tokens a
    step. ``prefix_cache`` under ``cache_state`` supplies and keeps each prompt's keys and values."""
    import torch
    import torch.nn.functional as F
    from transformers import DynamicCache

    if not rows:
        return []
    for spec in rows:
        if not spec.prompt_ids:
            raise ValueError("an empty prompt cannot be decoded")
        if spec.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {spec.max_new_tokens}")
    states = [_Row(spec, draft_limit) for spec in rows]
    caches: list = [None] * len(states)
    first_logits: list = [None] * len(states)

    def prompt_read(b: int, cache, logits, place: int) -> None:
        row = states[b]
        if prefix_cache is not None:
            prefix_cache.keep(cache_state, row.spec.prompt_ids, cache)
        caches[b], first_logits[b] = cache, logits
        if row.spec.after_prompt is not None and row.spec.after_prompt(place):
            row.gated = row.ended = True

    # A prompt whose keys and values are kept but for its last token still needs a pass for that token, and on a
    # CPU a pass over one token costs about what a pass over a few does (every weight is read): such prompts are
    # read together, one pass for all. Under 8 clients their own passes were 45% of the LM's time.
    last_only: list[tuple[int, object]] = []
    for b, row in enumerate(states):
        if prefix_cache is not None:
            cache, row.reused = prefix_cache.start(cache_state, row.spec.prompt_ids)
        else:
            cache = DynamicCache()
        if row.reused == len(row.spec.prompt_ids) - 1 and row.reused:
            last_only.append((b, cache))
            continue
        feed = torch.tensor([row.spec.prompt_ids[row.reused :]], dtype=torch.long, device=device)
        logits = model(input_ids=feed, past_key_values=cache, use_cache=True, logits_to_keep=1).logits[0, -1].float()
        prompt_read(b, cache, logits, 0)
    if last_only:
        lengths = [states[b].reused for b, _ in last_only]
        longest = max(lengths)
        layers = []
        for layer in range(len(last_only[0][1].layers)):
            kept = [(cache.layers[layer], longest - n) for (_, cache), n in zip(last_only, lengths)]
            keys = [F.pad(kv.keys, (0, 0, pad, 0)) for kv, pad in kept]
            values = [F.pad(kv.values, (0, 0, pad, 0)) for kv, pad in kept]
            layers.append((torch.cat(keys), torch.cat(values)))
        together = DynamicCache(layers)
        mask = torch.zeros((len(last_only), longest + 1), dtype=torch.long, device=device)
        for i, n in enumerate(lengths):
            mask[i, longest - n :] = 1
        feed = torch.tensor([[states[b].spec.prompt_ids[-1]] for b, _ in last_only], dtype=torch.long, device=device)
        position_ids = torch.tensor([[n] for n in lengths], dtype=torch.long, device=device)
        logits = (
            model(
                input_ids=feed,
                attention_mask=mask,
                position_ids=position_ids,
                past_key_values=together,
                use_cache=True,
                logits_to_keep=1,
            )
            .logits[:, -1]
            .float()
        )
        for i, ((b, _), n) in enumerate(zip(last_only, lengths)):
            start = longest - n  # the row's own positions: its kept prompt and its last token, padding left out
            own = [(kv.keys[i : i + 1, :, start:, :], kv.values[i : i + 1, :, start:, :]) for kv in together.layers]
            prompt_read(b, DynamicCache(own), logits[i], i)
        del together, layers
    active = [b for b, row in enumerate(states) if not row.gated and not row.take(first_logits[b], end_ids)]
    if not active:
        return [row.decoded() for row in states]

    # the prompts' keys and values side by side, left-padded to the longest
    lengths = [len(states[b].spec.prompt_ids) for b in active]
    longest = max(lengths)
    layers = []
    for layer in range(len(caches[active[0]].layers)):
        keys, values = [], []
        for b, length in zip(active, lengths):
            kept = caches[b].layers[layer]
            keys.append(F.pad(kept.keys, (0, 0, longest - length, 0)))
            values.append(F.pad(kept.values, (0, 0, longest - length, 0)))
        layers.append((torch.cat(keys), torch.cat(values)))
    cache = DynamicCache(layers)
    caches.clear()  # the rows' own caches: their keys and values are in the batch's now
    del layers
    mask = torch.zeros((len(active), longest), dtype=torch.long, device=device)
    for i, length in enumerate(lengths):
        mask[i, longest - length :] = 1
    positions = list(lengths)  # each active row's next position

    while active:
        drafts = []
        for b in active:
            row = states[b]
            room = min(draft_limit, row.spec.max_new_tokens - len(row.new) - 1)
            drafts.append(draft_tokens(row.spec.processors, row.lookup, row.ids, room) if room > 0 else [])
        width = 1 + max(len(d) for d in drafts)
        feed = torch.zeros((len(active), width), dtype=torch.long, device=device)
        position_ids = torch.zeros((len(active), width), dtype=torch.long, device=device)
        step_mask = torch.zeros((len(active), width), dtype=torch.long, device=device)
        for i, (b, draft) in enumerate(zip(active, drafts)):
            tokens = [states[b].new[-1], *draft]
            feed[i, : len(tokens)] = torch.tensor(tokens)
            position_ids[i] = torch.arange(positions[i], positions[i] + width)
            step_mask[i, : len(tokens)] = 1
        mask = torch.cat([mask, step_mask], dim=1)
        logits = model(
            input_ids=feed,
            attention_mask=mask,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=width,
        ).logits.float()
        still = []
        for i, (b, draft) in enumerate(zip(active, drafts)):
            row = states[b]
            row.passes += 1
            accepted = 0
            ended = row.take(logits[i, 0], end_ids)
            while not ended and accepted < len(draft) and row.new[-1] == draft[accepted]:
                accepted += 1
                ended = row.take(logits[i, accepted], end_ids)
            # the fed tokens whose keys and values stand: the last token fed, and the drafts kept before the token
            # just chosen (which is fed next step)
            kept = 1 + accepted
            mask[i, mask.shape[1] - width + kept :] = 0
            positions[i] += kept
            if not ended:
                still.append(i)
        if len(still) < len(active):
            if still:
                index = torch.tensor(still, dtype=torch.long, device=device)
                cache.batch_select_indices(index)
                mask = mask[index]
            positions = [positions[i] for i in still]
            active = [active[i] for i in still]
    return [row.decoded() for row in states]
