"""create_app(): the Litestar application (routes under /v1, OpenAPI at /schema, one error envelope)."""

from __future__ import annotations

import hashlib
import logging
from contextlib import asynccontextmanager

from litestar import Litestar, Request, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

from graphrag.config import Settings
from graphrag.errors import AuthError
from server.api_keys import ApiKeyStore
from server.errors import EXCEPTION_HANDLERS
from server.jobs import JobRunner
from server.observability import METRICS_ROUTE, RequestObserver, ServerMetrics
from server.page import PAGE_ROUTES
from server.routes import DOCUMENT_ROUTES, ENTITY_ROUTES, LAYOUT_ROUTES, QUERY_ROUTES
from server.state import ApiKeys, open_key_store, open_server_records
from server.tenancy import TenantEngines, presented_key, tenant_scope

__all__ = ["create_app", "startup_mode"]

log = logging.getLogger("graphrag.server")


def startup_mode(settings: Settings, keys: ApiKeys | None = None) -> str:
    """One line saying how requests are authenticated and where keys, jobs and rate-limit counts are kept
    (printed by ``graphrag serve`` and logged at start-up)."""
    shared = ""
    if settings.state_in_neo4j:
        shared = "; keys, ingest jobs and rate limits are kept in Neo4j, shared with any other replica"
        if ApiKeyStore(settings.keys_path).any_active():  # made before the server's records moved to Neo4j
            shared += (
                f" (the keys in {settings.keys_path} are not used with the graph and vectors in Neo4j: "
                "create them again with 'graphrag keys create')"
            )
    store = keys or open_key_store(settings)
    try:
        active = store.any_active()
    finally:
        if keys is None:
            store.close()
    if active:
        return "API keys required (Authorization: Bearer <key>); each key acts for its own tenant" + shared
    return (
        "open mode: no API keys exist, so only clients on this machine are served, as tenant 'default' "
        "(create one with 'graphrag keys create --tenant NAME')" + shared
    )


def _rate_limit_key(request: Request) -> str:
    """Requests are counted per API key (by digest: keys stay out of memory dumps), else per client address."""
    try:
        key = presented_key(request)
    except AuthError:  # two different keys: refused by authentication; counted by address meanwhile
        key = None
    if key:
        return "key:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return "addr:" + (request.client.host if request.client else "unknown")


# Swagger UI's files come from the swagger-ui-bundle-v2 package and are served here, so the page works offline
# (Litestar's default pages load theirs from a CDN; those pages are left out).
_SWAGGER_ASSETS_PATH = "/schema/assets/swagger-ui"
_SWAGGER_ASSETS = create_static_files_router(
    path=_SWAGGER_ASSETS_PATH, directories=[swagger_ui_path], include_in_schema=False, name="swagger-ui-assets"
)


def _schema_pages() -> list:
    """/schema/openapi.json, /schema/openapi.yaml and the Swagger UI at /schema/swagger (also at /schema)."""
    swagger = SwaggerRenderPlugin(
        js_url=f"{_SWAGGER_ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{_SWAGGER_ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{_SWAGGER_ASSETS_PATH}/swagger-ui-standalone-preset.js",
        path=["/swagger", "/"],
        favicon="",
    )
    return [swagger, JsonRenderPlugin(), YamlRenderPlugin()]


def create_app(settings: Settings | None = None, engine=None, close_engine: bool = False) -> Litestar:
    """Build the app. Without ``engine`` one is opened from ``settings`` at start-up; it is the root engine: other
    tenants' engines are opened from it on first use, sharing its models. At shutdown (also one a signal starts)
    every tenant engine is closed, saving its vector indexes, and so is the root one when the app opened it or
    ``close_engine`` hands it over.

    The Litestar app comes wrapped in RequestObserver (request ids, access log, metrics), which passes attribute
    access through, so it can be used wherever the Litestar app is."""
    settings = settings or Settings.load()
    metrics = ServerMetrics()
    records = open_server_records(settings)
    state = State({"engine": engine, "tenants": None, "jobs": None, "settings": settings, "metrics": metrics})

    @asynccontextmanager
    async def lifespan(app: Litestar):
        owned = close_engine or app.state.engine is None
        try:
            if app.state.engine is None:
                from graphrag.engine import Engine

                app.state.engine = Engine.from_settings(settings)
            app.state.tenants = TenantEngines(app.state.engine, records.keys)
            app.state.jobs = JobRunner(records.jobs, app.state.tenants, settings.job_step_chunks, settings.job_lease_s)
            app.state.jobs.start()
            if app.state.engine.writers.writes_with_lm():
                # load the answer LM (and active adapter) now, not on the first question
                app.state.engine.writers.pick()
            log.warning("graphrag server: %s", startup_mode(settings, records.keys))
            yield
        finally:
            if app.state.jobs is not None:
                app.state.jobs.stop()
            if app.state.tenants is not None:
                closed = app.state.tenants.close(close_root=owned)
                log.warning("graphrag server stopped: %d engine(s) closed, vector indexes saved", closed)
            elif owned and app.state.engine is not None:
                app.state.engine.close()
            if records.rate_limits is not None:
                await records.rate_limits.close()
            records.close()

    middleware = []
    if settings.rate_limit_per_minute:
        middleware.append(
            RateLimitConfig(
                rate_limit=("minute", settings.rate_limit_per_minute),
                identifier_for_request=_rate_limit_key,
                exclude=["/schema", "/metrics", "/page/assets"],
                store="rate_limit",
            ).middleware
        )
    app = Litestar(
        middleware=middleware,
        route_handlers=[
            METRICS_ROUTE,
            _SWAGGER_ASSETS,
            *PAGE_ROUTES,
            Router(
                path="/v1",
                route_handlers=[*DOCUMENT_ROUTES, *QUERY_ROUTES, *ENTITY_ROUTES, *LAYOUT_ROUTES],
                dependencies={"caller": Provide(tenant_scope)},
                security=[{"apiKey": []}],
            ),
        ],
        state=state,
        stores={"rate_limit": records.rate_limits} if records.rate_limits is not None else None,
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="graphrag-kgqa",
            version="0.1.0",
            path="/schema",
            render_plugins=_schema_pages(),
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="An API key from 'graphrag keys create' (or X-API-Key).",
                    )
                }
            ),
        ),
        debug=False,
    )
    _state_limits(app, settings)
    return RequestObserver(app, metrics)


def _state_limits(app: Litestar, settings: Settings) -> None:
    """Write this server's limits (settings) into its OpenAPI schema, so a request the schema allows is one the
    server accepts: the question's length and the largest max_hops and top_k."""
    body = app.openapi_schema.paths["/v1/query"].post.request_body.content["application/json"].schema
    body.properties["question"].max_length = settings.max_question_chars
    for name, limit in (("max_hops", settings.max_hops_limit), ("top_k", settings.top_k_limit)):
        for option in body.properties[name].any_of or ():
            if option.type is not None and option.type.value == "integer":
                option.maximum = limit
