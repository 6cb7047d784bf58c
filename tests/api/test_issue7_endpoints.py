"""Uploads and import jobs, participants and data subjects, saved searches, labels and keys:
what each endpoint does, its bad input (400 + field), and that an upload's plaintext never
reaches a temporary file."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files import uploadedfile
from django.urls import get_resolver

from archive import ingest, tasks
from archive.models import Conversation, DataSubject, Participant, Source
from archive.synthetic import write_telegram_export
from compliance.audit import open_query
from compliance.models import AuditEvent
from dmvault.api import uploads
from tests.api.conftest import SECRET_TITLE, assert_error_shape, assert_no_content, declare_purpose

pytestmark = pytest.mark.django_db


def _export(tmp_path: Path, n: int = 40) -> bytes:
    path = tmp_path / "result.json"
    write_telegram_export(str(path), n)
    return path.read_bytes()


def _file(data: bytes, name: str = "result.json") -> io.BytesIO:
    fh = io.BytesIO(data)
    fh.name = name
    return fh


def test_every_issue7_route_is_registered() -> None:
    routes = {str(p.pattern) for p in get_resolver().url_patterns[0].url_patterns} | set()
    walked = {r for r, _ in __import__("tests.api.test_url_walker", fromlist=["x"]).api_patterns()}
    for expected in (
        "api/v1/sources/<int:pk>/progress",
        "api/v1/participants",
        "api/v1/subjects",
        "api/v1/subjects/<int:pk>/link",
        "api/v1/subjects/<int:pk>/unlink",
        "api/v1/saved-searches",
        "api/v1/saved-searches/<int:pk>",
        "api/v1/saved-searches/<int:pk>/run",
        "api/v1/labels",
        "api/v1/keys",
        "api/v1/keys/rotate-root",
        "api/v1/keys/roll",
    ):
        assert expected in walked, expected
    assert routes  # the resolver loaded


# --- uploads -----------------------------------------------------------------------------------


def test_upload_is_received_queued_and_its_progress_followed(
    personas, tmp_path, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    payload = _export(tmp_path)
    queued: list[int] = []
    monkeypatch.setattr(tasks, "queue_ingest", lambda source_id: queued.append(source_id) or "task")
    ingest_client = personas["ingest"].client
    with django_capture_on_commit_callbacks(execute=True):
        response = ingest_client.post(
            "/api/v1/sources", {"file": _file(payload), "owner": "Alex Archivist"}, format="multipart"
        )
    assert response.status_code == 202, response.content
    body = response.json()
    source = Source.objects.get(pk=int(body["id"]))
    assert queued == [source.id]  # the job gets the id only, after the commit
    assert body["sha256"] == hashlib.sha256(payload).hexdigest() == source.original_sha256
    assert body["size"] == len(payload) == source.original_size
    assert source.uploaded_by == personas["ingest"].user
    with ingest.open_evidence(source) as fh:
        assert fh.read() == payload
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.outcome, event.target_id) == ("source.upload", "allowed", str(source.id))

    pending = ingest_client.get(f"/api/v1/sources/{source.id}/progress").json()
    assert (pending["status"], pending["processed"], pending["error"]) == ("pending", 0, None)
    ingest.run(source.id)  # what the queued job does
    done = ingest_client.get(f"/api/v1/sources/{source.id}/progress").json()
    assert done["status"] == "done" and done["progress"] == 1.0
    assert done["processed"] == done["summary"]["messages"] > 0
    assert done["summary"]["platform"] == "telegram"
    assert isinstance(done["completeness"], list) and done["completeness"]
    assert_no_content(response.content)


def test_a_failed_import_reports_its_error(personas, monkeypatch, django_capture_on_commit_callbacks) -> None:
    monkeypatch.setattr(tasks, "queue_ingest", lambda source_id: "task")
    admin = personas["admin"].client
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            "/api/v1/sources", {"file": _file(b"not an export at all", "notes.bin")}, format="multipart"
        )
    assert response.status_code == 202
    source_id = int(response.json()["id"])
    with pytest.raises(ingest.IngestError):
        ingest.run(source_id)
    progress = admin.get(f"/api/v1/sources/{source_id}/progress").json()
    assert progress["status"] == "failed" and progress["error"]
    # The ingest account sees only its own uploads.
    assert_error_shape(personas["ingest"].client.get(f"/api/v1/sources/{source_id}/progress"), 404)


def test_upload_plaintext_never_reaches_a_temporary_file(personas, tmp_path, monkeypatch, settings) -> None:
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # Django's default handlers would spill everything

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a Django upload file (plaintext in memory or on disk) was created")

    monkeypatch.setattr(uploadedfile.TemporaryUploadedFile, "__init__", refuse)
    monkeypatch.setattr(uploadedfile.InMemoryUploadedFile, "__init__", refuse)
    spools: list[Any] = []
    real_spool = uploads.SpooledTemporaryFile

    def recording_spool(*args: Any, **kwargs: Any) -> Any:
        spool = real_spool(max_size=1024)  # spill to disk almost at once
        spools.append(spool)
        return spool

    monkeypatch.setattr(uploads, "SpooledTemporaryFile", recording_spool)
    canary = b"CANARY-" + b"Zanzibarquokka plaintext " * 100_000  # ~2.5 MB, several chunks
    response = personas["admin"].client.post(
        "/api/v1/sources", {"file": _file(canary, "x.zip")}, format="multipart"
    )
    assert response.status_code == 202, response.content
    assert len(spools) == 1 and spools[0]._rolled  # it did reach the disk, as ciphertext
    source = Source.objects.get(pk=int(response.json()["id"]))
    with ingest.open_evidence(source) as fh:
        assert fh.read() == canary


def test_the_stream_sealer_writes_only_ciphertext_and_round_trips(tmp_path) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    for size in (0, 1, uploads.CHUNK - 1, uploads.CHUNK, uploads.CHUNK + 1, 3 * uploads.CHUNK + 17):
        plain = (b"secret-word " * (size // 12 + 1))[:size]
        key = AESGCM(AESGCM.generate_key(256))
        with (tmp_path / f"spool{size}").open("w+b") as spool:
            sealer = uploads.StreamSealer(spool, key, uploads.SPOOL_FIELD, 0, 0)
            for start in range(0, size, 70_001):
                sealer.write(plain[start : start + 70_001])
            sealer.close()
            raw = spool.read()
            assert (b"secret-word" not in raw) or size == 0
            upload = uploads.SealedUpload(spool, key, "f", size, "")
            with upload.open_plaintext() as reader:
                assert reader.read() == plain
            assert sealer.digest.hexdigest() == hashlib.sha256(plain).hexdigest()


def test_oversized_uploads_are_413_and_leave_nothing(personas, settings) -> None:
    settings.DMVAULT_UPLOAD_MAX_BYTES = 1000
    before = (Source.objects.count(), AuditEvent.objects.count())
    response = personas["ingest"].client.post(
        "/api/v1/sources", {"file": _file(b"x" * 200_000)}, format="multipart"
    )
    error = assert_error_shape(response, 413, "upload_too_large")
    assert "1000 bytes" in error["message"]
    assert Source.objects.count() == before[0]
    assert AuditEvent.objects.count() == before[1] + 1
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.status_code) == ("source.upload", 413)


def test_the_byte_count_is_enforced_when_the_length_is_not_declared() -> None:
    handler = uploads.SealingUploadHandler(None, limit=100)
    handler.handle_raw_input(None, {}, 0, b"b")  # chunked: no declared length
    handler.new_file("file", "x.zip", "application/zip", None)
    handler.receive_data_chunk(b"a" * 60, 0)
    with pytest.raises(uploads.UploadTooLarge):
        handler.receive_data_chunk(b"a" * 60, 60)
    assert handler.spool is None  # discarded


UPLOAD_BAD_INPUT = [
    ({}, "file"),
    ({"file": "FILE", "platform": "myspace"}, "platform"),
    ({"file": "FILE", "owner": "o" * 201}, "owner"),
    ({"file": "FILE", "other": "FILE2"}, "other"),
]


@pytest.mark.parametrize(("body", "field"), UPLOAD_BAD_INPUT, ids=[f for _, f in UPLOAD_BAD_INPUT])
def test_upload_bad_input_is_400_with_the_field(personas, body, field) -> None:
    files = {"FILE": _file(b"{}"), "FILE2": _file(b"{}", "b.json")}
    data = {k: files.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    before = Source.objects.count()
    response = personas["admin"].client.post("/api/v1/sources", data, format="multipart")
    error = assert_error_shape(response, 400)
    assert error["field"] == field, error
    assert Source.objects.count() == before
    assert AuditEvent.objects.order_by("-seq").first().outcome == "invalid"


def test_json_to_the_upload_endpoint_is_415(personas) -> None:
    response = personas["admin"].client.post("/api/v1/sources", {"file": "x"}, format="json")
    assert_error_shape(response, 415, "unsupported_media_type")


# --- participants and subjects -----------------------------------------------------------------


def test_participant_identities_only_for_content_readers_with_a_purpose(personas, archive) -> None:
    officer, admin = personas["officer"].client, personas["admin"].client
    plain = officer.get("/api/v1/participants").json()["results"]
    assert len(plain) == 2 and all("identity" not in p for p in plain)
    declare_purpose(personas["officer"])
    named = officer.get("/api/v1/participants").json()["results"]
    assert {p["identity"]["name"] for p in named} == {"Alicia Vantablack", "Bartholomew Quince"}
    assert AuditEvent.objects.order_by("-seq").first().detail == "with_identity"
    assert_no_content(admin.get("/api/v1/participants").content)
    assert_error_shape(admin.get("/api/v1/participants", {"platform": "myspace"}), 400)
    assert_error_shape(admin.get("/api/v1/participants", {"subject": "x"}), 400)


def test_subjects_are_created_linked_and_unlinked(personas, archive) -> None:
    admin = personas["admin"].client
    alice, bob = Participant.objects.order_by("id")
    created = admin.post("/api/v1/subjects", {"label": "Requester 42"}, format="json")
    assert created.status_code == 201
    sid = created.json()["id"]
    assert DataSubject.objects.get(pk=sid).label_ct  # sealed, not plain
    assert b"Requester 42" not in bytes(DataSubject.objects.get(pk=sid).label_ct)
    linked = admin.post(
        f"/api/v1/subjects/{sid}/link", {"participant_ids": [alice.id, bob.id]}, format="json"
    )
    assert linked.status_code == 200 and set(linked.json()["participant_ids"]) == {str(alice.id), str(bob.id)}
    filtered = admin.get("/api/v1/participants", {"subject": sid}).json()["results"]
    assert len(filtered) == 2
    other = admin.post("/api/v1/subjects", {"label": "Someone else"}, format="json").json()["id"]
    taken = admin.post(f"/api/v1/subjects/{other}/link", {"participant_ids": [alice.id]}, format="json")
    assert assert_error_shape(taken, 400)["field"] == "participant_ids"
    unlinked = admin.post(f"/api/v1/subjects/{sid}/unlink", {"participant_ids": [alice.id]}, format="json")
    assert unlinked.json()["participant_ids"] == [str(bob.id)]
    listing = admin.get("/api/v1/subjects").json()["results"]
    assert {s["label"] for s in listing} == {"Requester 42", "Someone else"}
    relinked = admin.post(f"/api/v1/subjects/{other}/link", {"participant_ids": [alice.id]}, format="json")
    assert relinked.status_code == 200
    assert_error_shape(admin.post("/api/v1/subjects/999/link", {"participant_ids": [1]}, format="json"), 404)


SUBJECT_BAD_INPUT = [
    ("/api/v1/subjects", {}, "label"),
    ("/api/v1/subjects", {"label": ""}, "label"),
    ("/api/v1/subjects", {"label": "x" * 201}, "label"),
    ("/api/v1/subjects/{subject}/link", {}, "participant_ids"),
    ("/api/v1/subjects/{subject}/link", {"participant_ids": []}, "participant_ids"),
    ("/api/v1/subjects/{subject}/link", {"participant_ids": ["abc"]}, "participant_ids"),
    ("/api/v1/subjects/{subject}/link", {"participant_ids": [123456789]}, "participant_ids"),
    ("/api/v1/subjects/{subject}/unlink", {"participant_ids": [123456789]}, "participant_ids"),
    ("/api/v1/subjects/{subject}/link", {"participant_ids": list(range(1, 502))}, "participant_ids"),
]


@pytest.mark.parametrize(
    ("url", "body", "field"), SUBJECT_BAD_INPUT, ids=[f"{u}:{b}"[:60] for u, b, _ in SUBJECT_BAD_INPUT]
)
def test_subject_bad_input_is_400_with_the_field(personas, archive, url, body, field) -> None:
    from compliance.subjects import create_subject

    subject = create_subject("Bad input subject")
    response = personas["admin"].client.post(url.format(subject=subject.id), body, format="json")
    error = assert_error_shape(response, 400)
    assert error["field"].split(".")[0] == field, error
    assert AuditEvent.objects.order_by("-seq").first().outcome == "invalid"


# --- saved searches and labels -----------------------------------------------------------------


def test_saved_searches_are_private_sealed_and_run_with_a_purpose(personas, archive) -> None:
    officer, lawyer = personas["officer"], personas["lawyer"]
    Source.objects.filter(pk=archive.source.pk).update(status=Source.Status.DONE)  # search sees done only
    created = officer.client.post(
        "/api/v1/saved-searches", {"name": "Lighthouse watch", "query": "lighthouse"}, format="json"
    )
    assert created.status_code == 201
    sid = created.json()["id"]
    from archive.models import SavedSearch

    assert b"lighthouse" not in bytes(SavedSearch.objects.get(pk=sid).query_ct).lower()
    assert [s["id"] for s in officer.client.get("/api/v1/saved-searches").json()["results"]] == [sid]
    assert lawyer.client.get("/api/v1/saved-searches").json()["results"] == []
    assert_error_shape(lawyer.client.get(f"/api/v1/saved-searches/{sid}"), 404)
    assert officer.client.get(f"/api/v1/saved-searches/{sid}").json()["query"] == "lighthouse"

    assert_error_shape(officer.client.get(f"/api/v1/saved-searches/{sid}/run"), 403, "purpose_required")
    purpose = declare_purpose(officer)
    first = officer.client.get(f"/api/v1/saved-searches/{sid}/run", {"limit": 2, "context": 1})
    assert first.status_code == 200, first.content
    page = first.json()
    assert len(page["results"]) == 2 and page["next"]
    assert all("lighthouse" in h["text"].lower() for h in page["results"])
    assert page["results"][0]["highlights"] and "before" in page["results"][0]
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, str(event.purpose_id), event.result_count) == ("saved_search.run", purpose, 2)
    assert open_query(event) == "lighthouse" and b"lighthouse" not in bytes(event.query_ct)
    rest = officer.client.get(
        f"/api/v1/saved-searches/{sid}/run", {"limit": 2, "cursor": page["next"]}
    ).json()
    assert {h["id"] for h in rest["results"]}.isdisjoint({h["id"] for h in page["results"]})
    assert len(page["results"]) + len(rest["results"]) == 3

    assert_error_shape(lawyer.client.delete(f"/api/v1/saved-searches/{sid}"), 404)
    assert officer.client.delete(f"/api/v1/saved-searches/{sid}").status_code == 204
    assert_error_shape(officer.client.get(f"/api/v1/saved-searches/{sid}"), 404)


def test_saved_search_bad_input(personas, archive) -> None:
    officer = personas["officer"]
    declare_purpose(officer)
    cases = [
        ({"query": "lighthouse"}, "name"),
        ({"name": "n"}, "query"),
        ({"name": "n", "query": "   "}, "query"),
        ({"name": "n", "query": '"unclosed'}, "query"),
        ({"name": "n", "query": "x" * 2001}, "query"),
        ({"name": "n", "query": "lighthouse", "shared": "perhaps"}, "shared"),
    ]
    for body, field in cases:
        error = assert_error_shape(officer.client.post("/api/v1/saved-searches", body, format="json"), 400)
        assert error["field"] == field, (body, error)
    sid = officer.client.post(
        "/api/v1/saved-searches", {"name": "n", "query": "lighthouse"}, format="json"
    ).json()["id"]
    for params, field in [
        ({"cursor": "forged"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"context": 99}, "context"),
        ({"order": "sideways"}, "order"),
        ({"tz": "Mars/Olympus"}, "tz"),
    ]:
        error = assert_error_shape(officer.client.get(f"/api/v1/saved-searches/{sid}/run", params), 400)
        assert error["field"] == field, (params, error)


def test_labels_list_the_folder_names(personas, archive) -> None:
    Conversation.objects.filter(pk=archive.conversation.pk).update(labels=["inbox", "archived"])
    body = personas["admin"].client.get("/api/v1/labels").json()
    assert body["results"] == [
        {"label": "archived", "conversations": 1},
        {"label": "inbox", "conversations": 1},
    ]


# --- keys --------------------------------------------------------------------------------------


def test_key_status_rotation_and_roll_keep_the_archive_readable(personas, archive) -> None:
    admin = personas["admin"].client
    status = admin.get("/api/v1/keys").json()
    assert status["data_keys"] > 0 and status["wrapping_keys"] == 1
    rotated = admin.post("/api/v1/keys/rotate-root").json()
    assert rotated["new_root_version"] == status["root_primary"] + 1
    assert rotated["wrapping_keys_rewrapped"] == 1
    rolled = admin.post("/api/v1/keys/roll").json()
    assert rolled["data_keys"] == status["data_keys"] and rolled["index_keys"] == status["index_keys"]
    after = admin.get("/api/v1/keys").json()
    assert after["root_primary"] == rotated["new_root_version"] and after["wrapping_keys"] == 1
    events = list(AuditEvent.objects.filter(action__startswith="keys.").values_list("action", "outcome"))
    assert events == [
        ("keys.status", "allowed"),
        ("keys.rotate_root", "allowed"),
        ("keys.roll", "allowed"),
        ("keys.status", "allowed"),
    ]
    officer = personas["officer"]
    declare_purpose(officer)
    message = officer.client.get(f"/api/v1/messages/{archive.message_ids[0]}").json()["message"]
    assert "Zanzibarquokka" in message["text"]
    conv = officer.client.get("/api/v1/conversations").json()["results"][0]
    assert conv["title"] == SECRET_TITLE
