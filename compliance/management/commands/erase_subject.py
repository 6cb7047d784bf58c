"""python manage.py erase_subject SUBJECT_ID --requested-by USER [--approved-by USER] [--dry-run]"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from archive.models import DataSubject
from compliance.subjects import erase_subject


class Command(BaseCommand):
    help = (
        "Erase a data subject (GDPR Art. 17): refuses under a legal hold or a compliance lock; "
        "with the two-person rule on, --approved-by must name a different administrator."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("subject_id", type=int)
        parser.add_argument("--requested-by", required=True, help="username of the requesting admin")
        parser.add_argument("--approved-by", help="username of the approving admin")
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--two-person", action="store_true", default=None)

    def _user(self, name: str | None) -> Any:
        if not name:
            return None
        user = get_user_model().objects.filter(username=name).first()
        if user is None:
            raise CommandError(f"no user {name!r}")
        return user

    def handle(self, *args: Any, **options: Any) -> None:
        if not DataSubject.objects.filter(id=options["subject_id"]).exists():
            raise CommandError(f"no data subject {options['subject_id']}")
        result = erase_subject(
            options["subject_id"],
            self._user(options["requested_by"]),
            self._user(options["approved_by"]),
            dry_run=options["dry_run"],
            two_person=options["two_person"],
        )
        self.stdout.write(
            json.dumps(
                {
                    "subject": str(result.subject_id),
                    "dry_run": result.dry_run,
                    "refused": result.refused,
                    "counts": result.counts,
                    "certificate": str(result.certificate.id) if result.certificate else None,
                }
            )
        )
        if result.refused and not result.dry_run:
            raise CommandError(f"refused: {result.refused}")
