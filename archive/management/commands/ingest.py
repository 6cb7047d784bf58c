"""python manage.py ingest PATH [--platform NAME] [--owner NAME] [--json]"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from archive import ingest
from archive.importers import REGISTRY


class Command(BaseCommand):
    help = "Import one export (zip or single file); the original is kept sealed as evidence."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--platform", choices=sorted(REGISTRY), default="")
        parser.add_argument("--owner", default="", help="the account owner's name or handle in the export")
        parser.add_argument("--json", action="store_true", help="print one JSON summary instead of progress")

    def handle(self, *args: Any, path: Path, platform: str, owner: str, json: bool, **options: Any) -> None:
        as_json = json
        started = time.perf_counter()
        done = 0

        def bar(n: int) -> None:
            nonlocal done
            done += n
            if not as_json:
                rate = done / max(time.perf_counter() - started, 1e-6)
                self.stderr.write(f"\r  {done:>10,} messages  {rate:>8,.0f}/s", ending="")
                self.stderr.flush()

        try:
            source = ingest.receive_path(path, platform=platform, owner=owner)
            source = ingest.run(source.id, on_progress=bar)
        except ingest.IngestError as exc:
            if as_json:
                self.stdout.write(_json({"status": "failed", "error": str(exc)}))
            raise CommandError(str(exc)) from None
        if not as_json:
            self.stderr.write("")
        summary = {
            "source": source.id,
            "status": source.status,
            "sha256": source.original_sha256,
            **source.summary,
        }
        if as_json:
            self.stdout.write(_json(summary))
        else:
            self.stdout.write(
                f"source {source.id}: {summary.get('platform')} — {summary.get('conversations')} conversations, "
                f"{summary.get('messages')} messages, {summary.get('attachments')} attachments, "
                f"{summary.get('duplicates_skipped')} duplicates skipped, {len(summary.get('warnings', []))} warnings"
            )


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)
