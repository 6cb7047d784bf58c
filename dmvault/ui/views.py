"""The review UI's pages and actions. Each is a ``UIView`` (``dmvault.ui.base``): permission-checked
against ``accounts.roles`` and audited with exactly one event per request.

Everything the pages read goes through the archive's own services: ``archive.search.service``
(search), ``archive.reading.open_messages`` (message content), ``archive.ingest`` and
``archive.tasks`` (imports), ``compliance.holds`` / ``retention`` / ``consent`` / ``subjects``
(the compliance engine), ``compliance.exports.jobs`` (productions) and ``compliance.audit``.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme

from accounts.models import User
from accounts.roles import REVIEWING_ROLES, Capability
from accounts.scope import scope_for
from archive import ingest
from archive.importers import REGISTRY
from archive.models import Conversation, DataSubject, Message, Participant, Platform, Source
from archive.reading import open_messages
from archive.search.query import QuerySyntaxError
from archive.search.service import InvalidCursor, SearchScope, present, search_for, search_ids
from archive.vault import KeyDestroyed, get_vault
from compliance import audit as audit_log
from compliance.models import AuditEvent
from compliance.redaction_service import Viewer
from dmvault.api.purpose import active_purpose, declare, open_reason
from dmvault.ui import charts, content
from dmvault.ui.base import AUTHENTICATED, PUBLIC, Refused, UIView

PAGE = 25
THREAD_PAGE = 80


# --- helpers ---------------------------------------------------------------------------------------------


def nav(request: HttpRequest) -> list[tuple[str, str, str]]:
    """(label, url name, key) of the pages this user's role may open."""
    user = request.user
    if not user.is_authenticated:
        return []
    items = [("Home", "ui:home", "home")]
    can = user.can
    if can(Capability.SEARCH):
        items.append(("Search", "ui:search", "search"))
    if can(Capability.MANAGE_HOLDS):
        items.append(("Matters", "ui:matters", "matters"))
    if can(Capability.EXPORT):
        items.append(("Exports", "ui:exports", "exports"))
    if can(Capability.UPLOAD):
        items.append(("Imports", "ui:imports", "imports"))
    if can(Capability.MANAGE_POLICIES):
        items.append(("Retention", "ui:retention", "retention"))
    if can(Capability.SUBJECT_REQUESTS):
        items.append(("Data subjects", "ui:subjects", "subjects"))
    if can(Capability.MANAGE_USERS):
        items.append(("Users", "ui:users", "users"))
    if can(Capability.READ_AUDIT):
        items.append(("Audit log", "ui:audit", "audit"))
    return items


def page(
    view: UIView, request: HttpRequest, template: str, ctx: dict[str, Any], status: int = 200
) -> HttpResponse:
    purpose = active_purpose(request) if request.user.is_authenticated else None
    base = {
        "nav": nav(request),
        "section": getattr(view, "section", ""),
        "purpose": purpose,
        "viewer_tz": getattr(request, "viewer_tz", "UTC"),
        "reviewing": request.user.is_authenticated and request.user.role in REVIEWING_ROLES,
    }
    return render(request, template, {**base, **ctx}, status=status)


def safe_next(request: HttpRequest, value: str | None, default: str) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return default


def subject_label(subject: DataSubject) -> str:
    if not subject.label_ct:
        return f"Subject {subject.id}"
    try:
        return (
            get_vault()
            .open_field(subject.dek_id, "subject.label", subject.id, bytes(subject.label_ct))
            .decode()
        )
    except KeyDestroyed:
        return "[erased]"


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        raise Refused(400, "An id must be a number.", "invalid_id") from None


# --- sign in / out, purpose, home ---------------------------------------------------------------------------

_BAD_LOGIN = "Invalid username or password, or the account is temporarily locked."


class LoginView(UIView):
    capability = PUBLIC
    audit_action = {"GET": "ui.login.page", "POST": "auth.login"}
    audit_target_type = "session"

    def get(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            return HttpResponseRedirect(reverse("ui:home"))
        return page(self, request, "ui/login.html", {"next": request.GET.get("next", "")})

    def post(self, request: HttpRequest) -> HttpResponse:
        """Django auth with the API's lockout rules (DMVAULT_LOGIN_MAX_FAILURES / _LOCKOUT_SECONDS)."""
        username = request.POST.get("username", "")[:150]
        password = request.POST.get("password", "")[:1024]
        nxt = request.POST.get("next", "")
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first() if username else None
        now = timezone.now()

        def refuse(detail: str) -> HttpResponse:
            self.note.detail = detail
            self.note.outcome = "unauthenticated"
            return page(
                self,
                request,
                "ui/login.html",
                {"error": _BAD_LOGIN, "next": nxt, "username": username},
                status=401,
            )

        if user is None:
            return refuse("unknown_user")
        self.note.actor = user
        if user.locked_until and user.locked_until > now:
            return refuse("locked")
        authenticated = authenticate(request, username=username, password=password)
        if authenticated is None:
            failures = user.failed_logins + 1
            locked = None
            if failures >= settings.DMVAULT_LOGIN_MAX_FAILURES:
                locked = now + timedelta(seconds=settings.DMVAULT_LOGIN_LOCKOUT_SECONDS)
                failures = 0
            user_model.objects.filter(pk=user.pk).update(failed_logins=failures, locked_until=locked)
            return refuse("locked_now" if locked else "bad_password")
        user_model.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
        login(request, authenticated)  # carries the backend that signed it in
        self.note.target_id = str(user.pk)
        home = reverse("ui:home")
        target = safe_next(request, nxt, home)
        if user.role in REVIEWING_ROLES:
            return HttpResponseRedirect(reverse("ui:purpose") + "?next=" + target)
        return HttpResponseRedirect(target)


class LogoutView(UIView):
    capability = AUTHENTICATED
    audit_action = "auth.logout"
    audit_target_type = "session"

    def post(self, request: HttpRequest) -> HttpResponse:
        self.note.actor = request.user
        self.note.auth_method = "session"
        logout(request)
        return HttpResponseRedirect(reverse("ui:login"))


class PurposeView(UIView):
    """The purpose-of-access prompt: a matter/case reference and a reason, bound to this session
    through the API's ``Purpose`` mechanism (``dmvault.api.purpose.declare``)."""

    capability = Capability.READ_CONTENT
    audit_action = {"GET": "purpose.read", "POST": "purpose.declare"}
    audit_target_type = "purpose"

    def get(self, request: HttpRequest) -> HttpResponse:
        current = active_purpose(request)
        if current is not None:
            self.note.target_id = str(current.pk)
        return page(
            self,
            request,
            "ui/purpose.html",
            {
                "current": current,
                "reason": open_reason(current) if current else "",
                "next": request.GET.get("next", ""),
                "matter": request.GET.get("matter", ""),
            },
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        from dmvault.api.views.system import PurposeSerializer

        data = PurposeSerializer(
            data={"matter": request.POST.get("matter", ""), "reason": request.POST.get("reason", "")}
        )
        nxt = request.POST.get("next", "")
        if not data.is_valid():
            self.note.detail = "invalid"
            errors = {k: " ".join(str(e) for e in v) for k, v in data.errors.items()}
            return page(
                self,
                request,
                "ui/purpose.html",
                {
                    "errors": errors,
                    "next": nxt,
                    "matter": request.POST.get("matter", ""),
                    "reason_input": request.POST.get("reason", ""),
                },
                status=400,
            )
        purpose = declare(request, data.validated_data["matter"].strip(), data.validated_data["reason"])
        self.note.target_id = str(purpose.pk)
        return HttpResponseRedirect(safe_next(request, nxt, reverse("ui:home")))


class HomeView(UIView):
    capability = AUTHENTICATED
    audit_action = "ui.home"

    def get(self, request: HttpRequest) -> HttpResponse:
        user: User = request.user  # type: ignore[assignment]
        ctx: dict[str, Any] = {
            "role": user.get_role_display(),
            "can_search": user.can(Capability.SEARCH),
        }
        if user.can(Capability.MANAGE_HOLDS):
            from compliance.engine_models import Matter

            ctx["matters"] = list(Matter.objects.order_by("-created_at")[:5])
        if user.can(Capability.EXPORT):
            from compliance.exports.models import ExportJob

            ctx["exports"] = list(ExportJob.objects.filter(requested_by=user).order_by("-created_at")[:5])
        if user.can(Capability.UPLOAD):
            ctx["sources"] = list(Source.objects.order_by("-uploaded_at")[:5])
        if user.can(Capability.MANAGE_POLICIES):
            from compliance.engine_models import RetentionPolicy

            ctx["policies"] = RetentionPolicy.objects.filter(active=True).count()
        if user.can(Capability.MANAGE_USERS):
            ctx["users"] = User.objects.count()
        if user.can(Capability.READ_AUDIT):
            ctx["events"] = list(AuditEvent.objects.order_by("-seq")[:8])
        if user.can(Capability.VIEW_METADATA):
            ctx["stats"] = {
                "conversations": Conversation.objects.count(),
                "messages": Message.objects.count(),
                "sources": Source.objects.count(),
            }
        return page(self, request, "ui/home.html", ctx)


# --- search, conversations, attachments, reveal ----------------------------------------------------------

FILTER_FIELDS = (
    ("f_platform", "platform"),
    ("f_from", "from"),
    ("f_with", "with"),
    ("f_after", "after"),
    ("f_before", "before"),
    ("f_kind", "kind"),
    ("f_has", "has"),
    ("f_is", "is"),
)


def compose_query(params: Any) -> str:
    """The text box plus the filter controls, turned into query-language operators (what app.js
    does in the browser, for the same form without JavaScript)."""
    q = params.get("q", "").strip()
    extra = []
    for name, key in FILTER_FIELDS:
        value = (params.get(name) or "").strip()
        if not value:
            continue
        if any(c.isspace() for c in value) or ("," in value and key in ("from", "with")):
            value = '"' + value.replace('"', "") + '"'
        extra.append(f"{key}:{value}")
    return " ".join([q, *extra]).strip()


class SearchView(UIView):
    capability = Capability.SEARCH
    requires_purpose = True
    audit_action = "search.query"
    audit_target_type = "message"
    section = "search"

    def get(self, request: HttpRequest) -> HttpResponse:
        q = compose_query(request.GET)
        order: Literal["newest", "oldest"] = "oldest" if request.GET.get("order") == "oldest" else "newest"
        ctx: dict[str, Any] = {
            "q": q,
            "order": order,
            "platforms": Platform.choices,
            "kinds": Message.Kind.choices,
            "can_export": request.user.can(Capability.EXPORT),  # type: ignore[union-attr]
        }
        if not q:
            self.audit_action = "search.page"
            return page(self, request, "ui/search.html", ctx)
        self.note.query = q
        cursor = request.GET.get("cursor") or None
        try:
            result = search_for(
                Viewer(request.user, active_purpose(request)),
                q,
                scope=scope_for(request.user),
                order=order,
                limit=PAGE,
                cursor=cursor,
                tz=request.viewer_tz,  # type: ignore[attr-defined]
            )
        except QuerySyntaxError as exc:
            self.note.detail = "query_syntax"
            ctx["error"] = str(exc)
            return page(self, request, "ui/search.html", ctx, status=400)
        except InvalidCursor:
            self.note.detail = "invalid_cursor"
            ctx["error"] = "This page link belongs to another search; start again from the first page."
            return page(self, request, "ui/search.html", ctx, status=400)
        except ValueError as exc:
            self.note.detail = "invalid"
            ctx["error"] = str(exc)
            return page(self, request, "ui/search.html", ctx, status=400)
        self.note.result_count = len(result.items)
        msgs = [h.message for h in result.items]
        convs = {c.id: c for c in Conversation.objects.filter(id__in={m.conversation_id for m in msgs})}
        titles = content.conversation_titles(list(convs.values()))
        senders = content.people({m.sender_id for m in msgs if m.sender_id is not None})
        hits = []
        for h in result.items:
            m = h.message
            segs, n = content.segments(m.text, h.highlights, presented=m)
            conv = convs.get(m.conversation_id)
            hits.append(
                {
                    "m": m,
                    "segments": segs,
                    "redactions": n,
                    "title": content.redact_plain(titles.get(m.conversation_id, "")),
                    "platform": conv.get_platform_display() if conv else "",
                    "sender": senders.get(m.sender_id) if m.sender_id is not None else None,
                }
            )
        ctx.update(result=result, hits=hits, cursor=cursor)
        return page(self, request, "ui/search.html", ctx)


class TimelineView(UIView):
    """Message volume per platform over time, for a search, a matter or a data subject."""

    audit_action = "timeline.read"
    section = "search"

    @property
    def capability(self) -> Any:  # type: ignore[override]
        kind = self.kwargs.get("kind")
        return {
            "search": Capability.SEARCH,
            "matter": Capability.MANAGE_HOLDS,
            "subject": Capability.SUBJECT_REQUESTS,
        }.get(kind)

    @property
    def requires_purpose(self) -> bool:  # type: ignore[override]
        return self.kwargs.get("kind") == "search"

    def get(self, request: HttpRequest, kind: str) -> HttpResponse:
        self.audit_target_type = kind
        title = ""
        if kind == "search":
            q = compose_query(request.GET)
            if not q:
                raise Refused(400, "A timeline needs a query.", "no_query")
            self.note.query = q
            try:
                ids = search_ids(
                    q,
                    scope=scope_for(request.user),
                    tz=request.viewer_tz,  # type: ignore[attr-defined]
                    cap=20_000,
                )
            except (QuerySyntaxError, ValueError) as exc:
                raise Refused(400, str(exc), "query_syntax") from None
            series = charts.monthly_volume(message_ids=ids)
            title = "Messages matching the search, per month and platform"
            back = reverse("ui:search") + "?" + request.GET.urlencode()
        elif kind == "matter":
            from compliance.engine_models import Matter

            matter = Matter.objects.filter(id=int_or_none(request.GET.get("id")) or 0).first()
            if matter is None:
                raise Refused(404, "No such matter.", "not_found")
            self.note.target_id = str(matter.id)
            series = _matter_series(matter, request.viewer_tz, scope_for(request.user))  # type: ignore[attr-defined]
            title = f"Messages in matter {matter.reference}, per month and platform"
            back = reverse("ui:matter", args=[matter.id])
        else:
            subject = DataSubject.objects.filter(id=int_or_none(request.GET.get("id")) or 0).first()
            if subject is None:
                raise Refused(404, "No such data subject.", "not_found")
            self.note.target_id = str(subject.id)
            series = _subject_series(subject)
            title = "Messages in the conversations of this data subject, per month and platform"
            back = reverse("ui:subject", args=[subject.id])
        self.note.result_count = sum(sum(v.values()) for v in series.values())
        rows = sorted({(m, p, n) for p, per in series.items() for m, n in per.items()})
        return page(
            self,
            request,
            "ui/timeline.html",
            {"svg": charts.timeline_svg(series, title=title), "title": title, "rows": rows, "back": back},
        )


def _search_ids(q: str, tz: str, cap: int, scope: SearchScope) -> list[int]:
    return search_ids(q, scope=scope, tz=tz, cap=cap)


def _matter_conversations(matter: Any) -> set[int] | None:
    """The conversations a matter names (custodians', sources', listed); None = the whole archive."""
    conv_ids: set[int] = set(matter.conversations.values_list("id", flat=True))
    custodians = list(matter.custodians.values_list("id", flat=True))
    if custodians:
        pids = Participant.objects.filter(subject_id__in=custodians).values("id")
        conv_ids |= set(
            Conversation.participants.through.objects.filter(participant_id__in=pids).values_list(
                "conversation_id", flat=True
            )
        )
    sources = list(matter.sources.values_list("id", flat=True))
    if sources:
        conv_ids |= set(
            Conversation.sources.through.objects.filter(source_id__in=sources).values_list(
                "conversation_id", flat=True
            )
        )
    if not conv_ids and not custodians and not sources:
        return None
    return conv_ids


def _matter_series(matter: Any, tz: str, scope: SearchScope) -> dict[str, dict[Any, int]]:
    """The matter's messages per month, counting only those of the reader's review ``scope``."""
    from compliance.holds import matter_query

    query = matter_query(matter)
    convs = _matter_conversations(matter)
    if query:
        ids = _search_ids(query, tz, cap=20_000, scope=scope)
        if convs is not None:
            ids = list(
                Message.objects.filter(id__in=ids, conversation_id__in=convs).values_list("id", flat=True)
            )
        return charts.monthly_volume(message_ids=ids)
    return charts.monthly_volume(conversation_ids=convs, within=scope)


def _subject_series(subject: DataSubject) -> dict[str, dict[Any, int]]:
    pids = Participant.objects.filter(subject_id=subject.id).values("id")
    convs = Conversation.participants.through.objects.filter(participant_id__in=pids).values_list(
        "conversation_id", flat=True
    )
    return charts.monthly_volume(conversation_ids=list(convs))


class ConversationView(UIView):
    """A conversation as a thread: bubbles, names, times in the viewer's zone, reactions,
    attachments, system messages, edits and deletions, review redactions."""

    capability = Capability.READ_CONTENT
    requires_purpose = True
    audit_action = "conversation.read"
    audit_target_type = "conversation"
    section = "search"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return render_thread(self, request, pk, at=int_or_none(request.GET.get("at")))


class RevealView(UIView):
    """Reveal one message's redacted values (roles with ``reveal_redacted``). Audited as
    ``message.reveal`` with the message id; the page shows that message unredacted once."""

    capability = Capability.REVEAL_REDACTED
    requires_purpose = True
    audit_action = "message.reveal"
    audit_target_type = "message"
    section = "search"

    def post(self, request: HttpRequest, pk: int, mid: int) -> HttpResponse:
        scope = scope_for(request.user)
        if not Message.objects.filter(scope.message_q(), id=mid, conversation_id=pk).exists():
            raise Refused(404, "No such message in this conversation.", "not_found")
        response = render_thread(self, request, pk, at=mid, reveal={mid})
        self.note.target_id = str(mid)
        return response


def render_thread(
    view: UIView, request: HttpRequest, pk: int, *, at: int | None = None, reveal: set[int] | None = None
) -> HttpResponse:
    # Only the messages of the reader's review scope; a conversation with none of them is not found.
    scope = scope_for(request.user)
    conv = Conversation.objects.filter(pk=pk).first()
    if conv is None or not (
        scope.is_everything or Message.objects.filter(scope.message_q(), conversation_id=pk).exists()
    ):
        raise Refused(404, "No such conversation.", "not_found")
    visible = Message.objects.filter(scope.message_q(), conversation_id=pk, source__status=Source.Status.DONE)
    after = int_or_none(request.GET.get("after"))
    before = int_or_none(request.GET.get("before"))
    if at is not None:
        head = list(visible.filter(id__lt=at).order_by("-id").values_list("id", flat=True)[:20])[::-1]
        tail = list(
            visible.filter(id__gte=at).order_by("id").values_list("id", flat=True)[: THREAD_PAGE - len(head)]
        )
        ids = head + tail
    elif before is not None:
        ids = list(visible.filter(id__lt=before).order_by("-id").values_list("id", flat=True)[:THREAD_PAGE])[
            ::-1
        ]
    elif after is not None:
        ids = list(visible.filter(id__gt=after).order_by("id").values_list("id", flat=True)[:THREAD_PAGE])
    else:
        ids = list(visible.order_by("id").values_list("id", flat=True)[:THREAD_PAGE])
    view.note.target_id = str(conv.id)
    view.note.result_count = len(ids)
    # The view policy applies to every message but one the caller is revealing (RevealView:
    # the reveal capability and a declared purpose, audited as ``message.reveal``).
    revealing = reveal or set()
    raw = open_messages(ids)
    shown = iter(
        present([m for m in raw if m.id not in revealing], Viewer(request.user, active_purpose(request)))
    )
    opened = [m if m.id in revealing else next(shown) for m in raw]
    reaction_names, participants = content.platform_id_names(conv)
    owner = conv.sources.exclude(owner_id=None).values_list("owner_id", flat=True).first()
    items = content.bubbles(
        opened, owner_subject=owner, reveal=reveal or set(), highlight=at, platform_ids=reaction_names
    )
    has_prev = bool(ids) and visible.filter(id__lt=ids[0]).exists()
    has_next = bool(ids) and visible.filter(id__gt=ids[-1]).exists()
    title = content.conversation_titles([conv])[conv.id]
    can_reveal = request.user.can(Capability.REVEAL_REDACTED)  # type: ignore[union-attr]
    return page(
        view,
        request,
        "ui/conversation.html",
        {
            "conv": conv,
            "title": title if can_reveal and reveal else content.redact_plain(title),
            "items": items,
            "participants": sorted(participants.values(), key=lambda p: p.name.lower()),
            "prev": ids[0] if has_prev else None,
            "next": ids[-1] if has_next else None,
            "can_reveal": can_reveal,
        },
    )


class AttachmentView(UIView):
    """An attachment's bytes: images of a safe type inline, everything else as a download, always
    with ``nosniff`` and a sandboxing Content-Security-Policy."""

    capability = Capability.READ_CONTENT
    requires_purpose = True
    audit_action = "attachment.read"
    audit_target_type = "attachment"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        found = content.attachment_bytes(pk, scope=scope_for(request.user))
        if found is None:
            raise Refused(404, "No such attachment.", "not_found")
        info, data = found
        if data is None:
            raise Refused(404, "This attachment's bytes were not stored or have been erased.", "no_bytes")
        inline = info.inline and request.GET.get("download") != "1"
        response = HttpResponse(
            data, content_type=info.content_type if inline else "application/octet-stream"
        )
        response["Content-Disposition"] = content_disposition_header(not inline, info.name) or "attachment"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cross-Origin-Resource-Policy"] = "same-origin"
        self.note.result_count = 1
        self.note.detail = "inline" if inline else "download"
        return response


# --- imports ------------------------------------------------------------------------------------------------


class ImportsView(UIView):
    capability = Capability.UPLOAD
    audit_action = {"GET": "source.list", "POST": "source.upload"}
    audit_target_type = "source"
    section = "imports"

    def get(self, request: HttpRequest) -> HttpResponse:
        sources = list(Source.objects.order_by("-uploaded_at")[:50])
        self.note.result_count = len(sources)
        return page(self, request, "ui/imports.html", {"sources": sources, "platforms": sorted(REGISTRY)})

    def post(self, request: HttpRequest) -> HttpResponse:
        from archive.tasks import queue_ingest

        upload = request.FILES.get("export")
        platform = request.POST.get("platform", "")
        if upload is None:
            self.note.detail = "no_file"
            return page(
                self,
                request,
                "ui/imports.html",
                {
                    "sources": list(Source.objects.order_by("-uploaded_at")[:50]),
                    "platforms": sorted(REGISTRY),
                    "error": "Choose an export file to upload.",
                },
                status=400,
            )
        try:
            source = ingest.receive(
                upload,
                name=upload.name or "upload",
                size=upload.size or 0,
                platform=platform,
                owner=request.POST.get("owner", "")[:200],
                uploaded_by=request.user,
            )
        except ingest.IngestError as exc:
            self.note.detail = "ingest_error"
            return page(
                self,
                request,
                "ui/imports.html",
                {
                    "sources": list(Source.objects.order_by("-uploaded_at")[:50]),
                    "platforms": sorted(REGISTRY),
                    "error": str(exc),
                },
                status=400,
            )
        queue_ingest(source.id)
        self.note.target_id = str(source.id)
        return HttpResponseRedirect(reverse("ui:import", args=[source.id]))


class ImportView(UIView):
    capability = Capability.UPLOAD
    audit_action = "source.read"
    audit_target_type = "source"
    section = "imports"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        source = Source.objects.filter(pk=pk).first()
        if source is None:
            raise Refused(404, "No such import.", "not_found")
        summary = dict(source.summary or {})
        counts = [
            (k.replace("_", " "), v)
            for k, v in summary.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        return page(
            self,
            request,
            "ui/import.html",
            {
                "source": source,
                "counts": counts,
                "completeness": summary.get("completeness") or [],
                "warnings": summary.get("warnings") or [],
                "percent": round(source.progress * 100),
            },
        )


class ImportStatusView(UIView):
    """The small JSON the import page polls: status, progress, messages processed."""

    capability = Capability.UPLOAD
    audit_action = "source.status"
    audit_target_type = "source"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        source = Source.objects.filter(pk=pk).values("status", "progress", "summary", "error").first()
        if source is None:
            return JsonResponse({"error": "not_found"}, status=404)
        summary = source["summary"] or {}
        return JsonResponse(
            {
                "status": source["status"],
                "progress": source["progress"],
                "processed": summary.get("processed", summary.get("messages", 0)),
                "done": source["status"] in (Source.Status.DONE, Source.Status.FAILED),
            }
        )


# --- matters and holds ------------------------------------------------------------------------------------


class MattersView(UIView):
    capability = Capability.MANAGE_HOLDS
    audit_action = {"GET": "matter.list", "POST": "matter.create"}
    audit_target_type = "matter"
    section = "matters"

    def _ctx(self, **extra: Any) -> dict[str, Any]:
        from compliance.engine_models import Matter

        matters = list(Matter.objects.order_by("-created_at").prefetch_related("holds")[:100])
        for m in matters:
            m.active_holds = sum(1 for h in m.holds.all() if h.active)  # type: ignore[attr-defined]
        self.note.result_count = len(matters)
        return {"matters": matters, **extra}

    def get(self, request: HttpRequest) -> HttpResponse:
        return page(self, request, "ui/matters.html", self._ctx())

    def post(self, request: HttpRequest) -> HttpResponse:
        from compliance.holds import create_matter

        name = request.POST.get("name", "").strip()[:200]
        reference = request.POST.get("reference", "").strip()[:100]
        query = request.POST.get("query", "").strip()
        start, end = request.POST.get("start", ""), request.POST.get("end", "")
        ranges = []
        try:
            if start or end:
                ranges.append((_date(start), _date(end)))
            if not name or not reference:
                raise ValueError("A matter needs a name and a reference.")
            matter = create_matter(
                name=name, reference=reference, owner=request.user, query=query, date_ranges=ranges
            )
        except (ValueError, ValidationError) as exc:
            self.note.detail = "invalid"
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            return page(
                self, request, "ui/matters.html", self._ctx(error=message, form=request.POST), status=400
            )
        self.note.target_id = str(matter.id)
        return HttpResponseRedirect(reverse("ui:matter", args=[matter.id]))


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class MatterView(UIView):
    capability = Capability.MANAGE_HOLDS
    audit_action = {"GET": "matter.read", "POST": "hold.place"}
    audit_target_type = "matter"
    section = "matters"

    def _matter(self, pk: int) -> Any:
        from compliance.engine_models import Matter

        matter = Matter.objects.filter(pk=pk).first()
        if matter is None:
            raise Refused(404, "No such matter.", "not_found")
        return matter

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        from compliance.holds import matter_query

        matter = self._matter(pk)
        holds = list(matter.holds.select_related("placed_by", "released_by").order_by("-placed_at"))
        return page(
            self,
            request,
            "ui/matter.html",
            {
                "matter": matter,
                "holds": holds,
                "active": any(h.active for h in holds),
                "query": matter_query(matter),
                "custodians": [subject_label(s) for s in matter.custodians.all()],
            },
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        from compliance.holds import HoldError, place_hold

        matter = self._matter(pk)
        try:
            hold = place_hold(matter, request.user)
        except HoldError as exc:
            raise Refused(403, str(exc), "hold_refused") from None
        self.note.target_id = str(hold.id)
        self.note.detail = f"matter {matter.reference}"
        return HttpResponseRedirect(reverse("ui:matter", args=[matter.id]))


class ReleaseHoldView(UIView):
    capability = Capability.MANAGE_HOLDS
    audit_action = "hold.release"
    audit_target_type = "hold"
    section = "matters"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        from compliance.engine_models import Hold
        from compliance.holds import HoldError, release_hold

        hold = Hold.objects.filter(pk=pk).first()
        if hold is None:
            raise Refused(404, "No such hold.", "not_found")
        try:
            release_hold(hold, request.user)
        except HoldError as exc:
            raise Refused(400, str(exc), "hold_refused") from None
        return HttpResponseRedirect(reverse("ui:matter", args=[hold.matter_id]))


# --- retention ------------------------------------------------------------------------------------------------


class RetentionView(UIView):
    capability = Capability.MANAGE_POLICIES
    audit_action = {"GET": "retention.policy.list", "POST": "retention.policy.create"}
    audit_target_type = "retention_policy"
    section = "retention"

    def _ctx(self, **extra: Any) -> dict[str, Any]:
        from compliance.engine_models import RetentionPolicy, RetentionRun

        policies = list(RetentionPolicy.objects.all())
        self.note.result_count = len(policies)
        from compliance.engine_models import RetentionJob

        return {
            "policies": policies,
            "runs": list(RetentionRun.objects.all()[:10]),
            "jobs": list(RetentionJob.objects.select_related("requested_by")[:10]),
            "platforms": Platform.choices,
            "actions": RetentionPolicy.Action.choices,
            "bases": RetentionPolicy.Basis.choices,
            **extra,
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        return page(self, request, "ui/retention.html", self._ctx())

    def post(self, request: HttpRequest) -> HttpResponse:
        from compliance import retention
        from compliance.engine_models import LockViolation

        p = request.POST
        try:
            fields: dict[str, Any] = {
                "name": p.get("name", "").strip()[:120],
                "platform": p.get("platform", ""),
                "label": p.get("label", "").strip()[:100],
                "period_days": int(p.get("period_days", "") or "0"),
                "action": p.get("action", "delete"),
                "basis": p.get("basis", "sent"),
                "priority": int(p.get("priority", "") or "0"),
                "overrides": p.get("overrides") == "on",
                "locked": p.get("locked") == "on",
            }
            if not fields["name"] or fields["period_days"] < 1:
                raise ValueError("A policy needs a name and a period of at least one day.")
            policy = retention.create_policy(created_by=request.user, **fields)
        except (ValueError, ValidationError, LockViolation) as exc:
            self.note.detail = "invalid"
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            return page(self, request, "ui/retention.html", self._ctx(error=message), status=400)
        self.note.target_id = str(policy.id)
        return HttpResponseRedirect(reverse("ui:retention"))


class RetentionRunView(UIView):
    """Enforce retention now: queues a django-q2 job (``compliance.retention_jobs``) and returns
    to the retention page, which lists the jobs with their status and counts."""

    capability = Capability.MANAGE_POLICIES
    audit_action = "retention.run"
    audit_target_type = "retention_job"
    section = "retention"

    def post(self, request: HttpRequest) -> HttpResponse:
        from compliance import retention_jobs

        try:
            job = retention_jobs.queue_run(requested_by=request.user)
        except retention_jobs.RetentionBusy as exc:
            raise Refused(
                409, f"Retention job {exc.job.id} is already {exc.job.status}.", "retention_busy"
            ) from None
        self.note.target_id = str(job.id)
        self.note.detail = "queued"
        return HttpResponseRedirect(reverse("ui:retention"))


class DryRunView(UIView):
    """What a retention run now would delete and redact, and what holds and locks block (a chart
    per platform); changes nothing."""

    capability = Capability.MANAGE_POLICIES
    audit_action = "retention.dry_run"
    audit_target_type = "retention_plan"
    section = "retention"

    def get(self, request: HttpRequest) -> HttpResponse:
        from compliance import retention
        from compliance.engine_models import RetentionPolicy

        policy_id = int_or_none(request.GET.get("policy"))
        the_plan = retention.plan(policy_id=policy_id)
        summary = the_plan.summary()
        # Per platform: the plan lists ids; look up their conversations (no join), in chunks.
        conv_platform = dict(Conversation.objects.values_list("id", "platform"))
        rows: dict[str, dict[str, int]] = {}
        for part, ids in (
            ("delete", the_plan.delete_ids),
            ("redact", the_plan.redact_ids),
            ("held", the_plan.blocked_by_hold_ids),
        ):
            for start in range(0, min(len(ids), 200_000), 5000):
                chunk = ids[start : start + 5000]
                for conv_id in Message.objects.filter(id__in=chunk).values_list("conversation_id", flat=True):
                    counts = rows.setdefault(conv_platform.get(conv_id, "?"), {})
                    counts[part] = counts.get(part, 0) + 1
        chart_rows = [
            (
                plat,
                [("delete", r.get("delete", 0)), ("redact", r.get("redact", 0)), ("held", r.get("held", 0))],
            )
            for plat, r in sorted(rows.items())
        ]
        names = {str(p.id): p.name for p in RetentionPolicy.objects.all()}
        by_policy = [
            (names.get(k, k), v.get("delete", 0), v.get("redact", 0)) for k, v in summary["by_policy"].items()
        ]
        self.note.result_count = len(the_plan.delete_ids) + len(the_plan.redact_ids)
        self.note.detail = f"delete={len(the_plan.delete_ids)} redact={len(the_plan.redact_ids)} held={the_plan.blocked_by_hold}"
        return page(
            self,
            request,
            "ui/dry_run.html",
            {
                "summary": summary,
                "svg": charts.bars_svg(chart_rows, title="Retention dry run: messages per platform"),
                "chart_rows": chart_rows,
                "by_policy": by_policy,
                "locked_by": [(names.get(k, k), v) for k, v in summary["blocked_by_lock_policy"].items()],
            },
        )


# --- data subjects: consent, subject access, erasure ----------------------------------------------------------


class SubjectsView(UIView):
    capability = Capability.SUBJECT_REQUESTS
    audit_action = {"GET": "subject.list", "POST": "subject.create"}
    audit_target_type = "data_subject"
    section = "subjects"

    def get(self, request: HttpRequest) -> HttpResponse:
        from compliance.engine_models import ConsentRecord

        subjects = list(DataSubject.objects.order_by("-created_at")[:200])
        latest: dict[int, dict[str, str]] = {}
        for sid, purpose, state in (
            ConsentRecord.objects.filter(subject_id__in=[s.id for s in subjects])
            .order_by("recorded_at", "id")
            .values_list("subject_id", "purpose", "state")
        ):
            latest.setdefault(sid, {})[purpose] = state
        rows = [{"s": s, "label": subject_label(s), "consent": latest.get(s.id, {})} for s in subjects]
        self.note.result_count = len(rows)
        return page(
            self, request, "ui/subjects.html", {"rows": rows, "purposes": ConsentRecord.Purpose.choices}
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        from compliance.subjects import create_subject

        label = request.POST.get("label", "").strip()[:200]
        if not label:
            raise Refused(400, "A data subject needs a label.", "invalid")
        subject = create_subject(label)
        self.note.target_id = str(subject.id)
        return HttpResponseRedirect(reverse("ui:subject", args=[subject.id]))


class SubjectView(UIView):
    capability = Capability.SUBJECT_REQUESTS
    audit_action = {"GET": "subject.read", "POST": "consent.record"}
    audit_target_type = "data_subject"
    section = "subjects"

    def _subject(self, pk: int) -> DataSubject:
        subject = DataSubject.objects.filter(pk=pk).first()
        if subject is None:
            raise Refused(404, "No such data subject.", "not_found")
        return subject

    def get(self, request: HttpRequest, pk: int, error: str = "", status: int = 200) -> HttpResponse:
        from compliance import consent
        from compliance.engine_models import ConsentConflict, ConsentRecord, ErasureRequest

        subject = self._subject(pk)
        identities = content.people(
            set(Participant.objects.filter(subject_id=subject.id).values_list("id", flat=True))
        )
        platforms = dict(Participant.objects.filter(subject_id=subject.id).values_list("id", "platform"))
        return page(
            self,
            request,
            "ui/subject.html",
            {
                "subject": subject,
                "label": subject_label(subject),
                "identities": [(platforms.get(p.id, ""), p) for p in identities.values()],
                "history": consent.history(subject.id),
                "conflicts": list(ConsentConflict.objects.filter(subject_id=subject.id, resolved_at=None)),
                "erasures": list(
                    ErasureRequest.objects.filter(subject_id=subject.id).order_by("-requested_at")
                ),
                "purposes": ConsentRecord.Purpose.choices,
                "states": ConsentRecord.State.choices,
                "bases": ConsentRecord.Basis.choices,
                "withdrawals": ConsentRecord.OnWithdrawal.choices,
                "error": error,
            },
            status=status,
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        from compliance import consent

        subject = self._subject(pk)
        p = request.POST
        try:
            row = consent.record(
                subject.id,
                p.get("purpose", ""),
                p.get("state", ""),
                lawful_basis=p.get("lawful_basis", "consent"),
                evidence=p.get("evidence", "")[:2000],
                recorded_by=request.user,
                on_withdrawal=p.get("on_withdrawal", "keep"),
            )
        except ValidationError as exc:
            self.note.detail = "invalid"
            return self.get(request, pk, error="; ".join(exc.messages), status=400)
        self.note.target_id = str(row.id)
        return HttpResponseRedirect(reverse("ui:subject", args=[subject.id]))


class SubjectAccessView(UIView):
    """The subject-access package (``compliance.subjects.subject_access_package``) as a zip
    download, the same as the API's: data.json, transcript.html, the subject's own attachments
    and manifest.json. Built in memory, never written to disk in clear."""

    capability = Capability.SUBJECT_REQUESTS
    audit_action = "subject.access"
    audit_target_type = "data_subject"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        from compliance.subjects import subject_access_package

        if not DataSubject.objects.filter(pk=pk).exists():
            raise Refused(404, "No such data subject.", "not_found")
        buffer = io.BytesIO()
        manifest = subject_access_package(pk, buffer, requested_by=request.user)
        self.note.detail = f"access package: {len(manifest)} files"
        response = HttpResponse(buffer.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = (
            content_disposition_header(True, f"subject-{pk}-access.zip") or "attachment"
        )
        response["Cache-Control"] = "no-store"
        return response


class ErasureView(UIView):
    """Request an erasure (POST on a subject), approve one (POST on a request: the two-person rule
    is the service's), or execute an approved one."""

    capability = Capability.SUBJECT_REQUESTS
    audit_target_type = "erasure_request"
    section = "subjects"

    @property
    def audit_action(self) -> str:  # type: ignore[override]
        return {
            "request": "subject.erase.request",
            "approve": "subject.erase.approve",
            "execute": "subject.erase.execute",
        }.get(self.kwargs.get("step", ""), "subject.erase")

    def post(self, request: HttpRequest, pk: int, step: str) -> HttpResponse:
        from compliance import subjects
        from compliance.engine_models import ErasureRequest

        try:
            if step == "request":
                if not DataSubject.objects.filter(pk=pk).exists():
                    raise Refused(404, "No such data subject.", "not_found")
                req = subjects.request_erasure(pk, request.user)
            else:
                found = ErasureRequest.objects.filter(pk=pk).first()
                if found is None:
                    raise Refused(404, "No such erasure request.", "not_found")
                if step == "approve":
                    req = subjects.approve_erasure(pk, request.user)
                elif step == "execute":
                    subjects.execute_erasure(pk)
                    req = ErasureRequest.objects.get(pk=pk)
                else:
                    raise Refused(404, "No such step.", "not_found")
        except subjects.ErasureRefused as exc:
            raise Refused(403, str(exc), "erasure_refused") from None
        self.note.target_id = str(req.id)
        return HttpResponseRedirect(reverse("ui:subject", args=[req.subject_id]))


# --- exports ----------------------------------------------------------------------------------------------------

EXPORT_FORMATS = ("native", "csv", "rsmf", "eml", "html", "pdf", "loadfile")


class ExportsView(UIView):
    capability = Capability.EXPORT
    audit_action = {"GET": "export.list", "POST": "export.create"}
    audit_target_type = "export"
    section = "exports"

    @property
    def requires_purpose(self) -> bool:  # type: ignore[override]
        return self.request.method == "POST"

    def _ctx(self, request: HttpRequest, **extra: Any) -> dict[str, Any]:
        from compliance.exports.models import ExportJob

        # Productions belong to their requester, as in the API (another lawyer's is not listed).
        jobs = list(
            ExportJob.objects.select_related("requested_by")
            .filter(requested_by_id=request.user.pk)
            .order_by("-created_at")[:50]
        )
        self.note.result_count = len(jobs)
        purpose = active_purpose(request)
        return {
            "jobs": jobs,
            "formats": EXPORT_FORMATS,
            "q": request.GET.get("q", ""),
            "matter_ref": purpose.matter_ref if purpose else "",
            **extra,
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        return page(self, request, "ui/exports.html", self._ctx(request))

    def post(self, request: HttpRequest) -> HttpResponse:
        from compliance.exports.jobs import create_export
        from compliance.exports.redact import PolicyError

        p = request.POST
        formats = [f for f in p.getlist("formats") if f in EXPORT_FORMATS] or ["native", "csv", "html"]
        query = p.get("q", "").strip()
        conversation = int_or_none(p.get("conversation"))
        if not query and conversation is None:
            return page(
                self,
                request,
                "ui/exports.html",
                self._ctx(request, error="Give a search query or a conversation id to export."),
                status=400,
            )
        purpose = active_purpose(request)
        try:
            job = create_export(
                requested_by=request.user,
                purpose=p.get("purpose", "").strip()[:2000]
                or (open_reason(purpose) if purpose else "")
                or "",
                formats=formats,
                query=query,
                matter_ref=(purpose.matter_ref if purpose else "") or p.get("matter_ref", ""),
                conversation_ids=[conversation] if conversation is not None else [],
                redaction={"enabled": True} if p.get("redact") == "on" else None,
                encrypt_zip=p.get("encrypt_zip") == "on",
            )
        except (ValueError, PolicyError) as exc:
            self.note.detail = "invalid"
            return page(self, request, "ui/exports.html", self._ctx(request, error=str(exc)), status=400)
        self.note.target_id = str(job.id)
        if query:
            self.note.query = query
        return HttpResponseRedirect(reverse("ui:export", args=[job.id]))


class ExportView(UIView):
    capability = Capability.EXPORT
    audit_action = "export.read"
    audit_target_type = "export"
    section = "exports"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = _own_export(request, pk)
        return page(self, request, "ui/export.html", _export_ctx(request, job))


def _own_export(request: HttpRequest, pk: int) -> Any:
    """The requester's own production, or a 404 (another user's export is never confirmed)."""
    from compliance.exports.models import ExportJob

    job = (
        ExportJob.objects.select_related("requested_by")
        .filter(pk=pk, requested_by_id=request.user.pk)
        .first()
    )
    if job is None:
        raise Refused(404, "No such export.", "not_found")
    return job


def _export_ctx(request: HttpRequest, job: Any, passphrase: str = "") -> dict[str, Any]:
    from compliance.exports.jobs import passphrase_state

    return {
        "job": job,
        "percent": round(job.progress * 100),
        "passphrase": passphrase,
        "passphrase_state": passphrase_state(job),
        "own": job.requested_by_id == request.user.pk and request.user.can(Capability.EXPORT_PASSPHRASE),  # type: ignore[union-attr]
    }


class ExportPassphraseView(UIView):
    """The passphrase of the requester's AES-encrypted production, shown once and then wiped
    (``compliance.exports.jobs.reveal_passphrase``); audited as ``export.passphrase``."""

    capability = Capability.EXPORT_PASSPHRASE
    requires_purpose = True
    audit_action = "export.passphrase"
    audit_target_type = "export"
    section = "exports"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        from compliance.exports.jobs import PassphraseUnavailable, reveal_passphrase

        job = _own_export(request, pk)
        self.note.target_id = str(job.id)
        try:
            passphrase = reveal_passphrase(job)
        except PassphraseUnavailable as exc:
            raise Refused(410 if exc.reason == "already_revealed" else 409, str(exc), exc.reason) from None
        self.note.result_count = 1
        self.note.detail = "revealed"
        response = page(self, request, "ui/export.html", _export_ctx(request, job, passphrase))
        response["Cache-Control"] = "no-store"
        return response


class ExportStatusView(UIView):
    capability = Capability.EXPORT
    audit_action = "export.status"
    audit_target_type = "export"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        from compliance.exports.models import ExportJob

        job = (
            ExportJob.objects.filter(pk=pk, requested_by_id=request.user.pk)
            .values("status", "progress", "counts")
            .first()
        )
        if job is None:
            return JsonResponse({"error": "not_found"}, status=404)
        done = job["status"] in ("done", "failed", "cancelled")
        return JsonResponse({"status": job["status"], "progress": job["progress"], "done": done})


class ExportDownloadView(UIView):
    capability = Capability.EXPORT
    requires_purpose = True
    audit_action = "export.download"
    audit_target_type = "export"

    def get(self, request: HttpRequest, pk: int) -> Any:  # a FileResponse (streamed)
        from compliance.exports.jobs import open_result

        job = _own_export(request, pk)
        try:
            stream = open_result(job)
        except ValueError as exc:
            raise Refused(404, str(exc), "no_result") from None
        self.note.result_count = int(job.counts.get("messages", 0) or 0)
        response = FileResponse(
            stream,
            as_attachment=True,
            filename=f"dmvault-production-{job.id}.zip",
            content_type="application/zip",
        )
        if job.result_size:
            response["Content-Length"] = str(job.result_size)
        return response


# --- audit log, users ---------------------------------------------------------------------------------------------


class AuditLogView(UIView):
    capability = Capability.READ_AUDIT
    audit_action = "audit.read"
    audit_target_type = "audit_event"
    section = "audit"

    def get(self, request: HttpRequest) -> HttpResponse:
        params = request.GET
        qs = AuditEvent.objects.order_by("-seq")
        actor = params.get("actor", "").strip()[:150]
        if actor:
            qs = (
                qs.filter(Q(actor_name=actor) | Q(actor_id=int(actor)))
                if actor.isdigit()
                else qs.filter(actor_name=actor)
            )
        for name, column in (("outcome", "outcome"), ("matter", "matter_ref")):
            value = params.get(name, "").strip()[:100]
            if value:
                qs = qs.filter(**{column: value})
        action = params.get("action", "").strip()[:64]
        if action:
            qs = qs.filter(AuditEvent.action_q(action))
        before = int_or_none(params.get("before"))
        if before is not None:
            qs = qs.filter(seq__lt=before)
        rows = list(qs[:51])
        more = len(rows) > 50
        rows = rows[:50]
        self.note.result_count = len(rows)
        status = None
        if before is None:
            status = audit_log.verify()
            self.note.detail = "verified ok" if status.ok else f"verified broken_at:{status.first_bad_seq}"
        rest = params.copy()
        rest.pop("before", None)
        return page(
            self,
            request,
            "ui/audit.html",
            {
                "events": rows,
                "next": rows[-1].seq if more else None,
                "status": status,
                "filters": {k: params.get(k, "") for k in ("actor", "action", "outcome", "matter")},
                "rest": rest.urlencode(),
                "outcomes": [o for o, _ in AuditEvent._meta.get_field("outcome").choices or []],
            },
        )


class UsersView(UIView):
    capability = Capability.MANAGE_USERS
    audit_action = "user.list"
    audit_target_type = "user"
    section = "users"

    def get(self, request: HttpRequest) -> HttpResponse:
        users = list(User.objects.order_by("username"))
        self.note.result_count = len(users)
        now = timezone.now()
        return page(self, request, "ui/users.html", {"users": users, "now": now})
