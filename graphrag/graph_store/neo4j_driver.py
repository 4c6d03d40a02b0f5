"""One way to reach Neo4j: the driver opened from settings, its errors turned into the project's, and a small client
for the server's own records (API keys, ingest jobs, rate limits) that live beside the graph when replicas share it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphrag.config import Settings
from graphrag.errors import GraphRAGError, StoreError, StoreUnavailableError

__all__ = ["Neo4jClient", "apply_schema", "driver_failures", "neo4j_error", "open_driver"]


def open_driver(settings: Settings, asynchronous: bool = False):
    """A verified driver for ``settings.neo4j_uri``; StoreUnavailableError within ``neo4j_timeout_s`` when the
    server is down. ``asynchronous``: an unverified AsyncDriver (it connects on first use, inside the event loop)."""
    import neo4j

    auth = (settings.neo4j_user, settings.neo4j_password) if settings.neo4j_auth else None
    timeout = settings.neo4j_timeout_s
    # Half the budget to connect and half to retry, so a dead server is reported within neo4j_timeout_s.
    options: dict[str, Any] = {
        "auth": auth,
        "connection_timeout": timeout / 2,
        "connection_acquisition_timeout": timeout / 2,
        "max_transaction_retry_time": timeout / 2,
        "notifications_min_severity": "OFF",  # hints like "unknown property" on an empty graph are noise
    }
    try:
        if asynchronous:
            return neo4j.AsyncGraphDatabase.driver(settings.neo4j_uri, **options)
        driver = neo4j.GraphDatabase.driver(settings.neo4j_uri, **options)
        driver.verify_connectivity()
        return driver
    except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.AuthError, OSError, ValueError) as exc:
        raise StoreUnavailableError(f"cannot reach Neo4j at {settings.neo4j_uri}: {exc}") from exc


def neo4j_error(exc: Exception) -> GraphRAGError:
    """The project's error for a driver error: an outage (503 over HTTP) or a failed query."""
    import neo4j

    # DatabaseUnavailable is what a server that is shutting down (or still starting) answers: an outage too.
    unavailable = (
        neo4j.exceptions.ServiceUnavailable,
        neo4j.exceptions.SessionExpired,
        neo4j.exceptions.DatabaseUnavailable,
        OSError,
    )
    if isinstance(exc, unavailable):
        return StoreUnavailableError(f"Neo4j is unavailable: {exc}")
    return StoreError(f"Neo4j query failed: {exc}")


# What a `CREATE ... IF NOT EXISTS` answers when another process (a second replica starting) created the same rule
# between its check and its write: the rule exists, which is all the statement asked for.
_SCHEMA_RACES = frozenset(
    {
        "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists",
        "Neo.ClientError.Schema.IndexAlreadyExists",
        "Neo.ClientError.Schema.ConstraintAlreadyExists",
    }
)


def apply_schema(run: Callable[[str], object], statements: tuple[str, ...] | list[str]) -> None:
    """Run idempotent schema statements with ``run`` (a client's or store's query function), taking a rule that
    another process created at the same moment as done."""
    for statement in statements:
        try:
            run(statement)
        except StoreError as exc:
            if getattr(exc.__cause__, "code", None) not in _SCHEMA_RACES:
                raise


def driver_failures() -> tuple[type[BaseException], ...]:
    """The exceptions a driver call can raise (to be turned into the project's with :func:`neo4j_error`)."""
    import neo4j

    return (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError, OSError)


class Neo4jClient:
    """Parameterised queries and managed write transactions on one database, errors already translated."""

    def __init__(self, driver, database: str) -> None:
        self._driver = driver
        self._database = database

    @classmethod
    def open(cls, settings: Settings, schema: tuple[str, ...] = ()) -> Neo4jClient:
        """Connect and run ``schema`` (idempotent ``CREATE ... IF NOT EXISTS`` statements)."""
        client = cls(open_driver(settings), settings.neo4j_database)
        try:
            apply_schema(client.run, schema)
        except GraphRAGError:
            client.close()
            raise
        return client

    def run(self, query: str, **params) -> list[dict]:
        """One auto-commit query; its rows as dicts."""
        try:
            with self._driver.session(database=self._database) as session:
                return [record.data() for record in session.run(query, params)]
        except driver_failures() as exc:
            raise neo4j_error(exc) from exc

    def write(self, work: Callable[[Any], Any]):
        """``work(tx)`` in one managed write transaction (the driver retries it on transient errors, such as a
        deadlock between two replicas claiming the same job)."""
        try:
            with self._driver.session(database=self._database) as session:
                return session.execute_write(work)
        except driver_failures() as exc:
            raise neo4j_error(exc) from exc

    def close(self) -> None:
        self._driver.close()
