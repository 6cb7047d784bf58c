"""What the review pages show of the archive: conversation titles, participants' names, attachment
metadata and bytes (all opened through the vault), and the review redaction.

Review redaction: sensitive values in message text (card numbers, IBANs, national ids, secrets,
e-mail addresses, phone numbers, addresses, dates of birth, IP addresses) are shown as labelled
redactions (``[CREDIT_CARD]``) on every review page, detected by ``compliance.redaction``.
Roles with ``reveal_redacted`` can reveal one message's original text (an audited action).
Messages a retention policy or a consent withdrawal already rewrote (``RedactedMessage``) are
marked as such; their original is gone and cannot be revealed.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from django.core.files.storage import storages

from archive.models import Attachment, Blob, Conversation, Message, Participant
from archive.reading import OpenedMessage, open_attachment_meta
from archive.search.service import SearchScope
from archive.vault import KeyDestroyed, Vault, get_vault
from compliance.engine_models import RedactedMessage
from compliance.redaction import Redactor
from compliance.redaction.modes import LABEL, Policy, redact
from compliance.redaction_service import PresentedMessage

REVIEW_TYPES = (
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "US_SSN",
    "NATIONAL_ID",
    "IP_ADDRESS",
    "STREET_ADDRESS",
    "DATE_OF_BIRTH",
    "SECRET",
)
# Images shown inline; anything else (SVG, HTML, PDF, ...) is a download only.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@functools.lru_cache(maxsize=1)
def review_redactor() -> Redactor:
    return Redactor(enabled=REVIEW_TYPES, person_heuristics=False)


@dataclass
class Segment:
    text: str
    kind: str = ""  # "" plain, "hl" highlighted match, "red" redaction (text is its label)


def _policy_marks(m: OpenedMessage | None) -> list[tuple[int, int, str, str]]:
    """The spans the view policy already redacted in a presented message's text."""
    if not isinstance(m, PresentedMessage):
        return []
    return [
        (r["start"], r["end"], "red", m.text[r["start"] : r["end"]])
        for r in m.redactions
        if r.get("field") == "text"
    ]


def segments(
    text: str,
    highlights: list[tuple[int, int]] | None = None,
    *,
    reveal: bool = False,
    presented: OpenedMessage | None = None,
) -> tuple[list[Segment], int]:
    """Split ``text`` into plain / highlighted / redacted runs; returns (segments, redactions).

    ``presented`` (the message ``text`` belongs to, as the view policy presented it) marks the
    policy's own redactions; the review redactor then covers what is left."""
    if not text:
        return [], 0
    marks: list[tuple[int, int, str, str]] = [] if reveal else _policy_marks(presented)
    findings = [] if reveal else review_redactor().detect(text)
    findings = [f for f in findings if not any(s < f.end and f.start < e for s, e, _, _ in marks)]
    if findings:
        result = redact(text, findings, Policy(default_mode=LABEL))
        marks.extend((r.start, r.end, "red", r.replacement) for r in result.replacements)
    for start, end in highlights or []:
        if not any(s < end and start < e for s, e, _, _ in marks):
            marks.append((start, end, "hl", text[start:end]))
    marks.sort()
    out: list[Segment] = []
    pos = 0
    for start, end, kind, shown in marks:
        if start < pos:
            continue
        if start > pos:
            out.append(Segment(text[pos:start]))
        out.append(Segment(shown, kind))
        pos = end
    if pos < len(text):
        out.append(Segment(text[pos:]))
    return out, sum(1 for m in marks if m[2] == "red")


def redact_plain(text: str) -> str:
    findings = review_redactor().detect(text) if text else []
    return redact(text, findings, Policy(default_mode=LABEL)).text if findings else text


def conversation_titles(convs: list[Conversation]) -> dict[int, str]:
    vault = get_vault()
    keys = vault.data_keys_for_read(c.dek_id for c in convs)
    out: dict[int, str] = {}
    for c in convs:
        try:
            out[c.id] = Vault.open(
                keys.get(c.dek_id), c.dek_id, "conversation.title", c.id, c.title_ct
            ).decode()
        except KeyDestroyed:
            out[c.id] = "[erased]"
    return out


@dataclass
class Person:
    id: int
    name: str
    handle: str
    subject_id: int | None
    erased: bool = False


def people(participant_ids: set[int]) -> dict[int, Person]:
    rows = list(
        Participant.objects.filter(id__in=participant_ids).values_list(
            "id", "dek_id", "identity_ct", "subject_id"
        )
    )
    keys = get_vault().data_keys_for_read(dek for _, dek, _, _ in rows)
    out: dict[int, Person] = {}
    for pid, dek_id, sealed, subject_id in rows:
        try:
            ident = json.loads(Vault.open(keys.get(dek_id), dek_id, "participant.identity", pid, sealed))
        except KeyDestroyed:
            out[pid] = Person(pid, "[erased participant]", "", subject_id, erased=True)
            continue
        out[pid] = Person(
            pid,
            ident.get("name") or ident.get("handle") or ident.get("id") or "?",
            ident.get("handle") or "",
            subject_id,
        )
    return out


@dataclass
class AttachmentInfo:
    id: int
    message_id: int
    name: str
    content_type: str
    size: int | None
    stored: bool

    @property
    def inline(self) -> bool:
        return self.stored and self.content_type in INLINE_IMAGE_TYPES


def attachments_of(message_ids: list[int]) -> dict[int, list[AttachmentInfo]]:
    return {
        mid: [
            AttachmentInfo(
                att.id,
                att.message_id,
                str(meta.get("name") or "attachment"),
                str(meta.get("type") or ""),
                att.size,
                att.blob_id is not None,
            )
            for meta, att in pairs
        ]
        for mid, pairs in open_attachment_meta(message_ids).items()
    }


def attachment_bytes(att_id: int, *, scope: SearchScope) -> tuple[AttachmentInfo, bytes | None] | None:
    """An attachment and its decrypted bytes; ``None`` when it does not exist or its message
    lies outside the reader's review ``scope``."""
    att = Attachment.objects.filter(id=att_id).first()
    if att is None or not Message.objects.filter(scope.message_q(), id=att.message_id).exists():
        return None
    info = attachments_of([att.message_id]).get(att.message_id, [])
    found = next((a for a in info if a.id == att.id), None)
    if found is None:
        return None
    if att.blob_id is None:
        return found, None
    blob = Blob.objects.filter(id=att.blob_id).first()
    if blob is None:
        return found, None
    with storages["blobs"].open(blob.storage_name, "rb") as fh:
        sealed = fh.read()
    vault = get_vault()
    try:
        return found, Vault.open(
            vault.data_keys_for_read([blob.dek_id]).get(blob.dek_id), blob.dek_id, "blob", blob.id, sealed
        )
    except KeyDestroyed:
        return found, None


@dataclass
class Bubble:
    """One message as the conversation view shows it."""

    msg: OpenedMessage
    sender: Person | None
    mine: bool
    segments: list[Segment] = field(default_factory=list)
    redactions: int = 0
    revealed: bool = False
    policy_redacted: bool = False
    previous: list[str] = field(default_factory=list)
    reactions: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[AttachmentInfo] = field(default_factory=list)
    highlighted: bool = False

    @property
    def system(self) -> bool:
        return self.msg.kind in ("system", "call")


def bubbles(
    opened: list[OpenedMessage],
    *,
    owner_subject: int | None,
    reveal: set[int] = frozenset(),  # type: ignore[assignment]
    highlight: int | None = None,
    platform_ids: dict[str, str] | None = None,
) -> list[Bubble]:
    ids = [m.id for m in opened]
    senders = people({m.sender_id for m in opened if m.sender_id is not None})
    atts = attachments_of([m.id for m in opened if m.has_attachment])
    policy = set(RedactedMessage.objects.filter(message_id__in=ids).values_list("message_id", flat=True))
    out: list[Bubble] = []
    for m in opened:
        sender = senders.get(m.sender_id) if m.sender_id is not None else None
        revealed = m.id in reveal
        segs, n = segments(m.text, reveal=revealed, presented=m)
        b = Bubble(
            msg=m,
            sender=sender,
            mine=bool(sender and owner_subject and sender.subject_id == owner_subject),
            segments=segs,
            redactions=n,
            revealed=revealed,
            policy_redacted=m.id in policy,
            previous=[v if revealed else redact_plain(v) for v in m.previous_versions],
            attachments=atts.get(m.id, []),
            highlighted=m.id == highlight,
        )
        for r in m.reactions:
            actor, value = (r[0], r[1]) if isinstance(r, list | tuple) and len(r) >= 2 else ("", str(r))
            b.reactions.append((str(value), (platform_ids or {}).get(str(actor), "")))
        out.append(b)
    return out


def platform_id_names(conv: Conversation) -> tuple[dict[str, str], dict[int, Person]]:
    """{platform id: display name} of a conversation's participants (to name reactions)."""
    pids = set(conv.participants.values_list("id", flat=True))
    ppl = people(pids)
    rows = list(Participant.objects.filter(id__in=pids).values_list("id", "dek_id", "identity_ct"))
    keys = get_vault().data_keys_for_read(dek for _, dek, _ in rows)
    out: dict[str, str] = {}
    for pid, dek_id, sealed in rows:
        try:
            ident: dict[str, Any] = json.loads(
                Vault.open(keys.get(dek_id), dek_id, "participant.identity", pid, sealed)
            )
        except KeyDestroyed:
            continue
        out[str(ident.get("id"))] = ppl[pid].name
    return out, ppl
