"""Redaction service: the engine (``compliance.redaction``) applied to the archive.

* :func:`redactor_for` builds a :class:`Redactor` for a policy, with the archive's participants'
  decrypted display names as known names (cached per process; rebuilt when the policy, the
  rules or the number of participants change).
* :func:`redact_for_viewer` applies the view policy of the viewer's role to opened messages.
  Tokenize mode at view time uses deterministic token ids (keyed HMAC of message id, field,
  start, end), so nothing is stored and :func:`reveal` recomputes the original from the
  decrypted message.
* :func:`reveal` (capability ``REVEAL_REDACTED``, plus a declared purpose for reviewing roles)
  returns an original; every call writes exactly one audit event (allowed, denied or not found).
* :func:`ingest_transform` gives the writer's ``transform_text`` hook for a source whose policy
  applies at ingest: irreversible, the original never reaches the database; tokenized
  originals are sealed in ``RedactionToken`` rows.
* :func:`redact_for_export` for productions (tokens become labels: nothing reversible leaves).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from django.db.models import Count, Max

from accounts.roles import REVIEWING_ROLES, Capability
from archive.models import Message, Participant, Source
from archive.reading import OpenedMessage, open_messages
from archive.vault import CiphertextInvalid, KeyDestroyed, Vault, get_vault
from compliance.audit import Event, record
from compliance.models import Outcome
from compliance.redaction import Redactor
from compliance.redaction.modes import LABEL, TOKENIZE, Policy, redact
from compliance.redaction.rules import RuleSet
from compliance.redaction_models import (
    VIEW_CLEAR,
    RedactionPolicy,
    RedactionRule,
    RedactionToken,
    SourceRedaction,
)

__all__ = [
    "IngestTransform",
    "PresentedMessage",
    "RevealDenied",
    "TokenNotFound",
    "Viewer",
    "ingest_transform",
    "redact_for_export",
    "redact_for_viewer",
    "redactor_for",
    "reveal",
    "view_policy",
]

PSEUDONYM_PURPOSE = b"redaction:pseudonym"
TOKEN_PURPOSE = b"redaction:view-token"
TOKEN_FIELD = "redaction.token"
TEXT_FIELD = "text"
REVEAL_ACTION = "redaction.reveal"


class RevealDenied(PermissionError):
    """The caller may not reveal (no REVEAL_REDACTED capability, or no declared purpose)."""


class TokenNotFound(LookupError):
    """No such token in this message (or its key has been destroyed)."""


class Viewer(NamedTuple):
    user: Any
    purpose: Any = None


@dataclass
class PresentedMessage(OpenedMessage):
    """An opened message as a given viewer may see it."""

    redacted: bool = False
    # {"field", "type", "mode", "start", "end", "token"}; offsets in the presented text
    redactions: list[dict[str, Any]] = field(default_factory=list)


# -- redactors ----------------------------------------------------------------------------------

_cache_lock = threading.Lock()
_cache: dict[int | None, tuple[tuple[Any, ...], Redactor]] = {}


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _known_names(vault: Vault) -> list[str]:
    rows = [r for r in Participant.objects.values_list("id", "dek_id", "identity_ct") if r[2]]
    keys = vault.data_keys_for_read(dek for _, dek, _ in rows)
    names: list[str] = []
    for pid, dek_id, ct in rows:
        try:
            identity = json.loads(Vault.open(keys.get(dek_id), dek_id, "participant.identity", pid, ct))
        except (KeyDestroyed, CiphertextInvalid, ValueError):
            continue
        name = identity.get("name") if isinstance(identity, dict) else None
        if isinstance(name, str) and len(name.strip()) >= 2:
            names.append(name.strip())
    return names


def _rules_for(policy: RedactionPolicy | None) -> list[RedactionRule]:
    qs = RedactionRule.objects.filter(enabled=True)
    if policy is not None and not policy.all_rules:
        qs = qs.filter(policies=policy)
    return list(qs.order_by("name"))


def _version(policy: RedactionPolicy | None) -> tuple[Any, ...]:
    rules = RedactionRule.objects.aggregate(n=Count("id"), t=Max("updated_at"))
    return (
        policy.pk if policy else None,
        policy.updated_at if policy else None,
        rules["n"],
        rules["t"],
        Participant.objects.count(),
    )


def _build(policy: RedactionPolicy | None, vault: Vault) -> Redactor:
    ruleset = RuleSet(
        rules=[r.to_custom_rule() for r in _rules_for(policy)],
        allow_list=tuple(policy.allow_list) if policy else (),
        disabled_types=tuple(policy.disabled_types) if policy else (),
    )
    return Redactor(
        region_hints=tuple(policy.region_hints) if policy else (),
        known_names=_known_names(vault),
        rules=ruleset,
    )


def redactor_for(policy: RedactionPolicy | None, *, vault: Vault | None = None) -> Redactor:
    """The policy's Redactor; cached per process until the policy, the rules or the number of
    participants change (one aggregate and one count query per call)."""
    version = _version(policy)
    key = policy.pk if policy else None
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    redactor = _build(policy, vault or get_vault())
    with _cache_lock:
        _cache[key] = (version, redactor)
    return redactor


def view_policy() -> RedactionPolicy | None:
    return RedactionPolicy.objects.filter(use_for_viewing=True).first()


def pseudonym_key(vault: Vault) -> bytes:
    """Archive-wide: the same value gets the same pseudonym in every message and conversation."""
    return vault.keyed_hash(PSEUDONYM_PURPOSE)


def view_token(vault: Vault, message_id: int, field_name: str, start: int, end: int) -> str:
    return vault.keyed_hash(TOKEN_PURPOSE, str(message_id), field_name, str(start), str(end)).hex()[:20]


# -- applying a policy to one text -------------------------------------------------------------


def _apply(
    text: str,
    redactor: Redactor,
    policy: Policy,
    token_for: Callable[[int, int], str] | None,
    field_name: str,
) -> tuple[str, list[dict[str, Any]], list[tuple[str, str, str]]]:
    """(redacted text, redactions, [(token id, type, original)] for tokenize mode)."""
    if not text:
        return text, [], []
    findings = redactor.detect(text)
    if not findings:
        return text, [], []
    result = redact(text, findings, policy)
    parts: list[str] = []
    reps: list[dict[str, Any]] = []
    tokens: list[tuple[str, str, str]] = []
    pos = out_len = 0
    for r in result.replacements:
        new, tok = r.replacement, None
        if r.mode == TOKENIZE:
            tok = token_for(r.start, r.end) if token_for is not None else (r.token_id or "")
            new = f"[TOK:{tok}]"
            tokens.append((tok, r.type, text[r.start : r.end]))
        parts.append(text[pos : r.start])
        out_len += r.start - pos
        reps.append(
            {
                "field": field_name,
                "type": r.type,
                "mode": r.mode,
                "start": out_len,
                "end": out_len + len(new),
                "token": tok,
            }
        )
        parts.append(new)
        out_len += len(new)
        pos = r.end
    parts.append(text[pos:])
    return "".join(parts), reps, tokens


def _present(m: OpenedMessage) -> PresentedMessage:
    values = {f.name: getattr(m, f.name) for f in fields(OpenedMessage)}
    values["reactions"] = list(m.reactions)
    values["previous_versions"] = list(m.previous_versions)
    return PresentedMessage(**values)


def _sees_clear(policy: RedactionPolicy, user: Any, purpose: Any) -> tuple[bool, dict[str, Any]]:
    cfg = policy.role_view(str(getattr(user, "role", "")))
    if cfg.get("view") == VIEW_CLEAR:
        return True, cfg
    matters = cfg.get("clear_for_matters") or []
    return (purpose is not None and getattr(purpose, "matter_ref", None) in matters), cfg


def redact_for_viewer(messages: list[OpenedMessage], user: Any, purpose: Any) -> list[PresentedMessage]:
    """The messages as this user (with this declared purpose) may see them.

    No view policy configured → unchanged. Otherwise the role's view settings decide: clear
    text, or the policy's modes (or the role's ``mode`` override) applied to the text and
    every earlier version.
    """
    presented = [_present(m) for m in messages]
    policy = view_policy()
    if policy is None:
        return presented
    clear, cfg = _sees_clear(policy, user, purpose)
    if clear:
        return presented
    vault = get_vault()
    redactor = redactor_for(policy, vault=vault)
    modes = policy.mode_policy(hmac_key=pseudonym_key(vault), mode_override=cfg.get("mode"))
    modes.token_id_factory = str  # ids are computed below, deterministically
    for p in presented:
        if p.erased:
            continue
        mid = p.id

        def token_for(field_name: str, mid: int = mid) -> Callable[[int, int], str]:
            return lambda s, e: view_token(vault, mid, field_name, s, e)

        p.text, reps, _ = _apply(p.text, redactor, modes, token_for(TEXT_FIELD), TEXT_FIELD)
        versions = []
        for i, version in enumerate(p.previous_versions):
            name = f"previous_versions.{i}"
            new, vreps, _ = _apply(version, redactor, modes, token_for(name), name)
            versions.append(new)
            reps.extend(vreps)
        p.previous_versions = versions
        p.redactions = reps
        p.redacted = bool(reps)
    return presented


# -- reveal ---------------------------------------------------------------------------------------


def _audit(user: Any, purpose: Any, message_id: int, token_id: str, outcome: str) -> None:
    record(
        Event(
            action=REVEAL_ACTION,
            outcome=outcome,
            actor_id=getattr(user, "pk", None),
            actor_name=user.get_username() if user is not None else "",
            role=str(getattr(user, "role", "")),
            auth_method="service",
            target_type="message",
            target_id=str(message_id),
            purpose_id=getattr(purpose, "pk", None),
            matter_ref=getattr(purpose, "matter_ref", "") or "",
            detail=f"token:{token_id[:40]}",
        )
    )


def may_reveal(user: Any, purpose: Any) -> bool:
    if user is None or not user.can(Capability.REVEAL_REDACTED):
        return False
    return user.role not in REVIEWING_ROLES or purpose is not None


def _stored_original(message: OpenedMessage, source_id: int, token_id: str, vault: Vault) -> str | None:
    row = RedactionToken.objects.filter(token_id=token_id, source_id=source_id).first()
    if row is None:
        return None
    marker = f"[TOK:{token_id}]"
    if marker not in message.text and not any(marker in v for v in message.previous_versions):
        return None
    try:
        return vault.open_field(row.dek_id, TOKEN_FIELD, row.id, bytes(row.original_ct)).decode()
    except KeyDestroyed:
        return None


def _view_original(message: OpenedMessage, token_id: str, vault: Vault) -> str | None:
    policy = view_policy()
    if policy is None:
        return None
    redactor = redactor_for(policy, vault=vault)
    texts = [(TEXT_FIELD, message.text)]
    texts += [(f"previous_versions.{i}", v) for i, v in enumerate(message.previous_versions)]
    for name, text in texts:
        for f in redactor.detect(text) if text else []:
            if secrets.compare_digest(view_token(vault, message.id, name, f.start, f.end), token_id):
                return text[f.start : f.end]
    return None


def reveal(user: Any, purpose: Any, message_id: int, token_id: str, *, audit: bool = True) -> str:
    """The original behind ``token_id`` in message ``message_id``.

    Raises :class:`RevealDenied` (→ 403) or :class:`TokenNotFound` (→ 404, also for a message
    outside the user's review scope, ``accounts.scope``). With ``audit`` (the
    default) each call writes exactly one audit event, whatever its outcome; the API view passes
    ``audit=False`` because its own per-request event is that one event.
    """
    if not may_reveal(user, purpose):
        if audit:
            _audit(user, purpose, message_id, token_id, Outcome.DENIED)
        raise RevealDenied("revealing redacted values needs the reveal capability and a declared purpose")
    from accounts.scope import scope_for

    vault = get_vault()
    # Outside the reader's review scope is "no such token", as for a message that does not exist.
    in_scope = Message.objects.filter(scope_for(user).message_q(), id=message_id).exists()
    opened = open_messages([message_id], vault=vault) if in_scope else []
    original: str | None = None
    if opened and not opened[0].erased and token_id:
        source_id = Message.objects.filter(id=message_id).values_list("source_id", flat=True).first()
        original = _stored_original(opened[0], source_id or 0, token_id, vault)
        if original is None:
            original = _view_original(opened[0], token_id, vault)
    if original is None:
        if audit:
            _audit(user, purpose, message_id, token_id, Outcome.NOT_FOUND)
        raise TokenNotFound("no such token in this message")
    if audit:
        _audit(user, purpose, message_id, token_id, Outcome.ALLOWED)
    return original


# -- ingest ---------------------------------------------------------------------------------------


class IngestTransform:
    """The writer's ``transform_text`` for one source: picklable (only ids travel), and it
    builds its redactor lazily in whichever process calls it."""

    def __init__(self, source_id: int, policy_id: int) -> None:
        self.source_id = source_id
        self.policy_id = policy_id
        self._state: tuple[Redactor, Policy, Vault] | None = None
        self._key: tuple[int, Any] | None = None

    def __getstate__(self) -> dict[str, int]:
        return {"source_id": self.source_id, "policy_id": self.policy_id}

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__init__(state["source_id"], state["policy_id"])  # type: ignore[misc]

    def _load(self) -> tuple[Redactor, Policy, Vault]:
        if self._state is None:
            vault = get_vault()
            policy = RedactionPolicy.objects.get(pk=self.policy_id)
            modes = policy.mode_policy(hmac_key=pseudonym_key(vault))
            modes.token_id_factory = lambda: secrets.token_hex(10)
            # A snapshot: participants added by this very import would otherwise rebuild it often.
            self._state = (_build(policy, vault), modes, vault)
        return self._state

    def _store(self, tokens: list[tuple[str, str, str]], vault: Vault) -> None:
        if self._key is None:
            self._key = vault.data_key(f"redaction:src:{self.source_id}")
        dek_id, key = self._key
        rows = []
        for token_id, type_, original in tokens:
            row = RedactionToken(token_id=token_id, source_id=self.source_id, type=type_, dek_id=dek_id)
            row.original_ct = Vault.seal(key, dek_id, TOKEN_FIELD, row.id, original.encode())
            rows.append(row)
        RedactionToken.objects.bulk_create(rows)

    def __call__(self, text: str) -> str:
        redactor, modes, vault = self._load()
        new, _, tokens = _apply(text, redactor, modes, None, TEXT_FIELD)
        if tokens:
            self._store(tokens, vault)
        return new


def ingest_transform(source: Source | int) -> IngestTransform | None:
    """The transform for this source, or None when its policy (if any) does not apply at ingest."""
    source_id = source if isinstance(source, int) else source.id
    chosen = SourceRedaction.objects.filter(source_id=source_id).select_related("policy").first()
    if chosen is None or not chosen.policy.apply_at_ingest:
        return None
    return IngestTransform(source_id, chosen.policy_id)


# -- export ---------------------------------------------------------------------------------------


def redact_for_export(text: str, policy: RedactionPolicy) -> str:
    """``text`` redacted under ``policy`` for a production. Tokenize becomes label: an export
    leaves the archive, so nothing reversible goes with it."""
    vault = get_vault()
    modes = policy.mode_policy(hmac_key=pseudonym_key(vault))
    if modes.default_mode == TOKENIZE:
        modes.default_mode = LABEL
    modes.per_type = {t: (LABEL if m == TOKENIZE else m) for t, m in modes.per_type.items()}
    new, _, _ = _apply(text, redactor_for(policy, vault=vault), modes, None, TEXT_FIELD)
    return new
