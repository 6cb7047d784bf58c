"""Redaction modes applied to a text and its findings.

``redact(text, findings, policy) -> RedactionResult(text, replacements)``. Offsets are
Python code-point indices, so emoji and combining characters elsewhere in the text do not
shift anything; spans are applied right to left on the original string.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .findings import EMAIL, Finding, resolve_overlaps

LABEL = "label"
MASK = "mask"
PSEUDONYMIZE = "pseudonymize"
REMOVE = "remove"
TOKENIZE = "tokenize"
KEEP = "keep"
MODES = (LABEL, MASK, PSEUDONYMIZE, REMOVE, TOKENIZE, KEEP)


@dataclass
class Policy:
    default_mode: str = LABEL
    per_type: Mapping[str, str] = field(default_factory=dict)
    hmac_key: bytes | None = None  # required for pseudonymize
    pseudonym_hex_len: int = 8
    mask_char: str = "•"
    mask_keep_last: int = 4
    removal_text: str = ""
    token_id_factory: Callable[[], str] = field(default=lambda: secrets.token_hex(8))

    def mode_for(self, t: str) -> str:
        m = self.per_type.get(t, self.default_mode)
        if m not in MODES:
            raise ValueError(f"unknown redaction mode {m!r} for type {t}")
        return m


@dataclass(frozen=True)
class Replacement:
    start: int  # offsets in the ORIGINAL text
    end: int
    type: str
    mode: str
    replacement: str
    token_id: str | None = None
    original: str | None = None  # only for tokenize: the caller stores it encrypted


@dataclass
class RedactionResult:
    text: str
    replacements: list[Replacement]

    @property
    def tokens(self) -> list[tuple[str, str]]:
        """(token id, original) pairs for reversible tokenization."""
        # (tokenize always sets both; the check also narrows the optional types)
        return [
            (r.token_id, r.original)
            for r in self.replacements
            if r.token_id is not None and r.original is not None
        ]


def normalize_value(value: str, type_: str) -> str:
    v = unicodedata.normalize("NFKC", value).strip()
    if type_ == EMAIL:
        return v.lower()
    if type_ in ("PHONE", "CREDIT_CARD", "US_SSN", "IBAN", "NATIONAL_ID"):
        keep = "+" if v.startswith(("+", "00")) else ""
        body = re.sub(r"[^0-9A-Za-z]", "", v).upper()
        if keep and body.startswith("00"):
            body = body[2:]
        return keep + body
    if type_ in ("URL", "IP_ADDRESS"):
        return v.lower().rstrip("/")
    if type_ == "SECRET":
        return v
    return " ".join(v.casefold().split())


def pseudonym(value: str, type_: str, key: bytes, hex_len: int = 8) -> str:
    digest = hmac.new(
        key, (type_ + "\x00" + normalize_value(value, type_)).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    return f"[{type_}:{digest[:hex_len]}]"


def mask(value: str, keep_last: int = 4, char: str = "•") -> str:
    """Mask alphanumerics, keep separators and the last ``keep_last`` alphanumerics."""
    alnum_idx = [i for i, c in enumerate(value) if c.isalnum()]
    keep = set(alnum_idx[-keep_last:]) if keep_last > 0 and len(alnum_idx) > keep_last else set()
    return "".join(c if (not c.isalnum() or i in keep) else char for i, c in enumerate(value))


def redact(text: str, findings: Sequence[Finding], policy: Policy | None = None) -> RedactionResult:
    policy = policy or Policy()
    spans = resolve_overlaps(list(findings))
    reps: list[Replacement] = []
    for f in spans:
        if not (0 <= f.start < f.end <= len(text)):
            raise ValueError(f"finding out of range: {f.start}-{f.end} for text of length {len(text)}")
        mode = policy.mode_for(f.type)
        value = text[f.start : f.end]
        tok = orig = None
        if mode == KEEP:
            continue
        if mode == LABEL:
            new = f"[{f.type}]"
        elif mode == MASK:
            new = mask(value, policy.mask_keep_last, policy.mask_char)
        elif mode == REMOVE:
            new = policy.removal_text
        elif mode == PSEUDONYMIZE:
            if not policy.hmac_key:
                raise ValueError("pseudonymize needs policy.hmac_key")
            new = pseudonym(value, f.type, policy.hmac_key, policy.pseudonym_hex_len)
        else:  # TOKENIZE
            tok = policy.token_id_factory()
            orig = value
            new = f"[TOK:{tok}]"
        reps.append(Replacement(f.start, f.end, f.type, mode, new, tok, orig))
    parts = []
    pos = 0
    for r in reps:
        parts.append(text[pos : r.start])
        parts.append(r.replacement)
        pos = r.end
    parts.append(text[pos:])
    return RedactionResult("".join(parts), reps)
