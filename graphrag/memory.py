"""The process's memory: what the libraries keep after the work that needed it.

Two things grow a long ingest's resident memory without holding anything it still uses (measured on encoder ingest
of 6,119 2WikiMultihopQA passages, 2-core AMX Xeon, bf16): oneDNN's cache of compiled matrix kernels, one per shape
met, each with its own buffers (peak RSS 4.1 GB with its default of 1,024 kernels, 3.05 GB with 16, equally fast; the
answer LM's speed did not change either), and glibc's heap, which keeps the pages of freed tensors of every size
(3.05 GB -> 2.6 GB when they are handed back after each ingest batch, at about 5% of the speed; rules ingest, at
2.4 GB without it, lost 9% and is left alone).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os

__all__ = ["bound_kernel_cache", "keep_out_of_collections", "return_freed_memory"]

_ONEDNN_KERNEL_CACHE = "16"


def bound_kernel_cache() -> None:
    """Cap oneDNN's kernel cache (read once, when the process computes its first product), unless the user set it."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", _ONEDNN_KERNEL_CACHE)


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's malloc_trim, or None where the C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def return_freed_memory() -> None:
    """Hand the heap's free pages back to the system; nothing where glibc is not the C library. Pages used again
    afterwards are faulted in anew, so call it between large units of work, not inside them."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def keep_out_of_collections() -> None:
    """Leave every object alive now out of the cyclic collector's passes (``gc.freeze``); call it right after a large
    structure that lives long has been built (the embedded store's relation graph).

    A question's chain search allocates tens of thousands of short-lived tuples, which set off the collector's full
    passes, and each full pass walked the whole graph (hundreds of thousands of objects): question latency p95 on the
    multi-hop dev corpus fell from 181 / 173 ms to 168 / 164 ms with them left out (2-core AMX Xeon). A collection
    first frees what is garbage already, so no dead cycle is frozen; it walks only the objects not frozen before (on
    the dev corpus: 0.24 s at the first graph build, 0.14 s at the next, after the answer LM had loaded, then little).
    Frozen objects are still freed when nothing refers to them; only cycles among them that die later stay: the
    long-lived structures frozen here (relation graphs, entity maps, models) hold none, but short-lived work in
    flight at a rebuild can."""
    gc.collect()
    gc.freeze()
