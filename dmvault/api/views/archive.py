"""Sources, conversations, messages and search. Content comes only through dmvault.api.services."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import REVIEWING_ROLES, Capability
from accounts.scope import scope_for
from archive.search.query import QuerySyntaxError
from archive.search.service import InvalidCursor
from dmvault.api import services
from dmvault.api.audit import AuditedAPIView
from dmvault.api.pagination import decode_cursor, int_param, limit_param, page
from dmvault.api.purpose import active_purpose
from dmvault.api.services import Viewer


def _after(request: Request) -> int | None:
    cursor = decode_cursor(request.query_params.get("cursor"))
    if cursor is None:
        return None
    value = cursor.get("after")
    if not isinstance(value, int):
        raise ValidationError(
            {"cursor": ["This cursor is invalid; use the 'next' value of a previous page."]}
        )
    return value


class SourceListView(AuditedAPIView):
    capability = Capability.VIEW_METADATA
    audit_action = "source.list"
    audit_target_type = "source"

    def get(self, request: Request) -> Response:
        items, last = services.list_sources(_after(request), limit_param(request))
        self.note.result_count = len(items)
        return Response(page(items, {"after": last} if last else None))


class SourceDetailView(AuditedAPIView):
    capability = Capability.VIEW_METADATA
    audit_action = "source.read"
    audit_target_type = "source"

    def get(self, request: Request, pk: int) -> Response:
        item = services.get_source(pk)
        if item is None:
            raise NotFound()
        self.note.result_count = 1
        return Response(item)


def _reads_content(request: Request) -> bool:
    """Titles are content: only content readers (with a purpose, for reviewing roles) see them."""
    user: Any = request.user
    if not user.can(Capability.READ_CONTENT):
        return False
    return user.role not in REVIEWING_ROLES or active_purpose(request) is not None


class ConversationListView(AuditedAPIView):
    """Metadata for every metadata reader; the decrypted title only for content readers.
    Content readers (officers, lawyers) see only the conversations of their review scope."""

    capability = Capability.VIEW_METADATA
    audit_action = "conversation.list"
    audit_target_type = "conversation"

    def get(self, request: Request) -> Response:
        with_titles = _reads_content(request)
        user: Any = request.user
        scope = scope_for(user) if user.can(Capability.READ_CONTENT) else None
        items, last = services.list_conversations(
            _after(request), limit_param(request), with_titles=with_titles, scope=scope
        )
        self.note.result_count = len(items)
        self.note.detail = "with_titles" if with_titles else "metadata_only"
        return Response(page(items, {"after": last} if last else None))


class ConversationMessagesView(AuditedAPIView):
    capability = Capability.READ_CONTENT
    requires_purpose = True
    audit_action = "message.list"
    audit_target_type = "conversation"

    def get(self, request: Request, pk: int) -> Response:
        after, limit = _after(request), limit_param(request)
        viewer = Viewer(request.user, active_purpose(request))
        if not services.conversation_exists(pk, viewer=viewer):
            raise NotFound()
        items, last = services.conversation_messages(pk, after, limit, viewer=viewer)
        self.note.result_count = len(items)
        return Response(page(items, {"after": last} if last else None))


class MessageDetailView(AuditedAPIView):
    capability = Capability.READ_CONTENT
    requires_purpose = True
    audit_action = "message.read"
    audit_target_type = "message"

    def get(self, request: Request, pk: int) -> Response:
        context = int_param(request, "context", 0, minimum=0, maximum=50)
        found = services.message_with_context(
            pk, context, viewer=Viewer(request.user, active_purpose(request))
        )
        if found is None:
            raise NotFound()
        self.note.result_count = found.count
        return Response({"message": found.message, "before": found.before, "after": found.after})


class SearchView(AuditedAPIView):
    capability = Capability.SEARCH
    requires_purpose = True
    audit_action = "message.search"
    audit_target_type = "message"

    def get(self, request: Request) -> Response:
        q = request.query_params.get("q", "")
        if not q.strip():
            raise ValidationError({"q": ["Give the words to search for, e.g. ?q=invoice march."]})
        if len(q) > 500:
            raise ValidationError({"q": ["The query is too long (at most 500 characters)."]})
        self.note.query = q
        cursor = decode_cursor(request.query_params.get("cursor"))
        position = cursor.get("s") if cursor else None
        if cursor is not None and not isinstance(position, str):
            raise ValidationError(
                {"cursor": ["This cursor is invalid; use the 'next' value of a previous page."]}
            )
        try:
            viewer = Viewer(request.user, active_purpose(request))
            items, last = services.search_page(q, limit_param(request), position, viewer=viewer)
        except QuerySyntaxError as exc:
            raise ValidationError({"q": [str(exc)]}) from None
        except InvalidCursor:
            raise ValidationError(
                {"cursor": ["This cursor belongs to another query; use the 'next' value of a previous page."]}
            ) from None
        self.note.result_count = len(items)
        return Response(page(items, {"s": last} if last else None))
