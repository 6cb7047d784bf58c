from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_audit_key(settings, tmp_path: Path) -> None:
    settings.DMVAULT_AUDIT_KEY_PATH = tmp_path / "keys" / "audit-signing.key"
    settings.DMVAULT_AUDIT_KEY_AUTOCREATE = True
