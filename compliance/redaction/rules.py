"""Admin-configured detection rules as pure dataclasses (Django models wrap these later).

A :class:`CustomRule` is a regex or a keyword list, optionally gated by context words within
a character window, with an allow list and test examples. :meth:`CustomRule.validate`
raises a clear ``ValueError`` naming the failing example. A :class:`RuleSet` bundles custom
rules, global allow lists and per-type on/off switches and is applied by the Redactor.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .findings import Finding

MAX_PATTERN_LEN = 2000
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*](?:[^()\\]|\\.)*\)[+*{]")


@dataclass
class CustomRule:
    name: str
    type: str
    regex: str | None = None
    keywords: Sequence[str] = ()
    context_words: Sequence[str] = ()
    context_window: int = 40
    allow: Sequence[str] = ()
    case_sensitive: bool = False
    confidence: float = 0.8
    examples_must_match: Sequence[str] = ()
    examples_must_not_match: Sequence[str] = ()
    enabled: bool = True
    _rx: re.Pattern | None = field(default=None, init=False, repr=False, compare=False)

    def compiled(self) -> re.Pattern:
        if self._rx is None:
            flags = 0 if self.case_sensitive else re.IGNORECASE
            if self.regex:
                if len(self.regex) > MAX_PATTERN_LEN:
                    raise ValueError(f"rule {self.name!r}: regex longer than {MAX_PATTERN_LEN} characters")
                if _NESTED_QUANTIFIER.search(self.regex):
                    raise ValueError(
                        f"rule {self.name!r}: nested quantifier (catastrophic backtracking risk)"
                    )
                try:
                    self._rx = re.compile(self.regex, flags)
                except re.error as exc:
                    raise ValueError(f"rule {self.name!r}: invalid regex: {exc}") from exc
            elif self.keywords:
                alts = "|".join(re.escape(k) for k in sorted(self.keywords, key=len, reverse=True) if k)
                self._rx = re.compile(r"(?<!\w)(?:" + alts + r")(?!\w)", flags)
            else:
                raise ValueError(f"rule {self.name!r}: needs a regex or keywords")
        return self._rx

    def find(self, text: str, lower: str | None = None) -> list[tuple[int, int]]:
        """Spans matched by this rule (the first capture group if the regex has one)."""
        if not self.enabled:
            return []
        rx = self.compiled()
        lower = text.lower() if lower is None else lower
        allow = set(self.allow) if self.case_sensitive else {a.lower() for a in self.allow}
        ctxw = [c.lower() for c in self.context_words]
        out = []
        for m in rx.finditer(text):
            s, e = m.span(1) if rx.groups and m.group(1) is not None else m.span()
            if s == e:
                continue
            if (text[s:e] if self.case_sensitive else text[s:e].lower()) in allow:
                continue
            if ctxw:
                window = lower[max(0, s - self.context_window) : min(len(text), e + self.context_window)]
                if not any(c in window for c in ctxw):
                    continue
            out.append((s, e))
        return out

    def validate(self) -> None:
        self.compiled()
        if not self.type or not self.type.replace("_", "").isalnum():
            raise ValueError(f"rule {self.name!r}: invalid type {self.type!r}")
        for ex in self.examples_must_match:
            if not self.find(ex):
                raise ValueError(f"rule {self.name!r}: example must match but does not: {ex!r}")
        for ex in self.examples_must_not_match:
            if self.find(ex):
                raise ValueError(f"rule {self.name!r}: example must not match but does: {ex!r}")


@dataclass
class RuleSet:
    rules: list[CustomRule] = field(default_factory=list)
    allow_list: Sequence[str] = ()  # exact values never redacted (e.g. the owner's own email)
    allow_patterns: Sequence[str] = ()  # regexes of values never redacted
    disabled_types: Iterable[str] = ()

    def __post_init__(self):
        self._allow = {a.lower() for a in self.allow_list}
        self._allow_rx = [re.compile(p, re.IGNORECASE) for p in self.allow_patterns]
        self._disabled = set(self.disabled_types)

    def validate(self) -> None:
        for r in self.rules:
            r.validate()

    def type_enabled(self, t: str) -> bool:
        return t not in self._disabled

    def is_allowed(self, value: str) -> bool:
        if value.lower() in self._allow:
            return True
        return any(rx.fullmatch(value) for rx in self._allow_rx)

    def apply(self, text: str, lower: str, findings: list[Finding]) -> list[Finding]:
        out = [
            f for f in findings if self.type_enabled(f.type) and not self.is_allowed(text[f.start : f.end])
        ]
        for r in self.rules:
            if not r.enabled or not self.type_enabled(r.type):
                continue
            for s, e in r.find(text, lower):
                if not self.is_allowed(text[s:e]):
                    out.append(Finding(s, e, r.type, "rule:" + r.name, r.confidence))
        return out
