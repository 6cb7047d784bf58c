"""Database-level protection of the audit tables: append-only triggers and PostgreSQL grants.

Triggers stop accidents (a bad migration, a stray ``DELETE``) by anyone, including the table
owner. On PostgreSQL the real barrier for the application is privileges: the runtime role gets
only ``SELECT, INSERT`` on the audit tables (``audit_lockdown``), so ``UPDATE``/``DELETE``/
``TRUNCATE`` are refused with *permission denied*, and it cannot disable triggers because it is
not the owner. The owner or a superuser can still rewrite history; only exported, signed
checkpoints catch that (``verify_audit --checkpoints``).
"""

from __future__ import annotations

import re

from django.db.backends.base.base import BaseDatabaseWrapper

APPEND_ONLY_TABLES = ("compliance_auditevent", "compliance_auditcheckpoint")
HEAD_TABLE = "compliance_auditchainhead"
PG_FORBID_FUNCTION = "dmvault_audit_forbid"


def trigger_sql(vendor: str) -> list[str]:
    if vendor == "sqlite":
        out = []
        for table in APPEND_ONLY_TABLES:
            for op in ("UPDATE", "DELETE"):
                out.append(
                    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only ({op} blocked)'); END"
                )
        return out
    if vendor == "postgresql":
        out = [
            f"CREATE OR REPLACE FUNCTION {PG_FORBID_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only (% blocked)', TG_TABLE_NAME, TG_OP; END $$"
        ]
        for table in APPEND_ONLY_TABLES:
            out.append(
                f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {PG_FORBID_FUNCTION}()"
            )
            out.append(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FORBID_FUNCTION}()"
            )
        return out
    raise NotImplementedError(f"no append-only triggers for database vendor {vendor!r}")


def drop_trigger_sql(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_{op}"
            for table in APPEND_ONLY_TABLES
            for op in ("update", "delete")
        ]
    if vendor == "postgresql":
        out = []
        for table in APPEND_ONLY_TABLES:
            out.append(f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}")
            out.append(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        out.append(f"DROP FUNCTION IF EXISTS {PG_FORBID_FUNCTION}()")
        return out
    return []


_ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


def lockdown(connection: BaseDatabaseWrapper, app_role: str) -> list[str]:
    """Restrict ``app_role`` to SELECT/INSERT on the audit log (PostgreSQL). Returns the SQL run."""
    if connection.vendor != "postgresql":
        raise ValueError("audit_lockdown applies to PostgreSQL only; SQLite has no roles (triggers only)")
    if not _ROLE_NAME.match(app_role):
        raise ValueError(f"{app_role!r} is not a plain PostgreSQL role name")
    role = connection.ops.quote_name(app_role)
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [app_role])
        if cur.fetchone() is None:
            raise ValueError(f"role {app_role!r} does not exist")
        cur.execute(
            "SELECT tablename FROM pg_tables WHERE tablename = ANY(%s) AND tableowner = %s",
            [[*APPEND_ONLY_TABLES, HEAD_TABLE], app_role],
        )
        owned = [r[0] for r in cur.fetchall()]
        if owned:
            raise ValueError(
                f"role {app_role!r} owns {', '.join(owned)}: an owner can re-grant itself anything. "
                "Run migrations as a separate owner role and give the application its own login role."
            )
        audit = ", ".join(APPEND_ONLY_TABLES)
        statements = [
            f"REVOKE ALL ON {audit}, {HEAD_TABLE} FROM PUBLIC",
            f"REVOKE ALL ON {audit}, {HEAD_TABLE} FROM {role}",
            f"GRANT SELECT, INSERT ON {audit} TO {role}",
            # The chain head is a one-row cache of the newest hash that appends lock and move.
            f"GRANT SELECT, UPDATE ON {HEAD_TABLE} TO {role}",
        ]
        cur.execute("SELECT pg_get_serial_sequence('compliance_auditcheckpoint', 'id')")
        seq = cur.fetchone()[0]
        if seq:
            statements.append(f"GRANT USAGE, SELECT ON SEQUENCE {seq} TO {role}")
        for sql in statements:
            cur.execute(sql)
    return statements
