"""Test doubles: real classes standing in for a part that is not the one under test."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence

import numpy as np

__all__ = ["HashingEmbedder", "thread_counts_seen"]


class HashingEmbedder:
    """Deterministic bag-of-words hashing embedder: a real class for tests of *other* components, never a model."""

    def __init__(self, dim: int = 64) -> None:
        self.name = f"hashing-{dim}"
        self.dim = dim

    def embed(self, texts: Sequence[str], query: bool = False) -> np.ndarray:
        """Hash each lower-cased word into a bucket with a sign; rows are L2-normalised (zero rows stay zero)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)

    def threads(self, count: int, taken: Callable[[], int] | None = None) -> contextlib.AbstractContextManager[None]:
        """Nothing to limit: hashing is single-threaded."""
        return contextlib.nullcontext()


@contextlib.contextmanager
def thread_counts_seen(module) -> Iterator[list[int]]:
    """Within the block, the list collects torch's thread count as each forward pass of ``module`` starts."""
    import torch

    seen: list[int] = []
    handle = module.register_forward_pre_hook(lambda _module, _args: seen.append(torch.get_num_threads()))
    try:
        yield seen
    finally:
        handle.remove()
