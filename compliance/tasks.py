"""django-q2 tasks of the compliance engine. They receive ids, never content."""

from __future__ import annotations

from compliance import retention_jobs


def run_retention_job(job_id: int) -> dict[str, object]:
    job = retention_jobs.run_job(job_id)
    return {"retention_job": str(job_id), "status": job.status, "certificate": str(job.certificate_id or "")}
