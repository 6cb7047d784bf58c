"""python manage.py retention run [--dry-run] [--policy ID] [--batch N] [--as-of ISO]

Prints one JSON object: the plan (dry run) or what the run did and its certificate id.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance import retention


class Command(BaseCommand):
    help = "Enforce retention policies (or show what a run would do with --dry-run)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["run"], nargs="?", default="run")
        parser.add_argument("--dry-run", action="store_true", help="compute the plan, change nothing")
        parser.add_argument("--policy", type=int, help="only messages this policy decides")
        parser.add_argument("--batch", type=int, default=1000)
        parser.add_argument("--as-of", help="ISO time to evaluate at (default: now)")

    def handle(self, *args: Any, **options: Any) -> None:
        now = None
        if options["as_of"]:
            try:
                now = datetime.fromisoformat(options["as_of"])
            except ValueError:
                raise CommandError("--as-of must be an ISO date-time with a time zone") from None
            if now.tzinfo is None:
                raise CommandError("--as-of must carry a time zone")
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1")
        result = retention.run(
            now, dry_run=options["dry_run"], batch=options["batch"], policy_id=options["policy"]
        )
        out: dict[str, Any] = {"dry_run": options["dry_run"], "plan": result.plan.summary()}
        if result.run is not None:
            out.update(
                run=str(result.run.id),
                state=result.run.state,
                resumed=result.resumed,
                counts=result.counts,
                certificate=str(result.certificate.id) if result.certificate else None,
            )
        self.stdout.write(json.dumps(out, default=str))
