"""A staging table beside each month's posting table (archive/index.py explains why)."""

from django.db import migrations


def create_staging_tables(apps, schema_editor):
    PostingPartition = apps.get_model("archive", "PostingPartition")
    with schema_editor.connection.cursor() as cur:
        for month in PostingPartition.objects.values_list("month", flat=True):
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS archive_posting_{int(month)}_staged "
                "(token BIGINT NOT NULL, message_id BIGINT NOT NULL)"
            )


class Migration(migrations.Migration):
    dependencies = [("archive", "0002_savedsearch")]

    operations = [migrations.RunPython(create_staging_tables, migrations.RunPython.noop)]
