"""Access to the one Engine behind a lock: the library is synchronous and SQLite has one writer, so the
server serialises engine calls and runs them off the event loop."""

from __future__ import annotations

from functools import partial

import anyio
from litestar.datastructures import State


async def call(state: State, fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` in a worker thread while holding the engine lock."""

    def locked():
        with state.engine_lock:
            return fn(*args, **kwargs)

    return await anyio.to_thread.run_sync(partial(locked))
