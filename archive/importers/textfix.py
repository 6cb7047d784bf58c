"""Repair of the Facebook/Instagram "mojibake" encoding.

Meta's JSON downloads write every non-ASCII character as one ``\\u00XX`` escape per UTF-8
byte, i.e. the UTF-8 bytes were decoded as Latin-1 before being serialised: "é" arrives as
``"\\u00c3\\u00a9"`` and 😂 as four escapes. The repair is the inverse: encode the string back
to Latin-1 (recovering the bytes) and decode those bytes as UTF-8.

The repair is only applied when it is unambiguous, so correct text is never damaged:

* pure-ASCII strings are returned unchanged (fast path, the vast majority);
* a string with any character above U+00FF (real emoji, CJK, Cyrillic…) cannot be mojibake —
  Latin-1 cannot encode it — and is returned unchanged;
* a string whose recovered bytes are not valid UTF-8 (e.g. a genuine "café" with a lone é)
  is returned unchanged.
"""

from __future__ import annotations

from typing import Any


def fix_mojibake(text: str) -> str:
    """Return ``text`` with Meta's Latin-1-over-UTF-8 double encoding undone, if present."""
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def fix_tree(value: Any) -> Any:
    """Apply :func:`fix_mojibake` to every string (values and keys) in a JSON-like value."""
    if isinstance(value, str):
        return fix_mojibake(value)
    if isinstance(value, list):
        return [fix_tree(v) for v in value]
    if isinstance(value, dict):
        return {fix_mojibake(k) if isinstance(k, str) else k: fix_tree(v) for k, v in value.items()}
    return value
