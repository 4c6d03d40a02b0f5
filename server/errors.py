"""One JSON error envelope, ``{"error": {"code", "message", "details"}}``, for every error the API returns."""

from __future__ import annotations

import logging

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_404_NOT_FOUND,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from graphrag.errors import (
    AuthError,
    RateLimitedError,
    DocumentTooLargeError,
    GraphRAGError,
    InputError,
    ModelError,
    NotFoundError,
    StoreUnavailableError,
)

__all__ = ["EXCEPTION_HANDLERS", "envelope"]

log = logging.getLogger("graphrag.server")


def envelope(status: int, code: str, message: str, details=None) -> Response:
    """Build the error response."""
    return Response({"error": {"code": code, "message": message, "details": details}}, status_code=status)


def _status_for(exc: GraphRAGError) -> int:
    if isinstance(exc, AuthError):
        return HTTP_401_UNAUTHORIZED
    if isinstance(exc, RateLimitedError):
        return HTTP_429_TOO_MANY_REQUESTS
    if isinstance(exc, DocumentTooLargeError):
        return HTTP_413_REQUEST_ENTITY_TOO_LARGE
    if isinstance(exc, InputError):
        return HTTP_422_UNPROCESSABLE_ENTITY
    if isinstance(exc, NotFoundError):
        return HTTP_404_NOT_FOUND
    if isinstance(exc, (StoreUnavailableError, ModelError)):
        return HTTP_503_SERVICE_UNAVAILABLE
    return HTTP_500_INTERNAL_SERVER_ERROR


def _graphrag_error(_: Request, exc: GraphRAGError) -> Response:
    return envelope(_status_for(exc), exc.code, exc.message, exc.details or None)


def _validation_error(_: Request, exc: ValidationException) -> Response:
    details = exc.extra if isinstance(exc.extra, (list, dict)) else None
    fields = ", ".join(
        f"{d.get('key') or 'body'}: {d.get('message')}" for d in (details or []) if isinstance(d, dict)
    ) if isinstance(details, list) else ""
    message = f"invalid request: {fields}" if fields else f"invalid request: {exc.detail}"
    return envelope(HTTP_422_UNPROCESSABLE_ENTITY, "invalid_request", message, details)


def _http_error(_: Request, exc: HTTPException) -> Response:
    codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type",
             400: "bad_request", 401: "unauthorized", 403: "forbidden", 429: "too_many_requests"}
    status = exc.status_code
    message = exc.detail
    if status == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        message = "request body is larger than the limit (setting max_body_bytes)"
    return envelope(status, codes.get(status, "http_error"), message)


def _internal_error(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return envelope(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal error; the server log has details")


EXCEPTION_HANDLERS = {
    GraphRAGError: _graphrag_error,
    ValidationException: _validation_error,
    NotFoundException: _http_error,
    HTTPException: _http_error,
    Exception: _internal_error,
}
