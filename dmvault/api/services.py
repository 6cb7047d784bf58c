"""Service functions behind the API views. Views parse, authorize, call one of these, respond.

All message content comes from ``archive.reading.open_messages`` (the only decryption path for
messages); conversation titles are opened here through the vault. ``search_page`` runs the
query language through ``archive.search.service``.

Every content read is limited to the reader's review scope (``accounts.scope.scope_for``): what
lies outside it is not found, and is never counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Min, QuerySet

from accounts.scope import scope_for
from archive.models import Conversation, Message, Source
from archive.reading import OpenedMessage, open_messages
from archive.search.service import SearchScope, present, search_for
from archive.vault import KeyDestroyed, Vault, get_vault
from compliance.redaction_service import PresentedMessage, Viewer


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


# --- sources --------------------------------------------------------------------------------


def source_dict(source: Source) -> dict[str, Any]:
    return {
        "id": str(source.id),
        "platform": source.platform,
        "status": source.status,
        "progress": source.progress,
        "uploaded_at": _iso(source.uploaded_at),
        "uploaded_by": source.uploaded_by_id,
        "original_sha256": source.original_sha256,
        "original_size": source.original_size,
        "summary": source.summary,  # counts and warnings only (see archive.models.Source)
    }


def list_sources(after: int | None, limit: int) -> tuple[list[dict[str, Any]], int | None]:
    qs: QuerySet[Source] = Source.objects.order_by("id")
    if after is not None:
        qs = qs.filter(id__gt=after)
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return [source_dict(s) for s in rows], (rows[-1].id if more else None)


def get_source(pk: int) -> dict[str, Any] | None:
    source = Source.objects.filter(pk=pk).first()
    return source_dict(source) if source else None


# --- conversations --------------------------------------------------------------------------


def _titles(convs: list[Conversation], vault: Vault) -> dict[int, str | None]:
    keys = vault.data_keys_for_read(c.dek_id for c in convs)
    out: dict[int, str | None] = {}
    for c in convs:
        try:
            out[c.id] = Vault.open(
                keys.get(c.dek_id), c.dek_id, "conversation.title", c.id, c.title_ct
            ).decode()
        except KeyDestroyed:
            out[c.id] = None
    return out


def list_conversations(
    after: int | None, limit: int, *, with_titles: bool, scope: SearchScope | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """Conversations in ``scope`` (``None``: all, for metadata-only readers, who see no titles)."""
    qs: QuerySet[Conversation] = Conversation.objects.order_by("id")
    if scope is not None:
        qs = qs.filter(scope.covers_conversation_q())
    if after is not None:
        qs = qs.filter(id__gt=after)
    convs = list(qs[: limit + 1])
    more = len(convs) > limit
    convs = convs[:limit]
    titles = _titles(convs, get_vault()) if with_titles else {}
    # A scoped reader's sizes and dates count only the messages in scope (one query per page).
    stats = {c.id: (c.message_count, c.first_message_at, c.last_message_at) for c in convs}
    if scope is not None and not scope.is_everything and convs:
        rows = (
            Message.objects.filter(scope.message_q(), conversation_id__in=[c.id for c in convs])
            .values("conversation_id")
            .annotate(n=Count("id"), first=Min("sent_at"), last=Max("sent_at"))
        )
        stats = {c.id: (0, None, None) for c in convs}
        stats.update({r["conversation_id"]: (r["n"], r["first"], r["last"]) for r in rows})
    out = []
    for c in convs:
        count, first, last_at = stats[c.id]
        item: dict[str, Any] = {
            "id": str(c.id),
            "platform": c.platform,
            "kind": c.kind,
            "labels": c.labels,
            "message_count": count,
            "first_message_at": _iso(first),
            "last_message_at": _iso(last_at),
        }
        if with_titles:
            item["title"] = titles.get(c.id)
        out.append(item)
    return out, (convs[-1].id if more else None)


def conversation_exists(pk: int, *, viewer: Viewer) -> bool:
    """Whether the conversation exists with at least one message the viewer may read."""
    return Conversation.objects.filter(scope_for(viewer.user).covers_conversation_q(), pk=pk).exists()


# --- messages -------------------------------------------------------------------------------


def _opened(ids: list[int], viewer: Viewer) -> list[OpenedMessage]:
    """Open the messages and apply the redaction view policy of the viewer's role (through the
    search service's :func:`~archive.search.service.present`, the one presentation step)."""
    return list(present(open_messages(ids), viewer))


def message_dict(m: OpenedMessage) -> dict[str, Any]:
    out = {
        "id": str(m.id),
        "conversation_id": str(m.conversation_id),
        "sender_id": str(m.sender_id) if m.sender_id is not None else None,
        "sent_at": _iso(m.sent_at),
        "kind": m.kind,
        "edited": m.edited,
        "deleted": m.deleted,
        "has_attachment": m.has_attachment,
        "erased": m.erased,
        "text": m.text,
        "reactions": m.reactions,
        "previous_versions": m.previous_versions,
        "share_url": m.share_url,
        "call_duration_s": m.call_duration_s,
    }
    if isinstance(m, PresentedMessage) and m.redactions:
        out["redactions"] = m.redactions
    return out


def conversation_messages(
    conversation_id: int, after: int | None, limit: int, *, viewer: Viewer
) -> tuple[list[dict[str, Any]], int | None]:
    """Oldest first; ``after`` is the last id of the previous page."""
    qs = Message.objects.filter(scope_for(viewer.user).message_q(), conversation_id=conversation_id)
    qs = qs.order_by("id")
    if after is not None:
        qs = qs.filter(id__gt=after)
    ids = list(qs.values_list("id", flat=True)[: limit + 1])
    more = len(ids) > limit
    ids = ids[:limit]
    return [message_dict(m) for m in _opened(ids, viewer)], (ids[-1] if more else None)


@dataclass
class MessageWithContext:
    message: dict[str, Any]
    before: list[dict[str, Any]]
    after: list[dict[str, Any]]

    @property
    def count(self) -> int:
        return 1 + len(self.before) + len(self.after)


def message_with_context(pk: int, context: int, *, viewer: Viewer) -> MessageWithContext | None:
    """The message and up to ``context`` messages either side, all within the viewer's scope;
    ``None`` when the message does not exist or lies outside it."""
    visible = Message.objects.filter(scope_for(viewer.user).message_q())
    row = visible.filter(pk=pk).values("id", "conversation_id").first()
    if row is None:
        return None
    conv = visible.filter(conversation_id=row["conversation_id"])
    before = (
        list(conv.filter(id__lt=pk).order_by("-id").values_list("id", flat=True)[:context])[::-1]
        if context
        else []
    )
    after = (
        list(conv.filter(id__gt=pk).order_by("id").values_list("id", flat=True)[:context]) if context else []
    )
    opened = {m.id: message_dict(m) for m in _opened([*before, pk, *after], viewer)}
    if pk not in opened:
        return None
    return MessageWithContext(
        opened[pk], [opened[i] for i in before if i in opened], [opened[i] for i in after if i in opened]
    )


# --- search ---------------------------------------------------------------------------------


def search_page(
    q: str, limit: int, cursor: str | None, *, viewer: Viewer, tz: str = "UTC"
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the query language's matches, newest first, through the one search service
    (``archive.search.service.search_for``: only sources whose import is done, within the
    viewer's review scope, the viewer's redaction view policy, highlights on the presented text). ``cursor`` is the service's
    cursor from the previous page. Raises ``QuerySyntaxError`` and ``InvalidCursor``."""
    result = search_for(
        viewer, q, scope=scope_for(viewer.user), limit=limit, cursor=cursor, tz=tz, count_cap=0
    )
    items = [
        {**message_dict(h.message), "highlights": [list(span) for span in h.highlights]} for h in result.items
    ]
    return items, result.next_cursor
