"""Request-body helpers shared by the route modules: strict JSON decoding and validation into the one error envelope.

Every JSON body goes through :func:`read_json`, never through Litestar's own decoding: a body that is not UTF-8,
names another charset, nests too deeply or is not JSON at all is answered 422 with a message naming the
problem (Litestar's decoder raised ``UnicodeDecodeError`` or ``RecursionError`` for some of these: 500s).
"""

from __future__ import annotations

from litestar import Request
from litestar.exceptions import ValidationException
from pydantic import ValidationError

from graphrag.errors import InputError, UnsupportedFormatError
from graphrag.json_text import loads_bounded

__all__ = ["read_json", "validate_body"]


def validate_body(model, body):
    """``model`` validated from decoded JSON; field problems become one 422 listing each field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        details = [{"key": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]} for e in exc.errors()]
        raise ValidationException(detail="invalid request body", extra=details) from exc


async def read_json(request: Request, model):
    """The request body validated into ``model``. Bodies must be UTF-8 JSON (RFC 8259): another charset,
    undecodable bytes, bad JSON or deep nesting are 422 naming the problem; a body over the limit is 413."""
    charset = _charset(request.headers.get("content-type", ""))
    if charset and charset.replace("-", "").replace("_", "") != "utf8":
        raise UnsupportedFormatError(f"JSON bodies must be UTF-8; the request says charset={charset}")
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"request body is not valid UTF-8 at byte {exc.start} ({exc.reason})") from exc
    if not text.strip():
        raise InputError("request body is empty; send a JSON object")
    return validate_body(model, loads_bounded(text, "request body"))


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower() or None
    return None
