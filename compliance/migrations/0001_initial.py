"""The audit log and purposes of access.

The audit tables are unmanaged models (so ``flush`` never tries to empty them): this migration
creates them itself through the schema editor, then adds the append-only triggers for the
database in use and the genesis chain-head row.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import archive.ids

AUDIT_MODELS = ("AuditEvent", "AuditChainHead", "AuditCheckpoint")


def create_audit_tables(apps, schema_editor):
    from compliance.audit.chain import GENESIS
    from compliance.audit.db import trigger_sql

    for name in AUDIT_MODELS:
        schema_editor.create_model(apps.get_model("compliance", name))
    for sql in trigger_sql(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)
    apps.get_model("compliance", "AuditChainHead").objects.using(schema_editor.connection.alias).create(
        id=1, seq=0, head_hash=GENESIS.hex()
    )


def drop_audit_tables(apps, schema_editor):
    from compliance.audit.db import drop_trigger_sql

    for sql in drop_trigger_sql(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)
    for name in AUDIT_MODELS:
        schema_editor.delete_model(apps.get_model("compliance", name))


class Migration(migrations.Migration):
    initial = True

    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                ("seq", models.BigIntegerField(primary_key=True, serialize=False)),
                ("event_id", models.BigIntegerField(unique=True)),
                ("ts", models.DateTimeField()),
                ("request_id", models.CharField(blank=True, max_length=64)),
                ("actor_id", models.BigIntegerField(null=True)),
                ("actor_name", models.CharField(blank=True, max_length=150)),
                ("role", models.CharField(blank=True, max_length=32)),
                ("auth_method", models.CharField(blank=True, max_length=16)),
                ("credential_id", models.BigIntegerField(null=True)),
                ("action", models.CharField(max_length=64)),
                ("http_method", models.CharField(blank=True, max_length=10)),
                ("route", models.CharField(blank=True, max_length=200)),
                ("target_type", models.CharField(blank=True, max_length=40)),
                ("target_id", models.CharField(blank=True, max_length=64)),
                ("query_ct", models.BinaryField(null=True)),
                ("query_dek_id", models.BigIntegerField(null=True)),
                ("result_count", models.IntegerField(null=True)),
                ("purpose_id", models.BigIntegerField(null=True)),
                ("matter_ref", models.CharField(blank=True, max_length=100)),
                ("ip", models.CharField(blank=True, max_length=45)),
                ("user_agent", models.CharField(blank=True, max_length=300)),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("allowed", "Allowed"),
                            ("invalid", "Invalid"),
                            ("unauthenticated", "Unauthenticated"),
                            ("denied", "Denied"),
                            ("not_found", "Not Found"),
                            ("throttled", "Throttled"),
                            ("error", "Error"),
                        ],
                        max_length=16,
                    ),
                ),
                ("status_code", models.IntegerField(null=True)),
                ("detail", models.CharField(blank=True, max_length=200)),
                ("leaf_hash", models.CharField(max_length=64)),
                ("chain_hash", models.CharField(max_length=64)),
            ],
            options={"db_table": "compliance_auditevent", "ordering": ["seq"], "managed": False},
        ),
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("seq", models.BigIntegerField(default=0)),
                ("head_hash", models.CharField(max_length=64)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={"db_table": "compliance_auditchainhead", "managed": False},
        ),
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("size", models.BigIntegerField()),
                ("head_hash", models.CharField(max_length=64)),
                ("signature", models.CharField(max_length=200)),
                ("note", models.TextField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={"db_table": "compliance_auditcheckpoint", "ordering": ["id"], "managed": False},
        ),
        migrations.CreateModel(
            name="Purpose",
            fields=[
                ("id", models.BigIntegerField(default=archive.ids.random_id, primary_key=True, serialize=False)),
                ("credential", models.CharField(db_index=True, max_length=80)),
                ("matter_ref", models.CharField(max_length=100)),
                ("reason_ct", models.BinaryField()),
                ("reason_dek_id", models.BigIntegerField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("expires_at", models.DateTimeField()),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.RunPython(create_audit_tables, drop_audit_tables),
    ]
