"""python manage.py backup OUT_DIR: an encrypted snapshot of the database and the blobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dmvault.ops.backup import BackupError, backup


class Command(BaseCommand):
    help = "Write an encrypted, consistent backup (database + blobs + manifest) to OUT_DIR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out_dir", type=Path)

    def handle(self, *args: Any, out_dir: Path, **options: Any) -> None:
        try:
            manifest = backup(out_dir)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        summary = {
            "backup_id": manifest["backup_id"],
            "taken_at": manifest["taken_at"],
            "files": {name: item["sha256"] for name, item in manifest["files"].items()},
        }
        self.stdout.write(json.dumps(summary))
