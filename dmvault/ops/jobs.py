"""Background jobs fail without content.

When a django-q2 job raises, django-q2 keeps ``f"{exception} : {traceback}"`` as the task's
result: it stores it in ``django_q_task.result`` and logs it at ERROR. An exception raised
while parsing an export or building a production can quote what it failed on (a line of a
chat, a decrypted title), so that text must never get there. Two layers see to it:

1. ``contained_job(code, *id_names)`` wraps every job DMVault queues. Any exception becomes a
   ``JobFailed`` that names only a stable error code, the exception's type and the job's ids
   (``DMVJOB code=ingest.failed error=ValueError source=42``), raised ``from None`` so the
   original is not chained into the traceback django-q2 formats. The original is logged with
   ``exc_info``; DMVault's log formatters (``dmvault.ops.logging``) write its type and frames
   (file, line, function), never its message. The job's own status row (``Source.status`` and
   ``error``, ``ExportJob.status`` and ``error``) is written by the job itself, content-free.
2. ``scrub_failed_task``, connected to django-q2's ``post_execute_in_worker`` signal, runs in
   the worker after any job (also ones queued by hand, schedules, a function that failed to
   import) and before the result is saved or logged: a failure's result is cut down to the
   ``JobFailed`` line or django-q2's own timeout line when it has exactly that form (so only
   codes, type names and numbers survive), and otherwise replaced by a withheld notice. The
   traceback text is never kept.

Do not configure django-q2's ``error_reporter`` (Sentry, Rollbar): it is handed the live
exception, message included.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_CODE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,99}$")
# What may survive of a failed task's result: our own line, or django-q2's timeout line.
_SAFE_RESULT = re.compile(
    r"^(DMVJOB code=[a-z][a-z0-9_.]{0,63} error=[A-Za-z_][A-Za-z0-9_.]{0,99}(?: [a-z_]{1,30}=\d{1,20})*)"
    r"(?: : |$)"
)
_TIMEOUT = re.compile(r"^(Task exceeded maximum timeout value \(\d{1,9} seconds\))")


class JobFailed(Exception):
    """A job's failure, stated without content: code, exception type and integer ids."""

    def __init__(self, code: str, error: str, ids: dict[str, int]) -> None:
        self.code = code if _CODE.match(code) else "job.failed"
        self.error = error if _NAME.match(error) else "Exception"
        self.ids = {k: int(v) for k, v in ids.items() if re.fullmatch(r"[a-z_]{1,30}", k)}
        super().__init__(self.line())

    def line(self) -> str:
        ids = "".join(f" {k}={v}" for k, v in self.ids.items())
        return f"DMVJOB code={self.code} error={self.error}{ids}"


def contained_job(code: str, *id_names: str) -> Callable[[F], F]:
    """Wrap a job whose positional arguments are the ids named ``id_names``."""

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def job(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except JobFailed:
                raise
            except Exception as exc:
                ids = {n: a for n, a in zip(id_names, args, strict=False) if isinstance(a, int)}
                failure = JobFailed(code, type(exc).__name__, ids)
                # exc_info: the formatters keep the type and frames, never the message.
                log.error("%s", failure.line(), exc_info=True, extra={"code": failure.code})
                raise failure from None

        return job  # type: ignore[return-value]

    return wrap


def safe_result(result: Any) -> str:
    """A failed task's result reduced to what carries no content."""
    text = result if isinstance(result, str) else ""
    for pattern in (_SAFE_RESULT, _TIMEOUT):
        match = pattern.match(text)
        if match:
            return match.group(1)
    return "DMVJOB code=job.failed error=withheld (the job's error text is not kept)"


def scrub_failed_task(sender: Any, task: dict[str, Any], **kwargs: Any) -> None:
    """``post_execute_in_worker`` receiver: runs before django-q2 saves or logs the result."""
    if not task.get("success"):
        task["result"] = safe_result(task.get("result"))


def connect() -> None:
    from django_q.signals import post_execute_in_worker

    post_execute_in_worker.connect(scrub_failed_task, dispatch_uid="dmvault.ops.jobs.scrub")
