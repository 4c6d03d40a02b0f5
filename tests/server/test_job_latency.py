"""A multi-megabyte single document ingested as a job while another tenant keeps asking: every question is answered
(none times out behind the job), and the job finishes. The figures come from scripts/bench_job_latency.py, the same
code the benchmark docs quote."""

from __future__ import annotations

from tests.scripts import load_script


def test_questions_from_another_tenant_are_answered_while_a_large_document_job_runs(tmp_path):
    summary = load_script("bench_job_latency").run(2.0, tmp_path, timeout_s=30.0)
    assert summary["document_mb"] >= 2.0 and summary["job_status"] == "succeeded", summary
    assert summary["chunks"] > 1000  # one document, read in many bounded steps
    assert summary["questions"] >= 20 and summary["failed"] == 0, summary
    assert summary["answered"] == summary["questions"]
