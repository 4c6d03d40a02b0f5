"""/v1/layout: positions for drawing a subgraph (the analyst page sends what it is about to draw)."""

from __future__ import annotations

import anyio
from litestar import Request, post
from litestar.di import NamedDependency

from graphrag.errors import InputError
from server.dto import LayoutIn, LayoutOut
from server.errors import error_responses
from server.graph_layout import layout_positions
from server.openapi_bodies import documented_body
from server.routes._body import read_json
from server.tenancy import TenantScope


@post(
    "/layout",
    status_code=200,
    summary="Lay out a graph for drawing (networkx force-directed; fixed nodes stay put)",
    responses=error_responses(),
    operation_class=documented_body(LayoutIn),
)
async def layout(request: Request, caller: NamedDependency[TenantScope]) -> LayoutOut:
    # ``caller`` authenticates the request: laying out costs CPU, so it is for the API's own clients only.
    body = await read_json(request, LayoutIn)
    known = set(body.nodes)
    if len(known) != len(body.nodes):
        raise InputError("nodes must not repeat")
    for edge in body.edges:
        if edge.source not in known or edge.target not in known:
            missing = edge.source if edge.source not in known else edge.target
            raise InputError(f"edge {edge.source!r} -> {edge.target!r} names {missing!r}, which is not in nodes")
    edges = [(e.source, e.target) for e in body.edges]
    positions = await anyio.to_thread.run_sync(layout_positions, body.nodes, edges, body.fixed)
    return LayoutOut(positions=positions)


LAYOUT_ROUTES = [layout]
