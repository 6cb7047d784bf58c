"""python manage.py bench_api --requests N --concurrency C

End-to-end API throughput with auditing on: builds synthetic data in the PostgreSQL database of
``DATABASE_URL`` (``archive.synthetic.Generator`` + ``archive.writer.ArchiveWriter``), makes a
compliance officer with a token and a declared purpose, starts the app under gunicorn on
127.0.0.1 with a few workers, then fires concurrent requests (threads + ``http.client``,
loopback only; the count and the wall time are bounded) at a word search and at message reads.

Prints JSON lines: per endpoint ``requests_per_s`` and ``p50_ms``/``p95_ms``/``p99_ms``; then
the number of audit events the run wrote, which must equal the number of requests sent (the
command exits non-zero otherwise), and whether the audit chain still verifies.

Run it against a throw-away database: it writes synthetic messages, a user and audit events.
Throttling is raised for the gunicorn it starts (the benchmark is one user hammering the API).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from accounts.models import ApiToken, User
from accounts.roles import Role
from archive.management.commands.bench import percentiles
from archive.models import Message, Source
from archive.synthetic import Generator
from archive.vault.blind_index import STOP_WORDS
from archive.writer import ArchiveWriter
from compliance.models import AuditEvent

MAX_REQUESTS = 200_000
MAX_CONCURRENCY = 128


@dataclass
class Run:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    sent: int = 0
    failures: int = 0  # connection errors (no HTTP status)
    seconds: float = 0.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Command(BaseCommand):
    help = "Benchmark the audited API under gunicorn (search and message reads); prints JSON lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint")
        parser.add_argument("--concurrency", type=int, default=8, help="client threads")
        parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
        parser.add_argument("--messages", type=int, default=20_000, help="synthetic archive size")
        parser.add_argument("--context", type=int, default=2, help="context messages per read")
        parser.add_argument("--max-seconds", type=float, default=300.0, help="wall-time bound per endpoint")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--allow-sqlite", action="store_true", help="run against SQLite anyway (numbers mean little)"
        )

    def emit(self, **fields: Any) -> None:
        fields.setdefault("database", connection.vendor)
        self.stdout.write(json.dumps(fields))
        self.stdout.flush()

    def handle(self, *args: Any, **o: Any) -> None:
        if connection.vendor != "postgresql" and not o["allow_sqlite"]:
            raise CommandError("bench_api wants PostgreSQL: set DATABASE_URL=postgres://…")
        requests, concurrency = o["requests"], o["concurrency"]
        if not 1 <= requests <= MAX_REQUESTS:
            raise CommandError(f"--requests must be between 1 and {MAX_REQUESTS}")
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise CommandError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
        settings.DEBUG = False
        connection.force_debug_cursor = False
        call_command("migrate", verbosity=0)

        gen = Generator(seed=o["seed"], sentence_pool=20_000)
        self.build(gen, o["messages"])
        _user, raw_token, token = self.officer()
        words = [w for w in gen.vocab[:300] if w not in STOP_WORDS and len(w) > 2 and "-" not in w][:100]
        ids = list(
            Message.objects.order_by("id").values_list("id", flat=True)[:: max(1, o["messages"] // 2000)]
        )
        rng = random.Random(o["seed"])
        paths = {
            "search": [f"/api/v1/search?q={quote(rng.choice(words))}&limit=20" for _ in range(requests)],
            "message_read": [
                f"/api/v1/messages/{rng.choice(ids)}?context={o['context']}" for _ in range(requests)
            ],
        }

        port = _free_port()
        server = self.start_gunicorn(port, o["workers"])
        try:
            self.wait_ready(port, server)
            first_seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
            total_sent = 0
            for name, endpoint_paths in paths.items():
                run = self.fire(port, raw_token, endpoint_paths, concurrency, o["max_seconds"])
                total_sent += run.sent
                self.emit(
                    bench="api",
                    endpoint=name,
                    requests=run.sent,
                    concurrency=concurrency,
                    workers=o["workers"],
                    messages=Message.objects.count(),
                    seconds=round(run.seconds, 2),
                    requests_per_s=round(run.sent / run.seconds, 1) if run.seconds else None,
                    statuses={str(k): v for k, v in sorted(run.statuses.items())},
                    connection_failures=run.failures,
                    **(percentiles(run.latencies_ms) if run.latencies_ms else {}),
                )
        finally:
            self.stop(server)
        events = AuditEvent.objects.filter(seq__gt=first_seq, credential_id=token.pk).count()
        from compliance.audit import verify

        chain = verify()
        self.emit(
            bench="api_audit",
            requests=total_sent,
            audit_events=events,
            equal=events == total_sent,
            chain_ok=chain.ok,
            chain_size=chain.size,
        )
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        if events != total_sent:
            raise CommandError(f"{total_sent} requests but {events} audit events")
        if not chain.ok:
            raise CommandError("the audit chain does not verify after the run")

    # -- setup --------------------------------------------------------------------------------

    def build(self, gen: Generator, messages: int) -> None:
        have = Message.objects.count()
        if have < messages:
            t0 = time.perf_counter()
            source = Source.objects.create(platform="synthetic", original_sha256="0" * 64, original_size=0)

            def conversations() -> Any:
                for conv in gen.conversations(messages - have):
                    conv.thread_id = f"{conv.thread_id}-api-{have}"
                    yield conv

            summary = ArchiveWriter(source).write(conversations())
            self.emit(
                bench="api_setup", wrote_messages=summary.messages, seconds=round(time.perf_counter() - t0, 1)
            )
        Source.objects.filter(platform="synthetic").exclude(status=Source.Status.DONE).update(
            status=Source.Status.DONE, progress=1.0
        )

    def officer(self) -> tuple[User, str, ApiToken]:
        from dmvault.api.purpose import declare

        name = f"bench-officer-{int(time.time())}-{random.randrange(10**6)}"
        user = User.objects.create_user(
            username=name, password=None, role=Role.COMPLIANCE_OFFICER, whole_archive=True
        )
        token, raw = ApiToken.issue(user, "bench_api", days=1)
        declare(
            SimpleNamespace(auth=token, user=user), "BENCH-API", "Throughput benchmark of the audited API"
        )
        return user, raw, token

    # -- the server ---------------------------------------------------------------------------

    def start_gunicorn(self, port: int, workers: int) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "dmvault.settings"),
            "DMVAULT_DATA_DIR": str(settings.DATA_DIR),
            "DMVAULT_KEYRING_PATH": str(settings.DMVAULT_KEYRING_PATH),
            "DMVAULT_AUDIT_KEY_PATH": str(settings.DMVAULT_AUDIT_KEY_PATH),
            "DJANGO_DEBUG": "0",
            "DMVAULT_THROTTLE_USER": "10000000/min",
            "DMVAULT_THROTTLE_ANON": "10000000/min",
        }
        if connection.vendor == "postgresql" and not env.get("DATABASE_URL"):
            raise CommandError("set DATABASE_URL so the gunicorn workers use the same database")
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "dmvault.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--timeout",
            "60",
        ]
        return subprocess.Popen(cmd, env=env, cwd=str(settings.BASE_DIR))  # noqa: S603 - fixed argv

    def wait_ready(self, port: int, server: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise CommandError(f"gunicorn exited with {server.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/v1/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                time.sleep(0.2)
        raise CommandError("gunicorn did not become ready within 60 s")

    def stop(self, server: subprocess.Popen[bytes]) -> None:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    # -- the load -----------------------------------------------------------------------------

    def fire(self, port: int, token: str, paths: list[str], concurrency: int, max_seconds: float) -> Run:
        run = Run()
        lock = threading.Lock()
        cursor = iter(paths)
        headers = {"Authorization": f"Bearer {token}", "User-Agent": "dmvault-bench-api"}
        started = time.perf_counter()
        deadline = started + max_seconds

        def worker() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            local: list[float] = []
            statuses: dict[int, int] = {}
            sent = failures = 0
            while time.perf_counter() < deadline:
                with lock:
                    path = next(cursor, None)
                if path is None:
                    break
                t0 = time.perf_counter()
                try:
                    conn.request("GET", path, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                    if response.getheader("Connection", "").lower() == "close":
                        conn.close()
                except Exception:  # counted; the run goes on
                    conn.close()
                    failures += 1
                    sent += 1
                    continue
                local.append((time.perf_counter() - t0) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                sent += 1
            conn.close()
            with lock:
                run.latencies_ms.extend(local)
                run.sent += sent
                run.failures += failures
                for k, v in statuses.items():
                    run.statuses[k] = run.statuses.get(k, 0) + v

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max_seconds + 60)
        run.seconds = time.perf_counter() - started
        return run
