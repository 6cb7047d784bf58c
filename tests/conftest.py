"""Shared fixtures: personas and a clean vault per test."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLES = SHARED / "samples"


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(autouse=True)
def _fresh_keys(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    # Each database test gets its own keyring, and keys made inside a rolled-back test
    # transaction must not survive in the process-wide cache.
    if "django_db_setup" in request.fixturenames or request.node.get_closest_marker("django_db"):
        settings = request.getfixturevalue("settings")
        settings.DMVAULT_KEYRING_PATH = tmp_path / "keys" / "keyring.json"
        from archive.vault import reset_vault

        reset_vault()
