"""Retention policies and their enforcement.

Scope
    A policy's scope fields are ANDed; a policy with none covers the whole archive. ``platform``,
    ``conversation_id``, ``label`` (a conversation label such as ``inbox``), ``participant_id``
    and ``subject_id`` (conversations the participant / any participant of the data subject takes
    part in) select conversations; ``source_id`` and ``account_owner_id`` (sources owned by that
    data subject) select sources. Messages matched by no policy are kept indefinitely.

Expiry
    A message expires under a policy at ``basis time + period_days``, the basis being the message
    time (``sent``) or the import time (``imported``). The action is ``delete`` (the message, its
    exact postings, its attachments and unreferenced blobs, and the message keys left protecting
    nothing) or ``redact`` (the text and earlier versions go through the redactor, attachments
    are deleted, the message stays).

Precedence when several policies match one message (exactly this, in this order)
    1. A message under an active legal hold is never touched (``compliance.holds``).
    2. If any matching policy has ``overrides`` set, the deciding policy is the overriding one
       with the highest ``priority``; ties go to the later expiry, then ``redact`` over
       ``delete``, then the lower policy id.
    3. Otherwise the **longest retention wins**: the deciding policy is the one whose expiry for
       that message is latest; ties go to the higher ``priority``, then ``redact`` over
       ``delete``, then the lower policy id.
    4. The deciding policy's action applies once its expiry has passed, but never before the
       latest expiry of any matching **locked** policy (compliance lock): ``overrides`` can
       shorten ordinary policies, never a lock. A message whose decision is blocked by a lock or
       a hold is reported in the plan, not touched.

Compliance lock (SEC 17a-4 / FINRA style)
    A locked policy can only be lengthened: its period cannot shrink, its scope, basis and action
    are frozen, it cannot be unlocked, deactivated or deleted (``RetentionPolicy.save``/``clean``
    and a ``pre_delete`` signal refuse, and ``change_policy`` checks again under a row lock).
    Content a lock covers cannot be deleted by anyone before the lock's period ends: retention
    skips it, ``erase_subject`` refuses, and ``compliance.holds.assert_deletable`` (manual
    deletion) raises ``Locked``.

Enforcement
    ``plan(now)`` computes exactly what would go. ``run(now)`` fixes ``as_of`` in a
    ``RetentionRun``, re-plans, and works through the planned ids in ascending order in batches,
    one transaction each, recording each batch's ids and moving the run's cursor in that same
    transaction; a crashed or interrupted run is continued by the next ``run`` (same ``as_of``),
    never restarted. Months whose every message goes are handled whole: rows are deleted without
    decrypting, then the month's posting partition is dropped and its message and index keys are
    shredded (``shred_month``). Each run ends with a signed deletion certificate and an audit event.

    Runs start from the daily django-q2 schedule (``scheduled_run``), the ``retention`` command,
    or the API/UI, which queue a ``RetentionJob`` (``compliance.retention_jobs``) that a worker
    carries out: the request returns at once with the job, whose status (queued, running, done,
    failed), counts, run and certificate the API reports.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from archive import index
from archive.ids import LOW_BITS, id_floor, id_time, month_of
from archive.models import Conversation, Message, Source
from archive.reading import OpenedMessage
from archive.vault import get_vault
from archive.vault.operations import shred_month
from compliance import certificates, purge
from compliance.engine_models import (
    LockViolation,
    RedactedMessage,
    RetentionBatch,
    RetentionPolicy,
    RetentionRun,
)
from compliance.holds import HoldChecker

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
_SCAN = 5000
_ACTION_RANK = {RetentionPolicy.Action.DELETE: 0, RetentionPolicy.Action.REDACT: 1}


class Locked(Exception):
    """An operation touched content under a compliance lock whose period has not ended."""

    def __init__(self, message_ids: Sequence[int]) -> None:
        self.message_ids = list(message_ids)
        super().__init__(f"{len(self.message_ids)} message(s) are under a compliance lock")


# --- policies -------------------------------------------------------------------------------------------

_EDITABLE = {
    "name",
    "platform",
    "source_id",
    "account_owner_id",
    "conversation_id",
    "label",
    "participant_id",
    "subject_id",
    "period_days",
    "basis",
    "action",
    "priority",
    "overrides",
    "locked",
    "active",
}


def create_policy(*, created_by: Any = None, **fields: Any) -> RetentionPolicy:
    unknown = set(fields) - _EDITABLE
    if unknown:
        raise ValueError(f"unknown policy fields: {', '.join(sorted(unknown))}")
    policy = RetentionPolicy(created_by=created_by, **fields)
    policy.full_clean()
    policy.save(force_insert=True)
    _audit("retention.policy.create", created_by, policy.id, f"{policy.period_days}d {policy.action}")
    return policy


def change_policy(policy_id: int, *, changed_by: Any = None, **changes: Any) -> RetentionPolicy:
    """Change a policy; a locked one only by lengthening it (raises ``LockViolation``)."""
    unknown = set(changes) - _EDITABLE
    if unknown:
        raise ValueError(f"unknown policy fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        policy = RetentionPolicy.objects.select_for_update().get(pk=policy_id)
        if policy.locked and "period_days" in changes and changes["period_days"] < policy.period_days:
            raise LockViolation(
                f"a locked policy can only be lengthened ({policy.period_days} d cannot become "
                f"{changes['period_days']} d)"
            )
        for name, value in changes.items():
            setattr(policy, name, value)
        policy.full_clean()
        policy.save()
        _audit("retention.policy.change", changed_by, policy.id, ",".join(sorted(changes))[:200])
    return policy


def _audit(action: str, actor: Any, target_id: Any, detail: str = "", count: int | None = None) -> None:
    from compliance.audit import record_service_event

    record_service_event(action, actor, "retention", target_id, detail=detail, count=count)


@dataclass
class _Compiled:
    policy: RetentionPolicy
    period_ms: int
    imported: bool
    conversations: set[int] | None
    sources: set[int] | None

    @property
    def id(self) -> int:
        return self.policy.id

    def matches(self, conv: int, source: int) -> bool:
        return (self.conversations is None or conv in self.conversations) and (
            self.sources is None or source in self.sources
        )


def _intersect(current: set[int] | None, new: Iterable[int]) -> set[int]:
    values = set(new)
    return values if current is None else current & values


def _compile(policies: Iterable[RetentionPolicy]) -> list[_Compiled]:
    out: list[_Compiled] = []
    labels: list[tuple[int, list[str]]] | None = None
    for p in policies:
        convs: set[int] | None = None
        sources: set[int] | None = None
        if p.platform:
            convs = _intersect(
                convs, Conversation.objects.filter(platform=p.platform).values_list("id", flat=True)
            )
        if p.conversation_id is not None:
            convs = _intersect(convs, [p.conversation_id])
        if p.label:
            if labels is None:
                labels = list(Conversation.objects.values_list("id", "labels"))
            convs = _intersect(convs, [cid for cid, ls in labels if p.label in (ls or [])])
        if p.participant_id is not None:
            convs = _intersect(
                convs, Conversation.objects.filter(participants=p.participant_id).values_list("id", flat=True)
            )
        if p.subject_id is not None:
            convs = _intersect(
                convs,
                Conversation.objects.filter(participants__subject_id=p.subject_id)
                .values_list("id", flat=True)
                .distinct(),
            )
        if p.source_id is not None:
            sources = _intersect(sources, [p.source_id])
        if p.account_owner_id is not None:
            sources = _intersect(
                sources, Source.objects.filter(owner_id=p.account_owner_id).values_list("id", flat=True)
            )
        out.append(
            _Compiled(p, p.period_days * DAY_MS, p.basis == RetentionPolicy.Basis.IMPORTED, convs, sources)
        )
    return out


def _decide(matching: list[_Compiled], sent_ms: int, imported_ms: int) -> tuple[_Compiled, int, int]:
    """(deciding policy, its expiry in ms, latest lock expiry in ms or -1): see the module docstring."""
    best: _Compiled | None = None
    best_key: tuple[Any, ...] = ()
    lock = -1
    overriding = any(c.policy.overrides for c in matching)
    best_expiry = 0
    for c in matching:
        expiry = (imported_ms if c.imported else sent_ms) + c.period_ms
        if c.policy.locked and expiry > lock:
            lock = expiry
        if overriding and not c.policy.overrides:
            continue
        rank = _ACTION_RANK[RetentionPolicy.Action(c.policy.action)]
        key = (
            (c.policy.priority, expiry, rank, -c.id)
            if overriding
            else (expiry, c.policy.priority, rank, -c.id)
        )
        if best is None or key > best_key:
            best, best_key, best_expiry = c, key, expiry
    assert best is not None
    return best, best_expiry, lock


# --- the plan -------------------------------------------------------------------------------------------


@dataclass
class Plan:
    as_of: datetime
    policy_id: int | None = None
    delete_ids: list[int] = field(default_factory=list)
    redact_ids: list[int] = field(default_factory=list)
    delete_policy: list[int] = field(default_factory=list)  # deciding policy, parallel to delete_ids
    redact_policy: list[int] = field(default_factory=list)  # parallel to redact_ids
    by_policy: dict[str, dict[str, int]] = field(default_factory=dict)
    by_platform: dict[str, int] = field(default_factory=dict)
    by_conversation: dict[str, int] = field(default_factory=dict)
    blocked_by_hold: int = 0
    blocked_by_hold_ids: list[int] = field(default_factory=list)
    blocked_by_lock: int = 0
    blocked_by_lock_ids: list[int] = field(default_factory=list)
    blocked_by_lock_policy: dict[str, int] = field(default_factory=dict)
    full_months: list[int] = field(default_factory=list)
    messages_scanned: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "policy_id": str(self.policy_id) if self.policy_id else None,
            "delete": len(self.delete_ids),
            "redact": len(self.redact_ids),
            "by_policy": self.by_policy,
            "by_platform": self.by_platform,
            "by_conversation": self.by_conversation,
            "blocked_by_hold": self.blocked_by_hold,
            "blocked_by_lock": self.blocked_by_lock,
            "blocked_by_lock_policy": self.blocked_by_lock_policy,
            "full_months": self.full_months,
            "messages_scanned": self.messages_scanned,
        }


def active_policies() -> list[RetentionPolicy]:
    return list(RetentionPolicy.objects.filter(active=True))


def plan(
    now: datetime | None = None,
    *,
    policy_id: int | None = None,
    after_id: int = -1,
    holds: HoldChecker | None = None,
) -> Plan:
    """Exactly what a run at ``now`` would delete and redact, and what holds and locks block."""
    now = now or timezone.now()
    result = Plan(as_of=now, policy_id=policy_id)
    compiled = _compile(active_policies())
    if not compiled:
        return result
    holds = holds if holds is not None else HoldChecker()
    now_ms = int(now.timestamp() * 1000)
    need_imported = any(c.imported for c in compiled)
    qs = Message.objects.filter(id__gt=after_id)
    if not need_imported:  # nothing sent after now - shortest period can have expired
        qs = qs.filter(id__lt=id_floor(now - timedelta(days=min(c.policy.period_days for c in compiled))))
    fields = ["id", "conversation_id", "source_id", "sender_id"] + (["imported_at"] if need_imported else [])
    platforms = dict(Conversation.objects.values_list("id", "platform"))
    matching_cache: dict[tuple[int, int], list[_Compiled]] = {}
    by_policy: dict[int, Counter[str]] = defaultdict(Counter)
    by_platform: Counter[str] = Counter()
    by_conv: Counter[int] = Counter()
    lock_policy: Counter[int] = Counter()
    locked_ids = [c for c in compiled if c.policy.locked]
    last = after_id
    while True:
        rows = list(qs.filter(id__gt=last).order_by("id").values_list(*fields)[:_SCAN])
        if not rows:
            break
        last = rows[-1][0]
        result.messages_scanned += len(rows)
        due: list[tuple[tuple[int, int, int, int | None], _Compiled]] = []
        for row in rows:
            mid, conv, source = row[0], row[1], row[2]
            key = (conv, source)
            matching = matching_cache.get(key)
            if matching is None:
                matching = matching_cache[key] = [c for c in compiled if c.matches(conv, source)]
            if not matching:
                continue
            sent_ms = mid >> LOW_BITS
            imported_ms = int(row[4].timestamp() * 1000) if need_imported else 0
            decider, expiry, lock = _decide(matching, sent_ms, imported_ms)
            if expiry > now_ms or (policy_id is not None and decider.id != policy_id):
                continue
            if lock > now_ms:
                result.blocked_by_lock += 1
                result.blocked_by_lock_ids.append(mid)
                for c in locked_ids:
                    if c in matching:
                        lock_policy[c.id] += 1
                continue
            due.append(((mid, conv, source, row[3]), decider))
        if not due:
            continue
        held = holds.held(r for r, _ in due)
        redacted: set[int] = set()
        if any(d.policy.action == RetentionPolicy.Action.REDACT for _, d in due):
            redacted = set(
                RedactedMessage.objects.filter(message_id__in=[r[0] for r, _ in due]).values_list(
                    "message_id", flat=True
                )
            )
        for r, decider in due:
            mid = r[0]
            if mid in held:
                result.blocked_by_hold += 1
                result.blocked_by_hold_ids.append(mid)
                continue
            if decider.policy.action == RetentionPolicy.Action.REDACT:
                if mid in redacted:
                    continue
                result.redact_ids.append(mid)
                result.redact_policy.append(decider.id)
                by_policy[decider.id]["redact"] += 1
            else:
                result.delete_ids.append(mid)
                result.delete_policy.append(decider.id)
                by_policy[decider.id]["delete"] += 1
            by_platform[platforms.get(r[1], "")] += 1
            by_conv[r[1]] += 1
    result.by_policy = {str(k): dict(v) for k, v in by_policy.items()}
    result.by_platform = dict(by_platform)
    result.by_conversation = {str(k): v for k, v in by_conv.items()}
    result.blocked_by_lock_policy = {str(k): v for k, v in lock_policy.items()}
    result.full_months = _full_months(result.delete_ids)
    return result


def _full_months(delete_ids: list[int]) -> list[int]:
    """Months every stored message of which is in ``delete_ids``."""
    planned: Counter[int] = Counter(month_of(mid) for mid in delete_ids)
    full = []
    for month, n in sorted(planned.items()):
        low, high = purge._month_range(month)
        if Message.objects.filter(id__gte=low, id__lt=high).count() == n:
            full.append(month)
    return full


def locked_until(message_ids: list[int]) -> dict[int, datetime]:
    """For each message under at least one locked policy: when its latest lock ends."""
    compiled = _compile(RetentionPolicy.objects.filter(active=True, locked=True))
    if not compiled:
        return {}
    need_imported = any(c.imported for c in compiled)
    out: dict[int, datetime] = {}
    for start in range(0, len(message_ids), 1000):
        fields = ["id", "conversation_id", "source_id"] + (["imported_at"] if need_imported else [])
        for row in Message.objects.filter(id__in=message_ids[start : start + 1000]).values_list(*fields):
            ends = [
                ((int(row[3].timestamp() * 1000) if c.imported else row[0] >> LOW_BITS) + c.period_ms)
                for c in compiled
                if c.matches(row[1], row[2])
            ]
            if ends:
                out[row[0]] = id_time(max(ends) << LOW_BITS)
    return out


# --- the run --------------------------------------------------------------------------------------------


def _redact_text(text: str, redactor: Any) -> str:
    from compliance.redaction import modes

    if not text:
        return text
    finder = getattr(redactor, "find", None) or redactor.detect
    return modes.redact(text, finder(text), modes.Policy(default_mode=modes.LABEL)).text


def redactor_change(redactor: Any = None) -> Any:
    """The rewrite a redact-and-keep policy applies: text and earlier versions through the redactor."""
    if redactor is None:
        from compliance.redaction import Redactor

        redactor = Redactor()

    def change(msg: OpenedMessage) -> OpenedMessage | None:
        text = _redact_text(msg.text, redactor)
        versions = [_redact_text(v, redactor) for v in msg.previous_versions]
        if text == msg.text and versions == msg.previous_versions:
            return None
        msg.text, msg.previous_versions = text, versions
        return msg

    return change


@dataclass
class RunResult:
    run: RetentionRun | None
    plan: Plan
    counts: dict[str, int] = field(default_factory=dict)
    certificate: Any = None
    resumed: bool = False


def run(
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    batch: int = 1000,
    policy_id: int | None = None,
    actor: Any = None,
    stop_after_batches: int | None = None,
    on_start: Callable[[RetentionRun], None] | None = None,
) -> RunResult:
    """Enforce retention (see the module docstring). ``stop_after_batches`` leaves the run
    unfinished on purpose (tests of resumption); ``on_start`` is told the run row once it exists
    (a queued job records which run it drives)."""
    if dry_run:
        return RunResult(None, plan(now, policy_id=policy_id))
    existing = RetentionRun.objects.filter(state=RetentionRun.State.RUNNING, policy_id=policy_id).first()
    resumed = existing is not None
    if existing is None:
        as_of = now or timezone.now()
        the_plan = plan(as_of, policy_id=policy_id)
        with transaction.atomic():
            run_row = RetentionRun.objects.create(
                as_of=as_of, policy_id=policy_id, planned=the_plan.summary()
            )
            _audit("retention.run.start", actor, run_row.id, f"planned {len(the_plan.delete_ids)} deletions")
    else:
        run_row = existing
        the_plan = plan(run_row.as_of, policy_id=policy_id, after_id=run_row.cursor)
    if on_start is not None:
        on_start(run_row)
    try:
        return _execute(
            run_row, the_plan, batch=batch, actor=actor, resumed=resumed, stop_after=stop_after_batches
        )
    except Exception as exc:
        RetentionRun.objects.filter(id=run_row.id).update(error=f"{type(exc).__name__}"[:300])
        raise


def _execute(
    run_row: RetentionRun, the_plan: Plan, *, batch: int, actor: Any, resumed: bool, stop_after: int | None
) -> RunResult:
    from compliance.engine_models import Hold

    vault = get_vault()
    full = set(the_plan.full_months) | set(run_row.planned.get("full_months", []))
    items = sorted(
        [(mid, "delete") for mid in the_plan.delete_ids] + [(mid, "redact") for mid in the_plan.redact_ids]
    )
    decider_of = dict(zip(the_plan.delete_ids, the_plan.delete_policy, strict=True))
    decider_of.update(zip(the_plan.redact_ids, the_plan.redact_policy, strict=True))
    change = redactor_change() if the_plan.redact_ids else None
    counts = Counter({k: int(v) for k, v in (run_row.counts or {}).items()})
    seq = RetentionBatch.objects.filter(run=run_row).count()
    active_holds = set(Hold.objects.filter(active=True).values_list("id", flat=True))
    holds = HoldChecker()
    touched: set[int] = set()
    for done_batches, start in enumerate(range(0, len(items), batch)):
        if stop_after is not None and done_batches >= stop_after:
            return RunResult(run_row, the_plan, dict(counts), None, resumed)
        chunk = items[start : start + batch]
        now_holds = set(Hold.objects.filter(active=True).values_list("id", flat=True))
        if now_holds != active_holds:  # a hold placed or released since the plan: re-check
            active_holds, holds = now_holds, HoldChecker()
        held = is_held_rows(holds, [mid for mid, _ in chunk])
        deletes = [mid for mid, a in chunk if a == "delete" and mid not in held]
        redacts = [mid for mid, a in chunk if a == "redact" and mid not in held]
        counts["skipped_newly_held"] += len(chunk) - len(deletes) - len(redacts)
        with transaction.atomic():
            if deletes:
                in_full = [m for m in deletes if month_of(m) in full]
                partial = [m for m in deletes if month_of(m) not in full]
                result = purge.PurgeCounts()
                if in_full:  # the partition and the month's keys go whole at the end
                    result.add(purge.delete_messages(in_full, postings=False, shred_keys=False, vault=vault))
                if partial:
                    result.add(purge.delete_messages(partial, postings=True, vault=vault))
                touched |= result.conversations
                for k, v in result.as_dict().items():
                    counts[k] += v
                seq += 1
                RetentionBatch.objects.create(
                    run=run_row,
                    seq=seq,
                    action="delete",
                    ids=certificates.pack_ids(deletes),
                    count=len(deletes),
                    by_policy=dict(Counter(str(decider_of[m]) for m in deletes)),
                )
            if redacts:
                assert change is not None
                result = purge.rewrite_messages(redacts, change, drop_attachments=True, vault=vault)
                touched |= result.conversations
                counts["redacted"] += len(redacts)
                counts["attachments"] += result.attachments
                counts["blobs"] += result.blobs
                RedactedMessage.objects.bulk_create(
                    [
                        RedactedMessage(message_id=m, reason="retention", policy_id=decider_of[m])
                        for m in redacts
                    ],
                    ignore_conflicts=True,
                )
                seq += 1
                RetentionBatch.objects.create(
                    run=run_row,
                    seq=seq,
                    action="redact",
                    ids=certificates.pack_ids(redacts),
                    count=len(redacts),
                    by_policy=dict(Counter(str(decider_of[m]) for m in redacts)),
                )
            RetentionRun.objects.filter(id=run_row.id).update(cursor=chunk[-1][0], counts=dict(counts))
    # Whole months: the partition and the month's keys go at once.
    for month in sorted(full):
        low, high = purge._month_range(month)
        if Message.objects.filter(id__gte=low, id__lt=high).exists():
            continue  # something arrived since (a late import): keep the month's keys
        with transaction.atomic():
            report = shred_month(month)
            index.drop_partition(month)
        counts["data_keys"] += report.data_keys
        counts["months_dropped"] += 1
    purge.refresh_conversations(touched)
    return _finish(run_row, the_plan, dict(counts), actor, resumed)


def is_held_rows(holds: HoldChecker, ids: list[int]) -> set[int]:
    if not holds:
        return set()
    from compliance.holds import message_rows

    return holds.held(message_rows(ids))


def _finish(
    run_row: RetentionRun, the_plan: Plan, counts: dict[str, int], actor: Any, resumed: bool
) -> RunResult:
    deleted: list[int] = []
    redacted: list[int] = []
    by_policy: dict[str, Counter[str]] = defaultdict(Counter)
    for b in RetentionBatch.objects.filter(run=run_row).order_by("seq"):
        raw = bytes(b.ids)
        ids = [int.from_bytes(raw[i : i + 8], "big", signed=True) for i in range(0, len(raw), 8)]
        (deleted if b.action == "delete" else redacted).extend(ids)
        for pid, n in (b.by_policy or {}).items():
            by_policy[pid][b.action] += n
    deleted.sort()
    redacted.sort()
    policy_ids = [int(p) for p in by_policy] or ([run_row.policy_id] if run_row.policy_id else [])
    policies = [
        {
            "id": str(p.id),
            "name": p.name,
            "period_days": p.period_days,
            "basis": p.basis,
            "action": p.action,
            "locked": p.locked,
            "overrides": p.overrides,
            "priority": p.priority,
        }
        for p in RetentionPolicy.objects.filter(id__in=policy_ids).order_by("id")
    ]
    all_ids = deleted + redacted
    body = {
        "run_id": str(run_row.id),
        "as_of": run_row.as_of.isoformat(),
        "policy_filter": str(run_row.policy_id) if run_row.policy_id else None,
        "policies": policies,
        "ranges": {
            "first_id": str(min(all_ids)) if all_ids else None,
            "last_id": str(max(all_ids)) if all_ids else None,
            "first_time": id_time(min(all_ids)).isoformat() if all_ids else None,
            "last_time": id_time(max(all_ids)).isoformat() if all_ids else None,
            "months_dropped": [m for m in run_row.planned.get("full_months", [])],
        },
        "counts": {
            "messages_deleted": len(deleted),
            "messages_redacted": len(redacted),
            "by_policy": {k: dict(v) for k, v in by_policy.items()},
            **{k: v for k, v in counts.items() if k != "messages"},
        },
        "blocked": {"by_hold": the_plan.blocked_by_hold, "by_lock": the_plan.blocked_by_lock},
        "deleted_ids_sha256": certificates.ids_sha256(deleted),
        "redacted_ids_sha256": certificates.ids_sha256(redacted),
    }
    with transaction.atomic():
        cert = certificates.issue("retention", body)
        RetentionRun.objects.filter(id=run_row.id).update(
            state=RetentionRun.State.DONE,
            finished_at=timezone.now(),
            counts=counts,
            certificate=cert,
        )
        _audit(
            "retention.run",
            actor,
            run_row.id,
            f"certificate {cert.id}; deleted {len(deleted)}, redacted {len(redacted)}",
            count=len(deleted) + len(redacted),
        )
    run_row.refresh_from_db()
    return RunResult(run_row, the_plan, counts, cert, resumed)


def scheduled_run() -> dict[str, Any]:
    """The daily django-q2 task (``compliance.retention.scheduled_run``)."""
    result = run(timezone.now())
    return {"run": str(result.run.id) if result.run else None, **result.counts}
