"""After the demo archive is written, no message text, name, handle or attachment byte can be
found in the database file (or a pg_dump), the blob storage folder or the logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from archive.synthetic import Generator, attachment_bytes

REPO = Path(__file__).resolve().parents[2]
DEMO_MESSAGES = 600


def _known_plaintexts() -> list[bytes]:
    """Replay the demo's deterministic generator in the writer's order."""
    gen = Generator(seed=7, attachments=0.02)
    found: set[bytes] = {b"Alex Archivist"}
    for conv in gen.conversations(DEMO_MESSAGES, conversations=max(12, DEMO_MESSAGES // 250)):
        found.add(conv.title.encode())
        for person in conv.participants:
            found.update({person.display_name.encode(), person.handle.encode()})
        for n, msg in enumerate(conv.messages):
            for text in (msg.text, *msg.previous_versions):
                if len(text) >= 16:
                    found.add(text.encode())
            for att in msg.attachments:
                found.add(att.name.encode())
                conv_no = int(conv.thread_id.split("-")[1])
                found.add(attachment_bytes(conv_no, n))
    return sorted(found)


def _run(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, str(REPO / "manage.py"), *args], env=env, check=True, capture_output=True)


@pytest.fixture
def demo_env(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "DMVAULT_ENV": "demo", "DMVAULT_DATA_DIR": str(tmp_path / "data")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    db = settings.DATABASES["default"]
    pg_name = None
    if db["ENGINE"].endswith("postgresql"):
        import psycopg

        pg_name = f"dmvault_leak_{os.getpid()}"
        dsn = dict(
            host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or "5432",
            user=db["USER"] or "postgres",
            dbname="postgres",
        )
        with psycopg.connect(**dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {pg_name}")
            conn.execute(f"CREATE DATABASE {pg_name}")
        env["DATABASE_URL"] = f"postgres://{dsn['user']}@{dsn['host']}:{dsn['port']}/{pg_name}"
    else:
        env.pop("DATABASE_URL", None)
    _run(env, "migrate", "-v0")
    _run(env, "demo", "--messages", str(DEMO_MESSAGES))
    yield env, tmp_path / "data"
    if pg_name:
        with psycopg.connect(**dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {pg_name}")


def test_no_known_plaintext_is_found_at_rest(demo_env) -> None:  # type: ignore[no-untyped-def]
    env, data_dir = demo_env
    haystacks: dict[str, bytes] = {}
    for path in data_dir.rglob("*"):
        if path.is_file():
            haystacks[str(path.relative_to(data_dir))] = path.read_bytes()
    if "DATABASE_URL" in env:
        dump = subprocess.run(["pg_dump", env["DATABASE_URL"]], check=True, capture_output=True).stdout
        haystacks["pg_dump"] = dump
        assert b"archive_message" in dump  # the dump really holds the archive
    else:
        assert any(name.startswith("dmvault.sqlite3") for name in haystacks)
    assert any(name.startswith("blobs/") for name in haystacks), "the demo stores attachment blobs"
    assert "dmvault.log" in haystacks

    needles = _known_plaintexts()
    assert len(needles) > 500
    leaks = [(name, needle[:40]) for name, hay in haystacks.items() for needle in needles if needle in hay]
    assert leaks == []


def test_the_demo_archive_is_readable_through_the_vault(demo_env) -> None:  # type: ignore[no-untyped-def]
    """The positive control: the same data decrypts with the keyring, so the scan above is
    looking at real content, not at an empty archive."""
    env, _ = demo_env
    code = (
        "from archive.models import Message; from archive.reading import open_messages; "
        "ids=list(Message.objects.values_list('id', flat=True)[:50]); "
        "print(sum(1 for m in open_messages(ids) if m.text))"
    )
    out = (
        subprocess.run(
            [sys.executable, str(REPO / "manage.py"), "shell", "--no-imports", "-c", code],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert int(out) > 30
