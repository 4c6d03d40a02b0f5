"""Rate-limit counts in Neo4j, so a key's requests per minute are counted across every API replica: a Litestar
``Store`` (the one its rate-limit middleware reads and writes) over ``(:GraphRAGRateLimit {key, value,
expires_at})``. Expiry uses Neo4j's clock, so replicas' clocks need not agree. The middleware reads a count and
writes it back; two replicas counting the same key in the same millisecond can each miss the other's request, so
a burst spread over replicas may pass the limit by up to one request per replica."""

from __future__ import annotations

from datetime import timedelta

from litestar.stores.base import Store

from graphrag.config import Settings
from graphrag.graph_store.neo4j_driver import driver_failures, neo4j_error, open_driver

__all__ = ["NEO4J_RATE_LIMIT_SCHEMA", "Neo4jRateLimitStore"]

NEO4J_RATE_LIMIT_SCHEMA = (
    "CREATE CONSTRAINT graphrag_rate_limit_key IF NOT EXISTS FOR (r:GraphRAGRateLimit) REQUIRE r.key IS UNIQUE",
    "CREATE INDEX graphrag_rate_limit_expiry IF NOT EXISTS FOR (r:GraphRAGRateLimit) ON (r.expires_at)",
)
_LIVE = "(r.expires_at IS NULL OR r.expires_at > timestamp())"
_SWEEP_EVERY = 500  # writes between two deletions of expired counts


def _ms(seconds: int | timedelta | None) -> int | None:
    if seconds is None:
        return None
    return int((seconds.total_seconds() if isinstance(seconds, timedelta) else seconds) * 1000)


class Neo4jRateLimitStore(Store):
    """A Litestar Store on Neo4j's async driver, opened on first use inside the server's event loop."""

    __slots__ = ("_database", "_driver", "_settings", "_writes")

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._database = settings.neo4j_database
        self._driver = None
        self._writes = 0

    async def _run(self, query: str, **params) -> list[dict]:
        if self._driver is None:
            self._driver = open_driver(self._settings, asynchronous=True)
        try:
            async with self._driver.session(database=self._database) as session:
                result = await session.run(query, params)
                return await result.data()
        except driver_failures() as exc:
            raise neo4j_error(exc) from exc

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        data = value.encode("utf-8") if isinstance(value, str) else value
        await self._run(
            """MERGE (r:GraphRAGRateLimit {key: $key})
               SET r.value = $value, r.expires_at = CASE WHEN $ttl IS NULL THEN null ELSE timestamp() + $ttl END""",
            key=key,
            value=data,
            ttl=_ms(expires_in),
        )
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            await self._run("MATCH (r:GraphRAGRateLimit) WHERE r.expires_at < timestamp() WITH r LIMIT 10000 DELETE r")

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        renew = (
            ""
            if renew_for is None
            else "SET r.expires_at = CASE WHEN r.expires_at IS NULL THEN null ELSE timestamp() + $renew END"
        )
        rows = await self._run(
            f"MATCH (r:GraphRAGRateLimit {{key: $key}}) WHERE {_LIVE} {renew} RETURN r.value AS value",
            key=key,
            renew=_ms(renew_for),
        )
        return bytes(rows[0]["value"]) if rows else None

    async def delete(self, key: str) -> None:
        await self._run("MATCH (r:GraphRAGRateLimit {key: $key}) DELETE r", key=key)

    async def delete_all(self) -> None:
        await self._run("MATCH (r:GraphRAGRateLimit) DELETE r")

    async def exists(self, key: str) -> bool:
        return bool(
            await self._run(f"MATCH (r:GraphRAGRateLimit {{key: $key}}) WHERE {_LIVE} RETURN 1 AS one", key=key)
        )

    async def expires_in(self, key: str) -> int | None:
        rows = await self._run(
            f"""MATCH (r:GraphRAGRateLimit {{key: $key}}) WHERE {_LIVE} AND r.expires_at IS NOT NULL
                RETURN (r.expires_at - timestamp()) / 1000 AS seconds""",
            key=key,
        )
        return int(rows[0]["seconds"]) if rows else None

    async def close(self) -> None:
        """Close the driver (at server shutdown)."""
        if self._driver is not None:
            await self._driver.close()
            self._driver = None
