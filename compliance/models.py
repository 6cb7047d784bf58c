"""Compliance tables: the tamper-evident audit log and declared purposes of access.

The audit tables (``AuditEvent``, ``AuditCheckpoint``, ``AuditChainHead``) are **unmanaged**:
migration ``0001`` creates them itself (with the append-only triggers), and Django's ``flush``
(used by ``manage.py flush`` and by transactional tests) skips unmanaged tables, so nothing in
Django ever tries to empty the audit log. The flip side: a schema change to these models needs a
hand-written migration (``makemigrations`` does not see them).

Rows are written only by ``compliance.audit.record`` (events) and
``compliance.audit.checkpoints.write_checkpoint`` (checkpoints).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models
from django.utils import timezone

from archive.ids import random_id


class Outcome(models.TextChoices):
    ALLOWED = "allowed"  # the request was served
    INVALID = "invalid"  # 400: bad input
    UNAUTHENTICATED = "unauthenticated"  # 401, including failed logins
    DENIED = "denied"  # 403
    NOT_FOUND = "not_found"  # 404 / 405
    THROTTLED = "throttled"  # 429
    ERROR = "error"  # 5xx


class AuditEvent(models.Model):
    """One API access or security event. Append-only; hash-chained (see ``compliance.audit.chain``)."""

    seq = models.BigIntegerField(primary_key=True)  # chain position, gapless from 1
    event_id = models.BigIntegerField(unique=True)
    ts = models.DateTimeField()
    request_id = models.CharField(max_length=64, blank=True)
    actor_id = models.BigIntegerField(null=True)  # no foreign key: the log outlives users
    actor_name = models.CharField(max_length=150, blank=True)  # username as it was
    role = models.CharField(max_length=32, blank=True)  # role as evaluated for this request
    auth_method = models.CharField(max_length=16, blank=True)  # session / token / anonymous
    credential_id = models.BigIntegerField(null=True)  # ApiToken id, never the token
    action = models.CharField(max_length=64)
    http_method = models.CharField(max_length=10, blank=True)
    route = models.CharField(max_length=200, blank=True)  # the route template, not the raw path
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    query_ct = models.BinaryField(null=True)  # the searcher's words, sealed under "audit:query"
    query_dek_id = models.BigIntegerField(null=True)
    result_count = models.IntegerField(null=True)
    purpose_id = models.BigIntegerField(null=True)
    matter_ref = models.CharField(max_length=100, blank=True)
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status_code = models.IntegerField(null=True)
    detail = models.CharField(max_length=200, blank=True)  # a reason code, never content
    # The service events folded into a request's one event (compliance.audit.record_request):
    # compact JSON, a list of {action, outcome, target, count, detail, actor}; NULL when none.
    service_events = models.TextField(null=True)  # noqa: DJ001 (NULL: added in place, see 0007)
    leaf_hash = models.CharField(max_length=64)
    chain_hash = models.CharField(max_length=64)

    class Meta:
        managed = False
        db_table = "compliance_auditevent"
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"audit #{self.seq} {self.action} {self.outcome}"

    @property
    def service_event_list(self) -> list[dict[str, object]]:
        """The folded service events, parsed (empty when none)."""
        if not self.service_events:
            return []
        value = json.loads(self.service_events)
        return value if isinstance(value, list) else []

    @staticmethod
    def action_q(action: str) -> models.Q:
        """Events whose action is ``action`` or that carry it among their folded service events."""
        needle = json.dumps({"action": action}, separators=(",", ":"), ensure_ascii=False)[1:-1]
        return models.Q(action=action) | models.Q(service_events__contains=needle)


class AuditChainHead(models.Model):
    """The one-row chain head. Appends lock it (``SELECT … FOR UPDATE``) so the chain never forks."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    head_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        managed = False
        db_table = "compliance_auditchainhead"

    def __str__(self) -> str:
        return f"audit head {self.seq}"


class AuditCheckpoint(models.Model):
    """An Ed25519-signed checkpoint (size + head hash) in signed-note text form."""

    id = models.BigAutoField(primary_key=True)
    size = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=200)  # base64(key id[4] ‖ Ed25519 signature)
    note = models.TextField()  # the full signed note, as exported
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        managed = False
        db_table = "compliance_auditcheckpoint"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"checkpoint {self.size}"


class Purpose(models.Model):
    """A declared purpose of access (matter/case reference + reason) for one working session
    or one token. The reason is the officer's own words and is stored sealed."""

    id = models.BigIntegerField(primary_key=True, default=random_id)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    credential = models.CharField(max_length=80, db_index=True)  # "token:<id>" or "session:<digest>"
    matter_ref = models.CharField(max_length=100)
    reason_ct = models.BinaryField()
    reason_dek_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Purpose {self.id} ({self.matter_ref})"


from compliance.engine_models import *  # noqa: E402,F403
from compliance.exports.models import *  # noqa: E402,F403
from compliance.redaction_models import *  # noqa: E402,F403
