"""Retention: plan = run, precedence, holds, locks, resumption, certificates, whole months."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.core.management import call_command
from django.db import connection, transaction

from archive import index
from archive.models import Blob, DataKey, IndexKey, Message
from archive.reading import open_messages
from archive.search.engine import find_ids
from compliance import certificates, holds, retention
from compliance.engine_models import LockViolation, RetentionPolicy, RetentionRun

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _postings_of(mid: int) -> int:
    from archive.ids import month_of

    month = month_of(mid)
    if month not in index.existing_months():
        return 0
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {index.table(month)} WHERE message_id = %s", [mid])
        return int(cur.fetchone()[0])


def test_the_run_deletes_exactly_what_the_dry_run_announced(
    world, django_capture_on_commit_callbacks
) -> None:
    policy = retention.create_policy(name="one year", period_days=365)
    before = world.ids()
    blob = Blob.objects.get()
    planned = retention.run(NOW, dry_run=True).plan
    assert planned.by_policy == {str(policy.id): {"delete": 5}}
    assert planned.by_platform == {"whatsapp": 3, "slack": 2}
    assert planned.by_conversation == {str(world.whatsapp): 3, str(world.slack): 2}
    assert Message.objects.count() == len(before)  # the dry run changed nothing

    with django_capture_on_commit_callbacks(execute=True):
        result = retention.run(NOW)
    remaining = world.ids()
    assert sorted(set(before) - set(remaining)) == sorted(planned.delete_ids)
    assert result.counts["messages"] == 5
    # whole months 2023-01 and 2023-02 went at once: partitions, index keys and message keys
    assert sorted(planned.full_months) == [202301, 202302]
    assert not {202301, 202302} & index.existing_months()
    assert not IndexKey.objects.filter(month__in=[202301, 202302]).exists()
    assert not DataKey.objects.filter(month__in=[202301, 202302]).exists()
    # the attachment's blob: row, key and file
    assert not Blob.objects.exists()
    assert not DataKey.objects.filter(id=blob.dek_id).exists()
    assert not storages["blobs"].exists(blob.storage_name)
    assert find_ids(["zanzibarquokka"], limit=10) == [
        m for m in remaining if m in find_ids(["zanzibarquokka"], limit=10)
    ]
    assert all(not m.erased for m in open_messages(remaining))
    # the certificate: signed, with the hash of exactly the deleted ids
    cert = result.certificate
    assert certificates.verify_certificate(cert)
    body = certificates.body_of(cert)
    assert body["deleted_ids_sha256"] == certificates.ids_sha256(planned.delete_ids)
    assert body["counts"]["messages_deleted"] == 5
    assert result.run.state == RetentionRun.State.DONE
    # a second run finds nothing more
    assert retention.run(NOW, dry_run=True).plan.delete_ids == []


def test_a_partial_month_loses_exactly_its_postings(world) -> None:
    retention.create_policy(name="slack", platform="slack", period_days=365)
    plan = retention.plan(NOW)
    assert len(plan.delete_ids) == 2 and plan.full_months == []  # 2023-02 keeps a WhatsApp message
    kept = [m for m in world.ids(world.whatsapp) if m not in plan.delete_ids]
    before = {m: _postings_of(m) for m in kept}
    assert all(_postings_of(m) > 0 for m in plan.delete_ids)
    retention.run(NOW)
    assert all(_postings_of(m) == 0 for m in plan.delete_ids)
    assert {m: _postings_of(m) for m in kept} == before
    assert find_ids(["ferry", "tickets"], limit=5)  # the kept February message is still found
    assert find_ids(["slackers"], limit=5) == []
    assert 202302 in index.existing_months()


def test_holds_block_retention_and_release_deletes_nothing(world) -> None:
    retention.create_policy(name="one year", period_days=365)
    matter = holds.create_matter(
        name="Ferry case", reference="M-1", owner=world.lawyer, conversations=[world.whatsapp]
    )
    hold = holds.place_hold(matter, world.lawyer)
    plan = retention.plan(NOW)
    assert plan.blocked_by_hold == 3 and len(plan.delete_ids) == 2
    retention.run(NOW)
    assert len(world.ids(world.whatsapp)) == 5  # nothing held went
    with pytest.raises(holds.Held, match="M-1"):
        holds.assert_deletable(world.ids(world.whatsapp))
    count = Message.objects.count()
    holds.release_hold(hold, world.lawyer)
    assert Message.objects.count() == count  # releasing deletes nothing by itself
    retention.run(NOW)
    assert len(world.ids(world.whatsapp)) == 2


def test_hold_scopes_custodians_dates_and_queries(world) -> None:
    by_custodian = holds.create_matter(
        name="a", reference="C-1", owner=world.lawyer, custodians=[world.bob.id]
    )
    holds.place_hold(by_custodian, world.lawyer)
    held = holds.is_held(world.ids())
    assert held == set(world.ids(world.whatsapp))  # Bob's conversation, not Slack
    dated = holds.create_matter(
        name="b",
        reference="D-1",
        owner=world.lawyer,
        date_ranges=[(datetime(2023, 2, 1, tzinfo=UTC), datetime(2023, 3, 1, tzinfo=UTC))],
    )
    holds.place_hold(dated, world.lawyer)
    slack_feb = [m for m in world.ids(world.slack) if m < world.ids(world.slack)[-1]]
    assert set(slack_feb) <= holds.is_held(world.ids())
    query = holds.create_matter(name="c", reference="Q-1", owner=world.lawyer, query="pomegranate")
    holds.place_hold(query, world.lawyer)
    assert set(world.ids(world.slack)) <= holds.is_held(world.ids())


def test_overlapping_policies_longest_wins_unless_overrides(world) -> None:
    short = retention.create_policy(name="short", period_days=30)
    long = retention.create_policy(name="ten years", platform="whatsapp", period_days=3650)
    plan = retention.plan(NOW)
    assert set(plan.delete_ids) == set(world.ids(world.slack))  # 2 old + the April one
    assert plan.by_policy == {str(short.id): {"delete": 3}}
    assert not set(plan.delete_ids) & set(world.ids(world.whatsapp))  # the longer policy wins
    retention.change_policy(short.id, overrides=True, priority=5)
    plan = retention.plan(NOW)
    assert set(world.ids(world.whatsapp)) <= set(plan.delete_ids)  # an override decides
    retention.change_policy(long.id, priority=10, overrides=True)
    plan = retention.plan(NOW)
    assert not set(plan.delete_ids) & set(world.ids(world.whatsapp))  # higher-priority override


def test_redact_and_keep(world) -> None:
    retention.create_policy(name="redact", platform="whatsapp", period_days=30, action="redact")
    plan = retention.plan(NOW)
    assert len(plan.redact_ids) == 5 and plan.delete_ids == []
    retention.run(NOW)
    assert len(world.ids(world.whatsapp)) == 5
    texts = {m.id: m.text for m in open_messages(world.ids(world.whatsapp))}
    assert not any("5550123" in t for t in texts.values())
    assert find_ids(["5550123"], limit=5) == []
    assert not Blob.objects.exists()
    assert retention.plan(NOW).redact_ids == []  # done once


def test_a_lock_blocks_even_an_overriding_policy(world) -> None:
    retention.create_policy(name="finra", platform="whatsapp", period_days=3650, locked=True)
    retention.create_policy(name="purge", period_days=30, overrides=True, priority=100)
    plan = retention.plan(NOW)
    assert plan.blocked_by_lock == 5
    assert not set(plan.delete_ids) & set(world.ids(world.whatsapp))
    retention.run(NOW)
    assert len(world.ids(world.whatsapp)) == 5
    with pytest.raises(retention.Locked):
        holds.assert_deletable(world.ids(world.whatsapp))


def test_a_locked_policy_can_only_be_lengthened(world) -> None:
    policy = retention.create_policy(name="finra", period_days=2555, locked=True)
    with pytest.raises(LockViolation, match="only be lengthened"):
        retention.change_policy(policy.id, period_days=30)
    policy.refresh_from_db()
    policy.period_days = 100
    with pytest.raises(LockViolation):
        policy.save()
    with pytest.raises(ValidationError, match="only be lengthened"):
        policy.full_clean()
    for change in ({"locked": False}, {"active": False}, {"platform": "slack"}, {"action": "redact"}):
        with pytest.raises(ValidationError):
            retention.change_policy(policy.id, **change)
    with pytest.raises(LockViolation), transaction.atomic():
        RetentionPolicy.objects.filter(id=policy.id).delete()
    retention.change_policy(policy.id, period_days=3650)
    policy.refresh_from_db()
    assert policy.period_days == 3650 and policy.locked


def test_an_interrupted_run_is_continued_not_restarted(world) -> None:
    retention.create_policy(name="one year", period_days=365)
    planned = retention.plan(NOW).delete_ids
    first = retention.run(NOW, batch=2, stop_after_batches=1)
    assert first.run.state == RetentionRun.State.RUNNING and first.certificate is None
    assert Message.objects.count() == len(world.ids()) and len(planned) - 2 == len(
        set(planned) & set(world.ids())
    )
    second = retention.run(datetime(2030, 1, 1, tzinfo=UTC), batch=2)  # as_of stays the run's own
    assert second.resumed and second.run.id == first.run.id
    assert second.run.as_of == NOW
    assert not set(planned) & set(world.ids())
    body = certificates.body_of(second.certificate)
    assert body["deleted_ids_sha256"] == certificates.ids_sha256(planned)
    assert body["counts"]["messages_deleted"] == len(planned)


def test_the_command_and_the_schedule(world, capsys) -> None:
    import json

    from django_q.models import Schedule

    assert Schedule.objects.filter(func="compliance.retention.scheduled_run", schedule_type="D").exists()
    retention.create_policy(name="one year", period_days=365)
    call_command("retention", "run", "--dry-run", "--as-of", NOW.isoformat())
    out = json.loads(capsys.readouterr().out)
    assert out["plan"]["delete"] == 5 and Message.objects.count() == 8
    call_command("retention", "--as-of", NOW.isoformat())
    out = json.loads(capsys.readouterr().out)
    assert out["state"] == "done" and Message.objects.count() == 3
