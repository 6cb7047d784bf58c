"""The tamper-evident audit log.

This module is the only writer of ``AuditEvent`` rows (``record`` and ``record_request``, both
through ``_append``). Each append runs in one transaction
that locks the one-row chain head (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's IMMEDIATE
transactions already serialize writers), computes the event's leaf and chain hash, inserts the
event and moves the head, so concurrent requests can never fork the chain.

Search queries are the searcher's own words and may name people: they are sealed through the
vault (scope ``audit:query``) before they reach the row, and the chain hashes the ciphertext.

One event per request. The API and UI dispatchers open a ``request_scope()`` around each request.
While it is open, events the services record (``hold.place``, ``subject.erase``, a reveal…) are not
written on their own: they are folded into the scope and written *with* the request's one event
(``record_request``), in its ``service_events`` column (a compact JSON list of action, target,
count, outcome and detail). So a request that places a hold leaves one event whose action is the
request's and whose ``service_events`` names ``hold.place``; the same service called from a
management command, a django-q2 job or a schedule (no scope open) writes its own event as before.
If the request's event cannot be written the request fails closed (503), and for unsafe methods
the service's writes are rolled back with it, so a folded domain event is never lost while its
effect persists. When a request's writes are rolled back, its dispatcher discards the folded
events (``RequestScope.discard``): what they described did not happen. Once the request's event
is written the scope is closed: anything recorded later in the same request (an on-commit
callback, a job run in-process) is written on its own rather than lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from archive.ids import random_id
from compliance.audit.chain import GENESIS, ChainStatus, leaf_hash, link, verify_chain

__all__ = [
    "AuditWriteError",
    "ChainStatus",
    "Event",
    "RequestScope",
    "record",
    "record_request",
    "record_service_event",
    "request_scope",
    "verify",
]

QUERY_SCOPE = "audit:query"
QUERY_FIELD = "audit.query"


class AuditWriteError(Exception):
    """The event could not be written; callers must not release the response."""


@dataclass
class Event:
    """What a caller knows about one access; ``record`` adds sequencing and hashes."""

    action: str
    outcome: str
    actor_id: int | None = None
    actor_name: str = ""
    role: str = ""
    auth_method: str = "anonymous"
    credential_id: int | None = None
    http_method: str = ""
    route: str = ""
    target_type: str = ""
    target_id: str = ""
    query: str | None = None
    result_count: int | None = None
    purpose_id: int | None = None
    matter_ref: str = ""
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    status_code: int | None = None
    detail: str = ""


def _clip(value: str, size: int) -> str:
    return value[:size] if value else ""


# At most this many service events are listed on one request event; the rest are counted.
MAX_FOLDED = 20


@dataclass
class RequestScope:
    """The service events recorded while one request is being audited (see the module docstring)."""

    folded: list[dict[str, Any]] = field(default_factory=list)
    more: int = 0  # folded events beyond MAX_FOLDED, counted only
    # Set once the request's event has taken the folded events: whatever is recorded after it
    # (an on-commit callback, a job run in-process) is written on its own, never dropped.
    closed: bool = False

    def fold(self, event: Event) -> None:
        if len(self.folded) >= MAX_FOLDED:
            self.more += 1
            return
        entry: dict[str, Any] = {"action": _clip(event.action, 64), "outcome": event.outcome}
        if event.target_type or event.target_id:
            entry["target"] = f"{_clip(event.target_type, 40)}:{_clip(event.target_id, 64)}"
        if event.result_count is not None:
            entry["count"] = event.result_count
        if event.detail:
            entry["detail"] = _clip(event.detail, 200)
        if event.actor_name:
            entry["actor"] = _clip(event.actor_name, 150)
        self.folded.append(entry)

    def discard(self) -> None:
        """Forget the folded events: the request's writes were rolled back."""
        self.folded.clear()
        self.more = 0

    def take(self, request_actor: str) -> str | None:
        """The folded events as the stored JSON text (None when there were none), emptied.
        An entry names its actor only when it is not the request's own."""
        if not self.folded and not self.more:
            self.closed = True
            return None
        entries = [
            {k: v for k, v in e.items() if not (k == "actor" and v == request_actor)} for e in self.folded
        ]
        if self.more:
            entries.append({"action": "more", "count": self.more})
        self.discard()
        self.closed = True
        return json.dumps(entries, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_SCOPE: ContextVar[RequestScope | None] = ContextVar("dmvault_audit_request_scope", default=None)


@contextmanager
def request_scope() -> Iterator[RequestScope]:
    """Fold the service events of one request into its one event (API and UI dispatchers)."""
    scope = RequestScope()
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def record(event: Event) -> Any:
    """Record a service's event: folded into the current request's event while a request is being
    audited (returns ``None``), else appended on its own (returns the stored ``AuditEvent``).

    Raises ``AuditWriteError`` on any failure, so the caller can fail closed.
    """
    scope = _SCOPE.get()
    if scope is not None and not scope.closed:
        scope.fold(event)
        return None
    return _append(event, None)


def record_request(event: Event) -> Any:
    """Append a request's one event, carrying the service events folded during the request, and
    return the stored ``AuditEvent``. Raises ``AuditWriteError`` on any failure."""
    scope = _SCOPE.get()
    folded = scope.take(event.actor_name) if scope is not None and not scope.closed else None
    return _append(event, folded)


def _append(event: Event, service_events: str | None) -> Any:
    """Append one event to the chain and return the stored ``AuditEvent``."""
    from archive.vault import get_vault
    from compliance.models import AuditChainHead, AuditEvent

    try:
        event_id = random_id()
        query_ct: bytes | None = None
        query_dek_id: int | None = None
        if event.query is not None:
            query_dek_id, query_ct = get_vault().seal_field(
                QUERY_SCOPE, QUERY_FIELD, event_id, event.query.encode()
            )
        fields: dict[str, Any] = {
            "event_id": event_id,
            "ts": timezone.now(),
            "request_id": _clip(event.request_id, 64),
            "actor_id": event.actor_id,
            "actor_name": _clip(event.actor_name, 150),
            "role": _clip(event.role, 32),
            "auth_method": _clip(event.auth_method, 16),
            "credential_id": event.credential_id,
            "action": _clip(event.action, 64),
            "http_method": _clip(event.http_method, 10),
            "route": _clip(event.route, 200),
            "target_type": _clip(event.target_type, 40),
            "target_id": _clip(event.target_id, 64),
            "query_ct": query_ct,
            "query_dek_id": query_dek_id,
            "result_count": event.result_count,
            "purpose_id": event.purpose_id,
            "matter_ref": _clip(event.matter_ref, 100),
            "ip": _clip(event.ip, 45),
            "user_agent": _clip(event.user_agent, 300),
            "outcome": event.outcome,
            "status_code": event.status_code,
            "detail": _clip(event.detail, 200),
            "service_events": service_events,
        }
        with transaction.atomic():
            head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
            if head is None:  # first event ever (or a lost head row): continue from the newest event
                last = AuditEvent.objects.order_by("-seq").values("seq", "chain_hash").first()
                head = AuditChainHead.objects.create(
                    pk=1,
                    seq=last["seq"] if last else 0,
                    head_hash=last["chain_hash"] if last else GENESIS.hex(),
                )
                head = AuditChainHead.objects.select_for_update().get(pk=1)
            fields["seq"] = head.seq + 1
            leaf = leaf_hash(fields)
            chained = link(bytes.fromhex(head.head_hash), leaf)
            row = AuditEvent.objects.create(**fields, leaf_hash=leaf.hex(), chain_hash=chained.hex())
            AuditChainHead.objects.filter(pk=1).update(
                seq=fields["seq"], head_hash=chained.hex(), updated_at=fields["ts"]
            )
        return row
    except Exception as exc:
        raise AuditWriteError(f"audit event could not be written ({type(exc).__name__})") from exc


def record_service_event(
    action: str,
    actor: Any,
    target_type: str,
    target_id: Any,
    *,
    detail: str = "",
    count: int | None = None,
    outcome: str = "allowed",
) -> Any:
    """The domain event a compliance service records (``hold.place``, ``subject.erase``…): the actor
    is the user the service acts for, or the system when ``None``. Inside an audited request it is
    folded into the request's one event (``record``); outside one it is an event of its own."""
    return record(
        Event(
            action=action,
            outcome=outcome,
            actor_id=getattr(actor, "pk", None),
            actor_name=getattr(actor, "username", "") or "",
            role=getattr(actor, "role", "") or "",
            auth_method="system" if actor is None else "service",
            target_type=target_type,
            target_id=str(target_id),
            result_count=count,
            detail=detail[:200],
        )
    )


def open_query(row: Any) -> str | None:
    """Decrypt an event's query (for an audited reader); ``None`` when it had none or was shredded."""
    from archive.vault import KeyDestroyed, get_vault

    if row.query_ct is None or row.query_dek_id is None:
        return None
    try:
        return (
            get_vault().open_field(row.query_dek_id, QUERY_FIELD, row.event_id, bytes(row.query_ct)).decode()
        )
    except KeyDestroyed:
        return None


def verify(extra_checkpoint_text: str | None = None) -> ChainStatus:
    """Verify the chain against the stored checkpoints (and exported ones, if given)."""
    from compliance.audit.checkpoints import (
        CheckpointError,
        parse_notes,
        stored_checkpoints,
        verify_note,
        verifying_key,
    )

    try:
        notes = stored_checkpoints()
        if extra_checkpoint_text is not None:
            notes.extend(parse_notes(extra_checkpoint_text))
        public = verifying_key() if notes else None
        pairs: list[tuple[int, str]] = []
        for note in notes:
            assert public is not None
            verify_note(note, public)
            pairs.append((note.size, note.head_hex))
    except CheckpointError as exc:
        status = verify_chain()
        return ChainStatus(False, status.size, status.head, status.first_bad_seq, str(exc))
    return verify_chain(pairs)
