"""Structured logs: one JSON object per line, safe to ship to a log service.

DMVault code logs only ids, counts and codes (never message content or identities). This
formatter adds a second line of defence for what it cannot control:

* an exception is logged as its type and the traceback's frames (file, line, function),
  never its message, since exception messages can quote input (a bad export's text);
* only whitelisted ``extra`` fields are copied (ids, counts, durations, codes);
* the rendered message is cut to 1,000 characters.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from typing import Any

SAFE_EXTRA = frozenset(
    {
        "request_id",
        "route",
        "status_code",
        "method",
        "duration_ms",
        "task_id",
        "task_name",
        "source_id",
        "count",
        "code",
        "job",
    }
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message[:1000],
            "process": record.process,
        }
        for key in SAFE_EXTRA:
            value = record.__dict__.get(key)
            if isinstance(value, (str, int, float, bool)) or (value is None and key in record.__dict__):
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _, tb = record.exc_info
            entry["exception"] = {
                "type": f"{exc_type.__module__}.{exc_type.__qualname__}",
                "frames": [f"{f.filename}:{f.lineno}:{f.name}" for f in traceback.extract_tb(tb)][-15:],
            }
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """The human-readable format, with exceptions reduced to their type and frames: an exception
    message can quote what it failed on (a line of an export, a decrypted value), so it is never
    written, in development either."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatException(self, ei: Any) -> str:
        exc_type, _, tb = ei
        frames = "\n".join(f"  {f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(tb)[-15:])
        return f"{exc_type.__module__}.{exc_type.__qualname__} (message withheld)\n{frames}"
