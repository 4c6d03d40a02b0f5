"""Ingest jobs that outlive the process that accepted them.

A job is an uploaded file kept on disk (``<data_dir>/jobs/<id>/upload<suffix>``) plus a row in
``<data_dir>/jobs.sqlite3`` with its tenant, status, progress and per-file problems. The file is written (and
fsynced) before the row says "queued", so a job the server has acknowledged always has its input. A server that
starts finds jobs left "running" by one that died and queues them again (``resumed`` counts how often): ingestion
is idempotent, so running a job again finishes it without duplicates. A job whose input is gone is marked failed,
never dropped.

That is the single-server store. API replicas sharing Neo4j keep jobs there instead (server.neo4j_job_store), with
leases in place of the restart rule; both offer the same calls to server.jobs.JobRunner.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from graphrag.errors import InputError, StoreError
from server.sqlite_file import sqlite_file

__all__ = ["Job", "JobStore", "new_job", "now_iso"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, filename TEXT NOT NULL, suffix TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    documents_total INTEGER NOT NULL DEFAULT 0, documents_done INTEGER NOT NULL DEFAULT 0,
    resumed INTEGER NOT NULL DEFAULT 0, report TEXT, error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, created_at);
"""
_COLUMNS = (
    "id, tenant, filename, suffix, status, created_at, updated_at, documents_total, documents_done, resumed, "
    "report, error"
)
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,10}$")


@dataclass(frozen=True, slots=True)
class Job:
    """One ingest job as stored. ``status``: queued, running, succeeded or failed."""

    id: str
    tenant: str
    filename: str
    suffix: str
    status: str
    created_at: str
    updated_at: str
    documents_total: int = 0
    documents_done: int = 0
    resumed: int = 0
    report: dict | None = field(default=None, hash=False)
    error: str | None = None


def now_iso() -> str:
    """The time a job row records: UTC, ISO 8601 to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_job(tenant: str, filename: str) -> Job:
    """A queued job for an upload named ``filename``; InputError when the name has no usable suffix."""
    suffix = Path(filename).suffix.lower()
    if not _SUFFIX.match(suffix):
        raise InputError(f"{filename!r} has no usable file suffix (.txt, .md, .html, .pdf, .jsonl, .csv)")
    now = now_iso()
    return Job(secrets.token_hex(10), tenant, filename[:300], suffix, "queued", now, now)


def _job(row) -> Job:
    *head, report, error = row
    return Job(*head, report=json.loads(report) if report else None, error=error)


class JobStore:
    """The jobs of one data directory (all tenants; every read names the tenant it acts for)."""

    leased = False  # one server: a job left running is queued again at its next start

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "jobs"
        self.path = data_dir / "jobs.sqlite3"

    def _connect(self):
        return sqlite_file(self.path, _SCHEMA, "job")

    def input_path(self, job: Job) -> Path:
        """Where the job's uploaded file is kept."""
        return self.root / job.id / f"upload{job.suffix}"

    def create(self, tenant: str, filename: str, data: bytes) -> Job:
        """Keep the upload on disk (fsynced), then queue the job."""
        job = new_job(tenant, filename)
        target = self.input_path(job)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise StoreError(f"cannot keep the upload for a job: {exc}") from exc
        with self._connect() as db:
            db.execute(
                f"INSERT INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, 0, NULL, NULL)",
                (job.id, job.tenant, job.filename, job.suffix, job.status, job.created_at, job.updated_at),
            )
        return job

    def get(self, job_id: str, tenant: str) -> Job | None:
        """The tenant's job with that id (another tenant's job is None, like a missing one)."""
        with self._connect() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ? AND tenant = ?", (job_id, tenant)).fetchone()
        return _job(row) if row else None

    def read_input(self, job: Job) -> bytes:
        """The job's uploaded file."""
        try:
            return self.input_path(job).read_bytes()
        except OSError as exc:
            raise StoreError(f"the uploaded file of job {job.id} cannot be read: {exc}") from exc

    def renew(self, job_id: str) -> bool:
        """Keep the claim on a running job (one server: nobody else can take it)."""
        return True

    def release(self, job_id: str) -> None:
        """A job left unfinished by a server that is stopping stays "running": the next start resumes it."""

    def close(self) -> None:
        """Nothing to release: every call opens and closes its own connection."""

    def claim(self) -> Job | None:
        """The oldest queued job, now marked running."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE status = 'queued' ORDER BY created_at, id LIMIT 1"
            ).fetchone()
            if row is None:
                db.execute("COMMIT")
                return None
            db.execute("UPDATE jobs SET status = 'running', updated_at = ? WHERE id = ?", (now_iso(), row[0]))
            db.execute("COMMIT")
        return _job(row)

    def progress(self, job_id: str, done: int, total: int) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET documents_done = ?, documents_total = ?, updated_at = ? WHERE id = ?",
                (done, total, now_iso(), job_id),
            )

    def finish(self, job_id: str, report: dict) -> None:
        """Mark the job succeeded with its ingest report, and drop its kept input."""
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET status = 'succeeded', report = ?, updated_at = ? WHERE id = ?",
                (json.dumps(report), now_iso(), job_id),
            )
        shutil.rmtree(self.root / job_id, ignore_errors=True)

    def fail(self, job_id: str, message: str, report: dict | None = None) -> None:
        """Mark the job failed, saying why (its input is kept for a look)."""
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET status = 'failed', error = ?, report = ?, updated_at = ? WHERE id = ?",
                (message, json.dumps(report) if report else None, now_iso(), job_id),
            )

    def recover(self) -> tuple[int, int]:
        """After a restart: jobs left running go back to the queue, or fail when their input is gone.
        Returns ``(requeued, failed)``."""
        requeued = failed = 0
        with self._connect() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE status IN ('running', 'queued')").fetchall()
        for job in map(_job, rows):
            if not self.input_path(job).exists():
                self.fail(job.id, "the server stopped during this job and its uploaded file is gone; upload it again")
                failed += 1
            elif job.status == "running":
                with self._connect() as db:
                    db.execute(
                        "UPDATE jobs SET status = 'queued', resumed = resumed + 1, updated_at = ? WHERE id = ?",
                        (now_iso(), job.id),
                    )
                requeued += 1
        return requeued, failed
