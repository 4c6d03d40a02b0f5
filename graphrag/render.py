"""Value objects -> JSON-ready dicts (one shape for the CLI's --json, batch files and the HTTP API),
and the human-readable rendering of an answer."""

from __future__ import annotations

from collections.abc import Sequence

from graphrag.types import (
    Answer,
    Chunk,
    Citation,
    Community,
    Document,
    Entity,
    Extraction,
    Path,
    QueryPlan,
    Relation,
    StoreStats,
)

__all__ = [
    "readable_type",
    "answer_to_dict",
    "answer_to_text",
    "community_to_dict",
    "document_to_dict",
    "entity_to_dict",
    "extraction_to_dict",
    "job_to_dict",
    "path_to_dict",
    "relation_to_dict",
    "stats_to_dict",
]


def entity_to_dict(entity: Entity) -> dict:
    return {"id": entity.id, "name": entity.name, "type": entity.type, "aliases": list(entity.aliases)}


def community_to_dict(community: Community) -> dict:
    return {
        "id": community.id,
        "rank": community.rank,
        "size": community.size,
        "title": community.title,
        "summary": community.summary,
        "entity_ids": list(community.entity_ids),
        "evidence": list(community.evidence),
    }


def readable_type(relation_type: str) -> str:
    """A relation type in words, for relations whose extractor gave no label (``FOUNDED_BY`` -> "founded by")."""
    return relation_type.replace("_", " ").lower()


def relation_to_dict(relation: Relation) -> dict:
    return {
        "id": relation.id,
        "source": relation.source_id,
        "target": relation.target_id,
        "type": relation.type,
        "confidence": relation.confidence,
        "evidence": list(relation.evidence),
        "sentence": relation.sentence,
        "provenance": relation.provenance,
        "property_id": relation.property_id,
        "label": relation.label or readable_type(relation.type),
        "inverse_label": relation.inverse_label,
        "sentence_start": relation.sentence_start,
        "sentence_end": relation.sentence_end,
    }


def path_to_dict(path: Path) -> dict:
    return {
        "text": path.text,
        "nodes": [entity_to_dict(n) for n in path.nodes],
        "edges": [
            {
                "type": s.relation.type,
                "label": s.relation.label or readable_type(s.relation.type),
                "source": s.relation.source_id,
                "target": s.relation.target_id,
                "forward": s.forward,
                "confidence": s.relation.confidence,
                "evidence": list(s.relation.evidence),
            }
            for s in path.steps
        ],
    }


def citation_to_dict(citation: Citation) -> dict:
    return {
        "document_id": citation.document_id,
        "document_title": citation.document_title,
        "chunk_id": citation.chunk_id,
        "start": citation.start,
        "end": citation.end,
        "text": citation.text,
    }


def plan_to_dict(plan: QueryPlan | None) -> dict | None:
    if plan is None:
        return None
    return {
        "strategy": plan.strategy,
        "max_hops": plan.max_hops,
        "top_k": plan.top_k,
        "steps": list(plan.steps),
        "linked": [
            {"entity": entity_to_dict(link.entity), "surface": link.surface, "method": link.method, "score": link.score}
            for link in plan.linked
        ],
    }


def answer_to_dict(answer: Answer) -> dict:
    return {
        "question": answer.question,
        "answer": answer.text,
        "answers": list(answer.answers),
        "confidence": answer.confidence,
        "abstained": answer.abstained,
        "citations": [citation_to_dict(c) for c in answer.citations],
        "paths": [path_to_dict(p) for p in answer.paths],
        "plan": plan_to_dict(answer.plan),
        "timings_ms": dict(answer.timings_ms),
    }


def document_to_dict(document: Document, with_text: bool = False) -> dict:
    data = {
        "id": document.id,
        "title": document.title,
        "source": document.source,
        "tenant": document.tenant,
        "sha256": document.sha256,
        "ingested_at": document.ingested_at,
        "metadata": document.metadata,
        "length": len(document.text),
    }
    if with_text:
        data["text"] = document.text
    return data


def stats_to_dict(stats: StoreStats) -> dict:
    return {
        "documents": stats.documents,
        "chunks": stats.chunks,
        "entities": stats.entities,
        "relations": stats.relations,
        "mentions": stats.mentions,
    }


def extraction_to_dict(document: Document, chunks: Sequence[Chunk], extraction: Extraction) -> dict:
    """One record of ``graphrag extract`` output (schema: schemas/extraction_record.schema.json)."""
    names = {e.id: e.name for e in extraction.entities}
    return {
        "document_id": document.id,
        "title": document.title,
        "source": document.source,
        "tenant": document.tenant,
        "sha256": document.sha256,
        "text": document.text,
        "metadata": document.metadata,
        "chunks": [{"id": c.id, "index": c.index, "start": c.start, "end": c.end} for c in chunks],
        "entities": [entity_to_dict(e) for e in extraction.entities],
        "relations": [
            {
                **relation_to_dict(r),
                "source_name": names.get(r.source_id, ""),
                "target_name": names.get(r.target_id, ""),
            }
            for r in extraction.relations
        ],
        "mentions": [
            {"entity_id": m.entity_id, "chunk_id": m.chunk_id, "start": m.start, "end": m.end, "text": m.text}
            for m in extraction.mentions
        ],
    }


def answer_to_text(answer: Answer) -> str:
    """Human output: answer, confidence, paths and citations."""
    lines = [f"Q: {answer.question}", f"A: {answer.text}   (confidence {answer.confidence:.2f})"]
    for path in answer.paths:
        lines.append(f"   path: {path.text}")
    for number, cite in enumerate(answer.citations, start=1):
        snippet = " ".join(cite.text.split())
        lines.append(
            f"   [{number}] {cite.document_title} ({cite.document_id}, chars {cite.start}-{cite.end}): {snippet[:160]}"
        )
    return "\n".join(lines)


def job_to_dict(job) -> dict:
    """JSON-ready form of an ingest job (server.job_store.Job)."""
    return {
        "id": job.id,
        "status": job.status,
        "filename": job.filename,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "documents_total": job.documents_total,
        "documents_done": job.documents_done,
        "resumed": job.resumed,
        "report": job.report,
        "error": job.error,
    }
