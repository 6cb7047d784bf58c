"""PostgreSQL: restrict the application's database role to SELECT/INSERT on the audit log.

Run once after migrating, as the owner of the tables (not as the application role)::

    python manage.py audit_lockdown --app-role dmvault_app

The application role then gets *permission denied* for UPDATE, DELETE and TRUNCATE of the audit
tables (and may only SELECT/UPDATE the one-row chain head). Migrations must run as a separate
owner role: an owner can always re-grant itself. See SECURITY-DESIGN §3.5.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from compliance.audit.db import lockdown


class Command(BaseCommand):
    help = "REVOKE UPDATE/DELETE/TRUNCATE on the audit tables from the application role (PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--app-role", required=True, help="the PostgreSQL role the web and worker processes use"
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            statements = lockdown(connections[options["database"]], options["app_role"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for sql in statements:
            self.stdout.write(sql + ";")
        self.stdout.write(f"role {options['app_role']} now has SELECT/INSERT only on the audit log")
