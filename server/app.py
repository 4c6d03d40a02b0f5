"""create_app(): the Litestar application (routes under /v1, OpenAPI at /schema, one error envelope)."""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from graphrag.config import Settings

from .errors import EXCEPTION_HANDLERS
from .routes import DOCUMENT_ROUTES, ENTITY_ROUTES, QUERY_ROUTES

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, engine=None) -> Litestar:
    """Build the app. Without ``engine`` one is opened from ``settings`` at start-up and closed at shutdown."""
    settings = settings or Settings.load()
    state = State({"engine": engine, "engine_lock": threading.RLock(), "settings": settings})

    @asynccontextmanager
    async def lifespan(app: Litestar):
        owned = app.state.engine is None
        if owned:
            from graphrag.engine import Engine

            app.state.engine = Engine.from_settings(settings)
        if settings.answer_writer == "lm":
            app.state.engine.writers.pick()  # load the answer LM (and active adapter) now, not on the first question
        try:
            yield
        finally:
            if owned:
                with app.state.engine_lock:
                    app.state.engine.close()

    return Litestar(
        route_handlers=[Router(path="/v1", route_handlers=[*DOCUMENT_ROUTES, *QUERY_ROUTES, *ENTITY_ROUTES])],
        state=state,
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(title="graphrag-kgqa", version="0.1.0", path="/schema"),
        debug=False,
    )
