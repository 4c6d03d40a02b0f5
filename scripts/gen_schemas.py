"""Regenerate schemas/*.schema.json and docs/settings.md's settings table from the code (tests fail when they drift)."""

from __future__ import annotations

import sys
from pathlib import Path

from server.schemas import SETTINGS_BEGIN, SETTINGS_END, generate_schemas, render_schema, settings_table


def main() -> int:
    target = Path(__file__).resolve().parent.parent / "schemas"
    target.mkdir(exist_ok=True)
    for name, schema in generate_schemas().items():
        (target / name).write_text(render_schema(schema), encoding="utf-8")
        print(f"wrote schemas/{name}")
    readme = target.parent / "docs" / "settings.md"
    text = readme.read_text(encoding="utf-8")
    if "SETTINGS_PLACEHOLDER" in text:
        text = text.replace("SETTINGS_PLACEHOLDER", settings_table())
    else:
        start, end = text.index(SETTINGS_BEGIN), text.index(SETTINGS_END) + len(SETTINGS_END)
        text = text[:start] + settings_table() + text[end:]
    readme.write_text(text, encoding="utf-8")
    print("wrote the settings table in docs/settings.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
