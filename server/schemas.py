"""Generate the JSON Schemas in schemas/ from the code (API bodies and JSONL record formats)."""

from __future__ import annotations

import json

from graphrag.records import ExtractionRecord, TripleRecord

from . import dto

__all__ = ["generate_schemas", "render_schema"]

_MODELS = {
    "api_document_in": dto.DocumentIn,
    "api_triples_in": dto.TriplesIn,
    "api_query_in": dto.QueryIn,
    "api_query_out": dto.QueryOut,
    "api_ingest_out": dto.IngestOut,
    "api_document_out": dto.DocumentOut,
    "api_entity_out": dto.EntityOut,
    "api_neighbors_out": dto.NeighborsOut,
    "api_paths_out": dto.PathsOut,
    "api_health_out": dto.HealthOut,
    "api_error": dto.ErrorOut,
    "extraction_record": ExtractionRecord,
    "triple_record": TripleRecord,
}


def generate_schemas() -> dict[str, dict]:
    """File name -> JSON Schema for every public body and record."""
    return {f"{name}.schema.json": model.model_json_schema() for name, model in _MODELS.items()}


def render_schema(schema: dict) -> str:
    """Stable text form (sorted keys, trailing newline) so diffs and drift checks are exact."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
