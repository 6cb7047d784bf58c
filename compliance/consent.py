"""The consent registry.

Per data subject and purpose (``archiving``, ``review``, ``export``) an append-only history of
``ConsentRecord`` rows (lawful basis, evidence sealed through the vault, who recorded it and
when); the current state is the newest row. A subject with no record for a purpose is treated as
consenting (the archive's lawful basis is then whatever the deployment documents).

Withdrawing (or refusing) ``archiving``:

* takes effect on the next ingest: ``ingest_filter(source)`` returns a callable that wraps the
  importer's conversations and drops (``DMVAULT_CONSENT_INGEST_ACTION=drop``, the default) or
  redacts (``redact``: text replaced, attachments and reactions removed) the messages whose
  sender is a participant of a refusing subject. The ingest calls
  ``writer.write(ingest_filter(source)(importer.parse(...)))``;
* applies the record's ``on_withdrawal`` action to existing messages the subject sent:
  ``keep`` (nothing), ``redact`` (text replaced by a marker, attachments deleted) or ``erase``
  (messages deleted exactly, as retention does). Messages under a legal hold or a compliance
  lock are left untouched and a ``ConsentConflict`` row records why (``conflicts()`` lists the
  open ones); the rest is processed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from archive.importers.base import ParsedConversation, ParsedMessage
from archive.models import DataSubject, Message, Participant, Source
from archive.reading import OpenedMessage
from archive.vault import get_vault
from compliance import purge
from compliance.engine_models import ConsentConflict, ConsentRecord, RedactedMessage

EVIDENCE_FIELD = "consent.evidence"
WITHHELD_TEXT = "[withheld: consent withdrawn]"
REFUSING = (ConsentRecord.State.WITHDRAWN, ConsentRecord.State.REFUSED)


def evidence_scope(subject_id: int) -> str:
    return f"consent:{subject_id}"


def record(
    subject_id: int,
    purpose: str,
    state: str,
    *,
    lawful_basis: str = ConsentRecord.Basis.CONSENT,
    evidence: str = "",
    recorded_by: Any = None,
    on_withdrawal: str = ConsentRecord.OnWithdrawal.KEEP,
) -> ConsentRecord:
    """Append a consent entry; a withdrawal or refusal of ``archiving`` applies its action."""
    subject = DataSubject.objects.get(id=subject_id)
    row = ConsentRecord(
        subject=subject,
        purpose=purpose,
        state=state,
        lawful_basis=lawful_basis,
        on_withdrawal=on_withdrawal,
        recorded_by=recorded_by,
    )
    if evidence:
        row.evidence_dek_id, row.evidence_ct = get_vault().seal_field(
            evidence_scope(subject.id), EVIDENCE_FIELD, row.id, evidence.encode()
        )
    row.full_clean(exclude=["evidence_ct", "applied"])
    with transaction.atomic():
        row.save(force_insert=True)
        _audit("consent.record", recorded_by, row.id, f"{purpose}:{state}:{lawful_basis}")
    if purpose == ConsentRecord.Purpose.ARCHIVING and state in REFUSING and on_withdrawal != "keep":
        row.applied = apply_withdrawal(row)
        row.save(update_fields=["applied"])
    return row


def _audit(action: str, actor: Any, target_id: Any, detail: str = "", count: int | None = None) -> None:
    from compliance.audit import record_service_event

    record_service_event(action, actor, "consent", target_id, detail=detail, count=count)


def current(subject_id: int, purpose: str) -> ConsentRecord | None:
    return (
        ConsentRecord.objects.filter(subject_id=subject_id, purpose=purpose)
        .order_by("-recorded_at", "-id")
        .first()
    )


def history(subject_id: int, purpose: str | None = None) -> list[ConsentRecord]:
    qs = ConsentRecord.objects.filter(subject_id=subject_id)
    if purpose:
        qs = qs.filter(purpose=purpose)
    return list(qs.order_by("recorded_at", "id"))


def evidence_of(row: ConsentRecord) -> str | None:
    if not row.evidence_ct or row.evidence_dek_id is None:
        return None
    from archive.vault import KeyDestroyed

    try:
        return (
            get_vault()
            .open_field(row.evidence_dek_id, EVIDENCE_FIELD, row.id, bytes(row.evidence_ct))
            .decode()
        )
    except KeyDestroyed:
        return None


def refusing_subjects(purpose: str = ConsentRecord.Purpose.ARCHIVING) -> set[int]:
    """Subjects whose newest entry for ``purpose`` is a withdrawal or refusal."""
    latest: dict[int, str] = {}
    for subject_id, state in (
        ConsentRecord.objects.filter(purpose=purpose)
        .order_by("recorded_at", "id")
        .values_list("subject_id", "state")
    ):
        latest[subject_id] = state
    return {s for s, state in latest.items() if state in REFUSING}


def conflicts(*, open_only: bool = True) -> list[ConsentConflict]:
    qs = ConsentConflict.objects.all()
    if open_only:
        qs = qs.filter(resolved_at__isnull=True)
    return list(qs.order_by("-created_at"))


# --- existing content ----------------------------------------------------------------------------------


def _withheld(msg: OpenedMessage) -> OpenedMessage | None:
    if msg.text == WITHHELD_TEXT and not msg.previous_versions and not msg.share_url:
        return None
    msg.text, msg.previous_versions, msg.share_url, msg.reactions = WITHHELD_TEXT, [], "", []
    return msg


def apply_withdrawal(row: ConsentRecord) -> dict[str, Any]:
    """Redact or delete what the subject sent, except what holds or locks protect (recorded as
    ``ConsentConflict`` rows)."""
    from compliance.holds import HoldChecker, message_rows
    from compliance.retention import locked_until

    participant_ids = list(Participant.objects.filter(subject_id=row.subject_id).values_list("id", flat=True))
    ids = list(
        Message.objects.filter(sender_id__in=participant_ids).order_by("id").values_list("id", flat=True)
    )
    held = HoldChecker().held(message_rows(ids))
    now = timezone.now()
    locked = {mid for mid, until in locked_until(ids).items() if until > now and mid not in held}
    with transaction.atomic():
        if held:
            ConsentConflict.objects.create(
                consent=row,
                subject_id=row.subject_id,
                reason="hold",
                detail=f"{len(held)} message(s) under legal hold were not {row.on_withdrawal}ed",
                messages=len(held),
            )
        if locked:
            ConsentConflict.objects.create(
                consent=row,
                subject_id=row.subject_id,
                reason="lock",
                detail=f"{len(locked)} message(s) under a compliance lock were not {row.on_withdrawal}ed",
                messages=len(locked),
            )
        todo = [m for m in ids if m not in held and m not in locked]
        if row.on_withdrawal == ConsentRecord.OnWithdrawal.ERASE:
            counts = purge.delete_messages(todo)
        else:
            counts = purge.rewrite_messages(todo, _withheld, drop_attachments=True)
            RedactedMessage.objects.bulk_create(
                [RedactedMessage(message_id=m, reason="consent") for m in todo], ignore_conflicts=True
            )
        purge.refresh_conversations(counts.conversations)
        _audit(
            f"consent.withdrawal.{row.on_withdrawal}",
            row.recorded_by,
            row.id,
            f"held {len(held)}, locked {len(locked)}",
            count=len(todo),
        )
    return {"processed": len(todo), "held": len(held), "locked": len(locked), **counts.as_dict()}


# --- ingest --------------------------------------------------------------------------------------------


def ingest_filter(
    source: Source, *, action: str | None = None
) -> Callable[[Iterable[ParsedConversation]], Iterator[ParsedConversation]]:
    """A wrapper for the importer's conversations that drops (or redacts) the messages of
    participants whose subject refuses archiving. Looked up once per call; the returned callable
    decides per sender with one keyed hash per distinct sender."""
    action = action or getattr(settings, "DMVAULT_CONSENT_INGEST_ACTION", "drop")
    if action not in ("drop", "redact"):
        raise ValueError("DMVAULT_CONSENT_INGEST_ACTION must be 'drop' or 'redact'")
    refusing = refusing_subjects()
    owner_refuses = source.owner_id is not None and source.owner_id in refusing
    refusing_keys = {
        bytes(k)
        for k in Participant.objects.filter(subject_id__in=refusing).values_list("dedup_key", flat=True)
    }
    vault = get_vault()

    def wrap(conversations: Iterable[ParsedConversation]) -> Iterator[ParsedConversation]:
        if not refusing:
            yield from conversations
            return
        for conv in conversations:
            blocked: set[str] = set()
            for p in conv.participants:
                if (owner_refuses and p.is_owner) or vault.keyed_hash(
                    b"participant", conv.platform, p.platform_id
                ) in refusing_keys:
                    blocked.add(p.platform_id)
            if not blocked:
                yield conv
                continue
            cache: dict[str, bool] = {pid: True for pid in blocked}

            def refused(
                sender: str | None, platform: str = conv.platform, cache: dict[str, bool] = cache
            ) -> bool:
                if sender is None:
                    return False
                hit = cache.get(sender)
                if hit is None:
                    hit = cache[sender] = vault.keyed_hash(b"participant", platform, sender) in refusing_keys
                return hit

            def messages(msgs: Iterable[ParsedMessage]) -> Iterator[ParsedMessage]:
                for msg in msgs:
                    if not refused(msg.sender_id):
                        yield msg
                    elif action == "redact":
                        yield replace(
                            msg,
                            text=WITHHELD_TEXT,
                            attachments=[],
                            reactions=[],
                            previous_versions=[],
                            share_url="",
                        )

            yield replace(conv, messages=messages(conv.messages))

    return wrap
