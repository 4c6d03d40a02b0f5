"""Vector indexes: the VectorIndex protocol and FaissIndex (exact inner product over unit vectors = cosine).

Metadata saved beside each index records the embedder name and dimension; loading with another embedder is an
:class:`IndexMismatchError`, never silently wrong results.

A FaissIndex on disk is a snapshot (``<name>.faiss`` + ``<name>.json``, rewritten by ``save``) plus a journal
(``<name>.journal``) to which every add and remove is appended as it happens. Loading replays the journal over
the snapshot, so what is on disk keeps step with every acknowledged write without rewriting the whole index for
each (a server saves snapshots once a minute and at shutdown). Replaying is idempotent: a crash between a snapshot
and the journal's truncation replays operations the snapshot already holds, to the same result. A record cut
short by a crash (or still being written by another process) ends the replay; its checksum guards the rest.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from graphrag.errors import IndexMismatchError, StoreError
from graphrag.ids import stable_id
from graphrag.types import Hit

__all__ = ["FaissIndex", "VectorIndex"]


@runtime_checkable
class VectorIndex(Protocol):
    """Stores unit vectors under string ids and returns nearest neighbours."""

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None: ...
    def search(self, queries: np.ndarray, k: int, allowed: set[str] | None = None) -> list[list[Hit]]: ...
    def remove(self, ids: Iterable[str]) -> None: ...
    def ids(self) -> set[str]: ...
    def save(self) -> None: ...
    def __len__(self) -> int: ...


_RECORD = struct.Struct("<cIII")  # operation (b"A" add, b"R" remove), ids, bytes of ids, bytes of vectors
_CHECKSUM = struct.Struct("<I")


def _int_id(text_id: str) -> int:
    # 60 bits of a hash: a positive int64 for FAISS; collisions are astronomically unlikely at our scales.
    return int(stable_id("v", text_id)[2:17], 16)


class FaissIndex:
    """A FAISS ``IndexIDMap2(IndexFlatIP)`` persisted as ``<name>.faiss`` + ``<name>.json`` in a directory."""

    def __init__(self, directory: Path, name: str, embedder_name: str, dim: int) -> None:
        import faiss

        self._faiss = faiss
        self.directory = directory
        self.name = name
        self.embedder_name = embedder_name
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._by_int: dict[int, str] = {}
        # OpenMP threads per search: on small and mid-size indexes starting threads costs more than the search itself.
        self.search_threads = 1
        self._dirty = False
        self._journal = None  # the open journal file, appended to by add and remove
        self._journal_valid: int | None = None  # where a torn tail starts, cut off before the next append

    @classmethod
    def open(cls, directory: Path, name: str, embedder_name: str, dim: int) -> FaissIndex:
        """Load the saved index if there is one (checking embedder and dimension), else start empty."""
        index = cls(directory, name, embedder_name, dim)
        meta_path, data_path = index._paths()
        if not meta_path.exists():
            index._replay()  # written to before its first snapshot
            return index
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"vector index metadata {meta_path} is unreadable: {exc}") from exc
        if meta.get("embedder") != embedder_name or meta.get("dim") != dim:
            raise IndexMismatchError(
                f"vector index {name!r} was built with {meta.get('embedder')} ({meta.get('dim')}-d) but the configured "
                f"embedder is {embedder_name} ({dim}-d); delete {directory} to rebuild it, or configure the old "
                "embedder"
            )
        try:
            index._index = index._faiss.read_index(str(data_path))
        except RuntimeError as exc:
            raise StoreError(f"vector index {data_path} is unreadable: {exc}") from exc
        index._by_int = {_int_id(i): i for i in meta.get("ids", [])}
        if len(index._by_int) != index._index.ntotal:
            raise StoreError(
                f"vector index {name!r} is inconsistent: {len(index._by_int)} ids, {index._index.ntotal} vectors"
            )
        index._replay()
        return index

    def _paths(self) -> tuple[Path, Path]:
        return self.directory / f"{self.name}.json", self.directory / f"{self.name}.faiss"

    def _journal_path(self) -> Path:
        return self.directory / f"{self.name}.journal"

    def _replay(self) -> None:
        """Apply the journal's complete records in order (see the module docstring)."""
        try:
            data = self._journal_path().read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"vector index journal {self._journal_path()} is unreadable: {exc}") from exc
        offset = 0
        dirty = self._dirty  # replayed operations are on disk already: nothing for save() to write
        while offset + _RECORD.size <= len(data):
            op, count, ids_len, vec_len = _RECORD.unpack_from(data, offset)
            end = offset + _RECORD.size + ids_len + vec_len
            if end + _CHECKSUM.size > len(data):
                break
            (checksum,) = _CHECKSUM.unpack_from(data, end)
            if checksum != zlib.crc32(data[offset:end]):
                break
            body = data[offset + _RECORD.size : end]
            ids = body[:ids_len].decode("utf-8").split("\n") if count else []
            if op == b"A" and vec_len == count * self.dim * 4:
                vectors = np.frombuffer(body[ids_len:], dtype=np.float32).reshape(count, self.dim)
                self._apply_add(ids, vectors)
            elif op == b"R":
                self._apply_remove(ids)
            offset = end + _CHECKSUM.size
        self._dirty = dirty
        if offset != len(data):
            self._journal_valid = offset

    def _append(self, op: bytes, ids: Sequence[str], vectors: np.ndarray | None = None) -> None:
        """Append one operation to the journal and hand it to the OS (a process crash cannot lose it)."""
        if self._journal is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._journal = open(self._journal_path(), "ab")  # noqa: SIM115 (kept open between writes)
            if self._journal_valid is not None:
                self._journal.truncate(self._journal_valid)
                self._journal_valid = None
        id_bytes = "\n".join(ids).encode("utf-8")
        vec_bytes = np.ascontiguousarray(vectors, dtype=np.float32).tobytes() if vectors is not None else b""
        record = _RECORD.pack(op, len(ids), len(id_bytes), len(vec_bytes)) + id_bytes + vec_bytes
        try:
            self._journal.write(record + _CHECKSUM.pack(zlib.crc32(record)))
            self._journal.flush()
        except OSError as exc:
            raise StoreError(f"cannot write vector index journal {self._journal_path()}: {exc}") from exc

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> set[str]:
        """All string ids currently indexed."""
        return set(self._by_int.values())

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add or replace vectors for ``ids`` (an id already present is overwritten)."""
        if len(ids) == 0:
            return
        if vectors.shape != (len(ids), self.dim):
            raise StoreError(f"expected {len(ids)}x{self.dim} vectors, got {vectors.shape}")
        self._append(b"A", list(ids), vectors)
        self._apply_add(list(ids), vectors)

    def _apply_add(self, ids: list[str], vectors: np.ndarray) -> None:
        self._apply_remove([i for i in ids if _int_id(i) in self._by_int])
        int_ids = np.array([_int_id(i) for i in ids], dtype=np.int64)
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), int_ids)
        self._by_int.update(zip(int_ids.tolist(), ids))
        self._dirty = True

    def remove(self, ids: Iterable[str]) -> None:
        """Remove vectors by id; unknown ids are ignored."""
        present = [i for i in ids if _int_id(i) in self._by_int]
        if present:
            self._append(b"R", present)
            self._apply_remove(present)

    def _apply_remove(self, ids: list[str]) -> None:
        int_ids = [i for i in (_int_id(t) for t in ids) if i in self._by_int]
        if not int_ids:
            return
        self._index.remove_ids(np.array(int_ids, dtype=np.int64))
        for i in int_ids:
            del self._by_int[i]
        self._dirty = True

    def search(self, queries: np.ndarray, k: int, allowed: set[str] | None = None) -> list[list[Hit]]:
        """Top-``k`` hits per query row; with ``allowed``, only those ids are returned (searched wider to fill k)."""
        if len(self) == 0 or k <= 0:
            return [[] for _ in range(len(queries))]
        fetch = len(self) if allowed is not None else min(k, len(self))
        scores, int_ids = self._search(np.ascontiguousarray(queries, dtype=np.float32), fetch)
        results = []
        for row_scores, row_ids in zip(scores, int_ids):
            hits = []
            for score, int_id in zip(row_scores.tolist(), row_ids.tolist()):
                text_id = self._by_int.get(int_id)
                if text_id is None or (allowed is not None and text_id not in allowed):
                    continue
                hits.append(Hit(id=text_id, score=float(score), source="vector"))
                if len(hits) == k:
                    break
            results.append(hits)
        return results

    def _search(self, queries: np.ndarray, fetch: int):
        """The FAISS search on ``search_threads`` OpenMP threads, restored afterwards. The OpenMP runtime is shared
        with torch, and the setting belongs to the calling thread: setting it for good would also leave the
        embedder's forward passes on that many threads (ingest fell from 30 to 24 passages/s that way)."""
        if not self.search_threads:
            return self._index.search(queries, fetch)
        previous = self._faiss.omp_get_max_threads()
        self._faiss.omp_set_num_threads(self.search_threads)
        try:
            return self._index.search(queries, fetch)
        finally:
            self._faiss.omp_set_num_threads(previous)

    def save(self) -> None:
        """Write index and metadata atomically (temp file + rename), so a crash never leaves half a file."""
        if not self._dirty:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        meta_path, data_path = self._paths()
        tmp_data, tmp_meta = data_path.with_suffix(".faiss.tmp"), meta_path.with_suffix(".json.tmp")
        self._faiss.write_index(self._index, str(tmp_data))
        tmp_meta.write_text(
            json.dumps({"embedder": self.embedder_name, "dim": self.dim, "ids": list(self._by_int.values())}),
            encoding="utf-8",
        )
        os.replace(tmp_data, data_path)
        os.replace(tmp_meta, meta_path)
        self._dirty = False
        # The snapshot holds every journalled operation now: start the journal afresh.
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self._journal_valid = None
        with open(self._journal_path(), "wb"):
            pass

    def close(self) -> None:
        """Save, and close the journal file."""
        self.save()
        if self._journal is not None:
            self._journal.close()
            self._journal = None
