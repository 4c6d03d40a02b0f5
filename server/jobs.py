"""The server's ingest-job worker: one thread that runs queued jobs one after another (from server.job_store, or
server.neo4j_job_store when replicas share Neo4j).

A job ingests its file in bounded steps (``job_step_chunks`` chunks of text each, also inside one large document),
each queued on the engine thread behind the requests already waiting, so questions are answered between steps; it
records its progress after each. Communities are recomputed when next read (graphrag.engine), not per step. At
start-up, jobs a dead server left running are queued again (or failed when their input is gone). With replicas a job
is held under a lease that a second thread renews while the job runs; a job taken over from a replica that died
first mends the vectors its owner may have left unwritten (its documents are in the store, their vectors maybe not).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from graphrag.errors import GraphRAGError, StoreUnavailableError
from graphrag.indexing.loaders import load_bytes, upload_key
from graphrag.indexing.pipeline import IndexReport, IngestProblem
from server.job_store import Job
from server.tenancy import TenantEngines

if TYPE_CHECKING:
    from server.state import IngestJobs

__all__ = ["JobRunner"]

log = logging.getLogger("graphrag.server")


class JobRunner:
    """Runs ingest jobs in a background thread until ``stop()``."""

    def __init__(self, jobs: IngestJobs, engines: TenantEngines, step_chunks: int, lease_s: float = 30.0) -> None:
        self.jobs = jobs
        self.engines = engines
        self.step_chunks = step_chunks
        self.renew_every_s = lease_s / 3  # two renewals may fail (a slow Neo4j) before the lease runs out
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="graphrag-jobs", daemon=True)
        self._current: str | None = None  # the job whose lease the renewer keeps
        self._lost = threading.Event()  # set when the lease on the current job was lost
        self._renewer = threading.Thread(target=self._renew_loop, name="graphrag-job-lease", daemon=True)

    def start(self) -> None:
        requeued, failed = self.jobs.recover()
        if requeued or failed:
            log.warning("ingest jobs after restart: %d resumed, %d failed (input gone)", requeued, failed)
        self._thread.start()
        self._renewer.start()

    def submit(self, tenant: str, filename: str, data: bytes) -> Job:
        """Keep the upload and queue a job for it."""
        job = self.jobs.create(tenant, filename, data)
        self._wake.set()
        return job

    def stop(self) -> None:
        """Finish the current step and stop; an unfinished job resumes on the next start (with replicas it goes back
        to the queue, for another replica)."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=600)
        if self._renewer.is_alive():
            self._renewer.join(timeout=60)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self.jobs.claim()
            except GraphRAGError as exc:  # the job store is unreachable (Neo4j down): try again in a while
                log.warning("ingest jobs: cannot claim a job: %s", exc.message)
                self._stopping.wait(timeout=5.0)
                continue
            if job is None:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            self._current = job.id
            self._lost.clear()
            try:
                self._run(job)
            except StoreUnavailableError as exc:
                if self.jobs.leased:  # left "running": it is claimed again (here or elsewhere) when its lease passes
                    log.warning("ingest job %s paused, the store is unavailable: %s", job.id, exc.message)
                else:
                    self._fail(job, f"{exc.code}: {exc.message}")
            except GraphRAGError as exc:
                self._fail(job, f"{exc.code}: {exc.message}")
            except Exception as exc:  # a bug must fail the job visibly, not kill the worker
                log.error("ingest job %s failed", job.id, exc_info=exc)
                self._fail(job, f"internal error: {type(exc).__name__}; the server log has details")
            finally:
                self._current = None

    def _fail(self, job: Job, message: str) -> None:
        try:
            self.jobs.fail(job.id, message)
        except GraphRAGError as exc:  # the job store itself is failing: the job stays as it was, and the log says so
            log.error("ingest job %s failed (%s) and cannot be marked failed: %s", job.id, message, exc.message)

    def _renew_loop(self) -> None:
        """Keep the lease on the running job; a lease found lost stops the job after its current step."""
        while not self._stopping.wait(timeout=self.renew_every_s):
            job_id = self._current
            if job_id is None:
                continue
            try:
                if not self.jobs.renew(job_id) and self._current == job_id:
                    log.warning("ingest job %s: its lease was lost to another replica; stopping it here", job_id)
                    self._lost.set()
            except GraphRAGError as exc:  # Neo4j unreachable: the next renewal tries again within the lease
                log.warning("ingest job %s: cannot renew its lease: %s", job_id, exc.message)

    def _run(self, job: Job) -> None:
        data = self.jobs.read_input(job)
        engine = self.engines.open(job.tenant)
        if job.resumed:
            # Taken over after its runner died: that runner may have stored documents whose vectors it never wrote
            # (they go in after the graph's transaction), and a rerun skips stored documents.
            self.engines.run(engine.indexer.reconcile)
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
        total = len(loaded.documents) + len(loaded.extracted)
        self.jobs.progress(job.id, 0, total)
        if loaded.triples:
            # Through the engine, like documents: cached names are dropped and communities marked stale.
            self.engines.run(engine.add_triples, loaded.triples, job.filename, report, key)
        for start in range(0, len(loaded.extracted), self.step_chunks):  # records need no extraction: a step each
            self.engines.run(engine.ingest_extracted, loaded.extracted[start : start + self.step_chunks], report)
            self.jobs.progress(job.id, start + len(loaded.extracted[start : start + self.step_chunks]), total)
        steps = engine.ingest_steps(loaded.documents, report, self.step_chunks)
        while True:
            if self._lost.is_set():
                return  # the replica holding the lease now runs it
            if self._stopping.is_set():
                self.jobs.release(job.id)  # replicas: back in the queue for another at once; one server: at restart
                return
            done = self.engines.run(next, steps, None)
            if done is None:
                break
            if self.jobs.progress(job.id, len(loaded.extracted) + done, total) is False:
                return  # the lease went to another replica, which runs the job now

        self.engines.run(engine.indexer.save)  # the job's vectors on disk now (a crash before is mended at start-up)
        if total == 0 and not loaded.triples:
            self.jobs.fail(job.id, "the file holds no documents or triples", report.as_dict())
        elif self.jobs.finish(job.id, report.as_dict()) is False:
            log.warning(
                "ingest job %s: finished here after its lease was lost; the replica holding it finishes it", job.id
            )
