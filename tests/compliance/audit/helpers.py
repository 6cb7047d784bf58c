"""Acting as an attacker with database write access (triggers dropped / disabled as the owner)."""

from __future__ import annotations

from typing import Any

from django.db import connection

from compliance.audit import Event, record
from compliance.audit.db import drop_trigger_sql


def some_events(n: int) -> list[Any]:
    return [
        record(
            Event(action="message.read", outcome="allowed", actor_id=7, actor_name="officer", result_count=i)
        )
        for i in range(n)
    ]


def as_attacker(*statements: str, params: list[Any] | None = None) -> None:
    """Run raw SQL against the audit tables with the append-only triggers out of the way.

    SQLite: drop the triggers (anyone who can write the file can). PostgreSQL: the test connects
    as the owner/superuser, who can disable triggers. Both are undone by the test's rollback.
    """
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            for sql in drop_trigger_sql("sqlite"):
                cur.execute(sql)
        else:
            cur.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
            cur.execute("ALTER TABLE compliance_auditcheckpoint DISABLE TRIGGER USER")
        for sql in statements:
            cur.execute(sql, params or [])
