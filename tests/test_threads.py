"""CoreShare: torch's thread count follows another process's work, pass by pass."""

from __future__ import annotations

import itertools

import torch

from graphrag.threads import CoreShare


def test_a_share_gives_one_core_up_while_the_other_process_computes():
    state = {"busy": False}
    share = CoreShare(2, lambda: state["busy"])
    assert share.threads() == 2
    state["busy"] = True
    assert share.threads() == 1
    assert CoreShare(1, lambda: True).threads() == 1  # never below one thread
    assert CoreShare(4).threads() == 4  # no other process: every core


def test_applying_a_share_sets_torchs_thread_count():
    before = torch.get_num_threads()
    try:
        CoreShare(2, lambda: True).apply()
        assert torch.get_num_threads() == 1
        CoreShare(2, lambda: False).apply()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_embedders_passes_follow_the_busy_signal_and_its_count_comes_back(real_embedder):
    """Within ``threads(2, busy)``, each forward pass runs on one thread while busy() is true, on two otherwise; the
    vectors are the same as on a fixed count, and the load-time count is back afterwards."""
    before = torch.get_num_threads()
    texts = [f"Passage {i}: the company was founded in {1900 + i} by its first owner. " * 12 for i in range(48)]
    fixed = real_embedder.embed(texts)
    seen: list[int] = []
    handle = real_embedder._model.register_forward_pre_hook(lambda module, args: seen.append(torch.get_num_threads()))
    flips = itertools.cycle([True, False])
    try:
        with real_embedder.threads(2, lambda: next(flips)):
            shared = real_embedder.embed(texts)
    finally:
        handle.remove()
    assert len(seen) >= 4  # passes are sized in tokens: long texts take several
    assert set(seen) == {1, 2}
    assert float((fixed * shared).sum(axis=1).min()) > 0.99999
    assert torch.get_num_threads() == before
