"""Parallel writing: conversations spread over worker processes.

One Python process tops out near 3,000 messages/s: normalizing and tokenizing text for the
blind index, sealing and building rows are CPU work under one interpreter lock. Conversations
are independent, so worker processes each run an ``ArchiveWriter`` over a share of them while
the parent reads the export. A thread id always goes to the same worker, so one conversation's
keys and rows are only ever written by one process; what two workers can both create
(participants, month partitions, index keys, blobs) is created race-safely by the writer.

Messages reach the workers through in-memory pipes, never through files. SQLite serialises the
workers' commits (WAL, IMMEDIATE transactions); PostgreSQL takes them concurrently. With
``workers <= 1`` this is exactly ``ArchiveWriter.write``.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import multiprocessing as mp
import queue
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from functools import partial
from typing import Any

from django.db import connection, connections

from archive import index
from archive.importers.base import ParsedAttachment, ParsedConversation, ParsedMessage
from archive.models import Source
from archive.vault import get_vault
from archive.writer import ArchiveWriter, WriteSummary

CHUNK = 500
# Chunks queued per writer. On PostgreSQL, while one writer commits a batch (seconds, reading
# nothing), the parent must still be able to finish handing it the conversation it started and
# move on to the other writer: with 6, writers sat idle a third of the time waiting for input
# (py-spy). On SQLite the writers take turns at one lock anyway, and the shallow inboxes and a
# fixed thread-to-writer hash wrote faster (1M: 6,469 and 5,943 msg/s against 5,507 and 5,391).
QUEUE_DEPTH = 12
SQLITE_QUEUE_DEPTH = 6


class ParallelWriteError(Exception):
    pass


def write_parallel(
    source: Source,
    conversations: Iterable[ParsedConversation],
    *,
    workers: int,
    on_progress: Callable[[int], None] | None = None,
    batch_size: int | None = None,
    transform_text: Callable[[str], str] | None = None,
) -> WriteSummary:
    if workers <= 1:
        summary = ArchiveWriter(
            source, on_progress=on_progress, batch_size=batch_size, transform_text=transform_text
        ).write(conversations)
        index.refresh_statistics(summary.months)
        return summary
    # The archive's first keys (keyring, wrapping key, archive HMAC key) are made here, before
    # the fork: writers racing to create them on a fresh archive could each keep their own.
    get_vault().archive_hmac_key()
    connections.close_all()  # never share a database connection across fork
    ctx = mp.get_context("fork")
    sqlite = connection.vendor == "sqlite"
    inboxes = [ctx.Queue(maxsize=SQLITE_QUEUE_DEPTH if sqlite else QUEUE_DEPTH) for _ in range(workers)]
    results: Any = ctx.Queue()
    # SQLite has one writer at a time: the workers take turns through an OS lock.
    lock = ctx.RLock() if sqlite else None
    procs = [
        ctx.Process(
            target=_worker, args=(source.id, inbox, results, batch_size, transform_text, lock), daemon=True
        )
        for inbox in inboxes
    ]
    _start(procs)
    state = _ParentState(procs, results, on_progress)
    # A thread always goes to the same writer (its conversation row, participants and dedup
    # keys are that writer's), chosen when it first appears: on PostgreSQL the writer with the
    # least queued, on SQLite by the thread's hash.
    assigned: dict[tuple[str, str], int] = {}
    try:
        for conv in conversations:
            key = (conv.platform, conv.thread_id)
            n = assigned.get(key, -1)
            if n < 0:
                n = assigned[key] = _worker_for(conv, workers) if sqlite else _least_loaded(conv, inboxes)
            inbox, proc = inboxes[n], procs[n]
            state.put(inbox, proc, ("conv", replace(conv, messages=[])))
            chunk: list[ParsedMessage] = []
            for msg in conv.messages:
                if msg.attachments:
                    msg.attachments = [_materialize(a) for a in msg.attachments]
                chunk.append(msg)
                if len(chunk) >= CHUNK:
                    state.put(inbox, proc, ("msgs", chunk))
                    chunk = []
            if chunk:
                state.put(inbox, proc, ("msgs", chunk))
            state.put(inbox, proc, ("end",))
        for inbox, proc in zip(inboxes, procs, strict=True):
            state.put(inbox, proc, ("stop",))
        summary = state.collect()
    except BaseException:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        raise
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()
        # The writers are gone: nothing will read what is left in a pipe. Without this, the
        # queues' feeder threads would block this process's exit (a job worker that can then
        # never stop) trying to flush into pipes nobody reads.
        for q in (*inboxes, results):
            q.close()
            q.cancel_join_thread()
    index.refresh_statistics(summary.months)
    return summary


def _start(procs: list[Any]) -> None:
    """Start the writers, also from a daemonic process: django-q2 runs jobs in daemonic
    workers, and multiprocessing refuses them children because a daemonic process can exit
    abruptly and orphan them. A writer cannot be orphaned: it dies with its parent
    (PR_SET_PDEATHSIG, ``_die_with_parent``) and ``write_parallel`` joins it before returning."""
    current = mp.current_process()
    config = current._config  # type: ignore[attr-defined]
    daemonic = config.get("daemon", False)
    config["daemon"] = False
    try:
        for proc in procs:
            proc.start()
    finally:
        config["daemon"] = daemonic


def _least_loaded(conv: ParsedConversation, inboxes: list[Any]) -> int:
    """The writer whose inbox holds the least; ties go by the thread's hash. A fixed hash alone
    let one writer's full inbox block the parent while the other ran dry (seen at 1M messages
    on PostgreSQL: a third of the CPU idle)."""
    try:
        loads = [inbox.qsize() for inbox in inboxes]
    except NotImplementedError:  # no sem_getvalue (macOS)
        return _worker_for(conv, len(inboxes))
    low = min(loads)
    idle = [i for i, load in enumerate(loads) if load == low]
    return idle[0] if len(idle) == 1 else idle[_worker_for(conv, len(idle))]


def _worker_for(conv: ParsedConversation, workers: int) -> int:
    digest = hashlib.blake2b(f"{conv.platform}\x00{conv.thread_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % workers


def _materialize(att: ParsedAttachment) -> ParsedAttachment:
    """Attachments open lazily from the export, which lives in the parent: read the bytes here
    so the worker gets a picklable opener."""
    if att.open is None:
        return att
    try:
        with att.open() as fh:
            data = fh.read()
    except (OSError, KeyError):
        return replace(att, open=None)
    return replace(att, open=partial(io.BytesIO, data))


class _ParentState:
    def __init__(self, procs: list[Any], results: Any, on_progress: Callable[[int], None] | None) -> None:
        self.procs = procs
        self.results = results
        self.on_progress = on_progress
        self.summaries: list[dict[str, Any]] = []
        self.months: set[int] = set()

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "progress":
            if self.on_progress:
                self.on_progress(item[1])
        elif kind == "done":
            self.summaries.append(item[1])
            self.months.update(item[2])
        elif kind == "error":
            raise ParallelWriteError(f"a writer process failed: {item[1]}")

    def drain(self) -> None:
        while True:
            try:
                self._handle(self.results.get_nowait())
            except queue.Empty:
                return

    def put(self, inbox: Any, proc: Any, item: tuple[Any, ...]) -> None:
        """Hand ``item`` to the writer ``proc`` reading ``inbox``, waiting while its inbox is full.
        Only that writer's death is an error here: another one may have finished already."""
        while True:
            try:
                inbox.put(item, timeout=0.2)
                break
            except queue.Full:
                self.drain()
                if not proc.is_alive():
                    self.drain()
                    raise ParallelWriteError("a writer process exited early") from None
        self.drain()

    def collect(self) -> WriteSummary:
        while len(self.summaries) < len(self.procs):
            try:
                self._handle(self.results.get(timeout=1))
            except queue.Empty:
                if not any(p.is_alive() for p in self.procs) and len(self.summaries) < len(self.procs):
                    self.drain()
                    if len(self.summaries) < len(self.procs):
                        raise ParallelWriteError("a writer process exited without finishing") from None
        total = WriteSummary()
        for part in self.summaries:
            total.conversations += part["conversations"]
            total.messages += part["messages"]
            total.duplicates += part["duplicates_skipped"]
            total.attachments += part["attachments"]
            total.participants += part["participants"]
            total.warnings.extend(part["warnings"])
        total.months = self.months
        return total


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a killed import leaves no stray writer
    except (OSError, AttributeError):
        pass


def _messages(inbox: Any) -> Iterator[ParsedMessage]:
    while True:
        item = inbox.get()
        if item[0] == "msgs":
            yield from item[1]
        elif item[0] == "end":
            return


def _worker(
    source_id: int,
    inbox: Any,
    results: Any,
    batch_size: int | None,
    transform_text: Callable[[str], str] | None = None,
    write_lock: Any = None,
) -> None:
    _die_with_parent()
    try:
        source = Source.objects.get(id=source_id)
        writer = ArchiveWriter(
            source,
            batch_size=batch_size,
            on_progress=lambda n: results.put(("progress", n)),
            transform_text=transform_text,
            write_lock=write_lock,
        )
        writer.begin()
        while True:
            item = inbox.get()
            if item[0] == "stop":
                break
            conv: ParsedConversation = item[1]
            conv.messages = _messages(inbox)
            writer.write_conversation(conv)
        summary = writer.finish()
        results.put(("done", summary.as_dict(), sorted(summary.months)))
    except Exception as exc:  # report the type only: a message could quote content
        diag = getattr(exc.__cause__, "diag", None)  # psycopg: names of the table and constraint only
        where = (
            f" ({diag.table_name}.{diag.constraint_name})"
            if diag is not None and diag.constraint_name
            else ""
        )
        results.put(("error", type(exc).__name__ + where))
    finally:
        connections.close_all()
