"""Helpers that write small DocRED-format documents for tests (the format of ../shared/data/redocred)."""

from __future__ import annotations

import json
from pathlib import Path


def docred_mention(sentences: list[list[str]], name: str, sent_id: int, kind: str = "MISC") -> dict:
    """A vertexSet mention of ``name``: its token span in sentence ``sent_id`` (which must contain it)."""
    words, tokens = name.split(), sentences[sent_id]
    start = next(i for i in range(len(tokens)) if tokens[i:i + len(words)] == words)
    return {"name": name, "sent_id": sent_id, "pos": [start, start + len(words)], "type": kind}


def write_docred(directory: Path, documents: list[dict]) -> Path:
    """Write documents as a DocRED-format JSON file in ``directory``; returns its path."""
    path = directory / "docs.json"
    path.write_text(json.dumps(documents), encoding="utf-8")
    return path
