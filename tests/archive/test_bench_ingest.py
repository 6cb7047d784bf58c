"""The end-to-end ingest benchmark, with and without redaction at ingest."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from archive.models import Message, Source
from archive.reading import open_messages
from compliance.redaction import ALL_TYPES

pytestmark = pytest.mark.django_db


def _bench_ingest(**options: object) -> dict:
    out = io.StringIO()
    call_command("bench", "ingest", messages=400, workers=1, stdout=out, **options)
    return json.loads(out.getvalue().splitlines()[-1])


def _labels_in_stored_texts() -> int:
    texts = [m.text for m in open_messages(list(Message.objects.values_list("id", flat=True)))]
    return sum(text.count(f"[{kind}]") for text in texts for kind in ALL_TYPES)


def test_the_ingest_bench_can_redact_every_message_at_ingest() -> None:
    result = _bench_ingest(redact_at_ingest=True)
    assert (result["bench"], result["redact_at_ingest"], result["messages"]) == ("ingest", True, 400)
    assert result["messages_per_s"] > 0
    source = Source.objects.get()
    assert source.redaction.policy.apply_at_ingest
    assert _labels_in_stored_texts() >= 5  # the synthetic chat's phone numbers, emails, cards…


def test_without_the_flag_the_bench_stores_the_texts_as_written() -> None:
    result = _bench_ingest()
    assert result["redact_at_ingest"] is False and result["messages"] == 400
    assert _labels_in_stored_texts() == 0
