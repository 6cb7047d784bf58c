"""Ingest: what an admin sees when they import exports, good and bad."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import call_command

from archive import ingest
from archive.models import Conversation, DataKey, Message, Participant, Source
from archive.synthetic import write_telegram_export

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]


def _counts() -> tuple[int, int, int, int]:
    return (
        Message.objects.count(),
        Conversation.objects.count(),
        Participant.objects.count(),
        DataKey.objects.count(),
    )


def test_the_ingest_command_prints_one_json_summary(
    samples_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("ingest", str(samples_dir / "whatsapp/JaydenCJ__chatcarve/en-gb-ios.txt"), "--json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "done" and summary["platform"] == "whatsapp"
    assert summary["messages"] == Message.objects.count() > 0
    assert summary["duplicates_skipped"] == 0
    assert {"conversations", "attachments", "warnings", "completeness"} <= summary.keys()


def test_importing_the_same_export_twice_adds_nothing(samples_dir: Path) -> None:
    path = samples_dir / "telegram/joweich__chat-miner/test_batch_export.json"
    first = ingest.run(ingest.receive_path(path).id)
    before = _counts()
    second = ingest.run(ingest.receive_path(path).id)
    assert _counts()[:3] == before[:3]
    assert second.summary["messages"] == 0
    assert second.summary["duplicates_skipped"] == first.summary["messages"] > 0


def test_the_original_is_kept_sealed_with_its_sha256(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    write_telegram_export(str(path), 200)
    source = ingest.run(ingest.receive_path(path).id)
    import hashlib

    assert source.original_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with storages["blobs"].open(source.evidence_blob) as fh:
        stored = fh.read()
    assert b"personal_information" not in stored and b"Archivist" not in stored
    with ingest.open_evidence(source) as fh:
        assert fh.read() == path.read_bytes()


def test_a_hostile_zip_fails_clearly_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "evil.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("result.json", "{}")
        zf.writestr("../../etc/passwd", "x")
    before = _counts()
    source = ingest.receive_path(bad)
    with pytest.raises(ingest.IngestError, match="passwd"):
        ingest.run(source.id)
    source.refresh_from_db()
    assert source.status == Source.Status.FAILED and "path traversal" in source.error
    # the member's name (it could name a person) is kept only sealed, for support
    assert "passwd" not in source.error and "passwd" in ingest.error_detail(source)
    assert _counts()[:3] == before[:3]


def test_a_failure_half_way_leaves_the_archive_as_it_was(tmp_path: Path) -> None:
    good = tmp_path / "result.json"
    write_telegram_export(str(good), 3000, chats=3)
    text = good.read_text()
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: int(len(text) * 0.8)])  # the last chat is cut off mid-way
    before = _counts()
    source = ingest.receive_path(truncated, platform="telegram")
    with pytest.raises(ingest.IngestError):
        ingest.run(source.id)
    assert _counts()[:3] == before[:3]
    assert Source.objects.get(id=source.id).status == Source.Status.FAILED


def test_an_unknown_file_names_what_is_supported(tmp_path: Path) -> None:
    odd = tmp_path / "notes.bin"
    odd.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ingest.IngestError, match="whatsapp"):
        ingest.run(ingest.receive_path(odd).id)


def test_a_text_file_that_is_not_a_chat_gets_an_error_with_file_and_line(tmp_path: Path) -> None:
    odd = tmp_path / "notes.txt"
    odd.write_text("just some notes\n")
    with pytest.raises(ingest.IngestError, match=r"notes\.txt:1: .*WhatsApp"):
        ingest.run(ingest.receive_path(odd).id)


def test_the_html_facebook_download_says_what_to_download_instead(tmp_path: Path) -> None:
    zpath = tmp_path / "facebook.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("messages/inbox/someone_123/message_1.html", "<html></html>")
    with pytest.raises(ingest.IngestError, match="JSON"):
        ingest.run(ingest.receive_path(zpath).id)


def test_a_job_killed_half_way_is_completed_by_a_rerun(tmp_path: Path) -> None:
    """A real process, a real SIGKILL, a real SQLite file: the rerun completes the import and
    the archive equals a single clean run."""
    env = {
        **os.environ,
        "DMVAULT_DATA_DIR": str(tmp_path / "data"),
        "DMVAULT_ENV": "development",
        "DMVAULT_WRITE_BATCH": "500",
    }
    env.pop("DATABASE_URL", None)
    manage = [sys.executable, str(REPO / "manage.py")]
    export = tmp_path / "result.json"
    total = write_telegram_export(str(export), 30_000, chats=6)
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    receive = subprocess.run(
        [
            *manage,
            "shell",
            "--no-imports",
            "-c",
            f"from archive import ingest; print(ingest.receive_path(__import__('pathlib').Path('{export}')).id)",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    source_id = receive.stdout.strip().splitlines()[-1]
    run = [*manage, "shell", "--no-imports", "-c", f"from archive import ingest; ingest.run({source_id})"]
    proc = subprocess.Popen(run, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    count_cmd = [
        *manage,
        "shell",
        "--no-imports",
        "-c",
        "from archive.models import Message; print(Message.objects.count())",
    ]
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.3)
        out = subprocess.run(count_cmd, env=env, capture_output=True, text=True).stdout.strip()
        if out.isdigit() and 0 < int(out) < total:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = int(subprocess.run(count_cmd, env=env, capture_output=True, text=True).stdout.strip())
    assert 0 < partial < total, "the kill must land mid-import"
    status = [
        *manage,
        "shell",
        "--no-imports",
        "-c",
        f"from archive.models import Source; print(Source.objects.get(id={source_id}).status)",
    ]
    assert subprocess.run(status, env=env, capture_output=True, text=True).stdout.strip() == "running"
    subprocess.run(run, env=env, check=True)
    final = int(subprocess.run(count_cmd, env=env, capture_output=True, text=True).stdout.strip())
    assert final == total
    assert subprocess.run(status, env=env, capture_output=True, text=True).stdout.strip() == "done"


def test_evidence_reader_refuses_a_tampered_chunk(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    write_telegram_export(str(path), 50)
    source = ingest.receive_path(path)
    storage = storages["blobs"]
    with storage.open(source.evidence_blob) as fh:
        data = bytearray(fh.read())
    data[-5] ^= 1
    storage.delete(source.evidence_blob)
    storage.save(source.evidence_blob, ContentFile(bytes(data)))
    from archive.vault import CiphertextInvalid

    with pytest.raises(CiphertextInvalid), ingest.open_evidence(source) as fh:
        fh.read()
