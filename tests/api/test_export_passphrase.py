"""The passphrase of an AES-encrypted production is delivered separately from the zip: once, to
the requester (a lawyer with a declared purpose), audited, and never stored in the clear."""

from __future__ import annotations

import io
import logging
import zipfile
from typing import Any

import pytest
import pyzipper
from django.db import connection
from django.test import Client

from accounts.roles import Role
from archive.models import Source
from compliance.exports import jobs
from compliance.exports.models import ExportJob
from compliance.exports.verify import verify_production
from compliance.models import AuditEvent
from tests.api.conftest import PASSWORD, assert_error_shape, declare_purpose, make_persona

pytestmark = pytest.mark.django_db


def _encrypted_export(persona: Any, archive: Any, *, run: bool = True) -> str:
    Source.objects.filter(id=archive.source.id).update(status=Source.Status.DONE)
    created = persona.client.post(
        "/api/v1/exports",
        {
            "purpose": "Production to opposing counsel",
            "conversation_ids": [archive.conversation.id],
            "formats": ["csv", "native"],
            "encrypt_zip": True,
        },
        format="json",
    )
    assert created.status_code == 202, created.content
    job_id = str(created.json()["id"])
    if run:
        jobs.run_job(int(job_id))  # what the django-q2 worker does (it receives only the id)
    return job_id


def _download(persona: Any, job_id: str) -> bytes:
    response = persona.client.get(f"/api/v1/exports/{job_id}/download")
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def _last_event() -> AuditEvent:
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


def test_the_requester_gets_the_passphrase_once_and_it_opens_the_zip(personas, archive, tmp_path) -> None:
    lawyer = personas["lawyer"]
    declare_purpose(lawyer, "M-77")
    job_id = _encrypted_export(lawyer, archive)
    assert lawyer.client.get(f"/api/v1/exports/{job_id}").json()["passphrase"] == "available"
    data = _download(lawyer, job_id)
    with zipfile.ZipFile(io.BytesIO(data)) as plain, pytest.raises(RuntimeError):
        plain.read("csv/messages.csv")  # the members are encrypted

    before = AuditEvent.objects.count()
    revealed = lawyer.client.post(f"/api/v1/exports/{job_id}/passphrase")
    assert revealed.status_code == 200, revealed.content
    assert revealed["Cache-Control"] == "no-store"
    passphrase = revealed.json()["passphrase"]
    assert len(passphrase) >= 24

    # A real AES zip reader opens the production with it.
    with pyzipper.AESZipFile(io.BytesIO(data)) as zf:
        zf.setpassword(passphrase.encode())
        assert b"Zanzibarquokka" in zf.read("csv/messages.csv")
        with pytest.raises(RuntimeError):
            zf.setpassword(b"not the passphrase")
            zf.read("csv/messages.csv")
    path = tmp_path / "production.zip"
    path.write_bytes(data)
    assert verify_production(path, passphrase=passphrase).ok

    # One audit event, naming the job and the purpose, without the passphrase.
    assert AuditEvent.objects.count() == before + 1
    event = _last_event()
    assert (event.action, event.outcome, event.target_id, event.matter_ref) == (
        "export.passphrase",
        "allowed",
        job_id,
        "M-77",
    )
    # Once: wiped from the job, the second call is 410 and audited too.
    assert ExportJob.objects.get(id=job_id).passphrase_ct is None
    assert lawyer.client.get(f"/api/v1/exports/{job_id}").json()["passphrase"] == "already_revealed"
    again = lawyer.client.post(f"/api/v1/exports/{job_id}/passphrase")
    assert_error_shape(again, 410, "already_revealed")
    assert passphrase not in again.content.decode()
    assert AuditEvent.objects.count() == before + 3  # the GET above and this refusal
    assert (_last_event().action, _last_event().status_code) == ("export.passphrase", 410)


def test_the_passphrase_is_never_stored_logged_or_audited_in_the_clear(personas, archive, caplog) -> None:
    lawyer = personas["lawyer"]
    declare_purpose(lawyer)
    with caplog.at_level(logging.DEBUG):
        job_id = _encrypted_export(lawyer, archive)
        job = ExportJob.objects.get(id=job_id)
        sealed = bytes(job.passphrase_ct or b"")
        passphrase = lawyer.client.post(f"/api/v1/exports/{job_id}/passphrase").json()["passphrase"]
    assert passphrase.encode() not in sealed
    assert passphrase not in caplog.text
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM compliance_auditevent")
        assert passphrase not in repr(cur.fetchall())
        cur.execute(f"SELECT * FROM {ExportJob._meta.db_table}")
        assert passphrase not in repr(cur.fetchall())
    # Nor inside the production itself.
    data = _download(lawyer, job_id)
    with pyzipper.AESZipFile(io.BytesIO(data)) as zf:
        zf.setpassword(passphrase.encode())
        assert all(passphrase.encode() not in zf.read(name) for name in zf.namelist())


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("officer", 403),
        ("admin", 403),
        ("auditor", 403),
        ("ingest", 403),
        ("outsider", 401),
        ("lawyer2", 404),
    ],
)
def test_nobody_but_the_requester_gets_the_passphrase(personas, archive, who, status) -> None:
    lawyer = personas["lawyer"]
    declare_purpose(lawyer)
    job_id = _encrypted_export(lawyer, archive)
    persona = make_persona("lawyer2", Role.LEGAL) if who == "lawyer2" else personas[who]
    if who in ("officer", "lawyer2"):
        declare_purpose(persona)
    before = AuditEvent.objects.count()
    refused = persona.client.post(f"/api/v1/exports/{job_id}/passphrase")
    assert_error_shape(refused, status)
    assert AuditEvent.objects.count() == before + 1
    assert (_last_event().action, _last_event().status_code) == ("export.passphrase", status)
    # Still there for the requester.
    assert ExportJob.objects.get(id=job_id).passphrase_ct
    assert lawyer.client.post(f"/api/v1/exports/{job_id}/passphrase").status_code == 200


def test_the_requester_needs_a_declared_purpose(personas, archive) -> None:
    lawyer = personas["lawyer"]
    declare_purpose(lawyer)
    job_id = _encrypted_export(lawyer, archive)
    other = make_persona("lawyer-b", Role.LEGAL)
    ExportJob.objects.filter(id=job_id).update(requested_by=other.user)
    refused = other.client.post(f"/api/v1/exports/{job_id}/passphrase")
    assert assert_error_shape(refused, 403)["code"] == "purpose_required"
    assert ExportJob.objects.get(id=job_id).passphrase_ct


def test_no_passphrase_before_the_job_is_done_nor_for_a_plain_zip(personas, archive) -> None:
    lawyer = personas["lawyer"]
    declare_purpose(lawyer)
    pending = _encrypted_export(lawyer, archive, run=False)
    assert lawyer.client.get(f"/api/v1/exports/{pending}").json()["passphrase"] == "not_ready"
    assert_error_shape(lawyer.client.post(f"/api/v1/exports/{pending}/passphrase"), 409, "not_ready")
    plain = lawyer.client.post(
        "/api/v1/exports",
        {
            "purpose": "Plain production here",
            "conversation_ids": [archive.conversation.id],
            "formats": ["csv"],
        },
        format="json",
    ).json()["id"]
    jobs.run_job(int(plain))
    assert lawyer.client.get(f"/api/v1/exports/{plain}").json()["passphrase"] == "not_encrypted"
    assert_error_shape(lawyer.client.post(f"/api/v1/exports/{plain}/passphrase"), 409, "not_encrypted")


# --- the review UI ---------------------------------------------------------------------------------


def _ui(name: str) -> Client:
    client = Client(REMOTE_ADDR="10.0.0.9", HTTP_USER_AGENT="pytest-ui")
    assert client.post("/login/", {"username": name, "password": PASSWORD}).status_code == 302
    response = client.post("/purpose/", {"matter": "M-1", "reason": "Reviewing for the inquiry"})
    assert response.status_code == 302, response.content
    return client


def test_the_export_page_shows_the_passphrase_once_to_the_requester(personas, archive) -> None:
    Source.objects.filter(id=archive.source.id).update(status=Source.Status.DONE)
    lawyer = _ui("lawyer")
    created = lawyer.post(
        "/exports/",
        {"conversation": str(archive.conversation.id), "formats": ["csv"], "encrypt_zip": "on"},
    )
    assert created.status_code == 302, created.content
    job = ExportJob.objects.get()
    assert job.encrypt_zip
    jobs.run_job(job.id)

    page = lawyer.get(f"/exports/{job.id}/").content.decode()
    assert 'id="reveal-passphrase"' in page
    before = AuditEvent.objects.count()
    shown = lawyer.post(f"/exports/{job.id}/passphrase/")
    assert shown.status_code == 200 and shown["Cache-Control"] == "no-store"
    body = shown.content.decode()
    start = body.index('id="passphrase-value">') + len('id="passphrase-value">')
    passphrase = body[start : body.index("</output>", start)]
    data = b"".join(jobs.open_result(ExportJob.objects.get(id=job.id)))
    with pyzipper.AESZipFile(io.BytesIO(data)) as zf:
        zf.setpassword(passphrase.encode())
        assert zf.read("csv/messages.csv")
    assert AuditEvent.objects.count() == before + 1
    assert _last_event().action == "export.passphrase" and _last_event().outcome == "allowed"

    later = lawyer.get(f"/exports/{job.id}/").content.decode()
    assert passphrase not in later and "already been revealed" in later
    assert lawyer.post(f"/exports/{job.id}/passphrase/").status_code == 410
    # Another lawyer, and an officer, are refused.
    make_persona("lawyer2", Role.LEGAL)
    assert _ui("lawyer2").post(f"/exports/{job.id}/passphrase/").status_code == 404
    assert _ui("officer").post(f"/exports/{job.id}/passphrase/").status_code == 403


def test_the_ui_lists_and_serves_a_production_only_to_its_requester(personas, archive) -> None:
    Source.objects.filter(id=archive.source.id).update(status=Source.Status.DONE)
    lawyer = _ui("lawyer")
    lawyer.post("/exports/", {"conversation": str(archive.conversation.id), "formats": ["csv"]})
    job = ExportJob.objects.get()
    jobs.run_job(job.id)
    assert lawyer.get(f"/exports/{job.id}/download/").status_code == 200

    make_persona("lawyer2", Role.LEGAL)
    other = _ui("lawyer2")
    assert str(job.id) not in other.get("/exports/").content.decode()
    before = AuditEvent.objects.count()
    for url in (f"/exports/{job.id}/", f"/exports/{job.id}/status.json", f"/exports/{job.id}/download/"):
        assert other.get(url).status_code == 404, url
    assert AuditEvent.objects.count() == before + 3
