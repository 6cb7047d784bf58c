"""python manage.py demo: a synthetic archive and one user per role, to log in and look around."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import User
from accounts.roles import Role
from archive.models import DataSubject, Source
from archive.synthetic import Generator
from archive.vault import get_vault
from archive.writer import ArchiveWriter

DEMO_PASSWORD = "dmvault-demo-{role}"


class Command(BaseCommand):
    help = "Create demo users (one per role) and a synthetic multi-platform archive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", type=int, default=6000)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, messages: int, seed: int, **options: Any) -> None:
        from django.conf import settings

        if settings.PRODUCTION:
            raise CommandError("demo data and demo passwords are refused when DMVAULT_ENV=production")
        for role in Role:
            username = role.value.split("_")[0] if role is not Role.COMPLIANCE_OFFICER else "officer"
            user, _ = User.objects.get_or_create(username=username, defaults={"role": role})
            user.role = role
            user.is_staff = role is Role.ADMIN
            user.set_password(DEMO_PASSWORD.format(role=username))
            user.save()
        admin = User.objects.get(username="admin")
        if Source.objects.filter(platform="synthetic").exists():
            self.stdout.write("demo archive already present; users refreshed")
        else:
            vault = get_vault()
            with transaction.atomic():
                dek_id, key = vault.data_key("s:demo-owner")
                owner = DataSubject(dek_id=dek_id)
                owner.label_ct = vault.seal(
                    key, dek_id, "subject.label", owner.id, b"Alex Archivist (demo owner)"
                )
                owner.save(force_insert=True)
            source = Source.objects.create(
                platform="synthetic",
                original_sha256="0" * 64,
                original_size=0,
                uploaded_by=admin,
                owner=owner,
                status=Source.Status.DONE,
                progress=1.0,
            )
            gen = Generator(seed=seed, attachments=0.02)
            summary = ArchiveWriter(source).write(
                gen.conversations(messages, conversations=max(12, messages // 250))
            )
            source.summary = summary.as_dict()
            source.save(update_fields=["summary"])
            self.stdout.write(
                f"demo archive: {summary.messages} messages in {summary.conversations} conversations"
            )
        # Review scope: the lawyer reads the whole archive; the officer is assigned the demo import
        # (the same messages today, but through an assignment, as a real deployment would do it).
        User.objects.filter(username="legal").update(whole_archive=True)
        officer = User.objects.get(username="officer")
        officer.assigned_sources.add(*Source.objects.filter(platform="synthetic"))
        self.stdout.write(
            "log in at http://127.0.0.1:8000/ (review UI; /admin/ for configuration, /api/docs/ for the API) as:"
        )
        for role in Role:
            username = role.value.split("_")[0] if role is not Role.COMPLIANCE_OFFICER else "officer"
            self.stdout.write(
                f"  {role.value:<20} user {username:<8} password {DEMO_PASSWORD.format(role=username)}"
            )
