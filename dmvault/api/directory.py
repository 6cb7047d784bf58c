"""Participants and data subjects, for the API: listing, and linking platform identities to
the person they belong to (``compliance.subjects.create_subject`` makes the subject).

A participant's identity (platform id, handle, display name) is content: it is decrypted only
when the caller asks for it (content readers with a purpose, decided by the view).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Q

from archive.models import Conversation, DataSubject, Participant
from archive.search.service import SearchScope
from archive.vault import KeyDestroyed, Vault, get_vault
from compliance.subjects import create_subject


class LinkError(ValueError):
    """A link/unlink request that cannot be honoured; the message names no content."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _identities(rows: Sequence[Participant], vault: Vault) -> dict[int, dict[str, Any] | None]:
    keys = vault.data_keys_for_read(p.dek_id for p in rows)
    out: dict[int, dict[str, Any] | None] = {}
    for p in rows:
        try:
            ident = json.loads(
                Vault.open(keys.get(p.dek_id), p.dek_id, "participant.identity", p.id, p.identity_ct)
            )
        except KeyDestroyed:
            out[p.id] = None
            continue
        out[p.id] = {"platform_id": ident.get("id"), "handle": ident.get("handle"), "name": ident.get("name")}
    return out


def list_participants(
    after: int | None,
    limit: int,
    *,
    with_identity: bool,
    subject_id: int | None = None,
    platform: str | None = None,
    scope: SearchScope | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Participants, oldest first; with ``scope`` (a content reader's review scope) only those
    of the conversations with a message in it, each with the number of those conversations."""
    if scope is not None and not scope.is_everything:
        # counted within the scope too: a count of conversations the reader cannot open would
        # tell them those conversations exist
        covered = Conversation.objects.filter(scope.covers_conversation_q()).values("id")
        count = Count("conversations", filter=Q(conversations__id__in=covered))
        through = Conversation.participants.through.objects.filter(conversation_id__in=covered)
        qs = Participant.objects.annotate(conversation_count=count).filter(
            id__in=through.values("participant_id")
        )
    else:
        qs = Participant.objects.annotate(conversation_count=Count("conversations"))
    qs = qs.order_by("id")
    if after is not None:
        qs = qs.filter(id__gt=after)
    if subject_id is not None:
        qs = qs.filter(subject_id=subject_id)
    if platform:
        qs = qs.filter(platform=platform)
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    identities = _identities(rows, get_vault()) if with_identity else {}
    items = []
    for p in rows:
        item: dict[str, Any] = {
            "id": str(p.id),
            "platform": p.platform,
            "subject_id": str(p.subject_id) if p.subject_id else None,
            "conversation_count": p.conversation_count,
            "created_at": _iso(p.created_at),
        }
        if with_identity:
            item["identity"] = identities.get(p.id)
        items.append(item)
    return items, (rows[-1].id if more else None)


def subject_dict(subject: DataSubject, vault: Vault | None = None) -> dict[str, Any]:
    label: str | None = None
    if subject.label_ct:
        try:
            label = (
                (vault or get_vault())
                .open_field(subject.dek_id, "subject.label", subject.id, bytes(subject.label_ct))
                .decode()
            )
        except KeyDestroyed:
            label = None
    return {
        "id": str(subject.id),
        "label": label,
        "participant_ids": [str(i) for i in subject.participants.order_by("id").values_list("id", flat=True)],
        "created_at": _iso(subject.created_at),
        "erased_at": _iso(subject.erased_at),
    }


def list_subjects(after: int | None, limit: int) -> tuple[list[dict[str, Any]], int | None]:
    qs = DataSubject.objects.order_by("id")
    if after is not None:
        qs = qs.filter(id__gt=after)
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    vault = get_vault()
    return [subject_dict(s, vault) for s in rows], (rows[-1].id if more else None)


def new_subject(label: str) -> dict[str, Any]:
    return subject_dict(create_subject(label))


def get_subject(pk: int) -> DataSubject | None:
    return DataSubject.objects.filter(pk=pk).first()


def link(subject: DataSubject, participant_ids: Iterable[int]) -> dict[str, Any]:
    """Attach these participants to ``subject``. Refuses unknown participants, participants of
    another subject (unlink them first) and erased subjects; all or nothing."""
    ids = sorted(set(participant_ids))
    if subject.erased_at is not None:
        raise LinkError("This data subject has been erased; its links can no longer change.")
    with transaction.atomic():
        rows = {p.id: p for p in Participant.objects.select_for_update().filter(id__in=ids)}
        missing = [i for i in ids if i not in rows]
        if missing:
            raise LinkError(f"No such participant: {missing[0]}.")
        taken = [i for i in ids if rows[i].subject_id not in (None, subject.id)]
        if taken:
            raise LinkError(f"Participant {taken[0]} belongs to another data subject; unlink it there first.")
        Participant.objects.filter(id__in=ids).update(subject=subject)
    return subject_dict(subject)


def unlink(subject: DataSubject, participant_ids: Iterable[int]) -> dict[str, Any]:
    ids = sorted(set(participant_ids))
    if subject.erased_at is not None:
        raise LinkError("This data subject has been erased; its links can no longer change.")
    with transaction.atomic():
        linked = set(
            Participant.objects.select_for_update()
            .filter(id__in=ids, subject=subject)
            .values_list("id", flat=True)
        )
        missing = [i for i in ids if i not in linked]
        if missing:
            raise LinkError(f"Participant {missing[0]} is not linked to this data subject.")
        Participant.objects.filter(id__in=ids).update(subject=None)
    return subject_dict(subject)
