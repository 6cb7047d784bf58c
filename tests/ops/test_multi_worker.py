"""Scale-out: two real `manage.py qcluster` nodes on PostgreSQL with the Redis broker. One node
is SIGKILLed in the middle of an import; every job still runs to completion exactly once (one
success row each), the killed import is handed out again after `retry` (the leasing broker,
dmvault/ops/broker.py), and the archive equals a single-process run of the same imports."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg")
redis_lib = pytest.importorskip("redis")

REPO = Path(__file__).resolve().parents[2]
PG = "postgres://postgres@127.0.0.1:5432"
SECRET = "multi-worker-test-secret-key-" + "x" * 30
SIZES = (16000, 2500, 2500, 2500)  # the first import is long enough to be killed in


def _pg_available() -> bool:
    try:
        psycopg.connect(f"{PG}/postgres", connect_timeout=2).close()
        redis_lib.Redis(host="127.0.0.1", port=6379, socket_timeout=2).ping()
    except Exception:
        return False
    return bool(shutil.which("pg_dump"))


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _pg_available(), reason="needs PostgreSQL and Redis on 127.0.0.1"),
]


def _admin(sql: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _query(db: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(f"{PG}/{db}", autocommit=True) as conn:
        return list(conn.execute(sql, params).fetchall())


def _free_redis_db() -> int:
    for number in range(15, 1, -1):
        client = redis_lib.Redis(host="127.0.0.1", port=6379, db=number)
        if client.dbsize() == 0 and client.set("dmvault-test-claim", "1", nx=True, ex=600):
            return number
    pytest.skip("no free Redis database number")


def _wait(what: str, condition: Callable[[], Any], timeout: float, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def cluster_env(tmp_path: Path) -> Iterator[dict[str, Any]]:
    tag = f"{os.getpid()}_{int(time.time())}"
    db_a, db_b = f"dmvault_mw_{tag}", f"dmvault_mw_{tag}_single"
    redis_db = _free_redis_db()
    redis_client = redis_lib.Redis(host="127.0.0.1", port=6379, db=redis_db)
    redis_client.flushdb()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DMVAULT_", "DJANGO_", "DATABASE_URL"))},
        "DJANGO_SETTINGS_MODULE": "dmvault.settings",
        "DMVAULT_ENV": "development",
        "DJANGO_SECRET_KEY": SECRET,
        "DMVAULT_DATA_DIR": str(tmp_path / "data"),  # shared: the blob store of every node
        "DMVAULT_KEYRING_PATH": str(tmp_path / "keys" / "keyring.json"),
        "DMVAULT_LEDGER_PATH": str(tmp_path / "ledger" / "ledger.jsonl"),
        "DMVAULT_REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "DMVAULT_WORKERS": "1",
        "DMVAULT_WRITE_WORKERS": "2",  # each import forks two writers, killed with their job
        "DMVAULT_WRITE_BATCH": "500",  # commits along the way, so the kill leaves a partial import
        "DMVAULT_JOB_TIMEOUT": "20",
        "DMVAULT_JOB_RETRY": "25",
        "DMVAULT_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }
    procs: list[subprocess.Popen[bytes]] = []
    _admin(f"CREATE DATABASE {db_a}")
    try:
        yield {
            "env": env,
            "db_a": db_a,
            "db_b": db_b,
            "redis": redis_client,
            "procs": procs,
            "tmp": tmp_path,
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        redis_client.flushdb()
        for db in (db_a, db_b):
            _admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def _manage(env: dict[str, str], db: str, *args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**env, "DATABASE_URL": f"{PG}/{db}"},
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    return result.stdout.decode()


def _node(ctx: dict[str, Any], name: str) -> subprocess.Popen[bytes]:
    log = (ctx["tmp"] / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=REPO,
        env={**ctx["env"], "DATABASE_URL": f"{PG}/{ctx['db_a']}"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the node is killed whole
    )
    ctx["procs"].append(proc)
    return proc


def _make_exports(tmp: Path) -> list[Path]:
    from archive.synthetic import write_telegram_export

    paths = []
    for n, size in enumerate(SIZES):
        path = tmp / f"export{n}" / "result.json"
        path.parent.mkdir()
        write_telegram_export(str(path), size, chats=3, seed=100 + n)
        data = json.loads(path.read_text())
        for chat in data["chats"]["list"]:
            chat["id"] += 1000 * (n + 1)  # distinct chats per export (the generator reuses ids)
        path.write_text(json.dumps(data))
        paths.append(path)
    return paths


RECEIVE = """
import json
from pathlib import Path
from archive.ingest import receive_path
print(json.dumps([receive_path(Path(p), platform="telegram").id for p in {paths!r}]))
"""

QUEUE = """
from django_q.tasks import async_task
from archive.tasks import queue_ingest
for source_id in {ids!r}:
    queue_ingest(source_id)
if {retention!r}:
    async_task("compliance.retention.scheduled_run", task_name="retention-run")
"""

SINGLE = """
from pathlib import Path
from archive import ingest
from compliance import retention
for p in {paths!r}:
    ingest.run(ingest.receive_path(Path(p), platform="telegram").id)
retention.scheduled_run()
"""

FINGERPRINT = """
SELECT encode(c.dedup_key, 'hex'), encode(m.dedup_key, 'hex')
FROM archive_message m JOIN archive_conversation c ON c.id = m.conversation_id
"""


def _fingerprint(db: str) -> tuple[dict[str, int], str]:
    pairs = sorted((c, m) for c, m in _query(db, FINGERPRINT))
    counts: dict[str, int] = {}
    for conv, _ in pairs:
        counts[conv] = counts.get(conv, 0) + 1
    digest = hashlib.sha256("\n".join(f"{c}:{m}" for c, m in pairs).encode()).hexdigest()
    return counts, digest


def _postings(db: str) -> tuple[int, int]:
    """(postings in the month tables, postings still staged)."""
    months = [r[0] for r in _query(db, "SELECT month FROM archive_postingpartition")]
    indexed = sum(_query(db, f"SELECT count(*) FROM archive_posting_{m}")[0][0] for m in months)
    staged = sum(_query(db, f"SELECT count(*) FROM archive_posting_{m}_staged")[0][0] for m in months)
    return indexed, staged


def _lease_tasks(ctx: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(pid of the taking process, the job) for every job currently leased."""
    from django_q import core_signing
    from django_q.signing import PickleSerializer

    client, prefix = ctx["redis"], "django_q:dmvault:q"
    out = []
    for lease, owner in client.hgetall(f"{prefix}:owner").items():
        payload = client.hget(f"{prefix}:payload", lease)
        if payload is None:
            continue
        task = core_signing.loads(payload.decode(), key=SECRET, salt="dmvault", serializer=PickleSerializer)
        out.append((int(owner.decode().rsplit(":", 1)[1]), task))
    return out


def _queued_tasks(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Every job still waiting in the Redis queue."""
    from django_q import core_signing
    from django_q.signing import PickleSerializer

    return [
        core_signing.loads(raw.decode(), key=SECRET, salt="dmvault", serializer=PickleSerializer)
        for raw in ctx["redis"].lrange("django_q:dmvault:q", 0, -1)
    ]


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_two_nodes_one_killed_mid_import_every_job_runs_once_and_nothing_is_lost(
    cluster_env: dict[str, Any],
) -> None:
    ctx = cluster_env
    env, db_a, db_b = ctx["env"], ctx["db_a"], ctx["db_b"]
    _manage(env, db_a, "migrate", "--noinput", "-v0")
    _manage(env, db_a, "vault", "init")
    _manage(env, db_a, "shell", "-c", "from archive.vault import get_vault; get_vault().archive_hmac_key()")
    # The single-process baseline starts from the same keys (dedup keys are HMACs under them).
    _admin(f"CREATE DATABASE {db_b} TEMPLATE {db_a}")
    paths = [str(p) for p in _make_exports(ctx["tmp"])]

    source_ids = json.loads(
        _manage(env, db_a, "shell", "-c", RECEIVE.format(paths=paths)).strip().splitlines()[-1]
    )
    names = {f"ingest-{sid}" for sid in source_ids} | {"retention-run"}

    def running_on(node: subprocess.Popen[bytes]) -> Callable[[], int | None]:
        def check() -> int | None:
            for pid, task in _lease_tasks(ctx):
                if _group_of(pid) != node.pid or not str(task.get("name", "")).startswith("ingest-"):
                    continue
                sid = int(task["args"][0])
                rows = _query(db_a, "SELECT status FROM archive_source WHERE id = %s", (sid,))
                if rows and rows[0][0] == "running":
                    return sid
            return None

        return check

    # Both nodes run; whichever takes the long first import is the victim. The others are queued
    # while it runs: the victim prefetches at most two of them, so the survivor imports too.
    nodes = [_node(ctx, "node1"), _node(ctx, "node2")]
    _manage(env, db_a, "shell", "-c", QUEUE.format(ids=source_ids[:1], retention=False))
    killed_source, victim = _wait(
        "a node to be in the middle of the first import",
        lambda: next(((sid, n) for n in nodes if (sid := running_on(n)())), None),
        timeout=60,
        every=0.05,
    )
    survivor = next(n for n in nodes if n is not victim)
    _manage(env, db_a, "shell", "-c", QUEUE.format(ids=source_ids[1:], retention=True))
    _wait("the other node to be importing too", running_on(survivor), timeout=30, every=0.05)
    assert (
        _query(db_a, "SELECT status FROM archive_source WHERE id = %s", (killed_source,))[0][0] == "running"
    )
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    assert (
        _query(db_a, "SELECT status FROM archive_source WHERE id = %s", (killed_source,))[0][0] == "running"
    )

    def all_done() -> bool:
        done = _query(db_a, "SELECT count(*) FROM django_q_task WHERE success")[0][0]
        return bool(done >= len(names)) and all(
            r[0] for r in _query(db_a, "SELECT status = 'done' FROM archive_source")
        )

    _wait("every job to succeed on the surviving node", all_done, timeout=120, every=0.5)
    time.sleep(1.0)  # a duplicate run, if any, would have saved its result by now
    # Rows named by us; the scheduler's own periodic jobs (random names) are left aside.
    rows = [
        r for r in _query(db_a, "SELECT name, success, attempt_count FROM django_q_task") if r[0] in names
    ]
    assert sorted(r[0] for r in rows) == sorted(names), (
        rows
    )  # one result per job: each ran to completion once
    assert all(r[1] for r in rows), rows
    statuses = dict(_query(db_a, "SELECT id, status FROM archive_source"))
    assert set(statuses.values()) == {"done"}, statuses
    # The scheduler may have queued one of its periodic jobs meanwhile; none of ours is left.
    assert not [t for t in _queued_tasks(ctx) if t.get("name") in names]
    assert not [t for _, t in _lease_tasks(ctx) if t.get("name") in names]  # nothing of ours left leased
    survivor.send_signal(signal.SIGTERM)
    survivor.wait(timeout=30)

    _manage(env, db_b, "shell", "-c", SINGLE.format(paths=paths), timeout=300)
    counts_a, digest_a = _fingerprint(db_a)
    counts_b, digest_b = _fingerprint(db_b)
    assert sum(counts_a.values()) > 0
    assert counts_a == counts_b
    assert digest_a == digest_b
    # The killed import's staged postings were merged by its rerun: the index is complete.
    assert _postings(db_a) == _postings(db_b)
    assert _postings(db_a)[0] > 0 and _postings(db_a)[1] == 0
