"""The pair classifier's parts on a tiny random encoder: the adaptive-threshold loss, label decoding, and that the
whole learns to tell a related pair from an unrelated one."""

from __future__ import annotations

import torch

from graphrag.extraction.marked_input import MarkedWindow
from graphrag.extraction.pair_classifier import (
    PairClassifier,
    adaptive_threshold_loss,
    collate,
    predicted_labels,
    window_pairs,
)


def tiny_encoder():
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    return BertModel(config)


def test_the_loss_falls_as_true_labels_rise_above_the_threshold_and_false_ones_below():
    targets = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # pair 0 holds label 1; pair 1 holds none
    right = torch.tensor([[0.0, 3.0, -3.0], [0.0, -3.0, -3.0]])
    wrong = torch.tensor([[0.0, -3.0, 3.0], [0.0, 3.0, -3.0]])
    assert adaptive_threshold_loss(right, targets) < 0.2 < adaptive_threshold_loss(wrong, targets)


def test_labels_are_those_above_the_pairs_own_threshold_with_a_confidence_above_one_half():
    logits = torch.tensor([[1.0, 2.0, 0.5, 3.0], [5.0, 2.0, 4.0, 1.0]])
    first, second = predicted_labels(logits)
    assert [label for label, _ in first] == [3, 1]  # best first; label 2 scores below this pair's threshold
    assert all(0.5 < confidence < 1.0 for _, confidence in first)
    assert second == []


def test_every_ordered_pair_of_distinct_entities():
    pairs = window_pairs(3).tolist()
    assert len(pairs) == 6 and all(h != t for h, t in pairs) and len(set(map(tuple, pairs))) == 6


def test_the_classifier_learns_which_pair_is_related():
    """Two windows with the same three entities; the only difference is the word between entity 0 and 1. After
    training, the pair (0, 1) carries label 1 in the window with word 7 and nothing in the one with word 8."""
    marker, cls, sep = 1, 2, 3
    related = MarkedWindow(
        (cls, marker, 10, marker, 7, marker, 11, marker, 12, marker, 13, marker, sep),
        (0, 1, 2),
        ((1,), (5,), (9,)),
        ((0, 12),),
        ((1, 12),),
    )
    unrelated = MarkedWindow(
        (cls, marker, 10, marker, 8, marker, 11, marker, 12, marker, 13, marker, sep),
        (0, 1, 2),
        ((1,), (5,), (9,)),
        ((0, 12),),
        ((1, 12),),
    )
    model = PairClassifier(tiny_encoder(), labels=2, block_size=8)
    batch = collate([related, unrelated], pad_id=0)
    targets = torch.zeros((12, 2))
    targets[:, 0] = 1.0
    targets[0] = torch.tensor([0.0, 1.0])  # the related window's pair (0, 1) is the first of its six
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        scores = model(batch.input_ids, batch.attention_mask, batch.positions, batch.pairs)
        loss = adaptive_threshold_loss(scores.logits, targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    with torch.inference_mode():
        scores = model(batch.input_ids, batch.attention_mask, batch.positions, batch.pairs)
    found = predicted_labels(scores.logits)
    assert [label for label, _ in found[0]] == [1]
    assert all(not labels for labels in found[1:])
    assert all(torch.allclose(c.sum(dim=1), torch.ones(6), atol=1e-3) for c in scores.context)


def test_entities_pooled_for_the_whole_batch_equal_pooling_each_entity_alone():
    from graphrag.extraction.pair_classifier import _Mentions, _pool_entities

    generator = torch.Generator().manual_seed(3)
    windows, length, hidden, heads = 3, 12, 8, 2
    states = torch.randn(windows, length, hidden, generator=generator, requires_grad=True)
    attention = torch.rand(windows, heads, length, length, generator=generator).softmax(dim=-1)
    positions = [((0, 4, 7), (2,)), (), ((1,), (3, 5), (9, 10, 11))]  # a window without entities included

    mentions = _Mentions.of(positions, states.device)
    entity, entity_attention = _pool_entities(states, attention[mentions.window, :, mentions.row], mentions)

    expected, expected_attention = [], []
    for w, window_positions in enumerate(positions):
        for marker_positions in window_positions:
            index = torch.tensor(marker_positions)
            expected.append(torch.logsumexp(states[w, index], dim=0))
            expected_attention.append(attention[w, :, index].mean(dim=1))
    assert mentions.first_entity == [0, 2, 2]
    assert torch.allclose(entity, torch.stack(expected), atol=1e-6)
    assert torch.allclose(entity_attention, torch.stack(expected_attention), atol=1e-7)
    # training backpropagates through it: the same gradient as torch.logsumexp's (the softmax over the mentions)
    (grad,) = torch.autograd.grad(entity.sum(), states)
    (expected_grad,) = torch.autograd.grad(torch.stack(expected).sum(), states)
    assert torch.allclose(grad, expected_grad, atol=1e-6)


def test_the_mention_rows_of_the_last_attention_equal_those_of_the_whole_map():
    from graphrag.extraction.pair_classifier import _Mentions

    model = PairClassifier(tiny_encoder(), labels=4).eval()
    short = MarkedWindow((2, 5, 6, 7, 3), (0, 1), ((1,), (3,)), ((0, 10),), ((1, 4),))
    long = MarkedWindow((2, 5, 8, 9, 6, 4, 7, 3), (0, 1, 2), ((1, 4), (2,), (6,)), ((0, 20),), ((1, 7),))
    batch = collate([short, long], pad_id=0)  # the short window is padded: its masked columns must stay at zero
    mentions = _Mentions.of(batch.positions, batch.input_ids.device)
    with torch.inference_mode():
        out = model.encoder(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            output_attentions=True,
            output_hidden_states=True,
        )
        rows = model._mention_attention(out.hidden_states[-2], batch.attention_mask, mentions)
    expected = out.attentions[-1][mentions.window, :, mentions.row]
    assert rows.shape == expected.shape == (6, 2, 8)
    assert torch.allclose(rows, expected, atol=1e-6)
    assert float(rows[:2, :, 5:].abs().max()) == 0.0
