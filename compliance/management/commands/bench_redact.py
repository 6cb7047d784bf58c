"""manage.py bench_redact CORPUS.jsonl: JSON lines with messages_per_s (one core)."""

import json

from django.core.management.base import BaseCommand

from compliance.redaction.bench import bench, load_texts


class Command(BaseCommand):
    help = "Benchmark redaction detection throughput over corpus texts (repeated to >= 100k messages)."

    def add_arguments(self, parser):
        parser.add_argument("corpus")
        parser.add_argument("--min-messages", type=int, default=100_000)
        parser.add_argument("--rounds", type=int, default=3)
        parser.add_argument("--region-hints", nargs="*", default=[])

    def handle(self, *args, **opts):
        for row in bench(
            load_texts(opts["corpus"]), opts["min_messages"], opts["rounds"], opts["region_hints"]
        ):
            self.stdout.write(json.dumps(row))
