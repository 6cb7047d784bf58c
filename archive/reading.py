"""Reading messages back: the only place message ciphertext is opened for display.

Only the rows asked for are fetched and decrypted, with their data keys looked up fresh, so
a crypto-shred in any process takes effect on the next read. A message whose key is gone
comes back marked ``erased`` with no content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import connection

from archive.vault import KeyDestroyed, Vault, get_vault


@dataclass
class OpenedMessage:
    id: int
    conversation_id: int
    sender_id: int | None
    sent_at: datetime
    kind: str
    edited: bool
    deleted: bool
    has_attachment: bool
    text: str = ""
    reactions: list[Any] = field(default_factory=list)
    previous_versions: list[str] = field(default_factory=list)
    share_url: str = ""
    call_duration_s: int | None = None
    erased: bool = False


KeyCache = dict[int, "AESGCM | None"]


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)  # SQLite stores UTC text


def open_messages(
    ids: list[int], *, vault: Vault | None = None, keys: KeyCache | None = None
) -> list[OpenedMessage]:
    """Fetch and decrypt these messages, in the order of ``ids``.

    ``keys`` is a per-request cache of unwrapped data keys (absent keys cached as ``None``): a
    search that decrypts candidates in several batches unwraps each key once. Never keep it
    beyond one request, so a crypto-shred elsewhere takes effect on the next one."""
    vault = vault or get_vault()
    keys = {} if keys is None else keys
    rows: dict[int, tuple[Any, ...]] = {}
    # Raw SQL: the ORM's per-row model machinery costs more than the decryption itself.
    with connection.cursor() as cur:
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            marks = ", ".join(["%s"] * len(chunk))
            cur.execute(
                "SELECT id, conversation_id, sender_id, sent_at, kind, edited, deleted, has_attachment, dek_id, body_ct "
                f"FROM archive_message WHERE id IN ({marks})",
                chunk,
            )
            for row in cur.fetchall():
                rows[row[0]] = row
    wanted = {row[8] for row in rows.values()} - keys.keys()
    if wanted:
        found = vault.data_keys_for_read(wanted)
        keys.update({dek: found.get(dek) for dek in wanted})
    out: list[OpenedMessage] = []
    for mid in ids:
        row = rows.get(mid)
        if row is None:
            continue
        _, conv_id, sender_id, sent_at, kind, edited, deleted, has_attachment, dek_id, body_ct = row
        msg = OpenedMessage(
            id=mid,
            conversation_id=conv_id,
            sender_id=sender_id,
            sent_at=_as_datetime(sent_at),
            kind=kind,
            edited=bool(edited),
            deleted=bool(deleted),
            has_attachment=bool(has_attachment),
        )
        try:
            body = json.loads(Vault.open(keys.get(dek_id), dek_id, "message.body", mid, body_ct))
        except KeyDestroyed:
            msg.erased = True
        else:
            msg.text = body.get("t", "")
            msg.reactions = body.get("r", [])
            msg.previous_versions = body.get("v", [])
            msg.share_url = body.get("u", "")
            msg.call_duration_s = body.get("d")
        out.append(msg)
    return out


def open_attachment_meta(
    message_ids: list[int], vault: Vault | None = None
) -> dict[int, list[tuple[dict[str, Any], Any]]]:
    """Each message's attachments, in order, with their decrypted metadata (name, type): the
    ``Attachment`` rows paired with what ``attachment.meta`` holds. Attachments whose key is
    destroyed are left out."""
    from archive.models import Attachment, Message

    if not message_ids:
        return {}
    vault = vault or get_vault()
    dek_of = dict(Message.objects.filter(id__in=message_ids).values_list("id", "dek_id"))
    keys = vault.data_keys_for_read(dek_of.values())
    out: dict[int, list[tuple[dict[str, Any], Any]]] = {}
    for att in Attachment.objects.filter(message_id__in=message_ids).order_by("message_id", "id"):
        dek_id = dek_of[att.message_id]
        try:
            meta = json.loads(Vault.open(keys.get(dek_id), dek_id, "attachment.meta", att.id, att.meta_ct))
        except KeyDestroyed:
            continue
        out.setdefault(att.message_id, []).append((meta, att))
    return out
