"""The archive's tables.

Plain columns hold only what retention, holds, scoping and the audit need: times, platform,
ids, sizes, kinds and flags. Everything a person wrote or is called by (message text,
reactions, earlier versions, titles, display names, handles, attachment names and bytes) is
an AES-256-GCM ciphertext (``*_ct`` columns) bound to its row and field; see ``archive.vault``.
Dedup keys are HMACs under an archive key, never plain hashes of content.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from archive.ids import random_id


class Platform(models.TextChoices):
    FACEBOOK = "facebook", "Facebook Messenger"
    INSTAGRAM = "instagram", "Instagram"
    TWITTER = "twitter", "X / Twitter"
    LINKEDIN = "linkedin", "LinkedIn"
    TIKTOK = "tiktok", "TikTok"
    WHATSAPP = "whatsapp", "WhatsApp"
    TELEGRAM = "telegram", "Telegram"
    SLACK = "slack", "Slack"
    DISCORD = "discord", "Discord"
    SYNTHETIC = "synthetic", "Synthetic (demo and benchmarks)"


# --- Keys (wrapped; the root key is outside the database) -------------------------------------


class WrappingKey(models.Model):
    """A key-wrapping key (KWK), itself wrapped by a version of the root key."""

    id = models.BigIntegerField(primary_key=True, default=random_id)
    root_version = models.PositiveIntegerField()
    wrapped = models.BinaryField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=models.Q(active=True), name="one_active_kwk")
        ]


class DataKey(models.Model):
    """A data-encryption key (DEK), wrapped by a KWK. Deleting the row crypto-shreds
    everything sealed under it. ``scope`` names what it protects (see ``vault.scopes``)."""

    id = models.BigIntegerField(primary_key=True, default=random_id)
    scope = models.CharField(max_length=80, unique=True)
    conversation_id = models.BigIntegerField(null=True, db_index=True)
    participant_id = models.BigIntegerField(null=True, db_index=True)
    month = models.PositiveIntegerField(null=True, db_index=True)  # YYYYMM
    kwk = models.ForeignKey(WrappingKey, on_delete=models.PROTECT, related_name="+")
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)


class IndexKey(models.Model):
    """The blind-index key of one month: random (not derived) so retention can destroy it."""

    month = models.PositiveIntegerField(primary_key=True)  # YYYYMM
    kwk = models.ForeignKey(WrappingKey, on_delete=models.PROTECT, related_name="+")
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)


class PostingPartition(models.Model):
    """One posting table per month (``archive_posting_YYYYMM``), so ingest writes into a small
    B-tree, a query touches only the months in range, and retention drops a whole month.
    ``pairs``: the month was created with word-pair tokens (``DMVAULT_INDEX_PAIRS``), so every
    message in it has them; a month made before, or with the setting off, has none.
    ``prefixes``: likewise for prefix tokens (``DMVAULT_INDEX_PREFIXES``), so turning the
    setting on or off never leaves prefix postings behind on removal, and a ``word*`` search
    knows which months it cannot answer."""

    month = models.PositiveIntegerField(primary_key=True)
    pairs = models.BooleanField(default=False)
    prefixes = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)


# --- People -----------------------------------------------------------------------------------


class DataSubject(models.Model):
    """One person across platforms. Erasure and subject access work on this."""

    id = models.BigIntegerField(primary_key=True, default=random_id)
    label_ct = models.BinaryField()  # encrypted: how staff refer to the person
    dek_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Data subject {self.id}"


class Participant(models.Model):
    """A platform identity (a user id, handle and display name on one platform)."""

    id = models.BigIntegerField(primary_key=True, default=random_id)
    platform = models.CharField(max_length=20, choices=Platform.choices)
    dedup_key = models.BinaryField(unique=True)  # HMAC(platform, platform id)
    subject = models.ForeignKey(
        DataSubject, null=True, blank=True, on_delete=models.SET_NULL, related_name="participants"
    )
    identity_ct = models.BinaryField()  # encrypted JSON: platform id, handle, display name
    dek_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Participant {self.id} ({self.platform})"


# --- Sources and conversations ----------------------------------------------------------------


class Source(models.Model):
    """One uploaded export."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = models.BigIntegerField(primary_key=True, default=random_id)
    platform = models.CharField(max_length=20, choices=Platform.choices)
    owner = models.ForeignKey(DataSubject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    owner_ct = models.BinaryField(default=b"")  # encrypted account-owner label as given at upload
    original_sha256 = models.CharField(max_length=64, db_index=True)
    original_size = models.BigIntegerField()
    evidence_blob = models.CharField(max_length=200, blank=True)  # encrypted original, in blob storage
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    summary = models.JSONField(default=dict, blank=True)  # counts and warnings only, no content
    dek_id = models.BigIntegerField(null=True)

    def __str__(self) -> str:
        return f"Source {self.id} ({self.platform}, {self.status})"


class Conversation(models.Model):
    class Kind(models.TextChoices):
        DIRECT = "direct", "1:1"
        GROUP = "group", "Group"
        CHANNEL = "channel", "Channel"

    id = models.BigIntegerField(primary_key=True, default=random_id)
    platform = models.CharField(max_length=20, choices=Platform.choices)
    dedup_key = models.BinaryField(unique=True)  # HMAC(platform, thread id)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    title_ct = models.BinaryField()
    thread_ct = models.BinaryField()  # the platform thread id can name people (FB slugs): encrypted
    labels = models.JSONField(default=list, blank=True)  # folder names such as inbox/archived
    dek_id = models.BigIntegerField()
    sources = models.ManyToManyField(Source, related_name="conversations")
    participants = models.ManyToManyField(Participant, related_name="conversations")
    first_message_at = models.DateTimeField(null=True)
    last_message_at = models.DateTimeField(null=True)
    message_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Conversation {self.id} ({self.platform})"


# --- Messages and attachments -----------------------------------------------------------------


class Message(models.Model):
    class Kind(models.TextChoices):
        TEXT = "text"
        MEDIA = "media"
        SYSTEM = "system"
        CALL = "call"
        SHARE = "share"
        STICKER = "sticker"
        POLL = "poll"
        LOCATION = "location"
        UNKNOWN = "unknown"

    id = models.BigIntegerField(primary_key=True)  # time-ordered, see archive.ids
    # (conversation, id) and (sender, id) below serve these foreign keys' lookups too, so the
    # single-column indexes would only slow every insert.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    sender = models.ForeignKey(
        Participant, null=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="messages")
    sent_at = models.DateTimeField()
    raw_timestamp = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    edited = models.BooleanField(default=False)
    deleted = models.BooleanField(default=False)
    has_attachment = models.BooleanField(default=False)
    has_link = models.BooleanField(default=False)
    reply_to_id = models.BigIntegerField(null=True)
    dedup_key = models.BinaryField(unique=True)
    dek_id = models.BigIntegerField()
    body_ct = models.BinaryField()  # encrypted JSON: text, reactions, earlier versions, share, call
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["conversation", "id"]), models.Index(fields=["sender", "id"])]


class Blob(models.Model):
    """Attachment bytes, content-addressed by a keyed hash and stored encrypted through
    Django's storage API (local folder by default, S3-compatible when configured)."""

    id = models.BigIntegerField(primary_key=True, default=random_id)
    content_key = models.BinaryField(unique=True)  # HMAC(archive key, SHA-256 of the bytes)
    storage_name = models.CharField(max_length=200)
    size = models.BigIntegerField()
    dek_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)


class Attachment(models.Model):
    id = models.BigIntegerField(primary_key=True, default=random_id)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    blob = models.ForeignKey(Blob, null=True, on_delete=models.SET_NULL, related_name="attachments")
    meta_ct = models.BinaryField()  # encrypted JSON: file name, content type, uri
    size = models.BigIntegerField(null=True)


# --- Saved searches ----------------------------------------------------------------------------


class SavedSearch(models.Model):
    """A named query a user can run again (``archive.search.service``). Name and query can name
    people, so both are sealed under the owner's saved-search key; ``share_token`` makes a link
    other users of the app can open (they run it within their own scope, never the owner's)."""

    id = models.BigIntegerField(primary_key=True, default=random_id)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_searches"
    )
    name_ct = models.BinaryField()
    query_ct = models.BinaryField()
    dek_id = models.BigIntegerField()
    shared = models.BooleanField(default=False)
    share_token = models.CharField(max_length=64, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["owner", "created_at"])]

    def __str__(self) -> str:
        return f"Saved search {self.id}"
