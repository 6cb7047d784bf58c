"""Parallel writing (archive/parallel.py): an admin's import split over two writer processes
stores exactly what one process stores. Real processes against a real SQLite file: the test
database of pytest-django lives in a transaction the writer processes could not see."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.synthetic import write_telegram_export

REPO = Path(__file__).resolve().parents[2]

# Prints what an archive holds, whatever its keys: each message's time and text (decrypted),
# the participants, and how many postings the blind index holds.
SNAPSHOT = """
import hashlib, json
from django.db import connection
from archive import index
from archive.models import Message, Participant, Source
from archive.reading import open_messages
ids = list(Message.objects.order_by("id").values_list("id", flat=True))
rows = sorted(f"{m.sent_at.isoformat()}|{m.text}" for m in open_messages(ids))
with connection.cursor() as cur:
    postings = 0
    for month in index.existing_months():
        cur.execute(f"SELECT count(*) FROM {index.table(month)}")
        postings += cur.fetchone()[0]
print(json.dumps({
    "messages": len(ids),
    "digest": hashlib.sha256("\\n".join(rows).encode()).hexdigest(),
    "participants": Participant.objects.count(),
    "postings": postings,
    "statuses": sorted(Source.objects.values_list("status", flat=True)),
}))
"""

IMPORT = (
    "from archive import ingest; from pathlib import Path; ingest.run(ingest.receive_path(Path({path!r})).id)"
)

# The same import from inside a daemonic process, as django-q2 runs jobs; the writers it
# forks report their process ids, which must not be the job's.
IMPORT_IN_DAEMON = """
import multiprocessing as mp
from django.db import connections
from archive import ingest
from pathlib import Path
def job():
    ingest.run(ingest.receive_path(Path({path!r})).id)
connections.close_all()
import archive.parallel as parallel
started = mp.get_context("fork").Queue()
original = parallel._start
def spy(procs):
    original(procs)
    started.put([p.pid for p in procs])
parallel._start = spy
p = mp.get_context("fork").Process(target=job, daemon=True)
p.start(); p.join()
assert p.exitcode == 0, p.exitcode
print("writers", len(started.get(timeout=5)))
"""


# On PostgreSQL an import leaves its posting tables and the message table analyzed and
# vacuumed (planner statistics, visibility map): prints how many of them are not.
UNREFRESHED = """
from django.db import connection
from archive import index
names = [index.table(m) for m in sorted(index.existing_months())] + ["archive_message"]
with connection.cursor() as cur:
    cur.execute("SELECT relname FROM pg_class WHERE relname = ANY(%s) AND reltuples > 0 AND relallvisible > 0", [names])
    ready = {row[0] for row in cur.fetchall()}
print("unrefreshed", len(names) - len(ready), "of", len(names))
"""


def _manage(data: Path, workers: int, code: str, database_url: str | None = None) -> str:
    env = {
        **os.environ,
        "DMVAULT_DATA_DIR": str(data),
        "DMVAULT_ENV": "development",
        "DMVAULT_WRITE_WORKERS": str(workers),
        "DMVAULT_WRITE_BATCH": "700",  # several commits per writer
    }
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    out = subprocess.run(
        [*manage, "shell", "--no-imports", "-c", code], env=env, check=True, capture_output=True, text=True
    )
    return out.stdout


def _snapshot(data: Path, database_url: str | None = None) -> dict[str, object]:
    return dict(json.loads(_manage(data, 1, SNAPSHOT, database_url).strip().splitlines()[-1]))


PG = "postgres://postgres@127.0.0.1:5432"


def _pg_available() -> bool:
    try:
        import psycopg

        psycopg.connect(f"{PG}/postgres", connect_timeout=2).close()
    except Exception:
        return False
    return True


@pytest.fixture
def pg_databases() -> Iterator[tuple[str, str]]:
    """Two throw-away PostgreSQL databases, where parallel writers really run concurrently."""
    if not _pg_available():
        pytest.skip("needs PostgreSQL on 127.0.0.1")
    import psycopg

    names = [f"dmvault_pw_{os.getpid()}_{n}" for n in (1, 2)]
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        for name in names:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{PG}/{names[0]}", f"{PG}/{names[1]}"
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            for name in names:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("export") / "result.json"
    return path, write_telegram_export(str(path), 6_000, chats=9)


def test_two_writer_processes_store_what_one_process_stores(tmp_path: Path, export: tuple[Path, int]) -> None:
    path, total = export
    _manage(tmp_path / "one", 1, IMPORT.format(path=str(path)))
    _manage(tmp_path / "two", 2, IMPORT.format(path=str(path)))
    one, two = _snapshot(tmp_path / "one"), _snapshot(tmp_path / "two")
    assert one["messages"] == total
    assert two == one
    assert two["statuses"] == ["done"]


def test_on_postgresql_two_concurrent_writers_store_what_one_stores(
    tmp_path: Path, export: tuple[Path, int], pg_databases: tuple[str, str]
) -> None:
    path, total = export
    one_db, two_db = pg_databases
    _manage(tmp_path / "one", 1, IMPORT.format(path=str(path)), one_db)
    _manage(tmp_path / "two", 2, IMPORT.format(path=str(path)), two_db)
    one, two = _snapshot(tmp_path / "one", one_db), _snapshot(tmp_path / "two", two_db)
    assert one["messages"] == total
    assert two == one
    for data, db in ((tmp_path / "one", one_db), (tmp_path / "two", two_db)):
        report = _manage(data, 1, UNREFRESHED, db).split()
        assert report[:2] == ["unrefreshed", "0"] and int(report[3]) > 1


def test_a_repeated_parallel_import_adds_nothing(tmp_path: Path, export: tuple[Path, int]) -> None:
    path, total = export
    _manage(tmp_path, 2, IMPORT.format(path=str(path)))
    first = _snapshot(tmp_path)
    _manage(tmp_path, 2, IMPORT.format(path=str(path)))
    again = _snapshot(tmp_path)
    assert first["messages"] == again["messages"] == total
    assert (again["digest"], again["postings"], again["participants"]) == (
        first["digest"],
        first["postings"],
        first["participants"],
    )
    assert again["statuses"] == ["done", "done"]


# One writer gets a tiny conversation and finishes first; the other's inbox is still full of a
# long one when the import ends. A writer that finished is not one that died.
ONE_WRITER_FINISHES_FIRST = """
from datetime import UTC, datetime, timedelta
from archive.importers.base import ConversationKind, ParsedConversation, ParsedMessage, ParsedParticipant
from archive.models import Message, Source
from archive.parallel import _worker_for, write_parallel

def conversation(thread, n):
    people = [ParsedParticipant("a", "A"), ParsedParticipant("b", "B")]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    msgs = [
        ParsedMessage(start + timedelta(seconds=i), str(i), "ab"[i % 2], f"note {{i}} about lighthouse {{i % 97}}",
                      platform_message_id=str(i))
        for i in range(n)
    ]
    return ParsedConversation("whatsapp", thread, ConversationKind.DIRECT, thread, people, msgs)

threads = [f"t{{i}}" for i in range(50)]
small = next(t for t in threads if _worker_for(conversation(t, 0), 2) == 0)
big = next(t for t in threads if _worker_for(conversation(t, 0), 2) == 1)
source = Source.objects.create(platform="whatsapp", original_sha256="0" * 64, original_size=1)
summary = write_parallel(source, [conversation(small, 3), conversation(big, {big_size})], workers=2, batch_size=700)
print("written", summary.messages, Message.objects.count())
"""


def test_a_writer_that_finishes_first_does_not_fail_the_import(tmp_path: Path) -> None:
    out = _manage(tmp_path, 2, ONE_WRITER_FINISHES_FIRST.format(big_size=12_000))
    assert "written 12003 12003" in out


def test_an_import_in_a_daemonic_job_process_still_forks_its_writers(
    tmp_path: Path, export: tuple[Path, int]
) -> None:
    path, total = export
    out = _manage(tmp_path, 2, IMPORT_IN_DAEMON.format(path=str(path)))
    assert "writers 2" in out
    snap = _snapshot(tmp_path)
    assert snap["messages"] == total
    assert snap["statuses"] == ["done"]
