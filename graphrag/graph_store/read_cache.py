"""A version-checked read-through cache for a remote graph store (Neo4j): entities, adjacency, mentions, titles.

Every Bolt round trip costs about a millisecond before the query does any work; answering one question reads the
same entities several times (linking, traversal, paths, evidence), and questions about related things walk the same
hubs. Inside ``GraphStore.cached_reads()`` a store serves those reads from this cache. The block starts by reading
the store's version token; a different token (a write by anyone) empties the cache, so a cached value is never
older than the start of the block. That read may still be under way when the block begins (``sync_when_ready``):
the first lookup waits for it, so its round trip overlaps the caller's own work. Outside a block nothing is cached.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import TypeVar

from graphrag.types import Entity, Relation

__all__ = ["ReadCache"]

_Value = TypeVar("_Value")


class ReadCache:
    """Per-version maps, each bounded: when one would outgrow its bound it is emptied (simple, and rare).
    Adjacency lists are larger than the other values, so they get a tenth of ``max_items``. Thread-safe: the
    planner reads from two threads at once."""

    def __init__(self, max_items: int = 200_000) -> None:
        self.max_items = max_items
        self.active = False
        self._lock = threading.Lock()
        self._version: object = None
        self._pending: Future | None = None  # the version read of the current block, until a lookup settles it
        self.entities: dict[str, Entity] = {}
        self.chunk_entities: dict[str, tuple[str, ...]] = {}
        self.titles: dict[str, str] = {}
        self.adjacency: dict[str, tuple[tuple[Relation, str], ...]] = {}  # entity -> (relation, other end)
        self.entity_chunks: dict[str, tuple[str, ...]] = {}  # entity -> chunks that mention it

    def sync_when_ready(self, pending: Future) -> None:
        """Start a cached block whose version is still being read; the first lookup waits for it."""
        with self._lock:
            self._pending = pending
            self.active = True

    def end(self) -> None:
        """End the cached block: nothing more is cached or served until the next one starts."""
        with self._lock:
            self.active = False
            self._pending = None

    def _settle(self) -> None:
        pending = self._pending
        if pending is None:
            return
        version = pending.result()  # outside the lock; a failed read raises here, in the reader that needed it
        with self._lock:
            if self._pending is pending:
                self._pending = None
                if version != self._version:
                    self._clear()
                    self._version = version

    def clear(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self._version = None
        for table in (self.entities, self.chunk_entities, self.titles, self.adjacency, self.entity_chunks):
            table.clear()

    def remember_entities(self, entities: Iterable[Entity]) -> None:
        if self.active:
            self._put_all(self.entities, ((e.id, e) for e in entities))

    def remember(self, table: dict[str, _Value], key: str, value: _Value) -> None:
        if self.active:
            self._put_all(table, ((key, value),))

    def lookup(
        self, table: dict[str, _Value], keys: Sequence[str], fetch: Callable[[list[str]], dict[str, _Value]]
    ) -> dict[str, _Value]:
        """Values for ``keys`` (missing ones fetched in one call and, inside a cached block, remembered)."""
        if not self.active:
            return fetch(list(dict.fromkeys(keys)))
        self._settle()
        with self._lock:
            known = {k: table[k] for k in keys if k in table}
        missing = [k for k in dict.fromkeys(keys) if k not in known]
        if missing:
            fetched = fetch(missing)  # outside the lock: the other thread's reads go on meanwhile
            self._put_all(table, fetched.items())
            known.update(fetched)
        return known

    def _put_all(self, table: dict, items: Iterable[tuple[str, object]]) -> None:
        items = list(items)
        bound = self.max_items // 10 if table is self.adjacency else self.max_items
        with self._lock:
            if len(table) + len(items) > bound:
                table.clear()
            table.update(items)
