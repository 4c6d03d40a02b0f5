"""Process memory: oneDNN's kernel cache is bounded unless the user set it (scripts/bench_ingest.py measures what
the bound and handing freed pages back save)."""

from __future__ import annotations

from graphrag.memory import bound_kernel_cache


def test_the_kernel_cache_is_bounded_unless_the_user_set_it(monkeypatch):
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    bound_kernel_cache()
    import os

    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "16"
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "512")
    bound_kernel_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "512"
