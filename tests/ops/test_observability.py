"""Health probes, Prometheus metrics, JSON logs without content, and the system check for SSO."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.test import Client

from archive import ingest
from archive.search.service import SearchScope, search
from compliance.models import AuditEvent
from dmvault.ops.logging import JsonFormatter

pytestmark = pytest.mark.django_db

SECRET = "Zanzibarquokka"
NAME = "Bartholomew Quince"


def _telegram_export(path: Path) -> Path:
    export = {
        "personal_information": {"user_id": 1, "first_name": "Alicia", "last_name": "Vantablack"},
        "chats": {
            "list": [
                {
                    "name": NAME,
                    "type": "personal_chat",
                    "id": 77,
                    "messages": [
                        {
                            "id": i,
                            "type": "message",
                            "date": f"2025-03-01T10:0{i}:00",
                            "from": NAME if i % 2 else "Alicia Vantablack",
                            "from_id": "user2" if i % 2 else "user1",
                            "text": f"{SECRET} meets at the lighthouse {i}",
                        }
                        for i in range(1, 6)
                    ],
                }
            ]
        },
    }
    path.write_text(json.dumps(export))
    return path


def test_liveness_is_not_audited_and_readiness_checks_db_broker_and_keys(client: Client) -> None:
    from archive.vault import get_vault

    assert client.get("/health/ready").json()["checks"]["keys"] == "failed"  # no keyring yet
    get_vault().active_kwk()
    before = AuditEvent.objects.count()
    for _ in range(20):
        assert client.get("/health/live").json() == {"status": "ok"}
    response = client.get("/health/ready")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "keys": "ok"}}
    assert AuditEvent.objects.count() == before


def test_readiness_fails_when_the_keyring_is_not_this_archives(
    client: Client, settings, tmp_path: Path
) -> None:
    from archive.vault import get_vault, reset_vault

    get_vault().active_kwk()  # the archive now has a wrapping key under the test keyring
    settings.DMVAULT_KEYRING_PATH = tmp_path / "other" / "keyring.json"
    reset_vault()
    get_vault().provider.create()  # type: ignore[attr-defined]
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["keys"] == "failed"


def test_metrics_need_the_token_and_report_jobs_ingest_search_and_audit(
    client: Client, settings, tmp_path: Path
) -> None:
    settings.DMVAULT_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.DMVAULT_METRICS_TOKEN = "s3cret-metrics"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    source = ingest.receive_path(_telegram_export(tmp_path / "result.json"), platform="telegram")
    ingest.run(source.id)
    search(SECRET, scope=SearchScope.everything())
    from compliance.audit import Event, record

    record(Event(action="test.event", outcome="allowed"))
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics").content.decode()
    for name in (
        "dmvault_jobs_queued",
        "dmvault_jobs_in_progress",
        "dmvault_jobs_succeeded",
        "dmvault_jobs_failed",
        "dmvault_ingest_messages_written_total 5.0",
        'dmvault_ingest_sources{status="done"} 1.0',
        "dmvault_search_seconds_count",
        "dmvault_audit_chain_head_seq",
    ):
        assert name in body, name
    count = [line for line in body.splitlines() if line.startswith("dmvault_search_seconds_count")]
    assert float(count[0].split()[-1]) >= 1
    assert SECRET not in body and NAME not in body


def test_json_logs_carry_no_content_or_identities(tmp_path: Path, client: Client) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        source = ingest.receive_path(_telegram_export(tmp_path / "result.json"), platform="telegram")
        ingest.run(source.id)
        search(SECRET, scope=SearchScope.everything())
        search(f'"{NAME}"', scope=SearchScope.everything())
        client.get(f"/api/v1/search?q={SECRET}")
        try:
            raise ValueError(f"could not parse {SECRET} from {NAME}")
        except ValueError:
            logging.getLogger("archive.ingest").exception("ingest of source %s failed", source.id)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert any(line.get("exception", {}).get("type") == "builtins.ValueError" for line in lines)
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    for needle in (SECRET, NAME, "Bartholomew", "Vantablack", "lighthouse"):
        assert needle.lower() not in text.lower(), needle


def test_half_configured_sso_fails_the_system_check(settings) -> None:
    settings.DMVAULT_OIDC_CLIENT_ID = "dmvault"
    settings.DMVAULT_OIDC_TOKEN_ENDPOINT = "https://idp.example/token"
    errors = [e for e in run_checks() if e.id == "dmvault_ops.E001"]
    assert errors and "DMVAULT_OIDC_AUTHORIZATION_ENDPOINT" in (errors[0].hint or "")
    settings.DMVAULT_OIDC_CLIENT_ID = ""
    settings.DMVAULT_OIDC_TOKEN_ENDPOINT = ""
    assert not [e for e in run_checks() if e.id.startswith("dmvault_ops")]
