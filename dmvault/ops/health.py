"""Liveness, readiness and metrics endpoints.

``/health/live``: the process answers (no database, no keys). ``/health/ready``: the database
answers, the job broker answers, and the root keyring opens and unwraps this archive's active
wrapping key; 503 with the failing component's name otherwise. Neither carries data, and
neither is written to the audit chain: orchestrators call them every few seconds per node, which
would bury the chain in noise and make every probe a database write. The audited health check
for API clients remains ``/api/v1/health``. ``/metrics`` needs ``DMVAULT_METRICS_TOKEN``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


def check_database() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()


def check_broker() -> None:
    from django_q.brokers import get_broker

    broker = get_broker()
    if settings.Q_CLUSTER.get("redis"):
        if not broker.ping():
            raise RuntimeError("broker did not answer")
    else:
        broker.queue_size()  # the ORM broker: its table answers


def check_keys() -> None:
    from archive.models import WrappingKey
    from archive.vault import get_vault

    vault = get_vault()
    vault.provider.primary_version()  # the keyring file opens
    row = WrappingKey.objects.filter(active=True).first()
    if row is not None:  # and it is this archive's keyring
        vault.provider.unwrap(row.root_version, b"dmv1|kwk|%d" % row.id, bytes(row.wrapped))


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
    "keys": check_keys,
}


@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            log.warning("readiness: %s failed (%s)", name, type(exc).__name__)
            results[name] = "failed"
    ok = all(v == "ok" for v in results.values())
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": results}, status=200 if ok else 503
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    from prometheus_client import CONTENT_TYPE_LATEST

    from dmvault.ops.metrics import render

    token = settings.DMVAULT_METRICS_TOKEN
    if not token:
        raise Http404("metrics are off")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
