"""python manage.py bench_export --messages N

Writes N synthetic messages (``archive.synthetic.Generator`` through ``ArchiveWriter``), then
exports them in every format to a temporary zip and verifies it; prints one JSON object with
seconds per phase and the peak resident set (``resource.getrusage``). Run it against a
throw-away data folder / database: it writes into the configured one.
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from archive.models import Source
from archive.synthetic import Generator
from archive.writer import ArchiveWriter
from compliance.exports.jobs import create_export, run_job_to_path
from compliance.exports.production import FORMAT_ORDER
from compliance.exports.verify import verify_production


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Command(BaseCommand):
    help = "Benchmark a full production (all formats) of N synthetic messages; prints JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", type=int, default=10_000)
        parser.add_argument("--seed", type=int, default=11)
        parser.add_argument("--formats", default=",".join(FORMAT_ORDER))
        parser.add_argument("--redact", action="store_true", help="apply a redaction policy too")
        parser.add_argument("--keep", type=Path, help="keep the production at this path")

    def handle(
        self, *args: Any, messages: int, seed: int, formats: str, redact: bool, **options: Any
    ) -> None:
        settings.DEBUG = False
        connection.force_debug_cursor = False
        started = time.perf_counter()
        source = Source.objects.create(
            platform="synthetic", original_sha256="0" * 64, original_size=0, status=Source.Status.DONE
        )
        gen = Generator(seed=seed, sentence_pool=5000)
        summary = ArchiveWriter(source).write(gen.conversations(messages))
        ingest_s = time.perf_counter() - started
        rss_after_ingest = peak_rss_mb()
        conv_ids = list(source.conversations.values_list("id", flat=True))
        job = create_export(
            requested_by=None,
            purpose="bench_export",
            formats=formats.split(","),
            conversation_ids=conv_ids,
            redaction={"enabled": True, "participant_names": "pseudonymize", "attachment_names": "redact"}
            if redact
            else None,
            bates_prefix="BENCH",
            queue=False,
        )
        with tempfile.TemporaryDirectory(prefix="dmvault-bench-export-") as tmp:
            path = options["keep"] or Path(tmp) / "production.zip"
            t0 = time.perf_counter()
            job = run_job_to_path(job.id, path)
            export_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            check = verify_production(path)
            verify_s = time.perf_counter() - t1
            size = path.stat().st_size if path.exists() else 0
        self.stdout.write(
            json.dumps(
                {
                    "database": connection.vendor,
                    "messages": summary.messages,
                    "conversations": summary.conversations,
                    "formats": formats.split(","),
                    "redaction": redact,
                    "status": job.status,
                    "error": job.error,
                    "ingest_seconds": round(ingest_s, 2),
                    "export_seconds": round(export_s, 2),
                    "verify_seconds": round(verify_s, 2),
                    "seconds": round(export_s, 2),
                    "messages_per_second": round(summary.messages / export_s, 1) if export_s else None,
                    "zip_mb": round(size / 1024 / 1024, 1),
                    "files": job.counts.get("files"),
                    "pdf_pages": job.counts.get("pdf_pages"),
                    "verified": check.ok,
                    "rss_after_ingest_mb": rss_after_ingest,
                    "peak_rss_mb": peak_rss_mb(),
                }
            )
        )
