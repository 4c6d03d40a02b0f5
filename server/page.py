"""The analyst page: HTML, CSS and JavaScript written for this project, served at / and /page/ by the same app.

Every page response carries a Content-Security-Policy that allows scripts, styles and calls from this origin only:
no inline script, no eval, no other host, so text from the store cannot run even if it reached the markup."""

from __future__ import annotations

from pathlib import Path

import anyio
from litestar import Request, Response, get
from litestar.static_files import create_static_files_router

from graphrag.config import Settings
from graphrag.graph_store.neo4j_browser import browser_url
from server.dto import PageConfigOut
from server.state import ApiKeys

__all__ = ["PAGE_HEADERS", "PAGE_ROUTES", "page_config"]

PAGE_DIR = Path(__file__).resolve().parent / "page"

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _with_page_headers(response: Response) -> Response:
    response.headers.update(PAGE_HEADERS)
    return response


@get("/", include_in_schema=False, media_type="text/html")
async def index() -> Response:
    """The page itself (the shell; app.js fills it in)."""
    return Response((PAGE_DIR / "index.html").read_bytes(), media_type="text/html", headers=PAGE_HEADERS)


def page_config(settings: Settings, keys: ApiKeys) -> PageConfigOut:
    """What the page needs before its first call: whether a key is needed, the backend and limits."""
    return PageConfigOut(
        keys_required=keys.any_active(),
        graph_backend=settings.graph_backend,
        neo4j_browser=browser_url(settings),
        max_question_chars=settings.max_question_chars,
        max_hops_limit=settings.max_hops_limit,
    )


@get("/page/config", summary="The analyst page's start-up facts (no tenant data; no key needed)", tags=["page"])
async def config(request: Request) -> PageConfigOut:
    # off the event loop: with replicas the key store is in Neo4j, a network round trip away
    return await anyio.to_thread.run_sync(page_config, request.app.state.settings, request.app.state.tenants.keys)


_ASSETS = create_static_files_router(
    path="/page/assets",
    directories=[PAGE_DIR],
    include_in_schema=False,
    name="page-assets",
    after_request=_with_page_headers,
)

PAGE_ROUTES = [index, config, _ASSETS]
