"""API keys in Neo4j, for API replicas that share one data set: ``(:GraphRAGApiKey {id, tenant, name, sha256,
created_at, revoked_at})``. Same contract as server.api_keys.ApiKeyStore; a key created or revoked through any
replica (or the CLI) is seen by every replica's next request, since each check reads Neo4j."""

from __future__ import annotations

from datetime import UTC, datetime

from graphrag.errors import NotFoundError
from graphrag.graph_store.neo4j_driver import Neo4jClient
from server.api_keys import ApiKey, key_digest, new_key, well_formed_key

__all__ = ["NEO4J_KEY_SCHEMA", "Neo4jApiKeyStore"]

NEO4J_KEY_SCHEMA = (
    "CREATE CONSTRAINT graphrag_api_key_id IF NOT EXISTS FOR (k:GraphRAGApiKey) REQUIRE k.id IS UNIQUE",
    "CREATE CONSTRAINT graphrag_api_key_sha256 IF NOT EXISTS FOR (k:GraphRAGApiKey) REQUIRE k.sha256 IS UNIQUE",
)
_FACTS = "k.id AS id, k.tenant AS tenant, k.name AS name, k.created_at AS created_at, k.revoked_at AS revoked_at"


def _key(row: dict) -> ApiKey:
    return ApiKey(row["id"], row["tenant"], row["name"], row["created_at"], row["revoked_at"])


class Neo4jApiKeyStore:
    """Create, revoke, list and check API keys kept in Neo4j."""

    remote = True  # a lookup is a round trip to Neo4j: kept off the event loop

    def __init__(self, client: Neo4jClient) -> None:
        self.client = client

    def create(self, tenant: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key for ``tenant``; returns its facts and the key itself (which is not stored)."""
        record, key = new_key(tenant, name)
        self.client.run(
            "CREATE (:GraphRAGApiKey {id: $id, tenant: $tenant, name: $name, sha256: $sha, created_at: $at})",
            id=record.id,
            tenant=record.tenant,
            name=record.name,
            sha=key_digest(key),
            at=record.created_at,
        )
        return record, key

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id (revoking twice keeps the first time); NotFoundError for an unknown id."""
        rows = self.client.run(
            f"MATCH (k:GraphRAGApiKey {{id: $id}}) SET k.revoked_at = coalesce(k.revoked_at, $at) RETURN {_FACTS}",
            id=key_id,
            at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        if not rows:
            raise NotFoundError(f"no API key with id {key_id!r}")
        return _key(rows[0])

    def list(self) -> list[ApiKey]:
        """Every key, oldest first."""
        return [_key(r) for r in self.client.run(f"MATCH (k:GraphRAGApiKey) RETURN {_FACTS} ORDER BY created_at, id")]

    def any_active(self) -> bool:
        """Whether at least one key is active (otherwise the server runs in open, loopback-only mode)."""
        return bool(self.client.run("MATCH (k:GraphRAGApiKey) WHERE k.revoked_at IS NULL RETURN 1 AS one LIMIT 1"))

    def tenant_for(self, key: str) -> str | None:
        """The tenant an active key acts for, or None (unknown, revoked or malformed key)."""
        if not well_formed_key(key):
            return None
        rows = self.client.run(
            "MATCH (k:GraphRAGApiKey {sha256: $sha}) WHERE k.revoked_at IS NULL RETURN k.tenant AS tenant",
            sha=key_digest(key),
        )
        return rows[0]["tenant"] if rows else None

    def close(self) -> None:
        self.client.close()
