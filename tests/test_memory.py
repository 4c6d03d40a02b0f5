"""Process memory: oneDNN's kernel cache is bounded unless the user set it (scripts/bench_ingest.py measures what
the bound and handing freed pages back save); objects frozen out of the collector are collected once dead."""

from __future__ import annotations

import gc
import weakref

from graphrag.memory import bound_kernel_cache, keep_out_of_collections


def test_the_kernel_cache_is_bounded_unless_the_user_set_it(monkeypatch):
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    bound_kernel_cache()
    import os

    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "16"
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "512")
    bound_kernel_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "512"


class _Node:
    pass


def test_dead_cycles_are_collected_before_the_living_are_frozen():
    dead = _Node()
    dead.itself = dead  # a cycle: only the collector frees it
    gone = weakref.ref(dead)
    del dead
    alive = _Node()
    alive.itself = alive
    frozen_before = gc.get_freeze_count()
    keep_out_of_collections()
    assert gone() is None
    assert gc.get_freeze_count() > frozen_before  # the living cycle among them
    assert alive.itself is alive


def test_the_embedded_stores_relation_graph_is_left_out_of_collections(tmp_path):
    """After the relation graph is built its objects are frozen (question latency: full collections walked it)."""
    from graphrag.graph_store.sqlite import SqliteGraphStore

    store = SqliteGraphStore.open(tmp_path / "graph.sqlite3")
    try:
        gc.unfreeze()
        assert gc.get_freeze_count() == 0
        store.neighbors(["nobody"], 1)
        assert gc.get_freeze_count() > 0
    finally:
        store.close()
