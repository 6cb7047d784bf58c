"""django-q2 tasks for exports. They receive ids, never content."""

from __future__ import annotations

from compliance.exports import jobs
from dmvault.ops.jobs import contained_job


@contained_job("export.failed", "export")
def run_export(job_id: int) -> dict[str, object]:
    job = jobs.run_job(job_id)
    return {"export": job_id, "status": job.status, "messages": job.counts.get("messages", 0)}
