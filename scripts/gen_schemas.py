"""Regenerate schemas/*.schema.json from the code. tests/test_schemas.py fails when they drift."""

from __future__ import annotations

import sys
from pathlib import Path

from server.schemas import generate_schemas, render_schema


def main() -> int:
    target = Path(__file__).resolve().parent.parent / "schemas"
    target.mkdir(exist_ok=True)
    for name, schema in generate_schemas().items():
        (target / name).write_text(render_schema(schema), encoding="utf-8")
        print(f"wrote schemas/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
