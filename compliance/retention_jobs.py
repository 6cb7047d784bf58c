"""Retention runs asked for through the API or the UI, carried out by a django-q2 worker.

A run can delete hundreds of thousands of messages (a minute and a half per half million at the
last benchmark), far longer than a request may take, so the request only records a
``RetentionJob`` and queues ``compliance.tasks.run_retention_job`` with the job's id (after the
request's transaction commits: a worker never sees a job that was rolled back). The worker calls
``compliance.retention.run`` exactly as the command and the daily schedule do, so batches,
resumption, holds, locks, the certificate and the audit event are the same.

One job at a time per scope: while a job for the same policy filter (or for all policies) is
queued or running, ``queue_run`` refuses with ``RetentionBusy`` (two workers must not drive the
same run). A job still ``running`` after the job timeout (``DMVAULT_JOB_TIMEOUT``) lost its
worker: a re-delivered task takes it over, and a new request marks it failed and queues a new
job; either way ``retention.run`` continues the unfinished run where its last batch committed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from compliance.engine_models import RetentionJob, RetentionRun

log = logging.getLogger(__name__)
ACTIVE = (RetentionJob.Status.QUEUED, RetentionJob.Status.RUNNING)


class RetentionBusy(Exception):
    def __init__(self, job: RetentionJob) -> None:
        self.job = job
        super().__init__(f"retention job {job.id} is already {job.status}")


def queue_run(*, policy_id: int | None = None, requested_by: Any = None, queue: bool = True) -> RetentionJob:
    """Record a job and queue it once the current transaction commits (``queue=False``: only record)."""
    with transaction.atomic():
        busy = (
            RetentionJob.objects.select_for_update()
            .filter(policy_id=policy_id, status__in=ACTIVE)
            .order_by("created_at")
            .first()
        )
        if busy is not None and busy.status == RetentionJob.Status.RUNNING and _lost(busy):
            RetentionJob.objects.filter(id=busy.id).update(
                status=RetentionJob.Status.FAILED, error="worker lost", finished_at=timezone.now()
            )
        elif busy is not None:
            raise RetentionBusy(busy)
        job = RetentionJob.objects.create(policy_id=policy_id, requested_by=requested_by)
    if queue:
        transaction.on_commit(lambda: _enqueue(job.id))
    return job


def _lost_before() -> datetime:
    """A job started before this has outlived the job timeout: its worker is gone."""
    timeout = settings.Q_CLUSTER.get("timeout", 3600)
    return timezone.now() - timedelta(seconds=timeout if isinstance(timeout, int) else 3600)


def _lost(job: RetentionJob) -> bool:
    return job.started_at is not None and job.started_at < _lost_before()


def _enqueue(job_id: int) -> None:
    from django_q.tasks import async_task

    async_task("compliance.tasks.run_retention_job", job_id, task_name=f"retention-{job_id}")


def run_job(job_id: int) -> RetentionJob:
    """What the worker does: run retention for the job, recording its progress and outcome."""
    from compliance import retention

    now, lost = timezone.now(), _lost_before()
    taken = (
        RetentionJob.objects.filter(id=job_id)
        .filter(
            Q(status=RetentionJob.Status.QUEUED)
            | Q(status=RetentionJob.Status.RUNNING, started_at__lt=lost)  # re-delivered after a worker died
        )
        .update(status=RetentionJob.Status.RUNNING, started_at=now)
    )
    job = RetentionJob.objects.select_related("requested_by").get(id=job_id)
    if not taken:  # already taken (a re-delivered task) or finished
        return job

    def started(run_row: RetentionRun) -> None:
        RetentionJob.objects.filter(id=job_id).update(run=run_row)

    try:
        result = retention.run(policy_id=job.policy_id, actor=job.requested_by, on_start=started)
    except Exception as exc:
        # Only the exception's type: a message could quote data.
        log.error("retention job %s failed (%s)", job_id, type(exc).__name__)
        RetentionJob.objects.filter(id=job_id).update(
            status=RetentionJob.Status.FAILED, error=type(exc).__name__[:300], finished_at=timezone.now()
        )
        return RetentionJob.objects.get(id=job_id)
    counts = dict(result.counts)
    counts.update(
        planned_delete=len(result.plan.delete_ids),
        planned_redact=len(result.plan.redact_ids),
        blocked_by_hold=result.plan.blocked_by_hold,
        blocked_by_lock=result.plan.blocked_by_lock,
    )
    RetentionJob.objects.filter(id=job_id).update(
        status=RetentionJob.Status.DONE,
        counts=counts,
        certificate=result.certificate,
        finished_at=timezone.now(),
    )
    return RetentionJob.objects.get(id=job_id)
