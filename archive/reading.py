"""Reading messages back: the only place message ciphertext is opened for display.

Only the rows asked for are fetched and decrypted, with their data keys looked up fresh, so
a crypto-shred in any process takes effect on the next read. A message whose key is gone
comes back marked ``erased`` with no content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archive.models import Message
from archive.vault import CiphertextInvalid, KeyDestroyed, Vault, get_vault


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


def open_messages(ids: list[int], *, vault: Vault | None = None) -> list[OpenedMessage]:
    """Fetch and decrypt these messages, in the order of ``ids``."""
    vault = vault or get_vault()
    rows = {
        r["id"]: r
        for r in Message.objects.filter(id__in=ids).values(
            "id",
            "conversation_id",
            "sender_id",
            "sent_at",
            "kind",
            "edited",
            "deleted",
            "has_attachment",
            "dek_id",
            "body_ct",
        )
    }
    keys = vault.data_keys_for_read(r["dek_id"] for r in rows.values())
    out: list[OpenedMessage] = []
    for mid in ids:
        row = rows.get(mid)
        if row is None:
            continue
        msg = OpenedMessage(
            id=mid,
            conversation_id=row["conversation_id"],
            sender_id=row["sender_id"],
            sent_at=row["sent_at"],
            kind=row["kind"],
            edited=row["edited"],
            deleted=row["deleted"],
            has_attachment=row["has_attachment"],
        )
        try:
            body = json.loads(
                Vault.open(keys.get(row["dek_id"]), row["dek_id"], "message.body", mid, row["body_ct"])
            )
        except KeyDestroyed:
            msg.erased = True
        except CiphertextInvalid:
            raise
        else:
            msg.text = body.get("t", "")
            msg.reactions = body.get("r", [])
            msg.previous_versions = body.get("v", [])
            msg.share_url = body.get("u", "")
            msg.call_duration_s = body.get("d")
        out.append(msg)
    return out
