"""The entity-pair relation classifier over a sentence encoder, in the manner of ATLOP (Zhou et al., 2021).

* An entity is the log-sum-exp of its mentions' marker states.
* Each pair also reads a context vector: the tokens both entities attend to (the encoder's last attention layer,
  the two entities' attention multiplied and renormalised), pooled from the token states.
* Head and tail (each with the context) meet in a grouped bilinear layer that scores every relation label.
* Label 0 is a learned threshold per pair: a relation holds when its score beats the pair's own threshold score
  (the adaptive-threshold loss trains it so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from graphrag.extraction.marked_input import MarkedWindow

__all__ = [
    "Batch",
    "PairClassifier",
    "PairScores",
    "adaptive_threshold_loss",
    "collate",
    "predicted_labels",
    "window_pairs",
]


@dataclass(frozen=True)
class PairScores:
    """Scores of every pair of every window in a batch. ``logits[:, 0]`` is each pair's threshold; ``context`` is
    each pair's attention over its window's tokens (rows sum to 1), from which the evidence sentence is read."""

    logits: torch.Tensor  # (pairs, labels)
    context: list[torch.Tensor]  # per window: (pairs in it, window length)


@dataclass(frozen=True)
class Batch:
    """Windows padded into one encoder batch, with their entities' marker positions and the pairs to score."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    positions: list[tuple[tuple[int, ...], ...]]
    pairs: list[torch.Tensor]


def collate(windows: Sequence[MarkedWindow], pad_id: int) -> Batch:
    """Pad windows to the longest, and list every ordered pair of each window's entities."""
    length = max(len(w.input_ids) for w in windows)
    input_ids = torch.full((len(windows), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(windows), length), dtype=torch.long)
    for row, window in enumerate(windows):
        input_ids[row, : len(window.input_ids)] = torch.tensor(window.input_ids)
        attention_mask[row, : len(window.input_ids)] = 1
    return Batch(
        input_ids,
        attention_mask,
        [w.positions for w in windows],
        [window_pairs(len(w.entities)) for w in windows],
    )


def predicted_labels(logits: torch.Tensor, max_labels: int = 4) -> list[list[tuple[int, float]]]:
    """Per pair, the labels that beat its threshold (at most ``max_labels``, best first) with a confidence: the
    probability of the label against the threshold alone, sigmoid(score - threshold), above 0.5 by construction."""
    margin = logits[:, 1:] - logits[:, :1]
    top = torch.topk(margin, k=min(max_labels, margin.shape[1]), dim=1)
    rows = zip(top.values.tolist(), torch.sigmoid(top.values).tolist(), top.indices.tolist())
    return [
        [(index + 1, confidence) for value, confidence, index in zip(values, confidences, indices) if value > 0]
        for values, confidences, indices in rows
    ]


def window_pairs(entity_count: int) -> torch.Tensor:
    """Every ordered pair of distinct entities of a window, as (pairs, 2) indices."""
    index = torch.arange(entity_count)
    heads, tails = torch.meshgrid(index, index, indexing="ij")
    keep = heads != tails
    return torch.stack([heads[keep], tails[keep]], dim=1)


_PAIRS_PER_SLICE = 512  # pairs scored together: bounds the memory of a window with many entities


class PairClassifier(nn.Module):
    """Encoder plus the pair head; ``labels`` counts the threshold label 0 and every relation."""

    def __init__(self, encoder: nn.Module, labels: int, block_size: int = 32) -> None:
        super().__init__()
        hidden = encoder.config.hidden_size
        if hidden % block_size:
            raise ValueError(f"hidden size {hidden} is not a multiple of block size {block_size}")
        self.encoder = encoder
        self.block_size = block_size
        self.head_extractor = nn.Linear(2 * hidden, hidden)
        self.tail_extractor = nn.Linear(2 * hidden, hidden)
        self.bilinear = nn.Linear(hidden * block_size, labels)

    def _mention_attention(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, mentions: _Mentions
    ) -> torch.Tensor:
        """The last layer's attention probabilities of the mention markers' rows alone (mentions, heads, length),
        recomputed from that layer's input ``hidden``: pooling reads no other row, and the whole map costs each
        window's length squared. Each window's mention rows are padded to the most any window has."""
        layer = _bert(self.encoder).encoder.layer[-1].attention.self
        heads, size = layer.num_attention_heads, layer.attention_head_size
        windows, length, _ = hidden.shape
        if not len(mentions.window):
            return hidden.new_zeros((0, heads, length))
        per_window = torch.bincount(mentions.window, minlength=windows)
        slot = (
            torch.arange(len(mentions.window), device=hidden.device)
            - (per_window.cumsum(0) - per_window)[mentions.window]
        )  # each mention's place among its window's
        rows = torch.zeros((windows, int(per_window.max())), dtype=torch.long, device=hidden.device)
        rows[mentions.window, slot] = mentions.row
        picked = hidden[torch.arange(windows, device=hidden.device)[:, None], rows]  # (windows, rows, hidden)
        query = layer.query(picked).view(windows, -1, heads, size).transpose(1, 2)  # (windows, heads, rows, size)
        key = layer.key(hidden).view(windows, length, heads, size).transpose(1, 2)  # (windows, heads, length, size)
        scores = (query @ key.transpose(-1, -2)) * size**-0.5  # (windows, heads, rows, length)
        scores = scores.masked_fill(attention_mask[:, None, None, :] == 0, torch.finfo(scores.dtype).min)
        return scores.softmax(dim=-1).transpose(1, 2)[mentions.window, slot]

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        """The pair head's weights (the encoder's are saved apart)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        positions: Sequence[Sequence[Sequence[int]]],
        pairs: Sequence[torch.Tensor],
    ) -> PairScores:
        """Score ``pairs[w]`` (indices into window w's entities, whose marker positions are ``positions[w]``)."""
        mentions = _Mentions.of(positions, input_ids.device)
        if self.training:  # the attention maps as the encoder computed them (dropout included)
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_attentions=True)
            attention = out.attentions[-1][mentions.window, :, mentions.row]  # (mentions, heads, length)
        else:  # fused attention in every layer; the mentions' rows of the last layer's map are recomputed
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
            attention = self._mention_attention(out.hidden_states[-2], attention_mask, mentions)
        states = out.last_hidden_state  # (windows, length, hidden)
        entity, entity_attention = _pool_entities(states, attention, mentions)
        first_entity = mentions.first_entity
        heads, tails, contexts, context_weights = [], [], [], []
        for w, window_pair in enumerate(pairs):
            if not len(window_pair):
                context_weights.append(states.new_zeros((0, states.shape[1])))
                continue
            h, t = window_pair[:, 0] + first_entity[w], window_pair[:, 1] + first_entity[w]
            weights = (entity_attention[h] * entity_attention[t]).mean(dim=1)  # (pairs, length)
            weights = weights / (weights.sum(dim=1, keepdim=True) + 1e-5)
            heads.append(entity[h])
            tails.append(entity[t])
            contexts.append(weights @ states[w])
            context_weights.append(weights)
        if not heads:
            return PairScores(states.new_zeros((0, self.bilinear.out_features)), context_weights)
        head, tail, context = torch.cat(heads), torch.cat(tails), torch.cat(contexts)
        # A slice of pairs at a time: each pair's grouped product is hidden x block_size wide (48 KB in fp32), and
        # a window of 50 entities holds 2,450 pairs.
        logits = [
            self._score(
                head[i : i + _PAIRS_PER_SLICE], tail[i : i + _PAIRS_PER_SLICE], context[i : i + _PAIRS_PER_SLICE]
            )
            for i in range(0, len(head), _PAIRS_PER_SLICE)
        ]
        return PairScores(torch.cat(logits), context_weights)

    def _score(self, head: torch.Tensor, tail: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Every label's score for pairs of entity states and their shared context (grouped bilinear)."""
        head = torch.tanh(self.head_extractor(torch.cat([head, context], dim=1)))
        tail = torch.tanh(self.tail_extractor(torch.cat([tail, context], dim=1)))
        groups = head.shape[1] // self.block_size
        head = head.view(-1, groups, self.block_size)
        tail = tail.view(-1, groups, self.block_size)
        grouped = (head.unsqueeze(3) * tail.unsqueeze(2)).view(head.shape[0], -1)
        return self.bilinear(grouped)


@dataclass(frozen=True)
class _Mentions:
    """Every mention marker of a batch, flattened: its window, its row in the window, and its entity, numbered
    across the batch (window w's entities start at ``first_entity[w]``)."""

    window: torch.Tensor
    row: torch.Tensor
    entity: torch.Tensor
    entities: int
    first_entity: list[int]

    @classmethod
    def of(cls, positions: Sequence[Sequence[Sequence[int]]], device: torch.device) -> _Mentions:
        windows: list[int] = []
        rows: list[int] = []
        entities: list[int] = []
        first_entity: list[int] = []
        count = 0
        for w, window_positions in enumerate(positions):
            first_entity.append(count)
            for marker_positions in window_positions:
                windows += [w] * len(marker_positions)
                rows += marker_positions
                entities += [count] * len(marker_positions)
                count += 1

        def index(values: list[int]) -> torch.Tensor:
            return torch.as_tensor(values, dtype=torch.long, device=device)

        return cls(index(windows), index(rows), index(entities), count, first_entity)


def _pool_entities(
    states: torch.Tensor, attention: torch.Tensor, mentions: _Mentions
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every entity of the batch at once: its state, the log-sum-exp of its mentions' marker states (entities,
    hidden), and its attention, the mean of its mentions' rows ``attention`` (mentions, heads, length). A handful of
    tensor operations for the whole batch, not several per entity."""
    count, hidden = mentions.entities, states.shape[-1]
    if not count:
        return states.new_zeros((0, hidden)), attention.new_zeros((0, *attention.shape[1:]))
    marked = states[mentions.window, mentions.row]  # (mentions, hidden)
    # log-sum-exp per entity as torch.logsumexp computes it: the maximum, plus the log of the shifted exponentials
    spread = mentions.entity[:, None].expand(-1, hidden)
    top = marked.new_full((count, hidden), float("-inf"))
    top = top.scatter_reduce(0, spread, marked, reduce="amax", include_self=True).detach()  # gradient: the softmax
    shifted = (marked - top[mentions.entity]).exp()
    entity = marked.new_zeros((count, hidden)).index_add_(0, mentions.entity, shifted).log() + top
    summed = attention.new_zeros((count, *attention.shape[1:])).index_add_(0, mentions.entity, attention)
    per_entity = torch.bincount(mentions.entity, minlength=count).to(summed.dtype)
    return entity, summed / per_entity[:, None, None]


def _bert(encoder: nn.Module) -> nn.Module:
    """The BERT-style model under a peft wrapper, or the encoder itself."""
    return encoder.get_base_model() if hasattr(encoder, "get_base_model") else encoder


def adaptive_threshold_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """ATLOP's loss: each true label must score above the threshold label 0, and label 0 above every false one.
    ``targets`` is (pairs, labels) of 0/1, with label 0 set on pairs that hold no relation."""
    positive = targets.clone()
    positive[:, 0] = 0.0
    threshold = torch.zeros_like(targets)
    threshold[:, 0] = 1.0
    masked = logits.masked_fill((positive + threshold) == 0, -1e30)
    above = -(torch.log_softmax(masked, dim=-1) * positive).sum(dim=1)
    masked = logits.masked_fill(positive == 1, -1e30)
    below = -(torch.log_softmax(masked, dim=-1) * threshold).sum(dim=1)
    return (above + below).mean()
