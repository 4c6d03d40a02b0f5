"""/v1/documents and /v1/triples."""

from __future__ import annotations

import time
from typing import Literal

import anyio
from litestar import Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, Parameter

from graphrag.errors import InputError, NotFoundError, UnsupportedFormatError
from graphrag.indexing.loaders import parse_triple_record
from graphrag.render import document_to_dict, job_to_dict
from server.dto import DocumentIn, DocumentOut, IngestOut, JobOut, TriplesIn
from server.errors import error_responses
from server.openapi_bodies import documented_body
from server.routes._body import read_json
from server.tenancy import TenantScope


@post(
    "/documents",
    status_code=201,
    summary="Ingest a document (JSON text or multipart 'file'); large files or mode=async become an ingest job (202)",
    responses={
        **error_responses(413, 415, 503),
        202: ResponseSpec(
            data_container=JobOut, description="The upload was queued as an ingest job", generate_examples=False
        ),
    },
    operation_class=documented_body(DocumentIn, multipart_file=True),
)
async def create_document(
    request: Request,
    caller: NamedDependency[TenantScope],
    mode: Literal["auto", "async"] = Parameter(
        default="auto", description="async: queue a file upload as a job; auto: only files over async_ingest_bytes."
    ),
) -> Response:
    engine = caller.engine
    started = time.perf_counter()
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        uploads = form.getall("file") if "file" in form else []
        if len(uploads) > 1:
            raise InputError(f"the multipart body has {len(uploads)} 'file' parts; send one file per request")
        upload = uploads[0] if uploads else None
        if not isinstance(upload, UploadFile):
            raise InputError("multipart body needs a 'file' field")
        data = await upload.read()
        filename = upload.filename or "upload.txt"
        if mode == "async" or len(data) > engine.settings.async_ingest_bytes:
            runner = request.app.state.jobs
            job = await anyio.to_thread.run_sync(runner.submit, caller.tenant, filename, data)
            return Response(job_to_dict(job), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})
        report = await caller.call(engine.ingest_bytes, data, filename, write=True)
    elif content_type.startswith("application/json") or not content_type:
        body = await read_json(request, DocumentIn)
        report = await caller.call(engine.ingest_text, body.text, body.title, body.id, body.metadata, write=True)
    else:
        raise UnsupportedFormatError(
            f"unsupported content type {content_type!r}; use application/json or multipart/form-data"
        )
    if report.problems and not report.document_ids:
        first = report.problems[0]
        raise InputError(first.message, details={"problems": report.as_dict()["problems"]})
    _observe(request, report, started)
    return Response(IngestOut.model_validate(report.as_dict()), status_code=201)


@get("/jobs/{job_id:str}", summary="An ingest job's status, progress and report", responses=error_responses(404, 503))
async def get_job(job_id: FromPath[str], request: Request, caller: NamedDependency[TenantScope]) -> JobOut:
    runner = request.app.state.jobs
    job = await anyio.to_thread.run_sync(runner.jobs.get, job_id, caller.tenant)
    if job is None:
        raise NotFoundError(f"no ingest job with id {job_id!r}")
    return JobOut.model_validate(job_to_dict(job))


def _observe(request: Request, report, started: float) -> None:
    request.app.state.metrics.observe_ingest(
        report.documents_added + report.documents_replaced, report.chunks, time.perf_counter() - started
    )


@get("/documents/{document_id:str}", summary="A stored document with its text", responses=error_responses(404, 503))
async def get_document(document_id: FromPath[str], caller: NamedDependency[TenantScope]) -> DocumentOut:
    document = await caller.call(caller.engine.get_document, document_id)
    return DocumentOut.model_validate(document_to_dict(document, with_text=True))


@delete(
    "/documents/{document_id:str}",
    status_code=204,
    summary="Delete a document and what only it supported",
    responses=error_responses(404, 503),
)
async def delete_document(document_id: FromPath[str], caller: NamedDependency[TenantScope]) -> None:
    await caller.call(caller.engine.delete_document, document_id, write=True)


@post(
    "/triples",
    status_code=201,
    summary="Load structured facts (subject, relation, object)",
    responses=error_responses(503),
    operation_class=documented_body(TriplesIn),
)
async def create_triples(request: Request, caller: NamedDependency[TenantScope]) -> IngestOut:
    data = await read_json(request, TriplesIn)
    started = time.perf_counter()
    triples = [
        parse_triple_record(t.model_dump(exclude_none=True), f"triples[{i}]") for i, t in enumerate(data.triples)
    ]
    report = await caller.call(caller.engine.add_triples, triples, data.source, write=True)
    if not report.triples and report.problems:
        raise InputError(report.problems[0].message, details={"problems": report.as_dict()["problems"]})
    _observe(request, report, started)
    return IngestOut.model_validate(report.as_dict())


DOCUMENT_ROUTES = [create_document, get_document, delete_document, create_triples, get_job]
