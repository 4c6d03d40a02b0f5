"""Request-body helpers shared by the route modules: JSON decoding and validation into the one error envelope."""

from __future__ import annotations

from litestar import Request
from litestar.exceptions import HTTPException, ValidationException
from pydantic import ValidationError

from graphrag.errors import InputError

__all__ = ["json_body", "validate_body"]


def validate_body(model, body):
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        details = [{"key": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]} for e in exc.errors()]
        raise ValidationException(detail="invalid request body", extra=details) from exc


async def json_body(request: Request):
    try:
        return await request.json()
    except HTTPException:
        raise  # e.g. 413 from the body-size limit
    except Exception as exc:  # litestar raises several types for undecodable bodies
        raise InputError("request body is not valid JSON") from exc
