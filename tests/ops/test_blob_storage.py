"""Blobs live on any Django storage: evidence, attachments and productions go through the
"blobs" storage only, so a store that is not a folder (here Django's in-memory storage, standing
in for S3 through django-storages) holds an archive that imports, searches, backs up and
restores; and the storage's options come from the environment, checked at start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import InMemoryStorage, storages

from archive import ingest
from archive.search.service import SearchScope, search
from dmvault.env import env_json_object
from dmvault.ops.backup import backup, restore

WORD = "Zanzibarquokka"


def _telegram_export(path: Path) -> Path:
    chat = {
        "name": "Harbour chat",
        "type": "personal_chat",
        "id": 77,
        "messages": [
            {
                "id": i,
                "type": "message",
                "date": f"2025-03-01T10:0{i}:00",
                "date_unixtime": str(1740823200 + i * 60),
                "from": "Ada",
                "from_id": "user5000",
                "text": f"{WORD} report {i}",
            }
            for i in range(3)
        ],
    }
    path.write_text(json.dumps({"personal_information": {"user_id": 1000}, "chats": {"list": [chat]}}))
    return path


@pytest.mark.django_db(transaction=True)
def test_an_archive_on_a_storage_that_is_not_a_folder_imports_backs_up_and_restores(
    settings, tmp_path: Path
) -> None:
    settings.DMVAULT_LEDGER_PATH = tmp_path / "ledger" / "ledger.jsonl"
    settings.BLOB_ROOT = tmp_path / "unused-blob-folder"
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    assert isinstance(storages["blobs"], InMemoryStorage)

    export = _telegram_export(tmp_path / "result.json")
    source = ingest.run(ingest.receive_path(export, platform="telegram").id)
    assert source.status == "done"
    assert storages["blobs"].exists(source.evidence_blob)
    assert WORD.encode() not in storages["blobs"].open(source.evidence_blob).read()  # sealed
    assert len(search(WORD, scope=SearchScope.everything()).items) == 3

    backup(tmp_path / "b")
    storages["blobs"].delete(source.evidence_blob)  # the store loses the evidence
    restore(tmp_path / "b")

    with ingest.open_evidence(source) as fh:
        assert fh.read() == export.read_bytes()
    assert len(search(WORD, scope=SearchScope.everything()).items) == 3
    assert not settings.BLOB_ROOT.exists()  # nothing went to a local folder


def test_storage_options_are_a_json_object_read_from_the_environment_or_a_file(
    monkeypatch, tmp_path: Path
) -> None:
    name = "DMVAULT_BLOB_STORAGE_OPTIONS"
    monkeypatch.delenv(name, raising=False)
    assert env_json_object(name) == {}
    monkeypatch.setenv(name, '{"bucket_name": "dmvault-blobs", "default_acl": null}')
    assert env_json_object(name) == {"bucket_name": "dmvault-blobs", "default_acl": None}
    secret = tmp_path / "options.json"
    secret.write_text('{"bucket_name": "b", "secret_key": "s3cr3t-value"}')
    monkeypatch.delenv(name)
    monkeypatch.setenv(f"{name}_FILE", str(secret))
    assert env_json_object(name)["bucket_name"] == "b"
    # Bad values stop start-up with the variable's name, without echoing what may be a credential.
    secret.write_text('{"secret_key": "s3cr3t-value",')
    with pytest.raises(ImproperlyConfigured, match=name) as bad_json:
        env_json_object(name)
    secret.write_text('["s3cr3t-value"]')
    with pytest.raises(ImproperlyConfigured, match="JSON object") as not_object:
        env_json_object(name)
    assert "s3cr3t" not in str(bad_json.value) + str(not_object.value)
