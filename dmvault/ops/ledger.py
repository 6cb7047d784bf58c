"""The erasure and retention ledger: what was destroyed, kept outside the database.

A backup restored after an erasure would bring the erased subject's keys and rows back. So
every erasure and every retention run is also appended to a file that is *not* part of the
database or its backups (``DMVAULT_LEDGER_PATH``, by default ``$DMVAULT_DATA_DIR/ledger/
erasure-ledger.jsonl``; put it on the same protected volume as the keyring), and ``restore``
replays the entries recorded since the snapshot (``replay``).

Format: one JSON object per line, appended under an exclusive ``flock`` and fsynced::

    {"seq": 7, "at": "...", "kind": "erasure", "certificate_id": "...", "subject_id": "...",
     "participants": ["..."], "tombstones": ["<hex keyed hash>"], "prev": "<hash of line 6>",
     "hash": "<sha256 of this entry>"}
    {"seq": 8, "at": "...", "kind": "retention", "certificate_id": "...", "run_id": "...",
     "deleted": "<zlib+base64 of 8-byte ids>", "redacted": "...", "months_dropped": [202301]}

Entries hold only ids (random subject/participant ids, time-ordered message ids), times and
the erased identities' tombstone digests (archive-keyed HMACs, ``compliance.tombstones``): no
content, no names, no keys. Each entry hashes the previous one, so a removed or edited line
breaks the chain (``verify``). Entries are written when the erasure's or run's certificate is
committed (a ``post_save`` on ``Certificate`` deferred with ``on_commit``), so a rolled-back
erasure never enters the ledger.
"""

from __future__ import annotations

import base64
import contextvars
import fcntl
import hashlib
import json
import logging
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save

log = logging.getLogger(__name__)
GENESIS = "0" * 64
# Entries a little older than the snapshot are replayed too (clocks of different nodes).
REPLAY_MARGIN = timedelta(minutes=5)
_replaying: contextvars.ContextVar[bool] = contextvars.ContextVar("dmvault_ledger_replaying", default=False)


class LedgerError(Exception):
    pass


def ledger_path() -> Path:
    return Path(settings.DMVAULT_LEDGER_PATH)


def pack_ids(ids: Iterable[int]) -> str:
    raw = b"".join(int(i).to_bytes(8, "big", signed=True) for i in sorted(ids))
    return base64.b64encode(zlib.compress(raw)).decode()


def unpack_ids(text: str) -> list[int]:
    raw = zlib.decompress(base64.b64decode(text)) if text else b""
    return [int.from_bytes(raw[i : i + 8], "big", signed=True) for i in range(0, len(raw), 8)]


def _entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read(path: Path | None = None) -> list[dict[str, Any]]:
    path = path or ledger_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def verify(path: Path | None = None) -> int:
    """Check the hash chain; returns the number of entries or raises ``LedgerError``."""
    prev = GENESIS
    entries = read(path)
    for n, entry in enumerate(entries, start=1):
        if entry.get("seq") != n or entry.get("prev") != prev or entry.get("hash") != _entry_hash(entry):
            raise LedgerError(f"the ledger is broken at entry {n}")
        prev = entry["hash"]
    return len(entries)


def head(path: Path | None = None) -> dict[str, Any]:
    entries = read(path)
    return (
        {"seq": entries[-1]["seq"], "hash": entries[-1]["hash"]} if entries else {"seq": 0, "hash": GENESIS}
    )


def append(kind: str, at: str, **fields: Any) -> dict[str, Any]:
    path = ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "r+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0)
            lines = [line for line in fh.read().splitlines() if line.strip()]
            last: dict[str, Any] = json.loads(lines[-1]) if lines else {"seq": 0, "hash": GENESIS}
            entry: dict[str, Any] = {
                "seq": last["seq"] + 1,
                "at": at,
                "kind": kind,
                **fields,
                "prev": last["hash"],
            }
            entry["hash"] = _entry_hash(entry)
            fh.seek(0, os.SEEK_END)
            fh.write(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return entry


# --- recording ----------------------------------------------------------------------------------


def record_certificate(cert: Any) -> dict[str, Any] | None:
    """Append the ledger entry for an erasure or retention certificate (idempotent per certificate)."""
    body: dict[str, Any] = json.loads(cert.body)
    if cert.kind not in ("erasure", "retention"):
        return None
    if any(e.get("certificate_id") == str(cert.id) for e in read()):
        return None
    at = body.get("issued_at") or cert.issued_at.isoformat()
    if cert.kind == "erasure":
        from compliance import tombstones

        return append(
            "erasure",
            at,
            certificate_id=str(cert.id),
            subject_id=str(body["subject_id"]),
            participants=[str(p) for p in body.get("participants", [])],
            **tombstones.ledger_fields(int(body["subject_id"])),
        )
    from compliance.engine_models import RetentionBatch

    run_id = int(body["run_id"])
    deleted: list[int] = []
    redacted: list[int] = []
    for batch in RetentionBatch.objects.filter(run_id=run_id).order_by("seq"):
        raw = bytes(batch.ids)
        ids = [int.from_bytes(raw[i : i + 8], "big", signed=True) for i in range(0, len(raw), 8)]
        (deleted if batch.action == "delete" else redacted).extend(ids)
    return append(
        "retention",
        at,
        certificate_id=str(cert.id),
        run_id=str(run_id),
        deleted=pack_ids(deleted),
        redacted=pack_ids(redacted),
        months_dropped=[int(m) for m in (body.get("ranges") or {}).get("months_dropped", [])],
    )


def _on_certificate(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created or _replaying.get() or kwargs.get("raw"):
        return

    def write() -> None:
        try:
            record_certificate(instance)
        except Exception:
            # The erasure itself has happened; losing its ledger entry must be loud.
            log.exception("could not append certificate %s to the erasure ledger", instance.id)

    transaction.on_commit(write)


def connect() -> None:
    post_save.connect(_on_certificate, sender="compliance.Certificate", dispatch_uid="dmvault-ops-ledger")


# --- replay -------------------------------------------------------------------------------------


@dataclass
class ReplayReport:
    entries: int = 0
    subjects_erased: int = 0
    participants_forced: int = 0
    messages_deleted: int = 0
    messages_redacted: int = 0
    months_dropped: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def entries_since(since: datetime | None, path: Path | None = None) -> Iterator[dict[str, Any]]:
    for entry in read(path):
        if since is None or datetime.fromisoformat(entry["at"]) >= since - REPLAY_MARGIN:
            yield entry


def replay(since: datetime | None, path: Path | None = None) -> ReplayReport:
    """Re-apply every erasure and retention deletion recorded since ``since`` (idempotent)."""
    verify(path)
    report = ReplayReport()
    token = _replaying.set(True)
    try:
        for entry in entries_since(since, path):
            report.entries += 1
            if entry["kind"] == "erasure":
                _replay_erasure(entry, report)
            elif entry["kind"] == "retention":
                _replay_retention(entry, report)
    finally:
        _replaying.reset(token)
    return report


def _replay_erasure(entry: dict[str, Any], report: ReplayReport) -> None:
    from archive.models import DataSubject
    from compliance import tombstones
    from compliance.subjects import erase_subject

    subject_id = int(entry["subject_id"])
    participants = [int(p) for p in entry.get("participants", [])]
    # The erased identities' keyed hashes first: a snapshot older than the erasure lacks them.
    tombstones.restore((bytes.fromhex(d) for d in entry.get("tombstones", [])), subject_id)
    subject = DataSubject.objects.filter(id=subject_id).first()
    if subject is not None and subject.erased_at is None:
        result = erase_subject(subject_id, None, two_person=False)
        if result.refused:
            report.notes.append(f"subject {subject_id}: {result.refused}; erased by force")
        else:
            report.subjects_erased += 1
    # Whatever the subject row says, the participants named in the ledger end up shredded:
    # covers refusals (a hold that was released before the original erasure) and links made
    # after the snapshot.
    report.participants_forced += force_erase_participants(participants, subject_id)


def force_erase_participants(participant_ids: list[int], subject_id: int | None = None) -> int:
    """Make these participants' messages and identities unreadable, without any policy check."""
    from archive.models import Attachment, DataKey, DataSubject, Message, Participant
    from archive.vault.operations import shred_participants
    from compliance import purge

    present = list(Participant.objects.filter(id__in=participant_ids).values_list("id", flat=True))
    if not present and subject_id is None:
        return 0
    sent = sorted(Message.objects.filter(sender_id__in=present).values_list("id", flat=True))
    for start in range(0, len(sent), 1000):
        batch = sent[start : start + 1000]
        with transaction.atomic():
            purge.remove_postings(batch)  # messages still readable; erased ones are skipped
            blob_ids = set(
                Attachment.objects.filter(message_id__in=batch, blob_id__isnull=False).values_list(
                    "blob_id", flat=True
                )
            )
            Attachment.objects.filter(message_id__in=batch).delete()
            purge._delete_blobs(blob_ids)
    with transaction.atomic():
        from compliance import tombstones

        tombstones.record(present, subject_id)
        shred_participants(present)
        for start in range(0, len(sent), 1000):
            Message.objects.filter(id__in=sent[start : start + 1000]).update(
                body_ct=b"", has_attachment=False
            )
        Participant.objects.filter(id__in=present).update(identity_ct=b"")
        if subject_id is not None:
            subject = DataSubject.objects.filter(id=subject_id).first()
            if subject is not None:
                DataKey.objects.filter(id=subject.dek_id).delete()
                if subject.erased_at is None:
                    from django.utils import timezone

                    DataSubject.objects.filter(id=subject_id).update(erased_at=timezone.now(), label_ct=b"")
    return len(present)


def _replay_retention(entry: dict[str, Any], report: ReplayReport) -> None:
    from archive import index
    from archive.models import Message
    from archive.vault.operations import shred_month
    from compliance import purge

    deleted = unpack_ids(entry.get("deleted", ""))
    redacted = unpack_ids(entry.get("redacted", ""))
    touched: set[int] = set()
    for start in range(0, len(deleted), 1000):
        with transaction.atomic():
            counts = purge.delete_messages(deleted[start : start + 1000], postings=True)
        report.messages_deleted += counts.messages
        touched |= counts.conversations
    if redacted:
        from compliance.retention import redactor_change

        existing = list(Message.objects.filter(id__in=redacted).values_list("id", flat=True))
        counts = purge.rewrite_messages(existing, redactor_change(), drop_attachments=True)
        touched |= counts.conversations
        report.messages_redacted += len(existing)
    for month in entry.get("months_dropped", []):
        low, high = purge._month_range(int(month))
        if Message.objects.filter(id__gte=low, id__lt=high).exists():
            report.notes.append(f"month {month}: messages remain, keys kept")
            continue
        with transaction.atomic():
            shred_month(int(month))
            if int(month) in index.existing_months():
                index.drop_partition(int(month))
        report.months_dropped += 1
    purge.refresh_conversations(touched)
