"""Prometheus metrics at ``/metrics`` (bearer token ``DMVAULT_METRICS_TOKEN``; off without it).

Most figures are read from the shared database and broker at scrape time, so every web node
reports the same cluster-wide values whichever node Prometheus reaches, and nothing is lost when
a worker restarts:

``dmvault_jobs_queued``               jobs waiting in the broker
``dmvault_jobs_in_progress``          jobs taken by a worker and not yet acknowledged
``dmvault_jobs_succeeded``            job results recorded as successful (django-q2 keeps the
                                      last ``save_limit`` successes: use it as a gauge)
``dmvault_jobs_failed``               job results recorded as failed
``dmvault_ingest_messages_written_total``  messages written by finished imports (a counter:
                                      ``rate(...[5m])`` is the ingest rate)
``dmvault_ingest_sources{status}``    uploads by status
``dmvault_audit_chain_head_seq``      the audit chain's head sequence number
``dmvault_erasure_ledger_entries``    entries in the erasure ledger file

One figure is measured in the process that serves the search:

``dmvault_search_seconds``            a histogram of search latency (``archive.search.service.search``)

With gunicorn's several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder
(per host) so the histogram is summed over them; otherwise each scrape sees one process.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

SEARCH_SECONDS = Histogram(
    "dmvault_search_seconds",
    "Search latency (archive.search.service.search), seconds",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def timed_search(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap the search service's ``search`` so every call lands in ``dmvault_search_seconds``."""
    if getattr(func, "_dmvault_timed", False):
        return func

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            SEARCH_SECONDS.observe(time.perf_counter() - started)

    wrapper._dmvault_timed = True  # type: ignore[attr-defined]
    return wrapper


def instrument_search() -> None:
    """Installed at start-up (``OpsConfig.ready``), before views import ``search``. The search
    module's owner can instead decorate ``search`` with ``@timed_search`` directly."""
    from archive.search import service

    service.search = timed_search(service.search)


class ArchiveCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from _safe(_jobs)
        yield from _safe(_ingest)
        yield from _safe(_audit)
        yield from _safe(_ledger)


def _safe(fn: Callable[[], list[Metric]]) -> list[Metric]:
    try:
        return fn()
    except Exception as exc:  # one unavailable part must not blank the whole scrape
        log.warning("metrics: %s unavailable (%s)", fn.__name__.strip("_"), type(exc).__name__)
        return []


def _jobs() -> list[Metric]:
    from django_q.brokers import get_broker
    from django_q.models import Task

    broker = get_broker()
    out: list[Metric] = [
        GaugeMetricFamily(
            "dmvault_jobs_queued", "Jobs waiting in the broker", value=broker.queue_size() or 0
        ),
        GaugeMetricFamily(
            "dmvault_jobs_in_progress",
            "Jobs taken by a worker, not yet acknowledged",
            value=broker.lock_size() or 0,
        ),
        GaugeMetricFamily(
            "dmvault_jobs_succeeded",
            "Recorded successful job results",
            value=Task.objects.filter(success=True).count(),
        ),
        GaugeMetricFamily(
            "dmvault_jobs_failed",
            "Recorded failed job results",
            value=Task.objects.filter(success=False).count(),
        ),
    ]
    return out


def _ingest() -> list[Metric]:
    from django.db.models import Count

    from archive.models import Source

    written = 0
    for summary in (
        Source.objects.filter(status=Source.Status.DONE).values_list("summary", flat=True).iterator()
    ):
        value = (summary or {}).get("messages", 0)
        written += int(value) if isinstance(value, (int, float)) else 0
    counter = CounterMetricFamily(
        "dmvault_ingest_messages_written", "Messages written by finished imports", value=written
    )
    by_status = GaugeMetricFamily("dmvault_ingest_sources", "Uploads by status", labels=["status"])
    for row in Source.objects.values("status").annotate(n=Count("id")):
        by_status.add_metric([row["status"]], row["n"])
    return [counter, by_status]


def _audit() -> list[Metric]:
    from compliance.models import AuditChainHead

    head = AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first()
    return [GaugeMetricFamily("dmvault_audit_chain_head_seq", "Audit chain head sequence", value=head or 0)]


def _ledger() -> list[Metric]:
    from dmvault.ops import ledger

    return [
        GaugeMetricFamily(
            "dmvault_erasure_ledger_entries", "Entries in the erasure ledger", value=ledger.head()["seq"]
        )
    ]


def render() -> bytes:
    registry = CollectorRegistry()
    registry.register(ArchiveCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(SEARCH_SECONDS)
    return generate_latest(registry)
