"""python manage.py bench_ui: server time of every review-UI page on the configured archive.

Meant for the demo archive (`make demo`): it signs in as the demo users, declares a purpose for
the reviewing roles, and prints one JSON line per page with the median of --runs requests. If
the archive has no retention policy it adds one ("bench: keep 20 years", which deletes
nothing) so the dry-run page has work to do.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import Client

from accounts.models import User
from accounts.roles import Capability, role_can
from archive.models import Conversation, DataSubject, Source

PERSONAS = ("officer", "legal", "admin", "auditor")


class Command(BaseCommand):
    help = "Time every review-UI page as each demo user; prints JSON lines (median ms)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=int, default=7)

    def handle(self, *args: Any, runs: int, **options: Any) -> None:
        from compliance.engine_models import RetentionPolicy
        from compliance.retention import create_policy

        settings.DEBUG = False
        conversation = Conversation.objects.order_by("-message_count").first()
        source = Source.objects.order_by("uploaded_at").first()
        subject = DataSubject.objects.first()
        if conversation is None or source is None or subject is None:
            raise CommandError("no archive to measure: run `python manage.py demo` first")
        admin = User.objects.filter(username="admin").first()
        if not RetentionPolicy.objects.exists():
            create_policy(created_by=admin, name="bench: keep 20 years", period_days=7300)
        pages: list[tuple[str, Capability | None]] = [
            ("/", None),
            ("/search/", Capability.SEARCH),
            ("/search/?q=report", Capability.SEARCH),
            ("/search/?q=%22quarterly+report%22", Capability.SEARCH),
            ("/timeline/search/?q=report", Capability.SEARCH),
            (f"/conversations/{conversation.id}/", Capability.READ_CONTENT),
            ("/imports/", Capability.UPLOAD),
            (f"/imports/{source.id}/", Capability.UPLOAD),
            ("/matters/", Capability.MANAGE_HOLDS),
            ("/retention/", Capability.MANAGE_POLICIES),
            ("/retention/dry-run/", Capability.MANAGE_POLICIES),
            ("/subjects/", Capability.SUBJECT_REQUESTS),
            (f"/subjects/{subject.id}/", Capability.SUBJECT_REQUESTS),
            (f"/timeline/subject/?id={subject.id}", Capability.SUBJECT_REQUESTS),
            ("/exports/", Capability.EXPORT),
            ("/audit/", Capability.READ_AUDIT),
            ("/users/", Capability.MANAGE_USERS),
        ]
        worst = 0.0
        for username in PERSONAS:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"demo user {username!r} is missing: run `python manage.py demo`")
            client = Client()
            client.force_login(user)
            if role_can(user.role, Capability.READ_CONTENT):
                client.post("/purpose/", {"matter": "BENCH-1", "reason": "measuring page times"})
            for url, capability in pages:
                if capability is not None and not role_can(user.role, capability):
                    continue
                samples = []
                for _ in range(runs):
                    started = time.perf_counter()
                    status = client.get(url).status_code
                    samples.append((time.perf_counter() - started) * 1000)
                median = statistics.median(samples)
                worst = max(worst, median)
                self.stdout.write(
                    json.dumps(
                        {
                            "bench": "ui_page",
                            "user": username,
                            "url": url,
                            "status": status,
                            "median_ms": round(median, 1),
                            "max_ms": round(max(samples), 1),
                        }
                    )
                )
        self.stdout.write(json.dumps({"bench": "ui", "worst_median_ms": round(worst, 1), "runs": runs}))
