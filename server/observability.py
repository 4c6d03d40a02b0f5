"""Request ids, structured access logs and Prometheus metrics for the HTTP server.

``RequestObserver`` wraps the whole ASGI app (Litestar's own middleware runs only for matched routes, and a 404 or
405 deserves a request id and a log line too). Each request gets an id (the caller's ``X-Request-ID`` when it is a
short token, else a new one), answered in the ``X-Request-ID`` header and written in one JSON log line with the
method, route, status and duration. ``ServerMetrics`` holds the app's own prometheus_client registry (no process
globals), rendered at ``GET /metrics``.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from litestar import Request, get
from litestar.response import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["METRICS_ROUTE", "RequestObserver", "ServerMetrics", "configure_logging", "request_id_of"]

access_log = logging.getLogger("graphrag.access")

_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServerMetrics:
    """The server's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "graphrag_http_requests", "HTTP requests answered", ("method", "route", "status"), registry=self.registry
        )
        self.latency = Histogram(
            "graphrag_http_request_duration_seconds",
            "HTTP request latency",
            ("method", "route"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter("graphrag_errors", "Error responses by error code", ("code",), registry=self.registry)
        self.ingested_documents = Counter(
            "graphrag_ingested_documents", "Documents added or replaced", registry=self.registry
        )
        self.ingested_chunks = Counter("graphrag_ingested_chunks", "Chunks written", registry=self.registry)
        self.ingest_seconds = Histogram(
            "graphrag_ingest_duration_seconds",
            "Time per ingest request",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_seconds = Histogram(
            "graphrag_model_duration_seconds",
            "Model time per question, by stage (embed, answer, evidence, generate)",
            ("stage",),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_answer(self, timings_ms: dict) -> None:
        """Record the model stages of one answered question (those present in its timings)."""
        for stage in ("embed", "answer", "evidence", "generate"):
            if isinstance(timings_ms.get(stage), (int, float)):
                self.model_seconds.labels(stage).observe(timings_ms[stage] / 1000)

    def observe_ingest(self, documents: int, chunks: int, seconds: float) -> None:
        """Record one ingest request (throughput is the rate of the document and chunk counters)."""
        self.ingested_documents.inc(documents)
        self.ingested_chunks.inc(chunks)
        self.ingest_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def configure_logging(access_log_enabled: bool) -> None:
    """Server logs to stderr, one record per line: access lines are JSON objects already; others get a prefix."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_log.handlers[:] = [handler]
    access_log.propagate = False
    access_log.setLevel(logging.INFO if access_log_enabled else logging.WARNING)
    server_log = logging.getLogger("graphrag.server")
    if not server_log.handlers:
        other = logging.StreamHandler()
        other.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        server_log.addHandler(other)
        server_log.propagate = False


def request_id_of(request: Request) -> str:
    """The id RequestObserver gave this request ("" outside it, e.g. under a test client)."""
    return request.scope.get("state", {}).get("request_id", "")


class RequestObserver:
    """ASGI wrapper: request id, one JSON access-log line and request metrics for every HTTP request.

    Attribute access falls through to the wrapped app, so it can stand where the Litestar app is expected."""

    def __init__(self, app, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    def __getattr__(self, name: str):
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _INCOMING_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500  # what the client sees if the app dies before answering

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("path_template") or "unmatched"  # the template, not the path: ids are not labels
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(seconds)
            access_log.info(
                json.dumps(
                    {
                        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                        "event": "request",
                        "request_id": request_id,
                        "method": method,
                        "path": scope.get("path", ""),
                        "route": route,
                        "status": status,
                        "ms": round(seconds * 1000, 2),
                        "tenant": scope["state"].get("tenant"),
                    }
                )
            )


@get("/metrics", media_type=CONTENT_TYPE_LATEST, summary="Prometheus metrics", include_in_schema=True)
async def metrics_endpoint(request: Request) -> Response:
    metrics: ServerMetrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


METRICS_ROUTE = metrics_endpoint
