"""The audit log, for auditors: listing with filters, and chain verification."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Capability
from compliance.audit import verify
from compliance.audit.chain import format_ts
from compliance.models import AuditEvent
from dmvault.api.audit import AuditedAPIView
from dmvault.api.pagination import decode_cursor, limit_param, page


def _time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    value = parse_datetime(raw)
    if value is None or value.tzinfo is None:
        raise ValidationError({name: ["Use an ISO 8601 time with a zone, e.g. 2025-03-01T00:00:00Z."]})
    return value


def event_dict(e: AuditEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "event_id": str(e.event_id),
        "ts": format_ts(e.ts),
        "request_id": e.request_id,
        "actor_id": e.actor_id,
        "actor": e.actor_name,
        "role": e.role,
        "auth_method": e.auth_method,
        "credential_id": e.credential_id,
        "action": e.action,
        "http_method": e.http_method,
        "route": e.route,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "has_query": e.query_ct is not None,  # the query itself stays sealed
        "result_count": e.result_count,
        "purpose_id": str(e.purpose_id) if e.purpose_id else None,
        "matter": e.matter_ref,
        "ip": e.ip,
        "user_agent": e.user_agent,
        "outcome": e.outcome,
        "status_code": e.status_code,
        "detail": e.detail,
        "service_events": e.service_event_list,
        "chain_hash": e.chain_hash,
    }


class AuditListView(AuditedAPIView):
    """Newest first. Filters: actor (username or user id), action (the request's, or one of the
    service events folded into it, e.g. ``hold.place``), outcome, since, until, matter."""

    capability = Capability.READ_AUDIT
    audit_action = "audit.read"
    audit_target_type = "audit_event"

    def get(self, request: Request) -> Response:
        params = request.query_params
        qs = AuditEvent.objects.order_by("-seq")
        actor = params.get("actor")
        if actor:
            qs = (
                qs.filter(Q(actor_name=actor) | Q(actor_id=int(actor)))
                if actor.isdigit()
                else qs.filter(actor_name=actor)
            )
        for name, column in (("outcome", "outcome"), ("matter", "matter_ref")):
            value = params.get(name)
            if value:
                if len(value) > 100:
                    raise ValidationError({name: ["Too long (at most 100 characters)."]})
                qs = qs.filter(**{column: value})
        action = params.get("action")
        if action:
            if len(action) > 64:
                raise ValidationError({"action": ["Too long (at most 64 characters)."]})
            qs = qs.filter(AuditEvent.action_q(action))
        since, until = _time(request, "since"), _time(request, "until")
        if since:
            qs = qs.filter(ts__gte=since)
        if until:
            qs = qs.filter(ts__lt=until)
        cursor = decode_cursor(params.get("cursor"))
        if cursor is not None:
            before = cursor.get("before")
            if not isinstance(before, int):
                raise ValidationError(
                    {"cursor": ["This cursor is invalid; use the 'next' value of a previous page."]}
                )
            qs = qs.filter(seq__lt=before)
        limit = limit_param(request)
        rows = list(qs[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        self.note.result_count = len(rows)
        return Response(page([event_dict(e) for e in rows], {"before": rows[-1].seq} if more else None))


class AuditVerifyView(AuditedAPIView):
    """Recompute the chain and check the stored signed checkpoints."""

    capability = Capability.READ_AUDIT
    audit_action = "audit.verify"
    audit_target_type = "audit_chain"

    def get(self, request: Request) -> Response:
        status = verify()
        self.note.result_count = status.size
        self.note.detail = "ok" if status.ok else f"broken_at:{status.first_bad_seq}"
        return Response(status.as_dict())
