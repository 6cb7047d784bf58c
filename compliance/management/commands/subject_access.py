"""python manage.py subject_access SUBJECT_ID OUT.zip"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from archive.models import DataSubject
from compliance.subjects import subject_access_package


class Command(BaseCommand):
    help = "Write a data subject's access/portability package (GDPR Art. 15/20) as a zip."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("subject_id", type=int)
        parser.add_argument("out", help="path of the zip to write")

    def handle(self, *args: Any, **options: Any) -> None:
        if not DataSubject.objects.filter(id=options["subject_id"]).exists():
            raise CommandError(f"no data subject {options['subject_id']}")
        manifest = subject_access_package(options["subject_id"], options["out"])
        self.stdout.write(json.dumps({"written": options["out"], "sha256": manifest}))
