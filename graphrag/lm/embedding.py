"""Embedders: the Embedder protocol, the real sentence-transformers embedder, and a deterministic test fake."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from graphrag.config import Settings
from graphrag.offline import cpu_computes_bf16, load_sentence_transformer
from graphrag.threads import CoreShare

__all__ = ["Embedder", "SentenceTransformerEmbedder"]


# Padded tokens per embedding forward pass, texts sorted by token count first (and at most this many texts): on 1,000
# 2Wiki passages and their 6,549 entity names, 2 cores, the passages took 10.9 s against 13.4 s for
# sentence-transformers' encode (sorted by characters, 32 a pass) and the names 3.7 s against 6.2 s (128 a pass):
# 14% and 41% fewer padded tokens. Larger passes were slower (8,192 tokens: 13.3 s and 5.3 s).
_TOKENS_PER_PASS = 2048
_MAX_TEXTS_PER_PASS = 512


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str], query: bool = False) -> np.ndarray:
        """Return an ``(len(texts), dim)`` float32 matrix with unit-length rows."""
        ...

    def threads(self, count: int, taken: Callable[[], int] | None = None) -> contextlib.AbstractContextManager[None]:
        """Within the block, batch work uses ``count`` CPU threads, less the cores that ``taken()`` says other
        processes are computing on when a forward pass starts."""
        ...


_SMALL_BATCH = 16  # texts: up to this many are embedded on _SMALL_BATCH_THREADS
# One thread avoids stalls when another process (Neo4j) shares the cores; a one-sentence batch gains nothing from more.
_SMALL_BATCH_THREADS = 1
_FP32_TEXTS = 12  # up to this many texts are embedded in fp32 where the embedder otherwise computes in bf16


class SentenceTransformerEmbedder:
    """A sentence-transformers model on CPU (default: the packaged all-MiniLM-L6-v2)."""

    def __init__(self, model, name: str, bf16: bool = False) -> None:
        self._model = model
        self._model.eval()  # once: the forward passes below rely on it (encode sets it on every call)
        import torch

        self._share = CoreShare(torch.get_num_threads())
        # The fast tokenizer sets its truncation and padding on itself at every call, and in some versions a second
        # thread's call while one is under way fails ("Already borrowed", huggingface/tokenizers#537); the forward
        # passes themselves may run side by side.
        self._tokenizing = threading.Lock()
        self.bf16 = bf16
        self.name = name
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(dimension())

    @classmethod
    def from_settings(cls, settings: Settings) -> SentenceTransformerEmbedder:
        """Load the configured model offline."""
        model = load_sentence_transformer(
            settings.embedder_model, settings.embedder_max_seq_length, settings.torch_threads
        )
        name = settings.embedder_model or "all-MiniLM-L6-v2"
        bf16 = cpu_computes_bf16(settings.precision)
        # bf16 output agrees with fp32 to a cosine of about 0.99998 on this model, so one index serves both.
        return cls(model, name=f"{name}@{settings.embedder_max_seq_length}", bf16=bf16)

    def embed(self, texts: Sequence[str], query: bool = False) -> np.ndarray:
        """Embed texts in batches; an empty input gives an empty ``(0, dim)`` matrix."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        # Questions, and the few texts of a small document, are small work: with several threads a core taken by
        # another process or thread for a moment stalls the whole forward pass (p95 of question embedding went from
        # about 20 ms to 250 ms beside Neo4j; small ingests in a busy server cost 3x their idle time).
        small = query or len(texts) <= _SMALL_BATCH
        threads = _SMALL_BATCH_THREADS if small else 0
        if threads:
            torch.set_num_threads(threads)
        try:
            # A few texts run in fp32: bf16's products cost more than they save on them (one thread, 2-core AMX
            # Xeon: a question 14.5 ms in bf16 against 9.4 ms in fp32; 10 short phrases 13.5 against 12.9; 20 phrases
            # 17.1 against 21.7).
            bf16 = self.bf16 and len(texts) > _FP32_TEXTS
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                vectors = self._encode_by_length(list(texts), None if threads else self._share)
        finally:
            # Back to the count set at load (or by threads()), not to "the previous one": questions embedded side
            # by side in two threads would otherwise hand each other's 1 back and leave ingest on one thread.
            torch.set_num_threads(self._share.cores)
        vectors = np.asarray(vectors, dtype=np.float32)
        # re-normalise in fp32: bf16 rounding leaves norms a hair off 1
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.where(norms == 0, 1.0, norms), dtype=np.float32)

    @contextlib.contextmanager
    def threads(self, count: int, taken: Callable[[], int] | None = None) -> Iterator[None]:
        """Within the block, batches run on ``count`` torch threads, less ``taken()`` (cores other processes are
        computing on) as each forward pass starts; the count set at load comes back afterwards. Used beside
        extraction workers: torch on more threads than free cores stalls at its barriers."""
        import torch

        before = self._share
        self._share = CoreShare(count, taken) if taken else CoreShare(count)
        torch.set_num_threads(count)
        try:
            yield
        finally:
            self._share = before
            torch.set_num_threads(before.cores)

    def _encode_by_length(self, texts: list[str], share: CoreShare | None) -> np.ndarray:
        """Unit vectors for ``texts``, embedded in passes of about ``_TOKENS_PER_PASS`` padded tokens, the texts sorted
        by token count so a pass pads little (sentence-transformers' encode sorts by characters, which pads entity
        names to nearly twice their tokens). Each pass runs the model's modules directly, as ``encode`` does, minus
        its per-call work (eval mode, a walk over the parameters for the device): the output is the same, and a
        test compares the two. ``share``, when given, sets torch's threads before each pass."""
        import torch

        tokenizer = self._model.tokenizer
        limit = self._model.max_seq_length
        # One text (a question) needs no order: it is not tokenised twice.
        if len(texts) > 1:
            with self._tokenizing:
                lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=limit)["input_ids"]]
        else:
            lengths = [1]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        prepare = getattr(self._model, "preprocess", None) or self._model.tokenize  # sentence-transformers 5.x / 3-4
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        start = 0
        with torch.inference_mode():
            while start < len(order):
                count = max(1, min(_MAX_TEXTS_PER_PASS, _TOKENS_PER_PASS // max(1, lengths[order[start]])))
                rows = order[start : start + count]
                if share is not None:
                    share.apply()
                with self._tokenizing:
                    features = prepare([texts[i] for i in rows])
                embedding = self._model(features)["sentence_embedding"]
                vectors[rows] = torch.nn.functional.normalize(embedding.float(), p=2, dim=1).numpy()
                start += count
        return vectors
