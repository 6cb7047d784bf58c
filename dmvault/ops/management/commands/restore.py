"""python manage.py restore BACKUP_DIR: check, restore, then replay the erasure ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dmvault.ops.backup import BackupError, read_manifest, restore
from dmvault.ops.ledger import LedgerError


class Command(BaseCommand):
    help = (
        "Restore a backup made by `backup` over this server's database and blob store, then "
        "replay the erasures and retention runs recorded in the ledger since the snapshot."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("backup_dir", type=Path)
        parser.add_argument("--check", action="store_true", help="only verify the manifest and hashes")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args: Any, backup_dir: Path, check: bool, yes: bool, **options: Any) -> None:
        try:
            manifest, _ = read_manifest(backup_dir)
            if check:
                self.stdout.write(json.dumps({"ok": True, "taken_at": manifest["taken_at"]}))
                return
            if (
                not yes
                and input(f"Replace this server's data with the backup of {manifest['taken_at']}? [y/N] ")
                != "y"
            ):
                raise CommandError("cancelled")
            report = restore(backup_dir)
        except (BackupError, LedgerError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(report, default=str))
