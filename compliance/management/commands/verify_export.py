"""Check a production zip offline: ``python manage.py verify_export PATH [--public-key FILE]``.

Exit status 0 when every check passes, 1 with one line per problem (naming the file) otherwise.
Needs neither the database nor the archive's keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.exports.signing import SigningKeyError, decode_public
from compliance.exports.verify import verify_production


class Command(BaseCommand):
    help = "Verify a DMVault production zip: signature, every file's SHA-256 and size, nothing extra."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--public-key", type=Path, help="the producer's public key file (ed25519 <base64>)"
        )
        parser.add_argument("--passphrase-file", type=Path, help="file holding the AES zip passphrase")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        key = None
        if options["public_key"]:
            try:
                key = decode_public(options["public_key"].read_text())
            except (OSError, SigningKeyError) as exc:
                raise CommandError(f"{options['public_key']}: {exc}") from None
        passphrase = options["passphrase_file"].read_text().strip() if options["passphrase_file"] else None
        result = verify_production(options["path"], public_key=key, passphrase=passphrase)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": result.ok,
                        "problems": result.problems,
                        "files_checked": result.files_checked,
                        "key": result.key_source,
                        "key_sha256": result.key_fingerprint,
                    }
                )
            )
        if not result.ok:
            for problem in result.problems:
                self.stderr.write(f"FAIL {problem}")
            raise SystemExit(1)
        if not options["json"]:
            self.stdout.write(
                f"OK {options['path']}: signature valid ({result.key_source} key {result.key_fingerprint[:16]}…), "
                f"{result.files_checked} files match the manifest"
            )
