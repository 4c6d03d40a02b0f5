"""/v1/entities, /v1/paths and /v1/communities: exploring the graph."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter

from graphrag.graph_store.neo4j_browser import neighbourhood_cypher, paths_cypher
from graphrag.render import community_to_dict, entity_to_dict, path_to_dict, relation_to_dict
from server.dto import CommunitiesOut, CommunityOut, EntityOut, NeighborsOut, PathsOut
from server.errors import error_responses
from server.tenancy import TenantScope


@get("/entities", summary="Find entities by name or alias", responses=error_responses(503))
async def find_entities(
    caller: NamedDependency[TenantScope],
    q: str = Parameter(min_length=1, max_length=500),
    limit: int = Parameter(default=10, ge=1, le=100),
) -> list[EntityOut]:
    entities = await caller.call(caller.engine.store.find_entities, q, limit)
    return [EntityOut.model_validate(entity_to_dict(e)) for e in entities]


@get("/entities/{entity_id:str}", summary="One entity", responses=error_responses(404, 503))
async def get_entity(entity_id: FromPath[str], caller: NamedDependency[TenantScope]) -> EntityOut:
    return EntityOut.model_validate(entity_to_dict(await caller.call(caller.engine.get_entity, entity_id)))


@get("/entities/{entity_id:str}/neighbors", summary="Relations around an entity", responses=error_responses(404, 503))
async def neighbors(
    entity_id: FromPath[str],
    caller: NamedDependency[TenantScope],
    hops: int = Parameter(default=1, ge=1, le=4),
    limit: int = Parameter(default=100, ge=1, le=1000),
) -> NeighborsOut:
    relations, entities = await caller.call(caller.engine.neighbors, entity_id, hops, limit)
    return NeighborsOut(
        entity=EntityOut.model_validate(entity_to_dict(entities[entity_id])),
        entities=[EntityOut.model_validate(entity_to_dict(e)) for e in entities.values()],
        relations=[relation_to_dict(r) for r in relations],
        cypher=neighbourhood_cypher(entity_id, hops, limit) if _on_neo4j(caller) else None,
    )


@get("/paths", summary="Shortest paths between two entities", responses=error_responses(404, 503))
async def paths(
    caller: NamedDependency[TenantScope],
    source: str = Parameter(min_length=1, max_length=200),
    target: str = Parameter(min_length=1, max_length=200),
    max_hops: int = Parameter(default=3, ge=1, le=4),
) -> PathsOut:
    found = await caller.call(caller.engine.paths, source, target, max_hops)
    cypher = paths_cypher(source, target, max_hops) if _on_neo4j(caller) else None
    return PathsOut.model_validate({"paths": [path_to_dict(p) for p in found], "cypher": cypher})


def _on_neo4j(caller: TenantScope) -> bool:
    return caller.engine.settings.graph_backend == "neo4j"


@get(
    "/communities",
    summary="Communities of the entity graph (Louvain) with extractive summaries, largest first",
    responses=error_responses(503),
)
async def communities(
    caller: NamedDependency[TenantScope], limit: int = Parameter(default=20, ge=1, le=500)
) -> CommunitiesOut:
    found = await caller.call(caller.engine.communities, limit)
    return CommunitiesOut(communities=[CommunityOut.model_validate(community_to_dict(c)) for c in found])


ENTITY_ROUTES = [find_entities, get_entity, neighbors, paths, communities]
