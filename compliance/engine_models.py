"""Tables of the compliance engine: retention policies and runs, legal matters and holds, the
consent registry, erasure requests and signed certificates.

Re-exported by ``compliance.models`` (one ``import *`` line at its end) so Django sees them in the
``compliance`` app. Scope columns hold plain ids, not foreign keys: a policy or a matter must
never disappear because a conversation, a source or a participant row was deleted.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.utils import timezone

from archive.ids import random_id
from archive.models import Conversation, DataSubject, Source

__all__ = [
    "Certificate",
    "ConsentConflict",
    "ConsentRecord",
    "ErasureRequest",
    "ErasureTombstone",
    "Hold",
    "Matter",
    "RedactedMessage",
    "RetentionBatch",
    "RetentionJob",
    "RetentionPolicy",
    "RetentionRun",
]


class LockViolation(ValidationError):
    """A change a compliance lock forbids (shortening, narrowing, unlocking, deleting)."""


# --- Retention -----------------------------------------------------------------------------------


class RetentionPolicy(models.Model):
    """Keep matching messages for ``period_days`` from their send (or import) time, then delete
    them or redact them and keep the redacted copy. Precedence: ``compliance.retention``."""

    class Action(models.TextChoices):
        DELETE = "delete", "Delete"
        REDACT = "redact", "Redact and keep"

    class Basis(models.TextChoices):
        SENT = "sent", "Message time"
        IMPORTED = "imported", "Import time"

    # The fields a compliance lock freezes (besides period_days, which may only grow).
    FROZEN_WHEN_LOCKED = (
        "platform",
        "source_id",
        "account_owner_id",
        "conversation_id",
        "label",
        "participant_id",
        "subject_id",
        "basis",
        "action",
    )

    id = models.BigIntegerField(primary_key=True, default=random_id)
    name = models.CharField(max_length=120)
    # Scope: every field given must match (AND); none given = the whole archive.
    platform = models.CharField(max_length=20, blank=True)
    source_id = models.BigIntegerField(null=True, blank=True)
    account_owner_id = models.BigIntegerField(
        null=True, blank=True, help_text="data subject owning the source"
    )
    conversation_id = models.BigIntegerField(null=True, blank=True)
    label = models.CharField(max_length=100, blank=True, help_text="conversation label (folder)")
    participant_id = models.BigIntegerField(
        null=True, blank=True, help_text="conversations with this participant"
    )
    subject_id = models.BigIntegerField(
        null=True, blank=True, help_text="conversations with this data subject"
    )
    period_days = models.PositiveIntegerField()
    basis = models.CharField(max_length=10, choices=Basis.choices, default=Basis.SENT)
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.DELETE)
    priority = models.IntegerField(default=0)
    overrides = models.BooleanField(
        default=False, help_text="decides over longer policies (never over a compliance lock)"
    )
    locked = models.BooleanField(default=False, help_text="compliance lock: can only be lengthened")
    locked_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-priority", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.period_days} d, {self.action}{', locked' if self.locked else ''})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        problems = self.lock_violations()
        if problems:
            raise LockViolation("; ".join(problems))
        if self.locked and self.locked_at is None:
            self.locked_at = timezone.now()
        super().save(*args, **kwargs)

    def lock_violations(self) -> list[str]:
        """What this unsaved state would break of the stored, locked policy."""
        if self._state.adding:
            return []
        old = type(self).objects.filter(pk=self.pk).first()
        if old is None or not old.locked:
            return []
        problems: list[str] = []
        if not self.locked:
            problems.append("a compliance lock cannot be removed")
        if not self.active:
            problems.append("a locked policy cannot be deactivated")
        if self.period_days < old.period_days:
            problems.append(
                f"a locked policy can only be lengthened ({old.period_days} d cannot become {self.period_days} d)"
            )
        changed = [f for f in self.FROZEN_WHEN_LOCKED if getattr(self, f) != getattr(old, f)]
        if changed:
            problems.append(f"the scope and action of a locked policy are frozen ({', '.join(changed)})")
        return problems

    def clean(self) -> None:
        super().clean()
        problems = self.lock_violations()
        if problems:
            raise LockViolation("; ".join(problems))


@receiver(pre_delete, sender=RetentionPolicy)
def _refuse_locked_delete(sender: Any, instance: RetentionPolicy, **kwargs: Any) -> None:
    # pre_delete also runs for queryset deletes (a connected signal disables fast deletes).
    if instance.locked:
        raise LockViolation("a locked retention policy cannot be deleted")


class RetentionRun(models.Model):
    """One enforcement run. ``as_of`` is fixed when the run starts, so a resumed run computes the
    same set; ``cursor`` is the last message id done (runs go in ascending id order)."""

    class State(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = models.BigIntegerField(primary_key=True, default=random_id)
    as_of = models.DateTimeField()
    policy_id = models.BigIntegerField(null=True, blank=True)  # only this policy's decisions
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING)
    cursor = models.BigIntegerField(default=-1)
    planned = models.JSONField(default=dict, blank=True)  # the plan's counts at start
    counts = models.JSONField(default=dict, blank=True)  # what was done so far
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    certificate = models.ForeignKey(
        "Certificate", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Retention run {self.id} ({self.state})"


class RetentionJob(models.Model):
    """An enforcement run asked for through the API or the UI, carried out by a django-q2 worker
    (``compliance.tasks.run_retention_job`` receives only this row's id). ``run`` and
    ``certificate`` are filled in as the run starts and ends; ``counts`` are the run's counts."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = models.BigIntegerField(primary_key=True, default=random_id)
    policy_id = models.BigIntegerField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    run = models.ForeignKey(RetentionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    counts = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=300, blank=True)  # the exception's type only, never its text
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    certificate = models.ForeignKey(
        "Certificate", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Retention job {self.id} ({self.status})"


class RetentionBatch(models.Model):
    """The ids one committed batch deleted or redacted (8-byte big-endian, ascending), written in
    the batch's transaction, so the certificate hash covers a resumed run exactly."""

    run = models.ForeignKey(RetentionRun, on_delete=models.CASCADE, related_name="batches")
    seq = models.PositiveIntegerField()
    action = models.CharField(max_length=10)
    ids = models.BinaryField()
    count = models.PositiveIntegerField()
    by_policy = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="retention_batch_seq")]


class RedactedMessage(models.Model):
    """Messages a redact-and-keep policy (or a consent withdrawal) already rewrote."""

    message_id = models.BigIntegerField(primary_key=True)
    reason = models.CharField(max_length=40)
    policy_id = models.BigIntegerField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)


# --- Certificates ------------------------------------------------------------------------------------


class Certificate(models.Model):
    """A signed statement of what a retention run or an erasure destroyed (``compliance.certificates``)."""

    id = models.BigIntegerField(primary_key=True, default=random_id)
    kind = models.CharField(max_length=20)
    body = models.TextField()  # canonical JSON, exactly the signed bytes
    signature = models.CharField(max_length=200)  # base64 Ed25519
    key_id = models.CharField(max_length=16)
    issued_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.kind} certificate {self.id}"


# --- Legal holds ----------------------------------------------------------------------------------------


class Matter(models.Model):
    """A legal matter. Its scope: custodians, sources and conversations (any of them; none given =
    the whole archive), narrowed by date ranges and a search query when given."""

    id = models.BigIntegerField(primary_key=True, default=random_id)
    name = models.CharField(max_length=200)
    reference = models.CharField(max_length=100, unique=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    custodians = models.ManyToManyField(DataSubject, blank=True, related_name="+")
    sources = models.ManyToManyField(Source, blank=True, related_name="+")
    conversations = models.ManyToManyField(Conversation, blank=True, related_name="+")
    date_ranges = models.JSONField(default=list, blank=True)  # [{"start": iso, "end": iso}]
    query_ct = models.BinaryField(null=True, blank=True)  # a saved-search query, sealed
    query_dek_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.reference}: {self.name}"

    def clean(self) -> None:
        super().clean()
        from accounts.roles import Capability

        owner = getattr(self, "owner", None) if self.owner_id else None
        if owner is not None and not owner.can(Capability.MANAGE_HOLDS):
            raise ValidationError({"owner": "the owner of a matter must have the legal role"})


class Hold(models.Model):
    id = models.BigIntegerField(primary_key=True, default=random_id)
    matter = models.ForeignKey(Matter, on_delete=models.PROTECT, related_name="holds")
    active = models.BooleanField(default=True)
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField(default=timezone.now)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Hold {self.id} on {self.matter_id} ({'active' if self.active else 'released'})"


@receiver(pre_delete, sender=Hold)
def _refuse_hold_delete(sender: Any, instance: Hold, **kwargs: Any) -> None:
    raise ValidationError("holds are never deleted; release them (compliance.holds.release_hold)")


# --- Consent ----------------------------------------------------------------------------------------------


class ConsentRecord(models.Model):
    """One entry of a subject's consent history for one purpose. Append-only: the current state
    is the newest row (``compliance.consent.current``)."""

    class Purpose(models.TextChoices):
        ARCHIVING = "archiving"
        REVIEW = "review"
        EXPORT = "export"

    class State(models.TextChoices):
        GIVEN = "given"
        WITHDRAWN = "withdrawn"
        REFUSED = "refused"

    class Basis(models.TextChoices):
        CONSENT = "consent", "Consent (Art. 6(1)(a))"
        CONTRACT = "contract", "Contract (Art. 6(1)(b))"
        LEGAL_OBLIGATION = "legal_obligation", "Legal obligation (Art. 6(1)(c))"
        VITAL_INTERESTS = "vital_interests", "Vital interests (Art. 6(1)(d))"
        PUBLIC_TASK = "public_task", "Public task (Art. 6(1)(e))"
        LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests (Art. 6(1)(f))"

    class OnWithdrawal(models.TextChoices):
        KEEP = "keep", "Stop new archiving only"
        REDACT = "redact", "Redact existing messages"
        ERASE = "erase", "Delete existing messages"

    id = models.BigIntegerField(primary_key=True, default=random_id)
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="+")
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    state = models.CharField(max_length=10, choices=State.choices)
    lawful_basis = models.CharField(max_length=30, choices=Basis.choices)
    on_withdrawal = models.CharField(max_length=10, choices=OnWithdrawal.choices, default=OnWithdrawal.KEEP)
    evidence_ct = models.BinaryField(default=b"", blank=True)
    evidence_dek_id = models.BigIntegerField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    applied = models.JSONField(default=dict, blank=True)  # what the withdrawal did to existing content

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["subject", "purpose", "recorded_at"])]

    def __str__(self) -> str:
        return f"Consent {self.subject_id}/{self.purpose}: {self.state}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding and set(kwargs.get("update_fields") or ()) != {"applied"}:
            raise ValidationError("consent history is append-only: record a new entry instead")
        super().save(*args, **kwargs)


@receiver(pre_delete, sender=ConsentRecord)
def _refuse_consent_delete(sender: Any, instance: ConsentRecord, **kwargs: Any) -> None:
    raise ValidationError("consent history is append-only")


class ConsentConflict(models.Model):
    """A withdrawal whose action a hold or a compliance lock forbade, kept until resolved."""

    id = models.BigIntegerField(primary_key=True, default=random_id)
    consent = models.ForeignKey(ConsentRecord, on_delete=models.PROTECT, related_name="conflicts")
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=20)  # "hold" or "lock"
    detail = models.CharField(max_length=300)
    messages = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Consent conflict {self.id} ({self.reason})"


# --- Erasure ---------------------------------------------------------------------------------------------


class ErasureRequest(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        EXECUTED = "executed"
        REFUSED = "refused"

    id = models.BigIntegerField(primary_key=True, default=random_id)
    subject = models.ForeignKey(DataSubject, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    two_person = models.BooleanField(default=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    executed_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    certificate = models.ForeignKey(
        Certificate, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"Erasure request {self.id} ({self.state})"


class ErasureTombstone(models.Model):
    """An erased participant identity, as a keyed hash only (``compliance.tombstones``): the
    ingest pipeline drops what such an identity sent, so a re-import cannot bring it back."""

    digest = models.BinaryField(max_length=32, unique=True)
    subject_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Erasure tombstone {self.pk}"
