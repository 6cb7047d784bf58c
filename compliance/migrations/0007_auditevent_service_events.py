"""``AuditEvent.service_events``: the service events folded into a request's one event.

The audit tables are unmanaged (see ``0001``), so ``AddField`` only records the field in the
migration state and the column is added here through the schema editor. The column is nullable
with no default, which both databases add in place (``ALTER TABLE … ADD COLUMN``): the table is
never rebuilt, its rows are never copied and its append-only triggers stay as they are. Existing
events keep NULL, which the chain does not hash (``compliance.audit.chain.OPTIONAL_FIELDS``), so
their leaf hashes and every checkpoint stay valid.
"""

from django.db import migrations, models


def _field() -> models.Field:
    field = models.TextField(null=True)
    field.set_attributes_from_name("service_events")
    return field


def add_column(apps, schema_editor):
    schema_editor.add_field(apps.get_model("compliance", "AuditEvent"), _field())


def drop_column(apps, schema_editor):
    schema_editor.remove_field(apps.get_model("compliance", "AuditEvent"), _field())


class Migration(migrations.Migration):
    dependencies = [("compliance", "0006_erasure_tombstones_retention_jobs")]

    operations = [
        migrations.AddField(
            model_name="auditevent", name="service_events", field=models.TextField(null=True)
        ),
        migrations.RunPython(add_column, drop_column),
    ]
