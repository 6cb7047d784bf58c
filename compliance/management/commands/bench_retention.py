"""python manage.py bench_retention --messages N

Writes N synthetic messages (``archive.synthetic.Generator`` through ``ArchiveWriter``), adds a
retention policy that expires the older half of them, then times the dry run and the run.
Prints one JSON object. Run it against a throw-away data folder or database, like ``bench``:
it writes into, and deletes from, the configured database.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.utils import timezone

from archive.ids import id_time
from archive.models import Message, Source
from archive.synthetic import Generator
from archive.writer import ArchiveWriter
from compliance import retention
from compliance.engine_models import RetentionPolicy


class Command(BaseCommand):
    help = "Benchmark a retention run that deletes half of N synthetic messages; prints JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", type=int, default=100_000)
        parser.add_argument("--batch", type=int, default=2000)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--months", type=int, default=24)

    def handle(self, *args: Any, **options: Any) -> None:
        n = options["messages"]
        before = Message.objects.count()
        started = time.perf_counter()
        source = Source.objects.create(
            platform="synthetic", original_sha256="0" * 64, original_size=0, status=Source.Status.DONE
        )
        gen = Generator(seed=options["seed"], sentence_pool=5000)
        ArchiveWriter(source).write(gen.conversations(n, months=options["months"]))
        write_s = time.perf_counter() - started
        ids = Message.objects.filter(source=source).order_by("id").values_list("id", flat=True)
        median = ids[(ids.count()) // 2]
        now = timezone.now()
        days = max(1, math.ceil((now - id_time(median)).total_seconds() / 86400))
        policy = RetentionPolicy.objects.create(
            name="bench: expire the older half", source_id=source.id, period_days=days
        )
        t0 = time.perf_counter()
        the_plan = retention.plan(now)
        plan_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = retention.run(now, batch=options["batch"])
        run_s = time.perf_counter() - t0
        deleted = result.counts.get("messages", 0)
        self.stdout.write(
            json.dumps(
                {
                    "bench": "retention",
                    "database": connection.vendor,
                    "messages": n,
                    "messages_before": before,
                    "write_seconds": round(write_s, 2),
                    "policy_days": days,
                    "planned": len(the_plan.delete_ids),
                    "plan_seconds": round(plan_s, 2),
                    "messages_deleted": deleted,
                    "months_dropped": result.counts.get("months_dropped", 0),
                    "postings_deleted": result.counts.get("postings", 0),
                    "data_keys_shredded": result.counts.get("data_keys", 0),
                    "seconds": round(run_s, 2),
                    "messages_deleted_per_s": round(deleted / run_s) if run_s else None,
                    "certificate": str(result.certificate.id) if result.certificate else None,
                    "policy": str(policy.id),
                }
            )
        )
