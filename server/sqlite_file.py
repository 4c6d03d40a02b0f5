"""Short-lived connections to the small SQLite files beside the store (API keys, ingest jobs).

Each call opens its own connection: these files are read from several threads and processes (the server, the CLI)
and a change by one must be seen by the next read of another."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from graphrag.errors import StoreError

__all__ = ["sqlite_file"]


@contextmanager
def sqlite_file(path: Path, schema: str, what: str) -> Iterator[sqlite3.Connection]:
    """An autocommit WAL connection to ``path`` with ``schema`` applied; errors become StoreError naming ``what``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the {what} file {path}: {exc}") from exc
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(schema)
        yield db
    except sqlite3.Error as exc:
        raise StoreError(f"{what} file {path}: {exc}") from exc
    finally:
        db.close()
