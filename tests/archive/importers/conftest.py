"""Shared paths for the importer tests: our synthetic fixtures and the real sample exports."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURES = REPO_ROOT / "tests" / "archive" / "fixtures"
SAMPLES = (REPO_ROOT / ".." / "shared" / "samples").resolve()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    assert SAMPLES.is_dir(), f"sample exports are expected at {SAMPLES}"
    return SAMPLES
