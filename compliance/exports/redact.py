"""An export's redaction policy, applied once where content leaves the archive, so every format
sees the same redacted view (message text, earlier versions, share links, conversation titles,
participant names and handles, attachment names).

Detection is ``compliance.redaction.Redactor``; replacement is ``compliance.redaction.modes``.
The policy is plain JSON on the job::

    {"enabled": true,                    # off: nothing is changed
     "types": ["EMAIL", "PHONE", ...],   # detector types (default: all)
     "mode": "label",                    # label | mask | pseudonymize | remove | keep
     "per_type": {"EMAIL": "mask"},
     "participant_names": "pseudonymize",# keep | pseudonymize ("Participant 3") | label ("[PERSON]")
     "attachment_names": "redact",       # keep | redact (detectors + names) | remove ("attachment-<id>")
     "attachment_bytes": true}           # false: names and sizes only, no files

Pseudonyms are keyed with a random key made for this production, so they are stable within it
and cannot be linked across productions.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from compliance.redaction import Redactor
from compliance.redaction.findings import PERSON
from compliance.redaction.modes import MODES, Policy, redact

NAME_MODES = ("keep", "pseudonymize", "label")
ATTACHMENT_NAME_MODES = ("keep", "redact", "remove")


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class ExportPolicy:
    enabled: bool = False
    types: tuple[str, ...] | None = None
    mode: str = "label"
    per_type: dict[str, str] = field(default_factory=dict)
    participant_names: str = "keep"
    attachment_names: str = "keep"
    attachment_bytes: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ExportPolicy:
        data = dict(data or {})
        unknown = set(data) - {
            "enabled",
            "types",
            "mode",
            "per_type",
            "participant_names",
            "attachment_names",
            "attachment_bytes",
        }
        if unknown:
            raise PolicyError(f"unknown redaction settings: {', '.join(sorted(unknown))}")
        policy = cls(
            enabled=bool(data.get("enabled", False)),
            types=tuple(data["types"]) if data.get("types") is not None else None,
            mode=str(data.get("mode", "label")),
            per_type=dict(data.get("per_type") or {}),
            participant_names=str(data.get("participant_names", "keep")),
            attachment_names=str(data.get("attachment_names", "keep")),
            attachment_bytes=bool(data.get("attachment_bytes", True)),
        )
        if policy.mode not in MODES or any(m not in MODES for m in policy.per_type.values()):
            raise PolicyError(f"redaction modes are {', '.join(MODES)}")
        if policy.mode == "tokenize" or "tokenize" in policy.per_type.values():
            raise PolicyError("tokenize is not available for exports (the tokens would leave the archive)")
        if policy.participant_names not in NAME_MODES:
            raise PolicyError(f"participant_names is one of {', '.join(NAME_MODES)}")
        if policy.attachment_names not in ATTACHMENT_NAME_MODES:
            raise PolicyError(f"attachment_names is one of {', '.join(ATTACHMENT_NAME_MODES)}")
        return policy

    def as_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "types": list(self.types) if self.types is not None else None,
            "mode": self.mode,
            "per_type": dict(self.per_type),
            "participant_names": self.participant_names,
            "attachment_names": self.attachment_names,
            "attachment_bytes": self.attachment_bytes,
        }


class ExportRedactor:
    """Applies an ``ExportPolicy``. ``for_conversation`` gives the names of that conversation's
    people to the detector, so a participant named in a message is caught too."""

    def __init__(self, policy: ExportPolicy) -> None:
        self.policy = policy
        self._modes = Policy(
            default_mode=policy.mode, per_type=policy.per_type, hmac_key=secrets.token_bytes(32)
        )
        self._pseudonyms: dict[int, int] = {}
        self._redactor: Redactor | None = None
        self._names_key: tuple[str, ...] | None = None

    @property
    def active(self) -> bool:
        return self.policy.enabled

    def for_conversation(self, names: list[str]) -> None:
        if not self.policy.enabled:
            return
        known = tuple(sorted({n for n in names if n and len(n.strip()) >= 2}))
        if self._redactor is not None and known == self._names_key:
            return
        enabled = set(self.policy.types) if self.policy.types is not None else None
        use_names = enabled is None or PERSON in enabled
        self._redactor = Redactor(known_names=known if use_names else (), enabled=enabled)
        self._names_key = known

    def text(self, value: str) -> str:
        if not self.policy.enabled or not value:
            return value
        if self._redactor is None:
            self.for_conversation([])
        assert self._redactor is not None
        findings = self._redactor.detect(value)
        if not findings:
            return value
        return redact(value, findings, self._modes).text

    def _number(self, participant_id: int) -> int:
        n = self._pseudonyms.get(participant_id)
        if n is None:
            n = self._pseudonyms[participant_id] = len(self._pseudonyms) + 1
        return n

    def participant(
        self, participant_id: int, platform_id: str, name: str, handle: str
    ) -> tuple[str, str, str]:
        """(platform id, display name, handle) as the production shows them."""
        mode = self.policy.participant_names if self.policy.enabled else "keep"
        if mode == "keep":
            return platform_id, name, handle
        if mode == "label":
            return f"person-{self._number(participant_id)}", "[PERSON]", ""
        n = self._number(participant_id)
        return f"participant-{n}", f"Participant {n}", f"participant{n}"

    def attachment_name(self, attachment_id: int, name: str) -> str:
        mode = self.policy.attachment_names if self.policy.enabled else "keep"
        if mode == "keep" or not name:
            return name
        suffix = PurePosixPath(name).suffix[:10]
        if mode == "remove":
            return f"attachment-{attachment_id}{suffix}"
        stem = name[: -len(suffix)] if suffix else name
        # Separators hide names from the word-boundary matchers: compare on spaced-out words.
        spaced = stem.replace("_", " ").replace("-", " ").replace(".", " ")
        redacted = self.text(spaced)
        return (stem if redacted == spaced else redacted) + suffix
