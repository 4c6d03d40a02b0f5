"""API keys: each maps to one tenant; only a key's sha256 is stored (the key itself is shown once, at creation).

Keys live in one SQLite file per data directory (``Settings.keys_path``), beside the tenants' partitions, or in Neo4j
when replicas share it (server.neo4j_api_keys, chosen by server.state). A key is
``grk_<key id>_<secret>``: the id names it in listings and revocation, the 256-bit secret makes it unguessable.
A plain (unsalted) sha256 is enough at rest because the secret is random, not a password a person chose.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from graphrag.errors import InputError, NotFoundError
from graphrag.ids import TENANT_PATTERN
from server.sqlite_file import sqlite_file

__all__ = ["ApiKey", "ApiKeyStore", "key_digest", "new_key", "well_formed_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL, revoked_at TEXT
);
"""
_KEY_SHAPE = re.compile(r"^grk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key's public facts (never its secret)."""

    id: str
    tenant: str
    name: str
    created_at: str
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def key_digest(key: str) -> str:
    """What is stored of a key: its sha256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def well_formed_key(key: str | None) -> bool:
    """Whether ``key`` has the shape of a key this project makes (anything else is refused unlooked-up)."""
    return bool(_KEY_SHAPE.match(key or ""))


def new_key(tenant: str, name: str) -> tuple[ApiKey, str]:
    """A fresh key for ``tenant`` (checked) and its public facts; InputError for a bad tenant or name."""
    if not re.fullmatch(TENANT_PATTERN, tenant or ""):
        raise InputError(
            f"tenant {tenant!r} must be 1-64 letters, digits, '_' or '-' (starting with a letter or digit)"
        )
    if len(name) > 200:
        raise InputError("a key's name must be at most 200 characters")
    key_id = secrets.token_hex(6)
    key = f"grk_{key_id}_{secrets.token_urlsafe(32)}"
    return ApiKey(key_id, tenant, name, datetime.now(UTC).isoformat(timespec="seconds"), None), key


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ApiKeyStore:
    """Create, revoke, list and check API keys. Each call opens its own connection: the server reads keys on every
    request from several threads, and a key created or revoked by the CLI takes effect on the next request."""

    remote = False  # a lookup is a local file read (about 0.25 ms): fine on the event loop

    def __init__(self, path: Path) -> None:
        self.path = path

    def close(self) -> None:
        """Nothing to release: every call opens and closes its own connection."""

    def _connect(self):
        return sqlite_file(self.path, _SCHEMA, "API key")

    def create(self, tenant: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key for ``tenant``; returns its facts and the key itself (which is not stored)."""
        record, key = new_key(tenant, name)
        with self._connect() as db:
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
                (record.id, record.tenant, record.name, key_digest(key), record.created_at),
            )
        return record, key

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id (revoking twice keeps the first time); NotFoundError for an unknown id."""
        with self._connect() as db:
            db.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (_now(), key_id))
            row = db.execute(
                "SELECT id, tenant, name, created_at, revoked_at FROM api_keys WHERE id = ?", (key_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no API key with id {key_id!r}")
        return ApiKey(*row)

    def list(self) -> list[ApiKey]:
        """Every key, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT id, tenant, name, created_at, revoked_at FROM api_keys ORDER BY created_at, id")
            return [ApiKey(*row) for row in rows.fetchall()]

    def any_active(self) -> bool:
        """Whether at least one key is active (otherwise the server runs in open, loopback-only mode)."""
        if not self.path.exists():
            return False
        with self._connect() as db:
            return db.execute("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1").fetchone() is not None

    def tenant_for(self, key: str) -> str | None:
        """The tenant an active key acts for, or None (unknown, revoked or malformed key)."""
        if not well_formed_key(key) or not self.path.exists():
            return None
        with self._connect() as db:
            row = db.execute(
                "SELECT tenant FROM api_keys WHERE sha256 = ? AND revoked_at IS NULL", (key_digest(key),)
            ).fetchone()
        return row[0] if row else None
