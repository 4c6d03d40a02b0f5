"""/v1/query and /v1/health."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.di import NamedDependency

from graphrag.engine import Ask
from graphrag.render import answer_to_dict, stats_to_dict
from server.dto import HealthOut, QueryIn, QueryOut
from server.errors import error_responses
from server.openapi_bodies import documented_body
from server.routes._body import read_json
from server.tenancy import TenantScope


@post(
    "/query",
    status_code=200,
    summary="Answer a question with citations, graph paths, plan and timings",
    responses=error_responses(404, 503),
    operation_class=documented_body(QueryIn),
)
async def query(request: Request, caller: NamedDependency[TenantScope]) -> QueryOut:
    data = await read_json(request, QueryIn)
    answer = await caller.ask(Ask(data.question, data.max_hops, data.top_k, data.adapter))
    request.app.state.metrics.observe_answer(answer.timings_ms)
    return QueryOut.model_validate(answer_to_dict(answer))


@get("/health", summary="Liveness plus the caller's tenant and its store counts", responses=error_responses(503))
async def health(caller: NamedDependency[TenantScope]) -> HealthOut:
    stats = await caller.call(caller.engine.stats)
    return HealthOut(status="ok", tenant=caller.tenant, **stats_to_dict(stats))


QUERY_ROUTES = [query, health]
