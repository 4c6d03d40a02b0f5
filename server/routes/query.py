"""/v1/query and /v1/health."""

from __future__ import annotations

from litestar import Request, get, post

from graphrag.render import answer_to_dict, stats_to_dict

from ..dto import HealthOut, QueryIn, QueryOut
from ._body import json_body, validate_body
from ..tenancy import TenantScope


@post("/query", status_code=200, summary="Answer a question with citations, graph paths, plan and timings")
async def query(request: Request, caller: TenantScope) -> QueryOut:
    body = validate_body(QueryIn, await json_body(request))
    answer = await caller.call(caller.engine.ask, body.question, body.max_hops, body.top_k, body.adapter)
    return QueryOut.model_validate(answer_to_dict(answer))


@get("/health", summary="Liveness plus the caller's tenant and its store counts")
async def health(caller: TenantScope) -> HealthOut:
    stats = await caller.call(caller.engine.stats)
    return HealthOut(status="ok", tenant=caller.tenant, **stats_to_dict(stats))


QUERY_ROUTES = [query, health]
