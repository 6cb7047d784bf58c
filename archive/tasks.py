"""Background jobs (django-q2). Tasks receive ids, never content, and fail without it
(``dmvault.ops.jobs``)."""

from __future__ import annotations

from django_q.tasks import async_task

from archive import ingest
from dmvault.ops.jobs import contained_job


@contained_job("ingest.failed", "source")
def ingest_source(source_id: int) -> dict[str, object]:
    try:
        source = ingest.run(source_id)
    except ingest.IngestError:
        return {"source": source_id, "status": "failed"}
    return {"source": source_id, "status": source.status, "messages": source.summary.get("messages", 0)}


def queue_ingest(source_id: int) -> str:
    return str(async_task("archive.tasks.ingest_source", source_id, task_name=f"ingest-{source_id}"))
