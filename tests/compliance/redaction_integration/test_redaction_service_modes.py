"""Every mode through the service, view policies per role, reveal and its audit events."""

from __future__ import annotations

import re

import pytest

from accounts.roles import Role
from archive.models import Participant
from archive.reading import open_messages
from compliance import redaction_service as svc
from compliance.models import AuditEvent
from compliance.redaction_models import RedactionPolicy
from tests.compliance.redaction_integration.conftest import (
    CARD,
    EMAIL,
    OTHER_EMAIL,
    purpose_for,
    user,
    view_policy,
)

pytestmark = pytest.mark.django_db
TOK = re.compile(r"\[TOK:([0-9a-f]+)\]")


def _texts(ids: list[int], u, purpose=None) -> list[str]:
    return [m.text for m in svc.redact_for_viewer(open_messages(ids), u, purpose)]


def test_no_view_policy_leaves_text_unchanged(world) -> None:
    assert EMAIL in _texts(world.conv1, user(Role.COMPLIANCE_OFFICER))[0]


def test_label(world) -> None:
    view_policy()
    email_msg, card_msg, plain = svc.redact_for_viewer(
        open_messages(world.conv1), user(Role.COMPLIANCE_OFFICER), None
    )
    assert email_msg.text == "write to [EMAIL] about the invoice"
    assert card_msg.text == "my card is [CREDIT_CARD] ok"
    assert plain.text == "see you soon" and not plain.redacted
    assert email_msg.redacted
    assert email_msg.redactions == [
        {"field": "text", "type": "EMAIL", "mode": "label", "start": 9, "end": 16, "token": None}
    ]


def test_mask_keeps_the_last_four(world) -> None:
    view_policy(type_modes={"CREDIT_CARD": "mask"})
    card = _texts(world.conv1, user(Role.COMPLIANCE_OFFICER))[1]
    assert card == "my card is •••• •••• •••• 1881 ok"
    assert CARD not in card


def test_pseudonym_is_stable_across_messages_and_conversations(world) -> None:
    view_policy(default_mode="pseudonymize")
    officer = user(Role.COMPLIANCE_OFFICER)
    first = _texts(world.conv1, officer)[0]
    again, other = _texts(world.conv2, officer)
    pseudo = re.search(r"\[EMAIL:[0-9a-f]{8}\]", first)
    assert pseudo is not None and EMAIL not in first
    assert pseudo.group(0) in again  # same value, another conversation: same pseudonym
    assert pseudo.group(0) not in other and OTHER_EMAIL not in other
    assert _texts(world.conv1, user(Role.LEGAL))[0] == first  # same for every viewer


def test_removal(world) -> None:
    view_policy(default_mode="remove")
    text = _texts(world.conv1, user(Role.COMPLIANCE_OFFICER))[0]
    assert text == "write to  about the invoice"


def test_reversible_tokens_reveal_only_for_allowed_roles_with_one_audit_event_each(world) -> None:
    view_policy(default_mode="tokenize")
    legal, officer, admin = user(Role.LEGAL), user(Role.COMPLIANCE_OFFICER), user(Role.ADMIN)
    purpose = purpose_for(legal)
    presented = svc.redact_for_viewer(open_messages(world.conv1), legal, purpose)
    token = TOK.search(presented[0].text)
    assert token is not None and EMAIL not in presented[0].text
    assert presented[0].redactions[0]["token"] == token.group(1)
    # deterministic: the same message gives the same token id, nothing is stored
    assert _texts(world.conv1, legal, purpose)[0] == presented[0].text
    mid = world.conv1[0]

    before = AuditEvent.objects.count()
    assert svc.reveal(legal, purpose, mid, token.group(1)) == EMAIL
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, event.outcome, event.target_id) == ("redaction.reveal", "allowed", str(mid))
    assert event.purpose_id == purpose.pk and event.matter_ref == "CASE-7"
    assert EMAIL not in event.detail

    card_token = TOK.search(presented[1].text)
    assert card_token is not None
    assert svc.reveal(legal, purpose, world.conv1[1], card_token.group(1)) == CARD

    for who, why in ((officer, purpose_for(officer)), (admin, None), (legal, None)):
        before = AuditEvent.objects.count()
        with pytest.raises(svc.RevealDenied):
            svc.reveal(who, why, mid, token.group(1))
        assert AuditEvent.objects.count() == before + 1
        assert AuditEvent.objects.order_by("-seq").first().outcome == "denied"

    before = AuditEvent.objects.count()
    with pytest.raises(svc.TokenNotFound):  # a token of another message
        svc.reveal(legal, purpose, world.conv1[1], token.group(1))
    assert AuditEvent.objects.count() == before + 1
    assert AuditEvent.objects.order_by("-seq").first().outcome == "not_found"


def test_role_views_officer_label_legal_tokens_and_clear_for_a_matter(world) -> None:
    view_policy(
        role_views={
            "compliance_officer": {"view": "redacted", "clear_for_matters": ["OPEN-1"]},
            "legal": {"view": "redacted", "mode": "tokenize"},
        }
    )
    officer, legal = user(Role.COMPLIANCE_OFFICER), user(Role.LEGAL)
    assert _texts(world.conv1, officer, purpose_for(officer))[0] == "write to [EMAIL] about the invoice"
    assert TOK.search(_texts(world.conv1, legal, purpose_for(legal))[0])
    assert EMAIL in _texts(world.conv1, officer, purpose_for(officer, "OPEN-1"))[0]


def test_redactor_cache_rebuilds_when_participants_change(world) -> None:
    policy = view_policy()
    first = svc.redactor_for(policy)
    assert svc.redactor_for(policy) is first
    Participant.objects.filter(pk=Participant.objects.first().pk).delete()
    assert svc.redactor_for(policy) is not first
    # participants' decrypted display names are known names
    rebuilt = svc.redactor_for(policy)
    assert any(f.type == "PERSON" for f in rebuilt.detect("ask Bartholomew Quince tomorrow"))


def test_redact_for_export_turns_tokens_into_labels(world) -> None:
    policy = RedactionPolicy.objects.create(name="export", default_mode="tokenize")
    assert svc.redact_for_export(f"mail {EMAIL}", policy) == "mail [EMAIL]"
