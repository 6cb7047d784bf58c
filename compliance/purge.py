"""Destroying and rewriting archived messages: the primitives retention, erasure and consent
withdrawal share. Callers check holds and locks first and run these inside their transaction.

* ``delete_messages`` removes the exact postings of each message (its tokens recomputed from the
  decrypted text with ``archive.index.message_tokens``, so prefix and pair postings go too), its attachment
  rows, the blobs no longer referenced (file, row and blob key), the message rows, and then every
  (conversation, author, month) message key that no longer protects any message.
* ``rewrite_messages`` re-seals changed bodies under their own key and swaps their postings.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.files.storage import storages
from django.db import connection, transaction
from django.db.models import Count, Max, Min

from archive import index
from archive.ids import id_floor, month_of
from archive.models import Attachment, Blob, Conversation, DataKey, Message
from archive.reading import OpenedMessage, open_messages
from archive.vault import Vault, get_vault

_CHUNK = 500


@dataclass
class PurgeCounts:
    messages: int = 0
    postings: int = 0
    attachments: int = 0
    blobs: int = 0
    data_keys: int = 0
    rewritten: int = 0
    conversations: set[int] = field(default_factory=set)

    def add(self, other: PurgeCounts) -> None:
        self.messages += other.messages
        self.postings += other.postings
        self.attachments += other.attachments
        self.blobs += other.blobs
        self.data_keys += other.data_keys
        self.rewritten += other.rewritten
        self.conversations |= other.conversations

    def as_dict(self) -> dict[str, int]:
        return {
            "messages": self.messages,
            "postings": self.postings,
            "attachments": self.attachments,
            "blobs": self.blobs,
            "data_keys": self.data_keys,
            "rewritten": self.rewritten,
        }


def _month_range(month: int) -> tuple[int, int]:
    from datetime import UTC, datetime

    year, mon = divmod(month, 100)
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), 1 if mon == 12 else mon + 1, 1, tzinfo=UTC)
    return id_floor(start), id_floor(end)


def postings_of(messages: Iterable[OpenedMessage], vault: Vault) -> dict[int, list[tuple[int, int]]]:
    """The exact (token, message id) postings of readable messages, by month."""
    out: dict[int, list[tuple[int, int]]] = {}
    tokenizers: dict[int, index.Tokenizer | None] = {}
    for msg in messages:
        if msg.erased:
            continue
        month = month_of(msg.id)
        if month not in tokenizers:
            tokenizers[month] = index.tokenizer_for(vault, month, create=False)
        tok = tokenizers[month]
        if tok is None:
            continue
        out.setdefault(month, []).extend(
            (t, msg.id) for t in index.message_tokens(tok, msg.text, (msg.share_url,))
        )
    return out


def remove_postings(message_ids: list[int], vault: Vault | None = None) -> int:
    vault = vault or get_vault()
    removed = 0
    existing = index.existing_months()
    for month, rows in postings_of(open_messages(message_ids, vault=vault), vault).items():
        if month in existing:
            index.delete_postings(month, rows)
            removed += len(rows)
    return removed


def _delete_blobs(blob_ids: set[int]) -> tuple[int, int]:
    """Delete blobs no attachment references any more: row, key, then (after commit) the file."""
    if not blob_ids:
        return 0, 0
    still = set(Attachment.objects.filter(blob_id__in=blob_ids).values_list("blob_id", flat=True))
    orphans = list(Blob.objects.filter(id__in=blob_ids - still).values_list("id", "storage_name", "dek_id"))
    if not orphans:
        return 0, 0
    keys = DataKey.objects.filter(id__in=[d for _, _, d in orphans]).delete()[0]
    Blob.objects.filter(id__in=[b for b, _, _ in orphans]).delete()
    names = [n for _, n, _ in orphans]

    def remove_files() -> None:
        store = storages["blobs"]
        for name in names:
            # the key is already gone: a file left behind is unreadable either way
            with contextlib.suppress(OSError):
                store.delete(name)

    transaction.on_commit(remove_files)
    return len(orphans), keys


def delete_messages(
    message_ids: list[int], *, postings: bool = True, shred_keys: bool = True, vault: Vault | None = None
) -> PurgeCounts:
    """Delete these messages completely (see the module docstring). ``postings=False`` and
    ``shred_keys=False`` skip the posting removal and the key check, for months whose partition
    and keys the caller drops whole (``shred_month`` + ``drop_partition``)."""
    vault = vault or get_vault()
    counts = PurgeCounts()
    for start in range(0, len(message_ids), _CHUNK):
        chunk = message_ids[start : start + _CHUNK]
        rows = list(Message.objects.filter(id__in=chunk).values_list("id", "conversation_id", "dek_id"))
        if not rows:
            continue
        ids = [r[0] for r in rows]
        if postings:
            counts.postings += remove_postings(ids, vault)
        blob_ids = set(
            Attachment.objects.filter(message_id__in=ids, blob_id__isnull=False).values_list(
                "blob_id", flat=True
            )
        )
        counts.attachments += Attachment.objects.filter(message_id__in=ids).delete()[0]
        with connection.cursor() as cur:
            marks = ", ".join(["%s"] * len(ids))
            cur.execute(f"DELETE FROM archive_message WHERE id IN ({marks})", ids)
            counts.messages += cur.rowcount
        blobs, blob_keys = _delete_blobs(blob_ids)
        counts.blobs += blobs
        counts.data_keys += blob_keys
        if shred_keys:
            counts.data_keys += _shred_unused_message_keys(rows)
        counts.conversations.update(r[1] for r in rows)
    return counts


def _shred_unused_message_keys(rows: list[tuple[int, int, int]]) -> int:
    """Delete the message keys of these (deleted) rows that no remaining message uses. A key's
    scope is (conversation, author, month), so the check looks only inside those months of those
    conversations, on the (conversation, id) index."""
    deks = {r[2] for r in rows}
    convs = {r[1] for r in rows}
    months = {month_of(r[0]) for r in rows}
    low = min(_month_range(m)[0] for m in months)
    high = max(_month_range(m)[1] for m in months)
    used = set(
        Message.objects.filter(conversation_id__in=convs, id__gte=low, id__lt=high, dek_id__in=deks)
        .values_list("dek_id", flat=True)
        .distinct()
    )
    gone = deks - used
    if not gone:
        return 0
    return DataKey.objects.filter(id__in=gone, scope__startswith="m:").delete()[0]


def body_of(msg: OpenedMessage) -> dict[str, Any]:
    body: dict[str, Any] = {"t": msg.text}
    if msg.reactions:
        body["r"] = msg.reactions
    if msg.previous_versions:
        body["v"] = msg.previous_versions
    if msg.share_url:
        body["u"] = msg.share_url
    if msg.call_duration_s is not None:
        body["d"] = msg.call_duration_s
    return body


def rewrite_messages(
    message_ids: list[int],
    change: Callable[[OpenedMessage], OpenedMessage | None],
    *,
    drop_attachments: bool = False,
    vault: Vault | None = None,
) -> PurgeCounts:
    """Apply ``change`` to each readable message; a returned message is re-sealed under the same
    key with its postings swapped (old ones removed exactly, new ones added)."""
    vault = vault or get_vault()
    counts = PurgeCounts()
    existing = index.existing_months()
    for start in range(0, len(message_ids), _CHUNK):
        chunk = message_ids[start : start + _CHUNK]
        opened = open_messages(chunk, vault=vault)
        changed: list[tuple[OpenedMessage, OpenedMessage]] = []
        for msg in opened:
            if msg.erased:
                continue
            new = change(copy.deepcopy(msg))  # ``change`` may edit it in place
            if new is not None:
                changed.append((msg, new))
        if changed:
            dek_of = dict(
                Message.objects.filter(id__in=[m.id for m, _ in changed]).values_list("id", "dek_id")
            )
            keys = vault.data_keys_for_read(dek_of.values())
            for month, rows in postings_of([m for m, _ in changed], vault).items():
                if month in existing:
                    index.delete_postings(month, rows)
                    counts.postings += len(rows)
            for month, rows in postings_of([n for _, n in changed], vault).items():
                if month in existing:
                    index.insert_postings(month, sorted(set(rows)))
            for old, new in changed:
                dek_id = dek_of[old.id]
                sealed = Vault.seal(
                    keys[dek_id],
                    dek_id,
                    "message.body",
                    old.id,
                    json.dumps(body_of(new), ensure_ascii=False).encode(),
                )
                Message.objects.filter(id=old.id).update(body_ct=sealed)
                counts.rewritten += 1
                counts.conversations.add(old.conversation_id)
        if drop_attachments:
            ids = [m.id for m in opened]
            blob_ids = set(
                Attachment.objects.filter(message_id__in=ids, blob_id__isnull=False).values_list(
                    "blob_id", flat=True
                )
            )
            counts.attachments += Attachment.objects.filter(message_id__in=ids).delete()[0]
            Message.objects.filter(id__in=ids).update(has_attachment=False)
            blobs, blob_keys = _delete_blobs(blob_ids)
            counts.blobs += blobs
            counts.data_keys += blob_keys
    return counts


def refresh_conversations(conversation_ids: Iterable[int]) -> None:
    """Recompute the message counts and first/last times of these conversations."""
    for conv_id in conversation_ids:
        stats = Message.objects.filter(conversation_id=conv_id).aggregate(
            n=Count("id"), first=Min("sent_at"), last=Max("sent_at")
        )
        Conversation.objects.filter(id=conv_id).update(
            message_count=stats["n"], first_message_at=stats["first"], last_message_at=stats["last"]
        )
