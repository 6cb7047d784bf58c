"""Export jobs: one legal production each.

What a job was asked (the query, the purpose) can name people, so both are sealed under the
job's own data key (scope ``export:<job id>``); the finished production zip is sealed under the
same key in blob storage, and the passphrase of an AES-encrypted zip too (revealed once).
Plain columns hold only ids, formats, the redaction policy's settings, Bates numbering, status
and counts.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from archive.ids import random_id

__all__ = ["ExportJob"]

ALL_FORMATS = ("native", "csv", "rsmf", "eml", "html", "pdf", "loadfile")


def _default_formats() -> list[str]:
    return list(ALL_FORMATS)


class ExportJob(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    id = models.BigIntegerField(primary_key=True, default=random_id)
    # -- scope: any combination; all given must hold (intersection) -------------------------
    saved_search_id = models.BigIntegerField(null=True, blank=True)
    query_ct = models.BinaryField(null=True, blank=True)  # sealed query string
    matter_id = models.BigIntegerField(null=True, blank=True)
    conversation_ids = models.JSONField(default=list, blank=True)
    data_subject_id = models.BigIntegerField(null=True, blank=True)
    # -- what to produce ---------------------------------------------------------------------
    formats = models.JSONField(default=_default_formats)
    redaction = models.JSONField(default=dict, blank=True)  # see compliance.exports.redact.ExportPolicy
    bates_prefix = models.CharField(max_length=40, default="DMV")
    bates_start = models.PositiveBigIntegerField(default=1)
    encrypt_zip = models.BooleanField(default=False)
    # -- who and why ---------------------------------------------------------------------------
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    purpose_ct = models.BinaryField(default=b"")  # sealed: the requester's own words
    matter_ref = models.CharField(max_length=100, blank=True)
    dek_id = models.BigIntegerField(null=True)
    # -- progress and result -------------------------------------------------------------------
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.FloatField(default=0.0)
    cancel_requested = models.BooleanField(default=False)
    result_blob = models.CharField(max_length=200, blank=True)  # sealed zip in blob storage
    result_size = models.BigIntegerField(null=True, blank=True)
    result_sha256 = models.CharField(max_length=64, blank=True)  # of the (plaintext) zip
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    passphrase_ct = models.BinaryField(null=True, blank=True)  # AES zip passphrase, until revealed
    counts = models.JSONField(default=dict, blank=True)  # numbers only, no content
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"Export {self.id} ({self.status})"

    # -- sealed fields -------------------------------------------------------------------------
    def _key_scope(self) -> str:
        return f"export:{self.id}"

    def seal(self, field: str, value: bytes) -> bytes:
        from archive.vault import get_vault

        dek_id, sealed = get_vault().seal_field(self._key_scope(), f"export.{field}", self.id, value)
        self.dek_id = dek_id
        return sealed

    def unseal(self, field: str, sealed: Any) -> bytes:
        from archive.vault import get_vault

        if not sealed or self.dek_id is None:
            return b""
        return get_vault().open_field(self.dek_id, f"export.{field}", self.id, bytes(sealed))

    def set_query(self, query: str) -> None:
        self.query_ct = self.seal("query", query.encode()) if query else None

    @property
    def query(self) -> str:
        return self.unseal("query", self.query_ct).decode()

    def set_purpose(self, purpose: str) -> None:
        self.purpose_ct = self.seal("purpose", purpose.encode())

    @property
    def purpose(self) -> str:
        return self.unseal("purpose", self.purpose_ct).decode()

    def reveal_passphrase(self) -> str | None:
        """The AES zip passphrase, once: it is wiped from the row in the same transaction that
        reads it (the row is locked, so two concurrent reveals cannot both get it), and has to
        be handed to the recipient through another channel than the production itself. None
        when there is none (not encrypted, not finished, or already revealed)."""
        from django.db import transaction

        with transaction.atomic():
            row = (
                ExportJob.objects.select_for_update()
                .filter(id=self.id)
                .values("passphrase_ct", "dek_id")
                .first()
            )
            sealed = row["passphrase_ct"] if row else None
            if not sealed:
                self.passphrase_ct = None
                return None
            self.dek_id = row["dek_id"] if row else self.dek_id
            value = self.unseal("passphrase", sealed).decode()
            ExportJob.objects.filter(id=self.id).update(passphrase_ct=None)
        self.passphrase_ct = None
        return value
