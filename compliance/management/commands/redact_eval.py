"""manage.py redact_eval GOLD.jsonl PRED.jsonl [--region-hints DE US ...]"""

from django.core.management.base import BaseCommand

from compliance.redaction.evaluate import predict_file


class Command(BaseCommand):
    help = "Run the redaction detectors over a gold JSONL file and write scorer-readable predictions."

    def add_arguments(self, parser):
        parser.add_argument("gold")
        parser.add_argument("pred")
        parser.add_argument(
            "--region-hints", nargs="*", default=[], help="phone regions tried first, e.g. DE US"
        )
        parser.add_argument("--known-names", nargs="*", default=[], help="participant / contact names")

    def handle(self, *args, **opts):
        n = predict_file(opts["gold"], opts["pred"], opts["region_hints"], opts["known_names"])
        self.stdout.write(f"wrote {n} prediction lines to {opts['pred']}")
