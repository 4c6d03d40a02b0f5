"""One JSON error envelope, ``{"error": {"code", "message", "details"}}``, for every error the API returns."""

from __future__ import annotations

import logging

from litestar import Request, Response
from litestar.exceptions import ClientException, HTTPException, NotFoundException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_404_NOT_FOUND,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from graphrag.errors import (
    AuthError,
    DocumentTooLargeError,
    GraphRAGError,
    InputError,
    ModelError,
    NotFoundError,
    RequestTimeoutError,
    StoreUnavailableError,
)
from server.dto import ErrorOut
from server.observability import request_id_of

__all__ = ["EXCEPTION_HANDLERS", "envelope", "error_responses"]

_DESCRIPTIONS = {
    401: "Missing, unknown or revoked API key (or, in open mode, a client not on this machine)",
    404: "No such item in the caller's tenant",
    413: "Request body or document larger than the limit",
    415: "Unsupported content type",
    422: "Invalid request: malformed JSON, a field that fails validation, an unknown field, or a limit exceeded",
    429: "Too many requests for this API key",
    503: "Store or model unavailable, or the request timed out",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error envelope: the statuses given plus those every /v1 route can answer."""
    wanted = sorted({400, 401, 422, 429, *statuses})
    # generate_examples off: Litestar's generated examples are random filler ("code": "DwEkQQHiBrmX..."), which
    # reads as if it were real.
    return {
        status: ResponseSpec(
            data_container=ErrorOut, description=_DESCRIPTIONS.get(status, "Bad request"), generate_examples=False
        )
        for status in wanted
    }


log = logging.getLogger("graphrag.server")


def envelope(request: Request, status: int, code: str, message: str, details=None, headers=None) -> Response:
    """Build the error response, counting it by code in the server's metrics."""
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(code).inc()
    return Response(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status, headers=headers
    )


def _status_for(exc: GraphRAGError) -> int:
    if isinstance(exc, AuthError):
        return HTTP_401_UNAUTHORIZED
    if isinstance(exc, DocumentTooLargeError):
        return HTTP_413_REQUEST_ENTITY_TOO_LARGE
    if isinstance(exc, InputError):
        return HTTP_422_UNPROCESSABLE_ENTITY
    if isinstance(exc, NotFoundError):
        return HTTP_404_NOT_FOUND
    if isinstance(exc, (StoreUnavailableError, ModelError, RequestTimeoutError)):
        return HTTP_503_SERVICE_UNAVAILABLE
    return HTTP_500_INTERNAL_SERVER_ERROR


# Seconds a client is told to wait (Retry-After) after a timeout or a store that is down or stopping: both pass.
# A missing model (also a ModelError 503) does not, so it gets no Retry-After.
RETRY_AFTER_S = 5


def _graphrag_error(request: Request, exc: GraphRAGError) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="graphrag"'} if isinstance(exc, AuthError) else None
    if isinstance(exc, (RequestTimeoutError, StoreUnavailableError)):
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    # The library's generic bad-input code is the API's one code for a request it cannot accept as sent (the
    # same as a field that fails validation); the specific input codes (limit_exceeded, ...) pass through.
    code = "invalid_request" if exc.code == InputError.code else exc.code
    return envelope(request, _status_for(exc), code, exc.message, exc.details or None, headers)


def _validation_error(request: Request, exc: ValidationException) -> Response:
    details = exc.extra if isinstance(exc.extra, (list, dict)) else None
    fields = (
        ", ".join(f"{d.get('key') or 'body'}: {d.get('message')}" for d in (details or []) if isinstance(d, dict))
        if isinstance(details, list)
        else ""
    )
    message = f"invalid request: {fields}" if fields else f"invalid request: {exc.detail}"
    return envelope(request, HTTP_422_UNPROCESSABLE_ENTITY, "invalid_request", message, details)


def _http_error(request: Request, exc: HTTPException) -> Response:
    if type(exc) is ClientException and exc.status_code == 400 and exc.detail == "Request Entity Too Large":
        # Litestar's multipart parser says this, as a 400, when a form exceeds its limits (too many parts, a part
        # header such as a filename too long): the body is too large in shape, so 413.
        return envelope(
            request,
            HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            "body_too_large",
            "the multipart form is larger than the server accepts: too many parts or fields, or a part "
            "header (such as its filename) too long; send one 'file' part with a short filename",
        )
    if type(exc) is ClientException and exc.status_code == 400:
        # What Litestar raises for a body it cannot decode ("JSON is malformed: ..."): invalid input, like a field
        # that fails validation, so the same 422 and code.
        return envelope(request, HTTP_422_UNPROCESSABLE_ENTITY, "invalid_request", f"invalid request: {exc.detail}")
    codes = {
        404: "not_found",
        405: "method_not_allowed",
        413: "body_too_large",
        415: "unsupported_media_type",
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        429: "too_many_requests",
    }
    status = exc.status_code
    message = exc.detail
    if status == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        message = "request body is larger than the limit (setting max_body_bytes)"
    headers = dict(exc.headers or {})
    if status == 429:
        if "too many failed authentications" not in str(message):
            message = (
                "too many requests for this API key (setting rate_limit_per_minute); retry after the "
                "Retry-After seconds"
            )
        headers.setdefault("Retry-After", headers.get("RateLimit-Reset") or headers.get("ratelimit-reset") or "60")
    return envelope(request, status, codes.get(status, "http_error"), message, headers=headers or None)


def _internal_error(request: Request, exc: Exception) -> Response:
    request_id = request_id_of(request)
    log.error("unhandled error (request %s)", request_id, exc_info=exc)
    return envelope(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        f"internal error; the server log has details under request id {request_id}",
    )


EXCEPTION_HANDLERS = {
    GraphRAGError: _graphrag_error,
    ValidationException: _validation_error,
    NotFoundException: _http_error,
    HTTPException: _http_error,
    Exception: _internal_error,
}
