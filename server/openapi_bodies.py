"""Request bodies in the OpenAPI schema for handlers that read their body themselves.

POST /v1/documents takes JSON or multipart, so it cannot declare one typed ``data`` parameter, and Litestar would
then document no body at all. ``documented_body`` gives such a handler an Operation class that fills the body in,
from the pydantic model (converted to Litestar's schema objects, so it cannot drift from the code)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from pydantic import BaseModel

__all__ = ["documented_body", "schema_of"]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_RENAMED = {"not": "schema_not", "if": "schema_if", "else": "schema_else"}


def _convert(value):
    if isinstance(value, dict):
        return schema_of(value)
    if isinstance(value, list):
        return [_convert(v) if isinstance(v, dict) else v for v in value]
    return value


def _inline(value, definitions: dict):
    """The JSON Schema with every ``{"$ref": "#/$defs/Name"}`` replaced by that definition (models here are not
    recursive)."""
    if isinstance(value, dict):
        if "$ref" in value:
            return _inline(definitions[value["$ref"].rsplit("/", 1)[-1]], definitions)
        return {k: _inline(v, definitions) for k, v in value.items() if k != "$defs"}
    if isinstance(value, list):
        return [_inline(v, definitions) for v in value]
    return value


def schema_of(json_schema: dict) -> Schema:
    """A Litestar Schema from a JSON Schema dict (local ``$defs`` references are inlined)."""
    if "$defs" in json_schema:
        json_schema = _inline(json_schema, json_schema["$defs"])
    fields = {}
    for key, value in json_schema.items():
        name = _RENAMED.get(key, _CAMEL.sub("_", key).lower())
        if name == "type":
            fields[name] = OpenAPIType(value)
        elif name == "properties":
            fields[name] = {prop: schema_of(sub) for prop, sub in value.items()}
        elif name in ("required", "enum", "default", "examples", "const"):
            fields[name] = value
        else:
            fields[name] = _convert(value)
    return Schema(**fields)


def documented_body(model: type[BaseModel], multipart_file: bool = False) -> type[Operation]:
    """An Operation class whose request body is ``model`` as JSON (and, with ``multipart_file``, a multipart form
    with one required ``file`` field as the alternative)."""
    content = {"application/json": OpenAPIMediaType(schema=schema_of(model.model_json_schema()))}
    if multipart_file:
        form = Schema(
            type=OpenAPIType.OBJECT,
            required=["file"],
            additional_properties=False,
            properties={"file": Schema(type=OpenAPIType.STRING, format="binary")},
        )
        content["multipart/form-data"] = OpenAPIMediaType(schema=form)

    @dataclass
    class OperationWithBody(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(content=content, required=True)

    return OperationWithBody
