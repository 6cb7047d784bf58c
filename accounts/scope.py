"""Review scope: which messages a person may read. The one resolver, :func:`scope_for`.

Every path that decrypts message content for a person (API and UI search, saved-search runs,
search charts, message reads and their context, conversation lists and threads, reveals of
redactions, productions a lawyer starts) asks :func:`scope_for` and passes the result to the
search service or filters its rows with ``SearchScope.message_q``. Outside the scope is
*not found* (404), never *forbidden*, and counts leave it out.

A user's scope is the union of what an administrator assigned them
(``User.whole_archive``, ``User.assigned_sources``, ``User.assigned_matters``; managed through
``PUT /api/v1/users/{id}/assignments`` and the Django admin):

* the whole-archive grant: everything (small deployments; existing users got it on upgrade);
* an assigned source: every message imported by that source (``Message.source``; a message that
  a later import found again stays the first import's);
* an assigned matter: what the matter lists, as its legal hold reads it
  (``compliance.holds.matter_coverage``, which both use): its sources, its conversations, and
  for each custodian the sources the custodian owns and every conversation the custodian takes
  part in (which includes every message they sent). A matter that lists none of these covers
  the whole archive, as its hold does.

**Broader than the matter.** A matter's date ranges and its saved-search query narrow its
hold but not the scope: an assigned lawyer may read the whole of the matter's sources,
conversations and custodians' conversations, at any date and whatever the query. (The search
service's scope holds sources and conversations; the conversation around a matching message is
what a reviewer needs to judge it.)

A user with none of these (every new user) reads nothing. Roles still decide *whether* a user
reads content (``accounts.roles``); the scope only decides *which*. Resolution costs two queries
for a user without matters (none with the whole-archive grant), and five more when matters are
assigned; the result is kept on the user object, which lives for one request, so a request pays
it once. :func:`set_assignments` drops it.
"""

from __future__ import annotations

from typing import Any

from archive.search.service import SearchScope

_CACHE = "_dmvault_review_scope"


def scope_for(user: Any) -> SearchScope:
    """The messages ``user`` may read, as a :class:`~archive.search.service.SearchScope`."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return SearchScope.nothing()
    cached = user.__dict__.get(_CACHE)
    if cached is None:
        cached = user.__dict__[_CACHE] = _resolve(user)
    return cached


def _resolve(user: Any) -> SearchScope:
    from compliance.holds import matter_coverage

    if user.whole_archive:
        return SearchScope.everything()
    sources, matters = _assigned_ids(user)
    conversations: set[int] = set()
    for coverage in matter_coverage(matters).values():
        if not coverage.listed:
            return SearchScope.everything()  # a matter that lists nothing covers the whole archive
        sources |= coverage.sources
        conversations |= coverage.conversations
    if not conversations:
        return SearchScope.of(sources=sources)
    if not sources:
        return SearchScope.of(conversations=conversations)
    return SearchScope.of(sources=sources, also_conversations=conversations)


# --- assignments (administrators) -------------------------------------------------------------------


def _assigned_ids(user: Any) -> tuple[set[int], set[int]]:
    """The ids of the sources and of the matters assigned to ``user`` (two queries)."""
    from accounts.models import User

    sources = User.assigned_sources.through.objects.filter(user_id=user.pk).values_list(
        "source_id", flat=True
    )
    matters = User.assigned_matters.through.objects.filter(user_id=user.pk).values_list(
        "matter_id", flat=True
    )
    return set(sources), set(matters)


def assignments_of(user: Any) -> dict[str, Any]:
    """What an administrator assigned ``user``: plain ids, no content."""
    sources, matters = _assigned_ids(user)
    return {
        "user": user.pk,
        "whole_archive": user.whole_archive,
        "source_ids": [str(i) for i in sorted(sources)],
        "matter_ids": [str(i) for i in sorted(matters)],
    }


class UnknownIds(ValueError):
    """Assignment ids that name no source or no matter."""

    def __init__(self, field: str, ids: list[int]) -> None:
        self.field = field
        self.ids = ids
        super().__init__(f"no such {field.removesuffix('_ids')}: {', '.join(map(str, ids))}")


def set_assignments(
    user: Any, *, whole_archive: bool, source_ids: list[int], matter_ids: list[int]
) -> dict[str, Any]:
    """Replace ``user``'s review scope. Raises :class:`UnknownIds` (nothing is changed) when an
    id names no source or matter."""
    from django.db import transaction

    from archive.models import Source
    from compliance.engine_models import Matter

    sources = set(source_ids)
    matters = set(matter_ids)
    missing = sorted(sources - set(Source.objects.filter(id__in=sources).values_list("id", flat=True)))
    if missing:
        raise UnknownIds("source_ids", missing)
    missing = sorted(matters - set(Matter.objects.filter(id__in=matters).values_list("id", flat=True)))
    if missing:
        raise UnknownIds("matter_ids", missing)
    user.__dict__.pop(_CACHE, None)
    with transaction.atomic():
        user.whole_archive = whole_archive
        user.save(update_fields=["whole_archive"])
        user.assigned_sources.set(sorted(sources))
        user.assigned_matters.set(sorted(matters))
    return assignments_of(user)
