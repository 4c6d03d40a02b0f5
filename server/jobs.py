"""The server's ingest-job worker: one thread that runs queued jobs (server.job_store.JobStore) one after another.

A job ingests its file in bounded steps (``job_step_chunks`` chunks of text each, also inside one large document),
each queued on the engine thread behind the requests already waiting, so questions are answered between steps; it
records its progress after each. Communities are recomputed when next read (graphrag.engine), not per step. At
start-up, jobs a dead server left running are queued again (or failed when their input is gone).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from graphrag.errors import GraphRAGError
from graphrag.indexing.loaders import load_bytes, upload_key
from graphrag.indexing.pipeline import IndexReport, IngestProblem
from server.job_store import Job, JobStore
from server.tenancy import TenantEngines

__all__ = ["JobRunner"]

log = logging.getLogger("graphrag.server")


class JobRunner:
    """Runs ingest jobs in a background thread until ``stop()``."""

    def __init__(self, jobs: JobStore, engines: TenantEngines, step_chunks: int) -> None:
        self.jobs = jobs
        self.engines = engines
        self.step_chunks = step_chunks
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="graphrag-jobs", daemon=True)

    def start(self) -> None:
        requeued, failed = self.jobs.recover()
        if requeued or failed:
            log.warning("ingest jobs after restart: %d resumed, %d failed (input gone)", requeued, failed)
        self._thread.start()

    def submit(self, tenant: str, filename: str, data: bytes) -> Job:
        """Keep the upload and queue a job for it."""
        job = self.jobs.create(tenant, filename, data)
        self._wake.set()
        return job

    def stop(self) -> None:
        """Finish the current step and stop; an unfinished job stays "running" and resumes on the next start."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=600)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            job = self.jobs.next_queued()
            if job is None:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            try:
                self._run(job)
            except GraphRAGError as exc:
                self.jobs.fail(job.id, f"{exc.code}: {exc.message}")
            except Exception as exc:  # a bug must fail the job visibly, not kill the worker
                log.error("ingest job %s failed", job.id, exc_info=exc)
                self.jobs.fail(job.id, f"internal error: {type(exc).__name__}; the server log has details")

    def _run(self, job: Job) -> None:
        data = Path(self.jobs.input_path(job)).read_bytes()
        engine = self.engines.open(job.tenant)
        settings = engine.settings
        key = upload_key(data)
        loaded = load_bytes(
            data,
            suffix=job.suffix,
            source=job.filename,
            title=Path(job.filename).stem,
            tenant=job.tenant,
            max_bytes=settings.max_document_bytes,
            key=key,
        )
        report = IndexReport()
        report.problems.extend(IngestProblem(job.filename, m, "invalid_record", line) for line, m in loaded.line_errors)
        total = len(loaded.documents)
        self.jobs.progress(job.id, 0, total)
        if loaded.triples:
            # Through the engine, like documents: cached names are dropped and communities marked stale.
            self.engines.run(engine.add_triples, loaded.triples, job.filename, report, key)
        steps = engine.ingest_steps(loaded.documents, report, self.step_chunks)
        while True:
            if self._stopping.is_set():
                return  # left "running": the next start resumes it
            done = self.engines.run(next, steps, None)
            if done is None:
                break
            self.jobs.progress(job.id, done, total)
        self.engines.run(engine.indexer.save)  # the job's vectors on disk now (a crash before is mended at start-up)
        if total == 0 and not loaded.triples:
            self.jobs.fail(job.id, "the file holds no documents or triples", report.as_dict())
        else:
            self.jobs.finish(job.id, report.as_dict())
