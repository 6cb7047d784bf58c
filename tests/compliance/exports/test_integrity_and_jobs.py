"""Signed manifests catch changes offline; jobs seal their result, audit, encrypt, cancel."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command

from compliance.exports import jobs
from compliance.exports.models import ExportJob
from compliance.exports.signing import encode_public, load_signing_key
from compliance.exports.verify import verify_production
from compliance.models import AuditEvent
from tests.compliance.exports.helpers import produce

pytestmark = pytest.mark.django_db


def run_verify(path: Path, *extra: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_export", str(path), *extra, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), err.getvalue()
    return 0, out.getvalue()


def rewrite(src: Path, dest: Path, *, drop: str = "", change: str = "") -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename == drop:
                continue
            data = zin.read(info)
            if info.filename == change:
                data = data[:10] + bytes([data[10] ^ 0x01]) + data[11:]
            zout.writestr(info, data)


@pytest.fixture
def production(tmp_path: Path, user: Any, archive_data: dict[str, Any]) -> Path:
    return produce(tmp_path, user, conversation_ids=archive_data["all"])[0]


def test_verify_export_accepts_an_untouched_production(production: Path, tmp_path: Path) -> None:
    code, out = run_verify(production)
    assert code == 0 and out.startswith("OK")
    key_file = tmp_path / "producer.pub"
    key_file.write_text(encode_public(load_signing_key().public_key()))
    assert run_verify(production, "--public-key", str(key_file))[0] == 0


def test_verify_export_names_a_changed_byte(production: Path, tmp_path: Path) -> None:
    bad = tmp_path / "changed.zip"
    rewrite(production, bad, change="csv/messages.csv")
    code, err = run_verify(bad)
    assert code == 1 and "csv/messages.csv" in err


def test_verify_export_catches_a_raw_byte_flip_in_the_zip(production: Path, tmp_path: Path) -> None:
    data = bytearray(production.read_bytes())
    with zipfile.ZipFile(production) as zf:
        info = next(i for i in zf.infolist() if i.filename.startswith("pdf/"))
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    bad = tmp_path / "flipped.zip"
    bad.write_bytes(bytes(data))
    code, err = run_verify(bad)
    assert code == 1 and info.filename in err


def test_verify_export_names_a_removed_file(production: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(production) as zf:
        victim = next(n for n in zf.namelist() if n.startswith("eml/"))
    bad = tmp_path / "removed.zip"
    rewrite(production, bad, drop=victim)
    code, err = run_verify(bad)
    assert code == 1 and f"{victim}: missing" in err


def test_verify_export_rejects_an_added_file_and_an_edited_manifest(production: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.zip"
    rewrite(production, extra)
    with zipfile.ZipFile(extra, "a") as zf:
        zf.writestr("csv/smuggled.csv", "a,b\n")
    code, err = run_verify(extra)
    assert code == 1 and "csv/smuggled.csv" in err

    with zipfile.ZipFile(production) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    manifest["purpose"] = "something else"
    edited = tmp_path / "edited.zip"
    rewrite(production, edited, drop="manifest.json")
    with zipfile.ZipFile(edited, "a") as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
    code, err = run_verify(edited)
    assert code == 1 and "manifest.json" in err and "signature" in err


def test_verify_export_with_the_wrong_public_key_fails(production: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pub"
    other.write_text(encode_public(Ed25519PrivateKey.generate().public_key()))
    code, err = run_verify(production, "--public-key", str(other))
    assert code == 1 and "signature" in err


def test_job_seals_its_result_and_records_an_audit_event(user: Any, archive_data: dict[str, Any]) -> None:
    job = jobs.create_export(
        requested_by=user,
        purpose="Matter 42 production",
        matter_ref="M-42",
        conversation_ids=[archive_data["group"]],
        formats=["csv", "loadfile"],
        queue=False,
    )
    assert job.formats == ["csv", "pdf", "loadfile"]
    assert b"Matter 42" not in bytes(job.purpose_ct)
    from compliance.exports.tasks import run_export

    result = run_export(job.id)
    assert result["status"] == "done" and result["messages"] == 40
    job.refresh_from_db()
    assert job.progress == 1.0 and job.result_blob and job.result_sha256
    from django.core.files.storage import storages

    with storages["blobs"].open(job.result_blob, "rb") as fh:
        assert b"group line" not in fh.read()  # sealed at rest
    with jobs.open_result(job) as fh, zipfile.ZipFile(fh) as zf:
        assert "group line 3 lorem ipsum" in zf.read("csv/messages.csv").decode("utf-8-sig")
    event = AuditEvent.objects.filter(action="export.production").order_by("-seq").first()
    assert event is not None
    assert (event.outcome, event.target_id, event.result_count, event.matter_ref) == (
        "allowed",
        str(job.id),
        40,
        "M-42",
    )
    assert event.actor_id == user.pk


def test_aes_encrypted_production_and_one_time_passphrase(
    user: Any, archive_data: dict[str, Any], tmp_path: Path
) -> None:
    job = jobs.create_export(
        requested_by=user,
        purpose="p",
        conversation_ids=[archive_data["direct"]],
        formats=["csv"],
        encrypt_zip=True,
        queue=False,
    )
    job = jobs.run_job(job.id)
    assert job.status == "done"
    path = tmp_path / "aes.zip"
    with jobs.open_result(job) as fh:
        path.write_bytes(fh.read())
    with zipfile.ZipFile(path) as zf, pytest.raises(RuntimeError):
        zf.read("csv/messages.csv")  # encrypted members need the passphrase
    passphrase = job.reveal_passphrase()
    assert passphrase and ExportJob.objects.get(id=job.id).reveal_passphrase() is None
    assert verify_production(path, passphrase=passphrase).ok
    pw = tmp_path / "pw.txt"
    pw.write_text(passphrase)
    assert run_verify(path, "--passphrase-file", str(pw))[0] == 0


def test_cancelled_job_stops_and_is_audited(user: Any, archive_data: dict[str, Any]) -> None:
    job = jobs.create_export(
        requested_by=user, purpose="p", conversation_ids=archive_data["all"], queue=False
    )
    assert jobs.request_cancel(job.id)
    job = jobs.run_job(job.id)
    assert job.status == "cancelled" and not job.result_blob
    event = AuditEvent.objects.filter(action="export.production", target_id=str(job.id)).get()
    assert event.detail == "cancelled"


def test_failed_scope_is_reported_and_audited(user: Any, db: Any) -> None:
    job = jobs.create_export(requested_by=user, purpose="p", matter_id=5, queue=False)
    job = jobs.run_job(job.id)
    assert job.status == "failed" and "matter 5 does not exist" in job.error
    assert AuditEvent.objects.filter(
        action="export.production", target_id=str(job.id), outcome="error"
    ).exists()


def test_scope_by_matter_with_a_date_range(user: Any, archive_data: dict[str, Any], tmp_path: Path) -> None:
    from compliance.engine_models import Matter

    matter = Matter.objects.create(
        name="Smith",
        reference="M-1",
        owner=user,
        date_ranges=[{"start": "2025-03-01T00:00:00+00:00", "end": "2025-03-02T00:00:00+00:00"}],
    )
    matter.conversations.set([archive_data["direct"], archive_data["group"]])
    path, _ = produce(tmp_path, user, matter_id=matter.id, formats=["csv"])
    with zipfile.ZipFile(path) as zf:
        rows = zf.read("csv/messages.csv").decode("utf-8-sig").strip().splitlines()
        manifest = json.loads(zf.read("manifest.json"))
    assert len(rows) == 1 + 3  # the three messages of 1 March
    assert manifest["scope"]["matter_id"] == str(matter.id)


def test_scope_by_query_and_by_subject(user: Any, archive_data: dict[str, Any], tmp_path: Path) -> None:
    path, job = produce(tmp_path, user, query="lorem", formats=["csv"])
    with zipfile.ZipFile(path) as zf:
        rows = zf.read("csv/messages.csv").decode("utf-8-sig").strip().splitlines()
        manifest = json.loads(zf.read("manifest.json"))
    assert len(rows) == 41 and manifest["scope"]["query"] == "lorem"
    assert job.query == "lorem" and b"lorem" not in bytes(job.query_ct)

    from archive.models import DataSubject, Participant

    subject = DataSubject.objects.create(label_ct=b"x", dek_id=1)
    carol = next(
        p
        for p in Participant.objects.all()
        if p.conversations.filter(id=archive_data["group"]).exists()
        and not p.conversations.filter(id=archive_data["direct"]).exists()
    )
    Participant.objects.filter(id=carol.id).update(subject=subject)
    path2, _job2 = produce(tmp_path, user, name="subject.zip", data_subject_id=subject.id, formats=["native"])
    with zipfile.ZipFile(path2) as zf:
        assert [n for n in zf.namelist() if n.startswith("native/")] == [
            f"native/{archive_data['group']}.json"
        ]


def test_an_export_without_scope_is_refused(user: Any, db: Any) -> None:
    job = jobs.create_export(requested_by=user, purpose="p", queue=False)
    assert jobs.run_job(job.id).status == "failed"
    with pytest.raises(ValueError):
        jobs.create_export(requested_by=user, purpose="  ", conversation_ids=[1], queue=False)


def test_scope_by_saved_search_alone_and_with_a_query(
    user: Any, archive_data: dict[str, Any], tmp_path: Path
) -> None:
    from archive.search.service import create_saved_search

    # A saved search with a filter: combined with a query it used to be glued into
    # "(query) (saved)", which the query language refuses (no filters inside parentheses).
    saved = create_saved_search(user, "Carolina's lines", "from:cwhit")
    path, _ = produce(tmp_path, user, saved_search_id=saved.id, formats=["csv"])
    with zipfile.ZipFile(path) as zf:
        rows = zf.read("csv/messages.csv").decode("utf-8-sig").strip().splitlines()
        manifest = json.loads(zf.read("manifest.json"))
    assert len(rows) == 1 + 20 and manifest["scope"]["saved_search_id"] == str(saved.id)
    assert all("Carolina Whitcombe" in row for row in rows[1:])

    both, _ = produce(
        tmp_path, user, name="both.zip", saved_search_id=saved.id, query='lorem -"line 3"', formats=["csv"]
    )
    with zipfile.ZipFile(both) as zf:
        rows = zf.read("csv/messages.csv").decode("utf-8-sig").strip().splitlines()
    assert len(rows) == 1 + 19  # Carolina's 20 lines but "group line 3 ..."
    assert not any("group line 3 lorem" in row for row in rows)
