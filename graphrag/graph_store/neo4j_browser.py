"""Links into the Neo4j Browser: the Cypher that shows a subgraph the analyst page drew, and the Browser's address.

The Cypher is text for a person to run in the Browser (its editor is prefilled through ``?cmd=edit&arg=``), so ids
go in as quoted literals; this module never runs it. Entity ids are namespaced by tenant, so the statements reach
only the caller's own entities, and only entity-to-entity relations (no chunk or document nodes)."""

from __future__ import annotations

from urllib.parse import urlsplit

from graphrag.config import Settings

__all__ = ["browser_url", "cypher_string", "neighbourhood_cypher", "paths_cypher"]


def cypher_string(value: str) -> str:
    """``value`` as a single-quoted Cypher string literal (backslashes, quotes and line breaks escaped)."""
    escaped = (
        value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )
    return f"'{escaped}'"


def neighbourhood_cypher(entity_id: str, hops: int, limit: int) -> str:
    """The relations within ``hops`` of one entity, as the page's neighbourhood view shows them."""
    return (
        f"MATCH p = (e:Entity {{id: {cypher_string(entity_id)}}})-[*1..{int(hops)}]-(:Entity)\n"
        "WHERE all(n IN nodes(p) WHERE n:Entity)\n"
        f"RETURN p LIMIT {int(limit)}"
    )


def paths_cypher(source_id: str, target_id: str, max_hops: int) -> str:
    """The shortest entity-to-entity paths between two entities."""
    return (
        f"MATCH (a:Entity {{id: {cypher_string(source_id)}}}), (b:Entity {{id: {cypher_string(target_id)}}})\n"
        f"MATCH p = allShortestPaths((a)-[*..{int(max_hops)}]-(b))\n"
        "WHERE all(n IN nodes(p) WHERE n:Entity)\n"
        "RETURN p LIMIT 25"
    )


def browser_url(settings: Settings) -> str | None:
    """The Neo4j Browser's address for the page's links, or None on the embedded store.

    ``neo4j_browser_url`` when set; otherwise the host of ``neo4j_uri`` at ``neo4j_http_port`` (the local server
    that `graphrag neo4j start` runs serves the Browser there)."""
    if settings.graph_backend != "neo4j":
        return None
    if settings.neo4j_browser_url:
        return settings.neo4j_browser_url
    host = urlsplit(settings.neo4j_uri).hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.neo4j_http_port}/browser/"
