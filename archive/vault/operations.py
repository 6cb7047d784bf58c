"""Key operations: root rotation, wrapping-key rolls, crypto-shredding, status.

Crypto-shredding is destructive by design. It is safe because (1) it deletes only DEK rows
whose scope the caller names exactly (a subject's participants, a conversation, a month), (2)
callers check legal holds and compliance locks before calling it (``compliance`` does), and
(3) ``dry_run=True`` reports the keys and rows affected without deleting anything. Deletion
runs in batches so a large shred never holds one huge transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import transaction

from archive.vault import Vault, _dek_context, _idx_context, _kwk_context, get_vault

BATCH = 1000


@dataclass
class ShredReport:
    data_keys: int = 0
    scopes: list[str] = field(default_factory=list)
    dry_run: bool = False


def rotate_root(vault: Vault | None = None) -> dict[str, int]:
    """Add a root-key version and re-wrap every KWK under it. Message data is untouched."""
    from archive.models import WrappingKey

    vault = vault or get_vault()
    old_versions = vault.provider.versions()
    new_version = vault.provider.rotate()
    rewrapped = 0
    with transaction.atomic():
        for row in WrappingKey.objects.select_for_update():
            raw = vault.provider.unwrap(row.root_version, _kwk_context(row.id), bytes(row.wrapped))
            version, wrapped = vault.provider.wrap(_kwk_context(row.id), raw)
            row.root_version, row.wrapped = version, wrapped
            row.save(update_fields=["root_version", "wrapped"])
            rewrapped += 1
    vault.forget_cached_keys()
    return {
        "new_root_version": new_version,
        "wrapping_keys_rewrapped": rewrapped,
        "previous_versions": len(old_versions),
    }


def roll_wrapping_key(vault: Vault | None = None) -> dict[str, int]:
    """Make a new KWK, re-wrap every DEK and index key under it, and delete the old KWKs, so
    a shredded DEK that survives in an old keystore backup can no longer be unwrapped once
    the old KWK's backups expire."""
    from archive.models import DataKey, IndexKey, WrappingKey

    vault = vault or get_vault()
    counts = {"data_keys": 0, "index_keys": 0}
    with transaction.atomic():
        old_ids = list(WrappingKey.objects.select_for_update().values_list("id", flat=True))
        WrappingKey.objects.filter(active=True).update(active=False)
        new_id = secrets.randbits(62) | 1
        raw_kwk = AESGCM.generate_key(256)
        version, wrapped = vault.provider.wrap(_kwk_context(new_id), raw_kwk)
        WrappingKey.objects.create(id=new_id, root_version=version, wrapped=wrapped, active=True)
        new_kwk = AESGCM(raw_kwk)
        for row in DataKey.objects.iterator(chunk_size=BATCH):
            raw = vault._kwk(row.kwk_id).decrypt(
                bytes(row.wrapped)[:12], bytes(row.wrapped)[12:], _dek_context(row.id, row.scope)
            )
            nonce = secrets.token_bytes(12)
            DataKey.objects.filter(id=row.id).update(
                kwk_id=new_id, wrapped=nonce + new_kwk.encrypt(nonce, raw, _dek_context(row.id, row.scope))
            )
            counts["data_keys"] += 1
        for idx in IndexKey.objects.all():
            raw = vault._kwk(idx.kwk_id).decrypt(
                bytes(idx.wrapped)[:12], bytes(idx.wrapped)[12:], _idx_context(idx.month)
            )
            nonce = secrets.token_bytes(12)
            IndexKey.objects.filter(month=idx.month).update(
                kwk_id=new_id, wrapped=nonce + new_kwk.encrypt(nonce, raw, _idx_context(idx.month))
            )
            counts["index_keys"] += 1
        WrappingKey.objects.filter(id__in=old_ids).delete()
    vault.forget_cached_keys()
    return counts


def _shred(queryset_filter: dict[str, object], *, dry_run: bool) -> ShredReport:
    from archive.models import DataKey

    report = ShredReport(dry_run=dry_run)
    qs = DataKey.objects.filter(**queryset_filter)
    report.scopes = list(qs.values_list("scope", flat=True)[:10_000])
    report.data_keys = qs.count()
    if dry_run:
        return report
    while True:
        ids = list(DataKey.objects.filter(**queryset_filter).values_list("id", flat=True)[:BATCH])
        if not ids:
            break
        with transaction.atomic():
            DataKey.objects.filter(id__in=ids).delete()
    return report


def shred_participants(participant_ids: list[int], *, dry_run: bool = False) -> ShredReport:
    """Destroy every DEK scoped to these participants: the messages they wrote and their identity."""
    return _shred({"participant_id__in": participant_ids}, dry_run=dry_run)


def shred_conversation(conversation_id: int, *, dry_run: bool = False) -> ShredReport:
    return _shred({"conversation_id": conversation_id}, dry_run=dry_run)


def shred_month(month: int, *, dry_run: bool = False) -> ShredReport:
    """Destroy a month's message DEKs and its blind-index key."""
    from archive.models import IndexKey

    report = _shred({"month": month}, dry_run=dry_run)
    if not dry_run:
        IndexKey.objects.filter(month=month).delete()
    return report


def status(vault: Vault | None = None) -> dict[str, object]:
    from archive.models import DataKey, IndexKey, WrappingKey

    vault = vault or get_vault()
    active = WrappingKey.objects.filter(active=True).first()
    return {
        "provider": vault.provider.name,
        "keyring": str(getattr(vault.provider, "path", "")),
        "root_versions": vault.provider.versions(),
        "root_primary": vault.provider.primary_version(),
        "wrapping_keys": WrappingKey.objects.count(),
        "active_wrapping_key_root_version": active.root_version if active else None,
        "data_keys": DataKey.objects.count(),
        "index_keys": IndexKey.objects.count(),
    }
