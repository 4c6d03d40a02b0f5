"""Where the server keeps its own records: API keys, ingest jobs and rate-limit counts.

One server on the embedded default keeps them in SQLite files in its data directory (and counts requests in
memory). With the graph and the vectors in Neo4j (``Settings.state_in_neo4j``) they live in Neo4j too, so any number
of ``graphrag serve`` replicas, on any hosts, serve one data set: a key made through one works on all, a job
submitted to one is polled on any and finished by whichever replica holds its lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from litestar.stores.base import Store

from graphrag.config import Settings
from graphrag.graph_store.neo4j_driver import Neo4jClient
from server.api_keys import ApiKey, ApiKeyStore
from server.job_store import Job, JobStore

__all__ = ["ApiKeys", "IngestJobs", "ServerRecords", "open_key_store", "open_server_records"]


class ApiKeys(Protocol):
    """What the server and the CLI need of an API key store (server.api_keys, server.neo4j_api_keys)."""

    remote: bool  # whether a lookup is a network round trip (then it is kept off the event loop)

    def create(self, tenant: str, name: str = "") -> tuple[ApiKey, str]: ...
    def revoke(self, key_id: str) -> ApiKey: ...
    def list(self) -> list[ApiKey]: ...
    def any_active(self) -> bool: ...
    def tenant_for(self, key: str) -> str | None: ...
    def close(self) -> None: ...


class IngestJobs(Protocol):
    """What the job worker and the job route need of a job store (server.job_store, server.neo4j_job_store)."""

    leased: bool  # whether claims expire (replicas), so a job left running is taken up again without a restart

    def create(self, tenant: str, filename: str, data: bytes) -> Job: ...
    def get(self, job_id: str, tenant: str) -> Job | None: ...
    def read_input(self, job: Job) -> bytes: ...
    def claim(self) -> Job | None: ...
    def renew(self, job_id: str) -> bool: ...
    def release(self, job_id: str) -> object: ...
    def progress(self, job_id: str, done: int, total: int) -> object: ...
    def finish(self, job_id: str, report: dict) -> object: ...
    def fail(self, job_id: str, message: str, report: dict | None = None) -> object: ...
    def recover(self) -> tuple[int, int]: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ServerRecords:
    """The three, opened together; ``rate_limits`` is None when requests are counted in this process's memory."""

    keys: ApiKeys
    jobs: IngestJobs
    rate_limits: Store | None
    where: str  # "sqlite" or "neo4j", for the start-up line

    def close(self) -> None:
        """Release the connections (the rate-limit store's async driver is closed by the app's shutdown)."""
        self.keys.close()
        self.jobs.close()


def _neo4j_client(settings: Settings) -> Neo4jClient:
    from server.neo4j_api_keys import NEO4J_KEY_SCHEMA
    from server.neo4j_job_store import NEO4J_JOB_SCHEMA
    from server.neo4j_rate_limits import NEO4J_RATE_LIMIT_SCHEMA

    return Neo4jClient.open(settings, NEO4J_KEY_SCHEMA + NEO4J_JOB_SCHEMA + NEO4J_RATE_LIMIT_SCHEMA)


def open_key_store(settings: Settings) -> ApiKeys:
    """The API keys of this deployment (the CLI's ``graphrag keys`` and the server use the same)."""
    if settings.state_in_neo4j:
        from server.neo4j_api_keys import Neo4jApiKeyStore

        return Neo4jApiKeyStore(_neo4j_client(settings))
    return ApiKeyStore(settings.keys_path)


def open_server_records(settings: Settings) -> ServerRecords:
    """Keys, jobs and rate-limit counts for a server with these settings."""
    if not settings.state_in_neo4j:
        return ServerRecords(ApiKeyStore(settings.keys_path), JobStore(settings.data_dir), None, "sqlite")
    from server.neo4j_api_keys import Neo4jApiKeyStore
    from server.neo4j_job_store import Neo4jJobStore
    from server.neo4j_rate_limits import Neo4jRateLimitStore

    client = _neo4j_client(settings)
    return ServerRecords(
        Neo4jApiKeyStore(client),
        Neo4jJobStore(client, settings.job_lease_s),  # one driver for both (closing it twice is harmless)
        Neo4jRateLimitStore(settings),
        "neo4j",
    )
