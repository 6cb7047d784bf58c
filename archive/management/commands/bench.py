"""python manage.py bench write|search --messages N

Prints JSON lines. Run it against a throw-away data folder (``make bench`` does), since it
writes synthetic messages into the configured database.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from archive.models import Message, Source
from archive.reading import open_messages
from archive.search.engine import find_ids
from archive.synthetic import Generator
from archive.vault.blind_index import STOP_WORDS, query_terms
from archive.writer import ArchiveWriter


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99), "max_ms": round(ordered[-1], 2)}


class Command(BaseCommand):
    help = "Benchmark the write path and word search on synthetic data; prints JSON lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("what", choices=["write", "search"])
        parser.add_argument("--messages", type=int, default=100_000)
        parser.add_argument("--queries", type=int, default=300)
        parser.add_argument("--seed", type=int, default=7)

    def emit(self, **fields: Any) -> None:
        fields.setdefault("database", connection.vendor)
        self.stdout.write(json.dumps(fields))
        self.stdout.flush()

    def handle(self, *args: Any, what: str, messages: int, queries: int, seed: int, **options: Any) -> None:
        # Debug mode keeps every query's SQL in memory; a benchmark must not measure that.
        settings.DEBUG = False
        connection.force_debug_cursor = False
        gen = Generator(seed=seed)
        have = Message.objects.count()
        if what == "write" or have < messages:
            self.write(gen, messages - (0 if what == "write" else have), start_offset=have)
        if what == "search":
            self.search(gen, queries)

    def write(self, gen: Generator, count: int, *, start_offset: int) -> None:
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

        writer = ArchiveWriter(source, on_progress=progress)
        # Different seeds per run keep thread ids distinct so a second run adds new conversations.
        convs = Generator(seed=gen.rng.randint(0, 10**9)).conversations(count, start=None)
        for conv in convs:
            conv.thread_id = f"{conv.thread_id}-{start_offset}"
            writer.write_conversation(conv)
        elapsed = time.perf_counter() - started
        self.emit(
            bench="write",
            messages=writer.summary.messages,
            total_messages=start_offset + writer.summary.messages,
            seconds=round(elapsed, 1),
            messages_per_s=round(writer.summary.messages / elapsed),
            slowest_interval_messages_per_s=round(min(rates)) if rates else None,
            peak_rss_mb=peak_rss_mb(),
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
