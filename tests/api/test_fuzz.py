"""Schema fuzzing: schemathesis generates requests from the OpenAPI schema at /api/schema/ and
sends them to the Django WSGI app in-process (no network), as an administrator and as a
compliance officer with a declared purpose. No request may end in a 5xx, every request writes
exactly one audit event, and every error is in the one error shape.

Bounded: a few examples per operation, derandomized, so the run is reproducible and short.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application

from compliance.models import AuditEvent
from tests.api.conftest import declare_purpose

schemathesis = pytest.importorskip("schemathesis")

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

EXAMPLES = 6
# Revoking the caller's own token would end the run early; it is covered in test_write_endpoints.
SKIP = {("DELETE", "/api/v1/auth/token")}


def _fuzz(persona: Any, raw_token: str) -> tuple[int, list[str]]:
    from hypothesis import HealthCheck, Phase, given, settings

    headers = {"Authorization": f"Bearer {raw_token}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", get_wsgi_application(), headers=headers
    )
    problems: list[str] = []
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            nonlocal sent
            cache.clear()  # throttles are tested elsewhere
            api_events = AuditEvent.objects.all()  # services' events are folded into the request's
            before = api_events.count()
            response = case.call(headers=headers)
            sent += 1
            where = f"{case.method} {case.formatted_path} -> {response.status_code}"
            if response.status_code >= 500:
                problems.append(f"{where}: {response.text[:200]}")
            if api_events.count() != before + 1:
                problems.append(f"{where}: {api_events.count() - before} audit events")
            if response.status_code >= 400 and "json" in response.headers.get("Content-Type", ""):
                body = response.json()
                if set(body) != {"error"} or set(body["error"]) != {"code", "message", "field"}:
                    problems.append(f"{where}: not the error shape: {str(body)[:200]}")

        check()
    return sent, problems


@contextmanager
def _keep_the_test_connection() -> Iterator[None]:
    """A bare WSGIHandler closes the database connection at each request's start and end (the
    test client disconnects that); here it would close the test's transaction under it. (The
    test client reconnects the handler after each of its requests, so this wraps the fuzz only.)"""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.parametrize("who", ["admin", "officer"])
def test_schema_fuzz_finds_no_server_errors(personas, archive, who) -> None:
    from accounts.models import ApiToken

    persona = personas[who]
    _, raw = ApiToken.issue(persona.user, "fuzz")
    if who == "officer":
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        persona = type(persona)(persona.name, persona.user, None, client)
        declare_purpose(persona)
    with _keep_the_test_connection():
        sent, problems = _fuzz(persona, raw)
    assert sent > 50, sent
    assert not problems, "\n".join(problems[:20])
