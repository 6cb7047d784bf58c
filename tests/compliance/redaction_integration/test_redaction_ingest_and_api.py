"""Redaction at ingest (the original never reaches the database or the blind index; tokenized
originals reveal for legal, audited) and view-time redaction through the API."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from accounts.roles import Role
from archive import ingest
from archive.models import Message
from archive.reading import open_messages
from archive.search.engine import find_ids
from archive.vault.blind_index import query_terms
from compliance import redaction_service as svc
from compliance.models import AuditEvent
from compliance.redaction_models import RedactionPolicy, RedactionToken, SourceRedaction
from tests.api.conftest import assert_error_shape, declare_purpose
from tests.compliance.redaction_integration.conftest import CARD, EMAIL, purpose_for, user, view_policy

pytestmark = pytest.mark.django_db
TOK = re.compile(r"\[TOK:([0-9a-f]+)\]")

CHAT = f"""[14/02/2024, 09:15:44] Priya: the invoice went to {EMAIL} yesterday
[14/02/2024, 09:16:10] Sam: pay with {CARD} please
[14/02/2024, 09:17:00] Priya: lighthouse keeper says hello
"""
ORIGINALS = (EMAIL, "quentin.zephyr", CARD, CARD.replace(" ", ""))


def _all_rows_text() -> str:
    """Every row of every table, as text (bytes decoded leniently): what a database dump shows."""
    chunks: list[str] = []
    tables = set(connection.introspection.table_names())
    with connection.cursor() as cur:
        for table in sorted(tables):
            cur.execute(f'SELECT * FROM "{table}"')
            for row in cur.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(bytes(value).decode("latin-1"))
                    elif value is not None:
                        chunks.append(str(value))
    return "\n".join(chunks)


def _ingest(tmp_path: Path, **policy: Any) -> tuple[Any, RedactionPolicy]:
    path = tmp_path / "WhatsApp Chat.txt"
    path.write_text(CHAT, encoding="utf-8")
    source = ingest.receive_path(path, platform="whatsapp")
    values: dict[str, Any] = {
        "name": "at-ingest",
        "apply_at_ingest": True,
        "type_modes": {"EMAIL": "tokenize", "CREDIT_CARD": "mask"},
    }
    values.update(policy)
    chosen = RedactionPolicy.objects.create(**values)
    SourceRedaction.objects.create(source=source, policy=chosen)
    done = ingest.run(source.id)
    assert done.status == "done" and done.summary["messages"] == 3
    return done, chosen


def test_at_ingest_the_original_never_reaches_the_database_nor_the_index(tmp_path: Path) -> None:
    source, _ = _ingest(tmp_path)
    dump = _all_rows_text()
    for original in ORIGINALS:
        assert original not in dump
    ids = list(Message.objects.filter(source=source).order_by("id").values_list("id", flat=True))
    texts = [m.text for m in open_messages(ids)]
    for original in ORIGINALS:
        assert all(original not in t for t in texts), original
    assert "pay with •••• •••• •••• 1881 please" in texts
    assert any(TOK.search(t) for t in texts)
    # the blind index has the rest of the message but not the email's words
    assert find_ids(query_terms("invoice"), limit=10)
    assert find_ids(query_terms("lighthouse keeper"), limit=10)
    for words in ("quentin", "zephyr", "quentin zephyr example org", "4012888888881881"):
        assert find_ids(query_terms(words), limit=10) == [], words


def test_a_token_made_at_ingest_reveals_for_legal_with_an_audit_event(tmp_path: Path) -> None:
    source, _ = _ingest(tmp_path)
    [(mid, text)] = [
        (m.id, m.text)
        for m in open_messages(list(Message.objects.values_list("id", flat=True)))
        if "[TOK:" in m.text
    ]
    token = TOK.search(text).group(1)  # type: ignore[union-attr]
    stored = RedactionToken.objects.get(token_id=token)
    assert stored.source_id == source.id and stored.type == "EMAIL"
    legal = user(Role.LEGAL)
    purpose = purpose_for(legal)
    before = AuditEvent.objects.count()
    assert svc.reveal(legal, purpose, mid, token) == EMAIL
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.outcome, event.target_id) == ("redaction.reveal", "allowed", str(mid))
    officer = user(Role.COMPLIANCE_OFFICER)
    with pytest.raises(svc.RevealDenied):
        svc.reveal(officer, purpose_for(officer), mid, token)
    assert AuditEvent.objects.count() == before + 2


def test_without_an_ingest_policy_nothing_is_transformed(tmp_path: Path) -> None:
    source, _ = _ingest(tmp_path, apply_at_ingest=False)
    texts = " ".join(m.text for m in open_messages(list(Message.objects.values_list("id", flat=True))))
    assert EMAIL in texts and svc.ingest_transform(source) is None


def test_the_ingest_transform_is_picklable_for_worker_processes(world) -> None:
    chosen = RedactionPolicy.objects.create(name="p", apply_at_ingest=True)
    SourceRedaction.objects.create(source=world.source, policy=chosen)
    transform = svc.ingest_transform(world.source)
    assert transform is not None
    assert transform(f"mail {EMAIL}") == "mail [EMAIL]"  # builds its state
    copy = pickle.loads(pickle.dumps(transform))
    assert copy._state is None and copy(f"mail {EMAIL}") == "mail [EMAIL]"


def test_view_time_officer_sees_labels_legal_reveals_through_the_api(personas, world) -> None:
    view_policy(role_views={"compliance_officer": {"view": "redacted"}, "legal": {"mode": "tokenize"}})
    officer, lawyer = personas["officer"], personas["lawyer"]
    declare_purpose(officer)
    mid = world.conv1[0]

    shown = officer.client.get(f"/api/v1/messages/{mid}").json()["message"]
    assert shown["text"] == "write to [EMAIL] about the invoice"
    assert shown["redactions"][0]["type"] == "EMAIL" and shown["redactions"][0]["token"] is None
    listed = officer.client.get(f"/api/v1/conversations/{shown['conversation_id']}/messages").json()
    assert all(EMAIL not in m["text"] and "4012" not in m["text"] for m in listed["results"])
    found = officer.client.get("/api/v1/search", {"q": "invoice"}).json()["results"]
    assert found and all(EMAIL not in m["text"] for m in found)

    refused = officer.client.post(f"/api/v1/messages/{mid}/reveal", {"token": "ab" * 10}, format="json")
    assert_error_shape(refused, 403)

    no_purpose = lawyer.client.post(f"/api/v1/messages/{mid}/reveal", {"token": "ab" * 10}, format="json")
    assert assert_error_shape(no_purpose, 403)["code"] == "purpose_required"
    declare_purpose(lawyer, "CASE-9")
    seen = lawyer.client.get(f"/api/v1/messages/{mid}").json()["message"]
    token = TOK.search(seen["text"]).group(1)  # type: ignore[union-attr]
    assert EMAIL not in seen["text"] and seen["redactions"][0]["token"] == token

    before = AuditEvent.objects.count()
    revealed = lawyer.client.post(f"/api/v1/messages/{mid}/reveal", {"token": token}, format="json")
    assert revealed.status_code == 200, revealed.content
    assert revealed.json()["original"] == EMAIL
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.outcome, event.matter_ref) == ("redaction.reveal", "allowed", "CASE-9")
    assert event.target_id == str(mid) and event.detail == f"token:{token}"

    missing = lawyer.client.post(f"/api/v1/messages/{world.conv1[2]}/reveal", {"token": token}, format="json")
    assert_error_shape(missing, 404)
    bad = lawyer.client.post(f"/api/v1/messages/{mid}/reveal", {"token": "<script>"}, format="json")
    assert assert_error_shape(bad, 400)["field"] == "token"
