"""OpenID Connect login against a small provider run by the test: authorization code + PKCE,
an RS256 id_token checked against the provider's JWKS, roles from the groups claim, an API token
issued to the SSO session, and refusals (unmapped group, forged signature, disabled SSO)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from compliance.models import AuditEvent

pytestmark = pytest.mark.django_db

CLIENT_ID = "dmvault-test"
CLIENT_SECRET = "client-secret-for-tests"


@dataclass
class Provider:
    issuer: str = ""
    key: Any = None
    forged_key: Any = None
    next_user: dict[str, Any] = field(default_factory=dict)
    forge: bool = False
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: int = 0

    def id_token(self, user: dict[str, Any], nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user["sub"], "aud": CLIENT_ID, "iat": now, "exp": now + 300}
        claims.update(nonce=nonce, email=user["email"], groups=user["groups"])
        key = self.forged_key if self.forge else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "test-key"})


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, body: Any, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                base = provider.issuer
                self._json(
                    {
                        "issuer": base,
                        "authorization_endpoint": f"{base}/authorize",
                        "token_endpoint": f"{base}/token",
                        "userinfo_endpoint": f"{base}/userinfo",
                        "jwks_uri": f"{base}/jwks",
                        "response_types_supported": ["code"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "code_challenge_methods_supported": ["S256"],
                    }
                )
            elif url.path == "/authorize":  # auto-approve whoever the test set up
                assert q["client_id"] == CLIENT_ID and q["response_type"] == "code"
                assert q.get("code_challenge_method") == "S256"
                code = secrets.token_urlsafe(16)
                provider.codes[code] = {**q, "user": dict(provider.next_user)}
                self.send_response(302)
                location = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
                self.send_header("Location", location)
                self.end_headers()
            elif url.path == "/jwks":
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(provider.key.public_key()))
                self._json({"keys": [{**jwk, "kid": "test-key", "alg": "RS256", "use": "sig"}]})
            elif url.path == "/userinfo":
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                user = provider.tokens.get(token)
                if user is None:
                    self._json({"error": "invalid_token"}, 401)
                    return
                self._json({"sub": user["sub"], "email": user["email"], "groups": user["groups"]})
            else:
                self._json({"error": "not_found"}, 404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlparse(self.path).path != "/token":
                self._json({"error": "not_found"}, 404)
                return
            provider.token_requests += 1
            grant = provider.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if (
                grant is None
                or form.get("client_id") != CLIENT_ID
                or form.get("client_secret") != CLIENT_SECRET
                or form.get("redirect_uri") != grant["redirect_uri"]
                or challenge != grant["code_challenge"]
            ):
                self._json({"error": "invalid_grant"}, 400)
                return
            access = secrets.token_urlsafe(16)
            provider.tokens[access] = grant["user"]
            self._json(
                {
                    "access_token": access,
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": provider.id_token(grant["user"], grant.get("nonce", "")),
                }
            )

    return Handler


@pytest.fixture
def provider(settings) -> Iterator[Provider]:
    p = Provider(
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        forged_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(p))
    p.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        discovery = requests.get(f"{p.issuer}/.well-known/openid-configuration", timeout=5).json()
        settings.DMVAULT_OIDC_CLIENT_ID = settings.OIDC_RP_CLIENT_ID = CLIENT_ID
        settings.DMVAULT_OIDC_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
        settings.DMVAULT_OIDC_AUTHORIZATION_ENDPOINT = settings.OIDC_OP_AUTHORIZATION_ENDPOINT = discovery[
            "authorization_endpoint"
        ]
        settings.DMVAULT_OIDC_TOKEN_ENDPOINT = settings.OIDC_OP_TOKEN_ENDPOINT = discovery["token_endpoint"]
        settings.DMVAULT_OIDC_USERINFO_ENDPOINT = settings.OIDC_OP_USER_ENDPOINT = discovery[
            "userinfo_endpoint"
        ]
        settings.DMVAULT_OIDC_JWKS_ENDPOINT = settings.OIDC_OP_JWKS_ENDPOINT = discovery["jwks_uri"]
        settings.DMVAULT_OIDC_ENABLED = True
        settings.DMVAULT_OIDC_ROLE_MAP = json.dumps(
            {"dmv-admins": "admin", "dmv-officers": "compliance_officer", "dmv-legal": "legal"}
        )
        settings.AUTHENTICATION_BACKENDS = [
            "django.contrib.auth.backends.ModelBackend",
            "dmvault.ops.sso.RoleMappingOIDCBackend",
        ]
        yield p
    finally:
        server.shutdown()
        server.server_close()


def _login(client: Client, provider: Provider, user: dict[str, Any]) -> Any:
    provider.next_user = user
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302
    assert start["Location"].startswith(provider.issuer + "/authorize?")
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert at_provider.status_code == 302
    back = urlparse(at_provider.headers["Location"])
    assert back.path == "/oidc/callback/"
    return client.get(f"{back.path}?{back.query}")


def test_sso_login_maps_the_role_and_issues_an_api_token(provider: Provider) -> None:
    client = Client()
    user = {"sub": "u-1001", "email": "officer@example.org", "groups": ["staff", "dmv-officers"]}
    done = _login(client, provider, user)
    assert done.status_code == 302 and done["Location"] == "/", done.get("Location")
    account = User.objects.get(username="sso:u-1001")
    assert account.role == "compliance_officer" and not account.has_usable_password()
    assert provider.token_requests == 1

    issued = client.post("/oidc/api-token", {"name": "laptop"})
    assert issued.status_code == 201, issued.content
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.json()['token']}")
    assert api.get("/api/v1/conversations").status_code == 200
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"auth.sso.start", "auth.sso.login", "auth.sso.token"} <= actions
    # One event per request: the backend's own login event is folded into the callback's.
    (callback,) = AuditEvent.objects.filter(action="auth.sso.login")
    assert (callback.outcome, callback.actor_name, callback.auth_method) == ("allowed", "sso:u-1001", "sso")
    assert [e["action"] for e in callback.service_event_list] == ["auth.sso.login"]
    assert not AuditEvent.objects.filter(request_id="", action__startswith="auth.sso").exists()

    # The role follows the provider's groups at the next login; leaving every group locks out.
    _login(Client(), provider, {**user, "groups": ["dmv-legal"]})
    assert User.objects.get(username="sso:u-1001").role == "legal"
    refused = _login(Client(), provider, {**user, "groups": ["staff"]})
    assert refused.status_code == 302 and "sso=failed" in refused["Location"]
    assert not User.objects.get(username="sso:u-1001").is_active


def test_unmapped_users_forged_tokens_and_password_sessions_are_refused(provider: Provider) -> None:
    refused = _login(Client(), provider, {"sub": "u-2", "email": "x@example.org", "groups": ["nobody"]})
    assert "sso=failed" in refused["Location"]
    assert not User.objects.filter(username="sso:u-2").exists()
    denied = AuditEvent.objects.filter(action="auth.sso.login").order_by("-seq").first()
    assert denied is not None and (denied.outcome, denied.detail) == ("denied", "sso_failed")
    assert [(e["action"], e["outcome"]) for e in denied.service_event_list] == [("auth.sso.login", "denied")]

    provider.forge = True
    client = Client()
    forged = _login(client, provider, {"sub": "u-3", "email": "y@example.org", "groups": ["dmv-admins"]})
    assert "sso=failed" in forged["Location"]
    assert not User.objects.filter(username="sso:u-3").exists()

    # A password session cannot use the SSO token endpoint; a local name cannot be taken over.
    User.objects.create_user(username="u-4", password="correct horse battery staple 42", role="admin")
    local = Client()
    local.login(username="u-4", password="correct horse battery staple 42")
    assert local.post("/oidc/api-token").status_code == 403
    provider.forge = False
    _login(Client(), provider, {"sub": "u-4", "email": "z@example.org", "groups": ["dmv-officers"]})
    assert User.objects.get(username="u-4").role == "admin"
    assert User.objects.get(username="sso:u-4").role == "compliance_officer"


def test_sso_urls_are_off_unless_configured(settings) -> None:
    settings.DMVAULT_OIDC_ENABLED = False
    client = Client()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
