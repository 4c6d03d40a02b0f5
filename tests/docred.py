"""Helpers that write small DocRED-format documents for tests (the format of ../shared/data/redocred)."""

from __future__ import annotations

import json
from pathlib import Path


def docred_mention(sentences: list[list[str]], name: str, sent_id: int, kind: str = "MISC") -> dict:
    """A vertexSet mention of ``name``: its token span in sentence ``sent_id`` (which must contain it)."""
    words, tokens = name.split(), sentences[sent_id]
    start = next(i for i in range(len(tokens)) if tokens[i : i + len(words)] == words)
    return {"name": name, "sent_id": sent_id, "pos": [start, start + len(words)], "type": kind}


def write_docred(directory: Path, documents: list[dict]) -> Path:
    """Write documents as a DocRED-format JSON file in ``directory``; returns its path."""
    path = directory / "docs.json"
    path.write_text(json.dumps(documents), encoding="utf-8")
    return path


def company_document(company: str, person: str, city: str, extra_sentences: list[str] = ()) -> dict:
    """A DocRED-format document with two facts: ``company`` is based in ``city`` (sentence 0) and was founded by
    ``person`` (sentence 1); ``extra_sentences`` follow (a mention of the person's first name in the first of them
    joins the person's cluster)."""
    sentences = [
        f"{company} is a software company based in {city} .".split(),
        f"It was founded by {person} in 2004 .".split(),
    ] + [text.split() for text in extra_sentences]
    person_mentions = [docred_mention(sentences, person, 1)]
    first_name = person.split()[0]
    if len(sentences) > 2 and first_name in sentences[2]:
        person_mentions.append(docred_mention(sentences, first_name, 2))
    vertex_set = [[docred_mention(sentences, company, 0)], person_mentions, [docred_mention(sentences, city, 0)]]
    labels = [{"h": 0, "t": 2, "r": "P159", "evidence": [0]}, {"h": 0, "t": 1, "r": "P112", "evidence": [1]}]
    return {"title": company, "sents": sentences, "vertexSet": vertex_set, "labels": labels}
