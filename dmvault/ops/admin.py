"""django-q2's admin pages, narrowed.

django-q2 registers admin pages that can create a schedule for any importable function by name
and resubmit any past task. In DMVault that would let an admin run a retention run, an erasure
or an export outside the services that enforce holds, the two-person rule and the audit trail.
Here schedules can be re-timed or removed but not created, and their function and arguments
cannot be changed; past tasks can be read but not resubmitted. (Every admin request is audited
by ``dmvault.ops.admin_audit``.)
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django_q import admin as q_admin
from django_q.models import Failure, Schedule, Success

# What a schedule runs and with what: fixed once created (in code or a deployment step).
FIXED_SCHEDULE_FIELDS = ("func", "hook", "args", "kwargs", "intended_date_kwarg", "cluster")


class NarrowScheduleAdmin(q_admin.ScheduleAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        present = {f.name for f in Schedule._meta.get_fields()}
        return [
            *super().get_readonly_fields(request, obj),
            *(f for f in FIXED_SCHEDULE_FIELDS if f in present),
        ]


class ReadOnlySuccessAdmin(q_admin.TaskAdmin):
    actions: list[Any] = []


class ReadOnlyFailureAdmin(q_admin.FailAdmin):
    actions: list[Any] = []


for model, model_admin in (
    (Schedule, NarrowScheduleAdmin),
    (Success, ReadOnlySuccessAdmin),
    (Failure, ReadOnlyFailureAdmin),
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
