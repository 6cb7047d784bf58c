"""Append-only protection, one test per backend behaviour (CI runs the suite on both)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from tests.compliance.audit.helpers import some_events

pytestmark = pytest.mark.django_db


def _blocked(sql: str) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql)
    return str(caught.value)


def test_triggers_stop_update_and_delete_even_for_the_owner() -> None:
    some_events(2)
    for sql in ("UPDATE compliance_auditevent SET outcome = 'denied'", "DELETE FROM compliance_auditevent"):
        assert "append-only" in _blocked(sql)
    for sql in ("UPDATE compliance_auditcheckpoint SET size = 0", "DELETE FROM compliance_auditcheckpoint"):
        call_command("audit_checkpoint")
        assert "append-only" in _blocked(sql)
    if connection.vendor == "postgresql":
        assert "append-only" in _blocked("TRUNCATE compliance_auditevent")
    else:
        assert connection.vendor == "sqlite"  # SQLite has no TRUNCATE; DELETE is covered above


def test_lockdown_on_sqlite_refuses_clearly_and_on_postgresql_revokes_for_real() -> None:
    if connection.vendor == "sqlite":
        with pytest.raises(CommandError, match="PostgreSQL only"):
            call_command("audit_lockdown", "--app-role", "dmvault_app")
        return
    assert connection.vendor == "postgresql"
    _postgresql_privileges_are_enforced()


def _postgresql_privileges_are_enforced() -> None:
    import psycopg
    from psycopg import errors

    db = connection.settings_dict
    admin_kw = {
        "dbname": db["NAME"],
        "user": db["USER"],
        "host": db["HOST"] or None,
        "port": db["PORT"] or None,
    }
    if db["PASSWORD"]:
        admin_kw["password"] = db["PASSWORD"]
    role = f"dmv_app_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    with psycopg.connect(**admin_kw, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        try:
            # The command runs in its own process (committed grants), as the deployment would.
            url = f"postgres://{db['USER']}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "DMVAULT_ENV": "test",
                "DJANGO_SETTINGS_MODULE": "dmvault.settings",
            }
            done = subprocess.run(
                [sys.executable, str(settings.BASE_DIR / "manage.py"), "audit_lockdown", "--app-role", role],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            app_kw = {**admin_kw, "user": role, "password": password}
            with psycopg.connect(**app_kw) as app:
                app.execute("SELECT count(*) FROM compliance_auditevent").fetchone()
                for sql in (
                    "UPDATE compliance_auditevent SET outcome = 'denied'",
                    "DELETE FROM compliance_auditevent",
                    "TRUNCATE compliance_auditevent",
                    "UPDATE compliance_auditcheckpoint SET size = 0",
                    "DELETE FROM compliance_auditcheckpoint",
                    "ALTER TABLE compliance_auditevent DISABLE TRIGGER USER",
                ):
                    with pytest.raises((errors.InsufficientPrivilege,)):
                        app.execute(sql)
                    app.rollback()
                # INSERT is allowed (rolled back so the shared chain stays intact).
                app.execute(
                    "INSERT INTO compliance_auditevent (seq, event_id, ts, request_id, actor_name, role, auth_method,"
                    " action, http_method, route, target_type, target_id, matter_ref, ip, user_agent, outcome, detail,"
                    " leaf_hash, chain_hash) VALUES (-5, -5, now(), '', '', '', '', 'x', '', '', '', '', '', '', '',"
                    " 'allowed', '', '', '')"
                )
                app.rollback()
        finally:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")
