"""Embedders: the Embedder protocol, the real sentence-transformers embedder, and a deterministic test fake."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from graphrag.config import Settings
from graphrag.offline import cpu_bf16_is_faster, load_sentence_transformer

__all__ = ["Embedder", "SentenceTransformerEmbedder"]


# Texts per embedding forward pass (sorted by length first): small batches pad less.
_TEXTS_PER_PASS = 32


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str], query: bool = False) -> np.ndarray:
        """Return an ``(len(texts), dim)`` float32 matrix with unit-length rows."""
        ...

    def threads(self, count: int) -> contextlib.AbstractContextManager[None]:
        """Within the block, batch work uses ``count`` CPU threads (other processes have the other cores)."""
        ...


_SHORT_TEXT_CHARS = 64  # about 16 word pieces
_SMALL_BATCH = 16  # texts: up to this many are embedded on _SMALL_BATCH_THREADS
# One thread avoids stalls when another process (Neo4j) shares the cores; a one-sentence batch gains nothing from more.
_SMALL_BATCH_THREADS = 1


class SentenceTransformerEmbedder:
    """A sentence-transformers model on CPU (default: the packaged all-MiniLM-L6-v2)."""

    def __init__(self, model, name: str, batch_size: int, bf16: bool = False) -> None:
        self._model = model
        self._model.eval()  # once: _encode_one relies on it (encode sets it on every call)
        import torch

        self._threads = torch.get_num_threads()
        self.bf16 = bf16
        self.name = name
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.batch_size = batch_size

    @classmethod
    def from_settings(cls, settings: Settings) -> SentenceTransformerEmbedder:
        """Load the configured model offline."""
        model = load_sentence_transformer(
            settings.embedder_model, settings.embedder_max_seq_length, settings.torch_threads
        )
        name = settings.embedder_model or "all-MiniLM-L6-v2"
        precision = settings.precision
        bf16 = precision == "bf16" or (precision == "auto" and cpu_bf16_is_faster())
        # bf16 output agrees with fp32 to a cosine of about 0.99998 on this model, so one index serves both.
        return cls(
            model,
            name=f"{name}@{settings.embedder_max_seq_length}",
            batch_size=_TEXTS_PER_PASS,
            bf16=bf16,
        )

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
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                vectors = (
                    self._encode_one(texts[0]) if query and len(texts) == 1 else self._encode_by_length(list(texts))
                )
        finally:
            if threads:
                # Back to the count set at load, not to "the previous one": questions embedded side by side in
                # two threads would otherwise hand each other's 1 back and leave ingest on one thread.
                torch.set_num_threads(self._threads)
        vectors = np.asarray(vectors, dtype=np.float32)
        # re-normalise in fp32: bf16 rounding leaves norms a hair off 1
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.where(norms == 0, 1.0, norms), dtype=np.float32)

    @contextlib.contextmanager
    def threads(self, count: int) -> Iterator[None]:
        """Within the block, batches run on ``count`` torch threads; the count set at load comes back afterwards.
        Used while an extraction worker holds a core: torch on more threads than free cores stalls at its barriers
        (1,500 passages with a worker: 59 s with torch on two threads, 55 s on one, before the stages overlapped)."""
        import torch

        before = self._threads
        self._threads = count
        torch.set_num_threads(count)
        try:
            yield
        finally:
            self._threads = before
            torch.set_num_threads(before)

    def _encode_one(self, text: str) -> np.ndarray:
        """One question straight through the model's modules: ``encode`` puts every submodule in eval mode and walks
        the parameters to find the device on each call, about 2 ms of a 9 ms question on two cores. The output is
        the same (the modules run in the same order; a test compares the two)."""
        import torch

        with torch.inference_mode():
            prepare = (
                getattr(self._model, "preprocess", None) or self._model.tokenize
            )  # sentence-transformers 5.x / 3-4
            features = prepare([text])
            embedding = self._model(features)["sentence_embedding"]
            embedding = torch.nn.functional.normalize(embedding.float(), p=2, dim=1)
        return embedding.numpy()

    def _encode_by_length(self, texts: list[str]) -> np.ndarray:
        """Short texts (entity names) go in batches four times larger than long ones (passages): a forward pass
        costs about its padded token count, and with batches of 32 the per-pass overhead dominated for names
        (6,145 names: 4.5 s in batches of 32, 3.5 s in batches of 128, cosine to the former ≥ 0.99998)."""
        short = [i for i, t in enumerate(texts) if len(t) <= _SHORT_TEXT_CHARS]
        groups = [(short, self.batch_size * 4), (sorted(set(range(len(texts))) - set(short)), self.batch_size)]
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for indexes, batch_size in groups:
            if indexes:
                vectors[indexes] = self._model.encode(
                    [texts[i] for i in indexes],
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        return vectors
