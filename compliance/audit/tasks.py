"""django-q2 task: a signed checkpoint every minute.

Schedule it once (e.g. from a shell or a deployment step)::

    from django_q.models import Schedule
    Schedule.objects.get_or_create(
        func="compliance.audit.tasks.checkpoint",
        defaults={"schedule_type": Schedule.MINUTES, "minutes": 1, "name": "audit checkpoint"},
    )

Exporting each note off the host (WORM bucket, SIEM) is a deployment concern: set
``DMVAULT_AUDIT_EXPORT_PATH`` to a file a shipper tails, or call ``audit_checkpoint --export``.
"""

from __future__ import annotations

import os
from pathlib import Path

from compliance.audit.checkpoints import write_checkpoint
from dmvault.ops.jobs import contained_job


@contained_job("audit.checkpoint_failed")
def checkpoint() -> int:
    cp_id, note = write_checkpoint()
    export = os.environ.get("DMVAULT_AUDIT_EXPORT_PATH")
    if export:
        with Path(export).open("a", encoding="utf-8") as fh:
            fh.write(note + "\n")
    return cp_id
