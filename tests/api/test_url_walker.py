"""Every URL under /api/ is permission-checked and writes exactly one audit event per request."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, get_resolver

from compliance.models import AuditEvent
from dmvault.api.audit import AuditedAPIView
from dmvault.api.permissions import PUBLIC, CapabilityPermission
from tests.api.conftest import assert_error_shape, assert_no_content, declare_purpose

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def api_patterns() -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            else:
                found.append((prefix + str(p.pattern), p))

    walk(get_resolver().url_patterns, "")
    return [(route, p) for route, p in found if route.startswith("api/")]


def concrete(route: str, ids: dict[str, int]) -> str:
    if "^" in route:  # the catch-all
        return "/api/v1/definitely-not-an-endpoint"
    for prefix, value in ids.items():
        if route.startswith(prefix):
            return "/" + route.replace("<int:pk>", str(value))
    assert "<" not in route, f"no test id for {route}"
    return "/" + route


def test_the_walker_sees_every_endpoint() -> None:
    routes = {route for route, _ in api_patterns()}
    for expected in (
        "api/v1/health",
        "api/v1/auth/token",
        "api/v1/purpose",
        "api/v1/sources",
        "api/v1/sources/<int:pk>",
        "api/v1/conversations",
        "api/v1/conversations/<int:pk>/messages",
        "api/v1/messages/<int:pk>",
        "api/v1/search",
        "api/v1/audit",
        "api/v1/audit/verify",
        "api/v1/users",
        "api/v1/users/<int:pk>/tokens",
        "api/v1/users/<int:pk>/assignments",
        "api/schema/",
        "api/docs/",
    ):
        assert expected in routes


def test_every_api_view_is_audited_and_declares_a_capability() -> None:
    for route, pattern in api_patterns():
        view_class = pattern.callback.view_class  # type: ignore[attr-defined]
        assert issubclass(view_class, AuditedAPIView), route
        assert view_class.capability is not None, f"{route} declares no capability"
        assert CapabilityPermission in view_class.permission_classes, route


def test_every_url_as_every_persona_is_checked_and_audited_once(personas, archive) -> None:
    declare_purpose(personas["officer"])
    from archive.search.service import create_saved_search
    from compliance.redaction_models import RedactionPolicy, RedactionRule
    from compliance.subjects import create_subject

    ids = {
        "api/v1/sources/": archive.source.id,
        "api/v1/conversations/": archive.conversation.id,
        "api/v1/messages/": archive.message_ids[0],
        "api/v1/users/": personas["officer"].user.pk,
        "api/v1/subjects/": create_subject("Walked subject").id,
        "api/v1/saved-searches/": create_saved_search(personas["officer"].user, "walk", "keeper").id,
        # issue 4: a redaction rule and policy (no message content)
        "api/v1/redaction/rules/": RedactionRule.objects.create(name="walk", type="WALK", keywords=["x"]).id,
        "api/v1/redaction/policies/": RedactionPolicy.objects.create(name="walk").id,
        # issue 7.5: a retention policy, a matter and its hold, an erasure request, an export job
        **_compliance_ids(personas, archive),
    }
    calls: list[tuple[str, str, str, Any]] = []
    for route, pattern in api_patterns():
        view_class = pattern.callback.view_class  # type: ignore[attr-defined]
        path = concrete(route, ids)
        for method in METHODS:
            calls.append((method, path, route, view_class))
    # Revoking the persona's own token (DELETE /auth/token) must come last.
    calls.sort(key=lambda c: c[0] == "delete" and c[1] == "/api/v1/auth/token")
    seen_statuses: dict[tuple[str, str, str], int] = {}
    for name, persona in personas.items():
        cache.clear()
        for method, path, route, view_class in calls:
            # Exactly one event per request, counting every event: what the compliance services
            # record (hold.place, retention.run ...) is folded into the request's event.
            before = AuditEvent.objects.count()
            response = getattr(persona.client, method)(path, {} if method != "get" else None, format="json")
            seen_statuses[(name, method, path)] = response.status_code
            assert AuditEvent.objects.count() == before + 1, (name, method, path)
            event = AuditEvent.objects.order_by("-seq").first()
            assert event is not None
            assert event.request_id == response["X-Request-ID"], (name, method, path)
            assert str(event.event_id) == response["X-Audit-Event"]
            assert event.status_code == response.status_code
            assert response.status_code < 500, (name, method, path, response.content)
            if persona.user is not None and response.status_code != 401:
                assert event.actor_id == persona.user.pk, (name, method, path)
            if response.status_code >= 400:
                assert_error_shape(response, response.status_code)
                assert_no_content(response.content)
            public = view_class.capability == PUBLIC or (
                isinstance(view_class.capability, dict)
                and view_class.capability.get(method.upper()) == PUBLIC
            )
            if persona.user is None and not public:
                assert response.status_code == 401, (method, path, response.status_code)
                assert response["WWW-Authenticate"].startswith("Bearer")
            if name in ("ingest", "auditor") and route.startswith(
                ("api/v1/messages", "api/v1/search", "api/v1/conv")
            ):
                assert response.status_code == 403, (name, method, path)
    # Sanity: the walk reached real data for someone.
    assert seen_statuses[("officer", "get", f"/api/v1/messages/{archive.message_ids[0]}")] == 200
    assert seen_statuses[("auditor", "get", "/api/v1/audit")] == 200


def _compliance_ids(personas: Any, archive: Any) -> dict[str, int]:
    from compliance import holds, retention, retention_jobs
    from compliance.exports.jobs import create_export
    from compliance.subjects import create_subject, request_erasure

    lawyer, admin = personas["lawyer"].user, personas["admin"].user
    matter = holds.create_matter(
        name="Walk", reference="WALK-1", owner=lawyer, conversations=[archive.conversation.id]
    )
    return {
        "api/v1/retention/policies/": retention.create_policy(name="walk", period_days=36_500).id,
        "api/v1/retention/jobs/": retention_jobs.queue_run(requested_by=admin, queue=False).id,
        "api/v1/matters/": matter.id,
        "api/v1/holds/": holds.place_hold(matter, lawyer).id,
        "api/v1/erasure-requests/": request_erasure(create_subject("Walked erasure").id, admin).id,
        "api/v1/exports/": create_export(
            requested_by=lawyer,
            purpose="walking the routes",
            conversation_ids=[archive.conversation.id],
            queue=False,
        ).id,
    }
