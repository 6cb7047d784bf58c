"""The vault: the one module that owns cryptography and keys.

Key hierarchy (see the README's security section):

    root key (provider: local keyring file; Vault transit / KMS implement the same interface)
      └─ key-wrapping keys (KWK), wrapped by the root key, stored in the database
           ├─ data keys (DEK), one per scope: (conversation, author, month), a participant,
           │   a subject, a conversation's metadata, a blob, a source's evidence
           └─ blind-index keys, one per month

Content is sealed with AES-256-GCM under a DEK, with a fresh 96-bit nonce and AAD naming the
format version, the field, the row id and the DEK id, so a ciphertext moved to another row or
field fails to open. Deleting DEK rows crypto-shreds what they protected. Plaintext DEKs are
cached only by a writer for the length of one import; reads always look the DEK row up, so a
shred takes effect in every process at once.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, transaction

from archive.vault.errors import CiphertextInvalid, KeyDestroyed, VaultError
from archive.vault.provider import LocalKeyringProvider, RootKeyProvider

if TYPE_CHECKING:
    from archive.models import DataKey, IndexKey, WrappingKey

__all__ = ["CiphertextInvalid", "KeyDestroyed", "Vault", "VaultError", "get_vault", "reset_vault"]

FORMAT = b"\x01"
ARCHIVE_HMAC_SCOPE = "archive:hmac"


def message_scope(conversation_id: int, author_id: int | None, month: int) -> str:
    return f"m:{conversation_id}:{author_id or 0}:{month}"


def _kwk_context(kwk_id: int) -> bytes:
    return b"dmv1|kwk|%d" % kwk_id


def _dek_context(dek_id: int, scope: str) -> bytes:
    return b"dmv1|dek|%d|" % dek_id + scope.encode()


def _idx_context(month: int) -> bytes:
    return b"dmv1|idx|%d" % month


def aad(field: str, row_id: int, dek_id: int) -> bytes:
    return b"dmv1|%s|%d|%d" % (field.encode(), row_id, dek_id)


@dataclass(frozen=True, slots=True)
class NewDataKey:
    """A DEK made in memory by a writer, to be inserted in the writer's next batch."""

    id: int
    scope: str
    conversation_id: int | None
    participant_id: int | None
    month: int | None
    kwk_id: int
    wrapped: bytes
    aead: AESGCM


class Vault:
    def __init__(self, provider: RootKeyProvider, *, autocreate: bool = False) -> None:
        self.provider = provider
        self.autocreate = autocreate
        self._kwks: dict[int, AESGCM] = {}
        self._active_kwk: tuple[int, AESGCM] | None = None
        self._archive_hmac: bytes | None = None
        self._lock = threading.Lock()

    # -- key-wrapping keys ------------------------------------------------------------------
    def _ensure_provider(self) -> None:
        if isinstance(self.provider, LocalKeyringProvider) and not self.provider.exists():
            if not self.autocreate:
                self.provider._load()  # raises the explanatory VaultError
            self.provider.create()

    def active_kwk(self) -> tuple[int, AESGCM]:
        from archive.models import WrappingKey

        if self._active_kwk is not None:
            return self._active_kwk
        self._ensure_provider()
        row = WrappingKey.objects.filter(active=True).first()
        if row is None:
            row = self._create_kwk()
        self._active_kwk = (row.id, self._kwk(row.id, row.root_version, bytes(row.wrapped)))
        return self._active_kwk

    def _create_kwk(self) -> WrappingKey:
        from archive.models import DataKey, WrappingKey

        if DataKey.objects.exists():
            # Another process may have created the first wrapping key and a data key between
            # this process's two reads: only with no active wrapping key at all is it damage.
            existing = WrappingKey.objects.filter(active=True).first()
            if existing is not None:
                return existing
            raise VaultError(
                "the archive has data keys but no active wrapping key: the key tables are damaged"
            )
        kwk_id = secrets.randbits(62) | 1
        version, wrapped = self.provider.wrap(_kwk_context(kwk_id), secrets.token_bytes(32))
        try:
            with transaction.atomic():
                return WrappingKey.objects.create(id=kwk_id, root_version=version, wrapped=wrapped)
        except IntegrityError:  # another process created it first
            return WrappingKey.objects.get(active=True)

    def _kwk(self, kwk_id: int, version: int | None = None, wrapped: bytes | None = None) -> AESGCM:
        cached = self._kwks.get(kwk_id)
        if cached is not None:
            return cached
        if version is None or wrapped is None:
            from archive.models import WrappingKey

            row = WrappingKey.objects.filter(id=kwk_id).first()
            if row is None:
                raise VaultError(f"wrapping key {kwk_id} is missing from the key tables")
            version, wrapped = row.root_version, bytes(row.wrapped)
        self._ensure_provider()
        key = AESGCM(self.provider.unwrap(version, _kwk_context(kwk_id), wrapped))
        self._kwks[kwk_id] = key
        return key

    def forget_cached_keys(self) -> None:
        self._kwks.clear()
        self._active_kwk = None
        self._archive_hmac = None

    # -- data keys ----------------------------------------------------------------------------
    def new_data_key(
        self,
        scope: str,
        *,
        conversation_id: int | None = None,
        participant_id: int | None = None,
        month: int | None = None,
    ) -> NewDataKey:
        kwk_id, kwk = self.active_kwk()
        dek_id = secrets.randbits(62) | 1
        raw = AESGCM.generate_key(256)
        nonce = secrets.token_bytes(12)
        wrapped = nonce + kwk.encrypt(nonce, raw, _dek_context(dek_id, scope))
        return NewDataKey(dek_id, scope, conversation_id, participant_id, month, kwk_id, wrapped, AESGCM(raw))

    def data_key(
        self,
        scope: str,
        *,
        conversation_id: int | None = None,
        participant_id: int | None = None,
        month: int | None = None,
    ) -> tuple[int, AESGCM]:
        """Get or create the DEK of ``scope`` (ORM path, for the few non-bulk writes)."""
        from archive.models import DataKey

        row = DataKey.objects.filter(scope=scope).first()
        if row is not None:
            return row.id, self._unwrap_dek(row)
        new = self.new_data_key(
            scope, conversation_id=conversation_id, participant_id=participant_id, month=month
        )
        try:
            with transaction.atomic():
                DataKey.objects.create(
                    id=new.id,
                    scope=scope,
                    conversation_id=conversation_id,
                    participant_id=participant_id,
                    month=month,
                    kwk_id=new.kwk_id,
                    wrapped=new.wrapped,
                )
        except IntegrityError:
            row = DataKey.objects.get(scope=scope)
            return row.id, self._unwrap_dek(row)
        return new.id, new.aead

    def _unwrap_dek(self, row: DataKey) -> AESGCM:
        return self._unwrap(row.id, row.scope, row.kwk_id, row.wrapped)

    def _unwrap(self, dek_id: int, scope: str, kwk_id: int, wrapped: bytes | memoryview) -> AESGCM:
        wrapped = bytes(wrapped)
        try:
            raw = self._kwk(kwk_id).decrypt(wrapped[:12], wrapped[12:], _dek_context(dek_id, scope))
        except InvalidTag:
            raise CiphertextInvalid(
                f"data key {dek_id} does not open under its wrapping key (tampered key table)"
            ) from None
        return AESGCM(raw)

    def data_keys_for_read(self, dek_ids: Iterable[int]) -> dict[int, AESGCM]:
        """The DEKs with these ids that still exist. Shredded ones are simply absent."""
        from archive.models import DataKey

        ids = list(set(dek_ids))
        found: dict[int, AESGCM] = {}
        # values_list, not model instances: a search can need a key per candidate it decrypts.
        columns = ("id", "scope", "kwk_id", "wrapped")
        for start in range(0, len(ids), 500):
            for dek_id, scope, kwk_id, wrapped in DataKey.objects.filter(
                id__in=ids[start : start + 500]
            ).values_list(*columns):
                found[dek_id] = self._unwrap(dek_id, scope, kwk_id, wrapped)
        return found

    # -- sealing ---------------------------------------------------------------------------------
    @staticmethod
    def seal(key: AESGCM, dek_id: int, field: str, row_id: int, plaintext: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return FORMAT + nonce + key.encrypt(nonce, plaintext, aad(field, row_id, dek_id))

    @staticmethod
    def open(key: AESGCM | None, dek_id: int, field: str, row_id: int, sealed: bytes | memoryview) -> bytes:
        if key is None:
            raise KeyDestroyed(f"the data key of {field} {row_id} has been destroyed")
        sealed = bytes(sealed)
        if sealed[:1] != FORMAT:
            raise CiphertextInvalid(f"{field} {row_id}: unknown ciphertext format")
        try:
            return key.decrypt(sealed[1:13], sealed[13:], aad(field, row_id, dek_id))
        except InvalidTag:
            raise CiphertextInvalid(
                f"{field} {row_id} does not authenticate: wrong key, tampered, or moved from another row"
            ) from None

    def seal_field(
        self, scope: str, field: str, row_id: int, plaintext: bytes, **scope_ids: int | None
    ) -> tuple[int, bytes]:
        dek_id, key = self.data_key(scope, **scope_ids)
        return dek_id, self.seal(key, dek_id, field, row_id, plaintext)

    def open_field(self, dek_id: int, field: str, row_id: int, sealed: bytes | memoryview) -> bytes:
        return self.open(self.data_keys_for_read([dek_id]).get(dek_id), dek_id, field, row_id, sealed)

    # -- keyed hashes ------------------------------------------------------------------------------
    def archive_hmac_key(self) -> bytes:
        """The archive-wide HMAC key for dedup keys and content addresses (a DEK like the others,
        so root rotation and KWK rolls cover it)."""
        if self._archive_hmac is None:
            dek_id, _ = self.data_key(ARCHIVE_HMAC_SCOPE)
            self._archive_hmac = self._raw_dek(dek_id)
        return self._archive_hmac

    def _raw_dek(self, dek_id: int) -> bytes:
        from archive.models import DataKey

        row = DataKey.objects.get(id=dek_id)
        wrapped = bytes(row.wrapped)
        return self._kwk(row.kwk_id).decrypt(wrapped[:12], wrapped[12:], _dek_context(row.id, row.scope))

    def keyed_hash(self, purpose: bytes, *parts: str | bytes) -> bytes:
        # Length-prefixed parts, so ("ab", "c") and ("a", "bc") never collide; one-shot
        # hmac.digest runs in C, several times faster than an HMAC object per call.
        key = self._archive_hmac or self.archive_hmac_key()
        message = [purpose]
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            message.append(len(data).to_bytes(4, "big"))
            message.append(data)
        return hmac.digest(key, b"".join(message), "sha256")

    # -- blind-index keys --------------------------------------------------------------------------
    def index_key(self, month: int, *, create: bool) -> bytes | None:
        from archive.models import IndexKey

        row = IndexKey.objects.filter(month=month).first()
        if row is None:
            if not create:
                return None
            kwk_id, kwk = self.active_kwk()
            raw = secrets.token_bytes(32)
            nonce = secrets.token_bytes(12)
            try:
                with transaction.atomic():
                    IndexKey.objects.create(
                        month=month,
                        kwk_id=kwk_id,
                        wrapped=nonce + kwk.encrypt(nonce, raw, _idx_context(month)),
                    )
                return raw
            except IntegrityError:
                row = IndexKey.objects.get(month=month)
        return self._open_index_key(row)

    def _open_index_key(self, row: IndexKey) -> bytes:
        wrapped = bytes(row.wrapped)
        try:
            return self._kwk(row.kwk_id).decrypt(wrapped[:12], wrapped[12:], _idx_context(row.month))
        except InvalidTag:
            raise CiphertextInvalid(
                f"index key of month {row.month} does not open (tampered key table)"
            ) from None

    def index_keys(self, months: Iterable[int]) -> dict[int, bytes]:
        """The existing index keys of ``months``, read in one query (a search over many months
        would otherwise pay a round trip per month); months without a key are left out."""
        from archive.models import IndexKey

        return {
            row.month: self._open_index_key(row) for row in IndexKey.objects.filter(month__in=list(months))
        }


_vault: Vault | None = None
_vault_lock = threading.Lock()


def build_provider() -> RootKeyProvider:
    if settings.DMVAULT_KEY_PROVIDER == "local":
        return LocalKeyringProvider(settings.DMVAULT_KEYRING_PATH)
    raise VaultError(
        "no key provider is configured: set DMVAULT_KEY_PROVIDER=local and DMVAULT_KEYRING_PATH "
        "(run `python manage.py vault init` to create the keyring)"
    )


def get_vault() -> Vault:
    global _vault
    with _vault_lock:
        if _vault is None:
            _vault = Vault(build_provider(), autocreate=settings.DMVAULT_KEYRING_AUTOCREATE)
        return _vault


def reset_vault() -> None:
    """Drop the process-wide vault (tests, and after a key operation in another process)."""
    global _vault
    with _vault_lock:
        _vault = None
