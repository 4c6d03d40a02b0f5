"""Ingest jobs in Neo4j, for API replicas that share one data set.

A job is ``(:GraphRAGJob)`` with the fields of server.job_store.Job, and its upload is kept as
``(:GraphRAGJobInput {job_id, part, data})`` byte parts, written in the same transaction as the job: a job any
replica acknowledged has its input, whichever replica runs it.

Replicas claim jobs with a lease: the claimer writes its name and an expiry (Neo4j's clock, so replicas' clocks
need not agree) and renews it while it works. A running job whose lease has passed (its replica died or lost
Neo4j) is claimed again by any replica, and ``resumed`` counts it: ingestion is idempotent, so running a job
again finishes it without duplicates. Every change to a job first takes the job node's write lock and only then
reads its state, so two replicas never both claim one job, and a replica that lost its lease cannot write to it.
"""

from __future__ import annotations

import json
import os
import secrets
import socket

from graphrag.graph_store.neo4j_driver import Neo4jClient
from server.job_store import Job, new_job, now_iso

__all__ = ["NEO4J_JOB_SCHEMA", "Neo4jJobStore"]

NEO4J_JOB_SCHEMA = (
    "CREATE CONSTRAINT graphrag_job_id IF NOT EXISTS FOR (j:GraphRAGJob) REQUIRE j.id IS UNIQUE",
    "CREATE INDEX graphrag_job_status IF NOT EXISTS FOR (j:GraphRAGJob) ON (j.status)",
    "CREATE INDEX graphrag_job_input IF NOT EXISTS FOR (p:GraphRAGJobInput) ON (p.job_id)",
)
_PART_BYTES = 1 << 20  # a byte-array property per MiB of upload
_FIELDS = (
    "id",
    "tenant",
    "filename",
    "suffix",
    "status",
    "created_at",
    "updated_at",
    "documents_total",
    "documents_done",
    "resumed",
    "report",
    "error",
)
_RETURN = "j {" + ", ".join(f".{name}" for name in _FIELDS) + "} AS job"
# The node's write lock first (setting a property takes it until the transaction ends), then its state is read:
# a WHERE after this sees what any transaction that held the lock before committed.
_LOCKED = "MATCH (j:GraphRAGJob {id: $id}) SET j._lock = true REMOVE j._lock WITH j "
_CLAIMABLE = "(j.status = 'queued' OR (j.status = 'running' AND j.lease_expires < timestamp()))"
_MINE = "j.status = 'running' AND j.lease_owner = $owner"


def _job(row: dict) -> Job:
    values = dict(row)
    report = values.pop("report", None)
    return Job(**values, report=json.loads(report) if report else None)


class Neo4jJobStore:
    """The jobs of every tenant, shared by all replicas; this instance claims jobs as ``owner``."""

    leased = True  # a job is held under a lease; one left running is claimed again when it passes

    def __init__(self, client: Neo4jClient, lease_s: float, owner: str | None = None) -> None:
        self.client = client
        self.lease_ms = int(lease_s * 1000)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def create(self, tenant: str, filename: str, data: bytes) -> Job:
        """Queue a job with its upload, both in one transaction."""
        job = new_job(tenant, filename)
        parts = [data[at : at + _PART_BYTES] for at in range(0, len(data), _PART_BYTES)] or [b""]

        def work(tx):
            tx.run(
                """CREATE (j:GraphRAGJob {id: $id, tenant: $tenant, filename: $filename, suffix: $suffix,
                   status: 'queued', created_at: $at, updated_at: $at, documents_total: 0, documents_done: 0,
                   resumed: 0})""",
                id=job.id,
                tenant=job.tenant,
                filename=job.filename,
                suffix=job.suffix,
                at=job.created_at,
            )
            for number, part in enumerate(parts):
                tx.run(
                    "CREATE (:GraphRAGJobInput {job_id: $id, part: $n, data: $data})", id=job.id, n=number, data=part
                )

        self.client.write(work)
        return job

    def get(self, job_id: str, tenant: str) -> Job | None:
        """The tenant's job with that id (another tenant's job is None, like a missing one)."""
        rows = self.client.run(
            f"MATCH (j:GraphRAGJob {{id: $id, tenant: $tenant}}) RETURN {_RETURN}", id=job_id, tenant=tenant
        )
        return _job(rows[0]["job"]) if rows else None

    def read_input(self, job: Job) -> bytes:
        """The job's uploaded file, from its parts."""
        rows = self.client.run(
            "MATCH (p:GraphRAGJobInput {job_id: $id}) RETURN p.data AS data ORDER BY p.part", id=job.id
        )
        return b"".join(bytes(r["data"]) for r in rows)

    def claim(self) -> Job | None:
        """The oldest job that is queued or whose lease has passed, now running under this replica's lease."""

        def work(tx):
            candidates = tx.run(
                f"MATCH (j:GraphRAGJob) WHERE {_CLAIMABLE} RETURN j.id AS id ORDER BY j.created_at, j.id LIMIT 8"
            ).data()
            for candidate in candidates:
                row = tx.run(
                    f"""{_LOCKED} WHERE {_CLAIMABLE}
                    SET j.resumed = j.resumed + CASE WHEN j.status = 'running' THEN 1 ELSE 0 END
                    SET j.status = 'running', j.lease_owner = $owner, j.lease_expires = timestamp() + $lease,
                        j.updated_at = $at
                    RETURN {_RETURN}""",
                    id=candidate["id"],
                    owner=self.owner,
                    lease=self.lease_ms,
                    at=now_iso(),
                ).single()
                if row is not None:
                    return row["job"]
            return None

        row = self.client.write(work)
        return _job(row) if row else None

    def renew(self, job_id: str) -> bool:
        """Extend this replica's lease on a running job; False when the lease was lost (another replica took the
        job over after it expired): the caller must stop working on it."""
        return self._update(job_id, "SET j.lease_expires = timestamp() + $lease", lease=self.lease_ms)

    def release(self, job_id: str) -> bool:
        """Hand a job this replica is stopping in the middle of back to the queue, so another replica resumes it
        now rather than when the lease passes."""
        return self._update(
            job_id, "SET j.status = 'queued', j.resumed = j.resumed + 1 REMOVE j.lease_owner, j.lease_expires"
        )

    def progress(self, job_id: str, done: int, total: int) -> bool:
        """Record progress (and renew the lease); False when the lease was lost."""
        return self._update(
            job_id,
            "SET j.documents_done = $done, j.documents_total = $total, j.lease_expires = timestamp() + $lease",
            done=done,
            total=total,
            lease=self.lease_ms,
        )

    def finish(self, job_id: str, report: dict) -> bool:
        """Mark the job succeeded with its report and drop its kept input; False when the lease was lost."""
        return self._update(
            job_id,
            """SET j.status = 'succeeded', j.report = $report REMOVE j.lease_owner, j.lease_expires
               WITH j MATCH (p:GraphRAGJobInput {job_id: j.id}) DELETE p""",
            report=json.dumps(report),
        )

    def fail(self, job_id: str, message: str, report: dict | None = None) -> bool:
        """Mark the job failed, saying why (its input is kept for a look); False when the lease was lost."""
        return self._update(
            job_id,
            "SET j.status = 'failed', j.error = $message, j.report = $report REMOVE j.lease_owner, j.lease_expires",
            message=message,
            report=json.dumps(report) if report else None,
        )

    def recover(self) -> tuple[int, int]:
        """Nothing to do at start-up: a job whose replica died is claimed again once its lease passes."""
        return 0, 0

    def close(self) -> None:
        self.client.close()

    def _update(self, job_id: str, change: str, **params) -> bool:
        """Apply ``change`` to a job this replica holds, under the job's lock; whether it still held it."""

        def work(tx):
            held = tx.run(
                f"{_LOCKED} WHERE {_MINE} SET j.updated_at = $at RETURN j.id AS id",
                id=job_id,
                owner=self.owner,
                at=now_iso(),
            ).single()
            if held is None:
                return False
            tx.run(f"MATCH (j:GraphRAGJob {{id: $id}}) {change}", id=job_id, **params)
            return True

        return self.client.write(work)
