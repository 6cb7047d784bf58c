"""Saved searches (a user's own, sealed name and query) and conversation labels.

Saved searches belong to their owner: another user's id is 404, never 403. Running one goes
through ``archive.search.service.run_saved_search`` and reads content, so it needs the search
capability and, for reviewing roles, a declared purpose; the query is sealed in the audit event.
The results pass through the runner's redaction view policy (``search_service.search_for``),
exactly as a plain search does; highlights never cover a redacted value.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Capability
from accounts.scope import scope_for
from archive.models import Conversation, SavedSearch
from archive.search import service as search_service
from archive.search.query import QuerySyntaxError, parse, zone
from dmvault.api.audit import AuditedAPIView
from dmvault.api.pagination import int_param
from dmvault.api.purpose import active_purpose
from dmvault.api.services import Viewer, _iso, message_dict


def saved_dict(saved: search_service.SavedSearchView) -> dict[str, Any]:
    return {
        "id": str(saved.id),
        "name": saved.name,
        "query": saved.query,
        "shared": saved.shared,
        "created_at": _iso(saved.created_at),
        "updated_at": _iso(saved.updated_at),
    }


class SavedSearchSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    query = serializers.CharField(max_length=2000, trim_whitespace=False)
    shared = serializers.BooleanField(required=False, default=False)

    def validate_query(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Give the query to save.")
        try:
            parse(value)
        except QuerySyntaxError as exc:
            raise serializers.ValidationError(f"The query does not parse: {exc}") from None
        return value


class SavedSearchListView(AuditedAPIView):
    """GET: the caller's saved searches, newest first. POST: save one (name, query, shared)."""

    capability = Capability.SEARCH
    audit_action = {"GET": "saved_search.list", "POST": "saved_search.create"}
    audit_target_type = "saved_search"

    def get(self, request: Request) -> Response:
        items = [saved_dict(s) for s in search_service.list_saved_searches(request.user)]
        self.note.result_count = len(items)
        return Response({"results": items, "next": None})

    @extend_schema(request=SavedSearchSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        data = SavedSearchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        saved = search_service.create_saved_search(request.user, v["name"], v["query"], shared=v["shared"])
        self.note.target_id = str(saved.id)
        self.note.query = saved.query
        return Response(saved_dict(saved), status=201)


def _own(request: Request, pk: int) -> search_service.SavedSearchView:
    try:
        return search_service.get_saved_search(owner=request.user, saved_id=pk)
    except SavedSearch.DoesNotExist:
        raise NotFound() from None


class SavedSearchDetailView(AuditedAPIView):
    capability = Capability.SEARCH
    audit_action = {"GET": "saved_search.read", "DELETE": "saved_search.delete"}
    audit_target_type = "saved_search"

    def get(self, request: Request, pk: int) -> Response:
        saved = _own(request, pk)
        self.note.result_count = 1
        return Response(saved_dict(saved))

    def delete(self, request: Request, pk: int) -> Response:
        if not search_service.delete_saved_search(pk, request.user):
            raise NotFound()
        return Response(status=204)


def hit_dict(hit: search_service.SearchHit) -> dict[str, Any]:
    return {
        **message_dict(hit.message),
        "highlights": [list(span) for span in hit.highlights],
        "before": [message_dict(m) for m in hit.before],
        "after": [message_dict(m) for m in hit.after],
    }


class SavedSearchRunView(AuditedAPIView):
    """Run a saved search within the caller's scope. Parameters: limit, cursor, context, order, tz."""

    capability = Capability.SEARCH
    requires_purpose = True
    audit_action = "saved_search.run"
    audit_target_type = "saved_search"

    def get(self, request: Request, pk: int) -> Response:
        params = request.query_params
        limit = int_param(request, "limit", 50, minimum=1, maximum=200)
        context = int_param(request, "context", 0, minimum=0, maximum=search_service.MAX_CONTEXT)
        order = params.get("order") or "newest"
        if order not in ("newest", "oldest"):
            raise ValidationError({"order": ["Use 'newest' or 'oldest'."]})
        tz = params.get("tz") or "UTC"
        try:
            if len(tz) > 64:
                raise ValueError(tz)
            zone(tz)
        except Exception:
            raise ValidationError({"tz": ["Use a time zone name such as Europe/Paris."]}) from None
        cursor = params.get("cursor") or None
        saved = _own(request, pk)
        self.note.query = saved.query
        try:
            result = search_service.run_saved_search(
                saved,
                viewer=Viewer(request.user, active_purpose(request)),
                scope=scope_for(request.user),
                limit=limit,
                cursor=cursor,
                context=context,
                order=order,
                tz=tz,
            )
        except search_service.InvalidCursor:
            raise ValidationError(
                {"cursor": ["This cursor is invalid; use the 'next' value of a previous page."]}
            ) from None
        except QuerySyntaxError as exc:
            raise ValidationError({"query": [f"The saved query no longer parses: {exc}"]}) from None
        except ValueError:
            raise ValidationError({"limit": ["Out of range."]}) from None
        self.note.result_count = len(result.items)
        return Response(
            {
                "results": [hit_dict(h) for h in result.items],
                "count": result.count,
                "count_exact": result.count_exact,
                "truncated": result.truncated,
                "next": result.next_cursor,
            }
        )


class LabelListView(AuditedAPIView):
    """The conversation labels in use (folder names such as inbox/archived) and how many
    conversations carry each; plain metadata."""

    capability = Capability.VIEW_METADATA
    audit_action = "label.list"
    audit_target_type = "label"

    def get(self, request: Request) -> Response:
        counts: Counter[str] = Counter()
        for labels in Conversation.objects.values_list("labels", flat=True).iterator(chunk_size=5000):
            counts.update({str(label) for label in labels or ()})
        items = [{"label": name, "conversations": n} for name, n in sorted(counts.items())]
        self.note.result_count = len(items)
        return Response({"results": items, "next": None})
