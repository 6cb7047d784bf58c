"""Retention runs through the API are django-q2 jobs: the request queues, a worker deletes.

* The admin's request answers 202 with a queued job and deletes nothing; the task queued after
  the commit receives the job id and nothing else.
* A worker (django-q2 in synchronous mode: the real task path, run in-process) carries it out:
  the job reports done, the run's counts and a certificate that verifies.
* One job per scope at a time (409 ``retention_busy``); a job whose worker died is replaced.
* A failing run leaves a failed job that names the exception's type, never its text.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_q.conf import Conf

from compliance import certificates, retention, retention_jobs
from compliance.engine_models import Certificate, RetentionJob
from compliance.tasks import run_retention_job
from tests.api.conftest import assert_error_shape, assert_no_content

pytestmark = pytest.mark.django_db


@pytest.fixture
def expiring(archive: Any) -> Any:
    """A 30-day policy over the whole archive: every message of the fixture (2025-03) is due."""
    return retention.create_policy(name="30 days", period_days=30)


def test_the_request_queues_a_job_with_its_id_only(
    personas, archive, expiring, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        "django_q.tasks.async_task", lambda *args, **kwargs: queued.append((args, kwargs)) or "task-id"
    )
    admin = personas["admin"].client
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post("/api/v1/retention/run", {}, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "queued" and job["requested_by"] == "admin" and job["run_id"] is None
    assert_no_content(response.content)
    assert retention.plan().delete_ids == archive.message_ids  # nothing deleted by the request
    [(args, kwargs)] = queued
    assert args == ("compliance.tasks.run_retention_job", int(job["id"]))
    assert kwargs == {"task_name": f"retention-{job['id']}"}
    listed = admin.get("/api/v1/retention/jobs").json()["results"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_a_worker_runs_the_job_and_the_api_reports_it_done(
    personas, archive, expiring, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    monkeypatch.setattr(Conf, "SYNC", True)  # django-q2 runs the queued task in-process
    admin = personas["admin"].client
    with django_capture_on_commit_callbacks(execute=True):
        job_id = admin.post("/api/v1/retention/run", {}, format="json").json()["id"]
    job = admin.get(f"/api/v1/retention/jobs/{job_id}").json()
    assert job["status"] == "done", job
    assert job["started_at"] and job["finished_at"] and job["run_id"] and job["error"] == ""
    assert job["counts"]["messages"] == job["counts"]["planned_delete"] == len(archive.message_ids)
    assert (job["counts"]["blocked_by_hold"], job["counts"]["blocked_by_lock"]) == (0, 0)
    cert = Certificate.objects.get(id=job["certificate_id"])
    assert certificates.verify_certificate(cert)
    assert certificates.body_of(cert)["counts"]["messages_deleted"] == len(archive.message_ids)
    assert retention.plan().delete_ids == []
    # the task delivered again (a broker re-delivery) does nothing more
    assert run_retention_job(int(job_id))["status"] == "done"
    assert Certificate.objects.filter(kind="retention").count() == 1


def test_one_job_per_scope_at_a_time(personas, archive, expiring) -> None:
    admin = personas["admin"].client
    first = admin.post("/api/v1/retention/run", {}, format="json")
    assert first.status_code == 202
    busy = assert_error_shape(admin.post("/api/v1/retention/run", {}, format="json"), 409, "retention_busy")
    assert first.json()["id"] in busy["message"]
    other = admin.post("/api/v1/retention/run", {"policy_id": expiring.id}, format="json")
    assert other.status_code == 202 and other.json()["policy_id"] == str(expiring.id)
    # a job whose worker died (running past the job timeout) no longer blocks: it is marked failed
    RetentionJob.objects.filter(id=first.json()["id"]).update(
        status="running", started_at=timezone.now() - timedelta(days=1)
    )
    again = admin.post("/api/v1/retention/run", {}, format="json")
    assert again.status_code == 202
    lost = admin.get(f"/api/v1/retention/jobs/{first.json()['id']}").json()
    assert (lost["status"], lost["error"]) == ("failed", "worker lost")
    # and a re-delivered task takes a lost job over and finishes the run
    RetentionJob.objects.filter(id=again.json()["id"]).update(
        status="running", started_at=timezone.now() - timedelta(days=1)
    )
    assert run_retention_job(int(again.json()["id"]))["status"] == "done"


def test_a_failed_run_names_the_error_type_only(personas, archive, expiring, monkeypatch) -> None:
    def explode(**kwargs: Any) -> None:
        raise RuntimeError("Zanzibarquokka meets at the lighthouse")

    monkeypatch.setattr(retention, "run", explode)
    job = retention_jobs.queue_run(requested_by=personas["admin"].user, queue=False)
    assert run_retention_job(job.id)["status"] == "failed"
    response = personas["admin"].client.get(f"/api/v1/retention/jobs/{job.id}")
    body = response.json()
    assert (body["status"], body["error"]) == ("failed", "RuntimeError")
    assert_no_content(response.content)
    # a failed job frees its scope
    assert personas["admin"].client.post("/api/v1/retention/run", {}, format="json").status_code == 202


def test_only_administrators_follow_jobs(personas, archive, expiring) -> None:
    job = retention_jobs.queue_run(requested_by=personas["admin"].user, queue=False)
    for name in ("officer", "lawyer", "auditor", "ingest"):
        assert_error_shape(personas[name].client.get(f"/api/v1/retention/jobs/{job.id}"), 403)
    assert_error_shape(personas["outsider"].client.get(f"/api/v1/retention/jobs/{job.id}"), 401)
    assert_error_shape(personas["admin"].client.get("/api/v1/retention/jobs/4242"), 404)


def test_the_review_ui_queues_a_job_and_lists_it(personas, archive, expiring, monkeypatch) -> None:
    from django.test import Client

    from tests.api.conftest import PASSWORD

    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: "task-id")
    client = Client(REMOTE_ADDR="10.0.0.9")
    assert client.post("/login/", {"username": "admin", "password": PASSWORD}).status_code == 302
    response = client.post("/retention/run/")
    assert response.status_code == 302
    [job] = RetentionJob.objects.all()
    assert (job.status, job.requested_by_id) == ("queued", personas["admin"].user.pk)
    assert retention.plan().delete_ids == archive.message_ids
    page = client.get("/retention/").content.decode()
    assert "Enforce retention now" in page and "queued" in page
    assert client.post("/retention/run/").status_code == 409
    lawyer = Client(REMOTE_ADDR="10.0.0.9")
    lawyer.post("/login/", {"username": "lawyer", "password": PASSWORD})
    assert lawyer.post("/retention/run/").status_code == 403
