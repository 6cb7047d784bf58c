"""python manage.py vault init|status|rotate-root|roll"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from archive.vault import VaultError, get_vault, reset_vault
from archive.vault.operations import roll_wrapping_key, rotate_root, status
from archive.vault.provider import LocalKeyringProvider


class Command(BaseCommand):
    help = (
        "Manage the archive's keys: create the keyring, show status, rotate the root key, roll wrapping keys."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["init", "status", "rotate-root", "roll"])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        reset_vault()
        vault = get_vault()
        try:
            if action == "init":
                provider = vault.provider
                if isinstance(provider, LocalKeyringProvider) and not provider.exists():
                    provider.create()
                    self.stdout.write(f"created keyring {provider.path} (keep it out of database backups)")
                vault.active_kwk()
                self.stdout.write(json.dumps(status(vault)))
            elif action == "status":
                self.stdout.write(json.dumps(status(vault)))
            elif action == "rotate-root":
                self.stdout.write(json.dumps(rotate_root(vault)))
            elif action == "roll":
                self.stdout.write(json.dumps(roll_wrapping_key(vault)))
        except VaultError as exc:
            raise CommandError(str(exc)) from None
