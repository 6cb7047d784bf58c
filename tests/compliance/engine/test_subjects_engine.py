"""Consent, subject access, erasure (two-person rule, holds, locks) and certificates."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection
from engine_world import ALICE_TEXT, BOB_SECRET, CAROL_TEXT, all_table_bytes, msg, whatsapp_conversation

from archive import index
from archive.importers.base import ParsedAttachment
from archive.models import DataKey, DataSubject, Message, Participant
from archive.reading import open_messages
from archive.search.engine import find_ids
from archive.search.service import SearchScope, search
from archive.writer import ArchiveWriter
from compliance import certificates, consent, holds, retention
from compliance.engine_models import ConsentConflict, ConsentRecord, ErasureRequest
from compliance.subjects import (
    ErasureRefused,
    approve_erasure,
    erase_subject,
    execute_erasure,
    request_erasure,
    subject_access_package,
)

pytestmark = pytest.mark.django_db

BOB_NEEDLES = [b"Zanzibarquokka", b"rendezvous", b"5550123", b"Bartholomew", b"bquince", b"BOBJPEGBYTES"]


def _bob_ids(world) -> list[int]:
    return sorted(Message.objects.filter(sender_id=world.bob_participant).values_list("id", flat=True))


def _postings(mid: int) -> int:
    from archive.ids import month_of

    month = month_of(mid)
    if month not in index.existing_months():
        return 0
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {index.table(month)} WHERE message_id = %s", [mid])
        return int(cur.fetchone()[0])


# --- consent ------------------------------------------------------------------------------------------


def test_consent_history_is_append_only_and_the_latest_entry_counts(world) -> None:
    first = consent.record(
        world.bob.id, "archiving", "given", evidence="signed form 12", recorded_by=world.admin
    )
    consent.record(world.bob.id, "archiving", "withdrawn", recorded_by=world.admin)
    assert consent.current(world.bob.id, "archiving").state == "withdrawn"
    assert [r.state for r in consent.history(world.bob.id)] == ["given", "withdrawn"]
    assert consent.evidence_of(first) == "signed form 12"
    assert b"signed form 12" not in bytes(ConsentRecord.objects.get(id=first.id).evidence_ct)
    first.state = "refused"
    with pytest.raises(Exception, match="append-only"):
        first.save()


def test_withdrawal_applies_to_the_next_ingest_and_to_existing_messages(world) -> None:
    bob_before = _bob_ids(world)
    row = consent.record(
        world.bob.id, "archiving", "withdrawn", on_withdrawal="redact", recorded_by=world.admin
    )
    assert row.applied["processed"] == len(bob_before)
    opened = open_messages(bob_before)
    assert all(m.text == consent.WITHHELD_TEXT for m in opened)
    assert find_ids(["zanzibarquokka"], limit=5) == []
    # next ingest: Bob's new message is dropped, Alice's kept
    new = [
        msg(datetime(2025, 5, 1, tzinfo=UTC), "bob-id", "Brand new Xylophonica plan", "w9"),
        msg(datetime(2025, 5, 1, 1, tzinfo=UTC), "alice-id", "Alice says Xylophonica too", "w10"),
    ]
    wrap = consent.ingest_filter(world.source)
    summary = ArchiveWriter(world.source).write(wrap([whatsapp_conversation(new)]))
    assert summary.messages == 1
    hits = open_messages(find_ids(["xylophonica"], limit=5))
    assert [m.text for m in hits] == ["Alice says Xylophonica too"]
    # the redact variant keeps a marker instead
    new2 = [msg(datetime(2025, 5, 2, tzinfo=UTC), "bob-id", "Another Xylophonica", "w11")]
    ArchiveWriter(world.source).write(
        consent.ingest_filter(world.source, action="redact")([whatsapp_conversation(new2)])
    )
    assert consent.WITHHELD_TEXT in [m.text for m in open_messages(_bob_ids(world))]
    assert len(find_ids(["xylophonica"], limit=5)) == 1


def test_withdrawal_under_a_hold_records_a_conflict(world) -> None:
    matter = holds.create_matter(name="x", reference="H-9", owner=world.lawyer, custodians=[world.bob.id])
    holds.place_hold(matter, world.lawyer)
    row = consent.record(world.bob.id, "archiving", "withdrawn", on_withdrawal="erase")
    assert row.applied["held"] == 2 and row.applied["processed"] == 0
    [conflict] = consent.conflicts()
    assert conflict.reason == "hold" and conflict.messages == 2
    assert len(_bob_ids(world)) == 2
    assert ConsentConflict.objects.filter(consent=row).count() == 1


# --- subject access -------------------------------------------------------------------------------------


def test_subject_access_package_protects_third_parties(world, tmp_path) -> None:
    out = tmp_path / "alice.zip"
    manifest = subject_access_package(world.alice.id, out)
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert names == {"data.json", "transcript.html", "manifest.json"}  # Alice sent no files
        for name, digest in manifest.items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == digest
        data = json.loads(zf.read("data.json"))
        everything = zf.read("data.json") + zf.read("transcript.html")
    assert json.loads(zipfile.ZipFile(out).read("manifest.json"))["files"] == manifest
    assert len(data["conversations"]) == 2
    assert ALICE_TEXT.encode() in everything  # her own words, verbatim
    for third_party in (b"Bartholomew", b"bquince", b"Carolina", b"cfeather", b"5550123"):
        assert third_party not in everything, third_party
    assert b"Participant 1" in everything


def test_the_subject_access_command(world, tmp_path, capsys) -> None:
    out = tmp_path / "bob.zip"
    call_command("subject_access", str(world.bob.id), str(out))
    assert json.loads(capsys.readouterr().out)["sha256"]
    data = json.loads(zipfile.ZipFile(out).read("data.json"))
    texts = [m.get("text", "") for c in data["conversations"] for m in c["messages"] if m["from"] == "you"]
    assert BOB_SECRET in texts  # Bob gets his own words back


# --- erasure ----------------------------------------------------------------------------------------------


def test_after_erasure_nothing_of_the_subject_can_be_read_back(
    world, tmp_path, django_capture_on_commit_callbacks
) -> None:
    bob_ids = _bob_ids(world)
    others = [m for m in world.ids() if m not in bob_ids]
    dry = erase_subject(world.bob.id, world.admin, dry_run=True)
    assert (
        dry.refused is None
        and dry.counts["messages"] == 2
        and Message.objects.filter(id__in=bob_ids).count() == 2
    )
    assert open_messages(bob_ids)[0].text == BOB_SECRET
    with django_capture_on_commit_callbacks(execute=True):
        result = erase_subject(world.bob.id, world.admin)
    assert result.done and result.certificate is not None
    # open_messages: erased, no content
    assert all(m.erased and m.text == "" for m in open_messages(bob_ids))
    # the index and the search service
    assert find_ids(["zanzibarquokka"], limit=10) == []
    assert all(_postings(m) == 0 for m in bob_ids)
    assert search("zanzibarquokka", scope=SearchScope.everything()).items == []
    assert search("rendezvous", scope=SearchScope.everything()).items == []
    # keys: every key of Bob's participants and his label
    assert not DataKey.objects.filter(participant_id=world.bob_participant).exists()
    assert not DataKey.objects.filter(id=world.bob.dek_id).exists()
    # the subject access package
    out = tmp_path / "bob.zip"
    subject_access_package(world.bob.id, out)
    with zipfile.ZipFile(out) as zf:
        package = b"".join(zf.read(n) for n in zf.namelist())
    # the raw tables (and no plaintext anywhere), and the blob store
    raw = all_table_bytes()
    for needle in BOB_NEEDLES:
        assert needle not in package, needle
        assert needle not in raw, needle
    assert all(not bytes(b) for b in Message.objects.filter(id__in=bob_ids).values_list("body_ct", flat=True))
    # his name in Alice's message and his reaction are gone; everyone else still reads fine
    opened = {m.id: m for m in open_messages(others)}
    assert not any(m.erased for m in opened.values())
    texts = [m.text for m in opened.values()]
    assert ALICE_TEXT in texts and CAROL_TEXT in texts
    assert "[erased] said the ferry leaves early" in texts
    assert all(not m.reactions for m in opened.values())
    assert find_ids(["mirabelle"], limit=5) and find_ids(["pomegranate"], limit=5)
    assert DataSubject.objects.get(id=world.bob.id).erased_at is not None
    assert not bytes(Participant.objects.get(id=world.bob_participant).identity_ct)
    # the certificate
    body = certificates.body_of(result.certificate)
    assert body["message_ids_sha256"] == certificates.ids_sha256(bob_ids)
    assert certificates.verify_certificate(result.certificate)
    assert certificates.verify_certificate(certificates.export(result.certificate))
    assert erase_subject(world.bob.id, world.admin).refused == "the subject is already erased"


def test_erasure_is_refused_under_a_hold_or_a_lock(world) -> None:
    matter = holds.create_matter(
        name="x", reference="M-7", owner=world.lawyer, conversations=[world.whatsapp]
    )
    hold = holds.place_hold(matter, world.lawyer)
    result = erase_subject(world.bob.id, world.admin)
    assert result.refused and "legal hold" in result.refused and "M-7" in result.refused
    holds.release_hold(hold, world.lawyer)
    retention.create_policy(name="finra", platform="whatsapp", period_days=36500, locked=True)
    result = erase_subject(world.bob.id, world.admin)
    assert result.refused and result.refused.startswith("compliance lock")
    assert open_messages(_bob_ids(world))[0].text == BOB_SECRET


def test_the_two_person_rule(world, settings) -> None:
    settings.DMVAULT_ERASURE_TWO_PERSON = True
    assert "two-person" in erase_subject(world.bob.id, world.admin).refused
    assert "two-person" in erase_subject(world.bob.id, world.admin, world.admin).refused
    req = request_erasure(world.bob.id, world.admin)
    assert req.two_person
    with pytest.raises(ErasureRefused, match="not been approved"):
        execute_erasure(req.id)
    with pytest.raises(ErasureRefused, match="cannot approve their own"):
        approve_erasure(req.id, world.admin)
    with pytest.raises(ErasureRefused, match="admin role"):
        approve_erasure(req.id, world.lawyer)
    approve_erasure(req.id, world.admin2)
    result = execute_erasure(req.id)
    assert result.done
    req.refresh_from_db()
    assert req.state == ErasureRequest.State.EXECUTED and req.certificate_id == result.certificate.id
    body = certificates.body_of(result.certificate)
    assert (body["requested_by"], body["approved_by"], body["two_person"]) == ("admin1", "admin2", True)


def test_the_erase_subject_command(world, capsys) -> None:
    call_command("erase_subject", str(world.bob.id), "--requested-by", "admin1", "--dry-run")
    assert json.loads(capsys.readouterr().out)["counts"]["messages"] == 2
    call_command("erase_subject", str(world.bob.id), "--requested-by", "admin1")
    out = json.loads(capsys.readouterr().out)
    assert out["certificate"] and out["refused"] is None


# --- certificates ----------------------------------------------------------------------------------------


def test_a_tampered_certificate_fails(world) -> None:
    cert = erase_subject(world.bob.id, world.admin).certificate
    exported = certificates.export(cert)
    assert certificates.verify_certificate(exported)
    body = json.loads(exported["body"])
    body["counts"]["messages"] = 1
    forged = {**exported, "body": certificates.canonical(body)}
    assert not certificates.verify_certificate(forged)
    assert not certificates.verify_certificate({**exported, "signature": "AAAA" + exported["signature"][4:]})
    cert.body = cert.body.replace('"messages":2', '"messages":3')
    assert not certificates.verify_certificate(cert)


def test_the_bench_command_runs_small(world, capsys) -> None:
    call_command("bench_retention", "--messages", "600", "--batch", "100")
    out = json.loads(capsys.readouterr().out)
    assert out["messages_deleted"] == out["planned"] >= 280
    assert out["messages_deleted_per_s"] > 0


# --- subject access: attachments ------------------------------------------------------------------------


def _with_attachments(world) -> None:
    """Alice sends a contract naming Bob; Bob sends a scan named after himself."""
    extra = [
        msg(
            datetime(2025, 3, 2, 9, tzinfo=UTC),
            "alice-id",
            "The contract, signed",
            "w20",
            attachments=[
                ParsedAttachment(
                    "contract-Bartholomew.pdf", "application/pdf", open=lambda: io.BytesIO(ALICE_PDF)
                )
            ],
        ),
        msg(
            datetime(2025, 3, 2, 10, tzinfo=UTC),
            "bob-id",
            "My scan",
            "w21",
            attachments=[
                ParsedAttachment("Bartholomew-passport.png", "image/png", open=lambda: io.BytesIO(BOB_PNG))
            ],
        ),
    ]
    ArchiveWriter(world.source).write([whatsapp_conversation(extra)])


ALICE_PDF = b"%PDF-1.7 Alicia's signed contract body"
BOB_PNG = b"\x89PNG Bartholomew passport scan bytes"


def _package(subject_id: int, path) -> tuple[dict, dict[str, bytes], dict[str, str]]:
    manifest = subject_access_package(subject_id, path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    return json.loads(members["data.json"]), members, manifest


def test_subject_access_includes_the_subjects_own_attachments_hashed(world, tmp_path) -> None:
    from django.core.files.storage import storages

    from archive.models import Blob

    _with_attachments(world)
    # at rest the files are sealed: the package's bytes come out of the vault
    for blob in Blob.objects.all():
        with storages["blobs"].open(blob.storage_name, "rb") as fh:
            stored = fh.read()
        assert ALICE_PDF not in stored and BOB_PNG not in stored and b"BOBJPEGBYTES" not in stored
    data, members, manifest = _package(world.alice.id, tmp_path / "alice.zip")
    own = [
        a
        for c in data["conversations"]
        for m in c["messages"]
        if m["from"] == "you"
        for a in m["attachments"]
    ]
    [contract] = own
    assert re.fullmatch(r"contract-Participant \d\.pdf", contract["name"])  # Bob's name, pseudonymized
    assert contract["file"].startswith("attachments/") and members[contract["file"]] == ALICE_PDF
    assert contract["sha256"] == manifest[contract["file"]] == hashlib.sha256(ALICE_PDF).hexdigest()
    for name, digest in manifest.items():
        assert hashlib.sha256(members[name]).hexdigest() == digest
    assert set(members) == {"data.json", "transcript.html", "manifest.json", contract["file"]}
    theirs = [
        a
        for c in data["conversations"]
        for m in c["messages"]
        if m["from"] != "you"
        for a in m["attachments"]
    ]
    assert len(theirs) == 2 and all(a["included"] is False and "file" not in a for a in theirs)
    assert sorted(re.sub(r"\d", "N", a["name"]) for a in theirs) == [
        "Participant N-passport.png",
        "secret.jpg",
    ]
    everything = b"".join(members.values())
    for third_party in (BOB_PNG, b"BOBJPEGBYTES", b"Bartholomew", b"bquince"):
        assert third_party not in everything, third_party
    assert contract["file"].encode() in members["transcript.html"]


def test_subject_access_gives_bob_his_files_and_not_alices(world, tmp_path) -> None:
    _with_attachments(world)
    data, members, manifest = _package(world.bob.id, tmp_path / "bob.zip")
    files = sorted(n for n in members if n.startswith("attachments/"))
    assert sorted(members[n] for n in files) == sorted([b"BOBJPEGBYTES", BOB_PNG])
    assert all(n in manifest for n in files)
    assert ALICE_PDF not in b"".join(members.values())
    theirs = [
        a
        for c in data["conversations"]
        for m in c["messages"]
        if m["from"] != "you"
        for a in m["attachments"]
    ]
    assert [a["included"] for a in theirs] == [False]
    # after erasure nothing of his files remains to put in a package
    assert erase_subject(world.bob.id, world.admin).done
    _, after, _ = _package(world.bob.id, tmp_path / "bob-after.zip")
    assert not [n for n in after if n.startswith("attachments/")]
    assert BOB_PNG not in b"".join(after.values()) and b"BOBJPEGBYTES" not in b"".join(after.values())


def test_the_review_ui_downloads_the_same_zip(world) -> None:
    from django.test import Client

    _with_attachments(world)
    client = Client(REMOTE_ADDR="10.0.0.9")
    assert client.post("/login/", {"username": "admin1", "password": "x" * 20}).status_code == 302
    response = client.get(f"/subjects/{world.alice.id}/access.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        files = [n for n in zf.namelist() if n.startswith("attachments/")]
        assert [zf.read(n) for n in files] == [ALICE_PDF]
    lawyer = Client(REMOTE_ADDR="10.0.0.9")
    lawyer.post("/login/", {"username": "lawyer", "password": "x" * 20})
    assert lawyer.get(f"/subjects/{world.alice.id}/access.zip").status_code == 403
