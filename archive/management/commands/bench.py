"""python manage.py bench write|search --messages N

Prints JSON lines. Run it against a throw-away data folder (``make bench`` does), since it
writes synthetic messages into the configured database.
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.models import Max, Min

from archive.index import message_terms
from archive.models import Message, Source
from archive.parallel import write_parallel
from archive.reading import open_messages
from archive.search.engine import find_ids
from archive.search.service import SearchScope, search
from archive.synthetic import PLATFORMS, Generator, write_telegram_export
from archive.vault.blind_index import STOP_WORDS, query_terms


def peak_rss_mb() -> float:
    """The largest resident set of this process or any finished child (parallel writers)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, from each of its threads' ``children`` list (Linux)."""
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def _tree_rss_kb(root: int) -> int:
    """Memory of ``root`` and all its descendants (Linux /proc), in KB: the sum of their
    proportional set sizes, so pages a forked writer still shares with its parent count once.
    Walks the tree through ``children`` lists, not every process on the machine: the sampler
    runs beside the writers it measures and must cost them next to nothing."""
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            rollup = ""
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
                break
        stack.extend(_children(pid))
    return total


class TreeRss:
    """Samples the summed memory (PSS) of this process and its writer processes: a parallel
    import's footprint is their sum, which ``ru_maxrss`` (one process at a time) understates."""

    def __init__(self, every: float = 0.5) -> None:
        self.peak_kb = 0
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(os.getpid()))
            self._stop.wait(self._every)

    @property
    def peak_mb(self) -> float:
        return round(self.peak_kb / 1024, 1)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99), "max_ms": round(ordered[-1], 2)}


class Command(BaseCommand):
    help = "Benchmark the write path and word search on synthetic data; prints JSON lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("what", choices=["write", "search", "ingest"])
        parser.add_argument("--messages", type=int, default=100_000)
        parser.add_argument("--queries", type=int, default=300)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--workers", type=int, default=settings.DMVAULT_WRITE_WORKERS)
        parser.add_argument(
            "--redact-at-ingest",
            action="store_true",
            help="ingest: the source gets a redaction policy applied at ingest (labels, every detector)",
        )

    def emit(self, **fields: Any) -> None:
        fields.setdefault("database", connection.vendor)
        self.stdout.write(json.dumps(fields))
        self.stdout.flush()

    def handle(
        self,
        *args: Any,
        what: str,
        messages: int,
        queries: int,
        seed: int,
        workers: int,
        redact_at_ingest: bool = False,
        **options: Any,
    ) -> None:
        # Debug mode keeps every query's SQL in memory; a benchmark must not measure that.
        settings.DEBUG = False
        connection.force_debug_cursor = False
        if what == "ingest":
            self.ingest(messages, workers, redact_at_ingest)
            return
        gen = Generator(seed=seed)
        have = Message.objects.count()
        if what == "write" or have < messages:
            self.write(gen, messages - (0 if what == "write" else have), start_offset=have, workers=workers)
        if what == "search":
            self.search(gen, queries)

    def write(self, gen: Generator, count: int, *, start_offset: int, workers: int) -> None:
        source = Source.objects.create(platform="synthetic", original_sha256="0" * 64, original_size=0)
        done = 0
        interval_start = time.perf_counter()
        started = interval_start
        step = max(10_000, count // 10)
        next_report = step
        rates: list[float] = []

        def progress(n: int) -> None:
            nonlocal done, interval_start, next_report
            done += n
            if done >= next_report:
                now = time.perf_counter()
                rate = step / (now - interval_start) if now > interval_start else 0.0
                rates.append(rate)
                self.emit(
                    bench="write_progress",
                    messages=start_offset + done,
                    interval_messages_per_s=round(rate),
                    peak_rss_mb=peak_rss_mb(),
                )
                interval_start = now
                next_report += step

        # Different seeds per run keep thread ids distinct so a second run adds new conversations.
        gen_run = Generator(seed=gen.rng.randint(0, 10**9), sentence_pool=50_000)
        started = interval_start = time.perf_counter()  # the sentence pool is input, not measured

        def conversations() -> Any:
            for conv in gen_run.conversations(count):
                conv.thread_id = f"{conv.thread_id}-{start_offset}"
                yield conv

        with TreeRss() as tree:
            summary = write_parallel(source, conversations(), workers=workers, on_progress=progress)
        elapsed = time.perf_counter() - started
        self.emit(
            bench="write",
            messages=summary.messages,
            total_messages=start_offset + summary.messages,
            workers=workers,
            seconds=round(elapsed, 1),
            messages_per_s=round(summary.messages / elapsed),
            slowest_interval_messages_per_s=round(min(rates)) if rates else None,
            peak_rss_mb=peak_rss_mb(),
            peak_total_rss_mb=tree.peak_mb,
        )

    def ingest(self, count: int, workers: int, redact_at_ingest: bool = False) -> None:
        """End to end: a synthetic Telegram Desktop export (a real platform format, one JSON file
        streamed by ijson) through receive (hash + seal as evidence), detection, parsing and
        the writer; with ``redact_at_ingest``, every message is also redacted irreversibly by
        the writers before it is sealed (the synthetic chat carries PII in about 5% of lines)."""
        from django.conf import settings as dj

        from archive import ingest

        export = dj.DATA_DIR / "bench-telegram-result.json"
        t0 = time.perf_counter()
        written = write_telegram_export(str(export), count)
        self.emit(
            bench="ingest_prepare",
            messages=written,
            export_mb=round(export.stat().st_size / 2**20, 1),
            seconds=round(time.perf_counter() - t0, 1),
        )
        dj.DMVAULT_WRITE_WORKERS = workers
        started = time.perf_counter()
        source = ingest.receive_path(export)
        if redact_at_ingest:
            from compliance.redaction_models import RedactionPolicy, SourceRedaction

            policy = RedactionPolicy.objects.create(name=f"bench-ingest-{source.id}", apply_at_ingest=True)
            SourceRedaction.objects.create(source=source, policy=policy)
        received = time.perf_counter()
        with TreeRss() as tree:
            source = ingest.run(source.id)
        elapsed = time.perf_counter() - started
        export.unlink()
        self.emit(
            bench="ingest",
            redact_at_ingest=redact_at_ingest,
            platform=source.summary.get("platform"),
            messages=source.summary.get("messages"),
            workers=workers,
            seconds=round(elapsed, 1),
            receive_seconds=round(received - started, 1),
            messages_per_s=round((source.summary.get("messages") or 0) / elapsed),
            peak_rss_mb=peak_rss_mb(),
            peak_total_rss_mb=tree.peak_mb,
        )

    def search(self, gen: Generator, queries: int) -> None:
        rng = random.Random(1)
        vocab = [w for w in gen.vocab if w not in STOP_WORDS and len(w) > 1]

        def by_frequency() -> str:
            while True:
                word = rng.choices(gen.vocab, cum_weights=gen.cum, k=1)[0]
                if word in vocab:
                    return word

        classes = {
            "single_word": lambda: [by_frequency()],
            "single_word_uniform": lambda: [rng.choice(vocab)],
            "two_words": lambda: [by_frequency(), by_frequency()],
        }
        total = Message.objects.count()
        for name, make in classes.items():
            samples: list[float] = []
            hits: list[int] = []
            for _ in range(queries):
                words = make()
                terms = [t for w in words for t in query_terms(w)]
                t0 = time.perf_counter()
                ids = find_ids(terms, limit=50)
                opened = open_messages(ids)
                samples.append((time.perf_counter() - t0) * 1000)
                hits.append(len(opened))
            self.emit(
                bench="search",
                query_class=name,
                messages=total,
                queries=queries,
                page=50,
                mean_hits=round(statistics.mean(hits), 1),
                **percentiles(samples),
                peak_rss_mb=peak_rss_mb(),
            )
        self.search_service(gen, queries)

    def search_service(self, gen: Generator, queries: int) -> None:
        """The query classes of the search service (``archive.search.service.search``), each with
        a page of 50 decrypted, then the naive alternative: decrypt every message and scan it."""
        # Synthetic sources are complete once ``write`` has returned; the service shows only
        # sources whose import is done.
        Source.objects.filter(platform="synthetic").exclude(status=Source.Status.DONE).update(
            status=Source.Status.DONE
        )
        rng = random.Random(2)
        indexed = {w for w in gen.vocab if w not in STOP_WORDS and len(w) > 1 and "-" not in w}
        ranked = [w for w in gen.vocab if w in indexed]
        frequent = ranked[:10]
        first, last = Message.objects.aggregate(a=Min("sent_at"), b=Max("sent_at")).values()
        span_days = max(1, (last - first).days) if first and last else 1
        conversations = max(1, min(2000, Message.objects.count() // 500))

        def word() -> str:
            while True:
                picked = rng.choices(gen.vocab, cum_weights=gen.cum, k=1)[0]
                if picked in indexed:
                    return picked

        def window() -> str:
            start = first + timedelta(days=rng.randrange(span_days))
            end = start + timedelta(days=rng.choice([7, 30, 90]))
            return f"after:{start.date().isoformat()} before:{end.date().isoformat()}"

        classes: dict[str, Callable[[], str]] = {
            "single_word": word,
            "two_words": lambda: f"{word()} {word()}",
            "phrase": lambda: f'"{word()} {word()}"',
            "phrase_frequent_words": lambda: f'"{rng.choice(frequent)} {rng.choice(frequent)}"',
            "participant_plus_date": lambda: f"from:u{rng.randrange(conversations)}-0 {window()}",
            "platform_plus_word": lambda: f"platform:{rng.choice(PLATFORMS)} {word()}",
        }
        total = Message.objects.count()
        scope = SearchScope.everything()
        medians: dict[str, float] = {}
        for name, make in classes.items():
            samples: list[float] = []
            hits: list[int] = []
            checked: list[int] = []
            for _ in range(queries):
                query = make()
                t0 = time.perf_counter()
                result = search(query, scope=scope, limit=50)
                samples.append((time.perf_counter() - t0) * 1000)
                hits.append(len(result.items))
                checked.append(result.candidates_checked)
            medians[name] = statistics.median(samples)
            self.emit(
                bench="search_service",
                query_class=name,
                messages=total,
                queries=queries,
                page=50,
                mean_hits=round(statistics.mean(hits), 1),
                mean_candidates_decrypted=round(statistics.mean(checked), 1),
                **percentiles(samples),
                peak_rss_mb=peak_rss_mb(),
            )
        self.naive(total, word, medians.get("single_word", 0.0))

    def naive(self, total: int, word: Callable[[], str], service_p50: float) -> None:
        """Decrypt and scan every message for a word, the way a search without an index must.
        Each of 20 queries scans a sample (newest first) and is extrapolated to the whole table."""
        sample = min(total, 20_000)
        ids = list(Message.objects.order_by("-id").values_list("id", flat=True)[:sample])
        samples: list[float] = []
        for _ in range(20):
            wanted = set(query_terms(word()))
            t0 = time.perf_counter()
            found = 0
            for start in range(0, len(ids), 2000):
                for msg in open_messages(ids[start : start + 2000]):
                    if wanted <= message_terms(msg.text, (msg.share_url,)):
                        found += 1
            elapsed = (time.perf_counter() - t0) * 1000
            samples.append(elapsed * total / max(1, len(ids)))
        naive_p50 = statistics.median(samples)
        self.emit(
            bench="search_naive",
            query_class="single_word",
            messages=total,
            queries=len(samples),
            scanned_per_query=len(ids),
            extrapolated=len(ids) < total,
            **percentiles(samples),
            service_p50_ms=round(service_p50, 2),
            naive_over_service_p50=round(naive_p50 / service_p50, 1) if service_p50 else None,
        )
