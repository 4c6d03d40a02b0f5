"""Graph stores and the one factory that picks the backend from settings."""

from __future__ import annotations

from graphrag.config import Settings
from graphrag.errors import ConfigError
from graphrag.graph_store.base import DocumentWrite, GraphStore

__all__ = ["DocumentWrite", "GraphStore", "open_graph_store"]


def open_graph_store(settings: Settings) -> GraphStore:
    """Open the configured backend (the only place that knows which backends exist)."""
    if settings.graph_backend == "sqlite":
        from graphrag.graph_store.sqlite import SqliteGraphStore

        return SqliteGraphStore.open(settings.store_path, settings.tenant)
    if settings.graph_backend == "neo4j":
        from graphrag.graph_store.neo4j import Neo4jGraphStore

        return Neo4jGraphStore.open(settings)
    raise ConfigError(f"unknown graph backend {settings.graph_backend!r}")
