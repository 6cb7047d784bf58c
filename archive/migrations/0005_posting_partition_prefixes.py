"""A per-month prefix-token flag, like ``pairs``. Months that exist already were built under
the setting as it is now (the best knowledge there is), so they take its current value."""

from django.conf import settings
from django.db import migrations, models


def flag_existing_months(apps, schema_editor):  # type: ignore[no-untyped-def]
    PostingPartition = apps.get_model("archive", "PostingPartition")
    if getattr(settings, "DMVAULT_INDEX_PREFIXES", False):
        PostingPartition.objects.update(prefixes=True)


class Migration(migrations.Migration):
    dependencies = [
        ("archive", "0004_posting_partition_pairs"),
    ]

    operations = [
        migrations.AddField(
            model_name="postingpartition",
            name="prefixes",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(flag_existing_months, migrations.RunPython.noop),
    ]
