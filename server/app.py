"""create_app(): the Litestar application (routes under /v1, OpenAPI at /schema, one error envelope)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from graphrag.api_keys import ApiKeyStore
from graphrag.config import Settings

from .errors import EXCEPTION_HANDLERS
from .routes import DOCUMENT_ROUTES, ENTITY_ROUTES, QUERY_ROUTES
from .tenancy import TenantEngines, tenant_scope

__all__ = ["create_app", "startup_mode"]

log = logging.getLogger("graphrag.server")


def startup_mode(settings: Settings) -> str:
    """One line saying how requests are authenticated (printed by ``graphrag serve`` and logged at start-up)."""
    if ApiKeyStore(settings.keys_path).any_active():
        return "API keys required (Authorization: Bearer <key>); each key acts for its own tenant"
    return ("open mode: no API keys exist, so only clients on this machine are served, as tenant 'default' "
            "(create one with 'graphrag keys create --tenant NAME')")


def create_app(settings: Settings | None = None, engine=None) -> Litestar:
    """Build the app. Without ``engine`` one is opened from ``settings`` at start-up and closed at shutdown; it is
    the root engine: other tenants' engines are opened from it on first use, sharing its models."""
    settings = settings or Settings.load()
    state = State({"engine": engine, "tenants": None, "settings": settings})

    @asynccontextmanager
    async def lifespan(app: Litestar):
        owned = app.state.engine is None
        if owned:
            from graphrag.engine import Engine

            app.state.engine = Engine.from_settings(settings)
        app.state.tenants = TenantEngines(app.state.engine, ApiKeyStore(settings.keys_path))
        if settings.answer_writer == "lm":
            app.state.engine.writers.pick()  # load the answer LM (and active adapter) now, not on the first question
        log.warning("graphrag server: %s", startup_mode(settings))
        try:
            yield
        finally:
            app.state.tenants.close(close_root=owned)

    return Litestar(
        route_handlers=[Router(path="/v1", route_handlers=[*DOCUMENT_ROUTES, *QUERY_ROUTES, *ENTITY_ROUTES],
                               dependencies={"caller": Provide(tenant_scope)}, security=[{"apiKey": []}])],
        state=state,
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="graphrag-kgqa", version="0.1.0", path="/schema",
            components=Components(security_schemes={"apiKey": SecurityScheme(
                type="http", scheme="bearer", description="An API key from 'graphrag keys create' (or X-API-Key).")})),
        debug=False,
    )
