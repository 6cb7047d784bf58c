"""Neither log format writes an exception's message: it can quote what failed (a line of an
export, a decrypted value). The type and the frames are kept, so the log still says where."""

from __future__ import annotations

import json
import logging

from dmvault.ops.logging import JsonFormatter, PlainFormatter

SECRET = "Zanzibarquokka meets at the lighthouse"


def _record_with_exception() -> logging.LogRecord:
    try:
        raise ValueError(f"could not parse {SECRET!r}")
    except ValueError:
        import sys

        return logging.LogRecord(
            "dmvault.test", logging.ERROR, __file__, 1, "ingest of source %s failed", (42,), sys.exc_info()
        )


def test_the_plain_format_keeps_type_and_frames_but_not_the_message() -> None:
    line = PlainFormatter().format(_record_with_exception())
    assert "ingest of source 42 failed" in line
    assert "builtins.ValueError (message withheld)" in line
    assert "_record_with_exception" in line
    assert "Zanzibarquokka" not in line


def test_the_json_format_keeps_type_and_frames_but_not_the_message() -> None:
    entry = json.loads(JsonFormatter().format(_record_with_exception()))
    assert entry["exception"]["type"] == "builtins.ValueError"
    assert "Zanzibarquokka" not in json.dumps(entry)
