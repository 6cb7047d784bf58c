"""Recompute the audit chain and check signed checkpoints; exit 1 naming the first bad event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.audit import verify


class Command(BaseCommand):
    help = (
        "Verify the audit log: recompute every leaf and chain hash from genesis, compare with the "
        "chain head and with the signed checkpoints in the database and in --checkpoints PATH "
        "(an exported file: catches truncation and rewrites by the database owner)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--checkpoints", metavar="PATH", help="a file of exported checkpoint notes")

    def handle(self, *args: Any, **options: Any) -> None:
        extra = None
        if options["checkpoints"]:
            try:
                extra = Path(options["checkpoints"]).read_text(encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"cannot read {options['checkpoints']}: {exc.strerror}") from None
        status = verify(extra)
        if not status.ok:
            where = (
                f"first bad event: seq {status.first_bad_seq}" if status.first_bad_seq else "no event named"
            )
            raise CommandError(f"audit log FAILED verification ({where}): {status.problem}")
        self.stdout.write(
            f"audit log OK: {status.size} events, head {status.head}, {status.checkpoints_checked} checkpoints verified"
        )
