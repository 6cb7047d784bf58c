"""Root-key providers.

The root key (KEK) wraps only the few key-wrapping keys, so a provider is called a handful of
times per process and its latency never reaches a request. The local keyring file is the
default; HashiCorp Vault transit or AWS KMS implement the same four methods (their ``wrap`` is
an ``encrypt`` call with the key id as context, ``rotate`` is a key-version rotation, and
``destroy`` is Vault ``trim`` / KMS ``ScheduleKeyDeletion``).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archive.vault.errors import CiphertextInvalid, VaultError


class RootKeyProvider(Protocol):
    name: str

    def primary_version(self) -> int: ...

    def wrap(self, context: bytes, key: bytes) -> tuple[int, bytes]: ...

    def unwrap(self, version: int, context: bytes, wrapped: bytes) -> bytes: ...

    def rotate(self) -> int: ...

    def destroy(self, version: int) -> None: ...

    def versions(self) -> list[int]: ...


class LocalKeyringProvider:
    """Root keys in a JSON file (mode 0600) outside the database, one entry per version."""

    name = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict | None = None

    # -- file handling --------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.exists()

    def create(self) -> None:
        if self.path.exists():
            raise VaultError(f"a keyring already exists at {self.path}; refusing to overwrite it")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = {"format": 1, "primary": 1, "keys": [self._new_entry(1)]}
        # Written aside, then linked into place only if no keyring is there yet: two processes
        # creating one at once (a demo's server and worker, parallel writers on a fresh
        # archive) agree on the first one instead of each keeping a root key the other overwrote.
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
        self._write_file(tmp, data)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            self._data = None  # lost the race: use the keyring the other process created
            return
        finally:
            tmp.unlink()
        self._data = data

    def _new_entry(self, version: int) -> dict[str, object]:
        return {
            "version": version,
            "key": base64.b64encode(secrets.token_bytes(32)).decode(),
            "created": datetime.now(UTC).isoformat(),
        }

    def _write(self, data: dict) -> None:
        tmp = self.path.with_suffix(".tmp")
        self._write_file(tmp, data)
        tmp.replace(self.path)
        self._data = data

    @staticmethod
    def _write_file(path: Path, data: dict) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())

    def _load(self) -> dict:
        if self._data is None:
            if not self.path.exists():
                raise VaultError(
                    f"no keyring at {self.path}: run `python manage.py vault init`, or point "
                    "DMVAULT_KEYRING_PATH at the keyring that belongs to this archive"
                )
            try:
                data = json.loads(self.path.read_text())
                data["keys"] = [dict(k) for k in data["keys"]]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise VaultError(
                    f"the keyring at {self.path} is unreadable or corrupt ({type(exc).__name__})"
                ) from None
            self._data = data
        return self._data

    def _key(self, version: int) -> bytes:
        for entry in self._load()["keys"]:
            if entry["version"] == version:
                return base64.b64decode(entry["key"])
        raise VaultError(
            f"root key version {version} is not in the keyring at {self.path} (destroyed, or the wrong keyring)"
        )

    # -- provider interface ---------------------------------------------------------------
    def primary_version(self) -> int:
        return int(self._load()["primary"])

    def versions(self) -> list[int]:
        return sorted(int(k["version"]) for k in self._load()["keys"])

    def wrap(self, context: bytes, key: bytes) -> tuple[int, bytes]:
        version = self.primary_version()
        nonce = secrets.token_bytes(12)
        return version, nonce + AESGCM(self._key(version)).encrypt(nonce, key, context)

    def unwrap(self, version: int, context: bytes, wrapped: bytes) -> bytes:
        try:
            return AESGCM(self._key(version)).decrypt(wrapped[:12], wrapped[12:], context)
        except InvalidTag:
            raise CiphertextInvalid(
                f"root key version {version} in {self.path} does not open this archive's wrapping key: "
                "this keyring does not belong to this database"
            ) from None

    def rotate(self) -> int:
        data = self._load()
        version = max(self.versions()) + 1
        data["keys"].append(self._new_entry(version))
        data["primary"] = version
        self._write(data)
        return version

    def destroy(self, version: int) -> None:
        data = self._load()
        if version == data["primary"]:
            raise VaultError("refusing to destroy the primary root key version")
        data["keys"] = [k for k in data["keys"] if k["version"] != version]
        self._write(data)
