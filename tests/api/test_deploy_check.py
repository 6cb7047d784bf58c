"""`manage.py check --deploy` is clean under production settings."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def test_check_deploy_is_clean_in_production(tmp_path: Path) -> None:
    keys = tmp_path / "keys"  # outside the data folder, as production wants
    data = tmp_path / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DMVAULT_", "DJANGO_", "DATABASE_URL"))},
        "DMVAULT_ENV": "production",
        "DJANGO_SETTINGS_MODULE": "dmvault.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "archive.example.com",
        "DMVAULT_DATA_DIR": str(data),
        "DMVAULT_KEY_PROVIDER": "local",
        "DMVAULT_KEYRING_PATH": str(keys / "keyring.json"),
        "DMVAULT_KEYRING_AUTOCREATE": "1",
    }
    done = subprocess.run(
        [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout
