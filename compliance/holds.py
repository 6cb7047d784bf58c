"""Legal matters and holds.

A message is **held** while any active hold's matter covers it. A matter covers a message when

1. it is in the matter's *what*: a conversation one of its custodians (data subjects) takes part
   in, a message a custodian sent, a message of a source a custodian owns, or a listed source or
   conversation (when the matter lists none of these, the whole archive); and
2. its time falls in one of the matter's date ranges (when any are given); and
3. it matches the matter's search query (when given, as text or as a saved search whose query is
   copied in; evaluated with the search service, so only messages of completed imports can match
   a query-only scope).

Held messages are exempt from retention, erasure, consent-withdrawal actions and manual deletion
(``assert_deletable``) until every hold covering them is released. Placing and releasing a hold
are audited; releasing deletes nothing by itself (the next retention run decides).

``HoldChecker`` loads the active holds once and answers ``held(rows)`` for batches of message
rows (id, conversation id, source id, sender id) with set lookups only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from archive.ids import id_floor
from archive.models import Conversation, Message, Participant, Source
from archive.vault import get_vault
from compliance.engine_models import Hold, Matter

QUERY_FIELD = "matter.query"


class HoldError(Exception):
    pass


class Held(Exception):
    """An operation touched held messages."""

    def __init__(self, message_ids: Sequence[int], matters: Sequence[str]) -> None:
        self.message_ids = list(message_ids)
        self.matters = list(matters)
        super().__init__(
            f"{len(self.message_ids)} message(s) are under legal hold ({', '.join(self.matters)})"
        )


# --- matters and holds -----------------------------------------------------------------------------


def create_matter(
    *,
    name: str,
    reference: str,
    owner: Any,
    custodians: Iterable[int] = (),
    sources: Iterable[int] = (),
    conversations: Iterable[int] = (),
    date_ranges: Iterable[tuple[datetime | None, datetime | None]] = (),
    query: str = "",
    saved_search_id: int | None = None,
) -> Matter:
    """Open a matter owned by a member of the legal team. Its scope can be narrowed by a search
    query, given as text or as one of the owner's saved searches (``saved_search_id``): the
    saved search's query is copied into the matter, so editing or deleting the saved search
    later never changes what a hold covers."""
    from accounts.roles import Capability

    if owner is None or not owner.can(Capability.MANAGE_HOLDS):
        raise ValidationError({"owner": ["A matter's owner must be on the legal team."]})
    if saved_search_id is not None:
        from archive.models import SavedSearch
        from archive.search.service import get_saved_search

        if query:
            raise ValidationError({"saved_search_id": ["Give a query or a saved search, not both."]})
        try:
            query = get_saved_search(owner=owner, saved_id=saved_search_id).query
        except SavedSearch.DoesNotExist:
            raise ValidationError(
                {"saved_search_id": [f"No saved search {saved_search_id} of yours."]}
            ) from None
    matter = Matter(name=name, reference=reference, owner=owner)
    matter.date_ranges = [
        {"start": s.isoformat() if s else None, "end": e.isoformat() if e else None} for s, e in date_ranges
    ]
    if query:
        matter.query_dek_id, matter.query_ct = get_vault().seal_field(
            f"matter:{matter.id}", QUERY_FIELD, matter.id, query.encode()
        )
    matter.full_clean(exclude=["custodians", "sources", "conversations"])
    with transaction.atomic():
        matter.save(force_insert=True)
        matter.custodians.set(list(custodians))
        matter.sources.set(list(sources))
        matter.conversations.set(list(conversations))
    return matter


def matter_query(matter: Matter) -> str:
    if not matter.query_ct or matter.query_dek_id is None:
        return ""
    return (
        get_vault().open_field(matter.query_dek_id, QUERY_FIELD, matter.id, bytes(matter.query_ct)).decode()
    )


def _audit(
    action: str, actor: Any, target_type: str, target_id: Any, detail: str = "", count: int | None = None
) -> None:
    from compliance.audit import record_service_event

    record_service_event(action, actor, target_type, target_id, detail=detail, count=count)


def place_hold(matter: Matter, placed_by: Any) -> Hold:
    from accounts.roles import Capability

    if not placed_by.can(Capability.MANAGE_HOLDS):
        raise HoldError("placing a hold needs the legal role")
    with transaction.atomic():
        hold = Hold.objects.create(matter=matter, placed_by=placed_by)
        _audit("hold.place", placed_by, "hold", hold.id, detail=f"matter {matter.reference}")
    return hold


def release_hold(hold: Hold, released_by: Any) -> Hold:
    """Release a hold. Deletes nothing: the messages become subject to retention again."""
    from accounts.roles import Capability

    if not released_by.can(Capability.MANAGE_HOLDS):
        raise HoldError("releasing a hold needs the legal role")
    with transaction.atomic():
        hold = Hold.objects.select_for_update().get(pk=hold.pk)
        if not hold.active:
            raise HoldError("this hold is already released")
        hold.active, hold.released_by, hold.released_at = False, released_by, timezone.now()
        hold.save(update_fields=["active", "released_by", "released_at"])
        _audit("hold.release", released_by, "hold", hold.id, detail=f"matter {hold.matter.reference}")
    return hold


# --- the checker --------------------------------------------------------------------------------------


@dataclass
class _Scope:
    reference: str
    everything: bool
    conversations: set[int] = field(default_factory=set)
    sources: set[int] = field(default_factory=set)
    senders: set[int] = field(default_factory=set)
    id_ranges: list[tuple[int, int]] = field(default_factory=list)
    query_ids: set[int] | None = None

    def covers(self, mid: int, conv: int, source: int, sender: int | None) -> bool:
        if not self.everything and not (
            conv in self.conversations
            or source in self.sources
            or (sender is not None and sender in self.senders)
        ):
            return False
        if self.id_ranges and not any(lo <= mid < hi for lo, hi in self.id_ranges):
            return False
        return self.query_ids is None or mid in self.query_ids


@dataclass
class MatterCoverage:
    """What a matter lists, resolved to ids: its sources and conversations plus, for each
    custodian, the sources the custodian owns and every conversation they take part in (and,
    when asked for, their participant ids as senders). ``listed`` is False for a matter that
    lists nothing: it covers the whole archive."""

    listed: bool = False
    sources: set[int] = field(default_factory=set)
    conversations: set[int] = field(default_factory=set)
    senders: set[int] = field(default_factory=set)


def matter_coverage(matter_ids: Iterable[int], with_senders: bool = False) -> dict[int, MatterCoverage]:
    """The coverage of each matter, for all of them at once: three queries, and two or three
    more when they name custodians (the legal hold and the review scope both read this)."""
    from collections import defaultdict

    out = {m: MatterCoverage() for m in matter_ids}
    if not out:
        return out
    ids = list(out)
    for matter_id, source_id in Matter.sources.through.objects.filter(matter_id__in=ids).values_list(
        "matter_id", "source_id"
    ):
        out[matter_id].sources.add(source_id)
        out[matter_id].listed = True
    for matter_id, conv_id in Matter.conversations.through.objects.filter(matter_id__in=ids).values_list(
        "matter_id", "conversation_id"
    ):
        out[matter_id].conversations.add(conv_id)
        out[matter_id].listed = True
    custodians: dict[int, set[int]] = defaultdict(set)
    for matter_id, subject_id in Matter.custodians.through.objects.filter(matter_id__in=ids).values_list(
        "matter_id", "datasubject_id"
    ):
        custodians[matter_id].add(subject_id)
        out[matter_id].listed = True
    if not custodians:
        return out
    subjects = set().union(*custodians.values())
    owned: dict[int, set[int]] = defaultdict(set)
    for owner_id, source_id in Source.objects.filter(owner_id__in=subjects).values_list("owner_id", "id"):
        owned[owner_id].add(source_id)
    talks_in: dict[int, set[int]] = defaultdict(set)
    for subject_id, conv_id in Conversation.participants.through.objects.filter(
        participant__subject_id__in=subjects
    ).values_list("participant__subject_id", "conversation_id"):
        talks_in[subject_id].add(conv_id)
    sends_as: dict[int, set[int]] = defaultdict(set)
    if with_senders:
        for subject_id, participant_id in Participant.objects.filter(subject_id__in=subjects).values_list(
            "subject_id", "id"
        ):
            sends_as[subject_id].add(participant_id)
    for matter_id, subject_ids in custodians.items():
        coverage = out[matter_id]
        for subject_id in subject_ids:
            coverage.sources |= owned[subject_id]
            coverage.conversations |= talks_in[subject_id]
            coverage.senders |= sends_as[subject_id]
    return out


def _parse(value: str | None, default: int) -> int:
    if not value:
        return default
    return id_floor(datetime.fromisoformat(value))


def matter_id_ranges(matter: Matter) -> list[tuple[int, int]]:
    """The matter's date ranges as message-id ranges ``[low, high)`` (empty: no date limit)."""
    return [(_parse(r.get("start"), 0), _parse(r.get("end"), 2**63 - 1)) for r in matter.date_ranges or []]


def _query_ids(query: str, scope: _Scope) -> set[int]:
    from archive.search.service import SearchScope, search

    conv_ids: frozenset[int] | None = None
    if not scope.everything:
        conv_ids = frozenset(scope.conversations)
        conv_ids |= frozenset(
            Message.objects.filter(source_id__in=scope.sources)
            .values_list("conversation_id", flat=True)
            .distinct()
        )
        conv_ids |= frozenset(
            Message.objects.filter(sender_id__in=scope.senders)
            .values_list("conversation_id", flat=True)
            .distinct()
        )
    found: set[int] = set()
    cursor = None
    while True:
        result = search(
            query,
            scope=SearchScope(conversation_ids=conv_ids),
            limit=500,
            cursor=cursor,
            max_candidates=100_000,
        )
        found.update(hit.message.id for hit in result.items)
        cursor = result.next_cursor
        if not cursor:
            return found


class HoldChecker:
    """The active holds, loaded once; ``held`` answers for batches of rows."""

    def __init__(self) -> None:
        self.scopes: list[_Scope] = []
        matters = list(Matter.objects.filter(holds__active=True).distinct())
        coverage = matter_coverage([m.id for m in matters], with_senders=True)
        for matter in matters:
            covered = coverage[matter.id]
            scope = _Scope(
                reference=matter.reference,
                everything=not covered.listed,
                conversations=covered.conversations,
                sources=covered.sources,
                senders=covered.senders,
                id_ranges=matter_id_ranges(matter),
            )
            query = matter_query(matter)
            if query:
                scope.query_ids = _query_ids(query, scope)
            self.scopes.append(scope)

    def __bool__(self) -> bool:
        return bool(self.scopes)

    def held(self, rows: Iterable[tuple[int, int, int, int | None]]) -> set[int]:
        """The ids among ``(id, conversation_id, source_id, sender_id)`` rows that are held."""
        if not self.scopes:
            return set()
        return {r[0] for r in rows if any(s.covers(*r) for s in self.scopes)}

    def matters_of(self, row: tuple[int, int, int, int | None]) -> list[str]:
        return [s.reference for s in self.scopes if s.covers(*row)]


def message_rows(message_ids: Sequence[int]) -> list[tuple[int, int, int, int | None]]:
    out: list[tuple[int, int, int, int | None]] = []
    for start in range(0, len(message_ids), 1000):
        out.extend(
            Message.objects.filter(id__in=message_ids[start : start + 1000]).values_list(
                "id", "conversation_id", "source_id", "sender_id"
            )
        )
    return out


def is_held(message_ids: Sequence[int], checker: HoldChecker | None = None) -> set[int]:
    """Which of these messages are under an active hold (batched: a few queries per 1000 ids)."""
    checker = checker or HoldChecker()
    if not checker:
        return set()
    return checker.held(message_rows(message_ids))


def assert_deletable(message_ids: Sequence[int]) -> None:
    """Raise ``Held`` (or ``compliance.retention.Locked``) unless every message may be deleted now;
    the API's manual deletion calls this first."""
    checker = HoldChecker()
    rows = message_rows(message_ids)
    held = checker.held(rows)
    if held:
        matters = sorted({m for r in rows if r[0] in held for m in checker.matters_of(r)})
        raise Held(sorted(held), matters)
    from compliance.retention import Locked, locked_until

    locks = locked_until(list(message_ids))
    now = timezone.now()
    blocked = sorted(mid for mid, until in locks.items() if until > now)
    if blocked:
        raise Locked(blocked)
