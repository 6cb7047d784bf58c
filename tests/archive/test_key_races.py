"""Two processes setting up a fresh archive at once agree on its first keys: the keyring one of
them writes, and the wrapping key one of them creates. A parallel import makes them before it
forks its writers."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.models import DataKey, WrappingKey
from archive.vault import Vault, VaultError
from archive.vault.provider import LocalKeyringProvider

pytestmark = pytest.mark.django_db


def test_a_keyring_created_by_another_process_meanwhile_is_used_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys" / "keyring.json"
    first, second = LocalKeyringProvider(path), LocalKeyringProvider(path)
    first.create()
    version, wrapped = first.wrap(b"ctx", b"k" * 32)
    written = path.read_bytes()
    # The second process checked for a keyring just before the first one linked its own.
    monkeypatch.setattr(Path, "exists", lambda self: False)
    second.create()
    monkeypatch.undo()
    assert path.read_bytes() == written
    assert second.unwrap(version, b"ctx", wrapped) == b"k" * 32
    assert sorted(p.name for p in path.parent.iterdir()) == ["keyring.json"]  # no stray temp files
    with pytest.raises(VaultError, match="already exists"):
        second.create()  # `vault init` on an existing keyring still refuses


def test_a_wrapping_key_created_by_another_process_meanwhile_is_used(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    LocalKeyringProvider(path).create()
    one, other = Vault(LocalKeyringProvider(path)), Vault(LocalKeyringProvider(path))
    one.archive_hmac_key()  # wrapping key and a data key now exist
    # The other process read "no active wrapping key" just before they were committed.
    row = other._create_kwk()
    assert row.id == one.active_kwk()[0]
    assert WrappingKey.objects.count() == 1


def test_data_keys_without_any_wrapping_key_are_still_reported_as_damage(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    LocalKeyringProvider(path).create()
    Vault(LocalKeyringProvider(path)).archive_hmac_key()
    assert DataKey.objects.exists()
    WrappingKey.objects.update(active=False)
    with pytest.raises(VaultError, match="damaged"):
        Vault(LocalKeyringProvider(path)).active_kwk()
