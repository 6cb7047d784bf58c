"""Background jobs fail without content (dmvault/ops/jobs.py).

django-q2 keeps a failed job's exception text and traceback in ``django_q_task.result`` and
logs it. Here jobs fail on hostile or malformed input, run through django-q2's real broker,
worker and monitor in this process, and afterwards no word of the input is in the django_q
tables, in the log output (written through DMVault's own formatters) or in the job's error;
what remains says which job, which code and which exception type."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Callable, Iterator
from multiprocessing import Queue, Value
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from archive import ingest
from archive.models import Source
from compliance.exports import jobs as export_jobs
from compliance.models import AuditEvent
from dmvault.ops.jobs import safe_result
from dmvault.ops.logging import JsonFormatter, PlainFormatter

pytestmark = pytest.mark.django_db

TEXT = "Zanzibarquokka meets at the lighthouse"
NAME = "Jane Quillfeather"
SECRETS = ("Zanzibarquokka", "lighthouse", "Quillfeather")


def _telegram_export(path: Path) -> Path:
    chat = {
        "name": NAME,
        "type": "personal_chat",
        "id": 4242,
        "messages": [
            {
                "id": 1,
                "type": "message",
                "date": "2025-03-01T10:00:00",
                "date_unixtime": "1740823200",
                "from": NAME,
                "from_id": "user5000",
                "text": TEXT,
            }
        ],
    }
    path.write_text(json.dumps({"personal_information": {"user_id": 1000}, "chats": {"list": [chat]}}))
    return path


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[Any, str]]]:
    """Queue a job through the ORM broker, take it as a cluster's pusher does, run it in
    django-q2's worker and save it through its monitor; return the Task row and the log."""
    import django_q.monitor
    import django_q.worker
    from django_q.brokers import get_broker
    from django_q.models import Task
    from django_q.signing import SignedPackage
    from django_q.tasks import async_task

    # The worker and monitor close "old" connections between jobs; here that would be the
    # test's own transaction.
    monkeypatch.setattr(django_q.worker, "close_old_django_connections", lambda: None)
    monkeypatch.setattr(django_q.monitor, "close_old_django_connections", lambda: None)
    out = io.StringIO()
    handlers = [logging.StreamHandler(out), logging.StreamHandler(out)]
    handlers[0].setFormatter(PlainFormatter())
    handlers[1].setFormatter(JsonFormatter())
    root = logging.getLogger()
    for h in handlers:
        root.addHandler(h)

    def run(func: str, *args: Any, name: str) -> tuple[Any, str]:
        broker = get_broker()
        async_task(func, *args, task_name=name, broker=broker)
        [(ack_id, payload)] = broker.dequeue()
        task = SignedPackage.loads(payload)
        task["ack_id"] = ack_id
        tasks: Queue[Any] = Queue()
        results: Queue[Any] = Queue()
        tasks.put(task)
        tasks.put("STOP")
        django_q.worker.worker(tasks, results, Value("f", -1))
        results.put("STOP")
        django_q.monitor.monitor(results, broker)
        return Task.objects.get(name=name), out.getvalue()

    yield run
    for h in handlers:
        root.removeHandler(h)


def _django_q_tables() -> str:
    from django_q.models import OrmQ, Schedule, Task

    rows = [*Task.objects.values(), *OrmQ.objects.values(), *Schedule.objects.values()]
    return json.dumps(rows, default=str)


def _clean(*texts: str) -> bool:
    return not any(secret in text for secret in SECRETS for text in texts)


def test_an_import_that_breaks_on_a_message_keeps_no_word_of_it(
    tmp_path: Path, worker: Any, monkeypatch: Any
) -> None:
    # A writer bug whose exception quotes the message it choked on.
    def quoting_writer(source: Source, conversations: Any, **kwargs: Any) -> Any:
        for conv in conversations:
            for message in conv.messages:
                raise ValueError(f"cannot store {message.text!r} from {conv.title!r}")
        raise AssertionError("the export held no message")

    monkeypatch.setattr(ingest, "write_parallel", quoting_writer)
    source = ingest.receive_path(_telegram_export(tmp_path / "result.json"), platform="telegram")

    task, log = worker("archive.tasks.ingest_source", source.id, name=f"ingest-{source.id}")

    source.refresh_from_db()
    assert source.status == Source.Status.FAILED
    assert source.error == "internal error (ValueError); the archive is unchanged [ingest.internal]"
    assert task.success is False
    assert task.result == f"DMVJOB code=ingest.failed error=ValueError source={source.id}"
    assert f"DMVJOB code=ingest.failed error=ValueError source={source.id}" in log
    assert "builtins.ValueError (message withheld)" in log and "quoting_writer" in log  # where, not what
    assert _clean(_django_q_tables(), log, source.error, json.dumps(source.summary))


def test_a_hostile_export_naming_a_person_fails_clearly_and_names_nobody(tmp_path: Path, worker: Any) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("result.json", "{}")
        zf.writestr(f"../{NAME}/Zanzibarquokka.txt", TEXT)
    source = ingest.receive_path(evil)

    task, log = worker("archive.tasks.ingest_source", source.id, name=f"ingest-{source.id}")

    source.refresh_from_db()
    assert source.status == Source.Status.FAILED
    assert source.error == (
        "path traversal ('..') inside the export; refusing it (a .txt file in the export) [ingest.bad_export]"
    )
    assert task.success is True and task.result == {"source": source.id, "status": "failed"}
    assert _clean(_django_q_tables(), log, source.error, json.dumps(source.summary))
    # the full text, file name included, stays available to support, sealed with the source
    assert NAME in ingest.error_detail(source)


def test_an_export_that_breaks_on_a_decrypted_title_keeps_no_word_of_it(
    worker: Any, monkeypatch: Any
) -> None:
    lawyer = get_user_model().objects.create_user(username="lawyer", password="x-x-x-x-x-x", role="legal")

    def quoting_production(request: Any, out: Any, **kwargs: Any) -> Any:
        raise ValueError(f"bad or repeated production path '{NAME}/{TEXT}.eml'")

    monkeypatch.setattr(export_jobs, "build_production", quoting_production)
    job = export_jobs.create_export(requested_by=lawyer, purpose="inquiry", query="harbour", queue=False)

    task, log = worker("compliance.exports.tasks.run_export", job.id, name=f"export-{job.id}")

    job.refresh_from_db()
    assert job.status == "failed" and job.error == "internal error (ValueError) [export.internal]"
    assert task.result == {"export": job.id, "status": "failed", "messages": 0}
    event = AuditEvent.objects.get(action="export.production", target_id=str(job.id))
    assert event.outcome == "error" and event.detail == "failed: ValueError"
    assert _clean(_django_q_tables(), log, job.error)


def leaky_job(source_id: int) -> None:
    """A job DMVault did not wrap (queued by hand, or a schedule)."""
    raise RuntimeError(f"source {source_id}: {TEXT}")


def test_a_job_outside_the_wrapper_still_keeps_no_text(worker: Any) -> None:
    task, log = worker("tests.ops.test_job_errors.leaky_job", 7, name="leaky-7")

    assert task.success is False
    assert task.result == "DMVJOB code=job.failed error=withheld (the job's error text is not kept)"
    assert "Failed 'tests.ops.test_job_errors.leaky_job' (leaky-7)" in log
    assert _clean(_django_q_tables(), log)


@pytest.mark.parametrize(
    ("result", "kept"),
    [
        (
            "DMVJOB code=ingest.failed error=ValueError source=12 : Traceback ...",
            "DMVJOB code=ingest.failed error=ValueError source=12",
        ),
        (
            "Task exceeded maximum timeout value (3600 seconds) : Traceback ...",
            "Task exceeded maximum timeout value (3600 seconds)",
        ),
        # forged lines keep only what the pattern allows: codes, type names and numbers
        (f"DMVJOB code=x error=Y : {TEXT}", "DMVJOB code=x error=Y"),
        (
            f"DMVJOB code=x error=Y source=1 {TEXT} : Traceback",
            "DMVJOB code=job.failed error=withheld (the job's error text is not kept)",
        ),
        (f"{TEXT} : Traceback", "DMVJOB code=job.failed error=withheld (the job's error text is not kept)"),
        (None, "DMVJOB code=job.failed error=withheld (the job's error text is not kept)"),
    ],
)
def test_what_survives_of_a_failed_result(result: Any, kept: str) -> None:
    assert safe_result(result) == kept


def test_an_error_reporter_that_would_ship_exception_messages_fails_the_system_check(settings: Any) -> None:
    from dmvault.ops.checks import check_job_errors

    assert check_job_errors() == []
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "error_reporter": {"sentry": {"dsn": "https://x@y/1"}}}
    assert [e.id for e in check_job_errors()] == ["dmvault_ops.E004"]
