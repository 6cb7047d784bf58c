"""Sign a checkpoint of the audit chain (and optionally append it to an export file).

Run it every minute (cron, a systemd timer, or the django-q2 schedule
``compliance.audit.tasks.checkpoint``) and ship the export file somewhere the database's
owner cannot rewrite: events after the last exported checkpoint are the loss window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.audit.checkpoints import (
    CheckpointError,
    key_path,
    load_signing_key,
    verifier_key,
    write_checkpoint,
)


class Command(BaseCommand):
    help = "Write an Ed25519-signed checkpoint of the audit chain; --export appends it to a file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--export", metavar="PATH", help="append the signed note to this file")
        parser.add_argument(
            "--init-key", action="store_true", help="create the signing key if missing, then exit"
        )
        parser.add_argument("--public-key", action="store_true", help="print the verifier key and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["init_key"]:
                existed = key_path().exists()
                load_signing_key(create=True)
                self.stdout.write(f"{'kept' if existed else 'created'} {key_path()}")
                self.stdout.write(verifier_key())
                return
            if options["public_key"]:
                self.stdout.write(verifier_key())
                return
            _cp_id, note = write_checkpoint()
        except CheckpointError as exc:
            raise CommandError(str(exc)) from None
        if options["export"]:
            path = Path(options["export"])
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(note + "\n")
        self.stdout.write(note)
