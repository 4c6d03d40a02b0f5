"""CoreShare: torch's thread count follows another process's work, pass by pass."""

from __future__ import annotations

import itertools

import torch

from graphrag.threads import CoreShare
from tests.doubles import thread_counts_seen


def test_a_share_gives_up_the_cores_other_processes_compute_on():
    state = {"taken": 0}
    share = CoreShare(4, lambda: state["taken"])
    assert share.threads() == 4
    state["taken"] = 1
    assert share.threads() == 3
    state["taken"] = 2
    assert share.threads() == 2
    assert CoreShare(2, lambda: 3).threads() == 1  # never below one thread
    assert CoreShare(4).threads() == 4  # no other process: every core


def test_applying_a_share_sets_torchs_thread_count():
    before = torch.get_num_threads()
    try:
        CoreShare(2, lambda: 1).apply()
        assert torch.get_num_threads() == 1
        CoreShare(2, lambda: 0).apply()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_embedders_passes_follow_the_taken_cores_and_its_count_comes_back(real_embedder):
    """Within ``threads(2, taken)``, each forward pass runs on one thread while a worker computes, on two otherwise;
    the vectors are the same as on a fixed count, and the load-time count is back afterwards."""
    before = torch.get_num_threads()
    texts = [f"Passage {i}: the company was founded in {1900 + i} by its first owner. " * 12 for i in range(48)]
    fixed = real_embedder.embed(texts)
    flips = itertools.cycle([1, 0])
    with thread_counts_seen(real_embedder._model) as seen, real_embedder.threads(2, lambda: next(flips)):
        shared = real_embedder.embed(texts)
    assert len(seen) >= 4  # passes are sized in tokens: long texts take several
    assert set(seen) == {1, 2}
    assert float((fixed * shared).sum(axis=1).min()) > 0.99999
    assert torch.get_num_threads() == before


def test_the_embedder_serves_several_threads_at_once(real_embedder):
    """The planner embeds a question's phrases on one thread while another embeds the question: calls side by side
    give each caller its own texts' vectors (the tokenizer is shared, and refuses a second call under way)."""
    from concurrent.futures import ThreadPoolExecutor

    batches = [[f"relation phrase {i} {j} of the founder " * (1 + j % 3) for j in range(2 + i % 9)] for i in range(64)]
    alone = [real_embedder.embed(batch, query=True) for batch in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda batch: real_embedder.embed(batch, query=True), batches))
    for mine, theirs in zip(alone, together, strict=True):
        assert mine.shape == theirs.shape
        assert float((mine * theirs).sum(axis=1).min()) > 0.9999
