"""schemas/ must equal what the code generates (regenerate with: python scripts/gen_schemas.py)."""

from __future__ import annotations

import json
from pathlib import Path

from graphrag.records import ExtractionRecord
from server.schemas import generate_schemas, render_schema

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def test_schema_files_match_the_code():
    generated = generate_schemas()
    on_disk = {p.name for p in SCHEMAS.glob("*.schema.json")}
    assert on_disk == set(generated), "schemas/ has missing or extra files: run python scripts/gen_schemas.py"
    for name, schema in generated.items():
        assert (SCHEMAS / name).read_text(encoding="utf-8") == render_schema(schema), f"{name} drifted"


def test_extraction_record_schema_accepts_real_output(spacy_extractor):
    from graphrag.indexing.loaders import SentenceChunker, document_from_text
    from graphrag.render import extraction_to_dict

    doc = document_from_text(
        "Lena Hartmann founded Bluefin Robotics in Marlow Valley.",
        key="k",
        title="t",
        source="s",
        tenant="default",
        max_bytes=10**6,
    )
    chunks = SentenceChunker(1000, 100).chunk(doc)
    record = extraction_to_dict(doc, chunks, spacy_extractor.extract(doc, chunks))
    ExtractionRecord.model_validate(json.loads(json.dumps(record)))
    assert record["relations"]
