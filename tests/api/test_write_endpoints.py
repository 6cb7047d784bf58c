"""Login, lockout, throttling, tokens, bad input (400 + field) on every write endpoint,
and failing closed when the audit log cannot be written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from compliance.models import AuditEvent
from tests.api.conftest import PASSWORD, assert_error_shape, assert_no_content, declare_purpose

pytestmark = pytest.mark.django_db


def test_login_issues_a_token_that_works_and_can_be_revoked(personas) -> None:
    client = APIClient()
    response = client.post("/api/v1/auth/token", {"username": "auditor", "password": PASSWORD}, format="json")
    assert response.status_code == 201
    raw = response.json()["token"]
    assert raw.startswith("dmv_")
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.outcome, event.actor_name, event.auth_method) == (
        "auth.login",
        "allowed",
        "auditor",
        "password",
    )
    assert raw not in str(AuditEvent.objects.filter(seq=event.seq).values().get())
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/audit").status_code == 200
    assert client.delete("/api/v1/auth/token").status_code == 204
    assert_error_shape(client.get("/api/v1/audit"), 401, "authentication_failed")


def test_failed_logins_lock_the_account(personas, settings) -> None:
    settings.DMVAULT_LOGIN_MAX_FAILURES = 3
    client = APIClient()
    for _ in range(3):
        bad = client.post("/api/v1/auth/token", {"username": "officer", "password": "wrong"}, format="json")
        assert_error_shape(bad, 401, "authentication_failed")
    user = User.objects.get(username="officer")
    assert user.locked_until is not None and user.locked_until > timezone.now()
    locked = client.post("/api/v1/auth/token", {"username": "officer", "password": PASSWORD}, format="json")
    assert_error_shape(locked, 401)
    details = list(
        AuditEvent.objects.filter(action="auth.login").order_by("seq").values_list("detail", flat=True)
    )
    assert details[-4:] == ["bad_password", "bad_password", "locked_now", "locked"]
    User.objects.filter(pk=user.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert (
        client.post(
            "/api/v1/auth/token", {"username": "officer", "password": PASSWORD}, format="json"
        ).status_code
        == 201
    )
    unknown = client.post("/api/v1/auth/token", {"username": "nobody", "password": "x"}, format="json")
    assert unknown.json() == locked.json()  # no hint whether the account exists


def test_login_is_throttled(personas, settings) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100/min", "user": "100/min", "login": "2/min"},
    }
    client = APIClient()
    for _ in range(2):
        client.post("/api/v1/auth/token", {"username": "officer", "password": "wrong"}, format="json")
    response = client.post("/api/v1/auth/token", {"username": "officer", "password": PASSWORD}, format="json")
    assert_error_shape(response, 429, "throttled")
    assert response["Retry-After"]
    assert AuditEvent.objects.order_by("-seq").first().outcome == "throttled"


def test_expired_revoked_and_out_of_scope_tokens(personas) -> None:
    auditor = personas["auditor"].user
    token, raw = ApiToken.issue(auditor, "short")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert_error_shape(client.get("/api/v1/audit"), 401)
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert_error_shape(client.get("/api/v1/audit"), 401)
    officer = personas["officer"].user
    _, scoped = ApiToken.issue(officer, "metadata only", scopes=["view_metadata"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {scoped}")
    assert client.get("/api/v1/sources").status_code == 200
    assert_error_shape(
        client.post("/api/v1/purpose", {"matter": "C-1", "reason": "a good long reason"}, format="json"),
        403,
        "scope_forbidden",
    )


BAD_INPUT = [
    ("outsider", "/api/v1/auth/token", {"username": "officer"}, "password"),
    ("outsider", "/api/v1/auth/token", {"password": "x"}, "username"),
    ("officer", "/api/v1/purpose", {"matter": "CASE-1"}, "reason"),
    ("officer", "/api/v1/purpose", {"matter": "CASE-1", "reason": "short"}, "reason"),
    ("officer", "/api/v1/purpose", {"matter": "<script>", "reason": "a long enough reason"}, "matter"),
    (
        "admin",
        "/api/v1/users",
        {"username": "newbie", "password": "a long enough passphrase 7", "role": "king"},
        "role",
    ),
    ("admin", "/api/v1/users", {"username": "newbie", "password": "short", "role": "auditor"}, "password"),
    (
        "admin",
        "/api/v1/users",
        {"username": "officer", "password": "a long enough passphrase 7", "role": "auditor"},
        "username",
    ),
    (
        "admin",
        "/api/v1/users",
        {"username": "bad name!", "password": "a long enough passphrase 7", "role": "auditor"},
        "username",
    ),
    ("admin", "/api/v1/users/{officer}/tokens", {"name": "t", "days": 0}, "days"),
    ("admin", "/api/v1/users/{officer}/tokens", {"name": "t", "scopes": ["read_audit"]}, "scopes"),
    ("admin", "/api/v1/users/{officer}/tokens", {}, "name"),
]


@pytest.mark.parametrize(
    ("who", "url", "body", "field"), BAD_INPUT, ids=[f"{u}:{f}" for _, u, _, f in BAD_INPUT]
)
def test_bad_input_is_400_with_the_field(personas, who, url, body, field) -> None:
    before = AuditEvent.objects.count()
    response = personas[who].client.post(url.format(officer=personas["officer"].user.pk), body, format="json")
    error = assert_error_shape(response, 400)
    assert error["field"] == field, error
    assert AuditEvent.objects.count() == before + 1
    assert AuditEvent.objects.order_by("-seq").first().outcome == "invalid"


def test_bad_query_parameters_are_400(personas, archive) -> None:
    officer = personas["officer"]
    declare_purpose(officer)
    cases = [
        ("/api/v1/search", {"q": ""}, "q"),
        ("/api/v1/search", {"q": "the a of"}, "q"),
        ("/api/v1/search", {"q": "lighthouse", "limit": "lots"}, "limit"),
        ("/api/v1/search", {"q": "lighthouse", "cursor": "forged"}, "cursor"),
        (f"/api/v1/messages/{archive.message_ids[0]}", {"context": 99}, "context"),
        ("/api/v1/conversations", {"limit": 0}, "limit"),
    ]
    for url, params, field in cases:
        error = assert_error_shape(officer.client.get(url, params), 400)
        assert error["field"] == field, (url, error)
    assert (
        assert_error_shape(personas["auditor"].client.get("/api/v1/audit", {"since": "yesterday"}), 400)[
            "field"
        ]
        == "since"
    )


def test_malformed_json_and_unknown_methods(personas) -> None:
    admin = personas["admin"]
    response = admin.client.post("/api/v1/users", "{not json", content_type="application/json")
    assert_error_shape(response, 400, "parse_error")
    assert_error_shape(admin.client.put("/api/v1/users", {}, format="json"), 405, "method_not_allowed")


def test_when_the_audit_write_fails_the_request_fails_closed(personas, archive, monkeypatch) -> None:
    import compliance.audit as audit

    officer = personas["officer"]
    declare_purpose(officer)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "leaf_hash", broken)
    before = AuditEvent.objects.count()
    response = officer.client.get("/api/v1/search", {"q": "lighthouse"})
    assert_error_shape(response, 503, "audit_unavailable")
    assert_no_content(response.content)
    # A write whose audit fails is rolled back: the user is not created.
    created = personas["admin"].client.post(
        "/api/v1/users",
        {"username": "ghost", "password": "a long enough passphrase 7", "role": "auditor"},
        format="json",
    )
    assert_error_shape(created, 503, "audit_unavailable")
    assert not User.objects.filter(username="ghost").exists()
    assert_error_shape(personas["outsider"].client.get("/api/v1/health"), 503)
    assert AuditEvent.objects.count() == before
    monkeypatch.undo()
    assert officer.client.get("/api/v1/search", {"q": "lighthouse"}).status_code == 200


def test_session_login_works_for_the_ui_with_csrf(personas) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(personas["auditor"].user)
    assert client.get("/api/v1/audit").status_code == 200
    assert AuditEvent.objects.order_by("-seq").first().auth_method == "session"
    # Unsafe methods need the CSRF token with session auth.
    assert_error_shape(client.post("/api/v1/purpose", {}, format="json"), 403)


def test_audit_listing_filters(personas) -> None:
    personas["officer"].client.get("/api/v1/sources")
    auditor = personas["auditor"].client
    body = auditor.get("/api/v1/audit", {"actor": "officer", "action": "source.list"}).json()
    assert [e["actor"] for e in body["results"]] == ["officer"]
    since = (timezone.now() + timedelta(hours=1)).isoformat()
    assert auditor.get("/api/v1/audit", {"since": since}).json()["results"] == []
    verify = auditor.get("/api/v1/audit/verify").json()
    assert verify["ok"] is True
